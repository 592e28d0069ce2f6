use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[kho(compatible = "luo-file")]
pub struct Entry {
    pub len: usize,
    pub live: bool,
}

fn main() {}
