//! The mutation matrix: every kind of change a schema can undergo, applied
//! to a copy of the repository's schemas after `generate`, and what
//! `check`, `generate` and `diff` make of it, first without a version bump
//! and then with one. Only their behavior is asserted, never the content
//! of generated files.

use std::path::Path;
use std::process::Output;

mod common;
use common::{kho_abi, on, TempDir};

// ---------------------------------------------------------------------------
// Helpers

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// The repository's schemas, generated into a fresh root.
fn baseline() -> TempDir {
    let t = TempDir::with_schemas("base");
    let out = on(t.path(), "generate");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = on(t.path(), "check");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    t
}

/// `text` with the one occurrence of `from` replaced: a mutation that no
/// longer finds its target fails loudly instead of testing nothing.
fn once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} is not in the schema once"
    );
    text.replacen(from, to, 1)
}

/// A `check` line without its `file:line:col: ` (asserted to point into
/// luo.toml when there is one: a removed struct has none).
fn unlocated(line: &str) -> Option<&str> {
    match line.find(": luo: ") {
        Some(i) if !line[..i].contains("schemas/luo.toml:") => None,
        Some(i) => line.get(i + 2..),
        None => Some(line),
    }
}

/// An expected bump line with the macro to bump, as check names it.
fn with_macro(line: &str) -> String {
    if line.contains(": bump luo to ") {
        format!("{line} (LUO_ABI_COMPATIBLE)")
    } else {
        line.to_string()
    }
}

/// Whether a check line (without its place) is the finding `want`,
/// possibly followed by the other places changed under the same macro.
fn same_finding(got: &str, want: &str) -> bool {
    match got.strip_prefix(want) {
        Some("") => true,
        Some(rest) => rest.starts_with(" (also changed: ") && rest.ends_with(')'),
        None => false,
    }
}

/// A review line without the ` (`file:line:col`)` it ends in, if any.
fn review_unlocated(line: &str) -> &str {
    match line.rfind(" (`") {
        Some(i) if line.ends_with("`)") && line[i..].contains("luo.toml:") => &line[..i],
        _ => line,
    }
}

/// `text` without the `[[struct]]` named `name`.
fn without_struct(text: &str, name: &str) -> String {
    let head = format!("[[struct]]\nname = \"{name}\"\n");
    let start = text.find(&head).expect("struct to remove");
    let end = text[start + head.len()..]
        .find("[[struct]]")
        .map_or(text.len(), |i| start + head.len() + i);
    format!("{}{}", &text[..start], &text[end..])
}

// ---------------------------------------------------------------------------
// The schema lines the mutations edit (from schemas/luo.toml).

const NAME: &str = r#"    { name = "name", type = "char[LIVEUPDATE_HNDL_NAME_LENGTH]", doc = "Compatible string of the file handler that preserved it." },
"#;
const DATA: &str = r#"    { name = "data", type = "u64", doc = "Handler-private data, often the address of its own state." },
"#;
const TOKEN: &str = r#"    { name = "token", type = "u64", doc = "The token user space gave the file." },
"#;
const FLAGS: &str = r#"    { name = "flags", type = "u64", doc = "Flags." },
"#;
const SET_COUNT: &str = r#"    { name = "count", type = "u64", doc = "Number of files." },
"#;
const LUO_V4: &str = "[abi]\nname = \"luo\"\nversion = 4\n";
const LUO_V5: &str = "[abi]\nname = \"luo\"\nversion = 5\n";

/// What `check` must say.
#[derive(Debug)]
enum Check {
    /// Exit 1 and this exact first line on stderr.
    FirstLine(&'static str),
    /// Exit 1, stderr mentions this and never "bump".
    StaleOnly(&'static str),
}

struct Case {
    name: &'static str,
    /// The schema file edited (under schemas/) and the edit.
    file: &'static str,
    edit: fn(&str) -> String,
    /// `check` on the mutation, before any bump.
    check: Check,
    /// Whether `generate` refuses (exit 1, writing nothing) before a bump.
    refuses: bool,
    /// luo's verdict heading in `diff BASE NEW`, and diff's exit status.
    verdict: &'static str,
    diff_exit: i32,
    /// Lines the Markdown review must hold (change kinds, table rows).
    review: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "width of a field",
            file: "luo.toml",
            edit: |t| once(t, DATA, &DATA.replace("u64", "u32")),
            check: Check::FirstLine(
                "luo: luo_file_ser.data changed from u64 (8 bytes) to u32 (4 bytes), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "- required: **bump luo to v5**",
                "- **breaking**: `luo_file_ser.data` changed from u64 (8 bytes) to u32 (4 bytes)",
                "| data | 48 | 8 -> 4 | u64 -> u32 | breaking |",
                "| token | 56 -> 52 | 8 | u64 | breaking |",
            ],
        },
        Case {
            name: "field added at the end",
            file: "luo.toml",
            edit: |t| once(t, TOKEN, &format!("{TOKEN}{FLAGS}")),
            check: Check::FirstLine(
                "luo: luo_file_ser.flags added at offset 64 (8 bytes), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "### `luo_file_ser`: 64 -> 72 bytes",
                "| flags | 64 | 8 | u64 | added |",
            ],
        },
        Case {
            name: "field added in the middle",
            file: "luo.toml",
            edit: |t| once(t, DATA, &format!("{FLAGS}{DATA}")),
            check: Check::FirstLine(
                "luo: luo_file_ser.flags added at offset 48 (8 bytes), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "| flags | 48 | 8 | u64 | added |",
                "| data | 48 -> 56 | 8 | u64 | breaking |",
                "| token | 56 -> 64 | 8 | u64 | breaking |",
            ],
        },
        Case {
            name: "field removed",
            file: "luo.toml",
            edit: |t| once(t, TOKEN, ""),
            check: Check::FirstLine(
                "luo: luo_file_ser.token removed (was at offset 56, 8 bytes), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &["| token | 56 | 8 | u64 | removed |"],
        },
        Case {
            name: "two fields of one type swapped",
            file: "luo.toml",
            edit: |t| once(t, &format!("{DATA}{TOKEN}"), &format!("{TOKEN}{DATA}")),
            check: Check::FirstLine(
                "luo: luo_file_ser.token moved from offset 56 to 48, \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "| token | 56 -> 48 | 8 | u64 | breaking |",
                "| data | 48 -> 56 | 8 | u64 | breaking |",
            ],
        },
        Case {
            name: "field renamed",
            file: "luo.toml",
            edit: |t| once(t, TOKEN, &TOKEN.replace("\"token\"", "\"cookie\"")),
            check: Check::FirstLine(
                "luo: luo_file_ser.cookie renamed from token (same offset, size and type), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "- **name only**: `luo_file_ser.cookie` renamed from token (same offset, size and type)",
                "| token -> cookie | 56 | 8 | u64 | name only |",
            ],
        },
        Case {
            name: "literal array length",
            file: "luo.toml",
            edit: |t| {
                once(
                    t,
                    r#"type = "char[48]", doc = "The feature's name.""#,
                    r#"type = "char[40]", doc = "The feature's name.""#,
                )
            },
            check: Check::FirstLine(
                "luo: liveupdate_feature_entry.name changed from char[48] (48 bytes) to char[40] (40 bytes), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &["| name | 0 | 48 -> 40 | char[48] -> char[40] | breaking |"],
        },
        Case {
            name: "array length of a nested struct's field",
            file: "luo.toml",
            edit: |t| once(t, r#"type = "u64[13]""#, r#"type = "u64[12]""#),
            check: Check::FirstLine(
                "luo: luo_feature_hdr.reserved changed from u64[13] (104 bytes) to u64[12] (96 bytes), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "### `luo_feature_hdr`: 128 -> 120 bytes",
                // luo_ser holds a luo_feature_hdr: it changes with it.
                "### `luo_ser`: 152 -> 144 bytes",
            ],
        },
        Case {
            name: "constant used as an array length",
            file: "luo.toml",
            edit: |t| {
                once(
                    t,
                    "LIVEUPDATE_HNDL_NAME_LENGTH = { value = 48,",
                    "LIVEUPDATE_HNDL_NAME_LENGTH = { value = 32,",
                )
            },
            check: Check::FirstLine(
                "luo: constant LIVEUPDATE_HNDL_NAME_LENGTH changed from 48 to 32, \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "- **breaking**: constant `LIVEUPDATE_HNDL_NAME_LENGTH` changed from 48 to 32",
                "| name | 0 | 48 -> 32 | char[48] -> char[32] | breaking |",
            ],
        },
        Case {
            name: "nested struct gains a field",
            file: "luo.toml",
            edit: |t| once(t, SET_COUNT, &format!("{SET_COUNT}{FLAGS}")),
            check: Check::FirstLine(
                "luo: luo_file_set_ser.flags added at offset 16 (8 bytes), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "### `luo_file_set_ser`: 16 -> 24 bytes",
                "| file_set_ser | 64 | 16 -> 24 | luo_file_set_ser | breaking |",
            ],
        },
        Case {
            name: "struct removed",
            file: "luo.toml",
            edit: |t| without_struct(t, "liveupdate_ver_hdr"),
            check: Check::FirstLine(
                "luo: struct liveupdate_ver_hdr removed, \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "### `liveupdate_ver_hdr`: removed, was 8 bytes",
                "| magic | 0 | 4 | u32 | removed |",
            ],
        },
        Case {
            name: "struct added",
            file: "luo.toml",
            edit: |t| {
                format!(
                    "{t}\n[[struct]]\nname = \"luo_extra_ser\"\ndoc = \"More.\"\nfields = [\n{FLAGS}{TOKEN}]\n"
                )
            },
            check: Check::FirstLine(
                "luo: struct luo_extra_ser added (16 bytes), \
                 but the compatible string is still luo-v4-kho-block-v1: bump luo to v5",
            ),
            refuses: true,
            verdict: "BUMP MISSING",
            diff_exit: 1,
            review: &[
                "### `luo_extra_ser`: added, 16 bytes",
                "| flags | 0 | 8 | u64 | added |",
            ],
        },
        Case {
            name: "doc text only",
            file: "luo.toml",
            edit: |t| {
                let t = once(t, TOKEN, &TOKEN.replace("gave the file", "named the file by"));
                once(&t, "One preserved file of a session.", "A preserved file.")
            },
            check: Check::StaleOnly("out of date"),
            refuses: false,
            verdict: "doc only",
            diff_exit: 0,
            review: &[
                "**Verdict: ok** (2 ABIs: 1 doc only, 1 unchanged).",
                "- compatible string: `luo-v4-kho-block-v1` (unchanged)",
                "- **doc only**: struct `luo_file_ser` doc text changed",
                "- **doc only**: `luo_file_ser.token` doc text changed",
                "| token | 56 | 8 | u64 | doc only |",
            ],
        },
        Case {
            name: "dependency bumped",
            file: "kho_block.toml",
            edit: |t| once(t, "version = 1\n", "version = 2\n"),
            check: Check::FirstLine(
                "abi.lock records kho-block as kho-block-v1, the schema makes it kho-block-v2: \
                 run `kho-abi generate`",
            ),
            refuses: false,
            verdict: "bump present",
            diff_exit: 0,
            review: &[
                "## kho-block: bump present",
                "- compatible string: `luo-v4-kho-block-v1` -> `luo-v4-kho-block-v2`",
                "- dependency kho-block: `kho-block-v1` -> `kho-block-v2` changes luo's compatible \
                 string from `luo-v4-kho-block-v1` to `luo-v4-kho-block-v2`",
            ],
        },
    ]
}

/// A fresh copy of `base` with `case` applied, and luo bumped to v5 if
/// `bump`.
fn mutated(base: &TempDir, case: &Case, bump: bool) -> TempDir {
    let t = TempDir::new("case");
    copy_tree(base.path(), t.path());
    let path = t.schemas().join(case.file);
    let mut schema = (case.edit)(&std::fs::read_to_string(&path).unwrap());
    std::fs::write(&path, &schema).unwrap();
    if bump {
        let luo = t.schemas().join("luo.toml");
        schema = once(&std::fs::read_to_string(&luo).unwrap(), LUO_V4, LUO_V5);
        std::fs::write(&luo, schema).unwrap();
    }
    t
}

fn diff(base: &TempDir, new: &TempDir) -> Output {
    kho_abi(&[
        "diff",
        base.schemas().to_str().unwrap(),
        new.schemas().to_str().unwrap(),
    ])
}

/// Everything found wrong with one case, so one run shows every failure.
fn run(base: &TempDir, case: &Case) -> Vec<String> {
    let mut bad = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            bad.push(format!("{}: {what}", case.name));
        }
    };

    // Without a bump.
    let t = mutated(base, case, false);
    let out = on(t.path(), "check");
    let err = text(&out.stderr);
    let first = err.lines().next().unwrap_or("");
    expect(
        out.status.code() == Some(1),
        format!("check exit {:?}", out.status),
    );
    match case.check {
        Check::FirstLine(line) => {
            let want = with_macro(line);
            expect(
                unlocated(first).is_some_and(|got| same_finding(got, &want)),
                format!("check's first line is {first:?}"),
            );
        }
        Check::StaleOnly(phrase) => {
            expect(err.contains(phrase), format!("check says {err:?}"));
            expect(
                !err.contains("bump"),
                format!("check asks for a bump: {err:?}"),
            );
        }
    }

    let out = diff(base, &t);
    let md = text(&out.stdout);
    expect(
        out.status.code() == Some(case.diff_exit),
        format!("diff exit {:?}: {}", out.status, text(&out.stderr)),
    );
    let heading = format!("## luo: {}\n", case.verdict);
    expect(
        md.contains(&heading),
        format!("review lacks {heading:?}:\n{md}"),
    );
    for line in case.review {
        expect(
            md.lines().any(|l| review_unlocated(l) == *line),
            format!("review lacks line {line:?}:\n{md}"),
        );
    }
    // Where check says the change is, the review says it too.
    if first.contains("schemas/luo.toml:") {
        expect(
            md.contains("schemas/luo.toml:"),
            format!("review names no file:line:col:\n{md}"),
        );
    }

    let lock = t.schemas().join("abi.lock");
    let lock_before = std::fs::read(&lock).unwrap();
    let out = on(t.path(), "generate");
    let err = text(&out.stderr);
    if case.refuses {
        expect(
            out.status.code() == Some(1),
            format!("generate exit {:?}", out.status),
        );
        if let Check::FirstLine(line) = case.check {
            let first = err.lines().next().unwrap_or("");
            let want = with_macro(line);
            expect(
                unlocated(first).is_some_and(|got| same_finding(got, &want)),
                format!("generate's first line is {first:?}"),
            );
        }
        expect(
            err.lines().last() == Some("kho-abi: generate wrote nothing"),
            format!("generate says {err:?}"),
        );
        expect(
            std::fs::read(&lock).unwrap() == lock_before,
            "generate wrote abi.lock".into(),
        );
        let out = on(t.path(), "check");
        expect(
            out.status.code() == Some(1),
            "check passes after a refused generate".into(),
        );
    } else {
        expect(
            out.status.code() == Some(0),
            format!("generate exit {:?}: {err}", out.status),
        );
        let out = on(t.path(), "check");
        expect(
            out.status.code() == Some(0),
            format!("check after generate: {}", text(&out.stderr)),
        );
    }

    // The same change with luo bumped to v5.
    let t = mutated(base, case, true);
    let out = diff(base, &t);
    let md = text(&out.stdout);
    expect(
        out.status.code() == Some(0),
        format!("bumped: diff exit {:?}\n{md}", out.status),
    );
    expect(
        md.contains("## luo: bump present\n"),
        format!("bumped: review says\n{md}"),
    );
    let out = on(t.path(), "generate");
    expect(
        out.status.code() == Some(0),
        format!("bumped: generate: {}", text(&out.stderr)),
    );
    let out = on(t.path(), "check");
    expect(
        out.status.code() == Some(0),
        format!("bumped: check: {}", text(&out.stderr)),
    );
    bad
}

#[test]
fn mutation_matrix() {
    let base = baseline();
    let cases = cases();
    let bad: Vec<String> = cases.iter().flat_map(|c| run(&base, c)).collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn mutations_are_different_changes() {
    // Each case edits the schema; none is a no-op after another.
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/luo.toml"))
            .unwrap();
    assert!(
        base.contains(NAME),
        "luo_file_ser.name is as the matrix expects"
    );
    let mut seen = Vec::new();
    for c in cases().iter().filter(|c| c.file == "luo.toml") {
        let edited = (c.edit)(&base);
        assert_ne!(edited, base, "{}", c.name);
        assert!(!seen.contains(&edited), "{} repeats another case", c.name);
        seen.push(edited);
    }
}
