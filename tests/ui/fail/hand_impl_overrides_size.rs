// `KhoEntry::SIZE` is provided from `AbiField::FIELD_SIZE`; a hand impl that
// overrides it with another value fails where a block set of it is made,
// instead of writing entries of the wrong length.
use kho::layout::{Field, StructLayout, StructRef, Ty};
use kho::{AbiField, BlockSet, KhoEntry, SimMemory};

#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct Hand {
    pub a: u64,
}

const FIELDS: &[Field<'static>] = &[Field::new("a", 0, 8, <u64 as AbiField>::TYPE)];
const LAYOUT: &StructLayout = &StructLayout::packed("hand", 8, FIELDS);

impl AbiField for Hand {
    const FIELD_SIZE: usize = 8;
    const TYPE: Ty<'static> = Ty::Struct(StructRef::Ref(LAYOUT));
    fn write_to(&self, out: &mut [u8]) {
        { self.a }.write_to(out)
    }
    fn read_from(bytes: &[u8]) -> Self {
        Hand { a: u64::read_from(bytes) }
    }
}

impl KhoEntry for Hand {
    const SIZE: usize = 9;
    const COMPATIBLE: &'static str = "hand-v1";
    const LAYOUT: &'static StructLayout = LAYOUT;
}

fn main() {
    let mem = SimMemory::new(0x10_0000, 4096, 4).unwrap();
    let _ = BlockSet::<Hand, SimMemory>::new(&mem);
}
