// A PhysAddr is 8 bytes but not an integer the derive can split: its type
// must be one of the unsigned integers.
use kho::{KhoEntry, PhysAddr};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    #[kho(bits(page = 52, flags = 12))]
    pub at: PhysAddr,
}

fn main() {}
