// memfd's folio with pfn one bit narrower than the schema's: same offsets,
// same sizes, other bits.
use kho::KhoEntry;

mod generated {
    #[derive(kho::KhoEntry, Clone, Copy)]
    #[repr(C, packed)]
    #[kho(compatible = "memfd-v1")]
    pub struct MemfdLuoFolioSer {
        #[kho(bits(pfn = 52, flags = 12))]
        pub pfn_flags: u64,
        pub index: u64,
    }
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "memfd-v1", same_layout_as = generated::MemfdLuoFolioSer)]
pub struct MemfdLuoFolioSer {
    #[kho(bits(pfn = 51, flags = 13))]
    pub pfn_flags: u64,
    pub index: u64,
}

fn main() {}
