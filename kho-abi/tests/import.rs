//! `kho-abi import`: one schema per C header into --out, all or nothing;
//! refusals exit 1 naming the construct and header:line; libclang missing
//! exits 2 saying what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kernel() -> PathBuf {
    root().join("kho-schema/tests/fixtures/kernel")
}

fn stubs() -> PathBuf {
    root().join("kho-schema/tests/fixtures/kernel-stubs/include")
}

fn scratch(name: &str) -> PathBuf {
    let d = root()
        .join("target/kho-abi-import-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kho-abi"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("kho-abi: {e}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn import_writes_one_schema_per_header_and_they_compile() {
    let out = scratch("ok");
    let abi = kernel().join("linux/kho/abi");
    let o = run(
        &[
            "import",
            "-I",
            &s(&kernel()),
            "-I",
            &s(&stubs()),
            "--out",
            &s(&out),
            &s(&abi.join("memfd.h")),
            &s(&abi.join("kexec_handover.h")),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    files.sort();
    assert_eq!(files, ["kexec_handover.toml", "memfd.toml"]);
    let abis = kho_schema::load_dir(&out).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = abis.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["kho", "memfd"]);
}

const POINTER: &str = "#include <linux/types.h>\n#define BAD_COMPATIBLE \"bad-v1\"\nstruct bad_ser {\n\tu64 a;\n\tstruct bad_ser *next;\n};\n";

#[test]
fn a_refused_header_exits_1_naming_it_and_writes_nothing() {
    let dir = scratch("refused");
    let bad = dir.join("bad.h");
    std::fs::write(&bad, POINTER).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
    // A schema from an earlier import stays as it was.
    let old = out.join("memfd.toml");
    std::fs::write(&old, "# an older import\n").unwrap_or_else(|e| panic!("{e}"));
    let memfd = kernel().join("linux/kho/abi/memfd.h");
    let o = run(
        &[
            "import",
            "-I",
            &s(&kernel()),
            "-I",
            &s(&stubs()),
            "--out",
            &s(&out),
            &s(&memfd),
            &s(&bad),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("bad.h:5:") && e.contains("pointer field `next`"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(&old).unwrap_or_default(),
        "# an older import\n"
    );
    assert!(!out.join("bad.toml").exists());
}

#[test]
fn without_libclang_import_exits_2_saying_what_to_install() {
    // clang-sys looks only in LIBCLANG_PATH when it is set.
    let empty = scratch("no-libclang");
    let out = empty.join("out");
    let memfd = kernel().join("linux/kho/abi/memfd.h");
    let o = run(
        &["import", "--out", &s(&out), &s(&memfd)],
        &[("LIBCLANG_PATH", &s(&empty))],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("kho-abi: libclang is needed to read C headers and could not be loaded ("),
        "{e}"
    );
    assert!(
        e.contains("install it: apt-get install libclang-14-dev (or set LIBCLANG_PATH)"),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn import_without_a_header_or_out_is_a_usage_error() {
    let o = run(&["import", "--out", "/nonexistent-kho-out"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&["import", "x.h"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(
        &["import", "-D", "=1", "--out", "/nonexistent-kho-out", "x.h"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the macro name is empty"));
}
