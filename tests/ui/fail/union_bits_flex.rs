use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
pub union Either {
    #[kho(bits(lo = 4))]
    pub raw: u64,
    #[kho(flex, count = raw)]
    pub tail: [u64; 0],
}

fn main() {}
