use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub nr_devices: u32,
    #[kho(flex, count = nr_devices)]
    pub devices: [u64; 1],
}

fn main() {}
