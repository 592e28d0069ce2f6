//! The file under a [`FileMemory`](crate::FileMemory), and how the file
//! backends open, check and lock real files.
//!
//! Nothing here maps memory: every access is a positioned read or write, so
//! a file that shrinks, a full disk or an I/O error is an error value at the
//! access that meets it, never a signal.

use alloc::string::{String, ToString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{FallocateFlags, OFlags};
use rustix::io::Errno;

use crate::{Error, Result};

/// The storage a [`FileMemory`](crate::FileMemory) image lives in.
///
/// [`std::fs::File`] is the real one. The trait exists so that tests can put
/// an image on a model disk that forgets unsynced writes the way a power
/// loss does (see `kho-runtime/tests/power_loss.rs`). The contract is that
/// of a file on a disk with a volatile write cache:
///
/// - a write is visible to later reads at once, but may be lost (or land
///   in part) at a power loss until [`sync_data`](Self::sync_data) returns;
/// - after `sync_data` returns, every write before it survives.
///
/// `FileMemory` relies on nothing else: it writes a new generation's pages,
/// syncs, writes the superblock, and syncs again.
pub trait ImageFile {
    /// Fills `buf` with the bytes at `offset`. A file that ends before
    /// `buf` is full is an [`io::ErrorKind::UnexpectedEof`] error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// Writes all of `buf` at `offset`.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;

    /// Makes every write so far durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;

    /// The file's current length in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Makes the file `len` zero bytes long with its storage allocated, so
    /// that no later write within it can fail for lack of space.
    fn allocate_zeroed(&mut self, len: u64) -> io::Result<()>;
}

impl ImageFile for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    /// Truncates to 0 (dropping the old contents and their blocks), then
    /// `fallocate`s `len` bytes. A filesystem without `fallocate` gets a
    /// sparse file instead: a full disk then shows as a write error at a
    /// later publish (still an error, not a signal).
    fn allocate_zeroed(&mut self, len: u64) -> io::Result<()> {
        self.set_len(0)?;
        if len == 0 {
            return Ok(());
        }
        match rustix::fs::fallocate(&*self, FallocateFlags::empty(), 0, len) {
            Ok(()) => Ok(()),
            Err(e) if e == Errno::OPNOTSUPP || e == Errno::NOSYS => self.set_len(len),
            Err(e) => {
                // Give back what was allocated before the disk filled up.
                let _ = self.set_len(0);
                Err(e.into())
            }
        }
    }
}

/// How a file backend opens its file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read only.
    Read,
    /// Read and write an existing file.
    Write,
    /// Read and write, creating the file if it is missing (never truncating
    /// it: that waits for the lock).
    Create,
}

/// What a file is, for the "not a regular file" error.
pub(crate) enum Kind {
    Regular,
    BlockDevice { len: u64 },
}

pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}

pub(crate) fn io_error(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: shown(path),
        source,
    }
}

/// Opens `path` without blocking on a FIFO (`O_NONBLOCK`) and checks what
/// it is: regular files always, block devices when `block_devices` says so.
/// Anything else is [`Error::NotRegular`], before a byte is read.
pub(crate) fn open(path: &Path, access: Access, block_devices: bool) -> Result<(File, Kind)> {
    let also = if block_devices {
        " or block device"
    } else {
        ""
    };
    let not_regular = |kind| Error::NotRegular {
        path: shown(path),
        kind,
        also,
    };
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(access != Access::Read)
        .create(access == Access::Create)
        // Regular files and block devices ignore O_NONBLOCK, so it can stay.
        .custom_flags(OFlags::NONBLOCK.bits() as i32);
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
            return Err(not_regular("a directory"))
        }
        Err(e) => return Err(io_error(path)(e)),
    };
    let kind = check_kind(&file, path, block_devices)?;
    Ok((file, kind))
}

/// Checks an open file the way [`open`] does.
pub(crate) fn check_kind(file: &File, path: &Path, block_devices: bool) -> Result<Kind> {
    let also = if block_devices {
        " or block device"
    } else {
        ""
    };
    let ty = file.metadata().map_err(io_error(path))?.file_type();
    let kind = if ty.is_file() {
        return Ok(Kind::Regular);
    } else if ty.is_block_device() {
        if block_devices {
            // A block device's metadata says 0 bytes: its size is where a
            // seek to the end lands.
            let len = io::Seek::seek(&mut &*file, io::SeekFrom::End(0)).map_err(io_error(path))?;
            return Ok(Kind::BlockDevice { len });
        }
        "a block device"
    } else if ty.is_dir() {
        "a directory"
    } else if ty.is_fifo() {
        "a FIFO"
    } else if ty.is_char_device() {
        "a character device"
    } else if ty.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(Error::NotRegular {
        path: shown(path),
        kind,
        also,
    })
}

/// Whether a caller that finds the lock taken fails at once or waits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Wait {
    No,
    Yes,
}

/// Takes the image's advisory lock (`flock`): exclusive for a writer,
/// shared for a reader. The lock belongs to the open file description, so
/// it lasts until the last descriptor of it closes, a `dup` included.
///
/// Without waiting, a lock found taken is tried again for about a quarter
/// of a second before the image counts as in use: a process that spawns
/// children from several threads holds copies of its descriptors, and so
/// of its locks, in each child between `fork` and `exec`, and a lock just
/// let go may still be held there for a moment.
pub(crate) fn lock(file: &File, path: &Path, exclusive: bool, wait: Wait) -> Result<()> {
    match (exclusive, wait) {
        (true, Wait::Yes) => return file.lock().map_err(io_error(path)),
        (false, Wait::Yes) => return file.lock_shared().map_err(io_error(path)),
        _ => {}
    }
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let res = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match res {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if pause.as_millis() <= 128 => {
                std::thread::sleep(pause);
                pause *= 2;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::InUse { path: shown(path) })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error(path)(e)),
        }
    }
}

/// Whether `path` still names the open `file` (same device and inode).
pub(crate) fn is_at(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
