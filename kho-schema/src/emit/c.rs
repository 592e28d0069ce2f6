//! Kernel-style C headers: one per ABI, a drop-in for the hand-written
//! `include/linux/kho/abi/*.h` of the kernel. Kernel types (`u64`, `s32`),
//! `__packed` structs with kernel-doc comments, and a `static_assert` on the
//! size of each struct so the kernel's compiler checks the layout too.

use std::collections::BTreeSet;

use kho_layout::{Elem, Len, Prim, Struct, Ty};

use crate::layout::{Abi, Note};
use crate::parse::ConstValue;

/// Where the kernel declares `static_assert`; every header needs it.
const BUILD_BUG_H: &str = "linux/build_bug.h";
/// Kernel comments are wrapped to this many columns.
const WIDTH: usize = 80;

/// The C header for `abi`. `all` holds the ABIs its structs may refer to;
/// their headers are included when one of their structs is used.
pub fn header(abi: &Abi, all: &[Abi]) -> String {
    let guard = guard(&abi.c.header);
    let mut out = String::new();
    out.push_str("/* SPDX-License-Identifier: GPL-2.0 */\n");
    out.push_str(&format!(
        "/*\n * {}\n * Layout fingerprint: {:#018x}.\n */\n\n",
        super::banner(abi),
        abi.fingerprint()
    ));
    out.push_str(&doc_block(abi));
    out.push_str(&format!("\n#ifndef {guard}\n#define {guard}\n\n"));
    for line in include_lines(abi, all) {
        out.push_str(&line);
        out.push('\n');
    }

    out.push('\n');
    let mut c = Comment::kernel_doc();
    c.brief(
        &format!("{} - ", abi.c.compatible_macro),
        "The compatible string of this ABI.",
    );
    c.blank();
    c.paragraph(&compatible_note(abi));
    out.push_str(&c.finish());
    out.push_str(&format!(
        "#define {} {}\n",
        abi.c.compatible_macro,
        c_string(&abi.compatible)
    ));

    for k in &abi.constants {
        out.push('\n');
        let mut c = Comment::kernel_doc();
        doc_with_brief(&mut c, &format!("{} - ", k.name), &k.doc, &[]);
        out.push_str(&c.finish());
        let value = match &k.value {
            ConstValue::Int(n) => int_literal(*n),
            ConstValue::Str(s) => c_string(s),
            ConstValue::C(expr) => expr.clone(),
        };
        out.push_str(&format!("#define {} {value}\n", k.name));
    }

    for (s, note) in definition_order(abi) {
        out.push('\n');
        out.push_str(&struct_text(s, note));
    }
    out.push_str(&format!("\n#endif /* {guard} */\n"));
    out
}

/// The include guard of a header path: `linux/kho/abi/block.h` ->
/// `_LINUX_KHO_ABI_BLOCK_H`.
pub(crate) fn guard(header: &str) -> String {
    crate::layout::include_guard(header)
}

/// The `#include` lines, in order: the schema's own headers, then
/// `linux/build_bug.h` (for `static_assert`), then the header of each
/// dependency one of whose structs is used, in `depends` order. A
/// dependency missing from `all` (a caller's mistake) becomes an `#error`
/// where the header is compiled, not a silent guess at its path.
fn include_lines(abi: &Abi, all: &[Abi]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |line: String| {
        if !out.contains(&line) {
            out.push(line);
        }
    };
    for inc in &abi.c.includes {
        push(format!("#include <{inc}>"));
    }
    push(format!("#include <{BUILD_BUG_H}>"));
    let used = used_dependencies(abi);
    let ordered = abi
        .depends
        .iter()
        .filter(|d| used.contains(d.as_str()))
        .chain(used.iter().filter(|u| !abi.depends.contains(u)));
    for dep in ordered {
        match all.iter().find(|a| a.name == *dep) {
            Some(d) => push(format!("#include <{}>", d.c.header)),
            None => push(format!(
                "#error \"kho-schema: the {dep} ABI was not given to the C emitter\""
            )),
        }
    }
    out
}

/// Names of the other ABIs whose structs `abi`'s fields use.
fn used_dependencies(abi: &Abi) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in abi.structs() {
        for f in s.fields.iter() {
            if let Some((_, note)) = abi.nested(&f.ty) {
                if note.abi != abi.name {
                    out.insert(note.abi.clone());
                }
            }
        }
    }
    out
}

/// Structs in declaration order, except that a struct used by value in
/// another comes first (C needs a complete type). Stable: a schema already
/// in order comes out unchanged.
fn definition_order(abi: &Abi) -> Vec<(&Struct<'static>, &Note)> {
    let index: std::collections::BTreeMap<&str, usize> = abi
        .structs()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let children: Vec<Vec<usize>> = abi
        .structs()
        .iter()
        .map(|s| {
            s.fields
                .iter()
                .filter_map(|f| abi.nested(&f.ty))
                .filter(|(_, note)| note.abi == abi.name)
                .filter_map(|(n, _)| index.get(n.name.as_str()).copied())
                .collect()
        })
        .collect();
    // Without recursion: nesting may be deep (up to layout::MAX_NESTING).
    let items: Vec<_> = abi.items().collect();
    crate::validate::post_order(&children, |_| {})
        .into_iter()
        .filter_map(|i| items.get(i).copied())
        .collect()
}

/// The `DOC:` block: the first paragraph of the doc is the title when it
/// fits on the `DOC:` line, otherwise the title is `<name> ABI`.
fn doc_block(abi: &Abi) -> String {
    let paras = paragraphs(&abi.doc);
    let title_of = |p: &Para| match p {
        Para::Flow(text) => {
            let t = text.strip_suffix('.').unwrap_or(text);
            (" * DOC: ".len() + t.chars().count() <= WIDTH).then(|| t.to_string())
        }
        Para::Pre(_) => None,
    };
    let (title, body) = match paras.split_first() {
        Some((first, rest)) => match title_of(first) {
            Some(t) => (t, rest),
            None => (format!("{} ABI", abi.name), &paras[..]),
        },
        None => (format!("{} ABI", abi.name), &paras[..]),
    };
    let mut c = Comment::kernel_doc();
    c.line(&format!("DOC: {title}"));
    for p in body {
        c.blank();
        c.para(p);
    }
    c.finish()
}

/// What the compatible macro's comment says about versions.
fn compatible_note(abi: &Abi) -> String {
    let mut s = String::from(
        "The next kernel restores only an exact match of this string, so any change to the \
         layout below needs a new version.",
    );
    if !abi.depends.is_empty() {
        s.push_str(&format!(
            " It is {}-v{} composed with the strings of the ABIs it builds on: {}.",
            abi.name,
            abi.version,
            abi.depends.join(", ")
        ));
    }
    s
}

/// A struct's kernel-doc comment, definition and size assertion.
fn struct_text(s: &Struct, note: &Note) -> String {
    let mut c = Comment::kernel_doc();
    let fields: Vec<(String, String)> = s
        .fields
        .iter()
        .zip(&note.field_docs)
        .map(|(f, doc)| (format!("@{}: ", f.name), flow(doc, "undocumented.")))
        .collect();
    doc_with_brief(&mut c, &format!("struct {} - ", s.name), &note.doc, &fields);
    let mut out = c.finish();
    out.push_str(&format!("struct {} {{\n", s.name));
    for f in s.fields.iter() {
        out.push_str(&format!("\t{};\n", declaration(&f.ty, &f.name)));
    }
    out.push_str("} __packed;\n");
    out.push_str(&format!(
        "static_assert(sizeof(struct {}) == {});\n",
        s.name, s.size
    ));
    out
}

/// A member declaration: `u64 reserved[13]`, `char name[LEN]`,
/// `struct luo_file_set_ser file_set_ser`, `u8 x[2][3]`.
pub(crate) fn declaration(ty: &Ty, name: &str) -> String {
    let (elem, dims) = ty.split();
    let base = match elem {
        Elem::Prim(p) => prim(p).to_string(),
        Elem::Struct(s) => format!("struct {}", s.name()),
        Elem::Ptr(target) => return format!("DECLARE_KHOSER_PTR({name}, struct {target} *)"),
    };
    let dims: String = dims.iter().map(|l| format!("[{}]", len_text(l))).collect();
    format!("{base} {name}{dims}")
}

fn len_text(len: &Len) -> String {
    match &len.constant {
        Some(c) => c.to_string(),
        None => len.value.to_string(),
    }
}

/// The kernel's name of a primitive. A physical address crosses kernels
/// whose `phys_addr_t` may differ in size, so it is a `u64`.
fn prim(p: Prim) -> &'static str {
    match p {
        Prim::U8 => "u8",
        Prim::U16 => "u16",
        Prim::U32 => "u32",
        Prim::U64 | Prim::PhysAddr => "u64",
        Prim::I8 => "s8",
        Prim::I16 => "s16",
        Prim::I32 => "s32",
        Prim::I64 => "s64",
        Prim::Char => "char",
    }
}

/// Small numbers read best in decimal (lengths, versions, bits); large ones
/// are masks and magics, read best in hex.
fn int_literal(n: u64) -> String {
    if n > 0xffff {
        format!("{n:#x}")
    } else {
        n.to_string()
    }
}

/// A C string literal. Octal escapes take at most three digits, so unlike
/// `\x` they never swallow a following character.
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'?' => out.push_str("\\?"), // no trigraphs
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// Kernel-doc with a brief description: `lead` + the doc's first paragraph,
/// then `@field:` lines, then the rest of the doc.
fn doc_with_brief(c: &mut Comment, lead: &str, doc: &str, fields: &[(String, String)]) {
    let paras = paragraphs(doc);
    let (brief, rest) = match paras.split_first() {
        Some((Para::Flow(t), rest)) => (t.clone(), rest),
        _ => ("undocumented.".to_string(), &paras[..]),
    };
    c.brief(lead, &brief);
    for (lead, text) in fields {
        c.brief(lead, text);
    }
    for p in rest {
        c.blank();
        c.para(p);
    }
}

/// A paragraph of doc text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Para {
    /// Running text, reflowed to the comment's width.
    Flow(String),
    /// Lines kept as written: lists and indented text.
    Pre(Vec<String>),
}

/// Splits doc text into paragraphs at blank lines.
fn paragraphs(doc: &str) -> Vec<Para> {
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let mut flush = |cur: &mut Vec<&str>| {
        if cur.is_empty() {
            return;
        }
        let pre = cur.iter().any(|l| {
            l.starts_with([' ', '\t'])
                || l.starts_with("- ")
                || l.starts_with("* ")
                || l.starts_with("```")
        });
        out.push(if pre {
            Para::Pre(cur.iter().map(|l| l.trim_end().to_string()).collect())
        } else {
            Para::Flow(cur.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "))
        });
        cur.clear();
    };
    for line in doc.lines() {
        if line.trim().is_empty() {
            flush(&mut cur);
        } else {
            cur.push(line);
        }
    }
    flush(&mut cur);
    out
}

/// Doc text on one flowing line (for a field), or `fallback` if empty.
fn flow(doc: &str, fallback: &str) -> String {
    let words: Vec<&str> = doc.split_whitespace().collect();
    if words.is_empty() {
        fallback.to_string()
    } else {
        words.join(" ")
    }
}

/// Greedy word wrap: the first line has `first` columns, the others `rest`.
/// A word longer than a line gets a line of its own.
fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let limit = if lines.is_empty() { first } else { rest };
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > limit {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A block comment in kernel style, built line by line.
struct Comment {
    open: &'static str,
    lines: Vec<String>,
}

impl Comment {
    fn kernel_doc() -> Self {
        Comment {
            open: "/**",
            lines: Vec::new(),
        }
    }

    fn line(&mut self, text: &str) {
        self.lines.push(text.to_string());
    }

    fn blank(&mut self) {
        self.lines.push(String::new());
    }

    /// `lead` followed by `text`, wrapped; continuation lines start at the
    /// margin, as kernel-doc reads them.
    fn brief(&mut self, lead: &str, text: &str) {
        let width = WIDTH - 3;
        let lead_len = lead.chars().count();
        let wrapped = wrap(text, width.saturating_sub(lead_len).max(20), width);
        for (i, l) in wrapped.into_iter().enumerate() {
            if i == 0 {
                self.lines.push(format!("{lead}{l}"));
            } else {
                self.lines.push(l);
            }
        }
    }

    fn paragraph(&mut self, text: &str) {
        self.brief("", text);
    }

    fn para(&mut self, p: &Para) {
        match p {
            Para::Flow(t) => self.paragraph(t),
            Para::Pre(lines) => self.lines.extend(lines.iter().cloned()),
        }
    }

    fn finish(self) -> String {
        let mut out = format!("{}\n", self.open);
        for l in self.lines {
            // Doc text must not end the comment early.
            let l = l.replace("*/", "* /");
            let l = l.trim_end();
            if l.is_empty() {
                out.push_str(" *\n");
            } else {
                out.push_str(&format!(" * {l}\n"));
            }
        }
        out.push_str(" */\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compile, Source};

    fn abis(files: &[(&str, &str)]) -> Vec<Abi> {
        let srcs: Vec<_> = files.iter().map(|(p, t)| Source::new(*p, *t)).collect();
        compile(&srcs).unwrap_or_else(|d| panic!("{d}"))
    }

    #[test]
    fn guards_follow_the_header_path() {
        assert_eq!(guard("linux/kho/abi/block.h"), "_LINUX_KHO_ABI_BLOCK_H");
        assert_eq!(guard("linux/kho/abi/luo.h"), "_LINUX_KHO_ABI_LUO_H");
        assert_eq!(guard("a-b/c.h"), "_A_B_C_H");
    }

    #[test]
    fn literals() {
        assert_eq!(int_literal(48), "48");
        assert_eq!(int_literal(0xffff), "65535");
        assert_eq!(int_literal(0x4c56_5550), "0x4c565550");
        assert_eq!(int_literal(u64::MAX), "0xffffffffffffffff");
        assert_eq!(c_string("LUO"), "\"LUO\"");
        assert_eq!(
            c_string("a\"b\\c?\n1é"),
            "\"a\\\"b\\\\c\\?\\0121\\303\\251\""
        );
    }

    #[test]
    fn wrapping_keeps_words_and_width() {
        let text = "one two three four five six seven eight nine ten";
        let lines = wrap(text, 10, 14);
        assert_eq!(
            lines,
            ["one two", "three four", "five six seven", "eight nine ten"]
        );
        assert_eq!(wrap("", 10, 10), [""]);
        assert_eq!(
            wrap("a verylongwordindeed b", 5, 5),
            ["a", "verylongwordindeed", "b"]
        );
    }

    #[test]
    fn declarations_read_as_c_declares_them() {
        let text = r#"
[abi]
name = "dep"
version = 1
[abi.c]
header = "linux/kho/abi/dep.h"
[[struct]]
name = "d"
fields = [{ name = "x", type = "u32" }]
"#;
        let main = r#"
[abi]
name = "t"
version = 2
depends = ["dep"]
[constants]
N = 3
[[struct]]
name = "outer"
doc = "Outer, declared before what it holds."
fields = [
    { name = "inner", type = "inner[2]" },
    { name = "grid", type = "u8[2][N]" },
    { name = "names", type = "char[2][N]" },
    { name = "s", type = "i16" },
    { name = "pa", type = "phys_addr" },
    { name = "dd", type = "d" },
]
[[struct]]
name = "inner"
fields = [{ name = "y", type = "u64" }]
"#;
        let all = abis(&[("dep.toml", text), ("t.toml", main)]);
        let t = &all[1];
        let h = header(t, &all);
        assert!(h.contains("\tstruct inner inner[2];\n"), "{h}");
        assert!(h.contains("\tu8 grid[2][N];\n"), "{h}");
        assert!(h.contains("\tchar names[2][N];\n"), "{h}");
        assert!(h.contains("\ts16 s;\n\tu64 pa;\n\tstruct d dd;\n"), "{h}");
        // `inner` is defined before `outer`, which holds it by value.
        let inner = h.find("struct inner {").unwrap();
        let outer = h.find("struct outer {").unwrap();
        assert!(inner < outer, "{h}");
        assert!(
            h.contains("static_assert(sizeof(struct outer) == 42);"),
            "{h}"
        );
        assert_eq!(
            include_lines(t, &all),
            [
                "#include <linux/types.h>",
                "#include <linux/build_bug.h>",
                "#include <linux/kho/abi/dep.h>"
            ]
        );
        // Without the dependency's ABI the header says so where it is compiled.
        assert_eq!(
            include_lines(t, &all[1..])[2],
            "#error \"kho-schema: the dep ABI was not given to the C emitter\""
        );
        assert!(h.contains("@grid: undocumented.\n"), "{h}");
        assert!(h.contains(" * struct inner - undocumented.\n"), "{h}");
    }

    #[test]
    fn doc_title_and_comment_safety() {
        let text = r#"
[abi]
name = "t"
version = 1
doc = """
A title that is short.

Body text with a */ in it.

- a list item
- kept as written
"""
[constants]
S = { value = "x", doc = "Short." }
[[struct]]
name = "s"
fields = [{ name = "a", type = "u8" }]
"#;
        let all = abis(&[("t.toml", text)]);
        let h = header(&all[0], &all);
        assert!(h.contains(" * DOC: A title that is short\n *\n * Body text with a * / in it.\n *\n * - a list item\n * - kept as written\n */\n"), "{h}");
        assert!(
            h.contains("/**\n * S - Short.\n */\n#define S \"x\"\n"),
            "{h}"
        );
        assert!(h.ends_with("\n#endif /* _LINUX_KHO_ABI_T_H */\n"), "{h}");
        assert!(h.lines().all(|l| l.chars().count() <= WIDTH), "{h}");
    }
}
