#![no_implicit_prelude]
// The new constructs' expansion (bit-field accessors, flexible array views,
// the union conversion, the placement proof) names everything by absolute
// path too; field names that are Rust keywords are raw identifiers.

mod abi {
    #[derive(::kho::KhoEntry, ::core::clone::Clone, ::core::marker::Copy)]
    #[repr(C)]
    pub struct Dev {
        pub r#type: u32,
        #[kho(bits(r#in = 4, r#ref = 12, r#mod = 16))]
        pub word: u32,
    }

    #[derive(::kho::KhoEntry, ::core::clone::Clone, ::core::marker::Copy)]
    #[repr(C, align(16))]
    #[kho(compatible = "bare-v2")]
    pub struct Bare {
        pub r#struct: ::kho::PhysPtr<Dev>,
        pub r#loop: u64,
        #[kho(flex, count = r#loop)]
        pub r#match: [Dev; 0],
    }

    #[derive(::kho::KhoEntry, ::core::clone::Clone, ::core::marker::Copy)]
    #[repr(C)]
    pub union Raw {
        pub r#as: u64,
        pub r#fn: [u16; 4],
    }
}

fn main() {
    use ::kho::AbiField;
    use ::std::iter::Iterator;
    ::std::assert_eq!(<abi::Bare as ::kho::KhoEntry>::SIZE, 16);
    let l = <abi::Bare as ::kho::KhoEntry>::LAYOUT;
    ::std::assert_eq!(l.align, 16);
    ::std::assert_eq!(l.fields[2].name.as_str(), "match");
    let d = ::kho::struct_layout::<abi::Dev>().unwrap();
    let names: ::std::vec::Vec<&str> = d.fields.iter().map(|f| f.name.as_str()).collect();
    ::std::assert_eq!(names, ["type", "in", "ref", "mod"]);
    let mut dev = abi::Dev { r#type: 1, word: 0 };
    dev.set_ref(0xabc).unwrap();
    dev.set_mod(0xffff).unwrap();
    ::std::assert!(dev.set_in(16).is_err());
    ::std::assert_eq!((dev.r#in(), dev.r#ref(), dev.r#mod()), (0, 0xabc, 0xffff));
    let bare = abi::Bare { r#struct: ::kho::PhysPtr::NULL, r#loop: 1, r#match: [] };
    let mut bytes = ::std::vec![0u8; 16 + 8];
    bare.write_to(&mut bytes);
    ::std::assert!(bare.r#match_mut(&mut bytes).unwrap().set(0, &dev));
    ::std::assert_eq!(bare.r#match(&bytes).unwrap().get(0).map(|d| d.r#ref()), ::std::option::Option::Some(0xabc));
    ::std::assert_eq!(<abi::Raw as AbiField>::FIELD_SIZE, 8);
}
