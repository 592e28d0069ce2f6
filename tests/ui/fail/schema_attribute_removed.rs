// The derive reads no schema file any more; the old keys say what to use.
use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-file-v1", schema = "schemas/luo.toml", entry = "luo_file_ser")]
pub struct Entry {
    pub a: u64,
}

fn main() {}
