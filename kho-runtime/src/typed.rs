//! Block sets of a typed entry.

use core::marker::PhantomData;

use crate::block_set::{Iter, RawBlockSet};
use crate::{AbiField, KhoEntry, PhysAddr, PreservedMemory, Result};

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
