//! Writes seed corpora for the fuzz targets into `fuzz/corpus/<target>/`:
//!
//! * `restore_raw`: chains in the byte layout the target decodes (byte 0
//!   page-size selector, bytes 1-2 entry size - 1, bytes 3-6 head offset,
//!   byte 7 head mode | (block limit - 1) << 3, then the image; block
//!   headers are `next` and `count`, native endian, at offsets 0 and 8;
//!   entries from 16). Mostly valid, plus a cycle and a chain over its limit.
//! * `file_memory_open`: real images made by `FileMemory::create` and
//!   `publish`, with zero, one or several recorded sets, one or two
//!   generations, and all three page sizes.
//! * `schema_parse`: every `schemas/*.toml`, and pairs of them joined by a
//!   NUL byte (the target compiles NUL-separated parts as separate files,
//!   so dependencies resolve).
//!
//! * `vmalloc_restore`: areas written by `Vmalloc::write` in a
//!   `SimMemory` at the target's base (byte 0 page-size selector, bytes
//!   1-16 the descriptor, byte 17 mode 0 | (limit - 1) / 100 << 2, then the
//!   memory's bytes), at every page size, across a chunk boundary at 4 KiB.
//!
//! * `radix_restore`: preserved-memory trees written by `write_radix` in a
//!   `SimMemory` at the target's base, whose root is its first page (byte
//!   0 page-size selector, byte 1 root page 0, byte 2 limits 0xff, then
//!   the memory's bytes), at every page size.
//!
//! Run from anywhere: `cargo run --manifest-path fuzz/seedgen/Cargo.toml`.

use std::fs;
use std::path::{Path, PathBuf};

use kho_runtime::{FileMemory, FileMemoryConfig, PhysAddr, RawBlockSet, RootRecord, PAGE_SIZES};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn corpus(target: &str) -> PathBuf {
    let d = fuzz_dir().join("corpus").join(target);
    fs::create_dir_all(&d).unwrap();
    d
}

// ---- restore_raw -------------------------------------------------------

const HEAD_NULL: u8 = 0;
const HEAD_EXACT: u8 = 1;
const HEAD_PAGE: u8 = 2;

/// One restore_raw input: `chain` lists the pages of the chain in order and
/// how many entries each holds; the image has `pages` pages; the block limit
/// is 32.
fn raw_seed(
    ps_sel: u8,
    entry_size: usize,
    pages: usize,
    chain: &[(usize, u64)],
    mode: u8,
) -> Vec<u8> {
    raw_seed_limit(ps_sel, entry_size, pages, chain, mode, 32)
}

fn raw_seed_limit(
    ps_sel: u8,
    entry_size: usize,
    pages: usize,
    chain: &[(usize, u64)],
    mode: u8,
    limit: u8,
) -> Vec<u8> {
    assert!((1..=32).contains(&limit) && mode < 8);
    let ps = PAGE_SIZES[ps_sel as usize];
    let base = 0x1000_0000u64;
    let mut img = vec![0u8; pages * ps];
    for (k, &(page, count)) in chain.iter().enumerate() {
        let next = chain.get(k + 1).map_or(0, |&(p, _)| base + (p * ps) as u64);
        let at = page * ps;
        img[at..at + 8].copy_from_slice(&next.to_ne_bytes());
        img[at + 8..at + 16].copy_from_slice(&count.to_ne_bytes());
        for i in 0..count as usize {
            let e = at + 16 + i * entry_size;
            for (j, b) in img[e..e + entry_size].iter_mut().enumerate() {
                *b = (i * 7 + j + k * 31) as u8;
            }
        }
    }
    let head_page = chain.first().map_or(0, |&(p, _)| p);
    // Mode 1 adds the offset to the base; modes 2..7 take a page index.
    let head_off = match mode {
        HEAD_EXACT => (head_page * ps) as u32,
        _ => head_page as u32,
    };
    let mut out = vec![ps_sel];
    out.extend_from_slice(&((entry_size - 1) as u16).to_le_bytes());
    out.extend_from_slice(&head_off.to_le_bytes());
    out.push(mode | (limit - 1) << 3);
    out.extend_from_slice(&img);
    out
}

fn restore_raw_seeds() -> usize {
    let dir = corpus("restore_raw");
    let mut seeds = vec![
        // 4 KiB pages.
        raw_seed(0, 16, 1, &[(0, 1)], HEAD_PAGE),
        raw_seed(0, 16, 1, &[(0, 255)], HEAD_PAGE), // a full block
        raw_seed(0, 8, 3, &[(0, 510), (1, 510), (2, 3)], HEAD_PAGE),
        raw_seed(0, 24, 3, &[(2, 5), (0, 170), (1, 1)], HEAD_PAGE), // out of order
        raw_seed(0, 168, 2, &[(1, 24), (0, 2)], HEAD_EXACT),
        raw_seed(0, 4080, 2, &[(0, 1), (1, 1)], HEAD_PAGE), // largest entry
        raw_seed(0, 1, 1, &[(0, 4080)], HEAD_PAGE),         // smallest entry
        raw_seed(0, 48, 1, &[(0, 3)], HEAD_NULL),
        // 16 KiB pages.
        raw_seed(1, 64, 2, &[(1, 10), (0, 255)], HEAD_PAGE),
        // 64 KiB pages.
        raw_seed(2, 80, 1, &[(0, 819)], HEAD_PAGE),
        // Exactly at its limit, and one block over it.
        raw_seed_limit(0, 16, 3, &[(0, 1), (2, 2), (1, 3)], HEAD_PAGE, 3),
        raw_seed_limit(0, 16, 3, &[(0, 1), (2, 2), (1, 3)], HEAD_PAGE, 2),
    ];
    // A chain that loops back on itself (rejected: a seed for the cycle path).
    let mut cyc = raw_seed(0, 16, 2, &[(0, 1), (1, 1)], HEAD_PAGE);
    let second = 8 + 4096;
    cyc[second..second + 8].copy_from_slice(&0x1000_0000u64.to_ne_bytes());
    seeds.push(cyc);
    // Sanity: decoded as the target decodes them, the chains restore (all
    // but the last two: over the limit, and the cycle).
    for (i, s) in seeds.iter().enumerate() {
        let r = restore_as_target(s);
        assert_eq!(r.is_ok(), i + 2 < seeds.len(), "seed {i}: {r:?}");
    }
    for (i, s) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:02}")), s).unwrap();
    }
    seeds.len()
}

/// What the restore_raw target does with `data`, up to the restore.
fn restore_as_target(data: &[u8]) -> kho_runtime::Result<RawBlockSet> {
    let ps = PAGE_SIZES[data[0] as usize % 3];
    let entry_size = 1 + (u16::from_le_bytes([data[1], data[2]]) as usize % (ps - 16));
    let head_off = u32::from_le_bytes([data[3], data[4], data[5], data[6]]) as u64;
    let base = 0x1000_0000u64;
    let head = match data[7] % 8 {
        0 => 0,
        1 => base + head_off,
        _ => base + (head_off % 16) * ps as u64,
    };
    let max_blocks = 1 + (data[7] >> 3) as usize;
    let img = kho_runtime::RawImage::from_vec(data[8..].to_vec(), base, ps)?;
    RawBlockSet::restore_with_limit(&img, PhysAddr(head), entry_size, max_blocks)
}

// ---- file_memory_open --------------------------------------------------

fn set_with(mem: &mut FileMemory, entry_size: usize, n: usize, salt: u8) -> RawBlockSet {
    let mut set = RawBlockSet::new(mem, entry_size).unwrap();
    set.grow(mem, n).unwrap();
    for i in 0..n {
        let e: Vec<u8> = (0..entry_size)
            .map(|j| (i as u8).wrapping_mul(13) ^ j as u8 ^ salt)
            .collect();
        set.push(mem, &e).unwrap();
    }
    set.publish(mem).unwrap();
    set
}

fn image(
    out: &Path,
    page_size: usize,
    pages: usize,
    sets: &[(&str, usize, usize)],
    generations: usize,
) {
    let tmp = std::env::temp_dir().join(format!("kho-seedgen-{}.img", std::process::id()));
    let tmp_s = tmp.to_string_lossy().into_owned();
    let cfg = FileMemoryConfig {
        base: 0x1_0000_0000,
        page_size,
        pages,
    };
    let mut mem = FileMemory::create(&tmp_s, cfg).unwrap();
    for g in 0..generations {
        let mut records = Vec::new();
        for (k, &(name, entry_size, n)) in sets.iter().enumerate() {
            let set = set_with(&mut mem, entry_size, n, (g * 16 + k) as u8);
            let rec = RootRecord::for_raw(name, "fuzz-seed-v1", 0x1234_5678 + k as u64, &set);
            records.push(rec.unwrap());
        }
        mem.publish(&records).unwrap();
    }
    drop(mem);
    fs::copy(&tmp, out).unwrap();
    fs::remove_file(&tmp).unwrap();
}

fn file_memory_seeds() -> usize {
    let dir = corpus("file_memory_open");
    // (page size, pages, sets as (name, entry size, entries), generations)
    type Image<'a> = (usize, usize, &'a [(&'a str, usize, usize)], usize);
    let seeds: &[Image] = &[
        // The brief's geometry: 16 pages of 4 KiB at 4 GiB.
        (4096, 16, &[], 1),
        (4096, 16, &[("one", 16, 3)], 1),
        (
            4096,
            16,
            &[("a", 16, 300), ("b", 168, 2), ("c", 4080, 2)],
            1,
        ),
        (4096, 16, &[("gen", 8, 10)], 2), // both superblock slots valid
        (4096, 16, &[("empty", 32, 0), ("x", 1, 5000)], 1),
        (16384, 8, &[("s", 48, 400)], 1),
        (65536, 5, &[], 1), // 4 metadata pages (each superblock slot its own), 1 data page
    ];
    for (i, &(ps, pages, sets, gens)) in seeds.iter().enumerate() {
        image(&dir.join(format!("seed-{i:02}.img")), ps, pages, sets, gens);
    }
    // Sanity: the seeds open and their sets restore.
    for e in fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("seed-")
        {
            let mem = FileMemory::open_read_only(&p).unwrap();
            for r in mem.root() {
                RawBlockSet::restore(&mem, PhysAddr(r.head), r.entry_size as usize).unwrap();
            }
        }
    }
    seeds.len()
}

// ---- schema_parse ------------------------------------------------------

fn schema_seeds() -> usize {
    let dir = corpus("schema_parse");
    let schemas = fuzz_dir().parent().unwrap().join("schemas");
    let mut texts = Vec::new();
    let mut paths: Vec<_> = fs::read_dir(&schemas)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for p in &paths {
        let text = fs::read(p).unwrap();
        fs::write(dir.join(p.file_name().unwrap()), &text).unwrap();
        texts.push(text);
    }
    let mut n = paths.len();
    // Every schema in one input, NUL separated, so `depends` resolves.
    let all = texts.join(&0u8);
    fs::write(dir.join("all-schemas"), all).unwrap();
    n += 1;
    let small: &[&str] = &[
        "[abi]\nname = \"t\"\nversion = 1\n[[struct]]\nname = \"s\"\nentry = true\nfields = [{ name = \"a\", type = \"u8\" }]\n",
        "[abi]\nname = \"t\"\nversion = 2\ncompose = \"sorted\"\ndepends = [\"d\"]\n[constants]\nN = 3\nS = \"x\"\nK = { c = \"PAGE_SIZE\", doc = \"k\" }\n[[struct]]\nname = \"outer\"\nfields = [\n  { name = \"inner\", type = \"inner[2]\" },\n  { name = \"grid\", type = \"u8[2][N]\" },\n  { name = \"names\", type = \"char[2][N]\" },\n  { name = \"pa\", type = \"phys_addr\" },\n  { name = \"dd\", type = \"d\" },\n]\n[[struct]]\nname = \"inner\"\nfields = [{ name = \"y\", type = \"i64\" }]\n\0[abi]\nname = \"d\"\nversion = 1\n[abi.c]\nheader = \"linux/kho/abi/d.h\"\n[[struct]]\nname = \"d\"\nfields = [{ name = \"x\", type = \"u32\" }]\n",
    ];
    for (i, s) in small.iter().enumerate() {
        fs::write(dir.join(format!("small-{i}")), s).unwrap();
    }
    // Sanity: the combined and small seeds compile, split as the target
    // splits them (a lone schema with `depends` cannot).
    let checked = ["all-schemas".to_string()]
        .into_iter()
        .chain((0..small.len()).map(|i| format!("small-{i}")));
    for name in checked {
        let p = dir.join(name);
        let text = String::from_utf8(fs::read(&p).unwrap()).unwrap();
        let sources: Vec<_> = text
            .splitn(8, '\0')
            .enumerate()
            .map(|(i, t)| kho_schema::Source::new(format!("s{i}.toml"), t))
            .collect();
        if let Err(d) = kho_schema::compile(&sources) {
            panic!("{}: {d}", p.display());
        }
    }
    n + small.len()
}

// ---- vmalloc_restore ---------------------------------------------------

fn vmalloc_seeds() -> usize {
    use kho_runtime::{SimMemory, Vmalloc};
    let dir = corpus("vmalloc_restore");
    let mut n = 0;
    for (sel, ps) in PAGE_SIZES.iter().enumerate() {
        let sizes: &[usize] = if *ps == 4096 {
            &[0, 1, 3, 510, 511, 512]
        } else {
            &[0, 1, 3]
        };
        for &pages in sizes {
            let mut mem = SimMemory::new(0x1000_0000, *ps, pages + 4).unwrap();
            let data: Vec<u8> = (0..pages * ps).map(|i| (i % 251) as u8).collect();
            let area = Vmalloc::write(&mut mem, &data).unwrap();
            let mut input = vec![sel as u8];
            input.extend_from_slice(&area.ser().to_bytes());
            input.push(63 << 2); // mode 0, limit 6301
            input.extend_from_slice(mem.as_bytes());
            // The target's own check: the seed restores.
            let img =
                kho_runtime::RawImage::from_vec(mem.as_bytes().to_vec(), 0x1000_0000, *ps).unwrap();
            assert_eq!(
                Vmalloc::restore_with_limit(&img, &area.ser(), 6301)
                    .unwrap()
                    .pages()
                    .len(),
                pages
            );
            fs::write(dir.join(format!("area-{ps}-{pages}")), input).unwrap();
            n += 1;
        }
    }
    n
}

// ---- radix_restore -----------------------------------------------------

fn radix_seeds() -> usize {
    use kho_runtime::{write_radix, PreservedMap, PreservedRun, RadixLimits, SimMemory};
    let dir = corpus("radix_restore");
    let mut n = 0;
    for (sel, ps) in PAGE_SIZES.iter().enumerate() {
        let sets: [&[(u64, u32)]; 3] = [&[], &[(5, 0), (6, 0)], &[(0, 3), (1 << 20, 0), (3, 9)]];
        for (k, set) in sets.iter().enumerate() {
            let mut mem = SimMemory::new(0x1000_0000, *ps, 24).unwrap();
            let runs: Vec<PreservedRun> = set
                .iter()
                .map(|&(slot, order)| PreservedRun {
                    addr: PhysAddr(slot * ((*ps as u64) << order)),
                    order,
                })
                .collect();
            let root = write_radix(&mut mem, &runs).unwrap();
            assert_eq!(root, PhysAddr(0x1000_0000), "the root is the first page");
            let mut input = vec![sel as u8, 0, 0xff];
            input.extend_from_slice(mem.as_bytes());
            // The target's own check: the seed restores.
            let img =
                kho_runtime::RawImage::from_vec(mem.as_bytes().to_vec(), 0x1000_0000, *ps).unwrap();
            let limits = RadixLimits {
                max_nodes: 61,
                max_runs: 961,
                max_order: 20,
            };
            let map = PreservedMap::restore_with_limits(&img, root, limits).unwrap();
            assert_eq!(map.runs().len(), runs.len());
            fs::write(dir.join(format!("tree-{ps}-{k}")), input).unwrap();
            n += 1;
        }
    }
    n
}

fn main() {
    println!("radix_restore: {} seeds", radix_seeds());
    println!("vmalloc_restore: {} seeds", vmalloc_seeds());
    println!("restore_raw: {} seeds", restore_raw_seeds());
    println!("file_memory_open: {} seeds", file_memory_seeds());
    println!("schema_parse: {} seeds", schema_seeds());
}
