//! Compile arbitrary text as a schema, and emit what compiles (every file
//! of `emit::all`, and the build script's one-file Rust bundle): errors
//! with a place, or files, never a panic.
//!
//! NUL bytes split the input into up to 8 schema files (`s0.toml`, ...),
//! compiled together, so that `depends`, composed compatible strings and
//! structs of other ABIs are reachable; without a NUL the input is one file.
//!
//! The layout stage leaks its `&'static` layout model on purpose
//! (kho-schema/src/layout.rs); run this target with `-detect_leaks=0`.
#![no_main]

use kho_schema::{compile, emit, Source};
use libfuzzer_sys::fuzz_target;

const MAX_FILES: usize = 8;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let sources: Vec<Source> = text
        .splitn(MAX_FILES, '\0')
        .enumerate()
        .map(|(i, part)| Source::new(format!("s{i}.toml"), part))
        .collect();
    match compile(&sources) {
        Ok(abis) => {
            assert_eq!(abis.len(), sources.len());
            let files = emit::all(&abis);
            assert_eq!(files.len(), 3 * abis.len());
            let _ = emit::rust::bundle(&abis);
        }
        Err(e) => assert!(!e.diagnostics().is_empty()),
    }
});
