//! A repository's ABIs on disk: `schemas/*.toml`, `schemas/abi.lock` and
//! `schemas/generated/`. `generate` writes them; `check` proves they agree.

use std::path::{Path, PathBuf};

use crate::diff::{diff_abi, Verdict};
use crate::emit::{self, Generated};
use crate::layout::Abi;
use crate::lock::{self, Lock, Locked};
use crate::view::AbiView;

/// Where a repository keeps its ABIs.
#[derive(Debug, Clone)]
pub struct Project {
    /// The repository root.
    pub root: PathBuf,
}

/// What `check` found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The schemas do not compile (each line is `file:line:col: ...`).
    Schema(String),
    /// A layout changed under an unchanged compatible string.
    MissingBump(String),
    /// abi.lock does not record what generate would (compatible string
    /// changed with a bump, ABI added or removed).
    StaleLock(String),
    /// A generated file differs from what generate would write, is
    /// missing, or should not be there.
    StaleFile(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Schema(s) => f.write_str(s),
            Problem::MissingBump(s) => f.write_str(s),
            Problem::StaleLock(s) => write!(f, "{s}: run `kho-abi generate`"),
            Problem::StaleFile(s) => write!(f, "{s}: run `kho-abi generate`"),
        }
    }
}

impl Project {
    /// The project rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Project { root: root.into() }
    }

    /// `schemas/`.
    pub fn schema_dir(&self) -> PathBuf {
        self.root.join("schemas")
    }

    /// `schemas/abi.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.schema_dir().join("abi.lock")
    }

    /// `schemas/generated/`.
    pub fn generated_dir(&self) -> PathBuf {
        self.schema_dir().join("generated")
    }

    /// Compiles the schemas.
    pub fn load(&self) -> Result<Vec<Abi>, Problem> {
        crate::load_dir(&self.schema_dir()).map_err(|d| Problem::Schema(d.to_string()))
    }

    fn read_lock(&self) -> Result<Lock, Problem> {
        match std::fs::read_to_string(self.lock_path()) {
            Ok(text) => lock::parse(&text).map_err(Problem::Schema),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::new()),
            Err(e) => Err(Problem::Schema(format!(
                "{}: {e}",
                self.lock_path().display()
            ))),
        }
    }

    /// Layout changes recorded in the lock that come without a bump.
    fn missing_bumps(abis: &[Abi], lock: &Lock) -> Vec<Problem> {
        let mut out = Vec::new();
        for abi in abis {
            let Some(locked) = lock.get(&abi.name) else {
                continue;
            };
            if locked.compatible == abi.compatible && locked.fingerprint != abi.fingerprint() {
                let old = locked.view(&abi.name);
                let d = diff_abi(&abi.name, old.as_ref(), Some(&AbiView::of(abi)));
                let msg = if d.verdict == Verdict::BumpMissing {
                    d.explain()
                } else {
                    format!(
                        "{}: the layout changed, but the compatible string is still {}: bump {} to v{}",
                        abi.name,
                        abi.compatible,
                        abi.name,
                        abi.version + 1
                    )
                };
                out.push(Problem::MissingBump(msg));
            }
        }
        out
    }

    /// Writes the generated files and the lock. Refuses (writing nothing)
    /// when a layout changed under an unchanged compatible string.
    pub fn generate(&self) -> Result<Vec<Generated>, Vec<Problem>> {
        let abis = self.load().map_err(|p| vec![p])?;
        let lock = self.read_lock().map_err(|p| vec![p])?;
        let refused = Self::missing_bumps(&abis, &lock);
        if !refused.is_empty() {
            return Err(refused);
        }
        let files = emit::all(&abis);
        let io =
            |p: &Path, e: std::io::Error| vec![Problem::StaleFile(format!("{}: {e}", p.display()))];
        let gen = self.generated_dir();
        // Remove what a previous run wrote and this one does not.
        for stale in self.extra_files(&files) {
            let p = gen.join(&stale);
            std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
        }
        for f in &files {
            let p = gen.join(&f.path);
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            }
            if std::fs::read_to_string(&p).ok().as_deref() != Some(f.text.as_str()) {
                std::fs::write(&p, &f.text).map_err(|e| io(&p, e))?;
            }
        }
        let lock_text = lock::render(&abis);
        std::fs::write(self.lock_path(), lock_text).map_err(|e| io(&self.lock_path(), e))?;
        Ok(files)
    }

    /// Every problem that makes the repository's ABIs disagree with their
    /// schemas; empty when `generate` would change nothing.
    pub fn check(&self) -> Vec<Problem> {
        let abis = match self.load() {
            Ok(a) => a,
            Err(p) => return vec![p],
        };
        let lock = match self.read_lock() {
            Ok(l) => l,
            Err(p) => return vec![p],
        };
        let mut out = Self::missing_bumps(&abis, &lock);
        for abi in &abis {
            match lock.get(&abi.name) {
                None => out.push(Problem::StaleLock(format!(
                    "abi.lock does not record {}",
                    abi.name
                ))),
                Some(l) if l.compatible != abi.compatible => out.push(Problem::StaleLock(format!(
                    "abi.lock records {} as {}, the schema makes it {}",
                    abi.name, l.compatible, abi.compatible
                ))),
                // Same fingerprint, different record: the lock was edited by hand.
                Some(l) if l.fingerprint == abi.fingerprint() && *l != Locked::of(abi) => {
                    out.push(Problem::StaleLock(format!(
                        "abi.lock's record of {} is not what generate writes",
                        abi.name
                    )))
                }
                Some(_) => {}
            }
        }
        for name in lock.keys().filter(|n| !abis.iter().any(|a| &a.name == *n)) {
            out.push(Problem::StaleLock(format!(
                "abi.lock records {name}, which no schema declares"
            )));
        }
        let files = emit::all(&abis);
        let gen = self.generated_dir();
        for f in &files {
            let p = gen.join(&f.path);
            match std::fs::read_to_string(&p) {
                Ok(text) if text == f.text => {}
                Ok(_) => out.push(Problem::StaleFile(format!(
                    "{} is out of date",
                    rel(&self.root, &p)
                ))),
                Err(_) => out.push(Problem::StaleFile(format!(
                    "{} is missing",
                    rel(&self.root, &p)
                ))),
            }
        }
        for extra in self.extra_files(&files) {
            out.push(Problem::StaleFile(format!(
                "{} is not generated from any schema",
                rel(&self.root, &gen.join(extra))
            )));
        }
        out
    }

    /// Files under generated/ that `files` does not include.
    fn extra_files(&self, files: &[Generated]) -> Vec<String> {
        let mut found = Vec::new();
        walk(&self.generated_dir(), "", &mut found);
        found.retain(|p| !files.iter().any(|f| &f.path == p));
        found.sort();
        found
    }
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if e.path().is_dir() {
            walk(&e.path(), &rel, out);
        } else {
            out.push(rel);
        }
    }
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}
