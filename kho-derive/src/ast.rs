//! Our model of the struct the derive is applied to.

use proc_macro2::Span;

use crate::attr::{self, KhoAttrs, Repr};
use crate::ctxt::Ctxt;

pub struct Entry<'a> {
    pub ident: &'a syn::Ident,
    /// The ABI (C) name: `LuoFileSer` -> `luo_file_ser`.
    pub abi_name: String,
    pub generics: &'a syn::Generics,
    pub attrs: KhoAttrs,
    pub repr: Repr,
    /// `None` when the item is not a struct with named fields (already
    /// reported).
    pub fields: Option<Vec<Field<'a>>>,
    /// Span of the struct's braces, for "no fields".
    pub body_span: Span,
}

pub struct Field<'a> {
    pub ident: &'a syn::Ident,
    pub ty: &'a syn::Type,
}

impl<'a> Entry<'a> {
    pub fn from_input(cx: &mut Ctxt, input: &'a syn::DeriveInput) -> Self {
        let (fields, body_span) = match &input.data {
            syn::Data::Struct(data) => match &data.fields {
                syn::Fields::Named(named) => {
                    let fields = named
                        .named
                        .iter()
                        .filter_map(|f| f.ident.as_ref().map(|ident| Field { ident, ty: &f.ty }))
                        .collect();
                    (Some(fields), named.brace_token.span.join())
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
                    "KhoEntry can only be derived for a struct: an enum has no fixed C \
                     layout; store its discriminant in an integer field",
                );
                (None, Span::call_site())
            }
            syn::Data::Union(data) => {
                cx.error_at(
                    data.union_token.span,
                    "KhoEntry can only be derived for a struct: a union's meaning depends on \
                     state the next kernel cannot see",
                );
                (None, Span::call_site())
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
