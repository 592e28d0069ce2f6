use kho::KhoEntry;

#[derive(Clone, Copy)]
pub struct Plain {
    pub a: u64,
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub inner: Plain,
}

fn main() {}
