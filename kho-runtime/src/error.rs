//! The one error type of the runtime.

use crate::PhysAddr;

/// What is wrong with one physical address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Below the memory's base or past its last page.
    OutOfRange,
    /// Not a multiple of the page size.
    Unaligned,
    /// The page starts inside the image but the image ends before the page does.
    PastEndOfImage,
    /// The page is not preserved (restoring it, or a block found there, would
    /// read memory the previous kernel did not hand over).
    NotPreserved,
    /// The page was already restored and freed by this kernel.
    AlreadyRestored,
    /// The page holds the backend's own metadata, never a block.
    Reserved,
    /// The backend is read-only (a raw memory dump).
    ReadOnly,
    /// The page belongs to the handover a [`FileMemory`](crate::FileMemory)
    /// published last: changing it in place could tear that generation
    /// if the next publish died half-way.
    Published {
        /// The published generation holding the page.
        generation: u64,
    },
    /// The file behind the memory is now shorter than the page: someone
    /// truncated it while it was open.
    Shrunk {
        /// The file's length when the short read was seen.
        len: u64,
    },
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Fault::OutOfRange => "address outside memory",
            Fault::Unaligned => "address not page aligned",
            Fault::PastEndOfImage => "page runs past the end of the image",
            Fault::NotPreserved => "page is not preserved",
            Fault::AlreadyRestored => "page was already restored",
            Fault::Reserved => "page is reserved for image metadata",
            Fault::ReadOnly => "memory is read-only",
            Fault::Shrunk { len } => {
                return write!(f, "the image shrank to {len} bytes while open");
            }
            Fault::Published { generation } => {
                return write!(
                    f,
                    "page belongs to published generation {generation} and cannot be \
                     changed in place (build the next handover in a new set)"
                );
            }
        })
    }
}

/// Why a block chain was rejected on restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainFault {
    /// The block's address is unusable.
    Address(Fault),
    /// The chain loops: this block links back to block `to_index`.
    Cycle {
        /// Index of the block the bad `next` points back to.
        to_index: usize,
    },
    /// The chain has more blocks than the limit allows.
    TooManyBlocks {
        /// The limit in force.
        limit: usize,
    },
    /// The header's count is 0 or larger than a block can hold.
    BadCount {
        /// The count found in the header.
        count: u64,
        /// The largest valid count (`count_per_block`).
        max: u64,
    },
}

impl core::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChainFault::Address(fault) => fault.fmt(f),
            ChainFault::Cycle { to_index } => {
                write!(f, "next links back to block {to_index} (cycle)")
            }
            ChainFault::TooManyBlocks { limit } => {
                write!(f, "chain is longer than the limit of {limit} blocks")
            }
            ChainFault::BadCount { count, max } => {
                write!(f, "entry count {count} is outside 1..={max}")
            }
        }
    }
}

/// Every error of the runtime.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Restore rejected a block chain.
    Chain {
        /// Position of the bad block in the chain (0 is the head).
        index: usize,
        /// Its physical address.
        addr: PhysAddr,
        /// What is wrong.
        fault: ChainFault,
    },
    /// A page access or page free was refused.
    Memory {
        /// The address asked for.
        addr: PhysAddr,
        /// Why it was refused.
        fault: Fault,
    },
    /// An entry of this size cannot fit a block of this page size.
    EntrySize {
        /// The entry size asked for.
        entry_size: usize,
        /// The block (page) size.
        page_size: usize,
    },
    /// The page size is not one the format supports.
    PageSize(usize),
    /// The memory has no free page, or an injected allocation failure.
    OutOfMemory,
    /// Growing would exceed the block limit.
    BlockLimit {
        /// Blocks the grow needed.
        wanted: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The set is full: grow it first.
    Full {
        /// The set's capacity.
        capacity: usize,
    },
    /// A byte slice handed in as an entry has the wrong length.
    EntryLength {
        /// The set's entry size.
        expected: usize,
        /// The slice's length.
        found: usize,
    },
    /// An entry index at or past the end of the set.
    OutOfBounds {
        /// The index asked for.
        index: usize,
        /// Entries in the set.
        len: usize,
    },
    /// The operation changes a set restored from the previous kernel.
    Incoming(&'static str),
    /// A restored set's recorded ABI differs from the reader's type.
    IncompatibleAbi {
        /// The root-table name looked up.
        name: alloc::string::String,
        /// What the reader's type declares.
        expected: alloc::string::String,
        /// What the image records.
        found: alloc::string::String,
    },
    /// No root-table record has this name.
    NotFound(alloc::string::String),
    /// A value does not fit its field.
    TooLong {
        /// What was being stored.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The room there is.
        capacity: usize,
    },
    /// An image file's own metadata is invalid.
    Image {
        /// The file.
        path: alloc::string::String,
        /// What is wrong with it.
        what: alloc::string::String,
    },
    /// An operating-system I/O error.
    #[cfg(feature = "std")]
    Io {
        /// The file.
        path: alloc::string::String,
        /// The cause.
        source: std::io::Error,
    },
    /// Reading one page of a file failed (other than by the file being too
    /// short, which is [`Fault::Shrunk`]).
    #[cfg(feature = "std")]
    PageIo {
        /// The file.
        path: alloc::string::String,
        /// The page's physical address.
        addr: PhysAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Another open of the image holds its lock: one writer, or any number
    /// of readers, at a time.
    InUse {
        /// The image file.
        path: alloc::string::String,
    },
    /// The path names something other than a file the backend can use
    /// (a FIFO, a device, a directory, a socket).
    NotRegular {
        /// The path.
        path: alloc::string::String,
        /// What it is instead, with its article ("a FIFO").
        kind: &'static str,
        /// What else the backend accepts (" or block device"), or "".
        also: &'static str,
    },
    /// The image's storage could not be allocated (a full disk): `create`
    /// reserves every block up front so that this is the only place it shows.
    #[cfg(feature = "std")]
    Allocate {
        /// The image file.
        path: alloc::string::String,
        /// Bytes asked for.
        len: u64,
        /// The cause (`ENOSPC` for a full disk).
        source: std::io::Error,
    },
    /// A block set was used with a memory other than the one it was made or
    /// restored in (another value at the same base, a clone, the memory
    /// after a kexec): its block addresses mean nothing there.
    WrongMemory {
        /// The memory the set was made or restored in.
        expected: crate::MemoryId,
        /// The memory it was used with.
        found: crate::MemoryId,
    },
    /// Restore rejected a KHO vmalloc area (see [`crate::Vmalloc::restore`]).
    Vmalloc {
        /// Position of the chunk at fault in the chunk list (0 is `first`).
        chunk: usize,
        /// Its physical address.
        addr: PhysAddr,
        /// What is wrong.
        fault: crate::VmallocFault,
    },
    /// Restore rejected a preserved-memory radix tree (see
    /// [`crate::PreservedMap::restore`]).
    Radix {
        /// The level of the node at fault (0: a leaf; the root is
        /// `depth - 1`).
        level: u32,
        /// Its physical address.
        node: PhysAddr,
        /// What is wrong.
        fault: crate::RadixFault,
    },
}

// Written by hand, not with thiserror: the no_std core needs nothing but
// core::fmt and core::error::Error (stable since 1.81).
impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Chain { index, addr, fault } => write!(f, "block {index} at {addr}: {fault}"),
            Error::Memory { addr, fault } => write!(f, "page at {addr}: {fault}"),
            Error::EntrySize {
                entry_size,
                page_size,
            } => write!(
                f,
                "entry size {entry_size} does not fit a {page_size}-byte block \
                 (at most {} bytes after the 16-byte header)",
                page_size.saturating_sub(crate::HEADER_SIZE)
            ),
            Error::PageSize(size) => {
                write!(
                    f,
                    "page size {size} is not supported (use 4096, 16384 or 65536)"
                )
            }
            Error::OutOfMemory => f.write_str("out of preserved memory"),
            Error::BlockLimit { wanted, limit } => write!(
                f,
                "growing to {wanted} blocks would exceed the limit of {limit}"
            ),
            Error::Full { capacity } => {
                write!(f, "block set is full ({capacity} entries): grow it first")
            }
            Error::EntryLength { expected, found } => write!(
                f,
                "entry is {found} bytes, the set holds {expected}-byte entries"
            ),
            Error::OutOfBounds { index, len } => {
                write!(
                    f,
                    "entry {index} is past the end of the set ({len} entries)"
                )
            }
            Error::Incoming(what) => write!(
                f,
                "{what} is not allowed on a set restored from the previous kernel"
            ),
            Error::IncompatibleAbi {
                name,
                expected,
                found,
            } => write!(
                f,
                "incompatible ABI for {name}: expected {expected}, found {found}"
            ),
            Error::NotFound(name) => write!(f, "no block set named {name:?} in the root table"),
            Error::TooLong {
                what,
                len,
                capacity,
            } => write!(f, "{what}: {len} bytes do not fit {capacity}"),
            Error::Image { path, what } => write!(f, "image {path}: {what}"),
            #[cfg(feature = "std")]
            Error::Io { path, source } => write!(f, "{path}: {source}"),
            #[cfg(feature = "std")]
            Error::PageIo { path, addr, source } => {
                write!(f, "{path}: reading the page at {addr}: {source}")
            }
            Error::InUse { path } => write!(
                f,
                "image {path} is in use (locked by another process or open handle)"
            ),
            Error::NotRegular { path, kind, also } => {
                write!(f, "{path}: not a regular file{also} ({kind})")
            }
            #[cfg(feature = "std")]
            Error::Allocate { path, len, source } => {
                write!(f, "image {path}: cannot allocate {len} bytes: {source}")
            }
            Error::WrongMemory { expected, found } => write!(
                f,
                "block set lives in {expected}, not {found}: use a set only with the memory \
                 it was made or restored in"
            ),
            Error::Vmalloc { chunk, addr, fault } => {
                write!(f, "vmalloc chunk {chunk} at {addr}: {fault}")
            }
            Error::Radix { level, node, fault } => {
                write!(
                    f,
                    "preserved-memory tree level {level}, node {node}: {fault}"
                )
            }
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            #[cfg(feature = "std")]
            Error::Io { source, .. }
            | Error::PageIo { source, .. }
            | Error::Allocate { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The runtime's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    pub(crate) fn mem(addr: PhysAddr, fault: Fault) -> Self {
        Error::Memory { addr, fault }
    }

    pub(crate) fn chain(index: usize, addr: PhysAddr, fault: ChainFault) -> Self {
        Error::Chain { index, addr, fault }
    }
}
