//! Rust modules: one per ABI, a `#[derive(KhoEntry)]` struct per schema
//! struct, the constants, and the compatible string. Formatted with
//! prettyplease, so the output is stable and readable in review.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use kho_layout::{Len, Prim, Struct, Ty};

use crate::layout::{Abi, Note};
use crate::parse::ConstValue;

/// The module name of an ABI: `kho-block` -> `kho_block`.
pub(crate) fn module_name(abi: &str) -> String {
    abi.replace('-', "_")
}

/// The Rust type name of a C struct name: `luo_file_ser` -> `LuoFileSer`.
pub(crate) fn type_name(c_name: &str) -> String {
    crate::layout::rust_type_name(c_name)
}

/// The Rust identifier of a field: the name itself, or a raw identifier
/// (`r#type`) for a Rust keyword. Validation refuses the keywords that
/// cannot be raw (`self`, `super`, `crate`).
pub(crate) fn field_ident(name: &str) -> Ident {
    if crate::validate::RUST_KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// Doc text as `#[doc]` lines, each with rustdoc's leading space.
fn doc_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.trim().lines().map(|l| {
        if l.trim().is_empty() {
            String::new()
        } else {
            format!(" {}", l.trim_end())
        }
    })
}

fn docs(text: &str) -> TokenStream {
    let lines = doc_lines(text);
    quote!(#(#[doc = #lines])*)
}

fn inner_docs(text: &str) -> TokenStream {
    let lines = doc_lines(text);
    quote!(#(#![doc = #lines])*)
}

fn len_tokens(len: &Len) -> TokenStream {
    match &len.constant {
        Some(c) => {
            let c = Ident::new(c, Span::call_site());
            quote!({ #c as usize })
        }
        None => {
            let n = proc_macro2::Literal::usize_unsuffixed(len.value);
            quote!(#n)
        }
    }
}

fn ty_tokens(ty: &Ty, abi: &Abi) -> TokenStream {
    match ty {
        // The schema compiler does not build these yet.
        Ty::Ptr(_) | Ty::Flex(_) => quote!(::core::compile_error!("not supported yet")),
        Ty::Prim(Prim::PhysAddr) => quote!(::kho::PhysAddr),
        Ty::Prim(p) => {
            let id = Ident::new(p.name(), Span::call_site());
            quote!(#id)
        }
        Ty::Array(_, len) if ty.is_char_array() => {
            let n = len_tokens(len);
            quote!(::kho::CharArray<#n>)
        }
        Ty::Array(elem, len) => {
            let e = ty_tokens(elem.get(), abi);
            let n = len_tokens(len);
            quote!([#e; #n])
        }
        Ty::Struct(r) => {
            let t = format_ident!("{}", type_name(r.name()));
            match abi.nested(ty) {
                Some((_, note)) if note.abi != abi.name => {
                    let m = format_ident!("{}", module_name(&note.abi));
                    quote!(super::#m::#t)
                }
                _ => quote!(#t),
            }
        }
    }
}

fn struct_tokens(abi: &Abi, s: &Struct, note: &Note) -> TokenStream {
    let doc = docs(&note.doc);
    let name = format_ident!("{}", type_name(&s.name));
    let c_name = s.name.as_str();
    let compatible = &abi.compatible;
    let kho_attr = if note.entry {
        quote!(#[kho(name = #c_name, compatible = #compatible)])
    } else {
        quote!(#[kho(name = #c_name)])
    };
    let fields = s.fields.iter().zip(&note.field_docs).map(|(f, doc)| {
        let doc = docs(doc);
        let id = field_ident(&f.name);
        let ty = ty_tokens(&f.ty, abi);
        quote! { #doc pub #id: #ty, }
    });
    let size_note = format!(
        " {} bytes; offsets and sizes are checked at compile time.",
        s.size
    );
    let fp = syn::LitInt::new(&format!("{:#018x}", note.fingerprint), Span::call_site());
    let fp_msg = format!("the derive and the schema compiler disagree on the layout of {c_name}");
    quote! {
        #doc
        #[doc = ""]
        #[doc = #size_note]
        #[derive(::kho::KhoEntry, Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(C, packed)]
        #kho_attr
        pub struct #name {
            #(#fields)*
        }
        // The derive computes the layout from the Rust types; the schema
        // compiler computed it from the schema. They must agree.
        const _: () = {
            let fingerprint = ::kho::fingerprint_of::<#name>();
            ::core::assert!(fingerprint == #fp, #fp_msg);
        };
    }
}

/// One blank line between top-level items, as rustfmt leaves them
/// (prettyplease packs them).
fn space_items(text: &str) -> String {
    let mut out = String::new();
    let mut prev = "";
    for line in text.lines() {
        let starts_item = !line.starts_with(' ') && !line.starts_with("//!") && !line.is_empty();
        let prev_ends_item = !prev.starts_with(' ') && (prev.ends_with('}') || prev.ends_with(';'))
            || prev.starts_with("//!");
        if starts_item && prev_ends_item {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        prev = line;
    }
    out
}

/// The Rust module file for `abi` (its doc as the file's inner doc).
pub fn module(abi: &Abi, _all: &[Abi]) -> String {
    let module_doc = inner_docs(&abi.doc);
    let body = body_tokens(abi);
    render(
        &format!("// {}", super::banner(abi)),
        quote! { #module_doc #body },
    )
}

/// Every ABI as an inline `pub mod` in one file, for a build script's
/// `OUT_DIR` and `include!` (which does not take a file's inner docs).
pub fn bundle(abis: &[Abi]) -> String {
    let mods = abis.iter().map(|abi| {
        let doc = docs(&abi.doc);
        let name = format_ident!("{}", module_name(&abi.name));
        let body = body_tokens(abi);
        quote! { #doc pub mod #name { #body } }
    });
    let files: Vec<_> = abis.iter().map(|a| super::file_name(&a.file)).collect();
    let banner = format!(
        "// Generated by kho_schema::Config from {}: do not edit.",
        files.join(", ")
    );
    render(&banner, quote! { #(#mods)* })
}

fn render(banner: &str, tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens) {
        Ok(file) => format!("{banner}\n\n{}", space_items(&prettyplease::unparse(&file))),
        Err(e) => format!("{banner}\ncompile_error!({:?});\n", e.to_string()),
    }
}

fn body_tokens(abi: &Abi) -> TokenStream {
    let compatible = &abi.compatible;
    let fingerprint = syn::LitInt::new(&format!("{:#018x}", abi.fingerprint()), Span::call_site());
    let fp_doc = format!(
        " Fingerprint of the whole ABI ({:#018x}), as recorded in `schemas/abi.lock`.",
        abi.fingerprint()
    );
    let consts = abi.constants.iter().map(|c| {
        let doc = docs(&c.doc);
        let id = format_ident!("{}", c.name);
        match &c.value {
            ConstValue::Int(n) => {
                let n = if *n > 0xffff {
                    syn::LitInt::new(&format!("{n:#x}"), Span::call_site())
                } else {
                    syn::LitInt::new(&n.to_string(), Span::call_site())
                };
                quote! { #doc pub const #id: u64 = #n; }
            }
            ConstValue::Str(s) => quote! { #doc pub const #id: &str = #s; },
            ConstValue::C(expr) => {
                let note = format!(
                    " In C: `#define {} {expr}` (a kernel expression, C only).",
                    c.name
                );
                let id = format_ident!("{}_C", c.name);
                quote! { #doc #[doc = ""] #[doc = #note] pub const #id: &str = #expr; }
            }
        }
    });
    let structs = abi.items().map(|(s, note)| struct_tokens(abi, s, note));
    quote! {
        /// The compatible string: only an exact match is restored.
        pub const COMPATIBLE: &str = #compatible;
        #[doc = #fp_doc]
        pub const FINGERPRINT: u64 = #fingerprint;
        #(#consts)*
        #(#structs)*
    }
}

#[cfg(test)]
mod tests {
    use super::type_name;

    #[test]
    fn type_names_mirror_c_names() {
        assert_eq!(type_name("luo_file_ser"), "LuoFileSer");
        assert_eq!(type_name("kho_block_header_ser"), "KhoBlockHeaderSer");
        assert_eq!(type_name("a_1b"), "A1b");
    }
}
