//! A 64 GiB image and a 64 GiB dump, sparse on disk, opened and walked on
//! a machine with less memory than that: the file backends read the pages
//! they are asked for and nothing else.
//!
//! One test in its own binary, so that the resident-set figures are this
//! test's alone.

mod common;

use std::os::unix::fs::{FileExt, MetadataExt};

use common::{rd, wr, TempPath};
use kho_runtime::{
    fingerprint, AbiField, FileMemory, PhysAddr, PreservedMemory, RawBlockSet, RawImage, RootRecord,
};

const PS: usize = 4096;
const LEN: u64 = 64 << 30;
const PAGES: u64 = LEN / PS as u64;
const BASE: u64 = 0x1_0000_0000;

/// The process's resident set, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn superblock(generation: u64, root: u64) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(b"KHOIMAGE");
    b[8..12].copy_from_slice(&2u32.to_ne_bytes());
    b[12..16].copy_from_slice(&(PS as u32).to_ne_bytes());
    for (i, v) in [BASE, PAGES, generation, root].into_iter().enumerate() {
        wr(&mut b, 16 + 8 * i, v);
    }
    let sum = b[..56].iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    wr(&mut b, 56, sum);
    b
}

fn padded(s: &[u8]) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[..s.len()].copy_from_slice(s);
    b
}

#[test]
fn a_sparse_64_gib_image_opens_and_reads_in_little_memory() {
    let path = TempPath::new("64gib");
    let file = std::fs::File::create(path.as_str()).unwrap();
    file.set_len(LEN).unwrap();
    // A set of three 8-byte entries, one per block, at the first data page,
    // the middle and the very last page; the root table between them.
    let blocks = [1026u64, PAGES / 2, PAGES - 1];
    let root = 2000u64;
    let addr = |page: u64| BASE + page * PS as u64;
    for (k, &b) in blocks.iter().enumerate() {
        let mut page = vec![0u8; PS];
        wr(&mut page, 0, blocks.get(k + 1).map_or(0, |&n| addr(n)));
        wr(&mut page, 8, 1);
        wr(&mut page, 16, 0xabc0 + k as u64);
        file.write_all_at(&page, b * PS as u64).unwrap();
    }
    let record = RootRecord {
        name: padded(b"big"),
        compatible: padded(b"test-raw-v1"),
        head: addr(blocks[0]),
        entry_size: 8,
        entries: 3,
        blocks: 3,
        fingerprint: fingerprint("raw 8\n"),
    };
    let mut page = vec![0u8; PS];
    wr(&mut page, 8, 1);
    record.write_to(&mut page[16..]);
    file.write_all_at(&page, root * PS as u64).unwrap();
    // Slot 0's bitmap starts at page 2: one bit per page of the image.
    for p in blocks.iter().chain([&root]) {
        let byte = 2 * PS as u64 + p / 8;
        file.write_all_at(&[1 << (p % 8)], byte).unwrap();
    }
    file.write_all_at(&superblock(7, addr(root)), 0).unwrap();
    drop(file);
    let on_disk = std::fs::metadata(path.as_str()).unwrap().blocks() * 512;
    assert!(
        on_disk < 64 << 20,
        "the test file is not sparse: {on_disk} bytes"
    );

    let before = rss();
    let mem = FileMemory::open_read_only(path.as_str()).unwrap();
    assert_eq!((mem.pages() as u64, mem.generation()), (PAGES, 7));
    let r = *mem.find("big").unwrap();
    let set = RawBlockSet::restore(&mem, PhysAddr(r.head), 8).unwrap();
    let got: Vec<u64> = set.iter(&mem).unwrap().map(|e| rd(e, 0)).collect();
    assert_eq!(got, [0xabc0, 0xabc1, 0xabc2]);
    let image_rss = rss().saturating_sub(before);

    let before = rss();
    let img = RawImage::open(path.as_str(), BASE, PS).unwrap();
    assert_eq!(img.pages() as u64, PAGES);
    let set = RawBlockSet::restore(&img, PhysAddr(addr(blocks[0])), 8).unwrap();
    let got: Vec<u64> = set.iter(&img).unwrap().map(|e| rd(e, 0)).collect();
    assert_eq!(got, [0xabc0, 0xabc1, 0xabc2]);
    assert_eq!(rd(img.page(PhysAddr(addr(PAGES / 3))).unwrap(), 0), 0);
    let dump_rss = rss().saturating_sub(before);
    drop((mem, img));
    println!(
        "64 GiB sparse: FileMemory::open_read_only + restore grew the resident set by \
         {} KiB (per-page state for 16 Mi pages, the 2 MiB bitmap), RawImage::open + \
         restore by {} KiB",
        image_rss / 1024,
        dump_rss / 1024
    );
    // Generous bounds, far below the file: what is tested is that the
    // backends do not read, copy or map the whole thing.
    assert!(
        image_rss < 256 << 20,
        "FileMemory grew by {image_rss} bytes"
    );
    assert!(dump_rss < 16 << 20, "RawImage grew by {dump_rss} bytes");
}
