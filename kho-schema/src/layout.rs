//! Stage 3: the layout IR. Offsets and sizes of every struct, the composed
//! compatible strings, and fingerprints computed by `kho_layout`, the same
//! code the derive uses.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use kho_layout::{format, LockStruct, LockText, Struct, StructRef, Ty};

use crate::diag::{Diags, Source};
use crate::parse::{Compose, ConstValue};
use crate::validate::{self, Checked};

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
    /// Not released yet (`draft = true`): its layout may change without a
    /// version bump.
    pub draft: bool,
    /// The SPDX license id of the generated files (`GPL-2.0` unless the
    /// schema says otherwise).
    pub spdx: String,
    /// Copyright lines under the SPDX line, in order.
    pub copyright: Vec<String>,
    /// Every compatible macro, the main one first.
    compatibles: Vec<Compatible>,
    /// `[[assert]]`s in declaration order.
    asserts: Vec<AssertDecl>,
    /// Every struct compiled with this ABI, laid out for each of
    /// [`PAGE_SIZES`](format::PAGE_SIZES), in that order (4 KiB first).
    sets: Vec<Arc<StructSet>>,
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
    /// Whether the struct's layout differs between page sizes (then the
    /// lock records it once per page size).
    pub page_dependent: bool,
    /// Each field's base type as the schema spells it, in field order:
    /// `unsigned int`, `u64`, `__u32`, `kho_vmalloc` (a struct without
    /// `struct`), `khoser_ptr<kho_vmalloc_chunk>`; the model holds the
    /// primitive (`u32`), C keeps this spelling.
    pub field_c_types: Vec<String>,
    /// For a flexible array member, the integer field of the same struct
    /// that counts its elements (`count = ".."`); `None` for other fields.
    pub field_counts: Vec<Option<String>>,
    /// Where each field is declared in the schema file: 1-based line and
    /// column.
    pub field_spans: Vec<(usize, usize)>,
    /// Where the struct is declared (its name): 1-based line and column.
    pub span: (usize, usize),
    /// The compatible macro whose version covers this struct.
    pub compatible_macro: String,
}

/// Where the C header goes and what it is called.
#[derive(Debug, Clone)]
pub struct CInfo {
    /// Path under `include/` (`linux/kho/abi/block.h`).
    pub header: String,
    /// The `#define` holding the compatible string (or, with
    /// [`version_macro`](Self::version_macro), the version).
    pub compatible_macro: String,
    /// Whether the ABI is versioned by an integer macro (`#define
    /// KHO_KEXEC_METADATA_VERSION 1`, the ABI's `version`) instead of a
    /// compatible string, as some kernel headers are. The lock still
    /// records the string `<name>-v<version>`; the header has the number.
    pub version_macro: bool,
    /// Headers the C header includes.
    pub includes: Vec<String>,
}

/// A named constant.
#[derive(Debug, Clone)]
pub struct Constant {
    /// UPPER_CASE name.
    pub name: String,
    /// Its value: for an `expr` constant, [`ConstValue::Int`] of its value
    /// with 4 KiB pages (every page size's is in [`values`](Self::values));
    /// for an external one, the value layout uses.
    pub value: ConstValue,
    /// Doc text.
    pub doc: String,
    /// The expression as written (`expr = ".."`): C keeps it.
    pub expr: Option<String>,
    /// The value for each page size, `(page size, value)` in the order of
    /// [`PAGE_SIZES`](format::PAGE_SIZES), when integer-valued (equal
    /// when it does not depend on the page size); empty otherwise.
    pub values: Vec<(usize, u64)>,
    /// The header that defines it (`external = ".."`): included by the C
    /// header, never redefined.
    pub external: Option<String>,
    /// The C enum it is a member of (`enum = ".."`; empty for an
    /// anonymous enum), instead of a `#define`.
    pub enum_tag: Option<String>,
    /// Where it is declared: 1-based line and column.
    pub span: (usize, usize),
}

impl Constant {
    /// Whether its value differs between page sizes.
    pub fn page_dependent(&self) -> bool {
        self.values.windows(2).any(|w| w[0].1 != w[1].1)
    }
}

/// One compatible-string macro of an ABI and the structs its version
/// covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compatible {
    /// The C macro (`MEMFD_LUO_FH_COMPATIBLE`).
    pub macro_name: String,
    /// The string it defines (`memfd-v1`).
    pub value: String,
    /// The name part of the string.
    pub name: String,
    /// Its version.
    pub version: u64,
    /// The structs it covers, in declaration order. For the main macro,
    /// every struct no other macro lists.
    pub structs: Vec<String>,
    /// Whether it is the ABI's main macro (`[abi] name`/`version`,
    /// composed with the dependencies' unless `compose = "none"`).
    pub main: bool,
    /// Where it is declared: 1-based line and column.
    pub span: (usize, usize),
}

/// A `[[assert]]`: emitted as `static_assert(<expr>);`, checked by the
/// compiler for every page size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertDecl {
    /// The expression as written.
    pub expr: String,
    /// Where it is declared: 1-based line and column.
    pub span: (usize, usize),
}

impl Abi {
    /// The page sizes the ABI is laid out for: [`format::PAGE_SIZES`].
    pub fn pages(&self) -> &'static [usize] {
        &format::PAGE_SIZES
    }

    /// The set laid out for `page` (the 4 KiB one for a page size that is
    /// not one of [`pages`](Self::pages)).
    fn set_for(&self, page: usize) -> &StructSet {
        static EMPTY: StructSet = StructSet {
            structs: Vec::new(),
            notes: Vec::new(),
        };
        format::PAGE_SIZES
            .iter()
            .position(|&p| p == page)
            .and_then(|i| self.sets.get(i))
            .or(self.sets.first())
            .map_or(&EMPTY, |s| s)
    }

    /// This ABI's structs laid out for `page`, in declaration order.
    pub fn structs_at(&self, page: usize) -> &[Struct<'static>] {
        self.set_for(page)
            .structs
            .get(self.own.clone())
            .unwrap_or_default()
    }

    /// Every struct compiled with this ABI, laid out for `page`.
    pub fn set_at(&self, page: usize) -> &[Struct<'static>] {
        &self.set_for(page).structs
    }

    /// Each struct laid out for `page` with its note (whose fingerprint is
    /// that layout's).
    pub fn items_at(&self, page: usize) -> impl Iterator<Item = (&Struct<'static>, &Note)> {
        let set = self.set_for(page);
        let own = self.own.clone();
        set.structs
            .get(own.clone())
            .unwrap_or_default()
            .iter()
            .zip(set.notes.get(own).unwrap_or_default())
    }

    /// Every compatible macro, the main one first.
    pub fn compatibles(&self) -> &[Compatible] {
        &self.compatibles
    }

    /// The compatible macro that covers struct `name`.
    pub fn compatible_of(&self, name: &str) -> Option<&Compatible> {
        self.compatibles
            .iter()
            .find(|c| c.structs.iter().any(|s| s == name))
    }

    /// The `[[assert]]`s, in declaration order.
    pub fn asserts(&self) -> &[AssertDecl] {
        &self.asserts
    }

    /// This ABI's structs, in declaration order.
    pub fn structs(&self) -> &[Struct<'static>] {
        self.structs_at(format::MIN_PAGE_SIZE)
    }

    /// The notes of [`structs`](Self::structs), in the same order.
    pub fn notes(&self) -> &[Note] {
        self.set_for(format::MIN_PAGE_SIZE)
            .notes
            .get(self.own.clone())
            .unwrap_or_default()
    }

    /// Each struct with its note.
    pub fn items(&self) -> impl Iterator<Item = (&Struct<'static>, &Note)> {
        self.structs().iter().zip(self.notes())
    }

    /// Every struct compiled with this ABI: where its nested structs'
    /// [`StructRef::At`] indices point.
    pub fn set(&self) -> &[Struct<'static>] {
        self.set_at(format::MIN_PAGE_SIZE)
    }

    /// The shared set (4 KiB pages), for a consumer that keeps it (the
    /// CLI's decoder).
    pub fn shared_set(&self) -> Arc<StructSet> {
        self.shared_set_at(format::MIN_PAGE_SIZE)
    }

    /// The shared set laid out for `page`.
    pub fn shared_set_at(&self, page: usize) -> Arc<StructSet> {
        format::PAGE_SIZES
            .iter()
            .position(|&p| p == page)
            .and_then(|i| self.sets.get(i))
            .or(self.sets.first())
            .map_or_else(Default::default, Arc::clone)
    }

    /// The struct a type is, or is an array of, with its note (4 KiB
    /// pages).
    pub fn nested(&self, ty: &Ty<'_>) -> Option<(&Struct<'static>, &Note)> {
        let set = self.set_for(format::MIN_PAGE_SIZE);
        match ty.struct_ref()? {
            StructRef::At(i, _) => Some((set.structs.get(*i)?, set.notes.get(*i)?)),
            _ => None,
        }
    }

    /// The struct named `name`, with its note.
    pub fn find(&self, name: &str) -> Option<(&Struct<'static>, &Note)> {
        self.items().find(|(s, _)| s.name == name)
    }

    /// This ABI's struct `i` as laid out for 4 KiB pages, to change by
    /// hand (tests that prove a check catches a wrong layout). The set is
    /// copied first if shared; the other page sizes' are not changed.
    pub fn struct_mut(&mut self, i: usize) -> Option<&mut Struct<'static>> {
        let at = self
            .own
            .start
            .checked_add(i)
            .filter(|&at| at < self.own.end)?;
        Arc::make_mut(self.sets.first_mut()?).structs.get_mut(at)
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

    /// The structs as the lock records them, in order: each once with
    /// `None`, or once per page size with it when its layout depends on
    /// the page size.
    pub fn recorded(&self) -> Vec<(&Struct<'static>, &Note, Option<usize>)> {
        let mut out = Vec::new();
        for (i, (s, n)) in self.items().enumerate() {
            if !n.page_dependent {
                out.push((s, n, None));
                continue;
            }
            for &page in self.pages() {
                let set = self.set_for(page);
                let at = self.own.start + i;
                if let (Some(s), Some(n)) = (set.structs.get(at), set.notes.get(at)) {
                    out.push((s, n, Some(page)));
                }
            }
        }
        out
    }

    /// What the lock records of this ABI, borrowing its structs: each
    /// constant, and each struct once, or once per page size (with its
    /// page) when its layout depends on the page size.
    pub fn lock_text(&self) -> LockText<'_> {
        let structs = self
            .recorded()
            .into_iter()
            .map(|(s, n, page)| LockStruct {
                layout: s.borrowed(),
                entry: n.entry,
                fingerprint: Some(n.fingerprint),
                page,
            })
            .collect();
        LockText {
            constants: self
                .constants
                .iter()
                .map(|c| (c.name.clone(), crate::view::constant_text(c)))
                .collect(),
            structs,
        }
    }
}

/// Lays out checked schemas (all of them, dependencies first). Errors:
/// recursive or too deeply nested structs, sizes past [`MAX_STRUCT_SIZE`]
/// (every size and offset is computed with checked arithmetic), entries too
/// large for a block, compatible strings past [`MAX_COMPATIBLE`], layouts
/// whose canonical text would be too large to fingerprint.
pub(crate) fn layout(srcs: &[Source], checked: &[Checked], diags: &mut Diags) -> Vec<Abi> {
    let laid = crate::eval::lay_out(srcs, checked, diags);
    let composed = compose_all(checked, MAX_COMPATIBLE);
    let mut ranges = Vec::with_capacity(checked.len());
    let mut next = 0usize;
    for (ci, c) in checked.iter().enumerate() {
        let a = &c.ast;
        let src = &srcs[c.index];
        let own = next..next + a.structs.len();
        next = own.end;
        for (si, x) in a.structs.iter().enumerate() {
            // The first page size the entry does not fit, if any.
            let over = laid
                .sets
                .iter()
                .zip(format::PAGE_SIZES)
                .find_map(|(set, page)| {
                    let v = own.start + si;
                    let (s, n) = (set.structs.get(v)?, set.notes.get(v)?);
                    let max = format::max_entry_size(page);
                    (n.entry && s.size > max).then_some((s.size, max, page))
                });
            if let Some((size, max, page)) = over {
                let with = if page == format::MIN_PAGE_SIZE {
                    String::new()
                } else {
                    format!(" (with PAGE_SIZE = {page})")
                };
                diags.at(
                    src,
                    x.name.span.clone(),
                    format!(
                        "entry {} is {size} bytes: a block holds at most {max} after its 16-byte header{with}",
                        x.name.value
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
    let sets: Vec<Arc<StructSet>> = laid.sets.into_iter().map(Arc::new).collect();
    let mut out = Vec::new();
    for (ci, (c, (own, compatible))) in checked.iter().zip(ranges).enumerate() {
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
                version_macro: a.c.version_macro.is_some(),
                includes: if a.c.includes.is_empty() {
                    vec!["linux/types.h".into()]
                } else {
                    a.c.includes.iter().map(|i| i.value.clone()).collect()
                },
            },
            constants: a
                .constants
                .iter()
                .enumerate()
                .map(|(ki, k)| {
                    let n = laid.const_first.get(ci).map_or(usize::MAX, |f| f + ki);
                    let values: Vec<(usize, u64)> = format::PAGE_SIZES
                        .iter()
                        .zip(&laid.consts)
                        .filter_map(|(&p, vals)| Some((p, vals.get(n).copied().flatten()?)))
                        .collect();
                    let value = match (&k.expr, values.first()) {
                        (Some(_), Some(&(_, v))) => ConstValue::Int(v),
                        _ => k.value.clone(),
                    };
                    Constant {
                        name: k.name.value.clone(),
                        value,
                        doc: k.doc.clone(),
                        expr: k.expr.as_ref().map(|e| e.value.clone()),
                        values: if values.len() == format::PAGE_SIZES.len() {
                            values
                        } else {
                            Vec::new()
                        },
                        external: k.external.as_ref().map(|e| e.value.clone()),
                        enum_tag: k.enum_tag.as_ref().map(|e| e.value.clone()),
                        span: src.line_col(k.name.span.start),
                    }
                })
                .collect(),
            draft: a.draft,
            spdx: a
                .spdx
                .as_ref()
                .map_or_else(|| DEFAULT_SPDX.to_string(), |s| s.value.clone()),
            copyright: a.copyright.iter().map(|c| c.value.clone()).collect(),
            compatibles: Vec::new(),
            asserts: a
                .asserts
                .iter()
                .map(|e| AssertDecl {
                    expr: e.value.clone(),
                    span: src.line_col(e.span.start),
                })
                .collect(),
            sets: sets.clone(),
            own,
            layout_text: String::new(),
            fingerprint: 0,
        };
        let listed: BTreeMap<&str, &str> = a
            .compatibles
            .iter()
            .flat_map(|m| {
                m.structs
                    .iter()
                    .map(|s| (s.value.as_str(), m.macro_name.value.as_str()))
            })
            .collect();
        let mut compatibles = vec![Compatible {
            macro_name: abi.c.compatible_macro.clone(),
            value: abi.compatible.clone(),
            name: abi.name.clone(),
            version: abi.version,
            structs: a
                .structs
                .iter()
                .filter(|s| !listed.contains_key(s.name.value.as_str()))
                .map(|s| s.name.value.clone())
                .collect(),
            main: true,
            span: src.line_col(a.name.span.start),
        }];
        for m in &a.compatibles {
            compatibles.push(Compatible {
                macro_name: m.macro_name.value.clone(),
                value: format!("{}-v{}", m.name.value, m.version.value),
                name: m.name.value.clone(),
                version: m.version.value,
                // Declaration order, as the main macro's.
                structs: a
                    .structs
                    .iter()
                    .filter(|s| {
                        listed.get(s.name.value.as_str()) == Some(&m.macro_name.value.as_str())
                    })
                    .map(|s| s.name.value.clone())
                    .collect(),
                main: false,
                span: src.line_col(m.macro_name.span.start),
            });
        }
        abi.compatibles = compatibles;
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
        // Not composed: the dependencies' strings play no part (a change
        // in their structs is a change in this ABI's, bumped here).
        let over = if c.ast.compose == Compose::None {
            None
        } else {
            over
        };
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
                    Compose::None => {
                        parts = vec![own.clone()];
                        own
                    }
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
                Compose::Sorted | Compose::None => Composed::Over {
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

/// The compatible macro whose version covers struct `name` of `a`: the
/// `[[abi.compatible]]` that lists it, or the main one.
pub(crate) fn macro_covering(a: &crate::parse::SchemaAst, name: &str) -> String {
    a.compatibles
        .iter()
        .find(|m| m.structs.iter().any(|s| s.value == name))
        .map_or_else(
            || validate::compatible_macro_of(a),
            |m| m.macro_name.value.clone(),
        )
}

/// The SPDX license id of generated files unless a schema says otherwise.
pub(crate) const DEFAULT_SPDX: &str = "GPL-2.0";

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
