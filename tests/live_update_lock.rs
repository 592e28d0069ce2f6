//! Two `live_update --image X` at once: the image's lock lets one through
//! and turns the other away with "in use", exit 1, and never loses the
//! handover or dies by a signal, including a run started in the gap where
//! the old kernel has let go of its `FileMemory` but not yet started the
//! new one.
//!
//! Runs the example binary that `cargo test` builds beside this test.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TRIALS: usize = 20;

/// target/<profile>/examples/live_update, from this test's own path
/// (target/<profile>/deps/live_update_lock-<hash>).
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let bin = profile.join("examples").join("live_update");
    assert!(
        bin.is_file(),
        "{} is missing: cargo test builds the examples; run `cargo build --example live_update`",
        bin.display()
    );
    bin
}

fn image(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "kho-live-update-lock-{}-{name}.img",
        std::process::id()
    ))
}

/// A small run on `image` that waits, holding the image between the two
/// kernels, until its standard input closes.
fn start(exe: &Path, image: &Path) -> Child {
    Command::new(exe)
        .args([
            "--sessions",
            "20",
            "--files",
            "400",
            "--big-session-files",
            "100",
        ])
        .arg("--image")
        .arg(image)
        .arg("--pause-before-kexec")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start live_update")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Checks a run that got the image: exit 0 and a verified handover.
fn assert_won(out: &Output, what: &str) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.signal(),
        None,
        "{what}: killed by a signal\n{stdout}{stderr}"
    );
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}{stderr}",
        out.status
    );
    for line in [
        "paused before the kexec",
        "400 files: 420 entries",
        "checked byte for byte",
        "0 incoming left",
        "live update OK",
    ] {
        assert!(stdout.contains(line), "{what}: no {line:?} in\n{stdout}");
    }
}

/// Checks a run turned away: exit 1, one line naming the image in use.
fn assert_refused(out: &Output, image: &Path, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "{what}: killed by a signal\n{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: {}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("in use") && stderr.contains(&image.display().to_string()),
        "{what}: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr}");
    assert!(!text(&out.stdout).contains("live update OK"), "{what}");
}

#[test]
fn two_runs_started_together_one_wins_one_is_in_use() {
    let exe = example();
    let t = Instant::now();
    let mut winners = [0usize; 2];
    for trial in 0..TRIALS {
        let image = image(&format!("together-{trial}"));
        let _ = std::fs::remove_file(&image);
        let mut runs = [start(&exe, &image), start(&exe, &image)];
        // The one that got the image waits for its input to close, so the
        // other is refused whatever the timing; wait for that one first.
        let waiting = Instant::now();
        let first = loop {
            if let Some(i) = (0..2).find(|&i| matches!(runs[i].try_wait(), Ok(Some(_)))) {
                break i;
            }
            if waiting.elapsed() > Duration::from_secs(120) {
                // Both paused holding "the" image: the lock let both in.
                for run in &mut runs {
                    let _ = run.kill();
                }
                panic!("trial {trial}: neither run was refused: both took the image");
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        for run in &mut runs {
            drop(run.stdin.take());
        }
        let [a, b] = runs.map(|r| r.wait_with_output().expect("wait"));
        let outs = [a, b];
        let what = |i: usize| format!("trial {trial}, run {i}");
        assert_refused(&outs[first], &image, &what(first));
        assert_won(&outs[1 - first], &what(1 - first));
        winners[1 - first] += 1;
        assert!(
            !image.exists(),
            "trial {trial}: the winner's image was not removed"
        );
    }
    println!(
        "live_update lock: {TRIALS} trials in {:?}, the first started won {} times, \
         the second {} times",
        t.elapsed(),
        winners[0],
        winners[1]
    );
}

#[test]
fn a_run_started_between_the_two_kernels_is_in_use() {
    let exe = example();
    let image = image("gap");
    let _ = std::fs::remove_file(&image);
    let mut old = start(&exe, &image);
    // Wait until the old kernel has dropped its FileMemory and not yet
    // started the new kernel.
    let mut stdout = BufReader::new(old.stdout.take().expect("stdout"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("read") == 0 {
            panic!("the run ended before pausing:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("paused before the kexec") {
            break;
        }
    }
    let published = std::fs::read(&image).expect("the published image");
    let second = Command::new(&exe)
        .args([
            "--sessions",
            "3",
            "--files",
            "3",
            "--big-session-files",
            "1",
        ])
        .arg("--image")
        .arg(&image)
        .output()
        .expect("run");
    assert_refused(&second, &image, "the run in the gap");
    assert!(
        std::fs::read(&image).expect("image") == published,
        "the run in the gap changed the handover"
    );
    drop(old.stdin.take());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
    let status = old.wait().expect("wait");
    let stderr = old
        .stderr
        .take()
        .map(|mut e| {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
            s
        })
        .unwrap_or_default();
    let out = Output {
        status,
        stdout: format!("{seen}{rest}").into_bytes(),
        stderr: stderr.into_bytes(),
    };
    assert_won(&out, "the old kernel");
}
