//! Preserved memory in a memory-mapped image file that another process
//! reopens: the two-process stand-in for a kexec.
//!
//! # Image layout
//! Byte `k` of the file is physical address `base + k`. Page 0 holds two
//! superblock slots (at offsets 0 and 512); after it come two bitmaps of
//! preserved pages, one per slot. The rest are data pages. A superblock
//! records the geometry, a generation number, the head of the root table
//! (a block set of [`RootRecord`]s, in data pages like any other set) and a
//! checksum. Opening picks the valid slot with the highest generation.
//!
//! # Crash safety
//! [`FileMemory::publish`] writes the root table and the bitmap into pages
//! the published generation does not use, flushes them, and only then
//! writes the other superblock slot. Pages of the published generation are
//! never handed out again until a newer generation is published, so a save
//! that dies at any point leaves the previous handover intact.
//!
//! What this does not cover: changing a set in place after publishing it
//! (push, prev, clear, shrink on the same outgoing set) writes into pages
//! the published generation uses. Build the next generation in new sets,
//! as a kernel serializes afresh for each handover, and publish that.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use kho_derive::KhoEntry;
use memmap2::MmapMut;

use crate::memory::{check_page_size, page_offset};
use crate::{
    name_bytes, set_name, AbiField, BlockSet, Error, Fault, KhoEntry, PhysAddr, PreservedMemory,
    RawBlockSet, Result,
};

const MAGIC: [u8; 8] = *b"KHOIMAGE";
const FORMAT_VERSION: u32 = 1;
const SLOT_OFFSETS: [usize; 2] = [0, 512];
const SUPERBLOCK_SIZE: usize = 64;

/// Geometry of a new image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMemoryConfig {
    /// Physical address of the file's first byte (page aligned, non-zero).
    pub base: u64,
    /// Page size: 4096, 16384 or 65536.
    pub page_size: usize,
    /// Pages in the image, metadata pages included.
    pub pages: usize,
}

/// One named block set in an image's root table (the role KHO's FDT plays).
#[derive(KhoEntry, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed)]
#[kho(crate = "crate", compatible = "kho-image-root-v1")]
pub struct RootRecord {
    /// The set's name, NUL padded.
    pub name: [u8; 64],
    /// The entry type's compatible string, NUL padded.
    pub compatible: [u8; 64],
    /// Physical address of the set's first block (0: empty).
    pub head: u64,
    /// Bytes per entry.
    pub entry_size: u64,
    /// Entries in the set.
    pub entries: u64,
    /// Blocks in the set.
    pub blocks: u64,
    /// The entry type's layout fingerprint.
    pub fingerprint: u64,
}

const _: () = assert!(core::mem::size_of::<RootRecord>() == RootRecord::SIZE);

impl RootRecord {
    /// A record for a typed set under `name`.
    pub fn for_set<T: KhoEntry, M: PreservedMemory + ?Sized>(
        name: &str,
        set: &BlockSet<T, M>,
    ) -> Result<Self> {
        Self::for_raw(name, T::COMPATIBLE, T::FINGERPRINT, set.as_raw())
    }

    /// A record for an untyped set.
    pub fn for_raw(
        name: &str,
        compatible: &str,
        fingerprint: u64,
        set: &RawBlockSet,
    ) -> Result<Self> {
        let mut r = RootRecord {
            name: [0; 64],
            compatible: [0; 64],
            head: set.head().get(),
            entry_size: set.entry_size() as u64,
            entries: set.len() as u64,
            blocks: set.block_count() as u64,
            fingerprint,
        };
        set_name(&mut r.name, name)?;
        set_name(&mut r.compatible, compatible)?;
        Ok(r)
    }

    /// The name as text (invalid UTF-8 replaced).
    pub fn name(&self) -> String {
        String::from_utf8_lossy(name_bytes(&self.name)).into_owned()
    }

    /// The compatible string as text (invalid UTF-8 replaced).
    pub fn compatible(&self) -> String {
        String::from_utf8_lossy(name_bytes(&self.compatible)).into_owned()
    }
}

impl core::fmt::Debug for RootRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (head, entry_size, entries, blocks, fp) = (
            self.head,
            self.entry_size,
            self.entries,
            self.blocks,
            self.fingerprint,
        );
        f.debug_struct("RootRecord")
            .field("name", &self.name())
            .field("compatible", &self.compatible())
            .field("head", &PhysAddr(head))
            .field("entry_size", &entry_size)
            .field("entries", &entries)
            .field("blocks", &blocks)
            .field("fingerprint", &format_args!("{fp:#018x}"))
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageState {
    Reserved,
    Free,
    Outgoing,
    Incoming,
    Restored,
}

#[derive(Clone, Copy, Debug)]
struct Superblock {
    page_size: usize,
    base: u64,
    pages: usize,
    generation: u64,
    root: u64,
}

impl Superblock {
    fn encode(&self) -> [u8; SUPERBLOCK_SIZE] {
        let mut b = [0u8; SUPERBLOCK_SIZE];
        b[0..8].copy_from_slice(&MAGIC);
        FORMAT_VERSION.write_to(&mut b[8..]);
        (self.page_size as u32).write_to(&mut b[12..]);
        [self.base, self.pages as u64, self.generation, self.root].write_to(&mut b[16..]);
        kho_layout::fnv1a(&b[..56]).write_to(&mut b[56..]);
        b
    }

    /// Decodes a slot, or says why it is not a valid superblock for a file
    /// of `file_len` bytes.
    fn decode(b: &[u8], file_len: usize) -> core::result::Result<Self, String> {
        if b.len() < SUPERBLOCK_SIZE || b[0..8] != MAGIC {
            return Err("no superblock magic".into());
        }
        if u64::read_from(&b[56..]) != kho_layout::fnv1a(&b[..56]) {
            return Err("superblock checksum mismatch".into());
        }
        let version = u32::read_from(&b[8..]);
        if version != FORMAT_VERSION {
            return Err(format!(
                "image format version {version}, this build reads {FORMAT_VERSION}"
            ));
        }
        let page_size = u32::read_from(&b[12..]) as usize;
        let [base, pages, generation, root] = <[u64; 4]>::read_from(&b[16..]);
        check_page_size(page_size).map_err(|e| e.to_string())?;
        let len = pages.checked_mul(page_size as u64);
        if len != Some(file_len as u64) {
            return Err(format!(
                "{pages} pages of {page_size} bytes, but the file has {file_len} bytes"
            ));
        }
        if base == 0
            || !base.is_multiple_of(page_size as u64)
            || base.checked_add(file_len as u64).is_none()
        {
            return Err(format!("base {base:#x} is not a usable page address"));
        }
        let pages = pages as usize;
        if pages <= meta_pages(pages, page_size) {
            return Err(format!("{pages} pages leave no room for data"));
        }
        Ok(Superblock {
            page_size,
            base,
            pages,
            generation,
            root,
        })
    }
}

fn bitmap_pages(pages: usize, page_size: usize) -> usize {
    pages.div_ceil(8).div_ceil(page_size)
}

fn meta_pages(pages: usize, page_size: usize) -> usize {
    1 + 2 * bitmap_pages(pages, page_size)
}

/// Page counters of a [`FileMemory`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Outgoing pages currently preserved.
    pub preserved: usize,
    /// Incoming pages not yet restored.
    pub incoming: usize,
    /// Incoming pages restored by this process.
    pub restored: usize,
}

/// Preserved memory in a memory-mapped image file (see the module notes for
/// the layout and the crash-safety rule).
pub struct FileMemory {
    path: PathBuf,
    map: MmapMut,
    sb: Superblock,
    meta: usize,
    /// Slot of the published superblock; the next publish writes the other.
    slot: usize,
    state: Vec<PageState>,
    /// Pages the published generation uses: never reallocated before the
    /// next publish.
    published: Vec<bool>,
    free: Vec<usize>,
    root: Vec<RootRecord>,
    root_set: Option<RawBlockSet>,
    stats: FileStats,
    fail_at: Option<u64>,
    attempts: u64,
    /// False for [`FileMemory::open_read_only`]: the mapping is private, so
    /// a publish could never reach the file.
    writable: bool,
}

impl core::fmt::Debug for FileMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileMemory")
            .field("path", &self.path)
            .field("base", &PhysAddr(self.sb.base))
            .field("page_size", &self.sb.page_size)
            .field("pages", &self.sb.pages)
            .field("generation", &self.sb.generation)
            .field("stats", &self.stats)
            .finish()
    }
}

impl FileMemory {
    /// Creates (or truncates) the image at `path` and publishes an empty
    /// handover, so the file is a valid image from the start.
    pub fn create(path: impl AsRef<Path>, config: FileMemoryConfig) -> Result<Self> {
        let path = path.as_ref();
        let FileMemoryConfig {
            base,
            page_size,
            pages,
        } = config;
        check_page_size(page_size)?;
        let bad = |what: String| Error::Image {
            path: path.display().to_string(),
            what,
        };
        let len = pages
            .checked_mul(page_size)
            .ok_or_else(|| bad(format!("{pages} pages of {page_size} bytes overflow")))?;
        if base == 0
            || !base.is_multiple_of(page_size as u64)
            || base.checked_add(len as u64).is_none()
        {
            return Err(bad(format!("base {base:#x} is not a usable page address")));
        }
        let meta = meta_pages(pages, page_size);
        if pages <= meta {
            return Err(bad(format!(
                "{pages} pages leave no room for data (metadata needs {meta})"
            )));
        }
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        file.set_len(len as u64).map_err(io)?;
        let map = crate::mmap::map_shared(&file).map_err(io)?;
        let sb = Superblock {
            page_size,
            base,
            pages,
            generation: 0,
            root: 0,
        };
        let mut mem = FileMemory::with_map(path, map, sb, 1);
        for i in meta..pages {
            mem.state[i] = PageState::Free;
        }
        mem.rebuild_free_list();
        mem.publish(&[])?;
        Ok(mem)
    }

    /// Opens an image to take over its handover: published pages become
    /// incoming, the root table is read (and its pages released).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_mode(path, true)
    }

    /// Opens an image for inspection: the same checks as [`open`](Self::open),
    /// but the file is mapped privately and never written. Sets can still be
    /// built in the private copy; [`publish`](Self::publish) is refused.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_mode(path, false)
    }

    fn open_mode(path: impl AsRef<Path>, writable: bool) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        let bad = |what: String| Error::Image {
            path: path.display().to_string(),
            what,
        };
        if len < SLOT_OFFSETS[1] + SUPERBLOCK_SIZE {
            return Err(bad(format!("{len} bytes is too small for an image")));
        }
        let map = if writable {
            crate::mmap::map_shared(&file)
        } else {
            crate::mmap::map_private(&file)
        }
        .map_err(io)?;
        let slots = SLOT_OFFSETS.map(|off| Superblock::decode(&map[off..], len));
        let (slot, sb) = match slots {
            [Ok(a), Ok(b)] => {
                if b.generation > a.generation {
                    (1, b)
                } else {
                    (0, a)
                }
            }
            [Ok(a), Err(_)] => (0, a),
            [Err(_), Ok(b)] => (1, b),
            [Err(a), Err(b)] => {
                return Err(bad(format!(
                    "no valid superblock (slot 0: {a}; slot 1: {b})"
                )))
            }
        };
        let mut mem = FileMemory::with_map(path, map, sb, slot);
        mem.writable = writable;
        let bitmap_at = mem.bitmap_offset(slot);
        for i in mem.meta..sb.pages {
            let bit = mem.map[bitmap_at + i / 8] >> (i % 8) & 1 == 1;
            mem.published[i] = bit;
            mem.state[i] = if bit {
                PageState::Incoming
            } else {
                PageState::Free
            };
        }
        mem.stats.incoming = mem.published.iter().filter(|&&b| b).count();
        mem.rebuild_free_list();
        let mut table = RawBlockSet::restore(&mem, PhysAddr(sb.root), RootRecord::SIZE)
            .map_err(|e| bad(format!("root table: {e}")))?;
        mem.root = table.iter(&mem).map(RootRecord::read_from).collect();
        table.destroy(&mut mem)?;
        Ok(mem)
    }

    fn with_map(path: &Path, map: MmapMut, sb: Superblock, slot: usize) -> Self {
        FileMemory {
            path: path.to_path_buf(),
            map,
            meta: meta_pages(sb.pages, sb.page_size),
            slot,
            state: vec![PageState::Reserved; sb.pages],
            published: vec![false; sb.pages],
            free: Vec::new(),
            root: Vec::new(),
            root_set: None,
            stats: FileStats::default(),
            fail_at: None,
            attempts: 0,
            writable: true,
            sb,
        }
    }

    fn bitmap_offset(&self, slot: usize) -> usize {
        (1 + slot * bitmap_pages(self.sb.pages, self.sb.page_size)) * self.sb.page_size
    }

    fn rebuild_free_list(&mut self) {
        self.free = (0..self.sb.pages)
            .rev()
            .filter(|&i| {
                !self.published[i] && matches!(self.state[i], PageState::Free | PageState::Restored)
            })
            .collect();
    }

    /// The image file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Physical address of the first byte.
    pub fn base(&self) -> PhysAddr {
        PhysAddr(self.sb.base)
    }

    /// Pages in the image.
    pub fn pages(&self) -> usize {
        self.sb.pages
    }

    /// The published generation (1 after `create`).
    pub fn generation(&self) -> u64 {
        self.sb.generation
    }

    /// Page counters.
    pub fn stats(&self) -> FileStats {
        self.stats
    }

    /// The root table found when the image was opened.
    pub fn root(&self) -> &[RootRecord] {
        &self.root
    }

    /// The root record named `name`.
    pub fn find(&self, name: &str) -> Result<&RootRecord> {
        self.root
            .iter()
            .find(|r| name_bytes(&r.name) == name.as_bytes())
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }

    /// Restores the set recorded as `name`, after checking that the record's
    /// compatible string, entry size and fingerprint are `T`'s.
    pub fn restore_set<T: KhoEntry>(&self, name: &str) -> Result<BlockSet<T, FileMemory>> {
        let r = *self.find(name)?;
        let found = format!(
            "{} ({} bytes, fingerprint {:#018x})",
            r.compatible(),
            { r.entry_size },
            { r.fingerprint }
        );
        let expected = format!(
            "{} ({} bytes, fingerprint {:#018x})",
            T::COMPATIBLE,
            T::SIZE,
            T::FINGERPRINT
        );
        if found != expected {
            return Err(Error::IncompatibleAbi {
                name: name.to_string(),
                expected,
                found,
            });
        }
        BlockSet::restore(self, PhysAddr(r.head))
    }

    /// Makes the `n`th allocation attempt from now fail, once.
    pub fn fail_allocation(&mut self, n: u64) {
        self.fail_at = Some(self.attempts + n);
    }

    /// Publishes a new generation whose root table holds `records`: the
    /// handover a later [`open`](Self::open) finds. Until this returns, the
    /// previous generation is what the file holds.
    ///
    /// An image opened with [`open_read_only`](Self::open_read_only) cannot
    /// publish: that is an [`Error::Image`], and nothing changes.
    pub fn publish(&mut self, records: &[RootRecord]) -> Result<()> {
        if !self.writable {
            return Err(Error::Image {
                path: self.path.display().to_string(),
                what: "opened read-only: publishing needs FileMemory::open".to_string(),
            });
        }
        // The new root table first, so that a failure leaves this process's
        // state (and the previous root table) as it was.
        let mut table = RawBlockSet::new(self, RootRecord::SIZE)?;
        let built = table.grow(self, records.len()).and_then(|()| {
            for r in records {
                r.write_to(table.reserve(self)?);
            }
            table.publish(self)
        });
        let root = match built {
            Ok(root) => root,
            Err(e) => {
                let _ = table.destroy(self);
                return Err(e);
            }
        };
        // The previous root table is not part of the new generation.
        let old_table: Vec<usize> = self
            .root_set
            .as_ref()
            .map(|t| {
                t.blocks()
                    .iter()
                    .filter_map(|&b| self.index(b).ok())
                    .collect()
            })
            .unwrap_or_default();
        let slot = 1 - self.slot;
        let bitmap_at = self.bitmap_offset(slot);
        let bitmap_len = bitmap_pages(self.sb.pages, self.sb.page_size) * self.sb.page_size;
        // As in KHO, only what this kernel preserved goes on: incoming pages
        // nobody claimed are not handed to the next kernel (they stay
        // unallocatable here until restored and freed).
        let mut keep: Vec<bool> = self
            .state
            .iter()
            .map(|s| matches!(s, PageState::Outgoing))
            .collect();
        for &i in &old_table {
            keep[i] = false;
        }
        let bitmap = &mut self.map[bitmap_at..bitmap_at + bitmap_len];
        bitmap.fill(0);
        for (i, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
            bitmap[i / 8] |= 1 << (i % 8);
        }
        if let Err(source) = self.map.flush() {
            let _ = table.destroy(self);
            return Err(Error::Io {
                path: self.path.display().to_string(),
                source,
            });
        }
        let io = |source| Error::Io {
            path: self.path.display().to_string(),
            source,
        };
        let sb = Superblock {
            generation: self.sb.generation + 1,
            root: root.get(),
            ..self.sb
        };
        let at = SLOT_OFFSETS[slot];
        self.map[at..at + SUPERBLOCK_SIZE].copy_from_slice(&sb.encode());
        self.map.flush_range(0, self.sb.page_size).map_err(io)?;
        self.sb = sb;
        self.slot = slot;
        self.published = keep;
        if let Some(mut old) = self.root_set.replace(table) {
            // Not published any more, so these pages are free at once.
            old.destroy(self)?;
        }
        self.rebuild_free_list();
        Ok(())
    }

    #[inline]
    fn index(&self, addr: PhysAddr) -> Result<usize> {
        let i =
            page_offset(addr, self.sb.base, self.map.len(), self.sb.page_size)? / self.sb.page_size;
        if i < self.meta {
            return Err(Error::mem(addr, Fault::Reserved));
        }
        Ok(i)
    }
}

impl PreservedMemory for FileMemory {
    fn page_size(&self) -> usize {
        self.sb.page_size
    }

    fn alloc_preserve(&mut self) -> Result<PhysAddr> {
        let attempt = self.attempts;
        self.attempts += 1;
        if self.fail_at == Some(attempt) {
            self.fail_at = None;
            return Err(Error::OutOfMemory);
        }
        let i = self.free.pop().ok_or(Error::OutOfMemory)?;
        let ps = self.sb.page_size;
        self.map[i * ps..(i + 1) * ps].fill(0);
        self.state[i] = PageState::Outgoing;
        self.stats.preserved += 1;
        Ok(PhysAddr(self.sb.base + (i * ps) as u64))
    }

    fn unpreserve_free(&mut self, addr: PhysAddr) -> Result<()> {
        let i = self.index(addr)?;
        if self.state[i] != PageState::Outgoing {
            return Err(Error::mem(addr, Fault::NotPreserved));
        }
        self.state[i] = PageState::Free;
        if !self.published[i] {
            self.free.push(i);
        }
        self.stats.preserved -= 1;
        Ok(())
    }

    fn restore_free(&mut self, addr: PhysAddr) -> Result<()> {
        let i = self.index(addr)?;
        match self.state[i] {
            PageState::Incoming => {}
            PageState::Restored => return Err(Error::mem(addr, Fault::AlreadyRestored)),
            _ => return Err(Error::mem(addr, Fault::NotPreserved)),
        }
        // Still part of the published generation: reusable after the next publish.
        self.state[i] = PageState::Restored;
        self.stats.incoming -= 1;
        self.stats.restored += 1;
        Ok(())
    }

    fn is_incoming(&self, addr: PhysAddr) -> bool {
        self.index(addr)
            .is_ok_and(|i| self.state[i] == PageState::Incoming)
    }

    #[inline]
    fn page(&self, addr: PhysAddr) -> Result<&[u8]> {
        let i = self.index(addr)?;
        let ps = self.sb.page_size;
        Ok(&self.map[i * ps..(i + 1) * ps])
    }

    #[inline]
    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8]> {
        let i = self.index(addr)?;
        let ps = self.sb.page_size;
        Ok(&mut self.map[i * ps..(i + 1) * ps])
    }
}
