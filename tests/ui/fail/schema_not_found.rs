use kho::{CharArray, KhoEntry};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(schema = "schemas/nope.toml", entry = "luo_file_ser")]
pub struct LuoFileSer {
    pub data: u64,
}

fn main() {}
