//! `kho-abi diff OLD NEW`: compare two versions of the schemas (or, with
//! `--headers`, of a directory of C headers) for a review.

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;

use clap::ValueEnum;
use kho_schema::diff::AbiDiff;
use kho_schema::view::AbiView;

use super::{emit_stdout, usage_error};
use crate::review;
use crate::schemas::{self, HeaderArgs, HeaderError, Headers, LoadError};

/// The long help of `diff`.
pub const HELP: &str = "\
Each side is one of:
  git:REV    the schemas/ directory at revision REV of the git repository
             around the current directory (git:HEAD, git:origin/main)
  DIR        every *.toml file of a directory
  FILE       one schema, with the schemas of its directory it depends on

ABIs are matched by name. For each, the verdict says what happened to its
compatible string: unchanged, doc only (no bump needed), bump present,
BUMP MISSING (the layout or a name changed, the compatible string did not),
added or removed. A dependency's bump changes the compatible string of every
ABI built on it.

Output (--format):
  markdown  the default: a review for a pull request, with each change
            classified (breaking, name only, additive, doc only) and where
            the schema declares it (file:line:col), and a field table
            (offset, size, type with bit ranges; old -> new) per changed
            struct.
  json      an array with one object per ABI:
              {\"abi\", \"verdict\", \"old_compatible\", \"new_compatible\",
               \"required_bump\", \"dependency_bumps\": [{\"abi\", \"old\", \"new\"}],
               \"changes\": [{\"kind\", \"place\", \"what\", \"at\"}],
               \"structs\": [{\"name\", \"old_size\", \"new_size\",
                 \"rows\": [{\"old\": {\"name\", \"type\", \"offset\", \"size\"} | null,
                           \"new\": ... | null, \"kind\"}]}]}
            verdicts: unchanged, doc_only, bump_present, bump_missing, added,
            removed, draft; kinds: breaking, name_only, additive, doc_only;
            \"at\" is the schema's file:line:col of the change (null when
            unknown, as for a side read from a lock).

With --headers, the sides are C headers (each *.h directly in a directory,
imported with libclang as `kho-abi import` does, with the same -I, -D and
--include), and each change is placed at the header's file:line:
  git:REV DIR  the headers of DIR at revision REV (of the git repository
               around DIR) against DIR as it is: `diff git:HEAD~1 --headers
               include/linux/kho/abi -I include ...`
  DIR DIR      two directories of headers
When an -I directory holds the (new) DIR, as `-I include` holds
include/linux/kho/abi, the old side's headers are read from that place on
the include path: an old header including another of them reads the old one.

Exit status: 0 when no ABI misses a bump; 1 when one does; 2 when a side
cannot be read or compiled (with --headers: a header cannot be imported, or
libclang cannot be loaded) (schema errors as file:line:col: message), is not
in a git repository, or names an unknown revision.";

/// Two versions of the schemas to compare.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The old side: git:REV, a directory, or a schema file.
    #[arg(value_name = "OLD")]
    old: OsString,

    /// The new side: git:REV, a directory, or a schema file.
    #[arg(value_name = "NEW")]
    new: OsString,

    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "markdown")]
    format: Format,

    /// The sides are directories of C headers (or git:REV of the other
    /// side's directory), not schemas.
    #[arg(long)]
    headers: bool,

    #[command(flatten)]
    cpp: HeaderArgs,
}

/// How `diff` prints its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A review for a pull request.
    Markdown,
    /// The same data as one JSON document.
    Json,
}

/// Runs `diff`: status 0, 1 when an ABI misses a bump, 2 when a side cannot
/// be loaded.
pub fn exec(args: &Args) -> ExitCode {
    if args.headers {
        return diff_headers(args);
    }
    let (old, new) = (schemas::load_side(&args.old), schemas::load_side(&args.new));
    let (old, new) = match (old, new) {
        (Ok(o), Ok(n)) => (o, n),
        (o, n) => {
            // Say everything that is wrong with either side.
            let mut lines = Vec::new();
            for e in [o.err(), n.err()].into_iter().flatten() {
                match e {
                    LoadError::Unreadable(reason) => lines.push(format!("kho-abi: {reason}")),
                    LoadError::Schema(diags) => lines.push(diags.to_string()),
                }
            }
            // Both sides can fail alike (git:A git:B outside a repository).
            lines.dedup();
            let _ = writeln!(io::stderr().lock(), "{}", lines.join("\n"));
            return ExitCode::from(2);
        }
    };
    report(args, &review::compare(&old, &new))
}

/// Prints the review of `diffs` in the format asked for.
fn report(args: &Args, diffs: &[AbiDiff]) -> ExitCode {
    let text = match args.format {
        Format::Markdown => review::markdown(diffs),
        Format::Json => match serde_json::to_string_pretty(&review::json(diffs)) {
            Ok(t) => t + "\n",
            Err(e) => {
                let _ = writeln!(io::stderr().lock(), "kho-abi: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let status = if review::fails(diffs) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    emit_stdout(text.trim_end_matches('\n').as_bytes(), status)
}

/// The revision of a `git:REV` side.
fn git_rev(side: &OsStr) -> Option<&OsStr> {
    side.as_bytes().strip_prefix(b"git:").map(OsStr::from_bytes)
}

/// `diff --headers`: each side imported from C headers, each change placed
/// at its header line.
fn diff_headers(args: &Args) -> ExitCode {
    let sides = match (git_rev(&args.old), git_rev(&args.new)) {
        (Some(_), Some(_)) => {
            usage_error(
                "diff",
                "with --headers one side is the header directory (git:REV DIR, or DIR DIR): \
                 two git: sides name no directory",
            )
            .exit();
        }
        (Some(r), None) => {
            let dir = Path::new(&args.new);
            (
                schemas::git_headers(r, dir, &args.cpp),
                schemas::load_headers(dir, &args.cpp),
            )
        }
        (None, Some(r)) => {
            let dir = Path::new(&args.old);
            (
                schemas::load_headers(dir, &args.cpp),
                schemas::git_headers(r, dir, &args.cpp),
            )
        }
        // The old side stands in for the new one on the include path.
        (None, None) => (
            schemas::load_headers_at(Path::new(&args.old), Path::new(&args.new), &args.cpp),
            schemas::load_headers(Path::new(&args.new), &args.cpp),
        ),
    };
    let (old, new) = match sides {
        (Ok(o), Ok(n)) => (o, n),
        (o, n) => {
            let mut lines: Vec<String> = [o.err(), n.err()]
                .into_iter()
                .flatten()
                .map(|e: HeaderError| e.to_string())
                .collect();
            lines.dedup();
            let _ = writeln!(io::stderr().lock(), "{}", lines.join("\n"));
            return ExitCode::from(2);
        }
    };
    let views = |h: &Headers| -> Vec<AbiView> { h.abis.iter().map(AbiView::of).collect() };
    let mut diffs = kho_schema::diff::diff(&views(&old), &views(&new));
    // A change is at the new side's place, a removed one at the old's.
    for d in &mut diffs {
        for c in d
            .changes
            .iter_mut()
            .chain(d.bumps.iter_mut().map(|b| &mut b.change))
        {
            let at = new
                .locate(&d.name, &c.place, c.at.as_deref())
                .or_else(|| old.locate(&d.name, &c.place, c.at.as_deref()));
            if at.is_some() {
                c.at = at;
            }
        }
    }
    report(args, &diffs)
}
