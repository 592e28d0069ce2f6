//! Markdown layout tables: what a reviewer reads to see an ABI at a glance,
//! every offset and size spelled out, and how many entries a block holds.

use kho_layout::format::{HEADER_SIZE as BLOCK_HEADER_SIZE, PAGE_SIZES};
use kho_layout::{Elem, Kind, Struct, Ty};

use super::ir;
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
        out.push_str(&super::ir::fence_indented(doc));
        out.push_str("\n\n");
    }
    let holder = if abi.c.version_macro {
        "version number"
    } else {
        "compatible string"
    };
    out.push_str(&format!(
        "Version {}. C header `<{}>`, {holder} in `{}`.",
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

    let compats = ir::compatibles(abi);
    if compats.len() > 1 {
        out.push_str(
            "\n## Compatible strings\n\n| macro | string | covers |\n| --- | --- | --- |\n",
        );
        for c in compats {
            let covers = if c.main {
                "every other struct".to_string()
            } else {
                c.structs
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!(
                "| `{}` | `{}` | {} |\n",
                c.macro_name,
                cell(&c.value),
                cell(&covers)
            ));
        }
    }
    if ir::draft(abi) {
        out.push_str("\n**Draft**: not released; the layout may change without a new version.\n");
    }

    if !abi.constants.is_empty() {
        out.push_str("\n## Constants\n\n| name | value | doc |\n| --- | --- | --- |\n");
        for k in &abi.constants {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                k.name,
                cell(&const_cell(k)),
                cell(&k.doc)
            ));
        }
    }

    for (i, (s, note)) in abi.items().enumerate() {
        out.push('\n');
        out.push_str(&struct_section(abi, i, s, note));
    }
    out
}

/// A constant's value cell: the value (at each page size when it depends
/// on it), the expression it comes from, the header defining it.
fn const_cell(k: &crate::layout::Constant) -> String {
    let num = |n: u64| {
        if n > 0xffff {
            format!("`{n:#x}` ({n})")
        } else {
            format!("`{n}`")
        }
    };
    let values = ir::const_values(k);
    let mut out = match &k.value {
        _ if values.windows(2).any(|w| w[0].1 != w[1].1) => values
            .iter()
            .map(|&(p, n)| format!("{} ({} KiB pages)", num(n), p / 1024))
            .collect::<Vec<_>>()
            .join(", "),
        _ if !values.is_empty() => values.first().map_or(String::new(), |&(_, n)| num(n)),
        ConstValue::Int(n) => num(*n),
        ConstValue::Str(s) => format!("`{s:?}`"),
        ConstValue::C(expr) => format!("`{expr}` (C)"),
    };
    if let Some(expr) = ir::const_expr(k) {
        out.push_str(&format!(
            " = `{}`",
            expr.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    if let Some(h) = ir::const_external(k) {
        out.push_str(&format!(" (defined by `<{h}>`)"));
    }
    match ir::const_enum(k) {
        Some("") => out.push_str(" (an anonymous enum's member)"),
        Some(tag) => out.push_str(&format!(" (member of `enum {tag}`)")),
        None => {}
    }
    out
}

fn struct_section(abi: &Abi, i: usize, s: &Struct, note: &Note) -> String {
    let kw = match s.kind {
        Kind::Union => "union",
        Kind::Struct => "struct",
    };
    let mut attrs = Vec::new();
    if s.packed {
        attrs.push("packed".to_string());
    }
    attrs.push(format!("align {}", s.align));
    let mut out = format!(
        "## {kw} {} ({} bytes, {})\n\n",
        s.name,
        s.size,
        attrs.join(", ")
    );
    let doc = note.doc.trim();
    if !doc.is_empty() {
        out.push_str(&super::ir::fence_indented(doc));
        out.push_str("\n\n");
    }
    out.push_str(&format!("Fingerprint `{:#018x}`.", note.fingerprint));
    if note.entry {
        out.push_str(" Block-set entry.");
    }
    let compats = ir::compatibles(abi);
    if compats.len() > 1 {
        if let Some(c) = ir::macro_of(compats, &s.name) {
            out.push_str(&format!(" Covered by `{}`.", c.macro_name));
        }
    }
    let bits = s.fields.iter().any(|f| f.bits.is_some());
    out.push_str(if bits {
        "\n\n| offset | size | bits | type | field | doc |\n| --- | --- | --- | --- | --- | --- |\n"
    } else {
        "\n\n| offset | size | type | field | doc |\n| --- | --- | --- | --- | --- |\n"
    });
    let pad_row = |at: usize, len: usize| {
        if bits {
            format!("| {at} | {len} |  |  | *padding* |  |\n")
        } else {
            format!("| {at} | {len} |  | *padding* |  |\n")
        }
    };
    // The end of what the fields so far cover (a union's members overlap).
    let mut end = 0usize;
    for (fi, (f, doc)) in s.fields.iter().zip(&note.field_docs).enumerate() {
        if s.kind == Kind::Struct && f.offset > end {
            out.push_str(&pad_row(end, f.offset - end));
        }
        end = end.max(f.offset.saturating_add(f.size));
        let mut ty = type_cell(abi, &f.ty);
        // The kernel's spelling of a primitive (`unsigned int` for u32).
        let spelling = ir::field_c_type(note, fi).filter(|_| matches!(f.ty.base(), Ty::Prim(_)));
        if let Some(bits) = spelling.and_then(ir::bitmap_bits) {
            ty.push_str(&format!(" (C `DECLARE_BITMAP({}, {bits})`)", f.name));
        } else if let Some(spelled) = spelling {
            if !ty.contains(&format!("`{spelled}")) {
                ty.push_str(&format!(" (C `{spelled}`)"));
            }
        }
        if f.ty.is_flex() {
            match ir::field_count(note, fi) {
                Some(count) => ty.push_str(&format!(", `{count}` elements")),
                None => ty.push_str(", flexible"),
            }
        }
        let bit_cell = match f.bits {
            // Most significant first, as the kernel's diagrams number them.
            Some(b) => format!(
                "{}:{} | ",
                (u32::from(b.first) + u32::from(b.width)).saturating_sub(1),
                b.first
            ),
            None if bits => " | ".to_string(),
            None => String::new(),
        };
        out.push_str(&format!(
            "| {} | {} | {bit_cell}{} | `{}` | {} |\n",
            f.offset,
            f.size,
            cell(&ty),
            f.name,
            cell(doc)
        ));
    }
    if s.size > end {
        out.push_str(&pad_row(end, s.size - end));
    }
    if ir::page_dependent(note) {
        out.push_str(&per_page(abi, i, s));
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

/// The size and each field's offset and size at every page size, for a
/// struct whose layout depends on it.
fn per_page(abi: &Abi, i: usize, s: &Struct) -> String {
    let pages = ir::pages(abi);
    let mut out = String::from("\nBy page size:\n\n| | ");
    out.push_str(
        &pages
            .iter()
            .map(|p| format!("{} KiB", p / 1024))
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n| ---");
    out.push_str(&" | ---".repeat(pages.len()));
    out.push_str(" |\n");
    let at = |p: usize| ir::structs_at(abi, p).0.get(i);
    let row = |label: String, get: &dyn Fn(&Struct) -> String| {
        let cells: Vec<String> = pages
            .iter()
            .map(|&p| at(p).map_or("?".to_string(), get))
            .collect();
        format!("| {label} | {} |\n", cells.join(" | "))
    };
    out.push_str(&row("size".into(), &|s| s.size.to_string()));
    for f in s.fields.iter() {
        let name = f.name.as_str().to_string();
        out.push_str(&row(format!("`{name}` offset, size"), &|s| {
            s.field(&name)
                .map_or("?".to_string(), |f| format!("{}, {}", f.offset, f.size))
        }));
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
    let flex = if ty.is_flex() { "[]" } else { "" };
    let dims: String = dims
        .iter()
        .map(|l| match (&l.constant, named) {
            (Some(c), true) => format!("[{c}]"),
            _ => format!("[{}]", l.value),
        })
        .collect();
    format!("{base}{flex}{dims}")
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
            md.contains("## struct e (64 bytes, packed, align 1)\n\nAn entry.\n\n"),
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

    #[test]
    fn tables_show_bits_padding_unions_and_pointers() {
        let all = crate::emit::testing::constructs("linux/kho/abi/t.h");
        let md = tables(&all[0], &all);
        assert!(md.contains("## struct s (32 bytes, align 32)\n"), "{md}");
        assert!(
            md.contains(
                "| offset | size | bits | type | field | doc |\n\
                 | --- | --- | --- | --- | --- | --- |\n\
                 | 0 | 8 | 51:0 | `u64` | `pfn` | The frame. |\n\
                 | 0 | 8 | 63:52 | `u64` | `flags` |  |\n\
                 | 8 | 8 |  | `khoser_ptr<chunk>` | `first` |  |\n\
                 | 16 | 4 |  | `u32` | `n` |  |\n\
                 | 20 | 0 |  | `u32[]`, flexible | `devices` |  |\n\
                 | 20 | 12 |  |  | *padding* |  |\n"
            ),
            "{md}"
        );
        // A union's members overlap: no padding between them.
        assert!(
            md.contains("## union u (8 bytes, align 8)\n\nFingerprint `"),
            "{md}"
        );
        assert!(
            md.contains("| 0 | 8 | `u64` | `phys` |  |\n| 0 | 4 | `u32` | `lo` |  |\n"),
            "{md}"
        );
    }
}
