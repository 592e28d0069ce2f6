//! The Rust that `kho-abi generate` writes for the kernel's constructs
//! compiles, and means what the schema says: a probe crate includes the
//! generated module of a schema holding every construct (bit fields, a
//! union, a KHOSER pointer, a flexible array, natural and raised
//! alignment, page-dependent lengths, a Rust keyword as a field name,
//! several compatible macros, an external constant) and of the
//! repository's schemas, builds it with cargo (offline, against this
//! workspace's kho) and runs it: the generated layout assertions run at
//! compile time, the probe's own at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{copy_all_schemas, kho_abi};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const SCHEMA: &str = r#"
[abi]
name = "constructs"
version = 1
doc = "Every construct of the kernel's ABIs."

[abi.c]
header = "linux/kho/abi/constructs.h"
compatible_macro = "CONSTRUCTS_COMPATIBLE"

[[abi.compatible]]
macro = "CONSTRUCTS_FOLIO_COMPATIBLE"
name = "constructs-folio"
version = 3
structs = ["folio"]

[constants]
CHUNK_SIZE = { expr = "(PAGE_SIZE - sizeof(struct chunk_hdr)) / sizeof(u64)", doc = "Addresses per chunk." }
FOLIO_DIRTY = { expr = "BIT(0)" }
__NEW_UTS_LEN = { external = "linux/utsname.h", value = 64 }

[[struct]]
name = "chunk_hdr"
packed = false
fields = [{ name = "next", type = "khoser_ptr<chunk>" }]

[[struct]]
name = "chunk"
packed = false
fields = [
    { name = "hdr", type = "chunk_hdr" },
    { name = "phys", type = "u64[CHUNK_SIZE]" },
]

[[struct]]
name = "vmalloc"
packed = false
fields = [
    { name = "first", type = "khoser_ptr<chunk>" },
    { name = "total_pages", type = "unsigned int" },
    { name = "flags", type = "unsigned short" },
    { name = "order", type = "unsigned short" },
]

[[struct]]
name = "folio"
entry = true
fields = [
    { name = "pfn", type = "u64", bits = 52, doc = "Page frame number." },
    { name = "flags", type = "u64", bits = 12 },
    { name = "index", type = "u64" },
]

[[struct]]
name = "addr"
union = true
packed = false
fields = [
    { name = "phys", type = "u64" },
    { name = "raw", type = "phys_addr_t" },
]

[[struct]]
name = "holder"
fields = [
    { name = "at", type = "addr" },
    { name = "more", type = "addr[2]" },
]

[[struct]]
name = "devices"
fields = [
    { name = "max_nr_devices", type = "u32" },
    { name = "nr_devices", type = "u32" },
    { name = "devices", type = "u32[]", count = "nr_devices" },
]

[[struct]]
name = "aligned"
packed = false
align = 16
fields = [
    { name = "type", type = "u8" },
    { name = "release", type = "char[__NEW_UTS_LEN + 1]" },
]
"#;

const MAIN: &str = r#"
#[path = "../gen/rust/constructs.rs"]
#[allow(dead_code)]
mod constructs;

use constructs::*;

fn main() {
    assert_eq!(COMPATIBLE, "constructs-v1");
    assert_eq!(CONSTRUCTS_FOLIO_COMPATIBLE, "constructs-folio-v3");
    assert_eq!(FOLIO_DIRTY, 1);
    assert_eq!(__NEW_UTS_LEN, 64);
    assert_eq!(page_4k::CHUNK_SIZE, 511);
    assert_eq!(page_64k::CHUNK_SIZE, 8191);
    assert_eq!(core::mem::size_of::<page_4k::Chunk>(), 4096);
    assert_eq!(core::mem::size_of::<page_16k::Chunk>(), 16384);
    assert_eq!(core::mem::align_of::<page_4k::Vmalloc>(), 8);
    assert_eq!(core::mem::size_of::<page_4k::Vmalloc>(), 16);
    assert_eq!(core::mem::size_of::<Folio>(), 16);
    assert_eq!(core::mem::size_of::<Addr>(), 8);
    assert_eq!(core::mem::size_of::<Devices>(), 8);
    assert_eq!(core::mem::align_of::<Aligned>(), 16);
    assert_eq!(core::mem::size_of::<Aligned>(), 80);

    // Bit fields: typed getters, checked setters.
    let mut f = Folio { pfn_flags: 0, index: 7 };
    f.set_pfn((1 << 52) - 1).unwrap();
    f.set_flags(0xabc).unwrap();
    assert!(f.set_flags(0x1000).is_err(), "a 13-bit value in 12 bits");
    assert_eq!(f.pfn(), (1 << 52) - 1);
    assert_eq!(f.flags(), 0xabc);
    assert_eq!({ f.pfn_flags }, (0xabc << 52) | ((1 << 52) - 1));

    // A flexible array: bounded by its count and by the bytes.
    let d = Devices { max_nr_devices: 4, nr_devices: 2, devices: [] };
    let mut bytes = vec![0u8; 8];
    bytes.extend_from_slice(&5u32.to_ne_bytes());
    bytes.extend_from_slice(&6u32.to_ne_bytes());
    let got: Vec<u32> = d.devices(&bytes).unwrap().iter().collect();
    assert_eq!(got, [5, 6]);
    assert!(d.devices(&bytes[..12]).is_err(), "the second element is cut off");

    // A keyword as a field name, and a union.
    let a = Aligned { r#type: 1, release: ::kho::CharArray::new("6.18").unwrap() };
    assert_eq!(a.r#type, 1);
    let h = Holder { at: Addr { phys: 0x1000 }, more: [Addr { raw: ::kho::PhysAddr(0x2000) }; 2] };
    assert_eq!(core::mem::size_of::<Holder>(), 24);
    let _ = h;
    println!("ok");
}
"#;

#[test]
fn generated_rust_compiles_and_means_what_the_schema_says() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated-rust-probe");
    for sub in ["src", "schemas", "gen"] {
        let _ = std::fs::remove_dir_all(dir.join(sub));
    }
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"generated-rust-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[dependencies]\nkho = {{ path = {:?} }}\n",
            root.display().to_string()
        ),
    );
    // The workspace's lock pins the same versions, so the build is offline.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    write(&dir.join("schemas/constructs.toml"), SCHEMA);
    // The repository's schemas too: each generated module must compile.
    copy_all_schemas(&dir.join("schemas"));
    let (schemas, gen) = (dir.join("schemas"), dir.join("gen"));
    let out = kho_abi(&[
        "generate",
        "--schemas",
        schemas.to_str().unwrap(),
        "--out",
        gen.to_str().unwrap(),
        "--only",
        "rust",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut main = String::new();
    for e in std::fs::read_dir(gen.join("rust")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let module = name.strip_suffix(".rs").unwrap();
        if module != "constructs" {
            main.push_str(&format!(
                "#[path = \"../gen/rust/{name}\"]\n#[allow(dead_code)]\nmod {module};\n"
            ));
        }
    }
    main.push_str(MAIN);
    write(&dir.join("src/main.rs"), &main);

    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO"))
        .args(["run", "--offline", "--quiet"])
        // Generated code must build without a warning in a user's crate.
        .env("RUSTFLAGS", "-D warnings")
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("run cargo");
    eprintln!("probe build and run: {:?}", started.elapsed());
    assert!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
