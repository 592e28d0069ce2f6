//! Types whose memory is their encoding, and their slices seen as bytes:
//! what lets a bulk path move a `&[T]` with one copy instead of encoding
//! it entry by entry. The second of the crate's two `unsafe` modules (the
//! other is [`stream`](crate::stream)).

use crate::AbiField;

/// Whether an [`AbiField`] type's memory is its encoding
/// ([`AbiField::PLAIN`]): `size_of::<T>() == FIELD_SIZE`, no padding,
/// `write_to` writes the value's own bytes and `read_from` makes the value
/// whose bytes it read, and every byte pattern is a valid value (so a
/// slice of them may be written as bytes).
///
/// The integers, [`PhysAddr`](crate::PhysAddr),
/// [`PhysPtr`](crate::PhysPtr), [`CharArray`](crate::CharArray), arrays of
/// plain types and derived structs of plain fields without padding are
/// plain; unions and structs with padding are not. Saying so is a promise
/// the bulk paths' soundness rests on: a hand impl makes it with
/// [`Plain::assert`], an `unsafe fn`. `#[derive(KhoEntry)]` makes it with
/// safe code, so that a crate that forbids `unsafe` can still derive: it
/// calls the hidden [`Plain::__of_derived_fields`] with the struct's own
/// fields, which answers yes only when every field type is plain and
/// their sizes fill the struct (no padding). That function is the derive's
/// and only the derive's (as any `__` item of a crate is its macros'):
/// called with fields a struct does not have, it would make the promise
/// falsely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plain(bool);

impl Plain {
    /// Not plain: the default, always correct (the bulk paths then encode
    /// each value).
    pub const NO: Plain = Plain(false);
    /// Plain, for this crate's own types (each says why at its impl).
    pub(crate) const YES: Plain = Plain(true);

    /// Plain.
    ///
    /// # Safety
    ///
    /// The type must meet every condition of [`Plain`]: its size is its
    /// `FIELD_SIZE`, it has no padding and no byte pattern is invalid for
    /// it, and `write_to`/`read_from` copy its bytes unchanged. The bulk
    /// paths copy bytes into values of it on that promise.
    pub const unsafe fn assert() -> Plain {
        Plain(true)
    }

    /// Whether the type is plain.
    pub const fn is_plain(self) -> bool {
        self.0
    }

    /// `#[derive(KhoEntry)]`'s answer for a struct of `size` bytes from
    /// its fields' `(FIELD_SIZE, PLAIN)`: plain when every field is and
    /// their sizes fill `size` (no padding). Not an API: only the derive
    /// (and this crate's own structs) call it, each with the struct's
    /// actual fields, on which its answer is the promise [`Plain`]
    /// describes.
    #[doc(hidden)]
    pub const fn __of_derived_fields(size: usize, fields: &[(usize, Plain)]) -> Plain {
        let mut sum = 0;
        let mut i = 0;
        while i < fields.len() {
            if !fields[i].1 .0 {
                return Plain::NO;
            }
            sum += fields[i].0;
            i += 1;
        }
        Plain(sum == size)
    }
}

/// Whether `T`'s slices may be seen as bytes: plain, with its size checked
/// once more against `FIELD_SIZE` (free: both are constants).
fn plain<T: AbiField>() -> bool {
    T::PLAIN.is_plain() && core::mem::size_of::<T>() == T::FIELD_SIZE
}

/// `values` as bytes (their encoding, entry after entry) when `T` is
/// plain.
pub(crate) fn as_bytes<T: AbiField>(values: &[T]) -> Option<&[u8]> {
    if !plain::<T>() {
        return None;
    }
    // SAFETY: a plain `T` has no padding (`Plain`'s promise, made with an
    // `unsafe` call or by this crate), so every byte of `values` is
    // initialised; `u8` has alignment 1; the length is the slice's size in
    // bytes, which fits the same allocation; the borrow is `values`'.
    Some(unsafe {
        core::slice::from_raw_parts(values.as_ptr().cast::<u8>(), core::mem::size_of_val(values))
    })
}

/// `values` as bytes to overwrite when `T` is plain: any bytes written
/// leave valid values.
pub(crate) fn as_bytes_mut<T: AbiField>(values: &mut [T]) -> Option<&mut [u8]> {
    if !plain::<T>() {
        return None;
    }
    // SAFETY: as in `as_bytes` (no padding: every byte initialised), and
    // every byte pattern is a valid `T` (`Plain`'s promise), so whatever is
    // written through the bytes leaves each element valid; the `&mut`
    // borrow is `values`', exclusive for its lifetime.
    Some(unsafe {
        core::slice::from_raw_parts_mut(
            values.as_mut_ptr().cast::<u8>(),
            core::mem::size_of_val(values),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CharArray, PhysAddr, PhysPtr};

    #[test]
    fn the_plain_types() {
        assert!(u8::PLAIN.is_plain() && i64::PLAIN.is_plain());
        assert!(PhysAddr::PLAIN.is_plain() && PhysPtr::<u32>::PLAIN.is_plain());
        assert!(<[u16; 3]>::PLAIN.is_plain() && CharArray::<5>::PLAIN.is_plain());
        assert!(!Plain::__of_derived_fields(16, &[(1, Plain::YES), (8, Plain::YES)]).is_plain());
        assert!(!Plain::__of_derived_fields(9, &[(1, Plain::NO), (8, Plain::YES)]).is_plain());
        assert!(Plain::__of_derived_fields(9, &[(1, Plain::YES), (8, Plain::YES)]).is_plain());
    }

    #[test]
    fn bytes_of_plain_values() {
        let mut v = [0x0102u16, 0x0304];
        let mut encoded = [0u8; 4];
        v.write_to(&mut encoded);
        assert_eq!(as_bytes(&v), Some(&encoded[..]));
        as_bytes_mut(&mut v).unwrap()[2..].copy_from_slice(&7u16.to_ne_bytes());
        assert_eq!(v, [0x0102, 7]);
        #[derive(Clone, Copy)]
        struct Padded;
        impl AbiField for Padded {
            const FIELD_SIZE: usize = 0;
            const TYPE: crate::layout::Ty<'static> = u8::TYPE;
            fn write_to(&self, _: &mut [u8]) {}
            fn read_from(_: &[u8]) -> Self {
                Padded
            }
        }
        assert!(as_bytes(&[Padded]).is_none(), "not plain unless it says so");
    }
}
