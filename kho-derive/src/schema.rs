//! `#[kho(schema = "...", entry = "...")]`: the same ABI declared twice, by
//! hand in Rust and in a schema, checked to be one layout.
//!
//! Names and field order are compared here, at expansion, so the error can
//! point at the first field that differs. Offsets, sizes and types need the
//! compiler: the expansion asserts each one against the schema, and the
//! whole layout's fingerprint, in `const`s spanned at the field.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Entry;
use crate::ctxt::Ctxt;

/// The schema file: relative to the crate's manifest directory, or, failing
/// that, to the nearest ancestor that has it (a workspace's `schemas/`).
fn find(rel: &str) -> Option<PathBuf> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from)?;
    manifest
        .ancestors()
        .map(|dir| dir.join(rel))
        .find(|p| p.is_file())
}

pub fn cross_check(cx: &mut Ctxt, entry: &Entry, krate: &syn::Path) -> TokenStream {
    let (Some(schema), Some(name), Some(fields)) =
        (&entry.attrs.schema, &entry.attrs.entry, &entry.fields)
    else {
        return TokenStream::new();
    };
    let rel = schema.value();
    let Some(path) = find(&rel) else {
        cx.error(
            schema,
            format!("schema file {rel:?} not found in this crate's directory or any parent"),
        );
        return TokenStream::new();
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let abis = match kho_schema::read_dir(dir).and_then(|srcs| kho_schema::compile(&srcs)) {
        Ok(abis) => abis,
        Err(diags) => {
            cx.error(schema, format!("schema {rel} does not compile:\n{diags}"));
            return TokenStream::new();
        }
    };
    let Some(abi) = abis.iter().find(|a| Path::new(&a.file) == path) else {
        cx.error(schema, format!("{rel} declares no ABI"));
        return TokenStream::new();
    };
    let Some((s, note)) = abi.find(&name.value()) else {
        let have: Vec<_> = abi.structs().iter().map(|s| s.name.as_str()).collect();
        cx.error(
            name,
            format!(
                "{rel} has no struct `{}` (it has: {})",
                name.value(),
                have.join(", ")
            ),
        );
        return TokenStream::new();
    };
    let ident = entry.ident;
    let where_ = format!("{rel} struct {}", s.name);
    if entry.abi_name != s.name.as_str() {
        cx.error(
            ident,
            format!(
                "this struct's ABI name is `{}`, but {where_} is named `{}`: rename it or add #[kho(name = \"{}\")]",
                entry.abi_name, s.name, s.name
            ),
        );
    }
    for i in 0..fields.len().max(s.fields.len()) {
        match (fields.get(i), s.fields.get(i)) {
            (Some(r), Some(f)) if syn::ext::IdentExt::unraw(r.ident) != f.name.as_str() => {
                cx.error(
                    r.ident,
                    format!(
                        "field `{}` differs from {where_}: the schema has `{}` here ({} at offset {})",
                        r.ident,
                        f.name,
                        f.ty,
                        f.offset
                    ),
                );
                return TokenStream::new();
            }
            (Some(r), None) => {
                cx.error(
                    r.ident,
                    format!(
                        "field `{}` is not in {where_}, which ends before it",
                        r.ident
                    ),
                );
                return TokenStream::new();
            }
            (None, Some(f)) => {
                cx.error_at(
                    entry.body_span,
                    format!(
                        "missing field `{}` ({} at offset {}) that {where_} has",
                        f.name, f.ty, f.offset
                    ),
                );
                return TokenStream::new();
            }
            _ => {}
        }
    }
    let checks = fields.iter().zip(s.fields.iter()).map(|(r, f)| {
        let l = f;
        let fname = r.ident;
        let ty = r.ty;
        let (offset, size) = (f.offset, f.size);
        let ty_fp = kho_layout::type_fingerprint(&l.ty);
        let at = format!("field `{fname}` differs from {where_}");
        let m_off = format!("{at}: the schema puts it at offset {offset}");
        let m_size = format!("{at}: the schema makes it {size} bytes");
        let m_ty = format!("{at}: the schema's type is {}", l.ty);
        quote_spanned! {ty.span()=>
            const _: () = {
                ::core::assert!(::core::mem::offset_of!(#ident, #fname) == #offset, #m_off);
                ::core::assert!(<#ty as #krate::AbiField>::SIZE == #size, #m_size);
                ::core::assert!({
                    const TY: &#krate::layout::Ty<'static> = &<#ty as #krate::AbiField>::TYPE;
                    #krate::layout::type_fingerprint(TY)
                } == #ty_fp, #m_ty);
            };
        }
    });
    let fp = note.fingerprint;
    let m_fp = format!("the layout fingerprint of `{ident}` differs from {where_}");
    let path_str = path.display().to_string();
    quote! {
        // Rebuild when the schema changes.
        const _: &[u8] = ::core::include_bytes!(#path_str);
        #(#checks)*
        const _: () = ::core::assert!(#ident::FINGERPRINT == #fp, #m_fp);
    }
}
