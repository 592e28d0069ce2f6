//! The derive on the kernel's constructs (issue 10): bit fields, natural
//! and explicit alignment, unions and the KHOSER pointer, flexible array
//! members. Each struct transcribes a mainline (or on-list) declaration,
//! and the tests assert the layout facts gcc gives for it: sizeof,
//! alignment, offsets, bit ranges, and the canonical text they hash to.

// A crate that denies unsafe code can still derive a union: the one read
// the derive emits is allowed where it is, and justified there.
#![deny(unsafe_code)]

use kho::layout::{canonical_text, Bits, Kind, Prim, Ty};
use kho::{AbiField, FlexArray, KhoEntry, PhysAddr, PhysPtr};

/// memfd.h: `struct memfd_luo_folio_ser { u64 pfn:52; u64 flags:12; u64
/// index; } __packed;`
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C, packed)]
#[kho(compatible = "memfd-v1")]
pub struct MemfdLuoFolioSer {
    #[kho(bits(pfn = 52, flags = 12))]
    pfn_flags: u64,
    pub index: u64,
}

/// kexec_handover.h: `struct kho_vmalloc_hdr { DECLARE_KHOSER_PTR(next,
/// struct kho_vmalloc_chunk *); };`
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct KhoVmallocHdr {
    pub next: PhysPtr<KhoVmallocChunk>,
}

/// `struct kho_vmalloc_chunk { struct kho_vmalloc_hdr hdr; u64
/// phys[KHO_VMALLOC_SIZE]; };` for 4 KiB pages: (4096 - 8) / 8 = 511.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct KhoVmallocChunk {
    pub hdr: KhoVmallocHdr,
    pub phys: [u64; 511],
}

/// `struct kho_vmalloc { DECLARE_KHOSER_PTR(first, struct kho_vmalloc_chunk
/// *); unsigned int total_pages; unsigned short flags; unsigned short
/// order; };`
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[kho(compatible = "kho-v1")]
pub struct KhoVmalloc {
    pub first: PhysPtr<KhoVmallocChunk>,
    pub total_pages: u32,
    pub flags: u16,
    pub order: u16,
}

/// pci.h: `struct pci_dev_ser { u32 domain; u16 bdf; u16 refcount; }
/// __packed;`
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C, packed)]
pub struct PciDevSer {
    pub domain: u32,
    pub bdf: u16,
    pub refcount: u16,
}

/// `struct pci_ser { u32 max_nr_devices; u32 nr_devices; struct pci_dev_ser
/// devices[]; } __packed;`
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C, packed)]
#[kho(compatible = "pci-v1")]
pub struct PciSer {
    pub max_nr_devices: u32,
    pub nr_devices: u32,
    #[kho(flex, count = nr_devices)]
    pub devices: [PciDevSer; 0],
}

/// A flexible array whose count C keeps elsewhere: the accessors take it.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Words {
    pub tag: u8,
    #[kho(flex)]
    pub words: [u64; 0],
}

/// C padding: `struct { u8 tag; u64 value; }`.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Padded {
    pub tag: u8,
    pub value: u64,
}

/// `__aligned(64)`.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub struct Cacheline {
    pub seq: u64,
}

/// A `__packed` struct embedding a naturally aligned one: C (and Rust)
/// place it unaligned, at offset 1.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C, packed)]
pub struct PackedOuter {
    pub tag: u8,
    pub vmalloc: KhoVmalloc,
}

/// A C union, as `DECLARE_KHOSER_PTR` is one: members of one size.
#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
pub union PhysOrWords {
    pub phys: u64,
    pub words: [u32; 2],
    pub at: PhysAddr,
}

/// A union as a member: offset and alignment as in C.
#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
pub struct Tagged {
    pub tag: u32,
    pub value: PhysOrWords,
}

fn facts(l: &kho::layout::StructLayout) -> Vec<(&str, usize, usize, Option<Bits>)> {
    l.fields
        .iter()
        .map(|f| (f.name.as_str(), f.offset, f.size, f.bits))
        .collect()
}

#[test]
fn bit_fields_share_their_storage_unit() {
    let l = MemfdLuoFolioSer::LAYOUT;
    assert_eq!((l.size, l.align, l.packed), (16, 1, true));
    assert_eq!(
        facts(l),
        [
            (
                "pfn",
                0,
                8,
                Some(Bits {
                    first: 0,
                    width: 52
                })
            ),
            (
                "flags",
                0,
                8,
                Some(Bits {
                    first: 52,
                    width: 12
                })
            ),
            ("index", 8, 8, None),
        ]
    );
    assert_eq!(l.fields[0].ty, Ty::Prim(Prim::U64));
    let text = canonical_text(l);
    assert!(
        text.starts_with(
            "struct memfd_luo_folio_ser size 16\n  pfn u64 offset 0 size 8 bits 0:52\n  flags u64 offset 0 size 8 bits 52:12\n"
        ),
        "{text}"
    );
    assert_eq!(
        MemfdLuoFolioSer::FINGERPRINT,
        kho::layout::fingerprint(&text)
    );
}

#[test]
fn bit_field_accessors_check_the_width() {
    let mut f = MemfdLuoFolioSer {
        pfn_flags: 0,
        index: 3,
    };
    f.set_pfn(0xf_ffff_ffff_ffff).unwrap();
    f.set_flags(0xabc).unwrap();
    assert_eq!({ f.pfn_flags }, 0xabcf_ffff_ffff_ffff);
    assert_eq!((f.pfn(), f.flags()), (0xf_ffff_ffff_ffff, 0xabc));
    let err = f.set_pfn(1 << 52).unwrap_err();
    assert_eq!(
        err.to_string(),
        "value 0x10000000000000 does not fit bit field `pfn` of 52 bits"
    );
    let err = f.set_flags(0x1000).unwrap_err();
    assert!(err.to_string().contains("`flags` of 12 bits"), "{err}");
    // A refused value leaves the word as it was.
    assert_eq!({ f.pfn_flags }, 0xabcf_ffff_ffff_ffff);
    let bytes = f.to_bytes();
    assert_eq!(&bytes[..8], &0xabcf_ffff_ffff_ffffu64.to_ne_bytes());
    assert_eq!(MemfdLuoFolioSer::read_from(&bytes), f);
}

#[test]
fn natural_alignment_pads_as_c_does() {
    let l = kho::struct_layout::<KhoVmalloc>().unwrap();
    assert_eq!((l.size, l.align, l.packed), (16, 8, false));
    assert_eq!(
        facts(l),
        [
            ("first", 0, 8, None),
            ("total_pages", 8, 4, None),
            ("flags", 12, 2, None),
            ("order", 14, 2, None),
        ]
    );
    assert!(canonical_text(l).starts_with(
        "struct kho_vmalloc size 16 align 8\n  first khoser_ptr<kho_vmalloc_chunk> offset 0 size 8\n"
    ));

    let p = kho::struct_layout::<Padded>().unwrap();
    assert_eq!((p.size, p.align), (16, 8));
    assert_eq!(facts(p)[1], ("value", 8, 8, None));
    // Padding goes out as zeros whatever the buffer held.
    let mut out = [0xffu8; 16];
    Padded { tag: 1, value: 2 }.write_to(&mut out);
    assert_eq!(&out[..8], &[1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(Padded::read_from(&out), Padded { tag: 1, value: 2 });

    let c = kho::struct_layout::<Cacheline>().unwrap();
    assert_eq!((c.size, c.align, c.packed), (64, 64, false));
    assert!(canonical_text(c).starts_with("struct cacheline size 64 align 64\n"));
    assert_eq!(<Cacheline as AbiField>::FIELD_SIZE, 64);

    let o = kho::struct_layout::<PackedOuter>().unwrap();
    assert_eq!((o.size, o.align), (17, 1));
    assert_eq!(facts(o)[1], ("vmalloc", 1, 16, None));
}

#[test]
fn a_page_sized_struct_is_not_an_entry_but_a_field_type() {
    let l = kho::struct_layout::<KhoVmallocChunk>().unwrap();
    assert_eq!((l.size, l.align), (4096, 8));
    assert_eq!(facts(l)[1], ("phys", 8, 4088, None));
    // The pointer names its target without evaluating its layout (the two
    // structs point at each other).
    let hdr = kho::struct_layout::<KhoVmallocHdr>().unwrap();
    assert_eq!(hdr.fields[0].ty, Ty::Ptr("kho_vmalloc_chunk".into()));
}

#[test]
fn the_khoser_pointer_is_a_typed_u64() {
    assert_eq!(core::mem::size_of::<PhysPtr<KhoVmallocChunk>>(), 8);
    assert_eq!(core::mem::align_of::<PhysPtr<KhoVmallocChunk>>(), 8);
    let p = PhysPtr::<KhoVmallocChunk>::new(PhysAddr(0x1234_5000));
    assert_eq!(p.addr(), PhysAddr(0x1234_5000));
    assert!(PhysPtr::<KhoVmallocChunk>::NULL.is_null());
    let v = KhoVmalloc {
        first: p,
        total_pages: 9,
        flags: 1,
        order: 2,
    };
    let bytes = v.to_bytes();
    assert_eq!(bytes.len(), 16);
    assert_eq!(&bytes[..8], &0x1234_5000u64.to_ne_bytes());
    assert_eq!(KhoVmalloc::read_from(&bytes), v);
}

#[test]
fn unions_overlay_their_members() {
    let l = kho::struct_layout::<PhysOrWords>().unwrap();
    assert_eq!((l.kind, l.size, l.align), (Kind::Union, 8, 8));
    assert_eq!(
        facts(l),
        [
            ("phys", 0, 8, None),
            ("words", 0, 8, None),
            ("at", 0, 8, None),
        ]
    );
    assert!(canonical_text(l).starts_with("union phys_or_words size 8 align 8\n"));
    // Written through any member, the bytes are the same.
    let mut out = [0u8; 8];
    PhysOrWords { words: [1, 2] }.write_to(&mut out);
    let mut want = [0u8; 8];
    want[..4].copy_from_slice(&1u32.to_ne_bytes());
    want[4..].copy_from_slice(&2u32.to_ne_bytes());
    assert_eq!(out, want);
    let back = PhysOrWords::read_from(&out);
    let mut again = [0u8; 8];
    back.write_to(&mut again);
    assert_eq!(again, want);

    let t = kho::struct_layout::<Tagged>().unwrap();
    assert_eq!((t.size, t.align), (16, 8));
    assert_eq!(facts(t)[1], ("value", 8, 8, None));
}

#[test]
fn a_flexible_array_is_outside_sizeof_and_bounded_by_its_count() {
    let l = PciSer::LAYOUT;
    assert_eq!((PciSer::SIZE, l.size), (8, 8));
    assert_eq!(facts(l)[2], ("devices", 8, 0, None));
    assert!(matches!(&l.fields[2].ty, Ty::Flex(_)));
    assert!(
        canonical_text(l).contains("  devices pci_dev_ser[] offset 8 size 0\n"),
        "{}",
        canonical_text(l)
    );

    let dev = |i: u16| PciDevSer {
        domain: 0,
        bdf: i,
        refcount: 1,
    };
    let head = PciSer {
        max_nr_devices: 4,
        nr_devices: 3,
        devices: [],
    };
    let mut buf = vec![0u8; PciSer::SIZE + 3 * 8];
    head.write_to(&mut buf);
    {
        let mut devices = head.devices_mut(&mut buf).unwrap();
        for i in 0..3 {
            assert!(devices.set(i, &dev(i as u16 + 0x10)));
        }
        assert!(!devices.set(3, &dev(0)));
    }
    let read = PciSer::read_from(&buf);
    let devices: FlexArray<'_, PciDevSer> = read.devices(&buf).unwrap();
    assert_eq!(devices.len(), 3);
    assert_eq!(
        devices.iter().map(|d| d.bdf).collect::<Vec<_>>(),
        [0x10, 0x11, 0x12]
    );
    // A count from the previous kernel that runs past the buffer is an
    // error, not a read past it.
    let lying = PciSer {
        nr_devices: 4,
        ..read
    };
    let err = lying.devices(&buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flexible array `devices`: 4 elements of 8 bytes at offset 8 do not fit a buffer of 32 bytes"
    );
}

#[test]
fn without_a_count_field_the_caller_gives_the_count() {
    let l = kho::struct_layout::<Words>().unwrap();
    // The flexible array's alignment pads the fixed part, as in C.
    assert_eq!((l.size, l.align), (8, 8));
    assert_eq!(facts(l)[1], ("words", 8, 0, None));
    let head = Words { tag: 1, words: [] };
    let mut buf = [0u8; 8 + 2 * 8];
    assert!(head.words_mut(&mut buf, 2).unwrap().set(1, &7));
    assert_eq!(head.words(&buf, 2).unwrap().get(1), Some(7));
    let err = head.words(&buf, 3).unwrap_err();
    assert!(err.to_string().contains("3 elements of 8 bytes"), "{err}");
}

/// Which derived structs are plain (memory is the encoding, so the bulk
/// paths copy their slices as bytes): every field plain and no padding.
#[test]
fn plain_is_every_field_plain_without_padding() {
    fn plain<T: AbiField>() -> bool {
        T::PLAIN.is_plain()
    }
    // Bit-field storage, pointers, nested structs, flexible arrays.
    assert!(plain::<MemfdLuoFolioSer>() && plain::<KhoVmalloc>() && plain::<KhoVmallocChunk>());
    assert!(plain::<PciSer>() && plain::<PackedOuter>());
    // Padding: C's between tag and value, the tail after Words' tag and
    // Cacheline's alignment.
    assert!(!plain::<Padded>() && !plain::<Words>() && !plain::<Cacheline>());
    // A union, and a struct holding one.
    assert!(!plain::<PhysOrWords>() && !plain::<Tagged>());
    // What "plain" promises, checked on a value: its memory is what
    // write_to writes.
    let v = KhoVmalloc {
        first: PhysPtr::new(PhysAddr(0x1234_5000)),
        total_pages: 7,
        flags: 2,
        order: 1,
    };
    let mut encoded = [0u8; 16];
    v.write_to(&mut encoded);
    let memory: Vec<u8> = [
        0x1234_5000u64.to_ne_bytes().as_slice(),
        &7u32.to_ne_bytes(),
        &2u16.to_ne_bytes(),
        &1u16.to_ne_bytes(),
    ]
    .concat();
    assert_eq!(encoded.as_slice(), memory.as_slice());
}
