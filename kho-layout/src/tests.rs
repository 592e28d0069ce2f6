use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;

const U64: Ty = Ty::Prim(Prim::U64);
const U8: Ty = Ty::Prim(Prim::U8);
const NAME: Ty = Ty::Array(Node::Ref(&U8), Len::new(64));
const FILE_SET_FIELDS: &[Field] = &[
    Field::new("files", 0, 8, U64),
    Field::new("count", 8, 8, U64),
];
const FILE_SET: &Struct = &Struct::packed("luo_file_set_ser", 16, FILE_SET_FIELDS);
/// As the derive writes it: one literal.
const SESSION: &Struct = &Struct {
    name: Str::Ref("luo_session_ser"),
    size: 80,
    align: 1,
    packed: true,
    kind: Kind::Struct,
    fields: List::Ref(&[
        Field::new("name", 0, 64, NAME),
        Field::new("file_set_ser", 64, 16, Ty::Struct(StructRef::Ref(FILE_SET))),
    ]),
};
const SESSION_FP: u64 = layout_fingerprint(SESSION);

const EXAMPLE: &str = "struct luo_session_ser size 80\n  name u8[64] offset 0 size 64\n  \
                       file_set_ser luo_file_set_ser offset 64 size 16\n    \
                       struct luo_file_set_ser size 16\n      files u64 offset 0 size 8\n      \
                       count u64 offset 8 size 8\n";

fn owned_field(name: &str, offset: usize, size: usize, ty: Ty<'static>) -> Field<'static> {
    Field {
        name: Str::Owned(name.to_string()),
        offset,
        size,
        ty,
        bits: None,
    }
}

/// The example as the schema compiler builds it: owned, the nested struct
/// by index into a set.
fn owned_set() -> Vec<Struct<'static>> {
    let set_ser = Struct::packed_owned(
        "luo_file_set_ser".into(),
        16,
        vec![
            owned_field("files", 0, 8, Ty::Prim(Prim::U64)),
            owned_field("count", 8, 8, Ty::Prim(Prim::U64)),
        ],
    );
    let name = Ty::Array(Node::Owned(Box::new(Ty::Prim(Prim::U8))), Len::new(64));
    let nested = Ty::Struct(StructRef::At(0, Str::Owned("luo_file_set_ser".into())));
    let session = Struct::packed_owned(
        "luo_session_ser".into(),
        80,
        vec![
            owned_field("name", 0, 64, name),
            owned_field("file_set_ser", 64, 16, nested),
        ],
    );
    vec![set_ser, session]
}

#[test]
fn canonical_text_matches_the_documented_example() {
    assert_eq!(canonical_text(SESSION), EXAMPLE);
    let set = owned_set();
    assert_eq!(canonical_text_in(&set[1], &set).as_deref(), Some(EXAMPLE));
}

#[test]
fn const_and_runtime_fingerprints_agree_over_both_forms() {
    let set = owned_set();
    let text_fp = fingerprint(EXAMPLE);
    assert_eq!(SESSION_FP, text_fp);
    assert_eq!(layout_fingerprint(SESSION), text_fp);
    assert_eq!(fingerprint_in(&set[1], &set), Some(text_fp));
    assert_eq!(
        fingerprint_in(&set[0], &set),
        Some(layout_fingerprint(FILE_SET))
    );
    // A nested struct outside the set, or known by name only, cannot be
    // inlined: no fingerprint, rather than a wrong one.
    assert_eq!(fingerprint_in(&set[1], &[]), None);
    // An index whose struct has another name is refused too.
    let mut other = set[0].clone();
    other.name = Str::Ref("other");
    assert_eq!(fingerprint_in(&set[1], &[other]), None);
    assert_eq!(canonical_text_in(&set[1], &[]), None);
    let mut named = set[1].clone();
    if let List::Owned(fields) = &mut named.fields {
        fields[1].ty = parse_type("luo_file_set_ser");
    }
    assert_eq!(fingerprint_in(&named, &set), None);
}

#[test]
fn arrays_of_structs_and_grids_hash_as_written() {
    const ARR: Ty = Ty::Array(
        Node::Ref(&Ty::Struct(StructRef::Ref(FILE_SET))),
        Len::new(1234567),
    );
    const BIG_FIELDS: &[Field] = &[Field::new("sets", 0, 16 * 1234567, ARR)];
    const BIG: Struct = Struct::packed("big", 16 * 1234567, BIG_FIELDS);
    assert_eq!(layout_fingerprint(&BIG), fingerprint(&canonical_text(&BIG)));
    assert!(canonical_text(&BIG).contains("sets luo_file_set_ser[1234567] offset 0"));
    const GRID: Ty = Ty::Array(
        Node::Ref(&Ty::Array(Node::Ref(&U8), Len::new(3))),
        Len::new(2),
    );
    assert_eq!(format!("{GRID}"), "u8[2][3]");
    assert_eq!(GRID.size(&[]), Some(6));
    assert_eq!(ARR.size(&[]), Some(16 * 1234567));
    const GRID_FIELDS: &[Field] = &[Field::new("grid", 0, 6, GRID)];
    const HAS_GRID: Struct = Struct::packed("g", 6, GRID_FIELDS);
    assert_eq!(
        canonical_text(&HAS_GRID),
        "struct g size 6\n  grid u8[2][3] offset 0 size 6\n"
    );
    assert_eq!(
        layout_fingerprint(&HAS_GRID),
        fingerprint(&canonical_text(&HAS_GRID))
    );
    assert_eq!(type_fingerprint(&GRID), fingerprint("u8[2][3]"));
}

/// A chain of `n` structs, each holding the one before: indentation up to
/// 4n spaces, past the byte-by-byte path of the fast space hashing.
fn chain(n: usize) -> Vec<Struct<'static>> {
    let mut set = vec![Struct::packed_owned(
        "s0".into(),
        1,
        vec![owned_field("a", 0, 1, Ty::Prim(Prim::U8))],
    )];
    for i in 1..n {
        let size = set[i - 1].size + 2;
        let nested = Ty::Struct(StructRef::At(i - 1, Str::Owned(format!("s{}", i - 1))));
        set.push(Struct::packed_owned(
            format!("s{i}"),
            size,
            vec![
                owned_field("x", 0, 1, Ty::Prim(Prim::I8)),
                owned_field("inner", 1, size - 2, nested),
                owned_field("y", size - 1, 1, Ty::Prim(Prim::Char)),
            ],
        ));
    }
    set
}

#[test]
fn deep_indentation_hashes_as_its_bytes() {
    let set = chain(200);
    let top = &set[199];
    let text = canonical_text_in(top, &set).unwrap();
    assert!(text.contains(&format!("{:796}struct s0 size 1\n", "")));
    assert_eq!(fingerprint_in(top, &set), Some(fingerprint(&text)));
}

#[test]
fn nesting_past_the_limit_or_a_cycle_is_refused_not_overflowed() {
    let set = chain(MAX_NESTING + 1);
    assert!(fingerprint_in(&set[MAX_NESTING - 1], &set).is_some());
    assert_eq!(fingerprint_in(&set[MAX_NESTING], &set), None);
    let cycle = vec![Struct::packed_owned(
        "loop".into(),
        8,
        vec![owned_field(
            "again",
            0,
            8,
            Ty::Struct(StructRef::At(0, Str::Owned("loop".into()))),
        )],
    )];
    assert_eq!(fingerprint_in(&cycle[0], &cycle), None);
    assert_eq!(canonical_text_in(&cycle[0], &cycle), None);
}

#[test]
fn lock_text_round_trips() {
    let set = owned_set();
    let lock = LockText {
        constants: vec![("LUO_NAME_LEN".into(), "64".into())],
        structs: vec![
            LockStruct {
                layout: set[0].clone(),
                entry: false,
                fingerprint: fingerprint_in(&set[0], &set),
                page: None,
            },
            LockStruct {
                layout: set[1].clone(),
                entry: true,
                fingerprint: fingerprint_in(&set[1], &set),
                page: None,
            },
        ],
    };
    let text = lock.render();
    let fp = format!("{:#018x}", fingerprint(EXAMPLE));
    assert!(text.contains(&format!(
        "entry luo_session_ser\nstruct luo_session_ser size 80 fingerprint {fp}\n  name u8[64] offset 0 size 64\n  file_set_ser luo_file_set_ser offset 64 size 16\n"
    )), "{text}");
    let back = LockText::parse(&text).unwrap();
    assert_eq!(back.render(), text);
    // Equal to what was written: nested structs compare by name.
    assert_eq!(back, lock);
    assert_eq!(LockText::parse("struct a size x\n"), None);
    assert_eq!(LockText::parse("  a u8 offset 0 size 1\n"), None);
    assert_eq!(LockText::parse("bogus\n"), None);
}

#[test]
fn types_parse_as_they_print() {
    for t in [
        "u8",
        "char[48]",
        "phys_addr",
        "luo_file_ser[2][3]",
        "i64[1]",
    ] {
        assert_eq!(parse_type(t).to_string(), t);
    }
    assert_eq!(
        parse_type("char[48]"),
        Ty::Array(Node::Ref(&Ty::Prim(Prim::Char)), Len::new(48))
    );
    assert!(parse_type("char[48]").is_char_array());
    // Kept whole, printing as written.
    for t in ["u8[", "u8[x]", "u8[01]", "[3]", "u8[2]x"] {
        assert_eq!(parse_type(t).to_string(), t);
        assert!(
            matches!(parse_type(t), Ty::Struct(StructRef::Named(_))),
            "{t}"
        );
    }
}

#[test]
fn primitives_know_their_facts() {
    for p in Prim::ALL {
        assert_eq!(Prim::parse(p.name()), Some(p));
    }
    assert_eq!(Prim::parse("usize"), None);
    assert_eq!((Prim::U16.size(), Prim::U16.signed()), (2, false));
    assert_eq!((Prim::I32.size(), Prim::I32.signed()), (4, true));
    assert_eq!((Prim::Char.size(), Prim::Char.signed()), (1, false));
    assert_eq!((Prim::PhysAddr.size(), Prim::PhysAddr.align()), (8, 8));
}

#[test]
fn format_facts() {
    use format::*;
    assert_eq!(HEADER_SIZE, 16);
    assert_eq!(PAGE_SIZES, [4096, 16384, 65536]);
    assert_eq!(MAX_ENTRY_SIZE, 4080);
    assert_eq!(max_entry_size(16384), 16368);
    assert_eq!(max_entry_size(65536), 65520);
    assert_eq!(max_entry_size(8), 0);
    assert_eq!(DEFAULT_MAX_BLOCKS, 10_000);
    assert_eq!((COMPATIBLE_CAPACITY, MAX_COMPATIBLE), (48, 47));
}

#[test]
fn compatible_strings_have_one_length_rule_and_one_grammar() {
    use format::{check_compatible, CompatibleError as E};
    let at = |n: usize| {
        let mut s: String = "a".repeat(n - 3);
        s.push_str("-v1");
        s
    };
    assert_eq!(at(47).len(), 47);
    assert_eq!(check_compatible(&at(47)), Ok(()));
    assert_eq!(check_compatible(&at(48)), Err(E::TooLong));
    assert_eq!(check_compatible(&at(61)), Err(E::TooLong));
    const OK: Result<(), E> = check_compatible("luo-v5;kho-block-v1");
    assert_eq!(OK, Ok(()));
    for ok in [
        "luo-file-v1",
        "kho-block-v1",
        "a-v10",
        "luo2-v3",
        "luo-v4-kho-block-v1",
    ] {
        assert_eq!(check_compatible(ok), Ok(()), "{ok}");
    }
    for (bad, why) in [
        ("", E::Empty),
        ("luo-v1;", E::Empty),
        ("luo", E::NoVersion),
        ("luo-v", E::NoVersion),
        ("luo-vx", E::NoVersion),
        ("-v1", E::Dash),
        ("luo--x-v1", E::Dash),
        ("luo-v1-", E::Dash),
        ("luo-v0", E::BadVersion),
        ("luo-v01", E::BadVersion),
        ("Luo-v1", E::Charset),
        ("luo_file-v1", E::Charset),
    ] {
        assert_eq!(check_compatible(bad), Err(why), "{bad}");
    }
    assert!(E::TooLong.reason().contains("47"));
}

/// The kernel's constructs (spec: `kho_vmalloc`, `memfd_luo_folio_ser`,
/// `pci_ser`, a KHOSER union, a page-dependent struct): each has its line,
/// the const hasher hashes exactly that text, and the lock text reads
/// every one of them back.
mod kernel_constructs {
    use super::*;
    use crate::place::{place, Member};
    use crate::{Bits, Kind, LockStruct, LockText};

    const FOLIO_FIELDS: &[Field<'static>] = &[
        Field::bit_field("pfn", 0, 8, Ty::Prim(Prim::U64), 0, 52),
        Field::bit_field("flags", 0, 8, Ty::Prim(Prim::U64), 52, 12),
        Field::new("index", 8, 8, Ty::Prim(Prim::U64)),
    ];
    const FOLIO: &Struct<'static> = &Struct::packed("memfd_luo_folio_ser", 16, FOLIO_FIELDS);

    const VMALLOC_FIELDS: &[Field<'static>] = &[
        Field::new("first", 0, 8, Ty::Ptr(Str::Ref("kho_vmalloc_chunk"))),
        Field::new("total_pages", 8, 4, Ty::Prim(Prim::U32)),
        Field::new("flags", 12, 2, Ty::Prim(Prim::U16)),
        Field::new("order", 14, 2, Ty::Prim(Prim::U16)),
    ];
    const VMALLOC: &Struct<'static> = &Struct {
        name: Str::Ref("kho_vmalloc"),
        size: 16,
        align: 8,
        packed: false,
        kind: Kind::Struct,
        fields: List::Ref(VMALLOC_FIELDS),
    };
    const DEV_FIELDS: &[Field<'static>] = &[
        Field::new("domain", 0, 4, Ty::Prim(Prim::U32)),
        Field::new("bdf", 4, 2, Ty::Prim(Prim::U16)),
        Field::new("refcount", 6, 2, Ty::Prim(Prim::U16)),
    ];
    const DEV: &Struct<'static> = &Struct::packed("pci_dev_ser", 8, DEV_FIELDS);
    const PCI_FIELDS: &[Field<'static>] = &[
        Field::new("max_nr_devices", 0, 4, Ty::Prim(Prim::U32)),
        Field::new("nr_devices", 4, 4, Ty::Prim(Prim::U32)),
        Field::new(
            "devices",
            8,
            0,
            Ty::Flex(Node::Ref(&Ty::Struct(StructRef::Ref(DEV)))),
        ),
    ];
    const PCI: &Struct<'static> = &Struct::packed("pci_ser", 8, PCI_FIELDS);
    const UNION_FIELDS: &[Field<'static>] = &[
        Field::new("phys", 0, 8, Ty::Prim(Prim::U64)),
        Field::new(
            "words",
            0,
            8,
            Ty::Array(Node::Ref(&Ty::Prim(Prim::U32)), Len::new(2)),
        ),
    ];
    const UNION: &Struct<'static> = &Struct {
        name: Str::Ref("either"),
        size: 8,
        align: 8,
        packed: false,
        kind: Kind::Union,
        fields: List::Ref(UNION_FIELDS),
    };
    const ALIGNED: &Struct<'static> = &Struct {
        name: Str::Ref("aligned"),
        size: 8,
        align: 8,
        packed: true,
        kind: Kind::Struct,
        fields: List::Ref(&[Field::new("a", 0, 4, Ty::Prim(Prim::U32))]),
    };

    const FP_FOLIO: u64 = layout_fingerprint(FOLIO);
    const FP_VMALLOC: u64 = layout_fingerprint(VMALLOC);
    const FP_PCI: u64 = layout_fingerprint(PCI);
    const FP_UNION: u64 = layout_fingerprint(UNION);
    const FP_ALIGNED: u64 = layout_fingerprint(ALIGNED);

    #[test]
    fn each_construct_has_its_line_and_the_hash_is_of_that_line() {
        let cases = [
            (
                FOLIO,
                FP_FOLIO,
                "struct memfd_luo_folio_ser size 16\n  pfn u64 offset 0 size 8 bits 0:52\n  \
                 flags u64 offset 0 size 8 bits 52:12\n  index u64 offset 8 size 8\n",
            ),
            (
                VMALLOC,
                FP_VMALLOC,
                "struct kho_vmalloc size 16 align 8\n  \
                 first khoser_ptr<kho_vmalloc_chunk> offset 0 size 8\n  \
                 total_pages u32 offset 8 size 4\n  flags u16 offset 12 size 2\n  \
                 order u16 offset 14 size 2\n",
            ),
            (
                PCI,
                FP_PCI,
                "struct pci_ser size 8\n  max_nr_devices u32 offset 0 size 4\n  \
                 nr_devices u32 offset 4 size 4\n  devices pci_dev_ser[] offset 8 size 0\n    \
                 struct pci_dev_ser size 8\n      domain u32 offset 0 size 4\n      \
                 bdf u16 offset 4 size 2\n      refcount u16 offset 6 size 2\n",
            ),
            (
                UNION,
                FP_UNION,
                "union either size 8 align 8\n  phys u64 offset 0 size 8\n  \
                 words u32[2] offset 0 size 8\n",
            ),
            (
                ALIGNED,
                FP_ALIGNED,
                "struct aligned size 8 align 8 packed\n  a u32 offset 0 size 4\n",
            ),
        ];
        for (layout, fp, text) in cases {
            assert_eq!(canonical_text(layout), text);
            assert_eq!(fp, fingerprint(text), "{}", layout.name);
        }
        // Alignment and kind are part of the layout: the same fields
        // packed, or as a struct, hash differently.
        let mut packed = VMALLOC.clone();
        packed.packed = true;
        packed.align = 1;
        assert_ne!(layout_fingerprint(&packed), FP_VMALLOC);
        let mut as_struct = UNION.clone();
        as_struct.kind = Kind::Struct;
        assert_ne!(layout_fingerprint(&as_struct), FP_UNION);
    }

    #[test]
    fn the_lock_text_reads_every_construct_back() {
        let structs = [FOLIO, VMALLOC, PCI, UNION, ALIGNED];
        let mut lock = LockText::default();
        for (i, s) in structs.iter().enumerate() {
            lock.structs.push(LockStruct {
                layout: (*s).clone(),
                entry: i == 0,
                fingerprint: Some(layout_fingerprint(s)),
                page: (i == 1).then_some(16384),
            });
        }
        let text = lock.render();
        assert!(text.contains("struct kho_vmalloc size 16 align 8 page 16384 fingerprint 0x"));
        let back = LockText::parse(&text).expect("parses");
        assert_eq!(back.render(), text);
        for (parsed, s) in back.structs.iter().zip(structs) {
            let l = &parsed.layout;
            assert_eq!(
                (l.name.as_str(), l.size, l.align, l.packed, l.kind),
                (s.name.as_str(), s.size, s.align, s.packed, s.kind)
            );
            for (a, b) in l.fields.iter().zip(s.fields.iter()) {
                assert_eq!(
                    (&a.name, a.offset, a.size, a.bits),
                    (&b.name, b.offset, b.size, b.bits)
                );
                assert_eq!(a.ty.to_string(), b.ty.to_string());
            }
        }
        assert_eq!(back.structs[1].page, Some(16384));
        assert_eq!(
            back.structs[1].layout.fields[0].ty,
            Ty::Ptr(Str::Ref("kho_vmalloc_chunk"))
        );
        assert!(back.structs[2].layout.fields[2].ty.is_flex());
        assert_eq!(
            back.structs[0].layout.fields[1].bits,
            Some(Bits {
                first: 52,
                width: 12
            })
        );
        // A malformed bit range or trailing word is refused, not guessed.
        for bad in [
            "struct s size 8\n  a u64 offset 0 size 8 bits 52\n",
            "struct s size 8\n  a u64 offset 0 size 8 bits x:1\n",
            "struct s size 8 align 8 packed extra\n",
            "union s size\n",
        ] {
            assert!(LockText::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn place_gives_the_layouts_above() {
        let folio = place(
            Kind::Struct,
            true,
            None,
            &[
                Member::bit_field(8, 52),
                Member::bit_field(8, 12),
                Member::plain(8, 8),
            ],
        )
        .unwrap();
        for (f, (offset, size, bits)) in FOLIO.fields.iter().zip(&folio.fields) {
            assert_eq!(
                (f.offset, f.size, f.bits),
                (*offset, *size, *bits),
                "{}",
                f.name
            );
        }
        let vmalloc = place(
            Kind::Struct,
            false,
            None,
            &[
                Member::plain(8, 8),
                Member::plain(4, 4),
                Member::plain(2, 2),
                Member::plain(2, 2),
            ],
        )
        .unwrap();
        assert_eq!((vmalloc.size, vmalloc.align), (VMALLOC.size, VMALLOC.align));
    }
}
