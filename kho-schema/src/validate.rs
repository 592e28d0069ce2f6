//! Stage 2: check the syntax trees of a set of schemas and resolve names:
//! dependencies, constants and field types. What comes out is ready to be
//! laid out; every problem found is reported, with its place.
//!
//! Names are checked against every output they reach: a C keyword or a
//! name reserved in C is an error; a Rust keyword is a raw identifier in
//! the generated Rust (`r#type`), and an error only where Rust has no raw
//! form (`self`, `super`, `crate`); a struct whose Rust name is a standard
//! type's (`option` -> `Option`) is an error; so is a constant that would
//! redefine a macro the header defines, includes or relies on, and a
//! header path that would leave the output directory. Graphs (dependencies,
//! and structs in structs in the layout stage) are walked without
//! recursion, so no input can overflow the stack.

use std::collections::{BTreeMap, BTreeSet};

use kho_layout::Prim;

use crate::diag::{Diags, Source};
use crate::expr::Expr;
use crate::parse::{Compose, ConstValue, SchemaAst, Sp, StructAst};

/// A checked schema: names resolved, not yet laid out.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub index: usize,
    pub ast: SchemaAst,
    /// Field types of each struct, in field order, in the layout model: a
    /// struct is [`StructRef::At`] its index among every struct of every
    /// schema checked together (schemas in order, then structs in order),
    /// which is where the layout stage puts it.
    pub types: Vec<Vec<FieldTy>>,
    /// Every schema it depends on, directly or not (indices of `checked`),
    /// sorted: where its expressions find constants and structs.
    pub closure: Vec<usize>,
}

/// Keywords of C (C89 to C23) and of GNU C: an error as any name the
/// header declares.
const C_KEYWORDS: &[&str] = &[
    "alignas",
    "alignof",
    "asm",
    "auto",
    "bool",
    "break",
    "case",
    "char",
    "const",
    "constexpr",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "false",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "nullptr",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "static_assert",
    "struct",
    "switch",
    "thread_local",
    "true",
    "typedef",
    "typeof",
    "typeof_unqual",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
];

/// Keywords of Rust, strict and reserved, of every edition (2015 to 2024).
pub(crate) const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Rust keywords that cannot be raw identifiers (`r#self` is an error).
const RUST_NOT_RAW: &[&str] = &["self", "Self", "super", "crate"];

/// Rust names a generated struct may not take: the prelude's types, traits
/// and variants (a struct of that name would shadow them in the generated
/// module), and the types the derive refuses by name.
const RUST_TAKEN_TYPES: &[&str] = &[
    "Self",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "String",
    "ToString",
    "Vec",
    "Box",
    "Rc",
    "Arc",
    "PhantomData",
    "Copy",
    "Clone",
    "Send",
    "Sync",
    "Sized",
    "Unpin",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "AsRef",
    "AsMut",
    "Into",
    "From",
    "TryFrom",
    "TryInto",
    "Iterator",
    "IntoIterator",
    "DoubleEndedIterator",
    "ExactSizeIterator",
    "Extend",
    "FromIterator",
    "Default",
    "Eq",
    "PartialEq",
    "Ord",
    "PartialOrd",
    "ToOwned",
    "Debug",
];

/// Kernel macros the generated header relies on, or that every kernel
/// file has: a constant of that name would redefine it.
pub(crate) const KERNEL_MACROS: &[&str] = &[
    "PAGE_SIZE",
    "PAGE_SHIFT",
    "PAGE_MASK",
    "NULL",
    "BITS_PER_LONG",
    "BITS_PER_LONG_LONG",
    "BITS_PER_BYTE",
    "BUILD_BUG",
    "BUILD_BUG_ON",
    "BUILD_BUG_ON_MSG",
    "BUILD_BUG_ON_ZERO",
    "BUILD_BUG_ON_INVALID",
    "BUILD_BUG_ON_NOT_POWER_OF_2",
    "U8_MAX",
    "U16_MAX",
    "U32_MAX",
    "U64_MAX",
    "S8_MAX",
    "S8_MIN",
    "S16_MAX",
    "S16_MIN",
    "S32_MAX",
    "S32_MIN",
    "S64_MAX",
    "S64_MIN",
    "SIZE_MAX",
    "PHYS_ADDR_MAX",
    "INT_MAX",
    "INT_MIN",
    "UINT_MAX",
    "LONG_MAX",
    "LONG_MIN",
    "ULONG_MAX",
    "LLONG_MAX",
    "LLONG_MIN",
    "ULLONG_MAX",
];

/// Most array dimensions one field may have (`u8[2][3]` has two).
pub(crate) const MAX_DIMENSIONS: usize = 8;

/// Longest chain of ABIs each building on the next.
pub(crate) const MAX_DEPENDENCY_DEPTH: usize = 64;

/// Why C cannot take `s` as a name, if it cannot.
fn c_reserved(s: &str) -> Option<&'static str> {
    if C_KEYWORDS.contains(&s) {
        Some("a C keyword")
    } else if s.starts_with("__")
        || (s.starts_with('_') && s[1..].starts_with(|c: char| c.is_ascii_uppercase()))
    {
        Some("reserved in C (names starting with `__`, or `_` and a capital letter, belong to the compiler)")
    } else {
        None
    }
}

fn c_ident_ok(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// Struct names: lowercase words joined by single `_`, starting with a
/// letter, so that the Rust name (`luo_file_ser` -> `LuoFileSer`) is an
/// identifier too.
fn struct_ident_ok(s: &str) -> bool {
    c_ident_ok(s)
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.split('_').all(|w| !w.is_empty())
}

/// Field names: any C identifier (the kernel's may have capitals) that
/// is a Rust field name too (not `_`).
fn field_ident_ok(s: &str) -> bool {
    external_ident_ok(s) && s != "_"
}

/// A C identifier: a letter or `_`, then letters, digits and `_`.
fn external_ident_ok(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | 'A'..='Z' | '_'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `s` may name a schema constant: UPPER_CASE letters, digits
/// and `_`, starting with a letter.
pub fn constant_name_ok(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('A'..='Z'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
}

/// The header path of an ABI: `[abi.c] header`, or `linux/kho/abi/<name>.h`.
pub(crate) fn header_of(a: &SchemaAst) -> String {
    match &a.c.header {
        Some(h) => h.value.clone(),
        None => format!("linux/kho/abi/{}.h", a.name.value.replace('-', "_")),
    }
}

/// The compatible-string macro of an ABI: `[abi.c] version_macro` or
/// `compatible_macro`, or `<NAME>_ABI_COMPATIBLE`.
pub(crate) fn compatible_macro_of(a: &SchemaAst) -> String {
    match a.c.version_macro.as_ref().or(a.c.compatible_macro.as_ref()) {
        Some(m) => m.value.clone(),
        None => format!(
            "{}_ABI_COMPATIBLE",
            a.name.value.replace('-', "_").to_uppercase()
        ),
    }
}

/// What is wrong with a header path, if anything: it must be a relative
/// path of plain components (letters, digits, `_`, `-`, `.`, not starting
/// with `.`) ending in `.h`, so that it stays under the output directory and
/// reads the same in an `#include <...>`.
pub(crate) fn header_path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("is empty".into());
    }
    if path.starts_with('/') {
        return Some("is absolute".into());
    }
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
    {
        return Some(format!("has the character {c:?}"));
    }
    for comp in path.split('/') {
        match comp {
            "" => return Some("has an empty component".into()),
            "." | ".." => return Some(format!("has a `{comp}` component")),
            c if c.starts_with('.') => return Some(format!("has a hidden component `{c}`")),
            _ => {}
        }
    }
    if !path.ends_with(".h") {
        return Some("does not end in `.h`".into());
    }
    None
}

/// ABI names: lowercase words joined by dashes (`kho-block`).
pub(crate) fn abi_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s
            .rsplit_once("-v")
            .is_some_and(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks every schema and resolves its names. `asts[i]` came from `srcs[i]`.
pub(crate) fn check(srcs: &[Source], asts: Vec<SchemaAst>, diags: &mut Diags) -> Vec<Checked> {
    let by_name: BTreeMap<String, usize> = {
        let mut m = BTreeMap::new();
        for (i, a) in asts.iter().enumerate() {
            if let Some(prev) = m.insert(a.name.value.clone(), i) {
                let msg = format!(
                    "ABI `{}` is also declared in {}",
                    a.name.value, srcs[prev].path
                );
                diags.at(&srcs[i], a.name.span.clone(), msg);
            }
        }
        m
    };
    for (i, a) in asts.iter().enumerate() {
        let src = &srcs[i];
        if !abi_name_ok(&a.name.value) {
            diags.at(
                src,
                a.name.span.clone(),
                format!(
                    "malformed ABI name {:?}: lowercase letters, digits and dashes, without the version \
                     (that is `version`)",
                    a.name.value
                ),
            );
        } else if RUST_KEYWORDS.contains(&a.name.value.as_str()) {
            diags.at(
                src,
                a.name.span.clone(),
                format!(
                    "ABI name {:?} is a Rust keyword: it cannot name the generated module",
                    a.name.value
                ),
            );
        }
        if a.version.value == 0 {
            diags.at(src, a.version.span.clone(), "version starts at 1".into());
        }
        for d in &a.depends {
            if !by_name.contains_key(&d.value) {
                diags.at(
                    src,
                    d.span.clone(),
                    format!(
                        "unknown dependency `{}`: no schema declares that ABI",
                        d.value
                    ),
                );
            } else if d.value == a.name.value {
                diags.at(
                    src,
                    d.span.clone(),
                    format!("ABI `{}` depends on itself", d.value),
                );
            }
        }
        check_c_settings(src, a, diags);
    }
    check_outputs(srcs, &asts, diags);
    let deps: Vec<Vec<usize>> = asts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.depends
                .iter()
                .filter_map(|d| by_name.get(&d.value).copied())
                .filter(|&j| j != i)
                .collect()
        })
        .collect();
    let closure = if check_dependency_graph(srcs, &asts, &deps, diags) {
        dependency_closure(&deps)
    } else {
        vec![Vec::new(); asts.len()]
    };
    let constant_names: Vec<BTreeSet<&str>> = asts
        .iter()
        .map(|a| a.constants.iter().map(|k| k.name.value.as_str()).collect())
        .collect();
    let struct_names: Vec<BTreeMap<&str, &Sp<String>>> = asts
        .iter()
        .map(|a| {
            a.structs
                .iter()
                .map(|s| (s.name.value.as_str(), &s.name))
                .collect()
        })
        .collect();

    // Where each schema's structs start in the set of every struct.
    let first: Vec<usize> = asts
        .iter()
        .scan(0usize, |n, a| {
            let at = *n;
            *n += a.structs.len();
            Some(at)
        })
        .collect();
    let position = |d: usize, name: &str| {
        asts[d]
            .structs
            .iter()
            .position(|st| st.name.value == name)
            .map(|p| first[d] + p)
    };
    let mut out = Vec::new();
    for (i, a) in asts.iter().enumerate() {
        let src = &srcs[i];
        constants(src, a, diags);
        check_compatibles(src, a, diags);
        check_constant_collisions(srcs, &asts, i, &closure[i], &constant_names, diags);
        // Structs of the direct dependencies, by name: every ABI that has one.
        let mut from_deps: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &d in &deps[i] {
            for st in &asts[d].structs {
                let v = from_deps.entry(&st.name.value).or_default();
                if !v.contains(&d) {
                    v.push(d);
                }
            }
        }
        let mut seen = BTreeSet::new();
        let mut rust_names: BTreeMap<String, &str> = BTreeMap::new();
        for st in &a.structs {
            let name = &st.name.value;
            if !seen.insert(name) {
                diags.at(
                    src,
                    st.name.span.clone(),
                    format!("duplicate struct `{name}`"),
                );
                continue;
            }
            if !struct_ident_ok(name) {
                diags.at(
                    src,
                    st.name.span.clone(),
                    format!(
                        "malformed struct name {name:?}: lowercase words joined by single `_`, \
                         starting with a letter"
                    ),
                );
                continue;
            }
            if let Some(why) = c_reserved(name) {
                diags.at(
                    src,
                    st.name.span.clone(),
                    format!("struct name {name:?} is {why}"),
                );
            }
            let rust = crate::layout::rust_type_name(name);
            if RUST_TAKEN_TYPES.contains(&rust.as_str()) {
                diags.at(
                    src,
                    st.name.span.clone(),
                    format!(
                        "struct name {name:?} becomes the Rust type `{rust}`, a name the generated \
                         Rust needs for the standard type (rename the struct)"
                    ),
                );
            } else if let Some(other) = rust_names.insert(rust.clone(), name) {
                diags.at(
                    src,
                    st.name.span.clone(),
                    format!(
                        "struct name {name:?} becomes the Rust type `{rust}`, as struct {other:?} does"
                    ),
                );
            }
            for &d in &closure[i] {
                if let Some(theirs) = struct_names[d].get(name.as_str()) {
                    let (line, col) = srcs[d].line_col(theirs.span.start);
                    diags.at(
                        src,
                        st.name.span.clone(),
                        format!(
                            "struct `{name}` is also defined by dependency `{}` ({}:{line}:{col}): \
                             C struct names share one namespace, so the headers would clash",
                            asts[d].name.value, srcs[d].path
                        ),
                    );
                    break;
                }
            }
        }
        let own: BTreeSet<&str> = a.structs.iter().map(|s| s.name.value.as_str()).collect();
        let mut types = Vec::new();
        for st in &a.structs {
            if st.fields.is_empty() {
                diags.at(
                    src,
                    st.name.span.clone(),
                    format!("struct {} has no fields", st.name.value),
                );
            }
            let mut names = BTreeSet::new();
            let mut tys = Vec::new();
            for f in &st.fields {
                let fname = &f.name.value;
                let at = format!("{}.{fname}", st.name.value);
                if !names.insert(fname) {
                    diags.at(src, f.name.span.clone(), format!("{at}: duplicate field"));
                }
                if !field_ident_ok(fname) {
                    diags.at(
                        src,
                        f.name.span.clone(),
                        format!("{at}: malformed field name: a C identifier (letters, digits and _, not starting with a digit)"),
                    );
                } else if let Some(why) = c_reserved(fname) {
                    diags.at(
                        src,
                        f.name.span.clone(),
                        format!("{at}: field name {fname:?} is {why}"),
                    );
                } else if RUST_NOT_RAW.contains(&fname.as_str()) {
                    diags.at(
                        src,
                        f.name.span.clone(),
                        format!(
                            "{at}: field name {fname:?} is a Rust keyword that cannot be a raw \
                             identifier (r#{fname})"
                        ),
                    );
                }
                let resolve = |base: &str| -> Result<Option<usize>, String> {
                    if own.contains(base) {
                        return Ok(position(i, base));
                    }
                    match from_deps.get(base).map(Vec::as_slice) {
                        None | Some([]) => Ok(None),
                        Some([d]) => Ok(position(*d, base)),
                        Some(many) => {
                            let names: Vec<String> = many
                                .iter()
                                .map(|d| format!("`{}`", asts[*d].name.value))
                                .collect();
                            let all = if many.len() == 2 { "both" } else { "all" };
                            Err(format!(
                                "ambiguous type `{base}`: dependencies {} {all} define a struct of that name",
                                names.join(" and ")
                            ))
                        }
                    }
                };
                match parse_type(&f.ty, &resolve) {
                    Ok(t) => {
                        for d in &t.dims {
                            for (name, off) in crate::expr::names(&d.expr) {
                                let known = constant_names[i].contains(name)
                                    || closure[i].iter().any(|&c| constant_names[c].contains(name));
                                if !known {
                                    diags.at(
                                        src,
                                        place_in(src, &f.ty, d.at + off),
                                        format!(
                                            "{at}: unknown constant `{name}` in type `{}`",
                                            f.ty.value.trim()
                                        ),
                                    );
                                }
                            }
                        }
                        tys.push(t)
                    }
                    Err((off, msg)) => {
                        diags.at(src, place_in(src, &f.ty, off), format!("{at}: {msg}"));
                        tys.push(FieldTy::error());
                    }
                }
            }
            check_struct(src, st, &tys, diags);
            types.push(tys);
        }
        out.push(Checked {
            index: i,
            ast: a.clone(),
            types,
            closure: closure[i].clone(),
        });
    }
    out
}

/// The byte range of `offset` into a string value's text: exact when the
/// TOML string is written without escapes (the common case), else the
/// string's start.
pub(crate) fn place_in(src: &Source, v: &Sp<String>, offset: usize) -> std::ops::Range<usize> {
    if offset == 0 {
        return v.span.clone();
    }
    let start = v.span.start + 1;
    let raw = src.text.get(start..start + v.value.len());
    if raw == Some(v.value.as_str()) {
        let at = start + offset.min(v.value.len());
        at..at
    } else {
        v.span.clone()
    }
}

/// The rules of one struct's fields that need no layout: where bit fields,
/// flexible arrays and their counts may be, `align`, unions.
fn check_struct(src: &Source, st: &StructAst, tys: &[FieldTy], diags: &mut Diags) {
    let sname = &st.name.value;
    if let Some(al) = &st.align {
        if al.value == 0 || !al.value.is_power_of_two() || al.value > MAX_ALIGN {
            diags.at(
                src,
                al.span.clone(),
                format!(
                    "struct {sname}: align = {} must be a power of two from 1 to {MAX_ALIGN}",
                    al.value
                ),
            );
        }
    }
    let last = st.fields.len().saturating_sub(1);
    for (k, (f, t)) in st.fields.iter().zip(tys).enumerate() {
        let at = format!("{sname}.{}", f.name.value);
        if let Some(b) = &f.bits {
            match (&t.base, t.dims.is_empty() && !t.flex) {
                (BaseTy::Prim(p), true) if is_int(*p) => {
                    let max = p.size() as u64 * 8;
                    if b.value == 0 || b.value > max {
                        diags.at(
                            src,
                            b.span.clone(),
                            format!(
                                "{at}: bits = {} is outside 1..={max}, the width of its type `{}`",
                                b.value, t.spelling
                            ),
                        );
                    }
                }
                _ => diags.at(
                    src,
                    b.span.clone(),
                    format!(
                        "{at}: a bit field's type is an integer (u8..u64, s8..s64 or a kernel \
                         spelling of one), not `{}`",
                        f.ty.value.trim()
                    ),
                ),
            }
        }
        if t.flex {
            if k != last {
                diags.at(
                    src,
                    f.ty.span.clone(),
                    format!("{at}: a flexible array member `T[]` must be the struct's last field"),
                );
            } else if st.union {
                diags.at(
                    src,
                    f.ty.span.clone(),
                    format!("{at}: a union cannot have a flexible array member"),
                );
            } else if st.fields.len() == 1 {
                diags.at(
                    src,
                    f.ty.span.clone(),
                    format!(
                        "{at}: a flexible array member needs another field before it (as in C)"
                    ),
                );
            }
            if st.entry {
                diags.at(
                    src,
                    f.ty.span.clone(),
                    format!(
                        "{at}: entry {sname} cannot end in a flexible array: a block set's entries \
                         have one fixed size"
                    ),
                );
            }
        }
        if let Some(c) = &f.count {
            if !t.flex {
                diags.at(
                    src,
                    c.span.clone(),
                    format!("{at}: `count` is for a flexible array member (`T[]`) only"),
                );
                continue;
            }
            let counted = st
                .fields
                .iter()
                .zip(tys)
                .take(k)
                .find(|(g, _)| g.name.value == c.value);
            match counted {
                None => diags.at(
                    src,
                    c.span.clone(),
                    format!(
                        "{at}: count = {:?} names no field of {sname} before it",
                        c.value
                    ),
                ),
                Some((_, ct)) => {
                    let int = matches!(&ct.base, BaseTy::Prim(p) if is_int(*p))
                        && ct.dims.is_empty()
                        && !ct.flex;
                    if !int {
                        diags.at(
                            src,
                            c.span.clone(),
                            format!(
                                "{at}: count = {:?} is a field of type `{}`, not an integer",
                                c.value, ct.spelling
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// `[[abi.compatible]]`: well-formed macros and strings, each struct
/// covered by one macro at most (the rest by the main one).
fn check_compatibles(src: &Source, a: &SchemaAst, diags: &mut Diags) {
    let main = compatible_macro_of(a);
    let mut macros: BTreeMap<&str, ()> = BTreeMap::new();
    macros.insert(main.as_str(), ());
    let mut covered: BTreeMap<&str, &str> = BTreeMap::new();
    for m in &a.compatibles {
        let mac = m.macro_name.value.as_str();
        if !constant_name_ok(mac) {
            diags.at(
                src,
                m.macro_name.span.clone(),
                format!(
                    "malformed compatible macro {mac:?}: UPPER_CASE letters, digits and _, starting \
                     with a letter"
                ),
            );
        } else if KERNEL_MACROS.contains(&mac) {
            diags.at(
                src,
                m.macro_name.span.clone(),
                format!("compatible macro {mac} is a kernel macro"),
            );
        } else if macros.insert(mac, ()).is_some() {
            diags.at(
                src,
                m.macro_name.span.clone(),
                format!(
                    "compatible macro {mac} is declared twice in ABI `{}`",
                    a.name.value
                ),
            );
        } else if a.constants.iter().any(|k| k.name.value == mac) {
            diags.at(
                src,
                m.macro_name.span.clone(),
                format!("compatible macro {mac} is also a constant of this ABI"),
            );
        }
        if !abi_name_ok(&m.name.value) {
            diags.at(
                src,
                m.name.span.clone(),
                format!(
                    "malformed compatible name {:?}: lowercase letters, digits and dashes, without \
                     the version (that is `version`)",
                    m.name.value
                ),
            );
        }
        if m.version.value == 0 {
            diags.at(src, m.version.span.clone(), "version starts at 1".into());
        }
        let string = format!("{}-v{}", m.name.value, m.version.value);
        if string.len() > crate::layout::MAX_COMPATIBLE {
            diags.at(
                src,
                m.name.span.clone(),
                format!(
                    "compatible string {string:?} of {mac} is {} bytes: the limit is 47 (the \
                     kernel's 48 bytes with the NUL)",
                    string.len()
                ),
            );
        }
        if !m.structs_given {
            diags.at(
                src,
                m.macro_name.span.clone(),
                format!(
                    "compatible macro {mac} lists no `structs`: it would cover nothing (write \
                     `structs = []` for a macro that versions no struct, such as an FDT node's)"
                ),
            );
        }
        for s in &m.structs {
            if !a.structs.iter().any(|st| st.name.value == s.value) {
                diags.at(
                    src,
                    s.span.clone(),
                    format!(
                        "compatible macro {mac}: unknown struct `{}` (it lists structs of this ABI)",
                        s.value
                    ),
                );
            } else if let Some(other) = covered.insert(&s.value, mac) {
                diags.at(
                    src,
                    s.span.clone(),
                    format!(
                        "struct `{}` is covered by compatible macros {other} and {mac}: each struct \
                         by one",
                        s.value
                    ),
                );
            }
        }
    }
}

/// An integer primitive: what a bit field or a count may be (not `char`,
/// not a physical address).
pub(crate) fn is_int(p: Prim) -> bool {
    !matches!(p, Prim::Char | Prim::PhysAddr)
}

/// Largest `align`: a page. Larger alignments are not what an ABI in a
/// serialized block means.
pub(crate) const MAX_ALIGN: u64 = 4096;

/// `[abi.c]`: a header path that stays in the tree, macro and include names
/// that read the same in C.
fn check_c_settings(src: &Source, a: &SchemaAst, diags: &mut Diags) {
    if let Some(h) = &a.c.header {
        if let Some(why) = header_path_problem(&h.value) {
            diags.at(
                src,
                h.span.clone(),
                format!(
                    "header {:?} {why}: it must be a relative path under the output directory \
                     (letters, digits, `_`, `-`, `.`; no `..`), ending in `.h`",
                    h.value
                ),
            );
        }
    }
    if let (Some(_), Some(v)) = (&a.c.compatible_macro, &a.c.version_macro) {
        diags.at(
            src,
            v.span.clone(),
            "an ABI has a compatible_macro or a version_macro, not both".to_string(),
        );
    }
    if let Some(v) = &a.c.version_macro {
        if !a.depends.is_empty() && a.compose != Compose::None {
            diags.at(
                src,
                v.span.clone(),
                format!(
                    "version_macro {} is a number and cannot be composed with the dependencies'                      strings: add compose = \"none\"",
                    v.value
                ),
            );
        }
        if !a.compatibles.is_empty() {
            diags.at(
                src,
                v.span.clone(),
                "an ABI with a version_macro has no other compatible macros".to_string(),
            );
        }
    }
    if let Some(m) = a.c.version_macro.as_ref().or(a.c.compatible_macro.as_ref()) {
        let key = if a.c.version_macro.is_some() {
            "version_macro"
        } else {
            "compatible_macro"
        };
        if !constant_name_ok(&m.value) {
            diags.at(
                src,
                m.span.clone(),
                format!(
                    "malformed {key} {:?}: UPPER_CASE letters, digits and _, starting with a letter",
                    m.value
                ),
            );
        } else if KERNEL_MACROS.contains(&m.value.as_str()) {
            diags.at(
                src,
                m.span.clone(),
                format!("{key} {} is a kernel macro", m.value),
            );
        }
    }
    for inc in &a.c.includes {
        let bad = inc.value.is_empty()
            || inc.value.starts_with('/')
            || !inc
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
        if bad {
            diags.at(
                src,
                inc.span.clone(),
                format!(
                    "include {:?} cannot be written as #include <...>: a relative path of letters, \
                     digits, `_`, `-`, `.` and `/`",
                    inc.value
                ),
            );
        }
    }
}

/// Every ABI writes its own files: no two C headers at one path (compared
/// without case, for case-insensitive file systems), under one include
/// guard, or with one compatible-string macro.
fn check_outputs(srcs: &[Source], asts: &[SchemaAst], diags: &mut Diags) {
    let mut headers: BTreeMap<String, usize> = BTreeMap::new();
    let mut guards: BTreeMap<String, usize> = BTreeMap::new();
    let mut macros: BTreeMap<String, usize> = BTreeMap::new();
    let place = |a: &SchemaAst, span: Option<&Sp<String>>| {
        span.map_or(a.name.span.clone(), |s| s.span.clone())
    };
    for (i, a) in asts.iter().enumerate() {
        let header = header_of(a);
        if header_path_problem(&header).is_some() {
            continue;
        }
        let at = place(a, a.c.header.as_ref());
        if let Some(&j) = headers.get(&header.to_ascii_lowercase()) {
            diags.at(
                &srcs[i],
                at,
                format!(
                    "header {header:?} of ABI `{}` is also the header of ABI `{}` ({}): each ABI needs its own",
                    a.name.value, asts[j].name.value, srcs[j].path
                ),
            );
            continue;
        }
        headers.insert(header.to_ascii_lowercase(), i);
        let guard = crate::layout::include_guard(&header);
        if let Some(&j) = guards.get(&guard) {
            diags.at(
                &srcs[i],
                at,
                format!(
                    "header {header:?} of ABI `{}` has the include guard {guard} of ABI `{}`'s header {:?} ({})",
                    a.name.value,
                    asts[j].name.value,
                    header_of(&asts[j]),
                    srcs[j].path
                ),
            );
        } else {
            guards.insert(guard, i);
        }
        for extra in &a.compatibles {
            let m = &extra.macro_name.value;
            if let Some(&j) = macros.get(m) {
                diags.at(
                    &srcs[i],
                    extra.macro_name.span.clone(),
                    format!(
                        "compatible macro {m} of ABI `{}` is also ABI `{}`'s ({})",
                        a.name.value, asts[j].name.value, srcs[j].path
                    ),
                );
            } else {
                macros.insert(m.clone(), i);
            }
        }
        let m = compatible_macro_of(a);
        if let Some(&j) = macros.get(&m).filter(|&&j| j != i) {
            diags.at(
                &srcs[i],
                place(a, a.c.compatible_macro.as_ref()),
                format!(
                    "compatible_macro {m} of ABI `{}` is also ABI `{}`'s ({})",
                    a.name.value, asts[j].name.value, srcs[j].path
                ),
            );
        } else {
            macros.insert(m, i);
        }
    }
}

/// A constant must not redefine a macro its header defines or includes:
/// its own compatible macro, a dependency's constants or compatible macro,
/// a kernel macro, or a Rust name the generated module gives another
/// constant (`X_C` for a C expression `X`).
fn check_constant_collisions(
    srcs: &[Source],
    asts: &[SchemaAst],
    i: usize,
    closure: &[usize],
    dep_constants: &[BTreeSet<&str>],
    diags: &mut Diags,
) {
    let a = &asts[i];
    let src = &srcs[i];
    let own_macro = compatible_macro_of(a);
    for k in &a.constants {
        let name = &k.name.value;
        let span = k.name.span.clone();
        // An external constant names the kernel's macro (BITS_PER_BYTE
        // from linux/bits.h): it is included, never defined.
        if KERNEL_MACROS.contains(&name.as_str()) && k.external.is_none() {
            diags.at(
                src,
                span,
                format!("constant name {name} is a kernel macro the generated header relies on"),
            );
            continue;
        }
        if *name == own_macro {
            diags.at(
                src,
                span,
                format!("constant name {name} is this ABI's compatible-string macro"),
            );
            continue;
        }
        if let Some(stem) = name.strip_suffix("_C") {
            if a.constants
                .iter()
                .any(|o| o.name.value == stem && matches!(o.value, ConstValue::C(_)))
            {
                diags.at(
                    src,
                    span,
                    format!("constant name {name} is the Rust name of the C expression {stem}"),
                );
                continue;
            }
        }
        for &d in closure {
            let dep = &asts[d];
            let clash = if compatible_macro_of(dep) == *name {
                Some("compatible-string macro")
            } else if dep_constants
                .get(d)
                .is_some_and(|c| c.contains(name.as_str()))
            {
                // Two ABIs may both use another header's constant: it is
                // included, never defined, so nothing clashes if they agree.
                let theirs = dep.constants.iter().find(|o| o.name.value == *name);
                let agree = theirs.is_some_and(|o| {
                    k.external.as_ref().map(|h| &h.value) == o.external.as_ref().map(|h| &h.value)
                        && k.external.is_some()
                        && matches!((&k.value, &o.value), (ConstValue::Int(a), ConstValue::Int(b)) if a == b)
                });
                (!agree).then_some("constant")
            } else {
                None
            };
            if let Some(what) = clash {
                diags.at(
                    src,
                    span,
                    format!(
                        "constant name {name} is also the {what} of dependency `{}` ({}), whose header this one includes",
                        dep.name.value, srcs[d].path
                    ),
                );
                break;
            }
        }
    }
}

/// Visits the graph `children` from every node in order, each node after
/// its children (post-order), with an explicit stack so that no depth can
/// overflow the call stack. `cycle` gets the path from the node met again
/// to the node that reached it, once per back edge.
pub(crate) fn post_order(children: &[Vec<usize>], mut cycle: impl FnMut(&[usize])) -> Vec<usize> {
    let n = children.len();
    let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut path: Vec<usize> = Vec::new();
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        stack.push((root, 0));
        path.push(root);
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            match children[node].get(next) {
                Some(&c) => {
                    top.1 += 1;
                    match state[c] {
                        0 => {
                            state[c] = 1;
                            stack.push((c, 0));
                            path.push(c);
                        }
                        1 => {
                            let from = path.iter().rposition(|&p| p == c).unwrap_or(0);
                            cycle(&path[from..]);
                        }
                        _ => {}
                    }
                }
                None => {
                    state[node] = 2;
                    order.push(node);
                    stack.pop();
                    path.pop();
                }
            }
        }
    }
    order
}

/// No ABI depends on itself through others, and no chain of dependencies
/// is deeper than [`MAX_DEPENDENCY_DEPTH`].
/// Whether the graph is sound.
fn check_dependency_graph(
    srcs: &[Source],
    asts: &[SchemaAst],
    deps: &[Vec<usize>],
    diags: &mut Diags,
) -> bool {
    let mut in_cycle = vec![false; asts.len()];
    let order = post_order(deps, |path| {
        for &p in path {
            in_cycle[p] = true;
        }
    });
    for (i, a) in asts.iter().enumerate() {
        if in_cycle[i] {
            diags.at(
                &srcs[i],
                a.name.span.clone(),
                format!("ABI `{}` is part of a dependency cycle", a.name.value),
            );
        }
    }
    if in_cycle.iter().any(|&c| c) {
        return false;
    }
    let mut ok = true;
    let mut depth = vec![0usize; asts.len()];
    let mut deepest = vec![None; asts.len()];
    for &i in &order {
        let best = deps[i].iter().copied().max_by_key(|&d| depth[d]);
        depth[i] = 1 + best.map_or(0, |d| depth[d]);
        deepest[i] = best;
        if depth[i] > MAX_DEPENDENCY_DEPTH {
            ok = false;
        }
        if depth[i] == MAX_DEPENDENCY_DEPTH + 1 {
            let mut chain = vec![asts[i].name.value.as_str()];
            let mut at = best;
            while let Some(d) = at {
                chain.push(&asts[d].name.value);
                at = deepest[d];
            }
            diags.at(
                &srcs[i],
                asts[i].name.span.clone(),
                format!(
                    "ABI `{}` builds on a chain of {} ABIs ({}): the limit is {MAX_DEPENDENCY_DEPTH}",
                    asts[i].name.value,
                    depth[i],
                    elide(&chain)
                ),
            );
        }
    }
    ok
}

/// `a -> b -> c`, or `a -> b -> c -> ... -> z` for a long chain.
pub(crate) fn elide(chain: &[&str]) -> String {
    if chain.len() <= 5 {
        return chain.join(" -> ");
    }
    let last = chain.last().copied().unwrap_or_default();
    format!("{} -> ... -> {last}", chain[..3].join(" -> "))
}

/// Every ABI each ABI depends on, directly or not (the headers it may
/// include), without recursion. Sorted, without the ABI itself.
fn dependency_closure(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut out = Vec::with_capacity(deps.len());
    for i in 0..deps.len() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<usize> = deps[i].clone();
        while let Some(d) = todo.pop() {
            if d != i && seen.insert(d) {
                todo.extend(&deps[d]);
            }
        }
        out.push(seen.into_iter().collect());
    }
    out
}

fn constants(src: &Source, a: &SchemaAst, diags: &mut Diags) -> BTreeMap<String, Option<u64>> {
    let mut out = BTreeMap::new();
    for c in &a.constants {
        if let Some(h) = &c.external {
            // Another header's name, as it spells it (`__NEW_UTS_LEN`):
            // any C identifier that is not an expression's own word.
            let word = crate::expr::is_expression_word(&c.name.value);
            if !external_ident_ok(&c.name.value) || word {
                diags.at(
                    src,
                    c.name.span.clone(),
                    format!(
                        "malformed external constant name {:?}: a C identifier (letters, digits \
                         and _) that is not a word of expressions",
                        c.name.value
                    ),
                );
            }
            let bad = h.value.is_empty()
                || h.value.starts_with('/')
                || h.value
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
                || !h
                    .value
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.' | '/'));
            if bad {
                diags.at(
                    src,
                    h.span.clone(),
                    format!(
                        "constant {}: external header {:?} cannot be written as #include <...>: a \
                         relative path of letters, digits, `_`, `-`, `.` and `/`",
                        c.name.value, h.value
                    ),
                );
            }
            out.insert(c.name.value.clone(), None);
            continue;
        }
        if !constant_name_ok(&c.name.value) {
            diags.at(
                src,
                c.name.span.clone(),
                format!(
                    "malformed constant name {:?}: UPPER_CASE letters, digits and _, \
                     starting with a letter",
                    c.name.value
                ),
            );
        }
        if matches!(c.name.value.as_str(), "COMPATIBLE" | "FINGERPRINT") {
            diags.at(
                src,
                c.name.span.clone(),
                format!(
                    "constant name {} is taken: every generated module defines it",
                    c.name.value
                ),
            );
        }
        if let ConstValue::C(expr) = &c.value {
            if expr.trim().is_empty()
                || expr.chars().any(char::is_control)
                || expr.contains("/*")
                || expr.contains("*/")
            {
                diags.at(
                    src,
                    c.name.span.clone(),
                    format!(
                        "constant {}: the C expression {expr:?} must be one line without comments",
                        c.name.value
                    ),
                );
            }
        }
        let int = match c.value {
            ConstValue::Int(n) => Some(n),
            _ => None,
        };
        out.insert(c.name.value.clone(), int);
    }
    enums(src, a, diags);
    out
}

/// Enum members (`enum = "tag"`) become one C `enum tag { .. };` per tag,
/// before the structs: so a tag's members are listed together, and a
/// member uses no struct's layout and no member declared after it (C
/// scopes an enumerator from its own declaration on).
fn enums(src: &Source, a: &SchemaAst, diags: &mut Diags) {
    let mut closed: BTreeSet<&str> = BTreeSet::new();
    let mut current: Option<&str> = None;
    for (i, c) in a.constants.iter().enumerate() {
        let Some(tag) = &c.enum_tag else {
            if let Some(t) = current.take() {
                closed.insert(t);
            }
            continue;
        };
        let t = tag.value.as_str();
        if !t.is_empty() && !external_ident_ok(t) {
            diags.at(
                src,
                tag.span.clone(),
                format!(
                    "constant {}: malformed enum tag {t:?}: a C identifier",
                    c.name.value
                ),
            );
        }
        if current != Some(t) {
            if let Some(prev) = current.take() {
                closed.insert(prev);
            }
            if closed.contains(t) {
                diags.at(
                    src,
                    tag.span.clone(),
                    format!(
                        "constant {}: the members of enum {t:?} must be listed together (C \
                         declares them in one enum)",
                        c.name.value
                    ),
                );
            }
            current = Some(t);
        }
        let Some(e) = &c.expr else { continue };
        let Ok(parsed) = crate::expr::parse(&e.value) else {
            continue;
        };
        for r in crate::expr::refs(&parsed) {
            let problem = match &r {
                crate::expr::Ref::Constant(n)
                    if a.constants[i..]
                        .iter()
                        .any(|o| o.name.value == *n && o.enum_tag.is_some()) =>
                {
                    Some(format!(
                        "uses enum member {n}, which is not declared before it"
                    ))
                }
                r => struct_used(a, r).map(|(s, via)| {
                    format!(
                        "uses the layout of struct {s}{via}, which C declares after the enums; \
                         make it a #define (drop `enum`)"
                    )
                }),
            };
            if let Some(p) = problem {
                diags.at(
                    src,
                    e.span.clone(),
                    format!("constant {}: {p}", c.name.value),
                );
            }
        }
    }
}

/// The struct whose layout `r` needs, directly (`sizeof(struct s)`) or
/// through this schema's `#define`s (`X` whose expression does), with the
/// constant it goes through (`" (through X)"`); `sizeof` of a type is none.
fn struct_used(a: &SchemaAst, r: &crate::expr::Ref) -> Option<(String, String)> {
    let is_struct = |s: &str| prim_of(s).is_none() && !LP64_NAMES.contains(&s);
    let mut todo = vec![(r.clone(), String::new())];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while let Some((r, via)) = todo.pop() {
        match r {
            crate::expr::Ref::Struct(s) if is_struct(&s) => return Some((s, via)),
            crate::expr::Ref::Constant(n) if seen.insert(n.clone()) => {
                let Some(k) = a
                    .constants
                    .iter()
                    .find(|k| k.name.value == n && k.enum_tag.is_none())
                else {
                    continue;
                };
                let Some(Ok(e)) = k.expr.as_ref().map(|e| crate::expr::parse(&e.value)) else {
                    continue;
                };
                let via = if via.is_empty() {
                    format!(" (through {n})")
                } else {
                    via
                };
                todo.extend(crate::expr::refs(&e).into_iter().map(|r| (r, via.clone())));
            }
            _ => {}
        }
    }
    None
}

/// A field's type, resolved but not laid out: array lengths are
/// expressions evaluated per page size by the layout stage.
#[derive(Debug, Clone)]
pub(crate) struct FieldTy {
    /// The type under the arrays.
    pub base: BaseTy,
    /// Dimensions, outermost first (C order), without a flexible `[]`.
    pub dims: Vec<Dim>,
    /// A flexible array member `T[]`.
    pub flex: bool,
    /// The base as the schema spells it, normalised (see `Note::field_c_types`).
    pub spelling: String,
}

/// What a field is made of under its arrays.
#[derive(Debug, Clone)]
pub(crate) enum BaseTy {
    /// A primitive (`char` only under a `char[N]`).
    Prim(Prim),
    /// A struct: its index among every struct checked together.
    Struct(usize, String),
    /// `khoser_ptr<S>`: a physical address of an `S`.
    Ptr(String),
}

/// One array dimension.
#[derive(Debug, Clone)]
pub(crate) struct Dim {
    /// The length expression.
    pub expr: Expr,
    /// As written, for C and Rust; `None` for a literal (then only the
    /// value is kept) and for a bitmap's words.
    pub text: Option<String>,
    /// How messages name it: the text, or `bitmap<N>`.
    pub shown: String,
    /// Byte offset of the expression in the type string (for error places).
    pub at: usize,
}

impl FieldTy {
    /// A placeholder after an error (nothing reads it: the compile fails).
    pub(crate) fn error() -> Self {
        FieldTy {
            base: BaseTy::Prim(Prim::U8),
            dims: Vec::new(),
            flex: false,
            spelling: "u8".into(),
        }
    }

    /// The struct it holds by value (a pointer holds none).
    pub(crate) fn struct_index(&self) -> Option<usize> {
        match self.base {
            BaseTy::Struct(i, _) => Some(i),
            _ => None,
        }
    }
}

/// The kernel's spellings of the primitives, beside kho's own (`u8` ..
/// `i64`, `phys_addr`, which `Prim::parse` reads). `long` and `unsigned
/// long` are not here: their size is the target's.
pub(crate) const ALIASES: &[(&str, Prim)] = &[
    ("s8", Prim::I8),
    ("s16", Prim::I16),
    ("s32", Prim::I32),
    ("s64", Prim::I64),
    ("__u8", Prim::U8),
    ("__u16", Prim::U16),
    ("__u32", Prim::U32),
    ("__u64", Prim::U64),
    ("__s8", Prim::I8),
    ("__s16", Prim::I16),
    ("__s32", Prim::I32),
    ("__s64", Prim::I64),
    ("unsigned char", Prim::U8),
    ("unsigned short", Prim::U16),
    ("unsigned int", Prim::U32),
    ("unsigned long long", Prim::U64),
    ("signed char", Prim::I8),
    ("short", Prim::I16),
    ("int", Prim::I32),
    ("long long", Prim::I64),
    ("phys_addr_t", Prim::PhysAddr),
];

/// A primitive by any of its spellings (`char` included).
pub(crate) fn prim_of(spelling: &str) -> Option<Prim> {
    Prim::parse(spelling).or_else(|| {
        ALIASES
            .iter()
            .find(|(s, _)| *s == spelling)
            .map(|(_, p)| *p)
    })
}

/// What `sizeof` takes beyond the schema's types: the C names whose size
/// is the target's, 8 on LP64, the model of every architecture with
/// `ARCH_SUPPORTS_KEXEC_HANDOVER` (x86-64 and arm64).
pub(crate) const LP64_NAMES: &[&str] = &[
    "long",
    "unsigned long",
    "long int",
    "unsigned long int",
    "size_t",
    "void *",
];

/// The hint for a type the schema language refuses by design.
pub(crate) fn refused_type_hint(base: &str) -> &'static str {
    match base {
        "usize" | "isize" | "size_t" | "ssize_t" | "long" | "unsigned long" | "signed long"
        | "long int" | "unsigned long int" | "uintptr_t" => {
            ": its size changes with the architecture; use u64 (a kernel bitmap is bitmap<N>)"
        }
        "bool" | "_Bool" => ": use u8",
        "u128" | "i128" | "__u128" | "__s128" | "f32" | "f64" | "float" | "double" => {
            ": not part of kernel ABIs"
        }
        _ => "",
    }
}

/// `bitmap<N>`: the kernel's `DECLARE_BITMAP(name, N)`, `unsigned long
/// name[BITS_TO_LONGS(N)]`, laid out as that many `u64` words (LP64, as
/// every architecture with KHO is). Its spelling keeps `N` for C.
fn bitmap_type(text: &str) -> Result<Option<FieldTy>, (usize, String)> {
    let Some(rest) = text.trim_start().strip_prefix("bitmap") else {
        return Ok(None);
    };
    let Some(inner) = rest.trim_start().strip_prefix('<') else {
        return Ok(None);
    };
    let open = text.len() - inner.len();
    let Some(inner) = inner.trim_end().strip_suffix('>') else {
        return Err((
            open - 1,
            format!(
                "type `{}`: a bitmap is `bitmap<N>`, N its number of bits; it is not an array \
                 element (DECLARE_BITMAP declares the field itself)",
                text.trim()
            ),
        ));
    };
    let at = open + (inner.len() - inner.trim_start().len());
    let bits = inner.trim();
    let expr = crate::expr::parse(bits)
        .map_err(|e| (at + e.offset, format!("bitmap<{bits}>: {}", e.message)))?;
    let words = Expr::Call(crate::expr::Func::BitsToLongs, vec![expr], 0);
    let bits = bits.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Some(FieldTy {
        base: BaseTy::Prim(Prim::U64),
        dims: vec![Dim {
            expr: words,
            text: None,
            shown: format!("bitmap<{bits}>"),
            at,
        }],
        flex: false,
        spelling: format!("bitmap<{bits}>"),
    }))
}

/// `base ('[' expr? ']')*`, dimensions outermost first; `base` is a
/// primitive of any spelling, `struct NAME` or `NAME`, or `khoser_ptr<S>`.
fn parse_type(
    ty: &Sp<String>,
    resolve: &dyn Fn(&str) -> Result<Option<usize>, String>,
) -> Result<FieldTy, (usize, String)> {
    let text = ty.value.as_str();
    if text.len() > crate::expr::MAX_EXPR_LEN * 2 {
        return Err((
            0,
            format!(
                "type is {} bytes: the limit is {}",
                text.len(),
                crate::expr::MAX_EXPR_LEN * 2
            ),
        ));
    }
    if let Some(b) = bitmap_type(text)? {
        return Ok(b);
    }
    let (base_raw, mut rest, mut pos) = match text.find('[') {
        Some(i) => (&text[..i], &text[i..], i),
        None => (text, "", text.len()),
    };
    let base_words: Vec<&str> = base_raw.split_whitespace().collect();
    let spelled = base_words.join(" ");
    let mut dims = Vec::new();
    let mut flex = false;
    while !rest.is_empty() {
        if dims.len() == MAX_DIMENSIONS {
            return Err((
                0,
                format!(
                    "type `{}` has more than {MAX_DIMENSIONS} array dimensions",
                    text.trim()
                ),
            ));
        }
        if flex {
            return Err((
                pos,
                format!(
                    "type `{}`: a flexible array `[]` is the last part of the type (`T[]`)",
                    text.trim()
                ),
            ));
        }
        // The matching `]`, minding brackets inside the expression.
        let mut depth = 0usize;
        let mut close = None;
        for (i, c) in rest.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let close =
            close.ok_or_else(|| (pos, format!("unclosed `[` in type `{}`", text.trim())))?;
        let inner_raw = &rest[1..close];
        let lead = inner_raw.len() - inner_raw.trim_start().len();
        let inner = inner_raw.trim();
        let at = pos + 1 + lead;
        if inner.is_empty() {
            flex = true;
        } else {
            let expr = crate::expr::parse(inner).map_err(|e| {
                (
                    at + e.offset,
                    format!("array length `{inner}`: {}", e.message),
                )
            })?;
            let text = match expr {
                Expr::Num(_) => None,
                _ => Some(inner.to_string()),
            };
            dims.push(Dim {
                expr,
                shown: inner.to_string(),
                text,
                at,
            });
        }
        let after = &rest[close + 1..];
        let skip = after.len() - after.trim_start().len();
        pos += close + 1 + skip;
        rest = after.trim_start();
        if !rest.is_empty() && !rest.starts_with('[') {
            return Err((
                pos,
                format!("unexpected `{rest}` in type `{}`", text.trim()),
            ));
        }
    }
    let (base, spelling) = if let Some(inner) = spelled
        .strip_prefix("khoser_ptr<")
        .and_then(|r| r.strip_suffix('>'))
    {
        let target = inner.trim();
        let target = target.strip_prefix("struct ").map_or(target, str::trim);
        match resolve(target).map_err(|m| (0, m))? {
            Some(_) => (BaseTy::Ptr(target.to_string()), format!("khoser_ptr<{target}>")),
            None => {
                return Err((
                    0,
                    format!(
                        "khoser_ptr<{target}>: unknown struct `{target}` (the target is a struct of this \
                         schema or a dependency)"
                    ),
                ))
            }
        }
    } else if spelled == "char" {
        if flex || dims.is_empty() {
            return Err((
                0,
                "char needs a length: char[N] is a NUL-padded string".into(),
            ));
        }
        (BaseTy::Prim(Prim::Char), spelled.clone())
    } else if let Some(p) = Prim::parse(&spelled) {
        (BaseTy::Prim(p), spelled.clone())
    } else {
        // A struct of the schema shadows a kernel spelling of the same
        // name (a struct `s64` is `struct s64` in C, beside the typedef).
        let explicit = spelled.strip_prefix("struct ").map(str::trim);
        let name = explicit.unwrap_or(spelled.as_str());
        match resolve(name).map_err(|m| (0, m))? {
            Some(at) => (BaseTy::Struct(at, name.to_string()), name.to_string()),
            None if explicit.is_none() && prim_of(name).is_some() => (
                BaseTy::Prim(prim_of(name).unwrap_or(Prim::U8)),
                spelled.clone(),
            ),
            None => {
                let hint = refused_type_hint(&spelled);
                return Err((
                    0,
                    format!(
                        "unknown type `{spelled}`{hint} (types are u8..u64, s8..s64, i8..i64, __u8..__s64, \
                         unsigned char/short/int/long long, int, short, long long, phys_addr, \
                         phys_addr_t, char[N], khoser_ptr<S>, T[N], T[], or a struct of this schema or a \
                         dependency)"
                    ),
                ));
            }
        }
    };
    if flex && !dims.is_empty() {
        return Err((
            0,
            format!(
                "type `{}`: a flexible array of arrays is not supported (only `T[]`)",
                text.trim()
            ),
        ));
    }
    Ok(FieldTy {
        base,
        dims,
        flex,
        spelling,
    })
}
