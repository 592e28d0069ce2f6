//! kho: the Linux Kexec HandOver (KHO) serialization-block ABI, checked.
//!
//! This facade re-exports [`kho_runtime`] (entry types, block sets, the
//! preserved-memory backends) and, with the `derive` feature (on by
//! default), [`macro@KhoEntry`], the derive that makes a packed struct a
//! checked entry type. `use kho::KhoEntry;` brings both the trait and the
//! derive.
//!
//! # Features
//! - `std` (default): the file-backed backends ([`FileMemory`],
//!   [`RawImage`]); without it the crate is `no_std` + `alloc`.
//! - `derive` (default): `#[derive(KhoEntry)]` and the generated [`abi`]
//!   modules, which use it. Without it nothing builds a proc macro; entry
//!   types implement [`AbiField`] and [`KhoEntry`](trait@KhoEntry) by hand
//!   (see the trait's docs).
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

// Generated modules name the crate `::kho`, as a user's crate would.
extern crate self as kho;

#[cfg(feature = "derive")]
pub mod abi;

pub use kho_runtime::*;

/// Derives a checked KHO entry type from a `#[repr(C, packed)]` struct.
///
/// ```
/// use kho::{BlockSet, CharArray, KhoEntry, SimMemory};
///
/// #[derive(KhoEntry, Clone, Copy)]
/// #[repr(C, packed)]
/// #[kho(compatible = "luo-file-v1")]
/// pub struct LuoFileSer {
///     pub name: CharArray<48>,
///     pub data: u64,
///     pub token: u64,
/// }
///
/// # fn main() -> kho::Result<()> {
/// // Every fact is a trait constant: `KhoEntry` (imported) carries them.
/// assert_eq!(LuoFileSer::COMPATIBLE, "luo-file-v1");
/// assert_eq!(<LuoFileSer as KhoEntry>::SIZE, 64);
/// assert_eq!(LuoFileSer::LAYOUT.fields[1].offset, 48);
///
/// let mut mem = SimMemory::new(0x10_0000, 4096, 4)?;
/// let mut files = BlockSet::<LuoFileSer, _>::new(&mem)?;
/// let file = LuoFileSer { name: CharArray::new("memfd:guest-ram")?, data: 1, token: 7 };
/// files.push(&mut mem, &file)?;
/// let head = files.publish(&mut mem)?;
/// let mem = mem.kexec();
/// let files = BlockSet::<LuoFileSer, _>::restore(&mem, head)?;
/// let name = files.get(&mem, 0)?.map(|f| f.name);
/// assert_eq!(name.and_then(|n| n.to_str().map(String::from)).as_deref(), Some("memfd:guest-ram"));
/// # Ok(())
/// # }
/// ```
///
/// # What it generates
/// Trait impls and anonymous `const _` proofs only: nothing inherent on
/// the type, so its own items (a `LAYOUT` of yours) never collide.
/// - [`AbiField`]: `FIELD_SIZE` (bytes, packed), `TYPE` (the layout: each
///   field's name, offset, size and type, in the model of [`layout`]), and
///   field-by-field conversion to and from bytes, no `unsafe`;
/// - with `#[kho(compatible = "name-vN")]`, [`KhoEntry`](trait@KhoEntry):
///   `SIZE`, `COMPATIBLE`, `LAYOUT` and `FINGERPRINT` (the hash of the
///   canonical layout text); the type can be a block-set entry. Without
///   it, the type can only be a field of other entries (its layout is
///   [`struct_layout`]`::<T>()`).
///
/// # What it rejects at compile time
/// - a missing or different `#[repr]` (it must be exactly `C, packed`),
///   generics and lifetimes, enums, unions, tuple and unit structs, and
///   structs with no field;
/// - fields that are not ABI types: `usize`, `isize`, `bool`, `char`,
///   floats, raw pointers, references, slices, `str`, tuples, `Option`,
///   `Vec`, `Box`, `String`, and any type without [`AbiField`] (an alias of
///   `usize` too: the bound is checked on the real type);
/// - an entry of 0 bytes or more than 4080 (one 4 KiB block after its
///   16-byte header);
/// - a compatible string that is not lowercase `name-vN` with N >= 1.
///
/// # Attributes
/// - `#[kho(compatible = "name-vN")]`: the type is a block-set entry;
/// - `#[kho(name = "c_name")]`: the ABI name when it is not the snake_case
///   of the Rust name;
/// - `#[kho(same_layout_as = path::To::Type)]`: this hand-written struct
///   declares the same ABI as that type (a generated one, from a schema).
///   The compiler compares the two layouts field by field (name, offset,
///   size, type; nested structs whole), the ABI names and, with
///   `compatible`, the compatible strings, and stops at the first
///   difference, reported at the field (or at the attribute for a field
///   only the other type has). The derive reads no file: the schema is
///   compiled once, into the generated type;
/// - `#[kho(crate = "path")]` when `kho` is renamed or re-exported.
///
/// ```
/// use kho::{CharArray, KhoEntry};
///
/// #[derive(KhoEntry, Clone, Copy)]
/// #[repr(C, packed)]
/// #[kho(compatible = "luo-v4-kho-block-v1", same_layout_as = kho::abi::luo::LuoFileSer)]
/// pub struct LuoFileSer {
///     pub name: CharArray<48>,
///     pub data: u64,
///     pub token: u64,
/// }
/// ```
#[cfg(feature = "derive")]
#[doc(inline)]
pub use kho_derive::KhoEntry;
