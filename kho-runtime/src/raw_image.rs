//! A read-only raw physical-memory dump.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::memory::{check_page_size, page_offset};
use crate::{Error, Fault, PhysAddr, PreservedMemory, Result};

enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

/// A raw dump of physical memory: byte `k` is address `base + k`.
///
/// The dump carries no metadata, so every page counts as handed over and
/// only addresses and chain structure can be checked. The last page may be
/// cut short (a truncated dump): a block there is `PastEndOfImage`.
pub struct RawImage {
    base: u64,
    page_size: usize,
    bytes: Bytes,
}

impl RawImage {
    /// Maps the dump at `path`.
    pub fn open(path: impl AsRef<Path>, base: u64, page_size: usize) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let io = |source| Error::Io {
            path: shown.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let bytes = if len == 0 {
            Bytes::Owned(Vec::new())
        } else {
            Bytes::Mapped(crate::mmap::map_read(&file).map_err(io)?)
        };
        Self::with(bytes, base, page_size, &shown)
    }

    /// A dump held in memory (for tests and fuzzing).
    pub fn from_vec(bytes: Vec<u8>, base: u64, page_size: usize) -> Result<Self> {
        Self::with(Bytes::Owned(bytes), base, page_size, "<memory>")
    }

    fn with(bytes: Bytes, base: u64, page_size: usize, path: &str) -> Result<Self> {
        check_page_size(page_size)?;
        if !base.is_multiple_of(page_size as u64) {
            return Err(Error::Image {
                path: String::from(path),
                what: alloc::format!("base {base:#x} is not aligned to the {page_size}-byte page"),
            });
        }
        Ok(RawImage {
            base,
            page_size,
            bytes,
        })
    }

    /// The dump's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

impl PreservedMemory for RawImage {
    fn page_size(&self) -> usize {
        self.page_size
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
        let bytes = self.as_bytes();
        let at = page_offset(addr, self.base, bytes.len(), self.page_size)?;
        Ok(&bytes[at..at + self.page_size])
    }

    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8]> {
        Err(Error::mem(addr, Fault::ReadOnly))
    }
}
