// Through an alias the macro cannot see the width: the compiler checks it.
use kho::KhoEntry;

pub type Word = u16;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "test-entry-v1")]
pub struct Entry {
    #[kho(bits(lo = 10, hi = 10))]
    pub word: Word,
}

fn main() {}
