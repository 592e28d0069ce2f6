// GCC places an __aligned(8) union inside a __packed struct at offset 1
// (packed wins); Rust refuses the combination, so it cannot silently
// differ from C.
use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, align(8))]
pub union Word {
    pub raw: u32,
    pub bytes: [u8; 4],
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub tag: u8,
    pub word: Word,
}

fn main() {}
