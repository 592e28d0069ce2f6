// A type that does not exist: the compiler says so at the path.
use kho::KhoEntry;

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(same_layout_as = kho::abi::luo::LuoFile)]
pub struct LuoFile {
    pub data: u64,
}

fn main() {}
