//! KHO vmalloc areas: the second linked-page format of KHO.
//!
//! A vmalloc'ed area is handed over as a 16-byte `struct kho_vmalloc`
//! ([`VmallocSer`]): the physical address of its first chunk, its size in
//! pages, its flags and the page order of its runs. Each chunk is one page:
//! an 8-byte `hdr.next` (the next chunk's physical address, 0 in the last),
//! then `(page_size - 8) / 8` slots, each the physical address of one run
//! of `1 << order` contiguous pages, ended by a 0 when the chunk is not full
//! (mainline `kho_preserve_vmalloc` / `kho_restore_vmalloc`, layouts of
//! linux/kho/abi/kexec_handover.h; all words native endian).
//!
//! The kernel's writer starts a new chunk as soon as one is full, so a full
//! chunk is never the last: the last chunk always holds the terminating 0
//! (it may hold nothing else). [`Vmalloc::restore`] holds a chain to that
//! shape and checks every address before it is read; see its docs for the
//! list of rejections.
//!
//! This module implements the format from its facts (the runtime cannot
//! depend on the generated `kho::abi`); the facade crate converts its
//! generated `KhoVmalloc` to and from [`VmallocSer`].

use alloc::vec::Vec;

use crate::memory::read_u64;
use crate::{Error, Fault, MemoryId, PhysAddr, PreservedMemory, Result};

/// Bytes of a `struct kho_vmalloc` descriptor.
pub const VMALLOC_SER_SIZE: usize = 16;

/// Bytes of a chunk's header (`struct kho_vmalloc_hdr`).
pub const VMALLOC_HDR_SIZE: usize = 8;

/// Flag: the area was made by `vmalloc` (mainline `KHO_VMALLOC_ALLOC`).
pub const KHO_VMALLOC_ALLOC: u16 = 0x0001;

/// Flag: the area is mapped with huge pages (mainline `KHO_VMALLOC_HUGE_VMAP`).
pub const KHO_VMALLOC_HUGE_VMAP: u16 = 0x0002;

/// Every flag the format defines; the kernel refuses an area with others.
pub const KHO_VMALLOC_FLAGS: u16 = KHO_VMALLOC_ALLOC | KHO_VMALLOC_HUGE_VMAP;

/// The largest page order accepted: a run of `1 << 20` pages (4 GiB of
/// 4 KiB pages) is beyond any huge mapping the kernel makes.
pub const MAX_VMALLOC_ORDER: u16 = 20;

/// The default limit on an area's pages for [`Vmalloc::restore`]: 1 << 20
/// pages (4 GiB of 4 KiB pages), 8 MiB of page addresses in memory.
pub const DEFAULT_MAX_VMALLOC_PAGES: usize = 1 << 20;

/// Slots (run addresses) one chunk holds: `KHO_VMALLOC_SIZE`, 511 with
/// 4 KiB pages, 2047 with 16 KiB, 8191 with 64 KiB.
pub const fn vmalloc_slots(page_size: usize) -> usize {
    page_size.saturating_sub(VMALLOC_HDR_SIZE) / 8
}

/// A `struct kho_vmalloc`: how the outgoing kernel names a vmalloc area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VmallocSer {
    /// Physical address of the first chunk (0: no chunk).
    pub first: PhysAddr,
    /// Size of the area in pages (not runs).
    pub total_pages: u32,
    /// `KHO_VMALLOC_*` flags.
    pub flags: u16,
    /// Page order of each run.
    pub order: u16,
}

impl VmallocSer {
    /// Decodes the 16 bytes at the start of `bytes`; `None` when shorter.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let b: &[u8; VMALLOC_SER_SIZE] = bytes.get(..VMALLOC_SER_SIZE)?.try_into().ok()?;
        let [a0, a1, a2, a3, a4, a5, a6, a7, t0, t1, t2, t3, f0, f1, o0, o1] = *b;
        Some(VmallocSer {
            first: PhysAddr(u64::from_ne_bytes([a0, a1, a2, a3, a4, a5, a6, a7])),
            total_pages: u32::from_ne_bytes([t0, t1, t2, t3]),
            flags: u16::from_ne_bytes([f0, f1]),
            order: u16::from_ne_bytes([o0, o1]),
        })
    }

    /// The 16 bytes of the C struct.
    pub fn to_bytes(&self) -> [u8; VMALLOC_SER_SIZE] {
        let mut b = [0u8; VMALLOC_SER_SIZE];
        b[..8].copy_from_slice(&self.first.get().to_ne_bytes());
        b[8..12].copy_from_slice(&self.total_pages.to_ne_bytes());
        b[12..14].copy_from_slice(&self.flags.to_ne_bytes());
        b[14..16].copy_from_slice(&self.order.to_ne_bytes());
        b
    }
}

/// Why a vmalloc area was rejected on restore ([`Error::Vmalloc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmallocFault {
    /// The chunk's own address is unusable.
    Chunk(Fault),
    /// The chunk list loops: this chunk is chunk `to_index` again.
    Cycle {
        /// Index of the chunk met again.
        to_index: usize,
    },
    /// A slot's run address is unusable: not aligned to the run
    /// (`page_size << order`), or one of its pages outside memory or not
    /// handed over.
    Page {
        /// The slot in the chunk.
        slot: usize,
        /// The page at fault (the run's address, or a page inside the run).
        page: PhysAddr,
        /// What is wrong with it.
        fault: Fault,
    },
    /// A page is listed twice, or is also a chunk.
    Duplicate {
        /// The slot in the chunk (`None`: the chunk page itself).
        slot: Option<usize>,
        /// The page listed again.
        page: PhysAddr,
    },
    /// The chunks list more pages than the descriptor's `total_pages`.
    TooManyPages {
        /// The slot whose run goes past it.
        slot: usize,
        /// The descriptor's count.
        total_pages: u32,
    },
    /// The chain ended with fewer pages than `total_pages`.
    TooFewPages {
        /// Pages the chunks list.
        found: usize,
        /// The descriptor's count.
        total_pages: u32,
    },
    /// `total_pages` is over the reader's limit.
    PageLimit {
        /// The descriptor's count.
        total_pages: u32,
        /// The limit in force.
        limit: usize,
    },
    /// The last chunk is full: no terminating 0 (the kernel always starts a
    /// new chunk after a full one).
    MissingTerminator,
    /// The chunk's list ends (a 0 slot) before the chunk is full, yet it
    /// links to another chunk.
    EndsEarly {
        /// The 0 slot.
        slot: usize,
    },
    /// The descriptor's order is over [`MAX_VMALLOC_ORDER`].
    BadOrder {
        /// The order found.
        order: u16,
    },
    /// The descriptor has flags the format does not define.
    BadFlags {
        /// The flags found.
        flags: u16,
    },
}

impl core::fmt::Display for VmallocFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VmallocFault::Chunk(fault) => fault.fmt(f),
            VmallocFault::Cycle { to_index } => {
                write!(f, "next links back to chunk {to_index} (cycle)")
            }
            VmallocFault::Page { slot, page, fault } => {
                write!(f, "slot {slot}: page {page}: {fault}")
            }
            VmallocFault::Duplicate {
                slot: Some(slot),
                page,
            } => write!(f, "slot {slot}: page {page} is listed twice or is a chunk"),
            VmallocFault::Duplicate { slot: None, page } => {
                write!(f, "chunk page {page} is also listed as a data page")
            }
            VmallocFault::TooManyPages { slot, total_pages } => write!(
                f,
                "slot {slot}: more pages than the area's total_pages {total_pages}"
            ),
            VmallocFault::TooFewPages { found, total_pages } => write!(
                f,
                "the chunks list {found} pages, fewer than the area's total_pages {total_pages}"
            ),
            VmallocFault::PageLimit { total_pages, limit } => write!(
                f,
                "total_pages {total_pages} is over the limit of {limit} pages"
            ),
            VmallocFault::MissingTerminator => {
                f.write_str("last chunk is full: no terminating 0 slot")
            }
            VmallocFault::EndsEarly { slot } => write!(
                f,
                "slot {slot} ends the list before the chunk is full, yet next links on"
            ),
            VmallocFault::BadOrder { order } => {
                write!(f, "order {order} is over {MAX_VMALLOC_ORDER}")
            }
            VmallocFault::BadFlags { flags } => write!(
                f,
                "flags {flags:#x} has bits outside {KHO_VMALLOC_FLAGS:#x}"
            ),
        }
    }
}

/// A restored (incoming) or written (outgoing) vmalloc area: its chunk
/// pages and every one of its data pages, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmalloc {
    mem: MemoryId,
    page_size: usize,
    incoming: bool,
    order: u16,
    flags: u16,
    chunks: Vec<PhysAddr>,
    pages: Vec<PhysAddr>,
}

fn err(chunk: usize, addr: PhysAddr, fault: VmallocFault) -> Error {
    Error::Vmalloc { chunk, addr, fault }
}

impl Vmalloc {
    /// Restores the area `ser` names with [`DEFAULT_MAX_VMALLOC_PAGES`].
    /// See [`restore_with_limit`](Self::restore_with_limit).
    pub fn restore<M: PreservedMemory + ?Sized>(mem: &M, ser: &VmallocSer) -> Result<Self> {
        Self::restore_with_limit(mem, ser, DEFAULT_MAX_VMALLOC_PAGES)
    }

    /// Restores the area `ser` names, trusting nothing in it or in memory.
    ///
    /// Rejected, each with [`Error::Vmalloc`] naming the chunk's index (0
    /// is `ser.first`; faults of the descriptor itself name chunk 0), its
    /// address and a [`VmallocFault`]: flags outside [`KHO_VMALLOC_FLAGS`];
    /// an order over [`MAX_VMALLOC_ORDER`]; `total_pages` over `max_pages`;
    /// a chunk address outside memory, unaligned or not handed over; a
    /// cycle; a run address unaligned to its run, or any of its pages
    /// outside memory or not handed over; a page listed twice or that is
    /// also a chunk; more pages than `total_pages`, or fewer; a full last
    /// chunk (no terminator); a chunk whose list ends early but links on.
    /// Slots after a terminator are ignored, as the kernel does.
    ///
    /// It reads each chunk once, keeps at most `max_pages` page addresses
    /// and `max_pages / slots + 2` chunk addresses, and changes nothing: on
    /// failure no page is released.
    pub fn restore_with_limit<M: PreservedMemory + ?Sized>(
        mem: &M,
        ser: &VmallocSer,
        max_pages: usize,
    ) -> Result<Self> {
        let page_size = mem.page_size();
        crate::check_page_size(page_size)?;
        let head = ser.first;
        if ser.flags & !KHO_VMALLOC_FLAGS != 0 {
            return Err(err(0, head, VmallocFault::BadFlags { flags: ser.flags }));
        }
        if ser.order > MAX_VMALLOC_ORDER {
            return Err(err(0, head, VmallocFault::BadOrder { order: ser.order }));
        }
        let total = ser.total_pages as usize;
        if total > max_pages {
            return Err(err(
                0,
                head,
                VmallocFault::PageLimit {
                    total_pages: ser.total_pages,
                    limit: max_pages,
                },
            ));
        }
        let slots = vmalloc_slots(page_size);
        let run = 1usize << ser.order;
        let run_bytes = (page_size as u64) << ser.order;
        let mut pages: Vec<PhysAddr> = Vec::new();
        pages
            .try_reserve_exact(total)
            .map_err(|_| Error::OutOfMemory)?;
        let mut chunks: Vec<PhysAddr> = Vec::new();
        let (mut tortoise, mut power) = (PhysAddr::NULL, 1usize);
        let mut next = head;
        while !next.is_null() {
            let index = chunks.len();
            if next == tortoise {
                let to_index = chunks.iter().position(|&c| c == next).unwrap_or(0);
                return Err(err(index, next, VmallocFault::Cycle { to_index }));
            }
            if index == power {
                tortoise = next;
                power = power.saturating_mul(2);
            }
            let page = mem.page(next).map_err(|e| match e {
                Error::Memory { fault, .. } => err(index, next, VmallocFault::Chunk(fault)),
                other => other,
            })?;
            if !mem.is_incoming(next) {
                return Err(err(index, next, VmallocFault::Chunk(Fault::NotPreserved)));
            }
            let link = PhysAddr(read_u64(page, 0));
            let mut terminated = None;
            for slot in 0..slots {
                let phys = read_u64(page, VMALLOC_HDR_SIZE + slot * 8);
                if phys == 0 {
                    terminated = Some(slot);
                    break;
                }
                if pages.len() + run > total {
                    return Err(err(
                        index,
                        next,
                        VmallocFault::TooManyPages {
                            slot,
                            total_pages: ser.total_pages,
                        },
                    ));
                }
                let bad = |page: u64, fault| {
                    err(
                        index,
                        next,
                        VmallocFault::Page {
                            slot,
                            page: PhysAddr(page),
                            fault,
                        },
                    )
                };
                if !phys.is_multiple_of(run_bytes) {
                    return Err(bad(phys, Fault::Unaligned));
                }
                for j in 0..run as u64 {
                    let Some(p) = phys.checked_add(j * page_size as u64) else {
                        return Err(bad(phys, Fault::OutOfRange));
                    };
                    let p = PhysAddr(p);
                    match mem.page(p) {
                        Ok(_) => {}
                        Err(Error::Memory { fault, .. }) => return Err(bad(p.get(), fault)),
                        Err(other) => return Err(other),
                    }
                    if !mem.is_incoming(p) {
                        return Err(bad(p.get(), Fault::NotPreserved));
                    }
                    pages.push(p);
                }
            }
            match terminated {
                None if link.is_null() => {
                    return Err(err(index, next, VmallocFault::MissingTerminator));
                }
                Some(slot) if !link.is_null() => {
                    return Err(err(index, next, VmallocFault::EndsEarly { slot }));
                }
                _ => {}
            }
            chunks.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            chunks.push(next);
            next = link;
        }
        if pages.len() != total {
            let (index, addr) = match chunks.last() {
                Some(&last) => (chunks.len() - 1, last),
                None => (0, head),
            };
            return Err(err(
                index,
                addr,
                VmallocFault::TooFewPages {
                    found: pages.len(),
                    total_pages: ser.total_pages,
                },
            ));
        }
        check_distinct(&chunks, &pages, run, slots)?;
        Ok(Vmalloc {
            mem: mem.id(),
            page_size,
            incoming: true,
            order: ser.order,
            flags: ser.flags,
            chunks,
            pages,
        })
    }

    /// Writes `data` into fresh preserved pages of `mem` (order 0, flags
    /// [`KHO_VMALLOC_ALLOC`]), the last page zero-padded, and the chunk list
    /// naming them, as `kho_preserve_vmalloc` does. Empty data is an area of
    /// no page with one empty chunk.
    ///
    /// On error every page it allocated is freed again.
    pub fn write<M: PreservedMemory + ?Sized>(mem: &mut M, data: &[u8]) -> Result<Self> {
        let page_size = mem.page_size();
        crate::check_page_size(page_size)?;
        let n = data.len().div_ceil(page_size);
        if u32::try_from(n).is_err() {
            return Err(Error::TooLong {
                what: "vmalloc area",
                len: data.len(),
                capacity: u32::MAX as usize * page_size,
            });
        }
        let mut pages = Vec::new();
        pages.try_reserve_exact(n).map_err(|_| Error::OutOfMemory)?;
        let result = (|| {
            for part in data.chunks(page_size) {
                let p = mem.alloc_preserve()?;
                pages.push(p);
                // Fresh pages are zeroed: the tail of the last stays zero.
                let dst = mem.page_mut(p)?;
                if let Some(d) = dst.get_mut(..part.len()) {
                    d.copy_from_slice(part);
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            for &p in &pages {
                let _ = mem.unpreserve_free(p);
            }
            return Err(e);
        }
        match Self::write_runs(mem, &pages, 0, KHO_VMALLOC_ALLOC) {
            Ok(v) => Ok(v),
            Err(e) => {
                for &p in &pages {
                    let _ = mem.unpreserve_free(p);
                }
                Err(e)
            }
        }
    }

    /// Writes the chunk list for runs of `1 << order` pages the caller has
    /// already preserved in `mem` (each `runs[i]` the first page of a run,
    /// aligned to the run), in fresh preserved chunk pages. The area owns
    /// the runs from then on ([`free`](Self::free) frees them).
    ///
    /// Refused: flags outside [`KHO_VMALLOC_FLAGS`], an order over
    /// [`MAX_VMALLOC_ORDER`], a run unaligned, a null run, or more than
    /// `u32::MAX` pages in all. On error the chunks it allocated are freed
    /// (the runs are left to the caller).
    pub fn write_runs<M: PreservedMemory + ?Sized>(
        mem: &mut M,
        runs: &[PhysAddr],
        order: u16,
        flags: u16,
    ) -> Result<Self> {
        let page_size = mem.page_size();
        crate::check_page_size(page_size)?;
        let first = runs.first().copied().unwrap_or(PhysAddr::NULL);
        if flags & !KHO_VMALLOC_FLAGS != 0 {
            return Err(err(0, first, VmallocFault::BadFlags { flags }));
        }
        if order > MAX_VMALLOC_ORDER {
            return Err(err(0, first, VmallocFault::BadOrder { order }));
        }
        let run = 1usize << order;
        let run_bytes = (page_size as u64) << order;
        let slots = vmalloc_slots(page_size);
        let total = runs
            .len()
            .checked_mul(run)
            .filter(|&t| t <= u32::MAX as usize);
        let Some(total) = total else {
            return Err(Error::TooLong {
                what: "vmalloc area",
                len: runs.len(),
                capacity: u32::MAX as usize / run,
            });
        };
        for (i, r) in runs.iter().enumerate() {
            if r.is_null() || !r.get().is_multiple_of(run_bytes) {
                let fault = if r.is_null() {
                    Fault::OutOfRange
                } else {
                    Fault::Unaligned
                };
                return Err(err(
                    i / slots,
                    PhysAddr::NULL,
                    VmallocFault::Page {
                        slot: i % slots,
                        page: *r,
                        fault,
                    },
                ));
            }
        }
        let mut pages = Vec::new();
        pages
            .try_reserve_exact(total)
            .map_err(|_| Error::OutOfMemory)?;
        for r in runs {
            for j in 0..run as u64 {
                pages.push(PhysAddr(r.get() + j * page_size as u64));
            }
        }
        // One chunk per `slots` runs, and one more: after a full chunk the
        // kernel starts a new (possibly empty) one, so the last always ends
        // with a 0.
        let n_chunks = runs.len() / slots + 1;
        let mut chunks = Vec::new();
        chunks
            .try_reserve_exact(n_chunks)
            .map_err(|_| Error::OutOfMemory)?;
        let result = (|| {
            for _ in 0..n_chunks {
                chunks.push(mem.alloc_preserve()?);
            }
            for (c, &addr) in chunks.iter().enumerate() {
                let link = chunks.get(c + 1).copied().unwrap_or(PhysAddr::NULL);
                let page = mem.page_mut(addr)?;
                page.fill(0);
                if let Some(h) = page.get_mut(..VMALLOC_HDR_SIZE) {
                    h.copy_from_slice(&link.get().to_ne_bytes());
                }
                let from = c * slots;
                let mine = runs.get(from..).unwrap_or(&[]);
                for (s, r) in mine.iter().take(slots).enumerate() {
                    let off = VMALLOC_HDR_SIZE + s * 8;
                    if let Some(w) = page.get_mut(off..off + 8) {
                        w.copy_from_slice(&r.get().to_ne_bytes());
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            for &c in &chunks {
                let _ = mem.unpreserve_free(c);
            }
            return Err(e);
        }
        Ok(Vmalloc {
            mem: mem.id(),
            page_size,
            incoming: false,
            order,
            flags,
            chunks,
            pages,
        })
    }

    /// The descriptor to hand over (the `struct kho_vmalloc`).
    pub fn ser(&self) -> VmallocSer {
        VmallocSer {
            first: self.chunks.first().copied().unwrap_or(PhysAddr::NULL),
            total_pages: self.pages.len() as u32,
            flags: self.flags,
            order: self.order,
        }
    }

    /// The chunk pages, in list order.
    pub fn chunks(&self) -> &[PhysAddr] {
        &self.chunks
    }

    /// Every data page, in the area's order (runs expanded).
    pub fn pages(&self) -> &[PhysAddr] {
        &self.pages
    }

    /// The area's size in bytes (pages times page size).
    pub fn len_bytes(&self) -> usize {
        self.pages.len().saturating_mul(self.page_size)
    }

    /// The page order of the runs.
    pub fn order(&self) -> u16 {
        self.order
    }

    /// The `KHO_VMALLOC_*` flags.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// Whether the area was restored from the previous kernel.
    pub fn is_incoming(&self) -> bool {
        self.incoming
    }

    fn check_mem<M: PreservedMemory + ?Sized>(&self, mem: &M) -> Result<()> {
        if mem.id() != self.mem {
            return Err(Error::WrongMemory {
                expected: self.mem,
                found: mem.id(),
            });
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes of the area from byte `offset` into `buf`.
    /// A range past [`len_bytes`](Self::len_bytes) is [`Error::TooLong`].
    pub fn read<M: PreservedMemory + ?Sized>(
        &self,
        mem: &M,
        offset: usize,
        buf: &mut [u8],
    ) -> Result<()> {
        self.check_mem(mem)?;
        let end = offset.checked_add(buf.len());
        if end.is_none_or(|e| e > self.len_bytes()) {
            return Err(Error::TooLong {
                what: "vmalloc read",
                len: offset.saturating_add(buf.len()),
                capacity: self.len_bytes(),
            });
        }
        let ps = self.page_size;
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done;
            let Some(&p) = self.pages.get(at / ps) else {
                break;
            };
            let src = mem.page(p)?;
            let from = at % ps;
            let n = (ps - from).min(buf.len() - done);
            if let (Some(d), Some(s)) = (buf.get_mut(done..done + n), src.get(from..from + n)) {
                d.copy_from_slice(s);
            }
            done += n;
        }
        Ok(())
    }

    /// The first `len` bytes of the area (at most
    /// [`len_bytes`](Self::len_bytes), else [`Error::TooLong`]).
    pub fn to_vec<M: PreservedMemory + ?Sized>(&self, mem: &M, len: usize) -> Result<Vec<u8>> {
        if len > self.len_bytes() {
            return Err(Error::TooLong {
                what: "vmalloc read",
                len,
                capacity: self.len_bytes(),
            });
        }
        let mut v = Vec::new();
        v.try_reserve_exact(len).map_err(|_| Error::OutOfMemory)?;
        v.resize(len, 0);
        self.read(mem, 0, &mut v)?;
        Ok(v)
    }

    /// Releases every chunk and data page: claimed and freed
    /// (`restore_free`) when incoming, unpreserved and freed when outgoing.
    /// Stops at the first refusal and returns it.
    pub fn free<M: PreservedMemory + ?Sized>(self, mem: &mut M) -> Result<()> {
        self.check_mem(mem)?;
        for &p in self.chunks.iter().chain(self.pages.iter()) {
            if self.incoming {
                mem.restore_free(p)?;
            } else {
                mem.unpreserve_free(p)?;
            }
        }
        Ok(())
    }
}

/// No page may be listed twice or be a chunk: restoring it twice would
/// hand one page to two owners.
fn check_distinct(chunks: &[PhysAddr], pages: &[PhysAddr], run: usize, slots: usize) -> Result<()> {
    // (address, position): position < pages.len() is a data page, else a chunk.
    let mut all: Vec<(u64, usize)> = Vec::new();
    all.try_reserve_exact(pages.len() + chunks.len())
        .map_err(|_| Error::OutOfMemory)?;
    all.extend(pages.iter().enumerate().map(|(i, p)| (p.get(), i)));
    all.extend(
        chunks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.get(), pages.len() + i)),
    );
    all.sort_unstable();
    for w in all.windows(2) {
        let &[(a, i), (b, j)] = w else { continue };
        if a != b {
            continue;
        }
        let (lo, hi) = (i.min(j), i.max(j));
        // Name the later data page listed, or the data page that is also a
        // chunk, or (two chunks alike, which the cycle check already
        // catches) the later chunk.
        let data = if hi < pages.len() {
            Some(hi)
        } else if lo < pages.len() {
            Some(lo)
        } else {
            None
        };
        let (chunk, slot) = match data {
            Some(k) => ((k / run) / slots, Some((k / run) % slots)),
            None => (hi - pages.len(), None),
        };
        let addr = chunks.get(chunk).copied().unwrap_or(PhysAddr::NULL);
        return Err(err(
            chunk,
            addr,
            VmallocFault::Duplicate {
                slot,
                page: PhysAddr(a),
            },
        ));
    }
    Ok(())
}
