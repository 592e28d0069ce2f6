//! A block set is tied to the memory it was made or restored in: every call
//! given another memory fails with `WrongMemory` and changes nothing.
//!
//! The scenario of issue 9: a set of 600 entries used with another
//! `SimMemory` at the same base used to yield 510 items from an iterator
//! whose `size_hint` said 600 (the third block lies past the other memory's
//! end), and `get` returned zeros.

mod common;

use common::{TempPath, BASE};
use kho_runtime::{
    BlockHeaderSer, BlockSet, Error, Fault, FileMemory, FileMemoryConfig, MemoryId, PhysAddr,
    PreservedMemory, RawBlockSet, RootRecord, SimMemory,
};

const PS: usize = 4096;
/// 255 entries of 16 bytes per block: three blocks, the last partly full.
const N: u64 = 600;

fn entry(i: u64) -> BlockHeaderSer {
    BlockHeaderSer {
        next: i + 1,
        count: !i,
    }
}

/// Asserts `r` is `WrongMemory` naming `expected` and `found`.
#[track_caller]
fn assert_wrong<T>(what: &str, r: Result<T, Error>, expected: MemoryId, found: MemoryId) {
    match r {
        Err(e @ Error::WrongMemory { .. }) => {
            let Error::WrongMemory {
                expected: e_exp,
                found: e_found,
            } = e
            else {
                unreachable!()
            };
            assert_eq!((e_exp, e_found), (expected, found), "{what}");
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("block set lives in {expected}, not {found}")),
                "{what}: {msg}"
            );
        }
        Err(e) => panic!("{what}: expected WrongMemory, got {e}"),
        Ok(_) => panic!("{what}: expected WrongMemory, got Ok"),
    }
}

/// The outgoing set of the scenario, in `mem`.
fn outgoing<M: PreservedMemory>(mem: &mut M) -> BlockSet<BlockHeaderSer, M> {
    let mut set = BlockSet::<BlockHeaderSer, _>::new(mem).unwrap();
    for i in 0..N {
        set.push(mem, &entry(i)).unwrap();
    }
    assert_eq!(set.block_count(), 3);
    set
}

/// The next kernel's memory after the scenario's set was published, and
/// the set's head.
fn handed_over() -> (SimMemory, PhysAddr) {
    let mut mem = SimMemory::new(BASE, PS, 8).unwrap();
    let head = outgoing(&mut mem).publish(&mut mem).unwrap();
    (mem.kexec(), head)
}

#[test]
fn the_issue_scenario_is_refused_not_answered_wrongly() {
    let (mine, head) = handed_over();
    let set = BlockSet::<BlockHeaderSer, _>::restore(&mine, head).unwrap();
    // Another memory at the same base, too small for the third block.
    let other = SimMemory::new(BASE, PS, 2).unwrap();
    assert_eq!(other.base(), mine.base());

    assert_wrong("iter", set.iter(&other).map(|_| ()), mine.id(), other.id());
    assert_wrong("get", set.get(&other, 0), mine.id(), other.id());
    assert_wrong(
        "get past the end",
        set.get(&other, 9999),
        mine.id(),
        other.id(),
    );

    // In its own memory the same set is whole and exact.
    let it = set.iter(&mine).unwrap();
    assert_eq!(it.len(), N as usize);
    let all: Vec<_> = it.collect();
    assert_eq!(all.len(), N as usize);
    assert!(all.iter().zip(0..).all(|(e, i)| *e == entry(i)));
    assert_eq!(set.get(&mine, 599).unwrap(), Some(entry(599)));
}

type RawOp = Op<RawBlockSet>;

/// Every public `RawBlockSet` method that takes a memory, called with `m`.
const RAW_OPS: &[(&str, RawOp)] = &[
    ("grow", |s, m| s.grow(m, 2000)),
    ("shrink", |s, m| s.shrink(m, 1)),
    ("trim", |s, m| s.trim(m)),
    ("publish", |s, m| s.publish(m).map(drop)),
    ("reserve", |s, m| s.reserve(m).map(drop)),
    ("push", |s, m| s.push(m, &[7; 16])),
    ("prev", |s, m| s.prev(m).map(drop)),
    ("clear", |s, m| s.clear(m)),
    ("destroy", |s, m| s.destroy(m)),
    ("get", |s, m| s.get(m, 0).map(drop)),
    ("iter", |s, m| s.iter(m).map(drop)),
    ("writer", |s, m| s.writer(m).map(drop)),
];

type TypedOp = Op<BlockSet<BlockHeaderSer, SimMemory>>;

/// Every public `BlockSet` method that takes a memory.
const TYPED_OPS: &[(&str, TypedOp)] = &[
    ("grow", |s, m| s.grow(m, 2000)),
    ("shrink", |s, m| s.shrink(m, 1)),
    ("trim", |s, m| s.trim(m)),
    ("publish", |s, m| s.publish(m).map(drop)),
    ("clear", |s, m| s.clear(m)),
    ("destroy", |s, m| s.destroy(m)),
    ("push", |s, m| s.push(m, &entry(0))),
    ("prev", |s, m| s.prev(m).map(drop)),
    ("get", |s, m| s.get(m, 0).map(drop)),
    ("iter", |s, m| s.iter(m).map(drop)),
    ("writer", |s, m| s.writer(m).map(drop)),
];

/// The other memories a set can be confused with: the same base and
/// geometry made afresh, a clone (the same bytes), the memory after a kexec.
fn others(mine: &SimMemory) -> Vec<(&'static str, SimMemory)> {
    vec![
        (
            "a new memory at the same base",
            SimMemory::new(BASE, PS, 8).unwrap(),
        ),
        ("a clone", mine.clone()),
        ("the memory after a kexec", mine.clone().kexec()),
    ]
}

/// One call of a set's method with a memory.
type Op<S> = fn(&mut S, &mut SimMemory) -> Result<(), Error>;

/// Calls each of `ops` on a fresh set (made by `make`) with each of
/// [`others`]: each must be `WrongMemory` and leave the set (its length
/// and blocks, by `shape`) and both memories (bytes and counters) as they
/// were; the same call in the set's own memory must go through.
fn every_call_refuses<S>(
    ops: &[(&str, Op<S>)],
    make: fn(&mut SimMemory) -> S,
    shape: fn(&S) -> (usize, Vec<PhysAddr>),
) {
    for &(op, call) in ops {
        let mut mine = SimMemory::new(BASE, PS, 8).unwrap();
        let mut set = make(&mut mine);
        for (what, mut other) in others(&mine) {
            let what = format!("{op} with {what}");
            let before = (mine.as_bytes().to_vec(), other.as_bytes().to_vec());
            let stats = (mine.stats(), other.stats());
            let before_set = shape(&set);
            let (expected, found) = (mine.id(), other.id());
            assert_wrong(&what, call(&mut set, &mut other), expected, found);
            assert_eq!(shape(&set), before_set, "{what} changed the set");
            assert!(
                mine.as_bytes() == before.0,
                "{what} changed the set's memory"
            );
            assert!(
                other.as_bytes() == before.1,
                "{what} changed the other memory"
            );
            assert_eq!((mine.stats(), other.stats()), stats, "{what}");
        }
        call(&mut set, &mut mine).unwrap_or_else(|e| panic!("{op} in its own memory: {e}"));
    }
}

#[test]
fn every_raw_call_refuses_another_memory_and_changes_nothing() {
    every_call_refuses(
        RAW_OPS,
        |m| outgoing(m).as_raw().clone(),
        |s| (s.len(), s.blocks().to_vec()),
    );
}

#[test]
fn every_typed_call_refuses_another_memory_and_changes_nothing() {
    every_call_refuses(TYPED_OPS, outgoing, |s| {
        (s.len(), s.as_raw().blocks().to_vec())
    });
}

#[test]
fn a_restored_set_refuses_a_clone_of_its_memory() {
    let (mem, head) = handed_over();
    let mut set = RawBlockSet::restore(&mem, head, 16).unwrap();
    let mut copy = mem.clone();
    let (expected, found) = (mem.id(), copy.id());
    assert_wrong("destroy", set.destroy(&mut copy), expected, found);
    assert_eq!(
        copy.stats().incoming,
        3,
        "the clone's pages stay handed over"
    );
    // Restored from the clone, the set reads there.
    let there = RawBlockSet::restore(&copy, head, 16).unwrap();
    assert_eq!(there.memory_id(), copy.id());
    assert_eq!(there.iter(&copy).unwrap().len(), N as usize);
}

#[test]
fn two_opens_of_one_image_are_two_memories() {
    let path = TempPath::new("wrong_memory");
    let config = FileMemoryConfig {
        base: BASE,
        page_size: PS,
        pages: 16,
    };
    let mut mem = FileMemory::create(&path.0, config).unwrap();
    let mut set = outgoing(&mut mem);
    set.publish(&mut mem).unwrap();
    let record = RootRecord::for_set("s", &set).unwrap();
    mem.publish(&[record]).unwrap();
    drop(mem);

    // Shared locks: both opens succeed, same base, same bytes.
    let a = FileMemory::open_read_only(&path.0).unwrap();
    let b = FileMemory::open_read_only(&path.0).unwrap();
    let set = a.restore_set::<BlockHeaderSer>("s").unwrap();
    assert_wrong("iter", set.iter(&b).map(|_| ()), a.id(), b.id());
    assert_wrong("get", set.get(&b, 0), a.id(), b.id());
    assert_eq!(set.get(&a, 0).unwrap(), Some(entry(0)));
}

/// Simulated memory whose page at `bad` cannot be read (a file backend's
/// failed read), with the identity of the memory it wraps.
struct Flaky {
    inner: SimMemory,
    bad: Option<PhysAddr>,
}

impl PreservedMemory for Flaky {
    fn page_size(&self) -> usize {
        self.inner.page_size()
    }
    fn id(&self) -> MemoryId {
        self.inner.id()
    }
    fn alloc_preserve(&mut self) -> Result<PhysAddr, Error> {
        self.inner.alloc_preserve()
    }
    fn unpreserve_free(&mut self, addr: PhysAddr) -> Result<(), Error> {
        self.inner.unpreserve_free(addr)
    }
    fn restore_free(&mut self, addr: PhysAddr) -> Result<(), Error> {
        self.inner.restore_free(addr)
    }
    fn is_incoming(&self, addr: PhysAddr) -> bool {
        self.inner.is_incoming(addr)
    }
    fn page(&self, addr: PhysAddr) -> Result<&[u8], Error> {
        if Some(addr) == self.bad {
            return Err(Error::Memory {
                addr,
                fault: Fault::Shrunk { len: 0 },
            });
        }
        self.inner.page(addr)
    }
    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8], Error> {
        self.inner.page_mut(addr)
    }
}

#[test]
fn a_page_that_cannot_be_read_is_the_error_not_a_short_iterator() {
    let (mem, head) = handed_over();
    let mut flaky = Flaky {
        inner: mem,
        bad: None,
    };
    let set = BlockSet::<BlockHeaderSer, _>::restore(&flaky, head).unwrap();
    let third = set.as_raw().blocks()[2];
    flaky.bad = Some(third);
    // Before: 510 entries from an iterator whose size_hint said 600.
    let shown = |r: Result<(), Error>| r.map_err(|e| e.to_string());
    let expected = format!("page at {third}: the image shrank to 0 bytes while open");
    assert_eq!(shown(set.iter(&flaky).map(drop)), Err(expected.clone()));
    assert_eq!(shown(set.get(&flaky, 599).map(drop)), Err(expected));
    // Entries in readable blocks still read.
    assert_eq!(set.get(&flaky, 0).unwrap(), Some(entry(0)));
    flaky.bad = None;
    assert_eq!(set.iter(&flaky).unwrap().count(), N as usize);
}
