//! Emits the impls, the layout constants and the compile-time proofs.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Entry, Field, Shape};
use crate::ctxt::Ctxt;
use crate::valid::{self, unraw};

pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let entry = Entry::from_input(&mut cx, input);
    valid::check(&mut cx, &entry);
    let default_krate: syn::Path;
    let krate = match &entry.attrs.krate {
        Some(path) => path,
        None => {
            default_krate = syn::parse_quote!(::kho);
            &default_krate
        }
    };
    match cx.check() {
        Ok(()) => {
            let impls = impls(&entry, krate);
            let same_layout = crate::same_layout::checks(&entry, krate);
            quote! { #impls #same_layout }
        }
        // One fallback impl beside the errors, so that a mistake in the
        // struct does not also break every use of it (as thiserror does).
        Err(err) => {
            let errors = err.to_compile_error();
            let fallback = fallback(&entry, krate);
            quote! { #errors #fallback }
        }
    }
}

fn impls(entry: &Entry, krate: &syn::Path) -> TokenStream {
    let ident = entry.ident;
    let fields = entry.fields.as_deref().unwrap_or_default();
    let abi_name = &entry.abi_name;
    let names: Vec<_> = fields.iter().map(|f| f.ident).collect();
    let tys: Vec<_> = fields.iter().map(|f| f.ty).collect();

    // Every use of a field type goes through `<T as AbiField>` spanned at
    // the type, so a type that is not an ABI type (an alias, a type from
    // another crate) is reported once, at the field.
    let abi: Vec<_> = tys
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #krate::AbiField>))
        .collect();
    let sizes: Vec<_> = abi.iter().map(|abi| quote!(#abi::FIELD_SIZE)).collect();
    let layout_fields = fields.iter().flat_map(|f| layout_fields(ident, f, krate));
    let packed = entry.repr.packed;
    let kind = match entry.shape {
        Shape::Struct => quote!(#krate::layout::Kind::Struct),
        Shape::Union => quote!(#krate::layout::Kind::Union),
    };
    let (write_to, read_from) = match entry.shape {
        Shape::Struct => {
            let writes = names.iter().zip(&abi).map(|(name, abi)| {
                quote! {
                    #abi::write_to(&{ self.#name }, &mut out[::core::mem::offset_of!(#ident, #name)..]);
                }
            });
            let reads = names.iter().zip(&abi).map(|(name, abi)| {
                quote! {
                    #name: #abi::read_from(&bytes[::core::mem::offset_of!(#ident, #name)..])
                }
            });
            (
                quote! {
                    #[inline]
                    fn write_to(&self, out: &mut [u8]) {
                        // C's padding bytes go out as zeros, not as
                        // whatever `out` held.
                        if ::core::mem::size_of::<#ident>() != 0 #(+ #sizes)* {
                            out[..::core::mem::size_of::<#ident>()].fill(0);
                        }
                        #(#writes)*
                    }
                },
                quote! {
                    #[inline]
                    fn read_from(bytes: &[u8]) -> Self {
                        #ident { #(#reads),* }
                    }
                },
            )
        }
        Shape::Union => union_conversion(ident, fields, krate),
    };
    // Only trait impls, anonymous consts and (for bit fields and flexible
    // arrays, which need them) accessors named after those fields: an
    // inherent item of ours would otherwise collide with the user's own (a
    // `LAYOUT` of theirs), and every fact is reachable as
    // `<T as KhoEntry>::..` or `<T as AbiField>::..`.
    let this = quote!(<#ident as #krate::AbiField>);
    let entry_impl = entry.attrs.compatible.as_ref().map(|compat| {
        quote! {
            impl #krate::KhoEntry for #ident {
                const COMPATIBLE: &'static str = #compat;
                const LAYOUT: &'static #krate::layout::StructLayout =
                    match #krate::struct_layout::<#ident>() {
                        ::core::option::Option::Some(layout) => layout,
                        ::core::option::Option::None => ::core::unreachable!(),
                    };
            }
        }
    });
    // The 4080-byte limit is a block-set entry's; a struct that is only a
    // field type (or a page of its own, as kho_vmalloc_chunk) may be larger.
    let entry_limit = entry.attrs.compatible.as_ref().map(|_| {
        quote! {
            ::core::assert!(
                #this::FIELD_SIZE <= 4080,
                "KhoEntry: an entry must fit one 4096-byte block after the 16-byte header (at most 4080 bytes)",
            );
        }
    });
    // A struct whose fields are all plain and leave no padding is plain:
    // its bytes are what `write_to` writes (each field's own bytes at its
    // offset) and any bytes make a value. A union never is. Safe code: a
    // crate that forbids `unsafe` still derives (see `Plain`'s docs for
    // why the promise may be made here).
    let plain = match entry.shape {
        Shape::Struct => quote! {
            const PLAIN: #krate::Plain = #krate::Plain::__of_derived_fields(
                ::core::mem::size_of::<#ident>(),
                &[#((#abi::FIELD_SIZE, #abi::PLAIN)),*],
            );
        },
        Shape::Union => quote!(),
    };
    let field_checks = field_checks(entry, fields, krate);
    let placement = placement_check(entry, fields, krate);
    let accessors = accessors(ident, fields, krate);
    quote! {
        impl #krate::AbiField for #ident {
            // C's sizeof: padding and trailing padding included, a flexible
            // array excluded.
            const FIELD_SIZE: usize = ::core::mem::size_of::<#ident>();
            // Written out, not read from `TYPE`: a `PhysPtr<Self>` in a
            // struct that `Self` holds must not evaluate `Self`'s layout.
            const TYPE_NAME: &'static str = #abi_name;
            // The layout lives here, in the one place every derived struct
            // has (an entry's `KhoEntry::LAYOUT` points at it): each field's
            // name, offset, size, type and bits. Offsets, size and alignment
            // are the compiler's; `place` checks them against C's rules.
            const TYPE: #krate::layout::Ty<'static> =
                #krate::layout::Ty::Struct(#krate::layout::StructRef::Ref(&#krate::layout::Struct {
                    name: #krate::layout::Str::Ref(#abi_name),
                    size: ::core::mem::size_of::<#ident>(),
                    align: ::core::mem::align_of::<#ident>(),
                    packed: #packed,
                    kind: #kind,
                    fields: #krate::layout::List::Ref(&[#(#layout_fields),*]),
                }));

            #plain

            #write_to

            #read_from
        }

        const _: () = {
            ::core::assert!(#this::FIELD_SIZE > 0, "KhoEntry: an entry must not be empty");
            #entry_limit
        };

        #field_checks

        #placement

        #accessors

        #entry_impl
    }
}

/// The layout's fields for one Rust field: itself, or each bit field its
/// storage holds, or a flexible array (size 0, `T[]`).
fn layout_fields(ident: &syn::Ident, f: &Field, krate: &syn::Path) -> Vec<TokenStream> {
    let name = f.ident;
    let ty = f.ty;
    let field = |s: &str, size: TokenStream, ty: TokenStream, bits: TokenStream| {
        quote! {
            #krate::layout::Field {
                name: #krate::layout::Str::Ref(#s),
                offset: ::core::mem::offset_of!(#ident, #name),
                size: #size,
                ty: #ty,
                bits: #bits,
            }
        }
    };
    let none = quote!(::core::option::Option::None);
    if let Some(b) = &f.attrs.bits {
        let mut first: u32 = 0;
        return b
            .fields
            .iter()
            .map(|d| {
                let width = d.width().unwrap_or(0);
                let (first16, width16) = (first as u16, width as u16);
                first += width;
                field(
                    &unraw(&d.ident),
                    quote!(<#ty as #krate::AbiField>::FIELD_SIZE),
                    quote!(<#ty as #krate::AbiField>::TYPE),
                    quote! {
                        ::core::option::Option::Some(#krate::layout::Bits {
                            first: #first16,
                            width: #width16,
                        })
                    },
                )
            })
            .collect();
    }
    if let (Some(_), Some(elem)) = (f.attrs.flex, f.flex_elem()) {
        let elem = quote_spanned!(elem.span()=> <#elem as #krate::AbiField>);
        return vec![field(
            &unraw(name),
            quote!(0),
            quote!(#krate::layout::Ty::Flex(#krate::layout::Node::Ref(&#elem::TYPE))),
            none,
        )];
    }
    vec![field(
        &unraw(name),
        quote!(<#ty as #krate::AbiField>::FIELD_SIZE),
        quote!(<#ty as #krate::AbiField>::TYPE),
        none,
    )]
}

/// A union's conversion: read from and write the first member. The
/// member checks (`field_checks`) make the one `unsafe` read sound.
fn union_conversion(
    ident: &syn::Ident,
    fields: &[Field],
    krate: &syn::Path,
) -> (TokenStream, TokenStream) {
    let Some(first) = fields.first() else {
        return (TokenStream::new(), TokenStream::new());
    };
    let (name, ty) = (first.ident, first.ty);
    (
        quote! {
            #[inline]
            #[allow(unsafe_code)]
            fn write_to(&self, out: &mut [u8]) {
                // SAFETY: every member is a `UnionMember` (sealed: an
                // integer, PhysAddr, PhysPtr, CharArray or an array of them,
                // with no padding, any bytes a valid value) of the first
                // member's size, both proven at compile time below; so
                // whichever member was written initialised every byte the
                // first one covers, and those bytes are a valid value of it.
                let first: #ty = unsafe { self.#name };
                out[..::core::mem::size_of::<#ident>()].fill(0);
                <#ty as #krate::AbiField>::write_to(&first, out);
            }
        },
        quote! {
            #[inline]
            fn read_from(bytes: &[u8]) -> Self {
                #ident { #name: <#ty as #krate::AbiField>::read_from(bytes) }
            }
        },
    )
}

/// The proof that the compiler's layout is C's: every field's offset, size
/// and bits, and the struct's size and alignment, are what
/// `kho_layout::place` (the rules the schema compiler uses) gives for the
/// same members, evaluated by the compiler from the members' real sizes
/// and alignments. A difference is reported at the field (or bit field)
/// where it is, or at the struct for its size or alignment.
fn placement_check(entry: &Entry, fields: &[Field], krate: &syn::Path) -> TokenStream {
    let ident = entry.ident;
    let place = quote!(#krate::layout::place);
    let cmp = quote!(#krate::layout::compare);
    let mut members = Vec::new();
    let mut spans = Vec::new();
    for f in fields {
        let ty = f.ty;
        if let Some(b) = &f.attrs.bits {
            for d in &b.fields {
                let width = d.width().unwrap_or(0) as u16;
                members.push(quote! {
                    #place::Member::bit_field(::core::mem::size_of::<#ty>(), #width)
                });
                spans.push(d.ident.span());
            }
        } else if let (Some(_), Some(elem)) = (f.attrs.flex, f.flex_elem()) {
            members.push(quote! {
                #place::Member::flex(::core::mem::size_of::<#elem>(), ::core::mem::align_of::<#elem>())
            });
            spans.push(f.ident.span());
        } else {
            members.push(quote! {
                #place::Member::plain(::core::mem::size_of::<#ty>(), ::core::mem::align_of::<#ty>())
            });
            spans.push(f.ident.span());
        }
    }
    let n = members.len();
    // Bit fields that overflow their storage are reported once, by
    // `field_checks`; C would place them elsewhere too, which is not a
    // second mistake.
    let fit = fields.iter().filter_map(|f| {
        let ty = f.ty;
        f.attrs.bits.as_ref().map(|b| {
            let widths = b.fields.iter().map(|d| d.width().unwrap_or(0) as usize);
            quote!((0 #(+ #widths)* <= ::core::mem::size_of::<#ty>() * 8))
        })
    });
    let kind = match entry.shape {
        Shape::Struct => quote!(#krate::layout::Kind::Struct),
        Shape::Union => quote!(#krate::layout::Kind::Union),
    };
    let packed = entry.repr.packed;
    let align_attr = match &entry.repr.align {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let per_field = spans.iter().enumerate().map(|(i, span)| {
        quote_spanned! {*span=>
            if let ::core::option::Option::Some(#i) = MISPLACED {
                ::core::panic!("{}", #cmp::explain_misplaced(LAYOUT, &PLACED.0, #i).as_str());
            }
        }
    });
    let at_struct = ident.span();
    let size_panic = quote_spanned! {at_struct=>
        if PLACED.1 != LAYOUT.size || PLACED.2 != LAYOUT.align {
            ::core::panic!("{}", #cmp::explain_size(LAYOUT, PLACED.1, PLACED.2).as_str());
        }
    };
    let error_panic = quote_spanned! {at_struct=>
        ::core::panic!("{}", #cmp::explain_place_error(LAYOUT, e).as_str())
    };
    quote! {
        const _: () = {
            const LAYOUT: &#krate::layout::StructLayout = match #krate::struct_layout::<#ident>() {
                ::core::option::Option::Some(layout) => layout,
                ::core::option::Option::None => ::core::unreachable!(),
            };
            const MEMBERS: &[#place::Member] = &[#(#members),*];
            const BITS_FIT: bool = true #(&& #fit)*;
            const PLACED: ([#cmp::Placement; #n], usize, usize) = {
                let mut out: [#cmp::Placement; #n] = [(0, 0, ::core::option::Option::None); #n];
                if !BITS_FIT {
                    (out, LAYOUT.size, LAYOUT.align)
                } else {
                    match #place::place_into(#kind, #packed, #align_attr, MEMBERS, &mut out) {
                        ::core::result::Result::Ok((size, align)) => (out, size, align),
                        ::core::result::Result::Err(e) => #error_panic,
                    }
                }
            };
            const MISPLACED: ::core::option::Option<usize> = if BITS_FIT {
                #cmp::first_misplaced(LAYOUT, &PLACED.0)
            } else {
                ::core::option::Option::None
            };
            #(#per_field)*
            #size_panic
        };
    }
}

/// Compile-time proofs of what the macro cannot see: a union member's kind
/// and size, bit-field storage's type and width, a count field's type.
fn field_checks(entry: &Entry, fields: &[Field], krate: &syn::Path) -> TokenStream {
    let mut out = TokenStream::new();
    if entry.shape == Shape::Union {
        let Some(first) = fields.first() else {
            return out;
        };
        let (first_name, first_ty) = (unraw(first.ident), first.ty);
        for f in fields {
            let ty = f.ty;
            let name = unraw(f.ident);
            let msg = format!(
                "KhoEntry: union member `{name}` is not the size of `{first_name}`: every member \
                 of a KHO union has one size, so that whichever was written, all bytes are set"
            );
            out.extend(quote_spanned! {ty.span()=>
                const _: () = {
                    fn member<T: #krate::UnionMember>() {}
                    let _: fn() = member::<#ty>;
                    ::core::assert!(
                        ::core::mem::size_of::<#ty>() == ::core::mem::size_of::<#first_ty>(),
                        #msg,
                    );
                };
            });
        }
        return out;
    }
    for f in fields {
        let ty = f.ty;
        if let Some(b) = &f.attrs.bits {
            let widths = b.fields.iter().map(|d| d.width().unwrap_or(0));
            let msg = format!(
                "KhoEntry: the bit fields of `{}` take more bits than its storage type has",
                unraw(f.ident)
            );
            let at = b.span;
            out.extend(quote_spanned! {ty.span()=>
                const _: u32 = <#ty as #krate::BitStorage>::BITS;
            });
            out.extend(quote_spanned! {at=>
                const _: () = ::core::assert!(
                    0 #(+ #widths)* <= <#ty as #krate::BitStorage>::BITS,
                    #msg,
                );
            });
        }
        if let Some(count) = &f.attrs.count {
            if let Some(g) = fields.iter().find(|g| unraw(g.ident) == unraw(count)) {
                let cty = g.ty;
                out.extend(quote_spanned! {cty.span()=>
                    const _: fn(#cty) -> u64 = <#cty as #krate::FlexCount>::count;
                });
            }
        }
    }
    out
}

/// Getters and checked setters of bit fields; views of flexible arrays.
/// Each has the visibility of the field it reads.
fn accessors(ident: &syn::Ident, fields: &[Field], krate: &syn::Path) -> TokenStream {
    let mut items = TokenStream::new();
    for f in fields {
        let (vis, ty, storage) = (f.vis, f.ty, f.ident);
        if let Some(b) = &f.attrs.bits {
            let mut first: u32 = 0;
            for d in &b.fields {
                let width = d.width().unwrap_or(0);
                let get = &d.ident;
                let name = unraw(get);
                let set = syn::Ident::new(&format!("set_{name}"), get.span());
                let end = first + width;
                let get_doc = format!(
                    "Bit field `{name}`: bits {first}..{end} of `{}`.",
                    unraw(storage)
                );
                let set_doc = format!(
                    "Sets bit field `{name}` (bits {first}..{end} of `{}`); a value wider than \
                     {width} bits is refused and leaves it unchanged.",
                    unraw(storage)
                );
                // Every use of the trait is `<T as BitStorage>` spanned at
                // the storage type, as the const check's: a type that is
                // not one gives one error there, not one per accessor.
                let bs = quote_spanned!(ty.span()=> <#ty as #krate::BitStorage>);
                items.extend(quote! {
                    #[doc = #get_doc]
                    #[inline]
                    #vis fn #get(&self) -> #ty {
                        #bs::get_bits({ self.#storage }, #first, #width)
                    }
                    #[doc = #set_doc]
                    #[inline]
                    #vis fn #set(&mut self, value: #ty) -> ::core::result::Result<(), #krate::BitsOverflow> {
                        match #bs::with_bits({ self.#storage }, #first, #width, value) {
                            ::core::option::Option::Some(word) => {
                                self.#storage = word;
                                ::core::result::Result::Ok(())
                            }
                            ::core::option::Option::None => ::core::result::Result::Err(#krate::BitsOverflow {
                                field: #name,
                                width: #width,
                                value: #bs::widen(value),
                            }),
                        }
                    }
                });
                first = end;
            }
        }
        if let (Some(_), Some(elem)) = (f.attrs.flex, f.flex_elem()) {
            let name = unraw(storage);
            let get = storage;
            let get_mut = syn::Ident::new(&format!("{name}_mut"), storage.span());
            // The count: the named field's value, or the caller's.
            let (count_param, count, whose) = match &f.attrs.count {
                Some(count) => (
                    quote!(),
                    // `FlexCount` (proven above) is u8..u64: the cast widens,
                    // it never truncates.
                    quote!({ self.#count } as u64),
                    format!("The `{}`", unraw(count)),
                ),
                None => (
                    quote!(count: u64,),
                    quote!(count),
                    "The `count`".to_string(),
                ),
            };
            let doc = format!(
                "{whose} elements of flexible array `{name}`, inside `bytes`: this struct's \
                 bytes followed by the elements. An error, not a panic, when they run past it."
            );
            let doc_mut = format!("As [`Self::{name}`], to write the elements in place.");
            items.extend(quote! {
                #[doc = #doc]
                #vis fn #get<'b>(
                    &self,
                    bytes: &'b [u8],
                    #count_param
                ) -> ::core::result::Result<#krate::FlexArray<'b, #elem>, #krate::FlexOutOfBounds> {
                    #krate::FlexArray::new(#name, bytes, ::core::mem::offset_of!(#ident, #get), #count)
                }
                #[doc = #doc_mut]
                #vis fn #get_mut<'b>(
                    &self,
                    bytes: &'b mut [u8],
                    #count_param
                ) -> ::core::result::Result<#krate::FlexArrayMut<'b, #elem>, #krate::FlexOutOfBounds> {
                    #krate::FlexArrayMut::new(#name, bytes, ::core::mem::offset_of!(#ident, #get), #count)
                }
            });
        }
    }
    if items.is_empty() {
        return items;
    }
    quote! {
        impl #ident {
            #items
        }
    }
}

/// Impls that keep the rest of the crate compiling while the errors are
/// fixed; never run, since the crate does not build.
fn fallback(entry: &Entry, krate: &syn::Path) -> TokenStream {
    if !entry.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = entry.ident;
    let abi_name = &entry.abi_name;
    let entry_impl = entry.attrs.compatible.as_ref().map(|compat| {
        quote! {
            impl #krate::KhoEntry for #ident {
                const COMPATIBLE: &'static str = #compat;
                const LAYOUT: &'static #krate::layout::StructLayout =
                    &#krate::layout::Struct::packed(#abi_name, 0, &[]);
                const FINGERPRINT: u64 = 0;
            }
        }
    });
    quote! {
        impl #krate::AbiField for #ident {
            const FIELD_SIZE: usize = 0;
            const TYPE_NAME: &'static str = #abi_name;
            const TYPE: #krate::layout::Ty<'static> =
                #krate::layout::Ty::Struct(#krate::layout::StructRef::Named(#krate::layout::Str::Ref(#abi_name)));
            fn write_to(&self, _: &mut [u8]) {
                ::core::unreachable!()
            }
            fn read_from(_: &[u8]) -> Self {
                ::core::unreachable!()
            }
        }
        #entry_impl
    }
}
