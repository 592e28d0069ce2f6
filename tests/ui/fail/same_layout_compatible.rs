// The layouts agree; the compatible strings do not.
use kho::{CharArray, KhoEntry};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-file-v1", same_layout_as = kho::abi::luo::LuoFileSer)]
pub struct LuoFileSer {
    pub name: CharArray<48>,
    pub data: u64,
    pub token: u64,
}

fn main() {}
