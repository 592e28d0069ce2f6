//! ELF core files as images: kdump's `/proc/vmcore` (and makedumpfile's
//! ELF output), `/proc/kcore` and QEMU's `dump-guest-memory`.
//!
//! A core's physical memory is its `PT_LOAD` program headers: `p_memsz`
//! bytes from physical address `p_paddr`, the first `p_filesz` of them in
//! the file at `p_offset`, zeros after. Only 64-bit little-endian `ET_CORE`
//! files are read. The headers are parsed with the `object` crate from the
//! same open file the pages are then read from
//! ([`RawImage::into_segments`]), and the runtime checks the segments
//! (inside the file, not overlapping) as it checks a raw dump's addresses.
//!
//! Two producers' habits are accepted, and only these:
//! - `p_paddr` of all ones: `/proc/kcore` marks so the areas that are not
//!   physical memory (vmalloc, modules, vmemmap); they are left out.
//! - A `PT_LOAD` wholly inside another one's physical range at another
//!   `p_vaddr` and a `p_paddr` other than 0 is an alias: the kernel-text
//!   segment of x86-64 vmcores and kcores maps again part of a RAM segment.
//!   It is left out (its bytes are not read). Any other overlap is an error:
//!   an old kcore that leaves every `p_paddr` 0 is refused, not guessed at.
//!
//! Segments are numbered as the runtime names them: segment N is the N-th
//! `PT_LOAD` (from 0), whose program header index is given beside it.

use std::io::{self, Read, Seek, SeekFrom};

use kho_runtime::{RawImage, Segment, MAX_SEGMENTS};
use object::elf::{self, FileHeader64, ProgramHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{LittleEndian, ReadCache};

/// The `p_paddr` with which /proc/kcore marks a PT_LOAD that is not
/// physical memory.
const NO_PHYS: u64 = u64::MAX;

/// The first bytes of every ELF file.
const MAGIC: [u8; 4] = *b"\x7fELF";

/// Whether the file behind `img` starts with the ELF magic.
pub fn is_elf(img: &RawImage) -> bool {
    let mut magic = [0u8; 4];
    img.read_at(&mut magic, 0).is_ok() && magic == MAGIC
}

/// The physical memory of the ELF core file `img` (opened as a flat dump):
/// its `PT_LOAD` segments, checked. The error is one line naming the file
/// and, for a bad segment, its index and numbers.
pub fn into_core(img: RawImage, path: &str) -> Result<RawImage, String> {
    let segments = segments(&img).map_err(|what| format!("ELF core {path}: {what}"))?;
    img.into_segments(&segments).map_err(|e| e.to_string())
}

/// Reads `img`'s file for `object`, through the checked positioned reads.
struct Reader<'a> {
    img: &'a RawImage,
    pos: u64,
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = (self.img.len() as u64).saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let Some(part) = buf.get_mut(..n) else {
            return Ok(0);
        };
        self.img.read_at(part, self.pos).map_err(io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Reader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.img.len() as u64;
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

/// One PT_LOAD as read, before the producers' habits are sorted out.
struct Load {
    /// Its program header index.
    header: usize,
    vaddr: u64,
    seg: Segment,
}

fn segments(img: &RawImage) -> Result<Vec<Segment>, String> {
    let len = img.len();
    let mut ident = [0u8; 16];
    img.read_at(&mut ident, 0)
        .map_err(|_| format!("the ELF identification is cut short: the file is {len} bytes"))?;
    if ident.get(..4) != Some(&MAGIC[..]) {
        return Err("not an ELF file (no \\x7fELF magic)".into());
    }
    let [class, data, version] = [ident[4], ident[5], ident[6]];
    if class != elf::ELFCLASS64 {
        return Err(format!(
            "ELF class {class} is not 64-bit (ELFCLASS64): only 64-bit little-endian cores are read"
        ));
    }
    if data != elf::ELFDATA2LSB {
        return Err(format!(
            "ELF data encoding {data} is not little-endian (ELFDATA2LSB): \
             only 64-bit little-endian cores are read"
        ));
    }
    if version != elf::EV_CURRENT {
        return Err(format!("ELF version {version} is not EV_CURRENT (1)"));
    }
    let cache = ReadCache::new(Reader { img, pos: 0 });
    let endian = LittleEndian;
    let header = FileHeader64::<LittleEndian>::parse(&cache).map_err(|e| {
        format!("the 64-byte ELF header cannot be read ({e}): the file is {len} bytes")
    })?;
    let kind = header.e_type(endian);
    if kind != elf::ET_CORE {
        return Err(format!(
            "e_type {kind} is not ET_CORE (4): not a core file (an executable, \
             shared object or relocatable object holds no memory image)"
        ));
    }
    let phnum = header
        .phnum(endian, &cache)
        .map_err(|e| format!("the program header count cannot be read: {e}"))?;
    if phnum > MAX_SEGMENTS {
        return Err(format!(
            "{phnum} program headers, more than the {MAX_SEGMENTS} read"
        ));
    }
    let phoff = header.e_phoff(endian);
    let entsize = header.e_phentsize(endian);
    if phnum > 0 && usize::from(entsize) != size_of::<ProgramHeader64<LittleEndian>>() {
        return Err(format!(
            "e_phentsize {entsize} is not the 56 bytes of a 64-bit program header"
        ));
    }
    let table = (phnum as u64) * 56;
    if phnum > 0 && phoff.checked_add(table).is_none_or(|end| end > len as u64) {
        return Err(format!(
            "the program header table ({phnum} entries at offset {phoff:#x}) \
             runs past the end of the {len}-byte file"
        ));
    }
    let headers = header
        .program_headers(endian, &cache)
        .map_err(|e| format!("the program headers cannot be read: {e}"))?;
    let loads: Vec<Load> = headers
        .iter()
        .enumerate()
        .filter(|(_, ph)| ph.p_type(endian) == elf::PT_LOAD)
        .map(|(header, ph)| Load {
            header,
            vaddr: ph.p_vaddr(endian),
            seg: Segment {
                phys: ph.p_paddr(endian),
                offset: ph.p_offset(endian),
                file_size: ph.p_filesz(endian),
                mem_size: ph.p_memsz(endian),
            },
        })
        .collect();
    if loads.is_empty() {
        return Err(format!(
            "no PT_LOAD program header among its {phnum}: the core holds no memory"
        ));
    }
    // The runtime checks the rest (and names a bad segment by its index);
    // checked here first, so the message gives the program header too.
    for (index, l) in loads.iter().enumerate() {
        let s = &l.seg;
        if s.phys == NO_PHYS {
            // Left out: its bytes are never read, so its numbers do not
            // matter (a kcore's are its virtual layout).
            continue;
        }
        if s.file_size > s.mem_size {
            return Err(format!(
                "{}: p_filesz is larger than p_memsz",
                describe(index, l)
            ));
        }
        if s.offset
            .checked_add(s.file_size)
            .is_none_or(|e| e > len as u64)
        {
            return Err(format!(
                "{}: its file bytes run past the end of the {len}-byte file",
                describe(index, l)
            ));
        }
    }
    Ok(kept(&loads))
}

/// The segment as the errors name it: the runtime's words, plus its
/// program header index and `p_vaddr`.
fn describe(index: usize, l: &Load) -> String {
    let s = &l.seg;
    format!(
        "segment {index} (program header {}: p_paddr {:#x}, p_memsz {:#x}, p_offset {:#x}, \
         p_filesz {:#x}, p_vaddr {:#x})",
        l.header, s.phys, s.mem_size, s.offset, s.file_size, l.vaddr
    )
}

/// The PT_LOADs to map, in order: those with no physical address and the
/// aliases become empty segments (so the others keep their index).
fn kept(loads: &[Load]) -> Vec<Segment> {
    const EMPTY: Segment = Segment {
        phys: 0,
        offset: 0,
        file_size: 0,
        mem_size: 0,
    };
    let mut out: Vec<Segment> = loads.iter().map(|l| l.seg).collect();
    for (slot, l) in out.iter_mut().zip(loads) {
        if l.seg.phys == NO_PHYS {
            *slot = EMPTY;
        }
    }
    // By start, the longest first: a segment is inside an earlier one iff
    // it ends no later than the furthest end seen so far.
    let mut order: Vec<usize> = (0..loads.len())
        .filter(|&i| out.get(i).is_some_and(|s| s.mem_size > 0))
        .collect();
    let end = |i: usize| {
        loads
            .get(i)
            .map_or(0, |l| l.seg.phys.saturating_add(l.seg.mem_size))
    };
    order.sort_unstable_by_key(|&i| (loads.get(i).map_or(0, |l| l.seg.phys), u64::MAX - end(i)));
    let mut widest: Option<usize> = None;
    for &i in &order {
        let Some(l) = loads.get(i) else { continue };
        match widest.and_then(|w| loads.get(w).map(|c| (w, c))) {
            Some((w, c)) if end(i) <= end(w) => {
                if l.seg.phys != 0 && l.vaddr != c.vaddr {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = EMPTY;
                    }
                }
                // Otherwise the runtime refuses the overlap.
            }
            _ => widest = Some(i),
        }
    }
    out
}
