//! `generate`, `check` and `diff` on hostile schemas, through the binary:
//! every refusal is an exit code (1 bad input, 2 a side of a diff that
//! cannot be compiled) and one line per error on stderr, never a signal.

use std::path::Path;
use std::process::Output;

mod common;
use common::{kho_abi, stderr, TempDir};

fn on(root: &TempDir, cmd: &str) -> Output {
    common::on(root.path(), cmd)
}

/// Exited with `code` (so not by a signal), saying why on stderr.
fn exits(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "status {:?}: {}",
        o.status,
        stderr(o)
    );
}

/// `n` structs, each holding the one before.
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

#[test]
fn ten_thousand_nested_structs_exit_1_and_2_not_by_a_signal() {
    let root = TempDir::with_empty_schemas("deep");
    std::fs::write(root.schemas().join("deep.toml"), chain(10_000, "u64")).unwrap();
    let want = "deep.toml:4102:8: struct s1024 nests structs 1025 deep";
    for cmd in ["generate", "check"] {
        let out = on(&root, cmd);
        exits(&out, 1);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{cmd}: {err}");
        assert!(err.contains(want), "{cmd}: {err}");
    }
    assert!(!root.schemas().join("abi.lock").exists());
    let good = TempDir::with_empty_schemas("deep-old");
    std::fs::write(good.schemas().join("deep.toml"), chain(10, "u64")).unwrap();
    let (old, new) = (good.schemas(), root.schemas());
    let out = kho_abi(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    exits(&out, 2);
    assert!(stderr(&out).contains(want), "{}", stderr(&out));
}

#[test]
fn a_thousand_nested_structs_generate_a_small_lock() {
    let root = TempDir::with_empty_schemas("chain");
    let schema = root.schemas().join("chain.toml");
    std::fs::write(&schema, chain(1000, "u64")).unwrap();
    exits(&on(&root, "generate"), 0);
    let lock = std::fs::metadata(root.schemas().join("abi.lock"))
        .unwrap()
        .len();
    assert!(lock < 1 << 20, "abi.lock is {lock} bytes");
    exits(&on(&root, "check"), 0);
    // A change at the bottom without a bump: refused, naming the field.
    std::fs::write(&schema, chain(1000, "i64")).unwrap();
    let out = on(&root, "check");
    exits(&out, 1);
    assert!(
        stderr(&out).contains("chain: s0.a changed type from u64 to i64, but the compatible string is still chain-v1: bump chain to v2"),
        "{}",
        stderr(&out)
    );
    exits(&on(&root, "generate"), 1);
}

#[test]
fn a_header_outside_the_tree_is_a_schema_error_and_nothing_is_written() {
    let root = TempDir::with_empty_schemas("header");
    let outside = root.path().join("x.h");
    std::fs::write(
        root.schemas().join("t.toml"),
        "[abi]\nname = \"t\"\nversion = 1\n[abi.c]\nheader = \"../../x.h\"\n",
    )
    .unwrap();
    let out = on(&root, "generate");
    exits(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("t.toml:5:10: header \"../../x.h\" has a `..` component: it must be a relative path under the output directory"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!outside.exists());
    assert!(!root.schemas().join("generated").exists());
    assert!(!root.schemas().join("abi.lock").exists());
}

#[test]
fn two_abis_with_one_header_exit_1_naming_both() {
    let root = TempDir::with_empty_schemas("dup");
    for n in ["a", "b"] {
        std::fs::write(
            root.schemas().join(format!("{n}.toml")),
            format!("[abi]\nname = \"{n}\"\nversion = 1\n[abi.c]\nheader = \"linux/same.h\"\n"),
        )
        .unwrap();
    }
    for cmd in ["generate", "check"] {
        let out = on(&root, cmd);
        exits(&out, 1);
        assert!(
            stderr(&out).contains(
                "b.toml:5:10: header \"linux/same.h\" of ABI `b` is also the header of ABI `a`"
            ),
            "{cmd}: {}",
            stderr(&out)
        );
    }
    assert!(!root.schemas().join("generated").exists());
}

#[test]
fn a_long_composition_is_a_quick_error() {
    let root = TempDir::with_empty_schemas("compose");
    for i in 0..30 {
        let deps = match i {
            0 => String::new(),
            1 => "depends = [\"a0\"]\n".into(),
            _ => format!("depends = [\"a{}\", \"a{}\"]\n", i - 1, i - 2),
        };
        std::fs::write(
            root.schemas().join(format!("a{i:02}.toml")),
            format!("[abi]\nname = \"a{i}\"\nversion = 1\n{deps}"),
        )
        .unwrap();
    }
    let out = on(&root, "generate");
    exits(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("compatible string of ABI `a29` would be"),
        "{err}"
    );
    assert!(err.len() < 20_000, "{} bytes of errors", err.len());
    assert!(!Path::new(&root.schemas().join("abi.lock")).exists());
}
