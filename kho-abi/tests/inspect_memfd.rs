//! `kho-abi inspect --memfd`: a memfd handover (a memfd_luo_ser and the
//! KHO vmalloc area of its folios) in a raw dump built by the test, printed
//! folio by folio with the bit fields decoded, and the same memory in an
//! ELF core; a hostile area is refused with one line naming the chunk.

mod common;
use common::elf::Core;
use common::{kho_abi, stderr, stdout, TempFile};

use kho_runtime::{PhysAddr, PreservedMemory, SimMemory, Vmalloc};

const BASE: u64 = 0x40_0000;
/// Where the memfd_luo_ser sits inside its page.
const SER_OFF: u64 = 64;

struct Handover {
    mem: SimMemory,
    ser: u64,
    area: Vmalloc,
}

/// A memfd of `folios` (pfn, flags, index) at page size `ps`.
fn handover(ps: usize, folios: &[(u64, u64, u64)], nr_folios: u64) -> Handover {
    let mut mem = SimMemory::new(BASE, ps, 16).unwrap();
    let ser_page = mem.alloc_preserve().unwrap();
    let mut bytes = Vec::new();
    for &(pfn, flags, index) in folios {
        bytes.extend_from_slice(&(pfn | flags << 52).to_ne_bytes());
        bytes.extend_from_slice(&index.to_ne_bytes());
    }
    let area = Vmalloc::write(&mut mem, &bytes).unwrap();
    let page = mem.page_mut(ser_page).unwrap();
    let o = SER_OFF as usize;
    page[o..o + 8].copy_from_slice(&123u64.to_ne_bytes()); // pos
    page[o + 8..o + 16].copy_from_slice(&(3 * 4096u64).to_ne_bytes()); // size
    page[o + 16..o + 24].copy_from_slice(&nr_folios.to_ne_bytes());
    page[o + 24..o + 40].copy_from_slice(&area.ser().to_bytes());
    Handover {
        mem,
        ser: ser_page.get() + SER_OFF,
        area,
    }
}

fn run(h: &Handover, ps: usize) -> std::process::Output {
    let f = TempFile::with("memfd", h.mem.as_bytes());
    kho_abi(&[
        "inspect",
        "--image",
        f.path(),
        "--base",
        &format!("{BASE:#x}"),
        "--page-size",
        &ps.to_string(),
        "--memfd",
        &format!("{:#x}", h.ser),
    ])
}

const FOLIOS: [(u64, u64, u64); 3] = [(0x1234, 3, 0), (0xf_ffff_ffff_ffff, 1, 1), (0x42, 0x805, 7)];

#[test]
fn prints_the_folios_at_every_page_size() {
    for ps in [4096, 16384, 65536] {
        let h = handover(ps, &FOLIOS, 3);
        let out = run(&h, ps);
        assert_eq!(out.status.code(), Some(0), "{ps}: {}", stderr(&out));
        let want = format!(
            "memfd_luo_ser at {}: pos = 123 size = 12288 nr_folios = 3\n\
             folios: kho_vmalloc first = {} total_pages = 1 flags = 0x1 order = 0, 1 chunk(s)\n\
             [0] pfn = 0x1234 flags = 0x3 (DIRTY|UPTODATE) index = 0\n\
             [1] pfn = 0xfffffffffffff flags = 0x1 (DIRTY) index = 1\n\
             [2] pfn = 0x42 flags = 0x805 (DIRTY|0x804) index = 7\n",
            PhysAddr(h.ser),
            h.area.chunks()[0],
        );
        assert_eq!(stdout(&out), want, "{ps}");
    }
}

#[test]
fn many_folios_across_chunks() {
    // 600 pages of folios: two chunks (511 slots each at 4 KiB).
    let folios: Vec<(u64, u64, u64)> = (0..600 * 256).map(|i| (i + 1, 0, i)).collect();
    let mut mem = SimMemory::new(BASE, 4096, 700).unwrap();
    let ser_page = mem.alloc_preserve().unwrap();
    let bytes: Vec<u8> = folios
        .iter()
        .flat_map(|&(p, _, i)| [p.to_ne_bytes(), i.to_ne_bytes()].concat())
        .collect();
    let area = Vmalloc::write(&mut mem, &bytes).unwrap();
    assert_eq!(area.chunks().len(), 2);
    let page = mem.page_mut(ser_page).unwrap();
    page[16..24].copy_from_slice(&(folios.len() as u64).to_ne_bytes());
    page[24..40].copy_from_slice(&area.ser().to_bytes());
    let h = Handover {
        mem,
        ser: ser_page.get(),
        area,
    };
    let out = run(&h, 4096);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("2 chunk(s)"), "{text}");
    assert!(text.ends_with("[153599] pfn = 0x25800 flags = 0x0 () index = 153599\n"));
    assert_eq!(text.lines().count(), 2 + folios.len());
}

#[test]
fn a_wild_page_in_a_chunk_is_refused_naming_the_chunk() {
    let mut h = handover(4096, &FOLIOS, 3);
    let c0 = h.area.chunks()[0];
    // Slot 0 (word 1) of chunk 0: a page outside the dump.
    h.mem.page_mut(c0).unwrap()[8..16].copy_from_slice(&0xdead_0000u64.to_ne_bytes());
    let out = run(&h, 4096);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "memfd_luo_ser at {}: folios: vmalloc chunk 0 at {c0}: slot 0: page 0xdead0000: \
             address outside memory",
            PhysAddr(h.ser)
        )),
        "{err}"
    );
}

#[test]
fn more_folios_than_the_area_holds_is_refused() {
    let h = handover(4096, &FOLIOS, 257);
    let out = run(&h, 4096);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("nr_folios 257 needs more than the 4096 bytes of its 1-page folio area"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_ser_crossing_its_page_is_refused() {
    let h = handover(4096, &FOLIOS, 3);
    let h = Handover {
        ser: BASE + 4096 - 8,
        ..h
    };
    let out = run(&h, 4096);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("its 40 bytes cross the end of the page"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn memfd_with_head_is_a_usage_error() {
    let f = TempFile::with("memfd-args", &[0u8; 4096]);
    let out = kho_abi(&[
        "inspect",
        "--image",
        f.path(),
        "--base",
        "0",
        "--head",
        "0",
        "--entry-size",
        "8",
        "--memfd",
        "0x40",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    let out = kho_abi(&[
        "inspect",
        "--image",
        f.path(),
        "--memfd",
        "0x40",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--format json does not apply to --memfd"),
        "{}",
        stderr(&out)
    );
}

/// The same handover in an ELF core (a vmcore of two RAM ranges split in
/// the middle of the memfd's memory, with a kernel-text alias of other
/// bytes): no `--base`, the physical addresses come from the segments, and
/// the listing is the raw dump's byte for byte.
#[test]
fn a_memfd_in_an_elf_core_prints_as_from_a_raw_dump() {
    let h = handover(4096, &FOLIOS, 3);
    let raw = run(&h, 4096);
    assert_eq!(raw.status.code(), Some(0), "{}", stderr(&raw));
    let bytes = h.mem.as_bytes();
    let half = bytes.len() / 2;
    let core = Core::new()
        .load(BASE, 0xffff_8880_0040_0000, &bytes[..half], half as u64)
        .load(
            BASE + half as u64,
            0xffff_8880_0040_0000 + half as u64,
            &bytes[half..],
            (bytes.len() - half) as u64,
        )
        .load(BASE, 0xffff_ffff_8100_0000, &vec![0xcc; half], half as u64);
    let f = core.file("memfd-vmcore");
    let out = kho_abi(&[
        "inspect",
        "--image",
        f.path(),
        "--page-size",
        "4096",
        "--memfd",
        &format!("{:#x}", h.ser),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&raw));
    assert!(stdout(&out).contains("[1] pfn = 0xfffffffffffff flags = 0x1 (DIRTY)"));

    // A core is never read as raw bytes: --base is refused, naming why.
    let out = kho_abi(&[
        "inspect",
        "--image",
        f.path(),
        "--base",
        &format!("{BASE:#x}"),
        "--memfd",
        &format!("{:#x}", h.ser),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is an ELF core file, not a raw dump"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}
