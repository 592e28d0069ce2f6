//! `kho-abi generate`, `check`, `diff` and `inspect --schema` as a user
//! runs them, on copies of the repository's schemas (the real files are
//! never touched). Generated files are checked for being up to date, never
//! for their content: that is the emitters' business.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

// ---------------------------------------------------------------------------
// Helpers

/// A directory under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("kho-abi-review-{}-{tag}-{n}", std::process::id());
        let p = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// A root holding a copy of the repository's `schemas/*.toml`.
    fn with_schemas(tag: &str) -> Self {
        let t = Self::new(tag);
        std::fs::create_dir_all(t.schemas()).unwrap();
        for e in std::fs::read_dir(repo_schemas()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                std::fs::copy(&p, t.schemas().join(p.file_name().unwrap())).unwrap();
            }
        }
        t
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn schemas(&self) -> PathBuf {
        self.0.join("schemas")
    }

    /// Edits `schemas/<file>`: the one occurrence of `from` becomes `to`.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let p = self.schemas().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{from:?} in {file}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo_schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn kho_abi(args: &[&str]) -> Output {
    kho_abi_in(None, args)
}

fn kho_abi_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kho-abi"));
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

/// Every file under `dir`, as paths relative to `root`, sorted.
fn files_under(root: &Path, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// A generated copy of the schemas.
fn generated(tag: &str) -> TempDir {
    let t = TempDir::with_schemas(tag);
    assert_exit(&kho_abi(&["generate", "--root", t.arg()]), 0);
    t
}

const DATA: &str = r#"{ name = "data", type = "u64", doc = "Handler-private data, often"#;
const DATA_U32: &str = r#"{ name = "data", type = "u32", doc = "Handler-private data, often"#;

// ---------------------------------------------------------------------------
// generate and check

#[test]
fn generate_then_check_passes() {
    let t = TempDir::with_schemas("gen");
    let out = kho_abi(&["generate", "--root", t.arg()]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out).lines().count(), 1, "a short summary");
    assert!(stderr(&out).contains("up to date"), "{}", stderr(&out));
    assert!(t.schemas().join("abi.lock").is_file());
    let files = files_under(t.path(), &t.schemas().join("generated"));
    assert!(!files.is_empty());

    let out = kho_abi(&["check", "--root", t.arg()]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("ok: 2 ABIs, {} generated files up to date\n", files.len())
    );
    assert_eq!(stderr(&out), "");

    // Generating again changes nothing.
    let lock = std::fs::read(t.schemas().join("abi.lock")).unwrap();
    assert_exit(&kho_abi(&["generate", "--root", t.arg()]), 0);
    assert_eq!(std::fs::read(t.schemas().join("abi.lock")).unwrap(), lock);
}

#[test]
fn root_defaults_to_the_current_directory() {
    let t = generated("cwd");
    let out = kho_abi_in(Some(t.path()), &["check"]);
    assert_exit(&out, 0);
    // Paths are shown relative to it.
    let first = files_under(t.path(), &t.schemas().join("generated")).remove(0);
    std::fs::remove_file(t.path().join(&first)).unwrap();
    let out = kho_abi_in(Some(t.path()), &["check"]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        format!("{first} is missing: run `kho-abi generate`\n")
    );
    assert_exit(&kho_abi_in(Some(t.path()), &["generate"]), 0);
    assert_exit(&kho_abi_in(Some(t.path()), &["check"]), 0);
}

#[test]
fn edited_generated_file_fails_check() {
    let t = generated("edit");
    let files = files_under(t.path(), &t.schemas().join("generated"));
    for f in &files {
        let p = t.path().join(f);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("// a hand edit\n");
        std::fs::write(&p, text).unwrap();
        let out = kho_abi(&["check", "--root", t.arg()]);
        assert_exit(&out, 1);
        // Named relative to the root.
        assert_eq!(
            stderr(&out),
            format!("{f} is out of date: run `kho-abi generate`\n"),
        );
        assert_exit(&kho_abi(&["generate", "--root", t.arg()]), 0);
        assert_exit(&kho_abi(&["check", "--root", t.arg()]), 0);
    }
}

#[test]
fn file_no_schema_generates_fails_check_and_generate_removes_it() {
    let t = generated("extra");
    let extra = t.schemas().join("generated/rust/old.rs");
    // A file an earlier run generated (it has the banner): generate removes
    // only those (hostile_files.rs has the file without one).
    std::fs::write(
        &extra,
        "// Generated by `kho-abi generate` from schemas/old.toml: do not edit.\n",
    )
    .unwrap();
    let out = kho_abi(&["check", "--root", t.arg()]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("rust/old.rs is not generated from any schema"),
        "{}",
        stderr(&out)
    );
    assert_exit(&kho_abi(&["generate", "--root", t.arg()]), 0);
    assert!(!extra.exists());
    assert_exit(&kho_abi(&["check", "--root", t.arg()]), 0);
}

#[test]
fn deleted_lock_fails_check() {
    let t = generated("lock");
    std::fs::remove_file(t.schemas().join("abi.lock")).unwrap();
    let out = kho_abi(&["check", "--root", t.arg()]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "abi.lock does not record kho-block: run `kho-abi generate`\n\
         abi.lock does not record luo: run `kho-abi generate`\n"
    );
    assert_exit(&kho_abi(&["generate", "--root", t.arg()]), 0);
    assert_exit(&kho_abi(&["check", "--root", t.arg()]), 0);
}

#[test]
fn edited_lock_fails_check() {
    let t = generated("lock-edit");
    let p = t.schemas().join("abi.lock");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace("token u64 offset 56", "token u64 offset 57"),
    )
    .unwrap();
    let out = kho_abi(&["check", "--root", t.arg()]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "abi.lock's record of luo is not what generate writes: run `kho-abi generate`\n"
    );
    assert_exit(&kho_abi(&["generate", "--root", t.arg()]), 0);
    assert_exit(&kho_abi(&["check", "--root", t.arg()]), 0);
}

#[test]
fn schema_errors_name_file_line_and_column() {
    let t = generated("broken");
    t.edit("luo.toml", DATA, &DATA.replace("u64", "usize"));
    t.edit("kho_block.toml", "version = 1", "version = 0");
    for cmd in ["check", "generate"] {
        let out = kho_abi_in(Some(t.path()), &[cmd]);
        assert_exit(&out, 1);
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{cmd}: every error: {err}");
        assert!(
            lines[0].starts_with("schemas/kho_block.toml:6:11: version starts at 1"),
            "{cmd}: {err}"
        );
        assert!(
            lines[1].starts_with("schemas/luo.toml:")
                && lines[1].contains("luo_file_ser.data: unknown type `usize`"),
            "{cmd}: {err}"
        );
    }
}

#[test]
fn missing_schema_directory_fails() {
    let t = TempDir::new("empty");
    for cmd in ["check", "generate"] {
        let out = kho_abi(&[cmd, "--root", t.arg()]);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("cannot read the schema directory"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["generate", "--root"][..],
        &["check", "extra"],
        &["diff", "a"],
        &["diff", "a", "b", "--format", "html"],
    ] {
        assert_exit(&kho_abi(args), 2);
    }
}

// ---------------------------------------------------------------------------
// diff

/// The review of the width change (luo_file_ser.data u64 -> u32, no bump),
/// whole: the format is the contract of `diff`.
const WIDTH_REVIEW: &str = "\
# ABI review

**Verdict: fail** (2 ABIs: 1 BUMP MISSING, 1 unchanged): bump luo to v5.

## kho-block: unchanged (`kho-block-v1`)

## luo: BUMP MISSING

- compatible string: `luo-v4-kho-block-v1` (unchanged)
- required: **bump luo to v5**

### Changes

- **breaking**: `luo_file_ser.data` changed from u64 (8 bytes) to u32 (4 bytes)
- **breaking**: `luo_file_ser.token` moved from offset 56 to 52
- **breaking**: struct `luo_file_ser` size changed from 64 to 60 bytes

### `luo_file_ser`: 64 -> 60 bytes

| field | offset | size | type | change |
| --- | --- | --- | --- | --- |
| name | 0 | 48 | char[48] | |
| data | 48 | 8 -> 4 | u64 -> u32 | breaking |
| token | 56 -> 52 | 8 | u64 | breaking |
";

#[test]
fn diff_of_directories_is_a_review() {
    let t = TempDir::with_schemas("diff");
    t.edit("luo.toml", DATA, DATA_U32);
    let new = t.schemas();
    let old = repo_schemas();
    let out = kho_abi(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert_exit(&out, 1);
    assert_eq!(stdout(&out), WIDTH_REVIEW);
    assert_eq!(stderr(&out), "");

    // Unchanged: one line per ABI, exit 0.
    let out = kho_abi(&["diff", old.to_str().unwrap(), old.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "# ABI review\n\n**Verdict: ok** (2 ABIs: 2 unchanged).\n\n\
         ## kho-block: unchanged (`kho-block-v1`)\n\n\
         ## luo: unchanged (`luo-v4-kho-block-v1`)\n"
    );
}

#[test]
fn diff_as_json() {
    let t = TempDir::with_schemas("json");
    t.edit("luo.toml", DATA, DATA_U32);
    let old = repo_schemas();
    let out = kho_abi(&[
        "diff",
        old.to_str().unwrap(),
        t.schemas().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_exit(&out, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let abis = v.as_array().unwrap();
    assert_eq!(abis.len(), 2);
    assert_eq!(abis[0]["abi"], "kho-block");
    assert_eq!(abis[0]["verdict"], "unchanged");
    let luo = &abis[1];
    assert_eq!(luo["abi"], "luo");
    assert_eq!(luo["verdict"], "bump_missing");
    assert_eq!(luo["old_compatible"], "luo-v4-kho-block-v1");
    assert_eq!(luo["new_compatible"], "luo-v4-kho-block-v1");
    assert_eq!(luo["required_bump"], "bump luo to v5");
    assert_eq!(luo["dependency_bumps"], serde_json::json!([]));
    assert_eq!(
        luo["changes"][0],
        serde_json::json!({
            "kind": "breaking",
            "place": "luo_file_ser.data",
            "what": "changed from u64 (8 bytes) to u32 (4 bytes)",
        })
    );
    let s = &luo["structs"][0];
    assert_eq!(s["name"], "luo_file_ser");
    assert_eq!(
        (s["old_size"].as_u64(), s["new_size"].as_u64()),
        (Some(64), Some(60))
    );
    assert_eq!(
        s["rows"][1],
        serde_json::json!({
            "old": { "name": "data", "type": "u64", "offset": 48, "size": 8 },
            "new": { "name": "data", "type": "u32", "offset": 48, "size": 4 },
            "kind": "breaking",
        })
    );
    assert_eq!(s["rows"][0]["kind"], serde_json::Value::Null);
}

#[test]
fn diff_of_files_loads_their_dependencies() {
    // The old luo.toml under another name, with its dependency beside it;
    // the new one among the repository's schemas.
    let old = TempDir::with_schemas("old-file");
    let renamed = old.schemas().join("luo-before.toml");
    std::fs::rename(old.schemas().join("luo.toml"), &renamed).unwrap();
    // Not a schema, and not read as one: only dependencies are.
    std::fs::write(old.schemas().join("notes.toml"), "not = [a schema").unwrap();
    let new = TempDir::with_schemas("new-file");
    new.edit("luo.toml", DATA, DATA_U32);
    let out = kho_abi(&[
        "diff",
        renamed.to_str().unwrap(),
        new.schemas().join("luo.toml").to_str().unwrap(),
    ]);
    assert_exit(&out, 1);
    let md = stdout(&out);
    assert!(md.contains("## luo: BUMP MISSING\n"), "{md}");
    assert!(md.contains("## kho-block: unchanged"), "{md}");
}

#[test]
fn diff_errors_exit_2() {
    let t = TempDir::with_schemas("diff-err");
    let good = t.schemas();
    let good = good.to_str().unwrap();
    let missing = t.path().join("nope");
    let out = kho_abi(&["diff", missing.to_str().unwrap(), good]);
    assert_exit(&out, 2);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).starts_with("kho-abi: cannot read "));
    assert_eq!(stdout(&out), "");

    let broken = TempDir::with_schemas("diff-broken");
    broken.edit("luo.toml", DATA, &DATA.replace("u64", "bool"));
    broken.edit("luo.toml", "version = 4", "version = 0");
    let out = kho_abi(&["diff", good, broken.schemas().to_str().unwrap()]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 2, "every schema error: {err}");
    assert!(err.lines().all(|l| l.contains("luo.toml:")), "{err}");
    assert!(err.contains("unknown type `bool`: use u8"), "{err}");
}

fn have_git() -> bool {
    Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs git in `dir`, isolated from the user's configuration.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
}

#[test]
fn diff_between_git_revisions() {
    if !have_git() {
        eprintln!("git is not installed: skipped");
        return;
    }
    let t = TempDir::with_schemas("git");
    git(t.path(), &["init", "-q"]);
    git(t.path(), &["add", "schemas"]);
    git(t.path(), &["commit", "-q", "-m", "schemas"]);
    t.edit("luo.toml", DATA, DATA_U32);
    git(t.path(), &["commit", "-q", "-a", "-m", "narrow data"]);

    // From a subdirectory too: the repository is found from there.
    let sub = t.path().join("schemas");
    let out = kho_abi_in(Some(&sub), &["diff", "git:HEAD~1", "git:HEAD"]);
    assert_exit(&out, 1);
    let md = stdout(&out);
    assert!(md.contains("## luo: BUMP MISSING\n"), "{md}");
    assert!(
        md.contains("| data | 48 | 8 -> 4 | u64 -> u32 | breaking |"),
        "{md}"
    );

    // The working tree against a revision; then the bump, committed.
    t.edit("luo.toml", "version = 4", "version = 5");
    let out = kho_abi_in(Some(t.path()), &["diff", "git:HEAD~1", "schemas"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("## luo: bump present\n"));
    git(t.path(), &["commit", "-q", "-a", "-m", "bump luo"]);
    let out = kho_abi_in(Some(t.path()), &["diff", "git:HEAD~2", "git:HEAD"]);
    assert_exit(&out, 0);
    assert!(stdout(&out)
        .contains("- compatible string: `luo-v4-kho-block-v1` -> `luo-v5-kho-block-v1`"));

    // A revision without schemas/ has none: everything is added.
    std::fs::write(t.path().join("README"), "x").unwrap();
    git(t.path(), &["checkout", "-q", "--orphan", "bare"]);
    git(t.path(), &["rm", "-q", "-r", "--cached", "schemas"]);
    git(t.path(), &["add", "README"]);
    git(t.path(), &["commit", "-q", "-m", "bare"]);
    let out = kho_abi_in(Some(t.path()), &["diff", "git:bare", "git:master"]);
    let out = if out.status.code() == Some(2) {
        // The default branch may be called main.
        kho_abi_in(Some(t.path()), &["diff", "git:bare", "git:main"])
    } else {
        out
    };
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("## luo: added\n"), "{}", stdout(&out));

    let out = kho_abi_in(Some(t.path()), &["diff", "git:no-such-rev", "git:HEAD"]);
    assert_exit(&out, 2);
    assert_eq!(
        stderr(&out),
        "kho-abi: git:no-such-rev: unknown revision \"no-such-rev\"\n"
    );
    let out = kho_abi_in(Some(t.path()), &["diff", "git:--all", "git:HEAD"]);
    assert_exit(&out, 2);
}

#[test]
fn diff_outside_a_git_repository() {
    if !have_git() {
        return;
    }
    let t = TempDir::new("nogit");
    let parent = t.path().parent().unwrap().to_str().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_kho-abi"))
        .args(["diff", "git:HEAD~1", "git:HEAD"])
        .current_dir(t.path())
        .env("GIT_CEILING_DIRECTORIES", parent)
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("kho-abi: git sides need a git repository: "),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// inspect --schema

const PAGE: usize = 4096;
const BASE: u64 = 0x20_0000;

/// A raw dump holding one block chain of `entries`, laid out as the kernel
/// does: each page a 16-byte header {next, count}, entries packed after it.
fn dump(entries: &[Vec<u8>]) -> Vec<u8> {
    let size = entries[0].len();
    let per_block = (PAGE - 16) / size;
    let blocks = entries.len().div_ceil(per_block);
    let mut bytes = vec![0u8; blocks * PAGE];
    for (i, chunk) in entries.chunks(per_block).enumerate() {
        let page = &mut bytes[i * PAGE..(i + 1) * PAGE];
        let next = if i + 1 < blocks {
            BASE + ((i + 1) * PAGE) as u64
        } else {
            0
        };
        page[0..8].copy_from_slice(&next.to_ne_bytes());
        page[8..16].copy_from_slice(&(chunk.len() as u64).to_ne_bytes());
        for (k, e) in chunk.iter().enumerate() {
            page[16 + k * size..16 + (k + 1) * size].copy_from_slice(e);
        }
    }
    bytes
}

/// A `luo_file_ser`: name char[48], data u64, token u64.
fn file_ser(name: &[u8], data: u64, token: u64) -> Vec<u8> {
    let mut e = vec![0u8; 48];
    e[..name.len()].copy_from_slice(name);
    e.extend_from_slice(&data.to_ne_bytes());
    e.extend_from_slice(&token.to_ne_bytes());
    e
}

fn inspect_schema(image: &Path, schema: &Path, name: &str, extra: &[&str]) -> Output {
    let base = format!("{BASE:#x}");
    let mut args = vec![
        "inspect",
        "--image",
        image.to_str().unwrap(),
        "--base",
        &base,
        "--head",
        &base,
        "--schema",
        schema.to_str().unwrap(),
        "--struct",
        name,
    ];
    args.extend_from_slice(extra);
    kho_abi(&args)
}

#[test]
fn inspect_decodes_luo_file_ser_entries() {
    let t = TempDir::new("inspect");
    // Two blocks' worth: 63 entries of 64 bytes fit one.
    let mut entries: Vec<Vec<u8>> = (0..70u64)
        .map(|i| file_ser(format!("memfd-{i}").as_bytes(), 0x1000 * i, 100 + i))
        .collect();
    entries[1] = file_ser(b"tab\there \"quoted\" \xff\x01", u64::MAX, 0);
    entries[2] = file_ser(&[b'x'; 48], 1, 2);
    let image = t.path().join("raw.img");
    std::fs::write(&image, dump(&entries)).unwrap();
    let schema = repo_schemas().join("luo.toml");

    let out = inspect_schema(&image, &schema, "luo_file_ser", &[]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let expected_start = format!(
        "[0]\n  name = \"memfd-0\"\n  data = 0\n  token = 100\n\
         [1]\n  name = \"tab\\there \\\"quoted\\\" \\xff\\u{{1}}\"\n  data = {}\n  token = 0\n\
         [2]\n  name = \"{}\"\n  data = 1\n  token = 2\n\
         [3]\n  name = \"memfd-3\"\n  data = 12288\n  token = 103\n",
        u64::MAX,
        "x".repeat(48)
    );
    assert!(text.starts_with(&expected_start), "{text}");
    assert!(text.ends_with("[69]\n  name = \"memfd-69\"\n  data = 282624\n  token = 169\n"));
    assert_eq!(text.lines().filter(|l| l.starts_with('[')).count(), 70);

    // --entry-size may be given, and must agree.
    let same = inspect_schema(&image, &schema, "luo_file_ser", &["--entry-size", "64"]);
    assert_exit(&same, 0);
    assert_eq!(stdout(&same), text);
    let out = inspect_schema(&image, &schema, "luo_file_ser", &["--entry-size", "60"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("struct luo_file_ser is 64 bytes"));

    // JSON: one object per entry, fields in order.
    let out = inspect_schema(&image, &schema, "luo_file_ser", &["--format", "json"]);
    assert_exit(&out, 0);
    let json = stdout(&out);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 70);
    assert_eq!(
        list[0],
        serde_json::json!({ "name": "memfd-0", "data": 0, "token": 100 })
    );
    assert_eq!(list[1]["data"], u64::MAX);
    assert_eq!(list[69]["token"], 169);
    let (n, d, k) = (
        json.find("\"name\"").unwrap(),
        json.find("\"data\"").unwrap(),
        json.find("\"token\"").unwrap(),
    );
    assert!(n < d && d < k, "declaration order");

    // Hex as before.
    let out = inspect_schema(&image, &schema, "luo_file_ser", &["--format", "hex"]);
    assert_exit(&out, 0);
    let first: String = entries[0].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(stdout(&out).lines().next(), Some(first.as_str()));
    assert_eq!(stdout(&out).lines().count(), 70);
}

#[test]
fn inspect_decodes_nested_structs_and_addresses() {
    let t = TempDir::new("nested");
    // luo_session_ser: name char[64], file_set_ser { files phys_addr, count u64 }.
    let mut e = vec![0u8; 64];
    e[..4].copy_from_slice(b"vm-1");
    e.extend_from_slice(&0x1234_5000u64.to_ne_bytes());
    e.extend_from_slice(&3u64.to_ne_bytes());
    let image = t.path().join("raw.img");
    std::fs::write(&image, dump(&[e])).unwrap();
    let schema = repo_schemas().join("luo.toml");
    let out = inspect_schema(&image, &schema, "luo_session_ser", &[]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "[0]\n  name = \"vm-1\"\n  file_set_ser:\n    files = 0x12345000\n    count = 3\n"
    );
    let out = inspect_schema(&image, &schema, "luo_session_ser", &["--format", "json"]);
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{ "name": "vm-1", "file_set_ser": { "files": "0x12345000", "count": 3 } }])
    );
}

#[test]
fn inspect_schema_errors() {
    let t = TempDir::with_schemas("inspect-err");
    let image = t.path().join("raw.img");
    std::fs::write(&image, dump(&[file_ser(b"a", 1, 2)])).unwrap();
    let schema = t.schemas().join("luo.toml");

    // An unknown struct is a usage error that lists the known ones.
    let out = inspect_schema(&image, &schema, "luo_nope", &[]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("luo_file_ser, luo_file_set_ser"),
        "{}",
        stderr(&out)
    );

    // --format table is for images; --format text needs a schema.
    assert_exit(
        &inspect_schema(&image, &schema, "luo_file_ser", &["--format", "table"]),
        2,
    );
    let base = format!("{BASE:#x}");
    let raw = [
        "inspect",
        "--image",
        image.to_str().unwrap(),
        "--base",
        &base,
        "--head",
        &base,
    ];
    let mut args = raw.to_vec();
    args.extend_from_slice(&["--entry-size", "64", "--format", "text"]);
    assert_exit(&kho_abi(&args), 2);
    // --struct needs --schema, --schema needs --struct and a raw dump.
    let mut args = raw.to_vec();
    args.extend_from_slice(&["--struct", "luo_file_ser"]);
    assert_exit(&kho_abi(&args), 2);
    let out = kho_abi(&[
        "inspect",
        "--image",
        image.to_str().unwrap(),
        "--schema",
        schema.to_str().unwrap(),
        "--struct",
        "luo_file_ser",
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--base"));

    // A schema that does not compile: every error, exit 1.
    t.edit("luo.toml", DATA, &DATA.replace("u64", "usize"));
    let out = inspect_schema(&image, &schema, "luo_file_ser", &[]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("luo.toml:"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown type `usize`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");

    // A chain that does not restore fails as inspect always has.
    let t2 = TempDir::with_schemas("inspect-bad");
    let mut bytes = dump(&[file_ser(b"a", 1, 2)]);
    bytes[8..16].copy_from_slice(&0u64.to_ne_bytes());
    std::fs::write(&image, bytes).unwrap();
    let out = inspect_schema(&image, &t2.schemas().join("luo.toml"), "luo_file_ser", &[]);
    assert_exit(&out, 1);
    assert!(stderr(&out).starts_with("kho-abi: "));
    assert_eq!(stderr(&out).lines().count(), 1);
}
