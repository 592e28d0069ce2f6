//! Golden byte tests: the chain a set builds is the kernel's format, byte
//! for byte, and the sizes follow `(PAGE_SIZE - 16) / entry_size`.

mod common;

use common::{alloc_pages, entry_bytes, header, rd, set_header, BASE};
use kho_runtime::{
    count_per_block, AbiField, BlockHeaderSer, BlockSet, ChainFault, Error, KhoEntry, PhysAddr,
    PreservedMemory, RawBlockSet, SimMemory, HEADER_SIZE, KHO_BLOCK_COMPATIBLE, PAGE_SIZES,
};

/// Independent reference: entries of `e` bytes in a block of `ps` bytes.
fn expected_cpb(ps: usize, e: usize) -> Option<usize> {
    let room = ps - 16;
    if e == 0 || e > room {
        None
    } else {
        Some(room / e)
    }
}

#[test]
fn header_constants_match_the_seed() {
    assert_eq!(HEADER_SIZE, 16);
    assert_eq!(<BlockHeaderSer as KhoEntry>::SIZE, 16);
    assert_eq!(<BlockHeaderSer as AbiField>::FIELD_SIZE, 16);
    assert_eq!(KHO_BLOCK_COMPATIBLE, "kho-block-v1");
    assert_eq!(PAGE_SIZES, [4096, 16384, 65536]);
}

#[test]
fn count_per_block_table() {
    // (page, entry, count) worked out by hand.
    let table: &[(usize, usize, usize)] = &[
        (4096, 1, 4080),
        (4096, 8, 510),
        (4096, 16, 255),
        (4096, 32, 127),
        (4096, 64, 63),
        (4096, 168, 24),
        (4096, 2040, 2),
        (4096, 2041, 1),
        (4096, 4080, 1),
        (16384, 1, 16368),
        (16384, 8, 2046),
        (16384, 32, 511),
        (16384, 64, 255),
        (16384, 4080, 4),
        (16384, 4081, 4),
        (16384, 16368, 1),
        (65536, 1, 65520),
        (65536, 8, 8190),
        (65536, 32, 2047),
        (65536, 64, 1023),
        (65536, 4080, 16),
        (65536, 4081, 16),
        (65536, 65520, 1),
    ];
    for &(ps, e, n) in table {
        assert_eq!(count_per_block(ps, e).ok(), Some(n), "page {ps}, entry {e}");
        assert_eq!(expected_cpb(ps, e), Some(n), "table row {ps}/{e} is wrong");
    }
}

#[test]
fn count_per_block_matches_the_formula_for_every_size() {
    for ps in PAGE_SIZES {
        for e in (0..=ps - 8).step_by(if ps == 4096 { 1 } else { 7 }) {
            let got = count_per_block(ps, e);
            match expected_cpb(ps, e) {
                Some(n) => {
                    assert_eq!(got.ok(), Some(n), "page {ps}, entry {e}");
                    // An entry never spans blocks: n entries fit, n + 1 do not.
                    assert!(16 + n * e <= ps && 16 + (n + 1) * e > ps);
                }
                None => assert!(
                    matches!(got, Err(Error::EntrySize { entry_size, page_size })
                        if entry_size == e && page_size == ps),
                    "page {ps}, entry {e}: {got:?}"
                ),
            }
        }
    }
}

#[test]
fn entry_sizes_that_do_not_fit_are_rejected() {
    for ps in PAGE_SIZES {
        for e in [0, ps - 15, ps - 8, ps, ps + 1, usize::MAX] {
            assert!(
                matches!(count_per_block(ps, e), Err(Error::EntrySize { entry_size, page_size })
                    if entry_size == e && page_size == ps),
                "page {ps}, entry {e}"
            );
        }
        assert_eq!(count_per_block(ps, ps - 16).ok(), Some(1));
    }
    // 4081 only overflows a 4 KiB block.
    assert!(matches!(
        count_per_block(4096, 4081),
        Err(Error::EntrySize {
            entry_size: 4081,
            page_size: 4096
        })
    ));
    // The error says how much room there is.
    let text = count_per_block(4096, 4081).unwrap_err().to_string();
    assert!(text.contains("4081") && text.contains("4080"), "{text}");
}

#[test]
fn unsupported_page_sizes_are_rejected() {
    for ps in [0, 512, 2048, 8192, 32768, 131072, 4095, 4097] {
        assert!(
            matches!(count_per_block(ps, 8), Err(Error::PageSize(p)) if p == ps),
            "page {ps}"
        );
        assert!(matches!(SimMemory::new(BASE, ps, 4), Err(Error::PageSize(p)) if p == ps));
    }
}

#[test]
fn sets_reject_bad_entry_sizes_on_new_and_restore() {
    let mem = SimMemory::new(BASE, 4096, 4).unwrap();
    assert!(matches!(
        RawBlockSet::new(&mem, 0),
        Err(Error::EntrySize { entry_size: 0, .. })
    ));
    assert!(matches!(
        RawBlockSet::new(&mem, 4081),
        Err(Error::EntrySize {
            entry_size: 4081,
            page_size: 4096
        })
    ));
    assert!(matches!(
        RawBlockSet::restore(&mem, PhysAddr::NULL, 0),
        Err(Error::EntrySize { entry_size: 0, .. })
    ));
    let set = RawBlockSet::new(&mem, 4080).unwrap();
    assert_eq!(set.count_per_block(), 1);
    assert_eq!(set.block_size(), 4096);
    assert_eq!(set.entry_size(), 4080);
}

/// Builds a 32-byte-entry set of `n` entries and checks every byte of the
/// chain against the format.
fn golden_chain(ps: usize, e: usize, n: usize) {
    let cpb = expected_cpb(ps, e).unwrap();
    let blocks = n.div_ceil(cpb);
    let mut mem = SimMemory::new(BASE, ps, blocks + 2).unwrap();
    let mut set = RawBlockSet::new(&mem, e).unwrap();
    set.grow(&mut mem, n).unwrap();
    for i in 0..n {
        set.push(&mut mem, &entry_bytes(i, e)).unwrap();
    }
    let head = set.publish(&mut mem).unwrap();

    // The lowest free page is handed out first: the chain is laid out in order.
    let addrs: Vec<PhysAddr> = (0..blocks)
        .map(|b| PhysAddr(BASE + (b * ps) as u64))
        .collect();
    assert_eq!(set.blocks(), &addrs[..]);
    assert_eq!(head, addrs[0]);
    assert_eq!(set.head(), addrs[0]);
    assert_eq!(set.block_count(), blocks);
    assert_eq!(mem.stats().preserved, blocks);

    let bytes = mem.as_bytes();
    for (b, &addr) in addrs.iter().enumerate() {
        let off = (addr.get() - BASE) as usize;
        let page = &bytes[off..off + ps];
        assert_eq!(mem.page(addr).unwrap(), page, "page() and as_bytes() agree");
        let in_block = (n - b * cpb).min(cpb);
        let next = addrs.get(b + 1).map_or(0, |a| a.get());
        assert_eq!(rd(page, 0), next, "block {b} next");
        assert_eq!(rd(page, 8), in_block as u64, "block {b} count");
        for slot in 0..in_block {
            let at = HEADER_SIZE + slot * e;
            assert_eq!(
                &page[at..at + e],
                &entry_bytes(b * cpb + slot, e)[..],
                "block {b} slot {slot}"
            );
        }
        // Nothing is written past the last entry.
        assert!(page[HEADER_SIZE + in_block * e..].iter().all(|&x| x == 0));
    }
    // Pages past the chain are untouched.
    assert!(bytes[blocks * ps..].iter().all(|&x| x == 0));
}

#[test]
fn golden_bytes_for_every_page_size() {
    for ps in PAGE_SIZES {
        let cpb = expected_cpb(ps, 32).unwrap();
        golden_chain(ps, 32, 2 * cpb + cpb / 3);
        golden_chain(ps, 32, 3 * cpb); // last block exactly full
        golden_chain(ps, 32, 1);
        golden_chain(ps, ps - 16, 3); // one entry per block
        golden_chain(ps, 1, cpb + 1);
    }
}

#[test]
fn golden_bytes_at_127_entries_per_4k_block() {
    // The seed's own example: 32-byte entries, 127 per 4 KiB block.
    let mut mem = SimMemory::new(BASE, 4096, 4).unwrap();
    let mut raw = RawBlockSet::new(&mem, 32).unwrap();
    assert_eq!(raw.count_per_block(), 127);
    raw.grow(&mut mem, 128).unwrap();
    for i in 0..128u64 {
        let mut e = [0u8; 32];
        [i, i + 1, i + 2, i + 3].write_to(&mut e);
        raw.push(&mut mem, &e).unwrap();
    }
    let head = raw.publish(&mut mem).unwrap();
    assert_eq!(head, PhysAddr(BASE));
    let b = mem.as_bytes();
    assert_eq!(rd(b, 0), BASE + 4096);
    assert_eq!(rd(b, 8), 127);
    // Entry 126 is the last of block 0: bytes 16 + 126 * 32 .. 4080.
    assert_eq!(rd(b, 16 + 126 * 32), 126);
    assert_eq!(rd(b, 16 + 126 * 32 + 24), 129);
    assert!(b[4080..4096].iter().all(|&x| x == 0));
    // Entry 127 opens block 1.
    assert_eq!(rd(b, 4096), 0);
    assert_eq!(rd(b, 4096 + 8), 1);
    assert_eq!(rd(b, 4096 + 16), 127);
    assert_eq!(rd(b, 4096 + 16 + 8), 128);
}

#[test]
fn typed_entries_are_their_fields_in_native_endian() {
    // BlockHeaderSer is a 16-byte KhoEntry: use it as an entry type.
    let mut mem = SimMemory::new(BASE, 4096, 4).unwrap();
    let mut set = BlockSet::<BlockHeaderSer, _>::new(&mem).unwrap();
    assert_eq!(set.count_per_block(), 255);
    for i in 0..300u64 {
        set.push(
            &mut mem,
            &BlockHeaderSer {
                next: 0x0102_0304_0506_0708 ^ i,
                count: i,
            },
        )
        .unwrap();
    }
    let head = set.publish(&mut mem).unwrap();
    assert_eq!(head, PhysAddr(BASE));
    let b = mem.as_bytes();
    assert_eq!(rd(b, 0), BASE + 4096);
    assert_eq!(rd(b, 8), 255);
    assert_eq!(&b[16..24], &0x0102_0304_0506_0708u64.to_ne_bytes());
    assert_eq!(&b[24..32], &0u64.to_ne_bytes());
    let last = 16 + 254 * 16;
    assert_eq!(rd(b, last), 0x0102_0304_0506_0708 ^ 254);
    assert_eq!(rd(b, last + 8), 254);
    assert_eq!(rd(b, 4096), 0);
    assert_eq!(rd(b, 4096 + 8), 45);
    assert_eq!(rd(b, 4096 + 16 + 8), 255);
}

#[test]
fn empty_set_has_null_head_and_no_pages() {
    let mut mem = SimMemory::new(BASE, 4096, 4).unwrap();
    let mut set = RawBlockSet::new(&mem, 8).unwrap();
    assert_eq!(set.head(), PhysAddr::NULL);
    assert_eq!(set.publish(&mut mem).unwrap(), PhysAddr::NULL);
    assert_eq!(mem.stats().preserved, 0);
    assert!(mem.as_bytes().iter().all(|&x| x == 0));
    let mem = mem.kexec();
    let restored = RawBlockSet::restore(&mem, PhysAddr::NULL, 8).unwrap();
    assert_eq!((restored.len(), restored.block_count()), (0, 0));
    assert!(restored.is_incoming());
}

// ---- The kernel's trap: grow(n), then write fewer than n entries. ----

/// grow(3 blocks), write `written` entries; returns the memory, the set and
/// the three block addresses.
fn grown_and_part_written(written: usize) -> (SimMemory, RawBlockSet, Vec<PhysAddr>) {
    let mut mem = SimMemory::new(BASE, 4096, 8).unwrap();
    let mut set = RawBlockSet::new(&mem, 100).unwrap();
    let cpb = set.count_per_block();
    assert_eq!(cpb, 40);
    set.grow(&mut mem, 3 * cpb).unwrap();
    let blocks = set.blocks().to_vec();
    assert_eq!(blocks.len(), 3);
    for i in 0..written {
        set.push(&mut mem, &entry_bytes(i, 100)).unwrap();
    }
    (mem, set, blocks)
}

#[test]
fn untrimmed_grow_leaves_the_kernels_trap() {
    // What the kernel would hand over: the third block has count 0.
    let (mem, set, blocks) = grown_and_part_written(45);
    assert_eq!(header(&mem, blocks[0]), (blocks[1].get(), 40));
    assert_eq!(header(&mem, blocks[1]), (blocks[2].get(), 5));
    assert_eq!(header(&mem, blocks[2]), (0, 0));
    let head = set.head(); // not published: no trim
    let mem = mem.kexec();
    let err = RawBlockSet::restore(&mem, head, 100).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Chain { index: 2, addr, fault: ChainFault::BadCount { count: 0, max: 40 } }
                if addr == blocks[2]
        ),
        "{err:?}"
    );
    // Restore released nothing.
    assert_eq!(mem.stats().incoming, 3);
}

/// An empty set of 100-byte entries grown to three blocks (40 each).
fn grown_for_120() -> (SimMemory, RawBlockSet, Vec<PhysAddr>) {
    let mut mem = SimMemory::new(BASE, 4096, 8).unwrap();
    let mut set = RawBlockSet::new(&mem, 100).unwrap();
    set.grow(&mut mem, 120).unwrap();
    let blocks = set.blocks().to_vec();
    (mem, set, blocks)
}

fn assert_trimmed_and_restorable(mem: SimMemory, head: PhysAddr, blocks: &[PhysAddr], n: usize) {
    assert_eq!(head, blocks[0]);
    assert_eq!(mem.stats().preserved, 2);
    assert_eq!(header(&mem, blocks[1]), (0, 5), "trailing block unlinked");
    let mem = mem.kexec();
    assert_eq!(mem.stats().incoming, 2);
    let restored = RawBlockSet::restore(&mem, head, 100).unwrap();
    assert_eq!(restored.len(), n);
    assert_eq!(restored.blocks(), &blocks[..2]);
    for (i, e) in restored.iter(&mem).unwrap().enumerate() {
        assert_eq!(e, &entry_bytes(i, 100)[..]);
    }
}

#[test]
fn writer_finish_trims_the_trailing_empty_block() {
    let (mut mem, mut set, blocks) = grown_for_120();
    let mut w = set.writer(&mut mem).unwrap();
    for i in 0..45 {
        w.push(&entry_bytes(i, 100)).unwrap();
    }
    assert_eq!(w.len(), 45);
    let head = w.finish().unwrap();
    assert_eq!(set.block_count(), 2);
    assert_eq!(set.capacity(), 80);
    assert_trimmed_and_restorable(mem, head, &blocks, 45);
}

#[test]
fn writer_drop_trims_the_trailing_empty_block() {
    let (mut mem, mut set, blocks) = grown_for_120();
    {
        let mut w = set.writer(&mut mem).unwrap();
        for i in 0..45 {
            w.push(&entry_bytes(i, 100)).unwrap();
        }
    }
    assert_eq!(set.block_count(), 2);
    let head = set.head();
    assert_trimmed_and_restorable(mem, head, &blocks, 45);
}

#[test]
fn typed_writer_trims_too() {
    let mut mem = SimMemory::new(BASE, 4096, 8).unwrap();
    let mut set = BlockSet::<BlockHeaderSer, _>::new(&mem).unwrap();
    set.grow(&mut mem, 255 * 3).unwrap();
    assert_eq!(set.block_count(), 3);
    let head = {
        let mut w = set.writer(&mut mem).unwrap();
        for i in 0..256 {
            w.push(&BlockHeaderSer { next: i, count: i }).unwrap();
        }
        assert_eq!(w.prev().unwrap().map(|h| h.count), Some(255));
        w.finish().unwrap()
    };
    assert_eq!(set.block_count(), 1);
    assert_eq!(mem.stats().preserved, 1);
    let mem = mem.kexec();
    let r = BlockSet::<BlockHeaderSer, _>::restore(&mem, head).unwrap();
    assert_eq!(r.len(), 255);
    assert_eq!(r.get(&mem, 254).unwrap().map(|h| h.next), Some(254));
}

#[test]
fn publish_trims_the_trailing_empty_block() {
    let (mut mem, mut set, blocks) = grown_and_part_written(45);
    let head = set.publish(&mut mem).unwrap();
    assert_eq!(set.block_count(), 2);
    assert_trimmed_and_restorable(mem, head, &blocks, 45);
}

#[test]
fn nothing_written_publishes_an_empty_set() {
    let (mut mem, mut set, _) = grown_and_part_written(0);
    assert_eq!(mem.stats().preserved, 3);
    assert_eq!(set.publish(&mut mem).unwrap(), PhysAddr::NULL);
    assert_eq!(set.block_count(), 0);
    assert_eq!(mem.stats().preserved, 0);
}

#[test]
fn hand_built_trailing_empty_block_is_rejected() {
    let mut mem = SimMemory::new(BASE, 4096, 8).unwrap();
    let p = alloc_pages(&mut mem, 3);
    set_header(&mut mem, p[0], p[1].get(), 3);
    set_header(&mut mem, p[1], p[2].get(), 40);
    set_header(&mut mem, p[2], 0, 0);
    let mem = mem.kexec();
    let before = mem.stats();
    let err = RawBlockSet::restore(&mem, p[0], 100).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Chain { index: 2, addr, fault: ChainFault::BadCount { count: 0, max: 40 } }
                if addr == p[2]
        ),
        "{err:?}"
    );
    assert_eq!(mem.stats(), before);
    // Index and address are the empty block's, wherever the walk starts.
    let err = RawBlockSet::restore(&mem, p[1], 100).unwrap_err();
    assert!(
        matches!(err, Error::Chain { index: 1, addr, fault: ChainFault::BadCount { count: 0, .. } }
            if addr == p[2]),
        "{err:?}"
    );
}

#[test]
fn partly_filled_middle_blocks_restore_in_order() {
    // The kernel's reader honours each block's count, so a chain written
    // by another writer may have short blocks anywhere.
    let mut mem = SimMemory::new(BASE, 4096, 8).unwrap();
    let p = alloc_pages(&mut mem, 3);
    let counts = [3u64, 40, 1];
    let mut expect = Vec::new();
    for (b, &addr) in p.iter().enumerate() {
        let next = p.get(b + 1).map_or(0, |a| a.get());
        set_header(&mut mem, addr, next, counts[b]);
        for slot in 0..counts[b] as usize {
            let e = entry_bytes(expect.len(), 100);
            let at = 16 + slot * 100;
            mem.page_mut(addr).unwrap()[at..at + 100].copy_from_slice(&e);
            expect.push(e);
        }
    }
    let mut mem = mem.kexec();
    let mut set = RawBlockSet::restore(&mem, p[0], 100).unwrap();
    assert_eq!(set.len(), 44);
    assert_eq!(set.capacity(), 44);
    let got: Vec<&[u8]> = set.iter(&mem).unwrap().collect();
    assert_eq!(got.len(), 44);
    for (i, e) in expect.iter().enumerate() {
        assert_eq!(got[i], &e[..], "iter {i}");
        assert_eq!(set.get(&mem, i).unwrap(), Some(&e[..]), "get {i}");
    }
    assert_eq!(set.get(&mem, 44).unwrap(), None);
    // An incoming set is read-only.
    assert!(matches!(set.grow(&mut mem, 100), Err(Error::Incoming(_))));
    assert!(matches!(
        set.push(&mut mem, &expect[0]),
        Err(Error::Incoming(_))
    ));
    assert!(matches!(set.prev(&mut mem), Err(Error::Incoming(_))));
    assert!(matches!(set.clear(&mut mem), Err(Error::Incoming(_))));
    assert!(matches!(set.shrink(&mut mem, 0), Err(Error::Incoming(_))));
    assert!(matches!(set.trim(&mut mem), Err(Error::Incoming(_))));
    {
        let mut w = set.writer(&mut mem).unwrap();
        assert!(matches!(w.push(&expect[0]), Err(Error::Incoming(_))));
        assert!(matches!(w.reserve(), Err(Error::Incoming(_))));
    }
    assert_eq!(
        set.len(),
        44,
        "a writer dropped on an incoming set changes nothing"
    );
    set.destroy(&mut mem).unwrap();
    assert_eq!(mem.stats().restored, 3);
    assert_eq!(mem.stats().incoming, 0);
    assert_eq!((set.len(), set.block_count()), (0, 0));
    assert_eq!(set.iter(&mem).unwrap().count(), 0);
}

#[test]
fn allocation_takes_the_lowest_free_page_even_after_frees() {
    // SimMemory promises the lowest free address first, so that layouts
    // (and these golden tests) are reproducible whatever was freed before.
    let mut mem = SimMemory::new(BASE, 4096, 8).unwrap();
    let p = alloc_pages(&mut mem, 5);
    let page = |i: u64| PhysAddr(BASE + i * 4096);
    assert_eq!(p, (0..5).map(page).collect::<Vec<_>>());
    mem.unpreserve_free(p[1]).unwrap();
    mem.unpreserve_free(p[3]).unwrap();
    mem.unpreserve_free(p[2]).unwrap();
    assert_eq!(mem.alloc_preserve().unwrap(), page(1));
    assert_eq!(mem.alloc_preserve().unwrap(), page(2));
    assert_eq!(mem.alloc_preserve().unwrap(), page(3));
    assert_eq!(mem.alloc_preserve().unwrap(), page(5));

    // The same after a kexec, whatever order the incoming pages are released in.
    let mut mem = mem.kexec();
    for i in [4u64, 0, 2] {
        mem.restore_free(page(i)).unwrap();
    }
    // Pages 6 and 7 were never used, 0, 2 and 4 were just released.
    assert_eq!(mem.alloc_preserve().unwrap(), page(0));
    assert_eq!(mem.alloc_preserve().unwrap(), page(2));
    assert_eq!(mem.alloc_preserve().unwrap(), page(4));
    assert_eq!(mem.alloc_preserve().unwrap(), page(6));
    // Reused pages come back zeroed.
    assert!(mem.page(page(0)).unwrap().iter().all(|&x| x == 0));
}
