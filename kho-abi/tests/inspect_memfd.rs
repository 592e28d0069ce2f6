//! `kho-abi inspect --memfd`: a memfd handover (a memfd_luo_ser and the
//! KHO vmalloc area of its folios) in a raw dump built by the test, printed
//! folio by folio with the bit fields decoded, and the same memory in an
//! ELF core; a hostile area is refused with one line naming the chunk.
//! memfd-v2 (seals and flags) by default, memfd-v1 when asked.

mod common;
use common::elf::Core;
use common::memfd::put_ser;
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

/// A memfd-v2 of `folios` (pfn, flags, index) at page size `ps`.
fn handover(ps: usize, folios: &[(u64, u64, u64)], nr_folios: u64) -> Handover {
    handover_of(ps, folios, nr_folios, false)
}

fn handover_of(ps: usize, folios: &[(u64, u64, u64)], nr_folios: u64, v1: bool) -> Handover {
    let mut mem = SimMemory::new(BASE, ps, 16).unwrap();
    let ser_page = mem.alloc_preserve().unwrap();
    let mut bytes = Vec::new();
    for &(pfn, flags, index) in folios {
        bytes.extend_from_slice(&(pfn | flags << 52).to_ne_bytes());
        bytes.extend_from_slice(&index.to_ne_bytes());
    }
    let area = Vmalloc::write(&mut mem, &bytes).unwrap();
    put_ser(
        mem.page_mut(ser_page).unwrap(),
        SER_OFF as usize,
        v1,
        nr_folios,
        &area,
    );
    Handover {
        mem,
        ser: ser_page.get() + SER_OFF,
        area,
    }
}

fn run(h: &Handover, ps: usize) -> std::process::Output {
    run_with(h, ps, &[])
}

fn run_with(h: &Handover, ps: usize, extra: &[&str]) -> std::process::Output {
    run_bytes(h.mem.as_bytes(), ps, h.ser, extra)
}

/// inspect --memfd `ser` on `bytes` as a raw dump at BASE.
fn run_bytes(bytes: &[u8], ps: usize, ser: u64, extra: &[&str]) -> std::process::Output {
    let f = TempFile::with("memfd", bytes);
    let (base, ps, ser) = (format!("{BASE:#x}"), ps.to_string(), format!("{ser:#x}"));
    let mut args = vec![
        "inspect",
        "--image",
        f.path(),
        "--base",
        &base,
        "--page-size",
        &ps,
        "--memfd",
        &ser,
    ];
    args.extend_from_slice(extra);
    kho_abi(&args)
}

const FOLIOS: [(u64, u64, u64); 3] = [(0x1234, 3, 0), (0xf_ffff_ffff_ffff, 1, 1), (0x42, 0x805, 7)];

#[test]
fn prints_the_folios_at_every_page_size() {
    for ps in [4096, 16384, 65536] {
        let h = handover(ps, &FOLIOS, 3);
        let out = run(&h, ps);
        assert_eq!(out.status.code(), Some(0), "{ps}: {}", stderr(&out));
        let want = format!(
            "memfd_luo_ser at {} (memfd-v2): pos = 123 size = 12288 \
             seals = 0x125 (SEAL|GROW|EXEC|0x100) flags = 0x0 nr_folios = 3\n\
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
    put_ser(
        mem.page_mut(ser_page).unwrap(),
        0,
        false,
        folios.len() as u64,
        &area,
    );
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
        stderr(&out).contains("its 48 bytes (memfd-v2) cross the end of the page"),
        "{}",
        stderr(&out)
    );
}

/// A memfd-v1 handover (before seals): read with `--memfd-compatible
/// memfd-v1`, and misread as memfd-v2 (whose nr_folios is v1's folios.first)
/// it is refused, not printed.
#[test]
fn memfd_v1_reads_with_its_own_layout() {
    let h = handover_of(4096, &FOLIOS, 3, true);
    let out = run_with(&h, 4096, &["--memfd-compatible", "memfd-v1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let want = format!(
        "memfd_luo_ser at {} (memfd-v1): pos = 123 size = 12288 nr_folios = 3\n\
         folios: kho_vmalloc first = {} total_pages = 1 flags = 0x1 order = 0, 1 chunk(s)\n",
        PhysAddr(h.ser),
        h.area.chunks()[0],
    );
    assert!(stdout(&out).starts_with(&want), "{}", stdout(&out));
    assert_eq!(stdout(&out).lines().count(), 5);
    let out = run(&h, 4096);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("memfd_luo_ser at"),
        "{}",
        stderr(&out)
    );
    // A version kho does not know is a usage error naming those it does.
    let out = run_with(&h, 4096, &["--memfd-compatible", "memfd-v3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("memfd-v1, memfd-v2"),
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

/// Random damage to a memfd handover (words of the memfd_luo_ser and of the
/// chunk and folio pages rewritten, bits flipped), read as either version:
/// every run exits 0 or 1, never a panic or a signal, and a refusal is one
/// line naming the memfd_luo_ser. A fixed xorshift seed, so a failure
/// repeats.
#[test]
fn damaged_memfd_handovers_fail_cleanly() {
    let mut x: u64 = 0x6d65_6d66_645f_7632;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let h = handover(4096, &FOLIOS, 3);
    let pages: Vec<u64> = std::iter::once(h.ser & !0xfff)
        .chain(h.area.chunks().iter().map(|a| a.get()))
        .chain(h.area.pages().iter().map(|a| a.get()))
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for run in 0..120 {
        let mut bytes = h.mem.as_bytes().to_vec();
        for _ in 0..1 + next() % 3 {
            let page = (pages[(next() % pages.len() as u64) as usize] - BASE) as usize;
            let at = page + (next() % 4096) as usize / 8 * 8;
            let word = match next() % 4 {
                0 => u64::MAX,
                1 => next(),
                2 => BASE + next() % (16 * 4096),
                _ => u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap()) ^ 1 << (next() % 64),
            };
            bytes[at..at + 8].copy_from_slice(&word.to_ne_bytes());
        }
        let version = if run % 2 == 0 { "memfd-v2" } else { "memfd-v1" };
        let out = run_bytes(&bytes, 4096, h.ser, &["--memfd-compatible", version]);
        match out.status.code() {
            Some(0) => ok += 1,
            Some(1) => {
                let err = stderr(&out);
                assert_eq!(err.lines().count(), 1, "run {run}: {err}");
                assert!(err.contains("memfd_luo_ser at "), "run {run}: {err}");
                assert!(out.stdout.is_empty(), "run {run}: printed before refusing");
                refused += 1;
            }
            other => panic!("run {run} ({version}): exit {other:?}: {}", stderr(&out)),
        }
    }
    // The damage reaches both outcomes.
    assert!(ok > 0 && refused > 0, "{ok} read, {refused} refused");
}
