//! Emits the impls, the layout constants and the compile-time proofs.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Entry;
use crate::ctxt::Ctxt;
use crate::valid;

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
    // The ABI name of `r#type` is `type`: raw identifiers are how Rust
    // spells a field a keyword names.
    let name_strs: Vec<_> = names
        .iter()
        .map(|n| syn::ext::IdentExt::unraw(*n).to_string())
        .collect();
    let tys: Vec<_> = fields.iter().map(|f| f.ty).collect();

    // Every use of a field type goes through `<T as AbiField>` spanned at
    // the type, so a type that is not an ABI type (an alias, a type from
    // another crate) is reported once, at the field.
    let abi: Vec<_> = tys
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #krate::AbiField>))
        .collect();
    let sizes = abi.iter().map(|abi| quote!(#abi::FIELD_SIZE));
    let layout_fields = names
        .iter()
        .zip(&name_strs)
        .zip(&tys)
        .map(|((name, s), ty)| {
            quote! {
                #krate::layout::Field {
                    name: #krate::layout::Str::Ref(#s),
                    offset: ::core::mem::offset_of!(#ident, #name),
                    size: <#ty as #krate::AbiField>::FIELD_SIZE,
                    ty: <#ty as #krate::AbiField>::TYPE,
                    bits: ::core::option::Option::None,
                }
            }
        });
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
    // Only trait impls and anonymous consts: an inherent item would collide
    // with the user's own (a `LAYOUT` of theirs), and every fact is reachable
    // as `<T as KhoEntry>::..` or `<T as AbiField>::..`.
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
    quote! {
        impl #krate::AbiField for #ident {
            const FIELD_SIZE: usize = 0 #(+ #sizes)*;
            // The layout lives here, in the one place every derived struct
            // has (an entry's `KhoEntry::LAYOUT` points at it): each field's
            // name, offset, size and type.
            const TYPE: #krate::layout::Ty<'static> =
                #krate::layout::Ty::Struct(#krate::layout::StructRef::Ref(&#krate::layout::Struct {
                    name: #krate::layout::Str::Ref(#abi_name),
                    size: #this::FIELD_SIZE,
                    align: 1,
                    packed: true,
                    kind: #krate::layout::Kind::Struct,
                    fields: #krate::layout::List::Ref(&[#(#layout_fields),*]),
                }));

            #[inline]
            fn write_to(&self, out: &mut [u8]) {
                #(#writes)*
            }

            #[inline]
            fn read_from(bytes: &[u8]) -> Self {
                #ident { #(#reads),* }
            }
        }

        const _: () = {
            ::core::assert!(
                ::core::mem::size_of::<#ident>() == #this::FIELD_SIZE,
                "KhoEntry: the struct has padding; it needs #[repr(C, packed)]",
            );
            ::core::assert!(#this::FIELD_SIZE > 0, "KhoEntry: an entry must not be empty");
            ::core::assert!(
                #this::FIELD_SIZE <= 4080,
                "KhoEntry: an entry must fit one 4096-byte block after the 16-byte header (at most 4080 bytes)",
            );
        };

        #entry_impl
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
