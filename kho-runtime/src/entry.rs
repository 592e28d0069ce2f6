//! Entry types: what a block holds, and how it becomes bytes.

use crate::layout::{Len, Node, Prim, StructLayout, StructRef, Ty};
use crate::{Error, PhysAddr, Plain, Result};

/// A fixed-size, endian-native value that can cross a kexec: an integer of
/// explicit width, a [`PhysAddr`], a [`PhysPtr<T>`](crate::PhysPtr), a
/// fixed array of such values, or a C struct or union made of them
/// (`#[derive(KhoEntry)]` on `#[repr(C)]`, packed or not).
///
/// Conversion is field by field with safe code, so any byte pattern read
/// from preserved memory is a valid value. A type whose memory is its
/// encoding says so in [`PLAIN`](Self::PLAIN), and the bulk paths then copy
/// its slices as bytes.
///
/// Its size is `FIELD_SIZE`, not `SIZE`: an entry type is also a
/// [`KhoEntry`], whose `SIZE` is the one users name, and one name in both
/// traits would make `T::SIZE` ambiguous wherever `T: KhoEntry`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a KHO ABI type",
    label = "not a KHO ABI type",
    note = "fields of a KHO entry are u8..u64, i8..i64, kho::PhysAddr, kho::PhysPtr<T>, kho::CharArray<N>, fixed arrays of them, or #[derive(KhoEntry)] structs"
)]
pub trait AbiField: Copy {
    /// Size in bytes, C's `sizeof` (a struct's padding included, a
    /// flexible array member excluded): `write_to` writes and `read_from`
    /// reads exactly this many, padding written as zeros.
    const FIELD_SIZE: usize;
    /// The type in the layout model.
    const TYPE: Ty<'static>;
    /// The type's name in the layout: a struct's ABI name
    /// (`kho_vmalloc_chunk`), a primitive's (`u64`). What a
    /// [`PhysPtr<Self>`](crate::PhysPtr) records as its target, without
    /// evaluating `TYPE` (so two structs may point at each other).
    /// Provided from `TYPE`; the derive writes the name itself.
    const TYPE_NAME: &'static str = const { &Self::TYPE }.base_name();
    /// Writes the value into `out[..FIELD_SIZE]`.
    fn write_to(&self, out: &mut [u8]);
    /// Reads a value from `bytes[..FIELD_SIZE]`.
    fn read_from(bytes: &[u8]) -> Self;
    /// Whether the type's memory is its encoding (see [`Plain`]). Provided:
    /// [`Plain::NO`], always correct; the derive says yes for a struct of
    /// plain fields without padding.
    const PLAIN: Plain = Plain::NO;
}

macro_rules! abi_int {
    ($($t:ty => $p:ident),*) => {$(
        impl AbiField for $t {
            const FIELD_SIZE: usize = core::mem::size_of::<$t>();
            const TYPE: Ty<'static> = Ty::Prim(Prim::$p);
            // An integer's bytes are its native-endian encoding, and every
            // pattern is a value.
            const PLAIN: Plain = Plain::YES;
            #[inline]
            fn write_to(&self, out: &mut [u8]) {
                out[..Self::FIELD_SIZE].copy_from_slice(&self.to_ne_bytes());
            }
            #[inline]
            fn read_from(bytes: &[u8]) -> Self {
                let mut raw = [0u8; core::mem::size_of::<$t>()];
                raw.copy_from_slice(&bytes[..Self::FIELD_SIZE]);
                <$t>::from_ne_bytes(raw)
            }
        }
    )*};
}
abi_int!(u8 => U8, u16 => U16, u32 => U32, u64 => U64, i8 => I8, i16 => I16, i32 => I32, i64 => I64);

impl AbiField for PhysAddr {
    const FIELD_SIZE: usize = 8;
    const TYPE: Ty<'static> = Ty::Prim(Prim::PhysAddr);
    // `repr(transparent)` over a `u64`.
    const PLAIN: Plain = Plain::YES;
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
    const FIELD_SIZE: usize = T::FIELD_SIZE * N;
    const TYPE: Ty<'static> = Ty::Array(Node::Ref(&T::TYPE), Len::new(N));
    // Elements back to back without padding: plain when they are.
    const PLAIN: Plain = T::PLAIN;
    #[inline]
    fn write_to(&self, out: &mut [u8]) {
        for (value, slot) in self.iter().zip(out.chunks_exact_mut(T::FIELD_SIZE)) {
            value.write_to(slot);
        }
    }
    #[inline]
    fn read_from(bytes: &[u8]) -> Self {
        core::array::from_fn(|i| T::read_from(&bytes[i * T::FIELD_SIZE..]))
    }
}

/// A struct stored as one entry of a block set: the one trait that
/// says everything about an entry type, so `<T as KhoEntry>::SIZE`,
/// `::COMPATIBLE`, `::LAYOUT` and `::FINGERPRINT` all work (and `T::SIZE`
/// wherever `T: KhoEntry`, or with the trait imported).
///
/// `COMPATIBLE` names the ABI (`name-vN`); `LAYOUT` describes every field,
/// and `FINGERPRINT` hashes it so a reader can tell a same-named but
/// different layout apart. Implemented by `#[derive(KhoEntry)]` with
/// `#[kho(compatible = "...")]`, or by hand: a hand impl gives
/// `COMPATIBLE` and `LAYOUT` (there is no default layout, so two hand impls
/// cannot share one fingerprint by accident) and keeps the provided `SIZE`
/// and `FINGERPRINT`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a block-set entry: it has no compatible string",
    label = "not a block-set entry",
    note = "add #[kho(compatible = \"name-v1\")] beside its #[derive(KhoEntry)]"
)]
pub trait KhoEntry: AbiField {
    /// Size in bytes of one entry: [`AbiField::FIELD_SIZE`]. Provided; an
    /// impl that overrides it with another value is refused when a block
    /// set of it is made.
    const SIZE: usize = <Self as AbiField>::FIELD_SIZE;
    /// The compatible string, `name-vN`.
    const COMPATIBLE: &'static str;
    /// The layout: the struct's ABI name and size, each field's name,
    /// offset, size and type.
    const LAYOUT: &'static StructLayout;
    /// A stable 64-bit hash of the layout (of its canonical text).
    /// Provided from `LAYOUT`.
    const FINGERPRINT: u64 = crate::layout::layout_fingerprint(Self::LAYOUT);

    /// The entry as a new byte array of exactly `SIZE` bytes.
    fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec![0u8; <Self as AbiField>::FIELD_SIZE];
        self.write_to(&mut out);
        out
    }
}

/// The layout of `T` when `T` is a struct, an entry or only a field type
/// (a derived struct without `compatible`); `None` for a primitive or an
/// array. Lets a `const` reach the layout of any derived struct without an
/// inherent item on it.
pub const fn struct_layout<T: AbiField>() -> Option<&'static StructLayout> {
    // `const { &.. }`: a `'static` reference, not a temporary of a type
    // that needs dropping (which a `const fn` cannot do).
    match const { &T::TYPE } {
        Ty::Struct(StructRef::Ref(layout)) => Some(*layout),
        _ => None,
    }
}

/// The fingerprint of `T`'s layout, for any ABI type: a struct's is its
/// [`layout_fingerprint`](crate::layout::layout_fingerprint) (for an entry,
/// `KhoEntry::FINGERPRINT`), so generated code can pin the layout of a
/// struct that is only a field type; a primitive's or an array's is that of
/// its type text (`u64`, `u8[48]`).
pub const fn fingerprint_of<T: AbiField>() -> u64 {
    match struct_layout::<T>() {
        Some(layout) => crate::layout::layout_fingerprint(layout),
        None => crate::layout::type_fingerprint(const { &T::TYPE }),
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
///
/// Written by hand, not derived, so that the runtime does not depend on its
/// own derive (nor the derive's build cost); `tests/format.rs` and the
/// generated `kho::abi::kho_block` check it against the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C, packed)]
pub struct KhoBlockHeaderSer {
    /// Physical address of the next block, 0 for the last.
    pub next: u64,
    /// Entries in use in this block.
    pub count: u64,
}

/// The impls `#[derive(KhoEntry)]` would write, for the runtime's own two
/// entry types (it does not depend on its derive): the layout, the
/// field-by-field conversion and the no-padding proof, from one list of the
/// fields. The facade's tests check both against derived twins
/// (`same_layout_as`).
macro_rules! hand_entry {
    ($ty:ident, $layout:ident, $abi:literal, $compat:literal, { $($field:ident: $fty:ty),* $(,)? }) => {
        const $layout: &$crate::layout::StructLayout = {
            const FIELDS: &[$crate::layout::Field<'static>] = &[$($crate::layout::Field::new(
                stringify!($field),
                core::mem::offset_of!($ty, $field),
                <$fty as $crate::AbiField>::FIELD_SIZE,
                <$fty as $crate::AbiField>::TYPE,
            )),*];
            &$crate::layout::StructLayout::packed($abi, core::mem::size_of::<$ty>(), FIELDS)
        };

        impl $crate::AbiField for $ty {
            const FIELD_SIZE: usize = 0 $(+ <$fty as $crate::AbiField>::FIELD_SIZE)*;
            const TYPE: $crate::layout::Ty<'static> =
                $crate::layout::Ty::Struct($crate::layout::StructRef::Ref($layout));
            const PLAIN: $crate::Plain = $crate::Plain::__of_derived_fields(
                core::mem::size_of::<$ty>(),
                &[$((<$fty as $crate::AbiField>::FIELD_SIZE, <$fty as $crate::AbiField>::PLAIN)),*],
            );
            #[inline]
            fn write_to(&self, out: &mut [u8]) {
                $({ self.$field }.write_to(&mut out[core::mem::offset_of!($ty, $field)..]);)*
            }
            #[inline]
            fn read_from(bytes: &[u8]) -> Self {
                $ty {$(
                    $field: <$fty as $crate::AbiField>::read_from(
                        &bytes[core::mem::offset_of!($ty, $field)..],
                    ),
                )*}
            }
        }

        impl $crate::KhoEntry for $ty {
            const COMPATIBLE: &'static str = $compat;
            const LAYOUT: &'static $crate::layout::StructLayout = $layout;
        }

        // What the derive would prove: no padding.
        const _: () = assert!(
            core::mem::size_of::<$ty>() == <$ty as $crate::AbiField>::FIELD_SIZE
        );
    };
}
// FileMemory (std only) writes RootRecord with it.
#[cfg(feature = "std")]
pub(crate) use hand_entry;

hand_entry!(KhoBlockHeaderSer, HEADER_LAYOUT, "kho_block_header_ser", "kho-block-v1", {
    next: u64,
    count: u64,
});

/// The block header under its short name.
pub type BlockHeaderSer = KhoBlockHeaderSer;

/// Size of [`BlockHeaderSer`]: entries start at this offset in a block.
pub const HEADER_SIZE: usize = <KhoBlockHeaderSer as KhoEntry>::SIZE;

/// The compatible string of the block format.
pub const KHO_BLOCK_COMPATIBLE: &str = <KhoBlockHeaderSer as KhoEntry>::COMPATIBLE;

const _: () = assert!(HEADER_LAYOUT.size == HEADER_SIZE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_kernel_struct() {
        assert_eq!(HEADER_SIZE, 16);
        assert_eq!(KHO_BLOCK_COMPATIBLE, "kho-block-v1");
        assert_eq!(
            <BlockHeaderSer as KhoEntry>::LAYOUT.name,
            "kho_block_header_ser"
        );
        let at: alloc::vec::Vec<_> = <BlockHeaderSer as KhoEntry>::LAYOUT
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
