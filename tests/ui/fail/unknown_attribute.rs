use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-file-v1", version = 2)]
pub struct Entry {
    pub a: u64,
}

fn main() {}
