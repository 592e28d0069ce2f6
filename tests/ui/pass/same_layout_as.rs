// Hand-written entries declared to be the generated ones: the compiler
// checks each against the other's layout, with no file read by the derive.
use kho::{AbiField, CharArray, KhoEntry, PhysAddr};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(
    compatible = "luo-v4-kho-block-v1",
    same_layout_as = kho::abi::luo::LuoFileSer
)]
pub struct LuoFileSer {
    pub name: CharArray<48>,
    pub data: u64,
    pub token: u64,
}

// Not an entry (no compatible), like the generated one.
#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(same_layout_as = ::kho::abi::luo::LuoFileSetSer)]
pub struct LuoFileSetSer {
    pub files: PhysAddr,
    pub count: u64,
}

// A nested struct compares whole: its name and every field.
#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(
    compatible = "luo-v4-kho-block-v1",
    same_layout_as = kho::abi::luo::LuoSessionSer
)]
pub struct LuoSessionSer {
    pub name: CharArray<64>,
    pub file_set_ser: LuoFileSetSer,
}

fn main() {
    assert_eq!(LuoSessionSer::SIZE, 80);
    assert_eq!(<LuoFileSetSer as AbiField>::FIELD_SIZE, 16);
    assert_eq!(
        LuoFileSer::FINGERPRINT,
        <kho::abi::luo::LuoFileSer as KhoEntry>::FINGERPRINT
    );
}
