//! `kho-abi lock`, `check` and `diff` with `--headers`: C headers as the
//! source of truth. Each test makes a git repository in a scratch
//! directory holding the kernel fixture headers (mainline's
//! include/linux/kho/abi/*.h, as kho-schema's tests keep them) under
//! `include/linux/kho/abi/`, and runs kho-abi on it as a kernel developer
//! would. libclang must be loadable (CI installs libclang-14-dev).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{assert_exit, kho_abi_in, stderr, stdout, TempDir};

/// The fixture headers and the stubs they include.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kho-schema/tests/fixtures")
}

/// Copies the fixture headers into `to`, returning how many. luo.h's
/// kernel-doc hint for luo_file_ser names a macro luo.h does not define
/// (`LUO_SESSION_COMPATIBLE`), so import refuses it as the kernel writes
/// it (kho-import's tests show that); here the hint names the macro that
/// exists.
fn copy_fixtures(to: &Path) -> usize {
    let from = fixtures().join("kernel/linux/kho/abi");
    let mut n = 0;
    for e in std::fs::read_dir(&from).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "h") {
            let mut text = std::fs::read_to_string(&p).unwrap();
            if p.ends_with("luo.h") {
                let fixed = text.replace(
                    "LUO_SESSION_COMPATIBLE must",
                    "`LUO_FDT_SESSION_COMPATIBLE` must",
                );
                assert_ne!(fixed, text, "luo.h's hint moved");
                text = fixed;
            }
            std::fs::write(to.join(p.file_name().unwrap()), text).unwrap();
            n += 1;
        }
    }
    n
}

/// Where the ABI headers are in the test repository.
const ABI_DIR: &str = "include/linux/kho/abi";
const MEMFD: &str = "include/linux/kho/abi/memfd.h";

/// A kernel-like tree: the fixture headers under include/linux/kho/abi,
/// committed.
struct Tree {
    dir: TempDir,
    stubs: String,
}

impl Tree {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let abi = dir.path().join(ABI_DIR);
        std::fs::create_dir_all(&abi).unwrap();
        let n = copy_fixtures(&abi);
        assert!(n >= 6, "the fixtures hold {n} headers");
        let stubs = fixtures().join("kernel-stubs/include");
        let t = Tree {
            dir,
            stubs: stubs.to_str().unwrap().to_string(),
        };
        t.git(&["init", "-q", "."]);
        t.commit("the fixture headers");
        t
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.name=kho", "-c", "user.email=kho@example.com"])
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
    }

    /// Runs `kho-abi CMD ARGS... -I include -I STUBS` in the tree.
    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-I", "include", "-I", &self.stubs]);
        kho_abi_in(Some(self.path()), &all)
    }

    fn lock(&self) -> Output {
        self.run(&["lock", "--headers", ABI_DIR, "--lock", "abi.lock"])
    }

    fn check(&self) -> Output {
        self.run(&["check", "--headers", ABI_DIR, "--lock", "abi.lock"])
    }

    fn lock_bytes(&self) -> Vec<u8> {
        std::fs::read(self.path().join("abi.lock")).unwrap()
    }

    /// Replaces the one occurrence of `from` in `file` by `to`.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let p = self.path().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{from:?} in {file}");
        std::fs::write(&p, text.replace(from, to)).unwrap();
    }

    /// The 1-based line of `file` holding `what`.
    fn line_of(&self, file: &str, what: &str) -> usize {
        let text = std::fs::read_to_string(self.path().join(file)).unwrap();
        1 + text.lines().position(|l| l.contains(what)).unwrap()
    }
}

/// A locked tree, checked clean.
fn locked(tag: &str) -> Tree {
    let t = Tree::new(tag);
    let out = t.lock();
    assert_exit(&out, 0);
    let lock = String::from_utf8(t.lock_bytes()).unwrap();
    for record in [
        "[\"memfd\"]",
        "compatible = \"memfd-v1\"",
        "pfn u64 offset 0 size 8 bits 0:52",
    ] {
        assert!(lock.contains(record), "abi.lock lacks {record:?}:\n{lock}");
    }
    let out = t.check();
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("ok: "), "{}", stdout(&out));
    assert!(!stdout(&out).contains("needs"), "{}", stdout(&out));
    t
}

#[test]
fn a_bit_width_change_without_a_bump_fails_check_and_lock() {
    let t = locked("narrow");
    let before = t.lock_bytes();
    t.edit(MEMFD, "u64 pfn:52;", "u64 pfn:51;");
    let line = t.line_of(MEMFD, "u64 pfn:51;");

    let out = t.check();
    assert_exit(&out, 1);
    let err = stderr(&out);
    for want in [
        format!("{MEMFD}:{line}: "),
        "memfd_luo_folio_ser.pfn changed from bits 0:52 to bits 0:51".to_string(),
        "old: offset 0 size 8 type u64 bits 0:52; new: offset 0 size 8 type u64 bits 0:51"
            .to_string(),
        "MEMFD_LUO_FH_COMPATIBLE is still \"memfd-v1\"".to_string(),
        "bump MEMFD_LUO_FH_COMPATIBLE to \"memfd-v2\"".to_string(),
    ] {
        assert!(err.contains(&want), "no {want:?} in:\n{err}");
    }
    // One line per macro that misses its bump.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(t.lock_bytes(), before, "check wrote the lock");

    let out = t.lock();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("memfd_luo_folio_ser.pfn"), "{err}");
    assert!(err.contains("lock wrote nothing"), "{err}");
    assert_eq!(t.lock_bytes(), before, "lock changed the lock it refused");
}

#[test]
fn a_bumped_macro_passes_check_and_lock_records_it() {
    let t = locked("bumped");
    t.edit(MEMFD, "u64 pfn:52;", "u64 pfn:51;");
    t.edit(
        MEMFD,
        "COMPATIBLE\t\"memfd-v1\"",
        "COMPATIBLE\t\"memfd-v2\"",
    );

    let out = t.check();
    assert_exit(&out, 0);
    let said = stdout(&out);
    assert!(said.starts_with("ok: "), "{said}");
    assert!(
        said.contains("abi.lock needs `kho-abi lock`: memfd is memfd-v2 (was memfd-v1)"),
        "{said}"
    );

    assert_exit(&t.lock(), 0);
    let lock = String::from_utf8(t.lock_bytes()).unwrap();
    assert!(lock.contains("compatible = \"memfd-v2\""), "{lock}");
    assert!(lock.contains("pfn u64 offset 0 size 8 bits 0:51"), "{lock}");
    let out = t.check();
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("needs"), "{}", stdout(&out));
}

#[test]
fn diff_against_the_previous_commit_shows_the_field_table() {
    let t = locked("diff");
    t.edit(MEMFD, "u64 pfn:52;", "u64 pfn:51;");
    t.commit("narrow pfn");
    let line = t.line_of(MEMFD, "u64 pfn:51;");

    let out = t.run(&["diff", "git:HEAD~1", "--headers", ABI_DIR]);
    // The macro kept its value: the review fails.
    assert_exit(&out, 1);
    let review = stdout(&out);
    for want in [
        "## memfd: BUMP MISSING".to_string(),
        format!("(`{MEMFD}:{line}`)"),
        "| pfn | 0 | 8 | u64 bits 0:52 -> u64 bits 0:51 | breaking |".to_string(),
        "| flags | 0 | 8 | u64 bits 52:12 -> u64 bits 51:12 | breaking |".to_string(),
    ] {
        assert!(review.contains(&want), "no {want:?} in:\n{review}");
    }

    t.edit(
        MEMFD,
        "COMPATIBLE\t\"memfd-v1\"",
        "COMPATIBLE\t\"memfd-v2\"",
    );
    t.commit("bump memfd");
    let out = t.run(&["diff", "git:HEAD~2", "--headers", ABI_DIR]);
    assert_exit(&out, 0);
    let review = stdout(&out);
    assert!(review.contains("## memfd: bump present"), "{review}");
    assert!(
        review.contains("- compatible string: `memfd-v1` -> `memfd-v2`"),
        "{review}"
    );
    assert!(
        review.contains("| pfn | 0 | 8 | u64 bits 0:52 -> u64 bits 0:51 | breaking |"),
        "{review}"
    );

    // Two directories: the old one a copy of the first commit's headers.
    let old = TempDir::new("diff-old");
    copy_fixtures(old.path());
    let out = t.run(&["diff", "--headers", old.arg(), ABI_DIR]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("| pfn | 0 | 8 | u64 bits 0:52 -> u64 bits 0:51 | breaking |"),
        "{}",
        stdout(&out)
    );
}

/// A header of the old revision that includes another reads the old one:
/// kho_vmalloc grown at HEAD is seen inside memfd_luo_ser as a change of
/// its own, not as the old memfd.h reading today's kexec_handover.h.
#[test]
fn the_old_side_includes_the_old_headers() {
    let t = locked("includes");
    t.edit(
        "include/linux/kho/abi/kexec_handover.h",
        "unsigned short order;",
        "unsigned short order;\n\tu64 extra;",
    );
    t.commit("grow kho_vmalloc");
    let out = t.run(&[
        "diff",
        "git:HEAD~1",
        "--headers",
        ABI_DIR,
        "--format",
        "json",
    ]);
    assert_exit(&out, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let abi = |name: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|a| a["abi"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"))
            .clone()
    };
    let memfd = abi("memfd");
    let sizes: Vec<(String, u64, u64)> = memfd["structs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["old_size"].as_u64().unwrap(),
                s["new_size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        sizes.contains(&("memfd_luo_ser".to_string(), 40, 48)),
        "{sizes:?}"
    );
}

#[test]
fn a_comment_change_changes_nothing() {
    let t = locked("comment");
    let before = t.lock_bytes();
    // A plain comment (not kernel-doc), one line longer: every line below
    // it moves.
    t.edit(
        MEMFD,
        "/* One folio: frame number and flags share the first word. */",
        "/*\n * One folio. Its frame number and flags share the first word.\n */",
    );
    t.commit("reword a comment");

    let out = t.check();
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("needs"), "{}", stdout(&out));
    assert_exit(&t.lock(), 0);
    assert_eq!(t.lock_bytes(), before, "a comment changed the lock");

    let out = t.run(&["diff", "git:HEAD~1", "--headers", ABI_DIR]);
    assert_exit(&out, 0);
    let review = stdout(&out);
    assert!(review.contains("**Verdict: ok**"), "{review}");
    assert!(!review.contains("### "), "changes reported:\n{review}");
    let abis = review.lines().filter(|l| l.starts_with("## ")).count();
    let unchanged = review
        .lines()
        .filter(|l| l.starts_with("## ") && l.contains(": unchanged ("))
        .count();
    assert!(abis >= 6 && abis == unchanged, "{review}");
}

#[test]
fn a_header_kho_cannot_express_is_refused_with_its_line() {
    let t = locked("unsupported");
    let before = t.lock_bytes();
    t.edit(
        MEMFD,
        "\tu64 index;",
        "\tu64 index;\n\tunsigned long cookie;",
    );
    let line = t.line_of(MEMFD, "unsigned long cookie;");
    for out in [t.lock(), t.check()] {
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.contains(&format!("memfd.h:{line}:")), "{err}");
        assert!(err.contains("long"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(t.lock_bytes(), before);
    let out = t.run(&["diff", "git:HEAD", "--headers", ABI_DIR]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains(&format!("memfd.h:{line}:")));
}

#[test]
fn lock_refuses_a_symlink_and_check_needs_a_lock() {
    let t = Tree::new("links");
    let out = t.check();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("no such lock"), "{}", stderr(&out));
    assert!(!t.path().join("abi.lock").exists(), "check wrote a lock");

    let target = t.path().join("elsewhere.lock");
    std::fs::write(&target, b"keep").unwrap();
    std::os::unix::fs::symlink(&target, t.path().join("abi.lock")).unwrap();
    let out = t.lock();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("symlink"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}

#[test]
fn header_flags_are_checked_before_anything_is_read() {
    let t = Tree::new("flags");
    for args in [
        // -I and friends mean something only with --headers.
        &["check", "-I", "include"][..],
        &["check", "--headers", ABI_DIR][..],
        &["check", "--lock", "abi.lock"][..],
        &["check", "--headers", ABI_DIR, "--lock", "x", "--root", "."][..],
        &["lock", "--headers", ABI_DIR][..],
        &["lock", "--headers", ABI_DIR, "--lock", "x", "-D", "1BAD"][..],
        &["diff", "git:HEAD", "git:HEAD", "--headers"][..],
        &["diff", "a", "b", "-I", "include"][..],
    ] {
        let out = kho_abi_in(Some(t.path()), args);
        assert_exit(&out, 2);
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
    assert!(!t.path().join("abi.lock").exists());
    assert!(!t.path().join("x").exists());
}

#[test]
fn without_libclang_each_header_command_says_what_to_install() {
    let t = Tree::new("nolibclang");
    // clang-sys searches only LIBCLANG_PATH when it is set.
    let empty = TempDir::new("nolibclang-lib");
    for args in [
        &["lock", "--headers", ABI_DIR, "--lock", "abi.lock"][..],
        &["check", "--headers", ABI_DIR, "--lock", "abi.lock"][..],
        &["diff", "git:HEAD", "--headers", ABI_DIR][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kho-abi"))
            .args(args)
            .current_dir(t.path())
            .env("LIBCLANG_PATH", empty.path())
            .output()
            .unwrap();
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.starts_with(
                "kho-abi: libclang is needed to read C headers and could not be loaded ("
            ),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("install it: apt-get install libclang-14-dev (or set LIBCLANG_PATH)"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(!t.path().join("abi.lock").exists());
}

/// In a header with several compatible macros, the one whose structs
/// changed is named, and bumping another does not help.
#[test]
fn the_macro_covering_the_changed_struct_is_named() {
    const LUO: &str = "include/linux/kho/abi/luo.h";
    let t = locked("luo");
    t.edit(
        LUO,
        "\tu64 count;\n} __packed;\n\n/**\n * struct luo_session_ser",
        "\tu32 count;\n} __packed;\n\n/**\n * struct luo_session_ser",
    );
    t.edit(
        LUO,
        "COMPATIBLE\t\"luo-flb-v1\"",
        "COMPATIBLE\t\"luo-flb-v2\"",
    );
    let line = t.line_of(LUO, "\tu32 count;");
    let out = t.check();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.starts_with(&format!("{LUO}:{line}: ")), "{err}");
    assert!(err.contains("luo_session_header_ser.count"), "{err}");
    assert!(
        err.contains("LUO_FDT_SESSION_COMPATIBLE is still \"luo-session-v2\": bump LUO_FDT_SESSION_COMPATIBLE to \"luo-session-v3\""),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    t.edit(
        LUO,
        "COMPATIBLE\t\"luo-session-v2\"",
        "COMPATIBLE\t\"luo-session-v3\"",
    );
    assert_exit(&t.check(), 0);
}
