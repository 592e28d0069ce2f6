//! `kho-abi generate`: write `schemas/generated/` and `schemas/abi.lock`
//! from `schemas/*.toml`.

use std::io::{self, Write};
use std::process::ExitCode;

use kho_schema::project::Problem;
use kho_schema::Error;

use super::{fail_lines, OutputArgs, RootArgs};

/// The long help of `generate`.
pub const HELP: &str = "\
Compiles every schemas/*.toml under the root (or every *.toml of --schemas
DIR), writes the C headers, Rust modules and Markdown tables under
schemas/generated/ (or --out DIR), in c/, rust/ and doc/ (removing files no
schema generates any more), and records each ABI's compatible string and
layout in abi.lock beside the schemas.

--only c|rust|markdown (repeated, or a comma list) writes only those
languages; the directories of the others are left as they are, not even
looked at. abi.lock is written whatever --only says. --out DIR is created if
missing and taken as given (it may be a symlink you made); below it the rules
are those of schemas/generated/.

It refuses, writing nothing, when abi.lock shows that a layout changed while
its compatible string stayed the same: bump the ABI's version first.

Everything it writes stays inside the output directory and the schema
directory: no path with '..', no symlink followed, on the way or at the end.
Each file is written to a temporary file beside it, synced, and renamed over the old one once every file is written:
a failed write (a full disk) leaves every old file as it was, and a file
always holds its old text or its new one. It removes only regular files
that carry the generated-file banner. A symlink under schemas/generated/ (or
as abi.lock), a file there without the banner, a FIFO or device, or a schema
`header` that leaves the directory is reported, one line each, and it then
writes and removes nothing.

Schema files and abi.lock must be regular files (a symlink to one is read) of
at most 16 MiB.

Exit status: 0 when everything is written; 1 when the schemas do not compile
(every error, as file:line:col: message) or generate refuses (one line per
ABI or path); 2 for bad arguments.";

/// Write schemas/generated/ and schemas/abi.lock from schemas/*.toml.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub struct Args {
    #[command(flatten)]
    root: RootArgs,

    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `generate`: every file is written, or (status 1) nothing is.
pub fn exec(args: &Args) -> ExitCode {
    let project = args.output.apply(args.root.project());
    match project.generate() {
        Ok(files) => {
            let _ = writeln!(
                io::stderr().lock(),
                "kho-abi: {} and {} files in {} are up to date",
                project.lock_path().display(),
                files.len(),
                project.generated_dir().display()
            );
            ExitCode::SUCCESS
        }
        Err(Error::Project(problems)) => {
            let refused = problems
                .iter()
                .any(|p| matches!(p, Problem::MissingBump(_)));
            let mut text: Vec<String> = problems.iter().map(Problem::to_string).collect();
            if refused {
                text.push("kho-abi: generate wrote nothing".into());
            }
            fail_lines(&text.join("\n"))
        }
        // The schemas do not compile: every error, one a line.
        Err(e) => fail_lines(&e.to_string()),
    }
}
