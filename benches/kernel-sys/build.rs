//! Builds the kernel patch's kho_block.c (kept in kho-schema's fixtures)
//! behind the user-space shims in `shim/`, with the flags a kernel build
//! uses for speed (-O2), into a static library for the benchmark, with
//! `shim/ceiling.c`, the fastest write of the same layout we know.

use std::path::PathBuf;

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let seed = here.join("../../kho-schema/tests/fixtures/seed");
    let source = seed.join("kernel/liveupdate/kho_block.c");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=shim");
    cc::Build::new()
        .file(&source)
        .file(here.join("shim/kbench.c"))
        .file(here.join("shim/ceiling.c"))
        // The shims first: they stand in for the kernel's own headers.
        .include(here.join("shim"))
        .include(seed.join("include"))
        .opt_level(2)
        .flag_if_supported("-std=gnu11")
        .flag_if_supported("-fno-strict-aliasing")
        .warnings(false)
        .compile("kho_block_kernel");
}
