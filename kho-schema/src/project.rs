//! A repository's ABIs on disk: `schemas/*.toml`, `schemas/abi.lock` and
//! `schemas/generated/`. `generate` writes them; `check` proves they agree.
//!
//! Everything written stays inside `schemas/` and goes through
//! the filesystem seam ([`fs`]): no `..`, no symlink followed, each file
//! replaced atomically. `generate` removes only regular files under
//! `generated/` that carry the generated-file banner; anything else there
//! (a file someone wrote, a FIFO, a symlink, a link loop) is reported as a
//! [`Problem::Disk`] by both `generate` and `check` and left alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::diff::Verdict;
use crate::emit::{self, Generated};
use crate::fs::{self, Found, FsError, OutDir};
use crate::layout::Abi;
use crate::lock::{self, Lock, Locked};
use crate::view::AbiView;
use crate::Error;

/// Where a repository keeps its ABIs.
///
/// By default the schemas are `ROOT/schemas/*.toml`, the lock
/// `ROOT/schemas/abi.lock` and the generated files go under
/// `ROOT/schemas/generated/`; [`with_schema_dir`](Self::with_schema_dir),
/// [`with_out_dir`](Self::with_out_dir) and [`with_only`](Self::with_only)
/// move the schemas (and the lock, which lives beside them), move the
/// output, and select the languages generated and checked.
#[derive(Debug, Clone)]
pub struct Project {
    /// The repository root.
    pub root: PathBuf,
    /// The schema directory, when not `ROOT/schemas`.
    schemas: Option<PathBuf>,
    /// The output directory, when not `generated/` under the schemas.
    out: Option<PathBuf>,
    /// The languages generated and checked; empty: all.
    only: Vec<emit::Lang>,
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
    /// Something on disk that kho will not touch or could not write: a
    /// symlink under `generated/` or as `abi.lock`, a file there without
    /// the generated-file banner, a FIFO or device, an output path that
    /// leaves its directory, a failed write. Each names the path.
    Disk(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Schema(s) => f.write_str(s),
            Problem::MissingBump(s) => f.write_str(s),
            Problem::StaleLock(s) => write!(f, "{s}: run `kho-abi generate`"),
            Problem::StaleFile(s) => write!(f, "{s}: run `kho-abi generate`"),
            Problem::Disk(s) => f.write_str(s),
        }
    }
}

impl Project {
    /// The project rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Project {
            root: root.into(),
            schemas: None,
            out: None,
            only: Vec::new(),
        }
    }

    /// The schemas (and `abi.lock`) are in `dir` instead of `ROOT/schemas`.
    /// Unless [`with_out_dir`](Self::with_out_dir) says otherwise, the
    /// output goes to `dir/generated/`.
    pub fn with_schema_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.schemas = Some(dir.into());
        self
    }

    /// The generated files go under `dir` (as under `generated/`: `c/`,
    /// `rust/`, `doc/`). The directory itself is taken as given (it may be
    /// a link the user made on purpose) and created if missing; everything
    /// below it is kept inside it as below `generated/`: no `..`, no
    /// symlink followed, only files with the generated-file banner removed.
    pub fn with_out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out = Some(dir.into());
        self
    }

    /// Generate and check only the files of `langs` (all when empty); the
    /// directories of the other languages are neither written, removed
    /// nor looked at. The lock is written whatever the languages.
    pub fn with_only(mut self, langs: &[emit::Lang]) -> Self {
        self.only = langs.to_vec();
        self.only.sort();
        self.only.dedup();
        self
    }

    /// `schemas/`.
    pub fn schema_dir(&self) -> PathBuf {
        match &self.schemas {
            Some(dir) => dir.clone(),
            None => self.root.join("schemas"),
        }
    }

    /// `schemas/abi.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.schema_dir().join("abi.lock")
    }

    /// `schemas/generated/`, or the output directory given.
    pub fn generated_dir(&self) -> PathBuf {
        match &self.out {
            Some(dir) => dir.clone(),
            None => self.schema_dir().join(GENERATED),
        }
    }

    /// Where generated files are written, and the prefix of their paths
    /// there. By default that is the schema directory with `generated/`,
    /// so that `generated` itself is checked on every write as below it;
    /// an output directory given is the root of its own.
    fn out_dir(&self) -> (OutDir, &'static str) {
        match &self.out {
            Some(dir) => (OutDir::new(dir), ""),
            None => (OutDir::new(self.schema_dir()), "generated/"),
        }
    }

    /// The files generate writes for `abis`, in the selected languages
    /// (paths relative to [`generated_dir`](Self::generated_dir)).
    pub fn files(&self, abis: &[Abi]) -> Vec<Generated> {
        emit::only(abis, &self.only)
    }

    /// Whether the survey looks at `rel` (relative to the output
    /// directory): everything, or what is under a selected language's
    /// directory.
    fn surveys(&self, rel: &Path) -> bool {
        self.only.is_empty()
            || rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .and_then(|top| emit::Lang::ALL.into_iter().find(|l| l.dir() == top))
                .is_some_and(|l| self.only.contains(&l))
    }

    /// Compiles the schemas ([`Error::Schema`] with every error).
    pub fn load(&self) -> Result<Vec<Abi>, Error> {
        crate::load_dir(&self.schema_dir())
    }

    /// The lock, or an empty one if there is none. A symlinked or special
    /// `abi.lock` is refused: generate would have to write through it.
    fn read_lock(&self) -> Result<Lock, Problem> {
        let path = self.lock_path();
        let disk = |e: FsError| Problem::Disk(format!("{}: {}", self.shown(&e.path), e.reason()));
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::new()),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Problem::Disk(format!(
                    "{}: is a symlink; kho does not write through links: \
                     replace it with a regular file",
                    self.shown(&path)
                )))
            }
            _ => {}
        }
        let text = fs::read_text(&path, fs::MAX_INPUT).map_err(disk)?;
        lock::parse(&text).map_err(|e| Problem::Schema(e.to_string()))
    }

    /// `p` as the user sees it: relative to the root.
    fn shown(&self, p: &Path) -> String {
        rel(&self.root, p)
    }

    /// Layout changes recorded in the lock that come without a bump of
    /// the compatible macro that covers them (each macro on its own). A
    /// draft (recorded as one) changes freely; a released ABI cannot become
    /// a draft again.
    fn missing_bumps(abis: &[Abi], lock: &Lock) -> Vec<(String, Problem)> {
        let mut out = Vec::new();
        let views: Vec<AbiView> = abis.iter().map(AbiView::of).collect();
        let locked_views: Vec<AbiView> = lock.iter().filter_map(|(name, l)| l.view(name)).collect();
        let diffs = crate::diff::diff(&locked_views, &views);
        for (abi, new) in abis.iter().zip(&views) {
            let Some(locked) = lock.get(&abi.name) else {
                continue;
            };
            if abi.draft && !locked.draft {
                out.push((
                    abi.name.clone(),
                    Problem::MissingBump(format!(
                    "{}: {}: ABI {} is released (abi.lock records it): it cannot be a draft again; \
                     remove `draft = true`",
                    abi.file,
                    abi.name,
                    abi.name
                )),
                ));
                continue;
            }
            // The same fingerprint: the layouts agree (a record that
            // differs anyway was edited by hand: `check` says so).
            if locked.fingerprint == abi.fingerprint() {
                continue;
            }
            if !locked_views.iter().any(|v| v.name == abi.name) {
                continue;
            }
            // Against every ABI of both sides, so that a change inside a
            // dependency's struct names its field path.
            let Some(d) = diffs
                .iter()
                .find(|d| d.name == abi.name && d.new.as_ref() == Some(new))
            else {
                continue;
            };
            if d.verdict == Verdict::BumpMissing {
                for line in d.explain_each() {
                    out.push((abi.name.clone(), Problem::MissingBump(line)));
                }
            }
        }
        out
    }

    /// Releases the draft ABI `name`: removes `draft = true` from its
    /// schema (the line must hold only that key, as `kho-abi` writes it;
    /// otherwise the error says where to remove it by hand), then
    /// generates, so that the lock records the ABI as released. From then
    /// on its layout changes only with a bump.
    ///
    /// Errors: [`Error::Project`] when no schema declares `name`, when it is
    /// not a draft, or when the line cannot be removed safely; otherwise
    /// what [`generate`](Self::generate) returns.
    pub fn release(&self, name: &str) -> Result<Vec<Generated>, Error> {
        let abis = self.load()?;
        let refuse = |m: String| Error::Project(vec![Problem::Schema(m)]);
        let abi = abis
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| refuse(format!("no schema declares ABI `{name}`")))?;
        if !abi.draft {
            return Err(refuse(format!(
                "{}: ABI `{name}` is not a draft (it has no `draft = true`): nothing to release",
                abi.file
            )));
        }
        let path = PathBuf::from(&abi.file);
        let text = fs::read_text(&path, fs::MAX_INPUT)
            .map_err(|e| refuse(format!("{}: {}", self.shown(&e.path), e.reason())))?;
        let new = crate::parse::without_draft(&text).map_err(|(line, why)| {
            refuse(format!(
                "{}:{line}: {why}: remove `draft = true` from [abi] by hand",
                abi.file
            ))
        })?;
        let rel = path
            .strip_prefix(self.schema_dir())
            .map_err(|_| {
                refuse(format!(
                    "{}: the schema is not under {}",
                    abi.file,
                    self.shown(&self.schema_dir())
                ))
            })?
            .to_string_lossy()
            .into_owned();
        let out = OutDir::new(self.schema_dir());
        let disk = |e: FsError| {
            Error::Project(vec![Problem::Disk(format!(
                "{}: {}",
                self.shown(&e.path),
                e.reason()
            ))])
        };
        out.stage(&rel, new.as_bytes())
            .map_err(disk)?
            .commit()
            .map_err(disk)?;
        self.generate()
    }

    /// Writes the generated files and the lock, and removes the files a
    /// previous run generated that no schema generates any more.
    ///
    /// Refuses, writing nothing, when a layout changed under an unchanged
    /// compatible string, or when something under `generated/` (or
    /// `abi.lock`) is not kho's to replace or remove: a symlink, a file
    /// without the generated-file banner, a special file, an output path
    /// that leaves the directory.
    ///
    /// Every file is first written beside its target and synced; only when
    /// all are written are they renamed into place, so a full disk or a
    /// failed write leaves every old file as it was. Each rename is atomic:
    /// a file holds its old text or its new one. Nothing is written through
    /// a symlink, nothing outside `schemas/`.
    ///
    /// Errors: [`Error::Schema`] when the schemas do not compile, otherwise
    /// [`Error::Project`] with every problem.
    pub fn generate(&self) -> Result<Vec<Generated>, Error> {
        let abis = self.load()?;
        let lock = self.read_lock().map_err(|p| Error::Project(vec![p]))?;
        let refused: Vec<Problem> = Self::missing_bumps(&abis, &lock)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if !refused.is_empty() {
            return Err(Error::Project(refused));
        }
        let files = self.files(&abis);
        if let Some(dir) = &self.out {
            // The user named it: made if missing (with its parents), as
            // given. What is below it is checked from here on.
            if std::fs::symlink_metadata(dir).is_err() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Project(vec![Problem::Disk(format!("{}: {e}", self.shown(dir)))])
                })?;
            }
        }
        let survey = self.survey(&files);
        if !survey.refused.is_empty() {
            return Err(Error::Project(survey.refused));
        }
        let (out, prefix) = self.out_dir();
        let lock_dir = OutDir::new(self.schema_dir());
        let disk = |e: FsError| {
            Error::Project(vec![Problem::Disk(format!(
                "{}: {}",
                self.shown(&e.path),
                e.reason()
            ))])
        };
        let mut staged = Vec::new();
        for f in &files {
            let rel = format!("{prefix}{}", f.path);
            if survey.present.contains(Path::new(&f.path)) && self.same(&out, &rel, &f.text) {
                continue;
            }
            staged.push(out.stage(&rel, f.text.as_bytes()).map_err(disk)?);
        }
        let lock_text = lock::render(&abis);
        if !self.same(&lock_dir, LOCK, &lock_text) {
            staged.push(lock_dir.stage(LOCK, lock_text.as_bytes()).map_err(disk)?);
        }
        // The lock is renamed last, so that once it records the new
        // layouts every generated file already matches them.
        for s in staged {
            s.commit().map_err(disk)?;
        }
        for stale in &survey.stale {
            let rel = format!("{prefix}{}", slash(stale));
            out.remove_file(&rel).map_err(disk)?;
        }
        Ok(files)
    }

    /// Whether `rel` under `out` is a regular file holding exactly `text`.
    fn same(&self, out: &OutDir, rel: &str, text: &str) -> bool {
        let Ok(p) = out.path(rel) else {
            return false;
        };
        fs::read_bytes(&p, text.len() as u64).is_ok_and(|b| b == text.as_bytes())
    }

    /// Every problem that makes the repository's ABIs disagree with their
    /// schemas; empty when `generate` would change nothing. Changes
    /// nothing, follows no symlink under `generated/` (each is one
    /// [`Problem::Disk`]).
    pub fn check(&self) -> Vec<Problem> {
        let abis = match self.load() {
            Ok(a) => a,
            Err(e) => return vec![Problem::Schema(e.to_string())],
        };
        let lock = match self.read_lock() {
            Ok(l) => l,
            Err(p) => return vec![p],
        };
        let missing = Self::missing_bumps(&abis, &lock);
        let bumps_missing: Vec<String> = missing.iter().map(|(n, _)| n.clone()).collect();
        let mut out: Vec<Problem> = missing.into_iter().map(|(_, p)| p).collect();
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
                // A change that needs no bump (a constant added, a draft
                // changed), or a lock edited by hand.
                Some(l) if *l != Locked::of(abi) && !bumps_missing.contains(&abi.name) => {
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
        let files = self.files(&abis);
        let survey = self.survey(&files);
        let gen = self.generated_dir();
        let (dir, prefix) = self.out_dir();
        for f in &files {
            let rel = Path::new(&f.path);
            // Said once, for the link or special file on the way.
            if survey.reported.iter().any(|r| rel.starts_with(r)) {
                continue;
            }
            let shown = self.shown(&gen.join(rel));
            if !survey.present.contains(rel) {
                out.push(Problem::StaleFile(format!("{shown} is missing")));
            } else if !self.same(&dir, &format!("{prefix}{}", f.path), &f.text) {
                out.push(Problem::StaleFile(format!("{shown} is out of date")));
            }
        }
        for extra in &survey.stale {
            out.push(Problem::StaleFile(format!(
                "{} is not generated from any schema",
                self.shown(&gen.join(extra))
            )));
        }
        out.extend(survey.refused);
        out
    }

    /// What is under `generated/` (and at `abi.lock`) compared with
    /// `files`, without following any link.
    fn survey(&self, files: &[Generated]) -> Survey {
        let gen = self.generated_dir();
        let mut survey = Survey::default();
        let mut wanted = BTreeSet::new();
        for f in files {
            let shown = self.shown(&gen.join(&f.path));
            if let Err(why) = fs::output_components(&f.path) {
                survey.refuse(
                    &f.path,
                    format!(
                        "{shown}: not a path inside {}: {why} (a schema's `header` must be a \
                         relative path without `..`)",
                        self.shown(&gen)
                    ),
                );
            } else if !wanted.insert(PathBuf::from(&f.path)) {
                survey.refuse(
                    &f.path,
                    format!("{shown}: two ABIs generate this file (the same `header`?)"),
                );
            }
        }
        // An output directory the user named is taken as given, even a
        // link; `generated/` under the schemas is kho's, never a link.
        let meta = if self.out.is_some() {
            std::fs::metadata(&gen)
        } else {
            std::fs::symlink_metadata(&gen)
        };
        match meta {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return survey,
            Err(e) => {
                survey.refuse("", format!("{}: {e}", self.shown(&gen)));
                return survey;
            }
            Ok(m) if m.file_type().is_symlink() => {
                survey.refuse("", format!("{}: {LINK_HERE}", self.shown(&gen)));
                return survey;
            }
            Ok(m) if !m.is_dir() => {
                survey.refuse(
                    "",
                    format!(
                        "{}: not a directory ({})",
                        self.shown(&gen),
                        fs::type_name(m.file_type())
                    ),
                );
                return survey;
            }
            Ok(_) => {}
        }
        let found = match fs::walk(&gen) {
            Ok(f) => f,
            Err(e) => {
                survey.refuse("", format!("{}: {}", self.shown(&e.path), e.reason()));
                return survey;
            }
        };
        for (rel, what) in found.into_iter().filter(|(rel, _)| self.surveys(rel)) {
            let shown = self.shown(&gen.join(&rel));
            match what {
                Found::Symlink => survey.refuse(&rel, format!("{shown}: {LINK_HERE}")),
                Found::Special(kind) => survey.refuse(
                    &rel,
                    format!(
                        "{shown}: not a regular file ({kind}); kho removes only files it \
                         generated: remove it"
                    ),
                ),
                Found::TooDeep => survey.refuse(
                    &rel,
                    format!(
                        "{shown}: more than {} directories deep; kho does not walk it: remove it",
                        fs::MAX_WALK_DEPTH
                    ),
                ),
                Found::File if wanted.contains(&rel) => {
                    survey.present.insert(rel);
                }
                // Every name generate writes is UTF-8, and removing goes by
                // name: such a file is not one of kho's.
                Found::File if rel.to_str().is_none() => survey.refuse(
                    &rel,
                    format!(
                        "{shown}: the name is not UTF-8, so kho did not generate it: remove it"
                    ),
                ),
                Found::File if has_banner(&gen.join(&rel)) => survey.stale.push(rel),
                Found::File => survey.refuse(
                    &rel,
                    format!(
                        "{shown}: not generated by kho-abi (no generated-file banner); kho \
                         removes only files it generated: move it out of {}",
                        self.shown(&gen)
                    ),
                ),
            }
        }
        // A path generate writes that holds a directory (or is below a
        // file): generate would fail half-way; say so now.
        for rel in &wanted {
            if survey.present.contains(rel) || survey.reported.iter().any(|r| rel.starts_with(r)) {
                continue;
            }
            let p = gen.join(rel);
            match std::fs::symlink_metadata(&p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => survey.refuse(rel, format!("{}: {e}", self.shown(&p))),
                // Only a link on the way (made since the walk) leads to a
                // file the walk did not see.
                Ok(m) if m.is_file() => survey.refuse(
                    rel,
                    format!(
                        "{}: reached through a symlink; kho does not write through links",
                        self.shown(&p)
                    ),
                ),
                Ok(m) => survey.refuse(
                    rel,
                    format!(
                        "{}: not a regular file ({}); kho replaces only regular files: remove it",
                        self.shown(&p),
                        fs::type_name(m.file_type())
                    ),
                ),
            }
        }
        survey
    }
}

/// `schemas/generated`, relative to `schemas/`.
const GENERATED: &str = "generated";
/// `schemas/abi.lock`, relative to `schemas/`.
const LOCK: &str = "abi.lock";
const LINK_HERE: &str =
    "is a symlink; kho does not follow, write through or remove links under schemas/: remove it";

/// The marker every generated file carries near its top, in the banner the
/// emitters write (`emit::banner`): the first line of Rust and Markdown
/// files, the third of a C header (after the SPDX line and `/*`).
pub const BANNER_MARKER: &str = "Generated by `kho-abi generate` from ";

/// How many lines from the top the banner may be.
const BANNER_LINES: usize = 4;

/// Whether the regular file `p` carries the generated-file banner in its
/// first lines. Anything unreadable does not.
fn has_banner(p: &Path) -> bool {
    let Ok(head) = fs::read_head(p, 1024) else {
        return false;
    };
    String::from_utf8_lossy(&head)
        .lines()
        .take(BANNER_LINES)
        .any(|l| l.contains(BANNER_MARKER))
}

/// What is on disk under `generated/`.
#[derive(Default)]
struct Survey {
    /// Regular files at the paths generate writes.
    present: BTreeSet<PathBuf>,
    /// Regular files with the banner that no schema generates any more:
    /// generate removes them.
    stale: Vec<PathBuf>,
    /// What kho will not touch, one problem each.
    refused: Vec<Problem>,
    /// The paths (relative to `generated/`) of those problems.
    reported: BTreeSet<PathBuf>,
}

impl Survey {
    fn refuse(&mut self, rel: impl AsRef<Path>, msg: String) {
        self.reported.insert(rel.as_ref().to_path_buf());
        self.refused.push(Problem::Disk(msg));
    }
}

/// A relative path with `/` separators (its name is UTF-8: see `survey`).
fn slash(p: &Path) -> String {
    let parts: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `has_banner` recognises what the emitters write: if an emitter's
    /// banner moves or changes, generate would stop removing its stale
    /// files, and this fails first.
    #[test]
    fn every_emitted_file_carries_the_banner_marker() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
        let abis = crate::load_dir(&dir).unwrap_or_else(|d| panic!("{d}"));
        let files = emit::all(&abis);
        assert!(files.len() >= 3);
        for f in &files {
            assert!(
                f.text
                    .lines()
                    .take(BANNER_LINES)
                    .any(|l| l.contains(BANNER_MARKER)),
                "{} has no banner in its first {BANNER_LINES} lines",
                f.path
            );
        }
        for abi in &abis {
            assert!(emit::banner(abi).starts_with(BANNER_MARKER));
        }
    }
}
