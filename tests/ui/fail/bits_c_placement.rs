// C puts `u64 b:4` after `u8 a` in the same 8-byte unit (bits 8..12 at
// offset 0); a Rust storage field after `a` is at offset 8: not C's layout.
use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub a: u8,
    #[kho(bits(b = 4))]
    pub b_storage: u64,
}

fn main() {}
