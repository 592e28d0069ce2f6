//! Helpers shared by the CLI tests: temporary files and repositories, and
//! running the binary. [`tree`] adds what the tests that watch the disk
//! need (a deadline on every run, snapshots, FIFOs); [`elf`] builds ELF
//! core files; [`memfd`] lays out memfd handovers.
//!
//! Every test crate includes this module and uses part of it.
#![allow(dead_code)]

pub mod elf;
pub mod memfd;
pub mod tree;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh name under the temp dir, unique in this process, carrying
/// `kind` and `tag`.
fn temp_path(kind: &str, tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("kho-abi-test-{}-{kind}-{tag}-{n}", std::process::id());
    std::env::temp_dir().join(name)
}

/// A file under the temp dir, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A fresh path (not created) whose name carries `tag`.
    pub fn new(tag: &str) -> Self {
        let mut p = temp_path("file", tag).into_os_string();
        p.push(".img");
        TempFile(p.into())
    }

    /// A file holding `bytes`.
    pub fn with(tag: &str, bytes: &[u8]) -> Self {
        let f = Self::new(tag);
        std::fs::write(&f.0, bytes).unwrap();
        f
    }

    /// The path as text (temp paths here are UTF-8).
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A directory under the temp dir, removed on drop: a repository root when
/// it holds `schemas/`.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name carries `tag`.
    pub fn new(tag: &str) -> Self {
        let p = temp_path("dir", tag);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// A root with an empty `schemas/`.
    pub fn with_empty_schemas(tag: &str) -> Self {
        let t = Self::new(tag);
        std::fs::create_dir_all(t.schemas()).unwrap();
        t
    }

    /// A root holding a copy of the repository's [`CORE_SCHEMAS`].
    pub fn with_schemas(tag: &str) -> Self {
        let t = Self::new(tag);
        copy_schemas(&t.schemas());
        t
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The directory as an argument (temp paths here are UTF-8).
    pub fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// Its `schemas/`.
    pub fn schemas(&self) -> PathBuf {
        self.0.join("schemas")
    }

    /// Edits `schemas/<file>`: the one occurrence of `from` becomes `to`.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        tree::edit(self.path(), file, from, to);
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // remove_dir_all does not follow links, so links to the outside
        // made by a test are removed, not their targets.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The repository's `schemas/`.
pub fn repo_schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// The schemas the CLI tests were written about (the block format and
/// luo): their counts and texts are asserted, so the kernel's ABIs shipped
/// beside them are left out. [`copy_all_schemas`] copies every one.
pub const CORE_SCHEMAS: [&str; 2] = ["kho_block.toml", "luo.toml"];

/// Copies the repository's [`CORE_SCHEMAS`] into `to` (created).
pub fn copy_schemas(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in CORE_SCHEMAS {
        std::fs::copy(repo_schemas().join(name), to.join(name)).unwrap();
    }
}

/// Copies every one of the repository's `schemas/*.toml` into `to`
/// (created).
pub fn copy_all_schemas(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(repo_schemas()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Runs kho-abi with `args` and waits for it.
pub fn kho_abi(args: &[&str]) -> Output {
    kho_abi_in(None, args)
}

/// Runs kho-abi with `args` in `dir` (or here) and waits for it.
pub fn kho_abi_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kho-abi"));
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.output().unwrap()
}

/// Runs `kho-abi CMD --root ROOT`.
pub fn on(root: &Path, cmd: &str) -> Output {
    kho_abi(&[cmd, "--root", root.to_str().unwrap()])
}

/// A run's stdout, which must be UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A run's stderr, which must be UTF-8.
pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Asserts that `out` exited with `code` (so not by a signal).
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
