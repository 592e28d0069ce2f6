use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed(2))]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub a: u64,
}

fn main() {}
