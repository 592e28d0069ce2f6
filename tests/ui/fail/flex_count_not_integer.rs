use kho::{KhoEntry, PhysAddr};

pub type Count = i32;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Signed {
    pub nr_devices: i32,
    #[kho(flex, count = nr_devices)]
    pub devices: [u64; 0],
}

// Through an alias: the compiler's bound catches it.
#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Aliased {
    pub nr_devices: Count,
    #[kho(flex, count = nr_devices)]
    pub devices: [u64; 0],
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Array {
    pub nr_devices: [u8; 4],
    pub at: PhysAddr,
    #[kho(flex, count = nr_devices)]
    pub devices: [u64; 0],
}

fn main() {}
