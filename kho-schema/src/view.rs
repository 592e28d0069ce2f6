//! A flat view of an ABI's contract, for comparing two versions of it: from
//! a compiled schema (with doc text) or from the lock file's recorded
//! layout text (without).

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
    /// Structs in order.
    pub structs: Vec<StructView>,
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

/// A struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructView {
    /// C name.
    pub name: String,
    /// Size.
    pub size: usize,
    /// Whether it is a block-set entry.
    pub entry: bool,
    /// Doc text, when known.
    pub doc: Option<String>,
    /// Fields in order.
    pub fields: Vec<FieldView>,
    /// The struct's layout fingerprint (which covers its nested structs),
    /// when known: `None` from a lock written before fingerprints were
    /// recorded per struct.
    pub fingerprint: Option<u64>,
}

/// A field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldView {
    /// Name.
    pub name: String,
    /// Type as the canonical text writes it (`u8[48]`, `char[48]`).
    pub ty: String,
    /// Offset.
    pub offset: usize,
    /// Size.
    pub size: usize,
    /// Doc text, when known.
    pub doc: Option<String>,
}

/// How a constant's value is written in the layout text.
pub fn const_text(v: &ConstValue) -> String {
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
                .structs
                .iter()
                .map(|s| StructView {
                    name: s.name.clone(),
                    size: s.size,
                    entry: s.entry,
                    doc: Some(s.doc.clone()),
                    fingerprint: Some(s.fingerprint),
                    fields: s
                        .layout
                        .fields
                        .iter()
                        .zip(&s.fields)
                        .map(|(l, f)| FieldView {
                            name: f.name.clone(),
                            ty: l.ty.to_string(),
                            offset: f.offset,
                            size: f.size,
                            doc: Some(f.doc.clone()),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The view recorded in a lock file: the ABI's layout text (see
    /// [`Abi::layout_text`]) parsed back, line by line (no recursion, and
    /// linear in the text). `None` if the text is malformed.
    pub fn from_layout_text(
        name: &str,
        compatible: &str,
        fingerprint: u64,
        text: &str,
    ) -> Option<Self> {
        let mut v = AbiView {
            name: name.to_string(),
            compatible: compatible.to_string(),
            version: None,
            depends: Vec::new(),
            fingerprint,
            doc: None,
            constants: Vec::new(),
            structs: Vec::new(),
        };
        let mut entries = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("const ") {
                let (n, val) = rest.split_once(" = ")?;
                v.constants.push(ConstView {
                    name: n.to_string(),
                    value: val.to_string(),
                    doc: None,
                });
            } else if let Some(rest) = line.strip_prefix("entry ") {
                entries.insert(rest.to_string());
            } else if let Some(rest) = line.strip_prefix("struct ") {
                // `<name> size <size>[ fingerprint <0x..>]`
                let parts: Vec<&str> = rest.split(' ').collect();
                let (n, size, fp) = match parts.as_slice() {
                    [n, "size", size] => (*n, *size, None),
                    [n, "size", size, "fingerprint", fp] => {
                        let fp = fp
                            .strip_prefix("0x")
                            .and_then(|h| u64::from_str_radix(h, 16).ok())?;
                        (*n, *size, Some(fp))
                    }
                    _ => return None,
                };
                v.structs.push(StructView {
                    name: n.to_string(),
                    size: size.parse().ok()?,
                    entry: entries.contains(n),
                    doc: None,
                    fields: Vec::new(),
                    fingerprint: fp,
                });
            } else if let Some(field) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
                let s = v.structs.last_mut()?;
                // `<name> <type> offset <o> size <s>`
                let parts: Vec<&str> = field.split(' ').collect();
                let [fname, ty, "offset", offset, "size", size] = parts.as_slice() else {
                    return None;
                };
                s.fields.push(FieldView {
                    name: fname.to_string(),
                    ty: ty.to_string(),
                    offset: offset.parse().ok()?,
                    size: size.parse().ok()?,
                    doc: None,
                });
            } else if line.starts_with("    ") {
                // A nested struct inlined by a lock of the old format.
                v.structs.last_mut()?;
            } else if !line.is_empty() {
                return None;
            }
        }
        Some(v)
    }

    /// The struct named `name`.
    pub fn find(&self, name: &str) -> Option<&StructView> {
        self.structs.iter().find(|s| s.name == name)
    }
}
