//! `kho-abi`: inspect and review Kexec HandOver serialization-block ABIs.
//!
//! - `inspect` restores block sets from a memory image and prints their
//!   entries (raw bytes, or decoded with a schema). Exit status: 0 when
//!   every chain asked about restores, 1 when the image, a chain or the
//!   schema is invalid, 2 for bad arguments.
//! - `generate` writes `schemas/generated/` and `schemas/abi.lock` from
//!   `schemas/*.toml` (or the schemas of `--schemas DIR`, into `--out DIR`,
//!   only the languages of `--only c,rust,markdown`); `check` proves they
//!   agree. Exit status 0, or 1 with every problem on stderr, one a line.
//! - `release NAME` releases a draft ABI: from then on its layout changes
//!   only with a version bump. Exit status 0, or 1 with every problem.
//! - `diff OLD NEW` compares two versions of the schemas for a review.
//!   Exit status 0, 1 when an ABI changed without a new compatible string,
//!   2 when a side cannot be read or compiled.
//!
//! Each command lives in its own module under `commands/` (as cargo's
//! `src/bin/cargo/commands/`): its arguments, its help and its `exec`.
//! This file only parses the command line and dispatches. The modules
//! beside `commands/` are what the commands share.
#![forbid(unsafe_code)]

mod commands;
mod decode;
mod elfcore;
mod parse;
mod restore;
mod review;
mod schemas;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Inspect and review Kexec HandOver (KHO) serialization-block ABIs.
#[derive(Debug, Parser)]
#[command(name = "kho-abi", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Restore block sets from a memory image and print their entries.
    Inspect(commands::inspect::Args),
    /// Write schemas/generated/ (or --out) and abi.lock from the schemas.
    Generate(commands::generate::Args),
    /// Check that generated files and abi.lock match the schemas, and that
    /// no layout changed without a version bump.
    Check(commands::check::Args),
    /// Compare two versions of the schemas: a review for a pull request.
    Diff(commands::diff::Args),
    /// Read C headers (through libclang) into schemas, one per header.
    Import(commands::import::Args),
    /// Record the layouts of a directory of C headers in a lock file.
    Lock(commands::lock::Args),
    /// Release a draft ABI: remove `draft = true` from its schema and
    /// generate, so that abi.lock records it as released.
    Release(commands::release::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Inspect(args) => commands::inspect::exec(&args),
        Command::Generate(args) => commands::generate::exec(&args),
        Command::Check(args) => commands::check::exec(&args),
        Command::Diff(args) => commands::diff::exec(&args),
        Command::Lock(args) => commands::lock::exec(&args),
        Command::Release(args) => commands::release::exec(&args),
        Command::Import(args) => commands::import::exec(&args),
    }
}
