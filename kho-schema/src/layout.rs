//! Stage 3: the layout IR. Offsets and sizes of every struct, the composed
//! compatible strings, and fingerprints computed by `kho_layout`, the same
//! code the derive uses.

use std::collections::BTreeMap;

use kho_layout::{canonical_text, fingerprint, FieldLayout, StructLayout, TypeDesc};

use crate::diag::{Diags, Source};
use crate::parse::{Compose, ConstValue};
use crate::validate::{Checked, Len, Ty};

/// Largest entry of a block set: a 4 KiB block less its 16-byte header.
pub const MAX_ENTRY_SIZE: usize = 4096 - 16;
/// Longest `;`-composed compatible string: 48 bytes with its NUL.
pub const MAX_SORTED_COMPATIBLE: usize = 47;

/// One ABI, laid out.
#[derive(Debug, Clone)]
pub struct Abi {
    /// The schema file.
    pub file: String,
    /// `kho-block`, `luo`.
    pub name: String,
    /// Its own version.
    pub version: u64,
    /// Doc text.
    pub doc: String,
    /// ABIs it builds on.
    pub depends: Vec<String>,
    /// How its compatible string is composed.
    pub compose: Compose,
    /// The compatible string, composed with the dependencies'.
    pub compatible: String,
    /// C header settings.
    pub c: CInfo,
    /// Constants in declaration order.
    pub constants: Vec<Constant>,
    /// Structs in declaration order.
    pub structs: Vec<Struct>,
}

/// Where the C header goes and what it is called.
#[derive(Debug, Clone)]
pub struct CInfo {
    /// Path under `include/` (`linux/kho/abi/block.h`).
    pub header: String,
    /// The `#define` holding the compatible string.
    pub compatible_macro: String,
    /// Headers the C header includes.
    pub includes: Vec<String>,
}

/// A named constant.
#[derive(Debug, Clone)]
pub struct Constant {
    /// UPPER_CASE name.
    pub name: String,
    /// Its value.
    pub value: ConstValue,
    /// Doc text.
    pub doc: String,
}

/// A struct, laid out.
#[derive(Debug, Clone)]
pub struct Struct {
    /// snake_case C name.
    pub name: String,
    /// Doc text.
    pub doc: String,
    /// Whether it is a block-set entry.
    pub entry: bool,
    /// Size in bytes.
    pub size: usize,
    /// Fields in order.
    pub fields: Vec<Field>,
    /// The layout in the shared model (for the canonical text).
    pub layout: &'static StructLayout,
    /// The layout fingerprint (the derive's `FINGERPRINT`).
    pub fingerprint: u64,
}

/// A field, laid out.
#[derive(Debug, Clone)]
pub struct Field {
    /// Name.
    pub name: String,
    /// Doc text.
    pub doc: String,
    /// Type.
    pub ty: Ty,
    /// Offset in the struct.
    pub offset: usize,
    /// Size.
    pub size: usize,
}

impl Abi {
    /// The struct named `name`.
    pub fn find(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// The text the ABI's fingerprint hashes: its constants' values, which
    /// structs are entries, and every struct's canonical layout. Names of
    /// the ABI and doc text are not part of it.
    pub fn layout_text(&self) -> String {
        let mut out = String::new();
        for c in &self.constants {
            let v = match &c.value {
                ConstValue::Int(n) => n.to_string(),
                ConstValue::Str(s) => format!("{s:?}"),
                ConstValue::C(s) => format!("c({s})"),
            };
            out.push_str(&format!("const {} = {v}\n", c.name));
        }
        for s in &self.structs {
            if s.entry {
                out.push_str(&format!("entry {}\n", s.name));
            }
            out.push_str(&canonical_text(s.layout));
        }
        out
    }

    /// The ABI's fingerprint: the hash of [`layout_text`](Self::layout_text).
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.layout_text())
    }
}

/// Lays out checked schemas (all of them, dependencies first). Errors:
/// recursive structs, entries too large for a block, compatible strings too
/// long.
pub fn layout(srcs: &[Source], checked: &[Checked], diags: &mut Diags) -> Vec<Abi> {
    let by_name: BTreeMap<&str, &Checked> = checked
        .iter()
        .map(|c| (c.ast.name.value.as_str(), c))
        .collect();
    let mut lx = Layouter {
        by_name,
        done: BTreeMap::new(),
        busy: Vec::new(),
        srcs,
        diags,
    };
    let mut out = Vec::new();
    for c in checked {
        let a = &c.ast;
        let structs = a
            .structs
            .iter()
            .filter_map(|s| lx.get(&a.name.value, &s.name.value))
            .collect::<Vec<_>>();
        let src = &srcs[c.index];
        for s in &structs {
            if s.entry && s.size > MAX_ENTRY_SIZE {
                let span = a
                    .structs
                    .iter()
                    .find(|x| x.name.value == s.name)
                    .map(|x| x.name.span.clone());
                lx.diags.at(
                    src,
                    span.unwrap_or(0..0),
                    format!(
                        "entry {} is {} bytes: a block holds at most {MAX_ENTRY_SIZE} after its 16-byte header",
                        s.name, s.size
                    ),
                );
            }
        }
        let compatible = compatible(&lx.by_name, &a.name.value);
        if a.compose == Compose::Sorted && compatible.len() > MAX_SORTED_COMPATIBLE {
            lx.diags.at(
                src,
                a.name.span.clone(),
                format!(
                    "compatible string {compatible:?} is {} bytes: the limit is {MAX_SORTED_COMPATIBLE} \
                     (48 with the NUL)",
                    compatible.len()
                ),
            );
        }
        let c_name = a.name.value.replace('-', "_");
        out.push(Abi {
            file: src.path.clone(),
            name: a.name.value.clone(),
            version: a.version.value,
            doc: a.doc.clone(),
            depends: a.depends.iter().map(|d| d.value.clone()).collect(),
            compose: a.compose,
            compatible,
            c: CInfo {
                header: a
                    .c
                    .header
                    .clone()
                    .unwrap_or_else(|| format!("linux/kho/abi/{c_name}.h")),
                compatible_macro: a
                    .c
                    .compatible_macro
                    .clone()
                    .unwrap_or_else(|| format!("{}_ABI_COMPATIBLE", c_name.to_uppercase())),
                includes: if a.c.includes.is_empty() {
                    vec!["linux/types.h".into()]
                } else {
                    a.c.includes.clone()
                },
            },
            constants: a
                .constants
                .iter()
                .map(|k| Constant {
                    name: k.name.value.clone(),
                    value: k.value.clone(),
                    doc: k.doc.clone(),
                })
                .collect(),
            structs,
        });
    }
    out
}

/// `name-vN`, composed with the dependencies' compatible strings.
fn compatible(by_name: &BTreeMap<&str, &Checked>, name: &str) -> String {
    fn go(by_name: &BTreeMap<&str, &Checked>, name: &str, depth: usize) -> (String, Vec<String>) {
        let Some(c) = by_name.get(name) else {
            return (String::new(), Vec::new());
        };
        let own = format!("{}-v{}", c.ast.name.value, c.ast.version.value);
        if depth > 32 {
            return (own.clone(), vec![own]);
        }
        let deps: Vec<_> = c
            .ast
            .depends
            .iter()
            .map(|d| go(by_name, &d.value, depth + 1))
            .collect();
        let appended = deps
            .iter()
            .fold(own.clone(), |acc, (s, _)| format!("{acc}-{s}"));
        let mut parts: Vec<String> = deps.into_iter().flat_map(|(_, p)| p).collect();
        parts.sort();
        parts.dedup();
        parts.retain(|p| *p != own);
        let sorted = std::iter::once(own).chain(parts).collect::<Vec<_>>();
        match c.ast.compose {
            Compose::Append => (appended, sorted),
            Compose::Sorted => (sorted.join(";"), sorted),
        }
    }
    go(by_name, name, 0).0
}

struct Layouter<'a> {
    by_name: BTreeMap<&'a str, &'a Checked>,
    done: BTreeMap<(String, String), Option<Struct>>,
    busy: Vec<(String, String)>,
    srcs: &'a [Source],
    diags: &'a mut Diags,
}

impl Layouter<'_> {
    /// The layout of struct `name` of ABI `abi`, computed once; `None` after
    /// an error (reported once).
    fn get(&mut self, abi: &str, name: &str) -> Option<Struct> {
        let key = (abi.to_string(), name.to_string());
        if let Some(done) = self.done.get(&key) {
            return done.clone();
        }
        let c = *self.by_name.get(abi)?;
        let si = c.ast.structs.iter().position(|s| s.name.value == name)?;
        let s = &c.ast.structs[si];
        if self.busy.contains(&key) {
            let path: Vec<_> = self
                .busy
                .iter()
                .skip_while(|k| **k != key)
                .map(|k| k.1.clone())
                .collect();
            self.diags.at(
                &self.srcs[c.index],
                s.name.span.clone(),
                format!(
                    "recursive struct: {} -> {name} (a struct cannot contain itself)",
                    path.join(" -> ")
                ),
            );
            self.done.insert(key, None);
            return None;
        }
        self.busy.push(key.clone());
        let mut fields = Vec::new();
        let mut offset = 0usize;
        let mut ok = true;
        for (f, ty) in s.fields.iter().zip(&c.types[si]) {
            match self.type_desc(ty) {
                Some((desc, size)) => {
                    fields.push((
                        Field {
                            name: f.name.value.clone(),
                            doc: f.doc.clone(),
                            ty: ty.clone(),
                            offset,
                            size,
                        },
                        desc,
                    ));
                    offset = offset.saturating_add(size);
                }
                None => ok = false,
            }
        }
        self.busy.pop();
        let out = ok.then(|| {
            let layout_fields: Vec<FieldLayout> = fields
                .iter()
                .map(|(f, desc)| FieldLayout {
                    name: leak(&f.name),
                    offset: f.offset,
                    size: f.size,
                    ty: desc,
                })
                .collect();
            let layout: &'static StructLayout = Box::leak(Box::new(StructLayout {
                name: leak(name),
                size: offset,
                fields: Box::leak(layout_fields.into_boxed_slice()),
            }));
            Struct {
                name: name.to_string(),
                doc: s.doc.clone(),
                entry: s.entry,
                size: offset,
                fields: fields.into_iter().map(|(f, _)| f).collect(),
                layout,
                fingerprint: kho_layout::layout_fingerprint(layout),
            }
        });
        self.done.insert(key, out.clone());
        out
    }

    fn type_desc(&mut self, ty: &Ty) -> Option<(&'static TypeDesc, usize)> {
        Some(match ty {
            Ty::Prim(p) => (leak_ty(TypeDesc::Prim(p.name())), p.size()),
            Ty::Char(Len { value, .. }) => (
                leak_ty(TypeDesc::Array(leak_ty(TypeDesc::Prim("char")), *value)),
                *value,
            ),
            Ty::Array(elem, Len { value, .. }) => {
                let (e, size) = self.type_desc(elem)?;
                (
                    leak_ty(TypeDesc::Array(e, *value)),
                    size.saturating_mul(*value),
                )
            }
            Ty::Struct { abi, name } => {
                let s = self.get(abi, name)?;
                (leak_ty(TypeDesc::Struct(s.layout)), s.size)
            }
        })
    }
}

// The shared layout model holds `&'static` data (so the derive can build it
// in a `const`). A schema compiler builds a bounded amount of it once per
// run, so leaking is the simple, honest way to get there.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_ty(t: TypeDesc) -> &'static TypeDesc {
    Box::leak(Box::new(t))
}
