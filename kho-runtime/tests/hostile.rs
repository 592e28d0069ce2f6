//! Hostile chains: a valid chain built with the real writer on SimMemory,
//! its bytes damaged at random (bit flips in headers, `next` bent anywhere,
//! counts at and past the edges, the image cut short), then restored from a
//! `RawImage` with a random block limit.
//!
//! Restore must never panic, must fail only with a chain, entry-size or
//! out-of-memory error, and must agree exactly, error for error, with an
//! independent reference walker written here from the rules alone. Where
//! the kernel's own `kho_block_set_restore` (simulated step for step) would
//! not read outside memory, restore accepts exactly what the kernel accepts.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use common::{rd, wr, BASE};
use kho_runtime::{
    ChainFault, Error, Fault, PhysAddr, PreservedMemory, RawBlockSet, RawImage, SimMemory,
    DEFAULT_MAX_BLOCKS,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Page and entry sizes: 4080, 170, 40 and 1 entries per 4 KiB block, up to
/// 65520 per 64 KiB block.
const GEOMETRIES: [(usize, usize); 12] = [
    (4096, 1),
    (4096, 24),
    (4096, 100),
    (4096, 4080),
    (16384, 1),
    (16384, 24),
    (16384, 100),
    (16384, 4080),
    (65536, 1),
    (65536, 24),
    (65536, 100),
    (65536, 4080),
];

// ---------------------------------------------------------------------------
// The reference: the rules, written without looking at restore.

/// Where a block at `addr` lies in an image of `len` bytes at `base`, or
/// why it cannot be read there.
fn locate(len: usize, base: u64, ps: usize, addr: u64) -> Result<usize, Fault> {
    if !addr.is_multiple_of(ps as u64) {
        return Err(Fault::Unaligned);
    }
    if addr < base || addr - base >= len as u64 {
        return Err(Fault::OutOfRange);
    }
    let off = (addr - base) as usize;
    if len - off < ps {
        return Err(Fault::PastEndOfImage);
    }
    Ok(off)
}

/// What restore should say.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// The chain: each block's address and count.
    Accept(Vec<(u64, u64)>),
    /// The first bad block: index, address, fault.
    Reject(usize, u64, ChainFault),
    /// The entry size does not fit a block.
    EntrySize,
}

/// Walks the chain from `head` with its own visited map: a repeated
/// address is a cycle reported at the block whose `next` closes it; then
/// the limit; then the address; then the count.
fn reference(bytes: &[u8], base: u64, ps: usize, head: u64, es: usize, limit: usize) -> Expect {
    if es == 0 || es > ps - 16 {
        return Expect::EntrySize;
    }
    let cpb = ((ps - 16) / es) as u64;
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut chain: Vec<(u64, u64)> = Vec::new();
    let mut at = head;
    while at != 0 {
        let i = chain.len();
        if let Some(&first) = seen.get(&at) {
            return Expect::Reject(i - 1, chain[i - 1].0, ChainFault::Cycle { to_index: first });
        }
        if i >= limit {
            return Expect::Reject(i, at, ChainFault::TooManyBlocks { limit });
        }
        let off = match locate(bytes.len(), base, ps, at) {
            Ok(off) => off,
            Err(f) => return Expect::Reject(i, at, ChainFault::Address(f)),
        };
        let (next, count) = (rd(bytes, off), rd(bytes, off + 8));
        if count == 0 || count > cpb {
            return Expect::Reject(i, at, ChainFault::BadCount { count, max: cpb });
        }
        seen.insert(at, i);
        chain.push((at, count));
        at = next;
    }
    Expect::Accept(chain)
}

/// The kernel's `kho_block_set_restore` with `KHO_MAX_BLOCKS` = `limit`,
/// step for step (Floyd's check, then the add loop, then the error path's
/// walk over the rest): `Some(accepted)`, or `None` when it would read a
/// header anywhere but at the start of a whole page of the image (a crash,
/// or garbage, in the kernel).
fn kernel(bytes: &[u8], base: u64, ps: usize, head: u64, cpb: u64, limit: usize) -> Option<bool> {
    let hdr = |a: u64| {
        locate(bytes.len(), base, ps, a)
            .ok()
            .map(|off| (rd(bytes, off), rd(bytes, off + 8)))
    };
    if head == 0 {
        return Some(true);
    }
    // kho_block_set_is_cyclic
    let (mut fast, mut slow, mut count) = (head, head, 0usize);
    loop {
        if count >= limit {
            return Some(false);
        }
        count += 1;
        let next = hdr(fast)?.0;
        if next == 0 {
            break;
        }
        fast = next;
        let next = hdr(fast)?.0;
        if next == 0 {
            break;
        }
        fast = next;
        slow = hdr(slow)?.0;
        if slow == fast {
            return Some(false);
        }
    }
    // The restore loop: count check, then kho_block_add's limit.
    let (mut nblocks, mut next) = (0usize, head);
    while next != 0 {
        let (n, c) = hdr(next)?;
        if c == 0 || c > cpb || nblocks >= limit {
            // err_destroy: walk (and free) the rest of the chain.
            let mut rest = next;
            while rest != 0 {
                rest = hdr(rest)?.0;
            }
            return Some(false);
        }
        nblocks += 1;
        next = n;
    }
    Some(true)
}

// ---------------------------------------------------------------------------
// Building and damaging

/// Where a bent `next` (or the head) points.
#[derive(Debug, Clone)]
enum Target {
    /// Another block of the chain.
    Block(Index),
    /// A page outside the chain (with a header of its own).
    Decoy(Index),
    /// The block itself (the head: block 0).
    Itself,
    /// A block at or before this one: a cycle.
    Earlier(Index),
    /// One page below the base.
    BelowBase,
    /// The first page past the end of memory.
    PastEnd,
    /// The last address there is.
    Max,
    /// A block's address plus 1, 8 or half a page.
    Unaligned(Index, u8),
    /// The end of the chain.
    Zero,
    /// Anything.
    Random(u64),
}

/// A header count.
#[derive(Debug, Clone)]
enum Count {
    Zero,
    PerBlock,
    PastPerBlock,
    Max,
    /// Scaled into 1..=count_per_block.
    Valid(u64),
    Random(u64),
}

/// One piece of damage; blocks and pages are picked by `Index`.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flips bit `bit` (0..128) of a block's header.
    FlipBit(Index, u8),
    /// Bends a block's `next`.
    Bend(Index, Target),
    /// Sets a block's count.
    SetCount(Index, Count),
    /// Gives a decoy page a header.
    Decoy(Index, Target, Count),
    /// Restores from another head.
    Head(Target),
    /// Cuts the image short: to 0 bytes, at a page boundary, anywhere, or
    /// inside a block of the chain.
    Truncate(u8, Index),
}

/// Which base the image is relocated to.
#[derive(Debug, Clone, Copy)]
enum Base {
    /// The usual 1 MiB.
    Low,
    /// Address 0: page 0 cannot be linked to.
    Zero,
    /// The image ends at the top of the address space.
    Top,
}

/// Which entry size restore is asked for.
#[derive(Debug, Clone)]
enum RestoreSize {
    /// The one the chain was written with.
    Same,
    /// Another that fits.
    Other(Index),
    /// 0 or one byte too large.
    Unfit(bool),
}

/// One generated case: the chain to build, the damage, and how to restore.
#[derive(Debug, Clone)]
struct Case {
    geometry: Index,
    blocks: usize,
    last_fill: Index,
    lead: usize,
    trail: usize,
    base: Base,
    restore_size: RestoreSize,
    limit: usize,
    seed: u8,
    mutations: Vec<Mutation>,
}

/// What to build: `lead` decoy pages, a chain of `blocks` blocks of
/// `es`-byte entries (the last holding `last` entries), `trail` decoys.
#[derive(Debug, Clone, Copy)]
struct Layout {
    ps: usize,
    es: usize,
    blocks: usize,
    last: usize,
    lead: usize,
    trail: usize,
    base: Base,
    seed: u8,
}

impl Case {
    fn layout(&self) -> Layout {
        let (ps, es) = GEOMETRIES[self.geometry.index(GEOMETRIES.len())];
        Layout {
            ps,
            es,
            blocks: self.blocks,
            last: 1 + self.last_fill.index((ps - 16) / es),
            lead: self.lead,
            trail: self.trail,
            base: self.base,
            seed: self.seed,
        }
    }
}

/// A built image: the bytes, relocated to `base`, and where things are.
struct Image {
    bytes: Vec<u8>,
    base: u64,
    ps: usize,
    es: usize,
    cpb: u64,
    head: u64,
    blocks: Vec<u64>,
    decoys: Vec<u64>,
    /// Bytes before any truncation.
    full_len: usize,
}

/// The byte an entry holds at offset `k`.
fn pattern(i: usize, k: usize, seed: u8) -> u8 {
    (i.wrapping_mul(31) ^ k.wrapping_mul(7)) as u8 ^ seed
}

/// Builds the chain through the public API: `lead` decoy pages, the set's
/// blocks, `trail` decoys, one page never allocated; then a kexec (which
/// poisons that page) and a copy of the bytes relocated to `base`.
fn build(c: &Layout) -> Image {
    let (ps, es) = (c.ps, c.es);
    let cpb = (ps - 16) / es;
    let pages = c.lead + c.blocks + c.trail + 1;
    let mut mem = SimMemory::new(BASE, ps, pages).unwrap();
    let lead: Vec<PhysAddr> = (0..c.lead).map(|_| mem.alloc_preserve().unwrap()).collect();
    let n = (c.blocks - 1) * cpb + c.last;
    let mut set = RawBlockSet::new(&mem, es).unwrap();
    set.grow(&mut mem, n).unwrap();
    let head = {
        let mut w = set.writer(&mut mem).unwrap();
        for i in 0..n {
            for (k, b) in w.reserve().unwrap().iter_mut().enumerate() {
                *b = pattern(i, k, c.seed);
            }
        }
        w.finish().unwrap()
    };
    assert_eq!(set.block_count(), c.blocks);
    let trail: Vec<PhysAddr> = (0..c.trail)
        .map(|_| mem.alloc_preserve().unwrap())
        .collect();
    let mem = mem.kexec();
    let mut bytes = mem.as_bytes().to_vec();
    let full_len = bytes.len();
    let base = match c.base {
        Base::Low => BASE,
        Base::Zero => 0,
        Base::Top => 0u64.wrapping_sub(full_len as u64),
    };
    let moved = |a: PhysAddr| a.get() - BASE + base;
    let blocks: Vec<u64> = set.blocks().iter().map(|&a| moved(a)).collect();
    for &b in &blocks {
        let off = (b - base) as usize;
        let next = rd(&bytes, off);
        if next != 0 {
            wr(&mut bytes, off, next - BASE + base);
        }
    }
    let decoys = lead.into_iter().chain(trail).map(moved).collect();
    Image {
        bytes,
        base,
        ps,
        es,
        cpb: cpb as u64,
        head: moved(head),
        blocks,
        decoys,
        full_len,
    }
}

impl Image {
    fn resolve(&self, t: &Target, me: usize) -> u64 {
        let ps = self.ps as u64;
        let nb = self.blocks.len();
        match t {
            Target::Block(i) => self.blocks[i.index(nb)],
            Target::Decoy(i) if !self.decoys.is_empty() => self.decoys[i.index(self.decoys.len())],
            Target::Decoy(i) => self.blocks[i.index(nb)],
            Target::Itself => self.blocks[me],
            Target::Earlier(i) => self.blocks[i.index(me + 1)],
            Target::BelowBase => self.base.wrapping_sub(ps),
            Target::PastEnd => self.base.wrapping_add(self.full_len as u64),
            Target::Max => u64::MAX,
            Target::Unaligned(i, how) => {
                let delta = [1, 8, ps / 2][*how as usize % 3];
                self.blocks[i.index(nb)].wrapping_add(delta)
            }
            Target::Zero => 0,
            Target::Random(a) => *a,
        }
    }

    fn count(&self, c: &Count) -> u64 {
        match c {
            Count::Zero => 0,
            Count::PerBlock => self.cpb,
            Count::PastPerBlock => self.cpb + 1,
            Count::Max => u64::MAX,
            Count::Valid(x) => 1 + x % self.cpb,
            Count::Random(x) => *x,
        }
    }

    /// Writes `v` at header offset `field` of the page at `addr`, if that
    /// much of the page is still in the image.
    fn poke(&mut self, addr: u64, field: usize, v: u64) {
        let off = (addr - self.base) as usize + field;
        if off + 8 <= self.bytes.len() {
            wr(&mut self.bytes, off, v);
        }
    }

    fn apply(&mut self, m: &Mutation) {
        let nb = self.blocks.len();
        match m {
            Mutation::FlipBit(b, bit) => {
                let off =
                    (self.blocks[b.index(nb)] - self.base) as usize + (*bit as usize % 128) / 8;
                if off < self.bytes.len() {
                    self.bytes[off] ^= 1 << (bit % 8);
                }
            }
            Mutation::Bend(b, t) => {
                let b = b.index(nb);
                let to = self.resolve(t, b);
                self.poke(self.blocks[b], 0, to);
            }
            Mutation::SetCount(b, c) => {
                let v = self.count(c);
                self.poke(self.blocks[b.index(nb)], 8, v);
            }
            Mutation::Decoy(d, t, c) => {
                if self.decoys.is_empty() {
                    return;
                }
                let at = self.decoys[d.index(self.decoys.len())];
                let (to, v) = (self.resolve(t, 0), self.count(c));
                self.poke(at, 0, to);
                self.poke(at, 8, v);
            }
            Mutation::Head(t) => self.head = self.resolve(t, 0),
            Mutation::Truncate(kind, at) => {
                let len = self.bytes.len();
                let new = match kind % 4 {
                    0 => 0,
                    1 => at.index(len / self.ps + 1) * self.ps,
                    2 => at.index(len + 1),
                    _ => {
                        let b = self.blocks[at.index(nb)];
                        (b - self.base) as usize + 1 + at.index(self.ps - 1)
                    }
                };
                self.bytes.truncate(new);
            }
        }
    }

    fn restore_size(&self, r: &RestoreSize) -> usize {
        match r {
            RestoreSize::Same => self.es,
            RestoreSize::Other(i) => {
                let sizes = [1, 24, 100, 4080, self.ps - 16];
                sizes[i.index(sizes.len())]
            }
            RestoreSize::Unfit(zero) => {
                if *zero {
                    0
                } else {
                    self.ps - 15
                }
            }
        }
    }
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => any::<Index>().prop_map(Target::Block),
        2 => any::<Index>().prop_map(Target::Decoy),
        1 => Just(Target::Itself),
        2 => any::<Index>().prop_map(Target::Earlier),
        1 => Just(Target::BelowBase),
        1 => Just(Target::PastEnd),
        1 => Just(Target::Max),
        2 => (any::<Index>(), 0u8..3).prop_map(|(i, h)| Target::Unaligned(i, h)),
        2 => Just(Target::Zero),
        1 => any::<u64>().prop_map(Target::Random),
    ]
}

fn count() -> impl Strategy<Value = Count> {
    prop_oneof![
        1 => Just(Count::Zero),
        1 => Just(Count::PerBlock),
        1 => Just(Count::PastPerBlock),
        1 => Just(Count::Max),
        2 => any::<u64>().prop_map(Count::Valid),
        1 => any::<u64>().prop_map(Count::Random),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..128).prop_map(|(b, bit)| Mutation::FlipBit(b, bit)),
        4 => (any::<Index>(), target()).prop_map(|(b, t)| Mutation::Bend(b, t)),
        3 => (any::<Index>(), count()).prop_map(|(b, c)| Mutation::SetCount(b, c)),
        2 => (any::<Index>(), target(), count()).prop_map(|(d, t, c)| Mutation::Decoy(d, t, c)),
        1 => target().prop_map(Mutation::Head),
        2 => (any::<u8>(), any::<Index>()).prop_map(|(k, i)| Mutation::Truncate(k, i)),
    ]
}

/// Mutations that keep every address a whole page of memory: the chains
/// the kernel can walk without crashing, so its verdict is defined.
fn kernel_safe_mutation() -> impl Strategy<Value = Mutation> {
    let target = prop_oneof![
        3 => any::<Index>().prop_map(Target::Block),
        2 => any::<Index>().prop_map(Target::Decoy),
        1 => Just(Target::Itself),
        3 => any::<Index>().prop_map(Target::Earlier),
        2 => Just(Target::Zero),
    ];
    prop_oneof![
        4 => (any::<Index>(), target.clone()).prop_map(|(b, t)| Mutation::Bend(b, t)),
        3 => (any::<Index>(), count()).prop_map(|(b, c)| Mutation::SetCount(b, c)),
        // Bits 64..128: the count only.
        1 => (any::<Index>(), 64u8..128).prop_map(|(b, bit)| Mutation::FlipBit(b, bit)),
        3 => (any::<Index>(), target.clone(), count()).prop_map(|(d, t, c)| Mutation::Decoy(d, t, c)),
        1 => target.prop_map(Mutation::Head),
    ]
}

fn limit() -> impl Strategy<Value = usize> {
    // Small limits often, so that chains of a few blocks reach them.
    prop_oneof![2 => 1usize..=4, 2 => 1usize..=64, 1 => Just(DEFAULT_MAX_BLOCKS)]
}

fn case(
    mutation: BoxedStrategy<Mutation>,
    base: BoxedStrategy<Base>,
) -> impl Strategy<Value = Case> {
    let restore_size = prop_oneof![
        12 => Just(RestoreSize::Same),
        2 => any::<Index>().prop_map(RestoreSize::Other),
        1 => any::<bool>().prop_map(RestoreSize::Unfit),
    ];
    (
        (
            any::<Index>(),
            1usize..=4,
            any::<Index>(),
            0usize..=2,
            0usize..=2,
        ),
        (base, restore_size, limit(), any::<u8>()),
        proptest::collection::vec(mutation, 0..6),
    )
        .prop_map(
            |(
                (geometry, blocks, last_fill, lead, trail),
                (base, restore_size, limit, seed),
                mutations,
            )| Case {
                geometry,
                blocks,
                last_fill,
                lead,
                trail,
                base,
                restore_size,
                limit,
                seed,
                mutations,
            },
        )
}

fn any_base() -> BoxedStrategy<Base> {
    prop_oneof![6 => Just(Base::Low), 1 => Just(Base::Zero), 1 => Just(Base::Top)].boxed()
}

// ---------------------------------------------------------------------------
// The checks

/// Restores `img` and checks the result against the reference; returns
/// whether restore accepted.
fn check_restore(img: &Image, es: usize, limit: usize) -> Result<bool, TestCaseError> {
    let raw = RawImage::from_vec(img.bytes.clone(), img.base, img.ps).unwrap();
    let got = RawBlockSet::restore_with_limit(&raw, PhysAddr(img.head), es, limit);
    check_fused(&raw, img, es, limit, &got)?;
    let want = reference(&img.bytes, img.base, img.ps, img.head, es, limit);
    match (got, want) {
        (Ok(set), Expect::Accept(chain)) => {
            check_read_back(&set, &raw, img, es, &chain)?;
            Ok(true)
        }
        (Err(Error::Chain { index, addr, fault }), Expect::Reject(i, a, f)) => {
            prop_assert_eq!((index, addr.get(), fault), (i, a, f));
            Ok(false)
        }
        (
            Err(Error::EntrySize {
                entry_size,
                page_size,
            }),
            Expect::EntrySize,
        ) => {
            prop_assert_eq!((entry_size, page_size), (es, img.ps));
            Ok(false)
        }
        (Ok(set), want) => Err(TestCaseError::fail(format!(
            "restore accepted {} blocks ({:?}), the reference says {want:?}",
            set.block_count(),
            set.blocks()
        ))),
        (Err(e @ (Error::Chain { .. } | Error::EntrySize { .. } | Error::OutOfMemory)), want) => {
            Err(TestCaseError::fail(format!(
                "restore said {e:?}, the reference says {want:?}"
            )))
        }
        (Err(e), _) => Err(TestCaseError::fail(format!(
            "restore failed with an error it must never return: {e:?}"
        ))),
    }
}

/// Restoring and reading in one walk agrees with restore, then read_into:
/// the same error, or the same blocks and the same bytes, into an array
/// with room for every entry and for fewer than there are.
fn check_fused(
    raw: &RawImage,
    img: &Image,
    es: usize,
    limit: usize,
    restored: &kho_runtime::Result<RawBlockSet>,
) -> Result<(), TestCaseError> {
    let all = img.bytes.len() + es;
    for room in [all, all / 3, es.saturating_sub(1)] {
        let mut out = vec![0xa5u8; room];
        let fused =
            RawBlockSet::restore_read_into_with_limit(raw, PhysAddr(img.head), es, limit, &mut out);
        match (restored, fused) {
            (Ok(set), Ok((again, n))) => {
                prop_assert_eq!(again.blocks(), set.blocks());
                prop_assert_eq!(again.len(), set.len());
                let mut want = vec![0xa5u8; room];
                let m = set.read_into(raw, &mut want).unwrap();
                prop_assert_eq!(n, m);
                prop_assert!(
                    out == want,
                    "restore_read_into read other bytes (room {})",
                    room
                );
            }
            (Err(e), Err(f)) => prop_assert_eq!(format!("{f:?}"), format!("{e:?}")),
            (r, f) => {
                return Err(TestCaseError::fail(format!(
                    "restore says {r:?}, restore_read_into says {f:?} (room {room})"
                )))
            }
        }
    }
    Ok(())
}

/// The restored set reads back exactly the bytes the chain holds.
fn check_read_back(
    set: &RawBlockSet,
    raw: &RawImage,
    img: &Image,
    es: usize,
    chain: &[(u64, u64)],
) -> Result<(), TestCaseError> {
    let addrs: Vec<PhysAddr> = chain.iter().map(|&(a, _)| PhysAddr(a)).collect();
    prop_assert_eq!(set.blocks(), &addrs[..]);
    let len: u64 = chain.iter().map(|&(_, c)| c).sum();
    prop_assert_eq!(set.len() as u64, len);
    prop_assert_eq!(set.capacity(), set.len());
    prop_assert_eq!(set.block_count(), chain.len());
    prop_assert_eq!(set.head(), addrs.first().copied().unwrap_or(PhysAddr::NULL));
    prop_assert!(set.is_incoming());
    prop_assert_eq!(
        (set.entry_size(), set.block_size(), set.count_per_block()),
        (es, img.ps, (img.ps - 16) / es)
    );
    let mut it = set.iter(raw).unwrap();
    prop_assert_eq!(it.len(), set.len());
    let mut start = 0usize;
    for &(addr, count) in chain {
        let off = (addr - img.base) as usize + 16;
        let body = &img.bytes[off..off + count as usize * es];
        for (k, want) in body.chunks(es).enumerate() {
            match it.next() {
                Some(e) if e == want => {}
                other => {
                    return Err(TestCaseError::fail(format!(
                        "entry {} (block at {addr:#x}, slot {k}): read {other:?}",
                        start + k
                    )))
                }
            }
        }
        let last = start + count as usize - 1;
        prop_assert_eq!(set.get(raw, start).unwrap(), body.get(..es));
        prop_assert_eq!(set.get(raw, last).unwrap(), body.get(body.len() - es..));
        start += count as usize;
    }
    prop_assert_eq!(it.next(), None);
    prop_assert_eq!(set.get(raw, start).unwrap(), None);
    Ok(())
}

/// The kind of verdict, for the coverage tally.
fn kind(e: &Expect) -> &'static str {
    match e {
        Expect::Accept(c) if c.is_empty() => "empty",
        Expect::Accept(_) => "accept",
        Expect::EntrySize => "entry size",
        Expect::Reject(_, _, f) => match f {
            ChainFault::Cycle { .. } => "cycle",
            ChainFault::TooManyBlocks { .. } => "too many blocks",
            ChainFault::BadCount { count: 0, .. } => "count 0",
            ChainFault::BadCount { .. } => "count too large",
            ChainFault::Address(Fault::Unaligned) => "unaligned",
            ChainFault::Address(Fault::OutOfRange) => "out of range",
            ChainFault::Address(Fault::PastEndOfImage) => "past end of image",
            ChainFault::Address(_) => "other address fault",
        },
    }
}

/// Runs `test` on `cases` cases of `strategy` (shrinking a failure as
/// `proptest!` does) and returns how often each verdict `test` reported,
/// so a caller can prove the cases reach every verdict: a weak generator
/// must not pass vacuously.
fn run<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<&'static str, TestCaseError>,
) -> BTreeMap<&'static str, usize> {
    let tally = Mutex::new(BTreeMap::new());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |c| {
        let k = test(c)?;
        *tally.lock().unwrap().entry(k).or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    tally.into_inner().unwrap()
}

fn assert_reached(tally: &BTreeMap<&str, usize>, kinds: &[&str]) {
    for k in kinds {
        assert!(tally.contains_key(k), "no case reached {k:?}: {tally:?}");
    }
}

/// Any damage: restore is the reference, error for error.
#[test]
fn damaged_chains_restore_as_the_reference_says() {
    let tally = run(256, case(mutation().boxed(), any_base()), |c| {
        let mut img = build(&c.layout());
        // Undamaged, the chain is what was written.
        prop_assert!(check_restore(&img, img.es, DEFAULT_MAX_BLOCKS)?);
        for m in &c.mutations {
            img.apply(m);
        }
        let es = img.restore_size(&c.restore_size);
        check_restore(&img, es, c.limit)?;
        Ok(kind(&reference(
            &img.bytes, img.base, img.ps, img.head, es, c.limit,
        )))
    });
    eprintln!("damaged chains: {tally:?}");
    assert_reached(
        &tally,
        &[
            "accept",
            "entry size",
            "cycle",
            "too many blocks",
            "count 0",
            "count too large",
            "unaligned",
            "out of range",
            "past end of image",
        ],
    );
}

/// Damage the kernel survives: restore accepts exactly what the kernel's
/// restore accepts.
#[test]
fn chains_the_kernel_can_walk_get_the_kernels_verdict() {
    let strategy = case(kernel_safe_mutation().boxed(), Just(Base::Low).boxed());
    let tally = run(256, strategy, |c| {
        let mut img = build(&c.layout());
        for m in &c.mutations {
            img.apply(m);
        }
        let accepted = check_restore(&img, img.es, c.limit)?;
        let verdict = kernel(&img.bytes, img.base, img.ps, img.head, img.cpb, c.limit);
        prop_assert!(
            verdict.is_some(),
            "a kernel-safe mutation left a bad address"
        );
        prop_assert_eq!(Some(accepted), verdict, "restore and the kernel disagree");
        Ok(kind(&reference(
            &img.bytes, img.base, img.ps, img.head, img.es, c.limit,
        )))
    });
    eprintln!("kernel-safe chains: {tally:?}");
    assert_reached(
        &tally,
        &[
            "accept",
            "cycle",
            "too many blocks",
            "count 0",
            "count too large",
        ],
    );
}

/// Every rho-shaped chain (a tail of `t` blocks into a loop of `c`) with
/// every small limit: the cycle or the limit is reported exactly where the
/// reference finds it, whatever Brent's tortoise happens to be doing.
#[test]
fn every_small_cycle_and_limit_matches_the_reference() {
    const PS: usize = 4096;
    for tail in 0..10usize {
        for cycle in 1..12usize {
            let n = tail + cycle;
            let mut bytes = vec![0u8; (n + 1) * PS];
            let at = |i: usize| BASE + (i * PS) as u64;
            // Blocks in reverse page order, so addresses are not sorted.
            let page = |i: usize| n - 1 - i;
            for i in 0..n {
                let next = if i + 1 < n { page(i + 1) } else { page(tail) };
                wr(&mut bytes, page(i) * PS, at(next));
                wr(&mut bytes, page(i) * PS + 8, 1 + (i as u64 % 40));
            }
            let head = at(page(0));
            for limit in 1..=n + 3 {
                let raw = RawImage::from_vec(bytes.clone(), BASE, PS).unwrap();
                let got = RawBlockSet::restore_with_limit(&raw, PhysAddr(head), 100, limit);
                let want = reference(&bytes, BASE, PS, head, 100, limit);
                let what = format!("tail {tail}, cycle {cycle}, limit {limit}");
                match (got, &want) {
                    (Err(Error::Chain { index, addr, fault }), Expect::Reject(i, a, f)) => {
                        assert_eq!((index, addr.get(), fault), (*i, *a, *f), "{what}");
                    }
                    (got, want) => panic!("{what}: restore {got:?}, reference {want:?}"),
                }
                assert_eq!(
                    kernel(&bytes, BASE, PS, head, 40, limit),
                    Some(false),
                    "{what}: the kernel model accepts a loop"
                );
            }
        }
    }
}

/// The reference and the kernel model agree with each other on the
/// undamaged chains, so a disagreement above is restore's.
#[test]
fn the_models_accept_an_undamaged_chain() {
    for (ps, es) in GEOMETRIES {
        let c = Layout {
            ps,
            es,
            blocks: 3,
            last: 1,
            lead: 1,
            trail: 1,
            base: Base::Low,
            seed: 9,
        };
        let img = build(&c);
        let Expect::Accept(chain) = reference(&img.bytes, img.base, img.ps, img.head, img.es, 3)
        else {
            panic!("{ps}/{es}: reference rejects");
        };
        assert_eq!(chain.len(), 3);
        assert_eq!(chain[0].1, img.cpb);
        assert_eq!(
            kernel(&img.bytes, img.base, img.ps, img.head, img.cpb, 3),
            Some(true)
        );
        assert_eq!(
            kernel(&img.bytes, img.base, img.ps, img.head, img.cpb, 2),
            Some(false)
        );
        assert!(matches!(
            reference(&img.bytes, img.base, img.ps, img.head, img.es, 2),
            Expect::Reject(2, _, ChainFault::TooManyBlocks { limit: 2 })
        ));
    }
}
