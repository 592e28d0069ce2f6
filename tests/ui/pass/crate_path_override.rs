// A renamed dependency: the derive is told where the kho crate is.
extern crate kho as kexec_handover;

mod reexport {
    pub use kexec_handover::*;
}

#[derive(kexec_handover::KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(crate = "reexport", compatible = "renamed-v1")]
pub struct Renamed {
    pub a: u32,
}

fn main() {
    assert_eq!(<Renamed as reexport::KhoEntry>::COMPATIBLE, "renamed-v1");
}
