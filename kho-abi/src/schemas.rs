//! Where schemas come from: a file, a directory, or `git:REV` (the
//! `schemas/` directory at a revision of the repository around the current
//! directory). Each is read into [`Source`]s and compiled together.

use std::collections::BTreeMap;
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
    let top = git_top(None)?;
    let files = git_files(&top, rev, "schemas/", ".toml")?;
    let mut out = Vec::new();
    for (shown, bytes) in files {
        let text = String::from_utf8(bytes)
            .map_err(|_| LoadError::Unreadable(format!("cannot read {shown}: not UTF-8")))?;
        out.push(Source::new(shown, text));
    }
    Ok(out)
}

/// The top of the git repository around `dir` (the current directory when
/// `None`).
fn git_top(dir: Option<&Path>) -> Result<PathBuf, LoadError> {
    let mut top = git(&["rev-parse".as_ref(), "--show-toplevel".as_ref()], dir).map_err(|e| {
        LoadError::Unreadable(match e {
            Git::NotRun(e) => e.to_string(),
            // The same for both sides: said once.
            Git::Failed(e) => format!("git sides need a git repository: {e}"),
        })
    })?;
    // The repository's path is bytes, like any path.
    while top.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        top.pop();
    }
    Ok(PathBuf::from(OsString::from_vec(top)))
}

/// The regular files directly under `prefix` (a path relative to the top,
/// empty or ending in `/`) whose names end with `suffix`, at revision
/// `rev`: each as `(REV:path, bytes)`, sorted by path. A revision without
/// that directory has none.
fn git_files(
    top: &Path,
    rev: &OsStr,
    prefix: &str,
    suffix: &str,
) -> Result<Vec<(String, Vec<u8>)>, LoadError> {
    let unreadable = LoadError::Unreadable;
    let shown_rev = rev.to_string_lossy();
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
    let mut args: Vec<&OsStr> = vec![
        "ls-tree".as_ref(),
        "-z".as_ref(),
        commit.as_ref(),
        "--".as_ref(),
    ];
    if !prefix.is_empty() {
        args.push(prefix.as_ref());
    }
    let listing = git(&args, Some(top)).map_err(|e| {
        let dir = if prefix.is_empty() { "/" } else { prefix };
        unreadable(format!("git:{shown_rev}: cannot list {dir}: {e}"))
    })?;
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
        let (Some(object), true, true) = (object, file, path.ends_with(suffix)) else {
            continue;
        };
        let shown = format!("{shown_rev}:{path}");
        let bytes = git(
            &["cat-file".as_ref(), "blob".as_ref(), object.as_ref()],
            Some(top),
        )
        .map_err(|e| unreadable(format!("cannot read {shown}: {e}")))?;
        out.push((shown, bytes));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
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

/// How C headers are read (`lock`, `check` and `diff` with `--headers`):
/// the preprocessor options the kernel's build passes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HeaderArgs {
    /// Add DIR to the include path, as `cc -I` (repeatable; searched in
    /// order).
    #[arg(short = 'I', value_name = "DIR", requires = "headers")]
    include_dirs: Vec<PathBuf>,

    /// Define a macro, as `cc -D`: NAME (as 1) or NAME=VALUE (repeatable).
    #[arg(
        short = 'D',
        value_name = "NAME[=VALUE]",
        value_parser = crate::parse::header_define,
        requires = "headers"
    )]
    defines: Vec<(String, Option<String>)>,

    /// Include FILE before each header, as `cc --include` (repeatable).
    #[arg(long = "include", value_name = "FILE", requires = "headers")]
    includes: Vec<PathBuf>,
}

impl HeaderArgs {
    fn options(&self) -> kho_import::Options {
        kho_import::Options {
            include_dirs: self.include_dirs.clone(),
            defines: self.defines.clone(),
            includes: self.includes.clone(),
        }
    }
}

/// Why a directory of C headers could not be read into ABIs.
#[derive(Debug)]
pub enum HeaderError {
    /// libclang could not be loaded: the whole line to print (exit 2).
    NoLibclang(String),
    /// The headers cannot be read, imported or compiled (exit 1 for
    /// `lock`/`check`): one line, naming the header and its line.
    Bad(String),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::NoLibclang(s) | HeaderError::Bad(s) => f.write_str(s),
        }
    }
}

/// The ABIs of a directory of C headers, and where in the headers each
/// struct and field is (so that a change is reported at the header's line,
/// not at the line of an imported schema nobody sees).
#[derive(Debug)]
pub struct Headers {
    /// One ABI per header, compiled.
    pub abis: Vec<Abi>,
    /// One per header, in the order of `abis`' sources.
    imported: Vec<Origin>,
}

/// Where one imported schema came from.
#[derive(Debug)]
struct Origin {
    /// The name its source was compiled under (each ABI's `file`).
    source: String,
    /// The header as shown to the user.
    shown: String,
    /// The header line of each struct (`s`), field (`s.f`) and constant
    /// (`constant C`).
    lines: BTreeMap<String, u32>,
}

impl Headers {
    /// `header:line` of a change: the line of the field (or struct) its
    /// place names (`s.f`, `s.f.g` through a nested struct: the header
    /// line of `s.f`; `struct s`; `constant C`), in the header its schema
    /// place `at` (`file:line:col`) is in, or else in the header of ABI
    /// `abi`. The header alone when it has no such line; `None` when the
    /// change is in none of these headers.
    pub fn locate(&self, abi: &str, place: &str, at: Option<&str>) -> Option<String> {
        let origin = match at.and_then(|a| a.rsplitn(3, ':').nth(2)) {
            Some(file) => self.imported.iter().find(|o| o.source == file)?,
            None => {
                let abi = self.abis.iter().find(|a| a.name == abi)?;
                self.imported.iter().find(|o| o.source == abi.file)?
            }
        };
        let place = place.strip_prefix("struct ").unwrap_or(place);
        let mut key = place;
        loop {
            if let Some(line) = origin.lines.get(key) {
                return Some(format!("{}:{line}", origin.shown));
            }
            // `s.f.g` is in the header as `s.f`, then `s`.
            match key.rsplit_once('.') {
                Some((shorter, _)) => key = shorter,
                None => return Some(origin.shown.clone()),
            }
        }
    }

    /// The header (as shown) an ABI was imported from.
    pub fn header_of(&self, abi: &Abi) -> Option<&str> {
        self.imported
            .iter()
            .find(|o| o.source == abi.file)
            .map(|o| o.shown.as_str())
    }
}

/// Imports every `*.h` directly under `dir` (see [`kho_import::import_dir`])
/// and compiles the schemas together. `shown` names each header in
/// messages (the header's path, or `REV:path` for a revision).
fn import_headers(
    dir: &Path,
    opts: &kho_import::Options,
    shown: &dyn Fn(&Path) -> String,
) -> Result<Headers, HeaderError> {
    let imported = kho_import::import_dir(dir, opts).map_err(|e| match e {
        kho_import::Error::NoLibclang(_) => HeaderError::NoLibclang(format!("kho-abi: {e}")),
        e => HeaderError::Bad(format!("kho-abi: {e}")),
    })?;
    let mut origins = Vec::new();
    let mut sources = Vec::new();
    for i in imported {
        let shown = shown(&i.header);
        // The name each schema is compiled under, which `locate` maps back:
        // bracketed so that it is never taken for a file of the user's.
        let source = format!("<{shown} imported>");
        sources.push(Source::new(source.clone(), i.toml));
        origins.push(Origin {
            source,
            shown,
            lines: i.lines,
        });
    }
    let abis = kho_schema::compile(&sources).map_err(|e| {
        HeaderError::Bad(format!(
            "kho-abi: the schemas imported from {} do not compile (a bug of kho-import): {}",
            dir.display(),
            e.to_string().lines().next().unwrap_or("")
        ))
    })?;
    Ok(Headers {
        abis,
        imported: origins,
    })
}

/// The headers of `dir` as they are on disk.
pub fn load_headers(dir: &Path, args: &HeaderArgs) -> Result<Headers, HeaderError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(HeaderError::Bad(format!(
                "kho-abi: {}: not a directory (--headers names the directory of the ABI headers)",
                dir.display()
            )))
        }
        Err(e) => {
            return Err(HeaderError::Bad(format!(
                "kho-abi: cannot read {}: {e}",
                dir.display()
            )))
        }
    }
    import_headers(dir, &args.options(), &|p| p.display().to_string())
}

/// The headers of `dir` (a directory of the git repository around it) at
/// revision `rev`: each `*.h` directly in it at that revision, written to a
/// scratch directory and imported there. The scratch copy is put first on
/// the include path at the place the include path gives `dir` (when one of
/// the `-I` directories holds it), so that a header including another of
/// them (`<linux/kho/abi/kexec_handover.h>`) reads the one of `rev` too.
pub fn git_headers(rev: &OsStr, dir: &Path, args: &HeaderArgs) -> Result<Headers, HeaderError> {
    let bad = |e: LoadError| match e {
        LoadError::Unreadable(s) => HeaderError::Bad(format!("kho-abi: {s}")),
        LoadError::Schema(e) => HeaderError::Bad(e.to_string()),
    };
    let top = git_top(Some(dir)).map_err(bad)?;
    let prefix = git(&["rev-parse".as_ref(), "--show-prefix".as_ref()], Some(dir))
        .map_err(|e| HeaderError::Bad(format!("kho-abi: {}: {e}", dir.display())))?;
    let prefix = String::from_utf8(prefix)
        .map_err(|_| {
            HeaderError::Bad(format!("kho-abi: {}: the path is not UTF-8", dir.display()))
        })?
        .trim_end_matches(['\n', '\r'])
        .to_string();
    let files = git_files(&top, rev, &prefix, ".h").map_err(bad)?;
    let files = files
        .into_iter()
        .map(|(shown, bytes)| {
            // `REV:prefix/name.h`; a git path has no `/` in a name.
            let name = shown
                .rsplit(['/', ':'])
                .next()
                .unwrap_or(&shown)
                .to_string();
            (shown, name, bytes)
        })
        .collect();
    import_copies(files, dir, args)
}

/// The headers of `old` read as if they were in `place`: a review of two
/// directories where only `place` is on the include path (`-I include`
/// holding include/linux/kho/abi) reads the old headers' includes of each
/// other from `old`, not from `place`. When `place` is on no include path,
/// this is [`load_headers`] of `old`.
pub fn load_headers_at(
    old: &Path,
    place: &Path,
    args: &HeaderArgs,
) -> Result<Headers, HeaderError> {
    if include_relative(place, args).is_none() {
        return load_headers(old, args);
    }
    let entries = std::fs::read_dir(old)
        .map_err(|e| HeaderError::Bad(format!("kho-abi: cannot read {}: {e}", old.display())))?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|e| {
            HeaderError::Bad(format!("kho-abi: cannot read {}: {e}", old.display()))
        })?;
        let path = e.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".h") {
            continue;
        }
        let text = kho_schema::fs::read_text(&path, kho_schema::fs::MAX_INPUT).map_err(|e| {
            HeaderError::Bad(format!("kho-abi: {}: {}", e.path.display(), e.reason()))
        })?;
        files.push((
            path.display().to_string(),
            name.to_string(),
            text.into_bytes(),
        ));
    }
    files.sort();
    import_copies(files, place, args)
}

/// Where `dir` is on the include path (`linux/kho/abi` under `-I
/// include`), the shortest when several -I directories hold it.
fn include_relative(dir: &Path, args: &HeaderArgs) -> Option<PathBuf> {
    let canonical = std::fs::canonicalize(dir).ok()?;
    args.include_dirs
        .iter()
        .filter_map(|i| {
            let i = std::fs::canonicalize(i).ok()?;
            canonical.strip_prefix(&i).ok().map(Path::to_path_buf)
        })
        .min_by_key(|rel| rel.components().count())
}

/// Imports `files` (`(shown, name, bytes)`) from a scratch directory put
/// first on the include path, at the place `place` has there.
fn import_copies(
    files: Vec<(String, String, Vec<u8>)>,
    place: &Path,
    args: &HeaderArgs,
) -> Result<Headers, HeaderError> {
    let scratch = Scratch::new()
        .map_err(|e| HeaderError::Bad(format!("kho-abi: cannot make a scratch directory: {e}")))?;
    let copy = scratch
        .path
        .join(include_relative(place, args).unwrap_or_default());
    std::fs::create_dir_all(&copy)
        .map_err(|e| HeaderError::Bad(format!("kho-abi: cannot make {}: {e}", copy.display())))?;
    let mut shown_of = Vec::new();
    for (shown, name, bytes) in files {
        let path = copy.join(&name);
        std::fs::write(&path, &bytes).map_err(|e| {
            HeaderError::Bad(format!("kho-abi: cannot write {}: {e}", path.display()))
        })?;
        shown_of.push((path, shown));
    }
    let mut opts = args.options();
    opts.include_dirs.insert(0, scratch.path.clone());
    let shown = |p: &Path| {
        shown_of
            .iter()
            .find(|(path, _)| path == p)
            .map_or_else(|| p.display().to_string(), |(_, s)| s.clone())
    };
    import_headers(&copy, &opts, &shown)
}

/// A scratch directory, removed with everything in it when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        let pid = std::process::id();
        let mut last = None;
        for n in 0..100u32 {
            let path = base.join(format!("kho-abi-{pid}-{n}"));
            // create_dir fails if it exists: never another's directory.
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Scratch { path }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
