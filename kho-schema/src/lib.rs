//! ABI schemas for KHO: one TOML file per ABI, the single source of truth
//! from which Rust types, kernel C headers and layout tables are generated,
//! and against which changes are checked.
//!
//! # Public API
//!
//! - Compiling: [`compile`] a set of [`Source`]s, or [`load_dir`] /
//!   [`read_dir`] / [`read_schema`] / [`schema_paths`] from disk, giving
//!   one [`Abi`] per schema (its structs in kho-layout's model, re-exported
//!   here: [`Struct`], [`Field`], [`Ty`], [`Prim`], [`Len`]). [`declared`]
//!   reads a schema's name and dependencies without compiling it.
//! - Errors: everything fails with the one [`Error`]: schema diagnostics
//!   with their places ([`Diags`], [`Diag`]), filesystem refusals and
//!   failures ([`fs::FsError`]), a broken lock, what `generate` refused.
//! - Output (feature `emit`, on by default): [`emit`] (every generated file,
//!   and the Rust, C and Markdown emitters), [`Config`] (a build-script API,
//!   as prost-build's), [`project`] (a repository's `schemas/`, `abi.lock`
//!   and `generated/`: what `kho-abi generate` and `check` do).
//! - Review: [`lock`] (the lock file's text), [`view`] (an ABI as the lock
//!   or a schema records it) and [`diff`] (what changed between two
//!   versions, and whether the compatible string was bumped).
//! - [`fs::MAX_INPUT`], the largest file read.
//!
//! Inside, the pipeline has one module per stage, none of them public:
//! `parse` (TOML to a syntax tree with places), `validate` (names and types
//! resolved), `layout` (offsets, sizes, composed compatible strings,
//! fingerprints, each computed once), then the emitters, the lock and the
//! diff; `fs` is the one filesystem seam every read and write goes through.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "emit")]
mod build;
mod diag;
pub mod diff;
#[cfg(feature = "emit")]
pub mod emit;
mod error;
mod eval;
mod expr;
pub mod fs;
mod layout;
pub mod lock;
mod parse;
#[cfg(feature = "emit")]
pub mod project;
mod validate;
pub mod view;

use std::path::{Path, PathBuf};

#[cfg(feature = "emit")]
pub use build::Config;
pub use diag::{Diag, Diags, Source};
pub use error::Error;
pub use expr::is_expression_word;
pub use kho_layout::{Field, Len, Prim, Struct, Ty};
pub use layout::{Abi, AssertDecl, CInfo, Compatible, Constant, Note, StructSet};
pub use parse::{Compose, ConstValue};
pub use validate::constant_name_ok;

/// Compiles a set of schemas that may depend on each other. Every error is
/// reported ([`Error::Schema`]), each with `file:line:col`.
pub fn compile(sources: &[Source]) -> Result<Vec<Abi>, Error> {
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
        return Err(Error::Schema(diags));
    }
    let checked = validate::check(&srcs, asts, &mut diags);
    if !diags.is_empty() {
        return Err(Error::Schema(diags));
    }
    let abis = layout::layout(&srcs, &checked, &mut diags);
    if diags.is_empty() {
        Ok(abis)
    } else {
        Err(Error::Schema(diags))
    }
}

/// The ABI name a schema declares and the names of the ABIs it depends
/// on, read without compiling it; `None` when it does not parse (then
/// [`compile`] says why). Lets a tool find the files a schema needs.
pub fn declared(src: &Source) -> Option<(String, Vec<String>)> {
    let ast = parse::parse(src, &mut Diags::default())?;
    let depends = ast.depends.into_iter().map(|d| d.value).collect();
    Some((ast.name.value, depends))
}

/// Reads every `*.toml` file of `dir` (sorted by name) and compiles them.
pub fn load_dir(dir: &Path) -> Result<Vec<Abi>, Error> {
    compile(&read_dir(dir)?)
}

/// The sources of every `*.toml` file of `dir`, sorted by file name.
///
/// Each is read with the filesystem seam ([`fs`]): only regular files (a symlink is
/// followed, a FIFO or device is refused at once), at most
/// [`fs::MAX_INPUT`] bytes, UTF-8. Every file that cannot be read is one
/// diagnostic of [`Error::Schema`].
pub fn read_dir(dir: &Path) -> Result<Vec<Source>, Error> {
    let mut diags = Diags::default();
    let paths = match schema_paths(dir) {
        Ok(p) => p,
        Err(e) => {
            diags.file(
                &dir.display().to_string(),
                format!("cannot read the schema directory: {e}"),
            );
            return Err(Error::Schema(diags));
        }
    };
    let mut out = Vec::new();
    for p in paths {
        match read_source(&p) {
            Ok(src) => out.push(src),
            Err(e) => diags.file(&p.display().to_string(), cannot_read(&e)),
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(Error::Schema(diags))
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
/// [`read_dir`] reads each. The error is [`Error::Fs`] (its path and
/// reason, the limit when the file is too large).
pub fn read_schema(path: &Path) -> Result<Source, Error> {
    read_source(path).map_err(Error::Fs)
}

fn read_source(path: &Path) -> Result<Source, fs::FsError> {
    fs::read_text(path, fs::MAX_INPUT).map(|text| Source::new(path.display().to_string(), text))
}

/// `cannot read: REASON`, as a schema file's diagnostic says it.
fn cannot_read(e: &fs::FsError) -> String {
    format!("cannot read: {}", e.reason())
}
