//! Model-based tests: random operation sequences on a `RawBlockSet` over
//! `SimMemory`, checked after every step against a plain `Vec<Vec<u8>>` and
//! the kernel's capacity rule, down to the header bytes of every block.
//! In-place changes (`set`, `get_mut`, PCI-style slot reuse) and the bulk
//! paths (`extend`, `extend_from_bytes`, `read_into`, `block_entries`) are
//! operations of the same model.

mod common;

use common::{entry_bytes, header, BASE};
use kho_runtime::{Error, PhysAddr, PreservedMemory, RawBlockSet, SimMemory, DEFAULT_MAX_BLOCKS};
use proptest::prelude::*;

const PS: usize = 4096;
/// Entry sizes: 170, 40, 4 and 1 per 4 KiB block.
const ENTRY_SIZES: [usize; 4] = [24, 100, 1000, 4080];
/// The set's block limit in the model test.
const LIMIT: usize = 7;
/// Pages of memory: fewer than LIMIT, so growing can run out of memory
/// before it reaches the limit.
const PAGES: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    /// Grow to `n` entries, `n` scaled into 0..=(LIMIT + 2) blocks' worth.
    Grow(u32),
    /// Shrink to `n` entries, scaled the same way.
    Shrink(u32),
    /// Append the entry made from this seed.
    Push(u32),
    /// Append up to `k` entries through a writer, then drop it (it trims).
    WriterPush(u8, u32),
    /// Step back over the last entry.
    Prev,
    Clear,
    Trim,
    /// Publish, kexec, restore and check, release, then rebuild.
    KexecAndRestore,
    /// Overwrite entry `i` (scaled into 0..len + 2: sometimes past the end).
    Set(u32, u32),
    /// Flip every byte of entry `i` through `get_mut`.
    Flip(u32),
    /// Free entry `i` the PCI way: zero it in place.
    Free(u32),
    /// PCI's preserve: the first all-zero entry gets the new one, else the
    /// set grows and it is pushed.
    Reuse(u32),
    /// Append `k` entries through `Writer::extend` (which grows).
    Extend(u8, u32),
    /// Append `k` entries as one byte slice (grows all or nothing first).
    ExtendBytes(u8, u32),
    /// Read the first `n` entries (scaled into 0..len + 2) into a buffer.
    ReadInto(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u32>().prop_map(Op::Grow),
        2 => any::<u32>().prop_map(Op::Shrink),
        6 => any::<u32>().prop_map(Op::Push),
        2 => (any::<u8>(), any::<u32>()).prop_map(|(k, s)| Op::WriterPush(k, s)),
        2 => Just(Op::Prev),
        1 => Just(Op::Clear),
        1 => Just(Op::Trim),
        1 => Just(Op::KexecAndRestore),
        2 => (any::<u32>(), any::<u32>()).prop_map(|(i, s)| Op::Set(i, s)),
        1 => any::<u32>().prop_map(Op::Flip),
        2 => any::<u32>().prop_map(Op::Free),
        3 => any::<u32>().prop_map(Op::Reuse),
        2 => (any::<u8>(), any::<u32>()).prop_map(|(k, s)| Op::Extend(k, s)),
        2 => (any::<u8>(), any::<u32>()).prop_map(|(k, s)| Op::ExtendBytes(k, s)),
        1 => any::<u32>().prop_map(Op::ReadInto),
    ]
}

/// What the set should be.
struct Model {
    es: usize,
    cpb: usize,
    entries: Vec<Vec<u8>>,
    blocks: usize,
}

impl Model {
    fn scale(&self, raw: u32) -> usize {
        raw as usize % (self.cpb * (LIMIT + 2) + 1)
    }

    fn blocks_for(&self, n: usize) -> usize {
        n.div_ceil(self.cpb)
    }
}

/// Everything observable about the set agrees with the model, and memory
/// holds exactly the set's blocks.
fn check(set: &RawBlockSet, mem: &SimMemory, m: &Model) -> Result<(), TestCaseError> {
    let len = m.entries.len();
    prop_assert_eq!(set.len(), len);
    prop_assert_eq!(set.is_empty(), len == 0);
    prop_assert_eq!(set.block_count(), m.blocks);
    prop_assert_eq!(set.capacity(), m.blocks * m.cpb);
    prop_assert_eq!(set.blocks().len(), m.blocks);
    prop_assert_eq!(
        set.head(),
        set.blocks().first().copied().unwrap_or(PhysAddr::NULL)
    );
    prop_assert!(!set.is_incoming());
    prop_assert_eq!(mem.stats().preserved, m.blocks, "pages leak or vanish");

    let it = set.iter(mem).unwrap();
    prop_assert_eq!(it.len(), len);
    let got: Vec<&[u8]> = it.collect();
    prop_assert_eq!(got.len(), len);
    for (i, e) in m.entries.iter().enumerate() {
        prop_assert_eq!(got[i], &e[..], "iter entry {}", i);
        prop_assert_eq!(set.get(mem, i).unwrap(), Some(&e[..]), "get entry {}", i);
    }
    prop_assert_eq!(set.get(mem, len).unwrap(), None);
    // The bulk reader: one slice per block holding entries, the entries
    // back to back.
    let runs = set.block_entries(mem).unwrap();
    prop_assert_eq!(runs.len(), m.blocks_for(len));
    prop_assert_eq!(runs.concat(), m.entries.concat());
    let first_zero = m.entries.iter().position(|e| e.iter().all(|&b| b == 0));
    prop_assert_eq!(
        set.position(mem, |e| e.iter().all(|&b| b == 0)).unwrap(),
        first_zero
    );

    // The chain in memory: linked in order, ends in 0, counts as written.
    for (b, &addr) in set.blocks().iter().enumerate() {
        let next = set.blocks().get(b + 1).map_or(0, |a| a.get());
        let count = len.saturating_sub(b * m.cpb).min(m.cpb) as u64;
        prop_assert_eq!(header(mem, addr), (next, count), "block {} header", b);
    }
    Ok(())
}

fn new_set(mem: &SimMemory, es: usize) -> RawBlockSet {
    RawBlockSet::new(mem, es).unwrap().with_max_blocks(LIMIT)
}

fn run(es: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    let mut set = new_set(&mem, es);
    let cpb = set.count_per_block();
    prop_assert_eq!(cpb, (PS - 16) / es);
    prop_assert_eq!(set.max_blocks(), LIMIT);
    let mut m = Model {
        es,
        cpb,
        entries: Vec::new(),
        blocks: 0,
    };
    check(&set, &mem, &m)?;

    for op in ops {
        match op {
            Op::Grow(raw) => {
                let n = m.scale(raw);
                let wanted = m.blocks_for(n);
                let res = set.grow(&mut mem, n);
                if wanted <= m.blocks {
                    prop_assert!(res.is_ok(), "{:?}", res);
                } else if wanted > LIMIT {
                    prop_assert!(
                        matches!(res, Err(Error::BlockLimit { wanted: w, limit: LIMIT }) if w == wanted),
                        "{:?}",
                        res
                    );
                } else if wanted > PAGES {
                    prop_assert!(matches!(res, Err(Error::OutOfMemory)), "{:?}", res);
                } else {
                    prop_assert!(res.is_ok(), "{:?}", res);
                    m.blocks = wanted;
                }
            }
            Op::Shrink(raw) => {
                let n = m.scale(raw);
                set.shrink(&mut mem, n).unwrap();
                m.entries.truncate(n);
                m.blocks = m.blocks.min(m.blocks_for(n));
            }
            Op::Push(seed) => {
                let e = entry_bytes(seed as usize, m.es);
                let res = set.push(&mut mem, &e);
                if m.entries.len() == m.blocks * cpb {
                    let cap = m.blocks * cpb;
                    prop_assert!(
                        matches!(res, Err(Error::Full { capacity }) if capacity == cap),
                        "{:?}",
                        res
                    );
                } else {
                    prop_assert!(res.is_ok(), "{:?}", res);
                    m.entries.push(e);
                }
                // A wrong-sized entry never goes in, full or not.
                let long = vec![0u8; m.es + 1];
                let res = set.push(&mut mem, &long);
                prop_assert!(
                    matches!(res, Err(Error::EntryLength { expected, found })
                        if expected == m.es && found == m.es + 1),
                    "{:?}",
                    res
                );
            }
            Op::WriterPush(k, seed) => {
                let room = m.blocks * cpb - m.entries.len();
                let mut w = set.writer(&mut mem).unwrap();
                for j in 0..k as usize {
                    let e = entry_bytes(seed as usize + j, m.es);
                    let res = w.push(&e);
                    if j < room {
                        prop_assert!(res.is_ok(), "{:?}", res);
                        m.entries.push(e);
                    } else {
                        prop_assert!(matches!(res, Err(Error::Full { .. })), "{:?}", res);
                        break;
                    }
                }
                prop_assert_eq!(w.len(), m.entries.len());
                drop(w);
                m.blocks = m.blocks_for(m.entries.len());
            }
            Op::Prev => {
                let got = set.prev(&mut mem).unwrap().map(<[u8]>::to_vec);
                prop_assert_eq!(got, m.entries.pop());
            }
            Op::Clear => {
                set.clear(&mut mem).unwrap();
                m.entries.clear();
                for &addr in set.blocks() {
                    let page = mem.page(addr).unwrap();
                    prop_assert!(page[8..].iter().all(|&x| x == 0), "clear left bytes");
                }
            }
            Op::Trim => {
                set.trim(&mut mem).unwrap();
                m.blocks = m.blocks_for(m.entries.len());
            }
            Op::Set(raw, seed) => {
                let len = m.entries.len();
                let index = raw as usize % (len + 2);
                let e = entry_bytes(seed as usize, m.es);
                let res = set.set(&mut mem, index, &e);
                if index < len {
                    prop_assert!(res.is_ok(), "{:?}", res);
                    m.entries[index] = e;
                } else {
                    prop_assert!(
                        matches!(res, Err(Error::OutOfBounds { index: i, len: l }) if i == index && l == len),
                        "{:?}",
                        res
                    );
                }
                let res = set.set(&mut mem, 0, &[1u8]);
                prop_assert!(
                    matches!(res, Err(Error::EntryLength { found: 1, .. })),
                    "{:?}",
                    res
                );
            }
            Op::Flip(raw) => {
                let len = m.entries.len();
                let index = raw as usize % (len + 1);
                match set.get_mut(&mut mem, index).unwrap() {
                    Some(e) => {
                        prop_assert!(index < len);
                        e.iter_mut().for_each(|b| *b = !*b);
                        m.entries[index].iter_mut().for_each(|b| *b = !*b);
                    }
                    None => prop_assert_eq!(index, len),
                }
            }
            Op::Free(raw) => {
                if !m.entries.is_empty() {
                    let index = raw as usize % m.entries.len();
                    set.set(&mut mem, index, &vec![0u8; m.es]).unwrap();
                    m.entries[index].fill(0);
                }
            }
            Op::Reuse(seed) => {
                // Never all zero, so a reused slot is told from a free one.
                let mut e = entry_bytes(seed as usize, m.es);
                e[0] |= 1;
                let free = set.position(&mem, |x| x.iter().all(|&b| b == 0)).unwrap();
                let want = m.entries.iter().position(|x| x.iter().all(|&b| b == 0));
                prop_assert_eq!(free, want);
                match free {
                    Some(i) => {
                        set.set(&mut mem, i, &e).unwrap();
                        m.entries[i] = e;
                    }
                    None => {
                        let len = m.entries.len();
                        let res = set.grow(&mut mem, len + 1);
                        let wanted = m.blocks_for(len + 1);
                        if wanted > m.blocks && wanted > PAGES {
                            prop_assert!(res.is_err(), "{:?}", res);
                        } else {
                            prop_assert!(res.is_ok(), "{:?}", res);
                            m.blocks = m.blocks.max(wanted);
                            set.push(&mut mem, &e).unwrap();
                            m.entries.push(e);
                        }
                    }
                }
            }
            Op::Extend(k, seed) => {
                let new: Vec<Vec<u8>> = (0..k as usize)
                    .map(|j| entry_bytes(seed as usize + j, m.es))
                    .collect();
                // Memory runs out first (PAGES < LIMIT): what fits goes in.
                let room = (PAGES * cpb).saturating_sub(m.entries.len());
                let mut w = set.writer(&mut mem).unwrap();
                let res = w.extend(new.iter().map(Vec::as_slice));
                if new.len() <= room {
                    prop_assert!(res.is_ok(), "{:?}", res);
                } else {
                    prop_assert!(matches!(res, Err(Error::OutOfMemory)), "{:?}", res);
                }
                m.entries.extend(new.into_iter().take(room));
                prop_assert_eq!(w.len(), m.entries.len());
                drop(w);
                m.blocks = m.blocks_for(m.entries.len());
            }
            Op::ExtendBytes(k, seed) => {
                let new: Vec<Vec<u8>> = (0..k as usize)
                    .map(|j| entry_bytes(seed as usize + j, m.es))
                    .collect();
                let wanted = m.blocks_for(m.entries.len() + new.len());
                let res = set.extend_from_bytes(&mut mem, &new.concat());
                if wanted <= m.blocks || wanted <= PAGES {
                    prop_assert!(res.is_ok(), "{:?}", res);
                    m.entries.extend(new);
                    m.blocks = m.blocks.max(wanted);
                } else if wanted > LIMIT {
                    prop_assert!(matches!(res, Err(Error::BlockLimit { .. })), "{:?}", res);
                } else {
                    prop_assert!(matches!(res, Err(Error::OutOfMemory)), "{:?}", res);
                }
                let res = set.extend_from_bytes(&mut mem, &vec![0u8; m.es + 1]);
                prop_assert!(matches!(res, Err(Error::EntryLength { .. })), "{:?}", res);
            }
            Op::ReadInto(raw) => {
                let len = m.entries.len();
                let n = raw as usize % (len + 2);
                // One spare byte: never a whole entry, never written.
                let mut buf = vec![0xa5u8; n * m.es + 1];
                let got = set.read_into(&mem, &mut buf).unwrap();
                prop_assert_eq!(got, n.min(len));
                prop_assert_eq!(&buf[..got * m.es], &m.entries[..got].concat()[..]);
                prop_assert!(
                    buf[got * m.es..].iter().all(|&b| b == 0xa5),
                    "read_into wrote past its entries"
                );
            }
            Op::KexecAndRestore => {
                let head = set.publish(&mut mem).unwrap();
                m.blocks = m.blocks_for(m.entries.len());
                check(&set, &mem, &m)?;
                prop_assert_eq!(head, set.head());

                mem = mem.kexec();
                prop_assert_eq!(mem.stats().incoming, m.blocks);
                prop_assert_eq!(mem.stats().preserved, 0);
                let mut restored = RawBlockSet::restore(&mem, head, m.es).unwrap();
                prop_assert!(restored.is_incoming());
                prop_assert_eq!(restored.len(), m.entries.len());
                prop_assert_eq!(restored.block_count(), m.blocks);
                prop_assert_eq!(restored.head(), head);
                let got: Vec<&[u8]> = restored.iter(&mem).unwrap().collect();
                prop_assert_eq!(got.len(), m.entries.len());
                for (i, e) in m.entries.iter().enumerate() {
                    prop_assert_eq!(got[i], &e[..], "restored entry {}", i);
                    prop_assert_eq!(restored.get(&mem, i).unwrap(), Some(&e[..]));
                }
                prop_assert_eq!(mem.stats().incoming, m.blocks, "restore claimed pages");
                restored.destroy(&mut mem).unwrap();
                prop_assert_eq!(mem.stats().restored, m.blocks);
                prop_assert_eq!(mem.stats().incoming, 0);
                prop_assert_eq!(restored.block_count(), 0);

                // The next kernel hands the same state on.
                set = new_set(&mem, m.es);
                set.grow(&mut mem, m.entries.len()).unwrap();
                for e in &m.entries {
                    set.push(&mut mem, e).unwrap();
                }
            }
        }
        check(&set, &mem, &m)?;
    }

    // Tearing down releases every page.
    set.destroy(&mut mem).unwrap();
    prop_assert_eq!(mem.stats().preserved, 0);
    prop_assert_eq!((set.len(), set.block_count()), (0, 0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn block_set_follows_the_model(
        es in proptest::sample::select(&ENTRY_SIZES[..]),
        ops in proptest::collection::vec(op(), 1..48),
    ) {
        run(es, ops)?;
    }
}

/// Memory, set and model after `init` entries in a set grown by `extra`
/// more blocks than they need.
fn prepared(es: usize, init: usize, extra: usize) -> (SimMemory, RawBlockSet, Vec<Vec<u8>>) {
    let mut mem = SimMemory::new(BASE, PS, 24).unwrap();
    let mut set = RawBlockSet::new(&mem, es).unwrap();
    let cpb = set.count_per_block();
    set.grow(&mut mem, init + extra * cpb).unwrap();
    let entries: Vec<Vec<u8>> = (0..init).map(|i| entry_bytes(i, es)).collect();
    for e in &entries {
        set.push(&mut mem, e).unwrap();
    }
    (mem, set, entries)
}

/// The observable state of a set, chain bytes included.
#[derive(Debug, PartialEq)]
struct Snapshot {
    len: usize,
    capacity: usize,
    blocks: Vec<PhysAddr>,
    head: PhysAddr,
    preserved: usize,
    entries: Vec<Vec<u8>>,
    pages: Vec<Vec<u8>>,
}

fn snapshot(set: &RawBlockSet, mem: &SimMemory) -> Snapshot {
    Snapshot {
        len: set.len(),
        capacity: set.capacity(),
        blocks: set.blocks().to_vec(),
        head: set.head(),
        preserved: mem.stats().preserved,
        entries: set.iter(mem).unwrap().map(<[u8]>::to_vec).collect(),
        pages: set
            .blocks()
            .iter()
            .map(|&a| mem.page(a).unwrap().to_vec())
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn failed_grow_changes_nothing(
        es in proptest::sample::select(&ENTRY_SIZES[..]),
        init_frac in 0u32..=300,
        extra in 0usize..=2,
        more in 1usize..=4,
    ) {
        let cpb = (PS - 16) / es;
        let init = init_frac as usize * cpb / 100;
        let (mut mem, mut set, entries) = prepared(es, init, extra);
        let have = set.block_count();
        prop_assert_eq!(have, (init + extra * cpb).div_ceil(cpb));
        let target = have + more;

        for k in 0..more as u64 {
            let before = snapshot(&set, &mem);
            let allocations = mem.stats().allocations;
            mem.fail_allocation(k);
            let res = set.grow(&mut mem, target * cpb);
            prop_assert!(matches!(res, Err(Error::OutOfMemory)), "k={}: {:?}", k, res);
            prop_assert_eq!(snapshot(&set, &mem), before, "k={}", k);
            prop_assert_eq!(mem.stats().allocations, allocations + k);
            // Every block the failed grow took was given back.
            prop_assert_eq!(mem.stats().preserved, have);
        }
        // The injected failure is spent: the same grow now succeeds.
        set.grow(&mut mem, target * cpb).unwrap();
        prop_assert_eq!(set.block_count(), target);
        prop_assert_eq!(mem.stats().preserved, target);
        let got: Vec<Vec<u8>> = set.iter(&mem).unwrap().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(got, entries);
        let head = set.publish(&mut mem).unwrap();
        let mem = mem.kexec();
        let r = RawBlockSet::restore(&mem, head, es).unwrap();
        prop_assert_eq!(r.len(), init);
    }

    #[test]
    fn grow_past_the_block_limit_changes_nothing(
        es in proptest::sample::select(&ENTRY_SIZES[..]),
        init_frac in 0u32..=300,
        extra in 0usize..=2,
        headroom in 0usize..=3,
        over in 1usize..=3,
    ) {
        let cpb = (PS - 16) / es;
        let init = init_frac as usize * cpb / 100;
        let (mem, set, _) = prepared(es, init, extra);
        let mut mem = mem;
        let have = set.block_count();
        let limit = have + headroom;
        let mut set = set.with_max_blocks(limit);
        let before = snapshot(&set, &mem);
        let allocations = mem.stats().allocations;
        let wanted = limit + over;
        let res = set.grow(&mut mem, wanted * cpb);
        prop_assert!(
            matches!(res, Err(Error::BlockLimit { wanted: w, limit: l }) if w == wanted && l == limit),
            "{:?}", res
        );
        prop_assert_eq!(snapshot(&set, &mem), before);
        prop_assert_eq!(mem.stats().allocations, allocations, "no page was even tried");
        // Up to the limit is fine.
        set.grow(&mut mem, limit * cpb).unwrap();
        prop_assert_eq!(set.block_count(), limit);
        prop_assert_eq!(mem.stats().preserved, limit);
    }
}

#[test]
fn default_block_limit_applies_to_grow() {
    let mem = SimMemory::new(BASE, PS, 2).unwrap();
    let mut set = RawBlockSet::new(&mem, 4080).unwrap();
    assert_eq!(set.max_blocks(), DEFAULT_MAX_BLOCKS);
    let mut mem = mem;
    let res = set.grow(&mut mem, DEFAULT_MAX_BLOCKS + 1);
    assert!(matches!(
        res,
        Err(Error::BlockLimit {
            wanted: 10_001,
            limit: 10_000
        })
    ));
    assert_eq!(mem.stats().allocations, 0);
    // Within the limit but past memory: out of memory, and nothing kept.
    let res = set.grow(&mut mem, 3);
    assert!(matches!(res, Err(Error::OutOfMemory)));
    assert_eq!(mem.stats().preserved, 0);
    assert_eq!(set.block_count(), 0);
    assert_eq!(mem.stats().allocations, 2);
}

#[test]
fn typed_push_grows_a_block_at_a_time_up_to_the_limit() {
    use kho_runtime::{BlockHeaderSer, BlockSet};
    let mut mem = SimMemory::new(BASE, PS, 8).unwrap();
    let mut set = BlockSet::<BlockHeaderSer, _>::new(&mem)
        .unwrap()
        .with_max_blocks(2);
    for i in 0..510u64 {
        set.push(&mut mem, &BlockHeaderSer { next: i, count: !i })
            .unwrap();
        assert_eq!(set.block_count(), (i as usize + 1).div_ceil(255));
    }
    let err = set
        .push(&mut mem, &BlockHeaderSer { next: 0, count: 0 })
        .unwrap_err();
    assert!(matches!(
        err,
        Error::BlockLimit {
            wanted: 3,
            limit: 2
        }
    ));
    assert_eq!((set.len(), set.block_count()), (510, 2));
    assert_eq!(mem.stats().preserved, 2);
    assert_eq!(set.prev(&mut mem).unwrap().map(|h| h.next), Some(509));
    assert_eq!(set.get(&mem, 508).unwrap().map(|h| h.count), Some(!508));
    // Out of memory on the automatic grow changes nothing either.
    mem.fail_allocation(0);
    let mut big = BlockSet::<BlockHeaderSer, _>::new(&mem).unwrap();
    assert!(matches!(
        big.push(&mut mem, &BlockHeaderSer::default()),
        Err(Error::OutOfMemory)
    ));
    assert_eq!((big.len(), big.block_count()), (0, 0));
    assert_eq!(mem.stats().preserved, 2);
}
