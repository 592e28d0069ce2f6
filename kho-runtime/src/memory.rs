//! The preserved-memory interface every backend implements.

use crate::{Error, Fault, PhysAddr, Result};

/// Page sizes the format supports (both kernels share one).
pub const PAGE_SIZES: [usize; 3] = [4096, 16384, 65536];

/// Memory that can be handed from one kernel to the next, page by page.
///
/// This is the part of KHO a block set needs: zeroed preserved pages for the
/// outgoing kernel, release of incoming pages in the next one, and checked
/// access to a page by physical address. A block is exactly one page.
pub trait PreservedMemory {
    /// The page (and so block) size in bytes.
    fn page_size(&self) -> usize;

    /// Allocates one zeroed page and marks it preserved across the handover.
    fn alloc_preserve(&mut self) -> Result<PhysAddr>;

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
    fn page(&self, addr: PhysAddr) -> Result<&[u8]>;

    /// The page at `addr` for writing.
    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8]>;
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
#[inline]
pub(crate) fn page_offset(
    addr: PhysAddr,
    base: u64,
    len: usize,
    page_size: usize,
) -> Result<usize> {
    let a = addr.get();
    if !a.is_multiple_of(page_size as u64) {
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
