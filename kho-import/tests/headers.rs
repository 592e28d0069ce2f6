//! Headers written for these tests: what kho cannot express is refused
//! naming the construct and header:line:col, and the kernel-doc hints
//! (flexible array counts, which compatible macro covers a struct) are
//! followed.

use std::path::PathBuf;

mod common;
use common::{opts, scratch};

/// Writes `text` as `linux/kho/abi/<name>` under a scratch include dir.
fn header(test: &str, name: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(test);
    let p = dir.join("linux/kho/abi").join(name);
    std::fs::create_dir_all(p.parent().unwrap_or(&dir)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (dir, p)
}

fn refusal(test: &str, text: &str) -> String {
    let (dir, p) = header(test, "bad.h", text);
    match kho_import::import(&[p], &opts(&[dir])) {
        Ok(v) => panic!("imported: {}", v[0].toml),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "#include <linux/types.h>\n#define BAD_COMPATIBLE \"bad-v1\"\n";

#[test]
fn a_plain_pointer_is_refused_with_its_line() {
    let e = refusal(
        "pointer",
        &format!("{HEAD}struct bad_ser {{\n\tu64 a;\n\tstruct bad_ser *next;\n}};\n"),
    );
    assert!(e.contains("bad.h:5:"), "{e}");
    assert!(e.contains("pointer field `next`"), "{e}");
}

#[test]
fn target_sized_fields_are_refused_with_their_line() {
    let e = refusal(
        "long",
        &format!("{HEAD}struct bad_ser {{\n\tu64 a;\n\tunsigned long n;\n}};\n"),
    );
    assert!(
        e.contains("bad.h:5:") && e.contains("`unsigned long` field `n`"),
        "{e}"
    );
    let e = refusal(
        "size_t",
        &format!("{HEAD}struct bad_ser {{\n\tsize_t n;\n}};\n"),
    );
    assert!(
        e.contains("bad.h:4:") && e.contains("`size_t` field `n`"),
        "{e}"
    );
}

#[test]
fn enum_fields_and_anonymous_structs_are_refused() {
    let e = refusal(
        "enum",
        &format!("{HEAD}enum bad_kind {{ A, B }};\nstruct bad_ser {{\n\tenum bad_kind k;\n}};\n"),
    );
    assert!(
        e.contains("bad.h:5:") && e.contains("enum field `k`"),
        "{e}"
    );
    let e = refusal(
        "anon",
        &format!("{HEAD}struct bad_ser {{\n\tstruct {{ u32 x; u32 y; }} pair;\n}};\n"),
    );
    assert!(
        e.contains("bad.h:4:") && e.contains("anonymous struct or union `pair`"),
        "{e}"
    );
}

const RADIX: &str = r#"#include <linux/bits.h>
#include <linux/log2.h>
#include <linux/math.h>
#include <linux/types.h>
#include <asm/page.h>

#define RADIX_COMPATIBLE "radix-v1"

/**
 * enum radix_consts - Sizes of the tree.
 * @RADIX_TABLE_LOG2: Entries of a node, log2.
 */
enum radix_consts {
	RADIX_TABLE_LOG2 = const_ilog2(PAGE_SIZE / sizeof(phys_addr_t)),
	RADIX_BITMAP_LOG2 = PAGE_SHIFT + const_ilog2(BITS_PER_BYTE),
	RADIX_DEPTH = DIV_ROUND_UP(64 - PAGE_SHIFT - RADIX_BITMAP_LOG2,
				   RADIX_TABLE_LOG2) + 1,
};

enum { RADIX_FIRST, RADIX_SECOND };

struct radix_leaf {
	DECLARE_BITMAP(bitmap, 1 << RADIX_BITMAP_LOG2);
};

struct radix_levels {
	u8 order[RADIX_DEPTH];
};
"#;

#[test]
fn enums_and_bitmaps_are_imported_as_written() {
    let (dir, p) = header("radix", "radix.h", RADIX);
    let imported = kho_import::import(&[p], &opts(&[dir])).unwrap_or_else(|e| panic!("{e}"));
    let t = &imported[0].toml;
    for want in [
        r#"BITS_PER_BYTE = { external = "linux/bits.h", value = 8 }"#,
        r#"RADIX_TABLE_LOG2 = { enum = "radix_consts", expr = "const_ilog2(PAGE_SIZE / sizeof(phys_addr_t))", doc = "Entries of a node, log2." }"#,
        r#"RADIX_DEPTH = { enum = "radix_consts", expr = "DIV_ROUND_UP(64 - PAGE_SHIFT - RADIX_BITMAP_LOG2, RADIX_TABLE_LOG2) + 1" }"#,
        r#"RADIX_FIRST = { enum = "", value = 0 }"#,
        r#"RADIX_SECOND = { enum = "", value = 1 }"#,
        r#"{ name = "bitmap", type = "bitmap<1 << RADIX_BITMAP_LOG2>" }, # line 23"#,
        r#"{ name = "order", type = "u8[RADIX_DEPTH]" }, # line 27"#,
        // What the generated header includes by itself is not listed.
        r#"includes = ["linux/types.h", "asm/page.h"]"#,
    ] {
        assert!(t.contains(want), "missing {want}\n{t}");
    }
    assert_eq!(imported[0].lines.get("constant RADIX_DEPTH"), Some(&16));
    assert_eq!(imported[0].lines.get("constant RADIX_SECOND"), Some(&20));
    let abis = kho_import::compile(&imported).unwrap_or_else(|e| panic!("{e}"));
    let levels = |page: usize| abis[0].structs_at(page)[1].size;
    assert_eq!([levels(4096), levels(16384), levels(65536)], [6, 4, 4]);
    assert_eq!(abis[0].structs_at(65536)[0].size, 65536);
}

#[test]
fn an_unsigned_long_array_is_a_bitmap_only_through_declare_bitmap() {
    let e = refusal(
        "ulong_array",
        &format!("{HEAD}struct bad_ser {{\n\tunsigned long bits[4];\n}};\n"),
    );
    assert!(
        e.contains("bad.h:4:") && e.contains("`unsigned long` field `bits`"),
        "{e}"
    );
    let e = refusal(
        "negative_enum",
        &format!("{HEAD}enum bad_consts {{ BAD_LOW = -1 + 0, BAD_NEXT }};\n"),
    );
    assert!(
        e.contains("bad.h:3:") && e.contains("enum member BAD_LOW = -1 (negative"),
        "{e}"
    );
    let e = refusal(
        "negative_enum2",
        &format!(
            "{HEAD}enum bad_consts {{ BAD_A = 1, BAD_B = -2 }};\nenum bad_more {{ BAD_C = 1 }};\n"
        ),
    );
    assert!(
        e.contains("bad.h:3:") && e.contains("enum member BAD_B = -2"),
        "{e}"
    );
    // An enum with a member kho cannot name is left out, and refused only
    // where a layout uses it.
    let lower = format!("{HEAD}enum bad_consts {{ BAD_A = 1,\n\tbad_lower = 2 }};\n");
    let (dir, p) = header("lower_enum_unused", "bad.h", &lower);
    let t = &kho_import::import(&[p], &opts(&[dir])).unwrap_or_else(|e| panic!("{e}"))[0].toml;
    assert!(
        t.contains("enum bad_consts (member bad_lower is not UPPER_CASE)"),
        "{t}"
    );
    let e = refusal(
        "lower_enum",
        &format!("{lower}struct bad_ser {{\n\tu8 x[bad_lower];\n}};\n"),
    );
    assert!(
        e.contains("bad.h:4:") && e.contains("enum member bad_lower, used by a layout"),
        "{e}"
    );
}

#[test]
fn a_compatible_string_without_a_version_is_refused() {
    let e = refusal(
        "nover",
        "#include <linux/types.h>\n#define BAD_COMPATIBLE \"bad\"\nstruct bad_ser { u64 a; };\n",
    );
    assert!(
        e.contains("bad.h:2:") && e.contains("BAD_COMPATIBLE \"bad\""),
        "{e}"
    );
}

#[test]
fn a_c_error_is_reported_at_its_place() {
    let e = refusal(
        "cerror",
        &format!("{HEAD}struct bad_ser {{\n\tno_such_type a;\n}};\n"),
    );
    assert!(e.contains("bad.h:4:") && e.contains("no_such_type"), "{e}");
}

/// A macro naming a constant that nothing defines where the header is read
/// (memfd-v2's F_SEAL_EXEC in a tree older than Linux 6.3) is refused at
/// the macro, naming both, not written into a schema that cannot compile.
#[test]
fn a_constant_nothing_defines_is_refused_at_the_macro_that_uses_it() {
    let e = refusal(
        "undefined",
        &format!(
            "{HEAD}#define BAD_FLAG_A 0x1\n#define BAD_ALL (BAD_FLAG_A | \\\n\t\t BAD_FLAG_B)\n\
             struct bad_ser {{\n\tu32 flags;\n}};\n"
        ),
    );
    assert!(
        e.contains("bad.h:4:9: macro BAD_ALL uses BAD_FLAG_B"),
        "{e}"
    );
    assert!(e.contains("give the header that defines it"), "{e}");
    assert!(!e.contains("a bug of kho-import"), "{e}");
}

const TWO: &str = r#"/* SPDX-License-Identifier: GPL-2.0-only */
/**
 * DOC: Two compatible strings
 *
 * The root and the sessions are versioned apart.
 */
#include <linux/types.h>
#define TWO_COMPATIBLE "two-v1"
#define TWO_SESSION_COMPATIBLE "two-session-v3"

/**
 * struct two_root_ser - The root.
 * @count: How many sessions.
 *
 * If this structure is modified, `TWO_COMPATIBLE` must be updated.
 */
struct two_root_ser {
	u64 count;
} __packed;

/**
 * struct two_session_ser - A session.
 * @nr: Number of slots.
 * @slots: The slots, @nr entries.
 *
 * If this structure is modified, `TWO_SESSION_COMPATIBLE` must be updated.
 */
struct two_session_ser {
	u32 nr;
	u32 slots[];
} __packed;
"#;

#[test]
fn kernel_doc_assigns_structs_to_compatible_macros_and_counts_to_flexible_arrays() {
    let (dir, p) = header("two", "two.h", TWO);
    let imported = kho_import::import(&[p], &opts(&[dir])).unwrap_or_else(|e| panic!("{e}"));
    let t = &imported[0].toml;
    assert!(
        t.contains("name = \"two\"\nversion = 1\nspdx = \"GPL-2.0-only\""),
        "{t}"
    );
    assert!(
        t.contains(
            r#"doc = "Two compatible strings\n\nThe root and the sessions are versioned apart.""#
        ),
        "{t}"
    );
    assert!(
        t.contains("[[abi.compatible]]\nmacro = \"TWO_SESSION_COMPATIBLE\"\nname = \"two-session\"\nversion = 3\nstructs = [\"two_session_ser\"]"),
        "{t}"
    );
    assert!(
        t.contains(
            r#"{ name = "slots", type = "u32[]", count = "nr", doc = "The slots, @nr entries." }"#
        ),
        "{t}"
    );
    assert!(
        t.contains(r#"{ name = "count", type = "u64", doc = "How many sessions." }"#),
        "{t}"
    );
    let abis = kho_import::compile(&imported).unwrap_or_else(|e| panic!("{e}"));
    let strings: Vec<String> = abis[0]
        .compatibles()
        .iter()
        .map(|c| format!("{}={}", c.macro_name, c.value))
        .collect();
    assert_eq!(
        strings,
        [
            "TWO_COMPATIBLE=two-v1",
            "TWO_SESSION_COMPATIBLE=two-session-v3"
        ]
    );
}

#[test]
fn several_compatible_macros_without_hints_name_the_structs_left_over() {
    let text = TWO.replace(
        "If this structure is modified, `TWO_SESSION_COMPATIBLE` must be updated.",
        "",
    );
    let (dir, p) = header("unassigned", "two.h", &text);
    let e = kho_import::import(&[p], &opts(&[dir]))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("two.h: cannot tell which compatible macro"),
        "{e}"
    );
    assert!(e.contains("covers struct two_session_ser:"), "{e}");
    assert!(!e.contains("two_root_ser"), "{e}");
}

#[test]
fn a_header_that_is_not_a_regular_file_is_refused_without_reading_it() {
    let dir = scratch("fifo");
    let e = kho_import::import(std::slice::from_ref(&dir), &opts(&[]))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a regular file"), "{e}");
    let e = kho_import::import(&[PathBuf::from("/dev/zero")], &opts(&[]))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/dev/zero: not a regular file"), "{e}");
}

const LITERAL: &str = r#"/* SPDX-License-Identifier: GPL-2.0 */
/**
 * DOC: Literal blocks
 *
 * The FDT looks like this::
 *
 *     / {
 *         compatible = "lit-v1";
 *     };
 *
 * Fields:
 *   - a: the first.
 *   - b: the second.
 *
 * Running text
 * joined again.
 */
#include <linux/types.h>
#define LIT_COMPATIBLE "lit-v1"
struct lit_ser {
	u64 a;
};
"#;

/// A DOC block's `::` literal block and indented list keep their lines and
/// indentation through import, and every generator shows them as written:
/// the C header as kernel-doc, rustdoc and Markdown fenced as text (an
/// indented paragraph would be a doctest there).
#[test]
fn literal_blocks_in_a_doc_keep_their_lines() {
    let (dir, p) = header("literal", "lit.h", LITERAL);
    let imported = kho_import::import(&[p], &opts(&[dir])).unwrap_or_else(|e| panic!("{e}"));
    let abis = kho_import::compile(&imported).unwrap_or_else(|e| panic!("{e}"));
    let doc = &abis[0].doc;
    let block = "    / {\n        compatible = \"lit-v1\";\n    };";
    assert!(
        doc.contains(&format!("The FDT looks like this::\n\n{block}\n\n")),
        "{doc}"
    );
    assert!(
        doc.contains("Fields:\n  - a: the first.\n  - b: the second."),
        "{doc}"
    );
    assert!(doc.ends_with("Running text joined again."), "{doc}");
    let out = kho_schema::emit::all(&abis);
    let text = |prefix: &str| {
        out.iter()
            .find(|g| g.path.starts_with(prefix))
            .map(|g| g.text.clone())
            .unwrap_or_else(|| panic!("no {prefix} output"))
    };
    let c = text("c/");
    assert!(
        c.contains(" *     / {\n *         compatible = \"lit-v1\";\n *     };\n"),
        "{c}"
    );
    let md = text("doc/");
    assert!(md.contains(&format!("```text\n{block}\n```")), "{md}");
    let rust = text("rust/");
    assert!(
        rust.contains("//! ```text\n//!     / {\n//!         compatible = \"lit-v1\";\n"),
        "{rust}"
    );
}
