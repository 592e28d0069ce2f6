//! `kho-abi diff`: two versions of a set of ABIs compared, as a Markdown
//! review for a pull request or as JSON. Both are deterministic: ABIs in
//! the new set's order (removed ones last), changes most serious first.

use std::fmt::Write as _;

use kho_schema::diff::{AbiDiff, Kind, Row, StructDiff, Verdict};
use kho_schema::view::AbiView;
use kho_schema::Abi;
use kho_schema::Field;
use serde::Serialize;

/// Every ABI of `old` and `new`, compared (matched by name).
pub fn compare(old: &[Abi], new: &[Abi]) -> Vec<AbiDiff> {
    let old: Vec<AbiView> = old.iter().map(AbiView::of).collect();
    let new: Vec<AbiView> = new.iter().map(AbiView::of).collect();
    kho_schema::diff::diff(&old, &new)
}

/// Whether the review fails: some ABI changed without a new compatible
/// string.
pub fn fails(diffs: &[AbiDiff]) -> bool {
    diffs.iter().any(|d| d.verdict.fails())
}

/// The heading's word for a verdict; the one that fails review shouts.
fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Unchanged => "unchanged",
        Verdict::DocOnly => "doc only",
        Verdict::BumpPresent => "bump present",
        Verdict::BumpMissing => "BUMP MISSING",
        Verdict::Added => "added",
        Verdict::Removed => "removed",
        Verdict::Draft => "draft",
    }
}

/// The JSON word for a verdict.
fn verdict_id(v: Verdict) -> &'static str {
    match v {
        Verdict::Unchanged => "unchanged",
        Verdict::DocOnly => "doc_only",
        Verdict::BumpPresent => "bump_present",
        Verdict::BumpMissing => "bump_missing",
        Verdict::Added => "added",
        Verdict::Removed => "removed",
        Verdict::Draft => "draft",
    }
}

/// The JSON word for a kind of change.
fn kind_id(k: Kind) -> &'static str {
    match k {
        Kind::DocOnly => "doc_only",
        Kind::Additive => "additive",
        Kind::NameOnly => "name_only",
        Kind::Breaking => "breaking",
    }
}

fn compatible(v: Option<&AbiView>) -> Option<&str> {
    v.map(|v| v.compatible.as_str())
}

/// The Markdown review.
pub fn markdown(diffs: &[AbiDiff]) -> String {
    let mut out = String::from("# ABI review\n\n");
    out.push_str(&overall(diffs));
    out.push('\n');
    for d in diffs {
        out.push('\n');
        abi_section(d, &mut out);
    }
    out
}

/// `**Verdict: ok** (2 ABIs: 1 bump present, 1 unchanged).`
fn overall(diffs: &[AbiDiff]) -> String {
    let order = [
        Verdict::BumpMissing,
        Verdict::BumpPresent,
        Verdict::DocOnly,
        Verdict::Added,
        Verdict::Removed,
        Verdict::Draft,
        Verdict::Unchanged,
    ];
    let counts: Vec<String> = order
        .iter()
        .filter_map(|v| {
            let n = diffs.iter().filter(|d| d.verdict == *v).count();
            (n > 0).then(|| format!("{n} {}", verdict_label(*v)))
        })
        .collect();
    let abis = match diffs.len() {
        1 => "1 ABI".to_string(),
        n => format!("{n} ABIs"),
    };
    let counts = if counts.is_empty() {
        abis
    } else {
        format!("{abis}: {}", counts.join(", "))
    };
    let bumps: Vec<String> = diffs.iter().filter_map(AbiDiff::required_bump).collect();
    if bumps.is_empty() {
        format!("**Verdict: ok** ({counts}).")
    } else {
        format!("**Verdict: fail** ({counts}): {}.", bumps.join(", "))
    }
}

fn abi_section(d: &AbiDiff, out: &mut String) {
    let (old, new) = (compatible(d.old.as_ref()), compatible(d.new.as_ref()));
    let label = verdict_label(d.verdict);
    if d.verdict == Verdict::Unchanged {
        let _ = writeln!(out, "## {}: {label} ({})", d.name, code(new.unwrap_or("")));
        return;
    }
    let _ = writeln!(out, "## {}: {label}\n", d.name);
    let _ = match (old, new) {
        (Some(o), Some(n)) if o == n => {
            writeln!(out, "- compatible string: {} (unchanged)", code(n))
        }
        (Some(o), Some(n)) => writeln!(out, "- compatible string: {} -> {}", code(o), code(n)),
        (None, Some(n)) => writeln!(out, "- compatible string: {} (new)", code(n)),
        (Some(o), None) => writeln!(out, "- compatible string: {} (removed)", code(o)),
        (None, None) => Ok(()),
    };
    macro_lines(d, out);
    if let Some(bump) = d.required_bump() {
        let _ = writeln!(out, "- required: **{bump}**");
    }
    for (dep, before, after) in &d.dependency_bumps {
        let _ = writeln!(
            out,
            "- dependency {dep}: {} -> {} changes {}'s compatible string from {} to {}",
            code(before),
            code(after),
            d.name,
            code(old.unwrap_or("")),
            code(new.unwrap_or("")),
        );
    }
    // A new or removed ABI: what it holds, as there is nothing to compare.
    let whole = match d.verdict {
        Verdict::Added => d.new.as_ref(),
        Verdict::Removed => d.old.as_ref(),
        _ => None,
    };
    if let Some(v) = whole.filter(|v| !v.structs.is_empty()) {
        let list: Vec<String> = v
            .structs
            .iter()
            .map(|s| format!("{} ({} bytes)", code(&s.layout.name), s.layout.size))
            .collect();
        let _ = writeln!(out, "- structs: {}", list.join(", "));
    }
    if !d.changes.is_empty() {
        out.push_str("\n### Changes\n\n");
        for c in &d.changes {
            let at =
                c.at.as_deref()
                    .map_or(String::new(), |at| format!(" ({})", code(at)));
            let _ = writeln!(
                out,
                "- **{}**: {} {}{at}",
                c.kind.label(),
                place(&c.place),
                c.what
            );
        }
    }
    for s in &d.structs {
        struct_table(s, out);
    }
}

/// The ABI's other compatible macros whose string changed, came or went
/// (luo's `LUO_FDT_SESSION_COMPATIBLE`, memblock's FDT-node macro): each
/// is a version of its own.
fn macro_lines(d: &AbiDiff, out: &mut String) {
    let extra = |v: Option<&AbiView>| -> Vec<(String, String)> {
        v.map_or_else(Vec::new, |v| {
            v.macros
                .iter()
                .filter(|m| !m.main)
                .map(|m| (m.macro_name.clone(), m.compatible.clone()))
                .collect()
        })
    };
    // A lock of before several macros records none: nothing to compare.
    if [&d.old, &d.new]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| v.macros.is_empty()))
    {
        return;
    }
    let (old, new) = (extra(d.old.as_ref()), extra(d.new.as_ref()));
    let find = |list: &[(String, String)], name: &str| {
        list.iter().find(|(m, _)| m == name).map(|(_, c)| c.clone())
    };
    for (m, n) in &new {
        let _ = match find(&old, m) {
            Some(o) if o == *n => Ok(()),
            Some(o) => writeln!(out, "- {}: {} -> {}", code(m), code(&o), code(n)),
            None if d.old.is_some() => writeln!(out, "- {}: {} (new)", code(m), code(n)),
            None => Ok(()),
        };
    }
    if d.new.is_some() {
        for (m, o) in old.iter().filter(|(m, _)| find(&new, m).is_none()) {
            let _ = writeln!(out, "- {}: {} (removed)", code(m), code(o));
        }
    }
}

/// A change's place as Markdown: `luo_file_ser.data`, struct `x`,
/// constant `X`; the ABI and its layout as words.
fn place(p: &str) -> String {
    for prefix in ["struct ", "constant "] {
        if let Some(name) = p.strip_prefix(prefix) {
            return format!("{prefix}{}", code(name));
        }
    }
    match p {
        "ABI" | "layout" => p.to_string(),
        _ => code(p),
    }
}

fn struct_table(s: &StructDiff, out: &mut String) {
    let size = match (s.old_size, s.new_size) {
        (Some(o), Some(n)) if o == n => format!("{n} bytes"),
        (Some(o), Some(n)) => format!("{o} -> {n} bytes"),
        (None, Some(n)) => format!("added, {n} bytes"),
        (Some(o), None) => format!("removed, was {o} bytes"),
        (None, None) => String::new(),
    };
    let _ = writeln!(out, "\n### {}: {size}\n", code(&s.name));
    out.push_str("| field | offset | size | type | change |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for r in &s.rows {
        let (o, n) = (r.old.as_ref(), r.new.as_ref());
        let cells = [
            cell(o.map(|s| s.name.clone()), n.map(|s| s.name.clone())),
            cell(o.map(|s| s.offset), n.map(|s| s.offset)),
            cell(o.map(|s| s.size), n.map(|s| s.size)),
            cell(o.map(type_text), n.map(type_text)),
            row_change(r).to_string(),
        ];
        out.push('|');
        for c in cells {
            if c.is_empty() {
                out.push_str(" |");
            } else {
                let _ = write!(out, " {c} |");
            }
        }
        out.push('\n');
    }
}

/// A field's type as the table shows it: a bit field with its bits
/// (`u64 bits 0:52`, first bit and width, as the lock writes them).
fn type_text(f: &Field<'static>) -> String {
    match f.bits {
        Some(b) => format!("{} bits {}:{}", f.ty, b.first, b.width),
        None => f.ty.to_string(),
    }
}

/// `a` when both sides agree (or only one has it), `a -> b` when not.
fn cell<T: PartialEq + ToString>(old: Option<T>, new: Option<T>) -> String {
    let text = match (old, new) {
        (Some(o), Some(n)) if o != n => format!("{} -> {}", o.to_string(), n.to_string()),
        (_, Some(v)) | (Some(v), None) => v.to_string(),
        (None, None) => String::new(),
    };
    text.replace('|', "\\|")
}

fn row_change(r: &Row) -> &'static str {
    match (&r.old, &r.new, r.kind) {
        (None, Some(_), _) => "added",
        (Some(_), None, _) => "removed",
        (_, _, Some(k)) => k.label(),
        (_, _, None) => "",
    }
}

/// Inline code, fenced with enough backticks for what it holds.
fn code(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest == 0 {
        return format!("`{s}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {s} {fence}")
}

/// The JSON review: an array with one object per ABI.
pub fn json(diffs: &[AbiDiff]) -> Vec<AbiReport<'_>> {
    diffs.iter().map(AbiReport::from).collect()
}

/// One ABI in the JSON review.
#[derive(Serialize)]
pub struct AbiReport<'a> {
    abi: &'a str,
    verdict: &'static str,
    old_compatible: Option<&'a str>,
    new_compatible: Option<&'a str>,
    required_bump: Option<String>,
    dependency_bumps: Vec<DependencyBump<'a>>,
    changes: Vec<ChangeReport<'a>>,
    structs: Vec<StructReport<'a>>,
}

#[derive(Serialize)]
struct DependencyBump<'a> {
    abi: &'a str,
    old: &'a str,
    new: &'a str,
}

#[derive(Serialize)]
struct ChangeReport<'a> {
    kind: &'static str,
    place: &'a str,
    what: &'a str,
    /// `file:line:col` of the schema's declaration, when known.
    at: Option<&'a str>,
}

#[derive(Serialize)]
struct StructReport<'a> {
    name: &'a str,
    old_size: Option<usize>,
    new_size: Option<usize>,
    rows: Vec<RowReport<'a>>,
}

#[derive(Serialize)]
struct RowReport<'a> {
    old: Option<SlotReport<'a>>,
    new: Option<SlotReport<'a>>,
    kind: Option<&'static str>,
}

#[derive(Serialize)]
struct SlotReport<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: String,
    offset: usize,
    size: usize,
}

impl<'a> From<&'a Field<'static>> for SlotReport<'a> {
    fn from(s: &'a Field<'static>) -> Self {
        SlotReport {
            name: s.name.as_str(),
            ty: type_text(s),
            offset: s.offset,
            size: s.size,
        }
    }
}

impl<'a> From<&'a AbiDiff> for AbiReport<'a> {
    fn from(d: &'a AbiDiff) -> Self {
        AbiReport {
            abi: &d.name,
            verdict: verdict_id(d.verdict),
            old_compatible: compatible(d.old.as_ref()),
            new_compatible: compatible(d.new.as_ref()),
            required_bump: d.required_bump(),
            dependency_bumps: d
                .dependency_bumps
                .iter()
                .map(|(abi, old, new)| DependencyBump { abi, old, new })
                .collect(),
            changes: d
                .changes
                .iter()
                .map(|c| ChangeReport {
                    kind: kind_id(c.kind),
                    place: &c.place,
                    what: &c.what,
                    at: c.at.as_deref(),
                })
                .collect(),
            structs: d
                .structs
                .iter()
                .map(|s| StructReport {
                    name: &s.name,
                    old_size: s.old_size,
                    new_size: s.new_size,
                    rows: s
                        .rows
                        .iter()
                        .map(|r| RowReport {
                            old: r.old.as_ref().map(SlotReport::from),
                            new: r.new.as_ref().map(SlotReport::from),
                            kind: r.kind.map(kind_id),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abis(version: u64, data: &str) -> Vec<Abi> {
        let text = format!(
            "[abi]\nname = \"t\"\nversion = {version}\n\n[[struct]]\nname = \"e\"\nfields = [\n  \
             {{ name = \"data\", type = \"{data}\" }},\n  {{ name = \"token\", type = \"u64\" }},\n]\n"
        );
        kho_schema::compile(&[kho_schema::Source::new("t.toml", text)]).unwrap()
    }

    #[test]
    fn width_change_without_bump_fails_with_a_table() {
        let d = compare(&abis(1, "u64"), &abis(1, "u32"));
        assert!(fails(&d));
        let md = markdown(&d);
        assert!(md.contains("**Verdict: fail** (1 ABI: 1 BUMP MISSING): bump t to v2."));
        assert!(md.contains("## t: BUMP MISSING\n"));
        assert!(md.contains("- required: **bump t to v2**"));
        assert!(md.contains("### `e`: 16 -> 12 bytes"));
        assert!(md.contains("| data | 0 | 8 -> 4 | u64 -> u32 | breaking |"));
        assert!(md.contains("| token | 8 -> 4 | 8 | u64 | breaking |"));
        assert_eq!(markdown(&d), md, "deterministic");
    }

    #[test]
    fn unchanged_is_one_line() {
        let d = compare(&abis(1, "u64"), &abis(1, "u64"));
        assert!(!fails(&d));
        assert_eq!(
            markdown(&d),
            "# ABI review\n\n**Verdict: ok** (1 ABI: 1 unchanged).\n\n## t: unchanged (`t-v1`)\n"
        );
    }

    #[test]
    fn json_names_every_part() {
        let d = compare(&abis(1, "u64"), &abis(2, "u32"));
        let v = serde_json::to_value(json(&d)).unwrap();
        let t = &v[0];
        assert_eq!(t["abi"], "t");
        assert_eq!(t["verdict"], "bump_present");
        assert_eq!(t["old_compatible"], "t-v1");
        assert_eq!(t["new_compatible"], "t-v2");
        assert!(t["required_bump"].is_null());
        assert_eq!(t["changes"][0]["kind"], "breaking");
        assert_eq!(t["changes"][0]["place"], "e.data");
        let row = &t["structs"][0]["rows"][0];
        assert_eq!(row["old"]["type"], "u64");
        assert_eq!(row["new"]["size"], 4);
        assert_eq!(row["kind"], "breaking");
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }
}
