// A narrower field: its size differs first (the offsets after it too, unreported).
use kho::{CharArray, KhoEntry};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-v4-kho-block-v1", same_layout_as = kho::abi::luo::LuoFileSer)]
pub struct LuoFileSer {
    pub name: CharArray<48>,
    pub data: u32,
    pub token: u64,
}

fn main() {}
