//! Where schemas come from: a file, a directory, or `git:REV` (the
//! `schemas/` directory at a revision of the repository around the current
//! directory). Each is read into [`Source`]s and compiled together.

use std::path::Path;
use std::process::Command;

use kho_schema::{Abi, Diags, Source};

/// Why a set of schemas could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Nothing to compile: a missing path, not a git repository, an unknown
    /// revision. One line.
    Unreadable(String),
    /// The schemas do not compile: every error, each `file:line:col: ...`.
    Schema(Diags),
}

/// Loads one side of a diff: `git:REV`, a directory of schemas, or a schema
/// file (see [`load_file`]).
pub fn load_side(spec: &str) -> Result<Vec<Abi>, LoadError> {
    if let Some(rev) = spec.strip_prefix("git:") {
        return compile(&git_sources(rev)?);
    }
    let path = Path::new(spec);
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => compile(&read_dir(path)?),
        Ok(_) => load_file(path),
        Err(e) => Err(LoadError::Unreadable(format!("cannot read {spec}: {e}"))),
    }
}

/// Compiles a schema file with the schemas of its directory it depends on,
/// directly or not. Other files there are not read as schemas, so a file
/// may sit in any directory (say, an old copy in /tmp).
pub fn load_file(path: &Path) -> Result<Vec<Abi>, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::Unreadable(format!("cannot read {shown}: {e}")))?;
    let main = Source::new(shown, text);
    let mut sources = vec![main.clone()];
    let mut scratch = Diags::default();
    let Some(ast) = kho_schema::parse::parse(&main, &mut scratch) else {
        // compile() reports why.
        return compile(&sources);
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Siblings that do not read or parse are simply not dependencies.
    let siblings: Vec<(Source, String, Vec<String>)> = kho_schema::read_dir(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| Path::new(&s.path).file_name() != path.file_name())
        .filter_map(|s| {
            let a = kho_schema::parse::parse(&s, &mut Diags::default())?;
            let deps = a.depends.into_iter().map(|d| d.value).collect();
            Some((s, a.name.value, deps))
        })
        .collect();
    let mut wanted: Vec<String> = ast.depends.into_iter().map(|d| d.value).collect();
    let mut have = vec![ast.name.value];
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
    kho_schema::read_dir(dir).map_err(|d| {
        // read_dir's errors have no place in a file: say them in one line.
        let reasons: Vec<String> = d
            .list
            .iter()
            .map(|d| format!("{}: {}", d.file, d.message))
            .collect();
        LoadError::Unreadable(reasons.join("; "))
    })
}

fn compile(sources: &[Source]) -> Result<Vec<Abi>, LoadError> {
    kho_schema::compile(sources).map_err(LoadError::Schema)
}

/// The `schemas/*.toml` files at revision `rev`, named `REV:schemas/x.toml`.
/// A revision without a `schemas/` directory has no schemas (every ABI of
/// the other side is then new).
fn git_sources(rev: &str) -> Result<Vec<Source>, LoadError> {
    let unreadable = LoadError::Unreadable;
    let top = git(&["rev-parse", "--show-toplevel"], None).map_err(|e| {
        unreadable(match e {
            Git::NotRun(e) => e.to_string(),
            // The same for both sides: said once.
            Git::Failed(e) => format!("git sides need a git repository: {e}"),
        })
    })?;
    let top = String::from_utf8(top)
        .map_err(|_| unreadable("git: the repository's path is not UTF-8".into()))?;
    let top = Path::new(top.trim_end_matches(['\n', '\r']));
    // A leading '-' would be read as an option.
    let commit = if rev.is_empty() || rev.starts_with('-') {
        None
    } else {
        git(
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
            Some(top),
        )
        .ok()
    };
    let commit = commit
        .and_then(|c| String::from_utf8(c).ok())
        .map(|c| c.trim().to_string())
        .ok_or_else(|| unreadable(format!("git:{rev}: unknown revision {rev:?}")))?;
    let listing = git(&["ls-tree", "-z", &commit, "--", "schemas/"], Some(top))
        .map_err(|e| unreadable(format!("git:{rev}: cannot list schemas/: {e}")))?;
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
        let shown = format!("{rev}:{path}");
        let bytes = git(&["cat-file", "blob", object], Some(top))
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
fn git(args: &[&str], dir: Option<&Path>) -> Result<Vec<u8>, Git> {
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
            args.first().unwrap_or(&""),
            out.status
        )
    } else {
        line.trim().to_string()
    }))
}
