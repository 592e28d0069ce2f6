//! Restore a block set from arbitrary image bytes and an arbitrary head:
//! any page size, any entry size. It must return Ok or an error, and an
//! accepted chain must read back exactly what its blocks say they hold.
#![no_main]

use kho_runtime::{PhysAddr, PreservedMemory, RawBlockSet, RawImage, PAGE_SIZES};
use libfuzzer_sys::fuzz_target;

const BASE: u64 = 0x1000_0000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let page_size = PAGE_SIZES[data[0] as usize % 3];
    let entry_size = 1 + (u16::from_le_bytes([data[1], data[2]]) as usize % (page_size - 16));
    let head_off = u32::from_le_bytes([data[3], data[4], data[5], data[6]]) as u64;
    // Mostly page-aligned heads, sometimes not, sometimes null.
    let head = match data[7] % 8 {
        0 => 0,
        1 => BASE + head_off,
        _ => BASE + (head_off % 16) * page_size as u64,
    };
    let img = RawImage::from_vec(data[8..].to_vec(), BASE, page_size).expect("aligned base");
    let Ok(set) = RawBlockSet::restore_with_limit(&img, PhysAddr(head), entry_size, 64) else { return };
    // Walk the chain independently and compare.
    let mut expect = Vec::new();
    for &b in set.blocks() {
        let page = img.page(b).expect("restored block is readable");
        let count = u64::from_ne_bytes(page[8..16].try_into().unwrap()) as usize;
        assert!(count >= 1 && count <= (page_size - 16) / entry_size);
        for i in 0..count {
            expect.push(&page[16 + i * entry_size..16 + (i + 1) * entry_size]);
        }
    }
    let got: Vec<&[u8]> = set.iter(&img).collect();
    assert_eq!(got, expect);
    assert_eq!(set.len(), expect.len());
    for (i, e) in expect.iter().enumerate() {
        assert_eq!(set.get(&img, i), Some(*e));
    }
});
