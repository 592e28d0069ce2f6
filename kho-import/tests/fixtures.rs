//! Import of the kernel headers transcribed as kho-schema's fixtures: the
//! schemas keep the kernel's constructs as written, and the headers they
//! generate are laid out by gcc exactly as the fixtures are.
//!
//! The gcc probe follows kho-schema/tests/kernel_layouts.rs: for every
//! struct of the imported schemas, `sizeof`, `_Alignof`, each field's
//! offset and size, each bit field's bits (set to all ones, bytes
//! printed), each flexible array's offset and element size, and every
//! constant and compatible macro the fixture defines; compiled once
//! against the fixture and once against the generated header, at every
//! page size. Needs `gcc` on PATH (fails saying so without it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use kho_layout::{Kind, Ty};
use kho_schema::{Abi, ConstValue};

mod common;
use common::{kernel, opts, own_kernel, schema, scratch, stubs};

const FIXTURES: &[&str] = &[
    "block.h",
    "kexec_handover.h",
    "kexec_metadata.h",
    "memfd.h",
    "pci.h",
];

fn import_fixtures() -> Vec<kho_import::Imported> {
    let headers: Vec<PathBuf> = FIXTURES
        .iter()
        .map(|h| kernel().join("linux/kho/abi").join(h))
        .collect();
    kho_import::import(&headers, &opts(&[kernel()])).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn imported_fixtures_keep_the_kernel_constructs_as_written() {
    let imported = import_fixtures();
    assert_eq!(imported.len(), FIXTURES.len());
    let memfd = schema(&imported, "memfd.toml");
    assert!(
        memfd.contains(r#"{ name = "pfn", type = "u64", bits = 52 }"#),
        "{memfd}"
    );
    assert!(
        memfd.contains(r#"{ name = "flags", type = "u64", bits = 12 }"#),
        "{memfd}"
    );
    assert!(
        memfd.contains(r#"{ name = "folios", type = "kho_vmalloc" }"#),
        "{memfd}"
    );
    assert!(
        memfd.contains("depends = [\"kho\"]\ncompose = \"none\""),
        "{memfd}"
    );
    assert!(
        memfd.contains(r#"MEMFD_LUO_FOLIO_DIRTY = { expr = "BIT(0)" }"#),
        "{memfd}"
    );
    assert!(
        memfd.contains(r#"compatible_macro = "MEMFD_LUO_FH_COMPATIBLE""#),
        "{memfd}"
    );
    // memfd-v2's seals: uapi constants from the header that brings them
    // in, first and in the order it defines them, then the macro as written.
    let seals = ["SEAL", "SHRINK", "GROW", "WRITE", "FUTURE_WRITE", "EXEC"];
    let externals: String = seals
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "F_SEAL_{n} = {{ external = \"linux/fcntl.h\", value = {} }}\n",
                1 << i
            )
        })
        .collect();
    assert!(
        memfd.contains(&format!("[constants]\n{externals}MEMFD_LUO_FOLIO_DIRTY")),
        "{memfd}"
    );
    assert!(
        memfd.contains(
            r#"MEMFD_LUO_ALL_SEALS = { expr = "F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC" }"#
        ),
        "{memfd}"
    );
    assert!(
        memfd.contains(
            "{ name = \"size\", type = \"u64\" }, # line 42\n    \
             { name = \"seals\", type = \"u32\" }, # line 43\n    \
             { name = \"flags\", type = \"u32\" }, # line 44\n"
        ),
        "{memfd}"
    );

    let kho = schema(&imported, "kexec_handover.toml");
    assert!(
        kho.contains(r#"{ name = "next", type = "khoser_ptr<kho_vmalloc_chunk>" }"#),
        "{kho}"
    );
    assert!(
        kho.contains(r#"KHO_VMALLOC_SIZE = { expr = "(PAGE_SIZE - sizeof(struct kho_vmalloc_hdr)) / sizeof(u64)" }"#),
        "{kho}"
    );
    assert!(
        kho.contains(r#"{ name = "phys", type = "u64[KHO_VMALLOC_SIZE]" }"#),
        "{kho}"
    );
    assert!(
        kho.contains("[[assert]]\nexpr = \"sizeof(struct kho_vmalloc_chunk) == PAGE_SIZE\""),
        "{kho}"
    );
    assert!(kho.contains("packed = false"), "{kho}");
    // The radix tree revision (kho-v3): enum members and DECLARE_BITMAP.
    for want in [
        r#"KHO_TABLE_SIZE_LOG2 = { enum = "kho_radix_consts", expr = "const_ilog2(PAGE_SIZE / sizeof(phys_addr_t))" }"#,
        r#"KHO_TREE_MAX_DEPTH = { enum = "kho_radix_consts", expr = "DIV_ROUND_UP(KHO_ORDER_0_LOG2 - KHO_BITMAP_SIZE_LOG2 + 1, KHO_TABLE_SIZE_LOG2) + 1" }"#,
        r#"{ name = "table", type = "u64[1 << KHO_TABLE_SIZE_LOG2]" }"#,
        r#"{ name = "bitmap", type = "bitmap<1 << KHO_BITMAP_SIZE_LOG2>" }"#,
        r#"BITS_PER_BYTE = { external = "linux/bits.h", value = 8 }"#,
    ] {
        assert!(kho.contains(want), "missing {want}\n{kho}");
    }
    assert!(
        kho.contains(
            "# not imported (they declare no layout): function-like macro DECLARE_KHOSER_PTR"
        ),
        "{kho}"
    );

    let pci = schema(&imported, "pci.toml");
    assert!(
        pci.contains(r#"{ name = "devices", type = "pci_dev_ser[]" }"#),
        "{pci}"
    );
    assert!(
        pci.contains("offsetof(struct pci_ser, devices) % sizeof(unsigned long) == 0"),
        "{pci}"
    );

    let meta = schema(&imported, "kexec_metadata.toml");
    assert!(
        meta.contains(r#"__NEW_UTS_LEN = { external = "linux/utsname.h", value = 64 }"#),
        "{meta}"
    );
    assert!(
        meta.contains(r#"type = "char[__NEW_UTS_LEN + 1]""#),
        "{meta}"
    );
    assert!(
        meta.contains(r#"version_macro = "KHO_KEXEC_METADATA_VERSION""#),
        "{meta}"
    );

    let block = schema(&imported, "block.toml");
    assert!(
        block.contains(r#"KHO_BLOCK_SIZE = { expr = "PAGE_SIZE" }"#),
        "{block}"
    );

    // Every struct and field keeps its header line.
    let m = imported
        .iter()
        .find(|i| i.schema_file == "memfd.toml")
        .map(|i| &i.lines);
    assert_eq!(m.and_then(|l| l.get("memfd_luo_folio_ser.pfn")), Some(&26));
    assert_eq!(m.and_then(|l| l.get("memfd_luo_ser")), Some(&40));
}

/// A macro the probe prints, and whether it is a string.
fn macros(abi: &Abi, fixture: &str) -> Vec<(String, bool)> {
    let defined = |n: &str| fixture.contains(&format!("#define {n}"));
    abi.compatibles()
        .iter()
        // A version macro (kexec_metadata.h's) is a number.
        .map(|m| (m.macro_name.clone(), !(m.main && abi.c.version_macro)))
        .chain(
            abi.constants
                .iter()
                .map(|k| (k.name.clone(), matches!(k.value, ConstValue::Str(_)))),
        )
        .filter(|(n, _)| defined(n))
        .collect()
}

fn probe_source(header: &str, abi: &Abi, fixture: &str) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "#include <stdio.h>\n#include <string.h>\n#include <{header}>\n"
    );
    c.push_str(
        "static void bits(const char *k, const unsigned char *b, size_t n)\n{\n\tprintf(\"%s bits\", k);\n\
         \tfor (size_t i = 0; i < n; i++)\n\t\tprintf(\" %02x\", b[i]);\n\tprintf(\"\\n\");\n}\n\n",
    );
    c.push_str("int main(void)\n{\n\t(void)bits;\n");
    for (m, string) in macros(abi, fixture) {
        if string {
            let _ = writeln!(c, "\tprintf(\"#{m} %s\\n\", {m});");
        } else {
            let _ = writeln!(c, "\tprintf(\"#{m} %llu\\n\", (unsigned long long)({m}));");
        }
    }
    for s in abi.structs() {
        let kw = if s.kind == Kind::Union {
            "union"
        } else {
            "struct"
        };
        let tag = format!("{kw} {}", s.name);
        let _ = writeln!(
            c,
            "\tprintf(\"{n} size %zu align %zu\\n\", sizeof({tag}), _Alignof({tag}));",
            n = s.name
        );
        for f in s.fields.iter() {
            let key = format!("{}.{}", s.name, f.name);
            if f.bits.is_some() {
                let _ = writeln!(
                    c,
                    "\t{{\n\t\tunion {{ {tag} s; unsigned char b[sizeof({tag})]; }} u;\n\t\tmemset(&u, 0, sizeof(u));\n\
                     \t\tu.s.{f} = -1;\n\t\tbits(\"{key}\", u.b, sizeof(u.b));\n\t}}",
                    f = f.name
                );
            } else if matches!(f.ty, Ty::Flex(_)) {
                let _ = writeln!(
                    c,
                    "\tprintf(\"{key} offset %zu element %zu\\n\", offsetof({tag}, {f}), sizeof((({tag} *)0)->{f}[0]));",
                    f = f.name
                );
            } else {
                let _ = writeln!(
                    c,
                    "\tprintf(\"{key} offset %zu size %zu\\n\", offsetof({tag}, {f}), sizeof((({tag} *)0)->{f}));",
                    f = f.name
                );
            }
        }
    }
    c.push_str("\treturn 0;\n}\n");
    c
}

fn run_probe(dir: &Path, name: &str, src: &str, include: &Path, page_shift: u32) -> String {
    let c = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    std::fs::write(&c, src).unwrap_or_else(|e| panic!("{}: {e}", c.display()));
    let out = Command::new("gcc")
        .arg("-std=gnu11")
        .arg(format!("-DPAGE_SHIFT={page_shift}"))
        .arg(format!("-I{}", include.display()))
        .arg(format!("-I{}", stubs().display()))
        .arg("-o")
        .arg(&exe)
        .arg(&c)
        .output()
        .unwrap_or_else(|e| panic!("gcc is needed for this test and could not be run: {e}"));
    assert!(
        out.status.success(),
        "gcc {}: {}",
        c.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    assert!(run.status.success(), "{} failed", exe.display());
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// Generates the C headers of `imported`'s schemas into a scratch tree and
/// checks that gcc lays each out as its header under `fixtures` (an
/// include directory), at every page size. Returns the lines compared.
fn probe_against(test: &str, imported: &[kho_import::Imported], fixtures: &Path) -> usize {
    let abis = kho_import::compile(imported).unwrap_or_else(|e| panic!("{e}"));
    let dir = scratch(test);
    let gen = dir.join("include");
    for g in kho_schema::emit::all(&abis) {
        if let Some(rel) = g.path.strip_prefix("c/") {
            let p = gen.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
            }
            std::fs::write(&p, g.text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
    let mut lines = 0;
    for imp in imported {
        let abi = abis
            .iter()
            .find(|a| a.c.header == imp.include_path)
            .unwrap_or_else(|| panic!("no ABI for {}", imp.include_path));
        let fixture = std::fs::read_to_string(&imp.header)
            .unwrap_or_else(|e| panic!("{}: {e}", imp.header.display()));
        let src = probe_source(&imp.include_path, abi, &fixture);
        for shift in [12, 14, 16] {
            let stem = imp.schema_file.trim_end_matches(".toml");
            let kernel_out = run_probe(
                &dir,
                &format!("{stem}-kernel-{shift}"),
                &src,
                fixtures,
                shift,
            );
            let kho_out = run_probe(&dir, &format!("{stem}-kho-{shift}"), &src, &gen, shift);
            assert_eq!(
                kernel_out, kho_out,
                "{} at PAGE_SHIFT={shift}",
                imp.include_path
            );
            lines += kernel_out.lines().count();
        }
    }
    lines
}

#[test]
fn gcc_lays_out_each_fixture_as_the_header_its_imported_schema_generates() {
    let lines = probe_against("fixture-probe", &import_fixtures(), &kernel());
    // Every struct, field and macro of the five headers, three times.
    assert!(lines > 3 * 30, "the probe printed only {lines} lines");
    println!("probe: {lines} lines agree");
}

#[test]
fn luo_h_as_the_kernel_writes_it_leaves_luo_file_ser_unassigned() {
    // Its hint names LUO_SESSION_COMPATIBLE, which luo.h does not define;
    // luo_file_set_ser has no hint but is embedded in luo_session_ser only,
    // so it goes with that struct's macro.
    let luo = own_kernel().join("linux/kho/abi/luo.h");
    let e = kho_import::import(&[luo], &opts(&[own_kernel()]))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("luo.h: cannot tell which compatible macro"),
        "{e}"
    );
    assert!(
        e.contains("(LUO_FDT_COMPATIBLE, LUO_FDT_SESSION_COMPATIBLE, LUO_FDT_FLB_COMPATIBLE)"),
        "{e}"
    );
    assert!(e.contains("covers struct luo_file_ser:"), "{e}");
}

#[test]
fn luo_h_with_its_hint_fixed_imports_three_compatible_macros_and_probes_equal() {
    let dir = scratch("luo-fixed");
    let p = dir.join("linux/kho/abi/luo.h");
    std::fs::create_dir_all(p.parent().unwrap_or(&dir)).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(own_kernel().join("linux/kho/abi/luo.h"))
        .unwrap_or_else(|e| panic!("{e}"));
    let fixed = text.replace(
        "LUO_SESSION_COMPATIBLE must",
        "`LUO_FDT_SESSION_COMPATIBLE` must",
    );
    assert_ne!(fixed, text);
    std::fs::write(&p, fixed).unwrap_or_else(|e| panic!("{e}"));
    let imported = kho_import::import(&[p], &opts(std::slice::from_ref(&dir)))
        .unwrap_or_else(|e| panic!("{e}"));
    let t = &imported[0].toml;
    assert!(t.contains("name = \"luo\"\nversion = 1\n"), "{t}");
    assert!(
        t.contains(concat!(
            "macro = \"LUO_FDT_SESSION_COMPATIBLE\"\nname = \"luo-session\"\nversion = 2\n",
            "structs = [\"luo_file_ser\", \"luo_session_header_ser\", \"luo_session_ser\", \"luo_file_set_ser\"]"
        )),
        "{t}"
    );
    assert!(
        t.contains("macro = \"LUO_FDT_FLB_COMPATIBLE\"\nname = \"luo-flb\"\nversion = 1\nstructs = [\"luo_flb_header_ser\", \"luo_flb_ser\"]"),
        "{t}"
    );
    assert!(t.contains(r#"LIVEUPDATE_SESSION_NAME_LENGTH = { external = "uapi/linux/liveupdate.h", value = 64 }"#), "{t}");
    assert!(t.contains(r#"{ name = "name", type = "char[LIVEUPDATE_SESSION_NAME_LENGTH]", doc = "The session's name, as user space gave it." }"#), "{t}");
    assert!(
        t.contains(r#"LUO_FDT_SIZE = { expr = "PAGE_SIZE" }"#),
        "{t}"
    );
    let lines = probe_against("luo-probe", &imported, &dir);
    assert!(lines > 3 * 20, "the probe printed only {lines} lines");
}
