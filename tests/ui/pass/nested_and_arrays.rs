use kho::KhoEntry;

use kho::{AbiField, PhysAddr, PhysPtr};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
pub struct Inner {
    pub a: u16,
    pub b: [u8; 3],
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "outer-v2")]
pub struct Outer {
    pub grid: [[u32; 3]; 2],
    pub inner: Inner,
    pub inners: [Inner; 4],
    pub at: PhysAddr,
    pub to: PhysPtr<Inner>,
}

fn main() {
    // Inner is only a field type: its size is AbiField's.
    assert_eq!(<Inner as AbiField>::FIELD_SIZE, 5);
    assert_eq!(Outer::SIZE, 24 + 5 + 20 + 8 + 8);
    assert_eq!(<Outer as AbiField>::FIELD_SIZE, core::mem::size_of::<Outer>());
    assert_eq!(Outer::LAYOUT.fields[2].offset, 29);
}
