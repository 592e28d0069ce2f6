//! `kho-abi check`: prove that `schemas/generated/` and `schemas/abi.lock`
//! are what `generate` would write, or (`--headers DIR --lock FILE`) that a
//! directory of C headers changed no layout without its compatible macro,
//! changing nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use kho_schema::diff::Verdict;
use kho_schema::lock::Locked;
use kho_schema::project::Problem;

use super::lock::{self as header_lock, plural};
use super::{emit_stdout, fail, fail_lines, OutputArgs, RootArgs};
use crate::schemas::{self, HeaderArgs};

/// The long help of `check`.
pub const HELP: &str = "\
Checks what `generate` with the same --root/--schemas, --out and --only would
write. Fails when a layout changed while its compatible string stayed the same, when
abi.lock does not record what generate would write, or when a generated file
is missing, out of date, or generated from no schema, and reports what
generate would refuse to touch (a symlink, a file without the generated-file
banner, a FIFO under schemas/generated/). Changes nothing and follows no
symlink there.

With --headers DIR --lock FILE (and the -I, -D, --include of `kho-abi
import`), checks C headers instead: every *.h directly under DIR is imported
with libclang and compared with what `kho-abi lock` recorded in FILE. A
struct whose layout changed while the compatible macro covering it kept its
value fails, one line per macro: the header's file:line, struct.field, the
old and new offset, size and type (bits of a bit field), the macro and the
value to bump it to. A changed layout under a bumped macro passes, and says
that FILE needs `kho-abi lock`. Only FILE is read besides the headers;
nothing is written.

Exit status: 0, printing 'ok: N ABIs, M generated files up to date' (with
--headers: 'ok: N ABIs in DIR: ...', and a line when FILE needs `kho-abi
lock`); 1 with every problem on stderr, one a line (schema errors as
file:line:col: message, header errors as header:line:col: message); 2 for bad
arguments or, with --headers, when libclang cannot be loaded.";

/// Check that generated files and abi.lock match the schemas, and that no
/// layout changed without a version bump.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub struct Args {
    #[command(flatten)]
    root: RootArgs,

    #[command(flatten)]
    output: OutputArgs,

    /// Check the C headers directly under DIR against --lock instead of
    /// the schemas.
    #[arg(
        long,
        value_name = "DIR",
        requires = "lock",
        conflicts_with_all = ["root", "schemas", "out", "only"]
    )]
    headers: Option<PathBuf>,

    /// The lock `kho-abi lock --headers` wrote (with --headers).
    #[arg(long, value_name = "FILE", requires = "headers")]
    lock: Option<PathBuf>,

    #[command(flatten)]
    cpp: HeaderArgs,
}

/// Runs `check`: status 0 and one `ok:` line, or 1 and every problem.
pub fn exec(args: &Args) -> ExitCode {
    if let (Some(dir), Some(lock)) = (&args.headers, &args.lock) {
        return check_headers(dir, lock, &args.cpp);
    }
    let project = args.output.apply(args.root.project());
    let problems = project.check();
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(Problem::to_string).collect();
        return fail_lines(&text.join("\n"));
    }
    // Nothing is wrong, so the schemas compile and the files on disk are
    // exactly the ones generate writes: count those.
    let abis = project.load().unwrap_or_default();
    let files = project.files(&abis).len();
    let plural = |n: usize, what: &str| match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    };
    let line = format!(
        "ok: {}, {} up to date",
        plural(abis.len(), "ABI"),
        plural(files, "generated file")
    );
    emit_stdout(line.as_bytes(), ExitCode::SUCCESS)
}

/// `check --headers DIR --lock FILE`.
fn check_headers(dir: &std::path::Path, lock: &std::path::Path, cpp: &HeaderArgs) -> ExitCode {
    let headers = match schemas::load_headers(dir, cpp) {
        Ok(h) => h,
        Err(e) => return header_lock::header_failure(&e),
    };
    // A lock that is not there is an error here: nothing to check against.
    if std::fs::symlink_metadata(lock).is_err() {
        return fail(&format!(
            "{}: no such lock; write it with `kho-abi lock --headers {} --lock {}`",
            lock.display(),
            dir.display(),
            lock.display()
        ));
    }
    let recorded = match header_lock::read_lock(lock) {
        Ok(l) => l,
        Err(why) => return fail(&why),
    };
    let problems = header_lock::missing_bumps(&headers, &recorded);
    if !problems.is_empty() {
        return fail_lines(&problems.join("\n"));
    }
    let mut lines = vec![format!(
        "ok: {} in {}: no layout changed since {} under an unchanged compatible macro",
        plural(headers.abis.len(), "ABI"),
        dir.display(),
        lock.display()
    )];
    // Bumped, added or removed ABIs pass, but the lock is behind.
    let mut stale = Vec::new();
    for d in header_lock::compare(&headers, &recorded) {
        match d.verdict {
            Verdict::Added => stale.push(format!("{} is new", d.name)),
            Verdict::Removed => stale.push(format!("{} is gone", d.name)),
            _ => {
                let abi = headers.abis.iter().find(|a| a.name == d.name);
                let now = abi.map(Locked::of);
                if let (Some(now), Some(was)) = (now, recorded.get(&d.name)) {
                    if now.compatible != was.compatible {
                        stale.push(format!(
                            "{} is {} (was {})",
                            d.name, now.compatible, was.compatible
                        ));
                    } else if &now != was {
                        stale.push(format!("{} changed", d.name));
                    }
                }
            }
        }
    }
    if !stale.is_empty() {
        lines.push(format!(
            "{} needs `kho-abi lock`: {}",
            lock.display(),
            stale.join(", ")
        ));
    }
    emit_stdout(lines.join("\n").as_bytes(), ExitCode::SUCCESS)
}
