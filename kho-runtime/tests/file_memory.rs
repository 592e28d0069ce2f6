//! FileMemory: a handover written by one process and taken over by the
//! next through an image file, with every page size, ABI checks, hostile
//! files and failed saves.

mod common;

use common::{entry_bytes, wr, Conn, ConnSameName, ConnV2, TempPath, Wide, BASE};
use kho_runtime::{
    fingerprint, BlockSet, ChainFault, Error, Fault, FileMemory, FileMemoryConfig, KhoEntry,
    PhysAddr, PreservedMemory, RawBlockSet, RootRecord, PAGE_SIZES,
};
use proptest::prelude::*;

fn config(page_size: usize, pages: usize) -> FileMemoryConfig {
    FileMemoryConfig {
        base: BASE,
        page_size,
        pages,
    }
}

/// Writes the standard handover into a new image: "conns" (3 blocks of
/// Conn), "wide" (1000 Wide), "empty" (no block) and "raw" (100-byte
/// entries through the untyped set). Returns the published records.
fn write_handover(path: &str, ps: usize, pages: usize) -> Vec<RootRecord> {
    let mut mem = FileMemory::create(path, config(ps, pages)).unwrap();
    assert_eq!(mem.generation(), 1);
    assert!(mem.root().is_empty());

    let mut conns = BlockSet::<Conn, _>::new(&mem).unwrap();
    let n = 2 * conns.count_per_block() + 7;
    conns.grow(&mut mem, n).unwrap();
    {
        let mut w = conns.writer(&mut mem).unwrap();
        for i in 0..n {
            w.push(&Conn::nth(i)).unwrap();
        }
        w.finish().unwrap();
    }
    assert_eq!(conns.block_count(), 3);

    let mut wide = BlockSet::<Wide, _>::new(&mem).unwrap();
    for i in 0..1000 {
        wide.push(&mut mem, &Wide::nth(i)).unwrap();
    }
    wide.publish(&mut mem).unwrap();

    let mut empty = BlockSet::<Conn, _>::new(&mem).unwrap();
    empty.grow(&mut mem, 10).unwrap();
    empty.publish(&mut mem).unwrap();
    assert_eq!(empty.head(), PhysAddr::NULL);

    let mut raw = RawBlockSet::new(&mem, 100).unwrap();
    raw.grow(&mut mem, 45).unwrap();
    for i in 0..45 {
        raw.push(&mut mem, &entry_bytes(i, 100)).unwrap();
    }
    raw.publish(&mut mem).unwrap();

    let records = vec![
        RootRecord::for_set("conns", &conns).unwrap(),
        RootRecord::for_set("wide", &wide).unwrap(),
        RootRecord::for_set("empty", &empty).unwrap(),
        RootRecord::for_raw("raw", "test-raw-v1", fingerprint("raw 100\n"), &raw).unwrap(),
    ];
    mem.publish(&records).unwrap();
    assert_eq!(mem.generation(), 2);
    records
}

/// Checks that the image at `path` holds exactly the standard handover.
fn check_handover(mem: &FileMemory, records: &[RootRecord]) {
    assert_eq!(mem.root(), records);
    let names: Vec<String> = mem.root().iter().map(RootRecord::name).collect();
    assert_eq!(names, ["conns", "wide", "empty", "raw"]);
    let r = mem.find("conns").unwrap();
    assert_eq!(r.compatible(), "test-conn-v1");
    assert_eq!({ r.entry_size }, 24);
    assert_eq!({ r.fingerprint }, Conn::FINGERPRINT);
    assert_eq!({ r.blocks }, 3);

    let conns = mem.restore_set::<Conn>("conns").unwrap();
    assert_eq!(conns.len() as u64, { r.entries });
    assert_eq!(conns.head(), PhysAddr(r.head));
    assert_eq!(conns.block_count(), 3);
    for (i, c) in conns.iter(mem).unwrap().enumerate() {
        assert_eq!(c, Conn::nth(i), "conn {i}");
    }
    assert_eq!(conns.iter(mem).unwrap().count(), conns.len());

    let wide = mem.restore_set::<Wide>("wide").unwrap();
    assert_eq!(wide.len(), 1000);
    for i in 0..1000 {
        assert_eq!(wide.get(mem, i).unwrap(), Some(Wide::nth(i)));
    }

    let empty = mem.restore_set::<Conn>("empty").unwrap();
    assert_eq!((empty.len(), empty.block_count()), (0, 0));

    let r = mem.find("raw").unwrap();
    assert_eq!(r.compatible(), "test-raw-v1");
    let raw = RawBlockSet::restore(mem, PhysAddr(r.head), r.entry_size as usize).unwrap();
    assert_eq!(raw.len(), 45);
    for (i, e) in raw.iter(mem).unwrap().enumerate() {
        assert_eq!(e, &entry_bytes(i, 100)[..]);
    }
}

#[test]
fn handover_round_trips_for_every_page_size() {
    for ps in PAGE_SIZES {
        let path = TempPath::new(&format!("round-trip-{ps}"));
        let records = write_handover(path.as_str(), ps, 32);
        assert_eq!(
            std::fs::metadata(path.as_str()).unwrap().len(),
            (32 * ps) as u64
        );

        let mut mem = FileMemory::open(path.as_str()).unwrap();
        assert_eq!(mem.generation(), 2);
        assert_eq!(mem.page_size(), ps);
        assert_eq!(mem.pages(), 32);
        assert_eq!(mem.base(), PhysAddr(BASE));
        assert_eq!(mem.path(), path.as_str());
        check_handover(&mem, &records);

        // Every block of every set is incoming (the root table's own pages
        // were released by open); destroying the sets releases them all.
        let blocks: u64 = records.iter().map(|r| r.blocks).sum();
        assert_eq!(mem.stats().incoming as u64, blocks);
        assert_eq!(mem.stats().preserved, 0);
        let mut conns = mem.restore_set::<Conn>("conns").unwrap();
        conns.destroy(&mut mem).unwrap();
        let mut wide = mem.restore_set::<Wide>("wide").unwrap();
        wide.destroy(&mut mem).unwrap();
        let r = *mem.find("raw").unwrap();
        let mut raw = RawBlockSet::restore(&mem, PhysAddr(r.head), 100).unwrap();
        raw.destroy(&mut mem).unwrap();
        assert_eq!(mem.stats().incoming, 0);
        // A released set cannot be taken over a second time.
        let again = RawBlockSet::restore(&mem, PhysAddr(r.head), 100);
        assert!(
            matches!(again, Err(Error::Chain { index: 0, addr,
                fault: ChainFault::Address(Fault::NotPreserved | Fault::AlreadyRestored) })
                if addr == PhysAddr(r.head)),
            "{again:?}"
        );
        drop(mem);

        // Taking over without publishing changes nothing in the file.
        let mem = FileMemory::open(path.as_str()).unwrap();
        check_handover(&mem, &records);
    }
}

#[test]
fn read_only_open_never_writes_the_file() {
    let path = TempPath::new("read-only");
    let records = write_handover(path.as_str(), 4096, 32);
    let before = std::fs::read(path.as_str()).unwrap();
    {
        let mut mem = FileMemory::open_read_only(path.as_str()).unwrap();
        check_handover(&mem, &records);
        let mut conns = mem.restore_set::<Conn>("conns").unwrap();
        conns.destroy(&mut mem).unwrap();
        let mut set = BlockSet::<Conn, _>::new(&mem).unwrap();
        set.push(&mut mem, &Conn::nth(1)).unwrap();
        // Publishing could never reach the file: refused, not a silent no-op.
        let err = mem
            .publish(&[RootRecord::for_set("new", &set).unwrap()])
            .unwrap_err();
        assert!(
            matches!(&err, Error::Image { path: p, what } if p == path.as_str() && what.contains("read-only")),
            "{err:?}"
        );
        assert_eq!(mem.generation(), 2);
    }
    assert!(std::fs::read(path.as_str()).unwrap() == before);
    let mem = FileMemory::open(path.as_str()).unwrap();
    assert_eq!(mem.generation(), 2);
    check_handover(&mem, &records);
}

#[test]
fn incompatible_types_are_refused() {
    let path = TempPath::new("incompatible");
    write_handover(path.as_str(), 4096, 32);
    let mem = FileMemory::open(path.as_str()).unwrap();

    // Another compatible string (a version bump), same size.
    let err = mem.restore_set::<ConnV2>("conns").unwrap_err();
    assert!(
        matches!(&err, Error::IncompatibleAbi { name, expected, found }
            if name == "conns" && expected.contains("test-conn-v2") && found.contains("test-conn-v1")),
        "{err:?}"
    );
    // Same compatible string and size, another layout: the fingerprint.
    let err = mem.restore_set::<ConnSameName>("conns").unwrap_err();
    assert!(
        matches!(&err, Error::IncompatibleAbi { expected, found, .. }
            if expected != found
                && expected.contains(&format!("{:#018x}", ConnSameName::FINGERPRINT))
                && found.contains(&format!("{:#018x}", Conn::FINGERPRINT))),
        "{err:?}"
    );
    // Another entry size.
    let err = mem.restore_set::<Wide>("conns").unwrap_err();
    assert!(
        matches!(&err, Error::IncompatibleAbi { expected, found, .. }
            if expected.contains("40 bytes") && found.contains("24 bytes")),
        "{err:?}"
    );
    assert!(err.to_string().contains("conns"));
    // And the right type still reads.
    assert_eq!(mem.restore_set::<Conn>("conns").unwrap().len(), 347);
    // Unknown names.
    assert!(matches!(mem.restore_set::<Conn>("nope"), Err(Error::NotFound(n)) if n == "nope"));
    assert!(matches!(mem.find("con"), Err(Error::NotFound(_))));
}

#[test]
fn record_names_and_compatibles_are_bounded() {
    let path = TempPath::new("names");
    let mem = FileMemory::create(path.as_str(), config(4096, 8)).unwrap();
    let set = BlockSet::<Conn, _>::new(&mem).unwrap();
    let long = "x".repeat(64);
    assert!(matches!(
        RootRecord::for_set(&long, &set),
        Err(Error::TooLong {
            len: 64,
            capacity: 63,
            ..
        })
    ));
    let r = RootRecord::for_set(&"y".repeat(63), &set).unwrap();
    assert_eq!(r.name().len(), 63);
}

// ---- New generations ----

/// Takes over the log recorded as `name`, checks it holds Conn 0..expect,
/// releases it and returns its entries.
fn take_over_log(mem: &mut FileMemory, name: &str, expect: usize) -> Vec<Conn> {
    let mut old = mem.restore_set::<Conn>(name).unwrap();
    assert_eq!(old.len(), expect);
    let items: Vec<Conn> = old.iter(mem).unwrap().collect();
    for (i, c) in items.iter().enumerate() {
        assert_eq!(*c, Conn::nth(i), "{name}: entry {i}");
    }
    old.destroy(mem).unwrap();
    items
}

#[test]
fn each_generation_takes_over_and_hands_on() {
    for ps in PAGE_SIZES {
        let path = TempPath::new(&format!("generations-{ps}"));
        let mut gen;
        {
            let mut mem = FileMemory::create(path.as_str(), config(ps, 24)).unwrap();
            let mut set = BlockSet::<Conn, _>::new(&mem).unwrap();
            for i in 0..100 {
                set.push(&mut mem, &Conn::nth(i)).unwrap();
            }
            mem.publish(&[RootRecord::for_set("log-0", &set).unwrap()])
                .unwrap();
            gen = mem.generation();
            assert_eq!(gen, 2);
        }
        // Each boot takes the log over, releases it and hands on a longer
        // one under a new name; odd boots publish twice, and only the
        // second counts.
        let mut expect = 100;
        let step = 170 * ps / 4096 + 30; // about a block of growth per boot
        for boot in 1..=6usize {
            let mut mem = FileMemory::open(path.as_str()).unwrap();
            assert_eq!(mem.generation(), gen, "boot {boot}");
            let names: Vec<String> = mem.root().iter().map(RootRecord::name).collect();
            assert_eq!(names, [format!("log-{}", boot - 1)], "boot {boot}");
            let items = take_over_log(&mut mem, &names[0], expect);
            assert_eq!(mem.stats().incoming, 0, "nothing else was handed over");

            let mut set = BlockSet::<Conn, _>::new(&mem).unwrap();
            for c in &items {
                set.push(&mut mem, c).unwrap();
            }
            for i in expect..expect + step {
                set.push(&mut mem, &Conn::nth(i)).unwrap();
            }
            expect += step;
            let rec = RootRecord::for_set(&format!("log-{boot}"), &set).unwrap();
            if boot % 2 == 1 {
                let decoy = RootRecord::for_set("decoy", &set).unwrap();
                mem.publish(&[decoy]).unwrap();
                assert_eq!(mem.generation(), gen + 1);
                gen += 1;
            }
            mem.publish(&[rec]).unwrap();
            assert_eq!(mem.generation(), gen + 1);
            gen += 1;
        }
        let mut mem = FileMemory::open(path.as_str()).unwrap();
        assert_eq!(mem.generation(), gen);
        take_over_log(&mut mem, "log-6", expect);
    }
}

#[test]
fn sets_not_taken_over_stay_readable_until_released() {
    // A set restored but not destroyed is still the previous kernel's: its
    // pages are not handed out to new sets.
    let path = TempPath::new("not-released");
    let records = write_handover(path.as_str(), 4096, 32);
    let mut mem = FileMemory::open(path.as_str()).unwrap();
    let conns = mem.restore_set::<Conn>("conns").unwrap();
    let mut fresh = BlockSet::<Conn, _>::new(&mem).unwrap();
    let held: Vec<PhysAddr> = conns.as_raw().blocks().to_vec();
    for i in 0..600 {
        fresh.push(&mut mem, &Conn::nth(i + 7)).unwrap();
    }
    for b in fresh.as_raw().blocks() {
        assert!(!held.contains(b), "page {b} handed out twice");
    }
    for (i, c) in conns.iter(&mem).unwrap().enumerate() {
        assert_eq!(c, Conn::nth(i));
    }
    assert_eq!(conns.len() as u64, { records[0].entries });
}

// ---- Failed saves ----

#[test]
fn failed_publish_leaves_the_previous_generation() {
    for ps in PAGE_SIZES {
        for fail_at in [0u64, 1] {
            let path = TempPath::new(&format!("failed-publish-{ps}-{fail_at}"));
            let records = write_handover(path.as_str(), ps, 40);
            let mut mem = FileMemory::open(path.as_str()).unwrap();
            let gen = mem.generation();
            // Enough records that the root table needs two blocks
            // (168-byte records: 24 per 4 KiB block, 97 per 16 KiB, 389 per 64 KiB).
            let per_block = (ps - 16) / 168;
            let mut more = records.clone();
            let mut extra = BlockSet::<Conn, _>::new(&mem).unwrap();
            for i in 0..50 {
                extra.push(&mut mem, &Conn::nth(1000 + i)).unwrap();
            }
            while more.len() <= per_block {
                let n = more.len();
                more.push(RootRecord::for_set(&format!("extra-{n}"), &extra).unwrap());
            }
            mem.fail_allocation(fail_at);
            let err = mem.publish(&more).unwrap_err();
            assert!(matches!(err, Error::OutOfMemory), "{err:?}");
            assert_eq!(
                mem.generation(),
                gen,
                "generation moved on a failed publish"
            );
            drop(mem);

            // The file still holds the previous handover, intact.
            let mem = FileMemory::open(path.as_str()).unwrap();
            assert_eq!(mem.generation(), gen);
            check_handover(&mem, &records);
            drop(mem);

            // A retry in the same process goes through.
            let mut mem = FileMemory::open(path.as_str()).unwrap();
            let mut extra = BlockSet::<Conn, _>::new(&mem).unwrap();
            for i in 0..50 {
                extra.push(&mut mem, &Conn::nth(1000 + i)).unwrap();
            }
            for r in more.iter_mut().skip(records.len()) {
                *r = RootRecord::for_set(&r.name(), &extra).unwrap();
            }
            mem.fail_allocation(fail_at);
            assert!(mem.publish(&more).is_err());
            mem.publish(&more).unwrap();
            assert_eq!(mem.generation(), gen + 1);
            drop(mem);
            let mem = FileMemory::open(path.as_str()).unwrap();
            assert_eq!(mem.generation(), gen + 1);
            assert_eq!(mem.root(), &more[..]);
            let last = more.last().unwrap().name();
            let got: Vec<Conn> = mem
                .restore_set::<Conn>(&last)
                .unwrap()
                .iter(&mem)
                .unwrap()
                .collect();
            assert_eq!(got.len(), 50);
            assert_eq!(got[49], Conn::nth(1049));
        }
    }
}

#[test]
fn full_image_fails_publish_cleanly() {
    let path = TempPath::new("full");
    let mut mem = FileMemory::create(path.as_str(), config(4096, 9)).unwrap();
    // 9 pages: 4 of metadata (two superblocks, two bitmaps), 5 of data.
    let mut set = RawBlockSet::new(&mem, 4080).unwrap();
    set.grow(&mut mem, 5).unwrap();
    assert!(matches!(set.grow(&mut mem, 6), Err(Error::OutOfMemory)));
    for i in 0..5 {
        set.push(&mut mem, &entry_bytes(i, 4080)).unwrap();
    }
    let rec = RootRecord::for_raw("all", "test-raw-v1", 1, &set).unwrap();
    assert!(matches!(mem.publish(&[rec]), Err(Error::OutOfMemory)));
    assert_eq!(mem.generation(), 1);
    // Make room and publish.
    set.shrink(&mut mem, 4).unwrap();
    let rec = RootRecord::for_raw("all", "test-raw-v1", 1, &set).unwrap();
    mem.publish(&[rec]).unwrap();
    drop(mem);
    let mem = FileMemory::open(path.as_str()).unwrap();
    let r = *mem.find("all").unwrap();
    let set = RawBlockSet::restore(&mem, PhysAddr(r.head), 4080).unwrap();
    assert_eq!(set.len(), 4);
    assert_eq!(set.get(&mem, 3).unwrap(), Some(&entry_bytes(3, 4080)[..]));
}

// ---- Hostile files ----

fn assert_image_error(path: &str, what_contains: &str) {
    for res in [FileMemory::open(path), FileMemory::open_read_only(path)] {
        match res {
            Err(Error::Image { path: p, what }) => {
                assert_eq!(p, path);
                assert!(
                    what.contains(what_contains),
                    "{what:?} lacks {what_contains:?}"
                );
            }
            other => panic!("expected an image error, got {other:?}"),
        }
    }
}

#[test]
fn garbage_short_and_zero_files_are_image_errors() {
    let path = TempPath::new("garbage");
    let p = path.as_str();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "too small"),
        (vec![0xff; 63], "too small"),
        (vec![0xff; 64], "no valid superblock"),
        (vec![0; 4096], "no valid superblock"),
        (vec![0; 20480], "no valid superblock"),
        (vec![0; 65536], "no superblock magic"),
        (
            (0..65536u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "no valid superblock",
        ),
        (b"KHOIMAGE".repeat(8192), "checksum"),
    ];
    for (bytes, what) in cases {
        std::fs::write(p, &bytes).unwrap();
        assert_image_error(p, what);
    }
    // A file that does not exist is an I/O error naming it.
    let missing = TempPath::new("missing");
    assert!(
        matches!(FileMemory::open(missing.as_str()), Err(Error::Io { path, .. }) if path == missing.as_str())
    );
}

#[test]
fn truncated_or_extended_images_are_refused() {
    let path = TempPath::new("truncated");
    write_handover(path.as_str(), 4096, 32);
    let good = std::fs::read(path.as_str()).unwrap();
    for len in [good.len() - 4096, good.len() - 1, 4096, 1024] {
        std::fs::write(path.as_str(), &good[..len]).unwrap();
        assert_image_error(path.as_str(), "bytes");
    }
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 4096]);
    std::fs::write(path.as_str(), &longer).unwrap();
    assert_image_error(path.as_str(), "bytes");
}

#[test]
fn a_corrupt_newest_superblock_falls_back_to_the_older_one() {
    let path = TempPath::new("fallback");
    write_handover(path.as_str(), 4096, 32);
    let mut bytes = std::fs::read(path.as_str()).unwrap();
    // Generation 1 (create) is in slot 0, generation 2 in slot 1, page 1.
    bytes[4096 + 30] ^= 1;
    std::fs::write(path.as_str(), &bytes).unwrap();
    let mem = FileMemory::open(path.as_str()).unwrap();
    assert_eq!(mem.generation(), 1);
    assert!(mem.root().is_empty());
    drop(mem);
    // Both corrupt: nothing to open.
    bytes[30] ^= 1;
    std::fs::write(path.as_str(), &bytes).unwrap();
    assert_image_error(path.as_str(), "checksum");
}

/// A superblock as `FileMemory` writes it (FNV-1a checksum over the first
/// 56 bytes), for crafting images whose metadata checks out but lies.
fn superblock(
    version: u32,
    ps: u32,
    base: u64,
    pages: u64,
    generation: u64,
    root: u64,
) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(b"KHOIMAGE");
    b[8..12].copy_from_slice(&version.to_ne_bytes());
    b[12..16].copy_from_slice(&ps.to_ne_bytes());
    for (i, v) in [base, pages, generation, root].into_iter().enumerate() {
        wr(&mut b, 16 + 8 * i, v);
    }
    let sum = b[..56].iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    wr(&mut b, 56, sum);
    b
}

/// A zeroed 16-page 4 KiB image with `sb` in slot 0; page 2 is slot 0's
/// bitmap, pages 4.. are data.
fn crafted(path: &str, sb: [u8; 64], edit: impl FnOnce(&mut [u8])) {
    let mut bytes = vec![0u8; 16 * 4096];
    bytes[..64].copy_from_slice(&sb);
    edit(&mut bytes);
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn crafted_superblock_fields_are_checked() {
    let path = TempPath::new("crafted-sb");
    let p = path.as_str();
    // The well-formed baseline opens: the crafting is right.
    crafted(p, superblock(2, 4096, BASE, 16, 9, 0), |_| {});
    let mem = FileMemory::open(p).unwrap();
    assert_eq!((mem.generation(), mem.root().len()), (9, 0));
    drop(mem);

    let cases: [([u8; 64], &str); 9] = [
        (
            superblock(1, 4096, BASE, 16, 9, 0),
            "version 1, this build reads 2",
        ),
        (superblock(3, 4096, BASE, 16, 9, 0), "version"),
        (superblock(2, 8192, BASE, 8, 9, 0), "8192"),
        (superblock(2, 4096, BASE, 17, 9, 0), "bytes"),
        (superblock(2, 4096, BASE, u64::MAX / 2, 9, 0), "bytes"),
        (superblock(2, 4096, 0, 16, 9, 0), "base"),
        (superblock(2, 4096, BASE + 8, 16, 9, 0), "base"),
        (superblock(2, 4096, !4095u64, 16, 9, 0), "base"),
        (superblock(2, 65536, BASE, 1, 9, 0), "no room"),
    ];
    for (sb, what) in cases {
        crafted(p, sb, |_| {});
        assert_image_error(p, what);
    }
    // Too small to hold any data page: 4 pages of 4 KiB are all metadata.
    std::fs::write(p, {
        let mut b = vec![0u8; 4 * 4096];
        b[..64].copy_from_slice(&superblock(2, 4096, BASE, 4, 9, 0));
        b
    })
    .unwrap();
    assert_image_error(p, "no room");
}

#[test]
fn crafted_root_tables_are_checked_like_any_chain() {
    let path = TempPath::new("crafted-root");
    let p = path.as_str();
    let page = |i: u64| BASE + i * 4096;
    let preserve = |bytes: &mut [u8], i: usize| bytes[2 * 4096 + i / 8] |= 1 << (i % 8);
    type Edit = Box<dyn Fn(&mut [u8])>;
    let cases: Vec<(u64, Edit, &str)> = vec![
        (
            BASE + 8,
            Box::new(|_| {}),
            "block 0 at 0x100008: address not page aligned",
        ),
        (
            page(0),
            Box::new(|_| {}),
            "block 0 at 0x100000: page is reserved for image metadata",
        ),
        (
            page(2),
            Box::new(|_| {}),
            "block 0 at 0x102000: page is reserved for image metadata",
        ),
        (
            page(16),
            Box::new(|_| {}),
            "block 0 at 0x110000: address outside memory",
        ),
        (
            page(5),
            Box::new(|_| {}),
            "block 0 at 0x105000: page is not preserved",
        ),
        (
            page(5),
            Box::new(move |b| preserve(b, 5)),
            "block 0 at 0x105000: entry count 0 is outside 1..=24",
        ),
        (
            page(5),
            Box::new(move |b| {
                preserve(b, 5);
                wr(b, 5 * 4096, page(5));
                wr(b, 5 * 4096 + 8, 1);
            }),
            "block 0 at 0x105000: next links back to block 0 (cycle)",
        ),
        (
            page(5),
            Box::new(move |b| {
                preserve(b, 5);
                wr(b, 5 * 4096, page(6));
                wr(b, 5 * 4096 + 8, 1);
            }),
            "block 1 at 0x106000: page is not preserved",
        ),
        (
            page(5),
            Box::new(move |b| {
                preserve(b, 5);
                wr(b, 5 * 4096 + 8, 25);
            }),
            "block 0 at 0x105000: entry count 25 is outside 1..=24",
        ),
    ];
    for (root, edit, what) in cases {
        crafted(p, superblock(2, 4096, BASE, 16, 9, root), |b| edit(b));
        match FileMemory::open(p) {
            Err(Error::Image { what: w, .. }) => {
                assert_eq!(w, format!("root table: {what}"), "root {root:#x}");
            }
            other => panic!("root {root:#x}: expected an image error, got {other:?}"),
        }
    }
    // A valid one-record root table in crafted bytes opens.
    crafted(p, superblock(2, 4096, BASE, 16, 9, page(5)), |b| {
        preserve(b, 5);
        wr(b, 5 * 4096 + 8, 1);
        b[5 * 4096 + 16..5 * 4096 + 20].copy_from_slice(b"hand");
    });
    let mem = FileMemory::open(p).unwrap();
    assert_eq!(mem.root().len(), 1);
    assert_eq!(mem.root()[0].name(), "hand");
    assert_eq!(
        mem.stats().incoming,
        0,
        "the root table's page was released"
    );
}

#[test]
fn lying_root_records_fail_at_restore_not_open() {
    let path = TempPath::new("lying-records");
    let ps = 4096u64;
    {
        let mut mem = FileMemory::create(path.as_str(), config(4096, 16)).unwrap();
        let mut set = BlockSet::<Conn, _>::new(&mem).unwrap();
        for i in 0..10 {
            set.push(&mut mem, &Conn::nth(i)).unwrap();
        }
        let good = RootRecord::for_set("good", &set).unwrap();
        let mut records = vec![good];
        for (name, head) in [
            ("meta", BASE),
            ("unaligned", good.head + 24),
            ("outside", BASE + 16 * ps),
            ("free", BASE + 15 * ps),
        ] {
            let mut r = RootRecord::for_set(name, &set).unwrap();
            r.head = head;
            records.push(r);
        }
        mem.publish(&records).unwrap();
    }
    let mem = FileMemory::open(path.as_str()).unwrap();
    assert_eq!(mem.root().len(), 5);
    assert_eq!(mem.restore_set::<Conn>("good").unwrap().len(), 10);
    let expect = [
        ("meta", BASE, Fault::Reserved),
        ("unaligned", mem.root()[0].head + 24, Fault::Unaligned),
        ("outside", BASE + 16 * ps, Fault::OutOfRange),
        ("free", BASE + 15 * ps, Fault::NotPreserved),
    ];
    for (name, head, fault) in expect {
        let err = mem.restore_set::<Conn>(name).unwrap_err();
        assert!(
            matches!(err, Error::Chain { index: 0, addr, fault: ChainFault::Address(f) }
                if addr == PhysAddr(head) && f == fault),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn bad_configs_are_refused_at_create() {
    let path = TempPath::new("bad-config");
    let p = path.as_str();
    assert!(matches!(
        FileMemory::create(p, config(8192, 16)),
        Err(Error::PageSize(8192))
    ));
    assert!(matches!(
        FileMemory::create(p, config(4096, 4)),
        Err(Error::Image { .. })
    ));
    let zero_base = FileMemoryConfig {
        base: 0,
        page_size: 4096,
        pages: 16,
    };
    assert!(matches!(
        FileMemory::create(p, zero_base),
        Err(Error::Image { .. })
    ));
    let odd_base = FileMemoryConfig {
        base: BASE + 4096,
        page_size: 65536,
        pages: 16,
    };
    assert!(matches!(
        FileMemory::create(p, odd_base),
        Err(Error::Image { .. })
    ));
    // The smallest image that works: 4 metadata pages and one data page.
    let mut mem = FileMemory::create(p, config(4096, 5)).unwrap();
    let mut set = RawBlockSet::new(&mem, 8).unwrap();
    set.grow(&mut mem, 1).unwrap();
    assert!(matches!(set.grow(&mut mem, 511), Err(Error::OutOfMemory)));
}

// ---- Fuzz: any damage is an error, never a panic ----

/// Opens `path` and reads everything it claims, whatever the bytes are.
/// Returns how many entries it read.
fn read_everything(path: &str) -> usize {
    let Ok(mem) = FileMemory::open_read_only(path) else {
        return 0;
    };
    let mut n = 0;
    for r in mem.root() {
        let es = r.entry_size as usize;
        if let Ok(set) = RawBlockSet::restore(&mem, PhysAddr(r.head), es) {
            assert!(set.len() <= set.block_count() * set.count_per_block());
            n += set.iter(&mem).unwrap().count();
            assert_eq!(set.get(&mem, set.len()).unwrap(), None);
        }
        if let Ok(set) = mem.restore_set::<Conn>(&r.name()) {
            n += set.iter(&mem).unwrap().count();
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn damaged_images_never_panic(
        flips in proptest::collection::vec((0usize..16, 0usize..4096, any::<u8>(), any::<bool>()), 1..12),
    ) {
        let path = TempPath::new("fuzz");
        {
            let mut mem = FileMemory::create(path.as_str(), config(4096, 16)).unwrap();
            let mut set = BlockSet::<Conn, _>::new(&mem).unwrap();
            for i in 0..400 {
                set.push(&mut mem, &Conn::nth(i)).unwrap();
            }
            let mut raw = RawBlockSet::new(&mem, 100).unwrap();
            raw.grow(&mut mem, 50).unwrap();
            for i in 0..50 {
                raw.push(&mut mem, &entry_bytes(i, 100)).unwrap();
            }
            mem.publish(&[
                RootRecord::for_set("conns", &set).unwrap(),
                RootRecord::for_raw("raw", "test-raw-v1", 7, &raw).unwrap(),
            ])
            .unwrap();
        }
        prop_assert_eq!(read_everything(path.as_str()), 850);
        let mut bytes = std::fs::read(path.as_str()).unwrap();
        for (page, off, val, near_header) in flips {
            // Half the damage lands in a header or the first entries,
            // where it matters most.
            let off = if near_header { off % 64 } else { off };
            bytes[page * 4096 + off] ^= val | 1;
        }
        std::fs::write(path.as_str(), &bytes).unwrap();
        let n = read_everything(path.as_str());
        prop_assert!(n <= 2 * 4080 * 16, "read {} entries from 16 pages", n);
    }
}
