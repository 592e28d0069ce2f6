//! The filesystem seam: how schemas, `abi.lock` and generated files are read
//! and written. The filesystem is untrusted input like any other: a schema
//! may be a FIFO or `/dev/zero`, a generated file may be a symlink to
//! somewhere else, an output directory may hold a link back to itself.
//!
//! - Reading (`read_text`, `read_bytes`) opens only regular files. The
//!   open never blocks (it uses `O_NONBLOCK`, which a regular file ignores and
//!   which keeps a FIFO from waiting for a writer); the file's type is then
//!   checked on the open descriptor, and at most `limit + 1` bytes are ever
//!   read, so a device or a file that grows cannot grow memory. Reading
//!   follows a symlink: what it points to is checked like any other input,
//!   and reading it changes nothing.
//! - Writing (`OutDir`) never follows a symlink. Every path is relative to
//!   the output directory, without `.`, `..` or empty components; every
//!   directory on the way is checked with `symlink_metadata` and created one
//!   level at a time; a file is replaced atomically (a new temporary file in
//!   the same directory, written, synced, then renamed over the target).
//! - Walking (`walk`) never follows a symlink either: a link is reported as
//!   a link, not entered.
// Without `emit` nothing is written: the writing half waits for the
// emitters.
#![cfg_attr(not(feature = "emit"), allow(dead_code))]

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::OFlags;

/// The most bytes read from one schema file or `abi.lock`: 16 MiB, far more
/// than any real schema, small enough that a hostile file cannot exhaust
/// memory.
pub const MAX_INPUT: u64 = 16 << 20;

/// The deepest directory `walk` descends into below its start. Generated
/// files sit at most a few levels down; a deeper tree is reported rather
/// than walked (a walk must end, whatever is on disk).
pub const MAX_WALK_DEPTH: usize = 32;

/// An operation on `path` that failed, and why: the payload of
/// [`Error::Fs`](crate::Error::Fs), whose `source()` is the [`io::Error`]
/// of [`FsErrorKind::Io`].
#[derive(Debug)]
pub struct FsError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What is wrong with it.
    pub kind: FsErrorKind,
}

/// Why a filesystem operation was refused or failed.
#[derive(Debug)]
pub enum FsErrorKind {
    /// The operating system said no.
    Io(io::Error),
    /// Not a regular file (or, on the way to an output, not a directory):
    /// what it is instead ("a FIFO", "a directory", ...).
    NotRegular(&'static str),
    /// Larger than the limit, in bytes.
    TooLarge(u64),
    /// The text is not UTF-8.
    NotUtf8,
    /// A symlink where kho writes, removes or walks.
    Symlink,
    /// An output path that is not a plain relative path inside its
    /// directory: why.
    Escapes(&'static str),
}

impl FsError {
    fn new(path: impl Into<PathBuf>, kind: FsErrorKind) -> Self {
        FsError {
            path: path.into(),
            kind,
        }
    }

    fn io(path: impl Into<PathBuf>, e: io::Error) -> Self {
        FsError::new(path, FsErrorKind::Io(e))
    }

    /// What is wrong, without the path: `not a regular file (a FIFO)`,
    /// `larger than the 16 MiB limit`, the OS error.
    pub fn reason(&self) -> String {
        match &self.kind {
            FsErrorKind::Io(e) => e.to_string(),
            FsErrorKind::NotRegular(what) => format!("not a regular file ({what})"),
            FsErrorKind::TooLarge(limit) => format!("larger than the {} limit", size_text(*limit)),
            FsErrorKind::NotUtf8 => "not UTF-8 text".into(),
            FsErrorKind::Symlink => "is a symlink; kho does not write through links".into(),
            FsErrorKind::Escapes(why) => format!("not a path inside the output directory: {why}"),
        }
    }

    /// An I/O error on `path`.
    pub(crate) fn from_io(path: impl Into<PathBuf>, e: io::Error) -> Self {
        FsError::io(path, e)
    }

    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.kind, FsErrorKind::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason())
    }
}

/// `16 MiB`, `4 KiB` or `100 bytes`.
fn size_text(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n}-byte"),
    }
}

/// What a file type is, in words, for "not a regular file (...)".
pub(crate) fn type_name(t: FileType) -> &'static str {
    if t.is_symlink() {
        "a symlink"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "an unknown kind of file"
    }
}

/// Opens `path` for reading if it is a regular file (after following
/// links), without ever blocking in the open.
fn open_regular(path: &Path) -> Result<(File, Metadata), FsError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| FsError::io(path, e))?;
    let meta = file.metadata().map_err(|e| FsError::io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(FsError::new(
            path,
            FsErrorKind::NotRegular(type_name(meta.file_type())),
        ));
    }
    Ok((file, meta))
}

/// The bytes of the regular file `path`, refused if it has more than
/// `limit` bytes (checked before reading, and again while reading, in case
/// the file grows). FIFOs, devices, directories and sockets are refused at
/// once with [`FsErrorKind::NotRegular`]. A symlink is followed.
pub(crate) fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, FsError> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > limit {
        return Err(FsError::new(path, FsErrorKind::TooLarge(limit)));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FsError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(FsError::new(path, FsErrorKind::TooLarge(limit)));
    }
    Ok(bytes)
}

/// [`read_bytes`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FsError> {
    String::from_utf8(read_bytes(path, limit)?)
        .map_err(|_| FsError::new(path, FsErrorKind::NotUtf8))
}

/// Up to the first `n` bytes of the regular file `path` (fewer if it is
/// shorter); refuses what [`read_bytes`] refuses, but not a long file.
pub(crate) fn read_head(path: &Path, n: u64) -> Result<Vec<u8>, FsError> {
    let (file, _) = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(n)
        .read_to_end(&mut bytes)
        .map_err(|e| FsError::io(path, e))?;
    Ok(bytes)
}

/// The components of an output path `rel` (`/`-separated, relative to the
/// output directory), or why it is not one: absolute, empty, or with a
/// `.`, `..` or empty component.
pub(crate) fn output_components(rel: &str) -> Result<Vec<&str>, &'static str> {
    if rel.is_empty() {
        return Err("the path is empty");
    }
    if rel.starts_with('/') {
        return Err("the path is absolute");
    }
    let parts: Vec<&str> = rel.split('/').collect();
    for p in &parts {
        match *p {
            "" => return Err("the path has an empty component"),
            "." => return Err("the path has a `.` component"),
            ".." => return Err("the path goes up with `..`"),
            p if p.contains('\0') => return Err("the path has a NUL byte"),
            _ => {}
        }
    }
    Ok(parts)
}

/// An output directory. Everything written or removed through it stays
/// inside it: paths are relative with no `..`, and no symlink is followed on
/// the way or at the end.
///
/// The directory itself is taken as given (the caller chose it, and it may
/// be a link the user made on purpose); everything below it is checked.
#[derive(Debug, Clone)]
pub struct OutDir {
    root: PathBuf,
}

impl OutDir {
    /// The output directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OutDir { root: root.into() }
    }

    /// `rel` under the directory, after checking it is a plain relative
    /// path (see [`output_components`]).
    pub fn path(&self, rel: &str) -> Result<PathBuf, FsError> {
        let parts = output_components(rel)
            .map_err(|why| FsError::new(self.root.join(rel), FsErrorKind::Escapes(why)))?;
        Ok(parts.iter().fold(self.root.clone(), |p, c| p.join(c)))
    }

    /// Makes sure every directory on the way to `rel` (not `rel` itself) is
    /// a real directory, creating missing ones one level at a time; a
    /// symlink on the way is an error, never followed. Returns the path.
    fn prepare(&self, rel: &str) -> Result<PathBuf, FsError> {
        let parts = output_components(rel)
            .map_err(|why| FsError::new(self.root.join(rel), FsErrorKind::Escapes(why)))?;
        let mut dir = self.root.clone();
        let Some((last, on_the_way)) = parts.split_last() else {
            return Err(FsError::new(
                self.root.clone(),
                FsErrorKind::Escapes("the path is empty"),
            ));
        };
        for part in on_the_way {
            dir.push(part);
            real_dir(&dir, true)?;
        }
        Ok(dir.join(last))
    }

    /// Writes `bytes` to a new temporary file beside `rel`, synced to disk,
    /// ready to [`Staged::commit`] over it. Refuses a target that exists and
    /// is not a regular file: a symlink is not followed and not replaced
    /// (the link is the user's and would silently stop meaning what they
    /// meant; the error says so instead), a directory or device is not
    /// replaced either.
    ///
    /// Dropping the result without committing removes the temporary file.
    pub fn stage(&self, rel: &str, bytes: &[u8]) -> Result<Staged, FsError> {
        let target = self.prepare(rel)?;
        check_replaceable(&target)?;
        let (tmp, mut file) = temp_beside(&target)?;
        // From here on the temporary file is removed on every error.
        let staged = Staged {
            tmp,
            target,
            done: false,
        };
        file.write_all(bytes)
            .and_then(|()| file.sync_data())
            .map_err(|e| FsError::io(staged.target.clone(), e))?;
        Ok(staged)
    }

    /// [`stage`](Self::stage) and [`Staged::commit`] in one step: `rel`
    /// afterwards holds either its old contents or `bytes`, never a mix.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), FsError> {
        self.stage(rel, bytes)?.commit()
    }

    /// Removes the regular file `rel`. Refuses a symlink (at the end or on
    /// the way) and anything that is not a regular file.
    pub fn remove_file(&self, rel: &str) -> Result<(), FsError> {
        let parts = output_components(rel)
            .map_err(|why| FsError::new(self.root.join(rel), FsErrorKind::Escapes(why)))?;
        let mut p = self.root.clone();
        for (i, part) in parts.iter().enumerate() {
            p.push(part);
            if i + 1 < parts.len() {
                real_dir(&p, false)?;
            }
        }
        let meta = std::fs::symlink_metadata(&p).map_err(|e| FsError::io(&p, e))?;
        match meta.file_type() {
            t if t.is_symlink() => Err(FsError::new(p, FsErrorKind::Symlink)),
            t if !t.is_file() => Err(FsError::new(p, FsErrorKind::NotRegular(type_name(t)))),
            // unlink(2) removes the name it is given: even if the file was
            // swapped for a link since, only the link goes.
            _ => std::fs::remove_file(&p).map_err(|e| FsError::io(p, e)),
        }
    }
}

/// Checks that `dir` is a directory and not a symlink; with `create`, makes
/// it (one level, never through a link) if it is missing.
fn real_dir(dir: &Path, create: bool) -> Result<(), FsError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(FsError::new(dir, FsErrorKind::Symlink)),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) => Err(FsError::new(
            dir,
            FsErrorKind::NotRegular(type_name(m.file_type())),
        )),
        Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
            match std::fs::create_dir(dir) {
                Ok(()) => Ok(()),
                // Someone made it meanwhile: check what they made.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => real_dir(dir, false),
                Err(e) => Err(FsError::io(dir, e)),
            }
        }
        Err(e) => Err(FsError::io(dir, e)),
    }
}

/// A target may be replaced if it is missing or a regular file.
fn check_replaceable(target: &Path) -> Result<(), FsError> {
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => Err(FsError::new(target, FsErrorKind::Symlink)),
        Ok(m) if !m.is_file() => Err(FsError::new(
            target,
            FsErrorKind::NotRegular(type_name(m.file_type())),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsError::io(target, e)),
    }
}

/// Creates a new, uniquely named file in `target`'s directory
/// (`O_CREAT | O_EXCL`: never an existing file, never through a link).
fn temp_beside(target: &Path) -> Result<(PathBuf, File), FsError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().unwrap_or_default();
    let mut last = None;
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{n}.kho-tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            // Named by the target: the temporary name means nothing to
            // the user.
            Err(e) => return Err(FsError::io(target, e)),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(FsError::io(target, e))
}

/// A file written beside its target, not yet in place.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Staged {
    /// Renames the temporary file over the target. On failure the target is
    /// as it was and the temporary file is removed. The directory is synced
    /// afterwards where the filesystem allows it, so the rename survives a
    /// power loss.
    pub fn commit(mut self) -> Result<(), FsError> {
        // The target may have become a link since it was staged: refuse
        // that rather than replace the link.
        check_replaceable(&self.target)?;
        std::fs::rename(&self.tmp, &self.target).map_err(|e| FsError::io(&self.target, e))?;
        self.done = true;
        if let Some(dir) = self.target.parent() {
            // Some filesystems cannot sync a directory; the rename itself
            // is done, so that is not worth failing for.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// What [`walk`] found at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// A regular file.
    File,
    /// A symbolic link (not followed).
    Symlink,
    /// Something else: a FIFO, a device, a socket.
    Special(&'static str),
    /// A directory more than [`MAX_WALK_DEPTH`] levels down (not entered).
    TooDeep,
}

/// Everything below `dir` that is not a directory, as paths relative to
/// `dir` with what each is, sorted. Directories are entered, symlinks
/// never (a link to a directory is a [`Found::Symlink`], so a link loop
/// ends the walk at once). A directory that cannot be read is an error.
pub(crate) fn walk(dir: &Path) -> Result<Vec<(PathBuf, Found)>, FsError> {
    let mut out = Vec::new();
    walk_into(dir, Path::new(""), 0, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn walk_into(
    dir: &Path,
    rel: &Path,
    depth: usize,
    out: &mut Vec<(PathBuf, Found)>,
) -> Result<(), FsError> {
    let here = dir.join(rel);
    let entries = std::fs::read_dir(&here).map_err(|e| FsError::io(&here, e))?;
    for e in entries {
        let e = e.map_err(|e| FsError::io(&here, e))?;
        let rel = rel.join(e.file_name());
        // file_type() does not follow links.
        let t = e.file_type().map_err(|err| FsError::io(e.path(), err))?;
        if t.is_symlink() {
            out.push((rel, Found::Symlink));
        } else if t.is_dir() {
            if depth >= MAX_WALK_DEPTH {
                out.push((rel, Found::TooDeep));
            } else {
                walk_into(dir, &rel, depth + 1, out)?;
            }
        } else if t.is_file() {
            out.push((rel, Found::File));
        } else {
            out.push((rel, Found::Special(type_name(t))));
        }
    }
    Ok(())
}

/// Writes every `(rel, bytes)` under the output directory `root` as one
/// step: each file is staged (written beside its target and synced) first,
/// and only when every one is staged are they renamed into place; an error
/// while staging leaves every target as it was. Paths follow
/// [`OutDir`]'s rules: relative, no `..`, no symlink followed.
pub fn write_files(root: &Path, files: &[(String, Vec<u8>)]) -> Result<(), FsError> {
    let out = OutDir::new(root);
    let staged = files
        .iter()
        .map(|(rel, bytes)| out.stage(rel, bytes))
        .collect::<Result<Vec<_>, _>>()?;
    staged.into_iter().try_for_each(Staged::commit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Tmp(PathBuf);

    impl Tmp {
        fn new(tag: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir()
                .join(format!("kho-schema-fs-{}-{tag}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Tmp(p)
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn output_paths_stay_inside() {
        assert!(output_components("c/linux/kho/abi/block.h").is_ok());
        for (bad, why) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("c//x", "empty component"),
            ("c/./x", "`.`"),
            ("c/../../x", "`..`"),
            ("..", "`..`"),
            ("c/x/", "empty component"),
        ] {
            let e = output_components(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let t = Tmp::new("escape");
        let e = OutDir::new(&t.0).write("a/../../x", b"x").unwrap_err();
        assert!(matches!(e.kind, FsErrorKind::Escapes(_)), "{e}");
    }

    #[test]
    fn write_creates_directories_and_replaces_atomically() {
        let t = Tmp::new("write");
        let out = OutDir::new(&t.0);
        out.write("a/b/c.txt", b"one").unwrap();
        out.write("a/b/c.txt", b"two").unwrap();
        assert_eq!(std::fs::read(t.0.join("a/b/c.txt")).unwrap(), b"two");
        assert_eq!(names(&t.0.join("a/b")), ["c.txt"]);
    }

    #[test]
    fn never_writes_through_a_link() {
        let t = Tmp::new("link");
        let outside = Tmp::new("outside");
        std::fs::write(outside.0.join("f"), b"keep").unwrap();
        symlink(outside.0.join("f"), t.0.join("f")).unwrap();
        symlink(&outside.0, t.0.join("d")).unwrap();
        let out = OutDir::new(&t.0);
        let e = out.write("f", b"new").unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
        let e = out.write("d/f", b"new").unwrap_err();
        assert!(matches!(e.kind, FsErrorKind::Symlink), "{e}");
        assert_eq!(e.path, t.0.join("d"));
        let e = out.write("d/new/f", b"new").unwrap_err();
        assert!(matches!(e.kind, FsErrorKind::Symlink), "{e}");
        let e = out.remove_file("d/f").unwrap_err();
        assert!(matches!(e.kind, FsErrorKind::Symlink), "{e}");
        let e = out.remove_file("f").unwrap_err();
        assert!(matches!(e.kind, FsErrorKind::Symlink), "{e}");
        assert_eq!(std::fs::read(outside.0.join("f")).unwrap(), b"keep");
        assert_eq!(names(&outside.0), ["f"]);
        // Only the two links: no temporary file left.
        assert_eq!(names(&t.0), ["d", "f"]);
    }

    #[test]
    fn a_failed_rename_leaves_the_target_and_no_temporary_file() {
        let t = Tmp::new("rename");
        let out = OutDir::new(&t.0);
        out.write("x", b"old").unwrap();
        let staged = out.stage("x", b"new").unwrap();
        // The target turns into a non-empty directory after staging:
        // the rename must fail, and the temporary file must go.
        std::fs::remove_file(t.0.join("x")).unwrap();
        std::fs::create_dir(t.0.join("x")).unwrap();
        std::fs::write(t.0.join("x/inner"), b"old").unwrap();
        let e = staged.commit().unwrap_err();
        assert_eq!(e.path, t.0.join("x"), "{e}");
        assert_eq!(names(&t.0), ["x"]);
        assert_eq!(std::fs::read(t.0.join("x/inner")).unwrap(), b"old");
    }

    #[test]
    fn a_dropped_stage_leaves_no_temporary_file() {
        let t = Tmp::new("drop");
        let out = OutDir::new(&t.0);
        out.write("x", b"old").unwrap();
        drop(out.stage("x", b"new").unwrap());
        assert_eq!(names(&t.0), ["x"]);
        assert_eq!(std::fs::read(t.0.join("x")).unwrap(), b"old");
    }

    #[test]
    fn reads_only_regular_files_within_the_limit() {
        let t = Tmp::new("read");
        let f = t.0.join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_bytes(&f, 5).unwrap(), b"12345");
        let e = read_bytes(&f, 4).unwrap_err();
        assert!(
            e.to_string().contains("larger than the 4-byte limit"),
            "{e}"
        );
        let e = read_text(&t.0, MAX_INPUT).unwrap_err();
        assert!(
            e.to_string().contains("not a regular file (a directory)"),
            "{e}"
        );
        let e = read_text(Path::new("/dev/zero"), MAX_INPUT).unwrap_err();
        assert!(
            e.to_string()
                .contains("not a regular file (a character device)"),
            "{e}"
        );
        let fifo = t.0.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // Without O_NONBLOCK this open would wait for a writer forever.
            let e = read_text(&fifo, MAX_INPUT).unwrap_err();
            assert!(e.to_string().contains("not a regular file (a FIFO)"), "{e}");
        } else {
            println!("SKIPPED: the FIFO case (mkfifo did not run)");
        }
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_text(&f, 5).unwrap_err().kind,
            FsErrorKind::NotUtf8
        ));
    }

    #[test]
    fn walk_never_follows_links() {
        let t = Tmp::new("walk");
        std::fs::create_dir_all(t.0.join("a/b")).unwrap();
        std::fs::write(t.0.join("a/b/f"), b"").unwrap();
        symlink(".", t.0.join("loop")).unwrap();
        symlink("..", t.0.join("a/up")).unwrap();
        let found = walk(&t.0).unwrap();
        assert_eq!(
            found,
            [
                (PathBuf::from("a/b/f"), Found::File),
                (PathBuf::from("a/up"), Found::Symlink),
                (PathBuf::from("loop"), Found::Symlink),
            ]
        );
    }

    #[test]
    fn walk_stops_at_its_depth() {
        let t = Tmp::new("deep");
        let mut p = t.0.clone();
        for _ in 0..MAX_WALK_DEPTH + 3 {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        let found = walk(&t.0).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, Found::TooDeep);
        assert_eq!(found[0].0.components().count(), MAX_WALK_DEPTH + 1);
    }
}
