//! Helpers shared by the schema compiler's tests: the shipped schemas,
//! compiling inline ones, a scratch directory per test.
//!
//! Every test crate includes this module and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kho_schema::{compile, Abi, Source};

/// The first lines of a schema of ABI `t`, version 1.
pub const HEAD: &str = "[abi]\nname = \"t\"\nversion = 1\n";

/// The repository root (holding `schemas/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The repository's `schemas/`.
pub fn repo_schemas() -> PathBuf {
    repo_root().join("schemas")
}

/// The repository's schemas, compiled.
pub fn shipped() -> Vec<Abi> {
    kho_schema::load_dir(&repo_schemas()).unwrap_or_else(|e| panic!("{e}"))
}

/// `(path, text)` pairs as sources.
fn sources(files: &[(&str, &str)]) -> Vec<Source> {
    files.iter().map(|(p, t)| Source::new(*p, *t)).collect()
}

/// The errors of schemas that must not compile, one a line.
pub fn errors(files: &[(&str, &str)]) -> String {
    match compile(&sources(files)) {
        Ok(_) => panic!("expected errors, got none"),
        Err(e) => e.to_string(),
    }
}

/// Schemas that must compile, compiled.
pub fn ok(files: &[(&str, &str)]) -> Vec<Abi> {
    compile(&sources(files)).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh, empty directory for one test of `suite`, under cargo's
/// scratch directory.
pub fn scratch(suite: &str, test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(suite)
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}
