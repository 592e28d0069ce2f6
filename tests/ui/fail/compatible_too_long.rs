use kho::KhoEntry;

// 48 bytes: the kernel keeps compatible strings in 48 bytes with the NUL,
// and the schema compiler refuses the same string.
#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-v1")]
pub struct Entry {
    pub a: u64,
}

fn main() {}
