//! Crash safety of FileMemory with real processes and a real file.
//!
//! The image starts with a published handover. A child process takes it
//! over and publishes new generations in a loop (each one a few hundred
//! pages of stamped entries) until the parent kills it with SIGKILL at a
//! random moment. After every kill the parent reopens the image and must
//! find one whole generation, the old or a newer one, every entry of every
//! set stamped with it: never a mix, never an unreadable image.
//!
//! This file has its own `main` (harness = false): the same binary is the
//! child when `KHO_CRASH_CHILD` names the image.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kho_derive::KhoEntry;
use kho_runtime::{BlockSet, FileMemory, FileMemoryConfig, PreservedMemory, RootRecord};

#[derive(KhoEntry, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
#[kho(crate = "kho_runtime", compatible = "kho-crash-stamp-v1")]
struct Stamp {
    generation: u64,
    set: u64,
    index: u64,
    check: u64,
}

const SETS: u64 = 12;
const KILLS: usize = 40;

fn entries(generation: u64, set: u64) -> u64 {
    3_000 + (generation * 7 + set * 131) % 1_500
}

fn check(generation: u64, set: u64, index: u64) -> u64 {
    (generation ^ (set << 20) ^ (index << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Builds and publishes generation `g` into `mem`; returns the sets so the
/// caller can release them before the next generation.
fn save(mem: &mut FileMemory, g: u64) -> Vec<BlockSet<Stamp, FileMemory>> {
    let mut sets = Vec::new();
    let mut records = Vec::new();
    for s in 0..SETS {
        let n = entries(g, s);
        let mut set = BlockSet::<Stamp, FileMemory>::new(mem).expect("new set");
        set.grow(mem, n as usize).expect("grow");
        let mut w = set.writer(mem);
        for i in 0..n {
            w.push(&Stamp {
                generation: g,
                set: s,
                index: i,
                check: check(g, s, i),
            })
            .expect("push");
        }
        w.finish().expect("finish");
        records.push(RootRecord::for_set(&format!("stamps-{s}"), &set).expect("record"));
        sets.push(set);
    }
    mem.publish(&records).expect("publish");
    sets
}

/// Verifies the image holds one whole generation and returns it. The
/// parent opens it as any reader would, which also shows that the killed
/// child's lock went with it; the child, which holds the image, reads it
/// past its own lock.
fn verify(path: &Path) -> Result<u64, String> {
    verify_mem(&FileMemory::open_read_only(path).map_err(|e| format!("open: {e}"))?)
}

fn verify_unlocked(path: &Path) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("open: {e}"))?;
    verify_mem(&FileMemory::open_read_only_on(file, path).map_err(|e| format!("open: {e}"))?)
}

fn verify_mem(mem: &FileMemory) -> Result<u64, String> {
    if mem.root().len() != SETS as usize {
        return Err(format!(
            "root table has {} sets, not {SETS}",
            mem.root().len()
        ));
    }
    let mut generation = None;
    for s in 0..SETS {
        let set = mem
            .restore_set::<Stamp>(&format!("stamps-{s}"))
            .map_err(|e| format!("set {s}: {e}"))?;
        for (i, e) in set.iter(mem).enumerate() {
            let g = *generation.get_or_insert(e.generation);
            let want = Stamp {
                generation: g,
                set: s,
                index: i as u64,
                check: check(g, s, i as u64),
            };
            if e != want {
                return Err(format!(
                    "set {s} entry {i}: {e:?}, expected {want:?} (a mix of generations)"
                ));
            }
        }
        let g = generation.ok_or("empty set")?;
        if set.len() as u64 != entries(g, s) {
            return Err(format!(
                "set {s} of generation {g} has {} entries, not {}",
                set.len(),
                entries(g, s)
            ));
        }
    }
    generation.ok_or_else(|| "no entries".to_string())
}

/// The child: take over the image, then publish generations until killed.
fn child(path: &str) -> ! {
    let mut mem = FileMemory::open(path).expect("child open");
    let mut g = verify_unlocked(Path::new(path)).expect("child sees a whole generation");
    // Claim the previous generation's pages so the image does not fill up.
    for s in 0..SETS {
        let mut set = mem
            .restore_set::<Stamp>(&format!("stamps-{s}"))
            .expect("restore");
        set.destroy(&mut mem).expect("release");
    }
    loop {
        g += 1;
        for mut set in save(&mut mem, g) {
            set.destroy(&mut mem).expect("release own");
        }
        // Only the published root table (one block) stays preserved.
        assert_eq!(mem.stats().preserved, 1);
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    if let Ok(path) = std::env::var("KHO_CRASH_CHILD") {
        child(&path);
    }
    let path: PathBuf = std::env::temp_dir().join(format!("kho-crash-{}.img", std::process::id()));
    let config = FileMemoryConfig {
        base: 0x1_0000_0000,
        page_size: 4096,
        pages: 4096,
    };
    let mut mem = FileMemory::create(&path, config).expect("create");
    let t = Instant::now();
    drop(save(&mut mem, 1));
    let one_save = t.elapsed();
    assert_eq!(mem.page_size(), 4096);
    drop(mem);
    assert_eq!(verify(&path), Ok(1));

    let seed = std::env::var("KHO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("crash safety: seed {seed} (KHO_CRASH_SEED to replay), one save takes {one_save:?}");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().expect("current exe");
    let (mut last, mut advanced, mut failures) = (1u64, 0usize, Vec::new());
    // Kill anywhere from before the child opened the image to a few saves in.
    let window = (one_save * 4).as_micros().max(2_000) as u64;
    for kill in 0..KILLS {
        let mut c = Command::new(&exe)
            .env("KHO_CRASH_CHILD", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child");
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        let exited_early = c.try_wait().ok().flatten();
        let _ = c.kill(); // SIGKILL
        let status = c.wait().expect("wait");
        if let Some(st) = exited_early {
            let mut err = String::new();
            if let Some(mut e) = c.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            failures.push(format!(
                "kill {kill}: child exited by itself ({st}) before the kill: {err}"
            ));
            break;
        }
        match verify(&path) {
            Ok(g) if g >= last => {
                advanced += usize::from(g > last);
                last = g;
            }
            Ok(g) => failures.push(format!(
                "kill {kill}: generation went back from {last} to {g}"
            )),
            Err(e) => failures.push(format!("kill {kill} ({status}): {e}")),
        }
    }
    let _ = std::fs::remove_file(&path);
    println!("crash safety: {KILLS} kills, final generation {last}, {advanced} kills found a newer generation");
    if advanced == 0 {
        failures.push(
            "no kill ever found a newer generation: the child never published in time".into(),
        );
    }
    if failures.is_empty() {
        println!("crash_safety: 1 passed, 0 failed");
    } else {
        for f in &failures {
            eprintln!("{f}");
        }
        println!("crash_safety: 0 passed, 1 failed");
        std::process::exit(1);
    }
}
