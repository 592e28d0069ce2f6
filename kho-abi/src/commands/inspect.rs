//! `kho-abi inspect`: restore block sets from a memory image and print
//! their entries.
//!
//! The arguments are checked in two steps, both before the image is opened:
//! [`Args::plan`] checks everything the command line alone can tell (which
//! mode, which format, page and entry sizes, the base's alignment) before
//! any file is read; then, with `--schema`, the schema is loaded and the
//! struct's size checked against the page and `--entry-size`.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, ValueEnum};
use kho_runtime::{
    count_per_block, PhysAddr, PreservedMemory, Vmalloc, VmallocSer, DEFAULT_MAX_BLOCKS,
    HEADER_SIZE,
};

use super::{fail, fail_lines, usage_error};
use crate::decode::Decoder;
use crate::parse;
use crate::restore::{self, ChainFormat, Failure, RawChain, TableFormat};
use crate::schemas::{self, LoadError};

/// The long help of `inspect`.
pub const HELP: &str = "\
Modes:
  Raw dump (--base, --head and --entry-size, all three): FILE is a raw dump of
  physical memory, byte k at physical address BASE + k. The block set whose
  first block is at HEAD is restored as the next kernel restores it: each
  block must be a page-aligned page inside the dump with an entry count in
  1..=count_per_block, the chain must not loop or pass --max-blocks blocks.
  Its entries are then printed in chain order.

  With --schema FILE --struct NAME, each entry of a raw dump is decoded
  field by field as struct NAME of that schema, laid out for --page-size
  (a length may depend on it); the entry size is the struct's (--entry-size
  may be left out, and must match if given, or be larger for a struct that
  ends in a flexible array: its elements follow the struct in the entry).

  memfd (--memfd ADDR, with --base for a raw dump, without for an ELF core
  or an image):
  ADDR is the physical address of a struct memfd_luo_ser, laid out as
  --memfd-compatible says: memfd-v2 (the default, schemas/memfd.toml: 48
  bytes, with seals and flags) or memfd-v1 (40 bytes, kernels before
  'mm: memfd_luo: preserve file seals'), inside one handed-over page; the
  LUO file entry's compatible string names it. Its kho_vmalloc area is
  restored as the next kernel restores it (every chunk and page address
  checked, the chunk list zero-terminated, exactly total_pages pages), and
  its nr_folios memfd_luo_folio_ser entries are printed, one line each:
    [I] pfn = 0xPFN flags = 0xF (DIRTY|UPTODATE) index = N
  after a line with pos, size, nr_folios (and for memfd-v2, seals with
  their F_SEAL_* names, and flags) and one describing the area.
  Text only. A rejected area exits 1 naming the chunk index and address.

  Preserved memory (--preserved-map ROOT, with --base for a raw dump, without
  for an ELF core): ROOT is the physical address of the dump's preserved-
  memory radix tree (kho-v3: the KHO FDT's preserved-memory-map). The tree
  is walked as the next kernel walks it, trusting nothing (node addresses,
  a node named twice or a cycle, keys without a valid order bit, orders over
  20, overlapping runs, more than 65536 nodes). Alone, it prints
    preserved-memory map at ROOT: N run(s), P page(s) of S bytes, K tree node(s)
  then one line per run, by address:
    0xSTART..0xEND order O (N page(s))
  With --head or --memfd, only the pages the tree names are handed over:
  a block, chunk or page outside them is refused, as the next kernel would.
  A rejected tree exits 1 naming its level and node.

  ELF core file (--head and --entry-size, or --schema/--struct, without
  --base): FILE is a kdump vmcore, a copy of /proc/kcore or QEMU's
  dump-guest-memory output (ET_CORE, 64-bit little-endian; told apart from a
  raw dump by its \x7fELF magic). Physical address A is read through the
  PT_LOAD whose p_paddr..p_paddr+p_memsz holds it: from p_offset + (A -
  p_paddr) when within p_filesz, zeros after. A page must lie wholly in
  segments; a page in none is outside memory, as outside a raw dump.
  Segment N is the N-th PT_LOAD (from 0). Refused, naming the segment and
  its numbers: segments overlapping in physical memory or sharing file
  bytes, file bytes past the end of the file, p_filesz > p_memsz, more than
  65536 program headers. /proc/kcore: PT_LOADs with p_paddr all ones (its
  vmalloc, module and vmemmap areas) are left out; a PT_LOAD wholly inside
  another at a different p_vaddr and a p_paddr other than 0 is an alias (the
  kernel-text segment of x86-64 vmcores and kcores) and is left out too. A
  kcore whose p_paddr are all 0 (old kernels) is refused as overlapping:
  its physical addresses are not known.

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
         struct's fields indented under '  name:'. A bit field is its value
         (sign-extended for a signed type); a union shows every member,
         each decoded from the same bytes; a KHOSER pointer is its physical
         address in 0x hex; a flexible array lists the elements its count
         field says, as far as the entry's bytes go (a shorter list says
         '(N by its count, M in the bytes)').
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
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
#[command(group(ArgGroup::new("entry_layout").args(["entry_size", "struct_name"]).multiple(true)))]
#[command(group(ArgGroup::new("target").args(["head", "memfd"]).multiple(false)))]
#[command(group(ArgGroup::new("dump").args(["head", "memfd", "preserved_map"]).multiple(true)))]
pub struct Args {
    /// The memory image: a raw dump (with --base, --head, --entry-size), an
    /// ELF core file (with --head, --entry-size) or a kho FileMemory image
    /// (alone).
    #[arg(long, value_name = "FILE")]
    image: PathBuf,

    /// Physical address of the raw dump's first byte (page aligned).
    #[arg(long, value_name = "ADDR", value_parser = parse::addr, requires = "dump")]
    base: Option<u64>,

    /// Physical address of the set's first block (0: an empty set).
    #[arg(long, value_name = "ADDR", value_parser = parse::addr,
          requires = "entry_layout")]
    head: Option<u64>,

    /// Bytes per entry: 1 up to the page size minus the 16-byte block header
    /// (with --struct: that struct's size).
    #[arg(long, value_name = "BYTES", value_parser = parse::entry_size,
          requires = "head")]
    entry_size: Option<usize>,

    /// Page (block) size of the raw dump or ELF core (or of a memfd's
    /// handover): 4096, 16384 or 65536.
    #[arg(long, value_name = "BYTES", value_parser = parse::page_size,
          default_value = "4096", requires = "dump")]
    page_size: usize,

    /// Refuse a chain of more blocks than this (the kernel's KHO_MAX_BLOCKS).
    #[arg(long, value_name = "N", value_parser = parse::count,
          default_value_t = DEFAULT_MAX_BLOCKS)]
    max_blocks: usize,

    /// A schema file (a regular file of at most 16 MiB): decode a raw dump's
    /// entries field by field.
    #[arg(long, value_name = "FILE", requires_all = ["struct_name", "head"])]
    schema: Option<PathBuf>,

    /// The struct of --schema that each entry is.
    #[arg(long = "struct", value_name = "NAME", requires = "schema")]
    struct_name: Option<String>,

    /// Physical address of a memfd_luo_ser (memfd's Live Update state):
    /// print its folios, read through its kho_vmalloc area. In a raw dump
    /// (with --base), an ELF core or a kho FileMemory image (without).
    #[arg(long, value_name = "ADDR", value_parser = parse::addr,
          conflicts_with_all = ["head", "entry_size", "schema", "struct_name"])]
    memfd: Option<u64>,

    /// The memfd_luo_ser's layout, by the compatible string of its LUO file
    /// entry.
    #[arg(
        long,
        value_enum,
        value_name = "COMPATIBLE",
        default_value = "memfd-v2",
        requires = "memfd"
    )]
    memfd_compatible: MemfdVersion,

    /// Physical address of the dump's preserved-memory radix tree (kho-v3:
    /// the KHO FDT's preserved-memory-map property). Alone: print the
    /// preserved runs. With --head or --memfd: only the pages the tree names
    /// count as handed over, as for the next kernel. A raw dump (with
    /// --base) or an ELF core only.
    #[arg(long, value_name = "ADDR", value_parser = parse::addr,
          conflicts_with_all = ["schema", "struct_name"])]
    preserved_map: Option<u64>,

    /// Output format [default: hex for a raw dump, text with --schema,
    /// table for an image].
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
}

/// `--format`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line of hex per entry (raw dump).
    Hex,
    /// Each entry's fields, one per line (raw dump with --schema).
    Text,
    /// An aligned table of the root table (image).
    Table,
    /// One JSON document.
    Json,
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Hex => "hex",
        Format::Text => "text",
        Format::Table => "table",
        Format::Json => "json",
    }
}

/// `--memfd-compatible`'s values: the memfd_luo_ser layouts kho reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MemfdVersion {
    /// pos, size, nr_folios, folios (torvalds/linux ac2d8102 and before).
    #[value(name = "memfd-v1")]
    V1,
    /// pos, size, seals, flags, nr_folios, folios (8a552d68 on;
    /// schemas/memfd.toml).
    #[value(name = "memfd-v2")]
    V2,
}

/// Where a memfd_luo_ser version keeps its fields (all packed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MemfdLayout {
    size: usize,
    /// `u32 seals; u32 flags;`, from memfd-v2 on.
    seals: Option<usize>,
    nr_folios: usize,
    folios: usize,
}

impl MemfdVersion {
    fn layout(self) -> MemfdLayout {
        match self {
            MemfdVersion::V1 => MemfdLayout {
                size: 40,
                seals: None,
                nr_folios: 16,
                folios: 24,
            },
            MemfdVersion::V2 => MemfdLayout {
                size: 48,
                seals: Some(16),
                nr_folios: 24,
                folios: 32,
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            MemfdVersion::V1 => "memfd-v1",
            MemfdVersion::V2 => "memfd-v2",
        }
    }
}

/// What the command line asks for, checked without reading a file.
enum Plan {
    /// List an image's root table.
    Image(TableFormat),
    /// Restore one chain of a raw dump.
    Raw(RawPlan),
    /// Print a memfd_luo_ser's folios (`base`: a raw dump, else an ELF core
    /// or an image).
    Memfd {
        addr: u64,
        base: Option<u64>,
        version: MemfdVersion,
    },
    /// Print a dump's preserved-memory runs.
    Preserved { root: u64, base: Option<u64> },
}

/// What `inspect` does once every argument is checked.
enum Job<'a> {
    Raw(RawChain, ChainFormat<'a>),
    Image(TableFormat),
    Memfd {
        addr: u64,
        base: Option<u64>,
        version: MemfdVersion,
    },
    Preserved {
        root: u64,
        base: Option<u64>,
    },
}

/// A raw dump's chain, before `--schema` (if any) is read.
struct RawPlan {
    /// `None`: an ELF core file.
    base: Option<u64>,
    head: u64,
    page_size: usize,
    /// `--entry-size`: checked against the page when there is no
    /// `--struct`, against the struct once the schema is read otherwise.
    entry_size: Option<usize>,
    /// `--format`, known not to contradict the mode.
    format: Option<Format>,
}

impl Args {
    /// Checks what clap cannot see one argument at a time, and all that
    /// needs no file.
    fn plan(&self) -> Result<Plan, clap::Error> {
        if let (Some(root), None, None) = (self.preserved_map, self.head, self.memfd) {
            self.text_mode("--preserved-map alone")?;
            return Ok(Plan::Preserved {
                root,
                base: self.base,
            });
        }
        if let Some(addr) = self.memfd {
            self.text_mode("--memfd")?;
            return Ok(Plan::Memfd {
                addr,
                base: self.base,
                version: self.memfd_compatible,
            });
        }
        match (self.base, self.head) {
            // Without --base, the image must be an ELF core file.
            (base, Some(head)) => self.raw_plan(base, head).map(Plan::Raw),
            // --base requires --head (and --schema requires --head).
            _ => match self.format {
                None | Some(Format::Table) => Ok(Plan::Image(TableFormat::Table)),
                Some(Format::Json) => Ok(Plan::Image(TableFormat::Json)),
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

    fn raw_plan(&self, base: Option<u64>, head: u64) -> Result<RawPlan, clap::Error> {
        let decodes = self.schema.is_some();
        match self.format {
            Some(Format::Table) => {
                return Err(usage_error(
                    "inspect",
                    "--format table lists an image's root table; \
                     a raw dump prints as 'hex', 'json' or (with --schema) 'text'",
                ))
            }
            Some(Format::Text) if !decodes => {
                return Err(usage_error(
                    "inspect",
                    "--format text decodes fields: give --schema and --struct",
                ))
            }
            _ => {}
        }
        let page_size = self.page_size;
        if !decodes {
            // clap's group leaves --entry-size or --struct, and --struct
            // requires --schema.
            let Some(entry_size) = self.entry_size else {
                return Err(usage_error(
                    "inspect",
                    "--base and --head need --entry-size (or --schema and --struct)",
                ));
            };
            check_fits(page_size, entry_size, None)?;
        }
        if let Some(base) = base {
            self.check_base(base)?;
        }
        Ok(RawPlan {
            base,
            head,
            page_size,
            entry_size: self.entry_size,
            format: self.format,
        })
    }

    /// A mode that prints text (`what` names it): any other --format is a
    /// usage error, and --base must be page aligned.
    fn text_mode(&self, what: &str) -> Result<(), clap::Error> {
        if let Some(f @ (Format::Hex | Format::Table | Format::Json)) = self.format {
            return Err(usage_error(
                "inspect",
                format!(
                    "--format {} does not apply to {what}: it prints text",
                    format_name(f)
                ),
            ));
        }
        match self.base {
            Some(base) => self.check_base(base),
            None => Ok(()),
        }
    }

    fn check_base(&self, base: u64) -> Result<(), clap::Error> {
        let page_size = self.page_size;
        if !base.is_multiple_of(page_size as u64) {
            return Err(usage_error(
                "inspect",
                format!(
                    "invalid value '{base:#x}' for '--base <ADDR>': \
                     not aligned to the {page_size}-byte page"
                ),
            ));
        }
        Ok(())
    }

    /// The chain to restore and how to print it, once `decoder` (the
    /// loaded --schema/--struct, if given) is known.
    fn raw_chain<'a>(
        &self,
        plan: &RawPlan,
        decoder: Option<&'a Decoder>,
    ) -> Result<(RawChain, ChainFormat<'a>), clap::Error> {
        let format = match (plan.format, decoder) {
            (None | Some(Format::Text), Some(d)) => ChainFormat::Fields(d),
            (Some(Format::Json), Some(d)) => ChainFormat::FieldsJson(d),
            (Some(Format::Json), None) => ChainFormat::Json,
            // raw_plan refused table, and text without a schema.
            _ => ChainFormat::Hex,
        };
        let entry_size = match (plan.entry_size, decoder) {
            // A struct ending in a flexible array may have its elements
            // after it, inside a larger entry.
            (Some(n), Some(d)) if n != d.size() && !(d.has_flex() && n > d.size()) => {
                let more = if d.has_flex() {
                    " (or more: its flexible array's elements follow it)"
                } else {
                    ""
                };
                return Err(usage_error(
                    "inspect",
                    format!(
                        "invalid value '{n}' for '--entry-size <BYTES>': \
                         struct {} is {} bytes{more}",
                        d.name(),
                        d.size()
                    ),
                ));
            }
            (Some(n), Some(d)) => {
                check_fits(plan.page_size, n, Some(d))?;
                n
            }
            (None, Some(d)) => {
                check_fits(plan.page_size, d.size(), Some(d))?;
                d.size()
            }
            (Some(n), None) => n,
            // raw_plan refused a raw dump without either.
            (None, None) => {
                return Err(usage_error(
                    "inspect",
                    "--base and --head need --entry-size (or --schema and --struct)",
                ))
            }
        };
        let chain = RawChain {
            image: self.image.clone(),
            base: plan.base,
            head: plan.head,
            page_size: plan.page_size,
            entry_size,
            max_blocks: self.max_blocks,
            preserved: self.preserved_map,
        };
        Ok((chain, format))
    }
}

/// Refuses entries of `entry_size` bytes (those of `decoder`'s struct, if
/// given) that a block of `page_size` bytes cannot hold.
fn check_fits(
    page_size: usize,
    entry_size: usize,
    decoder: Option<&Decoder>,
) -> Result<(), clap::Error> {
    if count_per_block(page_size, entry_size).is_ok() {
        return Ok(());
    }
    let what = match decoder {
        Some(d) => format!("invalid value '{}' for '--struct <NAME>'", d.name()),
        None => format!("invalid value '{entry_size}' for '--entry-size <BYTES>'"),
    };
    Err(usage_error(
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
    ))
}

/// Runs `inspect`: the arguments are checked, then the schema read (if
/// any), and only then the image.
pub fn exec(args: &Args) -> ExitCode {
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => e.exit(),
    };
    let decoder = match (&args.schema, &args.struct_name) {
        (Some(file), Some(name)) => {
            let abis = match schemas::load_file(file) {
                Ok(abis) => abis,
                Err(LoadError::Unreadable(reason)) => return fail(&reason),
                Err(LoadError::Schema(diags)) => return fail_lines(&diags.to_string()),
            };
            // The name load_file gave the schema's source.
            let page = match &plan {
                Plan::Raw(raw) => raw.page_size,
                Plan::Image(_) | Plan::Memfd { .. } | Plan::Preserved { .. } => args.page_size,
            };
            match Decoder::new(&abis, &file.display().to_string(), name, page) {
                Ok(d) => Some(d),
                Err(msg) => usage_error("inspect", msg).exit(),
            }
        }
        _ => None,
    };
    let job = match plan {
        Plan::Raw(raw) => match args.raw_chain(&raw, decoder.as_ref()) {
            Ok((chain, format)) => Job::Raw(chain, format),
            Err(e) => e.exit(),
        },
        Plan::Image(format) => Job::Image(format),
        Plan::Memfd {
            addr,
            base,
            version,
        } => Job::Memfd {
            addr,
            base,
            version,
        },
        Plan::Preserved { root, base } => Job::Preserved { root, base },
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let res = match job {
        Job::Raw(chain, format) => restore::raw_chain(&chain, format, &mut out),
        Job::Image(format) => restore::image_table(&args.image, args.max_blocks, format, &mut out),
        Job::Memfd {
            addr,
            base,
            version,
        } => memfd(
            &args.image,
            base,
            args.page_size,
            args.preserved_map,
            (addr, version),
            &mut out,
        ),
        Job::Preserved { root, base } => {
            preserved(&args.image, base, args.page_size, root, &mut out)
        }
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

/// Bytes of a `struct memfd_luo_folio_ser` (pfn:52 flags:12 in one u64, index).
const FOLIO_SER_SIZE: usize = 16;
/// Width of `memfd_luo_folio_ser.pfn`, the low bits of its first word.
const PFN_BITS: u32 = 52;
/// The `MEMFD_LUO_FOLIO_*` flags by bit, as schemas/memfd.toml names them.
const FOLIO_FLAGS: [(u64, &str); 2] = [(1, "DIRTY"), (2, "UPTODATE")];
/// The `F_SEAL_*` seals by bit (uapi/linux/fcntl.h), as memfd-v2's
/// `seals` holds them.
const SEALS: [(u64, &str); 6] = [
    (0x1, "SEAL"),
    (0x2, "SHRINK"),
    (0x4, "GROW"),
    (0x8, "WRITE"),
    (0x10, "FUTURE_WRITE"),
    (0x20, "EXEC"),
];

/// `value`'s bits by their names in `table`, unknown ones as one hex
/// number: `DIRTY|0x8`.
fn bit_names(value: u64, table: &[(u64, &str)]) -> String {
    let mut names: Vec<String> = table
        .iter()
        .filter(|(bit, _)| value & bit != 0)
        .map(|(_, n)| (*n).to_string())
        .collect();
    let known = table.iter().fold(0, |a, (bit, _)| a | bit);
    if value & !known != 0 {
        names.push(format!("{:#x}", value & !known));
    }
    names.join("|")
}

/// Whether `path` is to be read as a dump (a raw one at `base`, or an ELF
/// core), not as a kho FileMemory image.
fn is_dump(path: &std::path::Path, base: Option<u64>, page_size: usize) -> bool {
    base.is_some()
        || kho_runtime::RawImage::open(path, 0, page_size).is_ok_and(|f| crate::elfcore::is_elf(&f))
}

/// Opens the raw dump (`base`), ELF core or FileMemory image at `path`
/// and prints the folios of the memfd_luo_ser of that version at `addr`
/// (with `preserved`, in a dump, handing over only what its tree names).
fn memfd(
    path: &std::path::Path,
    base: Option<u64>,
    page_size: usize,
    preserved: Option<u64>,
    (addr, version): (u64, MemfdVersion),
    out: &mut impl Write,
) -> Result<(), Failure> {
    match is_dump(path, base, page_size) {
        true => {
            let dump = crate::restore::open_dump(path, base, page_size)?;
            let mem = crate::restore::with_preserved(dump, preserved)?;
            memfd_folios(&mem, addr, version, out)
        }
        false if preserved.is_some() => Err(Failure::Invalid(format!(
            "{}: --preserved-map reads a dump's tree; a kho FileMemory image keeps its own \
             preserved pages",
            path.display()
        ))),
        false => {
            let mem = kho_runtime::FileMemory::open_read_only(path)
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            memfd_folios(&mem, addr, version, out)
        }
    }
}

/// Prints the preserved runs of the dump's preserved-memory tree at
/// `root`: a summary line, then one line per run, by address.
fn preserved(
    path: &std::path::Path,
    base: Option<u64>,
    page_size: usize,
    root: u64,
    out: &mut impl Write,
) -> Result<(), Failure> {
    // open_dump refuses a file that is neither (a FileMemory image keeps
    // its own preserved pages).
    let dump = crate::restore::open_dump(path, base, page_size)?;
    let map = crate::restore::preserved_map(&dump, root)?;
    writeln!(
        out,
        "preserved-memory map at {}: {} run(s), {} page(s) of {page_size} bytes, {} tree node(s)",
        PhysAddr(root),
        map.runs().len(),
        map.pages(),
        map.nodes().len()
    )?;
    for r in map.runs() {
        writeln!(
            out,
            "{}..{:#x} order {} ({} page(s))",
            r.addr,
            r.end(page_size),
            r.order,
            1u64.checked_shl(r.order).unwrap_or(u64::MAX)
        )?;
    }
    Ok(())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(b) = bytes.get(at..at + 4) {
        w.copy_from_slice(b);
    }
    u32::from_ne_bytes(w)
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(b) = bytes.get(at..at + 8) {
        w.copy_from_slice(b);
    }
    u64::from_ne_bytes(w)
}

/// Reads the memfd_luo_ser (of `version`'s layout) at `addr` in `mem`,
/// restores its folio area trusting nothing, and prints every folio.
/// Nothing is printed unless all of it reads.
fn memfd_folios<M: PreservedMemory>(
    mem: &M,
    addr: u64,
    version: MemfdVersion,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let layout = version.layout();
    let ser_size = layout.size;
    let ps = mem.page_size() as u64;
    let page_addr = PhysAddr(addr - addr % ps);
    let off = (addr % ps) as usize;
    let at = PhysAddr(addr);
    if off + ser_size > ps as usize {
        return Err(Failure::Invalid(format!(
            "memfd_luo_ser at {at}: its {ser_size} bytes ({}) cross the end of the page at \
             {page_addr}",
            version.name()
        )));
    }
    let page = mem
        .page(page_addr)
        .map_err(|e| Failure::Invalid(format!("memfd_luo_ser at {at}: {e}")))?;
    if !mem.is_incoming(page_addr) {
        return Err(Failure::Invalid(format!(
            "memfd_luo_ser at {at}: page {page_addr} is not preserved"
        )));
    }
    let ser = page.get(off..off + ser_size).unwrap_or_default();
    let (pos, size, nr_folios) = (word(ser, 0), word(ser, 8), word(ser, layout.nr_folios));
    let Some(folios) = ser.get(layout.folios..).and_then(VmallocSer::from_bytes) else {
        return Err(Failure::Invalid(format!(
            "memfd_luo_ser at {at}: short read"
        )));
    };
    let area = Vmalloc::restore(mem, &folios)
        .map_err(|e| Failure::Invalid(format!("memfd_luo_ser at {at}: folios: {e}")))?;
    let bytes = nr_folios.checked_mul(FOLIO_SER_SIZE as u64);
    let bytes = match bytes {
        Some(b) if b <= area.len_bytes() as u64 => b as usize,
        _ => {
            return Err(Failure::Invalid(format!(
                "memfd_luo_ser at {at}: nr_folios {nr_folios} needs more than the {} bytes \
                 of its {}-page folio area",
                area.len_bytes(),
                folios.total_pages
            )))
        }
    };
    let data = area
        .to_vec(mem, bytes)
        .map_err(|e| Failure::Invalid(format!("memfd_luo_ser at {at}: folios: {e}")))?;
    write!(
        out,
        "memfd_luo_ser at {at} ({}): pos = {pos} size = {size}",
        version.name()
    )?;
    if let Some(s) = layout.seals {
        let (seals, flags) = (u32_at(ser, s), u32_at(ser, s + 4));
        let names = bit_names(u64::from(seals), &SEALS);
        write!(out, " seals = {seals:#x} ({names}) flags = {flags:#x}")?;
    }
    writeln!(out, " nr_folios = {nr_folios}")?;
    writeln!(
        out,
        "folios: kho_vmalloc first = {} total_pages = {} flags = {:#x} order = {}, {} chunk(s)",
        folios.first,
        folios.total_pages,
        folios.flags,
        folios.order,
        area.chunks().len()
    )?;
    for (i, f) in data.chunks_exact(FOLIO_SER_SIZE).enumerate() {
        let first = word(f, 0);
        let pfn = first & ((1u64 << PFN_BITS) - 1);
        let flags = first >> PFN_BITS;
        writeln!(
            out,
            "[{i}] pfn = {pfn:#x} flags = {flags:#x} ({}) index = {}",
            bit_names(flags, &FOLIO_FLAGS),
            word(f, 8)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memfd-v2 layout inspect reads is the shipped schema's: a field
    /// moved in schemas/memfd.toml without this table fails here.
    #[test]
    fn the_memfd_layout_is_the_shipped_schemas() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
        let abis = kho_schema::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let memfd = abis.iter().find(|a| a.name == "memfd").expect("memfd");
        assert_eq!(memfd.compatible, MemfdVersion::V2.name());
        let ser = memfd
            .structs()
            .iter()
            .find(|s| s.name == "memfd_luo_ser")
            .expect("memfd_luo_ser");
        let at = |n: &str| ser.fields.iter().find(|f| f.name == n).map(|f| f.offset);
        let v2 = MemfdVersion::V2.layout();
        assert_eq!(ser.size, v2.size);
        assert_eq!(at("seals"), v2.seals);
        assert_eq!(at("flags"), v2.seals.map(|s| s + 4));
        assert_eq!(at("nr_folios"), Some(v2.nr_folios));
        assert_eq!(at("folios"), Some(v2.folios));
        let folio = memfd
            .structs()
            .iter()
            .find(|s| s.name == "memfd_luo_folio_ser")
            .expect("memfd_luo_folio_ser");
        assert_eq!(folio.size, FOLIO_SER_SIZE);
        let seals: Vec<(String, u64)> = SEALS
            .iter()
            .map(|(bit, n)| (format!("F_SEAL_{n}"), *bit))
            .collect();
        for (name, bit) in seals {
            let k = memfd.constants.iter().find(|k| k.name == name);
            assert!(k.is_some(), "{name} is not in schemas/memfd.toml");
            assert!(
                matches!(k.map(|k| &k.value), Some(kho_schema::ConstValue::Int(v)) if *v == bit),
                "{name}"
            );
        }
    }
}
