//! A build-script API, in the manner of prost-build: generate Rust types
//! from a crate's own schemas into `OUT_DIR`.
//!
//! ```no_run
//! // build.rs
//! kho_schema::Config::new().schema_dir("schemas").generate().unwrap();
//! ```
//!
//! ```text
//! // src/lib.rs: one `pub mod` per ABI, using `::kho` for the derive.
//! include!(concat!(env!("OUT_DIR"), "/kho_abi.rs"));
//! ```

use std::fmt;
use std::path::PathBuf;

use crate::diag::Diags;

/// Why generation failed.
#[derive(Debug)]
pub enum BuildError {
    /// The schemas do not compile (every error, with its place).
    Schema(Diags),
    /// The output file could not be written, or its name leaves the
    /// output directory (see [`crate::fs::OutDir`]).
    Fs(crate::fs::FsError),
    /// No output directory: not in a build script and none given.
    NoOutDir,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Schema(d) => write!(f, "{d}"),
            BuildError::Fs(e) => write!(f, "{e}"),
            BuildError::NoOutDir => {
                f.write_str("OUT_DIR is not set: call out_dir() outside a build script")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// What to generate, and where.
#[derive(Debug, Clone)]
pub struct Config {
    dirs: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    file_name: String,
    rerun: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dirs: Vec::new(),
            out_dir: None,
            file_name: "kho_abi.rs".into(),
            rerun: true,
        }
    }
}

impl Config {
    /// A configuration with no schema directory yet, writing `kho_abi.rs`
    /// into `OUT_DIR`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory of `*.toml` schemas (they may depend on each other).
    pub fn schema_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.dirs.push(dir.into());
        self
    }

    /// Writes into `dir` instead of `OUT_DIR`.
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Names the generated file (default `kho_abi.rs`).
    pub fn file_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.file_name = name.into();
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (default: yes).
    pub fn rerun_if_changed(&mut self, on: bool) -> &mut Self {
        self.rerun = on;
        self
    }

    /// Compiles the schemas and writes one file with a `pub mod` per ABI,
    /// in a deterministic order. Returns the file's path.
    pub fn generate(&self) -> Result<PathBuf, BuildError> {
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        let mut sources = Vec::new();
        for dir in &self.dirs {
            if self.rerun {
                println!("cargo:rerun-if-changed={}", dir.display());
            }
            let srcs = crate::read_dir(dir).map_err(BuildError::Schema)?;
            if self.rerun {
                for s in &srcs {
                    println!("cargo:rerun-if-changed={}", s.path);
                }
            }
            sources.extend(srcs);
        }
        let abis = crate::compile(&sources).map_err(BuildError::Schema)?;
        let text = crate::emit::rust::bundle(&abis);
        // The same rules as `kho-abi generate`: inside OUT_DIR, no link
        // followed, replaced atomically, and left alone when unchanged so
        // cargo does not rebuild what includes it.
        // The directory itself is the caller's choice (cargo's OUT_DIR or
        // one given to `out_dir`), so it may be created as asked.
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| BuildError::Fs(crate::fs::FsError::from_io(&out_dir, e)))?;
        let out = crate::fs::OutDir::new(out_dir);
        let path = out.path(&self.file_name).map_err(BuildError::Fs)?;
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            out.write(&self.file_name, text.as_bytes())
                .map_err(BuildError::Fs)?;
        }
        Ok(path)
    }
}
