use kho::{CharArray, KhoEntry};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(schema = "schemas/luo.toml", entry = "luo_file")]
pub struct LuoFile {
    pub data: u64,
}

fn main() {}
