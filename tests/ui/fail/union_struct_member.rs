// A struct may have padding: reading another member over it would read
// uninitialised bytes, so a KHO union holds plain values only.
use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
pub struct Pair {
    pub a: u8,
    pub b: u32,
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
pub union Either {
    pub raw: u64,
    pub pair: Pair,
}

fn main() {}
