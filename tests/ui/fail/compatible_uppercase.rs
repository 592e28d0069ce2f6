use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "LUO_file-v1")]
pub struct Entry {
    pub a: u64,
}

fn main() {}
