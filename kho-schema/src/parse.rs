//! Stage 1: TOML text to the schema's syntax tree, every value with its
//! place in the file. Unknown keys and wrong value types are errors here.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::{Diags, Source};

/// A value and the byte range it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sp<T> {
    pub value: T,
    pub span: Range<usize>,
}

/// How the compatible string composes with the dependencies'. Either way
/// it is at most 47 bytes (the kernel's 48 with the NUL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compose {
    /// `own-kho-block-v1`: each dependency's string appended with `-`.
    Append,
    /// `own;dep-a-v1;dep-b-v2`: own first, then every ABI it builds on,
    /// directly or not, sorted and joined with `;`.
    Sorted,
    /// `own-v1` exactly: the string the kernel writes when an ABI only
    /// uses another's struct (memfd's `memfd-v1`, not `memfd-v1-kho-v1`).
    /// A change in a dependency's struct it holds then needs its own bump.
    None,
}

/// The value of a schema constant.
#[derive(Debug, Clone)]
pub enum ConstValue {
    /// An integer, emitted in every language.
    Int(u64),
    /// A string, emitted in every language.
    Str(String),
    /// A C expression, emitted in the C header only (e.g. `PAGE_SIZE`).
    C(String),
}

#[derive(Debug, Clone)]
pub(crate) struct ConstAst {
    pub name: Sp<String>,
    /// For an `expr` constant, `Int(0)` until the layout stage evaluates it.
    pub value: ConstValue,
    pub doc: String,
    /// `expr = ".."`: evaluated per page size, kept as written for C.
    pub expr: Option<Sp<String>>,
    /// `external = "header.h"`: defined there, `value` is for layout only.
    pub external: Option<Sp<String>>,
    /// `enum = "tag"`: a member of that C enum (`""`: an anonymous one)
    /// instead of a `#define`.
    pub enum_tag: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub(crate) struct FieldAst {
    pub name: Sp<String>,
    pub ty: Sp<String>,
    pub doc: String,
    /// `bits = N`: a bit field of that width.
    pub bits: Option<Sp<u64>>,
    /// `count = "field"`: the field counting a flexible array's elements.
    pub count: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub(crate) struct StructAst {
    pub name: Sp<String>,
    pub doc: String,
    pub entry: bool,
    /// `packed = false` gives C's natural alignment; the default is packed.
    pub packed: bool,
    /// `align = N`: `__aligned(N)`.
    pub align: Option<Sp<u64>>,
    /// `union = true`.
    pub union: bool,
    pub fields: Vec<FieldAst>,
}

/// An `[[abi.compatible]]` macro beside the main one.
#[derive(Debug, Clone)]
pub(crate) struct CompatAst {
    pub macro_name: Sp<String>,
    pub name: Sp<String>,
    pub version: Sp<u64>,
    pub structs: Vec<Sp<String>>,
    /// Whether `structs` was written (`structs = []` is a macro that
    /// versions no struct, such as an FDT node's properties).
    pub structs_given: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CAst {
    pub header: Option<Sp<String>>,
    pub compatible_macro: Option<Sp<String>>,
    /// `version_macro`: the ABI is versioned by an integer macro, as the
    /// kernel's kexec_metadata.h is, not by a compatible string.
    pub version_macro: Option<Sp<String>>,
    pub includes: Vec<Sp<String>>,
}

#[derive(Debug, Clone)]
pub(crate) struct SchemaAst {
    pub name: Sp<String>,
    pub version: Sp<u64>,
    pub doc: String,
    pub depends: Vec<Sp<String>>,
    pub compose: Compose,
    pub draft: bool,
    pub spdx: Option<Sp<String>>,
    pub copyright: Vec<Sp<String>>,
    pub c: CAst,
    pub compatibles: Vec<CompatAst>,
    pub constants: Vec<ConstAst>,
    pub structs: Vec<StructAst>,
    /// `[[assert]] expr`s.
    pub asserts: Vec<Sp<String>>,
}

/// Parses one schema file. Collects every error it can before giving up.
pub(crate) fn parse(src: &Source, diags: &mut Diags) -> Option<SchemaAst> {
    let (table, errors) = DeTable::parse_recoverable(&src.text);
    for e in errors {
        diags.at(
            src,
            e.span().unwrap_or(0..0),
            e.message().trim().to_string(),
        );
    }
    let root = table.get_ref();
    let mut p = Parser { src, diags };
    p.known_keys(
        root,
        "the top level",
        &["abi", "constants", "struct", "assert"],
    );
    let abi = p.table(root, "abi", true)?;
    p.known_keys(
        abi.get_ref(),
        "[abi]",
        &[
            "name",
            "version",
            "doc",
            "depends",
            "compose",
            "draft",
            "spdx",
            "copyright",
            "c",
            "compatible",
        ],
    );
    let draft = p.bool(&abi, "draft");
    let spdx = p.string(&abi, "spdx", false);
    let copyright = p.string_array(&abi, "copyright");
    let name = p.string(&abi, "name", true);
    let version = p.integer(&abi, "version", true);
    let doc = p
        .string(&abi, "doc", false)
        .map(|s| s.value)
        .unwrap_or_default();
    let depends = p.string_array(&abi, "depends");
    let compose = match p.string(&abi, "compose", false) {
        None => Compose::Append,
        Some(s) if s.value == "append" => Compose::Append,
        Some(s) if s.value == "sorted" => Compose::Sorted,
        Some(s) if s.value == "none" => Compose::None,
        Some(s) => {
            p.err(
                s.span,
                format!(
                    "compose is \"append\", \"sorted\" or \"none\", not {:?}",
                    s.value
                ),
            );
            Compose::Append
        }
    };
    let mut c = CAst::default();
    if let Some(ct) = p.table(abi.get_ref(), "c", false) {
        p.known_keys(
            ct.get_ref(),
            "[abi.c]",
            &["header", "compatible_macro", "version_macro", "includes"],
        );
        c.header = p.string(&ct, "header", false);
        c.compatible_macro = p.string(&ct, "compatible_macro", false);
        c.version_macro = p.string(&ct, "version_macro", false);
        c.includes = p.string_array(&ct, "includes");
    }
    let compatibles = p.compatibles(abi.get_ref());
    let constants = p.constants(root);
    let structs = p.structs(root);
    let asserts = p.asserts(root);
    Some(SchemaAst {
        name: name?,
        version: version?,
        doc,
        depends,
        compose,
        draft,
        spdx,
        copyright,
        c,
        compatibles,
        constants,
        structs,
        asserts,
    })
}

struct Parser<'a> {
    src: &'a Source,
    diags: &'a mut Diags,
}

type Table<'i> = Spanned<DeTable<'i>>;

impl Parser<'_> {
    fn err(&mut self, span: Range<usize>, msg: String) {
        self.diags.at(self.src, span, msg);
    }

    fn known_keys(&mut self, t: &DeTable<'_>, what: &str, keys: &[&str]) {
        for (k, _) in t.iter() {
            if !keys.contains(&k.get_ref().as_ref()) {
                let msg = format!(
                    "unknown key `{}` in {what} (expected one of: {})",
                    k.get_ref(),
                    keys.join(", ")
                );
                self.err(k.span(), msg);
            }
        }
    }

    fn value<'t, 'i>(
        &mut self,
        t: &'t DeTable<'i>,
        key: &str,
        required: bool,
        span: Range<usize>,
        what: &str,
    ) -> Option<&'t Spanned<DeValue<'i>>> {
        let v = t.get(key);
        if v.is_none() && required {
            self.err(span, format!("missing `{key}` ({what})"));
        }
        v
    }

    fn table<'i>(&mut self, t: &DeTable<'i>, key: &str, required: bool) -> Option<Table<'i>> {
        let v = self.value(t, key, required, 0..0, "a table")?;
        match v.get_ref() {
            DeValue::Table(tab) => Some(Spanned::new(v.span(), tab.clone())),
            other => {
                self.err(
                    v.span(),
                    format!("`{key}` must be a table, not {}", other.type_str()),
                );
                None
            }
        }
    }

    fn string(&mut self, t: &Table<'_>, key: &str, required: bool) -> Option<Sp<String>> {
        let v = self.value(t.get_ref(), key, required, t.span(), "a string")?;
        match v.get_ref().as_str() {
            Some(s) => Some(Sp {
                value: s.to_string(),
                span: v.span(),
            }),
            None => {
                self.err(
                    v.span(),
                    format!("`{key}` must be a string, not {}", v.get_ref().type_str()),
                );
                None
            }
        }
    }

    fn integer(&mut self, t: &Table<'_>, key: &str, required: bool) -> Option<Sp<u64>> {
        let v = self.value(t.get_ref(), key, required, t.span(), "an integer")?;
        let parsed = v
            .get_ref()
            .as_integer()
            .and_then(|i| u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok());
        match parsed {
            Some(n) => Some(Sp {
                value: n,
                span: v.span(),
            }),
            None => {
                self.err(v.span(), format!("`{key}` must be a non-negative integer"));
                None
            }
        }
    }

    fn bool(&mut self, t: &Table<'_>, key: &str) -> bool {
        match t.get_ref().get(key) {
            None => false,
            Some(v) => match v.get_ref().as_bool() {
                Some(b) => b,
                None => {
                    self.err(v.span(), format!("`{key}` must be true or false"));
                    false
                }
            },
        }
    }

    fn string_array(&mut self, t: &Table<'_>, key: &str) -> Vec<Sp<String>> {
        let Some(v) = t.get_ref().get(key) else {
            return Vec::new();
        };
        let Some(arr) = v.get_ref().as_array() else {
            self.err(v.span(), format!("`{key}` must be an array of strings"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push(Sp {
                    value: s.to_string(),
                    span: item.span(),
                }),
                None => self.err(item.span(), format!("`{key}` must hold strings only")),
            }
        }
        out
    }

    fn constants(&mut self, root: &DeTable<'_>) -> Vec<ConstAst> {
        let Some(t) = self.table(root, "constants", false) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in t.get_ref().iter() {
            let name = Sp {
                value: k.get_ref().to_string(),
                span: k.span(),
            };
            let (value, doc, enum_tag) = match v.get_ref() {
                DeValue::Table(ct) => {
                    let ct = Spanned::new(v.span(), ct.clone());
                    self.known_keys(
                        ct.get_ref(),
                        "a constant",
                        &["value", "c", "expr", "external", "enum", "doc"],
                    );
                    let enum_tag = self.string(&ct, "enum", false);
                    let doc = self
                        .string(&ct, "doc", false)
                        .map(|s| s.value)
                        .unwrap_or_default();
                    let external = self.string(&ct, "external", false);
                    if let Some(e) = self.string(&ct, "expr", false) {
                        let other = ["value", "c", "external"]
                            .into_iter()
                            .find(|k| ct.get_ref().get(*k).is_some());
                        if let Some(k) = other {
                            self.err(
                                e.span,
                                format!("constant {}: give `expr` or `{k}`, not both", name.value),
                            );
                            continue;
                        }
                        out.push(ConstAst {
                            name,
                            value: ConstValue::Int(0),
                            doc,
                            expr: Some(e),
                            external: None,
                            enum_tag,
                        });
                        continue;
                    }
                    if let (Some(t), Some(k)) = (
                        &enum_tag,
                        ["external", "c"]
                            .into_iter()
                            .find(|k| ct.get_ref().get(*k).is_some()),
                    ) {
                        self.err(
                            t.span.clone(),
                            format!(
                                "constant {}: an enum member has a `value` or an `expr`, not `{k}`",
                                name.value
                            ),
                        );
                        continue;
                    }
                    if let Some(e) = &external {
                        let value = match ct.get_ref().get("value") {
                            Some(val) => self.const_value(val),
                            None => None,
                        };
                        match value {
                            Some(ConstValue::Int(n)) => out.push(ConstAst {
                                name,
                                value: ConstValue::Int(n),
                                doc,
                                expr: None,
                                external: external.clone(),
                                enum_tag: None,
                            }),
                            Some(_) | None => self.err(
                                e.span.clone(),
                                format!(
                                    "external constant {} needs its integer `value` (what layout uses; \
                                     the header {:?} defines it for C)",
                                    name.value, e.value
                                ),
                            ),
                        }
                        continue;
                    }
                    let value = match (ct.get_ref().get("value"), self.string(&ct, "c", false)) {
                        (Some(_), Some(c)) => {
                            self.err(
                                c.span,
                                format!("constant {}: give `value` or `c`, not both", name.value),
                            );
                            continue;
                        }
                        (None, Some(c)) => ConstValue::C(c.value),
                        (Some(val), None) => match self.const_value(val) {
                            Some(ConstValue::Str(_)) if enum_tag.is_some() => {
                                self.err(
                                    val.span(),
                                    format!(
                                        "constant {}: an enum member is an integer, not a string",
                                        name.value
                                    ),
                                );
                                continue;
                            }
                            Some(value) => value,
                            None => continue,
                        },
                        (None, None) => {
                            self.err(
                                v.span(),
                                format!(
                                    "constant {} needs a `value`, an `expr` (or a verbatim `c` expression)",
                                    name.value
                                ),
                            );
                            continue;
                        }
                    };
                    (value, doc, enum_tag)
                }
                _ => match self.const_value(v) {
                    Some(value) => (value, String::new(), None),
                    None => continue,
                },
            };
            out.push(ConstAst {
                name,
                value,
                doc,
                expr: None,
                external: None,
                enum_tag,
            });
        }
        // The table's order is not the file's: keep declaration order.
        out.sort_by_key(|c| c.name.span.start);
        out
    }

    fn const_value(&mut self, v: &Spanned<DeValue<'_>>) -> Option<ConstValue> {
        if let Some(i) = v.get_ref().as_integer() {
            match u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                Ok(n) => return Some(ConstValue::Int(n)),
                Err(_) => {
                    self.err(
                        v.span(),
                        "a constant must be a non-negative integer that fits u64".into(),
                    );
                    return None;
                }
            }
        }
        if let Some(s) = v.get_ref().as_str() {
            return Some(ConstValue::Str(s.to_string()));
        }
        self.err(
            v.span(),
            format!(
                "a constant is an integer or a string, not {}",
                v.get_ref().type_str()
            ),
        );
        None
    }

    fn structs(&mut self, root: &DeTable<'_>) -> Vec<StructAst> {
        let Some(v) = root.get("struct") else {
            return Vec::new();
        };
        let Some(arr) = v.get_ref().as_array() else {
            self.err(
                v.span(),
                "`struct` must be an array of tables: write [[struct]]".into(),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            let Some(st) = item.get_ref().as_table() else {
                self.err(item.span(), "each [[struct]] must be a table".into());
                continue;
            };
            let st = Spanned::new(item.span(), st.clone());
            self.known_keys(
                st.get_ref(),
                "[[struct]]",
                &["name", "doc", "entry", "packed", "align", "union", "fields"],
            );
            let Some(name) = self.string(&st, "name", true) else {
                continue;
            };
            let doc = self
                .string(&st, "doc", false)
                .map(|s| s.value)
                .unwrap_or_default();
            let entry = self.bool(&st, "entry");
            let packed = match st.get_ref().get("packed") {
                None => true,
                Some(_) => self.bool(&st, "packed"),
            };
            let align = self.integer(&st, "align", false);
            let union = self.bool(&st, "union");
            let mut fields = Vec::new();
            match st.get_ref().get("fields") {
                None => self.err(
                    name.span.clone(),
                    format!("struct {} has no `fields`", name.value),
                ),
                Some(fv) => match fv.get_ref().as_array() {
                    None => self.err(
                        fv.span(),
                        "`fields` must be an array of { name, type, doc } tables".into(),
                    ),
                    Some(farr) => {
                        for f in farr.iter() {
                            let Some(ft) = f.get_ref().as_table() else {
                                self.err(f.span(), "a field is a table: { name = \"..\", type = \"..\", doc = \"..\" }".into());
                                continue;
                            };
                            let ft = Spanned::new(f.span(), ft.clone());
                            self.known_keys(
                                ft.get_ref(),
                                "a field",
                                &["name", "type", "doc", "bits", "count"],
                            );
                            let fname = self.string(&ft, "name", true);
                            let ty = self.string(&ft, "type", true);
                            let doc = self
                                .string(&ft, "doc", false)
                                .map(|s| s.value)
                                .unwrap_or_default();
                            let bits = self.integer(&ft, "bits", false);
                            let count = self.string(&ft, "count", false);
                            if let (Some(name), Some(ty)) = (fname, ty) {
                                fields.push(FieldAst {
                                    name,
                                    ty,
                                    doc,
                                    bits,
                                    count,
                                });
                            }
                        }
                    }
                },
            }
            out.push(StructAst {
                name,
                doc,
                entry,
                packed,
                align,
                union,
                fields,
            });
        }
        out
    }

    /// `[[abi.compatible]]`: the extra macros.
    fn compatibles(&mut self, abi: &DeTable<'_>) -> Vec<CompatAst> {
        let Some(v) = abi.get("compatible") else {
            return Vec::new();
        };
        let Some(arr) = v.get_ref().as_array() else {
            self.err(
                v.span(),
                "`abi.compatible` must be an array of tables: write [[abi.compatible]]".into(),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            let Some(t) = item.get_ref().as_table() else {
                self.err(
                    item.span(),
                    "each [[abi.compatible]] must be a table".into(),
                );
                continue;
            };
            let t = Spanned::new(item.span(), t.clone());
            self.known_keys(
                t.get_ref(),
                "[[abi.compatible]]",
                &["macro", "name", "version", "structs"],
            );
            let macro_name = self.string(&t, "macro", true);
            let name = self.string(&t, "name", true);
            let version = self.integer(&t, "version", true);
            let structs = self.string_array(&t, "structs");
            let structs_given = t.get_ref().contains_key("structs");
            if let (Some(macro_name), Some(name), Some(version)) = (macro_name, name, version) {
                out.push(CompatAst {
                    macro_name,
                    name,
                    version,
                    structs,
                    structs_given,
                });
            }
        }
        out
    }

    /// `[[assert]]`: each an `expr`.
    fn asserts(&mut self, root: &DeTable<'_>) -> Vec<Sp<String>> {
        let Some(v) = root.get("assert") else {
            return Vec::new();
        };
        let Some(arr) = v.get_ref().as_array() else {
            self.err(
                v.span(),
                "`assert` must be an array of tables: write [[assert]]".into(),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            let Some(t) = item.get_ref().as_table() else {
                self.err(item.span(), "each [[assert]] must be a table".into());
                continue;
            };
            let t = Spanned::new(item.span(), t.clone());
            self.known_keys(t.get_ref(), "[[assert]]", &["expr", "doc"]);
            if let Some(e) = self.string(&t, "expr", true) {
                out.push(e);
            }
        }
        out
    }
}

/// `text` without its `[abi]` table's `draft = true` line, for
/// `release`. Refused (line, why) when the key is not on a line of its own
/// (a comment after it is kept out with the line), or is not `true`.
pub(crate) fn without_draft(text: &str) -> Result<String, (usize, String)> {
    let (table, errors) = DeTable::parse_recoverable(text);
    if let Some(e) = errors.first() {
        return Err((
            1,
            format!("the schema does not parse ({})", e.message().trim()),
        ));
    }
    let root = table.get_ref();
    let abi = root
        .get("abi")
        .and_then(|v| v.get_ref().as_table())
        .ok_or((1, "no [abi] table".to_string()))?;
    let (key, value) = abi
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == "draft")
        .ok_or((1, "no `draft` key in [abi]".to_string()))?;
    let line_of = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let line = line_of(key.span().start);
    if value.get_ref().as_bool() != Some(true) {
        return Err((line, "`draft` is not `true`".into()));
    }
    let start = text[..key.span().start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[value.span().end..]
        .find('\n')
        .map_or(text.len(), |i| value.span().end + i + 1);
    let before = &text[start..key.span().start];
    let after = text[value.span().end..end].trim();
    if !before.trim().is_empty() || !(after.is_empty() || after.starts_with('#')) {
        return Err((
            line,
            "`draft = true` shares its line with something else".into(),
        ));
    }
    Ok(format!("{}{}", &text[..start], &text[end..]))
}
