//! Every way restore rejects a chain: what the kernel rejects (cycles, too
//! many blocks, bad counts) and what the kernel would crash on (addresses
//! outside memory, unaligned, past the end of an image, not handed over).
//! Each error names the exact block index and address, and a failed restore
//! releases no page.

mod common;

use common::{alloc_pages, set_header, BASE};
use kho_runtime::{
    BlockHeaderSer, BlockSet, ChainFault, Error, Fault, PhysAddr, PreservedMemory, RawBlockSet,
    RawImage, SimMemory, DEFAULT_MAX_BLOCKS,
};

const PS: usize = 4096;
/// 100-byte entries: 40 per 4 KiB block.
const ES: usize = 100;
const CPB: u64 = 40;

/// `n` preserved pages linked in allocation order, each with `count`
/// entries; not yet kexec'd, so the caller can corrupt headers first.
fn linked(n: usize, count: u64) -> (SimMemory, Vec<PhysAddr>) {
    let mut mem = SimMemory::new(BASE, PS, n + 4).unwrap();
    let p = alloc_pages(&mut mem, n);
    for (i, &addr) in p.iter().enumerate() {
        let next = p.get(i + 1).map_or(0, |a| a.get());
        set_header(&mut mem, addr, next, count);
    }
    (mem, p)
}

/// Restores `head` with `limit` and returns the error, after checking that
/// the failed restore changed neither the page counters nor any byte.
fn reject(mem: &SimMemory, head: PhysAddr, limit: usize) -> Error {
    let stats = mem.stats();
    let bytes = mem.as_bytes().to_vec();
    let err = RawBlockSet::restore_with_limit(mem, head, ES, limit).unwrap_err();
    assert_eq!(mem.stats(), stats, "a failed restore released pages");
    assert!(
        mem.as_bytes() == &bytes[..],
        "a failed restore wrote memory"
    );
    // Restoring and reading in one walk rejects the chain the same way,
    // into an array that holds every entry and one that holds one.
    for room in [bytes.len(), ES] {
        let mut out = vec![0u8; room];
        let fused =
            RawBlockSet::restore_read_into_with_limit(mem, head, ES, limit, &mut out).unwrap_err();
        assert_eq!(format!("{fused:?}"), format!("{err:?}"), "room {room}");
        assert_eq!(
            mem.stats(),
            stats,
            "a failed restore_read_into released pages"
        );
        assert!(
            mem.as_bytes() == &bytes[..],
            "a failed restore_read_into wrote memory"
        );
    }
    err
}

/// After a rejection, fixing the chain makes it restore, and destroying it
/// releases every page: the failed attempt had claimed none.
fn fixed_restores_fully(mut mem: SimMemory, head: PhysAddr, blocks: usize) {
    let mut set = RawBlockSet::restore(&mem, head, ES).unwrap();
    assert_eq!(set.block_count(), blocks);
    set.destroy(&mut mem).unwrap();
    assert_eq!(mem.stats().restored, blocks);
}

// ---- Cycles ----

#[test]
fn self_loop_is_a_cycle() {
    let (mut mem, p) = linked(1, 1);
    set_header(&mut mem, p[0], p[0].get(), 1);
    let mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::Cycle { to_index: 0 } }
            if addr == p[0]),
        "{err:?}"
    );
    // Caught with the smallest limit too.
    let err = reject(&mem, p[0], 1);
    assert!(
        matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::Cycle { to_index: 0 } }
            if addr == p[0]),
        "{err:?}"
    );
}

#[test]
fn longer_loop_is_a_cycle_naming_both_ends() {
    // p0 -> p1 -> p2 -> p3 -> p1
    let (mut mem, p) = linked(4, 2);
    set_header(&mut mem, p[3], p[1].get(), 2);
    let mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 3, addr, fault: ChainFault::Cycle { to_index: 1 } }
            if addr == p[3]),
        "{err:?}"
    );
    // Starting inside the loop: p1 -> p2 -> p3 -> p1.
    let err = reject(&mem, p[1], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 2, addr, fault: ChainFault::Cycle { to_index: 0 } }
            if addr == p[3]),
        "{err:?}"
    );
}

#[test]
fn loop_back_to_head_at_exactly_the_limit_is_a_cycle() {
    // p0 -> p1 -> p2 -> p0 with a limit of 3: the walk has read 3 blocks
    // when it finds the repeat.
    let (mut mem, p) = linked(3, 1);
    set_header(&mut mem, p[2], p[0].get(), 1);
    let mem = mem.kexec();
    let err = reject(&mem, p[0], 3);
    assert!(
        matches!(err, Error::Chain { index: 2, addr, fault: ChainFault::Cycle { to_index: 0 } }
            if addr == p[2]),
        "{err:?}"
    );
    // A limit too small to see the loop reports the length instead.
    let err = reject(&mem, p[0], 2);
    assert!(
        matches!(err, Error::Chain { index: 2, addr, fault: ChainFault::TooManyBlocks { limit: 2 } }
            if addr == p[2]),
        "{err:?}"
    );
}

// ---- Length ----

#[test]
fn chain_longer_than_a_small_limit() {
    let (mem, p) = linked(5, 3);
    let mem = mem.kexec();
    let err = reject(&mem, p[0], 4);
    assert!(
        matches!(err, Error::Chain { index: 4, addr, fault: ChainFault::TooManyBlocks { limit: 4 } }
            if addr == p[4]),
        "{err:?}"
    );
    let err = reject(&mem, p[0], 0);
    assert!(
        matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::TooManyBlocks { limit: 0 } }
            if addr == p[0]),
        "{err:?}"
    );
    // An empty set needs no block, whatever the limit.
    let empty = RawBlockSet::restore_with_limit(&mem, PhysAddr::NULL, ES, 0).unwrap();
    assert_eq!(empty.block_count(), 0);
    // Exactly at the limit is fine.
    let ok = RawBlockSet::restore_with_limit(&mem, p[0], ES, 5).unwrap();
    assert_eq!((ok.block_count(), ok.len()), (5, 15));
    assert_eq!(ok.max_blocks(), 5);
    // The typed set applies the limit the same way.
    let err = BlockSet::<BlockHeaderSer, SimMemory>::restore_with_limit(&mem, p[0], 4).unwrap_err();
    assert!(matches!(
        err,
        Error::Chain {
            index: 4,
            fault: ChainFault::TooManyBlocks { limit: 4 },
            ..
        }
    ));
    fixed_restores_fully(mem, p[0], 5);
}

#[test]
fn default_limit_is_the_kernels_10000_blocks() {
    assert_eq!(DEFAULT_MAX_BLOCKS, 10_000);
    // 10001 one-entry blocks laid out in order in a raw dump (~41 MB): from
    // page 1 the chain has 10000 blocks, from page 0 it has 10001.
    let pages = DEFAULT_MAX_BLOCKS + 1;
    let mut bytes = vec![0u8; pages * PS];
    for i in 0..pages {
        let page = &mut bytes[i * PS..(i + 1) * PS];
        let next = if i + 1 < pages {
            BASE + ((i + 1) * PS) as u64
        } else {
            0
        };
        page[0..8].copy_from_slice(&next.to_ne_bytes());
        page[8..16].copy_from_slice(&1u64.to_ne_bytes());
        page[16..24].copy_from_slice(&(i as u64).to_ne_bytes());
    }
    let img = RawImage::from_vec(bytes, BASE, PS).unwrap();
    let at = |i: usize| PhysAddr(BASE + (i * PS) as u64);

    let set = RawBlockSet::restore(&img, at(1), 4080).unwrap();
    assert_eq!(set.block_count(), 10_000);
    assert_eq!(set.len(), 10_000);
    assert_eq!(
        set.get(&img, 9_999).unwrap().map(|e| e[..8].to_vec()),
        Some(10_000u64.to_ne_bytes().to_vec())
    );

    let err = RawBlockSet::restore(&img, at(0), 4080).unwrap_err();
    assert!(
        matches!(err, Error::Chain { index: 10_000, addr, fault: ChainFault::TooManyBlocks { limit: 10_000 } }
            if addr == at(10_000)),
        "{err:?}"
    );
}

// ---- Counts ----

#[test]
fn count_zero_in_the_middle() {
    let (mut mem, p) = linked(3, CPB);
    set_header(&mut mem, p[1], p[2].get(), 0);
    let mut mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 1, addr, fault: ChainFault::BadCount { count: 0, max: CPB } }
            if addr == p[1]),
        "{err:?}"
    );
    set_header(&mut mem, p[1], p[2].get(), 7);
    fixed_restores_fully(mem, p[0], 3);
}

#[test]
fn count_zero_at_the_head() {
    let (mut mem, p) = linked(2, 1);
    set_header(&mut mem, p[0], p[1].get(), 0);
    let mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::BadCount { count: 0, max: CPB } }
            if addr == p[0]),
        "{err:?}"
    );
}

#[test]
fn count_one_above_count_per_block() {
    let (mut mem, p) = linked(3, CPB);
    set_header(&mut mem, p[2], 0, CPB + 1);
    let mut mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 2, addr, fault: ChainFault::BadCount { count, max: CPB } }
            if addr == p[2] && count == CPB + 1),
        "{err:?}"
    );
    // count_per_block itself is valid.
    set_header(&mut mem, p[2], 0, CPB);
    fixed_restores_fully(mem, p[0], 3);
}

#[test]
fn count_u64_max() {
    let (mut mem, p) = linked(2, 1);
    set_header(&mut mem, p[1], 0, u64::MAX);
    let mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 1, addr, fault: ChainFault::BadCount { count: u64::MAX, max: CPB } }
            if addr == p[1]),
        "{err:?}"
    );
}

#[test]
fn max_count_depends_on_the_entry_size_asked_for() {
    // A chain valid for 16-byte entries (255 per block) is not one of
    // 100-byte entries.
    let (mem, p) = linked(1, 255);
    let mem = mem.kexec();
    assert_eq!(RawBlockSet::restore(&mem, p[0], 16).unwrap().len(), 255);
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(matches!(
        err,
        Error::Chain {
            index: 0,
            fault: ChainFault::BadCount {
                count: 255,
                max: CPB
            },
            ..
        }
    ));
}

// ---- Addresses ----

#[test]
fn head_outside_memory() {
    let (mem, _) = linked(2, 1);
    let mem = mem.kexec();
    let end = BASE + (mem.pages() * PS) as u64;
    for a in [
        end,
        end + PS as u64,
        BASE - PS as u64,
        PS as u64,
        !(PS as u64 - 1),
    ] {
        let err = reject(&mem, PhysAddr(a), DEFAULT_MAX_BLOCKS);
        assert!(
            matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::Address(Fault::OutOfRange) }
                if addr == PhysAddr(a)),
            "{a:#x}: {err:?}"
        );
    }
}

#[test]
fn next_outside_memory() {
    let (mut mem, p) = linked(3, 2);
    let end = BASE + (mem.pages() * PS) as u64;
    set_header(&mut mem, p[1], end, 2);
    let mut mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 2, addr, fault: ChainFault::Address(Fault::OutOfRange) }
            if addr == PhysAddr(end)),
        "{err:?}"
    );
    set_header(&mut mem, p[1], p[2].get(), 2);
    fixed_restores_fully(mem, p[0], 3);
}

#[test]
fn unaligned_head_and_next() {
    let (mut mem, p) = linked(3, 2);
    set_header(&mut mem, p[0], p[1].get() + 8, 2);
    let mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 1, addr, fault: ChainFault::Address(Fault::Unaligned) }
            if addr == PhysAddr(p[1].get() + 8)),
        "{err:?}"
    );
    for off in [1u64, 16, 2048, 4095] {
        let head = PhysAddr(p[0].get() + off);
        let err = reject(&mem, head, DEFAULT_MAX_BLOCKS);
        assert!(
            matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::Address(Fault::Unaligned) }
                if addr == head),
            "+{off}: {err:?}"
        );
    }
}

#[test]
fn block_past_the_end_of_a_truncated_image() {
    // Two whole pages and the first 100 bytes of a third:
    // page 0 -> page 1 -> the cut page.
    let mut bytes = vec![0u8; 2 * PS + 100];
    let third = BASE + 2 * PS as u64;
    bytes[0..8].copy_from_slice(&(BASE + PS as u64).to_ne_bytes());
    bytes[8..16].copy_from_slice(&1u64.to_ne_bytes());
    bytes[PS..PS + 8].copy_from_slice(&third.to_ne_bytes());
    bytes[PS + 8..PS + 16].copy_from_slice(&1u64.to_ne_bytes());
    let img = RawImage::from_vec(bytes.clone(), BASE, PS).unwrap();
    let err = RawBlockSet::restore(&img, PhysAddr(BASE), ES).unwrap_err();
    assert!(
        matches!(err, Error::Chain { index: 2, addr, fault: ChainFault::Address(Fault::PastEndOfImage) }
            if addr == PhysAddr(third)),
        "{err:?}"
    );
    let err = RawBlockSet::restore(&img, PhysAddr(third), ES).unwrap_err();
    assert!(
        matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::Address(Fault::PastEndOfImage) }
            if addr == PhysAddr(third)),
        "{err:?}"
    );
    // One page further is simply outside.
    let err = RawBlockSet::restore(&img, PhysAddr(third + PS as u64), ES).unwrap_err();
    assert!(matches!(
        err,
        Error::Chain {
            index: 0,
            fault: ChainFault::Address(Fault::OutOfRange),
            ..
        }
    ));
    // Unlinking the cut page leaves a valid two-block chain.
    let mut fixed = bytes;
    fixed[PS..PS + 8].fill(0);
    let img = RawImage::from_vec(fixed, BASE, PS).unwrap();
    assert_eq!(
        RawBlockSet::restore(&img, PhysAddr(BASE), ES)
            .unwrap()
            .block_count(),
        2
    );
}

#[test]
fn block_that_was_not_preserved() {
    // p0 -> p2, where p2 was allocated and then unpreserved before kexec:
    // the next kernel sees a poisoned free page.
    let (mut mem, p) = linked(3, 2);
    set_header(&mut mem, p[0], p[2].get(), 2);
    mem.unpreserve_free(p[2]).unwrap();
    let mut mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 1, addr, fault: ChainFault::Address(Fault::NotPreserved) }
            if addr == p[2]),
        "{err:?}"
    );
    // A head inside memory that was never allocated.
    let never = PhysAddr(BASE + 5 * PS as u64);
    let err = reject(&mem, never, DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::Address(Fault::NotPreserved) }
            if addr == never),
        "{err:?}"
    );
    // p1 -> p2 is the broken link too; p1 alone is fine once unlinked.
    set_header(&mut mem, p[1], 0, 2);
    fixed_restores_fully(mem, p[1], 1);
}

#[test]
fn outgoing_pages_are_not_incoming() {
    // Restoring in the same "kernel" that built the chain: nothing was
    // handed over yet.
    let (mem, p) = linked(2, 1);
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::Address(Fault::NotPreserved) }
            if addr == p[0]),
        "{err:?}"
    );
}

#[test]
fn pages_already_released_are_refused() {
    let (mem, p) = linked(2, 1);
    let mut mem = mem.kexec();
    let mut first = RawBlockSet::restore(&mem, p[0], ES).unwrap();
    first.destroy(&mut mem).unwrap();
    assert_eq!(mem.stats().restored, 2);
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(
        matches!(err, Error::Chain { index: 0, addr,
            fault: ChainFault::Address(Fault::NotPreserved | Fault::AlreadyRestored) } if addr == p[0]),
        "{err:?}"
    );
}

#[test]
fn second_kexec_drops_what_was_never_restored() {
    // A set handed over but not restored by the next kernel is gone after
    // the one after it.
    let (mem, p) = linked(2, 1);
    let mem = mem.kexec().kexec();
    assert_eq!(mem.stats().incoming, 0);
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    assert!(matches!(
        err,
        Error::Chain {
            index: 0,
            fault: ChainFault::Address(Fault::NotPreserved),
            ..
        }
    ));
}

// ---- Error text ----

#[test]
fn display_names_block_index_and_hex_address() {
    let (mut mem, p) = linked(3, 2);
    set_header(&mut mem, p[1], p[2].get(), 0);
    let mem = mem.kexec();
    let err = reject(&mem, p[0], DEFAULT_MAX_BLOCKS);
    let text = err.to_string();
    assert_eq!(p[1], PhysAddr(0x10_1000));
    assert!(text.contains("block 1"), "{text}");
    assert!(text.contains("0x101000"), "{text}");
    assert!(text.contains("count 0") && text.contains("40"), "{text}");

    let text = reject(&mem, PhysAddr(BASE + 3), DEFAULT_MAX_BLOCKS).to_string();
    assert!(
        text.contains("block 0") && text.contains("0x100003"),
        "{text}"
    );
    assert!(text.contains("aligned"), "{text}");
}

#[test]
fn cycles_are_found_whatever_the_limit() {
    // A caller that lifts the limit must still get a cycle error, not a
    // walk that only ends when memory runs out.
    let (mut mem, p) = linked(3, 1);
    set_header(&mut mem, p[2], p[1].get(), 1);
    let mem = mem.kexec();
    for limit in [3, 4, 100, DEFAULT_MAX_BLOCKS, usize::MAX] {
        let err = reject(&mem, p[0], limit);
        assert!(
            matches!(err, Error::Chain { index: 2, addr, fault: ChainFault::Cycle { to_index: 1 } }
                if addr == p[2]),
            "limit {limit}: {err:?}"
        );
    }
}
