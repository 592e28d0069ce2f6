//! C's placement of members in a struct or union, as GCC and Clang do it
//! for the kernel's 64-bit targets (x86-64 and arm64: LP64, little
//! endian, the SysV and AAPCS64 rules, which agree here). The schema
//! compiler and the derive both lay out with [`place`]; neither keeps
//! rules of its own.
//!
//! The rules:
//! - An ordinary member goes at the next offset that is a multiple of its
//!   alignment (1 in a packed struct: `__packed` packs every member,
//!   whatever the alignment of its type).
//! - A bit field of declared type `T` (storage unit `sizeof(T)` bytes)
//!   goes at the next free bit. In a struct that is not packed it may not
//!   straddle a `T`-aligned unit: if it would, it starts at the next one.
//!   In a packed struct it goes at the next bit, whatever the units. A
//!   named bit field gives the struct the alignment of `T` (not when
//!   packed). Bits are allocated from the least significant bit up.
//! - The member after a bit field starts at the next byte, aligned.
//! - A flexible array member (last only) goes at the next offset aligned
//!   for its element, adds to the alignment and not to the size.
//! - In a union every member is at offset 0 (a bit field at bit 0).
//! - The alignment is the largest member's (1 when packed), raised to an
//!   explicit `__aligned(N)`; the size is rounded up to the alignment.
//!
//! Zero-width bit fields, unnamed bit fields and bit fields whose storage
//! unit would not lie whole inside the struct (possible only when packed)
//! are refused with a [`PlaceError`]: kho describes each bit field by one
//! storage unit it can read and write whole.

use alloc::vec::Vec;
use core::fmt;

use crate::model::{Bits, Kind};

/// One member to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// `sizeof` of its type (of the declared type for a bit field; of the
    /// element for a flexible array).
    pub size: usize,
    /// `_Alignof` of its type (ditto).
    pub align: usize,
    /// For a bit field, its width in bits.
    pub bits: Option<u16>,
    /// Whether it is a flexible array member (`size` is then the
    /// element's, and the member takes no room).
    pub flex: bool,
}

impl Member {
    /// An ordinary member.
    pub const fn plain(size: usize, align: usize) -> Self {
        Member {
            size,
            align,
            bits: None,
            flex: false,
        }
    }

    /// A bit field `width` bits wide of a type of `size` bytes (its
    /// alignment is its size: bit fields are of integer types).
    pub const fn bit_field(size: usize, width: u16) -> Self {
        Member {
            size,
            align: size,
            bits: Some(width),
            flex: false,
        }
    }

    /// A flexible array of elements of `size` bytes, aligned to `align`.
    pub const fn flex(size: usize, align: usize) -> Self {
        Member {
            size,
            align,
            bits: None,
            flex: true,
        }
    }
}

/// Where [`place`] put each member, and the struct's size and alignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Per member, in order: its offset and size in bytes (for a bit
    /// field, its storage unit's; 0 for a flexible array) and, for a bit
    /// field, its bits in that unit.
    pub fields: Vec<(usize, usize, Option<Bits>)>,
    /// `sizeof` of the whole.
    pub size: usize,
    /// `_Alignof` of the whole.
    pub align: usize,
}

/// Why members cannot be placed; `index` is the member's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceError {
    /// A size or offset does not fit in `usize`.
    Overflow,
    /// An alignment (a member's or the explicit one) that is not a power
    /// of two.
    BadAlign {
        /// The member, or `None` for the explicit alignment.
        index: Option<usize>,
        /// The alignment.
        align: usize,
    },
    /// A bit field 0 bits wide, or wider than its type.
    BitWidth {
        /// The member.
        index: usize,
        /// Its width.
        width: u16,
        /// Its type's bits.
        max: usize,
    },
    /// A bit field of a type that is not 1, 2, 4 or 8 bytes.
    BitType {
        /// The member.
        index: usize,
        /// The type's size.
        size: usize,
    },
    /// In a packed struct, a bit field that no storage unit of its type
    /// holds whole inside the struct.
    Straddle {
        /// The member.
        index: usize,
        /// Its first bit from the start of the struct.
        bit: usize,
    },
    /// A flexible array member that is not the last member, or in a
    /// union.
    FlexNotLast {
        /// The member.
        index: usize,
    },
}

impl fmt::Display for PlaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PlaceError::Overflow => f.write_str("the size overflows"),
            PlaceError::BadAlign { index: None, align } => {
                write!(f, "alignment {align} is not a power of two")
            }
            PlaceError::BadAlign {
                index: Some(_),
                align,
            } => write!(f, "its alignment {align} is not a power of two"),
            PlaceError::BitWidth { width: 0, .. } => f.write_str(
                "a bit field 0 bits wide is not supported (write the padding as a named field)",
            ),
            PlaceError::BitWidth { width, max, .. } => {
                write!(f, "{width} bits do not fit in its {max}-bit type")
            }
            PlaceError::BitType { size, .. } => {
                write!(
                    f,
                    "a bit field's type must be an integer of 1, 2, 4 or 8 bytes, not {size} bytes"
                )
            }
            PlaceError::Straddle { bit, .. } => write!(
                f,
                "at bit {bit} of a packed struct, no storage unit of its type holds it whole \
                 inside the struct"
            ),
            PlaceError::FlexNotLast { .. } => {
                f.write_str("a flexible array member must be the last member of a struct")
            }
        }
    }
}

impl PlaceError {
    /// The member the error is about, if one.
    pub const fn index(&self) -> Option<usize> {
        match *self {
            PlaceError::Overflow | PlaceError::BadAlign { index: None, .. } => None,
            PlaceError::BadAlign { index, .. } => index,
            PlaceError::BitWidth { index, .. }
            | PlaceError::BitType { index, .. }
            | PlaceError::Straddle { index, .. }
            | PlaceError::FlexNotLast { index } => Some(index),
        }
    }
}

const fn round_up(n: usize, to: usize) -> Option<usize> {
    // `to` is a power of two, checked by the caller.
    match n.checked_add(to - 1) {
        Some(n) => Some(n & !(to - 1)),
        None => None,
    }
}

/// `Option<T>` to `Result<T, PlaceError::Overflow>`, in a `const fn`.
macro_rules! or_overflow {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Err(PlaceError::Overflow),
        }
    };
}

/// A bit count as `u16`, or the overflow error.
const fn to_u16(n: usize) -> Result<u16, PlaceError> {
    if n > u16::MAX as usize {
        Err(PlaceError::Overflow)
    } else {
        Ok(n as u16)
    }
}

/// Places `members` as C does (see the module docs). `align_attr` is an
/// explicit `__aligned(N)` on the struct.
pub fn place(
    kind: Kind,
    packed: bool,
    align_attr: Option<usize>,
    members: &[Member],
) -> Result<Placed, PlaceError> {
    let mut fields = alloc::vec![(0, 0, None); members.len()];
    let (size, align) = place_into(kind, packed, align_attr, members, &mut fields)?;
    Ok(Placed {
        fields,
        size,
        align,
    })
}

/// [`place`] in a `const fn`, for the derive's compile-time proofs: the
/// same rules (this is their one implementation; `place` calls it), with
/// each member's (offset, size, bits) written to `out[i]` and the struct's
/// `(size, align)` returned. `out` must have at least `members.len()`
/// entries (else [`PlaceError::Overflow`]).
pub const fn place_into(
    kind: Kind,
    packed: bool,
    align_attr: Option<usize>,
    members: &[Member],
    out: &mut [(usize, usize, Option<Bits>)],
) -> Result<(usize, usize), PlaceError> {
    if out.len() < members.len() {
        return Err(PlaceError::Overflow);
    }
    let is_union = matches!(kind, Kind::Union);
    let mut align = 1usize;
    // The next free bit (structs) and the largest member's end (unions).
    let mut bit = 0usize;
    let mut end = 0usize;
    let mut index = 0;
    while index < members.len() {
        let m = members[index];
        if m.bits.is_some() && !matches!(m.size, 1 | 2 | 4 | 8) {
            return Err(PlaceError::BitType {
                index,
                size: m.size,
            });
        }
        if !m.align.is_power_of_two() {
            return Err(PlaceError::BadAlign {
                index: Some(index),
                align: m.align,
            });
        }
        let member_align = if packed { 1 } else { m.align };
        if m.flex && (index + 1 != members.len() || is_union) {
            return Err(PlaceError::FlexNotLast { index });
        }
        if align < member_align {
            align = member_align;
        }
        match m.bits {
            Some(width) => {
                let unit_bits = m.size * 8;
                if width == 0 || width as usize > unit_bits {
                    return Err(PlaceError::BitWidth {
                        index,
                        width,
                        max: unit_bits,
                    });
                }
                let width = width as usize;
                let at = if is_union {
                    0
                } else if packed {
                    bit
                } else {
                    // Never straddle a unit of its type.
                    let last = or_overflow!(bit.checked_add(width - 1));
                    if bit / unit_bits == last / unit_bits {
                        bit
                    } else {
                        or_overflow!(round_up(bit, unit_bits))
                    }
                };
                let stop = or_overflow!(at.checked_add(width));
                if packed && !is_union {
                    // Its unit is chosen once the size is known (below);
                    // until then the slot holds its first bit.
                    out[index] = (at, m.size, None);
                } else {
                    let unit = at / unit_bits * m.size;
                    let first = match to_u16(at % unit_bits) {
                        Ok(v) => v,
                        Err(e) => return Err(e),
                    };
                    let bits = Bits {
                        first,
                        width: width as u16,
                    };
                    out[index] = (unit, m.size, Some(bits));
                }
                if is_union {
                    let e = stop.div_ceil(8);
                    if end < e {
                        end = e;
                    }
                } else {
                    bit = stop;
                }
            }
            None => {
                let size = if m.flex { 0 } else { m.size };
                let offset = if is_union {
                    0
                } else {
                    or_overflow!(round_up(bit.div_ceil(8), member_align))
                };
                let stop = or_overflow!(offset.checked_add(size));
                out[index] = (offset, size, None);
                if is_union {
                    if end < stop {
                        end = stop;
                    }
                } else {
                    bit = or_overflow!(stop.checked_mul(8));
                }
            }
        }
        index += 1;
    }
    if let Some(a) = align_attr {
        if !a.is_power_of_two() {
            return Err(PlaceError::BadAlign {
                index: None,
                align: a,
            });
        }
        if align < a {
            align = a;
        }
    }
    let used = if is_union { end } else { bit.div_ceil(8) };
    let size = or_overflow!(round_up(used, align));
    if packed && !is_union {
        let mut index = 0;
        while index < members.len() {
            if let Some(width) = members[index].bits {
                let width = width as usize;
                let (at, unit_size, _) = out[index];
                let unit_bits = unit_size * 8;
                // The unit of its type aligned to its size if that holds it
                // (what the same field would use in a struct that is not
                // packed), else the unit starting at its first byte.
                let aligned = at / unit_bits * unit_size;
                let byte = at / 8;
                let unit = if unit_fits(aligned, at, width, unit_size, size) {
                    aligned
                } else if unit_fits(byte, at, width, unit_size, size) {
                    byte
                } else {
                    return Err(PlaceError::Straddle { index, bit: at });
                };
                let first = match to_u16(at - unit * 8) {
                    Ok(v) => v,
                    Err(e) => return Err(e),
                };
                let bits = Bits {
                    first,
                    width: width as u16,
                };
                out[index] = (unit, unit_size, Some(bits));
            }
            index += 1;
        }
    }
    Ok((size, align))
}

/// Whether the unit of `unit_size` bytes at byte `unit` holds bits `at ..
/// at + width` (from the struct's start) and lies inside a struct of
/// `size` bytes.
const fn unit_fits(unit: usize, at: usize, width: usize, unit_size: usize, size: usize) -> bool {
    let first = at - unit * 8;
    first + width <= unit_size * 8 && unit + unit_size <= size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(first: u16, width: u16) -> Option<Bits> {
        Some(Bits { first, width })
    }

    #[test]
    fn memfd_folio_packed_bit_fields() {
        // struct { u64 pfn:52; u64 flags:12; u64 index; } __packed
        let p = place(
            Kind::Struct,
            true,
            None,
            &[
                Member::bit_field(8, 52),
                Member::bit_field(8, 12),
                Member::plain(8, 8),
            ],
        )
        .unwrap();
        assert_eq!(
            p.fields,
            [(0, 8, bits(0, 52)), (0, 8, bits(52, 12)), (8, 8, None)]
        );
        assert_eq!((p.size, p.align), (16, 1));
    }

    #[test]
    fn kho_vmalloc_natural_alignment() {
        // struct { u64 first; unsigned int total_pages; unsigned short
        // flags; unsigned short order; } and one with a trailing hole.
        let p = place(
            Kind::Struct,
            false,
            None,
            &[
                Member::plain(8, 8),
                Member::plain(4, 4),
                Member::plain(2, 2),
                Member::plain(2, 2),
            ],
        )
        .unwrap();
        assert_eq!(
            p.fields,
            [(0, 8, None), (8, 4, None), (12, 2, None), (14, 2, None)]
        );
        assert_eq!((p.size, p.align), (16, 8));
        let p = place(
            Kind::Struct,
            false,
            None,
            &[
                Member::plain(1, 1),
                Member::plain(8, 8),
                Member::plain(2, 2),
            ],
        )
        .unwrap();
        assert_eq!(p.fields, [(0, 1, None), (8, 8, None), (16, 2, None)]);
        assert_eq!((p.size, p.align), (24, 8));
    }

    #[test]
    fn unpacked_bit_field_does_not_straddle() {
        // struct { u32 a:20; u32 b:20; u8 c; }: b starts the next u32.
        let p = place(
            Kind::Struct,
            false,
            None,
            &[
                Member::bit_field(4, 20),
                Member::bit_field(4, 20),
                Member::plain(1, 1),
            ],
        )
        .unwrap();
        assert_eq!(
            p.fields,
            [(0, 4, bits(0, 20)), (4, 4, bits(0, 20)), (7, 1, None)]
        );
        assert_eq!((p.size, p.align), (8, 4));
        // Packed, the same members straddle: b is bits 20..40.
        let p = place(
            Kind::Struct,
            true,
            None,
            &[
                Member::bit_field(4, 20),
                Member::bit_field(4, 20),
                Member::plain(1, 1),
            ],
        )
        .unwrap();
        assert_eq!(
            p.fields,
            [(0, 4, bits(0, 20)), (2, 4, bits(4, 20)), (5, 1, None)]
        );
        assert_eq!((p.size, p.align), (6, 1));
    }

    #[test]
    fn flexible_array_adds_alignment_not_size() {
        // struct { u32 max; u32 nr; struct { u32; u16; u16 } devices[]; }
        let p = place(
            Kind::Struct,
            true,
            None,
            &[Member::plain(4, 4), Member::plain(4, 4), Member::flex(8, 1)],
        )
        .unwrap();
        assert_eq!(p.fields, [(0, 4, None), (4, 4, None), (8, 0, None)]);
        assert_eq!((p.size, p.align), (8, 1));
        let p = place(
            Kind::Struct,
            false,
            None,
            &[Member::plain(4, 4), Member::flex(8, 8)],
        )
        .unwrap();
        assert_eq!(p.fields, [(0, 4, None), (8, 0, None)]);
        assert_eq!((p.size, p.align), (8, 8));
        assert_eq!(
            place(
                Kind::Struct,
                true,
                None,
                &[Member::flex(8, 1), Member::plain(4, 4)]
            ),
            Err(PlaceError::FlexNotLast { index: 0 })
        );
    }

    #[test]
    fn unions_and_explicit_alignment() {
        // DECLARE_KHOSER_PTR: union { u64 phys; T *ptr; }
        let p = place(
            Kind::Union,
            false,
            None,
            &[Member::plain(8, 8), Member::plain(8, 8)],
        )
        .unwrap();
        assert_eq!((p.size, p.align), (8, 8));
        let p = place(
            Kind::Union,
            false,
            None,
            &[Member::plain(2, 2), Member::plain(5, 1)],
        )
        .unwrap();
        assert_eq!(p.fields, [(0, 2, None), (0, 5, None)]);
        assert_eq!((p.size, p.align), (6, 2));
        let p = place(Kind::Struct, true, Some(8), &[Member::plain(4, 4)]).unwrap();
        assert_eq!((p.size, p.align), (8, 8));
        assert_eq!(
            place(Kind::Struct, true, Some(3), &[Member::plain(4, 4)]),
            Err(PlaceError::BadAlign {
                index: None,
                align: 3
            })
        );
    }

    #[test]
    fn bad_bit_fields_are_refused() {
        for (m, want) in [
            (
                Member::bit_field(4, 33),
                PlaceError::BitWidth {
                    index: 0,
                    width: 33,
                    max: 32,
                },
            ),
            (
                Member::bit_field(4, 0),
                PlaceError::BitWidth {
                    index: 0,
                    width: 0,
                    max: 32,
                },
            ),
            (
                Member::bit_field(3, 4),
                PlaceError::BitType { index: 0, size: 3 },
            ),
        ] {
            assert_eq!(place(Kind::Struct, false, None, &[m]), Err(want));
        }
        // Packed: u8 a; u32 b:4 -> 2 bytes; no u32 unit fits inside.
        assert_eq!(
            place(
                Kind::Struct,
                true,
                None,
                &[Member::plain(1, 1), Member::bit_field(4, 4)]
            ),
            Err(PlaceError::Straddle { index: 1, bit: 8 })
        );
    }
}
