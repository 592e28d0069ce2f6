//! An ABI's contract as the diff compares it: from a compiled schema (with
//! doc text) or from the lock file's recorded layout text (without). The
//! structs are the layout model's, as the lock text records them
//! ([`LockStruct`]); doc text is beside them.

use kho_layout::{LockStruct, LockText};

use crate::layout::Abi;
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
}

/// The doc text of one struct and of its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDocs {
    /// The struct's.
    pub doc: String,
    /// Each field's, in field order.
    pub fields: Vec<String>,
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
                    value: const_text(&c.value),
                    doc: Some(c.doc.clone()),
                })
                .collect(),
            structs: abi
                .items()
                .map(|(s, n)| LockStruct {
                    page: None,
                    layout: s.clone(),
                    entry: n.entry,
                    fingerprint: Some(n.fingerprint),
                })
                .collect(),
            docs: abi
                .notes()
                .iter()
                .map(|n| StructDocs {
                    doc: n.doc.clone(),
                    fields: n.field_docs.clone(),
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
                })
                .collect(),
            structs: parsed.structs,
            docs: Vec::new(),
        })
    }

    /// The struct named `name`.
    pub fn find(&self, name: &str) -> Option<&LockStruct<'static>> {
        self.structs.iter().find(|s| s.layout.name == name)
    }

    /// The doc text of the struct named `name`, when known.
    pub fn docs_of(&self, name: &str) -> Option<&StructDocs> {
        let i = self.structs.iter().position(|s| s.layout.name == name)?;
        self.docs.get(i)
    }
}
