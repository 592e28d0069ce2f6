//! Our model of the struct the derive is applied to.

use proc_macro2::Span;

use crate::attr::{self, FieldAttrs, KhoAttrs, Repr};
use crate::ctxt::Ctxt;

/// A C struct or a C union.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Struct,
    Union,
}

pub struct Entry<'a> {
    pub ident: &'a syn::Ident,
    /// The ABI (C) name: `LuoFileSer` -> `luo_file_ser`.
    pub abi_name: String,
    pub generics: &'a syn::Generics,
    pub attrs: KhoAttrs,
    pub repr: Repr,
    pub shape: Shape,
    /// `None` when the item is not a struct or union with named fields
    /// (already reported).
    pub fields: Option<Vec<Field<'a>>>,
    /// Span of the struct's braces, for "no fields".
    pub body_span: Span,
}

pub struct Field<'a> {
    pub ident: &'a syn::Ident,
    pub ty: &'a syn::Type,
    pub vis: &'a syn::Visibility,
    /// `#[kho(bits(..))]`, `#[kho(flex, count = ..)]`.
    pub attrs: FieldAttrs,
}

impl Field<'_> {
    /// The element type of a `[T; 0]` flexible array member.
    pub fn flex_elem(&self) -> Option<&syn::Type> {
        match self.ty {
            syn::Type::Array(a) if is_zero(&a.len) => Some(&a.elem),
            _ => None,
        }
    }
}

fn is_zero(e: &syn::Expr) -> bool {
    match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(n),
            ..
        }) => n.base10_parse::<u64>().is_ok_and(|n| n == 0),
        _ => false,
    }
}

fn named_fields<'a>(cx: &mut Ctxt, named: &'a syn::FieldsNamed) -> Vec<Field<'a>> {
    named
        .named
        .iter()
        .filter_map(|f| {
            f.ident.as_ref().map(|ident| Field {
                ident,
                ty: &f.ty,
                vis: &f.vis,
                attrs: attr::field_attrs(cx, &f.attrs),
            })
        })
        .collect()
}

impl<'a> Entry<'a> {
    pub fn from_input(cx: &mut Ctxt, input: &'a syn::DeriveInput) -> Self {
        let mut shape = Shape::Struct;
        let (fields, body_span) = match &input.data {
            syn::Data::Struct(data) => match &data.fields {
                syn::Fields::Named(named) => {
                    (Some(named_fields(cx, named)), named.brace_token.span.join())
                }
                syn::Fields::Unnamed(unnamed) => {
                    cx.error(
                        unnamed,
                        "KhoEntry needs named fields: a tuple struct has no field names for \
                         the ABI's C header and layout table",
                    );
                    (None, Span::call_site())
                }
                syn::Fields::Unit => {
                    cx.error(
                        &input.ident,
                        "KhoEntry needs at least one field: an empty entry carries nothing",
                    );
                    (None, Span::call_site())
                }
            },
            syn::Data::Enum(data) => {
                // The keyword's span: the token itself is only Copy with
                // syn's `clone-impls`, which kho-derive does not enable.
                cx.error_at(
                    data.enum_token.span,
                    "KhoEntry can only be derived for a struct or a union: an enum has no \
                     fixed C layout; store its discriminant in an integer field",
                );
                (None, Span::call_site())
            }
            syn::Data::Union(data) => {
                shape = Shape::Union;
                (
                    Some(named_fields(cx, &data.fields)),
                    data.fields.brace_token.span.join(),
                )
            }
        };
        let attrs = attr::kho_attrs(cx, &input.attrs);
        Entry {
            ident: &input.ident,
            abi_name: attrs
                .name
                .as_ref()
                .map_or_else(|| snake_case(&input.ident.to_string()), |n| n.value()),
            generics: &input.generics,
            attrs,
            repr: attr::repr(cx, &input.attrs),
            shape,
            fields,
            body_span,
        }
    }
}

/// `LuoFileSer` -> `luo_file_ser`; `KHOHeader` -> `kho_header`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_matches_kernel_names() {
        assert_eq!(snake_case("LuoFileSer"), "luo_file_ser");
        assert_eq!(snake_case("KhoBlockHeaderSer"), "kho_block_header_ser");
        assert_eq!(snake_case("KHOHeader"), "kho_header");
        assert_eq!(snake_case("Luo2Ser"), "luo2_ser");
        assert_eq!(snake_case("already_snake"), "already_snake");
    }
}
