//! Checks on the model: everything the macro can see without the compiler.
//! What needs type information (a field type's size, a type alias, a type
//! from another crate) is proven by the compiler from the expansion.

use syn::spanned::Spanned;

use crate::ast::{Entry, Field, Shape};
use crate::attr::BitsAttr;
use crate::ctxt::Ctxt;

pub fn check(cx: &mut Ctxt, entry: &Entry) {
    check_generics(cx, entry);
    check_repr(cx, entry);
    if let Some(fields) = &entry.fields {
        if fields.is_empty() {
            cx.error_at(
                entry.body_span,
                "KhoEntry needs at least one field: an empty entry carries nothing",
            );
        }
        for f in fields {
            check_type(cx, f.ty);
        }
        check_fields(cx, entry, fields);
    }
    if let Some(lit) = &entry.attrs.name {
        let n = lit.value();
        let ok = n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            cx.error(
                lit,
                format!(
                    "malformed ABI name {n:?}: a lowercase C identifier, like \"luo_file_ser\""
                ),
            );
        }
    }
    if let Some(lit) = &entry.attrs.compatible {
        if let Err(why) = compatible_ok(&lit.value()) {
            cx.error(
                lit,
                format!("malformed compatible string {:?}: {why}", lit.value()),
            );
        }
    }
}

fn check_generics(cx: &mut Ctxt, entry: &Entry) {
    let g = entry.generics;
    if let Some(p) = g.params.first() {
        let what = match p {
            syn::GenericParam::Lifetime(_) => "a lifetime: entries hold no references",
            syn::GenericParam::Type(_) => "type parameters: an ABI has one fixed layout",
            syn::GenericParam::Const(_) => "const parameters: an ABI has one fixed layout",
        };
        cx.error(
            &g.params,
            format!("KhoEntry cannot be derived for a struct with {what}"),
        );
    } else if let Some(w) = &g.where_clause {
        cx.error(
            w,
            "KhoEntry cannot be derived for a struct with a where clause",
        );
    }
}

fn check_repr(cx: &mut Ctxt, entry: &Entry) {
    let r = &entry.repr;
    if let Some((span, what)) = &r.conflict {
        cx.error_at(
            *span,
            format!(
                "#[repr({what})] changes the layout: KhoEntry needs #[repr(C)] (a C struct, \
                 naturally aligned), #[repr(C, packed)] (a __packed struct) or \
                 #[repr(C, align(N))] (__aligned(N))"
            ),
        );
    } else if !r.c {
        let add = if r.packed {
            "`C` to #[repr(packed)]"
        } else {
            "#[repr(C)] (or #[repr(C, packed)] for a __packed struct)"
        };
        cx.error(
            entry.ident,
            format!(
                "KhoEntry needs C's layout: add {add} so that the fields are where the \
                 kernel's C declaration puts them"
            ),
        );
    }
    if let Some(n) = &r.align {
        let ok = n
            .base10_parse::<u64>()
            .is_ok_and(|n| n.is_power_of_two() && n <= 4096);
        if !ok {
            cx.error(
                n,
                "align(N) needs a power of two of at most 4096 (one page)",
            );
        }
    }
}

/// Bit fields, flexible arrays and union members: what the macro can see.
/// Type facts it cannot (an alias's width) are proven in the expansion.
fn check_fields(cx: &mut Ctxt, entry: &Entry, fields: &[Field]) {
    let mut names: Vec<String> = fields.iter().map(|f| unraw(f.ident)).collect();
    let last = fields.len().saturating_sub(1);
    for (i, f) in fields.iter().enumerate() {
        let a = &f.attrs;
        if entry.shape == Shape::Union {
            if let Some(b) = &a.bits {
                cx.error_at(
                    b.span,
                    "bit fields in a union are not supported: declare them in a struct \
                     that is a member of the union",
                );
            }
            if let Some(span) = a.flex {
                cx.error_at(
                    span,
                    "a union has no flexible array member: it is a struct's last field",
                );
            }
            continue;
        }
        if let Some(b) = &a.bits {
            if let Some(span) = a.flex {
                cx.error_at(
                    span,
                    "a field is either bit-field storage or a flexible array, not both",
                );
            }
            check_bits(cx, f, b, &mut names);
        }
        match a.flex {
            Some(span) => {
                if f.flex_elem().is_none() {
                    cx.error(
                        f.ty,
                        "`flex` needs a zero-length array `[T; 0]`: the elements follow the \
                         struct, outside its size",
                    );
                }
                if i != last {
                    cx.error_at(
                        span,
                        "a flexible array member must be the last field (C allows it only there)",
                    );
                }
                // Without `count` the accessors take the count as an
                // argument (C may keep it elsewhere, or nowhere).
                if let Some(count) = &a.count {
                    check_count(cx, fields, f, count);
                }
            }
            None => {
                if let Some(count) = &a.count {
                    cx.error(
                        count,
                        "`count` belongs with `flex`: #[kho(flex, count = field)]",
                    );
                }
            }
        }
    }
}

fn check_count(cx: &mut Ctxt, fields: &[Field], flex: &Field, count: &syn::Ident) {
    let want = unraw(count);
    match fields.iter().find(|g| unraw(g.ident) == want) {
        None => cx.error(
            count,
            format!("`count = {want}` names no field of this struct: name the integer field that holds the length"),
        ),
        Some(g) if std::ptr::eq(g, flex) => {
            cx.error(count, "a flexible array cannot count itself: name the integer field that holds its length")
        }
        Some(g) if g.attrs.bits.is_some() => cx.error(
            count,
            format!("`{want}` is bit-field storage: a count is a whole unsigned integer field"),
        ),
        Some(g) => {
            // A primitive is judged here; an alias (`type Count = u32`)
            // by the expansion's `FlexCount` bound.
            let refused = match simple_ident(g.ty) {
                Some(ty) => PRIMS.contains(&ty.as_str()) && !UNSIGNED.iter().any(|(n, _)| *n == ty),
                None => !matches!(g.ty, syn::Type::Path(_)),
            };
            if refused {
                cx.error(
                    count,
                    format!("`{want}` is not an unsigned integer field: a count is u8, u16, u32 or u64"),
                );
            }
        }
    }
}

/// Rust's primitive names that can be a field type.
const PRIMS: [&str; 12] = [
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "u128", "i128", "usize", "isize",
];

const UNSIGNED: [(&str, u32); 4] = [("u8", 8), ("u16", 16), ("u32", 32), ("u64", 64)];

fn check_bits(cx: &mut Ctxt, f: &Field, b: &BitsAttr, names: &mut Vec<String>) {
    // The storage type's width when it is written as a primitive; an
    // alias is checked by the expansion's `BitStorage` bound and consts.
    let storage = match simple_ident(f.ty) {
        Some(n) if ["i8", "i16", "i32", "i64"].contains(&n.as_str()) => {
            cx.error(
                f.ty,
                format!(
                    "bit-field storage must be unsigned: {n} would make each getter's sign \
                     depend on its width; use u{} (as the kernel's u64 pfn:52 does)",
                    &n[1..]
                ),
            );
            None
        }
        Some(n) => UNSIGNED.iter().find(|(u, _)| *u == n).map(|(_, w)| *w),
        None => {
            if !matches!(f.ty, syn::Type::Path(_)) {
                cx.error(
                    f.ty,
                    "bit fields need an unsigned integer storage field (u8, u16, u32 or u64)",
                );
            }
            None
        }
    };
    if b.fields.is_empty() {
        cx.error_at(
            b.span,
            "`bits()` lists no bit field: `bits(pfn = 52, flags = 12)`",
        );
    }
    let mut total: u64 = 0;
    for d in &b.fields {
        let name = unraw(&d.ident);
        if names.contains(&name) {
            cx.error(
                &d.ident,
                format!("bit field `{name}` has the name of another field or bit field: each name is a field of the C struct"),
            );
        } else {
            names.push(name.clone());
        }
        match d.width() {
            Some(0) => cx.error(
                &d.width,
                format!("bit field `{name}` has width 0: a named bit field is at least 1 bit"),
            ),
            Some(w) => {
                total += u64::from(w);
                if let Some(sw) = storage {
                    if w > sw {
                        cx.error(
                            &d.width,
                            format!("bit field `{name}` is {w} bits wide, more than its {sw}-bit storage type"),
                        );
                    }
                }
            }
            None => cx.error(&d.width, "a bit width is a number of bits"),
        }
    }
    if let Some(sw) = storage {
        if total > u64::from(sw) && b.fields.iter().all(|d| d.width().is_some_and(|w| w <= sw)) {
            cx.error_at(
                b.span,
                format!("these bit fields take {total} bits, more than the {sw} of their storage type: split them over two storage fields"),
            );
        }
    }
}

/// The type's name when it is a bare identifier (`u64`).
fn simple_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.to_string()),
        syn::Type::Paren(p) => simple_ident(&p.elem),
        syn::Type::Group(g) => simple_ident(&g.elem),
        _ => None,
    }
}

pub fn unraw(i: &syn::Ident) -> String {
    syn::ext::IdentExt::unraw(i).to_string()
}

/// Rejects, with a reason and a fix, the types that can never cross a kexec.
/// Anything else must implement `AbiField`, which the expansion checks.
fn check_type(cx: &mut Ctxt, ty: &syn::Type) {
    let msg = match ty {
        syn::Type::Array(a) => return check_type(cx, &a.elem),
        syn::Type::Paren(p) => return check_type(cx, &p.elem),
        syn::Type::Group(g) => return check_type(cx, &g.elem),
        syn::Type::Ptr(_) => {
            "a raw pointer is a virtual address of this kernel, meaningless in the next: \
             use kho::PhysAddr or kho::PhysPtr<T>"
        }
        syn::Type::Reference(r) => match &*r.elem {
            syn::Type::Slice(_) => "a slice has no fixed size: use a fixed array [T; N]",
            syn::Type::Path(p) if p.path.is_ident("str") => {
                "str has no fixed size: use a kho::CharArray<N> (a NUL-padded char[N])"
            }
            _ => "a reference cannot cross a kexec: store a kho::PhysPtr<T> to preserved memory",
        },
        syn::Type::Slice(_) => "a slice has no fixed size: use a fixed array [T; N]",
        syn::Type::Tuple(t) if t.elems.is_empty() => "`()` carries nothing: remove the field",
        syn::Type::Tuple(_) => "a tuple has no C layout: use a nested #[derive(KhoEntry)] struct",
        syn::Type::FnPtr(_) => "a function pointer cannot cross a kexec",
        syn::Type::TraitObject(_) | syn::Type::ImplTrait(_) => "a trait object has no fixed layout",
        syn::Type::Path(p) if p.qself.is_none() => match p.path.segments.last() {
            Some(seg) => match path_type_problem(&seg.ident.to_string()) {
                Some(msg) => msg,
                None => return,
            },
            None => return,
        },
        _ => return,
    };
    cx.error_at(ty.span(), msg);
}

fn path_type_problem(name: &str) -> Option<&'static str> {
    Some(match name {
        "usize" | "isize" => {
            "usize and isize change size between 32- and 64-bit kernels: use u64/i64 (or u32/i32)"
        }
        "bool" => "bool has no fixed ABI representation: use u8 (0 or 1)",
        "char" => "char is a 4-byte Unicode scalar, not a C char: use u8, or kho::CharArray<N> for a name",
        "f32" | "f64" => {
            "floating point is not part of kernel ABIs: store the value scaled in an integer"
        }
        "str" => "str has no fixed size: use a kho::CharArray<N> (a NUL-padded char[N])",
        "String" => {
            "a String lives on this kernel's heap: use a kho::CharArray<N> (a NUL-padded char[N])"
        }
        "Vec" => {
            "a Vec lives on this kernel's heap: use a fixed array, or a kho::PhysPtr<T> to a block set"
        }
        "Box" | "Rc" | "Arc" => {
            "a heap pointer cannot cross a kexec: store a kho::PhysPtr<T> to preserved memory"
        }
        "Option" => {
            "Option has no kernel ABI representation: use a 0 sentinel or a flags field"
        }
        "PhantomData" => "PhantomData carries nothing: remove the field",
        _ => return None,
    })
}

/// `name-vN`, or several joined by `;`, at most 47 bytes: kho-layout's one
/// rule (`kho_layout::format::check_compatible`), which the schema compiler
/// applies too, so a string one accepts the other does.
pub fn compatible_ok(s: &str) -> Result<(), &'static str> {
    kho_layout::format::check_compatible(s).map_err(|e| e.reason())
}

#[cfg(test)]
mod tests {
    use super::{check_type, compatible_ok};
    use crate::ctxt::Ctxt;

    /// The message `check_type` gives for `ty`, or `None` when it accepts it.
    fn type_problem(ty: &str) -> Option<String> {
        let ty: syn::Type = syn::parse_str(ty).expect("test type parses");
        let mut cx = Ctxt::default();
        check_type(&mut cx, &ty);
        cx.check().err().map(|e| e.to_string())
    }

    /// Each type form refused by its syntax-tree variant, so that a variant
    /// renamed by a syn major (syn 3's `Type::BareFn` -> `Type::FnPtr`) is
    /// caught here rather than silently falling through to "accepted".
    #[test]
    fn type_forms() {
        for (ty, msg) in [
            ("fn(u64) -> u64", "a function pointer cannot cross a kexec"),
            (
                "[extern \"C\" fn(); 2]",
                "a function pointer cannot cross a kexec",
            ),
            ("*const u8", "a raw pointer is a virtual address"),
            ("&'static u64", "a reference cannot cross a kexec"),
            ("&'static [u8]", "a slice has no fixed size"),
            ("&'static str", "str has no fixed size"),
            ("(u32, u32)", "a tuple has no C layout"),
            ("()", "`()` carries nothing"),
            ("dyn Send", "a trait object has no fixed layout"),
            ("impl Send", "a trait object has no fixed layout"),
            ("(usize)", "usize and isize change size"),
        ] {
            let got = type_problem(ty);
            assert!(
                got.as_deref().is_some_and(|got| got.contains(msg)),
                "{ty}: {got:?}, wanted {msg:?}"
            );
        }
        for ok in ["u64", "[u8; 16]", "kho::PhysAddr", "Nested"] {
            assert_eq!(type_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn compatible_strings() {
        for ok in [
            "luo-file-v1",
            "kho-block-v1",
            "a-v10",
            "luo2-v3",
            "luo-v5;block-v1",
            "luo-v4-kho-block-v1",
        ] {
            assert!(compatible_ok(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "luo",
            "luo-v0",
            "luo-v01",
            "Luo-v1",
            "luo_file-v1",
            "-v1",
            "luo--x-v1",
            "luo-v",
            "luo-vx",
            "luo-v1-",
        ] {
            assert!(compatible_ok(bad).is_err(), "{bad}");
        }
        // The kernel's 48 bytes with the NUL: 47 fit, 48 do not.
        let fits = format!("{}-v1", "a".repeat(44));
        assert_eq!(fits.len(), 47);
        assert!(compatible_ok(&fits).is_ok());
        let over = format!("{}-v1", "a".repeat(45));
        assert!(compatible_ok(&over)
            .unwrap_err()
            .contains("longer than 47 bytes"));
    }
}
