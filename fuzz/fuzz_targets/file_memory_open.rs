//! Reopen a FileMemory image made of arbitrary bytes: an error or a usable
//! image whose every recorded set restores or is rejected, never a panic.
#![no_main]

use kho_runtime::{FileMemory, PhysAddr, RawBlockSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("kho-fuzz-{}.img", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(mem) = FileMemory::open_read_only(&path) {
        for r in mem.root() {
            let (head, size) = (r.head, r.entry_size);
            if let Ok(set) =
                RawBlockSet::restore_with_limit(&mem, PhysAddr(head), size as usize, 64)
            {
                assert_eq!(set.iter(&mem).expect("a restored set iterates").count(), set.len());
            }
        }
    }
});
