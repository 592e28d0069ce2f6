//! Compile arbitrary text as a schema, and emit what compiles: errors with
//! a place, or files, never a panic.
#![no_main]

use kho_schema::{compile, emit, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match compile(&[Source::new("fuzz.toml", text.as_ref())]) {
        Ok(abis) => {
            let _ = emit::all(&abis);
        }
        Err(diags) => assert!(!diags.list.is_empty()),
    }
});
