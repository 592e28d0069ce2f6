//! The in-process page cache of the file backends.
//!
//! The file backends read a page the first time it is asked for and keep
//! it: [`PreservedMemory::page`](crate::PreservedMemory::page) takes `&self`
//! and hands out a slice that lives as long as that borrow, so a page once
//! read is never replaced behind a reader's back. The table is two levels
//! of [`OnceLock`]s: a directory of chunks, each chunk allocated on its
//! first touch, so an image or dump of 64 GiB costs memory only for the
//! pages read and a few bytes per 4096 pages for the directory.
//!
//! Because a restore reads every block of the chain it accepts, the pages
//! of a restored set are all in the cache afterwards: iterating it never
//! goes back to the file, and so cannot come up short if the file shrinks.

use alloc::boxed::Box;
use alloc::vec;
use std::sync::OnceLock;

use crate::{Error, Fault, PhysAddr, Result};

/// Page slots per directory chunk.
const CHUNK: usize = 4096;

type Slot = OnceLock<Box<[u8]>>;
type Chunk = Box<[Slot]>;

fn new_chunk() -> Chunk {
    (0..CHUNK).map(|_| OnceLock::new()).collect()
}

/// Pages `0..pages`, each cached on first access.
pub(crate) struct PageCache {
    pages: usize,
    page_size: usize,
    dir: Box<[OnceLock<Chunk>]>,
}

impl PageCache {
    /// An empty cache for `pages` pages of `page_size` bytes.
    pub(crate) fn new(pages: usize, page_size: usize) -> Self {
        PageCache {
            pages,
            page_size,
            dir: (0..pages.div_ceil(CHUNK))
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    fn slot(&self, i: usize) -> Option<&Slot> {
        if i >= self.pages {
            return None;
        }
        self.dir
            .get(i / CHUNK)?
            .get_or_init(new_chunk)
            .get(i % CHUNK)
    }

    fn slot_mut(&mut self, i: usize) -> Option<&mut Slot> {
        if i >= self.pages {
            return None;
        }
        let chunk = self.dir.get_mut(i / CHUNK)?;
        if chunk.get().is_none() {
            *chunk = OnceLock::from(new_chunk());
        }
        chunk.get_mut()?.get_mut(i % CHUNK)
    }

    /// Page `i` if it is cached.
    pub(crate) fn cached(&self, i: usize) -> Option<&[u8]> {
        if i >= self.pages {
            return None;
        }
        self.dir
            .get(i / CHUNK)?
            .get()?
            .get(i % CHUNK)?
            .get()
            .map(|b| &b[..])
    }

    /// Page `i` (at `addr`, for errors), filled by `fill` on first access.
    ///
    /// A failed fill caches nothing, so the next access tries again.
    pub(crate) fn page(
        &self,
        i: usize,
        addr: PhysAddr,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<&[u8]> {
        let slot = self
            .slot(i)
            .ok_or_else(|| Error::mem(addr, Fault::OutOfRange))?;
        if let Some(page) = slot.get() {
            return Ok(page);
        }
        let mut buf = vec![0u8; self.page_size].into_boxed_slice();
        fill(&mut buf)?;
        // Another thread may have filled it meanwhile: both read the same
        // bytes, and the first one in stays.
        Ok(slot.get_or_init(move || buf))
    }

    /// Page `i` for writing, filled by `fill` on first access.
    pub(crate) fn page_mut(
        &mut self,
        i: usize,
        addr: PhysAddr,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<&mut [u8]> {
        let page_size = self.page_size;
        let slot = self
            .slot_mut(i)
            .ok_or_else(|| Error::mem(addr, Fault::OutOfRange))?;
        if slot.get().is_none() {
            let mut buf = vec![0u8; page_size].into_boxed_slice();
            fill(&mut buf)?;
            *slot = OnceLock::from(buf);
        }
        slot.get_mut()
            .map(|b| &mut b[..])
            .ok_or_else(|| Error::mem(addr, Fault::OutOfRange))
    }

    /// Page `i` set to zeros without reading it.
    pub(crate) fn zeroed(&mut self, i: usize, addr: PhysAddr) -> Result<&mut [u8]> {
        let page = self.page_mut(i, addr, |_| Ok(()))?;
        page.fill(0);
        Ok(page)
    }

    /// Drops page `i` from the cache (the next access reads it again).
    pub(crate) fn evict(&mut self, i: usize) {
        if let Some(slot) = self.slot_mut(i) {
            slot.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_fill_once_and_evict() {
        let mut c = PageCache::new(2 * CHUNK + 1, 4096);
        let a = PhysAddr(0x1000);
        let mut reads = 0;
        let p = c
            .page(CHUNK + 3, a, |b| {
                reads += 1;
                b[0] = 7;
                Ok(())
            })
            .unwrap()[0];
        assert_eq!(p, 7);
        let p = c.page(CHUNK + 3, a, |_| panic!("read twice")).unwrap()[0];
        assert_eq!((p, reads), (7, 1));
        assert!(c.cached(CHUNK + 4).is_none());
        c.page_mut(2 * CHUNK, a, |_| Ok(())).unwrap()[1] = 9;
        assert_eq!(c.cached(2 * CHUNK).map(|b| b[1]), Some(9));
        assert!(c.zeroed(2 * CHUNK, a).unwrap().iter().all(|&x| x == 0));
        c.evict(CHUNK + 3);
        assert!(c.cached(CHUNK + 3).is_none());
        // A failed fill caches nothing.
        assert!(c.page(5, a, |_| Err(Error::OutOfMemory)).is_err());
        assert!(c.cached(5).is_none());
        assert!(matches!(
            c.page(2 * CHUNK + 1, a, |_| Ok(())),
            Err(Error::Memory {
                fault: Fault::OutOfRange,
                ..
            })
        ));
    }
}
