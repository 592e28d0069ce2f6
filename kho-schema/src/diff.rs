//! Comparing two versions of a set of ABIs: every change classified, and
//! for each ABI whether the compatible string had to change and did.

use std::collections::BTreeSet;

use kho_layout::{Field, LockStruct};

use crate::view::{AbiView, StructDocs};

/// How much a change matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Only doc text: no bump.
    DocOnly,
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
}

impl AbiDiff {
    /// The bump to make, when one is missing: `bump luo to v5`.
    pub fn required_bump(&self) -> Option<String> {
        if self.verdict != Verdict::BumpMissing {
            return None;
        }
        let v = self.new.as_ref().and_then(|n| n.version).unwrap_or(0);
        Some(format!("bump {} to v{}", self.name, v + 1))
    }

    /// One sentence for `kho-abi check`: the first change, the unchanged
    /// compatible string, and the fix.
    pub fn explain(&self) -> String {
        let first = self.changes.iter().find(|c| c.kind > Kind::DocOnly);
        let what = first.map_or_else(
            || "the layout changed".to_string(),
            |c| format!("{} {}", c.place, c.what),
        );
        let compatible = self.new.as_ref().map_or("", |n| n.compatible.as_str());
        match self.required_bump() {
            Some(bump) => format!(
                "{}: {what}, but the compatible string is still {compatible}: {bump}",
                self.name
            ),
            None => format!("{}: {what}", self.name),
        }
    }
}

/// Compares two sets of ABIs, matched by name, in the new set's order then
/// the removed ones.
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
            let mut d = diff_abi(name, o, n);
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

/// Compares one ABI's two versions.
pub fn diff_abi(name: &str, old: Option<&AbiView>, new: Option<&AbiView>) -> AbiDiff {
    let mut d = AbiDiff {
        name: name.to_string(),
        old: old.cloned(),
        new: new.cloned(),
        changes: Vec::new(),
        structs: Vec::new(),
        dependency_bumps: Vec::new(),
        verdict: Verdict::Unchanged,
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
    let c = &mut d.changes;
    if doc_differs(&o.doc, &n.doc) {
        c.push(Change {
            kind: Kind::DocOnly,
            place: "ABI".into(),
            what: "doc text changed".into(),
        });
    }
    constants(o, n, c);
    structs(o, n, &mut d);
    let layout_changed = o.fingerprint != n.fingerprint;
    if layout_changed && !d.changes.iter().any(|c| c.kind > Kind::DocOnly) {
        // Parsed views cannot see every detail (e.g. a nested struct's
        // fields); the fingerprint still can.
        d.changes.push(Change {
            kind: Kind::Breaking,
            place: "layout".into(),
            what: "changed".into(),
        });
    }
    d.changes.sort_by_key(|c| std::cmp::Reverse(c.kind));
    // A new compatible string is a new contract even when the layout is
    // the same (a version bump alone, or a dependency's bump): the next
    // kernel refuses the old string either way.
    d.verdict = if o.compatible != n.compatible {
        Verdict::BumpPresent
    } else if layout_changed {
        Verdict::BumpMissing
    } else if d.changes.is_empty() {
        Verdict::Unchanged
    } else {
        Verdict::DocOnly
    };
    d
}

fn doc_differs(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.trim() != b.trim())
}

fn constants(o: &AbiView, n: &AbiView, c: &mut Vec<Change>) {
    for nc in &n.constants {
        match o.constants.iter().find(|x| x.name == nc.name) {
            None => c.push(Change {
                kind: Kind::Breaking,
                place: format!("constant {}", nc.name),
                what: format!("added (= {})", nc.value),
            }),
            Some(oc) if oc.value != nc.value => c.push(Change {
                kind: Kind::Breaking,
                place: format!("constant {}", nc.name),
                what: format!("changed from {} to {}", oc.value, nc.value),
            }),
            Some(oc) if doc_differs(&oc.doc, &nc.doc) => c.push(Change {
                kind: Kind::DocOnly,
                place: format!("constant {}", nc.name),
                what: "doc text changed".into(),
            }),
            Some(_) => {}
        }
    }
    for oc in o
        .constants
        .iter()
        .filter(|oc| !n.constants.iter().any(|x| x.name == oc.name))
    {
        c.push(Change {
            kind: Kind::Breaking,
            place: format!("constant {}", oc.name),
            what: "removed".into(),
        });
    }
}

fn same_shape(a: &LockStruct, b: &LockStruct) -> bool {
    let (a, b) = (&a.layout, &b.layout);
    a.size == b.size
        && a.fields.len() == b.fields.len()
        && a.fields
            .iter()
            .zip(b.fields.iter())
            .all(|(x, y)| x.ty == y.ty && x.offset == y.offset && x.name == y.name)
}

/// The doc text of field `i` of a struct, when known.
fn field_doc(docs: Option<&StructDocs>, i: usize) -> Option<String> {
    docs.and_then(|d| d.fields.get(i)).cloned()
}

fn structs(o: &AbiView, n: &AbiView, d: &mut AbiDiff) {
    let mut renamed_from = BTreeSet::new();
    for ns in &n.structs {
        let name = ns.layout.name.as_str();
        let os = match o.find(name) {
            Some(os) => os,
            None => {
                // A struct that replaces a removed one of the same shape is a rename.
                let twin = o
                    .structs
                    .iter()
                    .find(|os| n.find(&os.layout.name).is_none() && same_shape(os, ns));
                match twin {
                    Some(os) => {
                        renamed_from.insert(os.layout.name.to_string());
                        d.changes.push(Change {
                            kind: Kind::NameOnly,
                            place: format!("struct {name}"),
                            what: format!("renamed from {}", os.layout.name),
                        });
                    }
                    None => {
                        d.changes.push(Change {
                            kind: Kind::Breaking,
                            place: format!("struct {name}"),
                            what: format!("added ({} bytes)", ns.layout.size),
                        });
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
        if os.entry != ns.entry {
            let what = if ns.entry {
                "became a block-set entry"
            } else {
                "is no longer a block-set entry"
            };
            d.changes.push(Change {
                kind: Kind::Breaking,
                place: format!("struct {name}"),
                what: what.into(),
            });
        }
        let (odocs, ndocs) = (o.docs_of(name), n.docs_of(name));
        if doc_differs(&odocs.map(|x| x.doc.clone()), &ndocs.map(|x| x.doc.clone())) {
            d.changes.push(Change {
                kind: Kind::DocOnly,
                place: format!("struct {name}"),
                what: "doc text changed".into(),
            });
        }
        let rows = fields(name, (os, odocs), (ns, ndocs), &mut d.changes);
        // After the fields: a size change is their consequence, and the
        // first change is the one `explain` names.
        let (osize, nsize) = (os.layout.size, ns.layout.size);
        if osize != nsize {
            d.changes.push(Change {
                kind: Kind::Breaking,
                place: format!("struct {name}"),
                what: format!("size changed from {osize} to {nsize} bytes"),
            });
        }
        let field_level = d.changes[before..].iter().any(|c| c.kind > Kind::DocOnly);
        let nested_changed =
            matches!((os.fingerprint, ns.fingerprint), (Some(a), Some(b)) if a != b);
        if nested_changed && !field_level {
            // The fields read the same, so a struct they hold changed: name
            // the first field whose struct has a new fingerprint (its own
            // changes are listed under it when it is of this ABI).
            let changed = |f: &&Field| {
                let base = f.ty.base_name();
                match (o.find(base), n.find(base)) {
                    (Some(a), Some(b)) => a.fingerprint != b.fingerprint,
                    _ => false,
                }
            };
            let what = match ns.layout.fields.iter().find(changed) {
                Some(f) => format!(
                    "the layout of struct {}, which field {} holds, changed",
                    f.ty.base_name(),
                    f.name
                ),
                None => "a nested struct's layout changed".into(),
            };
            d.changes.push(Change {
                kind: Kind::Breaking,
                place: format!("struct {name}"),
                what,
            });
        }
        if d.changes.len() > before {
            d.structs.push(StructDiff {
                name: name.to_string(),
                old_size: Some(osize),
                new_size: Some(nsize),
                rows,
            });
        }
    }
    for os in o.structs.iter().filter(|os| {
        n.find(&os.layout.name).is_none() && !renamed_from.contains(os.layout.name.as_str())
    }) {
        d.changes.push(Change {
            kind: Kind::Breaking,
            place: format!("struct {}", os.layout.name),
            what: "removed".into(),
        });
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
        let by_name = ofields.iter().position(|f| f.name == nf.name);
        let (of, kind) = match by_name {
            Some(oi) => {
                let of = &ofields[oi];
                let mut kind = None;
                if of.offset != nf.offset {
                    changes.push(Change {
                        kind: Kind::Breaking,
                        place: place.clone(),
                        what: format!("moved from offset {} to {}", of.offset, nf.offset),
                    });
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
                    changes.push(Change {
                        kind: Kind::Breaking,
                        place: place.clone(),
                        what,
                    });
                    kind = Some(Kind::Breaking);
                }
                if kind.is_none() && doc_differs(&field_doc(odocs, oi), &field_doc(ndocs, ni)) {
                    changes.push(Change {
                        kind: Kind::DocOnly,
                        place: place.clone(),
                        what: "doc text changed".into(),
                    });
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
                });
                match twin {
                    Some(of) => {
                        used_old.insert(of.name.to_string());
                        changes.push(Change {
                            kind: Kind::NameOnly,
                            place: place.clone(),
                            what: format!("renamed from {} (same offset, size and type)", of.name),
                        });
                        (Some(*of), Some(Kind::NameOnly))
                    }
                    None => {
                        changes.push(Change {
                            kind: Kind::Breaking,
                            place: place.clone(),
                            what: format!("added at offset {} ({} bytes)", nf.offset, nf.size),
                        });
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
        changes.push(Change {
            kind: Kind::Breaking,
            place: format!("{sname}.{}", of.name),
            what: format!("removed (was at offset {}, {} bytes)", of.offset, of.size),
        });
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
