//! `kho-abi lock --headers DIR --lock FILE`: record the layouts and
//! compatible macros of a directory of C headers (the kernel's
//! `include/linux/kho/abi/`), as `generate` records those of the schemas.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kho_schema::diff::{self, AbiDiff, Verdict};
use kho_schema::fs::{self, OutDir};
use kho_schema::lock::{self, Lock};
use kho_schema::view::AbiView;
use kho_schema::Field;

use super::{fail, fail_lines};
use crate::schemas::{self, HeaderArgs, HeaderError, Headers};

/// The long help of `lock`.
pub const HELP: &str = "\
Imports every *.h directly under --headers DIR with libclang (as `kho-abi
import` does, with the same -I, -D and --include), and writes FILE: for
each header's ABI its compatible string, its layout and fingerprint, and each
further compatible macro with its string and the structs it covers. The
format is that of schemas/abi.lock, so the same lock can be read by `check
--headers` and by `diff`.

It refuses, leaving FILE as it was, when FILE records a layout that changed
while the compatible macro covering it kept its value: bump the macro (for
example \"memfd-v1\" to \"memfd-v2\") first. Each refusal names the
struct.field, the header's file:line and the macro.

FILE is written to a temporary file beside it, synced and renamed over it:
it holds its old text or its new one. A FILE that is a symlink, a FIFO or a
directory is refused.

Exit status: 0 when FILE is written (or already up to date); 1 when a header
cannot be imported (header:line:col: what), FILE cannot be read or written,
or a bump is missing; 2 for bad arguments or when libclang cannot be loaded.";

/// Record the layouts of a directory of C headers in a lock file.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The directory of the ABI headers (each *.h directly in it).
    #[arg(long, value_name = "DIR")]
    headers: PathBuf,

    /// The lock file to write.
    #[arg(long, value_name = "FILE")]
    lock: PathBuf,

    #[command(flatten)]
    cpp: HeaderArgs,
}

/// Runs `lock`: FILE written (status 0), or left as it was (1, 2).
pub fn exec(args: &Args) -> ExitCode {
    let Some((dir, name)) = split_lock_path(&args.lock) else {
        return fail(&format!(
            "{}: --lock names a file (e.g. include/linux/kho/abi.lock)",
            args.lock.display()
        ));
    };
    let headers = match schemas::load_headers(&args.headers, &args.cpp) {
        Ok(h) => h,
        Err(e) => return header_failure(&e),
    };
    let old = match read_lock(&args.lock) {
        Ok(l) => l,
        Err(why) => return fail(&why),
    };
    let refused = missing_bumps(&headers, &old);
    if !refused.is_empty() {
        let mut text = refused;
        text.push(format!(
            "kho-abi: lock wrote nothing; {} is as it was",
            args.lock.display()
        ));
        return fail_lines(&text.join("\n"));
    }
    let text = lock::render(&headers.abis);
    let out = OutDir::new(dir);
    let unchanged = fs::read_text(&args.lock, fs::MAX_INPUT).is_ok_and(|t| t == text);
    if !unchanged {
        if let Err(e) = out.write(&name, text.as_bytes()) {
            return fail(&format!("{}: {}", e.path.display(), e.reason()));
        }
    }
    eprintln!(
        "kho-abi: {} records {} from {}{}",
        args.lock.display(),
        plural(headers.abis.len(), "ABI"),
        args.headers.display(),
        if unchanged { " (unchanged)" } else { "" }
    );
    ExitCode::SUCCESS
}

/// `n ABIs`, `1 ABI`.
pub fn plural(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// A header failure: a missing libclang is exit 2 (the machine, not the
/// input), anything else 1.
pub fn header_failure(e: &HeaderError) -> ExitCode {
    match e {
        HeaderError::NoLibclang(line) => {
            eprintln!("{line}");
            ExitCode::from(2)
        }
        HeaderError::Bad(line) => fail_lines(line),
    }
}

/// The directory and the file name of a lock path.
fn split_lock_path(path: &Path) -> Option<(PathBuf, String)> {
    let name = path.file_name()?.to_str()?.to_string();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((dir, name))
}

/// The lock at `path`, empty when there is none; a symlink, FIFO or broken
/// lock is refused with one line.
pub fn read_lock(path: &Path) -> Result<Lock, String> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::new()),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!(
                "{}: is a symlink; kho does not write through links: replace it with a \
                 regular file",
                path.display()
            ))
        }
        _ => {}
    }
    let text = fs::read_text(path, fs::MAX_INPUT)
        .map_err(|e| format!("{}: {}", e.path.display(), e.reason()))?;
    lock::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The headers' ABIs compared with what `lock` records.
pub fn compare(headers: &Headers, lock: &Lock) -> Vec<AbiDiff> {
    let new: Vec<AbiView> = headers.abis.iter().map(AbiView::of).collect();
    let old: Vec<AbiView> = lock.iter().filter_map(|(n, l)| l.view(n)).collect();
    let mut diffs = diff::diff(&old, &new);
    relocate(headers, &mut diffs);
    diffs
}

/// Points every change at the header line it came from instead of the
/// line of the imported schema.
pub fn relocate(headers: &Headers, diffs: &mut [AbiDiff]) {
    for d in diffs {
        for c in d
            .changes
            .iter_mut()
            .chain(d.bumps.iter_mut().map(|b| &mut b.change))
        {
            if let Some(at) = headers.locate(&d.name, &c.place, c.at.as_deref()) {
                c.at = Some(at);
            }
        }
    }
}

/// One line per compatible macro whose structs changed since `lock` while
/// its value did not: `header:line: abi: struct.field: old -> new, but
/// MACRO is still "v": bump MACRO to "v+1"`.
pub fn missing_bumps(headers: &Headers, lock: &Lock) -> Vec<String> {
    let mut out = Vec::new();
    for d in compare(headers, lock) {
        if d.verdict != Verdict::BumpMissing {
            continue;
        }
        let abi = headers.abis.iter().find(|a| a.name == d.name);
        let file = abi.and_then(|a| headers.header_of(a)).unwrap_or(&d.name);
        for b in &d.bumps {
            let c = &b.change;
            let at = c.at.clone().unwrap_or_else(|| file.to_string());
            let macro_name = match (b.macro_name.is_empty(), abi) {
                (false, _) => b.macro_name.clone(),
                (true, Some(a)) => a
                    .compatibles()
                    .iter()
                    .find(|m| m.main)
                    .map_or_else(|| "the compatible macro".into(), |m| m.macro_name.clone()),
                (true, None) => "the compatible macro".into(),
            };
            let sides = field_sides(&d, &c.place).map_or(String::new(), |s| format!(" ({s})"));
            let also = if b.also.is_empty() {
                String::new()
            } else {
                format!(" (also changed: {})", b.also.join(", "))
            };
            out.push(format!(
                "{at}: {}: {} {}{sides}, but {macro_name} is still {:?}: bump {macro_name} \
                 to {:?}{also}",
                d.name,
                c.place,
                c.what,
                b.compatible,
                next_version(&b.compatible)
            ));
        }
    }
    out
}

/// `old: offset 0 size 8 u64 bits 0:52; new: offset 0 size 8 u64 bits
/// 0:51` for the field at `place` (`struct.field`) in the field tables.
fn field_sides(d: &AbiDiff, place: &str) -> Option<String> {
    let (strukt, field) = place.split_once('.')?;
    let s = d.structs.iter().find(|s| s.name == strukt)?;
    let row = s.rows.iter().find(|r| {
        r.new
            .as_ref()
            .or(r.old.as_ref())
            .is_some_and(|f| f.name == field)
    })?;
    let side = |f: Option<&Field<'static>>| {
        f.map_or_else(
            || "none".to_string(),
            |f| {
                let bits = f
                    .bits
                    .map_or(String::new(), |b| format!(" bits {}:{}", b.first, b.width));
                format!("offset {} size {} type {}{bits}", f.offset, f.size, f.ty)
            },
        )
    };
    Some(format!(
        "old: {}; new: {}",
        side(row.old.as_ref()),
        side(row.new.as_ref())
    ))
}

/// `memfd-v2` for `memfd-v1`.
fn next_version(s: &str) -> String {
    match s.rsplit_once("-v").map(|(n, v)| (n, v.parse::<u64>())) {
        Some((n, Ok(v))) => format!("{n}-v{}", v.saturating_add(1)),
        _ => format!("{s} with a new version"),
    }
}
