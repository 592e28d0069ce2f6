//! Allocation failure at every allocation there is.
//!
//! - Heap: a global allocator that, once armed, fails the Nth allocation
//!   (returns null) and only that one. `RawBlockSet::restore` of a 40-block
//!   chain and `BlockSet::grow` are run with it armed at N = 0, 1, 2, ...
//!   until N passes their last allocation: each run returns
//!   `Error::OutOfMemory` (or `Ok`, once N is past them), never aborts or
//!   panics, and leaves memory as it was.
//! - Pages: `FileMemory` and `SimMemory` fail the k-th page allocation. A
//!   whole save (sets built, root table published) fails at every k in
//!   turn: tearing down what was built gives back every page, the file
//!   still holds the previous generation, and a clean save then works.
//!   `BlockSet::grow` fails at every k and leaves the set as it was.
//! - Restore of chains it rejects (a loop, too many blocks, a bad count or
//!   address), heap allocations failing in turn, in a child process: the
//!   error path must not abort either.
//!
//! This file has its own `main` (harness = false): the allocator is global,
//! and the runs must be alone in the process while it is armed.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use common::{wr, TempPath, BASE};
use kho_derive::KhoEntry;
use kho_runtime::{
    BlockSet, ChainFault, Error, Fault, FileMemory, FileMemoryConfig, PhysAddr, PreservedMemory,
    RawBlockSet, RawImage, RootRecord, SimMemory,
};

// ---------------------------------------------------------------------------
// The failing allocator

/// `System`, except that while armed the allocation numbered `FAIL_AT`
/// (counting from 0 at arming) returns null, once.
struct FailingAlloc;

static ARMED: AtomicBool = AtomicBool::new(false);
static FAIL_AT: AtomicU64 = AtomicU64::new(0);
static SEEN: AtomicU64 = AtomicU64::new(0);
static FIRED: AtomicBool = AtomicBool::new(false);

impl FailingAlloc {
    /// Whether this allocation is the one to fail.
    fn fail_now() -> bool {
        if !ARMED.load(SeqCst) {
            return false;
        }
        let n = SEEN.fetch_add(1, SeqCst);
        if n == FAIL_AT.load(SeqCst) {
            FIRED.store(true, SeqCst);
            return true;
        }
        false
    }
}

// SAFETY: every call is forwarded unchanged to `System`, except that an
// allocation may return null instead, which `GlobalAlloc` allows (it means
// the allocation failed, and nothing was allocated).
unsafe impl GlobalAlloc for FailingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::fail_now() {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::fail_now() {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::fail_now() {
            // A failed realloc leaves the old block allocated, as here.
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `realloc` is passed on as is;
        // `ptr` came from this allocator, which is `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: FailingAlloc = FailingAlloc;

/// Runs `f` with the allocator armed to fail allocation `n`; returns its
/// result, whether the failure fired, and how many allocations `f` made.
fn armed<T>(n: u64, f: impl FnOnce() -> T) -> (T, bool, u64) {
    SEEN.store(0, SeqCst);
    FIRED.store(false, SeqCst);
    FAIL_AT.store(n, SeqCst);
    ARMED.store(true, SeqCst);
    let out = f();
    ARMED.store(false, SeqCst);
    (out, FIRED.load(SeqCst), SEEN.load(SeqCst))
}

// ---------------------------------------------------------------------------
// Helpers

/// Fails the check with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// A check's note on success, or why it failed.
type Check = Result<String, String>;
type CheckFn = fn() -> Check;

#[derive(KhoEntry, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
#[kho(crate = "kho_runtime", compatible = "x-v1")]
struct Stamp {
    generation: u64,
    set: u64,
    index: u64,
}

const PS: usize = 4096;
/// 100-byte entries: 40 per 4 KiB block.
const RAW_ES: usize = 100;

fn raw_entry(generation: u64, i: usize) -> Vec<u8> {
    (0..RAW_ES)
        .map(|k| (generation as usize * 131 + i * 7 + k) as u8)
        .collect()
}

/// The pages at `blocks` with their bytes: pages in use, which no failed
/// operation may change.
fn pages_in_use(mem: &SimMemory, blocks: &[PhysAddr]) -> Vec<(PhysAddr, Vec<u8>)> {
    blocks
        .iter()
        .map(|&a| (a, mem.page(a).map(<[u8]>::to_vec).unwrap_or_default()))
        .collect()
}

// ---------------------------------------------------------------------------
// (a) restore under heap failure

fn restore_under_heap_failure() -> Check {
    // 40 blocks of 100-byte entries, the last one partly filled.
    let n = 39 * 40 + 17;
    let mut mem = SimMemory::new(BASE, PS, 48).map_err(|e| e.to_string())?;
    let mut set = RawBlockSet::new(&mem, RAW_ES).map_err(|e| e.to_string())?;
    set.grow(&mut mem, n).map_err(|e| e.to_string())?;
    for i in 0..n {
        set.push(&mut mem, &raw_entry(1, i))
            .map_err(|e| e.to_string())?;
    }
    let head = set.publish(&mut mem).map_err(|e| e.to_string())?;
    ensure!(
        set.block_count() == 40,
        "built {} blocks",
        set.block_count()
    );
    let mem = mem.kexec();
    let (stats, bytes) = (mem.stats(), mem.as_bytes().to_vec());

    let mut oom = 0;
    for k in 0u64.. {
        ensure!(k < 1_000, "restore still failing at allocation {k}");
        let (res, fired, seen) = armed(k, || RawBlockSet::restore(&mem, head, RAW_ES));
        ensure!(
            mem.stats() == stats,
            "N = {k}: restore changed the page counters"
        );
        ensure!(
            mem.as_bytes() == &bytes[..],
            "N = {k}: restore wrote memory"
        );
        match res {
            Err(Error::OutOfMemory) if fired => oom += 1,
            Ok(got) if !fired => {
                ensure!(
                    got.len() == n && got.blocks() == set.blocks(),
                    "N = {k}: restored {} entries in {} blocks",
                    got.len(),
                    got.block_count()
                );
                for i in [0, 1, 40, n / 2, n - 1] {
                    ensure!(
                        got.get(&mem, i).unwrap() == Some(&raw_entry(1, i)[..]),
                        "N = {k}: entry {i} differs"
                    );
                }
                ensure!(oom > 0, "no allocation failure ever reached restore");
                return Ok(format!(
                    "restore of 40 blocks: {oom} allocations, each failure is OutOfMemory \
                     ({seen} allocations in the clean run)"
                ));
            }
            Ok(_) => return Err(format!("N = {k}: the allocation failed, restore said Ok")),
            Err(e) => return Err(format!("N = {k} (fired: {fired}): {e:?}")),
        }
    }
    unreachable!()
}

/// Chains restore rejects, each with the error it must give: a loop
/// (found by the walk, then named by the error path), a chain past its
/// limit, a bad count, a bad address.
fn rejected_chains() -> Vec<(&'static str, RawImage, PhysAddr, usize, Error)> {
    let at = |i: usize| PhysAddr(BASE + (i * PS) as u64);
    // Pages 0..6 linked in order, one entry each; page 5 ends the chain.
    let image = |edit: &dyn Fn(&mut [u8])| {
        let mut bytes = vec![0u8; 8 * PS];
        for i in 0..6 {
            let next = if i < 5 { at(i + 1).get() } else { 0 };
            wr(&mut bytes, i * PS, next);
            wr(&mut bytes, i * PS + 8, 1);
        }
        edit(&mut bytes);
        RawImage::from_vec(bytes, BASE, PS).expect("image")
    };
    vec![
        (
            "a loop 5 -> 2",
            image(&|b| wr(b, 5 * PS, at(2).get())),
            at(0),
            10_000,
            Error::Chain {
                index: 5,
                addr: at(5),
                fault: ChainFault::Cycle { to_index: 2 },
            },
        ),
        (
            "6 blocks, limit 4",
            image(&|_| {}),
            at(0),
            4,
            Error::Chain {
                index: 4,
                addr: at(4),
                fault: ChainFault::TooManyBlocks { limit: 4 },
            },
        ),
        (
            "count 0 in block 3",
            image(&|b| wr(b, 3 * PS + 8, 0)),
            at(0),
            10_000,
            Error::Chain {
                index: 3,
                addr: at(3),
                fault: ChainFault::BadCount { count: 0, max: 40 },
            },
        ),
        (
            "block 4 past the end",
            image(&|b| wr(b, 3 * PS, at(9).get())),
            at(0),
            10_000,
            Error::Chain {
                index: 4,
                addr: at(9),
                fault: ChainFault::Address(Fault::OutOfRange),
            },
        ),
    ]
}

/// The child's half of [`restore_rejects_under_heap_failure`]: arms every
/// allocation of each rejected restore in turn.
fn rejects_child() -> Check {
    let mut notes = Vec::new();
    for (what, img, head, limit, want) in rejected_chains() {
        let want = format!("{want:?}");
        let mut oom = 0;
        for k in 0u64.. {
            ensure!(k < 1_000, "{what}: still failing at allocation {k}");
            // Progress for the parent, in case this run aborts.
            eprintln!("restoring {what} with allocation {k} failing");
            let (res, fired, _) = armed(k, || {
                RawBlockSet::restore_with_limit(&img, head, RAW_ES, limit)
            });
            match res {
                Err(Error::OutOfMemory) if fired => oom += 1,
                Err(e) if !fired => {
                    ensure!(format!("{e:?}") == want, "{what}: {e:?}, expected {want}");
                    break;
                }
                other => {
                    return Err(format!(
                    "{what}: N = {k} (fired: {fired}): {other:?}, expected OutOfMemory or {want}"
                ))
                }
            }
        }
        notes.push(format!("{what}: {oom}"));
    }
    Ok(notes.join(", "))
}

/// Restore of a chain it rejects, with each allocation failing in turn:
/// `OutOfMemory` or the rejection, never an abort. Runs in a child
/// process, because an allocation that cannot fail gracefully aborts.
fn restore_rejects_under_heap_failure() -> Check {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .env(CHILD, "rejects")
        .env("RUST_BACKTRACE", "0")
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(format!(
            "rejected restores, allocations failed per chain: {}",
            stdout.trim()
        )),
        Some(_) => Err(format!("{} {}", stdout.trim(), stderr.trim())),
        None => {
            let mut progress = stderr.lines().filter(|l| l.starts_with("restoring "));
            let died = stderr.lines().find(|l| l.starts_with("memory allocation"));
            Err(format!(
                "the child died ({}) {}: {}",
                out.status,
                progress.next_back().unwrap_or("before restoring"),
                died.unwrap_or("")
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// (b) FileMemory save under page-allocation failure

/// Sets built by one save, so that a failed save can be torn down.
#[derive(Default)]
struct Built {
    typed: Vec<BlockSet<Stamp, FileMemory>>,
    raw: Vec<RawBlockSet>,
}

impl Built {
    fn destroy(self, mem: &mut FileMemory) -> Result<(), String> {
        for mut s in self.typed {
            s.destroy(mem).map_err(|e| format!("destroy: {e}"))?;
        }
        for mut s in self.raw {
            s.destroy(mem).map_err(|e| format!("destroy: {e}"))?;
        }
        Ok(())
    }
}

const GROWN: usize = 400; // 3 blocks of 170
const PUSHED: usize = 250; // 2 blocks, grown one push at a time
const RAW: usize = 45; // 2 blocks of 40
const EMPTY: usize = 26; // 29 records: a root table of 2 blocks of 24

fn stamp(generation: u64, set: u64, index: usize) -> Stamp {
    Stamp {
        generation,
        set,
        index: index as u64,
    }
}

/// Builds and publishes the handover of `generation`; every set goes into
/// `built` before anything can fail, so the caller can tear them down.
fn save(mem: &mut FileMemory, generation: u64, built: &mut Built) -> kho_runtime::Result<()> {
    let mut records = Vec::new();

    built.typed.push(BlockSet::new(mem)?);
    let grown = built.typed.last_mut().expect("just pushed");
    grown.grow(mem, GROWN)?;
    let mut w = grown.writer(mem).unwrap();
    for i in 0..GROWN {
        w.push(&stamp(generation, 0, i))?;
    }
    w.finish()?;
    records.push(RootRecord::for_set("grown", grown)?);

    built.typed.push(BlockSet::new(mem)?);
    let pushed = built.typed.last_mut().expect("just pushed");
    for i in 0..PUSHED {
        pushed.push(mem, &stamp(generation, 1, i))?;
    }
    records.push(RootRecord::for_set("pushed", pushed)?);

    built.raw.push(RawBlockSet::new(mem, RAW_ES)?);
    let raw = built.raw.last_mut().expect("just pushed");
    raw.grow(mem, RAW)?;
    for i in 0..RAW {
        raw.push(mem, &raw_entry(generation, i))?;
    }
    raw.publish(mem)?;
    records.push(RootRecord::for_raw("raw", "x-raw-v1", 7, raw)?);

    for e in 0..EMPTY {
        built.typed.push(BlockSet::new(mem)?);
        let empty = built.typed.last_mut().expect("just pushed");
        records.push(RootRecord::for_set(&format!("empty-{e}"), empty)?);
    }
    mem.publish(&records)
}

/// Checks that `mem` holds the whole handover of `generation`.
fn verify(mem: &FileMemory, generation: u64) -> Result<(), String> {
    ensure!(
        mem.root().len() == 3 + EMPTY,
        "root table has {} records",
        mem.root().len()
    );
    for (name, set, n) in [("grown", 0, GROWN), ("pushed", 1, PUSHED)] {
        let s = mem
            .restore_set::<Stamp>(name)
            .map_err(|e| format!("{name}: {e}"))?;
        ensure!(s.len() == n, "{name} has {} entries", s.len());
        for (i, got) in s.iter(mem).unwrap().enumerate() {
            ensure!(
                got == stamp(generation, set, i),
                "{name} entry {i} is {got:?}, expected generation {generation}"
            );
        }
    }
    let r = *mem.find("raw").map_err(|e| e.to_string())?;
    let raw =
        RawBlockSet::restore(mem, PhysAddr(r.head), RAW_ES).map_err(|e| format!("raw: {e}"))?;
    ensure!(raw.len() == RAW, "raw has {} entries", raw.len());
    for (i, got) in raw.iter(mem).unwrap().enumerate() {
        ensure!(
            got == &raw_entry(generation, i)[..],
            "raw entry {i} differs"
        );
    }
    for e in 0..EMPTY {
        let s = mem
            .restore_set::<Stamp>(&format!("empty-{e}"))
            .map_err(|e| e.to_string())?;
        ensure!(s.block_count() == 0, "empty-{e} has blocks");
    }
    Ok(())
}

/// Opens `path` and takes the handover of `generation` over: checks it,
/// then releases its pages, as a new kernel would before saving its own.
fn take_over(path: &str, generation: u64) -> Result<FileMemory, String> {
    let mut mem = FileMemory::open(path).map_err(|e| format!("open: {e}"))?;
    verify(&mem, generation)?;
    for name in ["grown", "pushed"] {
        let mut s = mem.restore_set::<Stamp>(name).map_err(|e| e.to_string())?;
        s.destroy(&mut mem).map_err(|e| e.to_string())?;
    }
    let r = *mem.find("raw").map_err(|e| e.to_string())?;
    let mut raw =
        RawBlockSet::restore(&mem, PhysAddr(r.head), RAW_ES).map_err(|e| e.to_string())?;
    raw.destroy(&mut mem).map_err(|e| e.to_string())?;
    ensure!(mem.stats().incoming == 0, "pages left unclaimed");
    Ok(mem)
}

/// The image's published generation number and handover, read the way an
/// inspector would: read-only, and past the lock, since the writer may
/// still hold the image.
fn on_disk(path: &str, image_generation: u64, generation: u64) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("reopen: {e}"))?;
    let mem = FileMemory::open_read_only_on(file, path).map_err(|e| format!("reopen: {e}"))?;
    ensure!(
        mem.generation() == image_generation,
        "image generation {}, expected {image_generation}",
        mem.generation()
    );
    verify(&mem, generation)
}

fn file_save_under_page_failure() -> Check {
    let original = TempPath::new("alloc-fail-original");
    let work = TempPath::new("alloc-fail-work");
    let config = FileMemoryConfig {
        base: BASE,
        page_size: PS,
        pages: 64,
    };
    {
        let mut mem = FileMemory::create(original.as_str(), config).map_err(|e| e.to_string())?;
        save(&mut mem, 1, &mut Built::default()).map_err(|e| format!("first save: {e}"))?;
    }
    let image = std::fs::read(original.as_str()).map_err(|e| e.to_string())?;
    let gen = {
        let mem = FileMemory::open_read_only(original.as_str()).map_err(|e| e.to_string())?;
        mem.generation()
    };
    on_disk(original.as_str(), gen, 1)?;
    let fresh = || -> Result<FileMemory, String> {
        std::fs::write(work.as_str(), &image).map_err(|e| e.to_string())?;
        take_over(work.as_str(), 1)
    };

    // The clean run counts the page allocations of a save: the pages it
    // leaves preserved (nothing is freed on the way).
    let mut mem = fresh()?;
    let before = mem.stats().preserved;
    save(&mut mem, 2, &mut Built::default()).map_err(|e| format!("clean save: {e}"))?;
    let total = (mem.stats().preserved - before) as u64;
    ensure!(total == 3 + 2 + 2 + 2, "a save allocates {total} pages");
    drop(mem);
    on_disk(work.as_str(), gen + 1, 2)?;

    for k in 0..=total {
        let mut mem = fresh()?;
        let before = mem.stats().preserved;
        mem.fail_allocation(k);
        let mut built = Built::default();
        let res = save(&mut mem, 2, &mut built);
        if k == total {
            // Past the last allocation: the count above is exact.
            ensure!(res.is_ok(), "k = {k}: {res:?}");
            drop(mem);
            on_disk(work.as_str(), gen + 1, 2)?;
            continue;
        }
        ensure!(
            matches!(res, Err(Error::OutOfMemory)),
            "k = {k}: save returned {res:?}"
        );
        ensure!(
            mem.generation() == gen,
            "k = {k}: generation moved to {}",
            mem.generation()
        );
        built.destroy(&mut mem)?;
        ensure!(
            mem.stats().preserved == before,
            "k = {k}: {} pages preserved after teardown, {before} before the save",
            mem.stats().preserved
        );
        on_disk(work.as_str(), gen, 1).map_err(|e| format!("k = {k}: {e}"))?;
        // The same process saves cleanly afterwards, with the same pages.
        save(&mut mem, 2, &mut Built::default()).map_err(|e| format!("k = {k}: retry: {e}"))?;
        ensure!(
            mem.stats().preserved as u64 == before as u64 + total,
            "k = {k}: the retry preserved {} pages",
            mem.stats().preserved
        );
        drop(mem);
        on_disk(work.as_str(), gen + 1, 2).map_err(|e| format!("k = {k}: after retry: {e}"))?;
    }
    Ok(format!(
        "FileMemory save: a failure at each of {total} page allocations leaks nothing \
         and leaves the previous generation"
    ))
}

// ---------------------------------------------------------------------------
// (c) grow under page and heap failure

/// Everything observable about a set and its memory.
#[derive(Debug, PartialEq, Eq)]
struct GrowState {
    len: usize,
    capacity: usize,
    blocks: Vec<PhysAddr>,
    head: PhysAddr,
    preserved: usize,
    pages: Vec<(PhysAddr, Vec<u8>)>,
}

fn grow_state(set: &BlockSet<Stamp, SimMemory>, mem: &SimMemory, other: PhysAddr) -> GrowState {
    let mut in_use = set.as_raw().blocks().to_vec();
    in_use.push(other);
    GrowState {
        len: set.len(),
        capacity: set.capacity(),
        blocks: set.as_raw().blocks().to_vec(),
        head: set.head(),
        preserved: mem.stats().preserved,
        pages: pages_in_use(mem, &in_use),
    }
}

/// A set of 3 blocks (the last partly full) after another page, in
/// `pages` pages of memory.
fn grow_fixture(pages: usize) -> Result<(SimMemory, BlockSet<Stamp, SimMemory>, PhysAddr), String> {
    let mut mem = SimMemory::new(BASE, PS, pages).map_err(|e| e.to_string())?;
    let other = mem.alloc_preserve().map_err(|e| e.to_string())?;
    mem.page_mut(other).map_err(|e| e.to_string())?.fill(0xee);
    let mut set = BlockSet::<Stamp, SimMemory>::new(&mem).map_err(|e| e.to_string())?;
    for i in 0..2 * 170 + 5 {
        set.push(&mut mem, &stamp(0, 0, i))
            .map_err(|e| e.to_string())?;
    }
    Ok((mem, set, other))
}

fn grow_under_page_failure() -> Check {
    let (mut mem, mut set, other) = grow_fixture(16)?;
    let want = set.len() + 5 * 170; // 5 more blocks
    let before = grow_state(&set, &mem, other);
    let whole = mem.as_bytes().to_vec();
    let mut stale = 0;
    for k in 0..5 {
        mem.fail_allocation(k);
        let res = set.grow(&mut mem, want);
        ensure!(
            matches!(res, Err(Error::OutOfMemory)),
            "k = {k}: grow returned {res:?}"
        );
        let after = grow_state(&set, &mem, other);
        ensure!(
            after == before,
            "k = {k}: grow changed the set or its pages"
        );
        if mem.as_bytes() != &whole[..] {
            // Only freed pages may differ: a freed block keeps the `next`
            // its successor wrote, and SimMemory zeroes it on reuse.
            stale += 1;
        }
    }
    set.grow(&mut mem, want)
        .map_err(|e| format!("clean grow: {e}"))?;
    ensure!(
        set.block_count() == 8,
        "grew to {} blocks",
        set.block_count()
    );
    Ok(format!(
        "grow: a failure at each of 5 page allocations changes nothing \
         ({stale} runs left a stale header in a freed page)"
    ))
}

fn grow_under_heap_failure() -> Check {
    let (mut mem, mut set, other) = grow_fixture(48)?;
    let want = set.len() + 40 * 170; // far past the Vec's capacity
    let before = grow_state(&set, &mem, other);
    let mut oom = 0;
    for k in 0u64.. {
        ensure!(k < 1_000, "grow still failing at allocation {k}");
        let (res, fired, _) = armed(k, || set.grow(&mut mem, want));
        match res {
            Err(Error::OutOfMemory) if fired => {
                oom += 1;
                let after = grow_state(&set, &mem, other);
                ensure!(
                    after == before,
                    "N = {k}: grow changed the set or its pages"
                );
            }
            Ok(()) if !fired => {
                ensure!(
                    set.block_count() == 43,
                    "grew to {} blocks",
                    set.block_count()
                );
                ensure!(oom > 0, "no allocation failure ever reached grow");
                return Ok(format!(
                    "grow: {oom} heap allocations, each failure is OutOfMemory and changes nothing"
                ));
            }
            Ok(()) => return Err(format!("N = {k}: the allocation failed, grow said Ok")),
            Err(e) => return Err(format!("N = {k} (fired: {fired}): {e:?}")),
        }
    }
    unreachable!()
}

// ---------------------------------------------------------------------------

/// Set in the child process of [`restore_rejects_under_heap_failure`].
const CHILD: &str = "KHO_ALLOC_FAIL_CHILD";

fn main() {
    if std::env::var_os(CHILD).is_some() {
        match rejects_child() {
            Ok(note) => println!("{note}"),
            Err(why) => {
                println!("{why}");
                std::process::exit(1);
            }
        }
        return;
    }
    let checks: [(&str, CheckFn); 5] = [
        ("restore_under_heap_failure", restore_under_heap_failure),
        (
            "restore_rejects_under_heap_failure",
            restore_rejects_under_heap_failure,
        ),
        ("file_save_under_page_failure", file_save_under_page_failure),
        ("grow_under_page_failure", grow_under_page_failure),
        ("grow_under_heap_failure", grow_under_heap_failure),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks {
        let res = catch_unwind(AssertUnwindSafe(check));
        ARMED.store(false, SeqCst);
        match res {
            Ok(Ok(note)) => {
                passed += 1;
                println!("test {name} ... ok: {note}");
            }
            Ok(Err(why)) => {
                failed += 1;
                println!("test {name} ... FAILED: {why}");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED: panicked");
            }
        }
    }
    println!("alloc_fail: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
