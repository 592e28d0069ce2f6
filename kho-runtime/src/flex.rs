//! Flexible array members: the elements that follow a struct's fixed part
//! (`struct pci_dev_ser devices[];`), read and written inside a byte buffer
//! and bounded by the struct's count field.
//!
//! The struct itself is only its fixed part (C's `sizeof` excludes the
//! flexible array); `#[derive(KhoEntry)]`, given `#[kho(flex, count =
//! nr_devices)]` on a trailing `devices: [PciDevSer; 0]`, generates
//! `devices(&self, bytes)` and `devices_mut(&self, bytes)` on top of these
//! views. Every bound is checked before use: a count read from the previous
//! kernel that runs past the buffer is an error, never a panic.

use core::fmt;
use core::marker::PhantomData;

use crate::AbiField;

/// The type of a flexible array's count field: an unsigned integer.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot count a flexible array",
    label = "a count field must be u8, u16, u32 or u64",
    note = "name the unsigned integer field that holds the number of elements: #[kho(flex, count = field)]"
)]
pub trait FlexCount: Copy {
    /// The count.
    fn count(self) -> u64;
}

macro_rules! count {
    ($($t:ty),*) => {$(
        impl FlexCount for $t {
            #[inline]
            fn count(self) -> u64 {
                u64::from(self)
            }
        }
    )*};
}
count!(u8, u16, u32, u64);

/// The buffer is too short for the elements the count field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlexOutOfBounds {
    /// The flexible array member's name.
    pub field: &'static str,
    /// The element count (the count field's value).
    pub count: u64,
    /// Size of one element in bytes.
    pub elem_size: usize,
    /// Where the elements start in the buffer (C's `offsetof`).
    pub offset: usize,
    /// The buffer's length.
    pub available: usize,
}

impl fmt::Display for FlexOutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flexible array `{}`: {} elements of {} bytes at offset {} do not fit a buffer of {} bytes",
            self.field, self.count, self.elem_size, self.offset, self.available
        )
    }
}

impl core::error::Error for FlexOutOfBounds {}

/// The byte range `offset .. offset + count * elem_size`, when it lies in a
/// buffer of `len` bytes.
fn span<T: AbiField>(
    field: &'static str,
    len: usize,
    offset: usize,
    count: u64,
) -> Result<core::ops::Range<usize>, FlexOutOfBounds> {
    let err = FlexOutOfBounds {
        field,
        count,
        elem_size: T::FIELD_SIZE,
        offset,
        available: len,
    };
    let end = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(T::FIELD_SIZE))
        .and_then(|n| n.checked_add(offset))
        .filter(|&end| end <= len)
        .ok_or(err)?;
    Ok(offset..end)
}

/// The elements of a flexible array member, read-only, copied out one at a
/// time (any bytes are a valid `T`).
#[derive(Clone, Copy)]
pub struct FlexArray<'a, T> {
    bytes: &'a [u8],
    len: usize,
    _elem: PhantomData<fn() -> T>,
}

impl<'a, T: AbiField + 'a> FlexArray<'a, T> {
    /// The `count` elements of `field` starting at `offset` of `buf` (the
    /// struct's bytes followed by its elements), or the error when they do
    /// not all lie in `buf`.
    pub fn new(
        field: &'static str,
        buf: &'a [u8],
        offset: usize,
        count: u64,
    ) -> Result<Self, FlexOutOfBounds> {
        let range = span::<T>(field, buf.len(), offset, count)?;
        Ok(FlexArray {
            len: usize::try_from(count).unwrap_or(0),
            bytes: buf.get(range).unwrap_or_default(),
            _elem: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let at = i.checked_mul(T::FIELD_SIZE)?;
        self.bytes.get(at..at + T::FIELD_SIZE).map(T::read_from)
    }

    /// Every element, in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + 'a {
        let this = *self;
        (0..this.len).filter_map(move |i| this.get(i))
    }
}

impl<T> fmt::Debug for FlexArray<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlexArray(len {})", self.len)
    }
}

/// The elements of a flexible array member, to write in place.
pub struct FlexArrayMut<'a, T> {
    bytes: &'a mut [u8],
    len: usize,
    _elem: PhantomData<fn() -> T>,
}

impl<'a, T: AbiField> FlexArrayMut<'a, T> {
    /// As [`FlexArray::new`], writable.
    pub fn new(
        field: &'static str,
        buf: &'a mut [u8],
        offset: usize,
        count: u64,
    ) -> Result<Self, FlexOutOfBounds> {
        let range = span::<T>(field, buf.len(), offset, count)?;
        Ok(FlexArrayMut {
            len: usize::try_from(count).unwrap_or(0),
            bytes: buf.get_mut(range).unwrap_or_default(),
            _elem: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        FlexArray::<T> {
            bytes: self.bytes,
            len: self.len,
            _elem: PhantomData,
        }
        .get(i)
    }

    /// Writes element `i`; `false` (and nothing written) past the end.
    pub fn set(&mut self, i: usize, value: &T) -> bool {
        let Some(at) = i.checked_mul(T::FIELD_SIZE).filter(|_| i < self.len) else {
            return false;
        };
        match self.bytes.get_mut(at..at + T::FIELD_SIZE) {
            Some(slot) => {
                value.write_to(slot);
                true
            }
            None => false,
        }
    }
}

impl<T> fmt::Debug for FlexArrayMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlexArrayMut(len {})", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn elements_are_bounded_by_count_and_buffer() {
        let mut buf = [0u8; 8 + 3 * 4];
        {
            let mut m = FlexArrayMut::<u32>::new("devices", &mut buf, 8, 3).unwrap();
            assert!(m.set(0, &7));
            assert!(m.set(2, &9));
            assert!(!m.set(3, &1));
            assert_eq!(m.get(2), Some(9));
        }
        assert_eq!(&buf[8..12], &7u32.to_ne_bytes());
        let a = FlexArray::<u32>::new("devices", &buf, 8, 3).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a.iter().collect::<alloc::vec::Vec<_>>(), [7, 0, 9]);
        assert_eq!(a.get(3), None);
        // Fewer than the buffer holds: only those.
        assert_eq!(
            FlexArray::<u32>::new("devices", &buf, 8, 1).unwrap().len(),
            1
        );
    }

    #[test]
    fn a_count_past_the_buffer_is_an_error() {
        let buf = [0u8; 16];
        let err = FlexArray::<u32>::new("devices", &buf, 8, 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "flexible array `devices`: 3 elements of 4 bytes at offset 8 do not fit a buffer of 16 bytes"
        );
        // A hostile count overflows nothing.
        assert!(FlexArray::<u64>::new("devices", &buf, 8, u64::MAX).is_err());
        assert!(FlexArray::<u64>::new("devices", &buf, usize::MAX, 1).is_err());
    }
}
