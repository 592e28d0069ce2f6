//! Helpers for CLI tests that work on a temporary copy of the repository's
//! schemas and watch what changes on disk.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{copy_schemas, TempDir};

/// How long one run of kho-abi may take before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Copies the repository's schemas into `root/schemas/` and runs
/// `generate` there, so `root` is a clean, checked repository.
pub fn generated_root(root: &Path) {
    copy_schemas(&root.join("schemas"));
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
