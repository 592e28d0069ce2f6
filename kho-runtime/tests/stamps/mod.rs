//! Stamped generations, shared by `crash.rs` and `power_loss.rs`: every
//! entry of every set records the generation, set and index it was written
//! for, so a reopened image can tell by itself whether it holds one whole
//! generation or a mix.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use kho_derive::KhoEntry;
use kho_runtime::{BlockSet, FileMemory, ImageFile, RootRecord};

#[derive(KhoEntry, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
#[kho(crate = "kho_runtime", compatible = "kho-test-stamp-v1")]
pub struct Stamp {
    pub generation: u64,
    pub set: u64,
    pub index: u64,
    pub check: u64,
}

impl Stamp {
    pub fn new(generation: u64, set: u64, index: u64) -> Self {
        let check = (generation ^ (set << 20) ^ (index << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Stamp {
            generation,
            set,
            index,
            check,
        }
    }
}

/// Builds generation `g`, `sets` sets named `stamps-0`... of
/// `entries(g, set)` stamps each, and publishes it; returns the sets so the
/// caller can release them.
pub fn save<F: ImageFile>(
    mem: &mut FileMemory<F>,
    g: u64,
    sets: u64,
    entries: impl Fn(u64, u64) -> u64,
) -> Vec<BlockSet<Stamp, FileMemory<F>>> {
    let mut out = Vec::new();
    let mut records = Vec::new();
    for s in 0..sets {
        let n = entries(g, s);
        let mut set = BlockSet::<Stamp, FileMemory<F>>::new(mem).expect("new set");
        set.grow(mem, n as usize).expect("grow");
        let mut w = set.writer(mem).unwrap();
        for i in 0..n {
            w.push(&Stamp::new(g, s, i)).expect("push");
        }
        w.finish().expect("finish");
        records.push(RootRecord::for_set(&format!("stamps-{s}"), &set).expect("record"));
        out.push(set);
    }
    mem.publish(&records).expect("publish");
    out
}

/// Checks that `mem` holds one whole generation and returns it: `sets`
/// sets, of `entries(g, set)` stamps of generation `g` each. `expected` is
/// `g` when the caller knows it; otherwise the first stamp says.
pub fn verify<F: ImageFile>(
    mem: &FileMemory<F>,
    expected: Option<u64>,
    sets: u64,
    entries: impl Fn(u64, u64) -> u64,
) -> Result<u64, String> {
    if mem.root().len() != sets as usize {
        return Err(format!(
            "the root table has {} sets, not {sets}",
            mem.root().len()
        ));
    }
    let mut generation = expected;
    for s in 0..sets {
        let set = mem
            .restore_set::<Stamp>(&format!("stamps-{s}"))
            .map_err(|e| format!("set {s}: {e}"))?;
        for (i, e) in set.iter(mem).unwrap().enumerate() {
            let g = *generation.get_or_insert(e.generation);
            let want = Stamp::new(g, s, i as u64);
            if e != want {
                return Err(format!(
                    "generation {g}, set {s}, entry {i}: {e:?}, expected {want:?} (a mix of generations)"
                ));
            }
        }
        let g = generation.ok_or_else(|| format!("set {s} is empty: no generation to check"))?;
        if set.len() as u64 != entries(g, s) {
            return Err(format!(
                "generation {g}, set {s}: {} entries, not {}",
                set.len(),
                entries(g, s)
            ));
        }
    }
    generation.ok_or_else(|| "no entries".to_string())
}

/// Restores every set of the generation `mem` was opened on and releases
/// it, as a new kernel that has read its handover does.
pub fn release_all<F: ImageFile>(mem: &mut FileMemory<F>, sets: u64) {
    for s in 0..sets {
        let mut set = mem
            .restore_set::<Stamp>(&format!("stamps-{s}"))
            .expect("restore");
        set.destroy(mem).expect("release");
    }
}

/// xorshift64: reproducible from a printed seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The seed named by the environment variable `var` (to replay a run), or
/// a fresh odd one from the clock.
pub fn seed(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        })
}
