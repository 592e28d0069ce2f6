//! The preserved-memory radix tree (kho-v2): what is written is what is
//! restored, against a model, at every page size, through a kexec and
//! through a raw dump of the tree's pages; and random damage to the tree is
//! either caught, naming its node, or harmless.

use std::collections::BTreeSet;

use kho_runtime::{
    write_radix, Error, PhysAddr, PreservedMap, PreservedMemory, PreservedRun, RadixGeometry,
    RadixLimits, RawImage, SimMemory, PAGE_SIZES,
};
use proptest::prelude::*;

const BASE: u64 = 0x4000_0000;

/// Runs from `(slot, order)` pairs: slot `s` of order `o` is the run at
/// `s << (page_shift + o)`, made distinct and non-overlapping by keeping
/// the first of any that would share pages.
fn runs(page: usize, picks: &[(u32, u32)]) -> Vec<PreservedRun> {
    let mut out: Vec<PreservedRun> = Vec::new();
    for &(slot, order) in picks {
        let len = (page as u64) << order;
        let addr = u64::from(slot) * len;
        let clash = out
            .iter()
            .any(|r| addr < r.end(page) && r.addr.get() < addr + len);
        if !clash {
            out.push(PreservedRun {
                addr: PhysAddr(addr),
                order,
            });
        }
    }
    out
}

fn written(page: usize, runs: &[PreservedRun]) -> (SimMemory, PhysAddr) {
    let mut mem = SimMemory::new(BASE, page, 512).unwrap();
    let root = write_radix(&mut mem, runs).unwrap();
    (mem.kexec(), root)
}

/// The image of every page of `mem` the tree uses, as a raw dump.
fn dump(mem: &SimMemory, map: &PreservedMap) -> RawImage {
    let page = mem.page_size();
    let last = map.nodes().iter().map(|n| n.get()).max().unwrap();
    let len = (last - BASE) as usize + page;
    let mut bytes = vec![0u8; len];
    for &n in map.nodes() {
        let at = (n.get() - BASE) as usize;
        bytes[at..at + page].copy_from_slice(mem.page(n).unwrap());
    }
    RawImage::from_vec(bytes, BASE, page).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Write then restore is the set written, sorted, at every page size;
    /// a raw dump of the tree's pages restores the same.
    #[test]
    fn restore_is_what_was_written(
        ps_i in 0usize..3,
        picks in prop::collection::vec((0u32..1 << 20, 0u32..12), 0..40),
    ) {
        let page = PAGE_SIZES[ps_i];
        let want = runs(page, &picks);
        let (mem, root) = written(page, &want);
        let map = PreservedMap::restore(&mem, root).unwrap();
        let model: Vec<PreservedRun> = want.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
        prop_assert_eq!(map.runs(), model.as_slice());
        for r in &want {
            prop_assert!(map.contains(r.addr));
            prop_assert!(map.contains(PhysAddr(r.end(page) - 1)));
            prop_assert_eq!(map.run_of(PhysAddr(r.end(page) - 1)), Some(*r));
        }
        let img = dump(&mem, &map);
        prop_assert_eq!(PreservedMap::restore(&img, root).unwrap(), map);
    }

    /// Random words written into the tree's nodes: restore never panics,
    /// and is either a named radix error or a set of runs the tree's bits
    /// really say (checked by walking it again with a model walker).
    #[test]
    fn random_damage_is_caught_or_harmless(
        ps_i in 0usize..3,
        picks in prop::collection::vec((0u32..1 << 12, 0u32..4), 1..12),
        damage in prop::collection::vec((any::<u32>(), any::<u64>(), 0u8..4), 1..6),
    ) {
        let page = PAGE_SIZES[ps_i];
        let want = runs(page, &picks);
        let (mut mem, root) = written(page, &want);
        let nodes = PreservedMap::restore(&mem, root).unwrap().nodes().to_vec();
        for &(pos, x, kind) in &damage {
            let node = nodes[pos as usize % nodes.len()];
            let w = (pos as usize / 7) % (page / 8);
            let value = match kind {
                0 => 0,
                1 => nodes[(pos as usize / 3) % nodes.len()].get(),
                2 => x,
                _ => x & 0xff,
            };
            mem.page_mut(node).unwrap()[w * 8..w * 8 + 8].copy_from_slice(&value.to_ne_bytes());
        }
        match PreservedMap::restore(&mem, root) {
            Err(Error::Radix { .. }) => {}
            Err(e) => prop_assert!(false, "not a radix error: {e}"),
            Ok(map) => {
                let model = model_walk(&mem, root);
                prop_assert_eq!(map.runs(), model.as_slice());
            }
        }
    }
}

/// An independent walk: every set bit under the root, in key order,
/// decoded; recursion is fine here (the depth is at most 6).
fn model_walk(mem: &SimMemory, root: PhysAddr) -> Vec<PreservedRun> {
    let g = RadixGeometry::new(mem.page_size()).unwrap();
    let mut out = Vec::new();
    fn go(
        mem: &SimMemory,
        g: &RadixGeometry,
        node: PhysAddr,
        level: u32,
        prefix: u64,
        out: &mut Vec<PreservedRun>,
    ) {
        let page = mem.page(node).unwrap();
        let word = |i: usize| u64::from_ne_bytes(page[i * 8..i * 8 + 8].try_into().unwrap());
        for i in 0..page.len() / 8 {
            let w = word(i);
            if level == 0 {
                for b in 0..64 {
                    if w >> b & 1 == 1 {
                        let (addr, order) = g.decode(prefix | (i * 64 + b) as u64).unwrap();
                        out.push(PreservedRun { addr, order });
                    }
                }
            } else if w != 0 {
                let shift = (level - 1) * g.table_log2 + g.bitmap_log2;
                go(
                    mem,
                    g,
                    PhysAddr(w),
                    level - 1,
                    prefix | (i as u64) << shift,
                    out,
                );
            }
        }
    }
    go(mem, &g, root, g.depth - 1, 0, &mut out);
    out.sort();
    out
}

#[test]
fn the_limits_bound_what_a_walk_reads_and_keeps() {
    let want = runs(4096, &[(1, 0), (2, 0), (1 << 19, 0), (3, 3)]);
    let (mem, root) = written(4096, &want);
    let all = PreservedMap::restore(&mem, root).unwrap();
    let n = all.nodes().len();
    let exact = RadixLimits {
        max_nodes: n,
        max_runs: want.len(),
        max_order: 3,
    };
    assert_eq!(
        PreservedMap::restore_with_limits(&mem, root, exact).unwrap(),
        all
    );
    for (limits, what) in [
        (
            RadixLimits {
                max_nodes: n - 1,
                ..exact
            },
            format!("more than {} nodes", n - 1),
        ),
        (
            RadixLimits {
                max_runs: want.len() - 1,
                ..exact
            },
            format!("more than {} runs", want.len() - 1),
        ),
        (
            RadixLimits {
                max_order: 2,
                ..exact
            },
            "is over order 2".to_string(),
        ),
    ] {
        let e = PreservedMap::restore_with_limits(&mem, root, limits).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("preserved-memory tree level "), "{text}");
        assert!(text.contains(&what), "{text}");
    }
}

/// A dump with its preserved-memory tree read in hands over only what the
/// tree names: a vmalloc area with one page left out of the tree is
/// refused at that page, as the next kernel would refuse it.
#[test]
fn a_dump_with_its_tree_hands_over_only_the_trees_pages() {
    use kho_runtime::{Fault, Vmalloc, VmallocFault};
    let page = 4096;
    let mut mem = SimMemory::new(BASE, page, 64).unwrap();
    let data: Vec<u8> = (0..3 * page).map(|i| (i % 251) as u8).collect();
    let area = Vmalloc::write(&mut mem, &data).unwrap();
    let every: Vec<PreservedRun> = area
        .chunks()
        .iter()
        .chain(area.pages())
        .map(|&addr| PreservedRun { addr, order: 0 })
        .collect();
    let missing = area.pages()[1];
    let tree_all = write_radix(&mut mem, &every).unwrap();
    let some: Vec<PreservedRun> = every
        .iter()
        .copied()
        .filter(|r| r.addr != missing)
        .collect();
    let tree_some = write_radix(&mut mem, &some).unwrap();
    let mem = mem.kexec();
    let mut bytes = vec![0u8; 64 * page];
    for i in 0..64u64 {
        if let Ok(p) = mem.page(PhysAddr(BASE + i * page as u64)) {
            bytes[i as usize * page..][..page].copy_from_slice(p);
        }
    }
    let img = || RawImage::from_vec(bytes.clone(), BASE, page).unwrap();
    // Without a tree every page counts as handed over.
    assert!(img().preserved().is_none());
    assert_eq!(
        Vmalloc::restore(&img(), &area.ser()).unwrap().pages(),
        area.pages()
    );
    let all = img().with_preserved(tree_all).unwrap();
    assert_eq!(all.preserved().unwrap().runs().len(), every.len());
    assert_eq!(
        Vmalloc::restore(&all, &area.ser()).unwrap().pages(),
        area.pages()
    );
    let part = img().with_preserved(tree_some).unwrap();
    match Vmalloc::restore(&part, &area.ser()) {
        Err(Error::Vmalloc {
            chunk: 0,
            fault:
                VmallocFault::Page {
                    slot: 1,
                    page: p,
                    fault: Fault::NotPreserved,
                },
            ..
        }) => assert_eq!(p, missing),
        other => panic!("{other:?}"),
    }
    // A tree that is not one is an error naming its root.
    let e = img()
        .with_preserved(PhysAddr(BASE + 64 * page as u64))
        .unwrap_err();
    assert!(e.to_string().contains("level 5, node 0x40040000"), "{e}");
}
