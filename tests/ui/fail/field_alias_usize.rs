use kho::KhoEntry;

pub type Len = usize;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub len: Len,
}

fn main() {}
