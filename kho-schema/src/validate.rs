//! Stage 2: check the syntax trees of a set of schemas and resolve names:
//! dependencies, constants and field types. What comes out is ready to be
//! laid out; every problem found is reported, with its place.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Diags, Source};
use crate::parse::{ConstValue, SchemaAst, Sp};

/// A field type with names resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// An integer or `phys_addr`.
    Prim(Prim),
    /// `char[N]`: a NUL-padded string.
    Char(Len),
    /// `T[N]`.
    Array(Box<Ty>, Len),
    /// A struct of this schema or of a dependency.
    Struct {
        /// The ABI (schema) it belongs to.
        abi: String,
        /// The struct's name.
        name: String,
    },
}

/// What a type is made of, under its array dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    /// An integer or `phys_addr`.
    Prim(Prim),
    /// The `char` of a `char[N]`.
    Char,
    /// A struct, by name.
    Struct(&'a str),
}

impl Ty {
    /// The element type and the dimensions, outermost first, as C and the
    /// schema write them: `char[4][16]` is `(Char, [4, 16])`.
    pub fn split(&self) -> (Elem<'_>, Vec<&Len>) {
        let mut dims = Vec::new();
        let mut t = self;
        loop {
            match t {
                Ty::Array(elem, len) => {
                    dims.push(len);
                    t = elem;
                }
                Ty::Char(len) => {
                    dims.push(len);
                    return (Elem::Char, dims);
                }
                Ty::Prim(p) => return (Elem::Prim(*p), dims),
                Ty::Struct { name, .. } => return (Elem::Struct(name), dims),
            }
        }
    }
}

/// An array length and the constant it was written with, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Len {
    /// The number of elements.
    pub value: usize,
    /// The constant named in the schema (kept for the emitted code).
    pub constant: Option<String>,
}

/// A primitive type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prim {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    /// A physical address: `u64` in C, `kho::PhysAddr` in Rust.
    PhysAddr,
}

impl Prim {
    /// The schema's (and the layout model's) name.
    pub fn name(self) -> &'static str {
        match self {
            Prim::U8 => "u8",
            Prim::U16 => "u16",
            Prim::U32 => "u32",
            Prim::U64 => "u64",
            Prim::I8 => "i8",
            Prim::I16 => "i16",
            Prim::I32 => "i32",
            Prim::I64 => "i64",
            Prim::PhysAddr => "phys_addr",
        }
    }

    /// Size in bytes.
    pub fn size(self) -> usize {
        match self {
            Prim::U8 | Prim::I8 => 1,
            Prim::U16 | Prim::I16 => 2,
            Prim::U32 | Prim::I32 => 4,
            Prim::U64 | Prim::I64 | Prim::PhysAddr => 8,
        }
    }

    fn parse(s: &str) -> Option<Prim> {
        Some(match s {
            "u8" => Prim::U8,
            "u16" => Prim::U16,
            "u32" => Prim::U32,
            "u64" => Prim::U64,
            "i8" => Prim::I8,
            "i16" => Prim::I16,
            "i32" => Prim::I32,
            "i64" => Prim::I64,
            "phys_addr" => Prim::PhysAddr,
            _ => return None,
        })
    }
}

/// A checked schema: names resolved, not yet laid out.
#[derive(Debug, Clone)]
pub struct Checked {
    pub index: usize,
    pub ast: SchemaAst,
    /// Field types of each struct, in field order.
    pub types: Vec<Vec<Ty>>,
}

const RESERVED: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "auto", "case", "char",
    "default", "double", "float", "goto", "int", "long", "register", "short", "signed", "sizeof",
    "switch", "typedef", "union", "unsigned", "void", "volatile", "inline", "restrict",
];

fn c_ident_ok(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && !RESERVED.contains(&s)
}

/// Struct names: lowercase words joined by single `_`, starting with a
/// letter, so that the Rust name (`luo_file_ser` -> `LuoFileSer`) is an
/// identifier too.
fn struct_ident_ok(s: &str) -> bool {
    c_ident_ok(s)
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.split('_').all(|w| !w.is_empty())
}

/// Field names: C identifiers that are Rust field names too (not `_`).
fn field_ident_ok(s: &str) -> bool {
    c_ident_ok(s) && s != "_"
}

fn const_ident_ok(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('A'..='Z'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
}

/// ABI names: lowercase words joined by dashes (`kho-block`).
pub fn abi_name_ok(s: &str) -> bool {
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
pub fn check(srcs: &[Source], asts: Vec<SchemaAst>, diags: &mut Diags) -> Vec<Checked> {
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
    }
    check_dependency_cycles(srcs, &asts, &by_name, diags);

    let mut out = Vec::new();
    for (i, a) in asts.iter().enumerate() {
        let src = &srcs[i];
        let consts = constants(src, a, diags);
        // Structs visible from this schema: its own, then its dependencies'.
        let mut visible: BTreeMap<&str, (String, bool)> = BTreeMap::new();
        for d in a.depends.iter().filter_map(|d| by_name.get(&d.value)) {
            for s in &asts[*d].structs {
                visible
                    .entry(&s.name.value)
                    .or_insert((asts[*d].name.value.clone(), false));
            }
        }
        let mut seen = BTreeSet::new();
        for s in &a.structs {
            if !seen.insert(&s.name.value) {
                diags.at(
                    src,
                    s.name.span.clone(),
                    format!("duplicate struct `{}`", s.name.value),
                );
            }
            if !struct_ident_ok(&s.name.value) {
                diags.at(
                    src,
                    s.name.span.clone(),
                    format!(
                        "malformed struct name {:?}: lowercase words joined by single `_`, \
                         starting with a letter, not a keyword",
                        s.name.value
                    ),
                );
            }
            visible.insert(&s.name.value, (a.name.value.clone(), true));
        }
        let mut types = Vec::new();
        for s in &a.structs {
            if s.fields.is_empty() {
                diags.at(
                    src,
                    s.name.span.clone(),
                    format!("struct {} has no fields", s.name.value),
                );
            }
            let mut names = BTreeSet::new();
            let mut tys = Vec::new();
            for f in &s.fields {
                let at = format!("{}.{}", s.name.value, f.name.value);
                if !names.insert(&f.name.value) {
                    diags.at(src, f.name.span.clone(), format!("{at}: duplicate field"));
                }
                if !field_ident_ok(&f.name.value) {
                    diags.at(
                        src,
                        f.name.span.clone(),
                        format!(
                            "{at}: malformed field name: a lowercase C identifier, not a keyword"
                        ),
                    );
                }
                match parse_type(&f.ty, &consts, &visible) {
                    Ok(t) => tys.push(t),
                    Err(msg) => {
                        diags.at(src, f.ty.span.clone(), format!("{at}: {msg}"));
                        tys.push(Ty::Prim(Prim::U8));
                    }
                }
            }
            types.push(tys);
        }
        out.push(Checked {
            index: i,
            ast: a.clone(),
            types,
        });
    }
    out
}

fn check_dependency_cycles(
    srcs: &[Source],
    asts: &[SchemaAst],
    by_name: &BTreeMap<String, usize>,
    diags: &mut Diags,
) {
    fn visit(
        i: usize,
        asts: &[SchemaAst],
        by_name: &BTreeMap<String, usize>,
        state: &mut [u8],
    ) -> bool {
        if state[i] == 1 {
            return true;
        }
        if state[i] == 2 {
            return false;
        }
        state[i] = 1;
        for d in &asts[i].depends {
            if let Some(&j) = by_name.get(&d.value) {
                if j != i && visit(j, asts, by_name, state) {
                    return true;
                }
            }
        }
        state[i] = 2;
        false
    }
    for i in 0..asts.len() {
        let mut state = vec![0u8; asts.len()];
        if visit(i, asts, by_name, &mut state) {
            let a = &asts[i];
            diags.at(
                &srcs[i],
                a.name.span.clone(),
                format!("ABI `{}` is part of a dependency cycle", a.name.value),
            );
        }
    }
}

fn constants(src: &Source, a: &SchemaAst, diags: &mut Diags) -> BTreeMap<String, Option<u64>> {
    let mut out = BTreeMap::new();
    for c in &a.constants {
        if !const_ident_ok(&c.name.value) {
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
        let int = match c.value {
            ConstValue::Int(n) => Some(n),
            _ => None,
        };
        out.insert(c.name.value.clone(), int);
    }
    out
}

/// `ident ('[' (number | CONSTANT) ']')*`, dimensions outermost first.
fn parse_type(
    ty: &Sp<String>,
    consts: &BTreeMap<String, Option<u64>>,
    visible: &BTreeMap<&str, (String, bool)>,
) -> Result<Ty, String> {
    let text = ty.value.trim();
    let (base, mut rest) = match text.find('[') {
        Some(i) => (text[..i].trim(), &text[i..]),
        None => (text, ""),
    };
    let mut dims = Vec::new();
    while !rest.is_empty() {
        let close = rest
            .find(']')
            .ok_or_else(|| format!("unclosed `[` in type `{text}`"))?;
        let inner = rest[1..close].trim();
        let len = if let Ok(n) = inner.parse::<u64>() {
            Len {
                value: usize::try_from(n).map_err(|_| format!("array length {n} is too large"))?,
                constant: None,
            }
        } else {
            match consts.get(inner) {
                Some(Some(n)) => Len {
                    value: *n as usize,
                    constant: Some(inner.to_string()),
                },
                Some(None) => {
                    return Err(format!(
                        "constant {inner} is not an integer, so it cannot be an array length"
                    ))
                }
                None if inner.is_empty() => {
                    return Err(format!("missing array length in type `{text}`"))
                }
                None => return Err(format!("unknown constant `{inner}` in type `{text}`")),
            }
        };
        if len.value == 0 {
            return Err(format!(
                "array length 0 in type `{text}`: a field must carry something"
            ));
        }
        dims.push(len);
        rest = rest[close + 1..].trim_start();
        if !rest.is_empty() && !rest.starts_with('[') {
            return Err(format!("unexpected `{rest}` in type `{text}`"));
        }
    }
    let mut ty = if base == "char" {
        let Some(first) = dims.pop() else {
            return Err("char needs a length: char[N] is a NUL-padded string".into());
        };
        Ty::Char(first)
    } else if let Some(p) = Prim::parse(base) {
        Ty::Prim(p)
    } else if let Some((abi, _)) = visible.get(base) {
        Ty::Struct {
            abi: abi.clone(),
            name: base.to_string(),
        }
    } else {
        let hint = match base {
            "usize" | "isize" | "size_t" | "long" | "unsigned long" => {
                ": its size changes with the architecture; use u64"
            }
            "bool" => ": use u8",
            "u128" | "i128" | "f32" | "f64" | "float" | "double" => ": not part of kernel ABIs",
            _ => "",
        };
        return Err(format!(
            "unknown type `{base}`{hint} (types are u8..u64, i8..i64, phys_addr, char[N], T[N], or a struct of this \
             schema or a dependency)"
        ));
    };
    // Innermost dimension last in C order: wrap from the inside out.
    while let Some(len) = dims.pop() {
        ty = Ty::Array(Box::new(ty), len);
    }
    Ok(ty)
}
