//! Paths shared by kho-import's tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// kho-schema's transcribed kernel headers (an include directory).
pub fn kernel() -> PathBuf {
    root().join("kho-schema/tests/fixtures/kernel")
}

/// kho-import's own fixtures (luo.h): an include directory. Kept apart
/// from kho-schema's, whose layout test wants a shipped schema for each.
pub fn own_kernel() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernel")
}

/// The stubs of the kernel headers the fixtures include.
pub fn stubs() -> PathBuf {
    root().join("kho-schema/tests/fixtures/kernel-stubs/include")
}

/// Options reading with `dirs` and the stubs.
pub fn opts(dirs: &[PathBuf]) -> kho_import::Options {
    let mut include_dirs = dirs.to_vec();
    include_dirs.push(stubs());
    kho_import::Options {
        include_dirs,
        ..Default::default()
    }
}

/// A fresh empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = root()
        .join("target/kho-import-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

/// The imported schema of `file` (e.g. `memfd.toml`).
pub fn schema<'a>(imported: &'a [kho_import::Imported], file: &str) -> &'a str {
    &imported
        .iter()
        .find(|i| i.schema_file == file)
        .unwrap_or_else(|| panic!("no {file} among the imports"))
        .toml
}
