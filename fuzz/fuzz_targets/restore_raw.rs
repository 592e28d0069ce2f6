//! Restore a block set from arbitrary image bytes and an arbitrary head:
//! any page size, any entry size, any block limit. It must return Ok or an
//! error, and an accepted chain must read back exactly what its blocks say
//! they hold, in no more blocks than the limit. Restoring and reading in
//! one walk (`restore_read_into_with_limit`) must agree: the same error, or
//! the same blocks and their entries, in order.
//!
//! Input: byte 0 selects the page size (% 3), bytes 1-2 (LE) the entry size
//! (1 + n % (page - 16)), bytes 3-6 (LE) a head offset, byte 7 the head mode
//! (low 3 bits) and the block limit (1 + the high 5 bits: 1..=32, so that
//! "too many blocks" is reachable in an image of a few pages); the rest is
//! the image, based at 0x1000_0000.
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
    let max_blocks = 1 + (data[7] >> 3) as usize;
    let img = RawImage::from_vec(data[8..].to_vec(), BASE, page_size).expect("aligned base");
    let restored = RawBlockSet::restore_with_limit(&img, PhysAddr(head), entry_size, max_blocks);
    // Restoring and reading in one walk says the same (compared below when
    // the chain is accepted), into room for every entry the image holds.
    let mut out = vec![0u8; data.len()];
    let fused = RawBlockSet::restore_read_into_with_limit(
        &img,
        PhysAddr(head),
        entry_size,
        max_blocks,
        &mut out,
    );
    let (set, (again, copied)) = match (restored, fused) {
        (Ok(set), Ok(fused)) => (set, fused),
        (Err(a), Err(b)) => {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            return;
        }
        (a, b) => panic!("restore: {a:?}, restore_read_into: {b:?}"),
    };
    assert!(set.block_count() <= max_blocks);
    assert_eq!(
        set.head(),
        PhysAddr(if set.block_count() == 0 { 0 } else { head })
    );
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
    let got: Vec<&[u8]> = set.iter(&img).expect("a restored set iterates").collect();
    assert_eq!(got, expect);
    assert_eq!(set.len(), expect.len());
    for (i, e) in expect.iter().enumerate() {
        assert_eq!(set.get(&img, i).ok(), Some(Some(*e)));
    }
    assert_eq!(again.blocks(), set.blocks());
    assert_eq!(copied, expect.len());
    assert!(out[..copied * entry_size] == expect.concat()[..]);
});
