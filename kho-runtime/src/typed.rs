//! Block sets of a typed entry.

use core::borrow::Borrow;
use core::marker::PhantomData;

use alloc::vec::Vec;

use crate::block_set::{Iter, RawBlockSet};
use crate::stream::{prefetch_ahead, Stream};
use crate::{AbiField, Error, KhoEntry, PhysAddr, PreservedMemory, Result};

/// A block set of `T` entries in memory of type `M`.
///
/// A thin, typed layer over [`RawBlockSet`]: entries go in and come out as
/// `T` values, converted field by field. See [`RawBlockSet`] for the
/// semantics of each operation; like it, the set is tied to the memory it
/// was made or restored in, and any other is [`Error::WrongMemory`](crate::Error::WrongMemory).
pub struct BlockSet<T: KhoEntry, M: PreservedMemory + ?Sized> {
    raw: RawBlockSet,
    _types: PhantomData<Types<T, M>>,
}

/// What a [`BlockSet`] is typed by, without owning either.
type Types<T, M> = (fn() -> T, fn(&M));

impl<T: KhoEntry, M: PreservedMemory + ?Sized> core::fmt::Debug for BlockSet<T, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockSet")
            .field("compatible", &T::COMPATIBLE)
            .field("raw", &self.raw)
            .finish()
    }
}

/// `T`'s entry size, proven at compile time to be the size its codec
/// writes: a hand `impl KhoEntry` that overrides `SIZE` with another value
/// fails to build where a set of it is made, rather than writing entries
/// of the wrong length.
pub(crate) const fn entry_size<T: KhoEntry>() -> usize {
    assert!(
        T::SIZE == <T as AbiField>::FIELD_SIZE,
        "KhoEntry::SIZE differs from AbiField::FIELD_SIZE: do not override SIZE"
    );
    T::SIZE
}

impl<T: KhoEntry, M: PreservedMemory + ?Sized> BlockSet<T, M> {
    const ENTRY_SIZE: usize = entry_size::<T>();

    /// An empty outgoing set in `mem`'s pages.
    pub fn new(mem: &M) -> Result<Self> {
        Ok(Self::from_raw(RawBlockSet::new(mem, Self::ENTRY_SIZE)?))
    }

    /// Restores the chain at `head` (see [`RawBlockSet::restore_with_limit`]).
    pub fn restore(mem: &M, head: PhysAddr) -> Result<Self> {
        Ok(Self::from_raw(RawBlockSet::restore(
            mem,
            head,
            Self::ENTRY_SIZE,
        )?))
    }

    /// Restores the chain at `head` and copies its first `out.len()`
    /// entries into `out`: [`restore`](Self::restore) then
    /// [`read_into`](Self::read_into), in one walk of the chain for a
    /// [plain](crate::Plain) `T` (see [`RawBlockSet::restore_read_into`]).
    /// Returns the set and how many entries were copied. The chain is
    /// checked as `restore` checks it, with the same errors; on error, what
    /// `out` holds is unspecified.
    pub fn restore_read_into(mem: &M, head: PhysAddr, out: &mut [T]) -> Result<(Self, usize)> {
        if let Some(bytes) = crate::plain::as_bytes_mut(out) {
            let (raw, n) = RawBlockSet::restore_read_into(mem, head, Self::ENTRY_SIZE, bytes)?;
            return Ok((Self::from_raw(raw), n));
        }
        let set = Self::restore(mem, head)?;
        let n = set.read_into(mem, out)?;
        Ok((set, n))
    }

    /// Restores with a block limit other than the default.
    pub fn restore_with_limit(mem: &M, head: PhysAddr, max_blocks: usize) -> Result<Self> {
        Ok(Self::from_raw(RawBlockSet::restore_with_limit(
            mem,
            head,
            Self::ENTRY_SIZE,
            max_blocks,
        )?))
    }

    fn from_raw(raw: RawBlockSet) -> Self {
        BlockSet {
            raw,
            _types: PhantomData,
        }
    }

    /// Sets the block limit for growing (default 10000).
    pub fn with_max_blocks(self, max_blocks: usize) -> Self {
        Self::from_raw(self.raw.with_max_blocks(max_blocks))
    }

    /// The untyped set underneath.
    pub fn as_raw(&self) -> &RawBlockSet {
        &self.raw
    }

    /// Entries in the set.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the set holds no entry.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Entries the set holds without growing.
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// Blocks in the set.
    pub fn block_count(&self) -> usize {
        self.raw.block_count()
    }

    /// Entries per block.
    pub fn count_per_block(&self) -> usize {
        self.raw.count_per_block()
    }

    /// Address of the first block (0 when none).
    pub fn head(&self) -> PhysAddr {
        self.raw.head()
    }

    /// Grows to hold `count` entries, all or nothing.
    pub fn grow(&mut self, mem: &mut M, count: usize) -> Result<()> {
        self.raw.grow(mem, count)
    }

    /// Keeps the first `count` entries and frees blocks not needed for them.
    pub fn shrink(&mut self, mem: &mut M, count: usize) -> Result<()> {
        self.raw.shrink(mem, count)
    }

    /// Frees trailing blocks that hold no entry.
    pub fn trim(&mut self, mem: &mut M) -> Result<()> {
        self.raw.trim(mem)
    }

    /// Trims and returns the head address to hand over.
    pub fn publish(&mut self, mem: &mut M) -> Result<PhysAddr> {
        self.raw.publish(mem)
    }

    /// Zeroes every entry; blocks stay.
    pub fn clear(&mut self, mem: &mut M) -> Result<()> {
        self.raw.clear(mem)
    }

    /// Frees every block.
    pub fn destroy(&mut self, mem: &mut M) -> Result<()> {
        self.raw.destroy(mem)
    }

    /// Appends `entry`, growing by a block when the set is full.
    pub fn push(&mut self, mem: &mut M, entry: &T) -> Result<()> {
        self.raw.grow(mem, self.raw.len() + 1)?;
        entry.write_to(self.raw.reserve(mem)?);
        Ok(())
    }

    /// Removes and returns the last entry.
    pub fn prev(&mut self, mem: &mut M) -> Result<Option<T>> {
        Ok(self.raw.prev(mem)?.map(T::read_from))
    }

    /// Entry `index`, or `None` past the end (see [`RawBlockSet::get`]).
    pub fn get(&self, mem: &M, index: usize) -> Result<Option<T>> {
        Ok(self.raw.get(mem, index)?.map(T::read_from))
    }

    /// Overwrites entry `index` of an outgoing set in place (see
    /// [`RawBlockSet::get_mut`] for what refuses): past the end is
    /// [`Error::OutOfBounds`](crate::Error::OutOfBounds), and on error
    /// nothing changed.
    pub fn set(&mut self, mem: &mut M, index: usize, entry: &T) -> Result<()> {
        let len = self.raw.len();
        let slot = self
            .raw
            .get_mut(mem, index)?
            .ok_or(crate::Error::OutOfBounds { index, len })?;
        entry.write_to(&mut slot[..<T as AbiField>::FIELD_SIZE]);
        Ok(())
    }

    /// Reads entry `index`, lets `f` change it, and writes it back in
    /// place; returns what `f` returns. Refuses as [`set`](Self::set) does,
    /// before `f` runs.
    pub fn update<R>(
        &mut self,
        mem: &mut M,
        index: usize,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R> {
        let len = self.raw.len();
        let slot = self
            .raw
            .get_mut(mem, index)?
            .ok_or(crate::Error::OutOfBounds { index, len })?;
        let mut value = T::read_from(slot);
        let r = f(&mut value);
        value.write_to(&mut slot[..<T as AbiField>::FIELD_SIZE]);
        Ok(r)
    }

    /// The index of the first entry for which `pred` is true, in chain
    /// order, or `None`.
    pub fn position(&self, mem: &M, mut pred: impl FnMut(&T) -> bool) -> Result<Option<usize>> {
        self.raw.position(mem, |e| pred(&T::read_from(e)))
    }

    /// The first entry for which `pred` is true, with its index.
    pub fn find(&self, mem: &M, mut pred: impl FnMut(&T) -> bool) -> Result<Option<(usize, T)>> {
        let mut found = None;
        let index = self.raw.position(mem, |e| {
            let value = T::read_from(e);
            let hit = pred(&value);
            if hit {
                found = Some(value);
            }
            hit
        })?;
        Ok(index.zip(found))
    }

    /// Appends every entry `entries` yields, a block at a time with one
    /// header store per block, growing the set as it goes (by what the
    /// iterator's size hint promises first, then a block at a time). On
    /// error the entries written before the failing block stay.
    pub fn extend<I>(&mut self, mem: &mut M, entries: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: core::borrow::Borrow<T>,
    {
        self.writer(mem)?.extend(entries)
    }

    /// Appends a slice of entries: grows once, all or nothing, then writes
    /// a block at a time. On error nothing was appended.
    ///
    /// From 1 MiB of entries on, each new block is streamed into its page
    /// past the cache (non-temporal stores on x86-64): the outgoing kernel
    /// never reads these pages again, and a write through the cache would
    /// first read every line of them. Entries of a [plain](crate::Plain)
    /// type go straight from `entries`, two pages at a time; others are
    /// encoded a block at a time into a small buffer first.
    pub fn extend_from_slice(&mut self, mem: &mut M, entries: &[T]) -> Result<()> {
        self.writer(mem)?.extend_from_slice(entries)
    }

    /// Copies the first `out.len()` entries (at most [`len`](Self::len))
    /// into `out`, a block at a time, and returns how many it copied.
    /// Every page is fetched first, so on error `out` is untouched.
    ///
    /// From 1 MiB on, `out` is written past the cache (non-temporal stores
    /// on x86-64), as a large memcpy is: what it holds afterwards is in
    /// memory, not in the cache.
    pub fn read_into(&self, mem: &M, out: &mut [T]) -> Result<usize> {
        let size = <T as AbiField>::FIELD_SIZE;
        let want = out.len().min(self.len());
        // Entries whose memory is their encoding are read as bytes.
        if let Some(bytes) = crate::plain::as_bytes_mut(&mut out[..want]) {
            return self.raw.read_into(mem, bytes);
        }
        let runs = self.raw.block_entries(mem)?;
        // Into a large array, each block is decoded into a buffer that
        // stays in L1 and streamed into `out` past the cache in one copy
        // (see `stream`); into a small one, decoded in place.
        let mut stream = Stream::for_bytes(want.saturating_mul(size));
        let mut scratch: Vec<T> = Vec::new();
        if stream.on() {
            scratch
                .try_reserve_exact(self.raw.count_per_block().min(want))
                .map_err(|_| Error::OutOfMemory)?;
        }
        let mut done = 0;
        let mut rest = out;
        for run in runs {
            if rest.is_empty() {
                break;
            }
            let n = (run.len() / size).min(rest.len());
            let (dst, tail) = rest.split_at_mut(n);
            if stream.on() {
                scratch.clear();
                scratch.extend(run.chunks_exact(size).take(n).map(T::read_from));
                stream.copy(dst, &scratch);
            } else {
                let entries = run.chunks_exact(size).map(T::read_from);
                for (dst, e) in dst.iter_mut().zip(entries) {
                    *dst = e;
                }
            }
            rest = tail;
            done += n;
        }
        Ok(done)
    }

    /// The entries in chain order: the check and every page read happen
    /// here, and the iterator yields exactly [`len`](Self::len) entries (see
    /// [`RawBlockSet::iter`]).
    pub fn iter<'a>(&'a self, mem: &'a M) -> Result<Entries<'a, T, M>> {
        Ok(Entries {
            raw: self.raw.iter(mem)?,
            _t: PhantomData,
        })
    }

    /// A writer appending into the capacity already grown; it trims the set
    /// when finished or dropped. The memory is checked here, once.
    pub fn writer<'a>(&'a mut self, mem: &'a mut M) -> Result<Writer<'a, T, M>> {
        Ok(Writer {
            raw: self.raw.writer(mem)?,
            _t: PhantomData,
        })
    }
}

/// Iterator over a typed set's entries, made by [`BlockSet::iter`]; it
/// cannot fail and knows its exact length.
pub struct Entries<'a, T, M: ?Sized> {
    raw: Iter<'a, M>,
    _t: PhantomData<fn() -> T>,
}

impl<T: KhoEntry, M: PreservedMemory + ?Sized> Iterator for Entries<'_, T, M> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.raw.next().map(T::read_from)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.raw.size_hint()
    }
}

impl<T: KhoEntry, M: PreservedMemory + ?Sized> ExactSizeIterator for Entries<'_, T, M> {}

impl<T: KhoEntry, M: PreservedMemory + ?Sized> core::iter::FusedIterator for Entries<'_, T, M> {}

impl<T, M: ?Sized> core::fmt::Debug for Entries<'_, T, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Entries").field(&self.raw).finish()
    }
}

/// Appends `T` entries to an outgoing [`BlockSet`] (exported as
/// `TypedWriter`; made by [`BlockSet::writer`]). Like the untyped
/// [`Writer`](crate::Writer), it trims the set when finished or dropped.
pub struct Writer<'a, T, M: PreservedMemory + ?Sized> {
    raw: crate::Writer<'a, M>,
    _t: PhantomData<fn(T)>,
}

impl<T: KhoEntry, M: PreservedMemory + ?Sized> core::fmt::Debug for Writer<'_, T, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TypedWriter")
            .field("compatible", &T::COMPATIBLE)
            .field("raw", &self.raw)
            .finish()
    }
}

impl<T: KhoEntry, M: PreservedMemory + ?Sized> Writer<'_, T, M> {
    /// Appends `entry`; fails with `Full` when the grown capacity is used up.
    #[inline(always)]
    pub fn push(&mut self, entry: &T) -> Result<()> {
        // A slot of known length lets the copy compile to fixed-size moves.
        entry.write_to(&mut self.raw.reserve()?[..<T as AbiField>::FIELD_SIZE]);
        Ok(())
    }

    /// Removes and returns the last entry.
    pub fn prev(&mut self) -> Result<Option<T>> {
        Ok(self.raw.prev()?.map(T::read_from))
    }

    /// Appends every entry `entries` yields (see [`BlockSet::extend`]):
    /// unlike [`push`](Self::push), grows the set as needed.
    pub fn extend<I>(&mut self, entries: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: core::borrow::Borrow<T>,
    {
        self.raw.extend_with(entries.into_iter(), |e, slot| {
            e.borrow()
                .write_to(&mut slot[..<T as AbiField>::FIELD_SIZE])
        })
    }

    /// Appends a slice of entries (see [`BlockSet::extend_from_slice`]):
    /// grows once, all or nothing, then fills a block at a time.
    pub fn extend_from_slice(&mut self, entries: &[T]) -> Result<()> {
        const { assert!(<T as AbiField>::FIELD_SIZE > 0) };
        let size = <T as AbiField>::FIELD_SIZE;
        // Entries whose memory is their encoding are copied as bytes.
        let plain = crate::plain::as_bytes(entries);
        self.raw
            .append_encoded(entries.len(), plain, |dst, first, k| {
                // A slot size known at compile time lets each entry's store
                // compile to fixed-size moves, as in `push`.
                for (slot, e) in dst.chunks_exact_mut(size).zip(&entries[first..first + k]) {
                    e.write_to(slot);
                }
                prefetch_ahead(entries, first + k, k);
            })
    }

    /// Entries in the set so far.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Trims the set and returns its head address.
    pub fn finish(self) -> Result<PhysAddr> {
        self.raw.finish()
    }
}
