//! KHO vmalloc areas: write and restore at every page size, and every way
//! restore rejects a hostile chunk list, each error naming the chunk index,
//! its address and what is wrong; random damage never panics.

use kho_runtime::{
    vmalloc_slots, Error, Fault, PhysAddr, PreservedMemory, RawImage, SimMemory, Vmalloc,
    VmallocFault, VmallocSer, KHO_VMALLOC_ALLOC, KHO_VMALLOC_HUGE_VMAP, PAGE_SIZES,
};
use proptest::prelude::*;

const BASE: u64 = 0x10_0000;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
        .collect()
}

/// An area of `pages` data pages written in a fresh memory (not kexec'd:
/// the caller may corrupt it first).
fn area(ps: usize, pages: usize) -> (SimMemory, Vmalloc, Vec<u8>) {
    let spare = pages / vmalloc_slots(ps) + 8;
    let mut mem = SimMemory::new(BASE, ps, pages + spare).unwrap();
    let bytes = data(pages * ps, 7);
    let v = Vmalloc::write(&mut mem, &bytes).unwrap();
    (mem, v, bytes)
}

fn set_word(mem: &mut SimMemory, page: PhysAddr, word: usize, value: u64) {
    let p = mem.page_mut(page).unwrap();
    p[word * 8..word * 8 + 8].copy_from_slice(&value.to_ne_bytes());
}

/// Slot `slot` of a chunk is word `1 + slot`.
fn set_slot(mem: &mut SimMemory, chunk: PhysAddr, slot: usize, value: u64) {
    set_word(mem, chunk, 1 + slot, value);
}

fn restore_err(mem: SimMemory, ser: VmallocSer) -> (usize, PhysAddr, VmallocFault, String) {
    let mem = mem.kexec();
    match Vmalloc::restore(&mem, &ser) {
        Err(e @ Error::Vmalloc { .. }) => {
            let msg = e.to_string();
            let Error::Vmalloc { chunk, addr, fault } = e else {
                unreachable!()
            };
            (chunk, addr, fault, msg)
        }
        other => panic!("expected a vmalloc error, got {other:?}"),
    }
}

#[test]
fn round_trip_every_page_size() {
    for ps in PAGE_SIZES {
        let slots = vmalloc_slots(ps);
        assert_eq!(slots, (ps - 8) / 8);
        // Around a chunk boundary (slots pages fill one chunk) but at 64 KiB,
        // where that is 512 MiB of memory: the chunk arithmetic is the same.
        let boundary: &[usize] = if ps == 65536 {
            &[]
        } else {
            &[slots - 1, slots, slots + 1]
        };
        for &pages in [0, 1, 3].iter().chain(boundary) {
            let spare = pages / slots + 4;
            let mut mem = SimMemory::new(BASE, ps, pages + spare).unwrap();
            // Not a whole number of pages: the tail of the last is zero.
            let bytes = data((pages * ps).saturating_sub(5), 3);
            let v = Vmalloc::write(&mut mem, &bytes).unwrap();
            let ser = VmallocSer::from_bytes(&v.ser().to_bytes()).unwrap();
            assert_eq!(ser, v.ser());
            assert_eq!(ser.total_pages as usize, pages, "ps {ps} pages {pages}");
            // The kernel's shape: one chunk per full chunk, plus the last.
            assert_eq!(v.chunks().len(), pages / slots + 1, "ps {ps} pages {pages}");
            let mem = mem.kexec();
            let r = Vmalloc::restore(&mem, &ser).unwrap();
            assert!(r.is_incoming());
            assert_eq!(r.pages(), v.pages());
            assert_eq!(r.chunks(), v.chunks());
            assert_eq!(r.flags(), KHO_VMALLOC_ALLOC);
            assert_eq!(r.to_vec(&mem, bytes.len()).unwrap(), bytes);
            if pages > 0 {
                let mut tail = [0xffu8; 5];
                r.read(&mem, pages * ps - 5, &mut tail).unwrap();
                assert_eq!(tail, [0; 5]);
            }
            let mut mem = mem;
            let before = mem.stats();
            r.free(&mut mem).unwrap();
            let after = mem.stats();
            assert_eq!(
                after.restored - before.restored,
                pages + pages / slots + 1,
                "free claims every chunk and page"
            );
        }
    }
}

#[test]
fn round_trip_on_a_raw_dump() {
    let (mem, v, bytes) = area(16384, 5);
    let img = RawImage::from_vec(mem.as_bytes().to_vec(), BASE, 16384).unwrap();
    let r = Vmalloc::restore(&img, &v.ser()).unwrap();
    assert_eq!(r.to_vec(&img, bytes.len()).unwrap(), bytes);
}

#[test]
fn order_one_runs_round_trip() {
    let ps = 4096;
    let mut mem = SimMemory::new(BASE, ps, 16).unwrap();
    let pages: Vec<PhysAddr> = (0..8).map(|_| mem.alloc_preserve().unwrap()).collect();
    // Runs of two pages aligned to 8 KiB: the first two whose start is aligned.
    let runs: Vec<PhysAddr> = pages
        .chunks(2)
        .filter(|r| r[0].get().is_multiple_of(2 * ps as u64))
        .map(|r| r[0])
        .collect();
    assert_eq!(runs.len(), 4, "BASE is 8 KiB aligned");
    let v = Vmalloc::write_runs(&mut mem, &runs, 1, KHO_VMALLOC_HUGE_VMAP).unwrap();
    assert_eq!(v.ser().total_pages, 8);
    let mem = mem.kexec();
    let r = Vmalloc::restore(&mem, &v.ser()).unwrap();
    assert_eq!(r.pages(), &pages[..]);
    assert_eq!(r.order(), 1);
}

#[test]
fn write_runs_refuses_an_unaligned_run() {
    let mut mem = SimMemory::new(BASE, 4096, 16).unwrap();
    let e = Vmalloc::write_runs(&mut mem, &[PhysAddr(BASE + 4096)], 1, 0).unwrap_err();
    assert!(
        e.to_string()
            .contains("slot 0: page 0x101000: address not page aligned"),
        "{e}"
    );
}

#[test]
fn rejects_unknown_flags() {
    let (mem, v, _) = area(4096, 2);
    let ser = VmallocSer {
        flags: 0x4,
        ..v.ser()
    };
    let (chunk, addr, fault, msg) = restore_err(mem, ser);
    assert_eq!((chunk, addr), (0, v.chunks()[0]));
    assert_eq!(fault, VmallocFault::BadFlags { flags: 4 });
    assert!(msg.contains("flags 0x4 has bits outside 0x3"), "{msg}");
}

#[test]
fn rejects_a_huge_order() {
    let (mem, v, _) = area(4096, 2);
    let ser = VmallocSer {
        order: 21,
        ..v.ser()
    };
    let (chunk, _, fault, msg) = restore_err(mem, ser);
    assert_eq!(chunk, 0);
    assert_eq!(fault, VmallocFault::BadOrder { order: 21 });
    assert!(msg.contains("order 21 is over 20"), "{msg}");
}

#[test]
fn rejects_total_pages_over_the_limit() {
    let (mem, v, _) = area(4096, 4);
    let mem = mem.kexec();
    let e = Vmalloc::restore_with_limit(&mem, &v.ser(), 3).unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "vmalloc chunk 0 at {}: total_pages 4 is over the limit of 3",
            v.chunks()[0]
        )),
        "{e}"
    );
}

#[test]
fn rejects_an_unaligned_chunk() {
    let (mem, v, _) = area(4096, 2);
    let first = PhysAddr(v.chunks()[0].get() + 8);
    let (chunk, addr, fault, msg) = restore_err(mem, VmallocSer { first, ..v.ser() });
    assert_eq!((chunk, addr), (0, first));
    assert_eq!(fault, VmallocFault::Chunk(Fault::Unaligned));
    assert!(msg.contains("address not page aligned"), "{msg}");
}

#[test]
fn rejects_a_chunk_outside_memory() {
    let (mut mem, v, _) = area(4096, 600);
    // The second chunk's link is wild.
    let c0 = v.chunks()[0];
    set_word(&mut mem, c0, 0, 0x7000_0000);
    let (chunk, addr, fault, msg) = restore_err(mem, v.ser());
    assert_eq!((chunk, addr), (1, PhysAddr(0x7000_0000)));
    assert_eq!(fault, VmallocFault::Chunk(Fault::OutOfRange));
    assert!(
        msg.contains("vmalloc chunk 1 at 0x70000000: address outside memory"),
        "{msg}"
    );
}

#[test]
fn rejects_an_unpreserved_chunk() {
    let (mut mem, v, _) = area(4096, 2);
    let free = mem.alloc_preserve().unwrap();
    mem.unpreserve_free(free).unwrap();
    let (chunk, addr, fault, _) = restore_err(
        mem,
        VmallocSer {
            first: free,
            ..v.ser()
        },
    );
    assert_eq!((chunk, addr), (0, free));
    assert_eq!(fault, VmallocFault::Chunk(Fault::NotPreserved));
}

#[test]
fn rejects_a_cycle() {
    // 511 runs fill chunk 0 exactly; linking it to itself loops.
    let (mut mem, v, _) = area(4096, 511);
    let c0 = v.chunks()[0];
    set_word(&mut mem, c0, 0, c0.get());
    let ser = VmallocSer {
        total_pages: 4000,
        ..v.ser()
    };
    let (chunk, addr, fault, msg) = restore_err(mem, ser);
    assert_eq!((chunk, addr), (2, c0));
    assert_eq!(fault, VmallocFault::Cycle { to_index: 0 });
    assert!(msg.contains("next links back to chunk 0 (cycle)"), "{msg}");
}

#[test]
fn rejects_an_unaligned_page() {
    let (mut mem, v, _) = area(4096, 3);
    let c0 = v.chunks()[0];
    let bad = v.pages()[1].get() + 0x10;
    set_slot(&mut mem, c0, 1, bad);
    let (chunk, addr, fault, msg) = restore_err(mem, v.ser());
    assert_eq!((chunk, addr), (0, c0));
    assert_eq!(
        fault,
        VmallocFault::Page {
            slot: 1,
            page: PhysAddr(bad),
            fault: Fault::Unaligned
        }
    );
    assert!(
        msg.contains(&format!(
            "slot 1: page {}: address not page aligned",
            PhysAddr(bad)
        )),
        "{msg}"
    );
}

#[test]
fn rejects_a_page_outside_memory() {
    let (mut mem, v, _) = area(4096, 3);
    let c0 = v.chunks()[0];
    set_slot(&mut mem, c0, 2, 0xdead_0000);
    let (_, _, fault, msg) = restore_err(mem, v.ser());
    assert_eq!(
        fault,
        VmallocFault::Page {
            slot: 2,
            page: PhysAddr(0xdead_0000),
            fault: Fault::OutOfRange
        }
    );
    assert!(
        msg.contains("slot 2: page 0xdead0000: address outside memory"),
        "{msg}"
    );
}

#[test]
fn rejects_an_unpreserved_page() {
    let (mut mem, v, _) = area(4096, 3);
    let free = mem.alloc_preserve().unwrap();
    mem.unpreserve_free(free).unwrap();
    let c0 = v.chunks()[0];
    set_slot(&mut mem, c0, 0, free.get());
    let (_, _, fault, msg) = restore_err(mem, v.ser());
    assert_eq!(
        fault,
        VmallocFault::Page {
            slot: 0,
            page: free,
            fault: Fault::NotPreserved
        }
    );
    assert!(msg.contains("page is not preserved"), "{msg}");
}

#[test]
fn rejects_a_run_running_out_of_memory() {
    // Order 1 in three pages: the run BASE..+2 pages, the chunk at +2. A
    // run at +2 is aligned to 8 KiB but its second page is past the end.
    let ps = 4096u64;
    let mut mem = SimMemory::new(BASE, ps as usize, 3).unwrap();
    let run = mem.alloc_preserve().unwrap();
    mem.alloc_preserve().unwrap();
    let v = Vmalloc::write_runs(&mut mem, &[run], 1, 0).unwrap();
    let c0 = v.chunks()[0];
    assert_eq!(c0, PhysAddr(BASE + 2 * ps));
    set_slot(&mut mem, c0, 0, c0.get());
    let (chunk, addr, fault, msg) = restore_err(mem, v.ser());
    assert_eq!((chunk, addr), (0, c0));
    let past = PhysAddr(BASE + 3 * ps);
    assert_eq!(
        fault,
        VmallocFault::Page {
            slot: 0,
            page: past,
            fault: Fault::OutOfRange
        }
    );
    assert!(
        msg.contains("slot 0: page 0x103000: address outside memory"),
        "{msg}"
    );
}

#[test]
fn rejects_a_page_listed_twice() {
    let (mut mem, v, _) = area(4096, 3);
    let c0 = v.chunks()[0];
    set_slot(&mut mem, c0, 2, v.pages()[0].get());
    let (chunk, addr, fault, msg) = restore_err(mem, v.ser());
    assert_eq!((chunk, addr), (0, c0));
    assert_eq!(
        fault,
        VmallocFault::Duplicate {
            slot: Some(2),
            page: v.pages()[0]
        }
    );
    assert!(msg.contains("is listed twice or is a chunk"), "{msg}");
}

#[test]
fn rejects_a_page_that_is_a_chunk() {
    let (mut mem, v, _) = area(4096, 3);
    let c0 = v.chunks()[0];
    set_slot(&mut mem, c0, 1, c0.get());
    let (chunk, _, fault, _) = restore_err(mem, v.ser());
    assert_eq!(chunk, 0);
    assert_eq!(
        fault,
        VmallocFault::Duplicate {
            slot: Some(1),
            page: c0
        }
    );
}

#[test]
fn rejects_more_pages_than_total_pages() {
    let (mem, v, _) = area(4096, 5);
    let ser = VmallocSer {
        total_pages: 4,
        ..v.ser()
    };
    let (chunk, addr, fault, msg) = restore_err(mem, ser);
    assert_eq!((chunk, addr), (0, v.chunks()[0]));
    assert_eq!(
        fault,
        VmallocFault::TooManyPages {
            slot: 4,
            total_pages: 4
        }
    );
    assert!(
        msg.contains("slot 4: more pages than the area's total_pages 4"),
        "{msg}"
    );
}

#[test]
fn rejects_fewer_pages_than_total_pages() {
    let (mem, v, _) = area(4096, 5);
    let ser = VmallocSer {
        total_pages: 6,
        ..v.ser()
    };
    let (chunk, addr, fault, msg) = restore_err(mem, ser);
    assert_eq!((chunk, addr), (0, v.chunks()[0]));
    assert_eq!(
        fault,
        VmallocFault::TooFewPages {
            found: 5,
            total_pages: 6
        }
    );
    assert!(
        msg.contains("the chunks list 5 pages, fewer than the area's total_pages 6"),
        "{msg}"
    );
}

#[test]
fn rejects_a_null_first_with_pages() {
    let (mem, v, _) = area(4096, 1);
    let ser = VmallocSer {
        first: PhysAddr::NULL,
        ..v.ser()
    };
    let (chunk, addr, fault, _) = restore_err(mem, ser);
    assert_eq!((chunk, addr), (0, PhysAddr::NULL));
    assert_eq!(
        fault,
        VmallocFault::TooFewPages {
            found: 0,
            total_pages: 1
        }
    );
}

#[test]
fn rejects_a_missing_terminator() {
    // Chunk 0 full, its link to the empty chunk 1 cut: no 0 slot anywhere.
    let (mut mem, v, _) = area(4096, 511);
    let c0 = v.chunks()[0];
    set_word(&mut mem, c0, 0, 0);
    let (chunk, addr, fault, msg) = restore_err(mem, v.ser());
    assert_eq!((chunk, addr), (0, c0));
    assert_eq!(fault, VmallocFault::MissingTerminator);
    assert!(
        msg.contains("last chunk is full: no terminating 0 slot"),
        "{msg}"
    );
}

#[test]
fn rejects_a_list_ending_early_that_links_on() {
    let (mut mem, v, _) = area(4096, 3);
    let c0 = v.chunks()[0];
    set_word(&mut mem, c0, 0, v.pages()[2].get());
    let (chunk, addr, fault, msg) = restore_err(mem, v.ser());
    assert_eq!((chunk, addr), (0, c0));
    assert_eq!(fault, VmallocFault::EndsEarly { slot: 3 });
    assert!(
        msg.contains("slot 3 ends the list before the chunk is full"),
        "{msg}"
    );
}

#[test]
fn a_failed_restore_releases_nothing() {
    let (mut mem, v, _) = area(4096, 3);
    set_slot(&mut mem, v.chunks()[0], 1, 1);
    let mem = mem.kexec();
    let before = mem.stats();
    assert!(Vmalloc::restore(&mem, &v.ser()).is_err());
    assert_eq!(mem.stats(), before);
}

#[test]
fn wrong_memory_is_refused() {
    let (mem, v, _) = area(4096, 2);
    let other = SimMemory::new(BASE, 4096, 8).unwrap();
    let e = v.to_vec(&other, 1).unwrap_err();
    assert!(matches!(e, Error::WrongMemory { .. }), "{e}");
    drop(mem);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random damage to the chunk pages and the descriptor: restore never
    /// panics, and is either a named vmalloc error or the original area.
    #[test]
    fn random_damage_is_caught_or_harmless(
        ps_i in 0usize..3,
        extra in 0usize..3,
        damage in prop::collection::vec((any::<u32>(), any::<u8>(), 0u8..8), 1..6),
        desc in prop::option::of((0u8..4, any::<u64>())),
    ) {
        let ps = PAGE_SIZES[ps_i];
        let slots = vmalloc_slots(ps);
        // Around a chunk boundary with 4 KiB pages (2 MiB), small otherwise.
        let pages = if extra == 0 || ps != 4096 { 3 + extra } else { slots + extra - 2 };
        let (mut mem, v, bytes) = area(ps, pages);
        for &(pos, xor, kind) in &damage {
            let chunk = v.chunks()[pos as usize % v.chunks().len()];
            let word = (pos as usize / 7) % (ps / 8);
            let value = match kind {
                0 => 0,
                1 => v.pages()[pos as usize % v.pages().len()].get(),
                2 => chunk.get(),
                3 => v.chunks()[(pos as usize / 3) % v.chunks().len()].get(),
                _ => {
                    let p = mem.page(chunk).unwrap();
                    u64::from_ne_bytes(p[word * 8..word * 8 + 8].try_into().unwrap())
                        ^ (u64::from(xor) << ((pos % 8) * 8))
                }
            };
            set_word(&mut mem, chunk, word, value);
        }
        let mut ser = v.ser();
        if let Some((field, x)) = desc {
            match field {
                0 => ser.first = PhysAddr(ser.first.get() ^ (x & 0xff_ffff)),
                1 => ser.total_pages ^= x as u32 & 0xfff,
                2 => ser.flags ^= x as u16,
                _ => ser.order ^= x as u16 & 0x1f,
            }
        }
        let mem = mem.kexec();
        match Vmalloc::restore(&mem, &ser) {
            Ok(r) => {
                prop_assert_eq!(r.pages(), v.pages());
                prop_assert_eq!(r.to_vec(&mem, bytes.len()).unwrap(), bytes);
            }
            Err(e @ Error::Vmalloc { .. }) => {
                prop_assert!(e.to_string().starts_with("vmalloc chunk "), "{}", e);
            }
            Err(e) => prop_assert!(false, "unnamed error {e}"),
        }
    }
}
