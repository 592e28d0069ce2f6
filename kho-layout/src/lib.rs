//! The one layout model: what a field's type is, where each field sits, and
//! the canonical text whose hash is a layout's fingerprint.
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
//! The fingerprint is the 64-bit FNV-1a hash of that text. The derive
//! computes it at compile time with [`layout_fingerprint`]; tools build the
//! text with [`canonical_text`]; both walk the layout the same way.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod compare;

use alloc::string::String;

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeDesc {
    /// A primitive: `u8`..`u64`, `i8`..`i64`, `phys_addr`, or `char` (a C
    /// char, only as the element of a `char[N]` string).
    Prim(&'static str),
    /// A fixed array of `.1` elements.
    Array(&'static TypeDesc, usize),
    /// A nested packed struct.
    Struct(&'static StructLayout),
}

/// A packed struct's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructLayout {
    /// The struct's ABI name (the C name, `luo_file_ser`).
    pub name: &'static str,
    /// Size in bytes.
    pub size: usize,
    /// Fields in order.
    pub fields: &'static [FieldLayout],
}

/// One field of a [`StructLayout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLayout {
    /// Field name.
    pub name: &'static str,
    /// Offset from the start of the struct.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
    /// Its type.
    pub ty: &'static TypeDesc,
}

impl StructLayout {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&FieldLayout> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Written as C declares it: the element type, then the dimensions from the
/// outermost in: `[[u8; 3]; 2]` is `u8[2][3]`.
impl core::fmt::Display for TypeDesc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(base_name(self))?;
        let mut ty = self;
        while let TypeDesc::Array(elem, n) = ty {
            write!(f, "[{n}]")?;
            ty = elem;
        }
        Ok(())
    }
}

/// The name of the element type under any arrays.
pub(crate) const fn base_name(ty: &TypeDesc) -> &'static str {
    match ty {
        TypeDesc::Prim(p) => p,
        TypeDesc::Array(elem, _) => base_name(elem),
        TypeDesc::Struct(s) => s.name,
    }
}

/// The canonical layout text of `layout` (see the module docs).
pub fn canonical_text(layout: &StructLayout) -> String {
    let mut out = String::new();
    write_struct(&mut out, layout, 0);
    out
}

fn write_struct(out: &mut String, s: &StructLayout, depth: usize) {
    use core::fmt::Write;
    let pad = depth * 2;
    let _ = writeln!(out, "{:pad$}struct {} size {}", "", s.name, s.size);
    for f in s.fields {
        let pad = pad + 2;
        let _ = writeln!(
            out,
            "{:pad$}{} {} offset {} size {}",
            "", f.name, f.ty, f.offset, f.size
        );
        if let Some(nested) = struct_of(f.ty) {
            write_struct(out, nested, depth + 2);
        }
    }
}

/// The struct a type is, or is an array of.
const fn struct_of(ty: &TypeDesc) -> Option<&'static StructLayout> {
    match ty {
        TypeDesc::Prim(_) => None,
        TypeDesc::Array(elem, _) => struct_of(elem),
        TypeDesc::Struct(s) => Some(s),
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `text`.
pub const fn fingerprint(text: &str) -> u64 {
    fnv1a(text.as_bytes())
}

/// 64-bit FNV-1a of `bytes` (the hash behind [`fingerprint`]).
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    feed(FNV_OFFSET, bytes)
}

const fn feed(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}

const fn feed_spaces(mut hash: u64, n: usize) -> u64 {
    let mut i = 0;
    while i < n {
        hash = feed(hash, b" ");
        i += 1;
    }
    hash
}

const fn feed_num(hash: u64, mut n: usize) -> u64 {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let (_, used) = digits.split_at(i);
    feed(hash, used)
}

const fn feed_type(mut hash: u64, ty: &TypeDesc) -> u64 {
    hash = feed(hash, base_name(ty).as_bytes());
    let mut ty = ty;
    while let TypeDesc::Array(elem, n) = ty {
        hash = feed(feed_num(feed(hash, b"["), *n), b"]");
        ty = elem;
    }
    hash
}

const fn feed_struct(mut hash: u64, s: &StructLayout, depth: usize) -> u64 {
    hash = feed_spaces(hash, depth * 2);
    hash = feed(hash, b"struct ");
    hash = feed(hash, s.name.as_bytes());
    hash = feed(hash, b" size ");
    hash = feed(feed_num(hash, s.size), b"\n");
    let mut i = 0;
    while i < s.fields.len() {
        let f = &s.fields[i];
        hash = feed_spaces(hash, depth * 2 + 2);
        hash = feed(feed(hash, f.name.as_bytes()), b" ");
        hash = feed(feed_type(hash, f.ty), b" offset ");
        hash = feed(feed_num(hash, f.offset), b" size ");
        hash = feed(feed_num(hash, f.size), b"\n");
        if let Some(nested) = struct_of(f.ty) {
            hash = feed_struct(hash, nested, depth + 2);
        }
        i += 1;
    }
    hash
}

/// [`fingerprint`] of a type as the canonical text writes it (`u64`,
/// `char[48]`, a struct's name): lets a `const` compare one field's type.
pub const fn type_fingerprint(ty: &TypeDesc) -> u64 {
    feed_type(FNV_OFFSET, ty)
}

/// The fingerprint of `layout`: [`fingerprint`] of its [`canonical_text`],
/// computed without allocating, so it works in a `const`.
pub const fn layout_fingerprint(layout: &StructLayout) -> u64 {
    feed_struct(FNV_OFFSET, layout, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const U64: TypeDesc = TypeDesc::Prim("u64");
    const U8: TypeDesc = TypeDesc::Prim("u8");
    const NAME: TypeDesc = TypeDesc::Array(&U8, 64);
    const FILE_SET: StructLayout = StructLayout {
        name: "luo_file_set_ser",
        size: 16,
        fields: &[
            FieldLayout {
                name: "files",
                offset: 0,
                size: 8,
                ty: &U64,
            },
            FieldLayout {
                name: "count",
                offset: 8,
                size: 8,
                ty: &U64,
            },
        ],
    };
    const FILE_SET_TY: TypeDesc = TypeDesc::Struct(&FILE_SET);
    const SESSION: StructLayout = StructLayout {
        name: "luo_session_ser",
        size: 80,
        fields: &[
            FieldLayout {
                name: "name",
                offset: 0,
                size: 64,
                ty: &NAME,
            },
            FieldLayout {
                name: "file_set_ser",
                offset: 64,
                size: 16,
                ty: &FILE_SET_TY,
            },
        ],
    };

    #[test]
    fn canonical_text_matches_the_documented_example() {
        let expected = "struct luo_session_ser size 80\n  name u8[64] offset 0 size 64\n  \
                        file_set_ser luo_file_set_ser offset 64 size 16\n    \
                        struct luo_file_set_ser size 16\n      files u64 offset 0 size 8\n      \
                        count u64 offset 8 size 8\n";
        assert_eq!(canonical_text(&SESSION), expected);
    }

    #[test]
    fn const_fingerprint_hashes_the_canonical_text() {
        for layout in [&SESSION, &FILE_SET] {
            assert_eq!(
                layout_fingerprint(layout),
                fingerprint(&canonical_text(layout))
            );
        }
        const ARR: TypeDesc = TypeDesc::Array(&FILE_SET_TY, 1234567);
        const BIG: StructLayout = StructLayout {
            name: "big",
            size: 16 * 1234567,
            fields: &[FieldLayout {
                name: "sets",
                offset: 0,
                size: 16 * 1234567,
                ty: &ARR,
            }],
        };
        assert_eq!(layout_fingerprint(&BIG), fingerprint(&canonical_text(&BIG)));
        assert!(canonical_text(&BIG).contains("sets luo_file_set_ser[1234567] offset 0"));
        const GRID: TypeDesc = TypeDesc::Array(&TypeDesc::Array(&U8, 3), 2);
        assert_eq!(alloc::format!("{GRID}"), "u8[2][3]");
        const HAS_GRID: StructLayout = StructLayout {
            name: "g",
            size: 6,
            fields: &[FieldLayout {
                name: "grid",
                offset: 0,
                size: 6,
                ty: &GRID,
            }],
        };
        assert_eq!(
            canonical_text(&HAS_GRID),
            "struct g size 6\n  grid u8[2][3] offset 0 size 6\n"
        );
        assert_eq!(
            layout_fingerprint(&HAS_GRID),
            fingerprint(&canonical_text(&HAS_GRID))
        );
    }

    #[test]
    fn fingerprint_is_fnv1a() {
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
