use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    #[kho(bits(pfn = 40, flags = 12))]
    pub lo: u64,
    #[kho(bits(flags = 8))]
    pub hi: u8,
}

fn main() {}
