//! The Linux kernel's own block-set code (the patch's `kho_block.c`), built
//! for user space behind small shims, so that kho's benchmarks can time
//! the kernel's algorithm on the same work in the same run.
//!
//! Not part of kho: a dev-dependency of the `kho` crate's benches only.
//! Pages come from one pre-faulted, pre-zeroed pool (the shims' stand-in for
//! `kho_alloc_preserve`), physical addresses are virtual addresses, and
//! the kernel's restore trusts the memory it walks, so this crate only
//! ever restores chains it wrote itself.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

#[repr(C)]
struct RawSet {
    _private: [u8; 0],
}

extern "C" {
    fn kbench_pool_init(pages: usize) -> i32;
    fn kbench_pool_reset();
    fn kbench_pool_span(base: *mut *mut u8, bytes: *mut usize);
    fn kbench_write(src: *const u8, n: usize, entry_size: usize) -> *mut RawSet;
    fn kbench_head(bs: *mut RawSet) -> u64;
    fn kbench_free(bs: *mut RawSet);
    fn kbench_read(head: u64, dst: *mut u8, n: usize, entry_size: usize) -> i64;
    fn kbench_ceiling_write(
        src: *const u8,
        blocks: usize,
        body: usize,
        entry_size: usize,
        pages: *mut u8,
    );
}

/// `shim/ceiling.c`: `src` laid out in `pages` as a block set of
/// `entry_size`-byte entries lays it out (4 KiB pages, each a 16-byte
/// header, as many entries as fit, zeros), with nothing else to do and
/// every line streamed once: the bound on how fast any write of that
/// layout can go. `None` unless `src` fills an even number of blocks,
/// `pages` has room for them and starts on a 64-byte boundary, and a
/// block holds more than 48 bytes of entries.
pub fn ceiling_write(src: &[u8], entry_size: usize, pages: &mut [u8]) -> Option<()> {
    const PAGE: usize = 4096;
    let per_block = (PAGE - 16).checked_div(entry_size)?;
    let body = per_block * entry_size;
    if body < 48 || !src.len().is_multiple_of(body) {
        return None;
    }
    let blocks = src.len() / body;
    if !blocks.is_multiple_of(2)
        || blocks.checked_mul(PAGE)? > pages.len()
        || pages.as_ptr().align_offset(64) != 0
    {
        return None;
    }
    // SAFETY: src is valid for blocks * body reads, pages for blocks * 4096
    // writes (checked) and 64-byte aligned as the streaming stores need;
    // the two do not overlap (a & and a &mut); the C side keeps neither.
    unsafe { kbench_ceiling_write(src.as_ptr(), blocks, body, entry_size, pages.as_mut_ptr()) };
    Some(())
}

/// The C side keeps one global pool: one `Kernel` at a time.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The kernel code and its page pool. At most one exists at a time (the
/// pool is the C side's global state), and it is not `Sync`.
#[derive(Debug)]
pub struct Kernel {
    _not_sync: PhantomData<*mut ()>,
}

impl Kernel {
    /// A pool of `pages` 4 KiB pages, zeroed; `None` if a `Kernel` exists
    /// already or the pool cannot be allocated.
    pub fn new(pages: usize) -> Option<Kernel> {
        if TAKEN.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: no other Kernel exists (TAKEN), so nothing uses the pool.
        if unsafe { kbench_pool_init(pages) } != 0 {
            TAKEN.store(false, Ordering::Release);
            return None;
        }
        Some(Kernel {
            _not_sync: PhantomData,
        })
    }

    /// Zeroes the pages handed out and hands them out again (untimed set-up
    /// between writes). Sets written before keep pointing into the pool,
    /// which stays allocated while the `Kernel` lives: reading one after a
    /// reset fails (`None`, a zeroed head) or sees other entries, never
    /// memory outside the pool.
    pub fn reset(&self) {
        // SAFETY: the pool is the C side's own memory and stays allocated
        // while the Kernel lives; only its contents change.
        unsafe { kbench_pool_reset() }
    }

    /// The pool's address and length in bytes, for a benchmark that
    /// evicts it from the cache before a timed run. The pool stays where
    /// it is while the `Kernel` lives.
    pub fn pool_span(&self) -> (*const u8, usize) {
        let mut base = std::ptr::null_mut();
        let mut bytes = 0;
        // SAFETY: both pointers are valid for one write; the C side only
        // stores its pool's address and size through them.
        unsafe { kbench_pool_span(&mut base, &mut bytes) };
        (base.cast_const(), bytes)
    }

    /// The kernel's write: `kho_block_set_grow` to hold every entry of
    /// `src`, then one `kho_block_set_it_reserve_entry` and `memcpy` per
    /// entry. `None` if the pool runs out or `entry_size` does not divide
    /// `src` or fit a block.
    pub fn write(&self, src: &[u8], entry_size: usize) -> Option<KernelSet<'_>> {
        if entry_size == 0 || entry_size > 4096 - 16 || !src.len().is_multiple_of(entry_size) {
            return None;
        }
        // SAFETY: src is valid for src.len() bytes; the C side reads
        // n * entry_size of them and keeps no pointer to them.
        let raw = unsafe { kbench_write(src.as_ptr(), src.len() / entry_size, entry_size) };
        if raw.is_null() {
            return None;
        }
        Some(KernelSet {
            raw,
            entry_size,
            _pool: PhantomData,
        })
    }

    /// The kernel's read: `kho_block_set_restore` of `set`'s chain, then
    /// one `kho_block_set_it_read_entry` and `memcpy` per entry into `dst`
    /// (as many as fit), then `kho_block_set_destroy`. Returns the entries
    /// copied, `None` if the restore failed.
    pub fn read(&self, set: &KernelSet<'_>, dst: &mut [u8]) -> Option<usize> {
        let n = dst.len() / set.entry_size;
        // SAFETY: the chain at head was written by kbench_write into the
        // pool, which outlives `set` (borrow); after a reset its pages are
        // zero or another set's, whose `next` fields hold only pool
        // addresses or 0, so the walk stays in the pool. dst is valid for
        // n * entry_size bytes.
        let got = unsafe { kbench_read(set.head(), dst.as_mut_ptr(), n, set.entry_size) };
        usize::try_from(got).ok()
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        TAKEN.store(false, Ordering::Release);
    }
}

/// A set the kernel code wrote; dropping it runs `kho_block_set_destroy`.
#[derive(Debug)]
pub struct KernelSet<'k> {
    raw: *mut RawSet,
    entry_size: usize,
    _pool: PhantomData<&'k Kernel>,
}

impl KernelSet<'_> {
    /// `kho_block_set_head_pa`: the first block's address.
    pub fn head(&self) -> u64 {
        // SAFETY: raw is a live set from kbench_write (freed only in Drop).
        unsafe { kbench_head(self.raw) }
    }
}

impl Drop for KernelSet<'_> {
    fn drop(&mut self) {
        // SAFETY: raw came from kbench_write and is freed exactly once.
        unsafe { kbench_free(self.raw) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_writes_and_reads_back_its_chain() {
        let k = Kernel::new(64).unwrap();
        assert!(Kernel::new(1).is_none(), "one pool at a time");
        let src: Vec<u8> = (0..500 * 32).map(|i| (i % 251) as u8).collect();
        let set = k.write(&src, 32).unwrap();
        let (base, bytes) = k.pool_span();
        assert_eq!(bytes, 64 * 4096);
        assert_eq!(set.head(), base as u64, "the head is the pool's first page");
        // 127 entries per 4 KiB block: 4 blocks, the head at the pool's start.
        let mut dst = vec![0u8; src.len()];
        assert_eq!(k.read(&set, &mut dst), Some(500));
        assert_eq!(dst, src);
        drop(set);
        k.reset();
        assert!(k.write(&src, 33).is_none());
    }

    /// The ceiling writes the layout the kernel's code does: each page
    /// its header (next, count), its entries and zeros.
    #[test]
    fn the_ceiling_lays_blocks_out_as_the_kernel_does() {
        let per = 127;
        let src: Vec<u8> = (0..4 * per * 32).map(|i| (i % 251) as u8).collect();
        let mut buf = vec![0xaau8; 5 * 4096];
        let skip = buf.as_ptr().align_offset(64);
        let pages = &mut buf[skip..skip + 4 * 4096];
        assert_eq!(ceiling_write(&src[..3 * per * 32], 32, pages), None, "odd");
        assert_eq!(
            ceiling_write(&src[1..], 32, pages),
            None,
            "not whole blocks"
        );
        ceiling_write(&src, 32, pages).unwrap();
        let base = pages.as_ptr() as u64;
        for (b, page) in pages.chunks(4096).enumerate() {
            let next = u64::from_ne_bytes(page[..8].try_into().unwrap());
            let count = u64::from_ne_bytes(page[8..16].try_into().unwrap());
            let want = if b < 3 {
                base + (b as u64 + 1) * 4096
            } else {
                0
            };
            assert_eq!((next, count), (want, per as u64), "block {b}");
            assert_eq!(
                &page[16..16 + per * 32],
                &src[b * per * 32..(b + 1) * per * 32]
            );
            assert!(
                page[16 + per * 32..].iter().all(|&x| x == 0),
                "block {b} slack"
            );
        }
    }
}
