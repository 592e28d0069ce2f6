use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    #[kho(bits(lo = 4))]
    pub bytes: [u8; 8],
}

fn main() {}
