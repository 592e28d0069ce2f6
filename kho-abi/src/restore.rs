//! Restoring block sets from a raw memory dump or an image file exactly as
//! the next kernel would, and printing them (`kho-abi inspect`).
//!
//! Nothing is printed until every chain asked about has been restored, so a
//! corrupt image gives an error and no partial listing.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use kho_runtime::{
    AbiField, BlockHeaderSer, FileMemory, PhysAddr, PreservedMap, PreservedMemory, RawBlockSet,
    RawImage, RootRecord,
};
use serde::{Serialize, Serializer};

use crate::decode::Decoder;

/// Why `inspect` stopped.
#[derive(Debug)]
pub enum Failure {
    /// The image, or a block chain in it, is invalid: the one-line reason.
    Invalid(String),
    /// Writing the output failed (a closed pipe among others).
    Output(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

impl From<kho_runtime::Error> for Failure {
    fn from(e: kho_runtime::Error) -> Self {
        Failure::Invalid(e.to_string())
    }
}

/// How to print the entries of one chain.
#[derive(Clone, Copy, Debug)]
pub enum ChainFormat<'a> {
    /// One line per entry: its bytes as lowercase hex.
    Hex,
    /// One JSON document with the blocks and the entries.
    Json,
    /// Each entry decoded field by field, as text.
    Fields(&'a Decoder),
    /// Each entry decoded field by field: a JSON array of objects.
    FieldsJson(&'a Decoder),
}

/// How to print an image's root table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// An aligned text table.
    Table,
    /// A JSON array of records.
    Json,
}

/// A chain in a raw dump of physical memory or in an ELF core file.
#[derive(Clone, Debug)]
pub struct RawChain {
    /// The dump: byte `k` is physical address `base + k`; or, with no
    /// `base`, an ELF core file, mapped through its PT_LOAD segments.
    pub image: PathBuf,
    /// Physical address of the dump's first byte (page aligned); `None`
    /// for an ELF core file.
    pub base: Option<u64>,
    /// Physical address of the first block (0: an empty set).
    pub head: u64,
    /// Bytes per page, and so per block.
    pub page_size: usize,
    /// Bytes per entry; fits a block after the 16-byte header.
    pub entry_size: usize,
    /// Restore refuses a chain longer than this.
    pub max_blocks: usize,
    /// The dump's preserved-memory tree (`preserved-memory-map`): when
    /// given, only the pages it names count as handed over.
    pub preserved: Option<u64>,
}

/// Opens the memory of `req`: a raw dump at `req.base`, or with no base an
/// ELF core file, told apart by the ELF magic. Each is refused as the
/// other, so a core is never read as raw bytes nor a dump as a core.
fn open_memory(req: &RawChain) -> Result<RawImage, Failure> {
    with_preserved(
        open_dump(&req.image, req.base, req.page_size)?,
        req.preserved,
    )
}

/// `dump`, handing over only what its preserved-memory tree at `root`
/// names, when a root is given.
pub fn with_preserved(dump: RawImage, root: Option<u64>) -> Result<RawImage, Failure> {
    match root {
        None => Ok(dump),
        Some(root) => dump
            .with_preserved(PhysAddr(root))
            .map_err(|e| tree_failure(root, e)),
    }
}

/// The preserved-memory tree at `root` in `dump`, walked.
pub fn preserved_map(dump: &RawImage, root: u64) -> Result<PreservedMap, Failure> {
    PreservedMap::restore(dump, PhysAddr(root)).map_err(|e| tree_failure(root, e))
}

fn tree_failure(root: u64, e: kho_runtime::Error) -> Failure {
    Failure::Invalid(format!("--preserved-map {root:#x}: {e}"))
}

/// Opens `image` as a raw dump at `base` or, with no base, as an ELF core
/// file (see [`open_memory`]), `page_size` bytes a page.
pub fn open_dump(image: &Path, base: Option<u64>, page_size: usize) -> Result<RawImage, Failure> {
    let file = RawImage::open(image, base.unwrap_or(0), page_size)?;
    let path = image.display();
    match (base, crate::elfcore::is_elf(&file)) {
        (Some(_), false) => Ok(file),
        (None, true) => {
            crate::elfcore::into_core(file, &path.to_string()).map_err(Failure::Invalid)
        }
        (Some(base), true) => Err(Failure::Invalid(format!(
            "{path} is an ELF core file, not a raw dump: its PT_LOAD segments give the \
             physical addresses, so leave out --base {base:#x}"
        ))),
        (None, false) => Err(Failure::Invalid(format!(
            "{path} is not an ELF core file (no \\x7fELF magic): \
             a raw dump needs --base, the physical address of its first byte"
        ))),
    }
}

/// Restores the chain at `req.head` in a raw dump or ELF core file and
/// prints its entries.
pub fn raw_chain(
    req: &RawChain,
    format: ChainFormat<'_>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mem = open_memory(req)?;
    let pages = mem.pages();
    let limit = walk_limit(req.max_blocks, pages);
    let set = RawBlockSet::restore_with_limit(&mem, PhysAddr(req.head), req.entry_size, limit)?;
    match format {
        ChainFormat::Hex => write_hex_lines(&set, &mem, out)?,
        ChainFormat::Json => {
            let report = ChainReport::new(&set, &mem, req.head)?;
            serde_json::to_writer_pretty(&mut *out, &report).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
        ChainFormat::Fields(decoder) => {
            for (index, entry) in set.iter(&mem)?.enumerate() {
                decoder.write_text(index, entry, out)?;
            }
        }
        ChainFormat::FieldsJson(decoder) => {
            let entries = Decoded {
                set: &set,
                mem: &mem,
                decoder,
            };
            serde_json::to_writer_pretty(&mut *out, &entries).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// The entries decoded as they are streamed from the image.
struct Decoded<'a, M: PreservedMemory> {
    set: &'a RawBlockSet,
    mem: &'a M,
    decoder: &'a Decoder,
}

impl<M: PreservedMemory> Serialize for Decoded<'_, M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = self.set.iter(self.mem).map_err(serde::ser::Error::custom)?;
        s.collect_seq(entries.map(|e| self.decoder.json(e)))
    }
}

/// Lists the root table of an image file after restoring every set in it.
pub fn image_table(
    path: &Path,
    max_blocks: usize,
    format: TableFormat,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mem = FileMemory::open_read_only(path).map_err(|e| {
        // A core passed alone: say what it is and what it needs.
        let core = RawImage::open(path, 0, 4096).is_ok_and(|f| crate::elfcore::is_elf(&f));
        if core {
            Failure::Invalid(format!(
                "{} is an ELF core file, not a kho image: give --head and --entry-size \
                 (or --schema and --struct) to restore a block set from it",
                path.display()
            ))
        } else {
            Failure::from(e)
        }
    })?;
    let records: Vec<SetRecord> = mem.root().iter().map(SetRecord::from).collect();
    check_sets(&mem, &records, walk_limit(max_blocks, mem.pages()))?;
    match format {
        TableFormat::Table => write_table(&records, out)?,
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &records).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// The block limit to restore with: `max_blocks`, but no more than one past
/// the pages in memory.
///
/// Restore finds a cycle only once the walk reaches its limit, so a huge
/// `--max-blocks` over a looping chain would walk (and remember) that many
/// blocks. A chain of `pages + 1` checked blocks must repeat one, and restore
/// then reports the cycle; a chain that does not loop never gets that long.
/// So the cap changes no verdict, only how long a bad chain takes.
fn walk_limit(max_blocks: usize, pages: usize) -> usize {
    max_blocks.min(pages.saturating_add(1))
}

fn write_hex_lines<M: PreservedMemory>(
    set: &RawBlockSet,
    mem: &M,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut line = Vec::with_capacity(2 * set.entry_size() + 1);
    for entry in set.iter(mem).map_err(io::Error::other)? {
        line.clear();
        for &b in entry {
            line.extend_from_slice(&hex_byte(b));
        }
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
}

fn hex_byte(b: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]]
}

/// An entry's bytes as lowercase hex, written without allocating.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 128];
        for chunk in self.0.chunks(buf.len() / 2) {
            for (&b, pair) in chunk.iter().zip(buf.chunks_exact_mut(2)) {
                pair.copy_from_slice(&hex_byte(b));
            }
            let text = buf.get(..2 * chunk.len()).ok_or(fmt::Error)?;
            f.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn hex_addr<S: Serializer>(addr: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{addr:#x}"))
}

fn hex_fingerprint<S: Serializer>(fp: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{fp:#018x}"))
}

/// The JSON form of a restored chain (documented in `inspect --help`).
#[derive(Serialize)]
#[serde(bound = "")]
struct ChainReport<'a, M: PreservedMemory> {
    #[serde(serialize_with = "hex_addr")]
    head: u64,
    page_size: usize,
    entry_size: usize,
    count_per_block: usize,
    blocks: Vec<BlockReport>,
    entries: Entries<'a, M>,
}

#[derive(Serialize)]
struct BlockReport {
    index: usize,
    #[serde(serialize_with = "hex_addr")]
    addr: u64,
    count: u64,
}

impl<'a, M: PreservedMemory> ChainReport<'a, M> {
    fn new(set: &'a RawBlockSet, mem: &'a M, head: u64) -> Result<Self, Failure> {
        let mut blocks = Vec::with_capacity(set.block_count());
        for (index, &addr) in set.blocks().iter().enumerate() {
            // Restore read this header and checked the page; read the count
            // again, as the set keeps only the running totals private.
            let count = BlockHeaderSer::read_from(mem.page(addr)?).count;
            blocks.push(BlockReport {
                index,
                addr: addr.get(),
                count,
            });
        }
        Ok(ChainReport {
            head,
            page_size: set.block_size(),
            entry_size: set.entry_size(),
            count_per_block: set.count_per_block(),
            blocks,
            entries: Entries { set, mem },
        })
    }
}

/// The entries streamed straight from the image: a long chain is never
/// held in memory as text.
struct Entries<'a, M: PreservedMemory> {
    set: &'a RawBlockSet,
    mem: &'a M,
}

impl<M: PreservedMemory> Serialize for Entries<'_, M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = self.set.iter(self.mem).map_err(serde::ser::Error::custom)?;
        s.collect_seq(entries.map(Hex))
    }
}

/// One root-table record, copied out of the packed [`RootRecord`].
#[derive(Serialize)]
struct SetRecord {
    name: String,
    compatible: String,
    #[serde(serialize_with = "hex_addr")]
    head: u64,
    entry_size: u64,
    entries: u64,
    blocks: u64,
    #[serde(serialize_with = "hex_fingerprint")]
    fingerprint: u64,
}

impl From<&RootRecord> for SetRecord {
    fn from(r: &RootRecord) -> Self {
        SetRecord {
            name: r.name(),
            compatible: r.compatible(),
            head: r.head,
            entry_size: r.entry_size,
            entries: r.entries,
            blocks: r.blocks,
            fingerprint: r.fingerprint,
        }
    }
}

/// Restores every listed set and checks it against its record; no block
/// may belong to two sets (the next kernel would restore it twice).
fn check_sets(mem: &FileMemory, records: &[SetRecord], max_blocks: usize) -> Result<(), Failure> {
    let mut owners: BTreeMap<PhysAddr, (&str, usize)> = BTreeMap::new();
    for r in records {
        let bad =
            |what: fmt::Arguments<'_>| Failure::Invalid(format!("block set {:?}: {what}", r.name));
        let entry_size = usize::try_from(r.entry_size)
            .map_err(|_| bad(format_args!("entry size {} is too large", r.entry_size)))?;
        let set = RawBlockSet::restore_with_limit(mem, PhysAddr(r.head), entry_size, max_blocks)
            .map_err(|e| bad(format_args!("{e}")))?;
        let (entries, blocks) = (set.len() as u64, set.block_count() as u64);
        if (entries, blocks) != (r.entries, r.blocks) {
            return Err(bad(format_args!(
                "the root table records {} entries in {} blocks, the chain holds {entries} in {blocks}",
                r.entries, r.blocks
            )));
        }
        for (index, &addr) in set.blocks().iter().enumerate() {
            if let Some((other, other_index)) = owners.insert(addr, (&r.name, index)) {
                return Err(bad(format_args!(
                    "block {index} at {addr}: also block {other_index} of block set {other:?}"
                )));
            }
        }
    }
    Ok(())
}

fn write_table(records: &[SetRecord], out: &mut impl Write) -> io::Result<()> {
    const HEADER: [&str; 7] = [
        "NAME",
        "COMPATIBLE",
        "HEAD",
        "ENTRY SIZE",
        "ENTRIES",
        "BLOCKS",
        "FINGERPRINT",
    ];
    /// Columns after this many are numbers, aligned right.
    const TEXT_COLUMNS: usize = 2;
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|r| {
            [
                printable(&r.name),
                printable(&r.compatible),
                format!("{:#x}", r.head),
                r.entry_size.to_string(),
                r.entries.to_string(),
                r.blocks.to_string(),
                format!("{:#018x}", r.fingerprint),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = HEADER.map(String::from);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (col, (cell, &w)) in row.iter().zip(&widths).enumerate() {
            if col > 0 {
                line.push_str("  ");
            }
            let pad = w.saturating_sub(cell.chars().count());
            if col < TEXT_COLUMNS {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A name from the image with control characters escaped, so one record
/// is one line of the table whatever the image holds.
fn printable(s: &str) -> String {
    let mut shown = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_unseparated() {
        let bytes: Vec<u8> = (0..=255).collect();
        let shown = Hex(&bytes).to_string();
        assert_eq!(shown.len(), 512);
        assert!(shown.starts_with("000102"));
        assert!(shown.ends_with("fdfeff"));
        assert_eq!(Hex(&[]).to_string(), "");
        assert_eq!(Hex(&[0xAB; 65]).to_string(), "ab".repeat(65));
    }

    #[test]
    fn printable_escapes_only_control_characters() {
        assert_eq!(printable("a\nb\tü"), "a\\nb\\tü");
    }

    #[test]
    fn table_aligns_columns() {
        let rec = |name: &str, head| SetRecord {
            name: name.into(),
            compatible: "c-v1".into(),
            head,
            entry_size: 32,
            entries: 300,
            blocks: 3,
            fingerprint: 0xab,
        };
        let mut out = Vec::new();
        write_table(&[rec("a", 0x10_1000), rec("longer", 0)], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NAME    COMPATIBLE  "));
        assert!(lines[1].starts_with("a       c-v1        0x101000"));
        assert!(lines[2].starts_with("longer  c-v1             0x0"));
        assert!(lines[1].ends_with("0x00000000000000ab"));
    }
}
