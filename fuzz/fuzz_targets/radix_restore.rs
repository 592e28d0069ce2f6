//! Restore a preserved-memory radix tree (kho-v2) from arbitrary image
//! bytes and an arbitrary root: any page size, any limits. It must return
//! Ok or an error, and an accepted map must be what its tree says: sorted,
//! non-overlapping runs within the limits, each a key the tree's levels
//! index, read from distinct readable nodes starting at the root.
//!
//! Input: byte 0 selects the page size (% 3); byte 1 the root (page
//! `byte % 16` of the image, or 0x7 for an address past it) and byte 2 the
//! limits (nodes `1 + (b & 15) * 4`, runs `1 + (b >> 4) * 64`); the rest
//! is the image, based at 0x1000_0000.
#![no_main]

use std::collections::HashSet;

use kho_runtime::{
    PhysAddr, PreservedMap, PreservedMemory, RadixGeometry, RadixLimits, RawImage, PAGE_SIZES,
};
use libfuzzer_sys::fuzz_target;

const BASE: u64 = 0x1000_0000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let page_size = PAGE_SIZES[data[0] as usize % 3];
    let root = PhysAddr(match data[1] {
        0x7 => BASE + (data.len() as u64 + 1) * page_size as u64,
        b => BASE + u64::from(b % 16) * page_size as u64,
    });
    let limits = RadixLimits {
        max_nodes: 1 + (data[2] & 15) as usize * 4,
        max_runs: 1 + (data[2] >> 4) as usize * 64,
        max_order: 20,
    };
    let img = RawImage::from_vec(data[3..].to_vec(), BASE, page_size).expect("aligned base");
    let Ok(map) = PreservedMap::restore_with_limits(&img, root, limits) else {
        return;
    };
    let g = RadixGeometry::new(page_size).expect("a page size");
    assert!(map.nodes().len() <= limits.max_nodes);
    assert!(map.runs().len() <= limits.max_runs);
    assert_eq!(map.nodes().first(), Some(&root));
    let mut seen = HashSet::new();
    for &n in map.nodes() {
        assert!(seen.insert(n), "node {n} twice");
        img.page(n).expect("a restored node is readable");
    }
    for w in map.runs().windows(2) {
        assert!(w[0].end(page_size) <= w[1].addr.get(), "{w:?}");
    }
    for r in map.runs() {
        assert!(r.order <= limits.max_order);
        let key = g.encode(r.addr, r.order).expect("a run is a key");
        assert_eq!(key >> g.key_bits(), 0, "key {key:#x} beyond the tree");
        assert_eq!(g.decode(key), Some((r.addr, r.order)));
        assert_eq!(map.run_of(r.addr), Some(*r));
    }
});
