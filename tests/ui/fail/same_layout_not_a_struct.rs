// An ABI type that is not a struct, then a type that is not an ABI type.
use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(same_layout_as = u64)]
pub struct Word {
    pub data: u64,
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(same_layout_as = std::string::String)]
pub struct Text {
    pub data: u64,
}

fn main() {}
