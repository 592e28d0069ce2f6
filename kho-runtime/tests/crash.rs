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

use kho_runtime::{FileMemory, FileMemoryConfig, PreservedMemory};

mod stamps;
use stamps::Rng;

const SETS: u64 = 12;

const KILLS: usize = 40;

fn entries(generation: u64, set: u64) -> u64 {
    3_000 + (generation * 7 + set * 131) % 1_500
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
    stamps::verify(mem, None, SETS, entries)
}

/// The child: take over the image, then publish generations until killed.
fn child(path: &str) -> ! {
    let mut mem = FileMemory::open(path).expect("child open");
    let mut g = verify_unlocked(Path::new(path)).expect("child sees a whole generation");
    // Claim the previous generation's pages so the image does not fill up.
    stamps::release_all(&mut mem, SETS);
    loop {
        g += 1;
        for mut set in stamps::save(&mut mem, g, SETS, entries) {
            set.destroy(&mut mem).expect("release own");
        }
        // Only the published root table (one block) stays preserved.
        assert_eq!(mem.stats().preserved, 1);
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
    drop(stamps::save(&mut mem, 1, SETS, entries));
    let one_save = t.elapsed();
    assert_eq!(mem.page_size(), 4096);
    drop(mem);
    assert_eq!(verify(&path), Ok(1));

    let seed = stamps::seed("KHO_CRASH_SEED");
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
