use std::path::{Path, PathBuf};
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
#[test]
fn dump() {
    let k = root().join("kho-schema/tests/fixtures/kernel");
    let opts = kho_import::Options {
        include_dirs: vec![
            k.clone(),
            root().join("kho-schema/tests/fixtures/kernel-stubs/include"),
        ],
        ..Default::default()
    };
    for h in [
        "memfd.h",
        "pci.h",
        "kexec_handover.h",
        "kexec_metadata.h",
        "block.h",
    ] {
        match kho_import::import(&[k.join("linux/kho/abi").join(h)], &opts) {
            Ok(v) => {
                for i in v {
                    println!("==== {}\n{}", i.schema_file, i.toml)
                }
            }
            Err(e) => println!("==== {h}: ERR {e}"),
        }
    }
}
