//! The preserved-memory interface every backend implements.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Fault, PhysAddr, Result};

/// Page sizes the format supports (both kernels share one).
pub const PAGE_SIZES: [usize; 3] = [4096, 16384, 65536];

/// The identity of one memory: which [`PreservedMemory`] value a block set
/// lives in.
///
/// Each call of [`MemoryId::new`] returns an identity never returned before
/// in this process (a 64-bit counter, which no process can exhaust), so two
/// memories are told apart even when they have the same base, page size and
/// bytes: a clone, the memory after a [`kexec`](crate::SimMemory::kexec), a
/// second open of the same image. A block set records its memory's identity
/// when it is made or restored and refuses any other memory with
/// [`Error::WrongMemory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemoryId(u64);

impl MemoryId {
    /// A fresh identity, for a backend's constructor (and for every value
    /// that is a different memory from the one it came from, such as a clone).
    #[allow(clippy::new_without_default)] // a default would read as "the same one"
    pub fn new() -> Self {
        // Relaxed: the counter orders nothing but itself; uniqueness comes
        // from the atomic read-modify-write.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        MemoryId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The identity as a number (unique in this process, for messages).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl core::fmt::Display for MemoryId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "memory #{}", self.0)
    }
}

/// Memory that can be handed from one kernel to the next, page by page.
///
/// This is the part of KHO a block set needs: zeroed preserved pages for the
/// outgoing kernel, release of incoming pages in the next one, and checked
/// access to a page by physical address. A block is exactly one page.
pub trait PreservedMemory {
    /// The page (and so block) size in bytes.
    fn page_size(&self) -> usize;

    /// This memory's identity, made with [`MemoryId::new`] when the value
    /// was made and never changed. Two values that are different memories
    /// must answer different identities (a clone or a value made by
    /// consuming another counts as a new memory), or a block set could be
    /// used with memory that does not hold its blocks. Called on every
    /// block-set operation: keep it a field read.
    fn id(&self) -> MemoryId;

    /// Allocates one zeroed page and marks it preserved across the handover.
    fn alloc_preserve(&mut self) -> Result<PhysAddr>;

    /// [`alloc_preserve`](Self::alloc_preserve) for a caller that writes
    /// every byte of the page before anything reads it (a block set
    /// streaming whole pages): a memory may skip the zeroing, which would
    /// cost a second pass over the page. The default zeroes.
    fn alloc_preserve_for_overwrite(&mut self) -> Result<PhysAddr> {
        self.alloc_preserve()
    }

    /// Frees an outgoing page allocated with [`alloc_preserve`](Self::alloc_preserve),
    /// dropping it from the handover.
    fn unpreserve_free(&mut self, addr: PhysAddr) -> Result<()>;

    /// Claims an incoming page handed over by the previous kernel and frees
    /// it. Claiming a page twice, or one that was never preserved, is an error.
    fn restore_free(&mut self, addr: PhysAddr) -> Result<()>;

    /// Whether `addr` is a page the previous kernel handed over and this one
    /// has not released yet. Backends that cannot tell (a raw dump) answer `true`.
    fn is_incoming(&self, addr: PhysAddr) -> bool;

    /// The page at `addr`, which must be page aligned and inside memory.
    ///
    /// Exactly [`page_size`](Self::page_size) bytes.
    fn page(&self, addr: PhysAddr) -> Result<&[u8]>;

    /// The page at `addr` for writing.
    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8]>;

    /// The two distinct pages at `a` and `b` for writing at once, as
    /// [`page_mut`](Self::page_mut) gives each, or `None` when the backend
    /// does not hand out two (then a bulk writer takes them one at a
    /// time). Lets a bulk write interleave two pages, as a large memcpy
    /// does. Provided: `None`.
    fn page_pair_mut(
        &mut self,
        a: PhysAddr,
        b: PhysAddr,
    ) -> Result<Option<(&mut [u8], &mut [u8])>> {
        let _ = (a, b);
        Ok(None)
    }
}

/// Checks that `page_size` is one the format supports.
pub fn check_page_size(page_size: usize) -> Result<()> {
    if PAGE_SIZES.contains(&page_size) {
        Ok(())
    } else {
        Err(Error::PageSize(page_size))
    }
}

/// Where a page lives inside a backend's byte range `[base, base + len)`.
///
/// Returns the byte offset of the page, or the fault that makes `addr`
/// unusable. `len` need not be a multiple of the page size (a truncated
/// dump): a page that starts inside but ends outside is `PastEndOfImage`.
/// `page_size` is one of [`PAGE_SIZES`], a power of two, so alignment is a
/// mask, not a division (which a chain walk would pay per block).
#[inline]
/// The native-endian `u64` at byte `off` of a page; 0 where the page is
/// shorter (a backend's pages are whole, but a reader never panics).
pub(crate) fn read_u64(page: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(b) = page.get(off..off.saturating_add(8)) {
        w.copy_from_slice(b);
    }
    u64::from_ne_bytes(w)
}

pub(crate) fn page_offset(
    addr: PhysAddr,
    base: u64,
    len: usize,
    page_size: usize,
) -> Result<usize> {
    debug_assert!(page_size.is_power_of_two());
    let a = addr.get();
    if a & (page_size as u64).wrapping_sub(1) != 0 {
        return Err(Error::mem(addr, Fault::Unaligned));
    }
    let off = match a.checked_sub(base) {
        Some(off) if off < len as u64 => off as usize,
        _ => return Err(Error::mem(addr, Fault::OutOfRange)),
    };
    if len - off < page_size {
        return Err(Error::mem(addr, Fault::PastEndOfImage));
    }
    Ok(off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_offset_checks_every_bound() {
        let base = 0x10_0000;
        let ok = page_offset(PhysAddr(base + 4096), base, 3 * 4096, 4096);
        assert_eq!(ok.ok(), Some(4096));
        let fault = |a, len| match page_offset(PhysAddr(a), base, len, 4096) {
            Err(Error::Memory { fault, .. }) => Some(fault),
            _ => None,
        };
        assert_eq!(fault(base + 1, 8192), Some(Fault::Unaligned));
        assert_eq!(fault(base - 4096, 8192), Some(Fault::OutOfRange));
        assert_eq!(fault(base + 8192, 8192), Some(Fault::OutOfRange));
        assert_eq!(fault(base + 8192, 8192 + 100), Some(Fault::PastEndOfImage));
        assert_eq!(fault(!4095, 8192), Some(Fault::OutOfRange));
    }

    #[test]
    fn only_three_page_sizes() {
        for ps in PAGE_SIZES {
            assert!(check_page_size(ps).is_ok());
        }
        assert!(matches!(check_page_size(8192), Err(Error::PageSize(8192))));
    }
}
