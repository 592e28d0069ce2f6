//! The derive as a user sees it: trait constants, byte conversion,
//! fingerprints, nested entries, typed pointers, and `same_layout_as`
//! checks of the runtime's hand-written entry types.

use kho::layout::{canonical_text, Len, Node, Prim, Ty};
use kho::{AbiField, BlockSet, CharArray, KhoEntry, PhysAddr, PhysPtr, SimMemory};

#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C, packed)]
#[kho(compatible = "luo-file-v1")]
pub struct LuoFileSer {
    pub name: CharArray<48>,
    pub data: u64,
    pub token: u64,
}

#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C, packed)]
pub struct LuoFileSetSer {
    pub files: PhysPtr<LuoFileSer>,
    pub count: u64,
}

#[derive(KhoEntry, Clone, Copy, Debug, PartialEq)]
#[repr(C, packed)]
#[kho(compatible = "luo-session-v1")]
pub struct LuoSessionSer {
    pub name: CharArray<64>,
    pub file_set_ser: LuoFileSetSer,
}

#[test]
fn constants_match_the_kernel_layout() {
    assert_eq!(LuoFileSer::COMPATIBLE, "luo-file-v1");
    assert_eq!(LuoFileSer::SIZE, 64);
    assert_eq!(LuoSessionSer::SIZE, 80);
    let l = LuoFileSer::LAYOUT;
    assert_eq!(l.name, "luo_file_ser");
    let offsets: Vec<_> = l
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.offset, f.size))
        .collect();
    assert_eq!(
        offsets,
        [("name", 0, 48), ("data", 48, 8), ("token", 56, 8)]
    );
    assert_eq!(
        l.fields[0].ty,
        Ty::Array(Node::Ref(&Ty::Prim(Prim::Char)), Len::new(48))
    );
    assert_eq!(
        <LuoSessionSer as KhoEntry>::FINGERPRINT,
        LuoSessionSer::FINGERPRINT
    );
    assert_eq!(
        LuoSessionSer::FINGERPRINT,
        kho::layout::fingerprint(&canonical_text(LuoSessionSer::LAYOUT))
    );
    assert!(canonical_text(LuoSessionSer::LAYOUT).contains(
        "  file_set_ser luo_file_set_ser offset 64 size 16\n    struct luo_file_set_ser size 16\n"
    ));
}

#[test]
fn bytes_round_trip_in_field_order() {
    let f = LuoFileSer {
        name: CharArray::new("memfd:vm0").unwrap(),
        data: 7,
        token: u64::MAX - 1,
    };
    let mut out = [0u8; 64];
    f.write_to(&mut out);
    assert_eq!(&out[..9], b"memfd:vm0");
    assert_eq!(&out[48..56], &7u64.to_ne_bytes());
    assert_eq!(&out[56..], &(u64::MAX - 1).to_ne_bytes());
    assert_eq!(LuoFileSer::read_from(&out), f);
    assert_eq!(f.name.to_str(), Some("memfd:vm0"));
    assert!(CharArray::<4>::new("four").is_err());
}

#[test]
fn typed_pointer_restores_what_it_points_at() {
    let mut mem = SimMemory::new(0x10_0000, 4096, 64).unwrap();
    let mut files = BlockSet::<LuoFileSer, _>::new(&mem).unwrap();
    for i in 0..100u64 {
        let e = LuoFileSer {
            name: CharArray::new(&format!("f{i}")).unwrap(),
            data: i,
            token: i * 3,
        };
        files.push(&mut mem, &e).unwrap();
    }
    let set = LuoFileSetSer {
        files: PhysPtr::new(files.publish(&mut mem).unwrap()),
        count: 100,
    };
    let mut sessions = BlockSet::<LuoSessionSer, _>::new(&mem).unwrap();
    let s = LuoSessionSer {
        name: CharArray::new("vm0").unwrap(),
        file_set_ser: set,
    };
    sessions.push(&mut mem, &s).unwrap();
    let head = sessions.publish(&mut mem).unwrap();

    let mem = mem.kexec();
    let sessions = BlockSet::<LuoSessionSer, _>::restore(&mem, head).unwrap();
    let s = sessions.get(&mem, 0).unwrap().unwrap();
    let files = s.file_set_ser.files.restore_set(&mem).unwrap();
    assert_eq!(files.len() as u64, { s.file_set_ser.count });
    assert_eq!(
        files.iter(&mem).unwrap().nth(42).map(|f| f.token),
        Some(126)
    );
    let first = PhysAddr(head.get() + kho::HEADER_SIZE as u64);
    assert_eq!(
        PhysPtr::<LuoSessionSer>::new(first)
            .read(&mem)
            .unwrap()
            .name
            .to_str(),
        Some("vm0")
    );
    assert!(PhysPtr::<LuoSessionSer>::new(PhysAddr(0x20_0000))
        .read(&mem)
        .is_err());
}

#[test]
fn shipped_abis_are_usable_from_the_facade() {
    use kho::abi::{kho_block, luo};
    assert_eq!(kho_block::COMPATIBLE, "kho-block-v1");
    assert_eq!(luo::COMPATIBLE, "luo-v4-kho-block-v1");
    // The runtime's own header and the schema's are one layout.
    assert_eq!(
        kho::fingerprint_of::<kho_block::KhoBlockHeaderSer>(),
        <kho::BlockHeaderSer as KhoEntry>::FINGERPRINT
    );
    assert_eq!(luo::LuoFileSer::SIZE, 64);
    assert_eq!(luo::LuoSessionSer::SIZE, 80);
    // Structs that are only field types: their facts are AbiField's.
    assert_eq!(<luo::LuoSer as AbiField>::FIELD_SIZE, 152);
    let hdr = kho::struct_layout::<luo::LuoFeatureHdr>().map(|l| l.fields[3].offset);
    assert_eq!(hdr, Some(24));
    assert_eq!(kho::struct_layout::<u64>(), None);
    assert_eq!(<luo::LuoFileSer as KhoEntry>::COMPATIBLE, luo::COMPATIBLE);
}

/// The runtime writes its two entry types by hand (it does not depend on
/// its derive); derived twins declared `same_layout_as` them make the
/// compiler prove the hand-written layouts are what the derive would emit.
mod hand_written_runtime_types {
    use kho::KhoEntry;

    #[derive(KhoEntry, Clone, Copy)]
    #[repr(C, packed)]
    #[kho(
        compatible = "kho-block-v1",
        same_layout_as = kho::BlockHeaderSer,
    )]
    pub struct KhoBlockHeaderSer {
        pub next: u64,
        pub count: u64,
    }

    /// The same ABI again, against the type generated from
    /// schemas/kho_block.toml (one `same_layout_as` per struct).
    #[derive(KhoEntry, Clone, Copy)]
    #[repr(C, packed)]
    #[kho(
        name = "kho_block_header_ser",
        same_layout_as = kho::abi::kho_block::KhoBlockHeaderSer
    )]
    pub struct GeneratedHeader {
        pub next: u64,
        pub count: u64,
    }

    #[derive(KhoEntry, Clone, Copy)]
    #[repr(C, packed)]
    #[kho(
        compatible = "kho-image-root-v1",
        same_layout_as = kho::RootRecord
    )]
    pub struct RootRecord {
        pub name: [u8; 64],
        pub compatible: [u8; 64],
        pub head: u64,
        pub entry_size: u64,
        pub entries: u64,
        pub blocks: u64,
        pub fingerprint: u64,
    }

    #[test]
    fn twins_have_the_hand_written_fingerprints() {
        assert_eq!(
            KhoBlockHeaderSer::FINGERPRINT,
            <kho::BlockHeaderSer as KhoEntry>::FINGERPRINT
        );
        assert_eq!(
            RootRecord::FINGERPRINT,
            <kho::RootRecord as KhoEntry>::FINGERPRINT
        );
        assert_eq!(RootRecord::SIZE, 168);
    }
}

/// A type's own inherent items do not collide with the derive's, which are
/// all trait items.
mod own_items {
    use kho::{AbiField, KhoEntry};

    #[derive(KhoEntry, Clone, Copy)]
    #[repr(C, packed)]
    #[kho(compatible = "own-items-v1")]
    pub struct Own {
        pub a: u32,
    }

    impl Own {
        pub const LAYOUT: &'static str = "mine";
        pub const SIZE: usize = 1000;
    }

    #[test]
    fn inherent_and_trait_items_are_distinct() {
        assert_eq!(Own::LAYOUT, "mine");
        assert_eq!(Own::SIZE, 1000);
        assert_eq!(<Own as KhoEntry>::SIZE, 4);
        assert_eq!(<Own as AbiField>::FIELD_SIZE, 4);
        assert_eq!(<Own as KhoEntry>::LAYOUT.name, "own");
    }
}

/// The kernel's ABIs written by hand with the derive, each declared
/// `same_layout_as` the type generated from its schema: the compiler proves
/// the derive and the schema compiler give one layout for bit fields,
/// natural alignment, KHOSER pointers and flexible arrays.
mod kernel_abis {
    use kho::abi;
    use kho::{AbiField, KhoEntry, PhysPtr};

    #[derive(KhoEntry, Clone, Copy)]
    #[repr(C, packed)]
    #[kho(same_layout_as = abi::memfd::MemfdLuoFolioSer)]
    pub struct MemfdLuoFolioSer {
        #[kho(bits(pfn = 52, flags = 12))]
        pub pfn_flags: u64,
        pub index: u64,
    }

    #[derive(KhoEntry, Clone, Copy)]
    #[repr(C)]
    #[kho(same_layout_as = abi::kho::page_4k::KhoVmalloc)]
    pub struct KhoVmalloc {
        pub first: PhysPtr<abi::kho::page_4k::KhoVmallocChunk>,
        pub total_pages: u32,
        pub flags: u16,
        pub order: u16,
    }

    #[derive(KhoEntry, Clone, Copy)]
    #[repr(C)]
    #[kho(name = "kho_vmalloc_chunk", same_layout_as = abi::kho::page_16k::KhoVmallocChunk)]
    pub struct KhoVmallocChunk16k {
        pub hdr: abi::kho::page_16k::KhoVmallocHdr,
        pub phys: [u64; (16384 - 8) / 8],
    }

    #[derive(KhoEntry, Clone, Copy)]
    #[repr(C, packed)]
    #[kho(same_layout_as = abi::pci::PciSer)]
    pub struct PciSer {
        pub max_nr_devices: u32,
        pub nr_devices: u32,
        #[kho(flex, count = max_nr_devices)]
        pub devices: [abi::pci::PciDevSer; 0],
    }

    #[test]
    fn hand_written_twins_have_the_generated_fingerprints() {
        assert_eq!(
            kho::fingerprint_of::<MemfdLuoFolioSer>(),
            kho::fingerprint_of::<abi::memfd::MemfdLuoFolioSer>()
        );
        assert_eq!(
            kho::fingerprint_of::<KhoVmalloc>(),
            kho::fingerprint_of::<abi::kho::page_4k::KhoVmalloc>()
        );
        assert_eq!(<KhoVmallocChunk16k as AbiField>::FIELD_SIZE, 16384);
        assert_eq!(
            kho::fingerprint_of::<PciSer>(),
            kho::fingerprint_of::<abi::pci::PciSer>()
        );
        // The generated types have the derive's accessors too.
        let mut f = abi::memfd::MemfdLuoFolioSer {
            pfn_flags: 0,
            index: 0,
        };
        f.set_flags(0xfff).unwrap();
        assert!(f.set_pfn(1 << 52).is_err());
        assert_eq!({ f.pfn_flags }, 0xfff << 52);
    }
}
