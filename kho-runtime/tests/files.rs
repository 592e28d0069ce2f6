//! The file backends against the filesystem as a hostile user has it: a
//! second writer, a file truncated under a reader or a writer, FIFOs,
//! devices, directories, block devices and non-UTF-8 paths.
//!
//! Each refusal is a specific error; none is a signal, a hang or a lost
//! image.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{Conn, TempPath, BASE};
use kho_runtime::{
    BlockSet, ChainFault, Error, Fault, FileMemory, FileMemoryConfig, PhysAddr, PreservedMemory,
    RawBlockSet, RawImage, RootRecord,
};

const PS: usize = 4096;

fn config(pages: usize) -> FileMemoryConfig {
    FileMemoryConfig {
        base: BASE,
        page_size: PS,
        pages,
    }
}

/// Publishes a handover of `n` Conns (2 blocks, pages 4 and 5, for 300)
/// under "conns".
fn handover(mem: &mut FileMemory, n: usize) {
    let mut set = BlockSet::<Conn, _>::new(mem).unwrap();
    set.grow(mem, n).unwrap();
    for i in 0..n {
        set.push(mem, &Conn::nth(i)).unwrap();
    }
    mem.publish(&[RootRecord::for_set("conns", &set).unwrap()])
        .unwrap();
}

/// A new 32-page image at `path` holding the 300-Conn handover.
fn image(path: impl AsRef<Path>) {
    let mut mem = FileMemory::create(path, config(32)).unwrap();
    handover(&mut mem, 300);
}

fn check_handover(mem: &FileMemory) {
    let set = mem.restore_set::<Conn>("conns").unwrap();
    assert_eq!(set.len(), 300);
    for (i, c) in set.iter(mem).unwrap().enumerate() {
        assert_eq!(c, Conn::nth(i));
    }
}

fn assert_in_use<T: std::fmt::Debug>(res: kho_runtime::Result<T>, path: &str) {
    match res {
        Err(e @ Error::InUse { .. }) => {
            let shown = e.to_string();
            assert!(shown.contains("in use") && shown.contains(path), "{shown}");
        }
        other => panic!("expected the image to be in use, got {other:?}"),
    }
}

// ---- One writer per image ----

#[test]
fn a_second_writer_is_refused_in_process() {
    let path = TempPath::new("second-writer");
    let p = path.as_str();
    image(p);
    let mut first = FileMemory::open(p).unwrap();
    assert_in_use(FileMemory::open(p), p);
    // The holder is unharmed and goes on.
    check_handover(&first);
    let mut old = first.restore_set::<Conn>("conns").unwrap();
    old.destroy(&mut first).unwrap();
    handover(&mut first, 300);
    drop(first);
    // Released with the value.
    let mem = FileMemory::open(p).unwrap();
    assert_eq!(mem.generation(), 3);
    check_handover(&mem);
}

#[test]
fn readers_share_and_writers_exclude() {
    let path = TempPath::new("shared-readers");
    let p = path.as_str();
    image(p);
    {
        let a = FileMemory::open_read_only(p).unwrap();
        let b = FileMemory::open_read_only(p).unwrap();
        check_handover(&a);
        check_handover(&b);
        assert_in_use(FileMemory::open(p), p);
        assert_in_use(FileMemory::create(p, config(32)), p);
    }
    let writer = FileMemory::open(p).unwrap();
    assert_in_use(FileMemory::open_read_only(p), p);
    drop(writer);
    check_handover(&FileMemory::open_read_only(p).unwrap());
}

#[test]
fn create_refuses_a_held_image_and_leaves_it_untouched() {
    let path = TempPath::new("create-held");
    let p = path.as_str();
    image(p);
    let before = std::fs::read(p).unwrap();
    let holder = FileMemory::open(p).unwrap();
    assert_in_use(FileMemory::create(p, config(8)), p);
    assert!(
        std::fs::read(p).unwrap() == before,
        "create changed a held image"
    );
    drop(holder);
    let mem = FileMemory::open(p).unwrap();
    assert_eq!(mem.generation(), 2);
    check_handover(&mem);
    drop(mem);
    // Unheld, create replaces it.
    let mem = FileMemory::create(p, config(8)).unwrap();
    assert_eq!((mem.generation(), mem.root().len()), (1, 0));
    assert_eq!(std::fs::metadata(p).unwrap().len(), 8 * PS as u64);
}

#[test]
fn create_after_the_holder_removed_the_image_makes_a_visible_one() {
    // The holder removes the image and lets go while create is waiting out
    // its lock: the lock create then gets is on a file no longer at the
    // path, and it must open the path again rather than fill that file.
    let path = TempPath::new("create-removed");
    let p = path.as_str().to_string();
    image(&p);
    let holder = FileMemory::open(&p).unwrap();
    let creator = {
        let p = p.clone();
        std::thread::spawn(move || FileMemory::create(&p, config(8)).map(|m| m.generation()))
    };
    std::thread::sleep(Duration::from_millis(20)); // inside create's retries
    std::fs::remove_file(&p).unwrap();
    drop(holder);
    assert_eq!(creator.join().unwrap().unwrap(), 1);
    let mem = FileMemory::open(&p).unwrap();
    assert_eq!((mem.generation(), mem.pages()), (1, 8));
}

#[test]
fn open_wait_waits_for_the_holder() {
    let path = TempPath::new("open-wait");
    let p = path.as_str().to_string();
    image(&p);
    let holder = FileMemory::open(&p).unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let (p, released) = (p.clone(), released.clone());
        std::thread::spawn(move || {
            tx.send(()).unwrap();
            let mem = FileMemory::open_wait(&p).unwrap();
            // Only after the holder let go.
            assert!(
                released.load(Ordering::SeqCst),
                "open_wait returned while held"
            );
            assert_eq!(mem.generation(), 2);
            let reader = FileMemory::open_read_only(&p);
            assert!(matches!(reader, Err(Error::InUse { .. })), "{reader:?}");
        })
    };
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50)); // let it reach the lock
    released.store(true, Ordering::SeqCst);
    drop(holder);
    waiter.join().unwrap();
    // The shared variant waits for a writer the same way.
    let holder = FileMemory::open(&p).unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let reader = {
        let (p, released) = (p.clone(), released.clone());
        std::thread::spawn(move || {
            let mem = FileMemory::open_read_only_wait(&p).unwrap();
            assert!(released.load(Ordering::SeqCst));
            check_handover(&mem);
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    released.store(true, Ordering::SeqCst);
    drop(holder);
    reader.join().unwrap();
}

/// Run as the child of `locks_hold_across_processes`: holds the image named
/// by `KHO_LOCK_HOLDER` until its standard input closes.
fn hold_until_stdin_closes(path: &str, mode: &str) {
    let mem = match mode {
        "write" => FileMemory::open(path),
        _ => FileMemory::open_read_only(path),
    }
    .unwrap();
    println!("holding generation {}", mem.generation());
    std::io::stdout().flush().unwrap();
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}

#[test]
fn locks_hold_across_processes() {
    if let Ok(path) = std::env::var("KHO_LOCK_HOLDER") {
        let mode = std::env::var("KHO_LOCK_MODE").unwrap_or_default();
        return hold_until_stdin_closes(&path, &mode);
    }
    let path = TempPath::new("cross-process");
    let p = path.as_str();
    image(p);
    let before = std::fs::read(p).unwrap();
    for mode in ["write", "read"] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "locks_hold_across_processes", "--nocapture"])
            .env("KHO_LOCK_HOLDER", p)
            .env("KHO_LOCK_MODE", mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let held = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.starts_with("holding generation 2"));
        assert!(held, "{mode} child never took the image");
        assert_in_use(FileMemory::open(p), p);
        assert_in_use(FileMemory::create(p, config(8)), p);
        if mode == "write" {
            assert_in_use(FileMemory::open_read_only(p), p);
        } else {
            check_handover(&FileMemory::open_read_only(p).unwrap());
        }
        assert!(std::fs::read(p).unwrap() == before);
        drop(child.stdin.take());
        let status = child.wait().unwrap();
        assert!(status.success(), "{mode} child: {status}");
        // The child's lock died with it.
        check_handover(&FileMemory::open(p).unwrap());
    }
}

#[test]
fn a_duplicate_descriptor_keeps_the_lock_and_can_be_adopted() {
    let path = TempPath::new("adopt");
    let p = path.as_str();
    image(p);
    let mem = FileMemory::open(p).unwrap();
    let dup = mem.file().try_clone().unwrap();
    drop(mem);
    // The duplicate shares the open file description, and so the lock.
    assert_in_use(FileMemory::open(p), p);
    assert_in_use(FileMemory::create(p, config(8)), p);
    let mem = FileMemory::open_file(dup, p).unwrap();
    check_handover(&mem);
    // Adopting another description of a held image is refused.
    let other = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap();
    assert_in_use(FileMemory::open_file(other, p), p);
}

#[test]
fn a_lock_copied_into_a_spawning_child_is_waited_out() {
    // Between fork and exec a child holds copies of every descriptor of the
    // parent, and so its locks: a lock just dropped by one thread can still
    // be held for a moment while another thread spawns a process. That is
    // not a second user of the image, and must not read as one.
    let path = TempPath::new("fork-window");
    let p = path.as_str();
    image(p);
    let stop = Arc::new(AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut spawned = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let _ = Command::new("true").status();
                spawned += 1;
            }
            spawned
        })
    };
    for round in 0..300 {
        let mem = FileMemory::open(p).unwrap_or_else(|e| panic!("round {round}: {e}"));
        drop(mem);
        let mem = FileMemory::open_read_only(p).unwrap_or_else(|e| panic!("round {round}: {e}"));
        drop(mem);
    }
    stop.store(true, Ordering::SeqCst);
    let spawned = spawner.join().unwrap();
    println!("300 rounds of open and drop beside {spawned} spawned processes");
}

// ---- Files that shrink ----

/// A raw dump of `pages` pages whose blocks chain pages 0 -> 1 -> ... in order.
fn raw_chain(pages: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; pages * PS];
    for i in 0..pages {
        let next = if i + 1 < pages {
            BASE + ((i + 1) * PS) as u64
        } else {
            0
        };
        common::wr(&mut bytes, i * PS, next);
        common::wr(&mut bytes, i * PS + 8, 1);
        common::wr(&mut bytes, i * PS + 16, i as u64);
    }
    bytes
}

#[test]
fn a_raw_dump_truncated_while_open_is_an_error() {
    let path = TempPath::new("raw-shrinks");
    let p = path.as_str();
    std::fs::write(p, raw_chain(4)).unwrap();
    let img = RawImage::open(p, BASE, PS).unwrap();
    assert_eq!((img.len(), img.pages()), (4 * PS, 4));
    // Page 0 read before the cut keeps its bytes.
    assert_eq!(common::rd(img.page(PhysAddr(BASE)).unwrap(), 16), 0);
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(2 * PS as u64)
        .unwrap();
    let err = RawBlockSet::restore(&img, PhysAddr(BASE), 8).unwrap_err();
    let third = PhysAddr(BASE + 2 * PS as u64);
    assert!(
        matches!(err, Error::Chain { index: 2, addr, fault: ChainFault::Address(Fault::Shrunk { len }) }
            if addr == third && len == 2 * PS as u64),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("block 2 at {third}: the image shrank to 8192 bytes while open")
    );
    assert_eq!(common::rd(img.page(PhysAddr(BASE)).unwrap(), 16), 0);
    // Reopened, the dump is what is left of it.
    let img = RawImage::open(p, BASE, PS).unwrap();
    let err = RawBlockSet::restore(&img, PhysAddr(BASE), 8).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Chain {
                index: 2,
                fault: ChainFault::Address(Fault::OutOfRange),
                ..
            }
        ),
        "{err:?}"
    );
}

fn truncate(path: &str, len: u64) {
    // Through a separate handle, as a process that ignores the lock would.
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The restore of the set at page 4 and on, after the image was cut to
/// four pages.
#[track_caller]
fn assert_shrunk_to_four_pages(err: &Error) {
    assert!(
        matches!(
            err,
            Error::Chain {
                index: 0,
                fault: ChainFault::Address(Fault::Shrunk { len: 16384 }),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_image_truncated_under_a_reader_is_an_error() {
    let path = TempPath::new("reader-shrinks");
    let p = path.as_str();
    image(p);
    let mem = FileMemory::open_read_only(p).unwrap();
    // The metadata and the root table were read at open; the set was not.
    truncate(p, 4 * PS as u64);
    let err = mem.restore_set::<Conn>("conns").unwrap_err();
    assert_shrunk_to_four_pages(&err);
    assert!(err
        .to_string()
        .contains("the image shrank to 16384 bytes while open"));
}

#[test]
fn an_image_truncated_under_a_writer_is_an_error() {
    let path = TempPath::new("writer-shrinks");
    let p = path.as_str();
    image(p);
    let mut mem = FileMemory::open(p).unwrap();
    let mut fresh = BlockSet::<Conn, _>::new(&mem).unwrap();
    fresh.push(&mut mem, &Conn::nth(7)).unwrap();
    truncate(p, 4 * PS as u64);
    let err = mem.restore_set::<Conn>("conns").unwrap_err();
    assert_shrunk_to_four_pages(&err);
    // Publishing onto the cut file is refused before a byte is written.
    let rec = RootRecord::for_set("fresh", &fresh).unwrap();
    let err = mem.publish(&[rec]).unwrap_err();
    assert!(
        matches!(&err, Error::Image { path, what } if path == p
            && what == "the image shrank to 16384 bytes while open (it is 131072)"),
        "{err:?}"
    );
    assert_eq!(mem.generation(), 2);
    assert_eq!(std::fs::metadata(p).unwrap().len(), 4 * PS as u64);
}

// ---- Special files ----

/// Runs `f` on another thread and fails the test if it does not return:
/// an open that blocks on a FIFO would otherwise hang the run.
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} blocked"))
}

fn assert_not_regular<T: std::fmt::Debug>(res: kho_runtime::Result<T>, path: &str, kind: &str) {
    match res {
        Err(e @ Error::NotRegular { .. }) => {
            let shown = e.to_string();
            assert!(
                shown.contains("not a regular file")
                    && shown.contains(path)
                    && shown.contains(&format!("({kind})")),
                "{shown}"
            );
        }
        other => panic!("{path}: expected 'not a regular file ({kind})', got {other:?}"),
    }
}

/// Every way into the file backends, each on another thread.
fn every_open(path: &str, kind: &'static str) {
    type Open = fn(&str) -> kho_runtime::Result<()>;
    let opens: [(&str, Open); 5] = [
        ("open", |p| FileMemory::open(p).map(drop)),
        ("open_read_only", |p| {
            FileMemory::open_read_only(p).map(drop)
        }),
        ("open_wait", |p| FileMemory::open_wait(p).map(drop)),
        ("create", |p| FileMemory::create(p, config(8)).map(drop)),
        ("RawImage::open", |p| RawImage::open(p, BASE, PS).map(drop)),
    ];
    for (name, open) in opens {
        let p = path.to_string();
        let res = returns(&format!("{name} on {path}"), move || open(&p));
        assert_not_regular(res, path, kind);
    }
}

#[test]
fn fifos_devices_and_directories_are_refused_at_once() {
    let fifo = TempPath::new("fifo");
    let made = Command::new("mkfifo").arg(fifo.as_str()).status().unwrap();
    assert!(made.success());
    every_open(fifo.as_str(), "a FIFO");
    // Still a FIFO: create did not replace it.
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(fifo.as_str())
        .unwrap()
        .file_type()
        .is_fifo());

    every_open("/dev/zero", "a character device");

    let dir = std::env::temp_dir().join(format!("kho-runtime-test-{}-dir", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    every_open(dir.to_str().unwrap(), "a directory");
    std::fs::remove_dir(&dir).unwrap();
}

/// A loop device, detached on drop (a failing test included).
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

#[test]
fn a_dump_on_a_block_device_reads_with_its_size() {
    let path = TempPath::new("block-device");
    let p = path.as_str();
    std::fs::write(p, raw_chain(16)).unwrap();
    let out = match Command::new("losetup")
        .args(["-r", "-f", "--show", p])
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            println!("SKIPPED: cannot run losetup: {e}");
            return;
        }
    };
    if !out.status.success() {
        println!(
            "SKIPPED: losetup -r -f --show refused ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    let dev = Loop(String::from_utf8_lossy(&out.stdout).trim().to_string());
    assert_eq!(
        std::fs::metadata(&dev.0).unwrap().len(),
        0,
        "why seek is needed"
    );
    let img = RawImage::open(&dev.0, BASE, PS).unwrap();
    assert_eq!((img.len(), img.pages()), (16 * PS, 16));
    let set = RawBlockSet::restore(&img, PhysAddr(BASE), 8).unwrap();
    assert_eq!(set.block_count(), 16);
    let last = set.get(&img, 15).unwrap().unwrap();
    assert_eq!(last, &15u64.to_ne_bytes());
    // FileMemory takes regular files only.
    assert_not_regular(FileMemory::open_read_only(&dev.0), &dev.0, "a block device");
    assert_not_regular(FileMemory::open(&dev.0), &dev.0, "a block device");
}

// ---- Paths ----

#[test]
fn non_utf8_paths_work() {
    let mut name = b"kho-runtime-test-\xff\xfe-".to_vec();
    name.extend_from_slice(format!("{}.img", std::process::id()).as_bytes());
    let path: PathBuf = std::env::temp_dir().join(OsStr::from_bytes(&name));
    assert!(path.to_str().is_none());
    let mut mem = FileMemory::create(&path, config(32)).unwrap();
    handover(&mut mem, 300);
    assert_eq!(mem.path(), path);
    // Messages show the path lossily.
    let err = FileMemory::open(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains("kho-runtime-test-\u{fffd}\u{fffd}-"),
        "{err}"
    );
    drop(mem);
    check_handover(&FileMemory::open(&path).unwrap());
    check_handover(&FileMemory::open_read_only(&path).unwrap());
    let img = RawImage::open(&path, BASE, PS).unwrap();
    assert_eq!(img.pages(), 32);
    std::fs::remove_file(&path).unwrap();
}
