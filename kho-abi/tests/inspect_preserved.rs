//! `kho-abi inspect --preserved-map`: a dump's preserved-memory radix tree
//! (kho-v3) printed run by run; the same tree deciding what a memfd
//! handover may use (a folio page the tree leaves out is refused, as the
//! next kernel would); a damaged tree refused with one line naming its
//! node.

mod common;
use common::{kho_abi, stderr, stdout, TempFile};

use kho_runtime::{write_radix, PhysAddr, PreservedMemory, PreservedRun, SimMemory, Vmalloc};

const BASE: u64 = 0x40_0000;

fn inspect(dump: &[u8], ps: usize, more: &[&str]) -> std::process::Output {
    let f = TempFile::with("dump", dump);
    let mut args = vec![
        "inspect".to_string(),
        "--image".into(),
        f.path().to_string(),
        "--base".into(),
        format!("{BASE:#x}"),
        "--page-size".into(),
        ps.to_string(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    kho_abi(&refs)
}

#[test]
fn prints_the_runs_at_every_page_size() {
    for ps in [4096usize, 16384, 65536] {
        let p = ps as u64;
        let mut mem = SimMemory::new(BASE, ps, 16).unwrap();
        let runs = [
            PreservedRun {
                addr: PhysAddr(BASE + 8 * p),
                order: 3,
            },
            PreservedRun {
                addr: PhysAddr(BASE),
                order: 0,
            },
        ];
        let root = write_radix(&mut mem, &runs).unwrap();
        let out = inspect(mem.as_bytes(), ps, &["--preserved-map", &format!("{root}")]);
        assert_eq!(out.status.code(), Some(0), "{ps}: {}", stderr(&out));
        // The two orders part at the root: one path of depth - 1 nodes each.
        let depth = match ps {
            4096 => 6,
            16384 => 5,
            _ => 4,
        };
        let nodes = 1 + 2 * (depth - 1);
        let want = format!(
            "preserved-memory map at {root}: 2 run(s), 9 page(s) of {ps} bytes, {nodes} tree node(s)\n\
             {BASE:#x}..{:#x} order 0 (1 page(s))\n\
             {:#x}..{:#x} order 3 (8 page(s))\n",
            BASE + p,
            BASE + 8 * p,
            BASE + 16 * p,
        );
        assert_eq!(stdout(&out), want, "{ps}");
    }
}

/// A memfd handover whose folio area's second page the tree leaves out.
#[test]
fn a_memfd_page_the_tree_does_not_name_is_refused() {
    let mut mem = SimMemory::new(BASE, 4096, 32).unwrap();
    let ser_page = mem.alloc_preserve().unwrap();
    let bytes: Vec<u8> = (0..300u64)
        .flat_map(|i| [(i + 1).to_ne_bytes(), i.to_ne_bytes()].concat())
        .collect();
    let area = Vmalloc::write(&mut mem, &bytes).unwrap();
    common::memfd::put_ser(mem.page_mut(ser_page).unwrap(), 0, false, 300, &area);
    let mut every = vec![ser_page];
    every.extend(area.chunks());
    every.extend(area.pages());
    let run = |a: &PhysAddr| PreservedRun { addr: *a, order: 0 };
    let all: Vec<PreservedRun> = every.iter().map(run).collect();
    let left_out = area.pages()[1];
    let some: Vec<PreservedRun> = every.iter().filter(|a| **a != left_out).map(run).collect();
    let root_all = write_radix(&mut mem, &all).unwrap();
    let root_some = write_radix(&mut mem, &some).unwrap();
    let memfd = format!("{ser_page}");
    let ok = inspect(
        mem.as_bytes(),
        4096,
        &["--memfd", &memfd, "--preserved-map", &format!("{root_all}")],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).ends_with("[299] pfn = 0x12c flags = 0x0 () index = 299\n"));
    let bad = inspect(
        mem.as_bytes(),
        4096,
        &[
            "--memfd",
            &memfd,
            "--preserved-map",
            &format!("{root_some}"),
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stdout(&bad), "");
    let err = stderr(&bad);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "folios: vmalloc chunk 0 at {}: slot 1: page {left_out}: page is not preserved",
            area.chunks()[0]
        )),
        "{err}"
    );
    // Without the tree every page of a dump counts as handed over.
    let plain = inspect(mem.as_bytes(), 4096, &["--memfd", &memfd]);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
}

#[test]
fn a_damaged_tree_is_refused_naming_its_node() {
    let mut mem = SimMemory::new(BASE, 4096, 16).unwrap();
    let root = write_radix(
        &mut mem,
        &[PreservedRun {
            addr: PhysAddr(BASE),
            order: 0,
        }],
    )
    .unwrap();
    // The root's first used entry, pointed back at the root: a cycle.
    let i = (0..512)
        .find(|&i| mem.page(root).unwrap()[i * 8..i * 8 + 8] != [0; 8])
        .unwrap();
    mem.page_mut(root).unwrap()[i * 8..i * 8 + 8].copy_from_slice(&root.get().to_ne_bytes());
    let out = inspect(
        mem.as_bytes(),
        4096,
        &["--preserved-map", &format!("{root}")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "--preserved-map {root}: preserved-memory tree level 5, node {root}: entry {i} names node {root}, already in the tree"
        )),
        "{err}"
    );
    // A root outside the dump.
    let out = inspect(mem.as_bytes(), 4096, &["--preserved-map", "0x1000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("level 5, node 0x1000: address outside memory"),
        "{}",
        stderr(&out)
    );
    // Alone it prints text only.
    let out = inspect(
        mem.as_bytes(),
        4096,
        &["--preserved-map", "0x1000", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not apply to --preserved-map alone"),
        "{}",
        stderr(&out)
    );
}

/// A block set whose second block the tree leaves out: refused at that
/// block with the tree, printed without it.
#[test]
fn a_block_the_tree_does_not_name_is_refused() {
    use kho_runtime::RawBlockSet;
    let mut mem = SimMemory::new(BASE, 4096, 16).unwrap();
    let mut set = RawBlockSet::new(&mem, 2000).unwrap();
    set.grow(&mut mem, 3).unwrap();
    for i in 0..3u8 {
        set.push(&mut mem, &[i; 2000]).unwrap();
    }
    assert_eq!(set.blocks().len(), 2);
    let (b0, b1) = (set.blocks()[0], set.blocks()[1]);
    let root = write_radix(&mut mem, &[PreservedRun { addr: b0, order: 0 }]).unwrap();
    let head = format!("{b0}");
    let args = ["--head", &head, "--entry-size", "2000"];
    let plain = inspect(mem.as_bytes(), 4096, &args);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert_eq!(stdout(&plain).lines().count(), 3);
    let map = format!("{root}");
    let with_tree: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--preserved-map", &map])
        .collect();
    let out = inspect(mem.as_bytes(), 4096, &with_tree);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("block 1 at {b1}")) && err.contains("not preserved"),
        "{err}"
    );
}
