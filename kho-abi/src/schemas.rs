//! Where schemas come from: a file, a directory, or `git:REV` (the
//! `schemas/` directory at a revision of the repository around the current
//! directory). Each is read into [`Source`]s and compiled together.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use kho_schema::{Abi, Error, Source};

/// Why a set of schemas could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Nothing to compile: a missing path, not a git repository, an unknown
    /// revision. One line.
    Unreadable(String),
    /// The schemas do not compile: every error, each `file:line:col: ...`.
    Schema(Error),
}

/// Loads one side of a diff: `git:REV`, a directory of schemas, or a schema
/// file (see [`load_file`]). Any bytes make a path; `git:` is recognised on
/// the bytes, so a side need not be UTF-8.
pub fn load_side(spec: &OsStr) -> Result<Vec<Abi>, LoadError> {
    if let Some(rev) = spec.as_bytes().strip_prefix(b"git:") {
        return compile(&git_sources(OsStr::from_bytes(rev))?);
    }
    let path = Path::new(spec);
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => compile(&read_dir(path)?),
        Ok(_) => load_file(path),
        Err(e) => Err(LoadError::Unreadable(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Compiles a schema file with the schemas of its directory it depends on,
/// directly or not. Other files there are not read as schemas, so a file
/// may sit in any directory (say, an old copy in /tmp).
///
/// Every file is read as [`kho_schema::read_dir`] reads it: a regular file
/// (a symlink is followed; a FIFO or device is refused at once) of at most
/// [`kho_schema::fs::MAX_INPUT`] bytes.
pub fn load_file(path: &Path) -> Result<Vec<Abi>, LoadError> {
    let main = kho_schema::read_schema(path).map_err(|e| {
        LoadError::Unreadable(match e {
            Error::Fs(e) => format!("{}: cannot read: {}", path.display(), e.reason()),
            e => format!("{}: {e}", path.display()),
        })
    })?;
    let mut sources = vec![main.clone()];
    let Some((name, depends)) = kho_schema::declared(&main) else {
        // compile() reports why.
        return compile(&sources);
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Siblings that do not read or parse are simply not dependencies.
    let siblings: Vec<(Source, String, Vec<String>)> = kho_schema::schema_paths(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p: &PathBuf| p.file_name() != path.file_name())
        .filter_map(|p| kho_schema::read_schema(&p).ok())
        .filter_map(|s| {
            let (name, deps) = kho_schema::declared(&s)?;
            Some((s, name, deps))
        })
        .collect();
    let mut wanted = depends;
    let mut have = vec![name];
    while let Some(name) = wanted.pop() {
        if have.contains(&name) {
            continue;
        }
        // The first file (by name) that declares it, as load_dir would
        // have refused two.
        if let Some((src, _, deps)) = siblings.iter().find(|(_, n, _)| *n == name) {
            sources.push(src.clone());
            wanted.extend(deps.iter().cloned());
        }
        have.push(name);
    }
    // In file-name order, as a directory would be.
    sources.sort_by(|a, b| a.path.cmp(&b.path));
    compile(&sources)
}

fn read_dir(dir: &Path) -> Result<Vec<Source>, LoadError> {
    kho_schema::read_dir(dir).map_err(|e| {
        LoadError::Unreadable(match e {
            // read_dir's errors have no place in a file: say them in one line.
            Error::Schema(d) => {
                let reasons: Vec<String> = d
                    .list
                    .iter()
                    .map(|d| format!("{}: {}", d.file, d.message))
                    .collect();
                reasons.join("; ")
            }
            e => e.to_string(),
        })
    })
}

fn compile(sources: &[Source]) -> Result<Vec<Abi>, LoadError> {
    kho_schema::compile(sources).map_err(LoadError::Schema)
}

/// The `schemas/*.toml` files at revision `rev`, named `REV:schemas/x.toml`.
/// A revision without a `schemas/` directory has no schemas (every ABI of
/// the other side is then new).
fn git_sources(rev: &OsStr) -> Result<Vec<Source>, LoadError> {
    let unreadable = LoadError::Unreadable;
    let shown_rev = rev.to_string_lossy();
    let top = git(&["rev-parse".as_ref(), "--show-toplevel".as_ref()], None).map_err(|e| {
        unreadable(match e {
            Git::NotRun(e) => e.to_string(),
            // The same for both sides: said once.
            Git::Failed(e) => format!("git sides need a git repository: {e}"),
        })
    })?;
    // The repository's path is bytes, like any path.
    let mut top = top;
    while top.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        top.pop();
    }
    let top = PathBuf::from(OsString::from_vec(top));
    let top = top.as_path();
    // A leading '-' would be read as an option.
    let commit = if rev.is_empty() || rev.as_bytes().starts_with(b"-") {
        None
    } else {
        let mut spec = rev.to_os_string();
        spec.push("^{commit}");
        git(
            &[
                "rev-parse".as_ref(),
                "--verify".as_ref(),
                "--quiet".as_ref(),
                &spec,
            ],
            Some(top),
        )
        .ok()
    };
    let commit = commit
        .and_then(|c| String::from_utf8(c).ok())
        .map(|c| c.trim().to_string())
        .ok_or_else(|| {
            unreadable(format!(
                "git:{shown_rev}: unknown revision {:?}",
                shown_rev.as_ref()
            ))
        })?;
    let listing = git(
        &[
            "ls-tree".as_ref(),
            "-z".as_ref(),
            commit.as_ref(),
            "--".as_ref(),
            "schemas/".as_ref(),
        ],
        Some(top),
    )
    .map_err(|e| unreadable(format!("git:{shown_rev}: cannot list schemas/: {e}")))?;
    let mut out = Vec::new();
    for item in listing.split(|&b| b == 0).filter(|i| !i.is_empty()) {
        // `<mode> <type> <object>\t<path>`
        let item = String::from_utf8_lossy(item);
        let Some((meta, path)) = item.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split(' ');
        let (mode, kind, object) = (meta.next(), meta.next(), meta.next());
        let file = matches!(mode, Some("100644" | "100755")) && kind == Some("blob");
        let (Some(object), true, true) = (object, file, path.ends_with(".toml")) else {
            continue;
        };
        let shown = format!("{shown_rev}:{path}");
        let bytes = git(
            &["cat-file".as_ref(), "blob".as_ref(), object.as_ref()],
            Some(top),
        )
        .map_err(|e| unreadable(format!("cannot read {shown}: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| unreadable(format!("cannot read {shown}: not UTF-8")))?;
        out.push(Source::new(shown, text));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Why git gave no answer.
enum Git {
    /// It could not be started.
    NotRun(String),
    /// It failed: the first line it said.
    Failed(String),
}

impl std::fmt::Display for Git {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Git::NotRun(s) | Git::Failed(s) => f.write_str(s),
        }
    }
}

/// Runs git and returns its stdout.
fn git(args: &[&OsStr], dir: Option<&Path>) -> Result<Vec<u8>, Git> {
    let mut cmd = Command::new("git");
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd
        .output()
        .map_err(|e| Git::NotRun(format!("cannot run git: {e}")))?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let line = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Err(Git::Failed(if line.is_empty() {
        format!(
            "git {} failed ({})",
            args.first().map_or("".into(), |a| a.to_string_lossy()),
            out.status
        )
    } else {
        line.trim().to_string()
    }))
}
