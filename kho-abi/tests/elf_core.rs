//! `kho-abi inspect --image CORE`: ELF core files (kdump vmcores,
//! /proc/kcore, QEMU dump-guest-memory) built here byte by byte, restored
//! as the next kernel would restore the block set they hold, and refused
//! with one line naming the segment when they lie.

mod common;
use common::elf::{Core, Ph, DATA, ET_EXEC, PT_LOAD};
use common::{assert_exit, kho_abi, stderr, stdout, TempFile};

const PS: u64 = 4096;
const ENTRY: usize = 32;
const PER_BLOCK: usize = (PS as usize - 16) / ENTRY;

/// Distinct entries: entry `i` is its index and a tag, repeated.
fn entry(i: usize) -> [u8; ENTRY] {
    let mut e = [0u8; ENTRY];
    for (k, b) in e.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7) ^ (k as u8) ^ 0x5a;
    }
    e
}

/// `memory` (physical address `base` on) with a chain of `n` entries whose
/// blocks are at `blocks` (each inside `memory`), in chain order.
fn write_chain(memory: &mut [u8], base: u64, blocks: &[u64], n: usize) {
    let mut left = n;
    let mut i = 0;
    for (k, &addr) in blocks.iter().enumerate() {
        let count = left.min(PER_BLOCK);
        let next = blocks.get(k + 1).copied().unwrap_or(0);
        let at = (addr - base) as usize;
        let page = &mut memory[at..at + PS as usize];
        page[..8].copy_from_slice(&next.to_le_bytes());
        page[8..16].copy_from_slice(&(count as u64).to_le_bytes());
        for slot in 0..count {
            let o = 16 + slot * ENTRY;
            page[o..o + ENTRY].copy_from_slice(&entry(i));
            i += 1;
        }
        left -= count;
    }
}

fn expected_hex(n: usize) -> String {
    (0..n)
        .map(|i| {
            entry(i)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                + "\n"
        })
        .collect()
}

fn inspect(image: &str, head: u64) -> std::process::Output {
    kho_abi(&[
        "inspect",
        "--image",
        image,
        "--head",
        &format!("{head:#x}"),
        "--entry-size",
        "32",
    ])
}

/// Asserts a refusal: exit 1, one line on stderr holding every `want`.
fn assert_refused(out: &std::process::Output, want: &[&str]) {
    assert_exit(out, 1);
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for w in want {
        assert!(err.contains(w), "expected {w:?} in: {err}");
    }
    assert!(out.stdout.is_empty(), "no partial listing");
}

/// Two RAM ranges as a vmcore splits them, the kernel-text alias inside the
/// first, a kcore-style vmalloc area with no physical address, and a chain
/// whose blocks lie in both ranges, the last in the zero tail's neighbour.
fn vmcore() -> (Core, u64, usize) {
    const LOW: u64 = 0x10_0000;
    const HIGH: u64 = 0x1_0000_0000;
    let mut low = vec![0xA5u8; 8 * PS as usize];
    let mut high = vec![0x5Au8; 4 * PS as usize];
    let n = 3 * PER_BLOCK + 5;
    // Blocks: low page 6, high page 1, low page 2, high page 3.
    let blocks = [LOW + 6 * PS, HIGH + PS, LOW + 2 * PS, HIGH + 3 * PS];
    write_chain_split(&mut low, LOW, &mut high, HIGH, &blocks, n);
    let core = Core::new()
        .load(LOW, 0xffff_8880_0010_0000, &low, low.len() as u64)
        // p_memsz past p_filesz: two pages the dump left out, read as 0.
        .load(
            HIGH,
            0xffff_8881_0000_0000,
            &high,
            high.len() as u64 + 2 * PS,
        )
        // The kernel-text alias of low pages 1..3, other bytes on purpose:
        // it is left out, so they are never read.
        .load(
            LOW + PS,
            0xffff_ffff_8100_0000,
            &[0xCC; 2 * PS as usize],
            2 * PS,
        )
        // kcore's vmalloc area: p_paddr all ones.
        .ph(Ph {
            kind: PT_LOAD,
            offset: 0x7fff_0000_0000,
            vaddr: 0xffff_c900_0000_0000,
            paddr: u64::MAX,
            filesz: 1 << 40,
            memsz: 1 << 40,
        });
    (core, blocks[0], n)
}

fn write_chain_split(
    low: &mut [u8],
    low_base: u64,
    high: &mut [u8],
    high_base: u64,
    blocks: &[u64],
    n: usize,
) {
    // Lay the chain out in one flat buffer spanning both, then copy back.
    let span = (high_base - low_base) as usize + high.len();
    let mut flat = vec![0u8; span];
    flat[..low.len()].copy_from_slice(low);
    let h = (high_base - low_base) as usize;
    flat[h..].copy_from_slice(high);
    write_chain(&mut flat, low_base, blocks, n);
    low.copy_from_slice(&flat[..low.len()]);
    high.copy_from_slice(&flat[h..]);
}

#[test]
fn a_vmcore_chain_prints_as_from_a_raw_dump() {
    let (core, head, n) = vmcore();
    let f = core.file("vmcore");
    let out = inspect(f.path(), head);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), expected_hex(n));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));

    // The same memory as a raw dump (low range only: a chain there) gives
    // byte-for-byte the same listing.
    let mut raw = vec![0u8; 8 * PS as usize];
    let blocks = [0x10_0000 + 6 * PS, 0x10_0000 + 2 * PS];
    write_chain(&mut raw, 0x10_0000, &blocks, PER_BLOCK + 3);
    let dump = TempFile::with("vmcore-raw", &raw);
    let core = Core::new().load(0x10_0000, 0, &raw, raw.len() as u64);
    let cf = core.file("vmcore-same");
    let from_raw = kho_abi(&[
        "inspect",
        "--image",
        dump.path(),
        "--base",
        "0x100000",
        "--head",
        "0x106000",
        "--entry-size",
        "32",
        "--format",
        "json",
    ]);
    let from_core = kho_abi(&[
        "inspect",
        "--image",
        cf.path(),
        "--head",
        "0x106000",
        "--entry-size",
        "32",
        "--format",
        "json",
    ]);
    assert_exit(&from_raw, 0);
    assert_exit(&from_core, 0);
    assert_eq!(from_raw.stdout, from_core.stdout);
    assert!(stdout(&from_core).contains("\"addr\": \"0x102000\""));
}

#[test]
fn a_block_in_the_zero_tail_reads_as_zeros_and_is_refused() {
    // A head in the part p_memsz covers past p_filesz: a count of 0.
    let (core, _, _) = vmcore();
    let f = core.file("zero-tail");
    let out = inspect(f.path(), 0x1_0000_0000 + 4 * PS);
    assert_refused(&out, &["block 0 at 0x100004000", "count 0"]);
}

#[test]
fn a_page_gathered_from_two_touching_segments_reads() {
    // QEMU splits RAM where its memory regions split, not always on a page:
    // the block's page is half in one PT_LOAD, half in the next.
    let mut mem = vec![0u8; 2 * PS as usize];
    write_chain(&mut mem, 0x20_0000, &[0x20_0000 + PS], 4);
    let cut = PS as usize + 0x700;
    let core = Core::new()
        .load(
            0x20_0000 + cut as u64,
            0,
            &mem[cut..],
            (mem.len() - cut) as u64,
        )
        .load(0x20_0000, 0, &mem[..cut], cut as u64);
    let f = core.file("straddle");
    let out = inspect(f.path(), 0x20_0000 + PS);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), expected_hex(4));
}

#[test]
fn a_head_outside_every_segment_is_outside_memory() {
    let (core, _, _) = vmcore();
    let f = core.file("outside");
    let out = inspect(f.path(), 0x8000_0000);
    assert_refused(&out, &["0x80000000", "address outside memory"]);
    // Inside the skipped vmalloc area's virtual range means nothing either.
    let out = inspect(f.path(), u64::MAX - PS + 1);
    assert_refused(&out, &["address outside memory"]);
}

#[test]
fn a_page_running_into_a_hole_is_past_the_end() {
    // The segment ends mid-page (as the first RAM range of a PC does, at
    // 0x9fc00): its last page cannot be read whole.
    let core = Core::new().load(0x1000, 0, &[0u8; 0x9ec00], 0x9ec00);
    let f = core.file("hole");
    let out = inspect(f.path(), 0x9f000);
    assert_refused(&out, &["0x9f000", "page runs past the end of the image"]);
}

#[test]
fn overlapping_segments_are_refused() {
    let core = Core::new()
        .load(0x10_0000, 0, &[0u8; 2 * PS as usize], 2 * PS)
        // Same p_vaddr: not an alias, a lie.
        .load(0x10_1000, 0, &[1u8; 2 * PS as usize], 2 * PS);
    let f = core.file("overlap");
    let out = inspect(f.path(), 0x10_0000);
    assert_refused(
        &out,
        &[
            "segment 1 (phys 0x101000, memory size 0x2000",
            "overlaps segment 0 (phys 0x100000, memory size 0x2000",
        ],
    );
}

#[test]
fn an_old_kcore_with_every_paddr_zero_is_refused() {
    let core = Core::new()
        .load(0, 0xffff_8880_0000_0000, &[0u8; 4 * PS as usize], 4 * PS)
        .load(0, 0xffff_ffff_8100_0000, &[0u8; PS as usize], PS);
    let f = core.file("old-kcore");
    let out = inspect(f.path(), 0);
    assert_refused(
        &out,
        &["segment 1 (phys 0x0", "overlaps segment 0 (phys 0x0"],
    );
}

#[test]
fn segments_sharing_file_bytes_are_refused() {
    let core = Core::new()
        .load(0x10_0000, 0, &[0u8; PS as usize], PS)
        .ph(Ph {
            kind: PT_LOAD,
            offset: DATA + 0x800,
            vaddr: 0,
            paddr: 0x90_0000,
            filesz: 0x800,
            memsz: 0x800,
        });
    let f = core.file("share");
    let out = inspect(f.path(), 0x10_0000);
    assert_refused(
        &out,
        &[
            "segment 1 (phys 0x900000",
            "shares file bytes with segment 0",
        ],
    );
}

#[test]
fn a_segment_past_the_end_of_the_file_is_refused() {
    let core = Core::new()
        .load(0x10_0000, 0, &[0u8; PS as usize], PS)
        .ph(Ph {
            kind: PT_LOAD,
            offset: DATA + PS,
            vaddr: 0,
            paddr: 0x20_0000,
            filesz: PS,
            memsz: PS,
        });
    let f = core.file("past-end");
    let len = core.bytes().len();
    let out = inspect(f.path(), 0x10_0000);
    assert_refused(
        &out,
        &[
            "segment 1 (program header 2: p_paddr 0x200000, p_memsz 0x1000, p_offset 0x2000",
            &format!("its file bytes run past the end of the {len}-byte file"),
        ],
    );
    // An offset that overflows is the same lie.
    let core = Core::new().ph(Ph {
        kind: PT_LOAD,
        offset: u64::MAX - 10,
        vaddr: 0,
        paddr: 0,
        filesz: 100,
        memsz: 100,
    });
    let f = core.file("past-end-wrap");
    assert_refused(
        &inspect(f.path(), 0),
        &["segment 0 (program header 1", "past the end"],
    );
}

#[test]
fn filesz_larger_than_memsz_is_refused() {
    let core = Core::new().ph(Ph {
        kind: PT_LOAD,
        offset: DATA,
        vaddr: 0,
        paddr: 0x10_0000,
        filesz: 0x10,
        memsz: 0x8,
    });
    let f = core.file("filesz");
    assert_refused(
        &inspect(f.path(), 0x10_0000),
        &[
            "segment 0 (program header 1: p_paddr 0x100000, p_memsz 0x8",
            "p_filesz is larger than p_memsz",
        ],
    );
}

#[test]
fn a_segment_past_the_address_space_is_refused() {
    let core = Core::new().ph(Ph {
        kind: PT_LOAD,
        offset: DATA,
        vaddr: 0,
        paddr: u64::MAX - PS + 1,
        filesz: 0,
        memsz: 2 * PS,
    });
    let f = core.file("wrap");
    assert_refused(
        &inspect(f.path(), 0),
        &[
            "segment 0 (phys 0xfffffffffffff000",
            "past the end of the 64-bit physical address space",
        ],
    );
}

#[test]
fn not_64_bit_little_endian_core_files_are_refused() {
    let mut c = Core::new();
    c.class = 1;
    let f = c.file("elf32");
    assert_refused(&inspect(f.path(), 0), &["ELF class 1 is not 64-bit"]);
    let mut c = Core::new();
    c.data = 2;
    let f = c.file("msb");
    assert_refused(
        &inspect(f.path(), 0),
        &["ELF data encoding 2 is not little-endian"],
    );
    let mut c = Core::new().load(0, 0, &[0u8; PS as usize], PS);
    c.e_type = ET_EXEC;
    let f = c.file("exec");
    assert_refused(
        &inspect(f.path(), 0),
        &["e_type 2 is not ET_CORE (4): not a core file"],
    );
}

#[test]
fn a_cut_short_header_is_refused() {
    let f = TempFile::with("short", b"\x7fELF\x02\x01\x01");
    assert_refused(
        &inspect(f.path(), 0),
        &["ELF identification is cut short: the file is 7 bytes"],
    );
    let mut bytes = Core::new().bytes();
    bytes.truncate(40);
    let f = TempFile::with("short64", &bytes);
    assert_refused(
        &inspect(f.path(), 0),
        &["64-byte ELF header cannot be read", "40 bytes"],
    );
}

#[test]
fn huge_program_header_counts_are_refused() {
    // PN_XNUM: the real count is section 0's sh_info.
    let mut c = Core::new();
    c.phnum = Some(0xffff);
    c.section0_info = Some(70_000);
    let f = c.file("xnum");
    assert_refused(
        &inspect(f.path(), 0),
        &["70000 program headers, more than the 65536 read"],
    );
    // A count within bounds whose table the file does not hold.
    let mut c = Core::new();
    c.phnum = Some(60_000);
    let f = c.file("table");
    assert_refused(
        &inspect(f.path(), 0),
        &["program header table (60000 entries at offset 0x40) runs past the end of the"],
    );
    let mut c = Core::new();
    c.phentsize = 32;
    let f = c.file("entsize");
    assert_refused(
        &inspect(f.path(), 0),
        &["e_phentsize 32 is not the 56 bytes"],
    );
}

#[test]
fn a_core_without_memory_is_refused() {
    let f = Core::new().file("no-load");
    assert_refused(
        &inspect(f.path(), 0),
        &["no PT_LOAD program header among its 1"],
    );
}

#[test]
fn a_core_and_a_raw_dump_are_not_taken_for_each_other() {
    let (core, head, _) = vmcore();
    let f = core.file("mixup");
    let out = kho_abi(&[
        "inspect",
        "--image",
        f.path(),
        "--base",
        "0",
        "--head",
        &format!("{head:#x}"),
        "--entry-size",
        "32",
    ]);
    assert_refused(
        &out,
        &[
            "is an ELF core file, not a raw dump",
            "leave out --base 0x0",
        ],
    );
    let raw = TempFile::with("mixup-raw", &[0u8; PS as usize]);
    assert_refused(
        &inspect(raw.path(), 0),
        &["is not an ELF core file (no \\x7fELF magic): a raw dump needs --base"],
    );
    // Alone, a core is not a kho image: say what it needs.
    let out = kho_abi(&["inspect", "--image", f.path()]);
    assert_refused(
        &out,
        &["is an ELF core file, not a kho image: give --head and --entry-size"],
    );
}
