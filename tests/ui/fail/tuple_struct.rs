use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
pub struct Entry(pub u64, pub u64);

fn main() {}
