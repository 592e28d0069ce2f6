use kho::{CharArray, KhoEntry};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-v4-kho-block-v1", schema = "schemas/luo.toml", entry = "luo_file_ser")]
pub struct LuoFileSer {
    pub name: CharArray<48>,
    pub data: i64,
    pub token: u64,
}

fn main() {}
