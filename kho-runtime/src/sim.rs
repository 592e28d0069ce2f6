//! Simulated physical memory with a simulated kexec.

use alloc::collections::BinaryHeap;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;

use crate::memory::{check_page_size, page_offset};
use crate::pages::{FailPlan, PageState, PageTable};
use crate::{Error, Fault, MemoryId, PhysAddr, PreservedMemory, Result};

/// Byte written over every page the previous kernel did not preserve.
pub const POISON: u8 = 0x6b;

/// Page counters, so tests can prove that nothing leaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Outgoing pages currently preserved.
    pub preserved: usize,
    /// Incoming pages not yet restored.
    pub incoming: usize,
    /// Incoming pages restored (and freed) by this kernel.
    pub restored: usize,
    /// Successful allocations since boot.
    pub allocations: u64,
}

/// Simulated physical memory: `pages` pages of `page_size` bytes at `base`.
///
/// [`kexec`](Self::kexec) boots the "next kernel": preserved pages keep their
/// bytes and become incoming, every other page is poisoned. Allocation hands
/// out the lowest free address first, so runs are reproducible, and can be
/// made to fail at a chosen allocation ([`fail_allocation`](Self::fail_allocation)).
///
/// A clone is another memory with the same bytes: it has its own
/// [`id`](PreservedMemory::id), so a set made in one is refused by the other
/// ([`Error::WrongMemory`]); restore the set from the clone to read it there.
pub struct SimMemory {
    id: MemoryId,
    base: u64,
    page_size: usize,
    bytes: LineAligned,
    pages: PageTable,
    /// Where the next free page is found, lowest first.
    free: FreePages,
    allocations: u64,
    fail: FailPlan,
}

/// Zeroed bytes that start on a 64-byte boundary, so that every page of
/// the memory starts a cache line, as a real page does: a streamed block
/// write then covers whole lines (a `Vec<u8>` of this size starts 16 bytes
/// into a line on glibc). 63 spare bytes and an offset; no `unsafe`.
struct LineAligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl LineAligned {
    fn zeroed(len: usize) -> Self {
        let buf = vec![0; len + 63];
        // `align_offset` may decline (usize::MAX): then the bytes are
        // merely unaligned, which costs speed, not correctness.
        let start = buf.as_ptr().align_offset(64).min(63);
        LineAligned { buf, start, len }
    }

    /// `len` bytes from `at`, with one bounds check (the page accessors'
    /// hot path).
    #[inline]
    fn range(&self, at: usize, len: usize) -> &[u8] {
        &self.buf[self.start + at..self.start + at + len]
    }

    #[inline]
    fn range_mut(&mut self, at: usize, len: usize) -> &mut [u8] {
        &mut self.buf[self.start + at..self.start + at + len]
    }
}

/// The free pages, lowest index first, in amortised O(1) for the common
/// case of a memory filled from the bottom: pages from `cursor` on are
/// found by scanning the page table (each page is passed once between
/// resets), and pages below it that were freed again wait in a min-heap,
/// so a page freed late does not jump the queue.
#[derive(Clone, Debug, Default)]
struct FreePages {
    /// Every free page below it is in `below`; no page at or past it is.
    cursor: usize,
    below: BinaryHeap<Reverse<usize>>,
}

impl FreePages {
    /// The lowest free page, now counted as taken.
    fn take(&mut self, pages: &PageTable) -> Option<usize> {
        if let Some(Reverse(i)) = self.below.pop() {
            return Some(i);
        }
        while self.cursor < pages.len() {
            let i = self.cursor;
            self.cursor += 1;
            if pages.is_free(i) {
                return Some(i);
            }
        }
        None
    }

    /// Page `i`, just freed.
    fn put(&mut self, i: usize) {
        if i < self.cursor {
            self.below.push(Reverse(i));
        }
    }
}

impl Clone for LineAligned {
    fn clone(&self) -> Self {
        let mut copy = LineAligned::zeroed(self.len);
        copy.copy_from_slice(self);
        copy
    }
}

impl core::ops::Deref for LineAligned {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.range(0, self.len)
    }
}

impl core::ops::DerefMut for LineAligned {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.range_mut(0, self.len)
    }
}

impl Clone for SimMemory {
    fn clone(&self) -> Self {
        SimMemory {
            id: MemoryId::new(),
            base: self.base,
            page_size: self.page_size,
            bytes: self.bytes.clone(),
            pages: self.pages.clone(),
            free: self.free.clone(),
            allocations: self.allocations,
            fail: self.fail,
        }
    }
}

impl core::fmt::Debug for SimMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimMemory")
            .field("id", &self.id)
            .field("base", &PhysAddr(self.base))
            .field("page_size", &self.page_size)
            .field("pages", &self.pages.len())
            .field("stats", &self.stats())
            .finish()
    }
}

impl SimMemory {
    /// Zeroed memory of `pages` pages at `base` (page aligned, non-zero so
    /// that no page sits at the null address).
    pub fn new(base: u64, page_size: usize, pages: usize) -> Result<Self> {
        check_page_size(page_size)?;
        let len = pages.checked_mul(page_size).ok_or(Error::OutOfMemory)?;
        if base == 0
            || !base.is_multiple_of(page_size as u64)
            || base.checked_add(len as u64).is_none()
        {
            return Err(Error::mem(PhysAddr(base), Fault::Unaligned));
        }
        Ok(SimMemory {
            id: MemoryId::new(),
            base,
            page_size,
            bytes: LineAligned::zeroed(len),
            pages: PageTable::new(pages, PageState::Free { zeroed: true })?,
            free: FreePages::default(),
            allocations: 0,
            fail: FailPlan::default(),
        })
    }

    /// The first physical address.
    pub fn base(&self) -> PhysAddr {
        PhysAddr(self.base)
    }

    /// Number of pages.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    /// The page counters.
    pub fn stats(&self) -> SimStats {
        let c = self.pages.counts();
        SimStats {
            preserved: c.preserved,
            incoming: c.incoming,
            restored: c.restored,
            allocations: self.allocations,
        }
    }

    /// All of memory as bytes (byte `k` is address `base + k`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..]
    }

    /// Makes the `n`th allocation attempt from now (0 = the next) fail with
    /// [`Error::OutOfMemory`], once.
    pub fn fail_allocation(&mut self, n: u64) {
        self.fail.fail_in(n);
    }

    /// Boots the next kernel on this memory: pages preserved by this kernel
    /// become incoming with their bytes intact; all others, incoming pages
    /// this kernel never restored included, are poisoned and free.
    ///
    /// The result is a new memory (a new [`id`](PreservedMemory::id)): the
    /// outgoing kernel's sets are refused in it; restore them from their heads.
    pub fn kexec(mut self) -> SimMemory {
        // Every page is at or past the restarted cursor: the scan finds the
        // freed ones.
        self.free = FreePages::default();
        let (bytes, ps) = (&mut self.bytes, self.page_size);
        self.pages.hand_over(|i| {
            let at = i * ps;
            bytes[at..at + ps].fill(POISON);
        });
        self.id = MemoryId::new();
        self.allocations = 0;
        self.fail = FailPlan::default();
        self
    }

    fn index(&self, addr: PhysAddr) -> Result<usize> {
        let at = page_offset(addr, self.base, self.bytes.len, self.page_size)?;
        Ok(at >> self.page_size.trailing_zeros())
    }
}

impl SimMemory {
    /// Takes the lowest free page; a page used before is zeroed when
    /// `zero` is set (a never-used one is zero already).
    fn alloc(&mut self, zero: bool) -> Result<PhysAddr> {
        self.fail.attempt()?;
        let i = self.free.take(&self.pages).ok_or(Error::OutOfMemory)?;
        if !self.pages.alloc(i)? && zero {
            let at = i * self.page_size;
            self.bytes[at..at + self.page_size].fill(0);
        }
        self.allocations += 1;
        Ok(PhysAddr(self.base + (i * self.page_size) as u64))
    }
}

impl PreservedMemory for SimMemory {
    fn page_size(&self) -> usize {
        self.page_size
    }

    #[inline]
    fn id(&self) -> MemoryId {
        self.id
    }

    fn alloc_preserve(&mut self) -> Result<PhysAddr> {
        self.alloc(true)
    }

    /// A page that held something before (a freed block) keeps its bytes:
    /// the caller overwrites them all.
    fn alloc_preserve_for_overwrite(&mut self) -> Result<PhysAddr> {
        self.alloc(false)
    }

    fn unpreserve_free(&mut self, addr: PhysAddr) -> Result<()> {
        let i = self.index(addr)?;
        self.pages.unpreserve(i, addr)?;
        self.free.put(i);
        Ok(())
    }

    fn restore_free(&mut self, addr: PhysAddr) -> Result<()> {
        let i = self.index(addr)?;
        self.pages.restore(i, addr)?;
        self.free.put(i);
        Ok(())
    }

    fn is_incoming(&self, addr: PhysAddr) -> bool {
        self.index(addr).is_ok_and(|i| self.pages.is_incoming(i))
    }

    #[inline]
    fn page(&self, addr: PhysAddr) -> Result<&[u8]> {
        let at = page_offset(addr, self.base, self.bytes.len, self.page_size)?;
        Ok(self.bytes.range(at, self.page_size))
    }

    #[inline]
    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8]> {
        let at = page_offset(addr, self.base, self.bytes.len, self.page_size)?;
        Ok(self.bytes.range_mut(at, self.page_size))
    }

    fn page_pair_mut(
        &mut self,
        a: PhysAddr,
        b: PhysAddr,
    ) -> Result<Option<(&mut [u8], &mut [u8])>> {
        let at_a = page_offset(a, self.base, self.bytes.len, self.page_size)?;
        let at_b = page_offset(b, self.base, self.bytes.len, self.page_size)?;
        let ps = self.page_size;
        let all = self.bytes.range_mut(0, self.bytes.len);
        // Pages are page aligned, so two different ones are disjoint.
        Ok(match at_a.cmp(&at_b) {
            core::cmp::Ordering::Less => {
                let (low, high) = all.split_at_mut(at_b);
                Some((&mut low[at_a..at_a + ps], &mut high[..ps]))
            }
            core::cmp::Ordering::Greater => {
                let (low, high) = all.split_at_mut(at_a);
                Some((&mut high[..ps], &mut low[at_b..at_b + ps]))
            }
            core::cmp::Ordering::Equal => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lowest free page first, whether it was never used, freed again
    /// below the scan cursor, or left free by a kexec around preserved ones.
    #[test]
    fn allocation_takes_the_lowest_free_page() {
        let mut m = SimMemory::new(0x10_0000, 4096, 6).unwrap();
        let page = |i: u64| PhysAddr(0x10_0000 + i * 4096);
        for i in 0..4 {
            assert_eq!(m.alloc_preserve().unwrap(), page(i));
        }
        m.unpreserve_free(page(2)).unwrap();
        m.unpreserve_free(page(0)).unwrap();
        assert_eq!(m.alloc_preserve().unwrap(), page(0));
        assert_eq!(m.alloc_preserve().unwrap(), page(2));
        assert_eq!(m.alloc_preserve().unwrap(), page(4));
        m.unpreserve_free(page(1)).unwrap();
        let mut next = m.kexec();
        // 0, 2, 3 and 4 were preserved: 1 and 5 are free.
        assert_eq!(next.alloc_preserve().unwrap(), page(1));
        next.restore_free(page(3)).unwrap();
        assert_eq!(next.alloc_preserve().unwrap(), page(3));
        assert_eq!(next.alloc_preserve().unwrap(), page(5));
        assert!(matches!(next.alloc_preserve(), Err(Error::OutOfMemory)));
    }

    #[test]
    fn kexec_keeps_preserved_pages_and_poisons_the_rest() {
        let mut m = SimMemory::new(0x10_0000, 4096, 4).unwrap();
        let a = m.alloc_preserve().unwrap();
        let b = m.alloc_preserve().unwrap();
        assert_eq!(a, PhysAddr(0x10_0000));
        m.page_mut(a).unwrap()[0] = 7;
        m.page_mut(b).unwrap()[0] = 9;
        m.unpreserve_free(b).unwrap();
        let mut next = m.kexec();
        assert_eq!(next.stats().incoming, 1);
        assert_eq!(next.page(a).unwrap()[0], 7);
        assert!(next.page(b).unwrap().iter().all(|&x| x == POISON));
        assert!(next.is_incoming(a) && !next.is_incoming(b));
        next.restore_free(a).unwrap();
        assert!(matches!(
            next.restore_free(a),
            Err(Error::Memory {
                fault: Fault::AlreadyRestored,
                ..
            })
        ));
        assert!(matches!(
            next.restore_free(b),
            Err(Error::Memory {
                fault: Fault::NotPreserved,
                ..
            })
        ));
        // A reused poisoned page comes back zeroed.
        let c = next.alloc_preserve().unwrap();
        assert!(next.page(c).unwrap().iter().all(|&x| x == 0));
    }

    #[test]
    fn injected_failure_hits_the_chosen_attempt_once() {
        let mut m = SimMemory::new(0x1000, 4096, 8).unwrap();
        m.fail_allocation(1);
        assert!(m.alloc_preserve().is_ok());
        assert!(matches!(m.alloc_preserve(), Err(Error::OutOfMemory)));
        assert!(m.alloc_preserve().is_ok());
        assert_eq!(m.stats().preserved, 2);
    }

    #[test]
    fn exhausted_memory_is_out_of_memory() {
        let mut m = SimMemory::new(0x1000, 4096, 1).unwrap();
        m.alloc_preserve().unwrap();
        assert!(matches!(m.alloc_preserve(), Err(Error::OutOfMemory)));
    }
}
