//! Stage 3: the layout IR. Offsets and sizes of every struct, the composed
//! compatible strings, and fingerprints computed by `kho_layout`, the same
//! code the derive uses.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use kho_layout::{fingerprint_in, format, Field, LockStruct, LockText, Str, Struct, StructRef, Ty};

use crate::diag::{Diags, Source};
use crate::parse::{Compose, ConstValue};
use crate::validate::{self, Checked};

/// Largest entry of a block set: a 4 KiB block less its 16-byte header.
pub(crate) const MAX_ENTRY_SIZE: usize = format::MAX_ENTRY_SIZE;
/// Longest compatible string, however composed: the kernel's 48 bytes
/// with the NUL.
pub(crate) const MAX_COMPATIBLE: usize = format::MAX_COMPATIBLE;
/// Deepest nesting of structs in structs: a struct of primitives is 1 deep,
/// one holding it 2. Far above what an ABI needs (the kernel's nest 3
/// deep), low enough that the canonical texts that struct fingerprints
/// hash, which inline every nested struct, stay small.
pub(crate) const MAX_NESTING: usize = kho_layout::MAX_NESTING;
/// Largest struct, entry or not: 1 GiB. A block-set entry is far smaller
/// (at most a page less its header); a struct this large is a mistake.
pub(crate) const MAX_STRUCT_SIZE: usize = 1 << 30;
/// Largest canonical layout text of one struct (nested structs inlined,
/// indentation not counted), which its fingerprint hashes: 16 MiB.
pub(crate) const MAX_CANONICAL_TEXT: usize = 16 << 20;
/// Largest sum of the canonical texts of every struct compiled at once.
pub(crate) const MAX_TOTAL_CANONICAL_TEXT: usize = 256 << 20;

/// One ABI, laid out. Its structs are kho-layout's
/// [`Struct`](kho_layout::Struct)s, in a [`StructSet`] shared with the
/// ABIs compiled with it; what the layout model does not hold (doc text,
/// which structs are entries, each struct's ABI) is in the set's notes.
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
    /// Every struct compiled with this ABI.
    set: Arc<StructSet>,
    /// This ABI's structs in `set`, in declaration order.
    own: Range<usize>,
    /// [`Abi::layout_text`], made once.
    layout_text: String,
    /// Its hash.
    fingerprint: u64,
}

/// Every struct of a set of ABIs compiled together, in the layout model:
/// a nested struct is [`StructRef::At`] its index here (so a struct is
/// stored once however many hold it), with a [`Note`] beside each.
#[derive(Debug, Clone, Default)]
pub struct StructSet {
    /// The layouts.
    pub structs: Vec<Struct<'static>>,
    /// `notes[i]` is about `structs[i]`.
    pub notes: Vec<Note>,
}

/// What an ABI says about one struct beside its layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Note {
    /// The ABI it belongs to.
    pub abi: String,
    /// Doc text.
    pub doc: String,
    /// Whether it is a block-set entry.
    pub entry: bool,
    /// The layout fingerprint (the derive's `FINGERPRINT`).
    pub fingerprint: u64,
    /// Doc text of each field, in field order.
    pub field_docs: Vec<String>,
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

impl Abi {
    /// This ABI's structs, in declaration order.
    pub fn structs(&self) -> &[Struct<'static>] {
        self.set.structs.get(self.own.clone()).unwrap_or_default()
    }

    /// The notes of [`structs`](Self::structs), in the same order.
    pub fn notes(&self) -> &[Note] {
        self.set.notes.get(self.own.clone()).unwrap_or_default()
    }

    /// Each struct with its note.
    pub fn items(&self) -> impl Iterator<Item = (&Struct<'static>, &Note)> {
        self.structs().iter().zip(self.notes())
    }

    /// Every struct compiled with this ABI: where its nested structs'
    /// [`StructRef::At`] indices point.
    pub fn set(&self) -> &[Struct<'static>] {
        &self.set.structs
    }

    /// The shared set, for a consumer that keeps it (the CLI's decoder).
    pub fn shared_set(&self) -> Arc<StructSet> {
        Arc::clone(&self.set)
    }

    /// The struct a type is, or is an array of, with its note.
    pub fn nested(&self, ty: &Ty<'_>) -> Option<(&Struct<'static>, &Note)> {
        match ty.struct_ref()? {
            StructRef::At(i, _) => Some((self.set.structs.get(*i)?, self.set.notes.get(*i)?)),
            _ => None,
        }
    }

    /// The struct named `name`, with its note.
    pub fn find(&self, name: &str) -> Option<(&Struct<'static>, &Note)> {
        self.items().find(|(s, _)| s.name == name)
    }

    /// This ABI's struct `i`, to change by hand (tests that prove a check
    /// catches a wrong layout). The set is copied first if shared.
    pub fn struct_mut(&mut self, i: usize) -> Option<&mut Struct<'static>> {
        let at = self
            .own
            .start
            .checked_add(i)
            .filter(|&at| at < self.own.end)?;
        Arc::make_mut(&mut self.set).structs.get_mut(at)
    }

    /// The text the ABI's fingerprint hashes (and the lock records): see
    /// [`LockText::render`]. Names of the ABI and doc text are not part of
    /// it.
    pub fn layout_text(&self) -> &str {
        &self.layout_text
    }

    /// The ABI's fingerprint: the hash of [`layout_text`](Self::layout_text),
    /// computed once when the ABI was laid out.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// What the lock records of this ABI, borrowing its structs.
    pub fn lock_text(&self) -> LockText<'_> {
        LockText {
            constants: self
                .constants
                .iter()
                .map(|c| (c.name.clone(), crate::view::const_text(&c.value)))
                .collect(),
            structs: self
                .items()
                .map(|(s, n)| LockStruct {
                    layout: s.borrowed(),
                    entry: n.entry,
                    fingerprint: Some(n.fingerprint),
                    page: None,
                })
                .collect(),
        }
    }
}

/// Lays out checked schemas (all of them, dependencies first). Errors:
/// recursive or too deeply nested structs, sizes past [`MAX_STRUCT_SIZE`]
/// (every size and offset is computed with checked arithmetic), entries too
/// large for a block, compatible strings past [`MAX_COMPATIBLE`], layouts
/// whose canonical text would be too large to fingerprint.
pub(crate) fn layout(srcs: &[Source], checked: &[Checked], diags: &mut Diags) -> Vec<Abi> {
    let set = lay_out_structs(srcs, checked, diags);
    let composed = compose_all(checked, MAX_COMPATIBLE);
    let mut ranges = Vec::with_capacity(checked.len());
    let mut next = 0usize;
    for (ci, c) in checked.iter().enumerate() {
        let a = &c.ast;
        let src = &srcs[c.index];
        let own = next..next + a.structs.len();
        next = own.end;
        let structs = set.structs.get(own.clone()).unwrap_or_default();
        let notes = set.notes.get(own.clone()).unwrap_or_default();
        for ((s, n), x) in structs.iter().zip(notes).zip(&a.structs) {
            if n.entry && s.size > MAX_ENTRY_SIZE {
                diags.at(
                    src,
                    x.name.span.clone(),
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
        ranges.push((own, compatible));
    }
    let set = Arc::new(set);
    let mut out = Vec::new();
    for (c, (own, compatible)) in checked.iter().zip(ranges) {
        let a = &c.ast;
        let src = &srcs[c.index];
        let mut abi = Abi {
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
            set: Arc::clone(&set),
            own,
            layout_text: String::new(),
            fingerprint: 0,
        };
        abi.layout_text = abi.lock_text().render();
        abi.fingerprint = kho_layout::fingerprint(&abi.layout_text);
        out.push(abi);
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

/// The index in the set of the struct a type is, or is an array of.
fn struct_of(ty: &Ty<'_>) -> Option<usize> {
    match ty.struct_ref()? {
        StructRef::At(i, _) => Some(*i),
        _ => None,
    }
}

/// Every struct of every ABI laid out, `[abi][struct]`; `None` after an
/// error (reported once, where it starts). Structs are visited in an order
/// where what a struct holds comes first, found without recursion, so no
/// nesting can overflow the stack.
fn lay_out_structs(srcs: &[Source], checked: &[Checked], diags: &mut Diags) -> StructSet {
    // Node `v` is struct `v` of the set, as validation numbered them.
    let mut nodes: Vec<(usize, usize)> = Vec::new();
    for (ci, c) in checked.iter().enumerate() {
        for si in 0..c.ast.structs.len() {
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
                .filter(|&k| k < nodes.len())
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
    // Placeholders until laid out; a failed struct keeps its own, which
    // nothing reads (the compile fails).
    let mut set = StructSet {
        structs: nodes
            .iter()
            .map(|&(ci, si)| {
                let name = checked[ci].ast.structs[si].name.value.clone();
                Struct::packed_owned(name, 0, Vec::new())
            })
            .collect(),
        notes: vec![Note::default(); nodes.len()],
    };
    let mut done = vec![false; nodes.len()];
    let mut canon = vec![0usize; nodes.len()];
    let mut total_canon = 0usize;
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
        match lay_out_one(c, si, src, &set.structs, &done, &canon, diags) {
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
                let fingerprint = fingerprint_in(&layout, &set.structs);
                let Some(fingerprint) = fingerprint else {
                    // Cannot happen: every nested struct is laid out and
                    // the nesting is within MAX_NESTING.
                    diags.at(
                        src,
                        s.name.span.clone(),
                        format!(
                            "struct {}: its layout cannot be fingerprinted",
                            s.name.value
                        ),
                    );
                    failed[v] = true;
                    continue;
                };
                set.notes[v] = Note {
                    abi: c.ast.name.value.clone(),
                    doc: s.doc.clone(),
                    entry: s.entry,
                    fingerprint,
                    field_docs: s.fields.iter().map(|f| f.doc.clone()).collect(),
                };
                set.structs[v] = layout;
                done[v] = true;
            }
            None => failed[v] = true,
        }
    }
    set
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
    set: &[Struct<'static>],
    done: &[bool],
    canon: &[usize],
    diags: &mut Diags,
) -> Option<(Struct<'static>, usize)> {
    let s = &c.ast.structs[si];
    let mut fields: Vec<Field<'static>> = Vec::new();
    let mut offset = 0usize;
    let mut text = 0usize;
    for (f, ty) in s.fields.iter().zip(&c.types[si]) {
        let at = format!("{}.{}", s.name.value, f.name.value);
        let size = type_size(ty, set, done)?;
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
            .and_then(|n| canon.get(n))
            .copied()
            .unwrap_or(0);
        let line = f.name.value.len()
            + 1
            + ty.to_string().len()
            + " offset ".len()
            + digits(offset)
            + " size ".len()
            + digits(size)
            + 1;
        text = text.saturating_add(line).saturating_add(nested);
        fields.push(Field {
            name: Str::Owned(f.name.value.clone()),
            offset,
            size,
            ty: ty.clone(),
            bits: None,
        });
        offset = usize::try_from(end).ok()?;
    }
    text = text
        .saturating_add("struct ".len() + s.name.value.len() + " size ".len() + digits(offset) + 1);
    Some((
        Struct::packed_owned(s.name.value.clone(), offset, fields),
        text,
    ))
}

/// A field type's size in bytes (saturating at `u128::MAX`, so an
/// overflow cannot pass for a small size); `None` when a struct it holds
/// is not laid out. Loops over the dimensions a type may have.
fn type_size(ty: &Ty<'_>, set: &[Struct<'static>], done: &[bool]) -> Option<u128> {
    let mut mul = 1u128;
    let mut t = ty;
    loop {
        match t {
            Ty::Array(elem, len) => {
                mul = mul.saturating_mul(len.value as u128);
                t = elem.get();
            }
            Ty::Prim(p) => return Some(mul.saturating_mul(p.size() as u128)),
            Ty::Ptr(_) => return Some(mul.saturating_mul(8)),
            Ty::Flex(_) => return Some(0),
            Ty::Struct(r) => {
                let StructRef::At(i, _) = r else { return None };
                if !*done.get(*i)? {
                    return None;
                }
                return Some(mul.saturating_mul(set.get(*i)?.size as u128));
            }
        }
    }
}

/// The Rust type name of a C struct name: `luo_file_ser` -> `LuoFileSer`.
pub(crate) fn rust_type_name(c_name: &str) -> String {
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
pub(crate) fn include_guard(header: &str) -> String {
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
        for a in abis.iter().chain(&more) {
            for (s, n) in a.items() {
                let text = kho_layout::canonical_text_in(s, a.set())
                    .unwrap_or_else(|| panic!("{}", s.name));
                assert_eq!(n.fingerprint, kho_layout::fingerprint(&text), "{}", s.name);
            }
        }
    }
}
