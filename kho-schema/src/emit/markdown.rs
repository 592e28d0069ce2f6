//! Markdown layout tables: what a reviewer reads to see an ABI at a glance,
//! every offset and size spelled out, and how many entries a block holds.

use kho_layout::format::{HEADER_SIZE as BLOCK_HEADER_SIZE, PAGE_SIZES};
use kho_layout::{Elem, Struct, Ty};

use crate::layout::{Abi, Note};
use crate::parse::ConstValue;

/// The layout tables for `abi`. `all` holds the ABIs its structs may refer
/// to (for naming where a struct comes from).
pub fn tables(abi: &Abi, _all: &[Abi]) -> String {
    let mut out = format!("<!-- {} -->\n\n", super::banner(abi));
    out.push_str(&format!(
        "# {} (compatible `{}`)\n\n",
        abi.name, abi.compatible
    ));
    let doc = abi.doc.trim();
    if !doc.is_empty() {
        out.push_str(doc);
        out.push_str("\n\n");
    }
    out.push_str(&format!(
        "Version {}. C header `<{}>`, compatible string in `{}`.",
        abi.version, abi.c.header, abi.c.compatible_macro
    ));
    if !abi.depends.is_empty() {
        let deps: Vec<String> = abi.depends.iter().map(|d| format!("`{d}`")).collect();
        out.push_str(&format!(" Builds on {}.", deps.join(", ")));
    }
    out.push_str(&format!(
        " Layout fingerprint `{:#018x}`.\n",
        abi.fingerprint()
    ));

    if !abi.constants.is_empty() {
        out.push_str("\n## Constants\n\n| name | value | doc |\n| --- | --- | --- |\n");
        for k in &abi.constants {
            let value = match &k.value {
                ConstValue::Int(n) if *n > 0xffff => format!("`{n:#x}` ({n})"),
                ConstValue::Int(n) => format!("`{n}`"),
                ConstValue::Str(s) => format!("`{s:?}`"),
                ConstValue::C(expr) => format!("`{expr}` (C)"),
            };
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                k.name,
                cell(&value),
                cell(&k.doc)
            ));
        }
    }

    for (s, note) in abi.items() {
        out.push('\n');
        out.push_str(&struct_section(abi, s, note));
    }
    out
}

fn struct_section(abi: &Abi, s: &Struct, note: &Note) -> String {
    let mut out = format!("## struct {} ({} bytes)\n\n", s.name, s.size);
    let doc = note.doc.trim();
    if !doc.is_empty() {
        out.push_str(doc);
        out.push_str("\n\n");
    }
    out.push_str(&format!("Fingerprint `{:#018x}`.", note.fingerprint));
    if note.entry {
        out.push_str(" Block-set entry.");
    }
    out.push_str("\n\n| offset | size | type | field | doc |\n| --- | --- | --- | --- | --- |\n");
    for (f, doc) in s.fields.iter().zip(&note.field_docs) {
        out.push_str(&format!(
            "| {} | {} | {} | `{}` | {} |\n",
            f.offset,
            f.size,
            cell(&type_cell(abi, &f.ty)),
            f.name,
            cell(doc)
        ));
    }
    if note.entry {
        out.push_str(&format!(
            "\nEntries per block, `(page - {BLOCK_HEADER_SIZE}) / {}`:\n\n\
             | page size | entries per block |\n| --- | --- |\n",
            s.size
        ));
        for page in PAGE_SIZES {
            let n = page
                .saturating_sub(BLOCK_HEADER_SIZE)
                .checked_div(s.size)
                .unwrap_or(0);
            out.push_str(&format!("| {page} | {n} |\n"));
        }
    }
    out
}

/// The type as the schema writes it; when a length is a constant, the
/// numeric form follows: `` `char[LEN]` (`char[48]`) ``. A struct of
/// another ABI names that ABI.
fn type_cell(abi: &Abi, ty: &Ty) -> String {
    let named = type_text(ty, true);
    let numeric = type_text(ty, false);
    let mut out = if named == numeric {
        format!("`{named}`")
    } else {
        format!("`{named}` (`{numeric}`)")
    };
    if let Some((_, note)) = abi.nested(ty).filter(|(_, n)| n.abi != abi.name) {
        out.push_str(&format!(" from `{}`", note.abi));
    }
    out
}

fn type_text(ty: &Ty, named: bool) -> String {
    let (elem, dims) = ty.split();
    let base = match elem {
        Elem::Prim(p) => p.name(),
        Elem::Struct(s) => s.name(),
        Elem::Ptr(target) => return format!("khoser_ptr<{target}>"),
    };
    let dims: String = dims
        .iter()
        .map(|l| match (&l.constant, named) {
            (Some(c), true) => format!("[{c}]"),
            _ => format!("[{}]", l.value),
        })
        .collect();
    format!("{base}{dims}")
}

/// Text fit for one table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compile, Source};

    #[test]
    fn tables_show_layout_entries_and_constants() {
        let text = r#"
[abi]
name = "t"
version = 3
doc = "An ABI | with a pipe."
[constants]
LEN = { value = 48, doc = "A length." }
MAGIC = 0x4c565550
[[struct]]
name = "e"
entry = true
doc = "An entry."
fields = [
    { name = "name", type = "char[LEN]", doc = "Its name." },
    { name = "grid", type = "u8[2][3]" },
    { name = "pa", type = "phys_addr", doc = "Multi\nline." },
    { name = "pad", type = "u16" },
]
"#;
        let all = compile(&[Source::new("dir/t.toml", text)]).unwrap_or_else(|d| panic!("{d}"));
        let md = tables(&all[0], &all);
        let (s, note) = all[0].items().next().unwrap();
        assert_eq!(s.size, 64);
        assert!(md.starts_with(
            "<!-- Generated by `kho-abi generate` from schemas/t.toml: do not edit. -->\n\n\
             # t (compatible `t-v3`)\n\nAn ABI | with a pipe.\n\n"
        ));
        assert!(md.contains("| `LEN` | `48` | A length. |\n"), "{md}");
        assert!(
            md.contains("| `MAGIC` | `0x4c565550` (1280726352) |  |\n"),
            "{md}"
        );
        assert!(
            md.contains("## struct e (64 bytes)\n\nAn entry.\n\n"),
            "{md}"
        );
        assert!(md.contains(&format!(
            "Fingerprint `{:#018x}`. Block-set entry.",
            note.fingerprint
        )));
        assert!(
            md.contains("| 0 | 48 | `char[LEN]` (`char[48]`) | `name` | Its name. |\n"),
            "{md}"
        );
        assert!(md.contains("| 48 | 6 | `u8[2][3]` | `grid` |  |\n"), "{md}");
        assert!(
            md.contains("| 54 | 8 | `phys_addr` | `pa` | Multi line. |\n"),
            "{md}"
        );
        assert!(
            md.contains("| 4096 | 63 |\n| 16384 | 255 |\n| 65536 | 1023 |\n"),
            "{md}"
        );
    }
}
