use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-file-v1", schema = "schemas/luo.toml")]
pub struct Entry {
    pub a: u64,
}

fn main() {}
