//! The layout fingerprint changes for every change to a layout, and only
//! for those. Each module declares the same entry name with one change from
//! `base`, so the only difference the hash can see is the change itself.

use kho::KhoEntry;

macro_rules! variant {
    ($m:ident { $($body:tt)* }) => {
        mod $m {
            #[derive(kho::KhoEntry, Clone, Copy)]
            #[repr(C, packed)]
            #[kho(compatible = "luo-file-v1")]
            pub struct LuoFileSer { $($body)* }
        }
    };
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
pub struct LuoFileSetSer {
    pub files: u64,
    pub count: u64,
}

mod changed_nested {
    #[derive(kho::KhoEntry, Clone, Copy)]
    #[repr(C, packed)]
    pub struct LuoFileSetSer {
        pub files: u64,
        pub count: u32,
        pub flags: u32,
    }
}

variant!(base { pub name: [u8; 48], pub data: u64, pub token: u64, pub set: super::LuoFileSetSer });
variant!(doc_only {
    /// The file's name.
    pub name: [u8; 48],
    /// Opaque data.
    pub data: u64,
    pub token: u64,
    /// Its set.
    pub set: super::LuoFileSetSer
});
variant!(width { pub name: [u8; 48], pub data: u32, pub token: u64, pub set: super::LuoFileSetSer });
variant!(signedness { pub name: [u8; 48], pub data: i64, pub token: u64, pub set: super::LuoFileSetSer });
variant!(added_end { pub name: [u8; 48], pub data: u64, pub token: u64, pub set: super::LuoFileSetSer, pub extra: u8 });
variant!(added_middle { pub name: [u8; 48], pub extra: u8, pub data: u64, pub token: u64, pub set: super::LuoFileSetSer });
variant!(removed { pub name: [u8; 48], pub token: u64, pub set: super::LuoFileSetSer });
variant!(swapped { pub name: [u8; 48], pub token: u64, pub data: u64, pub set: super::LuoFileSetSer });
variant!(renamed { pub name: [u8; 48], pub cookie: u64, pub token: u64, pub set: super::LuoFileSetSer });
variant!(array_len { pub name: [u8; 40], pub data: u64, pub token: u64, pub set: super::LuoFileSetSer });
variant!(char_array { pub name: kho::CharArray<48>, pub data: u64, pub token: u64, pub set: super::LuoFileSetSer });
variant!(phys_addr { pub name: [u8; 48], pub data: kho::PhysAddr, pub token: u64, pub set: super::LuoFileSetSer });
variant!(nested { pub name: [u8; 48], pub data: u64, pub token: u64, pub set: super::changed_nested::LuoFileSetSer });
variant!(array_shape { pub name: [[u8; 24]; 2], pub data: u64, pub token: u64, pub set: super::LuoFileSetSer });

#[test]
fn doc_text_does_not_change_the_fingerprint() {
    assert_eq!(
        base::LuoFileSer::FINGERPRINT,
        doc_only::LuoFileSer::FINGERPRINT
    );
}

#[test]
fn every_layout_change_changes_the_fingerprint() {
    let changed = [
        ("width", width::LuoFileSer::FINGERPRINT),
        ("signedness", signedness::LuoFileSer::FINGERPRINT),
        ("added at the end", added_end::LuoFileSer::FINGERPRINT),
        ("added in the middle", added_middle::LuoFileSer::FINGERPRINT),
        ("removed", removed::LuoFileSer::FINGERPRINT),
        (
            "swapped same-typed fields",
            swapped::LuoFileSer::FINGERPRINT,
        ),
        ("renamed", renamed::LuoFileSer::FINGERPRINT),
        ("array length", array_len::LuoFileSer::FINGERPRINT),
        (
            "u8 array to char array",
            char_array::LuoFileSer::FINGERPRINT,
        ),
        ("u64 to phys_addr", phys_addr::LuoFileSer::FINGERPRINT),
        ("nested struct changed", nested::LuoFileSer::FINGERPRINT),
        (
            "array split into an array of arrays",
            array_shape::LuoFileSer::FINGERPRINT,
        ),
    ];
    let mut seen = vec![("base", base::LuoFileSer::FINGERPRINT)];
    for (what, fp) in changed {
        for (other, seen_fp) in &seen {
            assert_ne!(fp, *seen_fp, "{what} has the same fingerprint as {other}");
        }
        seen.push((what, fp));
    }
}

#[test]
fn same_size_changes_are_still_caught() {
    // Binary-identical in size, different in meaning: the fingerprint sees it.
    assert_eq!(base::LuoFileSer::SIZE, swapped::LuoFileSer::SIZE);
    assert_eq!(base::LuoFileSer::SIZE, renamed::LuoFileSer::SIZE);
    assert_eq!(base::LuoFileSer::SIZE, phys_addr::LuoFileSer::SIZE);
    assert_ne!(
        base::LuoFileSer::FINGERPRINT,
        swapped::LuoFileSer::FINGERPRINT
    );
}

#[test]
fn fingerprint_is_the_hash_of_the_canonical_text() {
    let text = kho::layout::canonical_text(base::LuoFileSer::LAYOUT);
    assert_eq!(
        text,
        "struct luo_file_ser size 80\n  name u8[48] offset 0 size 48\n  data u64 offset 48 size 8\n  \
         token u64 offset 56 size 8\n  set luo_file_set_ser offset 64 size 16\n    \
         struct luo_file_set_ser size 16\n      files u64 offset 0 size 8\n      \
         count u64 offset 8 size 8\n"
    );
    assert_eq!(base::LuoFileSer::FINGERPRINT, kho::fingerprint(&text));
    // Pinned (computed outside Rust, FNV-1a 64 of the text above): a change
    // to the canonical text or the hash would break every lock file.
    assert_eq!(base::LuoFileSer::FINGERPRINT, 0xa356_3b90_670f_0db1);
}
