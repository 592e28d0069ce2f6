//! `#[kho(same_layout_as = Other)]`: the same ABI declared twice, by hand
//! here and (usually) generated from a schema there, checked to be one.
//!
//! The derive sees tokens, not types, so it reads nothing about `Other`:
//! it emits one `const` that the compiler evaluates with kho-layout's
//! `const fn`s on the two layouts (`<T as AbiField>::TYPE`). The first
//! difference is reported once, by a `panic!` spanned where it is: the
//! field's name (a renamed or extra field), the field's type (offset, size,
//! type), the struct's name, the `compatible` string, or the attribute's
//! path (a field `Other` has and this struct lacks).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Entry;

pub fn checks(entry: &Entry, krate: &syn::Path) -> TokenStream {
    let (Some(other), Some(fields)) = (&entry.attrs.same_layout_as, &entry.fields) else {
        return TokenStream::new();
    };
    let ident = entry.ident;
    let cmp = quote!(#krate::layout::compare);
    // `kho::abi::luo::LuoFileSer`, as written (generic arguments dropped:
    // an ABI type has none).
    let other_name = other
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    let other_name = if other.leading_colon.is_some() {
        format!("::{other_name}")
    } else {
        other_name
    };
    // The type's own name, the last segment: a span cannot cover the whole
    // path on stable, and its first segment (`kho`) says less.
    let at_path = other
        .segments
        .last()
        .map_or_else(|| other.span(), |s| s.ident.span());
    let explain = |span: proc_macro2::Span| {
        quote_spanned! {span=>
            ::core::panic!("{}", #cmp::explain(OURS, THEIRS, #other_name, DIFF).as_str())
        }
    };
    // The layout's fields, with where to report each: a Rust field is one
    // layout field, or one per bit field its storage holds (reported at
    // the bit field's name, and at its width for a difference in bits).
    let mut spans = Vec::new();
    for f in fields {
        match &f.attrs.bits {
            Some(b) => spans.extend(
                b.fields
                    .iter()
                    .map(|d| (d.ident.span(), f.ty.span(), d.width.span())),
            ),
            None => spans.push((f.ident.span(), f.ty.span(), f.ty.span())),
        }
    }
    let per_field = spans.iter().enumerate().map(|(i, &(name, ty, bits))| {
        let at_name = explain(name);
        let at_type = explain(ty);
        let at_bits = explain(bits);
        quote! {
            if DIFF.is_at_field(#i) {
                match DIFF {
                    #cmp::Difference::FieldName(_) | #cmp::Difference::Extra(_) => #at_name,
                    #cmp::Difference::FieldBits(_) => #at_bits,
                    _ => #at_type,
                }
            }
        }
    });
    let at_struct_name = explain(ident.span());
    let at_attr = explain(at_path);
    let not_a_struct =
        format!("same_layout_as: `{other_name}` is not a struct (name a #[derive(KhoEntry)] type)");
    let theirs = quote_spanned! {at_path=>
        match #krate::struct_layout::<#other>() {
            ::core::option::Option::Some(layout) => layout,
            ::core::option::Option::None => ::core::panic!(#not_a_struct),
        }
    };
    let compatible = entry.attrs.compatible.as_ref().map(|lit| {
        let theirs = quote_spanned!(at_path=> <#other as #krate::KhoEntry>::COMPATIBLE);
        quote_spanned! {lit.span()=>
            let theirs: &str = #theirs;
            if !#cmp::str_eq(<#ident as #krate::KhoEntry>::COMPATIBLE, theirs) {
                ::core::panic!(
                    "{}",
                    #cmp::explain_compatible(
                        <#ident as #krate::KhoEntry>::COMPATIBLE,
                        theirs,
                        #other_name,
                    )
                    .as_str()
                )
            }
        }
    });
    quote! {
        const _: () = {
            const OURS: &#krate::layout::StructLayout = match #krate::struct_layout::<#ident>() {
                ::core::option::Option::Some(layout) => layout,
                ::core::option::Option::None => ::core::unreachable!(),
            };
            const THEIRS: &#krate::layout::StructLayout = #theirs;
            const DIFF: #cmp::Difference = #cmp::first_difference(OURS, THEIRS);
            #(#per_field)*
            match DIFF {
                #cmp::Difference::StructName
                | #cmp::Difference::StructKind
                | #cmp::Difference::StructAlign => #at_struct_name,
                #cmp::Difference::Missing(_) | #cmp::Difference::StructSize => #at_attr,
                _ => {}
            }
            #compatible
        };
    }
}
