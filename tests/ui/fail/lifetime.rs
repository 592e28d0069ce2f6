use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
pub struct Entry<'a> {
    pub a: &'a u64,
}

fn main() {}
