//! One module per command, each with its arguments (a clap `Args` struct),
//! its long help and its `exec`. Every `exec` checks all that the arguments
//! alone can tell before it reads a file, so a bad command line exits with
//! status 2 and one line on stderr having touched nothing.
//!
//! The helpers here are how every command reports: usage errors as clap
//! reports its own (status 2), refusals as one line (status 1).

pub mod check;
pub mod diff;
pub mod generate;
pub mod inspect;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::CommandFactory;
use kho_schema::project::Project;

/// Where the repository is (`generate`, `check`).
#[derive(Debug, clap::Args)]
pub struct RootArgs {
    /// The repository root, holding schemas/ [default: the current directory].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

impl RootArgs {
    /// The project at `--root`.
    pub fn project(&self) -> Project {
        // No root means paths relative to here: `schemas/luo.toml`, not
        // `./schemas/luo.toml`.
        Project::new(self.root.clone().unwrap_or_default())
    }
}

/// A usage error of `subcommand`, reported as clap reports its own (exit
/// status 2).
pub fn usage_error(subcommand: &str, message: impl std::fmt::Display) -> clap::Error {
    let mut cmd = crate::Cli::command();
    cmd.build();
    match cmd.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(ErrorKind::ValueValidation, message),
        None => cmd.error(ErrorKind::ValueValidation, message),
    }
}

/// Writes `text` and a newline to stdout, then returns `status`.
pub fn emit_stdout(text: &[u8], status: ExitCode) -> ExitCode {
    let mut out = io::stdout().lock();
    match out
        .write_all(text)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
    {
        Ok(()) => status,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => status,
        Err(e) => fail(&format!("writing output: {e}")),
    }
}

/// Reports `text` (lines of `file:line:col: message` or problems) on stderr
/// as it is and returns exit status 1.
pub fn fail_lines(text: &str) -> ExitCode {
    let _ = writeln!(io::stderr().lock(), "{text}");
    ExitCode::FAILURE
}

/// Reports `reason` as one line on stderr and returns exit status 1.
pub fn fail(reason: &str) -> ExitCode {
    let mut line = String::with_capacity(reason.len());
    for c in reason.chars() {
        match c {
            '\n' | '\r' => line.extend(c.escape_debug()),
            _ => line.push(c),
        }
    }
    // Nothing better to do if stderr is gone too.
    let _ = writeln!(io::stderr().lock(), "kho-abi: {line}");
    ExitCode::FAILURE
}
