//! A two-process live update with LUO-shaped state in KHO blocks.
//!
//! ```sh
//! cargo run --release --example live_update
//! ```
//!
//! The process starts as the *old kernel*: it preserves 2,000 sessions
//! holding 100,000 files (one session alone holds 5,000) in an image file,
//! publishes the session chain under one root record, and then re-executes
//! itself with `--restore` as the *new kernel*, which takes the image over,
//! restores every chain, checks every byte against what the old kernel must
//! have written, and releases the pages. The two processes share nothing but
//! the image file and the command line, as two kernels share nothing but
//! preserved memory and the kexec command line.
//!
//! The image is locked from its creation to the end of the run: a second
//! `live_update --image` on the same file fails with "in use" (exit 1) and
//! leaves it alone. The old kernel drops its `FileMemory` before the kexec
//! but not the lock: it keeps a duplicate of the image's descriptor (the
//! same open file, so the same `flock`) and passes it to the new kernel as
//! its standard input, which adopts it with `FileMemory::open_file`. No
//! other process can take the image in between.
//!
//! Before LUO moved to KHO blocks it kept sessions and files in one
//! contiguous preserved allocation each, which capped it at 819 sessions
//! (16 pages of 80-byte entries) and 128 files per session (2 pages of
//! 64-byte entries). This run exceeds both on purpose: with block chains the
//! only bound is the kernel's 10,000 blocks per chain.
//!
//! Options (all optional): `--sessions N`, `--files N`,
//! `--big-session-files N`, `--page-size N` (4096, 16384 or 65536),
//! `--image PATH` (default: a file in the temporary directory),
//! `--keep-image`, `--pause-before-kexec` (the old kernel, holding the image
//! between its release and the kexec, waits for its standard input to close:
//! for tests that race a second run against the handover). `--restore` is
//! internal: it is how the old kernel starts the new one, with the image on
//! standard input. Exit codes: 0 success, 1 a failed save, restore or check
//! (the message names the session and file), 2 bad arguments.
//!
//! The entry types are LUO's own, generated from `schemas/luo.toml`
//! (`kho::abi::luo`): the same bytes as the kernel's `luo_file_ser` and
//! `luo_session_ser`, and the same compatible string, checked on restore.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use kho::{
    count_per_block, BlockSet, CharArray, FileMemory, FileMemoryConfig, RootRecord,
    DEFAULT_MAX_BLOCKS,
};

/// The root-table name the session chain is published under.
const SESSIONS_ROOT: &str = "luo-sessions";

/// Where the image's physical memory starts: above 4 GiB, so that an
/// address truncated to 32 bits somewhere would not go unnoticed.
const IMAGE_BASE: u64 = 0x1_0000_0000;

/// The old contiguous layout's limits, for the report.
const OLD_MAX_SESSIONS: usize = 819;
const OLD_MAX_FILES_PER_SESSION: usize = 128;

// ---------------------------------------------------------------------------
// The ABI: LUO's entries, generated from schemas/luo.toml into kho::abi::luo.
// `luo_session_ser` nests the head and count of its file chain in a
// `luo_file_set_ser`, as the kernel does.

use kho::abi::luo::{LuoFileSer, LuoFileSetSer, LuoSessionSer};

// ---------------------------------------------------------------------------
// The workload. Everything both kernels need to agree on is a pure function
// of the command line, so the new kernel can recompute each expected byte
// instead of trusting anything it reads.

/// A failure, with the exit code it maps to.
#[derive(Debug)]
enum Failure {
    /// Bad command line: exit code 2.
    Usage(String),
    /// A save, restore or check failed: exit code 1.
    Run(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Run(m) => f.write_str(m),
        }
    }
}

/// Wraps a runtime error with what was being done when it happened.
fn run_err(context: impl fmt::Display) -> impl FnOnce(kho::Error) -> Failure {
    move |e| Failure::Run(format!("{context}: {e}"))
}

/// The command line.
#[derive(Debug, Clone)]
struct Config {
    sessions: usize,
    files: usize,
    big_session_files: usize,
    page_size: usize,
    image: PathBuf,
    restore: bool,
    keep_image: bool,
    pause_before_kexec: bool,
}

const USAGE: &str = "usage: live_update [--sessions N] [--files N] [--big-session-files N] \
[--page-size 4096|16384|65536] [--image PATH] [--keep-image] [--pause-before-kexec]";

impl Config {
    /// Parses the arguments after the program name. Paths stay `OsString`s
    /// (a non-UTF-8 `--image` works); everything else must be UTF-8.
    fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Config, Failure> {
        let mut cfg = Config {
            sessions: 2_000,
            files: 100_000,
            big_session_files: 5_000,
            page_size: 4096,
            image: std::env::temp_dir().join(format!("kho-live-update-{}.img", std::process::id())),
            restore: false,
            keep_image: false,
            pause_before_kexec: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let arg = arg.into_string().map_err(|a| {
                Failure::Usage(format!("unknown argument {}\n{USAGE}", a.to_string_lossy()))
            })?;
            let mut value = || {
                args.next()
                    .ok_or_else(|| Failure::Usage(format!("{arg} needs a value\n{USAGE}")))
            };
            let number = |v: OsString| {
                v.to_str()
                    .and_then(|v| v.replace('_', "").parse::<usize>().ok())
                    .ok_or_else(|| Failure::Usage(format!("{arg}: {v:?} is not a count\n{USAGE}")))
            };
            match arg.as_str() {
                "--sessions" => cfg.sessions = number(value()?)?,
                "--files" => cfg.files = number(value()?)?,
                "--big-session-files" => cfg.big_session_files = number(value()?)?,
                "--page-size" => cfg.page_size = number(value()?)?,
                "--image" => cfg.image = value()?.into(),
                "--restore" => cfg.restore = true,
                "--keep-image" => cfg.keep_image = true,
                "--pause-before-kexec" => cfg.pause_before_kexec = true,
                _ => return Err(Failure::Usage(format!("unknown argument {arg:?}\n{USAGE}"))),
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Rejects what the workload cannot be built from, before any file is
    /// touched, so that a typo never leaves half an image behind.
    fn validate(&self) -> Result<(), Failure> {
        let usage = |m: String| Err(Failure::Usage(m));
        kho::check_page_size(self.page_size).map_err(|e| Failure::Usage(e.to_string()))?;
        if self.sessions == 0 {
            return usage("--sessions must be at least 1".into());
        }
        // Every session but the big one holds at least one file, so that
        // each session exercises a chain.
        let others = self.sessions - 1;
        let needed = self.big_session_files.checked_add(others);
        if needed.is_none_or(|n| self.files < n) {
            return usage(format!(
                "--files {} is too few: the big session takes {} and each of the other {} \
                 sessions needs at least one (at least {} in all)",
                self.files,
                self.big_session_files,
                others,
                self.big_session_files.saturating_add(others)
            ));
        }
        if others == 0 && self.files != self.big_session_files {
            return usage(format!(
                "with one session it is the big one: --files {} must equal \
                 --big-session-files {}",
                self.files, self.big_session_files
            ));
        }
        let max = |entry_size| {
            count_per_block(self.page_size, entry_size)
                .map(|per| per * DEFAULT_MAX_BLOCKS)
                .map_err(|e| Failure::Usage(e.to_string()))
        };
        let max_sessions = max(<LuoSessionSer as kho::KhoEntry>::SIZE)?;
        if self.sessions > max_sessions {
            return usage(format!(
                "--sessions {} exceeds what one chain of {DEFAULT_MAX_BLOCKS} blocks holds \
                 at this page size ({max_sessions})",
                self.sessions
            ));
        }
        let max_files = max(<LuoFileSer as kho::KhoEntry>::SIZE)?;
        let largest = file_counts(self).into_iter().max().unwrap_or(0);
        if largest > max_files {
            return usage(format!(
                "a session of {largest} files exceeds what one chain of {DEFAULT_MAX_BLOCKS} \
                 blocks holds at this page size ({max_files})"
            ));
        }
        Ok(())
    }

    /// The arguments that make the new kernel recompute the same workload.
    fn child_args(&self) -> Vec<OsString> {
        vec![
            "--restore".into(),
            "--sessions".into(),
            self.sessions.to_string().into(),
            "--files".into(),
            self.files.to_string().into(),
            "--big-session-files".into(),
            self.big_session_files.to_string().into(),
            "--page-size".into(),
            self.page_size.to_string().into(),
            "--image".into(),
            self.image.clone().into(),
        ]
    }
}

/// xorshift64: a fixed seed gives both kernels the same numbers without a
/// dependency.
struct XorShift64(u64);

impl XorShift64 {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The session that holds `--big-session-files`: in the middle, so that its
/// long chain is neither the first nor the last one walked.
fn big_session(cfg: &Config) -> usize {
    cfg.sessions / 2
}

/// Files per session. The big session takes its share; every other one gets
/// one file plus a part of the rest in proportion to a random weight of 1 to
/// 128. The skew gives sessions from one file to a few hundred, so chains
/// of one block, of several blocks, with a full last block and with a
/// partial one all occur, and some ordinary sessions pass the old limit of
/// 128 files too.
fn file_counts(cfg: &Config) -> Vec<usize> {
    let mut counts = vec![0usize; cfg.sessions];
    let big = big_session(cfg);
    counts[big] = cfg.big_session_files;
    let others: Vec<usize> = (0..cfg.sessions).filter(|&s| s != big).collect();
    if others.is_empty() {
        return counts;
    }
    let extra = cfg.files - cfg.big_session_files - others.len();
    let mut rng = XorShift64(0x9e37_79b9_7f4a_7c15);
    let weights: Vec<u64> = others.iter().map(|_| 1 << (rng.next() % 8)).collect();
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut given = 0;
    for (&s, &w) in others.iter().zip(&weights) {
        let share = (extra as u128 * u128::from(w) / total) as usize;
        counts[s] = 1 + share;
        given += share;
    }
    // Rounding down left fewer than one file per session over.
    for &s in others.iter().take(extra - given) {
        counts[s] += 1;
    }
    counts
}

/// splitmix64's finaliser: spreads indices over all 64 bits, so that a
/// swapped or shifted field cannot match by accident.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn session_name(session: usize) -> String {
    format!("luo-session-{session:04}")
}

/// The file entry the old kernel writes as file `file` of session `session`.
fn expected_file(session: usize, file: usize) -> kho::Result<LuoFileSer> {
    let token = (session as u64) << 32 | file as u64;
    Ok(LuoFileSer {
        name: CharArray::new(&format!("memfd:session{session}/file{file}"))?,
        data: mix(token),
        token,
    })
}

/// What differs between two entries, field by field, for the error message.
fn describe_file_mismatch(found: &LuoFileSer, expected: &LuoFileSer) -> String {
    // Fields copied out: formatting takes references, which a packed
    // struct's fields cannot give.
    let LuoFileSer { name, data, token } = *found;
    let LuoFileSer {
        name: want_name,
        data: want_data,
        token: want_token,
    } = *expected;
    let mut what = Vec::new();
    if name != want_name {
        what.push(format!(
            "name is {:?}, expected {:?}",
            String::from_utf8_lossy(name.as_bytes()),
            String::from_utf8_lossy(want_name.as_bytes())
        ));
    }
    if data != want_data {
        what.push(format!("data is {data:#018x}, expected {want_data:#018x}"));
    }
    if token != want_token {
        what.push(format!("token is {token:#x}, expected {want_token:#x}"));
    }
    what.join("; ")
}

// ---------------------------------------------------------------------------
// The two kernels.

fn ms(d: Duration) -> String {
    format!("{:8.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Pages the image needs: one block per `count_per_block` entries of each
/// chain, one for the root table, and room for the image's own metadata
/// (a superblock page and two preserved-page bitmaps of one bit per page,
/// well under 1/1024 of the pages at any supported page size).
fn image_pages(cfg: &Config, counts: &[usize]) -> Result<usize, Failure> {
    let per = |size| count_per_block(cfg.page_size, size).map_err(run_err("block geometry"));
    let per_file = per(<LuoFileSer as kho::KhoEntry>::SIZE)?;
    let data = counts.iter().map(|n| n.div_ceil(per_file)).sum::<usize>()
        + cfg
            .sessions
            .div_ceil(per(<LuoSessionSer as kho::KhoEntry>::SIZE)?)
        + 1;
    Ok(data + data / 1024 + 16)
}

/// The old kernel: preserve, publish, kexec into the new kernel.
fn old_kernel(cfg: &Config) -> Result<(), Failure> {
    let counts = file_counts(cfg);
    let over_old_limit = counts
        .iter()
        .filter(|&&n| n > OLD_MAX_FILES_PER_SESSION)
        .count();
    println!(
        "live update: {} sessions, {} files (session {} holds {}), {}-byte pages",
        cfg.sessions,
        cfg.files,
        big_session(cfg),
        cfg.big_session_files,
        cfg.page_size
    );
    println!(
        "  the contiguous layout this replaces held at most {OLD_MAX_SESSIONS} sessions and \
         {OLD_MAX_FILES_PER_SESSION} files per session; {over_old_limit} sessions here hold more"
    );
    let others = counts
        .iter()
        .enumerate()
        .filter(|&(s, _)| s != big_session(cfg))
        .map(|(_, &n)| n);
    if let (Some(min), Some(max)) = (others.clone().min(), others.max()) {
        println!("  the other sessions hold {min} to {max} files each");
    }
    println!(
        "old kernel (pid {}): image {}",
        std::process::id(),
        cfg.image.display()
    );

    // Create: all allocation happens here, as LUO grows its chains when a
    // file is preserved. Growing is the step that can fail for lack of
    // memory, and it fails before anything is serialized.
    let t = Instant::now();
    let pages = image_pages(cfg, &counts)?;
    let config = FileMemoryConfig {
        base: IMAGE_BASE,
        page_size: cfg.page_size,
        pages,
    };
    let mem = FileMemory::create(&cfg.image, config).map_err(run_err("create image"))?;
    // The image is this run's from here. Its lock is held to the end of the
    // run through a duplicate of its descriptor (the same open file, so the
    // same lock), across the kexec too, so no other process can take the
    // image in between; it is removed (unless kept) before it is let go.
    let held = match mem.file().try_clone() {
        Ok(held) => held,
        Err(e) => {
            // Still locked by `mem`: the file is ours to remove.
            if !cfg.keep_image {
                let _ = std::fs::remove_file(&cfg.image);
            }
            drop(mem);
            return Err(Failure::Run(format!(
                "duplicate the image's descriptor: {e}"
            )));
        }
    };
    let result = hand_over(cfg, mem, &held, t, pages, &counts);
    if !cfg.keep_image {
        remove_if_ours(&cfg.image, &held);
    }
    result
}

/// Removes the image at `path` if it is still the file `held` (a run
/// never deletes an image someone else made at the same path).
fn remove_if_ours(path: &Path, held: &File) {
    let ours = match (held.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    if ours {
        // Best effort: the image was a scratch file.
        let _ = std::fs::remove_file(path);
    }
}

/// The old kernel with its image created: grow, save, publish, kexec.
fn hand_over(
    cfg: &Config,
    mut mem: FileMemory,
    held: &File,
    t: Instant,
    pages: usize,
    counts: &[usize],
) -> Result<(), Failure> {
    let mut file_sets = Vec::with_capacity(cfg.sessions);
    for (s, &n) in counts.iter().enumerate() {
        let mut set = BlockSet::<LuoFileSer, FileMemory>::new(&mem)
            .map_err(run_err(format_args!("session {s}: new file set")))?;
        set.grow(&mut mem, n)
            .map_err(run_err(format_args!("session {s}: grow to {n} files")))?;
        file_sets.push(set);
    }
    let mut session_set =
        BlockSet::<LuoSessionSer, FileMemory>::new(&mem).map_err(run_err("new session set"))?;
    session_set
        .grow(&mut mem, cfg.sessions)
        .map_err(run_err("grow the session set"))?;
    let blocks =
        file_sets.iter().map(|s| s.block_count()).sum::<usize>() + session_set.block_count();
    let create = t.elapsed();
    println!(
        "  create   {}  {pages}-page image, {blocks} blocks grown for {} chains",
        ms(create),
        cfg.sessions + 1
    );

    // Save: write into the capacity grown above, which cannot run out.
    let t = Instant::now();
    let mut heads = Vec::with_capacity(cfg.sessions);
    for (s, set) in file_sets.iter_mut().enumerate() {
        let mut writer = set
            .writer(&mut mem)
            .map_err(run_err(format_args!("session {s}: writer")))?;
        for f in 0..counts[s] {
            let entry =
                expected_file(s, f).map_err(run_err(format_args!("session {s}, file {f}")))?;
            writer
                .push(&entry)
                .map_err(run_err(format_args!("session {s}, file {f}: write")))?;
        }
        heads.push(
            writer
                .finish()
                .map_err(run_err(format_args!("session {s}: finish")))?,
        );
    }
    let mut writer = session_set
        .writer(&mut mem)
        .map_err(run_err("session set: writer"))?;
    for (s, (&head, &n)) in heads.iter().zip(counts).enumerate() {
        let entry = LuoSessionSer {
            name: CharArray::new(&session_name(s)).map_err(run_err(format_args!("session {s}")))?,
            file_set_ser: LuoFileSetSer {
                files: head,
                count: n as u64,
            },
        };
        writer
            .push(&entry)
            .map_err(run_err(format_args!("session {s}: write")))?;
    }
    writer.finish().map_err(run_err("finish the session set"))?;
    let save = t.elapsed();
    println!(
        "  save     {}  {} file and {} session entries written",
        ms(save),
        cfg.files,
        cfg.sessions
    );

    // Publish: the one root record is all the next kernel is told, the
    // role LUO's entry in the KHO FDT plays.
    let t = Instant::now();
    let record =
        RootRecord::for_set(SESSIONS_ROOT, &session_set).map_err(run_err("root record"))?;
    mem.publish(&[record]).map_err(run_err("publish"))?;
    let publish = t.elapsed();
    let preserved = mem.stats().preserved;
    println!(
        "  publish  {}  {SESSIONS_ROOT:?} at {}; {preserved} pages ({}) preserved",
        ms(publish),
        session_set.head(),
        mib(preserved * cfg.page_size)
    );
    // The old kernel is gone after a kexec; its image's lock is not.
    drop(mem);
    if cfg.pause_before_kexec {
        println!(
            "  paused before the kexec, holding the image: waiting for standard input to close"
        );
        let _ = std::io::stdout().flush();
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    }

    let exe = std::env::current_exe()
        .map_err(|e| Failure::Run(format!("cannot find this program to re-execute: {e}")))?;
    println!("  kexec: re-executing {} --restore", exe.display());
    let t = Instant::now();
    let image = held
        .try_clone()
        .map_err(|e| Failure::Run(format!("duplicate the image's descriptor: {e}")))?;
    let status = Command::new(&exe)
        .args(cfg.child_args())
        .stdin(Stdio::from(image))
        .status()
        .map_err(|e| Failure::Run(format!("cannot start the new kernel: {e}")))?;
    let child = t.elapsed();
    if !status.success() {
        return Err(Failure::Run(format!(
            "the new kernel failed ({status}); rerun with --keep-image to inspect the image"
        )));
    }
    println!(
        "live update OK: old kernel {} (create + save + publish), new kernel process {}",
        ms(create + save + publish).trim_start(),
        ms(child).trim_start()
    );
    Ok(())
}

/// The new kernel: restore everything, check every byte, release the pages.
fn new_kernel(cfg: &Config) -> Result<(), Failure> {
    let counts = file_counts(cfg);
    println!(
        "new kernel (pid {}): image {}",
        std::process::id(),
        cfg.image.display()
    );

    let t = Instant::now();
    // The old kernel passes the image, still locked, as standard input.
    let image = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|e| Failure::Run(format!("take the image from standard input: {e}")))?;
    let mut mem = FileMemory::open_file(image, &cfg.image).map_err(run_err(
        "open image (on standard input, from the old kernel)",
    ))?;
    let incoming = mem.stats().incoming;
    let record = *mem.find(SESSIONS_ROOT).map_err(run_err("root table"))?;
    let open = t.elapsed();
    println!(
        "  open           {}  generation {}, {incoming} incoming pages",
        ms(open),
        mem.generation()
    );

    let t = Instant::now();
    // Checks the recorded compatible string, entry size and fingerprint
    // before reading a single session.
    let session_set = mem
        .restore_set::<LuoSessionSer>(SESSIONS_ROOT)
        .map_err(run_err("session set"))?;
    if session_set.len() != cfg.sessions || { record.entries } != cfg.sessions as u64 {
        return Err(Failure::Run(format!(
            "session set: {} sessions in the chain, {} in the root record, expected {}",
            session_set.len(),
            { record.entries },
            cfg.sessions
        )));
    }
    let sessions: Vec<LuoSessionSer> = session_set
        .iter(&mem)
        .map_err(run_err("session set: read"))?
        .collect();
    let mut file_sets = Vec::with_capacity(cfg.sessions);
    let mut files = 0usize;
    for (s, (session, &count)) in sessions.iter().zip(&counts).enumerate() {
        let LuoFileSetSer {
            files: head,
            count: n,
        } = session.file_set_ser;
        let name = session.name;
        let expected_name = session_name(s);
        if name.as_bytes() != expected_name.as_bytes() {
            return Err(Failure::Run(format!(
                "session {s}: name is {:?}, expected {expected_name:?}",
                String::from_utf8_lossy(name.as_bytes())
            )));
        }
        if n != count as u64 {
            return Err(Failure::Run(format!(
                "session {s} ({expected_name}): count is {n}, expected {count}"
            )));
        }
        let set = BlockSet::<LuoFileSer, FileMemory>::restore(&mem, head).map_err(run_err(
            format_args!("session {s} ({expected_name}): file chain at {:#x}", head),
        ))?;
        if set.len() != count {
            return Err(Failure::Run(format!(
                "session {s} ({expected_name}): the file chain holds {} entries, the session \
                 records {n}",
                set.len()
            )));
        }
        let found_files = set
            .iter(&mem)
            .map_err(run_err(format_args!("session {s} ({expected_name}): read")))?;
        for (f, found) in found_files.enumerate() {
            let expected =
                expected_file(s, f).map_err(run_err(format_args!("session {s}, file {f}")))?;
            if found != expected {
                return Err(Failure::Run(format!(
                    "session {s} ({expected_name}), file {f}: {}",
                    describe_file_mismatch(&found, &expected)
                )));
            }
        }
        files += count;
        file_sets.push(set);
    }
    let blocks =
        session_set.block_count() + file_sets.iter().map(|s| s.block_count()).sum::<usize>();
    let verify = t.elapsed();
    let entries = cfg.sessions + files;
    println!(
        "  restore+verify {}  {} sessions, {files} files: {entries} entries in {blocks} blocks \
         ({}) checked byte for byte",
        ms(verify),
        cfg.sessions,
        mib(blocks * cfg.page_size)
    );
    // Every incoming page must belong to a chain that was restored: one
    // left over would be memory the old kernel leaked into the handover.
    if blocks != incoming {
        return Err(Failure::Run(format!(
            "{incoming} pages were handed over but the chains hold {blocks} blocks"
        )));
    }

    let t = Instant::now();
    for (s, set) in file_sets.iter_mut().enumerate() {
        set.destroy(&mut mem)
            .map_err(run_err(format_args!("session {s}: release file chain")))?;
    }
    let mut session_set = session_set;
    session_set
        .destroy(&mut mem)
        .map_err(run_err("release session chain"))?;
    let stats = mem.stats();
    let release = t.elapsed();
    println!(
        "  release        {}  {} pages restored (the root table's included), {} incoming left",
        ms(release),
        stats.restored,
        stats.incoming
    );
    if stats.incoming != 0 {
        return Err(Failure::Run(format!(
            "{} incoming pages were not released",
            stats.incoming
        )));
    }
    println!(
        "new kernel: {} (open + restore+verify + release)",
        ms(open + verify + release).trim_start()
    );
    Ok(())
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let cfg = match Config::parse(std::env::args_os().skip(1)) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("live_update: {e}");
            return ExitCode::from(2);
        }
    };
    let (who, result) = if cfg.restore {
        ("new kernel", new_kernel(&cfg))
    } else {
        // Removes the image it made (and only that) unless --keep-image.
        ("old kernel", old_kernel(&cfg))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("live_update: {who}: {e}");
            ExitCode::from(match e {
                Failure::Usage(_) => 2,
                Failure::Run(_) => 1,
            })
        }
    }
}
