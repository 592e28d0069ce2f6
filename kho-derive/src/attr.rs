//! The attributes the derive reads: `#[kho(...)]` and `#[repr(...)]`.

use proc_macro2::Span;

use crate::ctxt::Ctxt;

/// `#[kho(...)]` on the struct.
#[derive(Default)]
pub struct KhoAttrs {
    /// `compatible = "name-vN"`, with the literal for spans.
    pub compatible: Option<syn::LitStr>,
    /// `crate = "path"`: where `kho` is (a renamed dependency, or `crate`).
    pub krate: Option<syn::Path>,
    /// `same_layout_as = path::To::Type`: another ABI type (a generated
    /// one, usually) this struct must match field for field.
    pub same_layout_as: Option<syn::Path>,
    /// `name = "c_name"`: the ABI name when it is not the snake_case of the
    /// Rust name (generated code always says it).
    pub name: Option<syn::LitStr>,
}

pub fn kho_attrs(cx: &mut Ctxt, attrs: &[syn::Attribute]) -> KhoAttrs {
    let mut out = KhoAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("kho")) {
        let res = attr.parse_nested_meta(|meta| {
            let slot = if meta.path.is_ident("compatible") {
                &mut out.compatible
            } else if meta.path.is_ident("name") {
                &mut out.name
            } else if meta.path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                if out.krate.is_some() {
                    cx.error(&lit, "duplicate `crate` in #[kho(...)]");
                }
                out.krate = Some(lit.parse()?);
                return Ok(());
            } else if meta.path.is_ident("same_layout_as") {
                let path: syn::Path = meta.value()?.parse()?;
                if out.same_layout_as.is_some() {
                    cx.error(&path, "duplicate `same_layout_as` in #[kho(...)]");
                }
                out.same_layout_as = Some(path);
                return Ok(());
            } else if meta.path.is_ident("schema") || meta.path.is_ident("entry") {
                return Err(meta.error(
                    "the derive reads no schema files: name the generated type instead, \
                     #[kho(same_layout_as = path::to::GeneratedType)]",
                ));
            } else {
                return Err(meta.error(
                    "unknown #[kho] key: expected `compatible`, `name`, `crate` or `same_layout_as`",
                ));
            };
            let lit: syn::LitStr = meta.value()?.parse()?;
            if slot.is_some() {
                cx.error(&lit, "this #[kho] key is given twice");
            }
            *slot = Some(lit);
            Ok(())
        });
        if let Err(e) = res {
            cx.push(e);
        }
    }
    out
}

/// What `#[repr(...)]` says about layout.
#[derive(Default)]
pub struct Repr {
    pub c: bool,
    /// `packed` or `packed(1)`.
    pub packed: bool,
    /// Something that changes layout beyond `C, packed` (align, packed(N>1),
    /// transparent, an integer repr), with its span.
    pub conflict: Option<(Span, String)>,
}

pub fn repr(cx: &mut Ctxt, attrs: &[syn::Attribute]) -> Repr {
    let mut out = Repr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let res = attr.parse_nested_meta(|meta| {
            let span = syn::spanned::Spanned::span(&meta.path);
            if meta.path.is_ident("C") {
                out.c = true;
            } else if meta.path.is_ident("packed") {
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let n: syn::LitInt = content.parse()?;
                    if n.base10_parse::<u64>()? == 1 {
                        out.packed = true;
                    } else {
                        out.conflict = Some((n.span(), format!("packed({n})")));
                    }
                } else {
                    out.packed = true;
                }
            } else {
                let name = meta
                    .path
                    .get_ident()
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let _: proc_macro2::TokenStream = content.parse()?;
                }
                out.conflict = Some((span, name));
            }
            Ok(())
        });
        if let Err(e) = res {
            cx.push(e);
        }
    }
    out
}
