//! Reads Linux KHO ABI C headers into kho schemas.
//!
//! The C front end is libclang, loaded at run time through `clang-sys`
//! (nothing to link at build time). libclang gives what the compiler sees
//! (layouts, bit widths, attributes, macro definitions with their tokens
//! and places); kernel-doc comments are read from the header text by a
//! small reader of that comment convention ([`kdoc`]). There is no
//! hand-written C parser.
//!
//! One schema per header: its structs and unions, fields (bit fields,
//! arrays with their dimensions as written, flexible arrays,
//! `DECLARE_KHOSER_PTR` unions as `khoser_ptr<T>`), `__packed` and
//! `__aligned(N)`, its macros (compatible strings, string and integer
//! constants, expressions as written), the macros it uses from elsewhere
//! (`external`), its `static_assert`s and kernel-doc. What the schema
//! language cannot express is refused naming the construct and
//! `header:line:col`.

// libclang's constants keep their C names.
#![allow(non_upper_case_globals)]

mod clang;
mod kdoc;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use clang::{Cursor, Index, Tu};
use clang_sys::*;

/// How headers are read: the compiler arguments of the kernel's build that
/// matter for layout.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-I DIR`, in order. Also used to make paths include-relative.
    pub include_dirs: Vec<PathBuf>,
    /// `-D NAME[=VALUE]`.
    pub defines: Vec<(String, Option<String>)>,
    /// `--include FILE`: read before each header (`-include`).
    pub includes: Vec<PathBuf>,
}

/// One imported header.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The header, as given.
    pub header: PathBuf,
    /// Its include-relative path, e.g. `linux/kho/abi/memfd.h`.
    pub include_path: String,
    /// The schema's file name, e.g. `memfd.toml`.
    pub schema_file: String,
    /// The schema text.
    pub toml: String,
    /// Header line of each struct (`"s"`), field (`"s.f"`) and constant
    /// (`"constant C"`), for messages that point back into the header.
    pub lines: BTreeMap<String, u32>,
}

/// Why an import failed. Display is one line.
#[derive(Debug)]
pub enum Error {
    /// libclang could not be loaded: clang-sys's reason.
    NoLibclang(String),
    /// A file could not be read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// libclang reported an error in the header (or parsing failed).
    Clang {
        file: PathBuf,
        line: u32,
        col: u32,
        message: String,
    },
    /// A construct the schema language cannot express, named.
    Unsupported {
        file: PathBuf,
        line: u32,
        col: u32,
        construct: String,
    },
    /// With several compatible macros, structs no kernel-doc hint assigns.
    Unassigned {
        file: PathBuf,
        structs: Vec<String>,
        macros: Vec<String>,
    },
    /// The schema the importer wrote does not compile: a bug of kho-import.
    Schema(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoLibclang(why) => write!(
                f,
                "libclang is needed to read C headers and could not be loaded ({}); install it: apt-get install libclang-14-dev (or set LIBCLANG_PATH)",
                why.replace('\n', " ")
            ),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Clang { file, line, col, message } => {
                write!(f, "{}:{line}:{col}: {message}", file.display())
            }
            Error::Unsupported { file, line, col, construct } => write!(
                f,
                "{}:{line}:{col}: {construct}: kho schemas cannot express it",
                file.display()
            ),
            Error::Unassigned { file, structs, macros } => write!(
                f,
                "{}: cannot tell which compatible macro ({}) covers {}: say \"`MACRO` must be updated\" in each struct's kernel-doc",
                file.display(),
                macros.join(", "),
                structs.iter().map(|s| format!("struct {s}")).collect::<Vec<_>>().join(", ")
            ),
            Error::Schema(msg) => write!(
                f,
                "the schema kho-import wrote does not compile (a bug of kho-import): {}",
                msg.replace('\n', "; ")
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Imports each header (one schema each). Headers whose structs or macros
/// these use are imported too, to check that the schemas compile together,
/// but only the headers asked for are returned.
pub fn import(headers: &[PathBuf], opts: &Options) -> Result<Vec<Imported>, Error> {
    clang::load().map_err(Error::NoLibclang)?;
    let index = Index::new().map_err(Error::NoLibclang)?;
    let mut done: BTreeMap<PathBuf, Imported> = BTreeMap::new();
    let mut order = Vec::new();
    let mut queue: Vec<PathBuf> = headers.to_vec();
    let asked: BTreeSet<PathBuf> = headers.iter().map(|h| canon(h)).collect();
    while let Some(h) = queue.pop() {
        let key = canon(&h);
        if done.contains_key(&key) {
            continue;
        }
        let (imp, deps) = import_one(&index, &h, opts)?;
        for d in deps {
            if !done.contains_key(&canon(&d)) {
                queue.push(d);
            }
        }
        order.push(key.clone());
        done.insert(key, imp);
    }
    let all: Vec<Imported> = done.values().cloned().collect();
    compile(&all)?;
    let mut out: Vec<Imported> = headers
        .iter()
        .filter_map(|h| done.get(&canon(h)).cloned())
        .collect();
    out.dedup_by(|a, b| canon(&a.header) == canon(&b.header));
    debug_assert!(out.iter().all(|i| asked.contains(&canon(&i.header))));
    Ok(out)
}

/// Every `*.h` directly under `dir` (sorted), imported and compiled.
pub fn import_dir(dir: &Path, opts: &Options) -> Result<Vec<Imported>, Error> {
    let rd = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut headers = Vec::new();
    for e in rd {
        let e = e.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "h") && p.is_file() {
            headers.push(p);
        }
    }
    headers.sort();
    import(&headers, opts)
}

/// Compiles imported schemas with kho-schema (in memory, no files written).
pub fn compile(imported: &[Imported]) -> Result<Vec<kho_schema::Abi>, Error> {
    let sources: Vec<kho_schema::Source> = imported
        .iter()
        .map(|i| kho_schema::Source::new(i.schema_file.clone(), i.toml.clone()))
        .collect();
    kho_schema::compile(&sources).map_err(|e| Error::Schema(e.to_string()))
}

fn canon(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `path` relative to the include directory that gives the shortest one.
fn include_relative(path: &Path, opts: &Options) -> Option<String> {
    let p = canon(path);
    opts.include_dirs
        .iter()
        .filter_map(|d| p.strip_prefix(canon(d)).ok().map(|r| r.to_path_buf()))
        .min_by_key(|r| r.components().count())
        .map(|r| r.to_string_lossy().into_owned())
}

fn compiler_args(opts: &Options) -> Vec<String> {
    let mut args = vec!["-x".to_string(), "c".into(), "-std=gnu11".into()];
    for d in &opts.include_dirs {
        args.push(format!("-I{}", d.display()));
    }
    for (n, v) in &opts.defines {
        match v {
            Some(v) => args.push(format!("-D{n}={v}")),
            None => args.push(format!("-D{n}")),
        }
    }
    for i in &opts.includes {
        args.push("-include".into());
        args.push(i.display().to_string());
    }
    args
}

/// A macro definition anywhere in the translation unit.
struct MacroDef {
    file: Option<PathBuf>,
    line: u32,
    col: u32,
    /// The body's tokens (the name left out).
    body: Vec<String>,
    function_like: bool,
}

struct Field {
    name: String,
    ty: String,
    bits: Option<i32>,
    count: Option<String>,
    doc: String,
    line: u32,
}

struct StructOut {
    name: String,
    union: bool,
    packed: bool,
    align: Option<i64>,
    doc: String,
    fields: Vec<Field>,
    line: u32,
}

enum ConstOut {
    Int(String),
    Str(String),
    Expr(String),
    External(String, i64),
    /// A member of the enum of this tag (`""`: anonymous): its initializer
    /// as written, or its value when it has none.
    Enum(String, Result<String, i64>),
}

struct Ctx<'a> {
    header: &'a Path,
    hcanon: PathBuf,
    canon_cache: HashMap<PathBuf, PathBuf>,
    /// The tokens of each use of `DECLARE_BITMAP` in the header, by line
    /// and column.
    expansions: HashMap<(u32, u32), Vec<String>>,
}

impl Ctx<'_> {
    fn in_header(&mut self, c: &Cursor<'_>) -> bool {
        match c.location().0 {
            Some(f) => self.is_header(&f),
            None => false,
        }
    }
    fn is_header(&mut self, f: &Path) -> bool {
        let c = self
            .canon_cache
            .entry(f.to_path_buf())
            .or_insert_with(|| canon(f))
            .clone();
        c == self.hcanon
    }
    fn unsupported(&self, c: &Cursor<'_>, construct: String) -> Error {
        let (_, line, col) = c.location();
        Error::Unsupported {
            file: self.header.to_path_buf(),
            line,
            col,
            construct,
        }
    }
}

/// Joins C tokens back into readable text (`sizeof(struct x) / 2`).
fn join_tokens(toks: &[String]) -> String {
    let mut s = String::new();
    let mut prev: Option<&str> = None;
    for t in toks {
        let t = t.as_str();
        let space = match prev {
            None => false,
            Some(p) => {
                !(p == "("
                    || p == "["
                    || t == ")"
                    || t == "]"
                    || t == ","
                    || (t == "(" && is_ident(p) && !is_keyword_op(p))
                    || p == "~"
                    || p == "!")
            }
        };
        if space {
            s.push(' ');
        }
        s.push_str(t);
        prev = Some(t);
    }
    s
}

fn is_keyword_op(p: &str) -> bool {
    matches!(p, "return")
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Strips one pair of parentheses around the whole expression.
fn strip_outer_parens(toks: &[String]) -> &[String] {
    if toks.len() >= 2 && toks[0] == "(" && toks[toks.len() - 1] == ")" {
        let mut depth = 0i32;
        for (i, t) in toks.iter().enumerate() {
            if t == "(" {
                depth += 1;
            } else if t == ")" {
                depth -= 1;
                if depth == 0 && i != toks.len() - 1 {
                    return toks;
                }
            }
        }
        return &toks[1..toks.len() - 1];
    }
    toks
}

/// An integer literal's value (`4`, `0x4c`, `48UL`).
fn int_literal(t: &str) -> Option<u64> {
    let t = t.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// A C string literal's contents (simple escapes only).
fn string_literal(t: &str) -> Option<String> {
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        return None;
    }
    Some(inner.to_string())
}

/// `name-vN` (then maybe a composed suffix `-<dep>-vM`).
fn split_compatible(s: &str) -> Option<(String, u32, bool)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(pos) = s[i..].find("-v") {
        let at = i + pos;
        let digits: String = s[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let after = at + 2 + digits.len();
        if !digits.is_empty() && (after == s.len() || bytes.get(after) == Some(&b'-')) {
            let name = &s[..at];
            let ok = !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name.split('-').all(|w| {
                    !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                });
            let v: u32 = digits.parse().ok()?;
            if ok && v >= 1 {
                return Some((name.to_string(), v, after != s.len()));
            }
            return None;
        }
        i = at + 2;
    }
    None
}

/// TOML basic string.
fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Layout checks kho's generator writes after each struct itself
/// (`sizeof(struct s) == 16`, `__alignof__(..) == 8`, `offsetof(struct s,
/// f) == 8`): implied by the layout, so not imported as asserts.
fn is_generated_layout_assert(t: &[String]) -> bool {
    // The per-page-size form: `PAGE_SIZE != 4096 || sizeof(..) == 4096`.
    let t = match t {
        [p, ne, lit, or, rest @ ..]
            if p == "PAGE_SIZE" && ne == "!=" && int_literal(lit).is_some() && or == "||" =>
        {
            rest
        }
        _ => t,
    };
    let n = t.len();
    let lit = |s: &String| int_literal(s).is_some();
    let head = |w: &str| t.first().is_some_and(|x| x == w);
    (n == 7
        && (head("sizeof") || head("__alignof__") || head("_Alignof"))
        && t[1] == "("
        && t[2] == "struct"
        && t[4] == ")"
        && t[5] == "=="
        && lit(&t[6]))
        || (n == 9
            && head("offsetof")
            && t[1] == "("
            && t[2] == "struct"
            && t[4] == ","
            && t[6] == ")"
            && t[7] == "=="
            && lit(&t[8]))
}

/// The bits of `DECLARE_BITMAP(name, bits)`, when the declaration's
/// tokens are that macro's use.
fn declare_bitmap(toks: &[String], name: &str) -> Option<Vec<String>> {
    let [m, open, n, comma, rest @ ..] = toks else {
        return None;
    };
    if m != "DECLARE_BITMAP" || open != "(" || n != name || comma != "," {
        return None;
    }
    let mut depth = 0usize;
    for (i, t) in rest.iter().enumerate() {
        match t.as_str() {
            "(" => depth += 1,
            ")" if depth == 0 => return (i > 0).then(|| rest[..i].to_vec()),
            ")" => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The bracket groups of a declaration's tokens after `name`: `[E]`, `[F]`.
fn dims_after(toks: &[String], name: &str) -> Vec<Vec<String>> {
    let Some(start) = toks.iter().position(|t| t == name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < toks.len() && toks[i] == "[" {
        let mut depth = 0;
        let mut cur = Vec::new();
        let mut j = i;
        while j < toks.len() {
            let t = &toks[j];
            if t == "[" {
                depth += 1;
                if depth == 1 {
                    j += 1;
                    continue;
                }
            } else if t == "]" {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            cur.push(t.clone());
            j += 1;
        }
        out.push(cur);
        i = j + 1;
    }
    out
}

const PRIMS: &[&str] = &[
    "u8",
    "u16",
    "u32",
    "u64",
    "s8",
    "s16",
    "s32",
    "s64",
    "__u8",
    "__u16",
    "__u32",
    "__u64",
    "__s8",
    "__s16",
    "__s32",
    "__s64",
    "unsigned char",
    "unsigned short",
    "unsigned int",
    "unsigned long long",
    "signed char",
    "short",
    "int",
    "long long",
    "phys_addr_t",
    "char",
];

/// What one header refers to elsewhere.
#[derive(Default)]
struct Refs {
    /// Headers (files) of structs used from other headers.
    struct_files: BTreeSet<PathBuf>,
}

fn import_one(
    index: &Index,
    header: &Path,
    opts: &Options,
) -> Result<(Imported, Vec<PathBuf>), Error> {
    // Only a regular file (a FIFO would block the read), of a bounded size.
    let meta = std::fs::metadata(header).map_err(|source| Error::Io {
        path: header.to_path_buf(),
        source,
    })?;
    if !meta.is_file() || meta.len() > kho_schema::fs::MAX_INPUT {
        return Err(Error::Io {
            path: header.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file of at most 16 MiB",
            ),
        });
    }
    let text = std::fs::read_to_string(header).map_err(|source| Error::Io {
        path: header.to_path_buf(),
        source,
    })?;
    let hstr = header.to_string_lossy().into_owned();
    let args = compiler_args(opts);
    let tu = Tu::parse(index, &hstr, &args, &[]).map_err(|message| Error::Clang {
        file: header.to_path_buf(),
        line: 0,
        col: 0,
        message,
    })?;
    if let Some(d) = tu.diagnostics().into_iter().find(|d| d.error) {
        return Err(Error::Clang {
            file: d.file.unwrap_or_else(|| header.to_path_buf()),
            line: d.line,
            col: d.col,
            message: d.message,
        });
    }
    let mut cx = Ctx {
        header,
        hcanon: canon(header),
        canon_cache: HashMap::new(),
        expansions: HashMap::new(),
    };
    let include_path = include_relative(header, opts).unwrap_or_else(|| {
        format!(
            "linux/kho/abi/{}",
            header
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    });
    let stem = header
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let docs = kdoc::blocks(&text);
    let doc_of = |name: &str| docs.iter().find(|b| !b.is_doc && b.name == name);

    let root = tu.cursor();
    let top = root.children();

    // Every macro definition of the unit, by name.
    let mut macros: HashMap<String, MacroDef> = HashMap::new();
    let mut header_macros: Vec<(String, Cursor<'_>)> = Vec::new();
    let mut includes: Vec<String> = Vec::new();
    let mut include_lines: Vec<(u32, String)> = Vec::new();
    let inclusions = tu.inclusions();
    for c in &top {
        match c.kind() {
            CXCursor_MacroDefinition => {
                let name = c.spelling();
                let (file, line, col) = c.location();
                let toks = c.tokens();
                let function_like = c.is_macro_function_like();
                let body = if function_like {
                    // Skip `NAME ( params )`.
                    let close = toks.iter().position(|t| t == ")").unwrap_or(0);
                    toks.get(close + 1..)
                        .map(|s| s.to_vec())
                        .unwrap_or_default()
                } else {
                    toks.get(1..).map(|s| s.to_vec()).unwrap_or_default()
                };
                let here = cx.in_header(c);
                if here {
                    header_macros.push((name.clone(), *c));
                }
                macros.insert(
                    name,
                    MacroDef {
                        file,
                        line,
                        col,
                        body,
                        function_like,
                    },
                );
            }
            CXCursor_InclusionDirective if cx.in_header(c) => {
                include_lines.push((c.location().1, c.spelling()));
                includes.push(c.spelling());
            }
            _ => {}
        }
    }

    for c in &top {
        if c.kind() == CXCursor_MacroExpansion
            && c.spelling() == "DECLARE_BITMAP"
            && cx.in_header(c)
        {
            let (_, line, col) = c.location();
            cx.expansions.insert((line, col), c.tokens());
        }
    }

    // Macros of the header.
    let mut compatibles: Vec<(String, String, u32, Cursor<'_>)> = Vec::new();
    // In the header's order (the generated header keeps the schema's).
    let mut consts: Vec<(String, ConstOut, String)> = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    let mut wanted_idents: BTreeSet<String> = BTreeSet::new();
    // The first macro of the header whose value names each identifier.
    let mut named_by: BTreeMap<String, (String, Cursor<'_>)> = BTreeMap::new();
    for (name, c) in &header_macros {
        let Some(m) = macros.get(name) else { continue };
        if m.function_like {
            ignored.push(format!("function-like macro {name}"));
            continue;
        }
        if m.body.is_empty() {
            // Include guards and flags without a value.
            continue;
        }
        let doc = doc_of(name).map(|b| b.text()).unwrap_or_default();
        if m.body.len() == 1 {
            if let Some(s) = string_literal(&m.body[0]) {
                if name.ends_with("_COMPATIBLE") {
                    let (_, line, _) = c.location();
                    compatibles.push((name.clone(), s, line, *c));
                } else {
                    consts.push((name.clone(), ConstOut::Str(s), doc));
                }
                continue;
            }
            if let Some(v) = int_literal(&m.body[0]) {
                // Hex stays hex (TOML has it): `0x4c565550`, not 1280726352.
                let lit = m.body[0]
                    .trim_end_matches(['u', 'U', 'l', 'L'])
                    .to_ascii_lowercase();
                let written = if lit.starts_with("0x") {
                    lit
                } else {
                    v.to_string()
                };
                consts.push((name.clone(), ConstOut::Int(written), doc));
                continue;
            }
        }
        if m.body.iter().any(|t| t.starts_with('"')) {
            return Err(cx.unsupported(
                c,
                format!("macro {name} (a string that is not one literal)"),
            ));
        }
        let body = strip_outer_parens(&m.body);
        for t in body.iter().filter(|t| is_ident(t)) {
            named_by.entry(t.clone()).or_insert((name.clone(), *c));
            wanted_idents.insert(t.clone());
        }
        consts.push((name.clone(), ConstOut::Expr(join_tokens(body)), doc));
    }

    // Structs, unions, asserts.
    let mut refs = Refs::default();
    let mut structs: Vec<StructOut> = Vec::new();
    let mut asserts: Vec<String> = Vec::new();
    let mut enum_lines: Vec<(String, u32)> = Vec::new();
    let mut lower_enums: Vec<(String, Cursor<'_>)> = Vec::new();
    for c in &top {
        if !cx.in_header(c) {
            continue;
        }
        match c.kind() {
            CXCursor_StructDecl | CXCursor_UnionDecl => {
                if !c.is_definition() {
                    continue;
                }
                if c.is_anonymous() || c.spelling().is_empty() {
                    return Err(cx.unsupported(c, "anonymous struct or union at file scope".into()));
                }
                let s = read_struct(
                    &mut cx,
                    c,
                    &mut refs,
                    &mut wanted_idents,
                    doc_of(&c.spelling()),
                )?;
                structs.push(s);
            }
            CXCursor_StaticAssert => {
                // Written through the `static_assert` macro, the
                // declaration's own extent is in the macro's body: the
                // tokens as written are those of the expansion at its place.
                let at = c.location();
                let toks = top
                    .iter()
                    .find(|e| e.kind() == CXCursor_MacroExpansion && e.location() == at)
                    .map(|e| e.tokens())
                    .unwrap_or_else(|| c.tokens());
                let open = toks.iter().position(|t| t == "(");
                let Some(open) = open else { continue };
                let mut depth = 0;
                let mut expr = Vec::new();
                for t in &toks[open..] {
                    if t == "(" {
                        depth += 1;
                        if depth == 1 {
                            continue;
                        }
                    }
                    if t == ")" {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    if t == "," && depth == 1 {
                        break;
                    }
                    expr.push(t.clone());
                }
                if is_generated_layout_assert(&expr) {
                    continue;
                }
                wanted_idents.extend(expr.iter().filter(|t| is_ident(t)).cloned());
                asserts.push(join_tokens(&expr));
            }
            CXCursor_TypedefDecl => ignored.push(format!("typedef {}", c.spelling())),
            CXCursor_EnumDecl => {
                if !c.is_definition() {
                    continue;
                }
                let tag = if c.is_anonymous() {
                    String::new()
                } else {
                    c.spelling()
                };
                let edoc = doc_of(&tag);
                let members: Vec<Cursor<'_>> = c
                    .children()
                    .into_iter()
                    .filter(|k| k.kind() == CXCursor_EnumConstantDecl)
                    .collect();
                // kho's constants are UPPER_CASE: an enum with another
                // member is left out, and refused only if a layout uses it.
                if let Some(bad) = members
                    .iter()
                    .find(|k| !kho_schema::constant_name_ok(&k.spelling()))
                {
                    let what = if tag.is_empty() {
                        "anonymous enum".into()
                    } else {
                        format!("enum {tag}")
                    };
                    ignored.push(format!(
                        "{what} (member {} is not UPPER_CASE)",
                        bad.spelling()
                    ));
                    lower_enums.extend(members.iter().map(|k| (k.spelling(), *k)));
                    continue;
                }
                for k in members {
                    let name = k.spelling();
                    let toks = k.tokens();
                    // kho's constants are unsigned (an enum's may be
                    // negative in C): refused here, at the member.
                    if k.enum_value() < 0 {
                        return Err(cx.unsupported(
                            &k,
                            format!(
                                "enum member {name} = {} (negative; kho's constants are unsigned)",
                                k.enum_value()
                            ),
                        ));
                    }
                    let init = match toks.iter().position(|t| t == "=") {
                        Some(eq) => {
                            let body = strip_outer_parens(&toks[eq + 1..]);
                            wanted_idents.extend(body.iter().filter(|t| is_ident(t)).cloned());
                            Ok(join_tokens(body))
                        }
                        None => Err(k.enum_value()),
                    };
                    let doc = edoc.and_then(|d| d.member(&name)).unwrap_or("").to_string();
                    enum_lines.push((name.clone(), k.location().1));
                    consts.push((name, ConstOut::Enum(tag.clone(), init), doc));
                }
            }
            CXCursor_FunctionDecl => ignored.push(format!("function {}", c.spelling())),
            CXCursor_VarDecl => ignored.push(format!("variable {}", c.spelling())),
            _ => {}
        }
    }

    if let Some((n, k)) = lower_enums.iter().find(|(n, _)| wanted_idents.contains(n)) {
        return Err(cx.unsupported(
            k,
            format!("enum member {n}, used by a layout (kho's constants are UPPER_CASE)"),
        ));
    }

    // Macros used from other headers: a kho ABI header's are a dependency,
    // any other's an external constant.
    let mut dep_files: BTreeSet<PathBuf> = refs.struct_files.clone();
    // (name, header as included, where it is defined).
    let mut externals: Vec<(String, String, (PathBuf, u32, u32))> = Vec::new();
    for id in &wanted_idents {
        // The header's own constants, and what schema expressions know:
        // the page size, sizeof and the kernel macros they call (some of
        // which, as DIV_ROUND_UP, are object-like macros naming another).
        if consts.iter().any(|(n, ..)| n == id) || kho_schema::is_expression_word(id) {
            continue;
        }
        let Some(m) = macros.get(id) else {
            // A constant's name that nothing defines where the header is
            // read: its value is unknown (a tree older than the header, as
            // F_SEAL_EXEC before Linux 6.3, or a missing -I / --include).
            if let Some((user, c)) = named_by
                .get(id)
                .filter(|_| kho_schema::constant_name_ok(id))
            {
                let (_, line, col) = c.location();
                return Err(Error::Clang {
                    file: header.to_path_buf(),
                    line,
                    col,
                    message: format!(
                        "macro {user} uses {id}, which nothing defines where the header is \
                         read (no header it includes, no --include): give the header that \
                         defines it"
                    ),
                });
            }
            continue;
        };
        if m.function_like {
            continue;
        }
        let Some(f) = &m.file else { continue };
        if cx.is_header(f) {
            continue;
        }
        if defines_compatible(&macros, f) {
            dep_files.insert(f.clone());
            continue;
        }
        // Named as the header includes it (`linux/utsname.h`), not where
        // it is defined in the end (`uapi/linux/utsname.h`).
        let rel = included_as(&mut cx, &inclusions, &include_lines, f)
            .or_else(|| include_relative(f, opts))
            .unwrap_or_else(|| f.display().to_string());
        externals.push((id.clone(), rel, (f.clone(), m.line, m.col)));
    }
    // First, in the order their own headers define them (F_SEAL_SEAL
    // before F_SEAL_SHRINK), not by name.
    externals.sort_by(|a, b| a.2.cmp(&b.2));
    let externals: Vec<(String, String)> = externals.into_iter().map(|(n, r, _)| (n, r)).collect();
    if !externals.is_empty() {
        let values = evaluate(index, header, &args, &externals)?;
        for (i, ((name, rel), v)) in externals.iter().zip(values).enumerate() {
            let doc = String::new();
            consts.insert(i, (name.clone(), ConstOut::External(rel.clone(), v), doc));
        }
    }
    // Depended-on ABIs: their names.
    let mut depends: BTreeSet<String> = BTreeSet::new();
    let mut dep_headers = Vec::new();
    for f in &dep_files {
        depends.insert(abi_name_of(&macros, f)?);
        dep_headers.push(f.clone());
    }

    // The ABI's name and version from its (first) compatible macro.
    let (abi_name, version, main_macro, composed) = match compatibles.first() {
        Some((macro_name, s, _, c)) => {
            let (n, v, composed) = split_compatible(s).ok_or_else(|| {
                cx.unsupported(
                    c,
                    format!("{macro_name} \"{s}\" (a compatible string not of the form name-vN)"),
                )
            })?;
            (n, v, Some(macro_name.clone()), composed)
        }
        None => (stem.replace('_', "-"), 1, None, false),
    };
    // A header without a compatible string may version its layout by a
    // number, as kexec_metadata.h does (`KHO_KEXEC_METADATA_VERSION 1`):
    // that macro is the schema's version_macro, not a constant.
    let mut version = version;
    let mut version_macro = None;
    if main_macro.is_none() {
        if let Some(i) = consts.iter().position(|(n, k, _)| {
            n.ends_with("_VERSION") && matches!(k, ConstOut::Int(w) if w.parse::<u64>().is_ok())
        }) {
            let (n, k, _) = consts.remove(i);
            if let ConstOut::Int(w) = k {
                version = w.parse().unwrap_or(version);
            }
            version_macro = Some(n);
        }
    }
    // A composed string (`luo-v4-kho-block-v1`) names the ABIs it takes in.
    if composed {
        if let Some((_, s, ..)) = compatibles.first() {
            let mut rest = s
                .split_once(&format!("{abi_name}-v{version}-"))
                .map(|(_, r)| r.to_string());
            while let Some(r) = rest.take() {
                match split_compatible(&r) {
                    Some((n, v, more)) => {
                        depends.insert(n.clone());
                        if more {
                            rest = r
                                .split_once(&format!("{n}-v{v}-"))
                                .map(|(_, r)| r.to_string());
                        }
                    }
                    None => break,
                }
            }
        }
    }
    // Extra compatible macros and the structs they cover.
    let mut extra: Vec<(String, String, u32, Vec<String>)> = Vec::new();
    if compatibles.len() > 1 {
        let mut unassigned = Vec::new();
        let mut cover: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in &structs {
            let hinted: Vec<&String> = compatibles
                .iter()
                .map(|(m, ..)| m)
                .filter(|m| {
                    s.doc.contains(&format!("`{m}` must be updated"))
                        || s.doc.contains(&format!("{m} must be updated"))
                })
                .collect();
            match hinted.as_slice() {
                [m] => {
                    cover.entry((*m).clone()).or_default().push(s.name.clone());
                }
                _ => unassigned.push(s.name.clone()),
            }
        }
        // A struct without a hint that is embedded only in structs of one
        // macro is covered by that macro: a change to it changes them.
        loop {
            let of = |name: &str, cover: &BTreeMap<String, Vec<String>>| {
                cover
                    .iter()
                    .find(|(_, v)| v.iter().any(|x| x == name))
                    .map(|(m, _)| m.clone())
            };
            let mut moved = false;
            for u in unassigned.clone() {
                let embeds = |f: &Field| f.ty == u || f.ty.starts_with(&format!("{u}["));
                let users: Vec<Option<String>> = structs
                    .iter()
                    .filter(|s| s.fields.iter().any(embeds))
                    .map(|s| of(&s.name, &cover))
                    .collect();
                if let Some(Some(m)) = users.first() {
                    if users.iter().all(|x| x.as_ref() == Some(m)) {
                        let m = m.clone();
                        cover.entry(m).or_default().push(u.clone());
                        unassigned.retain(|x| *x != u);
                        moved = true;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        if !unassigned.is_empty() {
            return Err(Error::Unassigned {
                file: header.to_path_buf(),
                structs: unassigned,
                macros: compatibles.iter().map(|(m, ..)| m.clone()).collect(),
            });
        }
        for (m, s, _, c) in compatibles.iter().skip(1) {
            let (n, v, comp) = split_compatible(s).ok_or_else(|| {
                cx.unsupported(
                    c,
                    format!("{m} \"{s}\" (a compatible string not of the form name-vN)"),
                )
            })?;
            if comp {
                return Err(cx.unsupported(
                    c,
                    format!("{m} \"{s}\" (a composed extra compatible string)"),
                ));
            }
            extra.push((m.clone(), n, v, cover.remove(m).unwrap_or_default()));
        }
    }

    // The schema text.
    let mut t = String::new();
    t.push_str(&format!("# Imported by kho-import from {include_path}.\n"));
    if main_macro.is_none() && version_macro.is_none() {
        t.push_str(&format!(
            "# The header has no *_COMPATIBLE macro: the schema's is kho's default ({}_ABI_COMPATIBLE).\n",
            abi_name.to_uppercase().replace('-', "_")
        ));
    }
    if !ignored.is_empty() {
        t.push_str(&format!(
            "# not imported (they declare no layout): {}\n",
            ignored.join(", ")
        ));
    }
    t.push_str("\n[abi]\n");
    t.push_str(&format!("name = {}\nversion = {version}\n", q(&abi_name)));
    if !depends.is_empty() {
        let d: Vec<String> = depends.iter().map(|d| q(d)).collect();
        t.push_str(&format!("depends = [{}]\n", d.join(", ")));
        // The kernel's string is exactly what the header says.
        if !composed {
            t.push_str("compose = \"none\"\n");
        }
    }
    if let Some(spdx) = text
        .lines()
        .next()
        .and_then(|l| l.split_once("SPDX-License-Identifier:"))
        .map(|(_, r)| r.trim().trim_end_matches("*/").trim())
    {
        if !spdx.is_empty() && spdx != "GPL-2.0" {
            t.push_str(&format!("spdx = {}\n", q(spdx)));
        }
    }
    let abi_doc: Vec<String> = docs.iter().filter(|b| b.is_doc).map(|b| b.text()).collect();
    if !abi_doc.is_empty() {
        t.push_str(&format!("doc = {}\n", q(&abi_doc.join("\n\n"))));
    }
    t.push_str("\n[abi.c]\n");
    t.push_str(&format!("header = {}\n", q(&include_path)));
    if let Some(m) = &main_macro {
        t.push_str(&format!("compatible_macro = {}\n", q(m)));
    } else if let Some(m) = &version_macro {
        t.push_str(&format!("version_macro = {}\n", q(m)));
    }
    let ext_headers: BTreeSet<&String> = consts
        .iter()
        .filter_map(|(_, c, _)| match c {
            ConstOut::External(h, _) => Some(h),
            _ => None,
        })
        .collect();
    // What the generated header includes by itself for what it writes.
    let bitmaps = structs
        .iter()
        .any(|s| s.fields.iter().any(|f| f.ty.starts_with("bitmap<")));
    let uses = |names: &[&str]| {
        names
            .iter()
            .any(|n| wanted_idents.contains(*n) || (bitmaps && *n == "DECLARE_BITMAP"))
    };
    let implied = |i: &str| {
        kho_schema::emit::c::HELPER_INCLUDES
            .iter()
            .any(|(header, names)| *header == i && uses(names))
    };
    let mut incs: Vec<String> = includes
        .into_iter()
        .filter(|i| {
            !matches!(i.as_str(), "linux/build_bug.h" | "linux/stddef.h")
                && !i.starts_with("linux/kho/abi/")
                && !ext_headers.contains(i)
                && !implied(i)
        })
        .collect();
    if !incs.iter().any(|i| i == "linux/types.h") {
        incs.push("linux/types.h".into());
    }
    let incs: Vec<String> = incs.iter().map(|i| q(i)).collect();
    t.push_str(&format!("includes = [{}]\n", incs.join(", ")));
    for (m, n, v, s) in &extra {
        let s: Vec<String> = s.iter().map(|x| q(x)).collect();
        t.push_str(&format!(
            "\n[[abi.compatible]]\nmacro = {}\nname = {}\nversion = {v}\nstructs = [{}]\n",
            q(m),
            q(n),
            s.join(", ")
        ));
    }
    if !consts.is_empty() {
        t.push_str("\n[constants]\n");
        for (name, c, doc) in &consts {
            let val = match c {
                ConstOut::Int(v) => format!("value = {v}"),
                ConstOut::Str(s) => format!("value = {}", q(s)),
                ConstOut::Expr(e) => format!("expr = {}", q(e)),
                ConstOut::External(h, v) => format!("external = {}, value = {v}", q(h)),
                ConstOut::Enum(tag, Ok(e)) => format!("enum = {}, expr = {}", q(tag), q(e)),
                ConstOut::Enum(tag, Err(v)) => format!("enum = {}, value = {v}", q(tag)),
            };
            let doc = if doc.is_empty() {
                String::new()
            } else {
                format!(", doc = {}", q(doc))
            };
            t.push_str(&format!("{name} = {{ {val}{doc} }}\n"));
        }
    }
    let mut lines = BTreeMap::new();
    for (name, c) in &header_macros {
        if consts.iter().any(|(n, ..)| n == name) {
            lines.insert(format!("constant {name}"), c.location().1);
        }
    }
    for (name, line) in &enum_lines {
        lines.insert(format!("constant {name}"), *line);
    }
    for s in &structs {
        lines.insert(s.name.clone(), s.line);
        t.push_str(&format!(
            "\n# {include_path}:{}\n[[struct]]\nname = {}\n",
            s.line,
            q(&s.name)
        ));
        if s.union {
            t.push_str("union = true\n");
        }
        if !s.packed {
            t.push_str("packed = false\n");
        }
        if let Some(a) = s.align {
            t.push_str(&format!("align = {a}\n"));
        }
        if !s.doc.is_empty() {
            t.push_str(&format!("doc = {}\n", q(&s.doc)));
        }
        t.push_str("fields = [\n");
        for f in &s.fields {
            lines.insert(format!("{}.{}", s.name, f.name), f.line);
            let mut e = format!("    {{ name = {}, type = {}", q(&f.name), q(&f.ty));
            if let Some(b) = f.bits {
                e.push_str(&format!(", bits = {b}"));
            }
            if let Some(c) = &f.count {
                e.push_str(&format!(", count = {}", q(c)));
            }
            if !f.doc.is_empty() {
                e.push_str(&format!(", doc = {}", q(&f.doc)));
            }
            e.push_str(" }, # line ");
            e.push_str(&f.line.to_string());
            t.push_str(&e);
            t.push('\n');
        }
        t.push_str("]\n");
    }
    for a in &asserts {
        t.push_str(&format!("\n[[assert]]\nexpr = {}\n", q(a)));
    }
    Ok((
        Imported {
            header: header.to_path_buf(),
            include_path,
            schema_file: format!("{stem}.toml"),
            toml: t,
            lines,
        },
        dep_headers,
    ))
}

/// The `#include` of the header through which `f` was read: its spelling.
fn included_as(
    cx: &mut Ctx<'_>,
    inclusions: &[clang::Inclusion],
    include_lines: &[(u32, String)],
    f: &Path,
) -> Option<String> {
    let cf = canon(f);
    let (_, stack) = inclusions.iter().find(|(p, _)| canon(p) == cf)?;
    let line = stack
        .iter()
        .find(|(file, _)| file.as_deref().is_some_and(|p| cx.is_header(p)))
        .map(|(_, l)| *l)?;
    include_lines
        .iter()
        .find(|(l, _)| *l == line)
        .map(|(_, s)| s.clone())
}

fn defines_compatible(macros: &HashMap<String, MacroDef>, f: &Path) -> bool {
    let cf = canon(f);
    macros.iter().any(|(n, m)| {
        n.ends_with("_COMPATIBLE")
            && !m.function_like
            && m.body.len() == 1
            && m.body[0].starts_with('"')
            && m.file.as_deref().map(canon).as_deref() == Some(cf.as_path())
    }) || cf.to_string_lossy().contains("/kho/abi/")
}

/// The ABI name another header's schema has (its first compatible macro,
/// else its file name).
fn abi_name_of(macros: &HashMap<String, MacroDef>, f: &Path) -> Result<String, Error> {
    let cf = canon(f);
    let mut found: Vec<(u32, &MacroDef)> = macros
        .iter()
        .filter(|(n, m)| {
            n.ends_with("_COMPATIBLE")
                && !m.function_like
                && m.body.len() == 1
                && m.file.as_deref().map(canon).as_deref() == Some(cf.as_path())
        })
        .map(|(_, m)| (m.line, m))
        .collect();
    found.sort_by_key(|(l, _)| *l);
    if let Some((_, m)) = found.first() {
        if let Some(s) = m.body.first().and_then(|b| string_literal(b)) {
            if let Some((n, _, _)) = split_compatible(&s) {
                return Ok(n);
            }
        }
        return Err(Error::Unsupported {
            file: f.to_path_buf(),
            line: m.line,
            col: m.col,
            construct: "a compatible string not of the form name-vN".into(),
        });
    }
    Ok(f.file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_default())
}

/// The values libclang computes for macros defined elsewhere, through an
/// unsaved probe file `enum { __kho_v0 = (NAME), ... };`.
fn evaluate(
    index: &Index,
    header: &Path,
    args: &[String],
    names: &[(String, String)],
) -> Result<Vec<i64>, Error> {
    let abs = canon(header);
    let probe = format!("{}.kho-probe.c", abs.display());
    let mut src = format!("#include \"{}\"\nenum {{\n", abs.display());
    for (i, (n, _)) in names.iter().enumerate() {
        src.push_str(&format!("__kho_v{i} = ({n}),\n"));
    }
    src.push_str("};\n");
    let tu = Tu::parse(index, &probe, args, &[(probe.clone(), src)]).map_err(|message| {
        Error::Clang {
            file: header.to_path_buf(),
            line: 0,
            col: 0,
            message,
        }
    })?;
    if let Some(d) = tu.diagnostics().into_iter().find(|d| d.error) {
        let which = d.line.checked_sub(3).and_then(|i| names.get(i as usize));
        return Err(Error::Unsupported {
            file: header.to_path_buf(),
            line: 0,
            col: 0,
            construct: format!(
                "macro {} (defined elsewhere, with no integer value: {})",
                which.map(|w| w.0.as_str()).unwrap_or("?"),
                d.message
            ),
        });
    }
    let mut vals = vec![0i64; names.len()];
    for c in tu.cursor().children() {
        if c.kind() != CXCursor_EnumDecl {
            continue;
        }
        for k in c.children() {
            if let Some(i) = k
                .spelling()
                .strip_prefix("__kho_v")
                .and_then(|i| i.parse::<usize>().ok())
            {
                if let Some(v) = vals.get_mut(i) {
                    *v = k.enum_value();
                }
            }
        }
    }
    Ok(vals)
}

fn read_struct(
    cx: &mut Ctx<'_>,
    c: &Cursor<'_>,
    refs: &mut Refs,
    idents: &mut BTreeSet<String>,
    doc: Option<&kdoc::Block>,
) -> Result<StructOut, Error> {
    let name = c.spelling();
    let mut packed = false;
    let mut align = None;
    let mut fields = Vec::new();
    let mut anon: Vec<Cursor<'_>> = Vec::new();
    let field_names: Vec<String> = c
        .children()
        .iter()
        .filter(|k| k.kind() == CXCursor_FieldDecl)
        .map(|k| k.spelling())
        .collect();
    for k in c.children() {
        match k.kind() {
            CXCursor_PackedAttr => packed = true,
            CXCursor_AlignedAttr => {
                // SAFETY-free: libclang's computed alignment of the type.
                let a = type_align(&c.ty());
                align = Some(a);
            }
            CXCursor_StructDecl | CXCursor_UnionDecl => {
                if k.is_anonymous() {
                    anon.push(k);
                } else {
                    return Err(cx.unsupported(
                        &k,
                        format!("struct {} defined inside struct {name}", k.spelling()),
                    ));
                }
            }
            CXCursor_FieldDecl => {
                let fname = k.spelling();
                let (_, line, _) = k.location();
                let fdoc = doc.and_then(|d| d.member(&fname)).unwrap_or("").to_string();
                let fty = k.ty();
                let canon_ty = fty.canonical();
                let decl = canon_ty.declaration();
                let mut count = None;
                let ty = if canon_ty.kind() == CXType_Record && decl.is_anonymous() {
                    khoser(cx, &decl, &fname)?
                } else if matches!(
                    canon_ty.kind(),
                    CXType_ConstantArray | CXType_IncompleteArray
                ) {
                    let mut elem = fty;
                    let mut n = 0;
                    while matches!(
                        elem.canonical().kind(),
                        CXType_ConstantArray | CXType_IncompleteArray
                    ) {
                        elem = elem.element();
                        n += 1;
                        if n > 8 {
                            break;
                        }
                    }
                    // A field a macro declares has its tokens at the
                    // macro's use.
                    let (_, fl, fc) = k.location();
                    let toks = cx.expansions.get(&(fl, fc)).cloned().unwrap_or_default();
                    if let Some(bits) = declare_bitmap(&toks, &fname) {
                        if n != 1 || elem.canonical().kind() != CXType_ULong {
                            return Err(cx.unsupported(&k, format!("DECLARE_BITMAP field {name}.{fname} that is not an unsigned long array")));
                        }
                        idents.extend(bits.iter().filter(|t| is_ident(t)).cloned());
                        let (_, line, _) = k.location();
                        fields.push(Field {
                            name: fname,
                            ty: format!("bitmap<{}>", join_tokens(&bits)),
                            bits: None,
                            count: None,
                            doc: fdoc,
                            line,
                        });
                        continue;
                    }
                    let base = scalar(cx, &k, &elem, refs, true)?;
                    if canon_ty.kind() == CXType_IncompleteArray {
                        // A kernel-doc line naming another field gives the count.
                        count = field_names
                            .iter()
                            .filter(|f| **f != fname)
                            .find(|f| fdoc.contains(&format!("@{f}")))
                            .cloned();
                        format!("{base}[]")
                    } else {
                        let dims = dims_after(&k.tokens(), &fname);
                        if dims.is_empty() || dims.iter().any(|d| d.is_empty()) {
                            return Err(cx.unsupported(&k, format!("array field {name}.{fname} whose length is not written in the header")));
                        }
                        let mut s = base;
                        for d in &dims {
                            idents.extend(d.iter().filter(|t| is_ident(t)).cloned());
                            s.push_str(&format!("[{}]", join_tokens(d)));
                        }
                        s
                    }
                } else {
                    scalar(cx, &k, &fty, refs, false)?
                };
                let bits = if k.is_bit_field() {
                    Some(k.bit_width())
                } else {
                    None
                };
                fields.push(Field {
                    name: fname,
                    ty,
                    bits,
                    count,
                    doc: fdoc,
                    line,
                });
            }
            _ => {}
        }
    }
    let _ = anon;
    let (_, line, _) = c.location();
    Ok(StructOut {
        name,
        union: c.kind() == CXCursor_UnionDecl,
        packed,
        align,
        doc: doc.map(|d| d.text()).unwrap_or_default(),
        fields,
        line,
    })
}

fn type_align(t: &clang::Type<'_>) -> i64 {
    t.align()
}

/// The anonymous union of `DECLARE_KHOSER_PTR`: `u64 phys` and `T *ptr`.
fn khoser(cx: &mut Ctx<'_>, decl: &Cursor<'_>, fname: &str) -> Result<String, Error> {
    let members: Vec<Cursor<'_>> = decl
        .children()
        .into_iter()
        .filter(|k| k.kind() == CXCursor_FieldDecl)
        .collect();
    let refuse = || {
        cx.unsupported(decl, format!("anonymous struct or union `{fname}` (only DECLARE_KHOSER_PTR's union is understood)"))
    };
    if decl.kind() != CXCursor_UnionDecl || members.len() != 2 {
        return Err(refuse());
    }
    let (phys, ptr) = (&members[0], &members[1]);
    if phys.spelling() != "phys"
        || phys.ty().canonical().kind() != CXType_ULongLong
        || ptr.spelling() != "ptr"
    {
        return Err(refuse());
    }
    let pt = ptr.ty().canonical();
    if pt.kind() != CXType_Pointer {
        return Err(refuse());
    }
    let target = pt.pointee().canonical();
    if target.kind() != CXType_Record {
        return Err(refuse());
    }
    Ok(format!("khoser_ptr<{}>", target.declaration().spelling()))
}

/// A scalar or struct field type's schema spelling.
fn scalar(
    cx: &mut Ctx<'_>,
    field: &Cursor<'_>,
    ty: &clang::Type<'_>,
    refs: &mut Refs,
    in_array: bool,
) -> Result<String, Error> {
    let canon_ty = ty.canonical();
    let fname = field.spelling();
    let sp = ty.spelling();
    match canon_ty.kind() {
        CXType_Record => {
            let d = canon_ty.declaration();
            if let Some(f) = d.location().0 {
                if !cx.is_header(&f) {
                    refs.struct_files.insert(f);
                }
            }
            return Ok(d.spelling());
        }
        CXType_Pointer => {
            return Err(cx.unsupported(field, format!("pointer field `{fname}` ({sp}; only DECLARE_KHOSER_PTR pointers cross a kexec)")))
        }
        CXType_Enum => return Err(cx.unsupported(field, format!("enum field `{fname}` ({sp}; its size is the compiler's choice, use a fixed-size integer)"))),
        CXType_Long | CXType_ULong => {
            return Err(cx.unsupported(field, format!("`{sp}` field `{fname}` (its size is the target's; use u64)")))
        }
        _ => {}
    }
    if matches!(
        sp.as_str(),
        "size_t" | "ssize_t" | "uintptr_t" | "intptr_t" | "ptrdiff_t"
    ) {
        return Err(cx.unsupported(
            field,
            format!("`{sp}` field `{fname}` (its size is the target's; use u64)"),
        ));
    }
    if sp == "char" && !in_array {
        return Err(cx.unsupported(
            field,
            format!("plain `char` field `{fname}` (only an array element)"),
        ));
    }
    if PRIMS.contains(&sp.as_str()) {
        return Ok(sp);
    }
    Err(cx.unsupported(field, format!("field `{fname}` of type `{sp}`")))
}
