//! ABI schemas for KHO: one TOML file per ABI, the single source of truth
//! from which Rust types, kernel C headers and layout tables are generated,
//! and against which changes are checked.
//!
//! The pipeline has one module per stage: [`parse`] (TOML to a syntax tree
//! with places), [`validate`] (names and types resolved), [`layout`]
//! (offsets, sizes, composed compatible strings, fingerprints), then the
//! emitters and the lock file and diff.
#![forbid(unsafe_code)]

#[cfg(feature = "emit")]
pub mod build;
pub mod diag;
pub mod diff;
#[cfg(feature = "emit")]
pub mod emit;
pub mod fs;
pub mod layout;
pub mod lock;
pub mod parse;
#[cfg(feature = "emit")]
pub mod project;
pub mod validate;
pub mod view;

use std::path::{Path, PathBuf};

#[cfg(feature = "emit")]
pub use build::{BuildError, Config};
pub use diag::{Diag, Diags, Source};
pub use kho_layout::{Field, Len, Prim, Struct, Ty};
pub use layout::{Abi, Note, StructSet};
pub use parse::{Compose, ConstValue};

/// Compiles a set of schemas that may depend on each other. Every error is
/// reported, each with `file:line:col`.
pub fn compile(sources: &[Source]) -> Result<Vec<Abi>, Diags> {
    let mut diags = Diags::default();
    let mut srcs = Vec::new();
    let mut asts = Vec::new();
    for src in sources {
        if let Some(ast) = parse::parse(src, &mut diags) {
            srcs.push(src.clone());
            asts.push(ast);
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let checked = validate::check(&srcs, asts, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    let abis = layout::layout(&srcs, &checked, &mut diags);
    if diags.is_empty() {
        Ok(abis)
    } else {
        Err(diags)
    }
}

/// Reads every `*.toml` file of `dir` (sorted by name) and compiles them.
pub fn load_dir(dir: &Path) -> Result<Vec<Abi>, Diags> {
    compile(&read_dir(dir)?)
}

/// The sources of every `*.toml` file of `dir`, sorted by file name.
///
/// Each is read with [`fs::read_text`]: only regular files (a symlink is
/// followed, a FIFO or device is refused at once), at most
/// [`fs::MAX_INPUT`] bytes, UTF-8.
pub fn read_dir(dir: &Path) -> Result<Vec<Source>, Diags> {
    let mut diags = Diags::default();
    let paths = match schema_paths(dir) {
        Ok(p) => p,
        Err(e) => {
            diags.file(
                &dir.display().to_string(),
                format!("cannot read the schema directory: {e}"),
            );
            return Err(diags);
        }
    };
    let mut out = Vec::new();
    for p in paths {
        match read_schema(&p) {
            Ok(src) => out.push(src),
            Err(e) => diags.file(&p.display().to_string(), e),
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

/// The paths of the `*.toml` entries of `dir`, sorted by file name. Nothing
/// is opened: what each is gets checked when it is read.
pub fn schema_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "toml") {
            paths.push(p);
        }
    }
    paths.sort();
    Ok(paths)
}

/// One schema file as a [`Source`] named by its path, read as
/// [`read_dir`] reads each; the error is one line without the path (the
/// caller places it), saying the limit when the file is too large.
pub fn read_schema(path: &Path) -> Result<Source, String> {
    fs::read_text(path, fs::MAX_INPUT)
        .map(|text| Source::new(path.display().to_string(), text))
        .map_err(|e| format!("cannot read: {}", e.reason()))
}
