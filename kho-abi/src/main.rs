//! `kho-abi`: inspect and review Kexec HandOver serialization-block ABIs.
//!
//! - `inspect` restores block sets from a memory image and prints their
//!   entries (raw bytes, or decoded with a schema). Exit status: 0 when
//!   every chain asked about restores, 1 when the image, a chain or the
//!   schema is invalid, 2 for bad arguments.
//! - `generate` writes `schemas/generated/` and `schemas/abi.lock` from
//!   `schemas/*.toml`; `check` proves they agree. Exit status 0, or 1 with
//!   every problem on stderr, one a line.
//! - `diff OLD NEW` compares two versions of the schemas for a review.
//!   Exit status 0, 1 when an ABI changed without a new compatible string,
//!   2 when a side cannot be read or compiled.
#![forbid(unsafe_code)]

mod decode;
mod inspect;
mod parse;
mod review;
mod schemas;

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand, ValueEnum};
use kho_runtime::{count_per_block, DEFAULT_MAX_BLOCKS, HEADER_SIZE};
use kho_schema::project::{Problem, Project};

use decode::Decoder;
use inspect::{ChainFormat, Failure, RawChain, TableFormat};
use schemas::LoadError;

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
    /// Write schemas/generated/ and schemas/abi.lock from schemas/*.toml.
    #[command(after_long_help = GENERATE_HELP)]
    Generate(RootArgs),
    /// Check that generated files and abi.lock match the schemas, and that
    /// no layout changed without a version bump.
    #[command(after_long_help = CHECK_HELP)]
    Check(RootArgs),
    /// Compare two versions of the schemas: a review for a pull request.
    #[command(after_long_help = DIFF_HELP)]
    Diff(DiffArgs),
}

const GENERATE_HELP: &str = "\
Compiles every schemas/*.toml under the root, writes the C headers, Rust
modules and Markdown tables under schemas/generated/ (removing files no
schema generates any more) and records each ABI's compatible string and
layout in schemas/abi.lock.

It refuses, writing nothing, when abi.lock shows that a layout changed while
its compatible string stayed the same: bump the ABI's version first.

Everything it writes stays inside schemas/: no path with '..', no symlink
followed, on the way or at the end. Each file is written to a temporary file
beside it, synced, and renamed over the old one once every file is written:
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

const CHECK_HELP: &str = "\
Fails when a layout changed while its compatible string stayed the same, when
abi.lock does not record what generate would write, or when a generated file
is missing, out of date, or generated from no schema, and reports what
generate would refuse to touch (a symlink, a file without the generated-file
banner, a FIFO under schemas/generated/). Changes nothing and follows no
symlink there.

Exit status: 0, printing 'ok: N ABIs, M generated files up to date'; 1 with
every problem on stderr, one a line (schema errors as file:line:col: message);
2 for bad arguments.";

const DIFF_HELP: &str = "\
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
            classified (breaking, name only, doc only) and a field table
            (offset, size, type; old -> new) per changed struct.
  json      an array with one object per ABI:
              {\"abi\", \"verdict\", \"old_compatible\", \"new_compatible\",
               \"required_bump\", \"dependency_bumps\": [{\"abi\", \"old\", \"new\"}],
               \"changes\": [{\"kind\", \"place\", \"what\"}],
               \"structs\": [{\"name\", \"old_size\", \"new_size\",
                 \"rows\": [{\"old\": {\"name\", \"type\", \"offset\", \"size\"} | null,
                           \"new\": ... | null, \"kind\"}]}]}
            verdicts: unchanged, doc_only, bump_present, bump_missing, added,
            removed; kinds: breaking, name_only, doc_only.

Exit status: 0 when no ABI misses a bump; 1 when one does; 2 when a side
cannot be read or compiled (schema errors as file:line:col: message), is not
in a git repository, or names an unknown revision.";

/// Where the repository is.
#[derive(Debug, Args)]
struct RootArgs {
    /// The repository root, holding schemas/ [default: the current directory].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

impl RootArgs {
    fn project(&self) -> Project {
        // No root means paths relative to here: `schemas/luo.toml`, not
        // `./schemas/luo.toml`.
        Project::new(self.root.clone().unwrap_or_default())
    }
}

/// Two versions of the schemas to compare.
#[derive(Debug, Args)]
struct DiffArgs {
    /// The old side: git:REV, a directory, or a schema file.
    #[arg(value_name = "OLD")]
    old: OsString,

    /// The new side: git:REV, a directory, or a schema file.
    #[arg(value_name = "NEW")]
    new: OsString,

    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "markdown")]
    format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    /// A review for a pull request.
    Markdown,
    /// The same data as one JSON document.
    Json,
}

const INSPECT_HELP: &str = "\
Modes:
  Raw dump (--base, --head and --entry-size, all three): FILE is a raw dump of
  physical memory, byte k at physical address BASE + k. The block set whose
  first block is at HEAD is restored as the next kernel restores it: each
  block must be a page-aligned page inside the dump with an entry count in
  1..=count_per_block, the chain must not loop or pass --max-blocks blocks.
  Its entries are then printed in chain order.

  With --schema FILE --struct NAME, each entry of a raw dump is decoded
  field by field as struct NAME of that schema; the entry size is the
  struct's (--entry-size may be left out, and must match if given).

  Image (--image alone): FILE is a kho FileMemory image. Every block set in
  its root table is restored and checked against its record (entries, blocks,
  no block in two sets), then the root table is listed.

Output (--format):
  hex    raw dump, the default: one line per entry, the entry's bytes as
         lowercase hex without separators, and nothing else. An empty set
         (head 0) prints nothing.
  text   with --schema, the default: per entry a line [INDEX], then one line
         per field, '  name = value': integers in decimal, phys_addr in
         0x hex, arrays as [a, b], char[N] as a quoted string up to the
         first NUL (\\, \" and non-printable bytes escaped), a nested
         struct's fields indented under '  name:'.
  table  image, the default: a header line, then one line per block set:
         NAME COMPATIBLE HEAD ENTRY SIZE ENTRIES BLOCKS FINGERPRINT.
  json   raw dump: one document
           {\"head\": \"0x..\", \"page_size\": N, \"entry_size\": N,
            \"count_per_block\": N,
            \"blocks\": [{\"index\": N, \"addr\": \"0x..\", \"count\": N}, ...],
            \"entries\": [\"<hex>\", ...]}
         with --schema: an array with one object per entry, fields in
           order: integers as numbers, phys_addr as \"0x..\" strings,
           char[N] as strings (escaped as in text), arrays, objects.
         image: an array of
           {\"name\": \"..\", \"compatible\": \"..\", \"head\": \"0x..\",
            \"entry_size\": N, \"entries\": N, \"blocks\": N,
            \"fingerprint\": \"0x<16 hex digits>\"}
         Addresses are strings of 0x-prefixed lowercase hex; sizes and counts
         are numbers.

Numbers are decimal or 0x-prefixed hex; '_' may separate digits.

Exit status: 0 when every block set restores; 1 when the image or a chain is
invalid, with one line on stderr naming the block index and address, or when
the schema does not compile (every error, as file:line:col: message); 2 for
bad arguments (an unknown --struct among them).";

/// Restore block sets from a memory image and print their entries.
#[derive(Debug, Args)]
#[command(after_long_help = INSPECT_HELP)]
#[command(group(ArgGroup::new("entry_layout").args(["entry_size", "struct_name"]).multiple(true)))]
struct InspectArgs {
    /// The memory image: a raw dump (with --base, --head, --entry-size) or a
    /// kho FileMemory image (alone).
    #[arg(long, value_name = "FILE")]
    image: PathBuf,

    /// Physical address of the raw dump's first byte (page aligned).
    #[arg(long, value_name = "ADDR", value_parser = parse::addr,
          requires_all = ["head", "entry_layout"])]
    base: Option<u64>,

    /// Physical address of the set's first block (0: an empty set).
    #[arg(long, value_name = "ADDR", value_parser = parse::addr,
          requires_all = ["base", "entry_layout"])]
    head: Option<u64>,

    /// Bytes per entry: 1 up to the page size minus the 16-byte block header
    /// (with --struct: that struct's size).
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

    /// A schema file (a regular file of at most 16 MiB): decode a raw dump's
    /// entries field by field.
    #[arg(long, value_name = "FILE", requires_all = ["struct_name", "base"])]
    schema: Option<PathBuf>,

    /// The struct of --schema that each entry is.
    #[arg(long = "struct", value_name = "NAME", requires = "schema")]
    struct_name: Option<String>,

    /// Output format [default: hex for a raw dump, text with --schema,
    /// table for an image].
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One line of hex per entry (raw dump).
    Hex,
    /// Each entry's fields, one per line (raw dump with --schema).
    Text,
    /// An aligned table of the root table (image).
    Table,
    /// One JSON document.
    Json,
}

/// What `inspect` was asked to do, once the arguments agree.
enum Mode<'a> {
    Raw(RawChain, ChainFormat<'a>),
    Image(TableFormat),
}

impl InspectArgs {
    /// Checks what clap cannot see one argument at a time. `decoder` is
    /// the loaded --schema/--struct, if given.
    fn mode<'a>(&self, decoder: Option<&'a Decoder>) -> Result<Mode<'a>, clap::Error> {
        match (self.base, self.head) {
            (Some(base), Some(head)) => self.raw_mode(base, head, decoder),
            // clap's `requires_all` leaves both or none (and --schema
            // requires --base).
            _ => match self.format {
                None | Some(Format::Table) => Ok(Mode::Image(TableFormat::Table)),
                Some(Format::Json) => Ok(Mode::Image(TableFormat::Json)),
                Some(f @ (Format::Hex | Format::Text)) => Err(usage_error(
                    "inspect",
                    format!(
                        "--format {} needs a raw dump (--base, --head, --entry-size); \
                         an image lists as 'table' or 'json'",
                        format_name(f)
                    ),
                )),
            },
        }
    }

    fn raw_mode<'a>(
        &self,
        base: u64,
        head: u64,
        decoder: Option<&'a Decoder>,
    ) -> Result<Mode<'a>, clap::Error> {
        let format = match (self.format, decoder) {
            (Some(Format::Table), _) => {
                return Err(usage_error(
                    "inspect",
                    "--format table lists an image's root table; \
                     a raw dump prints as 'hex', 'json' or (with --schema) 'text'",
                ))
            }
            (Some(Format::Text), None) => {
                return Err(usage_error(
                    "inspect",
                    "--format text decodes fields: give --schema and --struct",
                ))
            }
            (None | Some(Format::Text), Some(d)) => ChainFormat::Fields(d),
            (Some(Format::Json), Some(d)) => ChainFormat::FieldsJson(d),
            (Some(Format::Json), None) => ChainFormat::Json,
            (Some(Format::Hex), _) | (None, None) => ChainFormat::Hex,
        };
        let entry_size = match (self.entry_size, decoder) {
            (Some(n), Some(d)) if n != d.size() => {
                return Err(usage_error(
                    "inspect",
                    format!(
                        "invalid value '{n}' for '--entry-size <BYTES>': \
                         struct {} is {} bytes",
                        d.name(),
                        d.size()
                    ),
                ))
            }
            (_, Some(d)) => d.size(),
            (Some(n), None) => n,
            // clap's group leaves --entry-size or --struct.
            (None, None) => {
                return Err(usage_error(
                    "inspect",
                    "--base and --head need --entry-size (or --schema and --struct)",
                ))
            }
        };
        let page_size = self.page_size;
        if count_per_block(page_size, entry_size).is_err() {
            let what = match decoder {
                Some(d) => format!("invalid value '{}' for '--struct <NAME>'", d.name()),
                None => format!("invalid value '{entry_size}' for '--entry-size <BYTES>'"),
            };
            return Err(usage_error(
                "inspect",
                format!(
                    "{what}: a {page_size}-byte block holds entries of 1 to {} bytes \
                     after its {HEADER_SIZE}-byte header{}",
                    page_size.saturating_sub(HEADER_SIZE),
                    decoder.map_or(String::new(), |d| format!(
                        ", and struct {} is {} bytes",
                        d.name(),
                        d.size()
                    )),
                ),
            ));
        }
        if !base.is_multiple_of(page_size as u64) {
            return Err(usage_error(
                "inspect",
                format!(
                    "invalid value '{base:#x}' for '--base <ADDR>': \
                     not aligned to the {page_size}-byte page"
                ),
            ));
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

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Hex => "hex",
        Format::Text => "text",
        Format::Table => "table",
        Format::Json => "json",
    }
}

/// A usage error of `subcommand`, reported as clap reports its own (exit
/// status 2).
fn usage_error(subcommand: &str, message: impl std::fmt::Display) -> clap::Error {
    let mut cmd = Cli::command();
    cmd.build();
    match cmd.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(ErrorKind::ValueValidation, message),
        None => cmd.error(ErrorKind::ValueValidation, message),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Inspect(args) => inspect(&args),
        Command::Generate(args) => generate(&args.project()),
        Command::Check(args) => check(&args.project()),
        Command::Diff(args) => diff(&args),
    }
}

fn inspect(args: &InspectArgs) -> ExitCode {
    let decoder = match (&args.schema, &args.struct_name) {
        (Some(file), Some(name)) => {
            let abis = match schemas::load_file(file) {
                Ok(abis) => abis,
                Err(LoadError::Unreadable(reason)) => return fail(&reason),
                Err(LoadError::Schema(diags)) => return fail_lines(&diags.to_string()),
            };
            // The name load_file gave the schema's source.
            match Decoder::new(&abis, &file.display().to_string(), name) {
                Ok(d) => Some(d),
                Err(msg) => usage_error("inspect", msg).exit(),
            }
        }
        _ => None,
    };
    let mode = match args.mode(decoder.as_ref()) {
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

fn generate(project: &Project) -> ExitCode {
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
        Err(problems) => {
            let refused = problems
                .iter()
                .any(|p| matches!(p, Problem::MissingBump(_)));
            let mut text: Vec<String> = problems.iter().map(Problem::to_string).collect();
            if refused {
                text.push("kho-abi: generate wrote nothing".into());
            }
            fail_lines(&text.join("\n"))
        }
    }
}

fn check(project: &Project) -> ExitCode {
    let problems = project.check();
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(Problem::to_string).collect();
        return fail_lines(&text.join("\n"));
    }
    // Nothing is wrong, so the schemas compile and the files on disk are
    // exactly the ones generate writes: count those.
    let abis = project.load().unwrap_or_default();
    let files = kho_schema::emit::all(&abis).len();
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

fn diff(args: &DiffArgs) -> ExitCode {
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
        DiffFormat::Markdown => review::markdown(&diffs),
        DiffFormat::Json => match serde_json::to_string_pretty(&review::json(&diffs)) {
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

/// Writes `text` and a newline to stdout, then returns `status`.
fn emit_stdout(text: &[u8], status: ExitCode) -> ExitCode {
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
fn fail_lines(text: &str) -> ExitCode {
    let _ = writeln!(io::stderr().lock(), "{text}");
    ExitCode::FAILURE
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
