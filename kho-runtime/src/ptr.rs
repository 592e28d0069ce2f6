//! Typed physical pointers and fixed C strings: field types for entries.

use core::fmt;
use core::marker::PhantomData;

use crate::entry::name_bytes;
use crate::layout::{Len, Node, Prim, Str, Ty};
use crate::{AbiField, BlockSet, Error, Fault, KhoEntry, PhysAddr, PreservedMemory, Result};

/// The kernel's serializable pointer, `DECLARE_KHOSER_PTR(name, struct T
/// *)` of linux/kho/abi/kexec_handover.h: a `union { u64 phys; T *ptr; }`
/// whose `phys` the outgoing kernel sets, as an 8-byte physical address
/// that says what it points at (one `T`, or the head of a `BlockSet<T>`).
///
/// `#[repr(transparent)]` over a `u64`: size 8, alignment 8, as the C
/// union. In the layout it is `khoser_ptr<T>` ([`Ty::Ptr`] naming `T` by
/// [`AbiField::TYPE_NAME`]); a plain physical address with no type is a
/// [`PhysAddr`] (`phys_addr`).
#[repr(transparent)]
pub struct PhysPtr<T> {
    addr: u64,
    _to: PhantomData<fn() -> T>,
}

impl<T> Clone for PhysPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for PhysPtr<T> {}

impl<T> PartialEq for PhysPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}
impl<T> Eq for PhysPtr<T> {}

impl<T> fmt::Debug for PhysPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysPtr({:#x})", self.addr)
    }
}

impl<T> Default for PhysPtr<T> {
    fn default() -> Self {
        Self::NULL
    }
}

impl<T> PhysPtr<T> {
    /// The null pointer.
    pub const NULL: Self = PhysPtr {
        addr: 0,
        _to: PhantomData,
    };

    /// A pointer to `addr`.
    pub const fn new(addr: PhysAddr) -> Self {
        PhysPtr {
            addr: addr.0,
            _to: PhantomData,
        }
    }

    /// The address.
    pub const fn addr(self) -> PhysAddr {
        PhysAddr(self.addr)
    }

    /// Whether it is null.
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }
}

impl<T: KhoEntry> PhysPtr<T> {
    /// A pointer to the head of `set`.
    pub fn to_set<M: PreservedMemory + ?Sized>(set: &BlockSet<T, M>) -> Self {
        Self::new(set.head())
    }

    /// Restores the `BlockSet<T>` whose head this points at.
    pub fn restore_set<M: PreservedMemory + ?Sized>(self, mem: &M) -> Result<BlockSet<T, M>> {
        BlockSet::restore(mem, self.addr())
    }

    /// Reads the one `T` this points at, which must lie inside one incoming
    /// page.
    pub fn read<M: PreservedMemory + ?Sized>(self, mem: &M) -> Result<T> {
        let page_size = mem.page_size() as u64;
        let within = self.addr % page_size;
        let page = PhysAddr(self.addr - within);
        if within as usize + T::SIZE > page_size as usize {
            return Err(Error::Memory {
                addr: self.addr(),
                fault: Fault::PastEndOfImage,
            });
        }
        if !mem.is_incoming(page) {
            return Err(Error::Memory {
                addr: page,
                fault: Fault::NotPreserved,
            });
        }
        let bytes = mem.page(page)?;
        Ok(T::read_from(&bytes[within as usize..]))
    }
}

impl<T: AbiField + 'static> AbiField for PhysPtr<T> {
    const FIELD_SIZE: usize = 8;
    const TYPE: Ty<'static> = Ty::Ptr(Str::Ref(T::TYPE_NAME));
    // `repr(transparent)` over a `u64` (the marker is zero-sized).
    const PLAIN: crate::Plain = crate::Plain::YES;
    fn write_to(&self, out: &mut [u8]) {
        self.addr.write_to(out)
    }
    fn read_from(bytes: &[u8]) -> Self {
        PhysPtr {
            addr: u64::read_from(bytes),
            _to: PhantomData,
        }
    }
}

/// A C `char[N]`: a NUL-padded string field, set and read as text.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct CharArray<const N: usize>(pub [u8; N]);

const CHAR: Ty<'static> = Ty::Prim(Prim::Char);

impl<const N: usize> CharArray<N> {
    /// An all-NUL (empty) string.
    pub const EMPTY: Self = CharArray([0; N]);

    /// `s` NUL-padded; it must be shorter than `N` so a NUL ends it.
    pub fn new(s: &str) -> Result<Self> {
        let mut out = Self::EMPTY;
        out.set(s)?;
        Ok(out)
    }

    /// Replaces the string with `s` (shorter than `N`).
    pub fn set(&mut self, s: &str) -> Result<()> {
        crate::entry::set_name(&mut self.0, s)
    }

    /// The bytes before the first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        name_bytes(&self.0)
    }

    /// The string, if it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }
}

impl<const N: usize> Default for CharArray<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Debug for CharArray<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&alloc::string::String::from_utf8_lossy(self.as_bytes()), f)
    }
}

impl<const N: usize> AbiField for CharArray<N> {
    const FIELD_SIZE: usize = N;
    const TYPE: Ty<'static> = Ty::Array(Node::Ref(&CHAR), Len::new(N));
    // `repr(transparent)` over `[u8; N]`.
    const PLAIN: crate::Plain = crate::Plain::YES;
    fn write_to(&self, out: &mut [u8]) {
        out[..N].copy_from_slice(&self.0);
    }
    fn read_from(bytes: &[u8]) -> Self {
        let mut out = [0; N];
        out.copy_from_slice(&bytes[..N]);
        CharArray(out)
    }
}
