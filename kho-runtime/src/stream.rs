//! Bulk copies that bypass the cache: one of the crate's two `unsafe`
//! modules (the copy loops, their fence and a prefetch hint; the other is
//! `plain`, the byte view of plain entries).
//!
//! A block-set write moves megabytes that nothing in this kernel reads
//! again, and a bulk read fills an array larger than the cache. Ordinary
//! stores first read every destination line into the cache (a
//! read-for-ownership) and later write it back: three memory transfers per
//! line where the data needs one. glibc's `memcpy` avoids that for large
//! copies with non-temporal stores, and so does the kernel for data it
//! writes once (`memcpy_flushcache`). A block's payload is a few KiB, below
//! any memcpy's threshold, so the block-set bulk paths ask for the
//! streaming copy themselves when the whole transfer is large
//! ([`STREAM_MIN`]): on x86-64, full cache lines go out with `movntdq`,
//! the unaligned head and tail with an ordinary copy, and an `sfence` ends
//! the transfer so that every later store (the publish, anything another
//! thread is told through) is ordered after it. Elsewhere, and under Miri,
//! it is `copy_from_slice`.

/// Transfers of at least this many bytes stream past the cache: 1 MiB,
/// well above what a caller could still find in L1/L2 afterwards and far
/// below a last-level cache, where a cached copy stops paying off.
pub(crate) const STREAM_MIN: usize = 1 << 20;

/// A streamed block is built and sent in pieces of about this many bytes,
/// so that reading its source and writing it overlap.
pub(crate) const STREAM_CHUNK: usize = 512;

/// How far ahead of its use a streamed source is prefetched: past the
/// next 4 KiB page, where the hardware prefetcher stops.
pub(crate) const PREFETCH_AHEAD: usize = 4096;

/// A bulk transfer: copies that, when `on`, bypass the cache where the
/// target has a way to (x86-64, outside Miri), with one `sfence` when the
/// transfer ends (dropped), not one per copy: a fence drains the
/// write-combining buffers, and one per 4 KiB block would stall the
/// stream at every block.
///
/// Until the fence the streamed bytes are this thread's: x86 orders a
/// core's own loads after its stores, non-temporal ones included, but
/// another core may see them late. Nothing else can see them: every
/// destination is mutably borrowed for the whole transfer (a page of a
/// `&mut` memory, or the caller's `&mut` array), so it reaches another
/// thread only after the transfer's owner returns, which is after the
/// drop.
#[derive(Debug)]
pub(crate) struct Stream {
    on: bool,
}

impl Stream {
    /// A transfer of `bytes` bytes: streamed from [`STREAM_MIN`] on.
    pub(crate) fn for_bytes(bytes: usize) -> Self {
        Stream {
            on: bytes >= STREAM_MIN,
        }
    }

    /// Whether this transfer streams.
    pub(crate) fn on(&self) -> bool {
        self.on
    }

    /// Copies `src` into `dst` (of the same length) as `copy_from_slice`
    /// does, streamed when the transfer is.
    ///
    /// Any `T: Copy` (padding included): the copy moves bytes, untyped, as
    /// `copy_from_slice` does, so each `dst` element ends as a bitwise
    /// copy of a valid `src` element.
    #[inline]
    pub(crate) fn copy<T: Copy>(&mut self, dst: &mut [T], src: &[T]) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if self.on && dst.len() == src.len() {
            copy_nt(dst, src);
            return;
        }
        dst.copy_from_slice(src);
    }
}

impl Stream {
    /// Orders every copy so far before this thread's later stores (an
    /// `sfence`), as the drop does.
    pub(crate) fn fence(&mut self) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if self.on {
            // SAFETY: `sfence` only orders this thread's earlier stores
            // before its later ones; it touches no memory or register.
            unsafe { core::arch::asm!("sfence", options(nostack, preserves_flags)) };
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.fence();
    }
}

/// What a new block's page will hold: its 16-byte header, then `body`
/// (its entries), then zeros to the end of the page.
#[derive(Debug)]
pub(crate) struct PageImage<'a> {
    pub(crate) header: [u8; 16],
    pub(crate) body: &'a [u8],
}

/// A page's bytes as whole cache lines: the first line (the header and
/// the body's first 48 bytes) built, the body's whole lines after it, and
/// its last bytes, which share a line with the zeros after them.
struct Lines<'b> {
    first: [u8; 64],
    mid: &'b [u8],
    tail: &'b [u8],
}

impl<'b> Lines<'b> {
    /// `None` when `page` cannot be written a line at a time: not on a
    /// line boundary, not whole lines, or a body that ends in the first
    /// line or does not fit.
    fn of(page: &[u8], image: &PageImage<'b>) -> Option<Self> {
        let end = 16 + image.body.len();
        if page.as_ptr().align_offset(64) != 0
            || !page.len().is_multiple_of(64)
            || end <= 64
            || end > page.len()
        {
            return None;
        }
        let mut first = [0u8; 64];
        first[..16].copy_from_slice(&image.header);
        first[16..].copy_from_slice(&image.body[..48]);
        let (mid, tail) = image.body[48..].split_at((end / 64 - 1) * 64);
        Some(Lines { first, mid, tail })
    }
}

/// `image` written into `page` with ordinary stores.
fn write_image(page: &mut [u8], image: &PageImage<'_>) {
    let end = 16 + image.body.len();
    page[..16].copy_from_slice(&image.header);
    page[16..end].copy_from_slice(image.body);
    page[end..].fill(0);
}

impl Stream {
    /// Writes `image` into `page` (a whole page; the body fits it), every
    /// line once and whole, past the cache, when streaming.
    pub(crate) fn page(&mut self, page: &mut [u8], image: &PageImage<'_>) {
        let lines = match (self.on, Lines::of(page, image)) {
            (true, Some(lines)) => lines,
            _ => return write_image(page, image),
        };
        self.line(&mut page[..64], &lines.first);
        let end = 64 + lines.mid.len();
        self.copy(&mut page[64..end], lines.mid);
        self.finish_page(page, end, lines.tail);
    }

    /// Writes two pages as [`page`](Self::page) does, interleaved: their
    /// body lines go out in step, so that memory serves two streams at a
    /// time, as glibc's large memcpy has it (two pages 4 KiB apart).
    pub(crate) fn page_pair(
        &mut self,
        (a, image_a): (&mut [u8], &PageImage<'_>),
        (b, image_b): (&mut [u8], &PageImage<'_>),
    ) {
        let (la, lb) = match (self.on, Lines::of(a, image_a), Lines::of(b, image_b)) {
            (true, Some(la), Some(lb)) => (la, lb),
            _ => {
                self.page(a, image_a);
                return self.page(b, image_b);
            }
        };
        self.line(&mut a[..64], &la.first);
        self.line(&mut b[..64], &lb.first);
        let (end_a, end_b) = (64 + la.mid.len(), 64 + lb.mid.len());
        self.lines_pair((&mut a[64..end_a], la.mid), (&mut b[64..end_b], lb.mid));
        // The body's last bytes after the lines before them, whose
        // prefetches reach them: read first, each waits for memory (a
        // version that built both last lines first took 0.2 memcpy-times
        // longer over the 40 MB write).
        self.finish_page(a, end_a, la.tail);
        self.finish_page(b, end_b, lb.tail);
    }

    /// The line holding a body's last bytes `tail` (from `at`, a line
    /// boundary), then zero lines to the end of `page`.
    fn finish_page(&mut self, page: &mut [u8], at: usize, tail: &[u8]) {
        const ZERO: [u8; 64] = [0; 64];
        let mut zeros = at;
        if !tail.is_empty() {
            let mut line = ZERO;
            line[..tail.len()].copy_from_slice(tail);
            self.line(&mut page[at..at + 64], &line);
            zeros += 64;
        }
        for line in page[zeros..].chunks_exact_mut(64) {
            self.line(line, &ZERO);
        }
    }

    /// One whole line (`dst` is 64 bytes), past the cache when streaming.
    fn line(&mut self, dst: &mut [u8], src: &[u8; 64]) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if self.on {
            return store_line(dst, src);
        }
        dst.copy_from_slice(src);
    }

    /// Two [`copy`](Self::copy)s of whole lines, in step.
    fn lines_pair(&mut self, (da, sa): (&mut [u8], &[u8]), (db, sb): (&mut [u8], &[u8])) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if self.on
            && da.len() == sa.len()
            && db.len() == sb.len()
            && da.as_ptr().align_offset(64) == 0
            && db.as_ptr().align_offset(64) == 0
        {
            let both = da.len().min(db.len()) / 128 * 128;
            let (da, da_rest) = da.split_at_mut(both);
            let (db, db_rest) = db.split_at_mut(both);
            let (sa, sa_rest) = sa.split_at(both);
            let (sb, sb_rest) = sb.split_at(both);
            copy_nt_pair(da, sa, db, sb);
            self.copy(da_rest, sa_rest);
            self.copy(db_rest, sb_rest);
            return;
        }
        self.copy(da, sa);
        self.copy(db, sb);
    }
}

/// Gathers runs of bytes (each block's entries, in chain order) into one
/// array, as one copy would lay them out: two runs at a time in step (see
/// [`Stream::page_pair`]), each array line written once and whole, the
/// lines that span two runs assembled in `carry` first. Stops when `out`
/// is full.
#[derive(Debug)]
pub(crate) struct Gather<'o, 'm> {
    stream: Stream,
    out: &'o mut [u8],
    /// Bytes written so far.
    at: usize,
    /// Bytes of `out` before its first line boundary.
    lead: usize,
    /// The line in progress (its first `(at - lead) % 64` bytes).
    carry: [u8; 64],
    pending: Option<&'m [u8]>,
    /// The last pair, copied up to its second half: where each run's
    /// remaining whole lines go in `out` and their bytes, then the two
    /// runs, whose edges (see `edges`) are written after the lines.
    rest: Option<Rest<'m>>,
}

#[derive(Debug)]
struct Rest<'m> {
    lines: [(usize, &'m [u8]); 2],
    runs: [&'m [u8]; 2],
}

impl<'o, 'm> Gather<'o, 'm> {
    /// Gathers into `out`, streamed from [`STREAM_MIN`] bytes on.
    pub(crate) fn new(out: &'o mut [u8]) -> Self {
        let lead = out.as_ptr().align_offset(64).min(out.len());
        Gather {
            stream: Stream::for_bytes(out.len()),
            out,
            at: 0,
            lead,
            carry: [0; 64],
            pending: None,
            rest: None,
        }
    }

    /// Bytes written (or held for the next pair) so far.
    pub(crate) fn len(&self) -> usize {
        let rest = self
            .rest
            .as_ref()
            .map_or(0, |r| r.runs[0].len() + r.runs[1].len());
        self.at + rest + self.pending.map_or(0, <[u8]>::len)
    }

    /// Appends `run` (cut to what `out` has room for).
    ///
    /// A pair is copied half at this push and half at the next (or at
    /// `finish`): a chain walk that feeds the gather a block per push then
    /// has a copy running while each next header comes from memory, not
    /// only every other one.
    pub(crate) fn push(&mut self, run: &'m [u8]) {
        let room = self.out.len() - self.len();
        let run = &run[..run.len().min(room)];
        if !self.stream.on() {
            self.out[self.at..self.at + run.len()].copy_from_slice(run);
            self.at += run.len();
            return;
        }
        self.finish_pair();
        match self.pending.take() {
            None => self.pending = Some(run),
            Some(first) => {
                let (pa, sa) = self.lines_of(self.at, first);
                let (pb, sb) = self.lines_of(self.at + first.len(), run);
                let half = (sa.len().min(sb.len()) / 2) & !127;
                let (sa, ra) = sa.split_at(half);
                let (sb, rb) = sb.split_at(half);
                self.pair([(pa, sa), (pb, sb)]);
                self.rest = Some(Rest {
                    lines: [(pa + half, ra), (pb + half, rb)],
                    runs: [first, run],
                });
            }
        }
    }

    /// Copies the rest of the last pair, then its runs' edges: their last
    /// bytes are read after the lines before them, whose prefetches reach
    /// them (read first, each would wait for memory).
    fn finish_pair(&mut self) {
        if let Some(rest) = self.rest.take() {
            self.pair(rest.lines);
            for run in rest.runs {
                self.edges(run);
            }
        }
    }

    /// How `len` bytes gathered from `p` on fall on `out`'s lines: the
    /// bytes before `out`'s first line boundary, the offset of `p` in the
    /// line in progress, and the bytes that end that line; whole lines
    /// follow.
    fn cut(&self, p: usize, len: usize) -> (usize, usize, usize) {
        let before = self.lead.saturating_sub(p).min(len);
        let q = p + before;
        let off = (q - self.lead.min(q)) % 64;
        let head = if off == 0 {
            0
        } else {
            (64 - off).min(len - before)
        };
        (before, off, head)
    }

    /// Where the whole lines of `run`, gathered from `p` on, go and their
    /// bytes: what [`edges`](Self::edges) returns, without writing.
    fn lines_of(&self, p: usize, run: &'m [u8]) -> (usize, &'m [u8]) {
        let (before, _, head) = self.cut(p, run.len());
        let (at, lines, _) = split_lines(p, run, before + head);
        (at, lines)
    }

    /// Copies two runs of whole lines to their places in `out`, in step.
    fn pair(&mut self, [(pa, sa), (pb, sb)]: [(usize, &[u8]); 2]) {
        // Disjoint and in order: `a` ends before `b` starts.
        let (head, tail) = self.out.split_at_mut(pb);
        let da = &mut head[pa..pa + sa.len()];
        let db = &mut tail[..sb.len()];
        self.stream.lines_pair((da, sa), (db, sb));
    }

    /// Writes the bytes of `run` that share a line with another run (or
    /// lie outside `out`'s whole lines) and moves past it; returns where
    /// its whole lines go and their bytes.
    fn edges(&mut self, run: &'m [u8]) -> (usize, &'m [u8]) {
        let p = self.at;
        self.at += run.len();
        let (before, off, head) = self.cut(p, run.len());
        // Before the first line boundary: part of a line `out` only ends.
        self.out[p..p + before].copy_from_slice(&run[..before]);
        self.carry[off..off + head].copy_from_slice(&run[before..before + head]);
        if off + head == 64 {
            let line = p + before - off;
            let carry = self.carry;
            self.stream.copy(&mut self.out[line..line + 64], &carry);
        }
        let (at, lines, tail) = split_lines(p, run, before + head);
        self.carry[..tail.len()].copy_from_slice(tail);
        (at, lines)
    }

    /// Writes what is held and returns the bytes written; fences the
    /// transfer (on drop).
    pub(crate) fn finish(mut self) -> usize {
        self.finish_pair();
        if let Some(run) = self.pending.take() {
            let (p, mid) = self.edges(run);
            let dst = &mut self.out[p..p + mid.len()];
            self.stream.copy(dst, mid);
        }
        // The line in progress, which `out` ends inside of.
        if self.stream.on() && self.at > self.lead {
            let off = (self.at - self.lead) % 64;
            let line = self.at - off;
            self.out[line..self.at].copy_from_slice(&self.carry[..off]);
        }
        self.at
    }
}

/// `run` (gathered from `p` on) past its first `skip` bytes: where its
/// whole lines go, their bytes, and the bytes after them.
fn split_lines(p: usize, run: &[u8], skip: usize) -> (usize, &[u8], &[u8]) {
    let rest = &run[skip..];
    let (lines, tail) = rest.split_at(rest.len() / 64 * 64);
    (p + skip, lines, tail)
}

/// Asks for the `count` elements of `src` that start [`PREFETCH_AHEAD`]
/// bytes past element `next` (as many as there are): what a bulk path
/// reading `src` in order will want after the piece it just read.
#[inline]
pub(crate) fn prefetch_ahead<T>(src: &[T], next: usize, count: usize) {
    let skip = PREFETCH_AHEAD / core::mem::size_of::<T>().max(1);
    let ahead = src.get(next.saturating_add(skip)..).unwrap_or_default();
    prefetch(&ahead[..ahead.len().min(count)]);
}

/// Asks for `src`'s cache lines ahead of their use (`prefetcht0` per
/// line): a bulk path reading a large source a block at a time gives the
/// hardware prefetcher, which stops at every 4 KiB page, the next block
/// while it streams the current one. A hint: no-op elsewhere.
#[inline]
fn prefetch<T>(src: &[T]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        let p = src.as_ptr().cast::<u8>();
        for off in (0..core::mem::size_of_val(src)).step_by(64) {
            // SAFETY: `prefetcht0` is a hint, not a memory access: it never
            // faults or changes memory, whatever the address; the address is
            // in `src` anyway (`off` below its size).
            unsafe {
                core::arch::asm!(
                    "prefetcht0 [{p}]",
                    p = in(reg) p.wrapping_add(off),
                    options(nostack, preserves_flags, readonly),
                )
            };
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = src;
}

/// Full destination cache lines with `movntdq`, the head and tail with an
/// ordinary copy; unfenced (see [`Stream`]).
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn copy_nt<T: Copy>(dst: &mut [T], src: &[T]) {
    let bytes = core::mem::size_of_val(src);
    let d = dst.as_mut_ptr().cast::<u8>();
    let s = src.as_ptr().cast::<u8>();
    // Up to the first 64-byte boundary of the destination (all of it when
    // the offset is unknown, which `align_offset` may answer): a partial
    // line written non-temporally would cost a read of the line anyway.
    let head = d.align_offset(64).min(bytes);
    let lines = (bytes - head) / 64;
    let tail = head + lines * 64;
    // SAFETY: `s` is valid for reads and `d` for writes of `bytes` bytes
    // (the two slices have the same length, checked by the caller, and
    // element type), and they do not overlap (a `&` and a `&mut` never
    // do). Every access below stays in `0..bytes`: the head `0..head`, the
    // lines `head..tail`, the tail `tail..bytes`. `copy_nonoverlapping` is
    // untyped, as is the assembly (it moves bytes through xmm registers and
    // never interprets them), so uninitialised padding bytes of `T` are
    // copied as such, as `copy_from_slice` would. Each line's destination
    // `d + head + 64k` is 64-byte aligned, as `nt_line` needs.
    unsafe {
        core::ptr::copy_nonoverlapping(s, d, head);
        for line in 0..lines {
            let at = head + line * 64;
            nt_line(d.add(at), s.add(at));
        }
        core::ptr::copy_nonoverlapping(s.add(tail), d.add(tail), bytes - tail);
    }
}

/// `sa` into `da` and `sb` into `db`, 128 bytes of each per step, all
/// with `movntdq`, each source prefetched 128 to 384 bytes ahead (glibc's
/// two-page large-copy loop); unfenced (see [`Stream`]). Each destination
/// is line aligned and each length a multiple of 128, the same for both.
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn copy_nt_pair(da: &mut [u8], sa: &[u8], db: &mut [u8], sb: &[u8]) {
    let bytes = da.len();
    assert!(
        sa.len() == bytes && db.len() == bytes && sb.len() == bytes && bytes.is_multiple_of(128)
    );
    assert!(da.as_ptr().align_offset(16) == 0 && db.as_ptr().align_offset(16) == 0);
    if bytes == 0 {
        return;
    }
    // SAFETY: each source is valid for reads and each destination for
    // writes of `bytes` bytes (asserted lengths), a destination overlaps
    // nothing else (a `&mut`), and the loop touches exactly `0..bytes` of
    // each, 128 bytes per step for `bytes / 128` steps. The destinations
    // are 16-byte aligned (asserted) as `movntdq` needs. The prefetches may
    // name addresses past a source's end: a prefetch is a hint that never
    // faults or changes memory. Bytes move through xmm registers untouched.
    // The stores are ordered for other threads by the transfer's `sfence`
    // (see `Stream`). The assembly clobbers only the registers it names and
    // the flags, and uses no stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "prefetcht0 [{sa} + 128]",
            "prefetcht0 [{sa} + 192]",
            "prefetcht0 [{sa} + 256]",
            "prefetcht0 [{sa} + 320]",
            "prefetcht0 [{sb} + 128]",
            "prefetcht0 [{sb} + 192]",
            "prefetcht0 [{sb} + 256]",
            "prefetcht0 [{sb} + 320]",
            "movdqu xmm0, [{sa} + 0]",
            "movdqu xmm1, [{sa} + 16]",
            "movdqu xmm2, [{sa} + 32]",
            "movdqu xmm3, [{sa} + 48]",
            "movntdq [{da} + 0], xmm0",
            "movntdq [{da} + 16], xmm1",
            "movntdq [{da} + 32], xmm2",
            "movntdq [{da} + 48], xmm3",
            "movdqu xmm0, [{sa} + 64]",
            "movdqu xmm1, [{sa} + 80]",
            "movdqu xmm2, [{sa} + 96]",
            "movdqu xmm3, [{sa} + 112]",
            "movntdq [{da} + 64], xmm0",
            "movntdq [{da} + 80], xmm1",
            "movntdq [{da} + 96], xmm2",
            "movntdq [{da} + 112], xmm3",
            "movdqu xmm0, [{sb} + 0]",
            "movdqu xmm1, [{sb} + 16]",
            "movdqu xmm2, [{sb} + 32]",
            "movdqu xmm3, [{sb} + 48]",
            "movntdq [{db} + 0], xmm0",
            "movntdq [{db} + 16], xmm1",
            "movntdq [{db} + 32], xmm2",
            "movntdq [{db} + 48], xmm3",
            "movdqu xmm0, [{sb} + 64]",
            "movdqu xmm1, [{sb} + 80]",
            "movdqu xmm2, [{sb} + 96]",
            "movdqu xmm3, [{sb} + 112]",
            "movntdq [{db} + 64], xmm0",
            "movntdq [{db} + 80], xmm1",
            "movntdq [{db} + 96], xmm2",
            "movntdq [{db} + 112], xmm3",
            "add {sa}, 128",
            "add {sb}, 128",
            "add {da}, 128",
            "add {db}, 128",
            "dec {n}",
            "jnz 2b",
            sa = inout(reg) sa.as_ptr() => _,
            sb = inout(reg) sb.as_ptr() => _,
            da = inout(reg) da.as_mut_ptr() => _,
            db = inout(reg) db.as_mut_ptr() => _,
            n = inout(reg) bytes / 128 => _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            options(nostack),
        );
    }
}

/// One cache line of `src` into `dst` (64 bytes, 16-byte aligned) with
/// `movntdq`; unfenced (see [`Stream`]).
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
fn store_line(dst: &mut [u8], src: &[u8; 64]) {
    assert!(dst.len() == 64 && dst.as_ptr().align_offset(16) == 0);
    // SAFETY: `dst` is valid for writes of 64 bytes and 16-byte aligned
    // (asserted), `src` is valid for reads of 64 (its type), and a `&mut`
    // overlaps nothing.
    unsafe { nt_line(dst.as_mut_ptr(), src.as_ptr()) }
}

/// The 64 bytes at `s` to `d` with `movntdq`, through xmm registers, the
/// bytes untouched (padding included); unfenced: the transfer's `sfence`
/// orders them for other threads (see [`Stream`]).
///
/// # Safety
///
/// `s` must be valid for reads and `d` for writes of 64 bytes, the two must
/// not overlap, and `d` must be 16-byte aligned (`movntdq` faults
/// otherwise).
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
unsafe fn nt_line(d: *mut u8, s: *const u8) {
    // SAFETY: the caller's promise covers the four loads and four stores;
    // the assembly clobbers only the registers it names and uses no stack.
    unsafe {
        core::arch::asm!(
            "movdqu xmm0, [{s}]",
            "movdqu xmm1, [{s} + 16]",
            "movdqu xmm2, [{s} + 32]",
            "movdqu xmm3, [{s} + 48]",
            "movntdq [{d}], xmm0",
            "movntdq [{d} + 16], xmm1",
            "movntdq [{d} + 32], xmm2",
            "movntdq [{d} + 48], xmm3",
            s = in(reg) s,
            d = in(reg) d,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length and both misalignments around the line size: the
    /// streamed copy equals `copy_from_slice` and touches nothing around
    /// the destination.
    #[test]
    fn streamed_copy_is_a_copy() {
        let src: alloc::vec::Vec<u8> = (0..1200u32).map(|i| (i * 7 + 3) as u8).collect();
        let lens: &[usize] = if cfg!(miri) {
            &[0, 1, 63, 64, 65, 200]
        } else {
            &[0, 1, 15, 16, 63, 64, 65, 127, 128, 129, 255, 256, 1000]
        };
        for &len in lens {
            for dst_off in [0, 1, 16, 48, 63] {
                for src_off in [0, 5] {
                    let mut buf = alloc::vec![0xeeu8; len + 200];
                    let dst = &mut buf[dst_off + 8..dst_off + 8 + len];
                    Stream { on: true }.copy(dst, &src[src_off..src_off + len]);
                    assert_eq!(dst, &src[src_off..src_off + len], "len {len} at {dst_off}");
                    assert!(buf[..dst_off + 8].iter().all(|&b| b == 0xee));
                    assert!(buf[dst_off + 8 + len..].iter().all(|&b| b == 0xee));
                }
            }
        }
    }

    /// Gathering runs of every length into arrays at every offset within
    /// a line equals concatenating them, stops where the array is full,
    /// and touches nothing past it: with the stream forced on (all the
    /// line logic) and off.
    #[test]
    fn gather_is_concatenation() {
        let src: alloc::vec::Vec<u8> = (0..4000u32).map(|i| (i * 13 + 7) as u8).collect();
        let lens: &[&[usize]] = if cfg!(miri) {
            &[&[100, 3, 64], &[200]]
        } else {
            &[
                &[4064, 4064, 4064, 100],
                &[1, 2, 3, 64, 65, 127, 128, 129],
                &[63, 1, 64, 300, 31, 33],
                &[500],
                &[],
            ]
        };
        let offs: &[usize] = if cfg!(miri) {
            &[0, 17]
        } else {
            &[0, 1, 16, 32, 48, 63]
        };
        for runs in lens {
            let mut all = alloc::vec::Vec::new();
            let mut at = 0;
            let pieces: alloc::vec::Vec<&[u8]> = runs
                .iter()
                .map(|&n| {
                    let piece = &src[at % 3000..at % 3000 + n.min(1000)];
                    at += 7;
                    piece
                })
                .collect();
            for piece in &pieces {
                all.extend_from_slice(piece);
            }
            for &off in offs {
                for cut in [all.len(), all.len().saturating_sub(37), all.len() / 2] {
                    for on in [true, false] {
                        let mut buf = alloc::vec![0xeeu8; all.len() + 200];
                        let base = buf.as_ptr().align_offset(64);
                        let out = &mut buf[base + off..base + off + cut];
                        let mut gather = Gather::new(out);
                        gather.stream = Stream { on };
                        for piece in &pieces {
                            gather.push(piece);
                        }
                        assert_eq!(gather.finish(), cut, "{runs:?} at {off}");
                        assert_eq!(
                            &buf[base + off..base + off + cut],
                            &all[..cut],
                            "{runs:?} at {off} on {on}"
                        );
                        assert!(buf[..base + off].iter().all(|&b| b == 0xee));
                        assert!(buf[base + off + cut..].iter().all(|&b| b == 0xee));
                    }
                }
            }
        }
    }

    /// A page image written streamed, singly or in a pair, is the page
    /// written with ordinary stores: bodies that end in the first line,
    /// on a line boundary, inside a line and at the page's end, and pages
    /// that are not line aligned (written the ordinary way).
    #[test]
    fn page_images_stream_as_written() {
        let src: alloc::vec::Vec<u8> = (0..4096u32).map(|i| (i * 5 + 1) as u8).collect();
        let header: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
        let bodies: &[usize] = if cfg!(miri) {
            &[10, 4080]
        } else {
            &[0, 10, 48, 49, 112, 113, 4000, 4048, 4080]
        };
        for &len_a in bodies {
            for &len_b in bodies {
                for off in [0, 16] {
                    let ia = PageImage {
                        header,
                        body: &src[..len_a],
                    };
                    let ib = PageImage {
                        header,
                        body: &src[7..7 + len_b],
                    };
                    let mut want = alloc::vec![0x55u8; 2 * 4096];
                    write_image(&mut want[..4096], &ia);
                    write_image(&mut want[4096..], &ib);
                    let mut buf = alloc::vec![0x55u8; 3 * 4096 + 64];
                    let base = buf.as_ptr().align_offset(64) + off;
                    let (a, b) = buf[base..base + 2 * 4096].split_at_mut(4096);
                    let mut stream = Stream { on: true };
                    stream.page_pair((a, &ia), (b, &ib));
                    assert_eq!(
                        &buf[base..base + 2 * 4096],
                        &want[..],
                        "pair {len_a} {len_b} at {off}"
                    );
                    let mut one = alloc::vec![0x55u8; 4096 + 128];
                    let base = one.as_ptr().align_offset(64) + off;
                    stream.page(&mut one[base..base + 4096], &ib);
                    assert_eq!(
                        &one[base..base + 4096],
                        &want[4096..],
                        "page {len_b} at {off}"
                    );
                }
            }
        }
    }

    /// Typed elements with padding copy as values.
    #[test]
    fn streamed_copy_of_padded_values() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        struct Padded {
            a: u8,
            b: u64,
        }
        let src: alloc::vec::Vec<Padded> =
            (0..40u64).map(|i| Padded { a: i as u8, b: !i }).collect();
        let mut dst = alloc::vec![Padded { a: 0, b: 0 }; 40];
        Stream { on: true }.copy(&mut dst, &src);
        assert_eq!(dst, src);
    }
}
