// `#[repr(C)]` alone is a C struct with natural alignment and padding (it
// was refused before the derive knew C's placement rules).
use kho::{AbiField, KhoEntry};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub a: u8,
    pub b: u64,
    pub c: u16,
}

fn main() {
    assert_eq!(Entry::SIZE, 24);
    assert_eq!(<Entry as AbiField>::FIELD_SIZE, core::mem::size_of::<Entry>());
    let l = Entry::LAYOUT;
    assert_eq!((l.align, l.packed), (8, false));
    let at: Vec<_> = l.fields.iter().map(|f| f.offset).collect();
    assert_eq!(at, [0, 8, 16]);
}
