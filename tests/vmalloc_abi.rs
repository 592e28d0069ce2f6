//! The generated `kho_vmalloc` of each page size and the runtime's
//! `VmallocSer` are one struct: the bytes of either are the other's, and a
//! memfd_luo_ser's `folios` restores through the runtime.

use kho::abi::kho::{page_16k, page_4k, page_64k};
use kho::abi::memfd::page_4k::MemfdLuoSer;
use kho::abi::memfd::MEMFD_LUO_ALL_SEALS;
use kho::{AbiField, PhysAddr, PhysPtr, SimMemory, Vmalloc, VmallocSer};

#[test]
fn generated_and_runtime_descriptors_agree_byte_for_byte() {
    let ser = VmallocSer {
        first: PhysAddr(0x1234_5000),
        total_pages: 77,
        flags: 3,
        order: 2,
    };
    let g4: page_4k::KhoVmalloc = ser.into();
    let g16: page_16k::KhoVmalloc = ser.into();
    let g64: page_64k::KhoVmalloc = ser.into();
    assert_eq!(g4.first, PhysPtr::new(PhysAddr(0x1234_5000)));
    assert_eq!(VmallocSer::from(g16), ser);
    assert_eq!(VmallocSer::from(g64), ser);
    let mut bytes = [0u8; 16];
    g4.write_to(&mut bytes);
    assert_eq!(bytes, ser.to_bytes());
    assert_eq!(page_4k::KhoVmalloc::read_from(&ser.to_bytes()), g4);
}

#[test]
fn a_memfd_ser_folio_area_restores() {
    let mut mem = SimMemory::new(0x10_0000, 4096, 8).unwrap();
    let area = Vmalloc::write(&mut mem, &[7u8; 100]).unwrap();
    let memfd = MemfdLuoSer {
        pos: 0,
        size: 100,
        seals: MEMFD_LUO_ALL_SEALS as u32,
        flags: 0,
        nr_folios: 1,
        folios: area.ser().into(),
    };
    let mem = mem.kexec();
    let folios = memfd.folios;
    let r = Vmalloc::restore(&mem, &folios.into()).unwrap();
    assert_eq!(r.to_vec(&mem, 100).unwrap(), vec![7u8; 100]);
}
