//! An ABI's contract as the diff compares it: from a compiled schema (with
//! doc text) or from the lock file's recorded layout text (without). The
//! structs are the layout model's, as the lock text records them
//! ([`LockStruct`]); doc text is beside them.

use kho_layout::{LockStruct, LockText};

use crate::layout::{Abi, Constant};
use crate::parse::ConstValue;

/// One ABI as the diff sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiView {
    /// ABI name.
    pub name: String,
    /// Composed compatible string.
    pub compatible: String,
    /// Own version (`None` from a lock file).
    pub version: Option<u64>,
    /// The ABIs it builds on.
    pub depends: Vec<String>,
    /// The layout fingerprint.
    pub fingerprint: u64,
    /// ABI doc text, when known.
    pub doc: Option<String>,
    /// Constants in order.
    pub constants: Vec<ConstView>,
    /// Structs in order: layout, entry, fingerprint.
    pub structs: Vec<LockStruct<'static>>,
    /// Doc text of each struct, `structs[i]`'s at `i`; empty from a lock.
    pub docs: Vec<StructDocs>,
    /// The schema file, when known.
    pub file: Option<String>,
    /// Where the schema names the ABI (`[abi] name`): the place of a
    /// finding about something no longer in it.
    pub span: Option<(usize, usize)>,
    /// Whether the ABI is a draft (not released).
    pub draft: bool,
    /// Every compatible macro, the main one first (from a lock: as it
    /// records them; empty for a lock of before several macros).
    pub macros: Vec<MacroView>,
}

/// One compatible macro as the diff sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroView {
    /// The C macro.
    pub macro_name: String,
    /// Its string.
    pub compatible: String,
    /// The structs its version covers.
    pub structs: Vec<String>,
    /// Whether it is the ABI's main macro.
    pub main: bool,
}

/// A constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstView {
    /// Name.
    pub name: String,
    /// Value as the layout text writes it.
    pub value: String,
    /// Doc text, when known.
    pub doc: Option<String>,
    /// Where the schema declares it (1-based line and column), when known.
    pub span: Option<(usize, usize)>,
}

/// The doc text of one struct and of its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDocs {
    /// The struct's.
    pub doc: String,
    /// Each field's, in field order.
    pub fields: Vec<String>,
    /// Where each field is declared: 1-based line and column.
    pub spans: Vec<(usize, usize)>,
    /// Where the struct is declared.
    pub span: Option<(usize, usize)>,
    /// The compatible macro that covers it.
    pub compatible_macro: Option<String>,
}

/// How a constant's value is written in the layout text: its value, or
/// for one that differs between page sizes `4096:511 16384:2047
/// 65536:8191`. The expression's text is not part of it (rewriting an
/// expression to the same values is not a change); an external constant
/// is its value for layout.
pub(crate) fn constant_text(c: &Constant) -> String {
    if c.page_dependent() {
        let per: Vec<String> = c.values.iter().map(|(p, v)| format!("{p}:{v}")).collect();
        return per.join(" ");
    }
    const_text(&c.value)
}

/// How a constant's value is written in the layout text.
pub(crate) fn const_text(v: &ConstValue) -> String {
    match v {
        ConstValue::Int(n) => n.to_string(),
        ConstValue::Str(s) => format!("{s:?}"),
        ConstValue::C(s) => format!("c({s})"),
    }
}

impl AbiView {
    /// The view of a compiled ABI.
    pub fn of(abi: &Abi) -> Self {
        AbiView {
            name: abi.name.clone(),
            compatible: abi.compatible.clone(),
            version: Some(abi.version),
            depends: abi.depends.clone(),
            fingerprint: abi.fingerprint(),
            doc: Some(abi.doc.clone()),
            constants: abi
                .constants
                .iter()
                .map(|c| ConstView {
                    name: c.name.clone(),
                    value: constant_text(c),
                    doc: Some(c.doc.clone()),
                    span: Some(c.span),
                })
                .collect(),
            structs: abi
                .recorded()
                .into_iter()
                .map(|(s, n, page)| LockStruct {
                    layout: s.clone(),
                    entry: n.entry,
                    fingerprint: Some(n.fingerprint),
                    page,
                })
                .collect(),
            docs: abi
                .recorded()
                .into_iter()
                .map(|(_, n, _)| StructDocs {
                    doc: n.doc.clone(),
                    fields: n.field_docs.clone(),
                    spans: n.field_spans.clone(),
                    span: Some(n.span),
                    compatible_macro: Some(n.compatible_macro.clone()),
                })
                .collect(),
            file: Some(abi.file.clone()),
            span: abi.compatibles().first().map(|c| c.span),
            draft: abi.draft,
            macros: abi
                .compatibles()
                .iter()
                .map(|c| MacroView {
                    macro_name: c.macro_name.clone(),
                    compatible: c.value.clone(),
                    structs: c.structs.clone(),
                    main: c.main,
                })
                .collect(),
        }
    }

    /// The view recorded in a lock file: the ABI's layout text (see
    /// [`Abi::layout_text`]) parsed back by [`LockText::parse`]. `None` if
    /// the text is malformed.
    pub fn from_layout_text(
        name: &str,
        compatible: &str,
        fingerprint: u64,
        text: &str,
    ) -> Option<Self> {
        let parsed = LockText::parse(text)?;
        Some(AbiView {
            name: name.to_string(),
            compatible: compatible.to_string(),
            version: None,
            depends: Vec::new(),
            fingerprint,
            doc: None,
            constants: parsed
                .constants
                .into_iter()
                .map(|(name, value)| ConstView {
                    name,
                    value,
                    doc: None,
                    span: None,
                })
                .collect(),
            structs: parsed.structs,
            docs: Vec::new(),
            file: None,
            span: None,
            draft: false,
            macros: Vec::new(),
        })
    }

    /// The struct named `name` (its 4 KiB layout when it depends on the
    /// page size).
    pub fn find(&self, name: &str) -> Option<&LockStruct<'static>> {
        self.structs.iter().find(|s| s.layout.name == name)
    }

    /// The struct named `name` as laid out for `page` (`None`: the same
    /// for every page size), or its one layout when that does not depend
    /// on the page size.
    pub fn find_at(&self, name: &str, page: Option<usize>) -> Option<&LockStruct<'static>> {
        self.structs
            .iter()
            .find(|s| s.layout.name == name && s.page == page)
            .or_else(|| {
                self.structs
                    .iter()
                    .find(|s| s.layout.name == name && s.page.is_none())
            })
            .or_else(|| self.find(name))
    }

    /// The compatible macro that covers struct `name`: as the schema says,
    /// or as the lock records, or the main one.
    pub fn macro_of(&self, name: &str) -> Option<&MacroView> {
        self.macros
            .iter()
            .find(|m| m.structs.iter().any(|s| s == name))
            .or_else(|| self.macros.iter().find(|m| m.main))
    }

    /// The doc text of the struct named `name`, when known.
    pub fn docs_of(&self, name: &str) -> Option<&StructDocs> {
        let i = self.structs.iter().position(|s| s.layout.name == name)?;
        self.docs.get(i)
    }
}
