//! What the emitters read of the compiled IR beyond the layout model, in
//! one place: every emitter asks these functions, so the three read the
//! IR one way.

use kho_layout::Struct;

use crate::layout::{Abi, Compatible, Constant, Note};

/// The SPDX licence id of the generated files.
pub(crate) fn spdx(abi: &Abi) -> &str {
    &abi.spdx
}

/// Copyright lines under the SPDX line, as the schema writes them.
pub(crate) fn copyright(abi: &Abi) -> &[String] {
    &abi.copyright
}

/// Whether the ABI is a draft (not released: may change without a bump).
pub(crate) fn draft(abi: &Abi) -> bool {
    abi.draft
}

/// One compatible macro of an ABI.
pub(crate) type Compat = Compatible;

/// Every compatible macro of `abi`, the main one first.
pub(crate) fn compatibles(abi: &Abi) -> &[Compat] {
    abi.compatibles()
}

/// The macro that covers struct `name` of `abi`.
pub(crate) fn macro_of<'a>(compats: &'a [Compat], name: &str) -> Option<&'a Compat> {
    compats
        .iter()
        .find(|c| c.structs.iter().any(|s| s == name))
        .or_else(|| compats.iter().find(|c| c.main))
}

/// The schema's `[[assert]]` expressions, as written.
pub(crate) fn asserts(abi: &Abi) -> Vec<String> {
    abi.asserts().iter().map(|a| a.expr.clone()).collect()
}

/// A constant's expression as the schema writes it (`expr = ".."`).
pub(crate) fn const_expr(k: &Constant) -> Option<&str> {
    k.expr.as_deref()
}

/// The header that defines an external constant.
pub(crate) fn const_external(k: &Constant) -> Option<&str> {
    k.external.as_deref()
}

/// The C enum a constant is a member of (`""` for an anonymous one).
pub(crate) fn const_enum(k: &Constant) -> Option<&str> {
    k.enum_tag.as_deref()
}

/// An integer constant's value at each page size (equal when it does not
/// depend on the page size); empty for a string or C-only constant.
pub(crate) fn const_values(k: &Constant) -> Vec<(usize, u64)> {
    match (&k.value, k.values.is_empty()) {
        (crate::parse::ConstValue::Int(n), true) => kho_layout::format::PAGE_SIZES
            .iter()
            .map(|&p| (p, *n))
            .collect(),
        _ => k.values.clone(),
    }
}

/// The page sizes the ABI is laid out for.
pub(crate) fn pages(abi: &Abi) -> &'static [usize] {
    abi.pages()
}

/// The ABI's structs laid out for `page`, in declaration order, and the
/// set their nested structs index.
pub(crate) fn structs_at(abi: &Abi, page: usize) -> (&[Struct<'static>], &[Struct<'static>]) {
    (abi.structs_at(page), abi.set_at(page))
}

/// The ABI's structs laid out for `page`, each with its note (whose
/// fingerprint is that page size's).
pub(crate) fn items_at(abi: &Abi, page: usize) -> Vec<(&Struct<'static>, &Note)> {
    abi.items_at(page).collect()
}

/// The ABI of the struct named `name` (what a KHOSER pointer names) in
/// the set compiled with `abi`, looked for in `abi` first.
pub(crate) fn abi_of_struct(abi: &Abi, name: &str) -> Option<String> {
    if let Some((_, n)) = abi.find(name) {
        return Some(n.abi.clone());
    }
    let set = abi.shared_set();
    set.structs
        .iter()
        .zip(&set.notes)
        .find(|(s, _)| s.name == name)
        .map(|(_, n)| n.abi.clone())
}

/// Whether struct `i` of the ABI is laid out differently for some page
/// size.
pub(crate) fn page_dependent(note: &Note) -> bool {
    note.page_dependent
}

/// How the schema spells field `i`'s base type (`unsigned int`, `u64`,
/// `kho_vmalloc`), when it spells it at all.
pub(crate) fn field_c_type(note: &Note, i: usize) -> Option<&str> {
    note.field_c_types
        .get(i)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// The bits `N` of a field spelled `bitmap<N>` (see [`field_c_type`]):
/// C writes it `DECLARE_BITMAP(name, N)`, the model holds its u64 words.
pub(crate) fn bitmap_bits(spelling: &str) -> Option<&str> {
    spelling.strip_prefix("bitmap<")?.strip_suffix('>')
}

/// The count field of flexible array field `i`.
pub(crate) fn field_count(note: &Note, i: usize) -> Option<&str> {
    note.field_counts.get(i).and_then(|c| c.as_deref())
}

/// `doc` with each paragraph that has an indented line (a kernel-doc `::`
/// literal block, a nested description) fenced as ```` ```text ````, for
/// the Markdown outputs (rustdoc, the layout tables): there an indented
/// paragraph would be a code block, which rustdoc compiles as a doctest.
/// Paragraphs inside a fence of the doc's own are left as they are.
pub(crate) fn fence_indented(doc: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut fenced = false;
    for para in doc.split("\n\n") {
        let lines: Vec<&str> = para.lines().collect();
        let toggles = lines
            .iter()
            .filter(|l| l.trim_start().starts_with("```"))
            .count();
        let indented = lines.iter().any(|l| l.starts_with([' ', '\t']));
        if !fenced && toggles == 0 && indented {
            out.push(format!("```text\n{para}\n```"));
        } else {
            out.push(para.to_string());
        }
        fenced ^= toggles % 2 == 1;
    }
    out.join("\n\n")
}
