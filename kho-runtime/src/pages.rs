//! The page-state table both writable backends keep: which pages this
//! kernel preserved, which the previous one handed over, which were
//! released, and the counters that let tests prove nothing leaks.
//!
//! [`SimMemory`](crate::SimMemory) and [`FileMemory`](crate::FileMemory)
//! differ in where bytes live and how free pages are found (a min-heap; a
//! scan that skips the published generation), not in these rules, so the
//! rules live here once.

use alloc::vec::Vec;

use crate::{Error, Fault, PhysAddr, Result};

/// The state of one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageState {
    /// The backend's own metadata, never a block.
    Reserved,
    /// Free; `zeroed` when known to hold only zeros.
    Free { zeroed: bool },
    /// Allocated and preserved by this kernel.
    Outgoing,
    /// Preserved by the previous kernel, not yet restored.
    Incoming,
    /// Restored and freed by this kernel (free for allocation too).
    Restored,
}

/// Pages by state, kept in step with every transition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Outgoing pages.
    pub(crate) preserved: usize,
    /// Incoming pages not yet restored.
    pub(crate) incoming: usize,
    /// Incoming pages restored (and freed) by this kernel.
    pub(crate) restored: usize,
}

/// One state per page, and the counts.
#[derive(Clone, Debug)]
pub(crate) struct PageTable {
    state: Vec<PageState>,
    counts: Counts,
}

impl PageTable {
    /// `pages` pages in `state` (which must not be `Outgoing` or `Incoming`:
    /// the counts start at zero), or [`Error::OutOfMemory`] when the table
    /// cannot be allocated (the page count may come from a file).
    pub(crate) fn new(pages: usize, state: PageState) -> Result<Self> {
        debug_assert!(!matches!(state, PageState::Outgoing | PageState::Incoming));
        let mut v = Vec::new();
        v.try_reserve_exact(pages).map_err(|_| Error::OutOfMemory)?;
        v.resize(pages, state);
        Ok(PageTable {
            state: v,
            counts: Counts::default(),
        })
    }

    /// Pages in the table.
    pub(crate) fn len(&self) -> usize {
        self.state.len()
    }

    /// Page `i`'s state (`Reserved` past the end: nothing to hand out).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> PageState {
        self.state.get(i).copied().unwrap_or(PageState::Reserved)
    }

    /// The counts.
    pub(crate) fn counts(&self) -> Counts {
        self.counts
    }

    // Used by FileMemory (std) only.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    /// Every page's state, in page order.
    pub(crate) fn states(&self) -> &[PageState] {
        &self.state
    }

    // Used by FileMemory (std) only.
    /// Whether page `i` is free to allocate (free or restored).
    #[inline]
    pub(crate) fn is_free(&self, i: usize) -> bool {
        matches!(self.get(i), PageState::Free { .. } | PageState::Restored)
    }

    /// Whether page `i` was handed over and not yet restored.
    #[inline]
    pub(crate) fn is_incoming(&self, i: usize) -> bool {
        self.get(i) == PageState::Incoming
    }

    // Used by FileMemory (std) only.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    /// Marks page `i` free, if it is reserved or free: for building a
    /// table (an image's data pages), never for a counted state.
    pub(crate) fn set_free(&mut self, i: usize) {
        if let Some(s @ (PageState::Reserved | PageState::Free { .. })) = self.state.get_mut(i) {
            *s = PageState::Free { zeroed: false };
        }
    }

    // Used by FileMemory (std) only.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    /// Marks page `i`, if reserved or free, as handed over by the previous
    /// kernel (opening an image).
    pub(crate) fn set_incoming(&mut self, i: usize) {
        if let Some(s @ (PageState::Reserved | PageState::Free { .. })) = self.state.get_mut(i) {
            *s = PageState::Incoming;
            self.counts.incoming += 1;
        }
    }

    /// alloc-preserve: free page `i` becomes outgoing. Returns whether it
    /// held only zeros. The caller chose `i` with [`is_free`](Self::is_free);
    /// any other page is refused as out of memory (the free list lied).
    #[inline]
    pub(crate) fn alloc(&mut self, i: usize) -> Result<bool> {
        let zeroed = match self.state.get(i) {
            Some(PageState::Free { zeroed }) => *zeroed,
            Some(PageState::Restored) => false,
            _ => return Err(Error::OutOfMemory),
        };
        self.state[i] = PageState::Outgoing;
        self.counts.preserved += 1;
        Ok(zeroed)
    }

    /// unpreserve-free: outgoing page `i` (at `addr`) becomes free.
    #[inline]
    pub(crate) fn unpreserve(&mut self, i: usize, addr: PhysAddr) -> Result<()> {
        match self.state.get_mut(i) {
            Some(s @ PageState::Outgoing) => *s = PageState::Free { zeroed: false },
            _ => return Err(Error::mem(addr, Fault::NotPreserved)),
        }
        self.counts.preserved -= 1;
        Ok(())
    }

    /// restore-free: incoming page `i` (at `addr`) becomes restored.
    #[inline]
    pub(crate) fn restore(&mut self, i: usize, addr: PhysAddr) -> Result<()> {
        match self.state.get_mut(i) {
            Some(s @ PageState::Incoming) => *s = PageState::Restored,
            Some(PageState::Restored) => return Err(Error::mem(addr, Fault::AlreadyRestored)),
            _ => return Err(Error::mem(addr, Fault::NotPreserved)),
        }
        self.counts.incoming -= 1;
        self.counts.restored += 1;
        Ok(())
    }

    /// The handover (a kexec): outgoing pages become incoming, every other
    /// page but the reserved ones becomes free (and not known zeroed);
    /// `freed` is called with each page that did, so the backend can
    /// poison and list it. The counts restart with the incoming pages.
    pub(crate) fn hand_over(&mut self, mut freed: impl FnMut(usize)) {
        let mut incoming = 0;
        for (i, s) in self.state.iter_mut().enumerate() {
            match s {
                PageState::Reserved => {}
                PageState::Outgoing => {
                    *s = PageState::Incoming;
                    incoming += 1;
                }
                _ => {
                    *s = PageState::Free { zeroed: false };
                    freed(i);
                }
            }
        }
        self.counts = Counts {
            incoming,
            ..Counts::default()
        };
    }
}

/// An injected allocation failure: the `n`th attempt from when it was
/// planned fails with [`Error::OutOfMemory`], once (for testing what a
/// failed grow leaves behind).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FailPlan {
    fail_at: Option<u64>,
    attempts: u64,
}

impl FailPlan {
    /// Makes the `n`th attempt from now (0 = the next) fail.
    pub(crate) fn fail_in(&mut self, n: u64) {
        self.fail_at = Some(self.attempts + n);
    }

    /// Counts one allocation attempt; the planned one fails.
    #[inline]
    pub(crate) fn attempt(&mut self) -> Result<()> {
        let attempt = self.attempts;
        self.attempts += 1;
        if self.fail_at == Some(attempt) {
            self.fail_at = None;
            return Err(Error::OutOfMemory);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_and_counts() {
        let mut t = PageTable::new(4, PageState::Free { zeroed: true }).unwrap();
        let a = PhysAddr(0x1000);
        assert_eq!(t.alloc(0).ok(), Some(true));
        assert!(matches!(t.alloc(0), Err(Error::OutOfMemory)));
        t.alloc(1).unwrap();
        t.unpreserve(1, a).unwrap();
        assert!(matches!(
            t.unpreserve(1, a),
            Err(Error::Memory {
                fault: Fault::NotPreserved,
                ..
            })
        ));
        assert_eq!(
            t.alloc(1).ok(),
            Some(false),
            "a freed page is not known zeroed"
        );
        t.unpreserve(1, a).unwrap();
        let mut freed = Vec::new();
        t.hand_over(|i| freed.push(i));
        assert_eq!(freed, [1, 2, 3]);
        assert_eq!(t.counts().incoming, 1);
        t.restore(0, a).unwrap();
        assert!(matches!(
            t.restore(0, a),
            Err(Error::Memory {
                fault: Fault::AlreadyRestored,
                ..
            })
        ));
        assert!(matches!(
            t.restore(1, a),
            Err(Error::Memory {
                fault: Fault::NotPreserved,
                ..
            })
        ));
        assert!(t.is_free(0) && t.is_free(1));
        assert_eq!(
            t.counts(),
            Counts {
                preserved: 0,
                incoming: 0,
                restored: 1
            }
        );
    }

    #[test]
    fn a_planned_failure_hits_once() {
        let mut f = FailPlan::default();
        f.attempt().unwrap();
        f.fail_in(1);
        f.attempt().unwrap();
        assert!(matches!(f.attempt(), Err(Error::OutOfMemory)));
        f.attempt().unwrap();
    }

    #[test]
    fn reserved_pages_never_change() {
        let mut t = PageTable::new(2, PageState::Reserved).unwrap();
        t.set_free(1);
        assert!(matches!(t.alloc(0), Err(Error::OutOfMemory)));
        t.alloc(1).unwrap();
        t.hand_over(|_| {});
        assert_eq!(t.get(0), PageState::Reserved);
        assert!(t.is_incoming(1));
        assert_eq!(t.get(9), PageState::Reserved);
    }
}
