//! Members of a C union: the types a `#[derive(KhoEntry)]` union may hold.

use crate::{AbiField, CharArray, PhysAddr, PhysPtr};

mod sealed {
    // Unnameable on purpose: only this crate implements `UnionMember`, so
    // the derive's one `unsafe` read of a union (see `UnionMember`) rests
    // on these impls alone.
    #[allow(unnameable_types)]
    pub trait Sealed {}
}

/// A type every byte pattern of its size is a valid value of, and that has
/// no padding: an integer, [`PhysAddr`], [`PhysPtr<T>`], [`CharArray<N>`],
/// or a fixed array of them. Sealed: implemented here only.
///
/// `#[derive(KhoEntry)]` on a `#[repr(C)] union` requires every member to
/// be one, and all of the same size (a compile-time assertion). Then
/// writing any member initialises every byte, and reading the first member
/// (what the derive's `write_to` does, in its one `unsafe` block) is sound
/// whichever member was written. A union of structs is not supported: a
/// struct may have padding, whose bytes a read of another member would see
/// uninitialised.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a member of a KHO union",
    label = "not an integer, PhysAddr, PhysPtr<T>, CharArray<N> or array of them",
    note = "a union's members must be padding-free plain values of one size, so that reading any member is sound"
)]
pub trait UnionMember: AbiField + sealed::Sealed {}

macro_rules! member {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl UnionMember for $t {}
    )*};
}
member!(u8, u16, u32, u64, i8, i16, i32, i64, PhysAddr);

impl<T: 'static + AbiField> sealed::Sealed for PhysPtr<T> {}
impl<T: 'static + AbiField> UnionMember for PhysPtr<T> {}
impl<const N: usize> sealed::Sealed for CharArray<N> {}
impl<const N: usize> UnionMember for CharArray<N> {}
impl<T: UnionMember, const N: usize> sealed::Sealed for [T; N] {}
impl<T: UnionMember, const N: usize> UnionMember for [T; N] {}
