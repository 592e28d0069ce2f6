//! `kho-abi release NAME`: release a draft ABI, so that from then on its
//! layout changes only with a version bump.

use std::io::{self, Write};
use std::process::ExitCode;

use kho_schema::project::Problem;
use kho_schema::Error;

use super::{fail_lines, OutputArgs, RootArgs};

/// The long help of `release`.
pub const HELP: &str = "\
A draft ABI (`draft = true` in its schema's [abi] table) is not released: its
layout may change without a new version, and abi.lock records it as a draft.
`release NAME` removes the `draft = true` line from the schema of ABI NAME
(the line must hold only that key; otherwise it says where to remove it by
hand) and then generates as `generate` does, so that abi.lock records the
ABI's layout as released. Removing the line by hand and running `generate`
does the same.

Exit status: 0 when the ABI is released and every file written; 1 when no
schema declares NAME, when it is not a draft, when the schemas do not compile
(every error, as file:line:col: message) or when generate refuses (one line
per ABI or path); 2 for bad arguments.";

/// Release a draft ABI: remove `draft = true` from its schema and generate.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The ABI to release (its `[abi] name`).
    #[arg(value_name = "NAME")]
    name: String,

    #[command(flatten)]
    root: RootArgs,

    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `release`: status 0, or 1 with every problem, one a line.
pub fn exec(args: &Args) -> ExitCode {
    let project = args.output.apply(args.root.project());
    match project.release(&args.name) {
        Ok(files) => {
            let _ = writeln!(
                io::stderr().lock(),
                "kho-abi: released {}: {} records it, and {} files in {} are up to date",
                args.name,
                project.lock_path().display(),
                files.len(),
                project.generated_dir().display()
            );
            ExitCode::SUCCESS
        }
        Err(Error::Project(problems)) => {
            let text: Vec<String> = problems.iter().map(Problem::to_string).collect();
            fail_lines(&text.join("\n"))
        }
        Err(e) => fail_lines(&e.to_string()),
    }
}
