use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
pub union Entry {
    pub a: u64,
    pub b: u32,
}

fn main() {}
