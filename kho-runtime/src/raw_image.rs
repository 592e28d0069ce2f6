//! A read-only raw physical-memory dump.

use alloc::string::String;
use alloc::vec::Vec;
use std::fs::File;
use std::path::Path;

use crate::cache::PageCache;
use crate::image_file::{self, shown, Access, Kind};
use crate::memory::{check_page_size, page_offset};
use crate::{Error, Fault, MemoryId, PhysAddr, PreservedMemory, Result};

enum Bytes {
    /// A file read page by page on first access.
    File {
        file: File,
        path: String,
        cache: PageCache,
    },
    Owned(Vec<u8>),
}

/// A raw dump of physical memory: byte `k` is address `base + k`.
///
/// The dump carries no metadata, so every page counts as handed over and
/// only addresses and chain structure can be checked. The last page may be
/// cut short (a truncated dump): a block there is `PastEndOfImage`.
///
/// A dump opened from a file is not mapped and not read whole: each page is
/// read (with a positioned read) the first time it is asked for and kept,
/// so a dump larger than memory can be walked, costing only the pages
/// read. Its length is taken at [`open`](Self::open). If the file shrinks
/// afterwards, a page no longer there is an error at its access
/// ([`Fault::Shrunk`], "the image shrank to N bytes while open"), never a
/// signal; a page read before the truncation keeps the bytes it had.
pub struct RawImage {
    id: MemoryId,
    base: u64,
    page_size: usize,
    len: usize,
    bytes: Bytes,
}

impl core::fmt::Debug for RawImage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let path = match &self.bytes {
            Bytes::File { path, .. } => path.as_str(),
            Bytes::Owned(_) => "<memory>",
        };
        f.debug_struct("RawImage")
            .field("id", &self.id)
            .field("path", &path)
            .field("base", &PhysAddr(self.base))
            .field("page_size", &self.page_size)
            .field("len", &self.len)
            .finish()
    }
}

impl RawImage {
    /// Opens the dump at `path`: a regular file, or a block device (a dump
    /// on a disk partition or a loop device, whose size is read from the
    /// device). Anything else (a FIFO, a character device such as
    /// `/dev/zero`, a directory) is refused at once with
    /// [`Error::NotRegular`], without blocking or reading.
    pub fn open(path: impl AsRef<Path>, base: u64, page_size: usize) -> Result<Self> {
        let path = path.as_ref();
        let shown = shown(path);
        check(base, page_size, &shown)?;
        let (file, kind) = image_file::open(path, Access::Read, true)?;
        let len = match kind {
            Kind::Regular => file.metadata().map_err(image_file::io_error(path))?.len(),
            Kind::BlockDevice { len } => len,
        };
        let len = usize::try_from(len).map_err(|_| Error::Image {
            path: shown.clone(),
            what: alloc::format!("{len} bytes do not fit this machine's address space"),
        })?;
        let bytes = Bytes::File {
            file,
            cache: PageCache::new(len / page_size, page_size),
            path: shown,
        };
        Ok(RawImage {
            id: MemoryId::new(),
            base,
            page_size,
            len,
            bytes,
        })
    }

    /// A dump held in memory (for tests and fuzzing).
    pub fn from_vec(bytes: Vec<u8>, base: u64, page_size: usize) -> Result<Self> {
        check(base, page_size, "<memory>")?;
        Ok(RawImage {
            id: MemoryId::new(),
            base,
            page_size,
            len: bytes.len(),
            bytes: Bytes::Owned(bytes),
        })
    }

    /// The dump's length in bytes (for a file, when it was opened).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dump is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whole pages in the dump.
    pub fn pages(&self) -> usize {
        self.len / self.page_size
    }
}

fn check(base: u64, page_size: usize, path: &str) -> Result<()> {
    check_page_size(page_size)?;
    if !base.is_multiple_of(page_size as u64) {
        return Err(Error::Image {
            path: String::from(path),
            what: alloc::format!("base {base:#x} is not aligned to the {page_size}-byte page"),
        });
    }
    Ok(())
}

impl PreservedMemory for RawImage {
    fn page_size(&self) -> usize {
        self.page_size
    }

    #[inline]
    fn id(&self) -> MemoryId {
        self.id
    }

    fn alloc_preserve(&mut self) -> Result<PhysAddr> {
        Err(Error::mem(PhysAddr::NULL, Fault::ReadOnly))
    }

    fn unpreserve_free(&mut self, addr: PhysAddr) -> Result<()> {
        Err(Error::mem(addr, Fault::ReadOnly))
    }

    fn restore_free(&mut self, addr: PhysAddr) -> Result<()> {
        Err(Error::mem(addr, Fault::ReadOnly))
    }

    fn is_incoming(&self, _addr: PhysAddr) -> bool {
        true
    }

    #[inline]
    fn page(&self, addr: PhysAddr) -> Result<&[u8]> {
        let at = page_offset(addr, self.base, self.len, self.page_size)?;
        match &self.bytes {
            Bytes::Owned(v) => v
                .get(at..at + self.page_size)
                .ok_or_else(|| Error::mem(addr, Fault::PastEndOfImage)),
            Bytes::File { file, path, cache } => cache.page(at / self.page_size, addr, |buf| {
                std::os::unix::fs::FileExt::read_exact_at(file, buf, at as u64).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        let len = file.metadata().map_or(0, |m| m.len());
                        Error::mem(addr, Fault::Shrunk { len })
                    } else {
                        Error::PageIo {
                            path: path.clone(),
                            addr,
                            source: e,
                        }
                    }
                })
            }),
        }
    }

    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8]> {
        Err(Error::mem(addr, Fault::ReadOnly))
    }
}
