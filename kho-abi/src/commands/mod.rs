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
pub mod import;
pub mod inspect;
pub mod lock;
pub mod release;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::CommandFactory;
use kho_schema::emit;
use kho_schema::project::Project;

/// Where the repository is (`generate`, `check`, `release`).
#[derive(Debug, clap::Args)]
pub struct RootArgs {
    /// The repository root, holding schemas/ [default: the current directory].
    #[arg(long, value_name = "DIR", conflicts_with = "schemas")]
    root: Option<PathBuf>,

    /// The schema directory (*.toml and abi.lock) [default: ROOT/schemas].
    #[arg(long, value_name = "DIR")]
    schemas: Option<PathBuf>,
}

impl RootArgs {
    /// The project at `--root` (or with its schemas at `--schemas`).
    pub fn project(&self) -> Project {
        // No root means paths relative to here: `schemas/luo.toml`, not
        // `./schemas/luo.toml`.
        let p = Project::new(self.root.clone().unwrap_or_default());
        match &self.schemas {
            Some(dir) => p.with_schema_dir(dir),
            None => p,
        }
    }
}

/// What `generate` writes and `check` checks.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// The output directory [default: generated/ beside the schemas]. It
    /// gets the same tree: c/, rust/, doc/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Only these languages (repeat the flag or separate with commas)
    /// [default: all three].
    #[arg(long, value_enum, value_name = "LANG", value_delimiter = ',')]
    only: Vec<Lang>,
}

/// `--only`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// C headers, under c/.
    C,
    /// Rust modules, under rust/.
    Rust,
    /// Markdown layout tables, under doc/.
    Markdown,
}

impl OutputArgs {
    /// `project` writing (or checked) where and in what these say.
    pub fn apply(&self, project: Project) -> Project {
        let project = match &self.out {
            Some(dir) => project.with_out_dir(dir),
            None => project,
        };
        let langs: Vec<emit::Lang> = self
            .only
            .iter()
            .map(|l| match l {
                Lang::C => emit::Lang::C,
                Lang::Rust => emit::Lang::Rust,
                Lang::Markdown => emit::Lang::Markdown,
            })
            .collect();
        project.with_only(&langs)
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
