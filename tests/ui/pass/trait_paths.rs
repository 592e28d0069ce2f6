// Every fact about an entry is a constant of the one trait, reachable by
// its path: no import of the trait needed, no inherent item on the type.
#[derive(kho::KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "paths-v1")]
pub struct Paths {
    pub a: u64,
    pub b: u32,
}

fn size_of_entry<T: kho::KhoEntry>() -> usize {
    // Unambiguous in generic code: AbiField's size is FIELD_SIZE.
    T::SIZE
}

const SIZE: usize = <Paths as kho::KhoEntry>::SIZE;
const COMPATIBLE: &str = <Paths as kho::KhoEntry>::COMPATIBLE;
const FINGERPRINT: u64 = <Paths as kho::KhoEntry>::FINGERPRINT;
const LAYOUT: &kho::layout::StructLayout = <Paths as kho::KhoEntry>::LAYOUT;

fn main() {
    assert_eq!(SIZE, 12);
    assert_eq!(size_of_entry::<Paths>(), 12);
    assert_eq!(COMPATIBLE, "paths-v1");
    assert_eq!(FINGERPRINT, kho::layout::layout_fingerprint(LAYOUT));
    assert_eq!(LAYOUT.name, "paths");
    // With every item of the crate imported, still one `SIZE`.
    {
        use kho::*;
        assert_eq!(Paths::SIZE, <Paths as AbiField>::FIELD_SIZE);
    }
}
