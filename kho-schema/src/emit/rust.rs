//! Rust modules: one per ABI, a `#[derive(KhoEntry)]` struct per schema
//! struct, the constants, and the compatible string. Formatted with
//! prettyplease, so the output is stable and readable in review.

use std::collections::BTreeSet;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use kho_layout::{Kind, Len, Prim, Struct, Ty};

use super::ir;
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

/// The Rust identifier of a field: the name itself, a raw identifier
/// (`r#type`) for a Rust keyword, or the name with a trailing underscore
/// for the keywords that cannot be raw (`self_`, `Self_`, `super_`,
/// `crate_`).
pub(crate) fn field_ident(name: &str) -> Ident {
    // `r#self` is not an identifier: these get a trailing underscore.
    if ["self", "Self", "super", "crate"].contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if crate::validate::RUST_KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// Doc text as `#[doc]` lines, each with rustdoc's leading space, its
/// indented paragraphs fenced as text (not doctests).
fn doc_lines(text: &str) -> impl Iterator<Item = String> {
    let text = super::ir::fence_indented(text.trim());
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!(" {}", l.trim_end())
            }
        })
        .collect();
    lines.into_iter()
}

fn docs(text: &str) -> TokenStream {
    let lines = doc_lines(text);
    quote!(#(#[doc = #lines])*)
}

fn inner_docs(text: &str) -> TokenStream {
    let lines = doc_lines(text);
    quote!(#(#![doc = #lines])*)
}

/// Where an item is emitted: at the module's top, or in the module of
/// one page size (`page_4k`) for what depends on the page size.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    abi: &'a Abi,
    page: Option<usize>,
    /// The structs emitted once per page size: see [`per_page_structs`].
    per_page: &'a BTreeSet<String>,
}

impl Ctx<'_> {
    /// `super::` up to the directory holding every ABI's module.
    fn up(&self) -> TokenStream {
        match self.page {
            Some(_) => quote!(super::super::),
            None => quote!(super::),
        }
    }

    /// The page size whose layout this context reads.
    fn page_size(&self) -> usize {
        self.page.unwrap_or(kho_layout::format::PAGE_SIZES[0])
    }
}

/// The structs of the set compiled with `abi` that Rust emits once per
/// page size: those whose layout depends on it, and those that hold one
/// or a KHOSER pointer to one (directly or not, in any ABI), whose Rust
/// type names the pointee's type of one page size. Found without
/// recursion, to a fixed point (each round adds one at least, or stops).
fn per_page_structs(abi: &Abi) -> BTreeSet<String> {
    let set = abi.shared_set();
    let mut out: BTreeSet<String> = set
        .structs
        .iter()
        .zip(&set.notes)
        .filter(|(_, n)| ir::page_dependent(n))
        .map(|(s, _)| s.name.as_str().to_string())
        .collect();
    loop {
        let more: Vec<String> = set
            .structs
            .iter()
            .filter(|s| !out.contains(s.name.as_str()))
            .filter(|s| {
                s.fields.iter().any(|f| match f.ty.base() {
                    Ty::Struct(r) => out.contains(r.name()),
                    Ty::Ptr(target) => out.contains(target.as_str()),
                    _ => false,
                })
            })
            .map(|s| s.name.as_str().to_string())
            .collect();
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

/// The module of the items that depend on the page size: `page_4k`,
/// `page_16k`, `page_64k`.
pub(crate) fn page_module(page: usize) -> String {
    format!("page_{}k", page / 1024)
}

/// The path of struct `name` (of ABI `of_abi`, page-dependent or not) from
/// where `cx` emits.
fn struct_path(cx: Ctx, name: &str, of_abi: &str, dependent: bool) -> TokenStream {
    let t = format_ident!("{}", type_name(name));
    let page = if dependent {
        let m = format_ident!("{}", page_module(cx.page_size()));
        quote!(#m::)
    } else {
        quote!()
    };
    if of_abi == cx.abi.name {
        // In a page module, `use super::*` brings the others in scope.
        if cx.page.is_some() {
            quote!(#t)
        } else {
            quote!(#page #t)
        }
    } else {
        let up = cx.up();
        let m = format_ident!("{}", module_name(of_abi));
        quote!(#up #m::#page #t)
    }
}

/// An integer constant of this ABI that the Rust module defines.
fn rust_int_constant(abi: &Abi, name: &str) -> bool {
    abi.constants.iter().any(|k| {
        k.name == name && ir::const_external(k).is_none() && !ir::const_values(k).is_empty()
    })
}

/// An array length: the constant's name where the Rust module defines
/// it, braced where it is a generic argument (`CharArray<{ N as usize }>`),
/// bare where it is an array's (`[u64; N as usize]`, which rustc would
/// warn about braced).
fn len_tokens(cx: Ctx, len: &Len, generic: bool) -> TokenStream {
    match &len.constant {
        Some(c) if rust_int_constant(cx.abi, c) => {
            let c = Ident::new(c, Span::call_site());
            if generic {
                quote!({ #c as usize })
            } else {
                quote!(#c as usize)
            }
        }
        // An expression, or a constant of another ABI: its value here.
        _ => {
            let n = proc_macro2::Literal::usize_unsuffixed(len.value);
            quote!(#n)
        }
    }
}

fn ty_tokens(cx: Ctx, ty: &Ty) -> TokenStream {
    match ty {
        Ty::Prim(Prim::PhysAddr) => quote!(::kho::PhysAddr),
        Ty::Prim(p) => {
            let id = Ident::new(p.name(), Span::call_site());
            quote!(#id)
        }
        Ty::Array(_, len) if ty.is_char_array() => {
            let n = len_tokens(cx, len, true);
            quote!(::kho::CharArray<#n>)
        }
        Ty::Array(elem, len) => {
            let e = ty_tokens(cx, elem.get());
            let n = len_tokens(cx, len, false);
            quote!([#e; #n])
        }
        Ty::Flex(elem) => {
            let e = ty_tokens(cx, elem.get());
            quote!([#e; 0])
        }
        Ty::Ptr(target) => {
            match ir::abi_of_struct(cx.abi, target) {
                Some(of_abi) => {
                    let dependent = cx.per_page.contains(target.as_str());
                    let t = struct_path(cx, target, &of_abi, dependent);
                    quote!(::kho::PhysPtr<#t>)
                }
                None => {
                    let msg = format!("kho-schema: khoser_ptr<{target}> names no struct given to the Rust emitter");
                    quote!(::kho::PhysPtr<::core::compile_error!(#msg)>)
                }
            }
        }
        Ty::Struct(r) => match cx.abi.nested(ty) {
            Some((_, note)) => struct_path(cx, r.name(), &note.abi, cx.per_page.contains(r.name())),
            None => {
                let t = format_ident!("{}", type_name(r.name()));
                quote!(#t)
            }
        },
    }
}

/// A field of the Rust struct: a field of the schema's, or the storage
/// unit of a run of bit fields that share it.
enum RustField<'s> {
    Plain(usize),
    Bits {
        /// The storage field's name: the bit fields' joined with `_`.
        name: String,
        /// The field indices of the bit fields, in bit order.
        members: Vec<usize>,
        /// Why the run cannot be one storage field with the derive's
        /// `bits(..)` (which places bits from 0 up, without gaps).
        unsupported: Option<String>,
        _s: std::marker::PhantomData<&'s ()>,
    },
}

/// The Rust fields of `s`: consecutive bit fields with the same storage
/// unit (offset and size) become one.
fn rust_fields<'s>(s: &'s Struct) -> Vec<RustField<'s>> {
    let mut out: Vec<RustField> = Vec::new();
    let fields = s.fields.as_slice();
    let mut i = 0;
    while let Some(f) = fields.get(i) {
        let Some(bits) = f.bits else {
            out.push(RustField::Plain(i));
            i += 1;
            continue;
        };
        let mut members = vec![i];
        let mut next_bit = u32::from(bits.first) + u32::from(bits.width);
        let mut unsupported =
            (bits.first != 0).then(|| format!("bit field {} starts at bit {}", f.name, bits.first));
        let mut j = i + 1;
        while let Some(g) = fields.get(j) {
            let Some(b) = g.bits else { break };
            if g.offset != f.offset || g.size != f.size {
                break;
            }
            if unsupported.is_none() && u32::from(b.first) != next_bit {
                unsupported = Some(format!(
                    "bit field {} starts at bit {}, not right after the one before it",
                    g.name, b.first
                ));
            }
            next_bit = u32::from(b.first) + u32::from(b.width);
            members.push(j);
            j += 1;
        }
        let names: Vec<&str> = members
            .iter()
            .filter_map(|&m| fields.get(m).map(|f| f.name.as_str()))
            .collect();
        let mut name = names.join("_");
        if fields
            .iter()
            .any(|f| f.name == name.as_str() && f.bits.is_none())
            || members.len() == 1
        {
            name.push_str("_bits");
        }
        out.push(RustField::Bits {
            name,
            members,
            unsupported,
            _s: std::marker::PhantomData,
        });
        i = j;
    }
    out
}

/// Whether `s` holds a union by value (in an array, a flexible array, a
/// nested struct, at any depth). Without recursion; each struct is looked
/// at once.
fn holds_union(abi: &Abi, s: &Struct) -> bool {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<&Struct> = vec![s];
    while let Some(s) = todo.pop() {
        for f in s.fields.iter() {
            if let Some((inner, _)) = abi.nested(&f.ty) {
                if inner.kind == Kind::Union {
                    return true;
                }
                if seen.insert(inner.name.as_str().to_string()) {
                    todo.push(inner);
                }
            }
        }
    }
    false
}

/// The `#[repr]` of a struct or union, or why Rust has none for it.
fn repr(s: &Struct, set: &[Struct<'static>]) -> Result<TokenStream, String> {
    let natural = if s.packed {
        1
    } else {
        s.fields
            .iter()
            .map(|f| f.ty.align(set).unwrap_or(1))
            .max()
            .unwrap_or(1)
    };
    let align = (s.align > natural).then(|| proc_macro2::Literal::usize_unsuffixed(s.align));
    match (s.packed, align) {
        (true, None) => Ok(quote!(#[repr(C, packed)])),
        (true, Some(_)) => Err(format!(
            "{} is __packed __aligned({}): Rust has no repr for a packed type with a raised \
             alignment",
            s.name, s.align
        )),
        (false, None) => Ok(quote!(#[repr(C)])),
        (false, Some(n)) => Ok(quote!(#[repr(C, align(#n))])),
    }
}

fn struct_tokens(cx: Ctx, s: &Struct, note: &Note) -> TokenStream {
    let abi = cx.abi;
    let doc = docs(&note.doc);
    let name = format_ident!("{}", type_name(&s.name));
    let c_name = s.name.as_str();
    let compats = ir::compatibles(abi);
    let compatible =
        ir::macro_of(compats, c_name).map_or(abi.compatible.as_str(), |c| c.value.as_str());
    let kho_attr = if note.entry {
        quote!(#[kho(name = #c_name, compatible = #compatible)])
    } else {
        quote!(#[kho(name = #c_name)])
    };
    let fields_all = s.fields.as_slice();
    let doc_of = |i: usize| note.field_docs.get(i).map_or("", String::as_str);
    let mut problems: Vec<String> = Vec::new();
    let fields: Vec<TokenStream> = rust_fields(s)
        .into_iter()
        .map(|rf| match rf {
            RustField::Plain(i) => {
                let Some(f) = fields_all.get(i) else {
                    return quote!();
                };
                let doc = docs(doc_of(i));
                let id = field_ident(&f.name);
                let ty = ty_tokens(cx, &f.ty);
                let attr = if f.ty.is_flex() {
                    match ir::field_count(note, i) {
                        Some(count) => {
                            let count = field_ident(count);
                            quote!(#[kho(flex, count = #count)])
                        }
                        None => quote!(#[kho(flex)]),
                    }
                } else {
                    quote!()
                };
                quote! { #doc #attr pub #id: #ty, }
            }
            RustField::Bits {
                name,
                members,
                unsupported,
                ..
            } => {
                if let Some(why) = unsupported {
                    problems.push(format!("{c_name}: {why}"));
                }
                let mut lines = vec![format!(
                    "The storage unit of bit fields {}: read and write them with their \
                     getters and checked setters.",
                    members
                        .iter()
                        .filter_map(|&m| fields_all.get(m))
                        .map(|f| format!("`{}`", f.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )];
                let mut decls = Vec::new();
                let mut storage = quote!(u64);
                for &m in &members {
                    let Some(f) = fields_all.get(m) else { continue };
                    let Some(b) = f.bits else { continue };
                    storage = ty_tokens(cx, &f.ty);
                    let end = u32::from(b.first) + u32::from(b.width);
                    let d = doc_of(m).split_whitespace().collect::<Vec<_>>().join(" ");
                    if decls.is_empty() {
                        lines.push(String::new());
                    }
                    lines.push(format!(
                        "- `{}`: bits {}..{end}{}",
                        f.name,
                        b.first,
                        if d.is_empty() {
                            String::new()
                        } else {
                            format!(": {d}")
                        }
                    ));
                    let id = field_ident(&f.name);
                    let w = proc_macro2::Literal::u16_unsuffixed(b.width);
                    decls.push(quote!(#id = #w));
                }
                let doc = docs(&lines.join("\n"));
                let id = field_ident(&name);
                quote! { #doc #[kho(bits(#(#decls),*))] pub #id: #storage, }
            }
        })
        .collect();
    let size_note = format!(
        " {} bytes, aligned to {}; offsets and sizes are checked at compile time.",
        s.size, s.align
    );
    let fp = syn::LitInt::new(&format!("{:#018x}", note.fingerprint), Span::call_site());
    let fp_msg = format!("the derive and the schema compiler disagree on the layout of {c_name}");
    let repr = match repr(s, abi.set()) {
        Ok(r) => r,
        Err(why) => {
            problems.push(why);
            quote!(#[repr(C)])
        }
    };
    let refusal = if problems.is_empty() {
        quote!()
    } else {
        let msg = format!(
            "kho-schema cannot express this layout in Rust: {}",
            problems.join("; ")
        );
        quote!(::core::compile_error!(#msg);)
    };
    let (keyword, derives) = match s.kind {
        Kind::Union => (
            quote!(union),
            quote!(#[derive(::kho::KhoEntry, Clone, Copy)]),
        ),
        // A Rust union has no Debug or PartialEq, so neither has what
        // holds one.
        Kind::Struct if holds_union(abi, s) => (
            quote!(struct),
            quote!(#[derive(::kho::KhoEntry, Clone, Copy)]),
        ),
        Kind::Struct => (
            quote!(struct),
            quote!(#[derive(::kho::KhoEntry, Clone, Copy, Debug, PartialEq, Eq)]),
        ),
    };
    let gap = if note.doc.trim().is_empty() {
        quote!()
    } else {
        quote!(#[doc = ""])
    };
    quote! {
        #refusal
        #doc
        #gap
        #[doc = #size_note]
        #derives
        #repr
        #kho_attr
        pub #keyword #name {
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

fn int_lit(n: u64) -> syn::LitInt {
    if n > 0xffff {
        syn::LitInt::new(&format!("{n:#x}"), Span::call_site())
    } else {
        syn::LitInt::new(&n.to_string(), Span::call_site())
    }
}

/// A constant at page size `page` (its only value when `page` is `None`).
fn const_tokens(c: &crate::layout::Constant, page: Option<usize>) -> TokenStream {
    let doc = docs(&c.doc);
    let id = format_ident!("{}", c.name);
    let mut notes = Vec::new();
    match (ir::const_expr(c), ir::const_enum(c)) {
        (Some(expr), None) => {
            let expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
            notes.push(format!(" In C: `{expr}`."));
        }
        (expr, Some(tag)) => {
            let tag = if tag.is_empty() {
                "an anonymous enum"
            } else {
                tag
            };
            let expr = expr.map_or_else(
                || {
                    ir::const_values(c)
                        .first()
                        .map_or(String::new(), |v| v.1.to_string())
                },
                |e| e.split_whitespace().collect::<Vec<_>>().join(" "),
            );
            notes.push(format!(" In C: `{} = {expr}` in `enum {tag}`.", c.name));
        }
        (None, None) => {}
    }
    if let Some(h) = ir::const_external(c) {
        notes.push(format!(
            " Defined by `<{h}>` (not by this ABI's header): the value its layout uses."
        ));
    }
    let notes = match (notes.is_empty(), c.doc.trim().is_empty()) {
        (true, _) => quote!(),
        (false, true) => quote!(#(#[doc = #notes])*),
        (false, false) => quote!(#[doc = ""] #(#[doc = #notes])*),
    };
    let values = ir::const_values(c);
    let at = page.and_then(|p| values.iter().find(|(q, _)| *q == p));
    match (&c.value, at.or(values.first())) {
        (_, Some(&(_, n))) if !values.is_empty() => {
            let n = int_lit(n);
            quote! { #doc #notes pub const #id: u64 = #n; }
        }
        (ConstValue::Str(s), _) => quote! { #doc #notes pub const #id: &str = #s; },
        (ConstValue::C(expr), _) => {
            let note = format!(
                " In C: `#define {} {expr}` (a kernel expression, C only).",
                c.name
            );
            let id = format_ident!("{}_C", c.name);
            quote! { #doc #[doc = ""] #[doc = #note] pub const #id: &str = #expr; }
        }
        (ConstValue::Int(n), _) => {
            let n = int_lit(*n);
            quote! { #doc #notes pub const #id: u64 = #n; }
        }
    }
}

/// Whether a constant's value differs between page sizes.
fn const_page_dependent(c: &crate::layout::Constant) -> bool {
    let values = ir::const_values(c);
    values.windows(2).any(|w| w[0].1 != w[1].1)
}

fn body_tokens(abi: &Abi) -> TokenStream {
    let compats = ir::compatibles(abi);
    let compatible = &abi.compatible;
    let fingerprint = syn::LitInt::new(&format!("{:#018x}", abi.fingerprint()), Span::call_site());
    let fp_doc = format!(
        " Fingerprint of the whole ABI ({:#018x}), as recorded in `schemas/abi.lock`.",
        abi.fingerprint()
    );
    let extra_compats = compats.iter().filter(|c| !c.main).map(|c| {
        let id = format_ident!("{}", c.macro_name);
        let value = &c.value;
        let doc = format!(
            " The compatible string of {}: only an exact match is restored.",
            c.structs
                .iter()
                .map(|s| format!("`{}`", type_name(s)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        quote! { #[doc = #doc] pub const #id: &str = #value; }
    });
    let draft = if ir::draft(abi) {
        quote! {
            /// A draft: not released, so its layout may still change without a
            /// new version.
            pub const DRAFT: bool = true;
        }
    } else {
        quote!()
    };
    let consts = abi
        .constants
        .iter()
        .filter(|c| !const_page_dependent(c))
        .map(|c| const_tokens(c, None));
    let per_page = &per_page_structs(abi);
    let top = Ctx {
        abi,
        page: None,
        per_page,
    };
    let structs = abi
        .items()
        .filter(|(s, _)| !per_page.contains(s.name.as_str()))
        .map(|(s, note)| struct_tokens(top, s, note));
    let any_dependent = abi.items().any(|(s, _)| per_page.contains(s.name.as_str()))
        || abi.constants.iter().any(const_page_dependent);
    let pages = ir::pages(abi)
        .iter()
        .filter(|_| any_dependent)
        .map(|&page| {
            let cx = Ctx {
                abi,
                page: Some(page),
                per_page,
            };
            let m = format_ident!("{}", page_module(page));
            let doc = format!(
                " What depends on the page size, for {} KiB pages.",
                page / 1024
            );
            let consts = abi
                .constants
                .iter()
                .filter(|c| const_page_dependent(c))
                .map(|c| const_tokens(c, Some(page)));
            let structs = ir::items_at(abi, page)
                .into_iter()
                .filter(|(s, _)| per_page.contains(s.name.as_str()))
                .map(|(s, note)| struct_tokens(cx, s, note))
                .collect::<Vec<_>>();
            quote! {
                #[doc = #doc]
                pub mod #m {
                    #[allow(unused_imports)]
                    use super::*;
                    #(#consts)*
                    #(#structs)*
                }
            }
        });
    // An ABI versioned by a number in C: the number too, under the C name.
    let version = abi.c.version_macro.then(|| {
        let id = format_ident!("{}", abi.c.compatible_macro);
        let n = syn::LitInt::new(&abi.version.to_string(), Span::call_site());
        quote! {
            /// The version of this ABI's layout, as the C header defines it.
            pub const #id: u64 = #n;
        }
    });
    quote! {
        /// The compatible string: only an exact match is restored.
        pub const COMPATIBLE: &str = #compatible;
        #version
        #(#extra_compats)*
        #[doc = #fp_doc]
        pub const FINGERPRINT: u64 = #fingerprint;
        #draft
        #(#consts)*
        #(#structs)*
        #(#pages)*
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
    #[test]
    fn the_new_constructs_become_repr_c_types_the_derive_checks() {
        let all = crate::emit::testing::constructs("linux/kho/abi/t.h");
        let m = super::module(&all[0], &all);
        assert!(
            m.contains("#[repr(C, align(32))]\n#[kho(name = \"s\")]\npub struct S {\n"),
            "{m}"
        );
        assert!(
            m.contains(
                "    /// - `pfn`: bits 0..52: The frame.\n    /// - `flags`: bits 52..64\n    \
                 #[kho(bits(pfn = 52, flags = 12))]\n    pub pfn_flags: u64,\n    \
                 pub first: ::kho::PhysPtr<Chunk>,\n    pub n: u32,\n    #[kho(flex)]\n    \
                 pub devices: [u32; 0],\n}\n"
            ),
            "{m}"
        );
        assert!(
            m.contains(
                "#[derive(::kho::KhoEntry, Clone, Copy)]\n#[repr(C)]\n#[kho(name = \"u\")]\n\
                 pub union U {\n    pub phys: u64,\n    pub lo: u32,\n}\n"
            ),
            "{m}"
        );
        // Everything is page-independent: no page modules.
        assert!(!m.contains("pub mod page_"), "{m}");
    }

    #[test]
    fn keywords_become_raw_identifiers_or_get_an_underscore() {
        assert_eq!(super::field_ident("type").to_string(), "r#type");
        assert_eq!(super::field_ident("self").to_string(), "self_");
        assert_eq!(super::field_ident("crate").to_string(), "crate_");
        assert_eq!(super::field_ident("pfn").to_string(), "pfn");
    }
}
