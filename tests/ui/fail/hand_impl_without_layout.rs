// A hand-written entry must say its layout: there is no default, so two
// such impls cannot share one fingerprint.
use kho::{AbiField, KhoEntry};
use kho::layout::{Prim, Ty};

#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct Hand {
    pub a: u64,
}

impl AbiField for Hand {
    const FIELD_SIZE: usize = 8;
    const TYPE: Ty<'static> = Ty::Prim(Prim::U64);
    fn write_to(&self, out: &mut [u8]) {
        { self.a }.write_to(out)
    }
    fn read_from(bytes: &[u8]) -> Self {
        Hand { a: u64::read_from(bytes) }
    }
}

impl KhoEntry for Hand {
    const COMPATIBLE: &'static str = "hand-v1";
}

fn main() {}
