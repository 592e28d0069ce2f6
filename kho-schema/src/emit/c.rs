//! Kernel-style C headers: one per ABI, a drop-in for the hand-written
//! `include/linux/kho/abi/*.h` of the kernel. Kernel types (`u64`, `s32`,
//! or the schema's own spelling: `unsigned int`), structs and unions with
//! kernel-doc comments (`__packed` only on packed ones, `__aligned(N)`
//! where the schema raises the alignment), bit fields, `DECLARE_KHOSER_PTR`
//! members, flexible arrays, constants and lengths as the schema writes
//! their expressions, and `static_assert`s on the size, alignment and every
//! field's offset of each struct (per page size where they differ) and the
//! schema's own asserts, so the kernel's compiler checks the layout too.

use std::collections::BTreeSet;

use kho_layout::{Elem, Field, Kind, Len, Prim, Struct, Ty};

use super::ir;
use crate::layout::{Abi, Note};
use crate::parse::ConstValue;

/// Where the kernel declares `static_assert`; every header needs it.
const BUILD_BUG_H: &str = "linux/build_bug.h";
/// Kernel comments are wrapped to this many columns.
const WIDTH: usize = 80;

/// The header that defines `DECLARE_KHOSER_PTR`, as the kernel does.
pub(crate) const KHOSER_PTR_HEADER: &str = "linux/kho/abi/kexec_handover.h";

/// The C header for `abi`. `all` holds the ABIs its structs may refer to;
/// their headers are included when one of their structs is used.
pub fn header(abi: &Abi, all: &[Abi]) -> String {
    let guard = guard(&abi.c.header);
    let mut out = String::new();
    out.push_str(&format!(
        "/* SPDX-License-Identifier: {} */\n",
        ir::spdx(abi)
    ));
    out.push_str(&format!(
        "/*\n * {}\n * Layout fingerprint: {:#018x}.\n",
        super::banner(abi),
        abi.fingerprint()
    ));
    let copyright = ir::copyright(abi);
    if !copyright.is_empty() {
        out.push_str(" *\n");
        for line in copyright {
            out.push_str(&format!(" * {}\n", line.replace("*/", "* /").trim_end()));
        }
    }
    out.push_str(" */\n\n");
    out.push_str(&doc_block(abi));
    out.push_str(&format!("\n#ifndef {guard}\n#define {guard}\n\n"));
    for line in include_lines(abi, all) {
        out.push_str(&line);
        out.push('\n');
    }

    let compats = ir::compatibles(abi);
    for compat in compats {
        out.push('\n');
        let mut c = Comment::kernel_doc();
        c.brief(
            &format!("{} - ", compat.macro_name),
            &if compat.main && abi.c.version_macro {
                "The version of this ABI's layout.".to_string()
            } else if compat.main {
                "The compatible string of this ABI.".to_string()
            } else {
                format!(
                    "The compatible string of {}.",
                    list(compat.structs.iter().map(|s| format!("struct {s}")))
                )
            },
        );
        c.blank();
        c.paragraph(&compatible_note(abi, compat));
        out.push_str(&c.finish());
        let value = if compat.main && abi.c.version_macro {
            compat.version.to_string()
        } else {
            c_string(&compat.value)
        };
        out.push_str(&format!("#define {} {value}\n", compat.macro_name));
    }

    if abi.c.header == KHOSER_PTR_HEADER {
        out.push('\n');
        out.push_str(KHOSER_PTR_MACRO);
    }

    for k in &abi.constants {
        // Another header defines it; this one includes that header. An
        // enum member is written in its enum, below.
        if ir::const_external(k).is_some() || ir::const_enum(k).is_some() {
            continue;
        }
        out.push('\n');
        let mut c = Comment::kernel_doc();
        doc_with_brief(&mut c, &format!("{} - ", k.name), &k.doc, &[]);
        out.push_str(&c.finish());
        let value = match (ir::const_expr(k), &k.value) {
            (Some(expr), _) => parenthesized(expr),
            (None, ConstValue::Int(n)) => int_literal(*n),
            (None, ConstValue::Str(s)) => c_string(s),
            (None, ConstValue::C(expr)) => expr.clone(),
        };
        out.push_str(&format!("#define {} {value}\n", k.name));
    }

    out.push_str(&enums_text(abi));

    for (i, s, note) in definition_order(abi) {
        out.push('\n');
        out.push_str(&struct_text(abi, i, s, note));
    }
    let asserts = ir::asserts(abi);
    if !asserts.is_empty() {
        out.push('\n');
        for a in asserts {
            out.push_str(&format!("static_assert({});\n", one_line(&a)));
        }
    }
    out.push_str(&format!("\n#endif /* {guard} */\n"));
    out
}

/// The enums of the schema's enum members (`enum = ".."`), each where its
/// first member is declared among them, members in declaration order (the
/// validator keeps a tag's members together), after every `#define` and
/// before the structs, whose arrays they may size.
fn enums_text(abi: &Abi) -> String {
    let mut out = String::new();
    let members: Vec<(&str, &crate::layout::Constant)> = abi
        .constants
        .iter()
        .filter_map(|k| Some((ir::const_enum(k)?, k)))
        .collect();
    let mut i = 0;
    while i < members.len() {
        let tag = members[i].0;
        let n = members[i..].iter().take_while(|(t, _)| *t == tag).count();
        let group = &members[i..i + n];
        i += n;
        let head = if tag.is_empty() {
            "enum".to_string()
        } else {
            format!("enum {tag}")
        };
        out.push('\n');
        let mut c = Comment::kernel_doc();
        let docs: Vec<(String, String)> = group
            .iter()
            .map(|(_, k)| (format!("@{}: ", k.name), flow(&k.doc, "undocumented.")))
            .collect();
        let names = list(group.iter().map(|(_, k)| k.name.clone()));
        doc_with_brief(
            &mut c,
            &format!("{head} - "),
            &format!("The constants {names}."),
            &docs,
        );
        out.push_str(&c.finish());
        out.push_str(&format!("{head} {{\n"));
        for (_, k) in group {
            let value = match (ir::const_expr(k), &k.value) {
                (Some(expr), _) => one_line(expr),
                (None, ConstValue::Int(n)) => int_literal(*n),
                // The validator allows only integers and expressions.
                (None, _) => continue,
            };
            out.push_str(&format!("\t{} = {value},\n", k.name));
        }
        out.push_str("};\n");
    }
    out
}

/// `DECLARE_KHOSER_PTR` as the kernel's kexec_handover.h defines it: a
/// union of the physical address that crosses the kexec and the pointer
/// the kernel uses once it is restored; and the two accessors kernel code
/// stores and loads it with, so the generated header can stand in for the
/// kernel's (their `typecheck`, `virt_to_phys` and `phys_to_virt` come
/// from the headers of the code that uses them, as in the kernel).
const KHOSER_PTR_MACRO: &str = "\
/**
 * DECLARE_KHOSER_PTR - A serializable pointer: @name is a union of the
 * physical address (@phys) that crosses the kexec and the pointer of type
 * @type (@ptr) the kernel uses.
 */
#define DECLARE_KHOSER_PTR(name, type)\t\\
\tunion {\t\t\t\t\\
\t\tu64 phys;\t\t\\
\t\ttype ptr;\t\t\\
\t} name

/* Stores the pointer @val in the serializable pointer @dest, as its physical address. */
#define KHOSER_STORE_PTR(dest, val)\t\t\t\t\\
\t({\t\t\t\t\t\t\\
\t\ttypeof(val) __khoser_v = (val);\t\t\\
\t\ttypecheck(typeof((dest).ptr), __khoser_v);\t\\
\t\t(dest).phys = virt_to_phys(__khoser_v);\t\\
\t})

/* The pointer held by the serializable pointer @src; NULL when its address is 0. */
#define KHOSER_LOAD_PTR(src)\t\t\t\t\t\\
\t({\t\t\t\t\t\t\\
\t\ttypeof(src) __khoser_s = (src);\t\t\\
\t\t(typeof(__khoser_s.ptr))(__khoser_s.phys ?\t\\
\t\t\tphys_to_virt(__khoser_s.phys) : NULL);\t\\
\t})
";

/// The include guard of a header path: `linux/kho/abi/block.h` ->
/// `_LINUX_KHO_ABI_BLOCK_H`.
pub(crate) fn guard(header: &str) -> String {
    crate::layout::include_guard(header)
}

/// The identifiers of a C expression, in order.
fn idents(expr: &str) -> impl Iterator<Item = &str> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        })
}

/// Every expression the header writes: constants', array lengths' and
/// asserts'.
fn expressions(abi: &Abi) -> Vec<String> {
    let mut out: Vec<String> = abi
        .constants
        .iter()
        .filter_map(|k| ir::const_expr(k).map(str::to_string))
        .collect();
    let page = ir::pages(abi).first().copied().unwrap_or(4096);
    for (s, note) in ir::items_at(abi, page) {
        for (fi, f) in s.fields.iter().enumerate() {
            let (_, dims) = f.ty.split();
            out.extend(
                dims.iter()
                    .filter_map(|l| l.constant.as_ref().map(|c| c.to_string())),
            );
            if let Some(b) = ir::field_c_type(note, fi).and_then(ir::bitmap_bits) {
                out.push(format!("BITS_TO_LONGS({b})"));
            }
        }
    }
    out.extend(ir::asserts(abi));
    out
}

/// The kernel helpers' headers a generated header includes by itself
/// where its text names one of theirs, after the external constants'
/// headers (bitops.h includes bits.h). A bitmap field counts as naming
/// `DECLARE_BITMAP`, whose expansion is `BITS_TO_LONGS`. kho-import leaves
/// these out of an imported schema's includes.
pub const HELPER_INCLUDES: &[(&str, &[&str])] = &[
    ("linux/bitops.h", &["BITS_TO_LONGS", "DECLARE_BITMAP"]),
    ("linux/log2.h", &["const_ilog2", "ilog2"]),
    ("linux/math.h", &["DIV_ROUND_UP"]),
];

/// The `#include` lines, in order: the schema's own headers, then
/// `linux/build_bug.h` (for `static_assert`) and what the header's own
/// text needs (`linux/stddef.h` for `offsetof`, `linux/bits.h` for `BIT`,
/// the headers of external constants, `asm/page.h` for `PAGE_SIZE`,
/// kexec_handover.h for `DECLARE_KHOSER_PTR`), then the header of each
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
    let any_offset = abi
        .structs()
        .iter()
        .any(|s| s.fields.iter().any(|f| f.bits.is_none()));
    if any_offset {
        push("#include <linux/stddef.h>".into());
    }
    let exprs = expressions(abi);
    let uses = |names: &[&str]| exprs.iter().any(|e| idents(e).any(|i| names.contains(&i)));
    if uses(&["BIT", "BIT_ULL", "GENMASK", "GENMASK_ULL"]) {
        push("#include <linux/bits.h>".into());
    }
    // External constants' headers before the helpers' (bitops.h includes
    // bits.h): so each external is reached first through its own header.
    for k in &abi.constants {
        if let Some(h) = ir::const_external(k) {
            push(format!("#include <{h}>"));
        }
    }
    for (header, names) in HELPER_INCLUDES {
        if uses(names) {
            push(format!("#include <{header}>"));
        }
    }
    if uses(&["PAGE_SIZE", "PAGE_SHIFT"]) {
        push("#include <asm/page.h>".into());
    }
    let uses_ptr = abi
        .structs()
        .iter()
        .any(|s| s.fields.iter().any(|f| f.ty.base().ptr_target().is_some()));
    let used = used_dependencies(abi);
    let ordered: Vec<&String> = abi
        .depends
        .iter()
        .filter(|d| used.contains(d.as_str()))
        .chain(used.iter().filter(|u| !abi.depends.contains(u)))
        .collect();
    let dep_headers: Vec<Result<&str, &str>> = ordered
        .iter()
        .map(|dep| match all.iter().find(|a| a.name == **dep) {
            Some(d) => Ok(d.c.header.as_str()),
            None => Err(dep.as_str()),
        })
        .collect();
    if uses_ptr
        && abi.c.header != KHOSER_PTR_HEADER
        && !dep_headers.contains(&Ok(KHOSER_PTR_HEADER))
    {
        push(format!("#include <{KHOSER_PTR_HEADER}>"));
    }
    for h in dep_headers {
        match h {
            Ok(h) => push(format!("#include <{h}>")),
            Err(dep) => push(format!(
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

/// Structs in declaration order (with their index), except that a struct
/// used by value in another comes first (C needs a complete type; a
/// KHOSER pointer does not). Stable: a schema already in order comes out
/// unchanged.
fn definition_order(abi: &Abi) -> Vec<(usize, &Struct<'static>, &Note)> {
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
        .filter_map(|i| items.get(i).map(|(s, n)| (i, *s, *n)))
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

/// What a compatible macro's comment says about versions.
fn compatible_note(abi: &Abi, compat: &ir::Compat) -> String {
    if compat.main && abi.c.version_macro {
        return if ir::draft(abi) {
            String::from(
                "A draft: not released, so the layout below may still change without a new \
                 version. Once released, any change to the layout needs a new version.",
            )
        } else {
            String::from(
                "The next kernel checks this version, so any change to the layout below needs \
                 a new one.",
            )
        };
    }
    let mut s = if ir::draft(abi) {
        String::from(
            "A draft: not released, so the layout below may still change without a new \
             version. Once released, the next kernel restores only an exact match of this \
             string, so any change to the layout needs a new version.",
        )
    } else {
        String::from(
            "The next kernel restores only an exact match of this string, so any change to the \
             layout below needs a new version.",
        )
    };
    if compat.main
        && !abi.depends.is_empty()
        && compat.value != format!("{}-v{}", abi.name, abi.version)
    {
        s.push_str(&format!(
            " It is {}-v{} composed with the strings of the ABIs it builds on: {}.",
            abi.name,
            abi.version,
            abi.depends.join(", ")
        ));
    }
    s
}

/// `a`, `a and b`, `a, b and c`.
fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// `struct` or `union`.
fn keyword(s: &Struct) -> &'static str {
    match s.kind {
        Kind::Union => "union",
        Kind::Struct => "struct",
    }
}

/// The alignment C gives `s` without an `__aligned` attribute: its largest
/// member's, 1 when packed.
fn natural_align(s: &Struct, set: &[Struct<'static>]) -> usize {
    if s.packed {
        return 1;
    }
    s.fields
        .iter()
        .map(|f| f.ty.align(set).unwrap_or(1))
        .max()
        .unwrap_or(1)
}

/// The attributes after the closing brace: `__packed` on a packed struct,
/// `__aligned(N)` when the schema raised the alignment.
fn attributes(s: &Struct, set: &[Struct<'static>]) -> String {
    let mut out = String::new();
    if s.packed {
        out.push_str(" __packed");
    }
    if s.align > natural_align(s, set) {
        out.push_str(&format!(" __aligned({})", s.align));
    }
    out
}

/// A struct's kernel-doc comment, definition and layout assertions.
fn struct_text(abi: &Abi, i: usize, s: &Struct, note: &Note) -> String {
    let set = abi.set();
    let kw = keyword(s);
    let mut c = Comment::kernel_doc();
    let fields: Vec<(String, String)> = s
        .fields
        .iter()
        .zip(&note.field_docs)
        .map(|(f, doc)| (format!("@{}: ", f.name), flow(doc, "undocumented.")))
        .collect();
    doc_with_brief(&mut c, &format!("{kw} {} - ", s.name), &note.doc, &fields);
    let mut out = c.finish();
    out.push_str(&format!("{kw} {} {{\n", s.name));
    for (fi, f) in s.fields.iter().enumerate() {
        out.push_str(&format!(
            "\t{};\n",
            member(f, ir::field_c_type(note, fi), set)
        ));
    }
    out.push_str(&format!("}}{};\n", attributes(s, set)));
    out.push_str(&layout_asserts(abi, i, s));
    out
}

/// `static_assert`s on the size, the alignment and the offset of every
/// field but bit fields (`offsetof` cannot take one) of struct `i`, at each
/// page size: a value that is the same at every page size is asserted
/// once, one that is not once per page size, guarded by `PAGE_SIZE`.
fn layout_asserts(abi: &Abi, i: usize, s: &Struct) -> String {
    let kw = keyword(s);
    let name = &s.name;
    // (what, value at each page size)
    let mut facts: Vec<(String, Vec<(usize, usize)>)> = Vec::new();
    // A struct that does not depend on the page size has one layout.
    let dependent = abi.notes().get(i).is_some_and(ir::page_dependent);
    let pages = if dependent {
        ir::pages(abi)
    } else {
        &ir::pages(abi)[..1]
    };
    let mut fact = |what: String, get: &dyn Fn(&Struct) -> Option<usize>| {
        let values: Vec<(usize, usize)> = pages
            .iter()
            .filter_map(|&p| {
                let (structs, _) = ir::structs_at(abi, p);
                structs.get(i).and_then(get).map(|v| (p, v))
            })
            .collect();
        facts.push((what, values));
    };
    fact(format!("sizeof({kw} {name})"), &|s| Some(s.size));
    fact(format!("__alignof__({kw} {name})"), &|s| Some(s.align));
    for f in s.fields.iter().filter(|f| f.bits.is_none()) {
        let fname = f.name.as_str().to_string();
        fact(format!("offsetof({kw} {name}, {fname})"), &move |s| {
            s.field(&fname).map(|f| f.offset)
        });
    }
    let mut out = String::new();
    for (what, values) in facts {
        let first = values.first().map(|&(_, v)| v);
        if values.iter().all(|&(_, v)| Some(v) == first) {
            if let Some(v) = first {
                out.push_str(&format!("static_assert({what} == {v});\n"));
            }
        } else {
            for (p, v) in values {
                out.push_str(&format!(
                    "static_assert(PAGE_SIZE != {p} || {what} == {v});\n"
                ));
            }
        }
    }
    out
}

/// A member declaration: `u64 reserved[13]`, `char name[LEN]`,
/// `struct luo_file_set_ser file_set_ser`, `u64 pfn:52`,
/// `DECLARE_KHOSER_PTR(first, struct kho_vmalloc_chunk *)`,
/// `struct pci_dev_ser devices[]`. `spelling` is how the schema wrote the
/// base type (`unsigned int`), when it did.
fn member(f: &Field, spelling: Option<&str>, set: &[Struct<'static>]) -> String {
    let decl = declaration_in(&f.ty, &f.name, spelling, set);
    match f.bits {
        Some(b) => format!("{decl}:{}", b.width),
        None => decl,
    }
}

fn declaration_in(ty: &Ty, name: &str, spelling: Option<&str>, set: &[Struct<'static>]) -> String {
    let (elem, dims) = ty.split();
    let flex = if ty.is_flex() { "[]" } else { "" };
    let dims: String = dims.iter().map(|l| format!("[{}]", len_text(l))).collect();
    let tag = |target: &str| {
        let union = set
            .iter()
            .any(|s| s.name == target && s.kind == Kind::Union);
        if union {
            "union"
        } else {
            "struct"
        }
    };
    if let Some(bits) = spelling.and_then(ir::bitmap_bits) {
        return format!("DECLARE_BITMAP({name}, {bits})");
    }
    let base = match elem {
        Elem::Prim(p) => spelling
            .filter(|s| !s.is_empty() && prim_spelling_ok(s, p))
            .map_or_else(|| prim(p).to_string(), str::to_string),
        Elem::Struct(s) => {
            let kw = s.resolve(set).map_or("struct", keyword);
            format!("{kw} {}", s.name())
        }
        Elem::Ptr(target) => {
            return format!(
                "DECLARE_KHOSER_PTR({name}{flex}{dims}, {} {target} *)",
                tag(target)
            )
        }
    };
    format!("{base} {name}{flex}{dims}")
}

/// Whether a schema's spelling of a primitive may stand for it in C: a
/// kernel spelling of an integer of the same size and signedness (`u32`,
/// `__u32`, `unsigned int`). kho's own names that are not C (`i32`,
/// `phys_addr`) are not kept; `phys_addr_t` is.
fn prim_spelling_ok(spelling: &str, p: Prim) -> bool {
    let words: Vec<&str> = spelling.split_whitespace().collect();
    let c = |w: &[&str]| words == w;
    let (size, signed) = match spelling {
        "u8" | "__u8" => (1, false),
        "u16" | "__u16" => (2, false),
        "u32" | "__u32" => (4, false),
        "u64" | "__u64" => (8, false),
        "s8" | "__s8" => (1, true),
        "s16" | "__s16" => (2, true),
        "s32" | "__s32" => (4, true),
        "s64" | "__s64" => (8, true),
        "phys_addr_t" => return p == Prim::PhysAddr,
        "char" => return p == Prim::Char,
        _ if c(&["unsigned", "char"]) => (1, false),
        _ if c(&["unsigned", "short"]) => (2, false),
        _ if c(&["unsigned", "int"]) => (4, false),
        _ if c(&["unsigned", "long", "long"]) => (8, false),
        _ if c(&["signed", "char"]) => (1, true),
        _ if c(&["short"]) => (2, true),
        _ if c(&["int"]) => (4, true),
        _ if c(&["long", "long"]) => (8, true),
        _ => return false,
    };
    p != Prim::PhysAddr && p != Prim::Char && p.size() == size && p.signed() == signed
}

/// `expr` as a macro body: wrapped in parentheses unless it is one token,
/// one call (`BIT(0)`) or already wrapped, so that it binds as a value
/// wherever the macro is used.
fn parenthesized(expr: &str) -> String {
    let e = one_line(expr);
    let e = e.trim();
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    // The index of the parenthesis that closes the one at 0.
    let closing = |s: &str| {
        let mut depth = 0usize;
        for (i, c) in s.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    };
    let wrapped = |s: &str| s.starts_with('(') && closing(s) == Some(s.len() - 1);
    let call = |s: &str| match s.find('(') {
        Some(at) => word(&s[..at]) && wrapped(&s[at..]),
        None => false,
    };
    if word(e) || wrapped(e) || call(e) {
        e.to_string()
    } else {
        format!("({e})")
    }
}

/// An expression on one line (a schema may break a long one).
fn one_line(expr: &str) -> String {
    expr.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn len_text(len: &Len) -> String {
    match &len.constant {
        Some(c) => one_line(c),
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
                "#include <linux/stddef.h>",
                "#include <linux/kho/abi/dep.h>"
            ]
        );
        // Without the dependency's ABI the header says so where it is compiled.
        assert_eq!(
            include_lines(t, &all[1..])[3],
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

    #[test]
    fn the_new_constructs_read_as_the_kernel_writes_them() {
        let all = crate::emit::testing::constructs("linux/kho/abi/t.h");
        let h = header(&all[0], &all);
        assert!(
            h.contains(
                "struct s {\n\tu64 pfn:52;\n\tu64 flags:12;\n\
                 \tDECLARE_KHOSER_PTR(first, struct chunk *);\n\tu32 n;\n\tu32 devices[];\n\
                 } __aligned(32);\n"
            ),
            "{h}"
        );
        // Bit fields have no offsetof; the flexible array has.
        assert!(
            h.contains(
                "static_assert(sizeof(struct s) == 32);\n\
                 static_assert(__alignof__(struct s) == 32);\n\
                 static_assert(offsetof(struct s, first) == 8);\n\
                 static_assert(offsetof(struct s, n) == 16);\n\
                 static_assert(offsetof(struct s, devices) == 20);\n"
            ),
            "{h}"
        );
        assert!(!h.contains("offsetof(struct s, pfn)"), "{h}");
        // A union, naturally aligned: no attribute.
        assert!(
            h.contains(
                "union u {\n\tu64 phys;\n\tu32 lo;\n};\nstatic_assert(sizeof(union u) == 8);\n"
            ),
            "{h}"
        );
        assert!(h.contains(" * union u - undocumented.\n"), "{h}");
        // The pointer's macro comes from the kernel's header.
        assert!(
            h.contains("#include <linux/kho/abi/kexec_handover.h>\n"),
            "{h}"
        );
        assert!(!h.contains("#define DECLARE_KHOSER_PTR"), "{h}");
        assert!(h.lines().all(|l| l.chars().count() <= WIDTH), "{h}");
    }

    #[test]
    fn kexec_handover_h_defines_the_pointer_macro_itself() {
        let all = crate::emit::testing::constructs(KHOSER_PTR_HEADER);
        let h = header(&all[0], &all);
        assert!(
            h.contains(
                "#define DECLARE_KHOSER_PTR(name, type)\t\\\n\tunion {\t\t\t\t\\\n\
                 \t\tu64 phys;\t\t\\\n\t\ttype ptr;\t\t\\\n\t} name\n"
            ),
            "{h}"
        );
        assert!(
            !h.contains("#include <linux/kho/abi/kexec_handover.h>"),
            "{h}"
        );
        // Defined before the first struct that uses it.
        assert!(h.find("#define DECLARE_KHOSER_PTR") < h.find("struct s {"));
    }

    #[test]
    fn macro_bodies_bind_as_values() {
        assert_eq!(parenthesized("BIT(0)"), "BIT(0)");
        assert_eq!(parenthesized("PAGE_SIZE"), "PAGE_SIZE");
        assert_eq!(parenthesized("64"), "64");
        assert_eq!(parenthesized("(a + b)"), "(a + b)");
        assert_eq!(
            parenthesized("(PAGE_SIZE - sizeof(struct kho_vmalloc_hdr)) /\n  sizeof(u64)"),
            "((PAGE_SIZE - sizeof(struct kho_vmalloc_hdr)) / sizeof(u64))"
        );
        assert_eq!(parenthesized("(a) + (b)"), "((a) + (b))");
        assert_eq!(parenthesized("__NEW_UTS_LEN + 1"), "(__NEW_UTS_LEN + 1)");
        assert_eq!(parenthesized("BIT(1) | BIT(2)"), "(BIT(1) | BIT(2))");
    }

    #[test]
    fn kernel_spellings_are_kept_only_for_their_own_type() {
        assert!(prim_spelling_ok("unsigned int", Prim::U32));
        assert!(prim_spelling_ok("__u64", Prim::U64));
        assert!(prim_spelling_ok("s32", Prim::I32));
        assert!(prim_spelling_ok("phys_addr_t", Prim::PhysAddr));
        assert!(!prim_spelling_ok("phys_addr", Prim::PhysAddr));
        assert!(!prim_spelling_ok("u32", Prim::I32));
        assert!(!prim_spelling_ok("u16", Prim::U32));
        assert!(!prim_spelling_ok("struct x", Prim::U32));
        assert!(!prim_spelling_ok("i32", Prim::I32));
        assert!(prim_spelling_ok("unsigned  short", Prim::U16));
        assert!(!prim_spelling_ok("u64", Prim::PhysAddr));
    }
}
