//! `kho-abi`: inspect and review Kexec HandOver serialization-block ABIs.
//!
//! Exit status: 0 when every block chain asked about restores, 1 when the
//! image or a chain is invalid (one line on stderr says why), 2 for bad
//! arguments (clap's usage errors and the checks in [`InspectArgs::mode`]).
#![forbid(unsafe_code)]

mod inspect;
mod parse;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use kho_runtime::{count_per_block, DEFAULT_MAX_BLOCKS, HEADER_SIZE};

use inspect::{ChainFormat, Failure, RawChain, TableFormat};

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
    Inspect(InspectArgs),
}

const INSPECT_HELP: &str = "\
Modes:
  Raw dump (--base, --head and --entry-size, all three): FILE is a raw dump of
  physical memory, byte k at physical address BASE + k. The block set whose
  first block is at HEAD is restored as the next kernel restores it: each
  block must be a page-aligned page inside the dump with an entry count in
  1..=count_per_block, the chain must not loop or pass --max-blocks blocks.
  Its entries are then printed in chain order.

  Image (--image alone): FILE is a kho FileMemory image. Every block set in
  its root table is restored and checked against its record (entries, blocks,
  no block in two sets), then the root table is listed.

Output (--format):
  hex    raw dump, the default: one line per entry, the entry's bytes as
         lowercase hex without separators, and nothing else. An empty set
         (head 0) prints nothing.
  table  image, the default: a header line, then one line per block set:
         NAME COMPATIBLE HEAD ENTRY SIZE ENTRIES BLOCKS FINGERPRINT.
  json   raw dump: one document
           {\"head\": \"0x..\", \"page_size\": N, \"entry_size\": N,
            \"count_per_block\": N,
            \"blocks\": [{\"index\": N, \"addr\": \"0x..\", \"count\": N}, ...],
            \"entries\": [\"<hex>\", ...]}
         image: an array of
           {\"name\": \"..\", \"compatible\": \"..\", \"head\": \"0x..\",
            \"entry_size\": N, \"entries\": N, \"blocks\": N,
            \"fingerprint\": \"0x<16 hex digits>\"}
         Addresses are strings of 0x-prefixed lowercase hex; sizes and counts
         are numbers.

Numbers are decimal or 0x-prefixed hex; '_' may separate digits.

Exit status: 0 when every block set restores; 1 when the image or a chain is
invalid, with one line on stderr naming the block index and address; 2 for
bad arguments.";

/// Restore block sets from a memory image and print their entries.
#[derive(Debug, Args)]
#[command(after_long_help = INSPECT_HELP)]
struct InspectArgs {
    /// The memory image: a raw dump (with --base, --head, --entry-size) or a
    /// kho FileMemory image (alone).
    #[arg(long, value_name = "FILE")]
    image: String,

    /// Physical address of the raw dump's first byte (page aligned).
    #[arg(long, value_name = "ADDR", value_parser = parse::addr,
          requires_all = ["head", "entry_size"])]
    base: Option<u64>,

    /// Physical address of the set's first block (0: an empty set).
    #[arg(long, value_name = "ADDR", value_parser = parse::addr,
          requires_all = ["base", "entry_size"])]
    head: Option<u64>,

    /// Bytes per entry: 1 up to the page size minus the 16-byte block header.
    #[arg(long, value_name = "BYTES", value_parser = parse::entry_size,
          requires_all = ["base", "head"])]
    entry_size: Option<usize>,

    /// Page (block) size of the raw dump: 4096, 16384 or 65536.
    #[arg(long, value_name = "BYTES", value_parser = parse::page_size,
          default_value = "4096", requires = "base")]
    page_size: usize,

    /// Refuse a chain of more blocks than this (the kernel's KHO_MAX_BLOCKS).
    #[arg(long, value_name = "N", value_parser = parse::count,
          default_value_t = DEFAULT_MAX_BLOCKS)]
    max_blocks: usize,

    /// Output format [default: hex for a raw dump, table for an image].
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One line of hex per entry (raw dump).
    Hex,
    /// An aligned table of the root table (image).
    Table,
    /// One JSON document.
    Json,
}

/// What `inspect` was asked to do, once the arguments agree.
enum Mode {
    Raw(RawChain, ChainFormat),
    Image(TableFormat),
}

impl InspectArgs {
    /// Checks what clap cannot see one argument at a time.
    fn mode(&self) -> Result<Mode, clap::Error> {
        match (self.base, self.head, self.entry_size) {
            (Some(base), Some(head), Some(entry_size)) => self.raw_mode(base, head, entry_size),
            // clap's `requires_all` leaves all three or none.
            _ => match self.format {
                None | Some(Format::Table) => Ok(Mode::Image(TableFormat::Table)),
                Some(Format::Json) => Ok(Mode::Image(TableFormat::Json)),
                Some(Format::Hex) => Err(usage_error(
                    "--format hex needs a raw dump (--base, --head, --entry-size); \
                     an image lists as 'table' or 'json'",
                )),
            },
        }
    }

    fn raw_mode(&self, base: u64, head: u64, entry_size: usize) -> Result<Mode, clap::Error> {
        let format = match self.format {
            None | Some(Format::Hex) => ChainFormat::Hex,
            Some(Format::Json) => ChainFormat::Json,
            Some(Format::Table) => {
                return Err(usage_error(
                    "--format table lists an image's root table; \
                     a raw dump prints as 'hex' or 'json'",
                ))
            }
        };
        let page_size = self.page_size;
        if count_per_block(page_size, entry_size).is_err() {
            return Err(usage_error(format!(
                "invalid value '{entry_size}' for '--entry-size <BYTES>': \
                 a {page_size}-byte block holds entries of 1 to {} bytes \
                 after its {HEADER_SIZE}-byte header",
                page_size.saturating_sub(HEADER_SIZE)
            )));
        }
        if !base.is_multiple_of(page_size as u64) {
            return Err(usage_error(format!(
                "invalid value '{base:#x}' for '--base <ADDR>': \
                 not aligned to the {page_size}-byte page"
            )));
        }
        let chain = RawChain {
            image: self.image.clone(),
            base,
            head,
            page_size,
            entry_size,
            max_blocks: self.max_blocks,
        };
        Ok(Mode::Raw(chain, format))
    }
}

/// A usage error reported as clap reports its own (exit status 2).
fn usage_error(message: impl std::fmt::Display) -> clap::Error {
    let mut cmd = Cli::command();
    cmd.build();
    match cmd.find_subcommand_mut("inspect") {
        Some(inspect) => inspect.error(ErrorKind::ValueValidation, message),
        None => cmd.error(ErrorKind::ValueValidation, message),
    }
}

fn main() -> ExitCode {
    let Command::Inspect(args) = Cli::parse().command;
    let mode = match args.mode() {
        Ok(mode) => mode,
        Err(e) => e.exit(),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let res = match mode {
        Mode::Raw(req, format) => inspect::raw_chain(&req, format, &mut out),
        Mode::Image(format) => inspect::image_table(&args.image, args.max_blocks, format, &mut out),
    }
    .and_then(|()| out.flush().map_err(Failure::Output));
    match res {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): what it wanted, it has.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => fail(&format!("writing output: {e}")),
        Err(Failure::Invalid(reason)) => fail(&reason),
    }
}

/// Reports `reason` as one line on stderr and returns exit status 1.
fn fail(reason: &str) -> ExitCode {
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
