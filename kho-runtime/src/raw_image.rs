//! A read-only dump of physical memory: raw, or made of segments (an ELF
//! core's PT_LOADs).

use alloc::string::String;
use alloc::vec::Vec;
use std::fs::File;
use std::path::Path;

use crate::cache::PageCache;
use crate::image_file::{self, shown, Access, Kind};
use crate::memory::{check_page_size, page_offset};
use crate::{Error, Fault, MemoryId, PhysAddr, PreservedMemory, Result};

enum Bytes {
    /// A file, read with positioned reads.
    File {
        file: File,
        path: String,
    },
    Owned(Vec<u8>),
}

impl Bytes {
    fn path(&self) -> &str {
        match self {
            Bytes::File { path, .. } => path.as_str(),
            Bytes::Owned(_) => "<memory>",
        }
    }

    /// Fills `buf` from byte `at` of the file (checked to be inside it at
    /// open); `addr` is the page being read, for errors.
    fn read_at(&self, buf: &mut [u8], at: u64, addr: PhysAddr) -> Result<()> {
        match self {
            Bytes::Owned(v) => {
                let piece = usize::try_from(at)
                    .ok()
                    .and_then(|at| v.get(at..at.checked_add(buf.len())?))
                    .ok_or_else(|| Error::mem(addr, Fault::PastEndOfImage))?;
                buf.copy_from_slice(piece);
                Ok(())
            }
            Bytes::File { file, path } => std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        let len = file.metadata().map_or(0, |m| m.len());
                        Error::mem(addr, Fault::Shrunk { len })
                    } else {
                        Error::PageIo {
                            path: path.clone(),
                            addr,
                            source: e,
                        }
                    }
                }),
        }
    }
}

/// Where physical addresses are in the file.
enum Map {
    /// Byte `k` of the file is address `base + k`.
    Flat { base: u64 },
    /// Through segments (an ELF core's PT_LOADs).
    Segmented(Segments),
}

/// The most segments a segmented image may have.
///
/// An ELF core has one PT_LOAD per range of memory: a few dozen in a kdump
/// vmcore or `/proc/kcore`, one per RAM block in QEMU's
/// `dump-guest-memory`. The bound keeps a hostile header from making the
/// image allocate and sort billions of them.
pub const MAX_SEGMENTS: usize = 1 << 16;

/// One range of physical memory in a segmented image, as an ELF core's
/// `PT_LOAD` program header gives it.
///
/// The `mem_size` bytes from physical address `phys` are the `file_size`
/// bytes of the file from `offset`, then zeros (`p_paddr`, `p_offset`,
/// `p_filesz`, `p_memsz`; the zeros are memory the dump left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Physical address of the segment's first byte (`p_paddr`).
    pub phys: u64,
    /// Where its bytes start in the file (`p_offset`).
    pub offset: u64,
    /// Bytes of it in the file (`p_filesz`), at most `mem_size`.
    pub file_size: u64,
    /// Bytes of memory it covers (`p_memsz`).
    pub mem_size: u64,
}

impl Segment {
    /// The segment as errors name it: its index in the list it came in
    /// and all its numbers, so the header that lies can be found.
    fn describe(&self, index: usize) -> String {
        alloc::format!(
            "segment {index} (phys {:#x}, memory size {:#x}, file offset {:#x}, file size {:#x})",
            self.phys,
            self.mem_size,
            self.offset,
            self.file_size
        )
    }
}

/// A segment checked at open: `end` and `file_end` do not overflow.
#[derive(Clone, Copy)]
struct Seg {
    /// Index in the list the caller gave (for errors).
    index: usize,
    phys: u64,
    /// One past the last physical address.
    end: u64,
    /// One past the last physical address held in the file; zeros follow.
    file_end: u64,
    offset: u64,
}

/// Pages `first..end` (page numbers) hold file bytes; they are cached in
/// slots `slot..`.
#[derive(Clone, Copy)]
struct Run {
    first: u64,
    end: u64,
    slot: usize,
}

/// The checked segments of an image, by physical address.
struct Segments {
    /// Sorted by `phys`, disjoint, none empty.
    segs: Vec<Seg>,
    /// Sorted, disjoint: the pages that hold at least one file byte.
    runs: Vec<Run>,
    /// Pages whose start lies in some segment.
    pages: usize,
    /// What a page wholly in the zero tail of segments reads as.
    zero: Vec<u8>,
    /// The caller's segments, in the caller's order.
    given: Vec<Segment>,
}

impl Segments {
    fn new(given: &[Segment], file_len: u64, page_size: usize, path: &str) -> Result<Self> {
        let bad = |what: String| Error::Image {
            path: String::from(path),
            what,
        };
        if given.len() > MAX_SEGMENTS {
            return Err(bad(alloc::format!(
                "{} segments, more than the {MAX_SEGMENTS} allowed",
                given.len()
            )));
        }
        let mut segs = Vec::new();
        segs.try_reserve_exact(given.len())
            .map_err(|_| Error::OutOfMemory)?;
        for (index, s) in given.iter().enumerate() {
            if s.file_size > s.mem_size {
                return Err(bad(alloc::format!(
                    "{}: its file size is larger than its memory size",
                    s.describe(index)
                )));
            }
            let Some(end) = s.phys.checked_add(s.mem_size) else {
                return Err(bad(alloc::format!(
                    "{}: runs past the end of the 64-bit physical address space",
                    s.describe(index)
                )));
            };
            if s.offset
                .checked_add(s.file_size)
                .is_none_or(|e| e > file_len)
            {
                return Err(bad(alloc::format!(
                    "{}: runs past the end of the {file_len}-byte file",
                    s.describe(index)
                )));
            }
            if s.mem_size > 0 {
                segs.push(Seg {
                    index,
                    phys: s.phys,
                    end,
                    // file_size <= mem_size, so no overflow.
                    file_end: s.phys + s.file_size,
                    offset: s.offset,
                });
            }
        }
        segs.sort_unstable_by_key(|s| s.phys);
        let described = |s: &Seg| {
            given
                .get(s.index)
                .map_or(String::new(), |g| g.describe(s.index))
        };
        for pair in segs.windows(2) {
            if let [a, b] = pair {
                if b.phys < a.end {
                    return Err(bad(alloc::format!(
                        "{} overlaps {} in physical memory",
                        described(b),
                        described(a)
                    )));
                }
            }
        }
        // Two segments reading the same file bytes would be two places of
        // memory claiming one content: a lie, and a way to make the cache
        // larger than the file.
        let mut by_offset: Vec<&Seg> = segs.iter().filter(|s| s.file_end > s.phys).collect();
        by_offset.sort_unstable_by_key(|s| s.offset);
        for pair in by_offset.windows(2) {
            if let [a, b] = pair {
                if b.offset < a.offset + (a.file_end - a.phys) {
                    return Err(bad(alloc::format!(
                        "{} shares file bytes with {}",
                        described(b),
                        described(a)
                    )));
                }
            }
        }
        let ps = page_size as u64;
        let mut runs: Vec<Run> = Vec::new();
        let mut slots = 0usize;
        let mut pages = 0usize;
        for s in &segs {
            // Page numbers whose start lies in [phys, end).
            let starts = s.end.div_ceil(ps) - s.phys.div_ceil(ps);
            pages = pages.saturating_add(usize::try_from(starts).unwrap_or(usize::MAX));
            if s.file_end == s.phys {
                continue;
            }
            let mut first = s.phys / ps;
            let end = (s.file_end - 1) / ps + 1;
            if let Some(last) = runs.last() {
                // A page shared with the previous segment already has a slot.
                first = first.max(last.end);
            }
            if first < end {
                let n = usize::try_from(end - first).map_err(|_| Error::OutOfMemory)?;
                runs.push(Run {
                    first,
                    end,
                    slot: slots,
                });
                slots = slots.checked_add(n).ok_or(Error::OutOfMemory)?;
            }
        }
        let mut kept = Vec::new();
        kept.try_reserve_exact(given.len())
            .map_err(|_| Error::OutOfMemory)?;
        kept.extend_from_slice(given);
        Ok(Segments {
            segs,
            runs,
            pages,
            zero: alloc::vec![0; page_size],
            given: kept,
        })
    }

    /// The cache slots needed: one per page holding a file byte.
    fn slots(&self) -> usize {
        self.runs
            .last()
            .map_or(0, |r| r.slot + (r.end - r.first) as usize)
    }

    /// The segments covering the page at `a`, in order, once the whole page
    /// is known to be covered; the fault otherwise, as a flat dump's.
    fn covering(&self, a: u64, page_size: usize, addr: PhysAddr) -> Result<&[Seg]> {
        let i = self.segs.partition_point(|s| s.phys <= a);
        let first = i
            .checked_sub(1)
            .filter(|&i| self.segs.get(i).is_some_and(|s| a < s.end))
            .ok_or_else(|| Error::mem(addr, Fault::OutOfRange))?;
        let Some(page_end) = a.checked_add(page_size as u64) else {
            return Err(Error::mem(addr, Fault::PastEndOfImage));
        };
        let mut last = first;
        let mut covered = self.segs.get(first).map_or(a, |s| s.end);
        while covered < page_end {
            match self.segs.get(last + 1) {
                Some(next) if next.phys == covered => {
                    last += 1;
                    covered = next.end;
                }
                // A hole or the end of memory before the page ends.
                _ => return Err(Error::mem(addr, Fault::PastEndOfImage)),
            }
        }
        self.segs
            .get(first..=last)
            .ok_or_else(|| Error::mem(addr, Fault::OutOfRange))
    }

    /// The cache slot of page number `n`, if it holds file bytes.
    fn slot(&self, n: u64) -> Option<usize> {
        let i = self.runs.partition_point(|r| r.first <= n).checked_sub(1)?;
        let r = self.runs.get(i)?;
        (n < r.end).then(|| r.slot + (n - r.first) as usize)
    }
}

/// A read-only dump of physical memory: a raw dump (byte `k` is address
/// `base + k`) or a segmented one (an ELF core's PT_LOAD segments).
///
/// The dump carries no metadata, so every page counts as handed over and
/// only addresses and chain structure can be checked, until the dump's own
/// preserved-memory tree is read into it
/// ([`with_preserved`](Self::with_preserved)): then only the pages that
/// tree names are handed over, as for the next kernel. The last page may be
/// cut short (a truncated dump): a block there is `PastEndOfImage`.
///
/// A dump opened from a file is not mapped and not read whole: each page is
/// read (with a positioned read) the first time it is asked for and kept,
/// so a dump larger than memory can be walked, costing only the pages
/// read. Its length is taken at [`open`](Self::open). If the file shrinks
/// afterwards, a page no longer there is an error at its access
/// ([`Fault::Shrunk`], "the image shrank to N bytes while open"), never a
/// signal; a page read before the truncation keeps the bytes it had.
///
/// # Segmented dumps
///
/// [`open_segments`](Self::open_segments) maps physical memory through a
/// list of [`Segment`]s. They are checked when the dump is opened: a
/// segment whose file bytes lie past the end of the file, with more file
/// bytes than memory bytes, past the end of the address space, overlapping
/// another in physical memory or sharing file bytes with another is an
/// [`Error::Image`] naming the segment (its index in the list and its
/// numbers), as are more than [`MAX_SEGMENTS`]. Segments need not be page
/// aligned: a page is read when every byte of it lies in segments (one, or
/// several that touch), its bytes gathered from them, zeros for a
/// segment's part past its file size. A page whose first byte is in no
/// segment is [`Fault::OutOfRange`], as outside a raw dump; one that starts
/// in a segment but runs into a hole is [`Fault::PastEndOfImage`].
pub struct RawImage {
    id: MemoryId,
    map: Map,
    page_size: usize,
    len: usize,
    bytes: Bytes,
    cache: PageCache,
    /// The preserved-memory map, when one was given: the pages handed over.
    preserved: Option<crate::PreservedMap>,
}

impl core::fmt::Debug for RawImage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("RawImage");
        d.field("id", &self.id).field("path", &self.bytes.path());
        match &self.map {
            Map::Flat { base } => d.field("base", &PhysAddr(*base)),
            Map::Segmented(s) => d.field("segments", &s.given.len()),
        };
        d.field("page_size", &self.page_size)
            .field("len", &self.len)
            .finish()
    }
}

impl RawImage {
    /// Reads the dump's preserved-memory radix tree at `root` (the KHO
    /// FDT's `preserved-memory-map`; see [`crate::PreservedMap::restore`])
    /// and keeps it: from then on a page is handed over
    /// ([`PreservedMemory::is_incoming`]) only when the tree names it, so
    /// restoring a block set or a vmalloc area from the dump refuses pages
    /// the previous kernel did not preserve, as the next kernel would. The
    /// tree's own nodes are not handed over unless it names them.
    pub fn with_preserved(mut self, root: PhysAddr) -> Result<Self> {
        self.preserved = None;
        let map = crate::PreservedMap::restore(&self, root)?;
        self.preserved = Some(map);
        Ok(self)
    }

    /// The preserved-memory map [`with_preserved`](Self::with_preserved)
    /// read, if any.
    pub fn preserved(&self) -> Option<&crate::PreservedMap> {
        self.preserved.as_ref()
    }

    /// Opens the dump at `path`: a regular file, or a block device (a dump
    /// on a disk partition or a loop device, whose size is read from the
    /// device). Anything else (a FIFO, a character device such as
    /// `/dev/zero`, a directory) is refused at once with
    /// [`Error::NotRegular`], without blocking or reading.
    pub fn open(path: impl AsRef<Path>, base: u64, page_size: usize) -> Result<Self> {
        let path = path.as_ref();
        check(base, page_size, &shown(path))?;
        let (file, len, shown) = open_file(path)?;
        Ok(RawImage {
            id: MemoryId::new(),
            map: Map::Flat { base },
            page_size,
            len,
            cache: PageCache::new(len / page_size, page_size),
            preserved: None,
            bytes: Bytes::File { file, path: shown },
        })
    }

    /// Opens the dump at `path` (a regular file or a block device, as
    /// [`open`](Self::open)) whose physical memory is `segments` (see
    /// [Segmented dumps](Self#segmented-dumps) for the checks).
    pub fn open_segments(
        path: impl AsRef<Path>,
        segments: &[Segment],
        page_size: usize,
    ) -> Result<Self> {
        Self::open(path, 0, page_size)?.into_segments(segments)
    }

    /// The same file, its physical memory now `segments` (see
    /// [Segmented dumps](Self#segmented-dumps) for the checks): for a
    /// container format whose headers, read with
    /// [`read_at`](Self::read_at), say where memory is. The file is not
    /// opened again, so what was parsed is what is mapped. It is new
    /// memory (a new [`MemoryId`]): a preserved-memory map read before was
    /// read through the old mapping and is not kept.
    pub fn into_segments(self, segments: &[Segment]) -> Result<Self> {
        let segs = Segments::new(segments, self.len as u64, self.page_size, self.bytes.path())?;
        Ok(RawImage {
            id: MemoryId::new(),
            page_size: self.page_size,
            len: self.len,
            cache: PageCache::new(segs.slots(), self.page_size),
            preserved: None,
            map: Map::Segmented(segs),
            bytes: self.bytes,
        })
    }

    /// Fills `buf` with the file's bytes from `offset` (a file offset, not
    /// a physical address): for parsing a container format's headers.
    ///
    /// Bytes past the file's length at open are an [`Error::Image`] naming
    /// the range; a read that fails (the file shrank since) is an
    /// [`Error::Io`].
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len as u64)
        {
            return Err(Error::Image {
                path: String::from(self.bytes.path()),
                what: alloc::format!(
                    "{} bytes at offset {offset:#x} run past the end of the {}-byte file",
                    buf.len(),
                    self.len
                ),
            });
        }
        match &self.bytes {
            Bytes::Owned(_) => self.bytes.read_at(buf, offset, PhysAddr::NULL),
            Bytes::File { file, path } => {
                std::os::unix::fs::FileExt::read_exact_at(file, buf, offset).map_err(|source| {
                    Error::Io {
                        path: path.clone(),
                        source,
                    }
                })
            }
        }
    }

    /// A dump held in memory (for tests and fuzzing).
    pub fn from_vec(bytes: Vec<u8>, base: u64, page_size: usize) -> Result<Self> {
        check(base, page_size, "<memory>")?;
        Ok(RawImage {
            id: MemoryId::new(),
            map: Map::Flat { base },
            page_size,
            len: bytes.len(),
            // Pages are borrowed from the vector, never cached.
            cache: PageCache::new(0, page_size),
            preserved: None,
            bytes: Bytes::Owned(bytes),
        })
    }

    /// A segmented dump held in memory (for tests and fuzzing): `bytes` is
    /// the file `segments` point into.
    pub fn from_vec_segments(
        bytes: Vec<u8>,
        segments: &[Segment],
        page_size: usize,
    ) -> Result<Self> {
        Self::from_vec(bytes, 0, page_size)?.into_segments(segments)
    }

    /// The dump's length in bytes (for a file, when it was opened).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dump is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pages in the dump: whole pages of a raw dump; pages that start in a
    /// segment of a segmented one (an upper bound of those that can be
    /// read, as a page may run into a hole).
    pub fn pages(&self) -> usize {
        match &self.map {
            Map::Flat { .. } => self.len / self.page_size,
            Map::Segmented(s) => s.pages,
        }
    }

    /// The segments of a segmented dump, as given to
    /// [`open_segments`](Self::open_segments); empty for a raw dump.
    pub fn segments(&self) -> &[Segment] {
        match &self.map {
            Map::Flat { .. } => &[],
            Map::Segmented(s) => &s.given,
        }
    }

    fn segmented_page<'a>(&'a self, segs: &'a Segments, addr: PhysAddr) -> Result<&'a [u8]> {
        let a = addr.get();
        let ps = self.page_size as u64;
        if !a.is_multiple_of(ps) {
            return Err(Error::mem(addr, Fault::Unaligned));
        }
        let covering = segs.covering(a, self.page_size, addr)?;
        let Some(slot) = segs.slot(a / ps) else {
            return Ok(&segs.zero);
        };
        self.cache.page(slot, addr, |buf| {
            // The cache hands out a zeroed buffer: only file bytes are read.
            for s in covering {
                let from = s.phys.max(a);
                let to = s.file_end.min(a + ps);
                if from >= to {
                    continue;
                }
                let dst = buf
                    .get_mut((from - a) as usize..(to - a) as usize)
                    .ok_or_else(|| Error::mem(addr, Fault::PastEndOfImage))?;
                self.bytes.read_at(dst, s.offset + (from - s.phys), addr)?;
            }
            Ok(())
        })
    }
}

/// Opens `path` for reading: the file, its length and its name for errors.
fn open_file(path: &Path) -> Result<(File, usize, String)> {
    let shown = shown(path);
    let (file, kind) = image_file::open(path, Access::Read, true)?;
    let len = match kind {
        Kind::Regular => file.metadata().map_err(image_file::io_error(path))?.len(),
        Kind::BlockDevice { len } => len,
    };
    let len = usize::try_from(len).map_err(|_| Error::Image {
        path: shown.clone(),
        what: alloc::format!("{len} bytes do not fit this machine's address space"),
    })?;
    Ok((file, len, shown))
}

fn check(base: u64, page_size: usize, path: &str) -> Result<()> {
    check_page_size(page_size)?;
    if !base.is_multiple_of(page_size as u64) {
        return Err(Error::Image {
            path: String::from(path),
            what: alloc::format!("base {base:#x} is not aligned to the {page_size}-byte page"),
        });
    }
    Ok(())
}

impl PreservedMemory for RawImage {
    fn page_size(&self) -> usize {
        self.page_size
    }

    #[inline]
    fn id(&self) -> MemoryId {
        self.id
    }

    fn alloc_preserve(&mut self) -> Result<PhysAddr> {
        Err(Error::mem(PhysAddr::NULL, Fault::ReadOnly))
    }

    fn unpreserve_free(&mut self, addr: PhysAddr) -> Result<()> {
        Err(Error::mem(addr, Fault::ReadOnly))
    }

    fn restore_free(&mut self, addr: PhysAddr) -> Result<()> {
        Err(Error::mem(addr, Fault::ReadOnly))
    }

    fn is_incoming(&self, addr: PhysAddr) -> bool {
        self.preserved.as_ref().is_none_or(|m| m.contains(addr))
    }

    #[inline]
    fn page(&self, addr: PhysAddr) -> Result<&[u8]> {
        let base = match &self.map {
            Map::Flat { base } => *base,
            Map::Segmented(segs) => return self.segmented_page(segs, addr),
        };
        let at = page_offset(addr, base, self.len, self.page_size)?;
        match &self.bytes {
            Bytes::Owned(v) => v
                .get(at..at + self.page_size)
                .ok_or_else(|| Error::mem(addr, Fault::PastEndOfImage)),
            Bytes::File { .. } => self.cache.page(at / self.page_size, addr, |buf| {
                self.bytes.read_at(buf, at as u64, addr)
            }),
        }
    }

    fn page_mut(&mut self, addr: PhysAddr) -> Result<&mut [u8]> {
        Err(Error::mem(addr, Fault::ReadOnly))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const PS: usize = 4096;

    fn seg(phys: u64, offset: u64, file_size: u64, mem_size: u64) -> Segment {
        Segment {
            phys,
            offset,
            file_size,
            mem_size,
        }
    }

    fn refusal(bytes: usize, segs: &[Segment]) -> String {
        match RawImage::from_vec_segments(alloc::vec![0; bytes], segs, PS) {
            Err(e) => e.to_string(),
            Ok(_) => String::from("accepted"),
        }
    }

    fn fault(img: &RawImage, a: u64) -> Option<Fault> {
        match img.page(PhysAddr(a)) {
            Err(Error::Memory { fault, .. }) => Some(fault),
            _ => None,
        }
    }

    #[test]
    fn pages_gather_from_touching_segments_and_zero_fill() {
        // File: 0x1000 bytes of 1s, then 0x800 of 2s, then 0x800 of 3s.
        let mut file = alloc::vec![1u8; 0x1000];
        file.extend([2u8; 0x800]);
        file.extend([3u8; 0x800]);
        let segs = [
            // Listed out of order on purpose.
            seg(0x10_0800, 0x1800, 0x800, 0x800),
            seg(0x10_0000, 0x1000, 0x800, 0x800),
            seg(0x20_0000, 0, 0x1000, 0x3000),
        ];
        let img = RawImage::from_vec_segments(file, &segs, PS).unwrap();
        let p = img.page(PhysAddr(0x10_0000)).unwrap();
        assert!(p[..0x800].iter().all(|&b| b == 2));
        assert!(p[0x800..].iter().all(|&b| b == 3));
        assert!(img
            .page(PhysAddr(0x20_0000))
            .unwrap()
            .iter()
            .all(|&b| b == 1));
        // The tail past p_filesz reads as zeros.
        assert!(img
            .page(PhysAddr(0x20_2000))
            .unwrap()
            .iter()
            .all(|&b| b == 0));
        assert_eq!(img.segments(), &segs);
        assert_eq!(img.pages(), 4);
    }

    #[test]
    fn outside_segments_faults_like_outside_a_raw_dump() {
        let segs = [
            seg(0x10_0000, 0, 0x1800, 0x1800),
            seg(0x20_0000, 0x1800, 0, 0),
        ];
        let img = RawImage::from_vec_segments(alloc::vec![0; 0x2000], &segs, PS).unwrap();
        assert_eq!(fault(&img, 0xf_f000), Some(Fault::OutOfRange));
        assert_eq!(fault(&img, 0x10_2000), Some(Fault::OutOfRange));
        // The empty segment covers nothing.
        assert_eq!(fault(&img, 0x20_0000), Some(Fault::OutOfRange));
        assert_eq!(fault(&img, 0x10_0001), Some(Fault::Unaligned));
        // Starts in the segment, runs past its end.
        assert_eq!(fault(&img, 0x10_1000), Some(Fault::PastEndOfImage));
        // At the top of the address space the page cannot end.
        let top = [seg(u64::MAX - 0xfff, 0, 0, 0xfff)];
        let img = RawImage::from_vec_segments(Vec::new(), &top, PS).unwrap();
        assert_eq!(fault(&img, u64::MAX - 0xfff), Some(Fault::PastEndOfImage));
    }

    #[test]
    fn each_lie_is_refused_naming_the_segment() {
        let r = refusal(
            0x1000,
            &[seg(0, 0, 0x1000, 0x1000), seg(0x800, 0, 0, 0x1000)],
        );
        assert!(
            r.contains("segment 1 (phys 0x800, memory size 0x1000"),
            "{r}"
        );
        assert!(r.contains("overlaps segment 0 (phys 0x0"), "{r}");
        let r = refusal(0x1000, &[seg(0, 0x800, 0x1000, 0x1000)]);
        assert!(r.contains("segment 0 (phys 0x0, memory size 0x1000, file offset 0x800, file size 0x1000): runs past the end of the 4096-byte file"), "{r}");
        let r = refusal(0x1000, &[seg(0, u64::MAX, 2, 2)]);
        assert!(r.contains("runs past the end of the 4096-byte file"), "{r}");
        let r = refusal(0x2000, &[seg(0, 0, 0x2000, 0x1000)]);
        assert!(
            r.contains("file size is larger than its memory size"),
            "{r}"
        );
        let r = refusal(0, &[seg(u64::MAX, 0, 0, 2)]);
        assert!(
            r.contains("past the end of the 64-bit physical address space"),
            "{r}"
        );
        let r = refusal(
            0x1000,
            &[seg(0, 0, 0x1000, 0x1000), seg(0x10_0000, 0xfff, 1, 1)],
        );
        assert!(
            r.contains("segment 1 (phys 0x100000")
                && r.contains("shares file bytes with segment 0"),
            "{r}"
        );
        let many = alloc::vec![seg(0, 0, 0, 0); MAX_SEGMENTS + 1];
        let r = refusal(0, &many);
        assert!(
            r.contains("65537 segments, more than the 65536 allowed"),
            "{r}"
        );
        assert!(matches!(
            RawImage::from_vec_segments(Vec::new(), &[], 8192),
            Err(Error::PageSize(8192))
        ));
    }

    #[test]
    fn header_bytes_are_read_by_file_offset() {
        let img = RawImage::from_vec((0..=255).collect(), 0, PS).unwrap();
        let mut buf = [0u8; 4];
        img.read_at(&mut buf, 252).unwrap();
        assert_eq!(buf, [252, 253, 254, 255]);
        let e = img.read_at(&mut buf, 253).unwrap_err().to_string();
        assert!(
            e.contains("4 bytes at offset 0xfd run past the end of the 256-byte file"),
            "{e}"
        );
        assert!(img.read_at(&mut buf, u64::MAX).is_err());
        let seg = img.into_segments(&[seg(0, 0, 256, 4096)]).unwrap();
        assert_eq!(seg.page(PhysAddr(0)).unwrap()[255], 255);
    }

    /// What a byte at `a` of memory is by the plain reading of the
    /// segments: `None` outside all.
    fn model_byte(file: &[u8], segs: &[Segment], a: u64) -> Option<u8> {
        let s = segs
            .iter()
            .find(|s| s.phys <= a && a - s.phys < s.mem_size)?;
        let k = a - s.phys;
        Some(if k < s.file_size {
            file[(s.offset + k) as usize]
        } else {
            0
        })
    }

    /// Whether the model sees a lie the image must refuse.
    fn model_lies(file_len: u64, segs: &[Segment]) -> bool {
        let live: Vec<&Segment> = segs.iter().filter(|s| s.mem_size > 0).collect();
        segs.iter()
            .any(|s| s.file_size > s.mem_size || s.offset + s.file_size > file_len)
            || live.iter().enumerate().any(|(i, a)| {
                live.iter().skip(i + 1).any(|b| {
                    let mem = a.phys < b.phys + b.mem_size && b.phys < a.phys + a.mem_size;
                    let file = a.file_size > 0
                        && b.file_size > 0
                        && a.offset < b.offset + b.file_size
                        && b.offset < a.offset + a.file_size;
                    mem || file
                })
            })
    }

    proptest::proptest! {
        // No failure file (Miri runs these unit tests in isolation, with no
        // file system), and fewer cases under Miri, which is slow.
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: None,
            ..proptest::test_runner::Config::with_cases(if cfg!(miri) { 4 } else { 512 })
        })]
        /// Random segments (byte-granular, touching, overlapping, lying):
        /// the image is refused exactly when the model sees a lie, and
        /// otherwise every page reads as the model says, or faults where
        /// the model has a byte missing.
        #[test]
        fn segments_read_as_the_model_says(
            raw in proptest::collection::vec(
                (0u64..8, 0u64..1024, 0u64..8 * 1024, 0u64..1536, 0u64..2048),
                0..6,
            ),
            reverse in proptest::prelude::any::<bool>(),
            seed in proptest::prelude::any::<u8>(),
        ) {
            // In units of 4 bytes. Each segment follows the previous one:
            // overlapping it (g 0..=1), touching it (2..=4) or after a gap;
            // its file bytes follow the previous ones, or lie anywhere (1 in
            // 7), so that touching, straddled pages and lies all come up.
            const Q: u64 = 4;
            let (mut end, mut file_end) = (0u64, 0u64);
            let mut segs: Vec<Segment> = Vec::new();
            for &(g, amt, o, f, m) in &raw {
                let phys = match g {
                    0 | 1 => end.saturating_sub(amt + 1),
                    2..=4 => end,
                    _ => end + amt * g,
                };
                let offset = if o % 7 == 0 { o } else { file_end + o % 64 };
                let file_size = f.min(m + 64);
                segs.push(seg(phys * Q, offset * Q, file_size * Q, m * Q));
                end = end.max(phys + m);
                file_end = offset + file_size;
            }
            if reverse {
                segs.reverse();
            }
            let file: Vec<u8> = (0..8 * PS).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let lies = model_lies(file.len() as u64, &segs);
            match RawImage::from_vec_segments(file.clone(), &segs, PS) {
                Err(e) => proptest::prop_assert!(lies, "refused without a lie: {e}"),
                Ok(img) => {
                    proptest::prop_assert!(!lies, "a lie accepted: {segs:?}");
                    for n in 0..16u64 {
                        let a = n * PS as u64;
                        let want: Vec<Option<u8>> =
                            (a..a + PS as u64).map(|x| model_byte(&file, &segs, x)).collect();
                        match img.page(PhysAddr(a)) {
                            Ok(p) => {
                                proptest::prop_assert!(want.iter().all(Option::is_some));
                                proptest::prop_assert!(
                                    p.iter().zip(&want).all(|(b, w)| Some(*b) == *w)
                                );
                            }
                            Err(Error::Memory { fault, .. }) => {
                                let expect = if want[0].is_none() {
                                    Fault::OutOfRange
                                } else {
                                    Fault::PastEndOfImage
                                };
                                proptest::prop_assert!(want.iter().any(Option::is_none));
                                proptest::prop_assert_eq!(fault, expect);
                            }
                            Err(e) => proptest::prop_assert!(false, "{e}"),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_flat_dump_reads_as_before() {
        let mut bytes = alloc::vec![0u8; 2 * PS + 100];
        bytes[PS] = 9;
        let img = RawImage::from_vec(bytes, 0x1000, PS).unwrap();
        assert_eq!(img.page(PhysAddr(0x2000)).unwrap()[0], 9);
        assert_eq!(fault(&img, 0x3000), Some(Fault::PastEndOfImage));
        assert!(img.segments().is_empty());
    }
}
