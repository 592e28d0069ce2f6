//! Bit fields: the storage word of a C bit-field run, read and written a
//! field at a time.
//!
//! Rust has no bit fields, so a struct declares the storage unit C uses
//! (`u64` for `u64 pfn:52; u64 flags:12;`) and `#[derive(KhoEntry)]`, given
//! `#[kho(bits(pfn = 52, flags = 12))]` on it, generates `pfn()` and
//! `set_pfn(..)` on top of [`BitStorage`]. Bits are numbered from the least
//! significant (bit 0), as GCC and Clang place them on the kernel's
//! little-endian 64-bit targets.

use core::fmt;

/// An unsigned integer that can hold bit fields: `u8`, `u16`, `u32` or
/// `u64` (implemented for those four only). Signed storage is refused (a signed bit field's sign bit is its
/// top bit, which a storage word's getter would not extend).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold bit fields",
    label = "bit fields need an unsigned integer storage field",
    note = "declare the storage unit as u8, u16, u32 or u64 (the C bit field's declared type)"
)]
pub trait BitStorage: Copy {
    /// Width in bits.
    const BITS: u32;
    /// Bits `first .. first + width` of `self`, shifted down to bit 0.
    /// `first + width` must be at most [`BITS`](Self::BITS) and `width`
    /// at least 1 (the derive proves both at compile time); out of range,
    /// the result is 0.
    fn get_bits(self, first: u32, width: u32) -> Self;
    /// `self` with bits `first .. first + width` replaced by `value`, or
    /// `None` when `value` does not fit in `width` bits (or the range is
    /// out of the word).
    fn with_bits(self, first: u32, width: u32, value: Self) -> Option<Self>;
    /// The value as a `u64`, for messages.
    fn widen(self) -> u64;
}

macro_rules! storage {
    ($($t:ty),*) => {$(
        impl BitStorage for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline]
            fn get_bits(self, first: u32, width: u32) -> Self {
                match mask::<$t>(first, width) {
                    Some(m) => (self >> first) & m,
                    None => 0,
                }
            }
            #[inline]
            fn with_bits(self, first: u32, width: u32, value: Self) -> Option<Self> {
                let m = mask::<$t>(first, width)?;
                if value & !m != 0 {
                    return None;
                }
                Some((self & !(m << first)) | (value << first))
            }
            #[inline]
            fn widen(self) -> u64 {
                u64::from(self)
            }
        }
    )*};
}
storage!(u8, u16, u32, u64);

/// The mask of `width` low bits, when `first .. first + width` lies in `T`.
#[inline]
fn mask<T: BitStorage + MaxValue>(first: u32, width: u32) -> Option<T> {
    let end = first.checked_add(width)?;
    if width == 0 || end > T::BITS {
        return None;
    }
    Some(T::max_shr(T::BITS - width))
}

/// `T::MAX >> n`: every storage type's all-ones mask narrowed to a width.
trait MaxValue: Sized {
    fn max_shr(n: u32) -> Self;
}
macro_rules! max_value {
    ($($t:ty),*) => {$(
        impl MaxValue for $t {
            #[inline]
            fn max_shr(n: u32) -> Self {
                <$t>::MAX >> n
            }
        }
    )*};
}
max_value!(u8, u16, u32, u64);

/// A value given to a bit field's setter does not fit its width; the field
/// is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitsOverflow {
    /// The bit field's name.
    pub field: &'static str,
    /// Its width in bits.
    pub width: u32,
    /// The value that was refused.
    pub value: u64,
}

impl fmt::Display for BitsOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "value {:#x} does not fit bit field `{}` of {} bits",
            self.value, self.field, self.width
        )
    }
}

impl core::error::Error for BitsOverflow {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn fields_are_numbered_from_the_low_bit() {
        // memfd_luo_folio_ser: pfn:52 then flags:12 in one u64.
        let w = 0u64.with_bits(0, 52, 0xf_ffff_ffff_ffff).unwrap();
        let w = w.with_bits(52, 12, 0xabc).unwrap();
        assert_eq!(w, 0xabcf_ffff_ffff_ffff);
        assert_eq!(w.get_bits(0, 52), 0xf_ffff_ffff_ffff);
        assert_eq!(w.get_bits(52, 12), 0xabc);
        assert_eq!(0xffu8.get_bits(7, 1), 1);
        assert_eq!(0u8.with_bits(0, 8, 0xff), Some(0xff));
    }

    #[test]
    fn a_value_too_wide_is_refused() {
        assert_eq!(0x55u64.with_bits(52, 12, 0x1000), None);
        assert_eq!(
            0x55u64.with_bits(52, 12, 0xfff),
            Some(0xfff0_0000_0000_0055)
        );
        let err = BitsOverflow {
            field: "flags",
            width: 12,
            value: 0x1000,
        };
        assert_eq!(
            err.to_string(),
            "value 0x1000 does not fit bit field `flags` of 12 bits"
        );
    }

    #[test]
    fn out_of_range_bits_are_refused_not_a_panic() {
        assert_eq!(0u32.with_bits(30, 3, 1), None);
        assert_eq!(0u32.with_bits(u32::MAX, 2, 1), None);
        assert_eq!(0u32.with_bits(0, 0, 0), None);
        assert_eq!(u32::MAX.get_bits(31, 2), 0);
    }
}
