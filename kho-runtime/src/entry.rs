//! Entry types: what a block holds, and how it becomes bytes.

use kho_derive::KhoEntry;

use crate::layout::{Len, Node, Prim, StructLayout, Ty};
use crate::{Error, PhysAddr, Result};

/// A fixed-size, endian-native value that can cross a kexec: an integer of
/// explicit width, a [`PhysAddr`], a fixed array of such values, or a packed
/// struct made of them.
///
/// Conversion is field by field with safe code; there is no transmute, so
/// any byte pattern read from preserved memory is a valid value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a KHO ABI type",
    label = "not a KHO ABI type",
    note = "fields of a KHO entry are u8..u64, i8..i64, kho::PhysAddr, kho::PhysPtr<T>, kho::CharArray<N>, fixed arrays of them, or #[derive(KhoEntry)] structs"
)]
pub trait AbiField: Copy {
    /// Size in bytes, with no padding.
    const SIZE: usize;
    /// The type in the layout model.
    const TYPE: Ty<'static>;
    /// Writes the value into `out[..SIZE]`.
    fn write_to(&self, out: &mut [u8]);
    /// Reads a value from `bytes[..SIZE]`.
    fn read_from(bytes: &[u8]) -> Self;
}

macro_rules! abi_int {
    ($($t:ty => $p:ident),*) => {$(
        impl AbiField for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            const TYPE: Ty<'static> = Ty::Prim(Prim::$p);
            #[inline]
            fn write_to(&self, out: &mut [u8]) {
                out[..Self::SIZE].copy_from_slice(&self.to_ne_bytes());
            }
            #[inline]
            fn read_from(bytes: &[u8]) -> Self {
                let mut raw = [0u8; core::mem::size_of::<$t>()];
                raw.copy_from_slice(&bytes[..Self::SIZE]);
                <$t>::from_ne_bytes(raw)
            }
        }
    )*};
}
abi_int!(u8 => U8, u16 => U16, u32 => U32, u64 => U64, i8 => I8, i16 => I16, i32 => I32, i64 => I64);

impl AbiField for PhysAddr {
    const SIZE: usize = 8;
    const TYPE: Ty<'static> = Ty::Prim(Prim::PhysAddr);
    #[inline]
    fn write_to(&self, out: &mut [u8]) {
        self.0.write_to(out)
    }
    #[inline]
    fn read_from(bytes: &[u8]) -> Self {
        PhysAddr(u64::read_from(bytes))
    }
}

impl<T: AbiField, const N: usize> AbiField for [T; N] {
    const SIZE: usize = T::SIZE * N;
    const TYPE: Ty<'static> = Ty::Array(Node::Ref(&T::TYPE), Len::new(N));
    #[inline]
    fn write_to(&self, out: &mut [u8]) {
        for (value, slot) in self.iter().zip(out.chunks_exact_mut(T::SIZE)) {
            value.write_to(slot);
        }
    }
    #[inline]
    fn read_from(bytes: &[u8]) -> Self {
        core::array::from_fn(|i| T::read_from(&bytes[i * T::SIZE..]))
    }
}

/// A packed struct stored as one entry of a block set.
///
/// `COMPATIBLE` names the ABI (`name-vN`); `FINGERPRINT` hashes the layout so
/// a reader can tell a same-named but different layout apart. Implemented by
/// `#[derive(KhoEntry)]`, or by hand with [`crate::layout::layout_fingerprint`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a block-set entry: it has no compatible string",
    label = "not a block-set entry",
    note = "add #[kho(compatible = \"name-v1\")] beside its #[derive(KhoEntry)]"
)]
pub trait KhoEntry: AbiField {
    /// The compatible string, `name-vN`.
    const COMPATIBLE: &'static str;
    /// The layout (TRANSITION: default until every impl is derived).
    const LAYOUT: &'static StructLayout = &StructLayout::packed("opaque", 0, &[]);
    /// A stable 64-bit hash of the layout (of its canonical text).
    const FINGERPRINT: u64 = crate::layout::layout_fingerprint(Self::LAYOUT);

    /// The entry as a new byte array of exactly `SIZE` bytes.
    fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec![0u8; Self::SIZE];
        self.write_to(&mut out);
        out
    }
}

/// Stores `s` in a NUL-padded name field; it must leave room for the NUL.
pub fn set_name(field: &mut [u8], s: &str) -> Result<()> {
    if s.len() >= field.len() {
        return Err(Error::TooLong {
            what: "name",
            len: s.len(),
            capacity: field.len().saturating_sub(1),
        });
    }
    field.fill(0);
    field[..s.len()].copy_from_slice(s.as_bytes());
    Ok(())
}

/// The bytes of a NUL-padded name field up to its first NUL.
pub fn name_bytes(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// The block header that starts every block: the next block's physical
/// address (0 ends the chain) and the number of entries in use.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C, packed)]
#[kho(
    crate = "crate",
    compatible = "kho-block-v1",
    schema = "schemas/kho_block.toml",
    entry = "kho_block_header_ser"
)]
pub struct KhoBlockHeaderSer {
    /// Physical address of the next block, 0 for the last.
    pub next: u64,
    /// Entries in use in this block.
    pub count: u64,
}

/// The block header under its short name.
pub type BlockHeaderSer = KhoBlockHeaderSer;

/// Size of [`BlockHeaderSer`]: entries start at this offset in a block.
pub const HEADER_SIZE: usize = KhoBlockHeaderSer::SIZE;

/// The compatible string of the block format.
pub const KHO_BLOCK_COMPATIBLE: &str = KhoBlockHeaderSer::COMPATIBLE;

const _: () = assert!(core::mem::size_of::<BlockHeaderSer>() == HEADER_SIZE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_kernel_struct() {
        assert_eq!(HEADER_SIZE, 16);
        assert_eq!(KHO_BLOCK_COMPATIBLE, "kho-block-v1");
        assert_eq!(BlockHeaderSer::LAYOUT.name, "kho_block_header_ser");
        let layout = BlockHeaderSer::LAYOUT;
        let at: alloc::vec::Vec<_> = layout
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.offset))
            .collect();
        assert_eq!(at, [("next", 0), ("count", 8)]);
    }

    #[test]
    fn header_bytes_are_next_then_count_native_endian() {
        let h = BlockHeaderSer {
            next: 0x1122_3344_5566_7788,
            count: 5,
        };
        let bytes = h.to_bytes();
        assert_eq!(&bytes[..8], &0x1122_3344_5566_7788u64.to_ne_bytes());
        assert_eq!(&bytes[8..], &5u64.to_ne_bytes());
        assert_eq!(BlockHeaderSer::read_from(&bytes), h);
    }

    #[test]
    fn arrays_round_trip() {
        let v: [[u16; 3]; 2] = [[1, 2, 3], [4, 5, 0xffff]];
        let mut out = [0u8; 12];
        v.write_to(&mut out);
        assert_eq!(&out[10..], &0xffffu16.to_ne_bytes());
        assert_eq!(<[[u16; 3]; 2]>::read_from(&out), v);
    }

    #[test]
    fn names_are_nul_terminated_and_bounded() {
        let mut f = [0xffu8; 8];
        set_name(&mut f, "abc").unwrap();
        assert_eq!(&f, b"abc\0\0\0\0\0");
        assert_eq!(name_bytes(&f), b"abc");
        assert!(set_name(&mut f, "1234567").is_ok());
        assert!(matches!(
            set_name(&mut f, "12345678"),
            Err(Error::TooLong {
                len: 8,
                capacity: 7,
                ..
            })
        ));
    }
}
