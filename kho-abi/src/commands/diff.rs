//! `kho-abi diff OLD NEW`: compare two versions of the schemas for a
//! review.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::ValueEnum;

use super::emit_stdout;
use crate::review;
use crate::schemas::{self, LoadError};

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

Exit status: 0 when no ABI misses a bump; 1 when one does; 2 when a side
cannot be read or compiled (schema errors as file:line:col: message), is not
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
    let diffs = review::compare(&old, &new);
    let text = match args.format {
        Format::Markdown => review::markdown(&diffs),
        Format::Json => match serde_json::to_string_pretty(&review::json(&diffs)) {
            Ok(t) => t + "\n",
            Err(e) => {
                let _ = writeln!(io::stderr().lock(), "kho-abi: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let status = if review::fails(&diffs) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    emit_stdout(text.trim_end_matches('\n').as_bytes(), status)
}
