//! Schemas that are small but hostile: deep nesting, long compositions,
//! huge sizes, paths out of the tree, clashing names. Each is a schema error
//! naming its place, never a crash, a hang or a huge output; what is not an
//! error (a field named `type`) still compiles in C and in Rust.

use std::path::{Path, PathBuf};
use std::process::Command;

use kho_schema::diff::{diff, Verdict};
use kho_schema::view::AbiView;
use kho_schema::{emit, lock};

mod common;
use common::{errors, ok, HEAD};

fn scratch(test: &str) -> PathBuf {
    common::scratch("hostile_schemas", test)
}

/// Runs `f` on a thread with a small stack: what passes here does not
/// recurse with the depth of the input.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// `n` structs, each holding the one before: `s0` holds a u64, `s<i>` a
/// u64 and `s<i-1>`. The schema the issue describes.
fn chain(n: usize, leaf: &str) -> String {
    let mut t = String::from("[abi]\nname = \"chain\"\nversion = 1\n");
    t.push_str(&format!(
        "\n[[struct]]\nname = \"s0\"\nfields = [{{ name = \"a\", type = \"{leaf}\" }}]\n"
    ));
    for i in 1..n {
        t.push_str(&format!(
            "\n[[struct]]\nname = \"s{i}\"\nfields = [{{ name = \"a\", type = \"u64\" }}, {{ name = \"inner\", type = \"s{}\" }}]\n",
            i - 1
        ));
    }
    t
}

fn one_struct(fields: &str) -> String {
    format!("{HEAD}[[struct]]\nname = \"s\"\nfields = [{fields}]\n")
}

// ---------------------------------------------------------------------------
// Nesting

#[test]
fn ten_thousand_nested_structs_are_an_error_not_a_crash() {
    let e = small_stack(|| errors(&[("deep.toml", &chain(10_000, "u64"))]));
    // s1024 is the first struct 1025 deep; s<i>'s name is on line 6 + 4i.
    let line = 6 + 4 * 1024;
    assert!(
        e.contains(&format!(
            "deep.toml:{line}:8: struct s1024 nests structs 1025 deep (s1024 -> s1023 -> s1022 -> ... -> s0): the limit is 1024"
        )),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "one error, where it starts");
}

/// The same chain declared outermost first: a depth-first walk from the
/// first struct goes all the way down at once.
#[test]
fn ten_thousand_nested_structs_declared_outermost_first() {
    let n = 10_000;
    let mut t = String::from("[abi]\nname = \"chain\"\nversion = 1\n");
    for i in 0..n - 1 {
        t.push_str(&format!(
            "[[struct]]\nname = \"t{i}\"\nfields = [{{ name = \"inner\", type = \"t{}\" }}]\n",
            i + 1
        ));
    }
    t.push_str(&format!(
        "[[struct]]\nname = \"t{}\"\nfields = [{{ name = \"a\", type = \"u8\" }}]\n",
        n - 1
    ));
    let e = small_stack(move || errors(&[("deep.toml", &t)]));
    // t8975 is the first struct 1025 deep; t<i>'s name is on line 5 + 3i.
    let line = 5 + 3 * (n - 1025);
    assert_eq!(
        e,
        format!(
            "deep.toml:{line}:8: struct t8975 nests structs 1025 deep (t8975 -> t8976 -> t8977 -> ... -> t9999): the limit is 1024"
        )
    );
}

#[test]
fn a_thousand_nested_structs_compile_to_a_small_lock() {
    let (abis, files, lock_text) = small_stack(|| {
        let abis = ok(&[("chain.toml", &chain(1000, "u64"))]);
        let files = emit::all(&abis);
        let lock_text = lock::render(&abis);
        (abis, files, lock_text)
    });
    assert!(
        lock_text.len() < 1 << 20,
        "lock is {} bytes",
        lock_text.len()
    );
    assert_eq!(files.len(), 3);
    let (top, note) = abis[0].find("s999").unwrap();
    assert_eq!(top.size, 8 * 1000);
    // Struct fingerprints are still those of the shared layout model.
    assert_eq!(
        Some(note.fingerprint),
        kho_layout::fingerprint_in(top, abis[0].set())
    );
    assert!(lock_text.contains(&format!(
        "struct s999 size 8000 fingerprint {:#018x}\n  a u64 offset 0 size 8\n  inner s998 offset 8 size 7992\n",
        note.fingerprint
    )));
}

#[test]
fn a_change_deep_down_changes_every_fingerprint_above_and_is_named() {
    let (old, new) = small_stack(|| {
        (
            ok(&[("chain.toml", &chain(200, "u64"))]),
            ok(&[("chain.toml", &chain(200, "i64"))]),
        )
    });
    assert_ne!(old[0].fingerprint(), new[0].fingerprint());
    for ((s, o), (_, n)) in old[0].items().zip(new[0].items()) {
        assert_ne!(o.fingerprint, n.fingerprint, "{}", s.name);
    }
    // The lock's record of the old side still tells which field changed.
    let locked = lock::parse(&lock::render(&old)).unwrap();
    let view = locked["chain"].view("chain").unwrap();
    let d = diff(&[view], &[AbiView::of(&new[0])]);
    let places: Vec<&str> = d[0].changes.iter().map(|c| c.place.as_str()).collect();
    assert!(places.contains(&"s0.a"), "{places:?}");
    // A change inside nested structs names the field path, with the
    // schema place of the field that holds it.
    assert!(
        d[0].changes.iter().any(|c| c.place == "s2.inner.inner.a"
            && c.what == "changed type from u64 to i64"
            && c.at.as_deref() == Some("chain.toml:15:50")),
        "{:?}",
        &d[0].changes[..3]
    );
    // Deeper than the path is followed, the struct is named.
    assert!(
        d[0].changes
            .iter()
            .any(|c| c.place == "struct s20" && c.what == "a nested struct's layout changed"),
        "{:?}",
        &d[0].changes[20]
    );
    assert_eq!(d[0].verdict, Verdict::BumpMissing);
}

#[test]
fn deep_toml_nesting_is_a_parse_error() {
    let n = 100_000;
    let arrays = format!("x = {}{}\n", "[".repeat(n), "]".repeat(n));
    let tables = format!("x = {}1{}\n", "{ a = ".repeat(n), " }".repeat(n));
    let dotted = format!("{} = 1\n", vec!["a"; n].join("."));
    for text in [arrays, tables, dotted] {
        let e = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || errors(&[("n.toml", &text)]))
            .unwrap()
            .join()
            .unwrap();
        // toml bounds its own recursion (at 80 levels) and says so.
        assert!(e.starts_with("n.toml:1:"), "{}", &e[..e.len().min(300)]);
        assert!(e.contains("recursion"), "{}", &e[..e.len().min(300)]);
    }
}

#[test]
fn too_many_array_dimensions() {
    let e = errors(&[(
        "d.toml",
        &one_struct(&format!(
            "{{ name = \"x\", type = \"u8{}\" }}",
            "[1]".repeat(9)
        )),
    )]);
    assert!(e.contains("d.toml:6:32: s.x: type `u8[1][1][1][1][1][1][1][1][1]` has more than 8 array dimensions"), "{e}");
}

// ---------------------------------------------------------------------------
// Compatible strings

#[test]
fn every_compose_mode_has_the_kernel_limit() {
    // "a-v1" composed with a dependency: 4 + 1 + len(dependency's string).
    let dep_name = |len: usize| "d".repeat(len - 3);
    for mode in ["append", "sorted"] {
        // A dependency string of 42 bytes: 47 in all, the limit.
        let dep = format!("[abi]\nname = \"{}\"\nversion = 1\n", dep_name(42));
        let top = format!(
            "[abi]\nname = \"a\"\nversion = 1\ncompose = \"{mode}\"\ndepends = [\"{}\"]\n",
            dep_name(42)
        );
        let abis = ok(&[("d.toml", &dep), ("a.toml", &top)]);
        assert_eq!(abis[1].compatible.len(), 47, "{mode}");
        // One more byte is over.
        let dep = format!("[abi]\nname = \"{}\"\nversion = 1\n", dep_name(43));
        let top = top.replace(&dep_name(42), &dep_name(43));
        let e = errors(&[("d.toml", &dep), ("a.toml", &top)]);
        let sep = if mode == "append" { "-" } else { ";" };
        assert!(
            e.contains(&format!(
                "a.toml:2:8: compatible string \"a-v1{sep}{}-v1\" of ABI `a` is 48 bytes: the limit is 47",
                dep_name(43)
            )),
            "{mode}: {e}"
        );
    }
}

#[test]
fn thirty_abis_each_on_the_two_before_are_a_quick_error() {
    let texts: Vec<String> = (0..30)
        .map(|i| {
            let deps = match i {
                0 => String::new(),
                1 => "depends = [\"a0\"]\n".into(),
                _ => format!("depends = [\"a{}\", \"a{}\"]\n", i - 1, i - 2),
            };
            format!("[abi]\nname = \"a{i}\"\nversion = 1\n{deps}")
        })
        .collect();
    let names: Vec<String> = (0..30).map(|i| format!("a{i}.toml")).collect();
    let files: Vec<(&str, &str)> = names
        .iter()
        .zip(&texts)
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    // What the append composition would make, by length only.
    let mut len = vec![0usize; 30];
    for i in 0..30 {
        len[i] = format!("a{i}-v1").len();
        if i >= 1 {
            len[i] += 1 + len[i - 1];
        }
        if i >= 2 {
            len[i] += 1 + len[i - 2];
        }
    }
    assert!(len[29] > 1_000_000);
    let e = errors(&files);
    assert!(
        e.contains(&format!(
            "a29.toml:2:8: compatible string of ABI `a29` would be {} bytes, composed with `a28`'s, which is already over the limit: the limit is 47",
            len[29]
        )),
        "{e}"
    );
    assert!(e.len() < 10_000, "errors are {} bytes", e.len());
}

/// Depth 40: ABIs past 32 are no longer cut off from their dependencies'
/// strings; every one whose string passes the limit is reported, and a bump
/// at the bottom of the deepest chain that fits reaches the top.
#[test]
fn a_bump_propagates_at_any_depth() {
    let abi = |i: usize, v: u64| {
        let deps = if i == 0 {
            String::new()
        } else {
            format!("depends = [\"{}\"]\n", char::from(b'a' + (i - 1) as u8))
        };
        format!(
            "[abi]\nname = \"{}\"\nversion = {v}\n{deps}",
            char::from(b'a' + i as u8)
        )
    };
    // 40 deep (names a0..a39).
    let deep: Vec<String> = (0..40)
        .map(|i| {
            let deps = if i == 0 {
                String::new()
            } else {
                format!("depends = [\"a{}\"]\n", i - 1)
            };
            format!("[abi]\nname = \"a{i}\"\nversion = 1\n{deps}")
        })
        .collect();
    let names: Vec<String> = (0..40).map(|i| format!("a{i}.toml")).collect();
    let files: Vec<(&str, &str)> = names
        .iter()
        .zip(&deep)
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let e = errors(&files);
    assert!(
        e.contains("a39.toml:2:8: compatible string of ABI `a39` would be"),
        "{e}"
    );
    assert!(
        e.contains("a33.toml:2:8: compatible string of ABI `a33` would be"),
        "{e}"
    );
    // The deepest chain that fits: 9 ABIs of 4 bytes and 8 dashes, 44 bytes.
    let n = 9;
    let names: Vec<String> = (0..n).map(|i| format!("{i}.toml")).collect();
    let before: Vec<String> = (0..n).map(|i| abi(i, 1)).collect();
    let mut after = before.clone();
    after[0] = abi(0, 2);
    let compile_all = |texts: &[String]| {
        let files: Vec<(&str, &str)> = names
            .iter()
            .zip(texts)
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        ok(&files).iter().map(AbiView::of).collect::<Vec<_>>()
    };
    let (old, new) = (compile_all(&before), compile_all(&after));
    assert_eq!(new[n - 1].compatible.len(), 44);
    for d in diff(&old, &new) {
        assert_eq!(d.verdict, Verdict::BumpPresent, "{}", d.name);
    }
}

// ---------------------------------------------------------------------------
// Sizes

#[test]
fn sizes_are_checked_and_bounded() {
    let e = errors(&[(
        "o.toml",
        &one_struct("{ name = \"x\", type = \"u64[2305843009213693952]\" }"),
    )]);
    assert!(
        e.contains("o.toml:6:32: s.x: type `u64[2305843009213693952]` is 18446744073709551616 bytes: a struct is at most 1073741824 bytes (1 GiB)"),
        "{e}"
    );
    let e = errors(&[("o.toml", &one_struct("{ name = \"x\", type = \"u8[18446744073709551615][18446744073709551615][18446744073709551615]\" }"))]);
    assert!(e.contains("s.x: type `u8[18446744073709551615][18446744073709551615][18446744073709551615]` is more than 2^128 bytes"), "{e}");
    let e = errors(&[("o.toml", &one_struct("{ name = \"a\", type = \"u8[1000000000]\" }, { name = \"b\", type = \"u8[100000000]\" }"))]);
    assert!(
        e.contains("o.toml:6:61: s.b: struct s would be 1100000000 bytes at this field: a struct is at most 1073741824 bytes (1 GiB)"),
        "{e}"
    );
    // 1 GiB exactly is allowed.
    let abis = ok(&[(
        "o.toml",
        &one_struct("{ name = \"a\", type = \"u8[1073741824]\" }"),
    )]);
    assert_eq!(abis[0].structs()[0].size, 1 << 30);
}

// ---------------------------------------------------------------------------
// Output paths

#[test]
fn header_paths_stay_in_the_tree() {
    for (header, why) in [
        ("/etc/x.h", "is absolute"),
        ("../../../../x.h", "has a `..` component"),
        ("a/../b.h", "has a `..` component"),
        ("a/./b.h", "has a `.` component"),
        ("a//b.h", "has an empty component"),
        ("a/.b.h", "has a hidden component `.b.h`"),
        ("a b.h", "has the character ' '"),
        ("a\\\\b.h", "has the character '\\\\'"),
        ("x.txt", "does not end in `.h`"),
    ] {
        let text = format!("{HEAD}[abi.c]\nheader = \"{header}\"\n");
        let e = errors(&[("h.toml", &text)]);
        assert!(e.contains("h.toml:5:10: header "), "{header}: {e}");
        assert!(e.contains(why), "{header}: {e}");
        assert!(
            e.contains("it must be a relative path under the output directory"),
            "{e}"
        );
    }
}

#[test]
fn two_abis_with_one_header_is_an_error_naming_both() {
    let a = "[abi]\nname = \"a\"\nversion = 1\n[abi.c]\nheader = \"x/y.h\"\n";
    let b = "[abi]\nname = \"b\"\nversion = 1\n[abi.c]\nheader = \"x/y.h\"\n";
    let e = errors(&[("a.toml", a), ("b.toml", b)]);
    assert!(e.contains("b.toml:5:10: header \"x/y.h\" of ABI `b` is also the header of ABI `a` (a.toml): each ABI needs its own"), "{e}");
    // Against a default path, and without regard to case.
    let c = "[abi]\nname = \"c\"\nversion = 1\n[abi.c]\nheader = \"linux/kho/abi/A.h\"\n";
    let e = errors(&[
        ("a.toml", "[abi]\nname = \"a\"\nversion = 1\n"),
        ("c.toml", c),
    ]);
    assert!(
        e.contains(
            "header \"linux/kho/abi/A.h\" of ABI `c` is also the header of ABI `a` (a.toml)"
        ),
        "{e}"
    );
    // Different paths, one include guard: the second header would be empty.
    let d = "[abi]\nname = \"d\"\nversion = 1\n[abi.c]\nheader = \"x_y.h\"\n";
    let e = errors(&[("a.toml", a), ("d.toml", d)]);
    assert!(e.contains("d.toml:5:10: header \"x_y.h\" of ABI `d` has the include guard _X_Y_H of ABI `a`'s header \"x/y.h\" (a.toml)"), "{e}");
    // One compatible macro for two ABIs.
    let m = |n: &str| {
        format!("[abi]\nname = \"{n}\"\nversion = 1\n[abi.c]\ncompatible_macro = \"SAME\"\n")
    };
    let e = errors(&[("a.toml", &m("a")), ("b.toml", &m("b"))]);
    assert!(
        e.contains("b.toml:5:20: compatible_macro SAME of ABI `b` is also ABI `a`'s (a.toml)"),
        "{e}"
    );
}

#[test]
fn includes_and_macros_must_read_the_same_in_c() {
    let text = format!("{HEAD}[abi.c]\nincludes = [\"linux/types.h>\\n#include <evil.h\"]\ncompatible_macro = \"PAGE_SIZE\"\n");
    let e = errors(&[("i.toml", &text)]);
    assert!(e.contains("i.toml:5:13: include \"linux/types.h>\\n#include <evil.h\" cannot be written as #include <...>"), "{e}");
    assert!(
        e.contains("i.toml:6:20: compatible_macro PAGE_SIZE is a kernel macro"),
        "{e}"
    );
    let text = format!("{HEAD}[constants]\nX = {{ c = \"1\\n#define Y 2\" }}\n");
    let e = errors(&[("i.toml", &text)]);
    assert!(e.contains("i.toml:5:1: constant X: the C expression \"1\\n#define Y 2\" must be one line without comments"), "{e}");
}

// ---------------------------------------------------------------------------
// Names

#[test]
fn a_struct_name_from_two_dependencies_is_ambiguous() {
    let a = "[abi]\nname = \"a\"\nversion = 1\n[[struct]]\nname = \"foo\"\nfields = [{ name = \"x\", type = \"u8\" }]\n";
    let b = "[abi]\nname = \"b\"\nversion = 1\n[[struct]]\nname = \"foo\"\nfields = [{ name = \"y\", type = \"u16\" }]\n";
    let c = "[abi]\nname = \"c\"\nversion = 1\ndepends = [\"a\", \"b\"]\n[[struct]]\nname = \"s\"\nfields = [{ name = \"f\", type = \"foo[2]\" }]\n";
    let e = errors(&[("a.toml", a), ("b.toml", b), ("c.toml", c)]);
    assert!(e.contains("c.toml:7:32: s.f: ambiguous type `foo`: dependencies `a` and `b` both define a struct of that name"), "{e}");
    // Defining it again beside a dependency that has it clashes in C.
    let d = "[abi]\nname = \"d\"\nversion = 1\ndepends = [\"a\"]\n[[struct]]\nname = \"foo\"\nfields = [{ name = \"z\", type = \"u8\" }]\n";
    let e = errors(&[("a.toml", a), ("d.toml", d)]);
    assert!(e.contains("d.toml:6:8: struct `foo` is also defined by dependency `a` (a.toml:5:8): C struct names share one namespace"), "{e}");
}

#[test]
fn c_keywords_and_reserved_identifiers_are_errors() {
    for (name, why) in [
        ("asm", "is a C keyword"),
        ("int", "is a C keyword"),
        ("typeof", "is a C keyword"),
        ("__attribute__", "is reserved in C"),
        ("__packed", "is reserved in C"),
        ("__x", "is reserved in C"),
    ] {
        let e = errors(&[(
            "k.toml",
            &one_struct(&format!("{{ name = \"{name}\", type = \"u8\" }}")),
        )]);
        assert!(
            e.contains(&format!("k.toml:6:20: s.{name}: field name {name:?} {why}")),
            "{e}"
        );
    }
    let text =
        format!("{HEAD}[[struct]]\nname = \"asm\"\nfields = [{{ name = \"x\", type = \"u8\" }}]\n");
    let e = errors(&[("k.toml", &text)]);
    assert!(
        e.contains("k.toml:5:8: struct name \"asm\" is a C keyword"),
        "{e}"
    );
}

#[test]
fn rust_names_are_escaped_or_refused() {
    for name in ["self", "super", "crate"] {
        let e = errors(&[(
            "r.toml",
            &one_struct(&format!("{{ name = \"{name}\", type = \"u8\" }}")),
        )]);
        assert!(e.contains(&format!("r.toml:6:20: s.{name}: field name {name:?} is a Rust keyword that cannot be a raw identifier (r#{name})")), "{e}");
    }
    for (name, rust) in [
        ("option", "Option"),
        ("self", "Self"),
        ("string", "String"),
        ("phantom_data", "PhantomData"),
    ] {
        let text = format!(
            "{HEAD}[[struct]]\nname = \"{name}\"\nfields = [{{ name = \"x\", type = \"u8\" }}]\n"
        );
        let e = errors(&[("r.toml", &text)]);
        assert!(e.contains(&format!("r.toml:5:8: struct name {name:?} becomes the Rust type `{rust}`, a name the generated Rust needs")), "{e}");
    }
    // Two C names, one Rust name.
    let text = format!("{HEAD}[[struct]]\nname = \"a1b\"\nfields = [{{ name = \"x\", type = \"u8\" }}]\n[[struct]]\nname = \"a_1b\"\nfields = [{{ name = \"x\", type = \"u8\" }}]\n");
    let e = errors(&[("r.toml", &text)]);
    assert!(
        e.contains(
            "r.toml:8:8: struct name \"a_1b\" becomes the Rust type `A1b`, as struct \"a1b\" does"
        ),
        "{e}"
    );
    // An ABI's module.
    let e = errors(&[("r.toml", "[abi]\nname = \"type\"\nversion = 1\n")]);
    assert!(
        e.contains(
            "r.toml:2:8: ABI name \"type\" is a Rust keyword: it cannot name the generated module"
        ),
        "{e}"
    );
}

#[test]
fn constants_must_not_redefine_macros() {
    let e = errors(&[("c.toml", &format!("{HEAD}[constants]\nPAGE_SIZE = 4096\n"))]);
    assert!(
        e.contains(
            "c.toml:5:1: constant name PAGE_SIZE is a kernel macro the generated header relies on"
        ),
        "{e}"
    );
    let e = errors(&[(
        "c.toml",
        &format!("{HEAD}[constants]\nT_ABI_COMPATIBLE = 1\n"),
    )]);
    assert!(
        e.contains(
            "c.toml:5:1: constant name T_ABI_COMPATIBLE is this ABI's compatible-string macro"
        ),
        "{e}"
    );
    let e = errors(&[(
        "c.toml",
        &format!("{HEAD}[constants]\nX = {{ c = \"PAGE_SIZE\" }}\nX_C = 1\n"),
    )]);
    assert!(
        e.contains("c.toml:6:1: constant name X_C is the Rust name of the C expression X"),
        "{e}"
    );
    let dep = "[abi]\nname = \"d\"\nversion = 1\n[constants]\nLEN = 4\n";
    let top = "[abi]\nname = \"t\"\nversion = 1\ndepends = [\"d\"]\n[constants]\nLEN = 8\nD_ABI_COMPATIBLE = 2\n";
    let e = errors(&[("d.toml", dep), ("t.toml", top)]);
    assert!(e.contains("t.toml:6:1: constant name LEN is also the constant of dependency `d` (d.toml), whose header this one includes"), "{e}");
    assert!(e.contains("t.toml:7:1: constant name D_ABI_COMPATIBLE is also the compatible-string macro of dependency `d` (d.toml)"), "{e}");
}

// ---------------------------------------------------------------------------
// What stays legal compiles

/// Fields named by Rust keywords, `type` first (a common kernel field name).
const KEYWORD_FIELDS: &str = r#"[abi]
name = "esc"
version = 1
[constants]
N = 4
[[struct]]
name = "type"
fields = [{ name = "type", type = "u8" }, { name = "gen", type = "u8[N]" }]
[[struct]]
name = "holder"
entry = true
fields = [
  { name = "async", type = "type" },
  { name = "try", type = "u16" },
  { name = "dyn", type = "u32" },
  { name = "yield", type = "char[8]" },
  { name = "match", type = "type[2]" },
  { name = "macro", type = "phys_addr" },
]
"#;

#[test]
fn keyword_fields_compile_in_c() {
    let abis = ok(&[("esc.toml", KEYWORD_FIELDS)]);
    let dir = scratch("c");
    let include = dir.join("include");
    for g in emit::all(&abis) {
        if let Some(rel) = g.path.strip_prefix("c/") {
            let p = include.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &g.text).unwrap();
        }
    }
    let stubs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernel-stubs/include");
    let mut c = format!("#include <{}>\n#include <stddef.h>\n", abis[0].c.header);
    for s in abis[0].structs() {
        for f in s.fields.iter() {
            c.push_str(&format!(
                "_Static_assert(offsetof(struct {0}, {1}) == {2}, \"{0}.{1}\");\n",
                s.name, f.name, f.offset
            ));
        }
    }
    std::fs::write(dir.join("check.c"), c).unwrap();
    let out = Command::new("gcc")
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
        .arg(format!("-I{}", include.display()))
        .arg(format!("-I{}", stubs.display()))
        .arg("check.c")
        .current_dir(&dir)
        .output()
        .expect("gcc is on PATH (apt-get install gcc)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the emitted module in a crate of its own, with the derive, as a
/// user's crate would (edition 2024, where `gen` is a keyword).
#[test]
fn keyword_fields_compile_in_rust() {
    let abis = ok(&[("esc.toml", KEYWORD_FIELDS)]);
    let module = emit::all(&abis)
        .into_iter()
        .find(|g| g.path == "rust/esc.rs")
        .unwrap()
        .text;
    assert!(module.contains("pub r#type: u8,"), "{module}");
    assert!(module.contains("pub r#gen: [u8; N as usize],"), "{module}");
    // Not `scratch`: the crate's target directory is kept between runs.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile_schemas/rust");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"escaped\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\nkho = {{ path = {:?} }}\n\n[workspace]\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/esc.rs"), &module).unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "#![allow(unused_braces)]\n#[path = \"esc.rs\"]\npub mod esc;\n\
         pub fn fingerprint() -> u64 { <esc::Holder as kho::KhoEntry>::FINGERPRINT }\n",
    )
    .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// The lock's first format

#[test]
fn a_lock_of_the_first_format_is_upgraded_without_a_false_bump() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let old = std::fs::read_to_string(root.join("tests/fixtures/lock-v1/abi.lock")).unwrap();
    assert!(
        old.contains("\n    struct luo_file_set_ser size 16\n"),
        "the fixture inlines"
    );
    // The ABIs the fixture records (the shipped schemas have more now).
    let upgraded = lock::parse(&old).unwrap();
    let abis: Vec<_> = common::shipped()
        .into_iter()
        .filter(|a| upgraded.contains_key(&a.name))
        .collect();
    assert_eq!(abis.len(), 2);
    assert_eq!(lock::render_lock(&upgraded), lock::render(&abis));
    for a in &abis {
        assert_eq!(upgraded[&a.name].fingerprint, a.fingerprint(), "{}", a.name);
    }
}

// ---------------------------------------------------------------------------
// Graphs

fn numbered(n: usize, abi: impl Fn(usize) -> String) -> (Vec<String>, Vec<String>) {
    (
        (0..n).map(|i| format!("a{i}.toml")).collect(),
        (0..n).map(abi).collect(),
    )
}

fn pairs<'a>(names: &'a [String], texts: &'a [String]) -> Vec<(&'a str, &'a str)> {
    names
        .iter()
        .zip(texts)
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect()
}

#[test]
fn a_dependency_chain_deeper_than_64_is_one_error() {
    let (names, texts) = numbered(10_000, |i| {
        let deps = if i == 0 {
            String::new()
        } else {
            format!("depends = [\"a{}\"]\n", i - 1)
        };
        format!("[abi]\nname = \"a{i}\"\nversion = 1\n{deps}")
    });
    let e = small_stack(move || errors(&pairs(&names, &texts)));
    assert_eq!(
        e,
        "a64.toml:2:8: ABI `a64` builds on a chain of 65 ABIs (a64 -> a63 -> a62 -> ... -> a0): the limit is 64"
    );
}

#[test]
fn a_long_dependency_cycle_is_found_without_recursion() {
    let n = 10_000;
    let (names, texts) = numbered(n, |i| {
        format!(
            "[abi]\nname = \"a{i}\"\nversion = 1\ndepends = [\"a{}\"]\n",
            (i + 1) % n
        )
    });
    let e = small_stack(move || errors(&pairs(&names, &texts)));
    assert!(
        e.starts_with("a0.toml:2:8: ABI `a0` is part of a dependency cycle\n"),
        "{}",
        &e[..200]
    );
    assert_eq!(e.lines().count(), n);
}

#[test]
fn a_layout_too_large_to_fingerprint_is_an_error() {
    // Each struct holds two of the one before: its canonical text, which
    // inlines nested structs, doubles with each level.
    let mut t = String::from("[abi]\nname = \"t\"\nversion = 1\n[[struct]]\nname = \"s0\"\nfields = [{ name = \"a\", type = \"u8\" }]\n");
    for i in 1..40 {
        t.push_str(&format!(
            "[[struct]]\nname = \"s{i}\"\nfields = [{{ name = \"x\", type = \"s{0}\" }}, {{ name = \"y\", type = \"s{0}\" }}]\n",
            i - 1
        ));
    }
    let e = small_stack(move || errors(&[("t.toml", &t)]));
    assert!(e.contains("t.toml:59:8: struct s18: its canonical layout text, which its fingerprint hashes with every nested struct inlined, would be "), "{e}");
    assert!(e.contains("bytes: the limit is 16777216"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

// ---------------------------------------------------------------------------
// Expressions (issue 10)

/// A chain of 10,000 constants, each the one before plus one, evaluated
/// without recursion across constants, on a small stack.
#[test]
fn ten_thousand_chained_constants_evaluate_on_a_small_stack() {
    let mut t = String::from("[abi]\nname = \"c\"\nversion = 1\n[constants]\nK0 = 1\n");
    for i in 1..10_000 {
        t.push_str(&format!("K{i} = {{ expr = \"K{} + 1\" }}\n", i - 1));
    }
    t.push_str(
        "[[struct]]\nname = \"s\"\nfields = [{ name = \"a\", type = \"u8[K9999 / 1000]\" }]\n",
    );
    let abis = small_stack(move || ok(&[("c.toml", &t)]));
    assert_eq!(abis[0].constants[9999].values[0], (4096, 10_000));
    assert_eq!(abis[0].structs()[0].size, 10);
}

/// A length that is fine with 4 KiB pages and too large with 64 KiB ones
/// is refused, saying which page size.
#[test]
fn a_length_too_large_at_one_page_size_says_which() {
    let text = one_struct(
        "{ name = \"a\", type = \"u64[PAGE_SIZE * PAGE_SIZE]\" }, { name = \"b\", type = \"u8[PAGE_SIZE * 16]\" }",
    );
    let e = errors(&[("p.toml", &text)]);
    assert_eq!(
        e,
        "p.toml:6:32: s.a: type `u64[PAGE_SIZE * PAGE_SIZE]` is 2147483648 bytes: a struct is at most \
         1073741824 bytes (1 GiB) (with PAGE_SIZE = 16384)"
    );
}

/// Expression text is bounded before it is parsed.
#[test]
fn a_huge_expression_is_refused_by_length() {
    let expr = "1 + ".repeat(10_000) + "1";
    let text = format!("{HEAD}[constants]\nX = {{ expr = \"{expr}\" }}\n");
    let e = errors(&[("x.toml", &text)]);
    assert_eq!(
        e,
        "x.toml:5:14: constant X: expression is 40001 bytes: the limit is 1024"
    );
}
