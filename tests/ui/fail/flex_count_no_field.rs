use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    pub nr_devices: u32,
    #[kho(flex, count = nr_device)]
    pub devices: [u64; 0],
}

fn main() {}
