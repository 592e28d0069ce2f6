//! Helpers for CLI tests that work on a temporary copy of the repository's
//! schemas and watch what changes on disk.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long one run of kho-abi may take before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A directory under the temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name carries `tag`.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("kho-abi-hostile-{}-{tag}-{n}", std::process::id());
        let p = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // remove_dir_all does not follow links, so links to the outside
        // made by a test are removed, not their targets.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The repository's `schemas/*.toml`.
pub fn repo_schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Copies the repository's schemas into `root/schemas/` and runs
/// `generate` there, so `root` is a clean, checked repository.
pub fn generated_root(root: &Path) {
    let schemas = root.join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    for e in std::fs::read_dir(repo_schemas()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, schemas.join(p.file_name().unwrap())).unwrap();
        }
    }
    let run = kho_abi(&["generate".as_ref(), "--root".as_ref(), root.as_os_str()]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "baseline generate: {}",
        run.stderr
    );
}

/// Edits `schemas/<file>` under `root`: the one occurrence of `from`
/// becomes `to`.
pub fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let p = root.join("schemas").join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} in {file}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// What one run of kho-abi did.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs kho-abi with `args`, stdin closed and its output in files (a long
/// output cannot block on a pipe). A run still going at [`DEADLINE`] is
/// killed and fails the test: a hang is a bug, never a slow pass.
pub fn kho_abi(args: &[&OsStr]) -> Run {
    let dir = TempDir::new("out");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_kho-abi"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        match child.try_wait().unwrap() {
            Some(status) => break status,
            None if start.elapsed() > DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kho-abi {args:?}: still running after {DEADLINE:?}, killed");
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    Run {
        status,
        stdout: String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err).unwrap()).into_owned(),
    }
}

/// Asserts that `run` exited normally (no signal, no panic's 101).
pub fn assert_no_crash(run: &Run) {
    assert_eq!(
        run.status.signal(),
        None,
        "killed by a signal: {:?}, stderr {:?}",
        run.status,
        run.stderr
    );
    assert_ne!(run.status.code(), Some(101), "panicked: {}", run.stderr);
}

/// Asserts that `run` exited with `code`, with exactly one line on stderr
/// that contains every one of `needles`.
pub fn assert_refused(run: &Run, code: i32, needles: &[&str]) {
    assert_no_crash(run);
    assert_eq!(
        run.status.code(),
        Some(code),
        "stdout {:?}, stderr {:?}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "not one line on stderr: {:?}",
        run.stderr
    );
    for n in needles {
        assert!(run.stderr.contains(n), "{n:?} not in {:?}", run.stderr);
    }
}

/// What is under `dir`: each path (relative) with its contents, a link as
/// `-> target`, a FIFO or device as its kind. Links are recorded, never
/// followed, so two snapshots compare everything a run could have touched.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir.join(rel)).unwrap() {
            let e = e.unwrap();
            let rel = rel.join(e.file_name());
            let t = e.file_type().unwrap();
            let value = if t.is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                format!("-> {}", target.display()).into_bytes()
            } else if t.is_dir() {
                walk(dir, &rel, out);
                b"<dir>".to_vec()
            } else if t.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                format!("<special {t:?}>").into_bytes()
            };
            out.insert(rel, value);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, Path::new(""), &mut out);
    out
}

/// Makes a FIFO at `p` (with mkfifo(1): std has no call for it).
pub fn mkfifo(p: &Path) {
    let status = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(status.success(), "mkfifo {}", p.display());
}
