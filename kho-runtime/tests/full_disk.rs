//! A full disk, for real: a tiny tmpfs mounted for the test (root only;
//! "SKIPPED" where mounting is refused).
//!
//! `create` allocates the whole image up front, so a disk without room is
//! an error there, naming the image and the size. An image whose blocks are
//! not all allocated (copied sparsely, say) meets the full disk at a later
//! publish: an I/O error, the previous generation kept, and a retry that
//! works once there is room. Never a signal.

mod common;

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Conn, BASE};
use kho_runtime::{BlockSet, Error, FileMemory, FileMemoryConfig, RootRecord};

const PS: usize = 4096;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!(
            "kho-runtime-test-{}-{name}-tmpfs",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs(dir)),
            Ok(out) => {
                println!(
                    "SKIPPED: mount -t tmpfs refused ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                let _ = std::fs::remove_dir(&dir);
                None
            }
            Err(e) => {
                println!("SKIPPED: cannot run mount: {e}");
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn config(pages: usize) -> FileMemoryConfig {
    FileMemoryConfig {
        base: BASE,
        page_size: PS,
        pages,
    }
}

fn conns(mem: &mut FileMemory, n: usize, from: usize) -> BlockSet<Conn, FileMemory> {
    let mut set = BlockSet::<Conn, _>::new(mem).unwrap();
    set.grow(mem, n).unwrap();
    for i in 0..n {
        set.push(mem, &Conn::nth(from + i)).unwrap();
    }
    set
}

fn check(mem: &FileMemory, name: &str, n: usize, from: usize) {
    let set = mem.restore_set::<Conn>(name).unwrap();
    assert_eq!(set.len(), n, "{name}");
    for (i, c) in set.iter(mem).unwrap().enumerate() {
        assert_eq!(c, Conn::nth(from + i), "{name} entry {i}");
    }
}

/// Writes files into `dir` until the disk is full; returns their paths.
fn fill(dir: &Tmpfs) -> PathBuf {
    let filler = dir.path("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0xa5u8; PS];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    filler
}

#[test]
fn create_on_a_full_disk_names_the_image_and_the_size() {
    let Some(fs) = Tmpfs::mount("create", "256k") else {
        return;
    };
    let path = fs.path("big.img");
    let err = FileMemory::create(&path, config(256)).unwrap_err();
    let shown = err.to_string();
    assert!(
        matches!(&err, Error::Allocate { path: p, len: 1_048_576, source }
            if Path::new(p) == path && source.kind() == std::io::ErrorKind::StorageFull),
        "{err:?}"
    );
    assert_eq!(
        shown,
        format!(
            "image {}: cannot allocate 1048576 bytes: No space left on device (os error 28)",
            path.display()
        )
    );
    // What was allocated was given back.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    // An image that fits is created, and then cannot run out of room.
    let fits = fs.path("fits.img");
    let mut mem = FileMemory::create(&fits, config(32)).unwrap();
    let filler = fill(&fs);
    let set = conns(&mut mem, 3000, 0); // 18 of the 28 data pages
    mem.publish(&[RootRecord::for_set("conns", &set).unwrap()])
        .unwrap();
    drop(mem);
    check(&FileMemory::open(&fits).unwrap(), "conns", 3000, 0);
    std::fs::remove_file(filler).unwrap();
}

#[test]
fn a_full_disk_at_publish_is_an_error_and_keeps_the_old_generation() {
    let Some(fs) = Tmpfs::mount("publish", "512k") else {
        return;
    };
    // An image made elsewhere and copied sparsely: only its non-zero pages
    // take room on the small disk.
    let pages = 96;
    let made = common::TempPath::new("full-disk-source");
    {
        let mut mem = FileMemory::create(made.as_str(), config(pages)).unwrap();
        let set = conns(&mut mem, 300, 0);
        mem.publish(&[RootRecord::for_set("old", &set).unwrap()])
            .unwrap();
    }
    let bytes = std::fs::read(made.as_str()).unwrap();
    let path = fs.path("sparse.img");
    {
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(bytes.len() as u64).unwrap();
        for (i, page) in bytes.chunks(PS).enumerate() {
            if page.iter().any(|&b| b != 0) {
                f.write_all_at(page, (i * PS) as u64).unwrap();
            }
        }
    }
    let filler = fill(&fs);

    let mut mem = FileMemory::open(&path).unwrap();
    check(&mem, "old", 300, 0);
    let mut old = mem.restore_set::<Conn>("old").unwrap();
    old.destroy(&mut mem).unwrap();
    let set = conns(&mut mem, 6000, 1000); // 36 pages, all holes on disk
    let rec = RootRecord::for_set("new", &set).unwrap();
    let err = mem.publish(&[rec]).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, source }
            if Path::new(p) == path && source.kind() == std::io::ErrorKind::StorageFull),
        "{err:?}"
    );
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert_eq!(mem.generation(), 2);
    // The disk still holds the previous handover, whole (read past the
    // writer's lock, as the next boot would find it).
    {
        let file = std::fs::File::open(&path).unwrap();
        let on_disk = FileMemory::open_read_only_on(file, &path).unwrap();
        assert_eq!(on_disk.generation(), 2);
        check(&on_disk, "old", 300, 0);
    }
    // With room again, the same process publishes.
    std::fs::remove_file(filler).unwrap();
    mem.publish(&[rec]).unwrap();
    assert_eq!(mem.generation(), 3);
    drop(mem);
    let mem = FileMemory::open(&path).unwrap();
    assert_eq!(mem.generation(), 3);
    check(&mem, "new", 6000, 1000);
}
