// Each width fits a u64, together they do not: C would start `flags` in a
// second unit, which this one storage field cannot be.
use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    #[kho(bits(pfn = 52, flags = 13))]
    pub pfn_flags: u64,
}

fn main() {}
