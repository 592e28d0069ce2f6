//! Golden files: every emitter's output for the shipped schemas is exactly
//! the file checked in under schemas/generated/. After an intended change,
//! re-bless with `KHO_BLESS=1 cargo test -p kho-schema --test golden` (or
//! `kho-abi generate`) and review the diff.

mod common;
use common::{repo_root, shipped};

#[test]
fn generated_files_match_the_emitters() {
    let root = repo_root();
    let abis = shipped();
    let files = kho_schema::emit::all(&abis);
    // Three emitters, one file each per schema.
    assert_eq!(
        files.len(),
        3 * abis.len(),
        "{:?}",
        files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );
    let bless = std::env::var_os("KHO_BLESS").is_some();
    let mut stale = Vec::new();
    for f in &files {
        let path = root.join("schemas/generated").join(&f.path);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &f.text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(f.text.as_str()) {
            stale.push(f.path.clone());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date (re-bless with KHO_BLESS=1): {stale:?}"
    );
}

#[test]
fn output_is_deterministic() {
    let a = kho_schema::emit::all(&shipped());
    let b = kho_schema::emit::all(&shipped());
    assert_eq!(a, b);
}

#[test]
fn lock_matches_the_schemas() {
    let root = repo_root();
    let abis = shipped();
    let on_disk = std::fs::read_to_string(root.join("schemas/abi.lock")).unwrap();
    assert_eq!(on_disk, kho_schema::lock::render(&abis));
    let parsed = kho_schema::lock::parse(&on_disk).unwrap();
    assert_eq!(parsed["luo"].compatible, "luo-v4-kho-block-v1");
    // The layout text round-trips into a view with every struct and field.
    let view = parsed["luo"].view("luo").unwrap();
    assert_eq!(view.structs.len(), 9);
    assert_eq!(
        view.find("luo_file_ser").map(|s| s.layout.fields[1].offset),
        Some(48)
    );
}
