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
// Enum members and bitmaps (kexec_handover.h's radix tree)

const RADIX: &str = r#"[abi]
name = "radix"
version = 1

[constants]
BITS_PER_BYTE = { external = "linux/bits.h", value = 8 }
R_ORDER_0_LOG2 = { enum = "r_consts", expr = "64 - PAGE_SHIFT" }
R_TABLE_LOG2 = { enum = "r_consts", expr = "const_ilog2(PAGE_SIZE / sizeof(phys_addr_t))" }
R_BITMAP_LOG2 = { enum = "r_consts", expr = "PAGE_SHIFT + const_ilog2(BITS_PER_BYTE)" }
R_DEPTH = { enum = "r_consts", expr = "DIV_ROUND_UP(R_ORDER_0_LOG2 - R_BITMAP_LOG2, R_TABLE_LOG2) + 1" }
R_FIRST = { enum = "", value = 0 }

[[struct]]
name = "r_leaf"
packed = false
fields = [{ name = "bitmap", type = "bitmap<1 << R_BITMAP_LOG2>" }]

[[struct]]
name = "r_small"
fields = [
  { name = "a", type = "u8" },
  { name = "bits", type = "bitmap< 65 >" },
]
"#;

#[test]
fn enum_members_are_constants_and_a_bitmap_is_u64_words() {
    let abis = ok(&[("r.toml", RADIX)]);
    let a = &abis[0];
    let k = |n: &str| a.constants.iter().find(|k| k.name == n).unwrap();
    assert_eq!(k("R_TABLE_LOG2").enum_tag.as_deref(), Some("r_consts"));
    assert_eq!(k("R_FIRST").enum_tag.as_deref(), Some(""));
    assert_eq!(k("R_DEPTH").values, [(4096, 6), (16384, 4), (65536, 4)]);
    assert_eq!(
        k("R_TABLE_LOG2").values,
        [(4096, 9), (16384, 11), (65536, 13)]
    );
    let leaf = |page: usize| a.structs_at(page)[0].clone();
    for (page, words) in [(4096, 512), (16384, 2048), (65536, 8192)] {
        let s = leaf(page);
        assert_eq!((s.size, s.align), (page, 8));
        assert_eq!(s.fields[0].ty.to_string(), format!("u64[{words}]"));
    }
    // 65 bits take two words; packed, after one byte.
    let (small, note) = a.items().nth(1).unwrap();
    assert_eq!(small.size, 17);
    assert_eq!(small.fields[1].offset, 1);
    assert_eq!(note.field_c_types[1], "bitmap<65>");
    // C: the enum before the structs, the bitmap as the kernel declares it.
    let c = kho_schema::emit::c::header(a, &abis);
    let want = "enum r_consts {\n\tR_ORDER_0_LOG2 = 64 - PAGE_SHIFT,\n\tR_TABLE_LOG2 = \
                const_ilog2(PAGE_SIZE / sizeof(phys_addr_t)),\n";
    assert!(c.contains(want), "{c}");
    assert!(c.contains("enum {\n\tR_FIRST = 0,\n};\n"), "{c}");
    assert!(!c.contains("#define R_DEPTH"), "{c}");
    assert!(
        c.contains("\tDECLARE_BITMAP(bitmap, 1 << R_BITMAP_LOG2);\n"),
        "{c}"
    );
    assert!(c.contains("\tDECLARE_BITMAP(bits, 65);\n"), "{c}");
    for inc in [
        "linux/bits.h",
        "linux/bitops.h",
        "linux/log2.h",
        "linux/math.h",
    ] {
        assert!(c.contains(&format!("#include <{inc}>\n")), "{inc}: {c}");
    }
    assert!(c.find("enum r_consts").unwrap() < c.find("struct r_leaf {").unwrap());
    // Rust: the words, per page size; the member says where C has it.
    let rust = kho_schema::emit::rust::module(a, &abis);
    assert!(rust.contains("pub bitmap: [u64; 512],"), "{rust}");
    assert!(rust.contains("pub bitmap: [u64; 8192],"), "{rust}");
    assert!(rust.contains("pub bits: [u64; 2],"), "{rust}");
    assert!(
        rust.contains("In C: `R_DEPTH = DIV_ROUND_UP(R_ORDER_0_LOG2 - R_BITMAP_LOG2, R_TABLE_LOG2) + 1` in `enum r_consts`."),
        "{rust}"
    );
}

#[test]
fn enum_members_are_refused_where_c_cannot_declare_them() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "A = { enum = \"e\", value = 1 }\nB = 2\nC = { enum = \"e\", value = 3 }\n",
            "\"e\", value = 3",
            "constant C: the members of enum \"e\" must be listed together",
        ),
        (
            "A = { enum = \"e\", expr = \"sizeof(struct s)\" }\n",
            "\"sizeof(struct s)\"",
            "constant A: uses the layout of struct s, which C declares after the enums",
        ),
        (
            "H = { expr = \"sizeof(struct s) + 1\" }\nA = { enum = \"e\", expr = \"H * 2\" }\n",
            "\"H * 2\"",
            "constant A: uses the layout of struct s (through H), which C declares after the enums",
        ),
        (
            "A = { enum = \"e\", expr = \"B\" }\nB = { enum = \"e\", value = 1 }\n",
            "\"B\" }",
            "constant A: uses enum member B, which is not declared before it",
        ),
        (
            "A = { enum = \"e\", value = \"str\" }\n",
            "\"str\"",
            "constant A: an enum member is an integer, not a string",
        ),
        (
            "A = { enum = \"e\", external = \"linux/a.h\", value = 1 }\n",
            "\"e\", external",
            "constant A: an enum member has a `value` or an `expr`, not `external`",
        ),
        (
            "A = { enum = \"e-1\", value = 1 }\n",
            "\"e-1\"",
            "constant A: malformed enum tag \"e-1\": a C identifier",
        ),
        (
            "A = { enum = \"e\", expr = \"PAGE_SIZE << 19\" }\n",
            "\"PAGE_SIZE << 19\"",
            "constant A: 2147483648 (with 4 KiB pages) does not fit the `int` of an enum member",
        ),
    ];
    for (consts, needle, want) in cases {
        let text = format!(
            "{HEAD}[constants]\n{consts}[[struct]]\nname = \"s\"\nfields = [{{ name = \"a\", type = \"u8\" }}]\n"
        );
        let e = errors(&[("t.toml", &text)]);
        let at = place("t.toml", &text, needle, 0);
        assert!(
            e.contains(&format!("{at}{want}")),
            "want {at}{want}\ngot {e}"
        );
    }
}

#[test]
fn a_bitmap_is_refused_where_the_macro_cannot_declare_it() {
    for (ty, needle, want) in [
        ("bitmap<64>[2]", "<64>[2]", "a bitmap is `bitmap<N>`, N its number of bits; it is not an array element"),
        ("bitmap<64 +>", ">\" }", "bitmap<64 +>: expected a value at the end"),
        ("bitmap<0>", "0>", "s.a: array length bitmap<0> words = 0 in type `bitmap<0>`: a field must carry something"),
    ] {
        let text = format!(
            "{HEAD}[[struct]]\nname = \"s\"\nfields = [{{ name = \"a\", type = \"{ty}\" }}]\n"
        );
        let e = errors(&[("t.toml", &text)]);
        assert!(e.contains(want), "{ty}: {e}");
        let at = place("t.toml", &text, needle, 0);
        assert!(e.starts_with(&at), "{ty}: want {at}, got {e}");
    }
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
fn a_compatible_macro_may_version_no_struct_only_when_it_says_so() {
    // memblock.h: the root node's macro and each region node's, both over
    // FDT properties, no struct.
    let fdt = LUO.replace(
        "structs = [\"luo_session_ser\"]",
        "structs = []\n[[abi.compatible]]\nmacro = \"LUO_FDT_NODE_COMPATIBLE\"\nname = \"luo-node\"\nversion = 3\nstructs = []",
    );
    let abis = ok(&[("luo.toml", &fdt)]);
    let c = abis[0].compatibles();
    assert_eq!(c.len(), 3);
    assert_eq!(
        (c[2].value.as_str(), c[2].structs.len()),
        ("luo-node-v3", 0)
    );
    // Every struct is the main macro's.
    assert_eq!(c[0].structs, ["luo_ser", "luo_session_ser"]);
    // Without the key, it is a mistake.
    let missing = LUO.replace("structs = [\"luo_session_ser\"]\n", "");
    let e = errors(&[("luo.toml", &missing)]);
    assert!(
        e.contains(&format!(
            "{}compatible macro LUO_FDT_SESSION_COMPATIBLE lists no `structs`: it would cover nothing (write `structs = []`",
            place("luo.toml", &missing, "\"LUO_FDT_SESSION_COMPATIBLE\"", 0)
        )),
        "{e}"
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

// ---------------------------------------------------------------------------
// Bit fields

const FOLIO: &str = r#"[abi]
name = "memfd"
version = 1
[[struct]]
name = "memfd_luo_folio_ser"
fields = [
  { name = "pfn", type = "u64", bits = 52 },
  { name = "flags", type = "u64", bits = 12 },
  { name = "index", type = "u64" },
]
"#;

#[test]
fn bit_fields_share_their_storage_unit() {
    let abis = ok(&[("memfd.toml", FOLIO)]);
    let s = &abis[0].structs()[0];
    assert_eq!((s.size, s.align, s.packed), (16, 1, true));
    let f: Vec<_> = s
        .fields
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.offset,
                f.size,
                f.bits.map(|b| (b.first, b.width)),
            )
        })
        .collect();
    assert_eq!(
        f,
        [
            ("pfn", 0, 8, Some((0, 52))),
            ("flags", 0, 8, Some((52, 12))),
            ("index", 8, 8, None)
        ]
    );
}

#[test]
fn a_bit_field_in_a_natural_struct_does_not_straddle_its_unit() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"s\"\npacked = false\nfields = [\n  {{ name = \"a\", type = \"u32\", bits = 20 }},\n  {{ name = \"b\", type = \"u32\", bits = 20 }},\n]\n"
    );
    let abis = ok(&[("t.toml", &text)]);
    let s = &abis[0].structs()[0];
    assert_eq!((s.size, s.align), (8, 4));
    assert_eq!(s.fields[1].offset, 4);
    assert_eq!(s.fields[1].bits.map(|b| (b.first, b.width)), Some((0, 20)));
}

#[test]
fn a_bit_width_outside_its_type_is_refused() {
    for (ty, bits, want) in [
        ("u64", "65", "bits = 65 is outside 1..=64, the width of its type `u64`"),
        ("unsigned short", "0", "bits = 0 is outside 1..=16, the width of its type `unsigned short`"),
        ("char[4]", "3", "a bit field's type is an integer (u8..u64, s8..s64 or a kernel spelling of one), not `char[4]`"),
        ("u8[2]", "3", "a bit field's type is an integer"),
        ("phys_addr", "3", "a bit field's type is an integer"),
    ] {
        let text = format!(
            "{HEAD}[[struct]]\nname = \"s\"\nfields = [{{ name = \"a\", type = \"{ty}\", bits = {bits} }}]\n"
        );
        let e = errors(&[("t.toml", &text)]);
        let p = place("t.toml", &text, &format!("bits = {bits}"), 7);
        assert!(e.starts_with(&format!("{p}s.a: {want}")), "{e}");
    }
}

// ---------------------------------------------------------------------------
// Natural alignment, __aligned, unions, KHOSER pointers

const VMALLOC_PTR: &str = r#"[abi]
name = "kexec-handover"
version = 1

[constants]
KHO_VMALLOC_SIZE = { expr = "(PAGE_SIZE - sizeof(struct kho_vmalloc_hdr)) / sizeof(u64)" }

[[struct]]
name = "kho_vmalloc_hdr"
packed = false
fields = [{ name = "next", type = "khoser_ptr<kho_vmalloc_chunk>" }]

[[struct]]
name = "kho_vmalloc_chunk"
packed = false
fields = [
  { name = "hdr", type = "struct kho_vmalloc_hdr" },
  { name = "phys", type = "u64[KHO_VMALLOC_SIZE]" },
]

[[struct]]
name = "kho_vmalloc"
packed = false
fields = [
  { name = "first", type = "khoser_ptr<struct kho_vmalloc_chunk>" },
  { name = "total_pages", type = "unsigned int" },
  { name = "flags", type = "unsigned short" },
  { name = "order", type = "unsigned short" },
]

[[assert]]
expr = "sizeof(struct kho_vmalloc_chunk) == PAGE_SIZE"
"#;

#[test]
fn natural_structs_and_khoser_pointers_lay_out_as_c() {
    let abis = ok(&[("kho.toml", VMALLOC_PTR)]);
    let a = &abis[0];
    let (v, n) = a.find("kho_vmalloc").unwrap();
    assert_eq!((v.size, v.align, v.packed), (16, 8, false));
    assert_eq!(
        v.fields[0].ty,
        Ty::Ptr("kho_vmalloc_chunk".to_string().into())
    );
    assert_eq!(v.fields[0].ty.to_string(), "khoser_ptr<kho_vmalloc_chunk>");
    let offs: Vec<usize> = v.fields.iter().map(|f| f.offset).collect();
    assert_eq!(offs, [0, 8, 12, 14]);
    assert_eq!(
        n.field_c_types,
        [
            "khoser_ptr<kho_vmalloc_chunk>",
            "unsigned int",
            "unsigned short",
            "unsigned short"
        ]
    );
    // A pointer to a struct holding the pointer is no cycle: only the
    // address crosses.
    for &page in a.pages() {
        let chunk = a
            .structs_at(page)
            .iter()
            .find(|s| s.name == "kho_vmalloc_chunk")
            .unwrap();
        assert_eq!((chunk.size, chunk.align), (page, 8));
    }
}

#[test]
fn padding_and_an_explicit_alignment() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"n\"\npacked = false\nfields = [{{ name = \"a\", type = \"u8\" }}, {{ name = \"b\", type = \"u64\" }}, {{ name = \"c\", type = \"u16\" }}]\n\
         [[struct]]\nname = \"p\"\nalign = 8\nfields = [{{ name = \"a\", type = \"u8\" }}, {{ name = \"b\", type = \"u32\" }}]\n\
         [[struct]]\nname = \"o\"\nfields = [{{ name = \"x\", type = \"u8\" }}, {{ name = \"inner\", type = \"n\" }}]\n"
    );
    let abis = ok(&[("t.toml", &text)]);
    let a = &abis[0];
    let (n, _) = a.find("n").unwrap();
    assert_eq!((n.size, n.align), (24, 8));
    assert_eq!((n.fields[1].offset, n.fields[2].offset), (8, 16));
    let (p, _) = a.find("p").unwrap();
    assert_eq!((p.size, p.align, p.packed), (8, 8, true));
    assert_eq!(p.fields[1].offset, 1);
    // A packed struct packs a member of an aligned type too (as GCC).
    let (o, _) = a.find("o").unwrap();
    assert_eq!((o.size, o.align, o.fields[1].offset), (25, 1, 1));
}

#[test]
fn an_alignment_that_is_not_a_power_of_two_is_refused() {
    for al in ["3", "0", "8192"] {
        let text = format!(
            "{HEAD}[[struct]]\nname = \"s\"\nalign = {al}\nfields = [{{ name = \"a\", type = \"u8\" }}]\n"
        );
        let e = errors(&[("t.toml", &text)]);
        assert_eq!(
            e,
            format!(
                "{}struct s: align = {al} must be a power of two from 1 to 4096",
                place("t.toml", &text, &format!("= {al}\n"), 2)
            )
        );
    }
}

#[test]
fn a_union_puts_every_member_at_zero() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"u\"\nunion = true\npacked = false\nfields = [{{ name = \"phys\", type = \"u64\" }}, {{ name = \"small\", type = \"u32[3]\" }}, {{ name = \"b\", type = \"u16\", bits = 3 }}]\n"
    );
    let abis = ok(&[("t.toml", &text)]);
    let u = &abis[0].structs()[0];
    assert_eq!(u.kind, kho_layout::Kind::Union);
    assert_eq!((u.size, u.align), (16, 8));
    assert!(u.fields.iter().all(|f| f.offset == 0));
}

#[test]
fn a_pointer_to_an_unknown_struct_is_refused() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"s\"\nfields = [{{ name = \"p\", type = \"khoser_ptr<nope>\" }}]\n"
    );
    let e = errors(&[("t.toml", &text)]);
    assert_eq!(
        e,
        format!(
            "{}s.p: khoser_ptr<nope>: unknown struct `nope` (the target is a struct of this schema or a dependency)",
            place("t.toml", &text, "\"khoser_ptr", 0)
        )
    );
}

// ---------------------------------------------------------------------------
// Flexible array members

const PCI: &str = r#"[abi]
name = "pci"
version = 1
compose = "none"
[abi.c]
compatible_macro = "PCI_LUO_FLB_COMPATIBLE"

[[struct]]
name = "pci_dev_ser"
fields = [
  { name = "domain", type = "u32" },
  { name = "bdf", type = "u16" },
  { name = "refcount", type = "u16" },
]

[[struct]]
name = "pci_ser"
fields = [
  { name = "max_nr_devices", type = "u32" },
  { name = "nr_devices", type = "u32" },
  { name = "devices", type = "struct pci_dev_ser[]", count = "nr_devices" },
]

[[assert]]
expr = "offsetof(struct pci_ser, devices) % sizeof(unsigned long) == 0"
[[assert]]
expr = "sizeof(struct pci_dev_ser) % sizeof(unsigned long) == 0"
"#;

#[test]
fn a_flexible_array_is_not_in_sizeof_and_names_its_count() {
    let abis = ok(&[("pci.toml", PCI)]);
    let (s, n) = abis[0].find("pci_ser").unwrap();
    assert_eq!(s.size, 8);
    let f = &s.fields[2];
    assert_eq!((f.offset, f.size), (8, 0));
    assert_eq!(f.ty.to_string(), "pci_dev_ser[]");
    assert!(matches!(f.ty, Ty::Flex(_)));
    assert_eq!(n.field_counts, [None, None, Some("nr_devices".to_string())]);
    assert_eq!(abis[0].compatible, "pci-v1");
    assert_eq!(abis[0].asserts().len(), 2);
}

#[test]
fn flexible_array_misuse_is_refused_at_its_place() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "{ name = \"d\", type = \"u8[]\" }, { name = \"n\", type = \"u32\" }",
            "\"u8[]\"",
            "s.d: a flexible array member `T[]` must be the struct's last field",
        ),
        (
            "{ name = \"d\", type = \"u8[]\" }",
            "\"u8[]\"",
            "s.d: a flexible array member needs another field before it (as in C)",
        ),
        (
            "{ name = \"n\", type = \"u32\" }, { name = \"d\", type = \"u8[]\", count = \"m\" }",
            "\"m\"",
            "s.d: count = \"m\" names no field of s before it",
        ),
        (
            "{ name = \"n\", type = \"char[4]\" }, { name = \"d\", type = \"u8[]\", count = \"n\" }",
            "\"n\" }",
            "s.d: count = \"n\" is a field of type `char`, not an integer",
        ),
        (
            "{ name = \"n\", type = \"u32\", count = \"n\" }",
            "\"n\" }",
            "s.n: `count` is for a flexible array member (`T[]`) only",
        ),
        (
            "{ name = \"n\", type = \"u32\" }, { name = \"d\", type = \"u8[][2]\" }",
            "[2]\"",
            "s.d: type `u8[][2]`: a flexible array `[]` is the last part of the type (`T[]`)",
        ),
    ];
    for (fields, needle, want) in cases {
        let text = one(fields);
        let e = errors(&[("t.toml", &text)]);
        let p = place("t.toml", &text, needle, 0);
        assert!(
            e.contains(&format!("{p}{want}")),
            "{fields}:\n{e}\nwant {p}{want}"
        );
    }
}

fn one(fields: &str) -> String {
    format!("{HEAD}[[struct]]\nname = \"s\"\nfields = [{fields}]\n")
}

#[test]
fn a_struct_ending_in_a_flexible_array_cannot_be_held() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"f\"\nfields = [{{ name = \"n\", type = \"u32\" }}, {{ name = \"d\", type = \"u8[]\" }}]\n\
         [[struct]]\nname = \"h\"\nfields = [{{ name = \"inner\", type = \"f\" }}]\n"
    );
    let e = errors(&[("t.toml", &text)]);
    assert_eq!(
        e,
        format!(
            "{}h.inner: struct f ends in a flexible array member, so it cannot be held in another struct or an array (C forbids it)",
            place("t.toml", &text, "\"f\" }", 0)
        )
    );
    let union = format!(
        "{HEAD}[[struct]]\nname = \"u\"\nunion = true\nfields = [{{ name = \"n\", type = \"u32\" }}, {{ name = \"d\", type = \"u8[]\" }}]\n"
    );
    assert!(
        errors(&[("t.toml", &union)]).contains("u.d: a union cannot have a flexible array member")
    );
    let entry = format!(
        "{HEAD}[[struct]]\nname = \"e\"\nentry = true\nfields = [{{ name = \"n\", type = \"u32\" }}, {{ name = \"d\", type = \"u8[]\" }}]\n"
    );
    assert!(errors(&[("t.toml", &entry)]).contains(
        "e.d: entry e cannot end in a flexible array: a block set's entries have one fixed size"
    ));
}

#[test]
fn offsetof_a_bit_field_is_refused() {
    let text =
        format!("{FOLIO}[[assert]]\nexpr = \"offsetof(struct memfd_luo_folio_ser, flags) == 0\"\n");
    let e = errors(&[("memfd.toml", &text)]);
    assert!(
        e.contains("offsetof(memfd_luo_folio_ser, flags): `flags` is a bit field, which has no offset in C (with PAGE_SIZE = 4096)"),
        "{e}"
    );
}

#[test]
fn two_abis_may_share_an_external_constant_but_not_a_macro() {
    let ext = "__NEW_UTS_LEN = { external = \"linux/utsname.h\", value = 64 }";
    let a = format!("[abi]\nname = \"a\"\nversion = 1\n[constants]\n{ext}\n");
    let b = format!("[abi]\nname = \"b\"\nversion = 1\ndepends = [\"a\"]\n[constants]\n{ext}\n");
    ok(&[("a.toml", &a), ("b.toml", &b)]);
    // Disagreeing on its value is a clash.
    let b2 = b.replace("value = 64", "value = 65");
    let e = errors(&[("a.toml", &a), ("b.toml", &b2)]);
    assert!(
        e.contains(
            "b.toml:6:1: constant name __NEW_UTS_LEN is also the constant of dependency `a`"
        ),
        "{e}"
    );
    let c = "[abi]\nname = \"c\"\nversion = 1\n[[abi.compatible]]\nmacro = \"A_ABI_COMPATIBLE\"\nname = \"x\"\nversion = 1\nstructs = [\"s\"]\n[[struct]]\nname = \"s\"\nfields = [{ name = \"a\", type = \"u8\" }]\n";
    let e = errors(&[("a.toml", &a), ("c.toml", c)]);
    assert!(
        e.contains(
            "c.toml:5:9: compatible macro A_ABI_COMPATIBLE of ABI `c` is also ABI `a`'s (a.toml)"
        ),
        "{e}"
    );
}
