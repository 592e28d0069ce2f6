//! `kho-abi inspect` as a user runs it: the real binary on images laid out
//! byte by byte as the kernel lays them out.

use std::process::{Command, Output, Stdio};

mod common;
use common::{kho_abi, stderr, stdout, TempFile};

use kho_runtime::{FileMemory, FileMemoryConfig, PhysAddr, RawBlockSet, RootRecord};

const HEADER: usize = 16;

// ---------------------------------------------------------------------------
// Helpers

/// `n` entries of `size` distinct pseudo-random bytes (splitmix64).
fn entries(n: usize, size: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| (0..size).map(|_| next() as u8).collect())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where each block of a chain goes in the dump.
#[derive(Clone, Copy, Debug)]
enum Order {
    /// Block `i` in page `i`.
    Sequential,
    /// Block `i` in page `blocks - 1 - i`: the head is the last page.
    Reverse,
    /// Block `i` in page `2 i + 1`, garbage pages around them.
    Scattered,
}

/// A raw dump holding one chain, as the kernel would have left it.
struct Dump {
    bytes: Vec<u8>,
    base: u64,
    page_size: usize,
    head: u64,
    /// Each block's physical address, in chain order.
    blocks: Vec<u64>,
}

impl Dump {
    /// Lays out `entries` as `kho_block_set_grow` and the writers do: blocks
    /// filled front to back with `(page_size - 16) / entry_size` entries
    /// each, the last one partly; header `next` (physical address of the
    /// following block, 0 at the end) and `count`, native endian.
    fn new(page_size: usize, base: u64, entry_size: usize, list: &[Vec<u8>], order: Order) -> Self {
        let per_block = (page_size - HEADER) / entry_size;
        let nblocks = list.len().div_ceil(per_block);
        let page_of = |i: usize| match order {
            Order::Sequential => i,
            Order::Reverse => nblocks - 1 - i,
            Order::Scattered => 2 * i + 1,
        };
        let pages = match order {
            Order::Scattered => 2 * nblocks + 1,
            _ => nblocks,
        };
        // Pages no block uses hold garbage, never zeroes.
        let mut bytes = vec![0xa5u8; pages * page_size];
        let blocks: Vec<u64> = (0..nblocks)
            .map(|i| base + (page_of(i) * page_size) as u64)
            .collect();
        for (i, chunk) in list.chunks(per_block).enumerate() {
            let at = page_of(i) * page_size;
            let page = &mut bytes[at..at + page_size];
            page.fill(0);
            let next = blocks.get(i + 1).copied().unwrap_or(0);
            page[0..8].copy_from_slice(&next.to_ne_bytes());
            page[8..16].copy_from_slice(&(chunk.len() as u64).to_ne_bytes());
            for (slot, e) in chunk.iter().enumerate() {
                assert_eq!(e.len(), entry_size);
                let off = HEADER + slot * entry_size;
                page[off..off + entry_size].copy_from_slice(e);
            }
        }
        Dump {
            bytes,
            base,
            page_size,
            head: blocks.first().copied().unwrap_or(0),
            blocks,
        }
    }

    fn header_at(&mut self, block: usize) -> &mut [u8] {
        let at = (self.blocks[block] - self.base) as usize;
        &mut self.bytes[at..at + HEADER]
    }

    fn set_next(&mut self, block: usize, next: u64) {
        self.header_at(block)[0..8].copy_from_slice(&next.to_ne_bytes());
    }

    fn set_count(&mut self, block: usize, count: u64) {
        self.header_at(block)[8..16].copy_from_slice(&count.to_ne_bytes());
    }

    /// Runs `kho-abi inspect` on the dump with its geometry and `extra` args.
    fn inspect(&self, entry_size: usize, extra: &[&str]) -> Output {
        let file = TempFile::with("raw", &self.bytes);
        let (base, head) = (format!("{:#x}", self.base), format!("{:#x}", self.head));
        let (es, ps) = (entry_size.to_string(), self.page_size.to_string());
        let mut args = vec![
            "inspect",
            "--image",
            file.path(),
            "--base",
            &base,
            "--head",
            &head,
            "--entry-size",
            &es,
            "--page-size",
            &ps,
        ];
        args.extend_from_slice(extra);
        kho_abi(&args)
    }
}

/// Exit status 1, nothing on stdout, and exactly one line on stderr that
/// contains `reason`.
fn assert_invalid(out: &Output, reason: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(stdout(out), "");
    assert_eq!(err.lines().count(), 1, "stderr: {err:?}");
    assert!(err.starts_with("kho-abi: "), "stderr: {err:?}");
    assert!(err.contains(reason), "stderr {err:?} lacks {reason:?}");
}

/// Exit status 2 with a message that names `arg`.
fn assert_usage(args: &[&str], arg: &str) {
    let out = kho_abi(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(stdout(&out), "");
    assert!(err.contains(arg), "{args:?}: stderr {err:?} lacks {arg:?}");
}

// ---------------------------------------------------------------------------
// Raw dumps: valid chains

#[test]
fn hex_lines_are_the_entries_in_chain_order() {
    let orders = [Order::Sequential, Order::Reverse, Order::Scattered];
    for page_size in [4096usize, 16384, 65536] {
        for entry_size in [1usize, 32, 64, 4080] {
            let per_block = (page_size - HEADER) / entry_size;
            // Two full blocks and a third partly filled (full when a block
            // holds one entry), as the writers leave them.
            let n = 2 * per_block + (per_block / 2).max(1);
            let list = entries(n, entry_size, (page_size + entry_size) as u64);
            for (k, order) in orders.into_iter().enumerate() {
                let base = 0x1_0000_0000u64 * k as u64 + 0x10_0000;
                let dump = Dump::new(page_size, base, entry_size, &list, order);
                assert_eq!(dump.blocks.len(), 3);
                let out = dump.inspect(entry_size, &[]);
                let what = format!("page {page_size}, entry {entry_size}, {order:?}");
                assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
                assert_eq!(stderr(&out), "", "{what}");
                let text = stdout(&out);
                assert!(text.ends_with('\n'), "{what}");
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(lines.len(), list.len(), "{what}");
                for (i, (line, e)) in lines.iter().zip(&list).enumerate() {
                    assert_eq!(*line, hex(e), "{what}: entry {i}");
                }
            }
        }
    }
}

#[test]
fn json_lists_blocks_and_entries() {
    let list = entries(300, 32, 7);
    let dump = Dump::new(4096, 0x10_0000, 32, &list, Order::Reverse);
    let out = dump.inspect(32, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["head"], "0x102000");
    assert_eq!(doc["page_size"], 4096);
    assert_eq!(doc["entry_size"], 32);
    assert_eq!(doc["count_per_block"], 127);
    let blocks = doc["blocks"].as_array().unwrap();
    let expect = [(0x10_2000, 127), (0x10_1000, 127), (0x10_0000, 46)];
    assert_eq!(blocks.len(), expect.len());
    for (i, (b, (addr, count))) in blocks.iter().zip(expect).enumerate() {
        assert_eq!(b["index"], i);
        assert_eq!(b["addr"], format!("{addr:#x}"));
        assert_eq!(b["count"], count);
    }
    let shown: Vec<&str> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    let want: Vec<String> = list.iter().map(|e| hex(e)).collect();
    assert_eq!(shown, want);
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
}

#[test]
fn empty_set_prints_nothing() {
    for image in [vec![], vec![0xa5; 4096]] {
        let file = TempFile::with("empty", &image);
        let args = [
            "inspect",
            "--image",
            file.path(),
            "--base",
            "0x100000",
            "--head",
            "0",
            "--entry-size",
            "32",
        ];
        let out = kho_abi(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
        assert_eq!(stderr(&out), "");

        let out = kho_abi(&[&args[..], &["--format", "json"]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["head"], "0x0");
        assert_eq!(doc["blocks"], serde_json::json!([]));
        assert_eq!(doc["entries"], serde_json::json!([]));
    }
}

#[test]
fn closed_pipe_ends_quietly() {
    // 131043 lines: far more than a pipe holds.
    let list = entries(2 * 65520 + 3, 1, 3);
    let dump = Dump::new(65536, 0x10_0000, 1, &list, Order::Sequential);
    let file = TempFile::with("pipe", &dump.bytes);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kho-abi"))
        .args(["inspect", "--image", file.path(), "--page-size", "65536"])
        .args([
            "--base",
            "0x100000",
            "--head",
            "0x100000",
            "--entry-size",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
}

// ---------------------------------------------------------------------------
// Raw dumps: chains the next kernel would reject (exit 1)

/// A three-block chain of 32-byte entries (127 per 4 KiB block) at 0x100000.
fn three_blocks(order: Order) -> Dump {
    Dump::new(4096, 0x10_0000, 32, &entries(300, 32, 11), order)
}

#[test]
fn count_zero_is_rejected() {
    let mut dump = three_blocks(Order::Sequential);
    dump.set_count(1, 0);
    let out = dump.inspect(32, &[]);
    assert_invalid(
        &out,
        "block 1 at 0x101000: entry count 0 is outside 1..=127",
    );
}

#[test]
fn count_above_count_per_block_is_rejected() {
    let mut dump = three_blocks(Order::Reverse);
    dump.set_count(2, 128);
    let out = dump.inspect(32, &[]);
    assert_invalid(
        &out,
        "block 2 at 0x100000: entry count 128 is outside 1..=127",
    );

    let mut dump = three_blocks(Order::Sequential);
    dump.set_count(0, u64::MAX);
    let out = dump.inspect(32, &[]);
    assert_invalid(
        &out,
        "block 0 at 0x100000: entry count 18446744073709551615 is outside 1..=127",
    );
}

#[test]
fn cycle_is_rejected() {
    let mut dump = three_blocks(Order::Scattered);
    let head = dump.head;
    dump.set_next(2, head);
    let out = dump.inspect(32, &[]);
    assert_invalid(
        &out,
        "block 2 at 0x105000: next links back to block 0 (cycle)",
    );

    // A block that links to itself, under a small limit.
    let mut dump = three_blocks(Order::Sequential);
    dump.set_next(1, 0x10_1000);
    let out = dump.inspect(32, &["--max-blocks", "5"]);
    assert_invalid(
        &out,
        "block 1 at 0x101000: next links back to block 1 (cycle)",
    );
}

#[test]
fn next_outside_the_dump_is_rejected() {
    let mut dump = three_blocks(Order::Sequential);
    dump.set_next(1, 0x10_0000 + 100 * 4096);
    let out = dump.inspect(32, &[]);
    assert_invalid(&out, "block 2 at 0x164000: address outside memory");

    let mut dump = three_blocks(Order::Sequential);
    dump.set_next(0, 0x1000);
    let out = dump.inspect(32, &[]);
    assert_invalid(&out, "block 1 at 0x1000: address outside memory");
}

#[test]
fn unaligned_next_is_rejected() {
    let mut dump = three_blocks(Order::Sequential);
    dump.set_next(0, 0x10_1008);
    let out = dump.inspect(32, &[]);
    assert_invalid(&out, "block 1 at 0x101008: address not page aligned");
}

#[test]
fn unaligned_or_outside_head_is_rejected() {
    let mut dump = three_blocks(Order::Sequential);
    dump.head = 0x10_0010;
    assert_invalid(
        &dump.inspect(32, &[]),
        "block 0 at 0x100010: address not page aligned",
    );
    dump.head = 0xf_f000;
    assert_invalid(
        &dump.inspect(32, &[]),
        "block 0 at 0xff000: address outside memory",
    );
}

#[test]
fn truncated_dump_is_rejected() {
    let mut dump = three_blocks(Order::Sequential);
    dump.bytes.truncate(2 * 4096 + 2048);
    let out = dump.inspect(32, &[]);
    assert_invalid(
        &out,
        "block 2 at 0x102000: page runs past the end of the image",
    );
}

#[test]
fn chain_longer_than_max_blocks_is_rejected() {
    let dump = three_blocks(Order::Reverse);
    let out = dump.inspect(32, &["--max-blocks", "2"]);
    assert_invalid(
        &out,
        "block 2 at 0x100000: chain is longer than the limit of 2 blocks",
    );
    let out = dump.inspect(32, &["--max-blocks", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 300);
}

#[test]
fn missing_image_is_rejected() {
    let file = TempFile::new("missing");
    let out = kho_abi(&[
        "inspect",
        "--image",
        file.path(),
        "--base",
        "0",
        "--head",
        "0x1000",
        "--entry-size",
        "8",
    ]);
    assert_invalid(&out, file.path());
}

// ---------------------------------------------------------------------------
// Bad arguments (exit 2)

const IMG: &str = "/nonexistent/kho-abi-args-are-checked-first.img";

fn raw_args<'a>(base: &'a str, head: &'a str, es: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "inspect",
        "--image",
        IMG,
        "--base",
        base,
        "--head",
        head,
        "--entry-size",
        es,
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn unparseable_numbers_are_usage_errors() {
    assert_usage(&raw_args("0x10zz", "0", "8", &[]), "--base");
    assert_usage(&raw_args("0x100000", "head", "8", &[]), "--head");
    assert_usage(&raw_args("0x100000", "+1", "8", &[]), "--head");
    assert_usage(&raw_args("0x100000", "0", "eight", &[]), "--entry-size");
    assert_usage(
        &raw_args("0x100000", "0", "8", &["--max-blocks", "many"]),
        "--max-blocks",
    );
    assert_usage(
        &raw_args("0x1_0000_0000_0000_0000", "0", "8", &[]),
        "--base",
    );
}

#[test]
fn unsupported_page_size_is_a_usage_error() {
    assert_usage(
        &raw_args("0x100000", "0", "8", &["--page-size", "8192"]),
        "--page-size",
    );
    assert_usage(
        &raw_args("0x100000", "0", "8", &["--page-size", "0"]),
        "--page-size",
    );
}

#[test]
fn entry_size_that_cannot_fit_a_block_is_a_usage_error() {
    assert_usage(&raw_args("0x100000", "0", "0", &[]), "--entry-size");
    assert_usage(&raw_args("0x100000", "0", "4081", &[]), "--entry-size");
    assert_usage(
        &raw_args("0x100000", "0", "16369", &["--page-size", "16384"]),
        "--entry-size",
    );
}

#[test]
fn unaligned_base_is_a_usage_error() {
    assert_usage(&raw_args("0x100800", "0", "8", &[]), "--base");
    assert_usage(
        &raw_args("0x101000", "0", "8", &["--page-size", "16384"]),
        "--base",
    );
}

#[test]
fn partial_raw_arguments_are_usage_errors() {
    let base = ["--base", "0x100000"];
    let head = ["--head", "0"];
    let es = ["--entry-size", "8"];
    let with = |parts: &[&[&'static str]]| {
        let mut v = vec!["inspect", "--image", IMG];
        for p in parts {
            v.extend_from_slice(p);
        }
        v
    };
    assert_usage(&with(&[&base]), "--head");
    // Without --base, --head and --entry-size are a chain in an ELF core
    // file (tests/elf_core.rs).
    assert_usage(&with(&[&head]), "--entry-size");
    assert_usage(&with(&[&es]), "--head");
    assert_usage(&with(&[&base, &head]), "--entry-size");
    assert_usage(&with(&[&base, &es]), "--head");
    assert_usage(&with(&[&["--page-size", "4096"]]), "--head");
    assert_usage(
        &["inspect", "--base", "0", "--head", "0", "--entry-size", "8"],
        "--image",
    );
}

#[test]
fn format_must_suit_the_mode() {
    assert_usage(
        &raw_args("0x100000", "0", "8", &["--format", "table"]),
        "--format table",
    );
    assert_usage(
        &["inspect", "--image", IMG, "--format", "hex"],
        "--format hex",
    );
    assert_usage(&["inspect", "--image", IMG, "--format", "xml"], "--format");
}

// ---------------------------------------------------------------------------
// FileMemory images

const BASE: u64 = 0x10_0000;

struct SetSpec {
    name: &'static str,
    compatible: &'static str,
    fingerprint: u64,
    entry_size: usize,
    entries: Vec<Vec<u8>>,
}

fn specs() -> Vec<SetSpec> {
    vec![
        SetSpec {
            name: "luo-files",
            compatible: "luo-file-v1",
            fingerprint: 0x0123_4567_89ab_cdef,
            entry_size: 32,
            entries: entries(300, 32, 21),
        },
        SetSpec {
            name: "iommu-domains",
            compatible: "iommu-domain-v2",
            fingerprint: 0xfedc_ba98_7654_3210,
            entry_size: 8,
            entries: entries(5, 8, 22),
        },
        SetSpec {
            name: "empty",
            compatible: "nothing-v1",
            fingerprint: 1,
            entry_size: 4080,
            entries: vec![],
        },
    ]
}

/// Creates an image holding `specs`' sets and returns their root records.
/// `tamper` may change the records before they are published.
fn file_image(
    file: &TempFile,
    specs: &[SetSpec],
    tamper: impl FnOnce(&mut Vec<RootRecord>),
) -> Vec<RootRecord> {
    let config = FileMemoryConfig {
        base: BASE,
        page_size: 4096,
        pages: 32,
    };
    let mut mem = FileMemory::create(file.path(), config).unwrap();
    let mut records = Vec::new();
    for s in specs {
        let mut set = RawBlockSet::new(&mem, s.entry_size).unwrap();
        set.grow(&mut mem, s.entries.len()).unwrap();
        for e in &s.entries {
            set.push(&mut mem, e).unwrap();
        }
        set.publish(&mut mem).unwrap();
        records.push(RootRecord::for_raw(s.name, s.compatible, s.fingerprint, &set).unwrap());
    }
    tamper(&mut records);
    mem.publish(&records).unwrap();
    records
}

#[test]
fn image_lists_its_root_table() {
    let file = TempFile::new("filemem");
    let specs = specs();
    let records = file_image(&file, &specs, |_| {});

    let out = kho_abi(&["inspect", "--image", file.path()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + specs.len(), "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "COMPATIBLE",
            "HEAD",
            "ENTRY",
            "SIZE",
            "ENTRIES",
            "BLOCKS",
            "FINGERPRINT"
        ]
    );
    for ((line, s), r) in lines[1..].iter().zip(&specs).zip(&records) {
        let head = { r.head };
        let cols: Vec<&str> = line.split_whitespace().collect();
        let blocks = s.entries.len().div_ceil((4096 - HEADER) / s.entry_size);
        let want = [
            s.name.to_string(),
            s.compatible.to_string(),
            format!("{head:#x}"),
            s.entry_size.to_string(),
            s.entries.len().to_string(),
            blocks.to_string(),
            format!("{:#018x}", s.fingerprint),
        ];
        assert_eq!(cols, want, "{text}");
    }
    // Columns line up: every line has the header's width.
    let widths: Vec<usize> = lines.iter().map(|l| l.len()).collect();
    assert!(widths.iter().all(|&w| w == widths[0]), "{text}");

    let out = kho_abi(&["inspect", "--image", file.path(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = doc.as_array().unwrap();
    assert_eq!(list.len(), specs.len());
    for ((j, s), r) in list.iter().zip(&specs).zip(&records) {
        let head = { r.head };
        assert_eq!(j["name"], s.name);
        assert_eq!(j["compatible"], s.compatible);
        assert_eq!(j["head"], format!("{head:#x}"));
        assert_eq!(j["entry_size"], s.entry_size);
        assert_eq!(j["entries"], s.entries.len());
        assert_eq!(j["blocks"], { r.blocks });
        assert_eq!(j["fingerprint"], format!("{:#018x}", s.fingerprint));
        assert_eq!(j.as_object().unwrap().len(), 7);
    }
}

#[test]
fn image_file_is_also_a_raw_dump() {
    // Byte k of an image file is physical address base + k, so a set in it
    // decodes in raw mode from its recorded head.
    let file = TempFile::new("filemem-raw");
    let specs = specs();
    let records = file_image(&file, &specs, |_| {});
    let head = format!("{:#x}", { records[0].head });
    let out = kho_abi(&[
        "inspect",
        "--image",
        file.path(),
        "--base",
        &format!("{BASE:#x}"),
        "--head",
        &head,
        "--entry-size",
        "32",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let want: Vec<String> = specs[0].entries.iter().map(|e| hex(e)).collect();
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), want);
}

#[test]
fn empty_root_table_lists_only_the_header() {
    let file = TempFile::new("filemem-empty");
    file_image(&file, &[], |_| {});
    let out = kho_abi(&["inspect", "--image", file.path()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
    let out = kho_abi(&["inspect", "--image", file.path(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc, serde_json::json!([]));
}

#[test]
fn names_cannot_break_the_table() {
    let file = TempFile::new("filemem-names");
    let mut specs = specs();
    specs.truncate(1);
    specs[0].name = "two\nlines";
    file_image(&file, &specs, |_| {});
    let out = kho_abi(&["inspect", "--image", file.path()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("two\\nlines"), "{text}");
    let out = kho_abi(&["inspect", "--image", file.path(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc[0]["name"], "two\nlines");
}

#[test]
fn image_with_a_corrupt_set_is_rejected() {
    let specs = specs();

    let file = TempFile::new("filemem-count");
    file_image(&file, &specs, |r| r[1].entries += 1);
    let out = kho_abi(&["inspect", "--image", file.path()]);
    assert_invalid(
        &out,
        "block set \"iommu-domains\": the root table records 6 entries in 1 blocks, \
         the chain holds 5 in 1",
    );

    // A head in a page the image never handed over.
    let file = TempFile::new("filemem-free");
    file_image(&file, &specs, |r| r[2].head = BASE + 31 * 4096);
    let out = kho_abi(&["inspect", "--image", file.path(), "--format", "json"]);
    assert_invalid(
        &out,
        "block set \"empty\": block 0 at 0x11f000: page is not preserved",
    );

    // Two records naming one chain: the next kernel would restore it twice.
    let file = TempFile::new("filemem-shared");
    file_image(&file, &specs, |r| {
        let mut twin = r[0];
        twin.name = [0; 64];
        twin.name[..4].copy_from_slice(b"twin");
        r.push(twin);
    });
    let out = kho_abi(&["inspect", "--image", file.path()]);
    let head = PhysAddr(file_records_head(&file));
    assert_invalid(
        &out,
        &format!("block set \"twin\": block 0 at {head}: also block 0 of block set \"luo-files\""),
    );

    // A chain restore would refuse, behind a valid root table.
    let file = TempFile::new("filemem-limit");
    file_image(&file, &specs, |_| {});
    let out = kho_abi(&["inspect", "--image", file.path(), "--max-blocks", "2"]);
    assert_invalid(&out, "block set \"luo-files\": block 2 at ");
    assert!(stderr(&out).contains("chain is longer than the limit of 2 blocks"));
}

/// The recorded head of the image's first set.
fn file_records_head(file: &TempFile) -> u64 {
    let mem = FileMemory::open_read_only(file.path()).unwrap();
    let head = mem.root()[0].head;
    head
}

#[test]
fn file_that_is_not_an_image_is_rejected() {
    let file = TempFile::with("not-an-image", &[0u8; 8192]);
    let out = kho_abi(&["inspect", "--image", file.path()]);
    assert_invalid(&out, "no valid superblock");
}
