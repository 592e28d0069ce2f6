use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    #[kho(bits(pfn = 52, flags = 0))]
    pub pfn_flags: u64,
}

fn main() {}
