use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub a: u64,
}

fn main() {}
