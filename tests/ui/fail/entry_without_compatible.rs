use kho::KhoEntry;

use kho::{BlockSet, SimMemory};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
pub struct FieldOnly {
    pub a: u64,
}

fn main() {
    let mem = SimMemory::new(0x1000, 4096, 4).unwrap();
    let _ = BlockSet::<FieldOnly, SimMemory>::new(&mem);
}
