use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "widths-v1")]
pub struct Widths {
    pub a: u8,
    pub b: u16,
    pub c: u32,
    pub d: u64,
    pub e: i8,
    pub f: i16,
    pub g: i32,
    pub h: i64,
}

fn main() {
    assert_eq!(Widths::SIZE, 30);
    let offsets: Vec<usize> = Widths::LAYOUT.fields.iter().map(|f| f.offset).collect();
    assert_eq!(offsets, [0, 1, 3, 7, 15, 16, 18, 22]);
}
