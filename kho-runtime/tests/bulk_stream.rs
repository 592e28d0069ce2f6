//! The bulk paths above their streaming threshold (1 MiB moved in one
//! call), where each block's bytes go out through the cache-bypassing copy:
//! the same bytes, headers and entries as the per-entry path, from any
//! starting slot, for packed and padded entry types, into short and long
//! arrays.

mod common;

use common::{entry_bytes, BASE};
use kho_derive::KhoEntry;
use kho_runtime::{AbiField, BlockSet, KhoEntry, PreservedMemory, RawBlockSet, SimMemory};

const PS: usize = 4096;
/// 1.6 MiB of pages: room for a 1.3 MB transfer and what precedes it.
const PAGES: usize = 420;

#[derive(KhoEntry, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C, packed)]
#[kho(crate = "kho_runtime", compatible = "test-wide-v1")]
struct Wide {
    a: u64,
    b: u64,
    c: u32,
    d: u16,
    e: u8,
    f: u8,
    g: u64,
}

/// Not packed: 7 bytes of padding after `tag`, which go out as zeros.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
#[kho(crate = "kho_runtime", compatible = "test-padded-v1")]
struct Padded {
    tag: u8,
    value: u64,
    more: u32,
}

fn wide(i: usize) -> Wide {
    let i = i as u64;
    Wide {
        a: i,
        b: !i,
        c: (i as u32).wrapping_mul(2_654_435_761),
        d: i as u16 ^ 0x5a5a,
        e: i as u8,
        f: (i >> 8) as u8,
        g: i.rotate_left(17),
    }
}

fn padded(i: usize) -> Padded {
    Padded {
        tag: i as u8 | 1,
        value: (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        more: i as u32,
    }
}

/// Every page of the set's chain, as bytes.
fn chain_bytes(mem: &SimMemory, blocks: &[kho_runtime::PhysAddr]) -> Vec<u8> {
    blocks
        .iter()
        .flat_map(|&a| mem.page(a).unwrap().to_vec())
        .collect()
}

/// Whether `set` in `mem` has the blocks, and the bytes in them, that
/// pushing `model` one entry at a time into fresh memory gives.
fn same_as_pushed<T: KhoEntry>(mem: &SimMemory, set: &RawBlockSet, model: &[T]) -> bool {
    let mut push_mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    let mut push = BlockSet::<T, _>::new(&push_mem).unwrap();
    for e in model {
        push.push(&mut push_mem, e).unwrap();
    }
    set.blocks() == push.as_raw().blocks()
        && chain_bytes(mem, set.blocks()) == chain_bytes(&push_mem, push.as_raw().blocks())
}

/// A set that already holds `first` entries (so the bulk write starts
/// mid-block, at an unaligned slot), then `n` more by the bulk path and,
/// on a second memory, by `push`: the pages are byte for byte the same and
/// both read back as the model.
fn typed_case<T: KhoEntry + PartialEq + core::fmt::Debug + Default>(
    first: usize,
    n: usize,
    make: fn(usize) -> T,
) {
    let model: Vec<T> = (0..first + n).map(make).collect();
    assert!(n * T::SIZE >= 1 << 20, "the case must cross the threshold");
    let mut bulk_mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    let mut bulk = BlockSet::<T, _>::new(&bulk_mem).unwrap();
    bulk.extend_from_slice(&mut bulk_mem, &model[..first])
        .unwrap();
    bulk.extend_from_slice(&mut bulk_mem, &model[first..])
        .unwrap();
    assert!(
        same_as_pushed(&bulk_mem, bulk.as_raw(), &model),
        "{}: the streamed pages differ from the pushed ones (first {first}, n {n})",
        T::COMPATIBLE
    );

    let head = bulk.publish(&mut bulk_mem).unwrap();
    let mem = bulk_mem.kexec();
    let back = BlockSet::<T, _>::restore(&mem, head).unwrap();
    // Exactly as long, longer (the tail untouched), and a short prefix that
    // is still past the threshold.
    let mut out = vec![T::default(); model.len() + 5];
    assert_eq!(back.read_into(&mem, &mut out).unwrap(), model.len());
    assert!(
        out[..model.len()] == model[..],
        "{}: read_into",
        T::COMPATIBLE
    );
    assert!(out[model.len()..].iter().all(|e| *e == T::default()));
    let short = model.len() - 1000;
    let mut out = vec![T::default(); short];
    assert_eq!(back.read_into(&mem, &mut out).unwrap(), short);
    assert!(
        out[..] == model[..short],
        "{}: short read_into",
        T::COMPATIBLE
    );
    // Restore and read in one walk: the same set and entries, whole and
    // short (plain entries take the fused walk, padded ones the two steps).
    for len in [model.len() + 5, short] {
        let mut out = vec![T::default(); len];
        let (again, n) = BlockSet::<T, _>::restore_read_into(&mem, head, &mut out).unwrap();
        assert_eq!(again.as_raw().blocks(), back.as_raw().blocks());
        assert_eq!(n, len.min(model.len()));
        assert!(
            out[..n] == model[..n] && out[n..].iter().all(|e| *e == T::default()),
            "{}: restore_read_into into {len}",
            T::COMPATIBLE
        );
    }
}

#[test]
fn a_packed_slice_streams_to_the_same_pages_as_push() {
    // 35,000 entries of 32 bytes: 1.12 MB in one call.
    for first in [0, 1, 126, 300] {
        typed_case(first, 35_000, wide);
    }
}

#[test]
fn a_padded_slice_streams_with_its_padding_zeroed() {
    // 24-byte entries with 7 padding bytes each: 1.2 MB in one call.
    typed_case(3, 50_000, padded);
    assert_eq!(<Padded as AbiField>::FIELD_SIZE, 24);
}

#[test]
fn raw_bytes_stream_in_and_out() {
    let es = 40;
    let n = 30_000; // 1.2 MB
    let bytes: Vec<u8> = (0..n).flat_map(|i| entry_bytes(i, es)).collect();
    let mut mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    let mut set = RawBlockSet::new(&mem, es).unwrap();
    set.extend_from_bytes(&mut mem, &bytes[..7 * es]).unwrap();
    set.extend_from_bytes(&mut mem, &bytes[7 * es..]).unwrap();
    let got: Vec<u8> = set.iter(&mem).unwrap().flatten().copied().collect();
    assert!(got == bytes, "extend_from_bytes");
    let mut out = vec![0xaa; bytes.len() + 3];
    assert_eq!(set.read_into(&mem, &mut out).unwrap(), n);
    assert!(out[..bytes.len()] == bytes[..], "read_into");
    assert_eq!(out[bytes.len()..], [0xaa; 3]);
    // Every header counts its entries: full blocks, then the rest.
    let per = set.count_per_block();
    for (b, &addr) in set.blocks().iter().enumerate() {
        let count = u64::read_from(&mem.page(addr).unwrap()[8..]);
        assert_eq!(count as usize, per.min(n - b * per), "block {b}");
    }
}

/// Pages freed by an earlier set come back to a streamed write unzeroed
/// (`alloc_preserve_for_overwrite`): every byte of them is written anyway,
/// so the pages equal those of pushes into fresh memory.
#[test]
fn a_streamed_transfer_overwrites_reused_pages() {
    let model: Vec<Wide> = (0..35_000).map(wide).collect();
    let mut mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    // Every page dirty: a set of all-ones entries, a short last block.
    let ones = vec![0xffu8; 40_000 * 32 - 32 * 7];
    let mut old = RawBlockSet::new(&mem, 32).unwrap();
    old.extend_from_bytes(&mut mem, &ones).unwrap();
    old.destroy(&mut mem).unwrap();
    let mut bulk = BlockSet::<Wide, _>::new(&mem).unwrap();
    bulk.extend_from_slice(&mut mem, &model).unwrap();
    assert!(
        same_as_pushed(&mem, bulk.as_raw(), &model),
        "a reused page kept bytes of its last use"
    );
    // A block grown one at a time is zeroed as before.
    let mut small = RawBlockSet::new(&mem, 32).unwrap();
    small.grow(&mut mem, 1).unwrap();
    small.push(&mut mem, &[1; 32]).unwrap();
    let page = mem.page(small.blocks()[0]).unwrap();
    assert!(
        page[16 + 32..].iter().all(|&b| b == 0),
        "a pushed block was not zeroed"
    );
}

/// Restore and read in one walk, into arrays that start anywhere in a
/// cache line and end short of, at or past the set's end: the bytes of
/// the chain's entries, and nothing outside them written.
#[test]
fn restore_read_into_gathers_the_chain() {
    let es = 40;
    let n = 40_000; // 1.6 MB
    let bytes: Vec<u8> = (0..n).flat_map(|i| entry_bytes(i, es)).collect();
    let mut mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    let mut set = RawBlockSet::new(&mem, es).unwrap();
    set.extend_from_bytes(&mut mem, &bytes).unwrap();
    let head = set.publish(&mut mem).unwrap();
    let mem = mem.kexec();
    let whole = bytes.len();
    let per = set.count_per_block();
    assert_eq!(set.block_count() % 2, 1);
    assert!(300 * per * es >= 1 << 20, "every case must stream");
    // The whole chain (an odd number of blocks), and arrays past the
    // streaming threshold that fill up inside an even-numbered and an
    // odd-numbered block (pairs are copied two blocks at a time).
    for at in [0, 1, 17, 63] {
        for room in [
            whole + 3,
            whole,
            (300 * per + 50) * es + 7,
            (301 * per + 50) * es,
        ] {
            let mut buf = vec![0x5au8; at + room + 64];
            let out = &mut buf[at..at + room];
            let (back, got) = RawBlockSet::restore_read_into(&mem, head, es, out).unwrap();
            assert_eq!(back.len(), n);
            let copied = got * es;
            assert_eq!(got, (room / es).min(n), "at {at}, room {room}");
            assert!(
                buf[at..at + copied] == bytes[..copied],
                "at {at}, room {room}"
            );
            assert!(
                buf[..at]
                    .iter()
                    .chain(&buf[at + copied..])
                    .all(|&b| b == 0x5a),
                "at {at}, room {room}: wrote outside the entries"
            );
        }
    }
}

/// Blocks grown before the transfer are filled in place (their headers
/// already link them), the blocks the transfer allocates are streamed and
/// linked by their own headers: the chain is whole either way.
#[test]
fn a_streamed_transfer_after_an_earlier_grow() {
    let model: Vec<Wide> = (0..40_000).map(wide).collect();
    let mut mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    let mut set = BlockSet::<Wide, _>::new(&mem).unwrap();
    set.push(&mut mem, &model[0]).unwrap();
    set.grow(&mut mem, 127 * 5 + 3).unwrap();
    assert_eq!(set.block_count(), 6);
    set.extend_from_slice(&mut mem, &model[1..]).unwrap();
    let head = set.publish(&mut mem).unwrap();
    let mem = mem.kexec();
    let back = BlockSet::<Wide, _>::restore(&mem, head).unwrap();
    assert_eq!(back.block_count(), model.len().div_ceil(127));
    let all: Vec<Wide> = back.iter(&mem).unwrap().collect();
    assert!(all == model, "the chain reads back as written");
}

/// A streamed transfer that does not fit fails with `OutOfMemory` before
/// writing anything, and gives its pages back.
#[test]
fn a_streamed_transfer_that_does_not_fit_appends_nothing() {
    let model: Vec<Wide> = (0..(PAGES + 1) * 127).map(wide).collect();
    let mut mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    let mut set = BlockSet::<Wide, _>::new(&mem).unwrap();
    set.extend_from_slice(&mut mem, &model[..5]).unwrap();
    let res = set.extend_from_slice(&mut mem, &model[5..]);
    assert!(
        matches!(res, Err(kho_runtime::Error::OutOfMemory)),
        "{res:?}"
    );
    assert_eq!((set.len(), set.block_count()), (5, 1));
    assert_eq!(mem.stats().preserved, 1);
    set.extend_from_slice(&mut mem, &model[5..PAGES * 127])
        .unwrap();
    let all: Vec<Wide> = set.iter(&mem).unwrap().collect();
    assert!(all[..] == model[..PAGES * 127]);
}

/// On a FileMemory image, whose pages go to the file by positioned writes:
/// a streamed transfer and a streamed read survive a publish and a reopen
/// in another `FileMemory`.
#[test]
fn a_streamed_transfer_on_an_image_survives_a_reopen() {
    use kho_runtime::{FileMemory, FileMemoryConfig, RootRecord};
    let path = common::TempPath::new("bulk_stream_image");
    let model: Vec<Wide> = (0..36_000).map(wide).collect();
    let config = FileMemoryConfig {
        base: BASE,
        page_size: PS,
        pages: PAGES,
    };
    {
        let mut mem = FileMemory::create(path.as_str(), config).unwrap();
        let mut set = BlockSet::<Wide, _>::new(&mem).unwrap();
        set.extend_from_slice(&mut mem, &model).unwrap();
        mem.publish(&[RootRecord::for_set("wide", &set).unwrap()])
            .unwrap();
    }
    let mem = FileMemory::open(path.as_str()).unwrap();
    let set = mem.restore_set::<Wide>("wide").unwrap();
    let mut out = vec![Wide::default(); model.len()];
    assert_eq!(set.read_into(&mem, &mut out).unwrap(), model.len());
    assert!(out == model, "the image reads back as written");
}
