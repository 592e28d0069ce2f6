// A hand-written entry declared to be the schema's: the derive checks it.
use kho::{CharArray, KhoEntry, PhysAddr};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-v4-kho-block-v1", schema = "schemas/luo.toml", entry = "luo_file_ser")]
pub struct LuoFileSer {
    pub name: CharArray<48>,
    pub data: u64,
    pub token: u64,
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(schema = "schemas/luo.toml", entry = "luo_file_set_ser")]
pub struct LuoFileSetSer {
    pub files: PhysAddr,
    pub count: u64,
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-v4-kho-block-v1", schema = "schemas/luo.toml", entry = "luo_session_ser")]
pub struct LuoSessionSer {
    pub name: CharArray<64>,
    pub file_set_ser: LuoFileSetSer,
}

fn main() {
    assert_eq!(LuoSessionSer::SIZE, 80);
}
