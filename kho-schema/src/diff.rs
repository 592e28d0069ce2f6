//! Comparing two versions of a set of ABIs: every change classified, and
//! for each ABI whether the compatible string had to change and did.

use std::collections::BTreeSet;

use kho_layout::{Field, Kind as StructKind, LockStruct, Struct, Ty};

use crate::view::{AbiView, StructDocs};

/// How much a change matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Only doc text: no bump.
    DocOnly,
    /// Something added that no reader of the old contract sees (a
    /// constant): no bump.
    Additive,
    /// A name changed, bytes did not: still a contract change, bump.
    NameOnly,
    /// The bytes a kernel reads changed: bump.
    Breaking,
}

impl Kind {
    /// Lowercase label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Kind::DocOnly => "doc only",
            Kind::Additive => "additive",
            Kind::NameOnly => "name only",
            Kind::Breaking => "breaking",
        }
    }
}

/// One change, with its place (`struct.field`, `struct`, or a constant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// How much it matters.
    pub kind: Kind,
    /// Where.
    pub place: String,
    /// What happened, in words.
    pub what: String,
    /// The struct of this ABI it is in (whose compatible macro covers
    /// it), if any.
    pub strukt: Option<String>,
    /// Where the schema declares it (the new side's place, the old one's
    /// for something removed), when known: `file:line:col`.
    pub at: Option<String>,
}

impl Change {
    fn new(kind: Kind, place: String, what: String) -> Self {
        Change {
            kind,
            place,
            what,
            strukt: None,
            at: None,
        }
    }

    /// `file:line:col: place what`, or `place what` without a place.
    pub fn located(&self) -> String {
        match &self.at {
            Some(at) => format!("{at}: {} {}", self.place, self.what),
            None => format!("{} {}", self.place, self.what),
        }
    }
}

/// A compatible macro that needs a bump: a change under it, and its
/// string unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroBump {
    /// The C macro (empty when unknown: the main macro seen from a lock).
    pub macro_name: String,
    /// Its unchanged string.
    pub compatible: String,
    /// Whether it is the ABI's main macro (bumped by `[abi] version`).
    pub main: bool,
    /// The first change under it.
    pub change: Change,
    /// The places of the other changes under it, in order, each once.
    pub also: Vec<String>,
}

/// One row of a struct's field table: old and new side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The field before.
    pub old: Option<Field<'static>>,
    /// The field after.
    pub new: Option<Field<'static>>,
    /// The change in this row, if any.
    pub kind: Option<Kind>,
}

/// A struct compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDiff {
    /// Name (the new one if renamed).
    pub name: String,
    /// Old size, if it existed.
    pub old_size: Option<usize>,
    /// New size, if it exists.
    pub new_size: Option<usize>,
    /// Field rows in new order, removed fields where they were.
    pub rows: Vec<Row>,
}

/// What must happen to an ABI's compatible string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed.
    Unchanged,
    /// Only doc text changed: no bump needed.
    DocOnly,
    /// The contract changed and the compatible string changed with it.
    BumpPresent,
    /// The contract changed but the compatible string did not.
    BumpMissing,
    /// A new ABI.
    Added,
    /// An ABI that is gone.
    Removed,
    /// A draft (not released): its contract changed, and may without a
    /// bump.
    Draft,
}

impl Verdict {
    /// Whether this verdict fails a review.
    pub fn fails(self) -> bool {
        self == Verdict::BumpMissing
    }
}

/// One ABI compared.
#[derive(Debug, Clone)]
pub struct AbiDiff {
    /// ABI name.
    pub name: String,
    /// Before.
    pub old: Option<AbiView>,
    /// After.
    pub new: Option<AbiView>,
    /// Every change found, most serious first, then in schema order.
    pub changes: Vec<Change>,
    /// Per-struct field tables, for structs that changed.
    pub structs: Vec<StructDiff>,
    /// Dependencies whose compatible string changed: (name, old, new).
    pub dependency_bumps: Vec<(String, String, String)>,
    /// The verdict.
    pub verdict: Verdict,
    /// Each compatible macro whose structs changed under an unchanged
    /// string (empty unless the verdict is [`Verdict::BumpMissing`]).
    pub bumps: Vec<MacroBump>,
}

impl AbiDiff {
    /// The bump to make, when one is missing: `bump luo to v5`, or for
    /// another macro `bump LUO_FDT_SESSION_COMPATIBLE to luo-session-v2`
    /// (each missing bump, `; `-separated).
    pub fn required_bump(&self) -> Option<String> {
        if self.verdict != Verdict::BumpMissing {
            return None;
        }
        let v = self.new.as_ref().and_then(|n| n.version).unwrap_or(0);
        let main = format!("bump {} to v{}", self.name, v + 1);
        if self.bumps.is_empty() {
            return Some(main);
        }
        let all: Vec<String> = self
            .bumps
            .iter()
            .map(|b| {
                if b.main {
                    main.clone()
                } else {
                    format!("bump {} to {}", b.macro_name, next_version(&b.compatible))
                }
            })
            .collect();
        Some(all.join("; "))
    }

    /// One sentence for `kho-abi check`: the first change (with its
    /// schema place), the unchanged compatible string of the macro that
    /// covers it, and the fix. The first of [`explain_each`](Self::explain_each).
    pub fn explain(&self) -> String {
        if let Some(first) = self.explain_each().into_iter().next() {
            return first;
        }
        let first = self.changes.iter().find(|c| c.kind > Kind::Additive);
        let what = first.map_or_else(
            || "the layout changed".to_string(),
            |c| format!("{} {}", c.place, c.what),
        );
        match self.required_bump() {
            Some(bump) => {
                let compatible = self.new.as_ref().map_or("", |n| n.compatible.as_str());
                format!(
                    "{}: {what}, but the compatible string is still {compatible}: {bump}",
                    self.name
                )
            }
            None => format!("{}: {what}", self.name),
        }
    }

    /// One sentence per missing bump (per compatible macro): `file:line:col:
    /// abi: place what, but MACRO is still STRING: bump ...`, naming the
    /// other places that changed under the same macro. Empty unless the
    /// verdict is [`Verdict::BumpMissing`].
    pub fn explain_each(&self) -> Vec<String> {
        if self.verdict != Verdict::BumpMissing {
            return Vec::new();
        }
        let v = self.new.as_ref().and_then(|n| n.version).unwrap_or(0);
        self.bumps
            .iter()
            .map(|b| {
                let c = &b.change;
                let at = c.at.as_deref().map_or(String::new(), |a| format!("{a}: "));
                let (who, fix) = if b.main {
                    // The main macro's string is "the compatible string";
                    // its macro is named after the fix.
                    let name = if b.macro_name.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", b.macro_name)
                    };
                    (
                        "the compatible string".to_string(),
                        format!("bump {} to v{}{name}", self.name, v + 1),
                    )
                } else {
                    (
                        b.macro_name.clone(),
                        format!("bump {} to {}", b.macro_name, next_version(&b.compatible)),
                    )
                };
                let also = match b.also.as_slice() {
                    [] => String::new(),
                    places => {
                        let shown: Vec<&str> = places.iter().take(3).map(String::as_str).collect();
                        let more = match places.len().saturating_sub(3) {
                            0 => String::new(),
                            n => format!(" and {n} more"),
                        };
                        format!(" (also changed: {}{more})", shown.join(", "))
                    }
                };
                format!(
                    "{at}{}: {} {}, but {who} is still {}: {fix}{also}",
                    self.name, c.place, c.what, b.compatible
                )
            })
            .collect()
    }
}

/// `luo-session-v2` for `luo-session-v1`.
fn next_version(s: &str) -> String {
    match s.rsplit_once("-v").map(|(n, v)| (n, v.parse::<u64>())) {
        Some((n, Ok(v))) => format!("{n}-v{}", v.saturating_add(1)),
        _ => format!("{s} with a new version"),
    }
}

/// Compares two sets of ABIs, matched by name, in the new set's order then
/// the removed ones. A struct of another ABI that one holds is found in
/// its own ABI's view (to name the field path of a change inside it).
pub fn diff(old: &[AbiView], new: &[AbiView]) -> Vec<AbiDiff> {
    let mut names: Vec<&str> = new.iter().map(|a| a.name.as_str()).collect();
    names.extend(
        old.iter()
            .map(|a| a.name.as_str())
            .filter(|n| !new.iter().any(|a| a.name == *n)),
    );
    names
        .into_iter()
        .map(|name| {
            let o = old.iter().find(|a| a.name == name);
            let n = new.iter().find(|a| a.name == name);
            let mut d = diff_abi_in(name, o, n, old, new);
            if let Some(n) = n {
                for dep in &n.depends {
                    let before = old
                        .iter()
                        .find(|a| &a.name == dep)
                        .map(|a| a.compatible.clone());
                    let after = new
                        .iter()
                        .find(|a| &a.name == dep)
                        .map(|a| a.compatible.clone());
                    if let (Some(b), Some(a)) = (before, after) {
                        if b != a {
                            d.dependency_bumps.push((dep.clone(), b, a));
                        }
                    }
                }
            }
            d
        })
        .collect()
}

/// How deep a change inside nested structs is followed to name its field
/// path (`a.b.c.d`); deeper, the struct that holds it is named.
const MAX_PATH: usize = 16;

/// Both sides, and every ABI of each (where nested structs are found).
struct Sides<'a> {
    o: &'a AbiView,
    n: &'a AbiView,
    old_all: &'a [AbiView],
    new_all: &'a [AbiView],
}

impl<'a> Sides<'a> {
    fn find_in(
        own: &'a AbiView,
        all: &'a [AbiView],
        name: &str,
        page: Option<usize>,
    ) -> Option<&'a LockStruct<'static>> {
        own.find_at(name, page)
            .or_else(|| all.iter().find_map(|a| a.find_at(name, page)))
    }
    fn before(&self, name: &str, page: Option<usize>) -> Option<&'a LockStruct<'static>> {
        Self::find_in(self.o, self.old_all, name, page)
    }
    fn after(&self, name: &str, page: Option<usize>) -> Option<&'a LockStruct<'static>> {
        Self::find_in(self.n, self.new_all, name, page)
    }
}

fn diff_abi_in(
    name: &str,
    old: Option<&AbiView>,
    new: Option<&AbiView>,
    old_all: &[AbiView],
    new_all: &[AbiView],
) -> AbiDiff {
    let mut d = AbiDiff {
        name: name.to_string(),
        old: old.cloned(),
        new: new.cloned(),
        changes: Vec::new(),
        structs: Vec::new(),
        dependency_bumps: Vec::new(),
        verdict: Verdict::Unchanged,
        bumps: Vec::new(),
    };
    let (o, n) = match (old, new) {
        (Some(o), Some(n)) => (o, n),
        (None, _) => {
            d.verdict = Verdict::Added;
            return d;
        }
        (_, None) => {
            d.verdict = Verdict::Removed;
            return d;
        }
    };
    let sides = Sides {
        o,
        n,
        old_all,
        new_all,
    };
    if doc_differs(&o.doc, &n.doc) {
        d.changes.push(Change::new(
            Kind::DocOnly,
            "ABI".into(),
            "doc text changed".into(),
        ));
    }
    constants(o, n, &mut d.changes);
    structs(&sides, &mut d);
    let recorded = |v: &AbiView| -> Vec<(String, Option<usize>, Option<u64>, bool)> {
        let mut r: Vec<_> = v
            .structs
            .iter()
            .map(|s| (s.layout.name.to_string(), s.page, s.fingerprint, s.entry))
            .collect();
        // The order structs are declared in is not part of any layout:
        // moving one in its schema is no change to review.
        r.sort();
        r
    };
    // The ABI fingerprint covers constants (and the order of the
    // structs) too; the structs' own say whether a layout changed.
    let layout_changed = o.fingerprint != n.fingerprint && recorded(o) != recorded(n);
    if layout_changed && !d.changes.iter().any(|c| c.kind > Kind::Additive) {
        // Parsed views cannot see every detail (e.g. a nested struct's
        // fields); the fingerprint still can.
        d.changes.push(Change::new(
            Kind::Breaking,
            "layout".into(),
            "changed".into(),
        ));
    }
    if let Some(file) = &n.file {
        // What the new schema no longer declares is placed at its ABI.
        let abi_at = n.span.map(|(l, c)| format!("{l}:{c}"));
        for c in &mut d.changes {
            if let Some(at) = c.at.take().or_else(|| abi_at.clone()) {
                c.at = Some(format!("{file}:{at}"));
            }
        }
    }
    d.changes.sort_by_key(|c| std::cmp::Reverse(c.kind));
    let contract = d.changes.iter().any(|c| c.kind > Kind::Additive);
    let strings_changed = o.compatible != n.compatible
        || n.macros.iter().filter(|m| !m.main).any(|m| {
            o.macros
                .iter()
                .find(|x| !x.main && x.macro_name == m.macro_name)
                .is_none_or(|x| x.compatible != m.compatible)
        });
    d.bumps = if o.draft {
        Vec::new()
    } else {
        missing_bumps(o, n, &d.changes)
    };
    // A new compatible string is a new contract even when the layout is
    // the same (a version bump alone, or a dependency's bump): the next
    // kernel refuses the old string either way.
    d.verdict = if o.draft && (contract || strings_changed) {
        Verdict::Draft
    } else if !d.bumps.is_empty() {
        Verdict::BumpMissing
    } else if strings_changed {
        Verdict::BumpPresent
    } else if contract {
        // Every macro whose structs changed has a new string.
        Verdict::BumpPresent
    } else if d.changes.is_empty() {
        Verdict::Unchanged
    } else {
        Verdict::DocOnly
    };
    d
}

/// Per compatible macro, the first change under it when its string did
/// not change. A change outside every struct (a constant, the layout as a
/// whole) is the main macro's.
fn missing_bumps(o: &AbiView, n: &AbiView, changes: &[Change]) -> Vec<MacroBump> {
    let mut out: Vec<MacroBump> = Vec::new();
    for c in changes.iter().filter(|c| c.kind > Kind::Additive) {
        let m = c
            .strukt
            .as_deref()
            .and_then(|s| n.macro_of(s).or_else(|| o.macro_of(s)));
        let (main, macro_name) = match m {
            Some(m) if !m.main => (false, m.macro_name.clone()),
            Some(m) => (true, m.macro_name.clone()),
            None => (true, String::new()),
        };
        if let Some(b) = out
            .iter_mut()
            .find(|b| b.main == main && (main || b.macro_name == macro_name))
        {
            if c.place != b.change.place && !b.also.contains(&c.place) {
                b.also.push(c.place.clone());
            }
            continue;
        }
        let (before, after) = if main {
            (Some(o.compatible.clone()), n.compatible.clone())
        } else {
            let find = |v: &AbiView| {
                v.macros
                    .iter()
                    .find(|x| !x.main && x.macro_name == macro_name)
                    .map(|x| x.compatible.clone())
            };
            (find(o), find(n).unwrap_or_default())
        };
        if before.as_deref() == Some(after.as_str()) {
            let macro_name = if main {
                n.macros
                    .iter()
                    .find(|m| m.main)
                    .map_or(String::new(), |m| m.macro_name.clone())
            } else {
                macro_name
            };
            out.push(MacroBump {
                macro_name,
                compatible: after,
                main,
                change: c.clone(),
                also: Vec::new(),
            });
        }
    }
    out
}

fn doc_differs(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.trim() != b.trim())
}

fn constants(o: &AbiView, n: &AbiView, c: &mut Vec<Change>) {
    for nc in &n.constants {
        let at = nc.span.map(|(l, col)| format!("{l}:{col}"));
        let mut push = |kind, what| {
            let mut ch = Change::new(kind, format!("constant {}", nc.name), what);
            ch.at = at.clone();
            c.push(ch);
        };
        match o.constants.iter().find(|x| x.name == nc.name) {
            // Nothing that reads the old contract sees a new constant.
            None => push(Kind::Additive, format!("added (= {})", nc.value)),
            Some(oc) if oc.value != nc.value => push(
                Kind::Breaking,
                format!("changed from {} to {}", oc.value, nc.value),
            ),
            Some(oc) if doc_differs(&oc.doc, &nc.doc) => {
                push(Kind::DocOnly, "doc text changed".into())
            }
            Some(_) => {}
        }
    }
    for oc in o
        .constants
        .iter()
        .filter(|oc| !n.constants.iter().any(|x| x.name == oc.name))
    {
        c.push(Change::new(
            Kind::Breaking,
            format!("constant {}", oc.name),
            "removed".into(),
        ));
    }
}

fn same_shape(a: &LockStruct, b: &LockStruct) -> bool {
    let (a, b) = (&a.layout, &b.layout);
    a.size == b.size
        && a.align == b.align
        && a.kind == b.kind
        && a.fields.len() == b.fields.len()
        && a.fields.iter().zip(b.fields.iter()).all(|(x, y)| {
            x.ty == y.ty && x.offset == y.offset && x.name == y.name && x.bits == y.bits
        })
}

/// The doc text of field `i` of a struct, when known.
fn field_doc(docs: Option<&StructDocs>, i: usize) -> Option<String> {
    docs.and_then(|d| d.fields.get(i)).cloned()
}

/// `line:col` of field `i` of a struct (of the struct when `i` is
/// `None`), when known.
fn span_of(docs: Option<&StructDocs>, i: Option<usize>) -> Option<String> {
    let d = docs?;
    let (l, c) = match i {
        Some(i) => d.spans.get(i).copied().or(d.span)?,
        None => d.span?,
    };
    Some(format!("{l}:{c}"))
}

/// ` (PAGE_SIZE = N)` for a layout recorded per page size.
fn page_note(page: Option<usize>) -> String {
    page.map_or(String::new(), |p| format!(" (PAGE_SIZE = {p})"))
}

/// The docs of the recorded struct `s` of `v` (matched by position, so a
/// page size's entry gets its own).
fn docs_at<'a>(v: &'a AbiView, s: &LockStruct<'static>) -> Option<&'a StructDocs> {
    let i = v
        .structs
        .iter()
        .position(|x| x.layout.name == s.layout.name && x.page == s.page)?;
    v.docs.get(i)
}

fn structs(sides: &Sides<'_>, d: &mut AbiDiff) {
    let (o, n) = (sides.o, sides.n);
    let mut renamed_from = BTreeSet::new();
    let mut added = BTreeSet::new();
    for ns in &n.structs {
        let name = ns.layout.name.as_str();
        let ndocs = docs_at(n, ns);
        let note = page_note(ns.page);
        let change = |kind, place: String, what: String, at: Option<String>| Change {
            kind,
            place,
            what,
            strukt: Some(name.to_string()),
            at,
        };
        let os = match o.find_at(name, ns.page) {
            Some(os) => os,
            None => {
                if !added.insert(name.to_string()) {
                    continue;
                }
                // A struct that replaces a removed one of the same shape is a rename.
                let twin = o
                    .structs
                    .iter()
                    .find(|os| n.find(&os.layout.name).is_none() && same_shape(os, ns));
                match twin {
                    Some(os) => {
                        renamed_from.insert(os.layout.name.to_string());
                        d.changes.push(change(
                            Kind::NameOnly,
                            format!("struct {name}"),
                            format!("renamed from {}", os.layout.name),
                            span_of(ndocs, None),
                        ));
                    }
                    None => {
                        d.changes.push(change(
                            Kind::Breaking,
                            format!("struct {name}"),
                            format!("added ({} bytes)", ns.layout.size),
                            span_of(ndocs, None),
                        ));
                        d.structs.push(StructDiff {
                            name: name.to_string(),
                            old_size: None,
                            new_size: Some(ns.layout.size),
                            rows: ns
                                .layout
                                .fields
                                .iter()
                                .map(|f| Row {
                                    old: None,
                                    new: Some(f.clone()),
                                    kind: Some(Kind::Breaking),
                                })
                                .collect(),
                        });
                    }
                }
                continue;
            }
        };
        let before = d.changes.len();
        let at_struct = span_of(ndocs, None);
        if os.entry != ns.entry {
            let what = if ns.entry {
                "became a block-set entry"
            } else {
                "is no longer a block-set entry"
            };
            d.changes.push(change(
                Kind::Breaking,
                format!("struct {name}"),
                what.into(),
                at_struct.clone(),
            ));
        }
        let odocs = docs_at(o, os);
        if doc_differs(&odocs.map(|x| x.doc.clone()), &ndocs.map(|x| x.doc.clone())) {
            d.changes.push(change(
                Kind::DocOnly,
                format!("struct {name}"),
                "doc text changed".into(),
                at_struct.clone(),
            ));
        }
        let mut fchanges = Vec::new();
        let rows = fields(name, (os, odocs), (ns, ndocs), &mut fchanges);
        for mut c in fchanges {
            c.strukt = Some(name.to_string());
            c.what.push_str(&note);
            d.changes.push(c);
        }
        for what in shape_changes(&os.layout, &ns.layout) {
            d.changes.push(change(
                Kind::Breaking,
                format!("struct {name}"),
                format!("{what}{note}"),
                at_struct.clone(),
            ));
        }
        let field_level = d.changes[before..].iter().any(|c| c.kind > Kind::Additive);
        let nested_changed =
            matches!((os.fingerprint, ns.fingerprint), (Some(a), Some(b)) if a != b);
        if nested_changed && !field_level {
            // The fields read the same, so a struct they hold changed:
            // follow it down to the field that did.
            let c = match nested_change(sides, name, ns.page, &ns.layout) {
                Some((i, place, what)) => change(
                    Kind::Breaking,
                    place,
                    format!("{what}{note}"),
                    span_of(ndocs, Some(i)),
                ),
                None => change(
                    Kind::Breaking,
                    format!("struct {name}"),
                    format!("a nested struct's layout changed{note}"),
                    at_struct.clone(),
                ),
            };
            d.changes.push(c);
        }
        if d.changes.len() > before {
            d.structs.push(StructDiff {
                name: format!("{name}{note}"),
                old_size: Some(os.layout.size),
                new_size: Some(ns.layout.size),
                rows,
            });
        }
    }
    let mut removed = BTreeSet::new();
    for os in o.structs.iter().filter(|os| {
        n.find(&os.layout.name).is_none() && !renamed_from.contains(os.layout.name.as_str())
    }) {
        if !removed.insert(os.layout.name.to_string()) {
            continue;
        }
        let mut c = Change::new(
            Kind::Breaking,
            format!("struct {}", os.layout.name),
            "removed".into(),
        );
        c.strukt = Some(os.layout.name.to_string());
        d.changes.push(c);
        d.structs.push(StructDiff {
            name: os.layout.name.to_string(),
            old_size: Some(os.layout.size),
            new_size: None,
            rows: os
                .layout
                .fields
                .iter()
                .map(|f| Row {
                    old: Some(f.clone()),
                    new: None,
                    kind: Some(Kind::Breaking),
                })
                .collect(),
        });
    }
}

/// Changes of a struct as a whole, after its fields': size, alignment,
/// packing, struct or union.
fn shape_changes(o: &Struct<'_>, n: &Struct<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if o.kind != n.kind {
        out.push(match n.kind {
            StructKind::Union => "became a union".to_string(),
            StructKind::Struct => "is no longer a union".to_string(),
        });
    }
    if o.size != n.size {
        out.push(format!("size changed from {} to {} bytes", o.size, n.size));
    }
    if o.align != n.align {
        out.push(format!("alignment changed from {} to {}", o.align, n.align));
    }
    if o.packed != n.packed {
        out.push(if n.packed {
            "became packed".to_string()
        } else {
            "is no longer packed".to_string()
        });
    }
    out
}

/// `[]` after a field that is an array or a flexible array of the struct
/// it names.
fn elems(ty: &Ty<'_>) -> &'static str {
    match ty {
        Ty::Array(..) | Ty::Flex(_) => "[]",
        _ => "",
    }
}

/// The first field of `top` whose nested struct changed, followed down
/// (at most [`MAX_PATH`] structs) to the field that did: its index in
/// `top`, the path (`pci_ser.devices[].refcount`) and what happened.
fn nested_change(
    sides: &Sides<'_>,
    top: &str,
    page: Option<usize>,
    layout: &Struct<'static>,
) -> Option<(usize, String, String)> {
    let changed = |f: &Field<'_>| {
        let base = f.ty.base_name();
        match (sides.before(base, page), sides.after(base, page)) {
            (Some(a), Some(b)) => a.fingerprint != b.fingerprint,
            _ => false,
        }
    };
    let first = layout.fields.iter().position(&changed)?;
    let mut path = top.to_string();
    let mut f = layout.fields.get(first)?;
    for _ in 0..MAX_PATH {
        let base = f.ty.base_name().to_string();
        path.push_str(&format!(".{}{}", f.name, elems(&f.ty)));
        let (ob, nb) = (sides.before(&base, page)?, sides.after(&base, page)?);
        let mut tmp = Vec::new();
        fields(&base, (ob, None), (nb, None), &mut tmp);
        if let Some(c) = tmp.iter().find(|c| c.kind > Kind::Additive) {
            let rest = c.place.strip_prefix(base.as_str()).unwrap_or(&c.place);
            return Some((first, format!("{path}{rest}"), c.what.clone()));
        }
        if let Some(what) = shape_changes(&ob.layout, &nb.layout).into_iter().next() {
            return Some((first, path, format!("(struct {base}): {what}")));
        }
        f = nb.layout.fields.iter().find(|f| changed(f))?;
    }
    None
}

/// Field-by-field comparison: matched by name, then unmatched fields at
/// the same offset with the same type and size are renames.
fn fields(
    sname: &str,
    (os, odocs): (&LockStruct<'static>, Option<&StructDocs>),
    (ns, ndocs): (&LockStruct<'static>, Option<&StructDocs>),
    changes: &mut Vec<Change>,
) -> Vec<Row> {
    let (ofields, nfields) = (os.layout.fields.as_slice(), ns.layout.fields.as_slice());
    let mut rows = Vec::new();
    let unmatched_old: Vec<&Field<'static>> = ofields
        .iter()
        .filter(|f| !nfields.iter().any(|g| g.name == f.name))
        .collect();
    let mut used_old = BTreeSet::new();
    for (ni, nf) in nfields.iter().enumerate() {
        let place = format!("{sname}.{}", nf.name);
        let at = span_of(ndocs, Some(ni));
        let mut push = |kind, what: String| {
            let mut c = Change::new(kind, place.clone(), what);
            c.at = at.clone();
            changes.push(c);
        };
        let by_name = ofields.iter().position(|f| f.name == nf.name);
        let (of, kind) = match by_name {
            Some(oi) => {
                let of = &ofields[oi];
                let mut kind = None;
                if of.offset != nf.offset {
                    push(
                        Kind::Breaking,
                        format!("moved from offset {} to {}", of.offset, nf.offset),
                    );
                    kind = Some(Kind::Breaking);
                }
                if of.ty != nf.ty || of.size != nf.size {
                    let what = if of.size != nf.size {
                        format!(
                            "changed from {} ({} bytes) to {} ({} bytes)",
                            of.ty, of.size, nf.ty, nf.size
                        )
                    } else {
                        format!("changed type from {} to {}", of.ty, nf.ty)
                    };
                    push(Kind::Breaking, what);
                    kind = Some(Kind::Breaking);
                }
                if of.bits != nf.bits {
                    let bits = |b: Option<kho_layout::Bits>| {
                        b.map_or("not a bit field".to_string(), |b| {
                            format!("bits {}:{}", b.first, b.width)
                        })
                    };
                    push(
                        Kind::Breaking,
                        format!("changed from {} to {}", bits(of.bits), bits(nf.bits)),
                    );
                    kind = Some(Kind::Breaking);
                }
                if kind.is_none() && doc_differs(&field_doc(odocs, oi), &field_doc(ndocs, ni)) {
                    push(Kind::DocOnly, "doc text changed".into());
                    kind = Some(Kind::DocOnly);
                }
                (Some(of), kind)
            }
            None => {
                let twin = unmatched_old.iter().find(|f| {
                    !used_old.contains(f.name.as_str())
                        && f.offset == nf.offset
                        && f.ty == nf.ty
                        && f.size == nf.size
                        && f.bits == nf.bits
                });
                match twin {
                    Some(of) => {
                        used_old.insert(of.name.to_string());
                        push(
                            Kind::NameOnly,
                            format!("renamed from {} (same offset, size and type)", of.name),
                        );
                        (Some(*of), Some(Kind::NameOnly))
                    }
                    None => {
                        push(
                            Kind::Breaking,
                            format!("added at offset {} ({} bytes)", nf.offset, nf.size),
                        );
                        (None, Some(Kind::Breaking))
                    }
                }
            }
        };
        rows.push(Row {
            old: of.cloned(),
            new: Some(nf.clone()),
            kind,
        });
    }
    for of in unmatched_old
        .iter()
        .filter(|f| !used_old.contains(f.name.as_str()))
    {
        let mut c = Change::new(
            Kind::Breaking,
            format!("{sname}.{}", of.name),
            format!("removed (was at offset {}, {} bytes)", of.offset, of.size),
        );
        c.at = span_of(ndocs, None);
        changes.push(c);
        let at = rows
            .iter()
            .position(|r| r.new.as_ref().is_some_and(|n| n.offset > of.offset))
            .unwrap_or(rows.len());
        rows.insert(
            at,
            Row {
                old: Some((*of).clone()),
                new: None,
                kind: Some(Kind::Breaking),
            },
        );
    }
    rows
}
