//! A crate that generates its types with `kho_schema::Config` in a build
//! script is rebuilt when a schema it only depends on changes: the build
//! script tells cargo about every schema file it read, and the derive reads
//! none (so nothing can go stale behind cargo's back).
//!
//! The probe crate is built for real with cargo, offline, against this
//! workspace's kho and kho-schema.

use std::path::{Path, PathBuf};
use std::process::Command;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Runs the probe and returns what it printed: luo's composed compatible
/// string, which names the dependency's version.
fn run_probe(dir: &Path) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "probe build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_dependency_schema_change_rebuilds_what_depends_on_it() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rebuild-probe");
    let _ = std::fs::remove_dir_all(dir.join("src"));
    let _ = std::fs::remove_dir_all(dir.join("schemas"));
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"rebuild-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[dependencies]\nkho = {{ path = {:?} }}\n\n\
             [build-dependencies]\nkho-schema = {{ path = {:?} }}\n",
            root.display().to_string(),
            root.join("kho-schema").display().to_string()
        ),
    );
    // The workspace's lock pins the same versions, so the build is offline.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    write(
        &dir.join("build.rs"),
        "fn main() {\n    kho_schema::Config::new().schema_dir(\"schemas\").generate().unwrap();\n}\n",
    );
    write(
        &dir.join("src/main.rs"),
        "include!(concat!(env!(\"OUT_DIR\"), \"/kho_abi.rs\"));\n\n\
         fn main() {\n    println!(\"{}\", luo::COMPATIBLE);\n}\n",
    );
    let block = std::fs::read_to_string(root.join("schemas/kho_block.toml")).unwrap();
    let luo = std::fs::read_to_string(root.join("schemas/luo.toml")).unwrap();
    write(&dir.join("schemas/kho_block.toml"), &block);
    write(&dir.join("schemas/luo.toml"), &luo);

    assert_eq!(run_probe(&dir), "luo-v4-kho-block-v1");

    // Only the dependency changes; luo.toml is untouched.
    assert!(block.contains("version = 1\n"));
    write(
        &dir.join("schemas/kho_block.toml"),
        &block.replacen("version = 1\n", "version = 2\n", 1),
    );
    assert_eq!(run_probe(&dir), "luo-v4-kho-block-v2");
}
