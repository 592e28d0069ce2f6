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

fn round_up(n: usize, to: usize) -> Option<usize> {
    // `to` is a power of two, checked by the caller.
    Some(n.checked_add(to - 1)? & !(to - 1))
}

/// Places `members` as C does (see the module docs). `align_attr` is an
/// explicit `__aligned(N)` on the struct.
pub fn place(
    kind: Kind,
    packed: bool,
    align_attr: Option<usize>,
    members: &[Member],
) -> Result<Placed, PlaceError> {
    let overflow = |_| PlaceError::Overflow;
    let mut fields = Vec::with_capacity(members.len());
    let mut align = 1usize;
    // The next free bit (structs) and the largest member's end (unions).
    let mut bit = 0usize;
    let mut end = 0usize;
    // Bit fields of a packed struct: (member, storage unit size, first bit
    // from the start of the struct), given their unit once the size is
    // known.
    let mut packed_bits = Vec::new();
    for (index, m) in members.iter().enumerate() {
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
        if m.flex && (index + 1 != members.len() || kind == Kind::Union) {
            return Err(PlaceError::FlexNotLast { index });
        }
        match m.bits {
            Some(width) => {
                let unit_bits = m.size * 8;
                if width == 0 || usize::from(width) > unit_bits {
                    return Err(PlaceError::BitWidth {
                        index,
                        width,
                        max: unit_bits,
                    });
                }
                let width = usize::from(width);
                align = align.max(member_align);
                let at = match kind {
                    Kind::Union => 0,
                    Kind::Struct if packed => bit,
                    Kind::Struct => {
                        // Never straddle a unit of its type.
                        let last = bit.checked_add(width - 1).ok_or(PlaceError::Overflow)?;
                        if bit / unit_bits == last / unit_bits {
                            bit
                        } else {
                            round_up(bit, unit_bits).ok_or(PlaceError::Overflow)?
                        }
                    }
                };
                let stop = at.checked_add(width).ok_or(PlaceError::Overflow)?;
                if packed && kind == Kind::Struct {
                    packed_bits.push((index, m.size, at));
                    fields.push((0, m.size, None));
                } else {
                    let unit = at / unit_bits * m.size;
                    let first = u16::try_from(at % unit_bits).map_err(overflow)?;
                    let bits = Bits {
                        first,
                        width: u16::try_from(width).map_err(overflow)?,
                    };
                    fields.push((unit, m.size, Some(bits)));
                }
                match kind {
                    Kind::Struct => bit = stop,
                    Kind::Union => end = end.max(stop.div_ceil(8)),
                }
            }
            None => {
                align = align.max(member_align);
                let size = if m.flex { 0 } else { m.size };
                let offset = match kind {
                    Kind::Union => 0,
                    Kind::Struct => {
                        round_up(bit.div_ceil(8), member_align).ok_or(PlaceError::Overflow)?
                    }
                };
                let stop = offset.checked_add(size).ok_or(PlaceError::Overflow)?;
                fields.push((offset, size, None));
                match kind {
                    Kind::Struct => bit = stop.checked_mul(8).ok_or(PlaceError::Overflow)?,
                    Kind::Union => end = end.max(stop),
                }
            }
        }
    }
    if let Some(a) = align_attr {
        if !a.is_power_of_two() {
            return Err(PlaceError::BadAlign {
                index: None,
                align: a,
            });
        }
        align = align.max(a);
    }
    let used = match kind {
        Kind::Struct => bit.div_ceil(8),
        Kind::Union => end,
    };
    let size = round_up(used, align).ok_or(PlaceError::Overflow)?;
    for (index, unit_size, at) in packed_bits {
        let width = members[index].bits.map_or(0, usize::from);
        let unit_bits = unit_size * 8;
        // The unit of its type aligned to its size if that holds it (what
        // the same field would use in a struct that is not packed), else
        // the unit starting at its first byte.
        let aligned = at / unit_bits * unit_size;
        let byte = at / 8;
        let fits = |unit: usize| {
            let first = at - unit * 8;
            first + width <= unit_bits && unit + unit_size <= size
        };
        let unit = if fits(aligned) {
            aligned
        } else if fits(byte) {
            byte
        } else {
            return Err(PlaceError::Straddle { index, bit: at });
        };
        let bits = Bits {
            first: u16::try_from(at - unit * 8).map_err(overflow)?,
            width: u16::try_from(width).map_err(overflow)?,
        };
        fields[index] = (unit, unit_size, Some(bits));
    }
    Ok(Placed {
        fields,
        size,
        align,
    })
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
