//! `inspect --schema --struct` on the kernel's constructs, as a user runs
//! it: bit fields decoded to their values, a union's every member, a
//! KHOSER pointer as its address, a flexible array up to its count and
//! never past the entry's bytes, lengths for the dump's page size. (A
//! struct ending in a flexible array cannot be a block-set entry in a
//! schema, but any struct can be decoded from a chain's entries.)

use std::process::Output;

mod common;
use common::{kho_abi, stderr, stdout, TempFile};

const HEADER: usize = 16;

const SCHEMA: &str = r#"
[abi]
name = "c"
version = 1

[constants]
SLOTS = { expr = "PAGE_SIZE / 2048" }

[[struct]]
name = "target"
fields = [{ name = "x", type = "u64" }]

[[struct]]
name = "addr"
union = true
packed = false
fields = [
    { name = "phys", type = "u64" },
    { name = "halves", type = "u32[2]" },
]

[[struct]]
name = "folio"
fields = [
    { name = "pfn", type = "u64", bits = 52 },
    { name = "delta", type = "s64", bits = 12 },
    { name = "first", type = "khoser_ptr<target>" },
    { name = "where", type = "addr" },
    { name = "slots", type = "u8[SLOTS]" },
    { name = "nr", type = "u32" },
    { name = "items", type = "u16[]", count = "nr" },
]
"#;

/// One block at `base` holding `entries` (each `entry_size` bytes).
fn dump(page_size: usize, entry_size: usize, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut page = vec![0u8; page_size];
    page[8..16].copy_from_slice(&(entries.len() as u64).to_ne_bytes());
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.len(), entry_size);
        let at = HEADER + i * entry_size;
        page[at..at + entry_size].copy_from_slice(e);
    }
    page
}

/// A folio entry for `slots` slots, `nr` in its count field, `items`
/// after it, padded with 0xee to `size` bytes.
fn folio(slots: usize, nr: u32, items: &[u16], size: usize) -> Vec<u8> {
    let mut e = Vec::new();
    let unit: u64 = 0x12345 | (0xffd << 52); // pfn 0x12345, delta -3
    e.extend_from_slice(&unit.to_le_bytes());
    e.extend_from_slice(&0x20_0000u64.to_ne_bytes());
    e.extend_from_slice(&0x1_0000_0002u64.to_ne_bytes());
    e.extend((0..slots).map(|i| i as u8));
    e.extend_from_slice(&nr.to_ne_bytes());
    for x in items {
        e.extend_from_slice(&x.to_ne_bytes());
    }
    e.resize(size, 0xee);
    e
}

fn inspect(page_size: usize, entry_size: Option<usize>, bytes: &[u8], format: &str) -> Output {
    let schema = TempFile::with("schema", SCHEMA.as_bytes());
    let file = TempFile::with("raw", bytes);
    let ps = page_size.to_string();
    let es = entry_size.map(|n| n.to_string());
    let mut args = vec![
        "inspect",
        "--image",
        file.path(),
        "--base",
        "0x100000",
        "--head",
        "0x100000",
        "--page-size",
        &ps,
        "--schema",
        schema.path(),
        "--struct",
        "folio",
        "--format",
        format,
    ];
    if let Some(es) = &es {
        args.extend(["--entry-size", es]);
    }
    kho_abi(&args)
}

#[test]
fn every_construct_decodes_in_text() {
    // 4 KiB pages: 2 slots; the fixed part is 8 + 8 + 8 + 2 + 4 = 30 bytes.
    let e = folio(2, 2, &[7, 8], 30);
    let out = inspect(4096, None, &dump(4096, 30, &[e]), "text");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "[0]\n  pfn = 74565\n  delta = -3\n  first = 0x200000\n  where:\n    phys = 4294967298\n    \
         halves = [2, 1]\n  slots = [0, 1]\n  nr = 2\n  items = [] (2 by its count, 0 in the bytes)\n"
    );
}

#[test]
fn a_larger_entry_holds_the_flexible_array_up_to_its_count() {
    // 34 + 4 bytes: the count says 2, room for 4; then the count says 9.
    let a = folio(2, 2, &[7, 8, 9], 38);
    let b = folio(2, 9, &[1, 2, 3, 4], 38);
    let out = inspect(4096, Some(38), &dump(4096, 38, &[a, b]), "json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v[0]["items"], serde_json::json!([7, 8]));
    assert_eq!(v[1]["items"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(v[0]["first"], "0x200000");
    assert_eq!(v[0]["pfn"], 74565);
    assert_eq!(v[0]["delta"], -3);
    assert_eq!(v[0]["where"]["halves"], serde_json::json!([2, 1]));
}

#[test]
fn lengths_follow_the_page_size_of_the_dump() {
    // 16 KiB pages: 8 slots, a 36-byte struct.
    let e = folio(8, 0, &[], 36);
    let out = inspect(16384, None, &dump(16384, 36, &[e]), "json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v[0]["slots"], serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(v[0]["nr"], 0);
}

#[test]
fn an_entry_smaller_than_the_struct_is_a_usage_error() {
    let e = folio(2, 0, &[], 30);
    let out = inspect(4096, Some(29), &dump(4096, 30, &[e]), "text");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("struct folio is 30 bytes (or more: its flexible array"),
        "{}",
        stderr(&out)
    );
}
