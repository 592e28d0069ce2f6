// A KHOSER pointer's target is part of the type: khoser_ptr<a> is not
// khoser_ptr<b>, although both are 8 bytes.
use kho::{KhoEntry, PhysPtr};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
pub struct A {
    pub x: u64,
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
pub struct B {
    pub x: u64,
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
#[kho(name = "hdr")]
pub struct Theirs {
    pub next: PhysPtr<A>,
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C)]
#[kho(name = "hdr", same_layout_as = Theirs)]
pub struct Ours {
    pub next: PhysPtr<B>,
}

fn main() {}
