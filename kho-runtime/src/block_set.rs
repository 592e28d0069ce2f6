//! The linked-block chain: a set of same-sized entries in page-sized blocks.

use alloc::vec::Vec;

use crate::entry::{AbiField, BlockHeaderSer, HEADER_SIZE};
use crate::memory::check_page_size;
use crate::stream::{prefetch_ahead, Gather, PageImage, Stream, STREAM_CHUNK};
use crate::{ChainFault, Error, Fault, MemoryId, PhysAddr, PreservedMemory, Result};

/// The kernel's default limit on the blocks of one set (`KHO_MAX_BLOCKS`).
pub const DEFAULT_MAX_BLOCKS: usize = 10_000;

/// How many `entry_size`-byte entries fit one block of `page_size` bytes.
///
/// Unlike the kernel, which only warns, an entry that cannot fit a block at
/// all (or is empty) is an error here.
pub fn count_per_block(page_size: usize, entry_size: usize) -> Result<usize> {
    check_page_size(page_size)?;
    if entry_size == 0 || entry_size > page_size - HEADER_SIZE {
        return Err(Error::EntrySize {
            entry_size,
            page_size,
        });
    }
    Ok((page_size - HEADER_SIZE) / entry_size)
}

/// A block set whose entry size is chosen at run time.
///
/// The set keeps the addresses of its blocks in a `Vec`, so entry `i` is
/// found without walking the chain. It does not own memory: every operation
/// takes the [`PreservedMemory`] the blocks live in, as the kernel's functions
/// use the one physical memory. Locking is the caller's business (`&mut`).
///
/// The set is tied to that memory: it records the memory's
/// [`id`](PreservedMemory::id) when made or restored, and every operation
/// given another memory (another value at the same base, a clone, the
/// memory after a kexec) fails with [`Error::WrongMemory`] and changes
/// nothing, instead of reading or writing pages that are not its blocks.
///
/// An *outgoing* set is built by this kernel: its blocks are full except the
/// last, entries are appended at the end and removed from the end. An
/// *incoming* set comes from [`restore`](Self::restore): it is read-only, and
/// [`destroy`](Self::destroy) releases its pages.
#[derive(Debug, Clone)]
pub struct RawBlockSet {
    /// The memory the blocks live in.
    mem: MemoryId,
    entry_size: usize,
    page_size: usize,
    per_block: usize,
    max_blocks: usize,
    blocks: Vec<PhysAddr>,
    len: usize,
    /// Incoming sets only: the index of each block's first entry, then `len`.
    /// Restored chains may have partly filled blocks anywhere.
    starts: Option<Vec<usize>>,
}

impl RawBlockSet {
    /// An empty outgoing set of `entry_size`-byte entries in `mem`'s pages.
    pub fn new<M: PreservedMemory + ?Sized>(mem: &M, entry_size: usize) -> Result<Self> {
        let page_size = mem.page_size();
        Ok(RawBlockSet {
            mem: mem.id(),
            entry_size,
            page_size,
            per_block: count_per_block(page_size, entry_size)?,
            max_blocks: DEFAULT_MAX_BLOCKS,
            blocks: Vec::new(),
            len: 0,
            starts: None,
        })
    }

    /// Sets the block limit for [`grow`](Self::grow) (default 10000).
    pub fn with_max_blocks(mut self, max_blocks: usize) -> Self {
        self.max_blocks = max_blocks;
        self
    }

    /// Restores the chain starting at `head` (0: an empty set) with the
    /// default block limit. See [`restore_with_limit`](Self::restore_with_limit).
    pub fn restore<M: PreservedMemory + ?Sized>(
        mem: &M,
        head: PhysAddr,
        entry_size: usize,
    ) -> Result<Self> {
        Self::restore_with_limit(mem, head, entry_size, DEFAULT_MAX_BLOCKS)
    }

    /// Restores the chain starting at `head`, trusting nothing in it.
    ///
    /// Rejects what the kernel rejects (a cycle, more than `max_blocks`
    /// blocks, a count of 0 or above `count_per_block`) and what the kernel
    /// would crash on (an address outside memory, unaligned, past the end of
    /// an image, or not handed over). The error names the block's index and
    /// address. It reads each header once, allocates at most `max_blocks`
    /// addresses, and changes nothing: on failure no page is released, since
    /// a corrupt `next` may point into pages that belong to someone else.
    pub fn restore_with_limit<M: PreservedMemory + ?Sized>(
        mem: &M,
        head: PhysAddr,
        entry_size: usize,
        max_blocks: usize,
    ) -> Result<Self> {
        Self::walk(mem, head, entry_size, max_blocks, 0, |_, _, _| Ok(()))
    }

    /// Restores the chain at `head` as [`restore`](Self::restore) does and,
    /// in the same walk, copies its first `out.len() / entry_size` entries
    /// (at most all of them) into `out` as [`read_into`](Self::read_into)
    /// does. Returns the set and how many entries were copied.
    ///
    /// One pass instead of two: each block is copied while the header of
    /// the next is on its way from memory, where restore and then read_into
    /// would wait for all 10,000 headers and then copy. The chain is
    /// checked exactly as `restore` checks it, to its end, even when `out`
    /// fills earlier, and the errors are the same; on error, what `out`
    /// holds is unspecified (the entries before the bad block may have been
    /// copied).
    pub fn restore_read_into<M: PreservedMemory + ?Sized>(
        mem: &M,
        head: PhysAddr,
        entry_size: usize,
        out: &mut [u8],
    ) -> Result<(Self, usize)> {
        Self::restore_read_into_with_limit(mem, head, entry_size, DEFAULT_MAX_BLOCKS, out)
    }

    /// [`restore_read_into`](Self::restore_read_into) with a block limit
    /// other than the default (see
    /// [`restore_with_limit`](Self::restore_with_limit)).
    pub fn restore_read_into_with_limit<M: PreservedMemory + ?Sized>(
        mem: &M,
        head: PhysAddr,
        entry_size: usize,
        max_blocks: usize,
        out: &mut [u8],
    ) -> Result<(Self, usize)> {
        // Checked before the walk, so that `want` below cannot divide by 0.
        let per_block = count_per_block(mem.page_size(), entry_size)?;
        let want = out.len() / entry_size * entry_size;
        // The blocks a chain filling `out` has, at least: reserved at once.
        let blocks = (want / entry_size).div_ceil(per_block);
        let mut gather = Gather::new(&mut out[..want]);
        let set = Self::walk(
            mem,
            head,
            entry_size,
            max_blocks,
            blocks,
            |addr, page, count| {
                if gather.len() < want {
                    let run = page
                        .get(HEADER_SIZE..HEADER_SIZE + count * entry_size)
                        .ok_or(Error::mem(addr, Fault::PastEndOfImage))?;
                    gather.push(run);
                }
                Ok(())
            },
        )?;
        let copied = gather.finish() / entry_size;
        Ok((set, copied))
    }

    /// The checked walk behind every restore: `visit` gets each block once
    /// it has passed every check (its address, its page and its entry
    /// count) and may fail the walk. Room for `expect` blocks (at most the
    /// limit) is reserved up front.
    fn walk<'m, M: PreservedMemory + ?Sized>(
        mem: &'m M,
        head: PhysAddr,
        entry_size: usize,
        max_blocks: usize,
        expect: usize,
        mut visit: impl FnMut(PhysAddr, &'m [u8], usize) -> Result<()>,
    ) -> Result<Self> {
        let page_size = mem.page_size();
        let per_block = count_per_block(page_size, entry_size)?;
        let mut blocks: Vec<PhysAddr> = Vec::new();
        let mut starts: Vec<usize> = Vec::new();
        let expect = expect.min(max_blocks);
        blocks
            .try_reserve_exact(expect)
            .map_err(|_| Error::OutOfMemory)?;
        starts
            .try_reserve_exact(expect + 1)
            .map_err(|_| Error::OutOfMemory)?;
        let mut len = 0usize;
        let mut next = head;
        // Brent's cycle finding: a loop is caught within about twice its
        // length plus its tail, in O(1) extra memory, not only at the limit.
        let (mut tortoise, mut power) = (PhysAddr::NULL, 1usize);
        while !next.is_null() {
            let index = blocks.len();
            if index >= max_blocks || next == tortoise {
                return Err(cycle_or_too_long(&blocks, next, max_blocks));
            }
            if index == power {
                tortoise = next;
                power = power.saturating_mul(2);
            }
            let page = mem.page(next).map_err(|e| match e {
                Error::Memory { fault, .. } => {
                    Error::chain(index, next, ChainFault::Address(fault))
                }
                other => other,
            })?;
            if !mem.is_incoming(next) {
                return Err(Error::chain(
                    index,
                    next,
                    ChainFault::Address(Fault::NotPreserved),
                ));
            }
            let header = BlockHeaderSer::read_from(page);
            let count = header.count;
            if count == 0 || count > per_block as u64 {
                return Err(Error::chain(
                    index,
                    next,
                    ChainFault::BadCount {
                        count,
                        max: per_block as u64,
                    },
                ));
            }
            blocks.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            starts.try_reserve(2).map_err(|_| Error::OutOfMemory)?;
            blocks.push(next);
            starts.push(len);
            len += count as usize;
            visit(next, page, count as usize)?;
            next = PhysAddr(header.next);
        }
        starts.push(len);
        Ok(RawBlockSet {
            mem: mem.id(),
            entry_size,
            page_size,
            per_block,
            max_blocks,
            blocks,
            len,
            starts: Some(starts),
        })
    }

    /// Bytes per entry.
    pub fn entry_size(&self) -> usize {
        self.entry_size
    }

    /// Bytes per block (the page size).
    pub fn block_size(&self) -> usize {
        self.page_size
    }

    /// Entries one block holds: `(block_size - 16) / entry_size`.
    pub fn count_per_block(&self) -> usize {
        self.per_block
    }

    /// The block limit in force.
    pub fn max_blocks(&self) -> usize {
        self.max_blocks
    }

    /// Entries in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no entry (it may still hold empty blocks; see
    /// [`block_count`](Self::block_count)).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries the set can hold without growing.
    pub fn capacity(&self) -> usize {
        match self.starts {
            Some(_) => self.len,
            None => self.blocks.len() * self.per_block,
        }
    }

    /// Blocks in the set.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// The blocks' physical addresses in chain order.
    pub fn blocks(&self) -> &[PhysAddr] {
        &self.blocks
    }

    /// The physical address of the first block, 0 when there is none.
    ///
    /// To hand the set over, prefer [`publish`](Self::publish), which first
    /// drops trailing empty blocks that the next kernel would reject.
    pub fn head(&self) -> PhysAddr {
        self.blocks.first().copied().unwrap_or(PhysAddr::NULL)
    }

    /// Whether the set was restored from the previous kernel.
    pub fn is_incoming(&self) -> bool {
        self.starts.is_some()
    }

    /// The identity of the memory the set lives in.
    pub fn memory_id(&self) -> MemoryId {
        self.mem
    }

    /// Refuses any memory but the set's own: one integer compare.
    #[inline]
    fn check<M: PreservedMemory + ?Sized>(&self, mem: &M) -> Result<()> {
        let found = mem.id();
        if found == self.mem {
            Ok(())
        } else {
            Err(Error::WrongMemory {
                expected: self.mem,
                found,
            })
        }
    }

    fn outgoing(&self, op: &'static str) -> Result<()> {
        if self.is_incoming() {
            Err(Error::Incoming(op))
        } else {
            Ok(())
        }
    }

    /// Entries in use in block `b`.
    fn block_len(&self, b: usize) -> usize {
        match &self.starts {
            Some(starts) => starts[b + 1] - starts[b],
            None => self
                .len
                .saturating_sub(b * self.per_block)
                .min(self.per_block),
        }
    }

    /// Allocates blocks until the set can hold `count` entries.
    ///
    /// All or nothing: if a page cannot be had, or the set would pass its
    /// block limit, every block this call added is freed again and the set
    /// is as it was. Entries are untouched.
    pub fn grow<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M, count: usize) -> Result<()> {
        self.check(mem)?;
        self.grow_in(mem, count, true)
    }

    /// [`grow`](Self::grow); with `link` off, the new blocks' headers are
    /// left for the caller to write (each new page is zero until then).
    fn grow_in<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        count: usize,
        link: bool,
    ) -> Result<()> {
        self.outgoing("grow")?;
        let wanted = count.div_ceil(self.per_block);
        let have = self.blocks.len();
        if wanted <= have {
            return Ok(());
        }
        if wanted > self.max_blocks {
            return Err(Error::BlockLimit {
                wanted,
                limit: self.max_blocks,
            });
        }
        self.blocks
            .try_reserve(wanted - have)
            .map_err(|_| Error::OutOfMemory)?;
        while self.blocks.len() < wanted {
            if let Err(e) = self.grow_one(mem, link) {
                // The pages were allocated by this call; freeing them cannot
                // fail on a sound backend, and the first error is the story.
                let _ = self.truncate_blocks(mem, have);
                return Err(e);
            }
        }
        Ok(())
    }

    fn grow_one<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M, link: bool) -> Result<()> {
        // Unlinked blocks are for a streamed transfer, which writes every
        // byte of their pages (see `append_encoded`).
        let addr = if link {
            mem.alloc_preserve()?
        } else {
            mem.alloc_preserve_for_overwrite()?
        };
        if let (true, Some(&last)) = (link, self.blocks.last()) {
            if let Err(e) = write_header_next(mem, last, addr) {
                let _ = mem.unpreserve_free(addr);
                return Err(e);
            }
        }
        self.blocks.push(addr);
        Ok(())
    }

    /// Keeps the first `min(len, count)` entries and frees the trailing
    /// blocks not needed to hold `count` entries (the kernel's rule: the
    /// last block goes while `count <= (blocks - 1) * count_per_block`).
    pub fn shrink<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M, count: usize) -> Result<()> {
        self.check(mem)?;
        self.outgoing("shrink")?;
        if count < self.len {
            self.truncate_entries(mem, count)?;
        }
        self.truncate_blocks(mem, count.div_ceil(self.per_block))
    }

    /// Frees trailing blocks that hold no entry, so the chain never ends in
    /// a block with count 0 (which the next kernel's restore rejects: the
    /// kernel's own trap after `grow(n)` and fewer than `n` writes).
    pub fn trim<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M) -> Result<()> {
        self.check(mem)?;
        self.trim_in(mem)
    }

    fn trim_in<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M) -> Result<()> {
        self.outgoing("trim")?;
        self.truncate_blocks(mem, self.len.div_ceil(self.per_block))
    }

    /// Trims the set and returns the head address to record for the next
    /// kernel (0 for an empty set).
    pub fn publish<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M) -> Result<PhysAddr> {
        self.trim(mem)?;
        Ok(self.head())
    }

    fn truncate_entries<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        new_len: usize,
    ) -> Result<()> {
        let first = new_len / self.per_block;
        let last = self.len.div_ceil(self.per_block);
        for b in first..last.min(self.blocks.len()) {
            let n = new_len
                .saturating_sub(b * self.per_block)
                .min(self.per_block);
            write_header_count(mem, self.blocks[b], n)?;
        }
        self.len = new_len;
        Ok(())
    }

    /// Frees blocks from the end until `keep` remain, then ends the chain.
    fn truncate_blocks<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        keep: usize,
    ) -> Result<()> {
        if keep >= self.blocks.len() {
            return Ok(());
        }
        let mut first_err = None;
        while self.blocks.len() > keep {
            if let Some(addr) = self.blocks.pop() {
                if let Err(e) = self.free_block(mem, addr) {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(&last) = self.blocks.last() {
            if let Err(e) = write_header_next(mem, last, PhysAddr::NULL) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn free_block<M: PreservedMemory + ?Sized>(&self, mem: &mut M, addr: PhysAddr) -> Result<()> {
        if self.is_incoming() {
            mem.restore_free(addr)
        } else {
            mem.unpreserve_free(addr)
        }
    }

    /// Reserves the next slot after the last entry and returns it for
    /// writing. Fails with [`Error::Full`] when every block is full: grow
    /// first, so that the step that can fail comes before the writing.
    #[inline]
    pub fn reserve<'m, M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &'m mut M,
    ) -> Result<&'m mut [u8]> {
        self.check(mem)?;
        self.reserve_in(mem)
    }

    /// [`reserve`](Self::reserve) in memory already checked to be the set's.
    #[inline]
    fn reserve_in<'m, M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &'m mut M,
    ) -> Result<&'m mut [u8]> {
        self.outgoing("reserve")?;
        if self.len >= self.capacity() {
            return Err(Error::Full {
                capacity: self.capacity(),
            });
        }
        let (b, slot) = (self.len / self.per_block, self.len % self.per_block);
        let page = mem.page_mut(self.blocks[b])?;
        (slot as u64 + 1).write_to(&mut page[8..]);
        self.len += 1;
        let at = HEADER_SIZE + slot * self.entry_size;
        Ok(&mut page[at..at + self.entry_size])
    }

    /// Appends one entry's bytes (exactly `entry_size` of them).
    pub fn push<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M, entry: &[u8]) -> Result<()> {
        self.check(mem)?;
        self.push_in(mem, entry)
    }

    fn push_in<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M, entry: &[u8]) -> Result<()> {
        if entry.len() != self.entry_size {
            return Err(Error::EntryLength {
                expected: self.entry_size,
                found: entry.len(),
            });
        }
        self.reserve_in(mem)?.copy_from_slice(entry);
        Ok(())
    }

    /// Steps back over the last entry: removes it and returns its bytes, or
    /// `None` when the set is empty. The block stays allocated (see
    /// [`trim`](Self::trim)).
    pub fn prev<'m, M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &'m mut M,
    ) -> Result<Option<&'m [u8]>> {
        self.check(mem)?;
        self.prev_in(mem)
    }

    fn prev_in<'m, M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &'m mut M,
    ) -> Result<Option<&'m [u8]>> {
        self.outgoing("prev")?;
        if self.len == 0 {
            return Ok(None);
        }
        let last = self.len - 1;
        let (b, slot) = (last / self.per_block, last % self.per_block);
        let page = mem.page_mut(self.blocks[b])?;
        (slot as u64).write_to(&mut page[8..]);
        self.len = last;
        let at = HEADER_SIZE + slot * self.entry_size;
        Ok(Some(&page[at..at + self.entry_size]))
    }

    /// Zeroes every block's count and entries; the blocks stay allocated
    /// and linked.
    pub fn clear<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M) -> Result<()> {
        self.check(mem)?;
        self.outgoing("clear")?;
        for &addr in &self.blocks {
            mem.page_mut(addr)?[8..].fill(0);
        }
        self.len = 0;
        Ok(())
    }

    /// Frees every block (unpreserving outgoing pages, releasing incoming
    /// ones) and leaves the set empty. Goes on past a failed free and
    /// returns the first error.
    pub fn destroy<M: PreservedMemory + ?Sized>(&mut self, mem: &mut M) -> Result<()> {
        self.check(mem)?;
        let res = self.truncate_blocks(mem, 0);
        self.len = 0;
        if let Some(starts) = &mut self.starts {
            starts.clear();
            starts.push(0);
        }
        res
    }

    /// The bytes of entry `index`, or `None` past the end.
    ///
    /// A page that cannot be read (a file backend's failed read) is the
    /// error, not `None`.
    pub fn get<'m, M: PreservedMemory + ?Sized>(
        &self,
        mem: &'m M,
        index: usize,
    ) -> Result<Option<&'m [u8]>> {
        self.check(mem)?;
        if index >= self.len {
            return Ok(None);
        }
        let (b, slot) = self.locate(index);
        let addr = self.block_addr(b)?;
        let at = HEADER_SIZE + slot * self.entry_size;
        Ok(Some(entries_of(mem, addr, at, self.entry_size)?))
    }

    /// Block and slot of entry `index` (which must be below `len`).
    fn locate(&self, index: usize) -> (usize, usize) {
        match &self.starts {
            Some(starts) => {
                let b = starts.partition_point(|&s| s <= index).saturating_sub(1);
                (b, index - starts.get(b).copied().unwrap_or(0))
            }
            None => (index / self.per_block, index % self.per_block),
        }
    }

    /// The bytes of entry `index` of an outgoing set, for changing in place,
    /// or `None` past the end. The block's header is not touched: the entry
    /// stays where it is and the count stays.
    ///
    /// A page the memory will not have changed is the error: a
    /// [`FileMemory`](crate::FileMemory) refuses pages its published
    /// generation holds ([`Fault::Published`]), so that generation stays
    /// whole. An incoming set is [`Error::Incoming`].
    pub fn get_mut<'m, M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &'m mut M,
        index: usize,
    ) -> Result<Option<&'m mut [u8]>> {
        self.check(mem)?;
        self.outgoing("get_mut")?;
        if index >= self.len {
            return Ok(None);
        }
        let (b, slot) = self.locate(index);
        let addr = self.block_addr(b)?;
        let at = HEADER_SIZE + slot * self.entry_size;
        let len = self.entry_size;
        mem.page_mut(addr)?
            .get_mut(at..at + len)
            .map(Some)
            .ok_or(Error::mem(addr, Fault::PastEndOfImage))
    }

    /// Overwrites entry `index` of an outgoing set with `entry` (exactly
    /// `entry_size` bytes). Past the end is [`Error::OutOfBounds`]; see
    /// [`get_mut`](Self::get_mut) for what else refuses. On error nothing
    /// changed.
    pub fn set<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        index: usize,
        entry: &[u8],
    ) -> Result<()> {
        if entry.len() != self.entry_size {
            return Err(Error::EntryLength {
                expected: self.entry_size,
                found: entry.len(),
            });
        }
        let len = self.len;
        self.get_mut(mem, index)?
            .ok_or(Error::OutOfBounds { index, len })?
            .copy_from_slice(entry);
        Ok(())
    }

    /// The index of the first entry for which `pred` is true, in chain
    /// order, or `None`. Reads each block's page once.
    pub fn position<M: PreservedMemory + ?Sized>(
        &self,
        mem: &M,
        mut pred: impl FnMut(&[u8]) -> bool,
    ) -> Result<Option<usize>> {
        self.check(mem)?;
        let mut index = 0;
        for run in self.block_runs(mem)? {
            for e in run.chunks_exact(self.entry_size) {
                if pred(e) {
                    return Ok(Some(index));
                }
                index += 1;
            }
        }
        Ok(None)
    }

    /// The entries as one slice per block, in chain order: block `b`'s
    /// slice holds its entries back to back (`count * entry_size` bytes).
    /// Blocks that hold no entry are left out. This is the bulk reader: a
    /// caller copies or decodes a block's worth at a time.
    ///
    /// Every page is fetched here (so a wrong memory or an unreadable page
    /// is the error), in a `Vec` of one slice per block reserved without
    /// aborting.
    pub fn block_entries<'m, M: PreservedMemory + ?Sized>(
        &self,
        mem: &'m M,
    ) -> Result<Vec<&'m [u8]>> {
        self.check(mem)?;
        self.block_runs(mem)
    }

    fn block_runs<'m, M: PreservedMemory + ?Sized>(&self, mem: &'m M) -> Result<Vec<&'m [u8]>> {
        // Blocks past the last entry of an outgoing set hold nothing.
        let used = match self.starts {
            Some(_) => self.blocks.len(),
            None => self.len.div_ceil(self.per_block).min(self.blocks.len()),
        };
        let mut runs = Vec::new();
        runs.try_reserve_exact(used)
            .map_err(|_| Error::OutOfMemory)?;
        for (b, &addr) in self.blocks.iter().enumerate().take(used) {
            let n = self.block_len(b);
            if n > 0 {
                runs.push(entries_of(mem, addr, HEADER_SIZE, n * self.entry_size)?);
            }
        }
        Ok(runs)
    }

    /// Copies the first `out.len() / entry_size` entries (at most
    /// [`len`](Self::len)) into `out`, a block at a time, and returns how
    /// many it copied. `out`'s bytes past them are not touched. From 1 MiB
    /// on, `out` is written past the cache (non-temporal stores on x86-64).
    pub fn read_into<M: PreservedMemory + ?Sized>(&self, mem: &M, out: &mut [u8]) -> Result<usize> {
        self.check(mem)?;
        let want = (out.len() / self.entry_size).min(self.len) * self.entry_size;
        let runs = self.block_runs(mem)?;
        // Two blocks at a time, each line of `out` written once (see
        // `Gather`).
        let mut gather = Gather::new(&mut out[..want]);
        for run in runs {
            if gather.len() == want {
                break;
            }
            gather.push(run);
        }
        Ok(gather.finish() / self.entry_size)
    }

    fn block_addr(&self, b: usize) -> Result<PhysAddr> {
        // In range by construction: `locate` maps an index below `len`.
        self.blocks
            .get(b)
            .copied()
            .ok_or(Error::mem(PhysAddr::NULL, Fault::OutOfRange))
    }

    /// Fills the free slots of the block that takes the next entry, growing
    /// the set by one block first when every block is full and `grow` is
    /// set: `fill` gets those slots (a whole number of entries) and returns
    /// how many it wrote, front to back. One header store per call.
    /// Returns the entries written (0 when the set is full and `grow` is
    /// off, or when `fill` wrote none).
    fn fill_block<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        grow: bool,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize> {
        self.outgoing("extend")?;
        if self.len >= self.capacity() {
            if !grow {
                return Err(Error::Full {
                    capacity: self.capacity(),
                });
            }
            self.grow_in(mem, self.len + 1, true)?;
        }
        let (b, slot) = (self.len / self.per_block, self.len % self.per_block);
        let addr = self.block_addr(b)?;
        let page = mem.page_mut(addr)?;
        let free = self.per_block - slot;
        let at = HEADER_SIZE + slot * self.entry_size;
        let slots = page
            .get_mut(at..at + free * self.entry_size)
            .ok_or(Error::mem(addr, Fault::PastEndOfImage))?;
        let n = fill(slots).min(free);
        if n > 0 {
            ((slot + n) as u64).write_to(&mut page[8..]);
            self.len += n;
        }
        Ok(n)
    }

    /// Appends `bytes`, a whole number of entries back to back, a block at
    /// a time: one copy and one header store per block. Grows the set
    /// first, all or nothing, so on error nothing was appended. From 1 MiB
    /// on, the new blocks are streamed into their pages past the cache (see
    /// [`BlockSet::extend_from_slice`](crate::BlockSet::extend_from_slice)).
    pub fn extend_from_bytes<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        bytes: &[u8],
    ) -> Result<()> {
        self.check(mem)?;
        self.extend_bytes_in(mem, bytes)
    }

    fn extend_bytes_in<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        bytes: &[u8],
    ) -> Result<()> {
        self.outgoing("extend")?;
        if !bytes.len().is_multiple_of(self.entry_size) {
            return Err(Error::EntryLength {
                expected: self.entry_size,
                found: bytes.len() % self.entry_size,
            });
        }
        let size = self.entry_size;
        self.append_encoded(mem, bytes.len() / size, Some(bytes), |dst, first, _| {
            let at = first * size;
            dst.copy_from_slice(&bytes[at..at + dst.len()]);
            prefetch_ahead(bytes, at + dst.len(), dst.len());
        })
    }

    /// Appends `n` entries made by `encode(dst, first, k)`, which writes
    /// entries `first..first + k` into `dst` (`k * entry_size` bytes), a
    /// block at a time with one header store per block. Grows first, all or
    /// nothing, so on a growing error nothing was appended; on an error
    /// writing a block, the entries before it stay and the blocks from it
    /// on are freed.
    ///
    /// A large transfer ([`Stream`]) builds each block this call allocates
    /// as a whole page (header, entries, zeros: the bytes the block would
    /// hold anyway) in a buffer that stays in L1 and streams it into the
    /// page past the cache; those pages are linked by the headers in their
    /// images, not by the grow, so no line of them is read or written
    /// through the cache first.
    pub(crate) fn append_encoded<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        n: usize,
        plain: Option<&[u8]>,
        mut encode: impl FnMut(&mut [u8], usize, usize),
    ) -> Result<()> {
        self.outgoing("extend")?;
        let size = self.entry_size;
        debug_assert!(plain.is_none_or(|b| b.len() == n * size));
        let mut stream = Stream::for_bytes(n.saturating_mul(size));
        let have = self.blocks.len();
        self.grow_in(mem, self.len.saturating_add(n), !stream.on())?;
        // Through the cache, in place: every block when not streaming, else
        // the blocks that were there.
        let cached = if stream.on() { have } else { self.blocks.len() };
        let mut done = 0;
        while done < n && self.len < cached * self.per_block {
            done += self.fill_block(mem, false, |slots| {
                let k = (slots.len() / size).min(n - done);
                encode(&mut slots[..k * size], done, k);
                k
            })?;
        }
        if self.blocks.len() == cached {
            return Ok(());
        }
        // The new blocks, streamed as whole pages, after the old last block
        // is linked to the first of them.
        let linked = match have.checked_sub(1) {
            Some(last) => write_header_next(mem, self.blocks[last], self.blocks[have]),
            None => Ok(()),
        };
        if let Err(e) = linked {
            let _ = self.truncate_blocks(mem, have);
            return Err(e);
        }
        let result = match plain {
            Some(bytes) => self.stream_new_blocks(mem, &mut stream, have, bytes, done),
            None => self.encode_new_blocks(mem, &mut stream, have, n, done, &mut encode),
        };

        if let Err((b, e)) = result {
            // The streamed pages are ordered before the unlinking.
            stream.fence();
            let _ = self.truncate_blocks(mem, b);
            return Err(e);
        }
        Ok(())
    }

    /// Writes the new blocks `have..` (after `done` of the transfer's
    /// entries went into old blocks) from `encode`, a page image at a time;
    /// on error, the block that failed and the error.
    fn encode_new_blocks<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        stream: &mut Stream,
        have: usize,
        n: usize,
        mut done: usize,
        encode: &mut impl FnMut(&mut [u8], usize, usize),
    ) -> core::result::Result<(), (usize, Error)> {
        let size = self.entry_size;
        let mut image = Vec::new();
        image
            .try_reserve_exact(self.page_size)
            .map_err(|_| (have, Error::OutOfMemory))?;
        image.resize(self.page_size, 0u8);
        for b in have..self.blocks.len() {
            let k = (n - done).min(self.per_block);
            let next = self.blocks.get(b + 1).copied().unwrap_or(PhysAddr::NULL);
            image[..HEADER_SIZE].copy_from_slice(&header_bytes(next, k));
            let end = HEADER_SIZE + k * size;
            image[end..].fill(0);
            match mem.page_mut(self.blocks[b]) {
                Ok(page) if page.len() == image.len() => {
                    stream_image(stream, page, &mut image, size, done, k, encode);
                }
                res => {
                    let e = res
                        .err()
                        .unwrap_or(Error::mem(self.blocks[b], Fault::PastEndOfImage));
                    return Err((b, e));
                }
            }
            self.len += k;
            done += k;
        }
        Ok(())
    }

    /// Writes the new blocks `have..` straight from `bytes`, the
    /// transfer's entries as stored (`done` of them already in old
    /// blocks): two pages at a time where the memory hands out two, with
    /// no copy in between.
    fn stream_new_blocks<M: PreservedMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        stream: &mut Stream,
        have: usize,
        bytes: &[u8],
        done: usize,
    ) -> core::result::Result<(), (usize, Error)> {
        let (size, per_block, page_size) = (self.entry_size, self.per_block, self.page_size);
        let mut rest = &bytes[done * size..];
        let mut b = have;
        // The image of block `b`, and what is left after it.
        fn image<'a>(
            b: usize,
            rest: &'a [u8],
            blocks: &[PhysAddr],
            take: usize,
            size: usize,
        ) -> (PageImage<'a>, &'a [u8]) {
            let (body, after) = rest.split_at(rest.len().min(take));
            let next = blocks.get(b + 1).copied().unwrap_or(PhysAddr::NULL);
            let header = header_bytes(next, body.len() / size);
            (PageImage { header, body }, after)
        }
        let take = per_block * size;
        let whole = |page: &[u8], at: PhysAddr| {
            if page.len() == page_size {
                Ok(())
            } else {
                Err(Error::mem(at, Fault::PastEndOfImage))
            }
        };
        while b < self.blocks.len() {
            let (ia, after_a) = image(b, rest, &self.blocks, take, size);
            let addr_a = self.blocks[b];
            let pair = match self.blocks.get(b + 1) {
                Some(&addr_b) => mem.page_pair_mut(addr_a, addr_b).map_err(|e| (b, e))?,
                None => None,
            };
            if let Some((pa, pb)) = pair {
                let addr_b = self.blocks[b + 1];
                let (ib, after_b) = image(b + 1, after_a, &self.blocks, take, size);
                whole(pa, addr_a).map_err(|e| (b, e))?;
                whole(pb, addr_b).map_err(|e| (b, e))?;
                stream.page_pair((pa, &ia), (pb, &ib));
                self.len += (ia.body.len() + ib.body.len()) / size;
                rest = after_b;
                b += 2;
            } else {
                let page = mem.page_mut(addr_a).map_err(|e| (b, e))?;
                whole(page, addr_a).map_err(|e| (b, e))?;
                stream.page(page, &ia);
                self.len += ia.body.len() / size;
                rest = after_a;
                b += 1;
            }
        }
        Ok(())
    }

    /// Appends the entries `entries` yields, each written by `write` into
    /// its slot, a block at a time (one header store per block), growing by
    /// a block whenever the set is full. On error the entries before the
    /// failing block are in the set.
    pub(crate) fn extend_with<M, I>(
        &mut self,
        mem: &mut M,
        entries: I,
        mut write: impl FnMut(&I::Item, &mut [u8]),
    ) -> Result<()>
    where
        M: PreservedMemory + ?Sized,
        I: Iterator,
    {
        let mut entries = entries.peekable();
        // Grow for what the iterator promises up front, all or nothing.
        let (low, _) = entries.size_hint();
        self.grow(mem, self.len.saturating_add(low))?;
        let size = self.entry_size;
        while entries.peek().is_some() {
            self.fill_block(mem, true, |slots| {
                let mut n = 0;
                for slot in slots.chunks_exact_mut(size) {
                    match entries.next() {
                        Some(e) => write(&e, slot),
                        None => break,
                    }
                    n += 1;
                }
                n
            })?;
        }
        Ok(())
    }

    /// The entries in chain order.
    ///
    /// Every page the iterator will read is fetched here, so this is where a
    /// wrong memory ([`Error::WrongMemory`]) or a page that cannot be read
    /// shows; the iterator itself cannot fail and yields exactly
    /// [`len`](Self::len) entries (it is an [`ExactSizeIterator`]). It keeps
    /// one slice per block (16 bytes each), reserved without aborting.
    pub fn iter<'a, M: PreservedMemory + ?Sized>(&'a self, mem: &'a M) -> Result<Iter<'a, M>> {
        self.check(mem)?;
        let blocks = self.block_runs(mem)?;
        Ok(Iter {
            blocks: blocks.into_iter(),
            cur: &[],
            entry_size: self.entry_size,
            remaining: self.len,
            _mem: core::marker::PhantomData,
        })
    }

    /// A writer that appends entries and trims the set when done (checking
    /// the memory once, here).
    pub fn writer<'a, M: PreservedMemory + ?Sized>(
        &'a mut self,
        mem: &'a mut M,
    ) -> Result<Writer<'a, M>> {
        self.check(mem)?;
        Ok(Writer { set: self, mem })
    }
}

/// `len` bytes at offset `at` of the block at `addr`: a backend's page that
/// is shorter than its page size is refused as running past the image.
fn entries_of<M: PreservedMemory + ?Sized>(
    mem: &M,
    addr: PhysAddr,
    at: usize,
    len: usize,
) -> Result<&[u8]> {
    mem.page(addr)?
        .get(at..at + len)
        .ok_or(Error::mem(addr, Fault::PastEndOfImage))
}

/// The error for a walk that met an address twice or reached the block
/// limit: the first repeated address if there is one, else a chain that is
/// simply too long.
fn cycle_or_too_long(blocks: &[PhysAddr], next: PhysAddr, limit: usize) -> Error {
    // (address, position) pairs sorted by address, in memory reserved
    // without aborting: a failed allocation here is an error, not a crash.
    let mut seen: Vec<(PhysAddr, usize)> = Vec::new();
    if seen.try_reserve_exact(blocks.len() + 1).is_err() {
        return Error::OutOfMemory;
    }
    seen.extend(
        blocks
            .iter()
            .copied()
            .chain(core::iter::once(next))
            .enumerate()
            .map(|(i, a)| (a, i)),
    );
    seen.sort_unstable();
    // The first repeat in chain order: the smallest second position of
    // any address, and where that address first stood.
    let repeat = seen
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| (w[1].1, w[0].1))
        .min();
    match repeat {
        Some((again, first)) => {
            let from = again - 1;
            Error::chain(from, blocks[from], ChainFault::Cycle { to_index: first })
        }
        None => Error::chain(blocks.len(), next, ChainFault::TooManyBlocks { limit }),
    }
}

/// Encodes entries `first..first + k` with `encode` into the page image
/// `image` (its header written, its slack zero) a piece at a time, and
/// streams each line of it into `page` as soon as the line is whole, so
/// that reading the source and writing the page overlap as in a memcpy.
fn stream_image(
    stream: &mut Stream,
    page: &mut [u8],
    image: &mut [u8],
    size: usize,
    first: usize,
    k: usize,
    encode: &mut impl FnMut(&mut [u8], usize, usize),
) {
    let step = (STREAM_CHUNK / size).max(1);
    let mut out = 0;
    let mut i = 0;
    while i < k {
        let j = (i + step).min(k);
        let end = HEADER_SIZE + j * size;
        encode(&mut image[HEADER_SIZE + i * size..end], first + i, j - i);
        let whole = if j == k { image.len() } else { end & !63 };
        if whole > out {
            stream.copy(&mut page[out..whole], &image[out..whole]);
            out = whole;
        }
        i = j;
    }
    if out < image.len() {
        stream.copy(&mut page[out..], &image[out..]);
    }
}

/// A new block's header: `next` and `count` as the block stores them.
fn header_bytes(next: PhysAddr, count: usize) -> [u8; HEADER_SIZE] {
    let mut bytes = [0u8; HEADER_SIZE];
    BlockHeaderSer {
        next: next.0,
        count: count as u64,
    }
    .write_to(&mut bytes);
    bytes
}

fn write_header_next<M: PreservedMemory + ?Sized>(
    mem: &mut M,
    block: PhysAddr,
    next: PhysAddr,
) -> Result<()> {
    next.write_to(&mut mem.page_mut(block)?[0..]);
    Ok(())
}

fn write_header_count<M: PreservedMemory + ?Sized>(
    mem: &mut M,
    block: PhysAddr,
    count: usize,
) -> Result<()> {
    (count as u64).write_to(&mut mem.page_mut(block)?[8..]);
    Ok(())
}

/// Iterator over a set's entries as byte slices, in chain order (made by
/// [`RawBlockSet::iter`], which fetched every page it reads: it cannot fail).
pub struct Iter<'a, M: ?Sized> {
    /// The used part of each block holding an entry (never empty).
    blocks: alloc::vec::IntoIter<&'a [u8]>,
    cur: &'a [u8],
    entry_size: usize,
    remaining: usize,
    _mem: core::marker::PhantomData<&'a M>,
}

impl<'a, M: PreservedMemory + ?Sized> Iterator for Iter<'a, M> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.cur.is_empty() {
            self.cur = self.blocks.next()?;
        }
        let (entry, rest) = self.cur.split_at_checked(self.entry_size)?;
        self.cur = rest;
        self.remaining -= 1;
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

// Exact: the block slices hold `len` entries between them, by construction.
impl<M: PreservedMemory + ?Sized> ExactSizeIterator for Iter<'_, M> {}

impl<M: PreservedMemory + ?Sized> core::iter::FusedIterator for Iter<'_, M> {}

impl<M: ?Sized> core::fmt::Debug for Iter<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Iter")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

/// Appends entries to an outgoing set; trims trailing empty blocks when
/// finished or dropped, so a set written through a writer is always safe
/// to publish. Made by [`RawBlockSet::writer`], which checked the memory.
pub struct Writer<'a, M: PreservedMemory + ?Sized> {
    set: &'a mut RawBlockSet,
    mem: &'a mut M,
}

impl<M: PreservedMemory + ?Sized> core::fmt::Debug for Writer<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer")
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

impl<M: PreservedMemory + ?Sized> Writer<'_, M> {
    /// Reserves the next slot (see [`RawBlockSet::reserve`]).
    #[inline]
    pub fn reserve(&mut self) -> Result<&mut [u8]> {
        self.set.reserve_in(self.mem)
    }

    /// Appends one entry's bytes.
    pub fn push(&mut self, entry: &[u8]) -> Result<()> {
        self.set.push_in(self.mem, entry)
    }

    /// Appends whole entries back to back (see
    /// [`RawBlockSet::extend_from_bytes`]): the bulk path, a block at a time.
    pub fn extend_from_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.set.extend_bytes_in(self.mem, bytes)
    }

    /// Appends each entry's bytes (each exactly `entry_size`), a block at a
    /// time with one header store per block, growing by a block whenever the
    /// set is full. A slice of the wrong length is refused before anything
    /// of it is written; the entries before it stay.
    pub fn extend<'e>(&mut self, entries: impl IntoIterator<Item = &'e [u8]>) -> Result<()> {
        let size = self.set.entry_size;
        let mut bad = None;
        let checked = entries.into_iter().map_while(|e| {
            if e.len() == size {
                Some(e)
            } else {
                bad = Some(e.len());
                None
            }
        });
        self.set
            .extend_with(self.mem, checked, |e, slot| slot.copy_from_slice(e))?;
        match bad {
            Some(found) => Err(Error::EntryLength {
                expected: size,
                found,
            }),
            None => Ok(()),
        }
    }

    /// Appends `n` entries made by `encode` (see
    /// [`RawBlockSet::append_encoded`]): for the typed slice path.
    pub(crate) fn append_encoded(
        &mut self,
        n: usize,
        plain: Option<&[u8]>,
        encode: impl FnMut(&mut [u8], usize, usize),
    ) -> Result<()> {
        self.set.append_encoded(self.mem, n, plain, encode)
    }

    pub(crate) fn extend_with<I: Iterator>(
        &mut self,
        entries: I,
        write: impl FnMut(&I::Item, &mut [u8]),
    ) -> Result<()> {
        self.set.extend_with(self.mem, entries, write)
    }

    /// Steps back over the last entry (see [`RawBlockSet::prev`]).
    pub fn prev(&mut self) -> Result<Option<&[u8]>> {
        self.set.prev_in(self.mem)
    }

    /// Entries in the set so far.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Trims the set and returns its head address.
    pub fn finish(self) -> Result<PhysAddr> {
        let mut this = core::mem::ManuallyDrop::new(self);
        let w = &mut *this;
        w.set.trim_in(w.mem)?;
        Ok(w.set.head())
    }
}

impl<M: PreservedMemory + ?Sized> Drop for Writer<'_, M> {
    fn drop(&mut self) {
        let _ = self.set.trim_in(self.mem);
    }
}

#[cfg(test)]
mod tests {
    //! The chain operations end to end on simulated memory: small enough to
    //! run under Miri, which checks the whole safe-code path for UB.
    use super::*;
    use crate::SimMemory;

    fn filled(mem: &mut SimMemory, entry_size: usize, n: usize) -> RawBlockSet {
        let mut set = RawBlockSet::new(mem, entry_size).unwrap();
        set.grow(mem, n).unwrap();
        let mut w = set.writer(mem).unwrap();
        for i in 0..n {
            w.push(&alloc::vec![i as u8; entry_size]).unwrap();
        }
        w.finish().unwrap();
        set
    }

    #[test]
    fn write_kexec_restore_read() {
        let mut mem = SimMemory::new(0x1000, 4096, 8).unwrap();
        let set = filled(&mut mem, 1000, 10); // 4 per block: 3 blocks
        assert_eq!((set.len(), set.block_count(), set.capacity()), (10, 3, 12));
        let head = set.head();
        let mem = mem.kexec();
        let back = RawBlockSet::restore(&mem, head, 1000).unwrap();
        assert_eq!(back.len(), 10);
        for (i, e) in back.iter(&mem).unwrap().enumerate() {
            assert!(e.iter().all(|&b| b == i as u8));
        }
        assert_eq!(back.get(&mem, 9).unwrap().map(|e| e[0]), Some(9));
        assert_eq!(back.get(&mem, 10).unwrap(), None);
    }

    #[test]
    fn shrink_prev_clear_and_destroy() {
        let mut mem = SimMemory::new(0x1000, 4096, 8).unwrap();
        let mut set = filled(&mut mem, 1000, 10);
        assert_eq!(set.prev(&mut mem).unwrap().map(|e| e[0]), Some(9));
        set.shrink(&mut mem, 4).unwrap();
        assert_eq!((set.len(), set.block_count()), (4, 1));
        assert_eq!(mem.stats().preserved, 1);
        set.clear(&mut mem).unwrap();
        assert!(set.is_empty());
        assert_eq!(set.publish(&mut mem).unwrap(), PhysAddr::NULL);
        set.destroy(&mut mem).unwrap();
        assert_eq!(mem.stats().preserved, 0);
    }

    #[test]
    fn restore_rejects_a_loop() {
        let mut mem = SimMemory::new(0x1000, 4096, 8).unwrap();
        let set = filled(&mut mem, 2000, 6); // 2 per block: 3 blocks
        let (first, last) = (set.blocks()[0], set.blocks()[2]);
        first.write_to(&mut mem.page_mut(last).unwrap()[0..]);
        let mem = mem.kexec();
        let err = RawBlockSet::restore(&mem, first, 2000).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Chain {
                    index: 2,
                    fault: ChainFault::Cycle { to_index: 0 },
                    ..
                }
            ),
            "{err}"
        );
    }
}
