//! Bulk copies that bypass the cache: the crate's only `unsafe` code (the
//! copy loop, its fence and a prefetch hint).
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
    // copied as such, as `copy_from_slice` would. `movntdq` needs a 16-byte
    // aligned destination: `d + head` is 64-byte aligned whenever
    // `lines > 0`. The stores are ordered for other threads by the
    // transfer's `sfence` (see `Stream`). The assembly clobbers only the
    // registers it names and the flags, and uses no stack.
    unsafe {
        core::ptr::copy_nonoverlapping(s, d, head);
        if lines > 0 {
            core::arch::asm!(
                "2:",
                "movdqu xmm0, [{s}]",
                "movdqu xmm1, [{s} + 16]",
                "movdqu xmm2, [{s} + 32]",
                "movdqu xmm3, [{s} + 48]",
                "movntdq [{d}], xmm0",
                "movntdq [{d} + 16], xmm1",
                "movntdq [{d} + 32], xmm2",
                "movntdq [{d} + 48], xmm3",
                "add {s}, 64",
                "add {d}, 64",
                "dec {n}",
                "jnz 2b",
                s = inout(reg) s.add(head) => _,
                d = inout(reg) d.add(head) => _,
                n = inout(reg) lines => _,
                out("xmm0") _,
                out("xmm1") _,
                out("xmm2") _,
                out("xmm3") _,
                options(nostack),
            );
        }
        core::ptr::copy_nonoverlapping(s.add(tail), d.add(tail), bytes - tail);
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
