//! File mappings: the runtime's only `unsafe` code.
//!
//! Mapping a file is unsafe because another process could change or
//! truncate it while we hold slices into it. The image files are owned by
//! the process that opened them (the "kernel" of the moment); a concurrent
//! writer is outside the contract, as a second kernel writing the same RAM
//! would be.

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapMut, MmapOptions};

/// Maps `file` for reading and writing, shared with the file.
pub(crate) fn map_shared(file: &File) -> io::Result<MmapMut> {
    // SAFETY: the caller owns the image for the mapping's lifetime (see the
    // module note); all access goes through the bounds-checked slice.
    unsafe { MmapOptions::new().map_mut(file) }
}

/// Maps `file` privately: writes stay in this process, the file is untouched.
pub(crate) fn map_private(file: &File) -> io::Result<MmapMut> {
    // SAFETY: as for `map_shared`; the file is opened read-only and the
    // copy-on-write mapping never writes to it.
    unsafe { MmapOptions::new().map_copy(file) }
}

/// Maps `file` read-only.
pub(crate) fn map_read(file: &File) -> io::Result<Mmap> {
    // SAFETY: as for `map_shared`.
    unsafe { MmapOptions::new().map(file) }
}
