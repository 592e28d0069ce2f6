use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(u8)]
pub enum Entry {
    A,
    B,
}

fn main() {}
