//! KHO's preserved-memory radix tree (`kho-v2`): which pages the previous
//! kernel handed over.
//!
//! The KHO FDT's `preserved-memory-map` property holds the physical address
//! of the tree's root. Every node is one page. A node above level 0 is a
//! `struct kho_radix_node`, a table of `page_size / 8` physical addresses
//! of the next level's nodes (0: none); level 0 is a `struct
//! kho_radix_leaf`, a bitmap of `page_size * 8` bits. The root is at level
//! `depth - 1`, so a walk reads `depth` nodes from the root to a bit.
//!
//! A preserved run of `1 << order` pages at `phys` is one bit, at the key
//! `1 << (order_0_log2 - order) | phys >> (page_shift + order)`: the high
//! bit says the order, the rest the run's index among runs of its order.
//! The leaf takes the key's low `bitmap_log2` bits, each level above the
//! next `table_log2` bits (mainline `kho_radix_encode_key`,
//! `kho_radix_get_table_index`; the constants are `enum kho_radix_consts`
//! of linux/kho/abi/kexec_handover.h, [`RadixGeometry`] here).
//!
//! [`PreservedMap::restore`] walks a tree trusting nothing in it; see its
//! docs for the rejections. [`write_radix`] builds one as the kernel's
//! `kho_radix_add_page` does, for tests and simulated kernels.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use crate::{Error, Fault, PhysAddr, PreservedMemory, Result};

/// The tree's shape for one page size: `enum kho_radix_consts` of kho-v3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RadixGeometry {
    /// `PAGE_SHIFT`.
    pub page_shift: u32,
    /// `KHO_ORDER_0_LOG2`: the bit of an order-0 run's order bit.
    pub order_0_log2: u32,
    /// `KHO_TABLE_SIZE_LOG2`: entries of a node's table, log2.
    pub table_log2: u32,
    /// `KHO_BITMAP_SIZE_LOG2`: bits of a leaf, log2.
    pub bitmap_log2: u32,
    /// `KHO_TREE_MAX_DEPTH`: levels, the leaf level included.
    pub depth: u32,
}

impl RadixGeometry {
    /// The geometry for `page_size` (4, 16 or 64 KiB).
    pub fn new(page_size: usize) -> Result<Self> {
        crate::check_page_size(page_size)?;
        let page_shift = page_size.trailing_zeros();
        let order_0_log2 = 64 - page_shift;
        let table_log2 = (page_size / 8).trailing_zeros();
        let bitmap_log2 = page_shift + 3;
        // The key is order_0_log2 + 1 bits: the address, then the order
        // bit (mainline d64b0372760e; kho-v2 counted one bit less).
        let depth = (order_0_log2 + 1 - bitmap_log2).div_ceil(table_log2) + 1;
        Ok(RadixGeometry {
            page_shift,
            order_0_log2,
            table_log2,
            bitmap_log2,
            depth,
        })
    }

    /// The largest order a key can say: its order bit at bit 0.
    pub fn max_key_order(&self) -> u32 {
        self.order_0_log2
    }

    /// The key bits the tree's levels index: the leaf's `bitmap_log2`,
    /// then `table_log2` a level above it (61 with 16 KiB pages, 60 with 4
    /// KiB, 58 with 64 KiB). Bits above are dropped by the kernel's
    /// `kho_radix_get_table_index` (`% (1 << KHO_TABLE_SIZE_LOG2)`), so every
    /// key must fit: an order-0 key is `order_0_log2 + 1` bits.
    ///
    /// kho-v2 (torvalds/linux 3f2ad900) computed `KHO_TREE_MAX_DEPTH`
    /// without the `+ 1`, which with 16 KiB pages gave 4 levels and 50 bits:
    /// an order-0 key's order bit (bit 50) was dropped and the page came
    /// back as another order at another address. kho-v3 (d64b0372760e,
    /// "kho: fix KHO_TREE_MAX_DEPTH for non-4KB page sizes") counts it;
    /// this geometry is kho-v3's.
    pub fn key_bits(&self) -> u32 {
        self.bitmap_log2 + (self.depth - 1) * self.table_log2
    }

    /// The key of the run of `1 << order` pages at `phys`, as
    /// `kho_radix_encode_key`; `None` when the order is above
    /// [`max_key_order`](Self::max_key_order) or `phys` is not aligned to
    /// the run. (The key may still have bits above
    /// [`key_bits`](Self::key_bits).)
    pub fn encode(&self, phys: PhysAddr, order: u32) -> Option<u64> {
        if order > self.order_0_log2 {
            return None;
        }
        let shift = self.page_shift + order;
        let p = phys.get();
        if shift < 64 && p & ((1u64 << shift) - 1) != 0 {
            return None;
        }
        // Any 64-bit address fits under its order bit: `low` has at most
        // 64 - shift bits, the order bit is bit 64 - shift.
        let low = p.checked_shr(shift).unwrap_or(0);
        Some((1u64 << (self.order_0_log2 - order)) | low)
    }

    /// The run a key names, `(phys, order)`; `None` for a key with no
    /// order bit (0) or one above `order_0_log2`.
    pub fn decode(&self, key: u64) -> Option<(PhysAddr, u32)> {
        let top = key.checked_ilog2()?;
        if top > self.order_0_log2 {
            return None;
        }
        let order = self.order_0_log2 - top;
        let low = key & !(1u64 << top);
        let phys = low.checked_shl(self.page_shift + order).unwrap_or(0);
        Some((PhysAddr(phys), order))
    }

    /// The lowest key bit that a table at `level` (1 up to `depth - 1`)
    /// indexes.
    fn level_shift(&self, level: u32) -> u32 {
        (level - 1) * self.table_log2 + self.bitmap_log2
    }

    /// The table index at `level` (1 up to `depth - 1`) of `key`.
    fn table_index(&self, key: u64, level: u32) -> usize {
        let shift = self.level_shift(level);
        (key.checked_shr(shift).unwrap_or(0) & ((1u64 << self.table_log2) - 1)) as usize
    }

    /// The leaf bit of `key`.
    fn bitmap_index(&self, key: u64) -> usize {
        (key & ((1u64 << self.bitmap_log2) - 1)) as usize
    }
}

/// One preserved run: `1 << order` pages from `addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PreservedRun {
    /// Physical address of its first page.
    pub addr: PhysAddr,
    /// Its page order.
    pub order: u32,
}

impl PreservedRun {
    /// Bytes it covers with `page_size` pages (saturating).
    pub fn len_bytes(&self, page_size: usize) -> u64 {
        (page_size as u64)
            .checked_shl(self.order)
            .unwrap_or(u64::MAX)
    }

    /// One past its last byte (saturating).
    pub fn end(&self, page_size: usize) -> u64 {
        self.addr.get().saturating_add(self.len_bytes(page_size))
    }
}

/// The default limit on the nodes a walk reads: 1 << 16 pages, 256 MiB of
/// tree at 4 KiB pages, enough for every page of 8 TiB preserved one by one.
pub const DEFAULT_MAX_RADIX_NODES: usize = 1 << 16;

/// The largest run order [`PreservedMap::restore`] accepts by default:
/// 1 << 20 pages (4 GiB of 4 KiB pages), beyond any folio the kernel makes.
pub const DEFAULT_MAX_RADIX_ORDER: u32 = 20;

/// What a walk may read and keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RadixLimits {
    /// Nodes (pages of the tree) read, leaves included.
    pub max_nodes: usize,
    /// Runs kept (16 bytes each).
    pub max_runs: usize,
    /// The largest run order accepted.
    pub max_order: u32,
}

impl Default for RadixLimits {
    fn default() -> Self {
        RadixLimits {
            max_nodes: DEFAULT_MAX_RADIX_NODES,
            max_runs: 1 << 24,
            max_order: DEFAULT_MAX_RADIX_ORDER,
        }
    }
}

/// Why a preserved-memory tree was rejected, or could not be written
/// ([`Error::Radix`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadixFault {
    /// [`write_radix`]: the run cannot be a key (its order over the key's
    /// range, or its address unaligned to the run), or its key has bits
    /// above those the tree indexes (see [`RadixGeometry::key_bits`]).
    Unrepresentable {
        /// The run's index among those given.
        index: usize,
        /// The run.
        run: PreservedRun,
        /// The bits the tree indexes.
        key_bits: u32,
    },
    /// The node's address is unusable (outside memory, unaligned, past the
    /// end of an image).
    Node(Fault),
    /// A table entry names a node the walk already read: the kernel's tree
    /// never shares a node, and a shared one could make a walk unbounded.
    Shared {
        /// The table entry.
        index: usize,
        /// The node it names.
        node: PhysAddr,
    },
    /// A leaf bit whose key has no order bit, or one above
    /// `KHO_ORDER_0_LOG2`: no page is preserved that way.
    BadKey {
        /// The bit in the leaf.
        bit: usize,
        /// Its key.
        key: u64,
    },
    /// A run of an order over the limit.
    Order {
        /// The bit in the leaf.
        bit: usize,
        /// The run it names.
        run: PreservedRun,
        /// The limit in force.
        max: u32,
    },
    /// Two runs share pages.
    Overlap {
        /// One run.
        a: PreservedRun,
        /// The other.
        b: PreservedRun,
    },
    /// The tree has more nodes than the limit.
    NodeLimit {
        /// The limit in force.
        limit: usize,
    },
    /// The tree names more runs than the limit.
    RunLimit {
        /// The limit in force.
        limit: usize,
    },
}

impl core::fmt::Display for RadixFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let run = |f: &mut core::fmt::Formatter<'_>, r: &PreservedRun| {
            write!(f, "{} order {}", r.addr, r.order)
        };
        match self {
            RadixFault::Node(fault) => fault.fmt(f),
            RadixFault::Unrepresentable {
                index,
                run: r,
                key_bits,
            } => {
                write!(f, "run {index} (")?;
                run(f, r)?;
                write!(
                    f,
                    ") has no key within the {key_bits} bits the tree's levels index"
                )
            }
            RadixFault::Shared { index, node } => write!(
                f,
                "entry {index} names node {node}, already in the tree (a shared node or a cycle)"
            ),
            RadixFault::BadKey { bit, key } => {
                write!(f, "bit {bit}: key {key:#x} has no valid order bit")
            }
            RadixFault::Order { bit, run: r, max } => {
                write!(f, "bit {bit}: run ")?;
                run(f, r)?;
                write!(f, " is over order {max}")
            }
            RadixFault::Overlap { a, b } => {
                f.write_str("run ")?;
                run(f, a)?;
                f.write_str(" overlaps run ")?;
                run(f, b)
            }
            RadixFault::NodeLimit { limit } => {
                write!(f, "more than {limit} nodes")
            }
            RadixFault::RunLimit { limit } => write!(f, "more than {limit} runs"),
        }
    }
}

fn err(level: u32, node: PhysAddr, fault: RadixFault) -> Error {
    Error::Radix { level, node, fault }
}

/// Word `i` of a node: a table entry, or 64 bits of a leaf.
fn word(page: &[u8], i: usize) -> u64 {
    crate::memory::read_u64(page, i * 8)
}

/// The preserved runs of a restored tree, sorted by address, none
/// overlapping another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreservedMap {
    page_size: usize,
    runs: Vec<PreservedRun>,
    nodes: Vec<PhysAddr>,
}

impl PreservedMap {
    /// Walks the tree at `root` with [`RadixLimits::default`]. See
    /// [`restore_with_limits`](Self::restore_with_limits).
    pub fn restore<M: PreservedMemory + ?Sized>(mem: &M, root: PhysAddr) -> Result<Self> {
        Self::restore_with_limits(mem, root, RadixLimits::default())
    }

    /// Walks the tree at `root` as `kho_radix_walk_tree` does, trusting
    /// nothing in it: each node is read once, its address checked first.
    ///
    /// Rejected, each with [`Error::Radix`] naming the level and the node:
    /// a node address outside memory, unaligned or past the end of an image
    /// (the root's included); a table entry naming a node already read (a
    /// shared node or a cycle); a leaf bit whose key has no valid order bit;
    /// a run over `limits.max_order`; two runs sharing pages; more than
    /// `limits.max_nodes` nodes or `limits.max_runs` runs. It keeps at most
    /// `max_nodes` node and `max_runs` run addresses, recurses nowhere (the
    /// depth is the geometry's) and changes nothing.
    ///
    /// The runs' own pages are not read: a dump need not hold them.
    pub fn restore_with_limits<M: PreservedMemory + ?Sized>(
        mem: &M,
        root: PhysAddr,
        limits: RadixLimits,
    ) -> Result<Self> {
        let page_size = mem.page_size();
        let g = RadixGeometry::new(page_size)?;
        let entries = page_size / 8;
        let top = g.depth - 1;
        let mut seen: BTreeSet<u64> = BTreeSet::new();
        let mut nodes: Vec<PhysAddr> = Vec::new();
        let mut runs: Vec<PreservedRun> = Vec::new();
        let read = |level: u32, node: PhysAddr| {
            mem.page(node).map_err(|e| match e {
                Error::Memory { fault, .. } => err(level, node, RadixFault::Node(fault)),
                other => other,
            })
        };
        seen.insert(root.get());
        nodes.push(root);
        // (node, its page, its level, the key bits above it, the next
        // entry to read): each node's page is looked up once.
        let mut stack: Vec<(PhysAddr, &[u8], u32, u64, usize)> = Vec::new();
        stack.push((root, read(top, root)?, top, 0, 0));
        while let Some(&mut (node, page, level, prefix, ref mut next)) = stack.last_mut() {
            let Some(i) = (*next..entries).find(|&i| word(page, i) != 0) else {
                stack.pop();
                continue;
            };
            *next = i + 1;
            let child = PhysAddr(word(page, i));
            let key = prefix | (i as u64).checked_shl(g.level_shift(level)).unwrap_or(0);
            if nodes.len() >= limits.max_nodes {
                return Err(err(
                    level,
                    node,
                    RadixFault::NodeLimit {
                        limit: limits.max_nodes,
                    },
                ));
            }
            if !seen.insert(child.get()) {
                return Err(err(
                    level,
                    node,
                    RadixFault::Shared {
                        index: i,
                        node: child,
                    },
                ));
            }
            let leaf = read(level - 1, child)?;
            nodes.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
            nodes.push(child);
            if level > 1 {
                stack.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                stack.push((child, leaf, level - 1, key, 0));
                continue;
            }
            for w in 0..entries {
                let mut bits = word(leaf, w);
                while bits != 0 {
                    let bit = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let k = key | bit as u64;
                    let Some((addr, order)) = g.decode(k) else {
                        return Err(err(0, child, RadixFault::BadKey { bit, key: k }));
                    };
                    let run = PreservedRun { addr, order };
                    if order > limits.max_order {
                        return Err(err(
                            0,
                            child,
                            RadixFault::Order {
                                bit,
                                run,
                                max: limits.max_order,
                            },
                        ));
                    }
                    if runs.len() >= limits.max_runs {
                        return Err(err(
                            0,
                            child,
                            RadixFault::RunLimit {
                                limit: limits.max_runs,
                            },
                        ));
                    }
                    runs.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                    runs.push(run);
                }
            }
        }
        runs.sort_unstable();
        for w in runs.windows(2) {
            if w[0].end(page_size) > w[1].addr.get() {
                let fault = RadixFault::Overlap { a: w[0], b: w[1] };
                return Err(err(0, root, fault));
            }
        }
        Ok(PreservedMap {
            page_size,
            runs,
            nodes,
        })
    }

    /// The runs, sorted by address.
    pub fn runs(&self) -> &[PreservedRun] {
        &self.runs
    }

    /// The tree's own pages, in the order the walk read them (the root
    /// first).
    pub fn nodes(&self) -> &[PhysAddr] {
        &self.nodes
    }

    /// Pages the runs cover (saturating).
    pub fn pages(&self) -> u64 {
        self.runs.iter().fold(0u64, |n, r| {
            n.saturating_add(1u64.checked_shl(r.order).unwrap_or(u64::MAX))
        })
    }

    /// The page size the tree was walked with.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// The run holding the byte at `addr`, if one does.
    pub fn run_of(&self, addr: PhysAddr) -> Option<PreservedRun> {
        let i = self.runs.partition_point(|r| r.addr <= addr);
        let r = *self.runs.get(i.checked_sub(1)?)?;
        (addr.get() < r.end(self.page_size)).then_some(r)
    }

    /// Whether the page at `addr` was handed over: inside a run.
    pub fn contains(&self, addr: PhysAddr) -> bool {
        self.run_of(addr).is_some()
    }
}

/// Builds a preserved-memory tree of `runs` in fresh preserved pages of
/// `mem`, as the kernel's `kho_radix_add_page` does for each (nodes made on
/// first use, the root first), and returns the root's address.
///
/// A run that has no key within the bits the tree indexes is refused with
/// [`RadixFault::Unrepresentable`] before anything is allocated: an order
/// over [`RadixGeometry::max_key_order`] or an address unaligned to the
/// run. On error every page it
/// allocated is freed again.
pub fn write_radix<M: PreservedMemory + ?Sized>(
    mem: &mut M,
    runs: &[PreservedRun],
) -> Result<PhysAddr> {
    let g = RadixGeometry::new(mem.page_size())?;
    let mut keys = Vec::new();
    keys.try_reserve_exact(runs.len())
        .map_err(|_| Error::OutOfMemory)?;
    let key_bits = g.key_bits();
    for (index, r) in runs.iter().enumerate() {
        match g.encode(r.addr, r.order) {
            Some(k) if k.checked_shr(key_bits).unwrap_or(0) == 0 => keys.push(k),
            _ => {
                let fault = RadixFault::Unrepresentable {
                    index,
                    run: *r,
                    key_bits,
                };
                return Err(err(0, PhysAddr::NULL, fault));
            }
        }
    }
    let mut made: Vec<PhysAddr> = Vec::new();
    let result = (|| {
        let root = mem.alloc_preserve()?;
        made.push(root);
        for &key in &keys {
            let mut node = root;
            for level in (1..g.depth).rev() {
                let i = g.table_index(key, level);
                let next = word(mem.page(node)?, i);
                node = if next != 0 {
                    PhysAddr(next)
                } else {
                    made.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                    let fresh = mem.alloc_preserve()?;
                    made.push(fresh);
                    mem.page_mut(node)?[i * 8..i * 8 + 8]
                        .copy_from_slice(&fresh.get().to_ne_bytes());
                    fresh
                };
            }
            let bit = g.bitmap_index(key);
            let page = mem.page_mut(node)?;
            page[bit / 8] |= 1 << (bit % 8);
        }
        Ok(root)
    })();
    if result.is_err() {
        for p in made {
            let _ = mem.unpreserve_free(p);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimMemory;
    use alloc::vec;

    #[test]
    fn geometry_is_the_kernels_enum() {
        let g = |p| RadixGeometry::new(p).unwrap();
        // (order_0_log2, table_log2, bitmap_log2, depth) of kexec_handover.h.
        let facts = |g: RadixGeometry| (g.order_0_log2, g.table_log2, g.bitmap_log2, g.depth);
        assert_eq!(facts(g(4096)), (52, 9, 15, 6));
        assert_eq!(facts(g(16384)), (50, 11, 17, 5));
        assert_eq!(facts(g(65536)), (48, 13, 19, 4));
        assert!(RadixGeometry::new(8192).is_err());
    }

    #[test]
    fn keys_are_the_kernels() {
        let g = RadixGeometry::new(4096).unwrap();
        // Order 0 at 0x5000: the order bit at 52, the pfn below it.
        assert_eq!(g.encode(PhysAddr(0x5000), 0), Some((1 << 52) | 5));
        // Order 2 at 0x4000: bit 50, 0x4000 >> 14 = 1.
        assert_eq!(g.encode(PhysAddr(0x4000), 2), Some((1 << 50) | 1));
        assert_eq!(g.decode((1 << 50) | 1), Some((PhysAddr(0x4000), 2)));
        assert_eq!(g.encode(PhysAddr(0x1000), 1), None, "unaligned to its run");
        assert_eq!(g.encode(PhysAddr(0), 53), None);
        assert_eq!(g.encode(PhysAddr(0), 52), Some(1));
        assert_eq!(g.decode(1), Some((PhysAddr(0), 52)));
        assert_eq!(g.decode(0), None);
        assert_eq!(g.decode(1 << 53), None);
        // Leaf and table indices: bits 0..15, then 9 a level.
        let k = (1u64 << 52) | (3 << 15) | 7;
        assert_eq!((g.bitmap_index(k), g.table_index(k, 1)), (7, 3));
        assert_eq!(g.table_index(k, 5), ((1 << 52) >> 51) & 511);
    }

    fn sim(page: usize) -> SimMemory {
        SimMemory::new(0x1_0000_0000, page, 32).unwrap()
    }

    #[test]
    fn a_written_tree_restores_its_runs() {
        for page in [4096, 16384, 65536] {
            let mut mem = sim(page);
            let p = page as u64;
            let runs = [
                PreservedRun {
                    addr: PhysAddr(0),
                    order: 0,
                },
                PreservedRun {
                    addr: PhysAddr(4 * p),
                    order: 2,
                },
                PreservedRun {
                    addr: PhysAddr(p << 20),
                    order: 20,
                },
                PreservedRun {
                    addr: PhysAddr(0x7f_0000_0000),
                    order: 0,
                },
            ];
            let root = write_radix(&mut mem, &runs).unwrap();
            let mem = mem.kexec();
            let map = PreservedMap::restore(&mem, root).unwrap_or_else(|e| panic!("{page}: {e}"));
            let mut want = runs.to_vec();
            want.sort();
            assert_eq!(map.runs(), want.as_slice(), "{page}");
            assert_eq!(map.nodes()[0], root);
            assert!(map.contains(PhysAddr(7 * p)) && !map.contains(PhysAddr(8 * p)));
            assert_eq!(map.pages(), 2 + 4 + (1 << 20));
        }
    }

    /// A tree with one order-0 run at `addr`, and the path of nodes from
    /// the root to its leaf.
    fn one_run(mem: &mut SimMemory, addr: u64) -> (PhysAddr, Vec<PhysAddr>) {
        let root = write_radix(
            mem,
            &[PreservedRun {
                addr: PhysAddr(addr),
                order: 0,
            }],
        )
        .unwrap();
        let mut path = vec![root];
        let mut node = root;
        while path.len() < 6 {
            let page = mem.page(node).unwrap();
            let i = (0..512).find(|&i| word(page, i) != 0).unwrap();
            node = PhysAddr(word(page, i));
            path.push(node);
        }
        (root, path)
    }

    fn set(mem: &mut SimMemory, node: PhysAddr, i: usize, v: u64) {
        mem.page_mut(node).unwrap()[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
    }

    fn fault_of(
        mem: &SimMemory,
        root: PhysAddr,
        limits: RadixLimits,
    ) -> (u32, PhysAddr, RadixFault) {
        match PreservedMap::restore_with_limits(mem, root, limits) {
            Err(Error::Radix { level, node, fault }) => (level, node, fault),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_damage_is_named_at_its_node() {
        let lim = RadixLimits::default();
        // A root outside memory.
        let mem = sim(4096);
        assert_eq!(
            fault_of(&mem, PhysAddr(0x1000), lim),
            (5, PhysAddr(0x1000), RadixFault::Node(Fault::OutOfRange))
        );
        // An unaligned child.
        let mut mem = sim(4096);
        let (root, path) = one_run(&mut mem, 0x5000);
        set(&mut mem, path[3], 0, path[4].get() + 8);
        assert_eq!(
            fault_of(&mem, root, lim),
            (
                1,
                PhysAddr(path[4].get() + 8),
                RadixFault::Node(Fault::Unaligned)
            )
        );
        // A cycle: a level-2 entry back to the root.
        let mut mem = sim(4096);
        let (root, path) = one_run(&mut mem, 0x5000);
        set(&mut mem, path[3], 7, root.get());
        assert_eq!(
            fault_of(&mem, root, lim),
            (
                2,
                path[3],
                RadixFault::Shared {
                    index: 7,
                    node: root
                }
            )
        );
        // A shared leaf: two level-1 entries, one node.
        let mut mem = sim(4096);
        let (root, path) = one_run(&mut mem, 0x5000);
        set(&mut mem, path[4], 9, path[5].get());
        assert_eq!(
            fault_of(&mem, root, lim),
            (
                1,
                path[4],
                RadixFault::Shared {
                    index: 9,
                    node: path[5]
                }
            )
        );
        // A run of order 40 at 0 has key 1 << 12: every table index 0, its
        // leaf's bit 4096. Bit 0 of that leaf is key 0, which has no order
        // bit; the run itself is over the order limit.
        let mut mem = sim(4096);
        let big = PreservedRun {
            addr: PhysAddr(0),
            order: 40,
        };
        let root = write_radix(&mut mem, &[big]).unwrap();
        let mut leaf = root;
        for _ in 0..5 {
            leaf = PhysAddr(word(mem.page(leaf).unwrap(), 0));
        }
        assert_eq!(
            fault_of(&mem, root, lim),
            (
                0,
                leaf,
                RadixFault::Order {
                    bit: 4096,
                    run: big,
                    max: 20
                }
            )
        );
        mem.page_mut(leaf).unwrap()[0] |= 1;
        assert_eq!(
            fault_of(&mem, root, lim),
            (0, leaf, RadixFault::BadKey { bit: 0, key: 0 })
        );
        // Over the node limit.
        let mut mem = sim(4096);
        let (root, _) = one_run(&mut mem, 0x5000);
        let tight = RadixLimits {
            max_nodes: 5,
            ..lim
        };
        assert!(matches!(
            fault_of(&mem, root, tight).2,
            RadixFault::NodeLimit { limit: 5 }
        ));
        // Over the run limit, and overlapping runs.
        let mut mem = sim(4096);
        let runs = [
            PreservedRun {
                addr: PhysAddr(0x4000),
                order: 2,
            },
            PreservedRun {
                addr: PhysAddr(0x5000),
                order: 0,
            },
        ];
        let root = write_radix(&mut mem, &runs).unwrap();
        let one = RadixLimits { max_runs: 1, ..lim };
        assert!(matches!(
            fault_of(&mem, root, one).2,
            RadixFault::RunLimit { limit: 1 }
        ));
        assert_eq!(
            fault_of(&mem, root, lim),
            (
                0,
                root,
                RadixFault::Overlap {
                    a: runs[0],
                    b: runs[1]
                }
            )
        );
    }

    #[test]
    fn a_run_the_tree_cannot_hold_is_refused_before_anything_is_written() {
        for (page, r, key_bits) in [
            (
                4096,
                PreservedRun {
                    addr: PhysAddr(0x1000),
                    order: 1,
                },
                60,
            ),
            (
                4096,
                PreservedRun {
                    addr: PhysAddr(0),
                    order: 53,
                },
                60,
            ),
            (
                16384,
                PreservedRun {
                    addr: PhysAddr(0x4000),
                    order: 1,
                },
                61,
            ),
        ] {
            let mut mem = sim(page);
            let before = mem.stats();
            let ok = PreservedRun {
                addr: PhysAddr(0),
                order: 1,
            };
            let e = write_radix(&mut mem, &[ok, r]).unwrap_err();
            let want = RadixFault::Unrepresentable {
                index: 1,
                run: r,
                key_bits,
            };
            assert!(
                matches!(e, Error::Radix { fault, .. } if fault == want),
                "{e}"
            );
            assert_eq!(mem.stats(), before);
        }
        // Every key fits: an order-0 key is order_0_log2 + 1 bits.
        for page in [4096, 16384, 65536] {
            let g = RadixGeometry::new(page).unwrap();
            assert!(g.key_bits() > g.order_0_log2, "{page}");
        }
        assert_eq!(RadixGeometry::new(16384).unwrap().key_bits(), 61);
        assert_eq!(RadixGeometry::new(4096).unwrap().key_bits(), 60);
        assert_eq!(RadixGeometry::new(65536).unwrap().key_bits(), 58);
    }
}
