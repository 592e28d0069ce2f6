//! Stage 3: the layout IR. Offsets and sizes of every struct, the composed
//! compatible strings, and fingerprints computed by `kho_layout`, the same
//! code the derive uses.

use std::collections::BTreeMap;

use kho_layout::{fingerprint, FieldLayout, StructLayout, TypeDesc};

use crate::diag::{Diags, Source};
use crate::parse::{Compose, ConstValue};
use crate::validate::{self, Checked, Len, Ty};

/// Largest entry of a block set: a 4 KiB block less its 16-byte header.
pub const MAX_ENTRY_SIZE: usize = 4096 - 16;
/// Longest compatible string, however composed: the kernel's 48 bytes
/// with the NUL.
pub const MAX_COMPATIBLE: usize = 47;
/// Deepest nesting of structs in structs: a struct of primitives is 1 deep,
/// one holding it 2. Far above what an ABI needs (the kernel's nest 3
/// deep), low enough that the canonical texts that struct fingerprints
/// hash, which inline every nested struct, stay small.
pub const MAX_NESTING: usize = 1024;
/// Largest struct, entry or not: 1 GiB. A block-set entry is far smaller
/// (at most a page less its header); a struct this large is a mistake.
pub const MAX_STRUCT_SIZE: usize = 1 << 30;
/// Largest canonical layout text of one struct (nested structs inlined,
/// indentation not counted), which its fingerprint hashes: 16 MiB.
pub const MAX_CANONICAL_TEXT: usize = 16 << 20;
/// Largest sum of the canonical texts of every struct compiled at once.
pub const MAX_TOTAL_CANONICAL_TEXT: usize = 256 << 20;

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

    /// The text the ABI's fingerprint hashes (and the lock records): its
    /// constants' values, which structs are entries, and each struct's
    /// layout, one line `struct <name> size <size> fingerprint <fp>` and
    /// one line per field as in the canonical text, two spaces in. A nested
    /// struct is named by its field's type and not inlined: its layout is
    /// in the struct fingerprint of every struct that holds it, and its own
    /// lines are in its ABI's text. So the text is linear in the schema,
    /// and still changes when any nested field does. Names of the ABI and
    /// doc text are not part of it.
    pub fn layout_text(&self) -> String {
        let mut out = String::new();
        for c in &self.constants {
            out.push_str(&format!(
                "const {} = {}\n",
                c.name,
                crate::view::const_text(&c.value)
            ));
        }
        for s in &self.structs {
            if s.entry {
                out.push_str(&format!("entry {}\n", s.name));
            }
            out.push_str(&format!(
                "struct {} size {} fingerprint {:#018x}\n",
                s.name, s.size, s.fingerprint
            ));
            for f in s.layout.fields {
                out.push_str(&format!(
                    "  {} {} offset {} size {}\n",
                    f.name, f.ty, f.offset, f.size
                ));
            }
        }
        out
    }

    /// The ABI's fingerprint: the hash of [`layout_text`](Self::layout_text).
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.layout_text())
    }
}

/// Lays out checked schemas (all of them, dependencies first). Errors:
/// recursive or too deeply nested structs, sizes past [`MAX_STRUCT_SIZE`]
/// (every size and offset is computed with checked arithmetic), entries too
/// large for a block, compatible strings past [`MAX_COMPATIBLE`], layouts
/// whose canonical text would be too large to fingerprint.
pub fn layout(srcs: &[Source], checked: &[Checked], diags: &mut Diags) -> Vec<Abi> {
    let mut laid = lay_out_structs(srcs, checked, diags);
    let composed = compose_all(checked, MAX_COMPATIBLE);
    let mut out = Vec::new();
    for (ci, c) in checked.iter().enumerate() {
        let a = &c.ast;
        let src = &srcs[c.index];
        let structs: Vec<Struct> = std::mem::take(&mut laid[ci])
            .into_iter()
            .flatten()
            .collect();
        for s in &structs {
            if s.entry && s.size > MAX_ENTRY_SIZE {
                let span = a
                    .structs
                    .iter()
                    .find(|x| x.name.value == s.name)
                    .map(|x| x.name.span.clone());
                diags.at(
                    src,
                    span.unwrap_or(0..0),
                    format!(
                        "entry {} is {} bytes: a block holds at most {MAX_ENTRY_SIZE} after its 16-byte header",
                        s.name, s.size
                    ),
                );
            }
        }
        let compatible = match &composed[ci] {
            Composed::Fits { string, .. } => string.clone(),
            over => {
                diags.at(
                    src,
                    a.name.span.clone(),
                    over_message(over, checked, &a.name.value),
                );
                String::new()
            }
        };
        out.push(Abi {
            file: src.path.clone(),
            name: a.name.value.clone(),
            version: a.version.value,
            doc: a.doc.clone(),
            depends: a.depends.iter().map(|d| d.value.clone()).collect(),
            compose: a.compose,
            compatible,
            c: CInfo {
                header: validate::header_of(a),
                compatible_macro: validate::compatible_macro_of(a),
                includes: if a.c.includes.is_empty() {
                    vec!["linux/types.h".into()]
                } else {
                    a.c.includes.iter().map(|i| i.value.clone()).collect()
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

fn over_message(over: &Composed, checked: &[Checked], name: &str) -> String {
    const LIMIT: &str = "the limit is 47 (the kernel's 48 bytes with the NUL)";
    match over {
        Composed::Fits { .. } => String::new(),
        Composed::Over {
            string: Some(s),
            len,
            ..
        } => format!("compatible string {s:?} of ABI `{name}` is {len} bytes: {LIMIT}"),
        Composed::Over {
            len, exact, via, ..
        } => {
            let dep = via
                .and_then(|d| checked.get(d))
                .map_or("a dependency", |c| c.ast.name.value.as_str());
            let size = if *exact {
                format!("{len} bytes")
            } else {
                format!("over {MAX_COMPATIBLE} bytes")
            };
            format!(
                "compatible string of ABI `{name}` would be {size}, composed with `{dep}`'s, which is \
                 already over the limit: {LIMIT}"
            )
        }
    }
}

/// A composed compatible string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Composed {
    /// Within the limit: the string, and the `name-vN` parts it is made of
    /// (own first, then the dependencies' sorted).
    Fits { string: String, parts: Vec<String> },
    /// Over the limit: `len` bytes (exactly, or at least when not `exact`);
    /// the string when it was composed before going over; the dependency
    /// (index into `checked`) already over it.
    Over {
        len: usize,
        exact: bool,
        string: Option<String>,
        via: Option<usize>,
    },
}

/// Every ABI's compatible string, `name-vN` composed with its
/// dependencies': each once, in dependency order, however deep the chain (a
/// bump reaches every ABI that builds on it). Composition stops at `limit`
/// bytes: past it only the length is kept (saturating), so no schema can
/// make a long string.
pub(crate) fn compose_all(checked: &[Checked], limit: usize) -> Vec<Composed> {
    let by_name: BTreeMap<&str, usize> = checked
        .iter()
        .enumerate()
        .map(|(i, c)| (c.ast.name.value.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = checked
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.ast
                .depends
                .iter()
                .filter_map(|d| by_name.get(d.value.as_str()).copied())
                .filter(|&j| j != i)
                .collect()
        })
        .collect();
    let mut out: Vec<Option<Composed>> = vec![None; checked.len()];
    for i in validate::post_order(&deps, |_| {}) {
        let c = &checked[i];
        let own = format!("{}-v{}", c.ast.name.value, c.ast.version.value);
        let ds: Vec<(usize, &Composed)> = deps[i]
            .iter()
            .filter_map(|&d| out[d].as_ref().map(|x| (d, x)))
            .collect();
        let over = ds.iter().find(|(_, x)| matches!(x, Composed::Over { .. }));
        let result = match over {
            None => {
                let mut parts: Vec<String> = ds
                    .iter()
                    .flat_map(|(_, x)| match x {
                        Composed::Fits { parts, .. } => parts.clone(),
                        Composed::Over { .. } => Vec::new(),
                    })
                    .filter(|p| *p != own)
                    .collect();
                parts.sort();
                parts.dedup();
                parts.insert(0, own.clone());
                let string = match c.ast.compose {
                    Compose::Append => ds.iter().fold(own, |acc, (_, x)| match x {
                        Composed::Fits { string, .. } => format!("{acc}-{string}"),
                        Composed::Over { .. } => acc,
                    }),
                    Compose::Sorted => parts.join(";"),
                };
                if string.len() > limit {
                    Composed::Over {
                        len: string.len(),
                        exact: true,
                        string: Some(string),
                        via: None,
                    }
                } else {
                    Composed::Fits { string, parts }
                }
            }
            Some(&(via, _)) => match c.ast.compose {
                Compose::Append => {
                    let mut len = own.len();
                    let mut exact = true;
                    for (_, x) in &ds {
                        let (l, e) = match x {
                            Composed::Fits { string, .. } => (string.len(), true),
                            Composed::Over { len, exact, .. } => (*len, *exact),
                        };
                        len = len.saturating_add(1).saturating_add(l);
                        exact &= e;
                    }
                    Composed::Over {
                        len,
                        exact: exact && len < usize::MAX,
                        string: None,
                        via: Some(via),
                    }
                }
                Compose::Sorted => Composed::Over {
                    len: limit.saturating_add(1),
                    exact: false,
                    string: None,
                    via: Some(via),
                },
            },
        };
        out[i] = Some(result);
    }
    out.into_iter()
        .map(|x| {
            x.unwrap_or(Composed::Over {
                len: 0,
                exact: false,
                string: None,
                via: None,
            })
        })
        .collect()
}

/// The struct a type is, or is an array of: (ABI, name).
fn struct_of(ty: &Ty) -> Option<(&str, &str)> {
    let mut t = ty;
    loop {
        match t {
            Ty::Array(elem, _) => t = elem,
            Ty::Struct { abi, name } => return Some((abi, name)),
            _ => return None,
        }
    }
}

/// Every struct of every ABI laid out, `[abi][struct]`; `None` after an
/// error (reported once, where it starts). Structs are visited in an order
/// where what a struct holds comes first, found without recursion, so no
/// nesting can overflow the stack.
fn lay_out_structs(
    srcs: &[Source],
    checked: &[Checked],
    diags: &mut Diags,
) -> Vec<Vec<Option<Struct>>> {
    let mut nodes: Vec<(usize, usize)> = Vec::new();
    let mut index: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (ci, c) in checked.iter().enumerate() {
        for (si, s) in c.ast.structs.iter().enumerate() {
            index.insert(
                (c.ast.name.value.as_str(), s.name.value.as_str()),
                nodes.len(),
            );
            nodes.push((ci, si));
        }
    }
    let name_of = |v: usize| {
        let (ci, si) = nodes[v];
        checked[ci].ast.structs[si].name.value.as_str()
    };
    let children: Vec<Vec<usize>> = nodes
        .iter()
        .map(|&(ci, si)| {
            checked[ci]
                .types
                .get(si)
                .into_iter()
                .flatten()
                .filter_map(struct_of)
                .filter_map(|k| index.get(&k).copied())
                .collect()
        })
        .collect();
    let mut failed = vec![false; nodes.len()];
    let order = validate::post_order(&children, |path| {
        let Some(&first) = path.first() else { return };
        let (ci, si) = nodes[first];
        let names: Vec<&str> = path.iter().map(|&p| name_of(p)).collect();
        diags.at(
            &srcs[checked[ci].index],
            checked[ci].ast.structs[si].name.span.clone(),
            format!(
                "recursive struct: {} -> {} (a struct cannot contain itself)",
                names.join(" -> "),
                name_of(first)
            ),
        );
        for &p in path {
            failed[p] = true;
        }
    });

    let mut depth = vec![0usize; nodes.len()];
    let mut deepest: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut done: Vec<Option<Struct>> = vec![None; nodes.len()];
    let mut canon = vec![0usize; nodes.len()];
    let mut total_canon = 0usize;
    let mut fp = Fingerprinter::default();
    for &v in &order {
        if failed[v] || children[v].iter().any(|&c| failed[c]) {
            failed[v] = true;
            continue;
        }
        let (ci, si) = nodes[v];
        let c = &checked[ci];
        let s = &c.ast.structs[si];
        let src = &srcs[c.index];
        let best = children[v].iter().copied().max_by_key(|&c| depth[c]);
        depth[v] = 1 + best.map_or(0, |c| depth[c]);
        deepest[v] = best;
        if depth[v] > MAX_NESTING {
            failed[v] = true;
            if depth[v] == MAX_NESTING + 1 {
                let mut chain = vec![name_of(v)];
                let mut at = best;
                while let Some(d) = at {
                    chain.push(name_of(d));
                    at = deepest[d];
                }
                diags.at(
                    src,
                    s.name.span.clone(),
                    format!(
                        "struct {} nests structs {} deep ({}): the limit is {MAX_NESTING}",
                        s.name.value,
                        depth[v],
                        validate::elide(&chain)
                    ),
                );
            }
            continue;
        }
        match lay_out_one(c, si, src, &done, &index, &canon, diags) {
            Some((layout, text)) => {
                if text > MAX_CANONICAL_TEXT {
                    diags.at(
                        src,
                        s.name.span.clone(),
                        format!(
                            "struct {}: its canonical layout text, which its fingerprint hashes with \
                             every nested struct inlined, would be {text} bytes: the limit is {MAX_CANONICAL_TEXT}",
                            s.name.value
                        ),
                    );
                    failed[v] = true;
                    continue;
                }
                let before = total_canon;
                total_canon = total_canon.saturating_add(text);
                if total_canon > MAX_TOTAL_CANONICAL_TEXT {
                    if before <= MAX_TOTAL_CANONICAL_TEXT {
                        diags.at(
                            src,
                            s.name.span.clone(),
                            format!(
                                "struct {}: the canonical layout texts of the structs so far, which \
                                 their fingerprints hash with nested structs inlined, pass \
                                 {MAX_TOTAL_CANONICAL_TEXT} bytes here",
                                s.name.value
                            ),
                        );
                    }
                    failed[v] = true;
                    continue;
                }
                canon[v] = text;
                let fields = s
                    .fields
                    .iter()
                    .zip(&c.types[si])
                    .zip(layout.fields)
                    .map(|((f, ty), l)| Field {
                        name: f.name.value.clone(),
                        doc: f.doc.clone(),
                        ty: ty.clone(),
                        offset: l.offset,
                        size: l.size,
                    })
                    .collect();
                done[v] = Some(Struct {
                    name: s.name.value.clone(),
                    doc: s.doc.clone(),
                    entry: s.entry,
                    size: layout.size,
                    fields,
                    layout,
                    fingerprint: fp.layout(layout),
                });
            }
            None => failed[v] = true,
        }
    }
    let mut out: Vec<Vec<Option<Struct>>> = checked
        .iter()
        .map(|c| vec![None; c.ast.structs.len()])
        .collect();
    for (v, s) in done.into_iter().enumerate() {
        let (ci, si) = nodes[v];
        out[ci][si] = s;
    }
    out
}

/// Decimal digits of `n`.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// One struct laid out, the structs it holds being done: its layout and
/// the length of its canonical text without indentation (saturating).
/// `None` after an error, which is reported, or when a nested struct failed.
fn lay_out_one(
    c: &Checked,
    si: usize,
    src: &Source,
    done: &[Option<Struct>],
    index: &BTreeMap<(&str, &str), usize>,
    canon: &[usize],
    diags: &mut Diags,
) -> Option<(&'static StructLayout, usize)> {
    let s = &c.ast.structs[si];
    let mut fields: Vec<FieldLayout> = Vec::new();
    let mut offset = 0usize;
    let mut text = 0usize;
    for (f, ty) in s.fields.iter().zip(&c.types[si]) {
        let at = format!("{}.{}", s.name.value, f.name.value);
        let (desc, size) = type_desc(ty, done, index)?;
        if size > MAX_STRUCT_SIZE as u128 {
            let size = if size == u128::MAX {
                "more than 2^128 bytes".to_string()
            } else {
                format!("{size} bytes")
            };
            diags.at(
                src,
                f.ty.span.clone(),
                format!(
                    "{at}: type `{}` is {size}: a struct is at most {MAX_STRUCT_SIZE} bytes (1 GiB)",
                    f.ty.value.trim()
                ),
            );
            return None;
        }
        let end = offset as u128 + size;
        if end > MAX_STRUCT_SIZE as u128 {
            diags.at(
                src,
                f.name.span.clone(),
                format!(
                    "{at}: struct {} would be {end} bytes at this field: a struct is at most \
                     {MAX_STRUCT_SIZE} bytes (1 GiB)",
                    s.name.value
                ),
            );
            return None;
        }
        // Both fit in MAX_STRUCT_SIZE, so in usize.
        let size = usize::try_from(size).ok()?;
        let nested = struct_of(ty)
            .and_then(|k| index.get(&k))
            .map_or(0, |&n| canon[n]);
        let line = f.name.value.len()
            + 1
            + desc.to_string().len()
            + " offset ".len()
            + digits(offset)
            + " size ".len()
            + digits(size)
            + 1;
        text = text.saturating_add(line).saturating_add(nested);
        fields.push(FieldLayout {
            name: leak(&f.name.value),
            offset,
            size,
            ty: desc,
        });
        offset = usize::try_from(end).ok()?;
    }
    text = text
        .saturating_add("struct ".len() + s.name.value.len() + " size ".len() + digits(offset) + 1);
    let layout: &'static StructLayout = Box::leak(Box::new(StructLayout {
        name: leak(&s.name.value),
        size: offset,
        fields: Box::leak(fields.into_boxed_slice()),
    }));
    Some((layout, text))
}

/// A field type in the shared model, and its size in bytes (saturating at
/// `u128::MAX`, so an overflow cannot pass for a small size). Recursion
/// is bounded by the dimensions a type may have.
fn type_desc(
    ty: &Ty,
    done: &[Option<Struct>],
    index: &BTreeMap<(&str, &str), usize>,
) -> Option<(&'static TypeDesc, u128)> {
    Some(match ty {
        Ty::Prim(p) => (leak_ty(TypeDesc::Prim(p.name())), p.size() as u128),
        Ty::Char(Len { value, .. }) => (
            leak_ty(TypeDesc::Array(leak_ty(TypeDesc::Prim("char")), *value)),
            *value as u128,
        ),
        Ty::Array(elem, Len { value, .. }) => {
            let (e, size) = type_desc(elem, done, index)?;
            (
                leak_ty(TypeDesc::Array(e, *value)),
                size.saturating_mul(*value as u128),
            )
        }
        Ty::Struct { abi, name } => {
            let s = done
                .get(*index.get(&(abi.as_str(), name.as_str()))?)?
                .as_ref()?;
            (leak_ty(TypeDesc::Struct(s.layout)), s.size as u128)
        }
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// What hashing `m` spaces does to an FNV-1a state `h`: it becomes
/// `mul * h + add[h & 63]`. Each step is `(h ^ 0x20) * P`; the xor adds
/// +32 or -32 depending on bit 5 alone, and the low 6 bits of a product
/// depend on the low 6 bits of its factors only, so the low 6 bits of the
/// start decide every step (`low` is where they end up).
struct Pad {
    mul: u64,
    add: [u64; 64],
    low: [u8; 64],
}

/// [`kho_layout::layout_fingerprint`], computed without recursion and with
/// indentation hashed in constant time per line. The canonical text inlines
/// every nested struct, deeper each level, so a chain of n nested structs
/// has O(n^2) bytes of indentation per struct; hashing it byte by byte
/// would take minutes for a chain of 1,000.
#[derive(Default)]
struct Fingerprinter {
    pads: Vec<Pad>,
}

impl Fingerprinter {
    fn bytes(h: u64, b: &[u8]) -> u64 {
        b.iter()
            .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
    }

    fn num(h: u64, n: usize) -> u64 {
        Self::bytes(h, n.to_string().as_bytes())
    }

    fn spaces(&mut self, h: u64, m: usize) -> u64 {
        if self.pads.is_empty() {
            self.pads.push(Pad {
                mul: 1,
                add: [0; 64],
                low: std::array::from_fn(|l| l as u8),
            });
        }
        while self.pads.len() <= m {
            let Some(p) = self.pads.last() else { break };
            let mut next = Pad {
                mul: p.mul.wrapping_mul(FNV_PRIME),
                add: [0; 64],
                low: [0; 64],
            };
            for l in 0..64 {
                let low = u64::from(p.low[l]);
                let d: u64 = if low & 0x20 == 0 {
                    0x20
                } else {
                    0x20u64.wrapping_neg()
                };
                next.add[l] = p.add[l].wrapping_add(d).wrapping_mul(FNV_PRIME);
                next.low[l] = (((low ^ 0x20).wrapping_mul(FNV_PRIME)) & 63) as u8;
            }
            self.pads.push(next);
        }
        match self.pads.get(m) {
            Some(p) => p.mul.wrapping_mul(h).wrapping_add(p.add[(h & 63) as usize]),
            None => h,
        }
    }

    fn ty(h: u64, ty: &TypeDesc) -> u64 {
        let mut base = ty;
        while let TypeDesc::Array(elem, _) = base {
            base = elem;
        }
        let name = match base {
            TypeDesc::Prim(p) => p,
            TypeDesc::Struct(s) => s.name,
            TypeDesc::Array(..) => "",
        };
        let mut h = Self::bytes(h, name.as_bytes());
        let mut t = ty;
        while let TypeDesc::Array(elem, n) = t {
            h = Self::bytes(Self::num(Self::bytes(h, b"["), *n), b"]");
            t = elem;
        }
        h
    }

    fn struct_line(&mut self, h: u64, s: &StructLayout, depth: usize) -> u64 {
        let h = self.spaces(h, depth * 2);
        let h = Self::bytes(h, b"struct ");
        let h = Self::bytes(h, s.name.as_bytes());
        let h = Self::bytes(h, b" size ");
        Self::bytes(Self::num(h, s.size), b"\n")
    }

    /// The fingerprint of `top`, equal to `kho_layout::layout_fingerprint`.
    fn layout(&mut self, top: &StructLayout) -> u64 {
        let mut h = self.struct_line(FNV_OFFSET, top, 0);
        // (struct, its depth, the next field to hash)
        let mut stack: Vec<(&StructLayout, usize, usize)> = vec![(top, 0, 0)];
        while let Some(last) = stack.last_mut() {
            let (s, depth, i) = *last;
            let Some(f) = s.fields.get(i) else {
                stack.pop();
                continue;
            };
            last.2 += 1;
            h = self.spaces(h, depth * 2 + 2);
            h = Self::bytes(Self::bytes(h, f.name.as_bytes()), b" ");
            h = Self::bytes(Self::ty(h, f.ty), b" offset ");
            h = Self::bytes(Self::num(h, f.offset), b" size ");
            h = Self::bytes(Self::num(h, f.size), b"\n");
            let mut t = f.ty;
            while let TypeDesc::Array(elem, _) = t {
                t = elem;
            }
            if let TypeDesc::Struct(nested) = t {
                h = self.struct_line(h, nested, depth + 2);
                stack.push((nested, depth + 2, 0));
            }
        }
        h
    }
}

/// The Rust type name of a C struct name: `luo_file_ser` -> `LuoFileSer`.
pub fn rust_type_name(c_name: &str) -> String {
    c_name
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The include guard of a header path: `linux/kho/abi/block.h` ->
/// `_LINUX_KHO_ABI_BLOCK_H`.
pub fn include_guard(header: &str) -> String {
    let mut g = String::from("_");
    for ch in header.chars() {
        if ch.is_ascii_alphanumeric() {
            g.push(ch.to_ascii_uppercase());
        } else {
            g.push('_');
        }
    }
    g
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, validate, Source};

    fn checked(files: &[(String, String)]) -> Vec<Checked> {
        let mut diags = Diags::default();
        let srcs: Vec<Source> = files
            .iter()
            .map(|(p, t)| Source::new(p.clone(), t.clone()))
            .collect();
        let asts: Vec<_> = srcs
            .iter()
            .filter_map(|s| parse::parse(s, &mut diags))
            .collect();
        let c = validate::check(&srcs, asts, &mut diags);
        assert!(diags.is_empty(), "{diags}");
        c
    }

    /// A chain `a0 <- a1 <- ... <- a{n-1}`, each ABI depending on the one before.
    fn chain(n: usize, root_version: u64) -> Vec<(String, String)> {
        (0..n)
            .map(|i| {
                let deps = if i == 0 {
                    String::new()
                } else {
                    format!("depends = [\"a{}\"]\n", i - 1)
                };
                let v = if i == 0 { root_version } else { 1 };
                (
                    format!("a{i}.toml"),
                    format!("[abi]\nname = \"a{i}\"\nversion = {v}\n{deps}"),
                )
            })
            .collect()
    }

    #[test]
    fn a_bump_reaches_every_abi_of_a_40_deep_chain() {
        let strings = |v| -> Vec<String> {
            compose_all(&checked(&chain(40, v)), usize::MAX)
                .into_iter()
                .map(|c| match c {
                    Composed::Fits { string, .. } => string,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let (before, after) = (strings(1), strings(2));
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            assert_ne!(b, a, "a{i} did not change with the bump of a0");
            assert!(a.ends_with("a0-v2"), "a{i}: {a}");
        }
    }

    #[test]
    fn composition_stops_at_the_limit() {
        // 30 ABIs each depending on the two before: the 30th string would be
        // megabytes long; only its length is computed.
        let files: Vec<(String, String)> = (0..30)
            .map(|i| {
                let deps = match i {
                    0 => String::new(),
                    1 => "depends = [\"a0\"]\n".to_string(),
                    _ => format!("depends = [\"a{}\", \"a{}\"]\n", i - 1, i - 2),
                };
                (
                    format!("a{i}.toml"),
                    format!("[abi]\nname = \"a{i}\"\nversion = 1\n{deps}"),
                )
            })
            .collect();
        let c = compose_all(&checked(&files), MAX_COMPATIBLE);
        match &c[29] {
            Composed::Over {
                len, exact, string, ..
            } => {
                assert!(*exact && string.is_none());
                assert!(*len > 1_000_000, "{len}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fast_fingerprints_equal_the_shared_model() {
        let mut fp = Fingerprinter::default();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
        let abis = crate::load_dir(&dir).unwrap_or_else(|d| panic!("{d}"));
        let mut text = String::from("[abi]\nname = \"t\"\nversion = 1\n[[struct]]\nname = \"s0\"\nfields = [{ name = \"a\", type = \"u8[3][2]\" }]\n");
        for i in 1..16 {
            text.push_str(&format!(
                "[[struct]]\nname = \"s{i}\"\nfields = [{{ name = \"x\", type = \"s{}[2]\" }}, {{ name = \"y\", type = \"char[7]\" }}, {{ name = \"z\", type = \"s{}\" }}]\n",
                i - 1,
                i / 2
            ));
        }
        let more = crate::compile(&[Source::new("t.toml", text)]).unwrap_or_else(|d| panic!("{d}"));
        for s in abis.iter().chain(&more).flat_map(|a| &a.structs) {
            assert_eq!(
                fp.layout(s.layout),
                kho_layout::layout_fingerprint(s.layout),
                "{}",
                s.name
            );
            assert_eq!(
                s.fingerprint,
                fingerprint(&kho_layout::canonical_text(s.layout)),
                "{}",
                s.name
            );
        }
    }
}
