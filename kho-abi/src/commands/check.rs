//! `kho-abi check`: prove that `schemas/generated/` and `schemas/abi.lock`
//! are what `generate` would write, changing nothing.

use std::process::ExitCode;

use kho_schema::project::Problem;

use super::{emit_stdout, fail_lines, OutputArgs, RootArgs};

/// The long help of `check`.
pub const HELP: &str = "\
Checks what `generate` with the same --root/--schemas, --out and --only would
write. Fails when a layout changed while its compatible string stayed the same, when
abi.lock does not record what generate would write, or when a generated file
is missing, out of date, or generated from no schema, and reports what
generate would refuse to touch (a symlink, a file without the generated-file
banner, a FIFO under schemas/generated/). Changes nothing and follows no
symlink there.

Exit status: 0, printing 'ok: N ABIs, M generated files up to date'; 1 with
every problem on stderr, one a line (schema errors as file:line:col: message);
2 for bad arguments.";

/// Check that generated files and abi.lock match the schemas, and that no
/// layout changed without a version bump.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub struct Args {
    #[command(flatten)]
    root: RootArgs,

    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `check`: status 0 and one `ok:` line, or 1 and every problem.
pub fn exec(args: &Args) -> ExitCode {
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
