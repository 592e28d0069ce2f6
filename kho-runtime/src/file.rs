//! Preserved memory in an image file that another process reopens: the
//! two-process stand-in for a kexec.
//!
//! # Image layout (format version 2)
//! Byte `k` of the file is physical address `base + k`. Pages 0 and 1 hold
//! the two superblock slots, one each, so that a write torn anywhere in one
//! slot's page cannot reach the other. After them come two bitmaps of
//! preserved pages, one per slot. The rest are data pages. A superblock
//! records the geometry, a generation number, the head of the root table
//! (a block set of [`RootRecord`]s, in data pages like any other set) and a
//! checksum. Opening picks the valid slot with the highest generation.
//!
//! # I/O, and what a changing file does
//! Nothing is memory-mapped. Pages are read with positioned reads the first
//! time they are asked for and kept in this process; pages this process
//! writes stay in memory until [`FileMemory::publish`] writes them. So a
//! file truncated under an open image (by a process that ignores the lock)
//! is an error at the next access that needs a missing page
//! ([`Fault::Shrunk`], "the image shrank to N bytes while open") or at the
//! next publish, which checks the file's size before and after writing.
//! It is never a signal. Memory use is the pages touched, not the image.
//!
//! # Locking
//! The file is locked with `flock` for as long as the `FileMemory` lives:
//! exclusively by [`create`](FileMemory::create) and
//! [`open`](FileMemory::open), shared by
//! [`open_read_only`](FileMemory::open_read_only). An open that finds the
//! lock taken fails with [`Error::InUse`] (or waits, with
//! [`open_wait`](FileMemory::open_wait)); `create` takes the lock before it
//! truncates, so it never replaces an image someone holds. The lock is
//! advisory: it keeps kho processes apart, not a `truncate -s` by hand
//! (which the previous paragraph covers).
//!
//! # Crash and power-loss safety
//! [`FileMemory::publish`] writes the root table, the dirty data pages and
//! the new bitmap into pages the published generation does not use, syncs
//! them (`fdatasync`), and only then writes the other superblock slot and
//! syncs again. Pages of the published generation are never handed out
//! again until a newer generation is published, so a save that dies at any
//! point, by a kill or a power loss, leaves the previous handover intact,
//! and a publish that returned survives a power loss. `tests/power_loss.rs`
//! checks this against a disk model that drops or tears unsynced writes.
//! [`create`](FileMemory::create) allocates every block of the image up
//! front, so a full disk is an error there ([`Error::Allocate`]).
//!
//!
//! # In-place changes
//! Byte `k` of the file is physical address `base + k`, so a page cannot be
//! copied on write without moving its address (and with it every `next`
//! pointing at it). The rule is therefore an error: once a generation is
//! published, its pages are frozen in this process. Any write to one
//! ([`RawBlockSet::get_mut`], `set`, `update`, `push` into its last block,
//! `prev`, `clear`, `shrink`, `grow` linking a new block to it) fails with
//! [`Fault::Published`] before anything changes, so neither the file nor
//! the set is touched and the published handover survives any later
//! crash whole. Change entries in place freely *before* publishing; to
//! change a published set, build the next generation in a new set (as a
//! kernel serializes afresh for each handover), publish it, and destroy
//! the old one (freeing is allowed: the pages stay out of use until the
//! next publish drops them).

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::cache::PageCache;
use crate::image_file::{self, io_error, shown, Access, ImageFile, Wait};
use crate::memory::{check_page_size, page_offset, PAGE_SIZES};
use crate::pages::{FailPlan, PageState, PageTable};
use crate::{
    name_bytes, set_name, AbiField, BlockSet, Error, Fault, KhoEntry, MemoryId, PhysAddr,
    PreservedMemory, RawBlockSet, Result,
};

const MAGIC: [u8; 8] = *b"KHOIMAGE";
/// 2: each superblock slot in its own page (1 had both in page 0).
const FORMAT_VERSION: u32 = 2;
const SUPERBLOCK_SIZE: usize = 64;
/// Shorter than one superblock: nothing to read.
const MIN_IMAGE_LEN: u64 = SUPERBLOCK_SIZE as u64;

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
///
/// Its `AbiField` and `KhoEntry` impls are written by hand, so that the
/// runtime does not depend on its derive; the facade's tests check them
/// against a derived twin (`#[kho(same_layout_as = kho::RootRecord)]`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, packed)]
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

crate::entry::hand_entry!(RootRecord, ROOT_RECORD_LAYOUT, "root_record", "kho-image-root-v1", {
    name: [u8; 64],
    compatible: [u8; 64],
    head: u64,
    entry_size: u64,
    entries: u64,
    blocks: u64,
    fingerprint: u64,
});

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
    fn decode(b: &[u8; SUPERBLOCK_SIZE], file_len: u64) -> core::result::Result<Self, String> {
        if b[0..8] != MAGIC {
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
        if len != Some(file_len) {
            return Err(format!(
                "{pages} pages of {page_size} bytes, but the file has {file_len} bytes"
            ));
        }
        if base == 0
            || !base.is_multiple_of(page_size as u64)
            || base.checked_add(file_len).is_none()
        {
            return Err(format!("base {base:#x} is not a usable page address"));
        }
        let pages = usize::try_from(pages)
            .ok()
            .filter(|p| p.checked_mul(page_size).is_some())
            .ok_or_else(|| format!("{pages} pages do not fit this machine's address space"))?;
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
    2 + 2 * bitmap_pages(pages, page_size)
}

/// A vector of `n` copies of `value`, or [`Error::OutOfMemory`]: the page
/// count comes from a file, and a sparse file can claim a huge one.
fn filled<T: Clone>(n: usize, value: T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory)?;
    v.resize(n, value);
    Ok(v)
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

/// Preserved memory in an image file (see the module notes for the
/// layout, the locking and the crash-safety rule).
///
/// `F` is the storage: a [`File`] for every constructor that takes a path,
/// or any [`ImageFile`] through [`create_on`](Self::create_on) and
/// [`open_on`](Self::open_on) (the power-loss tests use a model disk).
pub struct FileMemory<F = File> {
    id: MemoryId,
    path: PathBuf,
    file: F,
    sb: Superblock,
    meta: usize,
    /// Slot of the published superblock; the next publish writes the other.
    slot: usize,
    pages: PageTable,
    /// Pages the published generation uses: never reallocated before the
    /// next publish.
    published: Vec<bool>,
    /// Pages freed since the last publish, handed out again first.
    freed: Vec<usize>,
    /// Allocation scans up from here for a page never handed out since the
    /// last publish (no list of every free page: an image can be huge).
    scan: usize,
    cache: PageCache,
    /// Cached pages changed since they were last written to the file.
    dirty: BTreeSet<usize>,
    root: Vec<RootRecord>,
    root_set: Option<RawBlockSet>,
    fail: FailPlan,
    /// False for [`FileMemory::open_read_only`]: the file is open read-only,
    /// so a publish could never reach it.
    writable: bool,
    /// Set when writing or syncing a superblock failed: whether it reached
    /// the disk is unknown, so reusing any page is unsafe until reopened.
    poisoned: bool,
}

impl<F> core::fmt::Debug for FileMemory<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileMemory")
            .field("path", &self.path)
            .field("base", &PhysAddr(self.sb.base))
            .field("page_size", &self.sb.page_size)
            .field("pages", &self.sb.pages)
            .field("generation", &self.sb.generation)
            .field("id", &self.id)
            .field("stats", &self.pages.counts())
            .finish()
    }
}

/// Checks a new image's geometry; returns its length in bytes.
fn check_config(path: &Path, config: FileMemoryConfig) -> Result<usize> {
    let FileMemoryConfig {
        base,
        page_size,
        pages,
    } = config;
    check_page_size(page_size)?;
    let bad = |what: String| Error::Image {
        path: shown(path),
        what,
    };
    let len = pages
        .checked_mul(page_size)
        .filter(|&len| u64::try_from(len).is_ok())
        .ok_or_else(|| bad(format!("{pages} pages of {page_size} bytes overflow")))?;
    if base == 0 || !base.is_multiple_of(page_size as u64) || base.checked_add(len as u64).is_none()
    {
        return Err(bad(format!("base {base:#x} is not a usable page address")));
    }
    let meta = meta_pages(pages, page_size);
    if pages <= meta {
        return Err(bad(format!(
            "{pages} pages leave no room for data (metadata needs {meta})"
        )));
    }
    Ok(len)
}

/// Syncs the directory holding `path`, so that a new image's name survives
/// a power loss along with its contents.
fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

impl FileMemory<File> {
    /// Creates the image at `path` (or replaces the one there) and publishes
    /// an empty handover, so the file is a valid image from the start.
    ///
    /// The file is opened without truncating, locked exclusively, and only
    /// then emptied and allocated in full (`fallocate`): an image another
    /// `FileMemory` holds is refused with [`Error::InUse`] and left as it
    /// was, and a disk without room for the whole image is an
    /// [`Error::Allocate`] naming the image and the size, here rather than
    /// at a later write. Anything but a regular file (a FIFO, a device, a
    /// directory) is refused with [`Error::NotRegular`] and not touched.
    pub fn create(path: impl AsRef<Path>, config: FileMemoryConfig) -> Result<Self> {
        let path = path.as_ref();
        check_config(path, config)?;
        // The holder we waited out may have removed or replaced the file
        // before letting go: then the lock is on a file no longer at
        // `path`, and an image made there would be lost. Open again.
        let mut tries = 0;
        let file = loop {
            let (file, _) = image_file::open(path, Access::Create, false)?;
            image_file::lock(&file, path, true, Wait::No)?;
            if image_file::is_at(&file, path) {
                break file;
            }
            tries += 1;
            if tries == 8 {
                return Err(Error::InUse { path: shown(path) });
            }
        };
        let mem = Self::create_on(file, path, config)?;
        sync_parent(path)?;
        Ok(mem)
    }

    /// Opens an image to take over its handover: published pages become
    /// incoming, the root table is read (and its pages released).
    ///
    /// Takes the image's lock exclusively for the life of the value: an
    /// image another `FileMemory` has open is [`Error::InUse`]. Anything but
    /// a regular file is refused with [`Error::NotRegular`] without
    /// blocking (a FIFO included).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_path(path.as_ref(), true, Wait::No)
    }

    /// [`open`](Self::open), but waits for the lock instead of failing.
    pub fn open_wait(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_path(path.as_ref(), true, Wait::Yes)
    }

    /// Opens an image for inspection: the same checks as [`open`](Self::open),
    /// but the file is opened read-only and never written. Sets can still be
    /// built (in this process's memory); [`publish`](Self::publish) is
    /// refused.
    ///
    /// Takes the lock shared: any number of readers at once, none while a
    /// writer has the image ([`Error::InUse`]).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_path(path.as_ref(), false, Wait::No)
    }

    /// [`open_read_only`](Self::open_read_only), but waits for a writer to
    /// let go instead of failing.
    pub fn open_read_only_wait(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_path(path.as_ref(), false, Wait::Yes)
    }

    /// Takes over the image in `file`, an open read-write descriptor of the
    /// image at `path` (used in messages), as [`open`](Self::open) does.
    ///
    /// This is how a handover passes the image from one process to the next
    /// without letting go of the lock in between: the old process keeps a
    /// duplicate of its [`file`](Self::file) (`try_clone`, the same open file
    /// description and so the same lock), drops its `FileMemory`, and hands
    /// the duplicate to the new process, which adopts it here. Re-taking
    /// the lock on that description succeeds; on any other that is locked
    /// it is [`Error::InUse`].
    pub fn open_file(file: File, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        image_file::check_kind(&file, path, false)?;
        image_file::lock(&file, path, true, Wait::No)?;
        Self::open_with(file, path, true)
    }

    fn open_path(path: &Path, writable: bool, wait: Wait) -> Result<Self> {
        let access = if writable {
            Access::Write
        } else {
            Access::Read
        };
        let (file, _) = image_file::open(path, access, false)?;
        image_file::lock(&file, path, writable, wait)?;
        Self::open_with(file, path, writable)
    }
}

impl<F: ImageFile> FileMemory<F> {
    /// [`create`](Self::create) on storage the caller opened (and locked, if
    /// it is shared); `path` is for messages only.
    pub fn create_on(
        mut file: F,
        path: impl AsRef<Path>,
        config: FileMemoryConfig,
    ) -> Result<Self> {
        let path = path.as_ref();
        let len = check_config(path, config)?;
        file.allocate_zeroed(len as u64)
            .map_err(|source| Error::Allocate {
                path: shown(path),
                len: len as u64,
                source,
            })?;
        let sb = Superblock {
            page_size: config.page_size,
            base: config.base,
            pages: config.pages,
            generation: 0,
            root: 0,
        };
        let mut mem = FileMemory::with_file(path, file, sb, 1)?;
        for i in mem.meta..sb.pages {
            mem.pages.set_free(i);
        }
        mem.publish(&[])?;
        Ok(mem)
    }

    /// [`open`](Self::open) on storage the caller opened; `path` is for
    /// messages only. No lock is taken.
    pub fn open_on(file: F, path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(file, path.as_ref(), true)
    }

    /// [`open_read_only`](Self::open_read_only) on storage the caller
    /// opened; `path` is for messages only. No lock is taken.
    pub fn open_read_only_on(file: F, path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(file, path.as_ref(), false)
    }

    fn open_with(file: F, path: &Path, writable: bool) -> Result<Self> {
        let bad = |what: String| Error::Image {
            path: shown(path),
            what,
        };
        let len = file.size().map_err(io_error(path))?;
        if len < MIN_IMAGE_LEN {
            return Err(bad(format!(
                "{len} bytes is too small for an image (a superblock is {MIN_IMAGE_LEN})"
            )));
        }
        let (slot, sb) = read_superblock(&file, path, len)?;
        let mut mem = FileMemory::with_file(path, file, sb, slot)?;
        mem.writable = writable;
        let mut bitmap = filled(sb.pages.div_ceil(8), 0u8)?;
        mem.file
            .read_exact_at(&mut bitmap, mem.bitmap_offset(slot) as u64)
            .map_err(|e| mem.read_error(PhysAddr(sb.base), e))
            .map_err(|e| bad(format!("bitmap: {e}")))?;
        for i in mem.meta..sb.pages {
            let bit = bitmap.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1);
            mem.published[i] = bit;
            if bit {
                mem.pages.set_incoming(i);
            } else {
                mem.pages.set_free(i);
            }
        }
        let mut table = RawBlockSet::restore(&mem, PhysAddr(sb.root), RootRecord::SIZE)
            .map_err(|e| bad(format!("root table: {e}")))?;
        mem.root = table
            .iter(&mem)
            .map_err(|e| bad(format!("root table: {e}")))?
            .map(RootRecord::read_from)
            .collect();
        table.destroy(&mut mem)?;
        Ok(mem)
    }

    fn with_file(path: &Path, file: F, sb: Superblock, slot: usize) -> Result<Self> {
        let meta = meta_pages(sb.pages, sb.page_size);
        Ok(FileMemory {
            id: MemoryId::new(),
            path: path.to_path_buf(),
            file,
            meta,
            slot,
            pages: PageTable::new(sb.pages, PageState::Reserved)?,
            published: filled(sb.pages, false)?,
            freed: Vec::new(),
            scan: meta,
            cache: PageCache::new(sb.pages, sb.page_size),
            dirty: BTreeSet::new(),
            root: Vec::new(),
            root_set: None,
            fail: FailPlan::default(),
            writable: true,
            poisoned: false,
            sb,
        })
    }

    fn bitmap_offset(&self, slot: usize) -> usize {
        (2 + slot * bitmap_pages(self.sb.pages, self.sb.page_size)) * self.sb.page_size
    }

    /// Whether page `i` may be handed out by `alloc_preserve`.
    fn allocatable(&self, i: usize) -> bool {
        !self.published[i] && self.pages.is_free(i)
    }

    /// Forgets the freed pages and rescans from the first data page: after
    /// a publish, pages the previous generation held are free too.
    fn reset_allocator(&mut self) {
        self.freed.clear();
        self.scan = self.meta;
    }

    /// The error for a failed read at `addr`: a short read means the file
    /// shrank under us.
    fn read_error(&self, addr: PhysAddr, e: io::Error) -> Error {
        read_error(&self.file, &self.path, addr, e)
    }

    /// The image file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The storage, for instance to `try_clone` the [`File`] and so keep the
    /// image locked after this value is dropped (see
    /// [`open_file`](FileMemory::open_file)).
    pub fn file(&self) -> &F {
        &self.file
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
        let c = self.pages.counts();
        FileStats {
            preserved: c.preserved,
            incoming: c.incoming,
            restored: c.restored,
        }
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
    pub fn restore_set<T: KhoEntry>(&self, name: &str) -> Result<BlockSet<T, FileMemory<F>>> {
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
        self.fail.fail_in(n);
    }

    /// Publishes a new generation whose root table holds `records`: the
    /// handover a later [`open`](Self::open) finds. Until this returns, the
    /// previous generation is what the file holds; once it returns, the new
    /// one survives a power loss.
    ///
    /// The new generation's pages and bitmap are written and synced before
    /// its superblock is written and synced. A failure before the
    /// superblock (a full disk, an I/O error, the file found shrunk) leaves
    /// the previous generation published and this value usable: the pages
    /// stay in memory and a retry writes them again. A failure writing or
    /// syncing the superblock leaves the file holding one of the two
    /// generations, whole, and this value refusing to publish again (reopen
    /// the image to go on).
    ///
    /// An image opened with [`open_read_only`](Self::open_read_only) cannot
    /// publish: that is an [`Error::Image`], and nothing changes.
    pub fn publish(&mut self, records: &[RootRecord]) -> Result<()> {
        let refuse = |what: &str| Error::Image {
            path: shown(&self.path),
            what: what.to_string(),
        };
        if !self.writable {
            return Err(refuse(
                "opened read-only: publishing needs FileMemory::open",
            ));
        }
        if self.poisoned {
            return Err(refuse(
                "an earlier publish failed writing its superblock: reopen the image to go on",
            ));
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
        // As in KHO, only what this kernel preserved goes on: incoming pages
        // nobody claimed are not handed to the next kernel (they stay
        // unallocatable here until restored and freed). The previous root
        // table is not part of the new generation.
        let mut keep = match filled(self.sb.pages, false) {
            Ok(keep) => keep,
            Err(e) => {
                let _ = table.destroy(self);
                return Err(e);
            }
        };
        for (k, s) in keep.iter_mut().zip(self.pages.states()) {
            *k = *s == PageState::Outgoing;
        }
        if let Some(old) = &self.root_set {
            for &b in old.blocks() {
                if let Ok(i) = self.index(b) {
                    keep[i] = false;
                }
            }
        }
        let slot = 1 - self.slot;
        if let Err(e) = self.write_generation(slot, &keep) {
            let _ = table.destroy(self);
            return Err(e);
        }
        let sb = Superblock {
            generation: self.sb.generation + 1,
            root: root.get(),
            ..self.sb
        };
        let at = slot_offset(slot, self.sb.page_size);
        let written = self
            .file
            .write_all_at(&sb.encode(), at)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            self.poisoned = true;
            return Err(Error::Io {
                path: shown(&self.path),
                source,
            });
        }
        self.sb = sb;
        self.slot = slot;
        self.published = keep;
        if let Some(mut old) = self.root_set.replace(table) {
            // Not published any more, so these pages are free at once.
            old.destroy(self)?;
        }
        self.reset_allocator();
        Ok(())
    }

    /// Writes the next generation's bitmap (into `slot`'s) and every dirty
    /// page it keeps, checks the file still has its size, and syncs.
    fn write_generation(&mut self, slot: usize, keep: &[bool]) -> Result<()> {
        let ps = self.sb.page_size;
        let io = io_error(&self.path);
        self.check_size()?;
        let mut bitmap = filled(bitmap_pages(self.sb.pages, ps) * ps, 0u8)?;
        for (i, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
            if let Some(b) = bitmap.get_mut(i / 8) {
                *b |= 1 << (i % 8);
            }
        }
        self.file
            .write_all_at(&bitmap, self.bitmap_offset(slot) as u64)
            .map_err(&io)?;
        // Pages dirty but not kept (freed, or incoming pages written in
        // place) are not part of the new generation: writing them could only
        // touch pages the published one uses.
        for &i in &self.dirty {
            if keep.get(i) == Some(&true) {
                if let Some(page) = self.cache.cached(i) {
                    self.file.write_all_at(page, (i * ps) as u64).map_err(&io)?;
                }
            }
        }
        self.check_size()?;
        self.file.sync_data().map_err(&io)?;
        let dirty = core::mem::take(&mut self.dirty);
        for i in dirty {
            if keep.get(i) != Some(&true) {
                self.cache.evict(i);
            }
        }
        Ok(())
    }

    /// Checks that the file is as long as the image.
    fn check_size(&self) -> Result<()> {
        let expected = (self.sb.pages * self.sb.page_size) as u64;
        let len = self.file.size().map_err(io_error(&self.path))?;
        if len == expected {
            return Ok(());
        }
        let how = if len < expected { "shrank" } else { "grew" };
        Err(Error::Image {
            path: shown(&self.path),
            what: format!("the image {how} to {len} bytes while open (it is {expected})"),
        })
    }

    #[inline]
    fn index(&self, addr: PhysAddr) -> Result<usize> {
        let len = self.sb.pages * self.sb.page_size;
        let i = page_offset(addr, self.sb.base, len, self.sb.page_size)? / self.sb.page_size;
        if i < self.meta {
            return Err(Error::mem(addr, Fault::Reserved));
        }
        Ok(i)
    }
}

// Both file backends can move to, and be read from, other threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<FileMemory>();
    shareable::<crate::RawImage>();
};

/// Where superblock `slot` lives: at the start of page `slot`.
fn slot_offset(slot: usize, page_size: usize) -> u64 {
    (slot * page_size) as u64
}

/// Reads both superblock slots and picks the newest valid one.
///
/// Slot 1's page size is slot 0's when slot 0 is valid; otherwise (slot 0
/// torn or lost) each supported page size is tried, and a superblock only
/// counts where its own page size puts it.
fn read_superblock<F: ImageFile>(file: &F, path: &Path, len: u64) -> Result<(usize, Superblock)> {
    let read = |offset: u64| -> Result<Option<[u8; SUPERBLOCK_SIZE]>> {
        if offset + SUPERBLOCK_SIZE as u64 > len {
            return Ok(None);
        }
        let mut b = [0u8; SUPERBLOCK_SIZE];
        file.read_exact_at(&mut b, offset).map_err(io_error(path))?;
        Ok(Some(b))
    };
    let none = || Err::<Superblock, String>("no superblock magic".into());
    let first = match read(0)? {
        Some(b) => Superblock::decode(&b, len),
        None => none(),
    };
    let offsets: &[usize] = match &first {
        Ok(sb) => core::slice::from_ref(&sb.page_size),
        Err(_) => &PAGE_SIZES,
    };
    let mut second = none();
    for &ps in offsets {
        let Some(b) = read(slot_offset(1, ps))? else {
            continue;
        };
        match Superblock::decode(&b, len) {
            Ok(sb) if sb.page_size == ps => {
                second = Ok(sb);
                break;
            }
            Ok(sb) => {
                second = Err(format!(
                    "a superblock of {}-byte pages at offset {ps}",
                    sb.page_size
                ))
            }
            Err(e) if b[0..8] == MAGIC => second = Err(e),
            Err(_) => {}
        }
    }
    match (first, second) {
        (Ok(a), Ok(b)) if b.generation > a.generation => Ok((1, b)),
        (Ok(a), _) => Ok((0, a)),
        (Err(_), Ok(b)) => Ok((1, b)),
        (Err(a), Err(b)) => Err(Error::Image {
            path: shown(path),
            what: format!("no valid superblock (slot 0: {a}; slot 1: {b})"),
        }),
    }
}

fn read_error<F: ImageFile>(file: &F, path: &Path, addr: PhysAddr, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::mem(
            addr,
            Fault::Shrunk {
                len: file.size().unwrap_or(0),
            },
        )
    } else {
        Error::PageIo {
            path: shown(path),
            addr,
            source: e,
        }
    }
}

impl<F: ImageFile> PreservedMemory for FileMemory<F> {
    fn page_size(&self) -> usize {
        self.sb.page_size
    }

    #[inline]
    fn id(&self) -> MemoryId {
        self.id
    }

    fn alloc_preserve(&mut self) -> Result<PhysAddr> {
        self.fail.attempt()?;
        let mut found = None;
        while let Some(i) = self.freed.pop() {
            if self.allocatable(i) {
                found = Some(i);
                break;
            }
        }
        while found.is_none() && self.scan < self.sb.pages {
            let i = self.scan;
            self.scan += 1;
            if self.allocatable(i) {
                found = Some(i);
            }
        }
        let i = found.ok_or(Error::OutOfMemory)?;
        let addr = PhysAddr(self.sb.base + (i * self.sb.page_size) as u64);
        self.cache.zeroed(i, addr)?;
        self.dirty.insert(i);
        self.pages.alloc(i)?;
        Ok(addr)
    }

    fn unpreserve_free(&mut self, addr: PhysAddr) -> Result<()> {
        let i = self.index(addr)?;
        self.pages.unpreserve(i, addr)?;
        self.dirty.remove(&i);
        self.cache.evict(i);
        if !self.published[i] {
            self.freed.push(i);
        }
        Ok(())
    }

    fn restore_free(&mut self, addr: PhysAddr) -> Result<()> {
        let i = self.index(addr)?;
        // Still part of the published generation: reusable after the next publish.
        self.pages.restore(i, addr)?;
        self.dirty.remove(&i);
        self.cache.evict(i);
        Ok(())
    }

    fn is_incoming(&self, addr: PhysAddr) -> bool {
        self.index(addr).is_ok_and(|i| self.pages.is_incoming(i))
    }

    #[inline]
    fn page(&self, addr: PhysAddr) -> Result<&[u8]> {
        let i = self.index(addr)?;
        let at = (i * self.sb.page_size) as u64;
        let (file, path) = (&self.file, &self.path);
        self.cache.page(i, addr, |buf| {
            file.read_exact_at(buf, at)
                .map_err(|e| read_error(file, path, addr, e))
        })
    }

    /// Refuses a page the published generation holds and this process
    /// still preserves ([`Fault::Published`]): see "In-place changes" in
    /// the module notes.
    #[inline]
    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8]> {
        let i = self.index(addr)?;
        if self.published[i] && self.pages.get(i) == PageState::Outgoing {
            return Err(Error::mem(
                addr,
                Fault::Published {
                    generation: self.sb.generation,
                },
            ));
        }
        let at = (i * self.sb.page_size) as u64;
        self.dirty.insert(i);
        let (file, path) = (&self.file, &self.path);
        self.cache.page_mut(i, addr, |buf| {
            file.read_exact_at(buf, at)
                .map_err(|e| read_error(file, path, addr, e))
        })
    }
}
