//! `kho-abi inspect` on damaged images: raw dumps laid out byte by byte and
//! FileMemory images written by the runtime, then damaged at random (bit
//! flips in headers, `next` bent anywhere, counts at and past the edges,
//! root records and superblocks rewritten, the file cut short).
//!
//! Whatever the bytes, inspect exits 0 or 1 (never a panic's 101, never a
//! signal) within a few seconds, and a failure is exactly one line on
//! stderr. In raw mode the verdict and the message are the runtime's own
//! restore's with the limit asked for. The damage comes from a fixed
//! xorshift seed (`KHO_HOSTILE_SEED` picks another).

use std::fs::File;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::TempFile;

use kho_runtime::{
    FileMemory, FileMemoryConfig, PhysAddr, RawBlockSet, RawImage, RootRecord, DEFAULT_MAX_BLOCKS,
};

const HEADER: usize = 16;
const BASE: u64 = 0x10_0000;
/// How long one run of inspect may take, in a debug build on a busy machine.
const DEADLINE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Helpers

/// xorshift64: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn from_env(salt: u64) -> Self {
        let seed = std::env::var("KHO_HOSTILE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_0f4b_0571_1e5e_u64);
        Rng(
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                | 1,
        )
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

fn rd(bytes: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(bytes[off..off + 8].try_into().unwrap())
}

/// Writes `v` at `off` if the 8 bytes are inside `bytes`.
fn poke(bytes: &mut [u8], off: usize, v: u64) {
    if let Some(slot) = bytes.get_mut(off..off + 8) {
        slot.copy_from_slice(&v.to_ne_bytes());
    }
}

/// Flips bit `bit` of the byte at `off`, if it is inside `bytes`.
fn flip(bytes: &mut [u8], off: usize, bit: usize) {
    if let Some(b) = bytes.get_mut(off) {
        *b ^= 1 << (bit % 8);
    }
}

/// What one run of inspect did.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `kho-abi` with `args`, its output in files (so a long listing
/// cannot block on a full pipe), killing it at the deadline.
fn kho_abi(args: &[&str]) -> Result<Run, String> {
    let out = TempFile::new("stdout");
    let err = TempFile::new("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kho-abi"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out.0).unwrap())
        .stderr(File::create(&err.0).unwrap())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("still running after {DEADLINE:?}: killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    Ok(Run {
        status,
        stdout: String::from_utf8_lossy(&std::fs::read(&out.0).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err.0).unwrap()).into_owned(),
    })
}

/// Exit 0 with nothing on stderr, or exit 1 with one `kho-abi: ` line.
/// Returns whether it exited 0.
fn check_run(run: &Run, what: &str) -> Result<bool, String> {
    match run.status.code() {
        Some(0) if run.stderr.is_empty() => Ok(true),
        Some(1)
            if run.stderr.lines().count() == 1
                && run.stderr.starts_with("kho-abi: ")
                && run.stderr.ends_with('\n') =>
        {
            Ok(false)
        }
        code => Err(format!(
            "{what}: exit {code:?} ({}), stderr {:?}",
            run.status, run.stderr
        )),
    }
}

/// Runs every case, then reports all failures at once.
fn report(failures: Vec<String>, runs: usize, ok: usize) {
    eprintln!(
        "{runs} runs of inspect, {ok} exited 0, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        ok > 0 && ok < runs,
        "every run had the same verdict ({ok} of {runs} exited 0)"
    );
}

// ---------------------------------------------------------------------------
// Raw dumps

/// A raw dump with one chain in it, and where its blocks are.
struct Dump {
    bytes: Vec<u8>,
    page_size: usize,
    entry_size: usize,
    head: u64,
    blocks: Vec<u64>,
    /// Bytes before any truncation.
    full_len: usize,
}

impl Dump {
    /// `nblocks` blocks in shuffled pages among garbage pages, each with a
    /// random count of random entries, linked as the kernel links them.
    fn new(rng: &mut Rng) -> Self {
        let page_size = rng.pick(&[4096, 16384, 65536]);
        let entry_size = rng.pick(&[1, 8, 24, 100, 4080, page_size - HEADER]);
        let per_block = (page_size - HEADER) / entry_size;
        let nblocks = 1 + rng.below(4);
        let pages = nblocks + rng.below(3);
        let mut order: Vec<usize> = (0..pages).collect();
        for i in (1..pages).rev() {
            order.swap(i, rng.below(i + 1));
        }
        // Pages no block uses hold garbage, never zeroes.
        let mut bytes = vec![0xa5u8; pages * page_size];
        let blocks: Vec<u64> = order[..nblocks]
            .iter()
            .map(|&p| BASE + (p * page_size) as u64)
            .collect();
        for (i, &addr) in blocks.iter().enumerate() {
            let at = (addr - BASE) as usize;
            let page = &mut bytes[at..at + page_size];
            page.fill(0);
            let count = 1 + rng.below(per_block);
            page[0..8].copy_from_slice(&blocks.get(i + 1).copied().unwrap_or(0).to_ne_bytes());
            page[8..16].copy_from_slice(&(count as u64).to_ne_bytes());
            for b in &mut page[HEADER..HEADER + count * entry_size] {
                *b = rng.next() as u8;
            }
        }
        let full_len = bytes.len();
        Dump {
            bytes,
            page_size,
            entry_size,
            head: blocks[0],
            blocks,
            full_len,
        }
    }

    /// An address a bent `next` (or head) may take.
    fn target(&self, rng: &mut Rng, me: usize) -> u64 {
        let ps = self.page_size as u64;
        let block = self.blocks[rng.below(self.blocks.len())];
        match rng.below(10) {
            0 => block,
            1 => self.blocks[me],
            2 => self.blocks[rng.below(me + 1)],
            3 => BASE - ps,
            4 => BASE + self.full_len as u64,
            5 => u64::MAX,
            6 => block + rng.pick(&[1, 8, ps / 2]),
            7 => 0,
            8 => BASE + (rng.below(self.full_len / self.page_size) as u64) * ps,
            _ => rng.next(),
        }
    }

    fn mutate(&mut self, rng: &mut Rng) {
        let n = self.blocks.len();
        let b = rng.below(n);
        let at = (self.blocks[b] - BASE) as usize;
        let per_block = ((self.page_size - HEADER) / self.entry_size) as u64;
        match rng.below(6) {
            0 => {
                let bit = rng.below(128);
                flip(&mut self.bytes, at + bit / 8, bit);
            }
            1 | 2 => {
                let to = self.target(rng, b);
                poke(&mut self.bytes, at, to);
            }
            3 => {
                let any = rng.next();
                let count = rng.pick(&[0, per_block, per_block + 1, u64::MAX, any]);
                poke(&mut self.bytes, at + 8, count);
            }
            4 => self.head = self.target(rng, 0),
            _ => {
                let len = self.bytes.len();
                let cut = match rng.below(3) {
                    0 => 0,
                    1 => rng.below(len / self.page_size + 1) * self.page_size,
                    _ => rng.below(len + 1),
                };
                self.bytes.truncate(cut);
            }
        }
    }
}

#[test]
fn damaged_raw_dumps_fail_cleanly() {
    let mut rng = Rng::from_env(1);
    let (mut failures, mut runs, mut ok) = (Vec::new(), 0, 0);
    for case in 0..24 {
        let mut dump = Dump::new(&mut rng);
        // Every fourth dump stays whole: inspect must succeed where it should.
        let whole = case % 4 == 0;
        let damage = if whole { 0 } else { 1 + rng.below(3) };
        for _ in 0..damage {
            dump.mutate(&mut rng);
        }
        let max_blocks = match whole {
            true => DEFAULT_MAX_BLOCKS,
            false => rng.pick(&[0, 1, 2, 3, DEFAULT_MAX_BLOCKS, DEFAULT_MAX_BLOCKS]),
        };
        let file = TempFile::with("raw", &dump.bytes);
        let (head, es, ps, max) = (
            format!("{:#x}", dump.head),
            dump.entry_size.to_string(),
            dump.page_size.to_string(),
            max_blocks.to_string(),
        );
        let format = rng.pick(&["hex", "json"]);
        let args = [
            "inspect",
            "--image",
            file.path(),
            "--base",
            "0x100000",
            "--head",
            &head,
            "--entry-size",
            &es,
            "--page-size",
            &ps,
            "--max-blocks",
            &max,
            "--format",
            format,
        ];
        let what = format!("raw case {case}: {}", args[3..].join(" "));
        runs += 1;
        let verdict = kho_abi(&args).and_then(|run| {
            let exited_0 = check_run(&run, &what)?;
            // The verdict and the message are restore's, with the limit asked
            // for (inspect caps the walk; that must change nothing).
            let img = RawImage::from_vec(dump.bytes.clone(), BASE, dump.page_size).unwrap();
            let lib = RawBlockSet::restore_with_limit(
                &img,
                PhysAddr(dump.head),
                dump.entry_size,
                max_blocks,
            );
            match (&lib, exited_0) {
                (Ok(set), true) if format == "hex" => {
                    if run.stdout.lines().count() != set.len() {
                        return Err(format!(
                            "{what}: {} lines for {} entries",
                            run.stdout.lines().count(),
                            set.len()
                        ));
                    }
                }
                (Ok(_), true) => {}
                (Err(e), false) if run.stderr == format!("kho-abi: {e}\n") => {}
                _ => {
                    return Err(format!(
                        "{what}: inspect said {:?}, restore says {lib:?}",
                        run.stderr
                    ))
                }
            }
            Ok(exited_0)
        });
        match verdict {
            Ok(true) => ok += 1,
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }
    report(failures, runs, ok);
}

// ---------------------------------------------------------------------------
// FileMemory images

/// FNV-1a, the superblock checksum.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Superblock slot `slot` starts page `slot` (image format 2).
fn slot_offset(slot: usize, page_size: usize) -> usize {
    slot * page_size
}
const RECORD: usize = 168;

/// A FileMemory image and where its structures are.
struct Image {
    bytes: Vec<u8>,
    page_size: usize,
    /// The superblock slot in use.
    slot: usize,
    /// Blocks of the root table, then of every set.
    blocks: Vec<u64>,
    /// Where each root record is (byte offsets).
    records: Vec<usize>,
    /// Each set's head and entry size, as recorded.
    heads: Vec<(u64, usize)>,
}

/// Follows `next` from `head` in `bytes` (at most 64 blocks, stopping at
/// anything that is not a whole page).
fn chain(bytes: &[u8], ps: usize, head: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut at = head;
    while at != 0 && out.len() < 64 && at >= BASE && at.is_multiple_of(ps as u64) {
        let off = (at - BASE) as usize;
        if off + ps > bytes.len() || out.contains(&at) {
            break;
        }
        out.push(at);
        at = rd(bytes, off);
    }
    out
}

impl Image {
    /// A handover of a few sets of different entry sizes, written through
    /// the runtime in one to three generations, each releasing the sets of
    /// the one before. Sometimes a next save is left half done: its sets
    /// reuse the pages of the older generation, which the other superblock
    /// slot still names (what a slot fallback then finds is garbage).
    fn new(rng: &mut Rng) -> Self {
        let file = TempFile::new("build");
        let page_size = rng.pick(&[4096, 4096, 16384]);
        let config = FileMemoryConfig {
            base: BASE,
            page_size,
            pages: 32,
        };
        let mut mem = FileMemory::create(file.path(), config).unwrap();
        let rounds = 1 + rng.below(3);
        let half_done = rounds > 1 && rng.chance(50);
        let mut previous: Vec<RawBlockSet> = Vec::new();
        for round in 0..rounds + usize::from(half_done) {
            for mut set in previous.drain(..) {
                set.destroy(&mut mem).unwrap();
            }
            let mut records = Vec::new();
            for s in 0..1 + rng.below(4) {
                let es = rng.pick(&[8, 24, 100, 1000, 4080]);
                let n = rng.below(3 * ((4096 - HEADER) / es) + 1);
                let mut set = RawBlockSet::new(&mem, es).unwrap();
                set.grow(&mut mem, n).unwrap();
                for i in 0..n {
                    let e: Vec<u8> = (0..es).map(|k| (i + k + round) as u8).collect();
                    set.push(&mut mem, &e).unwrap();
                }
                set.publish(&mut mem).unwrap();
                let name = format!("set-{round}-{s}");
                records.push(RootRecord::for_raw(&name, "x-v1", s as u64, &set).unwrap());
                previous.push(set);
            }
            if round < rounds {
                mem.publish(&records).unwrap();
            }
        }
        drop(mem);
        let bytes = std::fs::read(file.path()).unwrap();
        let mem = FileMemory::open_read_only(file.path()).unwrap();
        let heads: Vec<(u64, usize)> = mem
            .root()
            .iter()
            .map(|r| (r.head, r.entry_size as usize))
            .collect();
        // The slot with the newer generation is the one in use.
        let generation = |slot: usize| rd(&bytes, slot_offset(slot, page_size) + 32);
        let slot = usize::from(generation(1) > generation(0));
        let root = rd(&bytes, slot_offset(slot, page_size) + 40);
        let root_blocks = chain(&bytes, page_size, root);
        let per_block = (page_size - HEADER) / RECORD;
        let records = (0..heads.len())
            .map(|i| {
                let block = root_blocks[i / per_block];
                (block - BASE) as usize + HEADER + (i % per_block) * RECORD
            })
            .collect();
        let mut blocks = root_blocks;
        for &(head, _) in &heads {
            blocks.extend(chain(&bytes, page_size, head));
        }
        Image {
            bytes,
            page_size,
            slot,
            blocks,
            records,
            heads,
        }
    }

    fn page_addr(&self, rng: &mut Rng) -> u64 {
        let ps = self.page_size as u64;
        match rng.below(6) {
            0 => self.blocks[rng.below(self.blocks.len())],
            1 => BASE + rng.below(34) as u64 * ps,
            2 => self.blocks[rng.below(self.blocks.len())] + rng.pick(&[1, 8, ps / 2]),
            3 => rng.pick(&[0, u64::MAX, BASE - ps]),
            _ => rng.next(),
        }
    }

    fn mutate(&mut self, rng: &mut Rng) {
        let ps = self.page_size;
        let block = (self.blocks[rng.below(self.blocks.len())] - BASE) as usize;
        match rng.below(8) {
            // A block header: a bit, `next` or `count`.
            0 => {
                let bit = rng.below(128);
                flip(&mut self.bytes, block + bit / 8, bit);
            }
            1 => {
                let to = self.page_addr(rng);
                poke(&mut self.bytes, block, to);
            }
            2 => {
                let any = rng.next();
                let count = rng.pick(&[0, 1, 24, 4080, u64::MAX, any]);
                poke(&mut self.bytes, block + 8, count);
            }
            // A root record's head, entry size, entries or blocks.
            3 if !self.records.is_empty() => {
                let r = self.records[rng.below(self.records.len())];
                let field = 128 + 8 * rng.below(4);
                let v = match field {
                    128 => self.page_addr(rng),
                    136 => rng.pick(&[0, 1, 8, 4080, 4081, 65536, u64::MAX]),
                    _ => rng.pick(&[0, 1, 2, 1_000_000, u64::MAX]),
                };
                poke(&mut self.bytes, r, v);
            }
            // A bit of the preserved-page bitmap in use.
            4 => {
                let bitmap = (2 + self.slot) * ps;
                let bit = rng.below(32);
                flip(&mut self.bytes, bitmap + bit / 8, bit);
            }
            // The superblock in use: a field rewritten and re-signed, or a
            // bit flipped (so the older slot is used).
            5 => {
                let sb = slot_offset(self.slot, ps);
                if rng.chance(30) || self.bytes.len() < sb + 64 {
                    let bit = rng.below(64 * 8);
                    flip(&mut self.bytes, sb + bit / 8, bit);
                } else {
                    match rng.below(4) {
                        0 => {
                            let to = self.page_addr(rng);
                            poke(&mut self.bytes, sb + 40, to);
                        }
                        1 => poke(&mut self.bytes, sb + 24, rng.pick(&[3, 31, 33, u64::MAX])),
                        2 => poke(
                            &mut self.bytes,
                            sb + 16,
                            rng.pick(&[0, BASE + 4096, !0xfff]),
                        ),
                        _ => {
                            // The superblock is whole: checked above.
                            let size = rng.pick(&[4096u32, 16384, 65536, 8192]);
                            self.bytes[sb + 12..sb + 16].copy_from_slice(&size.to_ne_bytes());
                        }
                    }
                    let sum = fnv(&self.bytes[sb..sb + 56]);
                    poke(&mut self.bytes, sb + 56, sum);
                }
            }
            // The file cut short.
            6 => {
                let len = self.bytes.len();
                let cut = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(1024),
                    2 => rng.below(len / ps + 1) * ps,
                    _ => rng.below(len + 1),
                };
                self.bytes.truncate(cut);
            }
            _ => {
                let off = rng.below(self.bytes.len().max(1));
                let bit = rng.below(8);
                flip(&mut self.bytes, off, bit);
            }
        }
    }
}

#[test]
fn damaged_file_images_fail_cleanly() {
    let mut rng = Rng::from_env(2);
    let (mut failures, mut runs, mut ok) = (Vec::new(), 0, 0);
    for case in 0..16 {
        let mut img = Image::new(&mut rng);
        let (heads, page_size) = (img.heads.clone(), img.page_size);
        // Every fourth image stays whole.
        let damage = if case % 4 == 0 { 0 } else { 1 + rng.below(3) };
        for _ in 0..damage {
            if img.bytes.is_empty() {
                break;
            }
            img.mutate(&mut rng);
        }
        let file = TempFile::with("image", &img.bytes);
        let p = file.path();
        let ps = page_size.to_string();
        let mut arg_sets: Vec<Vec<String>> = vec![
            vec!["inspect".into(), "--image".into(), p.into()],
            vec![
                "inspect".into(),
                "--image".into(),
                p.into(),
                "--format".into(),
                "json".into(),
                "--max-blocks".into(),
                rng.pick(&["1", "3", "10000"]).into(),
            ],
        ];
        // The image is a raw dump too: each recorded set from its head.
        if let Some(&(head, es)) = heads.get(rng.below(heads.len().max(1))) {
            arg_sets.push(
                [
                    "inspect",
                    "--image",
                    p,
                    "--base",
                    "0x100000",
                    "--page-size",
                    &ps,
                    "--entry-size",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain([es.to_string(), "--head".into(), format!("{head:#x}")])
                .collect(),
            );
        }
        let opened = FileMemory::open_read_only(p).map(|_| ());
        for args in arg_sets {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let what = format!("image case {case}: {}", args[3..].join(" "));
            let image_mode = !args.contains(&"--base");
            runs += 1;
            let verdict = kho_abi(&args).and_then(|run| {
                let exited_0 = check_run(&run, &what)?;
                // An image that does not open says why, in the runtime's words.
                match &opened {
                    Err(e) if image_mode && run.stderr != format!("kho-abi: {e}\n") => {
                        Err(format!("{what}: stderr {:?}, open says {e}", run.stderr))
                    }
                    _ => Ok(exited_0),
                }
            });
            match verdict {
                Ok(true) => ok += 1,
                Ok(false) => {}
                Err(e) => failures.push(e),
            }
        }
    }
    report(failures, runs, ok);
}
