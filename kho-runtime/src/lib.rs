//! The Kexec HandOver (KHO) serialization-block format, checked.
//!
//! A subsystem hands state to the next kernel as fixed-size entries in
//! page-sized blocks. Each block starts with a 16-byte header (`next`, the
//! physical address of the following block or 0; `count`, the entries in
//! use) and holds `(page_size - 16) / entry_size` entries. A set is named by
//! the address of its first block. This crate builds such chains byte for
//! byte as the kernel does and restores them without trusting a byte.
//!
//! ```
//! use kho_runtime::{BlockHeaderSer, BlockSet, SimMemory};
//!
//! # fn main() -> kho_runtime::Result<()> {
//! let mut mem = SimMemory::new(0x10_0000, 4096, 16)?;
//! let mut set = BlockSet::<BlockHeaderSer, _>::new(&mem)?;
//! for i in 0..1000 {
//!     set.push(&mut mem, &BlockHeaderSer { next: i, count: i * 2 })?;
//! }
//! let head = set.publish(&mut mem)?;
//!
//! let mem = mem.kexec(); // the next kernel: only preserved pages survive
//! let restored = BlockSet::<BlockHeaderSer, _>::restore(&mem, head)?;
//! assert_eq!(restored.len(), 1000);
//! assert_eq!(restored.iter(&mem)?.nth(999).map(|e| e.count), Some(1998));
//! # Ok(())
//! # }
//! ```
//!
//! Bulk paths beside the per-entry ones:
//! [`extend_from_slice`](BlockSet::extend_from_slice) writes a slice a
//! block at a time (one header store per block),
//! [`read_into`](BlockSet::read_into) copies a restored set into an array,
//! and [`restore_read_into`](BlockSet::restore_read_into) restores and
//! copies in one walk of the chain, with restore's checks. From 1 MiB on
//! they bypass the cache, as a large `memcpy` does.
//!
//! Backends: [`SimMemory`] (in process, with a simulated kexec and fault
//! injection); with the `std` feature, [`FileMemory`] (an image file a
//! second process reopens, locked, published crash- and power-loss-safe)
//! and [`RawImage`] (a read-only raw dump, a file or a block device). The
//! file backends map nothing: they read and write pages with positioned
//! I/O, so a file that shrinks or a disk that fills is an error value,
//! never a signal. The crate's `unsafe` code is in two small modules of
//! its bulk paths: the cache-bypassing copy (`stream.rs`, x86-64 only)
//! and the byte view of a slice of plain entries (`plain.rs`); everything
//! else, every check of untrusted memory included, is safe code.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]
// Every public type is nameable (exported) and printable.
#![deny(unnameable_types, missing_debug_implementations)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod addr;
mod bits;
mod block_set;
mod entry;
mod error;
mod flex;
mod memory;
mod pages;
#[allow(unsafe_code)]
mod plain;
mod ptr;
mod radix;
mod sim;
#[allow(unsafe_code)]
mod stream;
mod typed;
mod union;
mod vmalloc;

#[cfg(feature = "std")]
mod cache;
#[cfg(feature = "std")]
mod file;
#[cfg(feature = "std")]
mod image_file;
#[cfg(feature = "std")]
mod raw_image;

pub use addr::PhysAddr;
pub use bits::{BitStorage, BitsOverflow};
pub use block_set::{count_per_block, Iter, RawBlockSet, Writer, DEFAULT_MAX_BLOCKS};
pub use entry::{
    fingerprint_of, name_bytes, set_name, struct_layout, AbiField, BlockHeaderSer,
    KhoBlockHeaderSer, KhoEntry, HEADER_SIZE, KHO_BLOCK_COMPATIBLE,
};
pub use error::{ChainFault, Error, Fault, Result};
pub use flex::{FlexArray, FlexArrayMut, FlexCount, FlexOutOfBounds};
pub use kho_layout as layout;
pub use kho_layout::fingerprint;
pub use memory::{check_page_size, MemoryId, PreservedMemory, PAGE_SIZES};
pub use plain::Plain;
pub use ptr::{CharArray, PhysPtr};
pub use radix::{
    write_radix, PreservedMap, PreservedRun, RadixFault, RadixGeometry, RadixLimits,
    DEFAULT_MAX_RADIX_NODES, DEFAULT_MAX_RADIX_ORDER,
};
pub use sim::{SimMemory, SimStats, POISON};
pub use typed::{BlockSet, Entries, Writer as TypedWriter};
pub use union::UnionMember;
pub use vmalloc::{
    vmalloc_slots, Vmalloc, VmallocFault, VmallocSer, DEFAULT_MAX_VMALLOC_PAGES, KHO_VMALLOC_ALLOC,
    KHO_VMALLOC_FLAGS, KHO_VMALLOC_HUGE_VMAP, MAX_VMALLOC_ORDER, VMALLOC_HDR_SIZE,
    VMALLOC_SER_SIZE,
};

#[cfg(feature = "std")]
pub use file::{FileMemory, FileMemoryConfig, FileStats, RootRecord};
#[cfg(feature = "std")]
pub use image_file::ImageFile;
#[cfg(feature = "std")]
pub use raw_image::{RawImage, Segment, MAX_SEGMENTS};
