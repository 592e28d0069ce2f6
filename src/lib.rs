//! kho: the Linux Kexec HandOver (KHO) serialization-block ABI, checked.
//!
//! This facade re-exports [`kho_runtime`]: entry types, block sets and the
//! preserved-memory backends. See the README for the tools around it.
//!
//! ```
//! use kho::{BlockHeaderSer, BlockSet, SimMemory};
//!
//! # fn main() -> kho::Result<()> {
//! let mut mem = SimMemory::new(0x4000_0000, 4096, 8)?;
//! let mut set = BlockSet::<BlockHeaderSer, _>::new(&mem)?;
//! set.push(&mut mem, &BlockHeaderSer { next: 1, count: 2 })?;
//! let head = set.publish(&mut mem)?;
//! let mem = mem.kexec();
//! assert_eq!(BlockSet::<BlockHeaderSer, _>::restore(&mem, head)?.len(), 1);
//! # Ok(())
//! # }
//! ```
#![no_std]
#![forbid(unsafe_code)]

pub use kho_runtime::*;

/// Derives a checked KHO entry type; see the crate docs.
pub use kho_derive::KhoEntry;
