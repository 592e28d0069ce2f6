//! Helpers shared by the integration tests: raw header access, hand-built
//! entry types and temporary image paths.
#![allow(dead_code)]

use kho_runtime::layout::{layout_fingerprint, Field, StructLayout, StructRef, Ty};
use kho_runtime::{AbiField, KhoEntry, PhysAddr, PreservedMemory, SimMemory};

/// Base address used by most tests (page aligned for every page size).
pub const BASE: u64 = 0x10_0000;

/// Reads the native-endian u64 at `off`.
pub fn rd(bytes: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(bytes[off..off + 8].try_into().unwrap())
}

/// Writes the native-endian u64 at `off`.
pub fn wr(bytes: &mut [u8], off: usize, v: u64) {
    bytes[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

/// `(next, count)` of the block at `addr`.
pub fn header<M: PreservedMemory + ?Sized>(mem: &M, addr: PhysAddr) -> (u64, u64) {
    let page = mem.page(addr).unwrap();
    (rd(page, 0), rd(page, 8))
}

/// Writes the header of the block at `addr`.
pub fn set_header<M: PreservedMemory + ?Sized>(mem: &mut M, addr: PhysAddr, next: u64, count: u64) {
    let page = mem.page_mut(addr).unwrap();
    wr(page, 0, next);
    wr(page, 8, count);
}

/// A recognisable entry of `size` bytes for index `i` (never all zero).
pub fn entry_bytes(i: usize, size: usize) -> Vec<u8> {
    let seed = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xa5a5_a5a5_a5a5_a5a5;
    (0..size)
        .map(|k| (seed.rotate_left((k % 64) as u32) as u8) ^ (k as u8) ^ 0x5a)
        .collect()
}

/// Allocates `n` preserved pages in `mem` and returns their addresses.
pub fn alloc_pages(mem: &mut SimMemory, n: usize) -> Vec<PhysAddr> {
    (0..n).map(|_| mem.alloc_preserve().unwrap()).collect()
}

/// A 24-byte entry, written by hand as the derive would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
pub struct Conn {
    pub id: u64,
    pub port: u16,
    pub flags: [u8; 6],
    pub peer: PhysAddr,
}

/// One field of a hand-written layout, as the derive emits it.
macro_rules! field {
    ($name:literal, $offset:expr, $ty:ty) => {
        Field::new(
            $name,
            $offset,
            <$ty as AbiField>::FIELD_SIZE,
            <$ty as AbiField>::TYPE,
        )
    };
}

const CONN_FIELDS: &[Field<'static>] = &[
    field!("id", 0, u64),
    field!("port", 8, u16),
    field!("flags", 10, [u8; 6]),
    field!("peer", 16, PhysAddr),
];
const CONN_LAYOUT: &StructLayout = &StructLayout::packed("test_conn", 24, CONN_FIELDS);

impl AbiField for Conn {
    const FIELD_SIZE: usize = 24;
    const TYPE: Ty<'static> = Ty::Struct(StructRef::Ref(CONN_LAYOUT));
    fn write_to(&self, out: &mut [u8]) {
        let (id, port, flags, peer) = (self.id, self.port, self.flags, self.peer);
        id.write_to(&mut out[0..]);
        port.write_to(&mut out[8..]);
        flags.write_to(&mut out[10..]);
        peer.write_to(&mut out[16..]);
    }
    fn read_from(bytes: &[u8]) -> Self {
        Conn {
            id: u64::read_from(&bytes[0..]),
            port: u16::read_from(&bytes[8..]),
            flags: AbiField::read_from(&bytes[10..]),
            peer: PhysAddr::read_from(&bytes[16..]),
        }
    }
}

impl KhoEntry for Conn {
    const COMPATIBLE: &'static str = "test-conn-v1";
    const LAYOUT: &'static StructLayout = CONN_LAYOUT;
    const FINGERPRINT: u64 = layout_fingerprint(CONN_LAYOUT);
}

const _: () = assert!(core::mem::size_of::<Conn>() == Conn::SIZE);

impl Conn {
    /// The `i`th test value.
    pub fn nth(i: usize) -> Self {
        let i64_ = i as u64;
        Conn {
            id: i64_ * 3 + 1,
            port: (i % 65536) as u16,
            flags: [i as u8, 1, 2, 3, 4, (i >> 8) as u8],
            peer: PhysAddr(0xdead_0000 + i64_ * 0x1000),
        }
    }
}

/// Same size as [`Conn`] but another ABI (a version bump).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
pub struct ConnV2 {
    pub words: [u64; 3],
}

const CONNV2_FIELDS: &[Field<'static>] = &[field!("words", 0, [u64; 3])];
const CONNV2_LAYOUT: &StructLayout = &StructLayout::packed("test_conn_v2", 24, CONNV2_FIELDS);

impl AbiField for ConnV2 {
    const FIELD_SIZE: usize = 24;
    const TYPE: Ty<'static> = Ty::Struct(StructRef::Ref(CONNV2_LAYOUT));
    fn write_to(&self, out: &mut [u8]) {
        let words = self.words;
        words.write_to(out);
    }
    fn read_from(bytes: &[u8]) -> Self {
        ConnV2 {
            words: AbiField::read_from(bytes),
        }
    }
}

impl KhoEntry for ConnV2 {
    const COMPATIBLE: &'static str = "test-conn-v2";
    const LAYOUT: &'static StructLayout = CONNV2_LAYOUT;
    const FINGERPRINT: u64 = layout_fingerprint(CONNV2_LAYOUT);
}

/// Same compatible string as [`Conn`] but another layout: only the
/// fingerprint tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
pub struct ConnSameName {
    pub words: [u64; 3],
}

const CONNSAMENAME_FIELDS: &[Field<'static>] = &[field!("words", 0, [u64; 3])];
const CONNSAMENAME_LAYOUT: &StructLayout =
    &StructLayout::packed("test_conn", 24, CONNSAMENAME_FIELDS);

impl AbiField for ConnSameName {
    const FIELD_SIZE: usize = 24;
    const TYPE: Ty<'static> = Ty::Struct(StructRef::Ref(CONNSAMENAME_LAYOUT));
    fn write_to(&self, out: &mut [u8]) {
        let words = self.words;
        words.write_to(out);
    }
    fn read_from(bytes: &[u8]) -> Self {
        ConnSameName {
            words: AbiField::read_from(bytes),
        }
    }
}

impl KhoEntry for ConnSameName {
    const COMPATIBLE: &'static str = "test-conn-v1";
    const LAYOUT: &'static StructLayout = CONNSAMENAME_LAYOUT;
    const FINGERPRINT: u64 = layout_fingerprint(CONNSAMENAME_LAYOUT);
}

/// A 40-byte entry (another size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
pub struct Wide {
    pub words: [u64; 5],
}

const WIDE_FIELDS: &[Field<'static>] = &[field!("words", 0, [u64; 5])];
const WIDE_LAYOUT: &StructLayout = &StructLayout::packed("test_wide", 40, WIDE_FIELDS);

impl AbiField for Wide {
    const FIELD_SIZE: usize = 40;
    const TYPE: Ty<'static> = Ty::Struct(StructRef::Ref(WIDE_LAYOUT));
    fn write_to(&self, out: &mut [u8]) {
        let words = self.words;
        words.write_to(out);
    }
    fn read_from(bytes: &[u8]) -> Self {
        Wide {
            words: AbiField::read_from(bytes),
        }
    }
}

impl KhoEntry for Wide {
    const COMPATIBLE: &'static str = "test-wide-v1";
    const LAYOUT: &'static StructLayout = WIDE_LAYOUT;
    const FINGERPRINT: u64 = layout_fingerprint(WIDE_LAYOUT);
}

impl Wide {
    /// The `i`th test value.
    pub fn nth(i: usize) -> Self {
        let x = i as u64;
        Wide {
            words: [x, !x, x << 32, x.wrapping_mul(0x0101_0101), 0x5157_u64 ^ x],
        }
    }
}

/// A file in the temp dir, unique to this process and test, removed on drop.
pub struct TempPath(pub String);

impl TempPath {
    pub fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "kho-runtime-test-{}-{}.img",
            std::process::id(),
            test
        ));
        let _ = std::fs::remove_file(&path);
        TempPath(path.to_str().unwrap().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
