//! One test per construct of the kernel's KHO headers the schema language
//! speaks (issue 10), and one per refusal, each asserting the message and
//! its `file:line:col`.

mod common;

use common::{errors, ok, HEAD};
use kho_schema::{ConstValue, Ty};

/// Line and column (1-based) of the first `needle` in `text`.
fn at(text: &str, needle: &str) -> (usize, usize) {
    let i = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the text"));
    let line = text[..i].matches('\n').count() + 1;
    let col = i - text[..i].rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, col)
}

/// `file:line:col: ` of the first `needle` in `text`, moved `shift`
/// columns right.
fn place(file: &str, text: &str, needle: &str, shift: usize) -> String {
    let (l, c) = at(text, needle);
    format!("{file}:{l}:{}: ", c + shift)
}

// ---------------------------------------------------------------------------
// Expressions and page sizes

const VMALLOC: &str = r#"[abi]
name = "kexec-handover"
version = 1

[constants]
KHO_VMALLOC_SIZE = { expr = "(PAGE_SIZE - sizeof(struct kho_vmalloc_hdr)) / sizeof(u64)" }

[[struct]]
name = "kho_vmalloc_hdr"
fields = [{ name = "next", type = "u64" }]

[[struct]]
name = "kho_vmalloc_chunk"
fields = [
  { name = "hdr", type = "struct kho_vmalloc_hdr" },
  { name = "phys", type = "u64[KHO_VMALLOC_SIZE]" },
]

[[assert]]
expr = "sizeof(struct kho_vmalloc_chunk) == PAGE_SIZE"
"#;

#[test]
fn an_expression_constant_is_computed_for_every_page_size() {
    let abis = ok(&[("kho.toml", VMALLOC)]);
    let a = &abis[0];
    let k = &a.constants[0];
    assert_eq!(
        k.expr.as_deref(),
        Some("(PAGE_SIZE - sizeof(struct kho_vmalloc_hdr)) / sizeof(u64)")
    );
    assert_eq!(k.values, [(4096, 511), (16384, 2047), (65536, 8191)]);
    assert!(matches!(k.value, ConstValue::Int(511)));
    assert!(k.page_dependent());
    assert_eq!(a.pages(), [4096, 16384, 65536]);
    for &page in a.pages() {
        let (s, n) = a
            .items_at(page)
            .find(|(s, _)| s.name == "kho_vmalloc_chunk")
            .unwrap();
        assert_eq!(s.size, page, "at {page}");
        assert!(n.page_dependent);
        // C keeps the expression: the length records the constant.
        let Ty::Array(_, len) = &s.fields[1].ty else {
            panic!("{:?}", s.fields[1].ty)
        };
        assert_eq!(len.constant.as_deref(), Some("KHO_VMALLOC_SIZE"));
    }
    let hdr = a.find("kho_vmalloc_hdr").unwrap().1;
    assert!(!hdr.page_dependent);
    let fps: Vec<u64> = a
        .pages()
        .iter()
        .map(|&p| {
            a.items_at(p)
                .find(|(s, _)| s.name == "kho_vmalloc_chunk")
                .unwrap()
                .1
                .fingerprint
        })
        .collect();
    assert!(fps[0] != fps[1] && fps[1] != fps[2], "{fps:x?}");
    assert_eq!(a.asserts().len(), 1);
    assert_eq!(
        a.asserts()[0].span,
        at(VMALLOC, "\"sizeof(struct kho_vmalloc_chunk)")
    );
}

#[test]
fn a_false_assert_names_itself_and_the_page_sizes() {
    let text = VMALLOC.replace("== PAGE_SIZE\"", "== 4096\"");
    let e = errors(&[("kho.toml", &text)]);
    let want = format!(
        "{}assert `sizeof(struct kho_vmalloc_chunk) == 4096` is false with PAGE_SIZE = 16384, 65536",
        place("kho.toml", &text, "\"sizeof(struct kho_vmalloc_chunk)", 0)
    );
    assert_eq!(e, want);
}

#[test]
fn an_array_length_may_be_an_expression() {
    let text = format!(
        "{HEAD}[constants]\nN = 3\n[[struct]]\nname = \"s\"\nfields = [\n  {{ name = \"a\", type = \"u16[N * 2 + BIT(2)][2]\" }},\n]\n"
    );
    let abis = ok(&[("t.toml", &text)]);
    let s = &abis[0].structs()[0];
    assert_eq!(s.size, 2 * 10 * 2);
    let Ty::Array(_, outer) = &s.fields[0].ty else {
        panic!()
    };
    assert_eq!(
        (outer.value, outer.constant.as_deref()),
        (10, Some("N * 2 + BIT(2)"))
    );
}

#[test]
fn division_by_zero_names_the_constant_and_the_operator() {
    let text = format!("{HEAD}[constants]\nX = {{ expr = \"8 / (PAGE_SIZE - 4096)\" }}\n");
    let e = errors(&[("t.toml", &text)]);
    assert_eq!(
        e,
        format!(
            "{}constant X: 8 / 0: division by zero",
            place("t.toml", &text, "/ (PAGE", 0)
        )
    );
}

#[test]
fn an_error_at_one_page_size_says_which() {
    let text = format!("{HEAD}[constants]\nX = {{ expr = \"32768 / PAGE_SIZE - 1\" }}\n");
    let e = errors(&[("t.toml", &text)]);
    assert_eq!(
        e,
        format!(
            "{}constant X: 0 - 1 is negative: values are unsigned (with PAGE_SIZE = 65536)",
            place("t.toml", &text, "- 1\"", 0)
        )
    );
}

#[test]
fn overflow_and_wide_shifts_are_errors() {
    for (expr, want) in [
        (
            "0xffffffffffffffff + 1",
            "18446744073709551615 + 1 overflows 64 bits",
        ),
        ("1 << 64", "1 << 64: a shift of 64 or more"),
        ("BIT(70)", "BIT(70): a shift of 64 or more"),
    ] {
        let text = format!("{HEAD}[constants]\nX = {{ expr = \"{expr}\" }}\n");
        let e = errors(&[("t.toml", &text)]);
        assert!(e.starts_with("t.toml:5:"), "{e}");
        assert!(e.ends_with(&format!("constant X: {want}")), "{e}");
    }
}

#[test]
fn a_cycle_of_constants_and_structs_is_named() {
    let text = format!("{HEAD}[constants]\nA = {{ expr = \"B + 1\" }}\nB = {{ expr = \"A\" }}\n");
    let e = errors(&[("t.toml", &text)]);
    assert_eq!(
        e,
        "t.toml:5:1: cycle: A -> B -> A (a constant or a struct's layout cannot depend on itself)"
    );
    let text = format!(
        "{HEAD}[constants]\nN = {{ expr = \"sizeof(struct s)\" }}\n[[struct]]\nname = \"s\"\nfields = [{{ name = \"a\", type = \"u8[N]\" }}]\n"
    );
    let e = errors(&[("t.toml", &text)]);
    assert!(e.contains("cycle: s -> N -> s"), "{e}");
}

#[test]
fn unknown_names_in_expressions_are_errors_at_their_place() {
    let text = format!("{HEAD}[constants]\nX = {{ expr = \"1 + NOPE\" }}\n");
    let e = errors(&[("t.toml", &text)]);
    assert!(
        e.starts_with(&format!(
            "{}constant X: unknown constant `NOPE`",
            place("t.toml", &text, "NOPE", 0)
        )),
        "{e}"
    );
    let text = format!("{HEAD}[constants]\nX = {{ expr = \"sizeof(struct nope)\" }}\n");
    let e = errors(&[("t.toml", &text)]);
    assert!(e.contains("constant X: unknown struct `nope`"), "{e}");
    let text = format!("{HEAD}[constants]\nX = {{ expr = \"1 +\" }}\n");
    let e = errors(&[("t.toml", &text)]);
    assert!(e.contains("constant X: expected a value at the end"), "{e}");
}

#[test]
fn a_string_constant_is_not_a_length() {
    let text = format!(
        "{HEAD}[constants]\nS = \"x\"\n[[struct]]\nname = \"s\"\nfields = [{{ name = \"a\", type = \"u8[S]\" }}]\n"
    );
    let e = errors(&[("t.toml", &text)]);
    assert!(
        e.contains("s.a: array length `S`: constant S is a string, not an integer"),
        "{e}"
    );
}

#[test]
fn a_zero_length_from_an_expression_is_refused() {
    let text = format!(
        "{HEAD}[constants]\nN = 4\n[[struct]]\nname = \"s\"\nfields = [{{ name = \"a\", type = \"u8[N - 4]\" }}]\n"
    );
    let e = errors(&[("t.toml", &text)]);
    assert_eq!(
        e,
        format!(
            "{}s.a: array length N - 4 = 0 in type `u8[N - 4]`: a field must carry something",
            place("t.toml", &text, "N - 4", 0)
        )
    );
}

// ---------------------------------------------------------------------------
// External constants

#[test]
fn an_external_constant_is_used_for_layout_not_defined() {
    let text = format!(
        "{HEAD}[constants]\n__NEW_UTS_LEN = {{ external = \"linux/utsname.h\", value = 64 }}\n\
         [[struct]]\nname = \"m\"\nfields = [{{ name = \"release\", type = \"char[__NEW_UTS_LEN + 1]\" }}]\n"
    );
    let abis = ok(&[("t.toml", &text)]);
    let k = &abis[0].constants[0];
    assert_eq!(k.external.as_deref(), Some("linux/utsname.h"));
    assert_eq!(k.values, [(4096, 64), (16384, 64), (65536, 64)]);
    let s = &abis[0].structs()[0];
    assert_eq!(s.size, 65);
}

#[test]
fn an_external_constant_needs_an_integer_value_and_a_header_path() {
    let text = format!("{HEAD}[constants]\nX = {{ external = \"linux/x.h\" }}\n");
    let e = errors(&[("t.toml", &text)]);
    assert_eq!(
        e,
        format!(
            "{}external constant X needs its integer `value` (what layout uses; the header \"linux/x.h\" defines it for C)",
            place("t.toml", &text, "\"linux/x.h\"", 0)
        )
    );
    let text = format!("{HEAD}[constants]\nX = {{ external = \"../x.h\", value = 1 }}\n");
    let e = errors(&[("t.toml", &text)]);
    assert!(
        e.contains("t.toml:5:18: constant X: external header \"../x.h\" cannot be written"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Spellings and names

#[test]
fn the_kernels_spellings_are_aliases_kept_for_c() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"s\"\nfields = [\n\
         {{ name = \"a\", type = \"unsigned int\" }},\n\
         {{ name = \"b\", type = \"unsigned  short\" }},\n\
         {{ name = \"c\", type = \"s32\" }},\n\
         {{ name = \"d\", type = \"__u64\" }},\n\
         {{ name = \"e\", type = \"phys_addr_t\" }},\n\
         {{ name = \"f\", type = \"long long\" }},\n\
         {{ name = \"g\", type = \"unsigned char[3]\" }},\n\
         {{ name = \"h\", type = \"__s8\" }},\n]\n"
    );
    let abis = ok(&[("t.toml", &text)]);
    let (s, n) = abis[0].items().next().unwrap();
    let tys: Vec<String> = s.fields.iter().map(|f| f.ty.to_string()).collect();
    assert_eq!(
        tys,
        [
            "u32",
            "u16",
            "i32",
            "u64",
            "phys_addr",
            "i64",
            "u8[3]",
            "i8"
        ]
    );
    assert_eq!(s.size, 4 + 2 + 4 + 8 + 8 + 8 + 3 + 1);
    assert_eq!(
        n.field_c_types,
        [
            "unsigned int",
            "unsigned short",
            "s32",
            "__u64",
            "phys_addr_t",
            "long long",
            "unsigned char",
            "__s8"
        ]
    );
    // Respelling is not a layout change.
    let plain = text
        .replace("unsigned int", "u32")
        .replace("unsigned  short", "u16")
        .replace("\"s32\"", "\"i32\"")
        .replace("__u64", "u64")
        .replace("long long", "i64")
        .replace("unsigned char[3]", "u8[3]")
        .replace("__s8", "i8");
    let again = ok(&[("t.toml", &plain)]);
    assert_eq!(
        again[0].items().next().unwrap().1.fingerprint,
        n.fingerprint
    );
}

#[test]
fn long_is_refused_with_a_hint() {
    for ty in ["unsigned long", "long"] {
        let text = format!(
            "{HEAD}[[struct]]\nname = \"s\"\nfields = [{{ name = \"a\", type = \"{ty}\" }}]\n"
        );
        let e = errors(&[("t.toml", &text)]);
        assert!(
            e.starts_with(&format!(
                "t.toml:6:32: s.a: unknown type `{ty}`: its size changes with the architecture; use u64"
            )),
            "{e}"
        );
    }
}

#[test]
fn struct_spelling_and_a_struct_that_shadows_a_kernel_spelling() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"s64\"\nfields = [{{ name = \"a\", type = \"u8\" }}]\n\
         [[struct]]\nname = \"t\"\nfields = [{{ name = \"x\", type = \"s64\" }}, {{ name = \"y\", type = \"struct s64\" }}]\n"
    );
    let abis = ok(&[("t.toml", &text)]);
    let t = abis[0].find("t").unwrap();
    assert_eq!(t.0.size, 2);
    assert_eq!(t.1.field_c_types, ["s64", "s64"]);
}

#[test]
fn any_c_identifier_names_a_field() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"s\"\nfields = [{{ name = \"type\", type = \"u8\" }}, {{ name = \"Flags\", type = \"u8\" }}, {{ name = \"fn\", type = \"u8\" }}]\n"
    );
    let abis = ok(&[("t.toml", &text)]);
    let names: Vec<&str> = abis[0].structs()[0]
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["type", "Flags", "fn"]);
    let text = format!(
        "{HEAD}[[struct]]\nname = \"s\"\nfields = [{{ name = \"unsigned\", type = \"u8\" }}]\n"
    );
    assert!(errors(&[("t.toml", &text)])
        .contains("t.toml:6:20: s.unsigned: field name \"unsigned\" is a C keyword"));
}

// ---------------------------------------------------------------------------
// Compatible strings

const LUO: &str = r#"[abi]
name = "luo"
version = 1
[abi.c]
compatible_macro = "LUO_FDT_COMPATIBLE"

[[abi.compatible]]
macro = "LUO_FDT_SESSION_COMPATIBLE"
name = "luo-session"
version = 2
structs = ["luo_session_ser"]

[[struct]]
name = "luo_ser"
fields = [{ name = "a", type = "u64" }]

[[struct]]
name = "luo_session_ser"
fields = [{ name = "b", type = "u64" }]
"#;

#[test]
fn several_compatible_macros_each_cover_their_structs() {
    let abis = ok(&[("luo.toml", LUO)]);
    let a = &abis[0];
    let c = a.compatibles();
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].macro_name.as_str(), c[0].value.as_str(), c[0].main),
        ("LUO_FDT_COMPATIBLE", "luo-v1", true)
    );
    assert_eq!(c[0].structs, ["luo_ser"]);
    assert_eq!(
        (c[1].macro_name.as_str(), c[1].value.as_str(), c[1].main),
        ("LUO_FDT_SESSION_COMPATIBLE", "luo-session-v2", false)
    );
    assert_eq!(c[1].structs, ["luo_session_ser"]);
    assert_eq!(c[1].span, at(LUO, "\"LUO_FDT_SESSION_COMPATIBLE\""));
    assert_eq!(
        a.find("luo_session_ser").unwrap().1.compatible_macro,
        "LUO_FDT_SESSION_COMPATIBLE"
    );
    assert_eq!(
        a.find("luo_ser").unwrap().1.compatible_macro,
        "LUO_FDT_COMPATIBLE"
    );
}

#[test]
fn a_compatible_macro_lists_known_structs_once() {
    let text = LUO.replace(
        "structs = [\"luo_session_ser\"]",
        "structs = [\"luo_session_ser\", \"nope\"]\n[[abi.compatible]]\nmacro = \"OTHER_COMPATIBLE\"\nname = \"other\"\nversion = 1\nstructs = [\"luo_session_ser\"]",
    );
    let e = errors(&[("luo.toml", &text)]);
    assert!(
        e.contains(&format!(
            "{}compatible macro LUO_FDT_SESSION_COMPATIBLE: unknown struct `nope`",
            place("luo.toml", &text, "\"nope\"", 0)
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "{}struct `luo_session_ser` is covered by compatible macros LUO_FDT_SESSION_COMPATIBLE and OTHER_COMPATIBLE",
            place("luo.toml", &text, "[\"luo_session_ser\"]", 1)
        )),
        "{e}"
    );
    let long = LUO.replace(
        "name = \"luo-session\"",
        &format!("name = \"{}\"", "x".repeat(45)),
    );
    let e = errors(&[("luo.toml", &long)]);
    assert!(e.contains("is 48 bytes: the limit is 47"), "{e}");
}

#[test]
fn compose_none_keeps_the_exact_string() {
    let kho = "[abi]\nname = \"kho\"\nversion = 3\n[[struct]]\nname = \"kho_vmalloc\"\nfields = [{ name = \"a\", type = \"u64\" }]\n";
    let memfd = "[abi]\nname = \"memfd\"\nversion = 1\ndepends = [\"kho\"]\ncompose = \"none\"\n[[struct]]\nname = \"memfd_luo_ser\"\nfields = [{ name = \"v\", type = \"kho_vmalloc\" }]\n";
    let abis = ok(&[("kho.toml", kho), ("memfd.toml", memfd)]);
    assert_eq!(abis[1].compatible, "memfd-v1");
    assert_eq!(abis[1].compatibles()[0].value, "memfd-v1");
    let append = memfd.replace("compose = \"none\"\n", "");
    let abis = ok(&[("kho.toml", kho), ("memfd.toml", &append)]);
    assert_eq!(abis[1].compatible, "memfd-v1-kho-v3");
    let bad = memfd.replace("\"none\"", "\"exact\"");
    let e = errors(&[("kho.toml", kho), ("memfd.toml", &bad)]);
    assert_eq!(
        e,
        "memfd.toml:5:11: compose is \"append\", \"sorted\" or \"none\", not \"exact\""
    );
}

// ---------------------------------------------------------------------------
// Drafts, licence lines

#[test]
fn draft_spdx_and_copyright_are_read() {
    let text = "[abi]\nname = \"t\"\nversion = 1\ndraft = true\nspdx = \"GPL-2.0-only OR MIT\"\ncopyright = [\"Copyright (c) 2025, Google LLC.\", \"Copyright (c) 2026, kho.\"]\n";
    let abis = ok(&[("t.toml", text)]);
    assert!(abis[0].draft);
    assert_eq!(abis[0].spdx, "GPL-2.0-only OR MIT");
    assert_eq!(abis[0].copyright.len(), 2);
    let plain = ok(&[("t.toml", HEAD)]);
    assert!(!plain[0].draft);
    assert_eq!(plain[0].spdx, "GPL-2.0");
    assert!(plain[0].copyright.is_empty());
}
