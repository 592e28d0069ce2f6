// kexec_handover's kho_vmalloc is not __packed: a packed twin has the same
// fields at the same offsets (no padding here) but alignment 1, not 8.
use kho::{KhoEntry, PhysPtr};

mod generated {
    #[derive(kho::KhoEntry, Clone, Copy)]
    #[repr(C)]
    pub struct KhoVmalloc {
        pub first: kho::PhysPtr<u64>,
        pub total_pages: u32,
        pub flags: u16,
        pub order: u16,
    }
}

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(same_layout_as = generated::KhoVmalloc)]
pub struct KhoVmalloc {
    pub first: PhysPtr<u64>,
    pub total_pages: u32,
    pub flags: u16,
    pub order: u16,
}

fn main() {}
