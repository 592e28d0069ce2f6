// A shorter name array: the first difference is its size, reported at its type.
use kho::{CharArray, KhoEntry};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-v4-kho-block-v1", same_layout_as = kho::abi::luo::LuoFileSer)]
pub struct LuoFileSer {
    pub name: CharArray<40>,
    pub data: u64,
    pub token: u64,
}

fn main() {}
