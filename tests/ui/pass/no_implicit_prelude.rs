#![no_implicit_prelude]
// The expansion names everything by absolute path, so it needs neither the
// prelude nor std: the same code builds in a no_std crate.

mod abi {
    #[derive(::kho::KhoEntry, ::core::clone::Clone, ::core::marker::Copy)]
    #[repr(C, packed)]
    #[kho(compatible = "bare-v1")]
    pub struct Bare {
        pub a: u64,
        pub b: [u8; 8],
    }
}

fn main() {
    ::std::assert_eq!(<abi::Bare as ::kho::KhoEntry>::SIZE, 16);
}
