use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
pub struct Entry<T: Copy> {
    pub a: T,
}

fn main() {}
