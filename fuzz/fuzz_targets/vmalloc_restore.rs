//! Restore a KHO vmalloc area from arbitrary image bytes and an arbitrary
//! `struct kho_vmalloc`: any page size, any page limit. It must return Ok or
//! an error, and an accepted area must be exactly what an independent walk
//! of its chunks lists, `total_pages` pages of distinct, readable,
//! run-aligned addresses within the limit.
//!
//! Input: byte 0 selects the page size (% 3); bytes 1-16 are the
//! descriptor (`first`, `total_pages`, `flags`, `order`, native endian);
//! byte 17's low 2 bits the mode of `first` (0: as given, 1: page
//! `first % 16` of the image, 2 and 3: the image base plus `first` as a
//! 32-bit offset) and its high 6 bits the page limit (`1 + n * 100`); the
//! rest is the image, based at 0x1000_0000.
#![no_main]

use std::collections::HashSet;

use kho_runtime::{
    vmalloc_slots, PhysAddr, PreservedMemory, RawImage, Vmalloc, VmallocSer, PAGE_SIZES,
};
use libfuzzer_sys::fuzz_target;

const BASE: u64 = 0x1000_0000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 18 {
        return;
    }
    let page_size = PAGE_SIZES[data[0] as usize % 3];
    let mut ser = VmallocSer::from_bytes(&data[1..17]).expect("16 bytes");
    let f = ser.first.get();
    ser.first = PhysAddr(match data[17] & 3 {
        0 => f,
        1 => BASE + (f % 16) * page_size as u64,
        _ => BASE + (f & 0xffff_ffff),
    });
    let limit = 1 + (data[17] >> 2) as usize * 100;
    let img = RawImage::from_vec(data[18..].to_vec(), BASE, page_size).expect("aligned base");
    let Ok(area) = Vmalloc::restore_with_limit(&img, &ser, limit) else {
        return;
    };
    assert_eq!(area.pages().len(), ser.total_pages as usize);
    assert!(area.pages().len() <= limit);
    assert_eq!(area.ser(), ser);
    // Walk the chunks independently and compare.
    let slots = vmalloc_slots(page_size);
    let run = 1usize << ser.order;
    let mut expect = Vec::new();
    let mut next = ser.first;
    for &c in area.chunks() {
        assert_eq!(c, next);
        let page = img.page(c).expect("restored chunk is readable");
        let word = |i: usize| u64::from_ne_bytes(page[i * 8..i * 8 + 8].try_into().unwrap());
        for s in 0..slots {
            let phys = word(1 + s);
            if phys == 0 {
                break;
            }
            assert_eq!(phys % (page_size as u64 * run as u64), 0);
            for j in 0..run as u64 {
                expect.push(PhysAddr(phys + j * page_size as u64));
            }
        }
        next = PhysAddr(word(0));
    }
    assert!(next.is_null());
    assert_eq!(area.pages(), &expect[..]);
    let mut seen = HashSet::new();
    for &p in area.pages().iter().chain(area.chunks()) {
        assert!(seen.insert(p), "page {p} twice");
        img.page(p).expect("restored page is readable");
    }
    let bytes = area
        .to_vec(&img, area.len_bytes())
        .expect("an area reads whole");
    assert_eq!(bytes.len(), area.pages().len() * page_size);
});
