//! The one layout model of kho: what a field's type is, where each field
//! sits, the canonical text whose hash is a layout's fingerprint, the lock's
//! text, and the block format's facts ([`format`]). The derive, the runtime,
//! the schema compiler, the lock, the diff, the emitters and the CLI's
//! decoder all use these types; none keeps its own.
//!
//! # Borrowed or owned
//! [`Struct`], [`Field`] and [`Ty`] take a lifetime and hold their names,
//! lists and nodes as [`Str`], [`List`] and [`Node`]: each borrowed
//! (`Ref`, what the derive writes in a `const`) or owned (`Owned`, what the
//! schema compiler and the lock parser build). Their accessors are `const
//! fn`, so the same walk hashes both. Nothing is leaked.
//!
//! A nested struct is a [`StructRef`]: the struct itself (`Ref`, in the
//! derive's consts), or its index in the *set* of structs it was built in
//! (`At`, the schema compiler's: a struct held by many is stored once, so
//! the model stays linear in the schema however deep the nesting), or its
//! name only (`Named`, parsed from a lock text). Functions that follow
//! nested structs take the set (`&[]` for the derive's self-contained
//! layouts): [`fingerprint_in`], [`canonical_text_in`], [`Ty::size`].
//!
//! # Canonical text
//! A struct is one line `struct <name> size <size>`, then one line per
//! field, indented two spaces deeper: `<field> <type> offset <offset> size
//! <size>`. A field whose type is a struct, or an array of structs, is
//! followed by that struct's own lines, one level deeper (offsets there are
//! relative to the nested struct). Types are `u8`..`u64`, `i8`..`i64`,
//! `phys_addr`, `char[N]` for a C string, the struct's name for a struct,
//! and `<type>[N][M]` for arrays, dimensions outermost first as in C.
//! Every line ends in `\n`; doc text is not part of it. Example:
//!
//! ```text
//! struct luo_session_ser size 80
//!   name u8[64] offset 0 size 64
//!   file_set_ser luo_file_set_ser offset 64 size 16
//!     struct luo_file_set_ser size 16
//!       files u64 offset 0 size 8
//!       count u64 offset 8 size 8
//! ```
//!
//! The fingerprint is the 64-bit FNV-1a hash of that text. One walk of the
//! layout produces its lines, without recursion or allocation; the text
//! writer ([`canonical_text_in`]) prints them and the `const` hasher
//! ([`fingerprint_in`], [`layout_fingerprint`]) hashes them, indentation in
//! time independent of its length. The lock records each ABI's
//! [`LockText`], which names nested structs instead of inlining them.
//!
//! # The kernel's other constructs
//! Packed structs of the kinds above keep the text shown (and so their
//! fingerprints); the other constructs of the kernel's ABIs add to it:
//! - **Alignment and padding.** A struct that is not packed is laid out
//!   with C's natural alignment ([`place`]): its offsets keep the padding
//!   explicit, and its line gains ` align <n>` after the size. A packed
//!   struct with `__aligned(n)` gains ` align <n> packed`.
//! - **Unions.** [`Kind::Union`]: every field at offset 0; the line starts
//!   `union` instead of `struct`.
//! - **Bit fields.** [`Field::bits`] gives the bits of a bit field in its
//!   storage unit, whose byte offset and size are the field's; the field
//!   line gains ` bits <first>:<width>`:
//!   `pfn u64 offset 0 size 8 bits 0:52`.
//! - **KHOSER pointers.** [`Ty::Ptr`], `DECLARE_KHOSER_PTR(name, struct T
//!   *)`: the type is written `khoser_ptr<T>`, size 8, align 8.
//! - **Flexible array members.** [`Ty::Flex`]: size 0, written `T[]`.
//! - **Per-page-size lengths.** A length computed from `PAGE_SIZE` is
//!   evaluated by the schema compiler for each of [`format::PAGE_SIZES`],
//!   giving one layout (and fingerprint) per page size; [`Len::constant`]
//!   keeps the expression for the generated code, and the lock records
//!   such a struct once per page size ([`LockStruct::page`]).

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod compare;
pub mod format;
mod model;
pub mod place;
mod text;

pub use model::{Bits, Elem, Field, Kind, Len, List, Node, Prim, Str, Struct, StructRef, Ty};
pub use text::{
    canonical_text, canonical_text_in, fingerprint, fingerprint_in, fnv1a, layout_fingerprint,
    parse_type, type_fingerprint, LockStruct, LockText, MAX_NESTING,
};

/// The layout of a Rust type, as the derive builds it in a `const`.
pub type StructLayout = Struct<'static>;

#[cfg(test)]
mod tests;
