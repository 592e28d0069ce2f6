//! What the emitters read of the compiled IR beyond the layout model, in
//! one place: every emitter asks these functions, never the IR's fields
//! directly, so the emitters stay one reading of one IR.

use kho_layout::format::PAGE_SIZES;
use kho_layout::Struct;

use crate::layout::{Abi, Constant, Note};

/// The SPDX licence id of the generated files.
pub(crate) fn spdx(_abi: &Abi) -> &str {
    "GPL-2.0"
}

/// Copyright lines under the SPDX line, as the schema writes them.
pub(crate) fn copyright(_abi: &Abi) -> &[String] {
    &[]
}

/// Whether the ABI is a draft (not released: may change without a bump).
pub(crate) fn draft(_abi: &Abi) -> bool {
    false
}

/// One compatible macro of an ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compat {
    /// The `#define`'s name.
    pub macro_name: String,
    /// The string.
    pub value: String,
    /// `name-v<version>` parts: the ABI (or macro) name.
    pub name: String,
    /// Its version.
    pub version: u64,
    /// The structs it covers (empty for the main macro: every struct no
    /// other macro lists).
    pub structs: Vec<String>,
    /// Whether it is the ABI's main macro.
    pub main: bool,
}

/// Every compatible macro of `abi`, the main one first.
pub(crate) fn compatibles(abi: &Abi) -> Vec<Compat> {
    vec![Compat {
        macro_name: abi.c.compatible_macro.clone(),
        value: abi.compatible.clone(),
        name: abi.name.clone(),
        version: abi.version,
        structs: Vec::new(),
        main: true,
    }]
}

/// The macro that covers struct `name` of `abi`.
pub(crate) fn macro_of<'a>(compats: &'a [Compat], name: &str) -> Option<&'a Compat> {
    compats
        .iter()
        .find(|c| c.structs.iter().any(|s| s == name))
        .or_else(|| compats.iter().find(|c| c.main))
}

/// The schema's `[[assert]]` expressions, as written.
pub(crate) fn asserts(_abi: &Abi) -> Vec<String> {
    Vec::new()
}

/// A constant's expression as the schema writes it (`expr = ".."`).
pub(crate) fn const_expr(_k: &Constant) -> Option<&str> {
    None
}

/// The header that defines an external constant.
pub(crate) fn const_external(_k: &Constant) -> Option<&str> {
    None
}

/// An integer constant's value at each page size (equal when it does not
/// depend on the page size); empty for a string or C-only constant.
pub(crate) fn const_values(k: &Constant) -> Vec<(usize, u64)> {
    match k.value {
        crate::parse::ConstValue::Int(n) => PAGE_SIZES.iter().map(|&p| (p, n)).collect(),
        _ => Vec::new(),
    }
}

/// The page sizes the ABI is laid out for.
pub(crate) fn pages(_abi: &Abi) -> &'static [usize] {
    &PAGE_SIZES
}

/// The ABI's structs laid out for `page`, in declaration order, and the
/// set their nested structs index.
pub(crate) fn structs_at(abi: &Abi, _page: usize) -> (&[Struct<'static>], &[Struct<'static>]) {
    (abi.structs(), abi.set())
}

/// The ABI's structs laid out for `page`, each with its note (whose
/// fingerprint is that page size's).
pub(crate) fn items_at(abi: &Abi, _page: usize) -> Vec<(&Struct<'static>, &Note)> {
    abi.items().collect()
}

/// What a KHOSER pointer (or anything naming a struct) points at: the
/// struct named `name` of the set compiled with `abi`, looked for in `abi`
/// first. Its ABI's name, whether it is page-dependent, and its kind.
pub(crate) fn named(abi: &Abi, name: &str) -> Option<(String, bool, kho_layout::Kind)> {
    if let Some((s, n)) = abi.find(name) {
        return Some((n.abi.clone(), page_dependent(n), s.kind));
    }
    let set = abi.shared_set();
    set.structs
        .iter()
        .zip(&set.notes)
        .find(|(s, _)| s.name == name)
        .map(|(s, n)| (n.abi.clone(), page_dependent(n), s.kind))
}

/// Whether struct `i` of the ABI is laid out differently for some page
/// size.
pub(crate) fn page_dependent(_note: &Note) -> bool {
    false
}

/// How the schema spells field `i`'s base type (`unsigned int`, `u64`,
/// `kho_vmalloc`), when it spells it at all.
pub(crate) fn field_c_type(_note: &Note, _i: usize) -> Option<&str> {
    None
}

/// The count field of flexible array field `i`.
pub(crate) fn field_count(_note: &Note, _i: usize) -> Option<&str> {
    None
}
