//! memfd handovers laid out by hand, as the kernel writes them.

use kho_runtime::Vmalloc;

/// Writes a memfd_luo_ser at `o` of `page`: memfd-v2 (pos, size, seals,
/// flags, nr_folios, folios) or, with `v1`, memfd-v1 (no seals or flags).
pub fn put_ser(page: &mut [u8], o: usize, v1: bool, nr_folios: u64, area: &Vmalloc) {
    page[o..o + 8].copy_from_slice(&123u64.to_ne_bytes()); // pos
    page[o + 8..o + 16].copy_from_slice(&(3 * 4096u64).to_ne_bytes()); // size
    let o = if v1 {
        o + 16
    } else {
        page[o + 16..o + 20].copy_from_slice(&SEALS.to_ne_bytes());
        page[o + 20..o + 24].copy_from_slice(&0u32.to_ne_bytes()); // flags
        o + 24
    };
    page[o..o + 8].copy_from_slice(&nr_folios.to_ne_bytes());
    page[o + 8..o + 24].copy_from_slice(&area.ser().to_bytes());
}

/// F_SEAL_SEAL | F_SEAL_GROW | F_SEAL_EXEC, and a bit no seal has.
pub const SEALS: u32 = 0x1 | 0x4 | 0x20 | 0x100;
