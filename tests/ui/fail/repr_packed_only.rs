use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub a: u64,
}

fn main() {}
