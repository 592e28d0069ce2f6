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

/// Derives a checked KHO entry type from a `#[repr(C)]` struct or union:
/// `#[repr(C, packed)]` for the kernel's `__packed`, `#[repr(C)]` for C's
/// natural alignment and padding, `#[repr(C, align(N))]` for
/// `__aligned(N)`.
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
/// Trait impls and anonymous `const _` proofs, and (only for bit fields and
/// flexible arrays, which need them) accessors named after those fields;
/// nothing else inherent on the type, so its own items (a `LAYOUT` of
/// yours) never collide.
/// - [`AbiField`]: `FIELD_SIZE` (C's `sizeof`: padding included, a
///   flexible array excluded), `TYPE` (the layout: size, alignment,
///   packed, struct or union, each field's name, offset, size, type and
///   bits, in the model of [`layout`]), `TYPE_NAME`, and field-by-field
///   conversion to and from bytes (padding written as zeros), no `unsafe`
///   except the one read a union needs (below);
/// - with `#[kho(compatible = "name-vN")]`, [`KhoEntry`](trait@KhoEntry):
///   `SIZE`, `COMPATIBLE`, `LAYOUT` and `FINGERPRINT` (the hash of the
///   canonical layout text); the type can be a block-set entry. Without
///   it, the type can only be a field of other entries (its layout is
///   [`struct_layout`]`::<T>()`).
///
/// The offsets, size and alignment are the compiler's (`offset_of!`,
/// `size_of`, `align_of`), and a `const` proves them equal to what
/// [`layout::place`] (C's placement rules for GCC and Clang on x86-64 and
/// arm64, the ones the schema compiler uses) gives for the same members: a
/// layout C would not have is a compile error at the field.
///
/// # Bit fields
/// Rust has none: declare the storage unit C uses and list the bit fields
/// it holds, from bit 0 (the least significant) up, as
/// `#[kho(bits(name = width, ..))]`. The storage type is the C bit field's
/// declared type, an unsigned integer (`u8`..`u64`). Each bit field is a
/// field of the layout (its storage unit's offset and size, plus `bits
/// first:width`); the storage field itself is not (C has no such name).
/// The derive generates `name()` (the value, of the storage type) and
/// `set_name(v)`, which refuses a value wider than the field with
/// [`BitsOverflow`] and leaves it unchanged; both have the storage field's
/// visibility.
///
/// ```
/// use kho::KhoEntry;
///
/// // memfd.h: struct memfd_luo_folio_ser { u64 pfn:52; u64 flags:12; u64 index; } __packed;
/// #[derive(KhoEntry, Clone, Copy)]
/// #[repr(C, packed)]
/// #[kho(compatible = "memfd-v2")]
/// pub struct MemfdLuoFolioSer {
///     #[kho(bits(pfn = 52, flags = 12))]
///     pub pfn_flags: u64,
///     pub index: u64,
/// }
///
/// let mut f = MemfdLuoFolioSer { pfn_flags: 0, index: 0 };
/// f.set_pfn(0x12345)?;
/// assert_eq!(f.pfn(), 0x12345);
/// assert!(f.set_flags(1 << 12).is_err());
/// assert_eq!(MemfdLuoFolioSer::LAYOUT.fields[1].bits.map(|b| (b.first, b.width)), Some((52, 12)));
/// # Ok::<(), kho::BitsOverflow>(())
/// ```
///
/// Refused at compile time: a width of 0 or above the storage type, widths
/// that sum above it, signed or non-integer storage, a bit field named as
/// another field or bit field, and bits C would place elsewhere (a bit
/// field C puts in the unit of the field before it: declare those bits in
/// one storage field).
///
/// # Alignment, unions and the KHOSER pointer
/// A `#[repr(C)]` struct has C's padding and alignment, shown in its layout
/// and fingerprint (` align 8` on the struct line). A [`PhysPtr<T>`] field
/// is the kernel's `DECLARE_KHOSER_PTR(name, struct T *)`: 8 bytes,
/// aligned 8, `khoser_ptr<T>` in the layout. Two structs may point at each
/// other.
///
/// ```
/// use kho::{AbiField, KhoEntry, PhysPtr};
///
/// // kexec_handover.h's struct kho_vmalloc (not __packed).
/// #[derive(KhoEntry, Clone, Copy)]
/// #[repr(C)]
/// pub struct KhoVmalloc {
///     pub first: PhysPtr<KhoVmallocChunk>,
///     pub total_pages: u32,
///     pub flags: u16,
///     pub order: u16,
/// }
///
/// #[derive(KhoEntry, Clone, Copy)]
/// #[repr(C)]
/// pub struct KhoVmallocChunk {
///     pub next: PhysPtr<KhoVmallocChunk>,
///     pub phys: [u64; 511],
/// }
///
/// let l = kho::struct_layout::<KhoVmalloc>().unwrap();
/// assert_eq!((l.size, l.align), (16, 8));
/// assert_eq!(<KhoVmallocChunk as AbiField>::FIELD_SIZE, 4096);
/// ```
///
/// A `#[repr(C)] union` derives too, when its members are plain values of
/// one size ([`UnionMember`]: integers, [`PhysAddr`], [`PhysPtr<T>`],
/// [`CharArray<N>`] and arrays of them; checked at compile time): any member
/// written sets every byte, so `write_to` may read the first. That read is
/// the one `unsafe` block the derive emits (allowed at the function, so a
/// crate that `#![deny(unsafe_code)]`s can derive a union; one that
/// `forbid`s it cannot). A union of structs is refused (their padding).
///
/// ```
/// use kho::{KhoEntry, PhysAddr};
///
/// #[derive(KhoEntry, Clone, Copy)]
/// #[repr(C)]
/// pub union PhysOrWords {
///     pub phys: PhysAddr,
///     pub words: [u32; 2],
/// }
///
/// let l = kho::struct_layout::<PhysOrWords>().unwrap();
/// assert_eq!((l.kind, l.size), (kho::layout::Kind::Union, 8));
/// ```
///
/// # Flexible array members
/// A trailing `name: [T; 0]` marked `#[kho(flex, count = field)]` is C's
/// `T name[]`: size 0 (the struct's size is its fixed part), alignment of
/// `T`, `T[]` in the layout. `count` names the unsigned integer field that
/// holds the number of elements. The derive generates `name(&self,
/// bytes)` and `name_mut(&self, bytes)`: [`FlexArray`] / [`FlexArrayMut`]
/// views of the elements inside `bytes` (the struct's bytes followed by
/// them), or [`FlexOutOfBounds`] when the count runs past `bytes`. Without
/// `count` (C keeps it elsewhere) both take it as a last argument,
/// `count: u64`.
///
/// ```
/// use kho::{AbiField, KhoEntry};
///
/// #[derive(KhoEntry, Clone, Copy)]
/// #[repr(C, packed)]
/// pub struct PciDevSer {
///     pub domain: u32,
///     pub bdf: u16,
///     pub refcount: u16,
/// }
///
/// // pci.h: struct pci_ser { u32 max_nr_devices; u32 nr_devices; struct pci_dev_ser devices[]; } __packed;
/// #[derive(KhoEntry, Clone, Copy)]
/// #[repr(C, packed)]
/// #[kho(compatible = "pci-v1")]
/// pub struct PciSer {
///     pub max_nr_devices: u32,
///     pub nr_devices: u32,
///     #[kho(flex, count = nr_devices)]
///     pub devices: [PciDevSer; 0],
/// }
///
/// let head = PciSer { max_nr_devices: 2, nr_devices: 2, devices: [] };
/// let mut bytes = vec![0u8; PciSer::SIZE + 2 * 8];
/// head.write_to(&mut bytes);
/// head.devices_mut(&mut bytes)?.set(1, &PciDevSer { domain: 0, bdf: 0x10, refcount: 1 });
/// assert_eq!(head.devices(&bytes)?.get(1).map(|d| d.bdf), Some(0x10));
/// assert!(head.devices(&bytes[..12]).is_err());
/// # Ok::<(), kho::FlexOutOfBounds>(())
/// ```
///
/// # What it rejects at compile time
/// - a missing `#[repr(C)]`, or a repr that changes C's layout
///   (`packed(N)` with N > 1, `transparent`, an integer repr), generics and
///   lifetimes, enums, tuple and unit structs, and structs with no field;
/// - fields that are not ABI types: `usize`, `isize`, `bool`, `char`,
///   floats, raw pointers, references, slices, `str`, tuples, `Option`,
///   `Vec`, `Box`, `String`, and any type without [`AbiField`] (an alias of
///   `usize` too: the bound is checked on the real type);
/// - a layout that is not C's (see above), misused bit fields, flexible
///   arrays (not last, not `[T; 0]`, a `count` that is not an unsigned
///   integer field of the struct), unions of
///   members of different sizes or of structs, bit fields or flexible
///   arrays in a union;
/// - an entry (with `compatible`) of 0 bytes or more than 4080 (one 4 KiB
///   block after its 16-byte header); a struct that is only a field type
///   may be larger (a page-sized chunk);
/// - a compatible string that is not lowercase `name-vN` with N >= 1.
///
/// # Attributes
/// - `#[kho(compatible = "name-vN")]`: the type is a block-set entry;
/// - `#[kho(name = "c_name")]`: the ABI name when it is not the snake_case
///   of the Rust name;
/// - `#[kho(same_layout_as = path::To::Type)]`: this hand-written struct
///   declares the same ABI as that type (a generated one, from a schema).
///   The compiler compares the two layouts field by field (kind,
///   alignment and packing; each field's name, offset, size, type and
///   bits; nested structs whole; a pointer's target by name), the ABI
///   names and, with `compatible`, the compatible strings, and stops at the
///   first difference, reported at the field (or at the attribute for a
///   field only the other type has). The derive reads no file: the schema
///   is compiled once, into the generated type;
/// - `#[kho(crate = "path")]` when `kho` is renamed or re-exported;
/// - on a field, `#[kho(bits(name = width, ..))]` and `#[kho(flex, count =
///   field)]` (above).
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
