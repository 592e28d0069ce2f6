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
    /// `align(N)`: C's `__aligned(N)`, with the literal.
    pub align: Option<syn::LitInt>,
    /// Something that changes layout beyond `C`, `packed` and `align(N)`
    /// (packed(N>1), transparent, an integer repr), with its span.
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
            } else if meta.path.is_ident("align") {
                let content;
                syn::parenthesized!(content in meta.input);
                out.align = Some(content.parse()?);
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

/// `#[kho(...)]` on a field.
#[derive(Default)]
pub struct FieldAttrs {
    /// `bits(name = width, ..)`: the field is the storage unit of these bit
    /// fields, placed from bit 0 up in the order written.
    pub bits: Option<BitsAttr>,
    /// `flex`: the field is a flexible array member (`[T; 0]`, last).
    pub flex: Option<Span>,
    /// `count = field`: the field that holds the flexible array's length.
    pub count: Option<syn::Ident>,
}

pub struct BitsAttr {
    /// The `bits` keyword.
    pub span: Span,
    pub fields: Vec<BitDecl>,
}

pub struct BitDecl {
    pub ident: syn::Ident,
    pub width: syn::LitInt,
}

impl BitDecl {
    /// The width, when it is a number that fits `u32`.
    pub fn width(&self) -> Option<u32> {
        self.width.base10_parse().ok()
    }
}

pub fn field_attrs(cx: &mut Ctxt, attrs: &[syn::Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("kho")) {
        let res = attr.parse_nested_meta(|meta| {
            let span = syn::spanned::Spanned::span(&meta.path);
            if meta.path.is_ident("bits") {
                if out.bits.is_some() {
                    cx.error_at(span, "duplicate `bits` on this field: list every bit field in one `bits(..)`");
                }
                let mut fields = Vec::new();
                meta.parse_nested_meta(|bit| {
                    let Some(ident) = bit.path.get_ident() else {
                        return Err(bit.error("expected a bit field name: `bits(pfn = 52, flags = 12)`"));
                    };
                    let width: syn::LitInt = bit.value()?.parse()?;
                    fields.push(BitDecl {
                        ident: ident.clone(),
                        width,
                    });
                    Ok(())
                })?;
                out.bits = Some(BitsAttr { span, fields });
            } else if meta.path.is_ident("flex") {
                if out.flex.is_some() {
                    cx.error_at(span, "duplicate `flex` on this field");
                }
                out.flex = Some(span);
            } else if meta.path.is_ident("count") {
                let ident: syn::Ident = meta.value()?.parse()?;
                if out.count.is_some() {
                    cx.error(&ident, "duplicate `count` on this field");
                }
                out.count = Some(ident);
            } else {
                return Err(meta.error(
                    "unknown #[kho] key on a field: expected `bits(name = width, ..)`, `flex` or `count = field`",
                ));
            }
            Ok(())
        });
        if let Err(e) = res {
            cx.push(e);
        }
    }
    out
}
