//! The kernel's own KHO ABI headers against the ones kho generates, as gcc
//! lays them out. For each header transcribed in `tests/fixtures/kernel/`
//! a probe program prints `sizeof` and `_Alignof` of every struct, the
//! offset and size of every field and the bit range of every bit field;
//! it is compiled once against the fixture and once against the header
//! `kho-abi generate` writes from the schema, at every page size, and the
//! two outputs must agree line for line. The probe also prints every
//! compatible string and constant (a macro kho adds where the kernel has
//! none is listed, and only the expected ones may be). The fields and
//! macros probed come from the compiled schema, and every struct and macro
//! a fixture declares must be in it.
//!
//! These tests need `gcc` on `PATH` and fail, saying so, without it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use kho_layout::{Kind, Struct, Ty};
use kho_schema::{Abi, ConstValue};

mod common;
use common::shipped;

/// The kernel headers transcribed as fixtures, each with the ABI (schema
/// name) that must express it exactly.
const HEADERS: &[(&str, &str)] = &[
    ("linux/kho/abi/block.h", "kho-block"),
    ("linux/kho/abi/kexec_handover.h", "kho"),
    ("linux/kho/abi/memfd.h", "memfd"),
    ("linux/kho/abi/kexec_metadata.h", "kexec-metadata"),
    ("linux/kho/abi/pci.h", "pci"),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The transcribed kernel headers (an include directory).
fn kernel() -> PathBuf {
    fixtures().join("kernel")
}

fn stubs() -> PathBuf {
    fixtures().join("kernel-stubs/include")
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `PAGE_SHIFT` for a page size.
fn shift(page: usize) -> u32 {
    assert!(page.is_power_of_two(), "page size {page}");
    page.trailing_zeros()
}

/// What the probe asks of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// `offsetof` and `sizeof`.
    Plain,
    /// The bits it covers, found by setting it to all ones.
    Bits,
    /// A flexible array member: `offsetof` and the element's `sizeof`.
    Flex,
}

fn probe_of(f: &kho_layout::Field<'_>) -> Probe {
    if f.bits.is_some() {
        Probe::Bits
    } else if matches!(f.ty, Ty::Flex(_)) {
        Probe::Flex
    } else {
        Probe::Plain
    }
}

/// `struct s` or `union s`.
fn c_tag(s: &Struct<'_>) -> String {
    let kw = match s.kind {
        Kind::Union => "union",
        Kind::Struct => "struct",
    };
    format!("{kw} {}", s.name)
}

/// A macro the probe prints: a string (a compatible string, a string
/// constant) or an integer.
struct Macro {
    name: String,
    string: bool,
}

/// The macros of `abi`'s C header with a value: every compatible macro and
/// every constant (a verbatim `c = ".."` one is printed as an integer).
fn macros(abi: &Abi) -> Vec<Macro> {
    let compatibles = abi.compatibles().iter().map(|m| Macro {
        name: m.macro_name.clone(),
        // A version macro (kexec_metadata.h's) is a number.
        string: !(m.main && abi.c.version_macro),
    });
    let constants = abi.constants.iter().map(|k| Macro {
        name: k.name.clone(),
        string: matches!(k.value, ConstValue::Str(_)),
    });
    compatibles.chain(constants).collect()
}

/// The probe program for `header`: one output line per macro, struct and
/// field, `<key> <facts>`, where the key is `#MACRO`, `s` or `s.f`.
fn probe_source(header: &str, macros: &[Macro], structs: &[Struct<'_>]) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "#include <{header}>");
    c.push_str(
        "#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n\n\
         /* Prints the bits set in b[0..n]: the first (LSB of byte 0 is bit 0),\n\
          * the count, and the span from first to last (equal when contiguous). */\n\
         static __attribute__((unused)) void\nbits(const char *key, const unsigned char *b, size_t n)\n{\n\
         \tsize_t i, first = 0, last = 0, count = 0;\n\n\
         \tfor (i = 0; i < n * 8; i++) {\n\
         \t\tif (!((b[i / 8] >> (i % 8)) & 1))\n\t\t\tcontinue;\n\
         \t\tif (count++ == 0)\n\t\t\tfirst = i;\n\t\tlast = i;\n\t}\n\
         \tprintf(\"%s bits first %zu width %zu span %zu\\n\", key, first, count,\n\
         \t       count ? last - first + 1 : 0);\n}\n\n\
         int main(void)\n{\n\
         \t/* Not a constant: all ones without a conversion warning. */\n\
         \tvolatile long long ones = -1;\n\n\
         \t(void)ones;\n",
    );
    for m in macros {
        let n = &m.name;
        let print = if m.string {
            format!("printf(\"#{n} string \\\"%s\\\"\\n\", {n});")
        } else {
            format!("printf(\"#{n} integer %llu\\n\", (unsigned long long)({n}));")
        };
        let _ = writeln!(
            c,
            "#ifdef {n}\n\t{print}\n#else\n\tprintf(\"#{n} undefined\\n\");\n#endif"
        );
    }
    for s in structs {
        let tag = c_tag(s);
        let _ = writeln!(
            c,
            "\tprintf(\"{n} size %zu align %zu\\n\", sizeof({tag}), _Alignof({tag}));",
            n = s.name
        );
        for f in s.fields.iter() {
            let key = format!("{}.{}", s.name, f.name);
            match probe_of(f) {
                Probe::Plain => {
                    let _ = writeln!(
                        c,
                        "\tprintf(\"{key} offset %zu size %zu\\n\", offsetof({tag}, {f}), \
                         sizeof((({tag} *)0)->{f}));",
                        f = f.name
                    );
                    // DECLARE_KHOSER_PTR's union: the address that crosses
                    // the kexec, and the pointer beside it.
                    if matches!(f.ty, Ty::Ptr(_)) {
                        for m in ["phys", "ptr"] {
                            let _ = writeln!(
                                c,
                                "\tprintf(\"{key}.{m} offset %zu size %zu\\n\", \
                                 offsetof({tag}, {f}.{m}), sizeof((({tag} *)0)->{f}.{m}));",
                                f = f.name
                            );
                        }
                    }
                }
                Probe::Flex => {
                    let _ = writeln!(
                        c,
                        "\tprintf(\"{key} offset %zu element %zu\\n\", offsetof({tag}, {f}), \
                         sizeof((({tag} *)0)->{f}[0]));",
                        f = f.name
                    );
                }
                Probe::Bits => {
                    let _ = writeln!(
                        c,
                        "\t{{\n\t\tunion {{\n\t\t\t{tag} s;\n\t\t\tunsigned char b[sizeof({tag})];\n\
                         \t\t}} u;\n\n\t\tmemset(&u, 0, sizeof(u));\n\t\tu.s.{f} = ones;\n\
                         \t\tbits(\"{key}\", u.b, sizeof(u.b));\n\t}}",
                        f = f.name
                    );
                }
            }
        }
    }
    c.push_str("\treturn 0;\n}\n");
    c
}

/// Runs gcc; a missing gcc fails the test with what to do about it.
fn gcc(args: &[String], dir: &Path) -> std::process::Output {
    match Command::new("gcc").args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "gcc is not on PATH: tests/kernel_layouts.rs compares the kernel's headers with the \
             generated ones under gcc (Debian/Ubuntu: apt-get install gcc)"
        ),
        Err(e) => panic!("cannot run gcc: {e}"),
    }
}

/// The probe's facts, by key (`s` or `s.f`).
type Facts = BTreeMap<String, String>;

/// Compiles the probe against `include` (then the stubs) at `page` and runs
/// it. `Err` is gcc's diagnostics.
fn probe(
    dir: &Path,
    tag: &str,
    include: &Path,
    header: &str,
    macros: &[Macro],
    structs: &[Struct<'_>],
    page: usize,
) -> Result<Facts, String> {
    let stem = format!("{tag}_{}", shift(page));
    let src = dir.join(format!("{stem}.c"));
    write(&src, &probe_source(header, macros, structs));
    let exe = dir.join(&stem);
    let args = vec![
        "-std=gnu11".to_string(),
        "-Wall".to_string(),
        "-Werror".to_string(),
        format!("-DPAGE_SHIFT={}", shift(page)),
        format!("-I{}", include.display()),
        format!("-I{}", stubs().display()),
        src.display().to_string(),
        "-o".to_string(),
        exe.display().to_string(),
    ];
    let out = gcc(&args, dir);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let run = Command::new(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    assert!(run.status.success(), "{} failed", exe.display());
    let mut facts = Facts::new();
    for line in String::from_utf8_lossy(&run.stdout).lines() {
        let (key, value) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("probe line {line:?}"));
        facts.insert(key.to_string(), value.to_string());
    }
    Ok(facts)
}

/// Every difference between the kernel's facts and the generated header's,
/// one a line, naming the header, page size, struct and field.
fn differences(header: &str, page: usize, kernel: &Facts, generated: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = kernel.keys().chain(generated.keys()).collect();
    for key in keys {
        let what = match (key.strip_prefix('#'), key.split_once('.')) {
            (Some(m), _) => format!("macro {m}"),
            (None, Some((s, f))) => format!("struct {s}, field {f}"),
            (None, None) => format!("struct {key}"),
        };
        let k = kernel.get(key).map_or("(missing)", String::as_str);
        let g = generated.get(key).map_or("(missing)", String::as_str);
        if k != g {
            out.push(format!(
                "{header} (PAGE_SIZE {page}): {what}: the kernel's header gives `{k}`, the \
                 generated one `{g}`"
            ));
        }
    }
    out
}

/// Writes every generated C header under `root/include/` and returns it.
fn generated_headers(root: &Path, abis: &[Abi]) -> PathBuf {
    let include = root.join("include");
    for g in kho_schema::emit::all(abis) {
        if let Some(rel) = g.path.strip_prefix("c/") {
            write(&include.join(rel), &g.text);
        }
    }
    include
}

fn abi<'a>(abis: &'a [Abi], name: &str) -> &'a Abi {
    abis.iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no shipped schema names its ABI {name:?} (schemas/*.toml)"))
}

/// What comparing the kernel's headers with the generated ones found.
#[derive(Default)]
struct Comparison {
    /// Every difference, one a line.
    diffs: Vec<String>,
    /// Macros the generated header defines and the kernel's does not
    /// (`header: MACRO`).
    kho_only: BTreeSet<String>,
}

/// Compares `kernel_include`'s copy of every header in `headers` with the
/// generated one at every page size: every struct and field, and every
/// macro the kernel's header defines.
fn compare(
    dir: &Path,
    abis: &[Abi],
    kernel_include: &Path,
    generated: &Path,
    headers: &[(&str, &str)],
) -> Comparison {
    let mut out = Comparison::default();
    for &(header, name) in headers {
        let a = abi(abis, name);
        assert_eq!(a.c.header, header, "{name}: its schema's [abi.c] header");
        let tag = name.replace('-', "_");
        let macros = macros(a);
        for &page in a.pages() {
            let structs = a.structs_at(page);
            let run = |side: &str, include: &Path| {
                probe(
                    dir,
                    &format!("{side}_{tag}"),
                    include,
                    header,
                    &macros,
                    structs,
                    page,
                )
                .unwrap_or_else(|e| {
                    panic!("the probe does not compile against the {side} {header}:\n{e}")
                })
            };
            let mut k = run("kernel", kernel_include);
            let mut g = run("generated", generated);
            for m in &macros {
                let key = format!("#{}", m.name);
                let kernel_lacks = k.get(&key).is_some_and(|v| v == "undefined");
                let kho_has = g.get(&key).is_some_and(|v| v != "undefined");
                if kernel_lacks && kho_has {
                    // A macro the kernel's header does not have: kho adds it.
                    k.remove(&key);
                    g.remove(&key);
                    out.kho_only.insert(format!("{header}: {}", m.name));
                }
            }
            out.diffs.extend(differences(header, page, &k, &g));
        }
    }
    out
}

#[test]
fn gcc_lays_out_each_kernel_header_as_its_generated_header() {
    let abis = shipped();
    let dir = common::scratch("kernel_layouts", "compare");
    let generated = generated_headers(&dir, &abis);
    let found = compare(&dir, &abis, &kernel(), &generated, HEADERS);
    assert!(
        found.diffs.is_empty(),
        "gcc lays out the generated headers differently from the kernel's, or a macro \
         differs:\n{}",
        found.diffs.join("\n")
    );
    // Mainline's block.h has no compatible macro of its own (the patch's
    // KHO_BLOCK_ABI_COMPATIBLE is kho's, see tests/c_headers.rs): kho's
    // header adds it so that `kho-abi check` can hold it. kexec_metadata.h
    // is versioned by its own KHO_KEXEC_METADATA_VERSION (the schema's
    // version_macro), so it gains nothing. Nothing else.
    assert_eq!(
        found.kho_only.into_iter().collect::<Vec<_>>(),
        ["linux/kho/abi/block.h: KHO_BLOCK_ABI_COMPATIBLE"],
        "macros the generated headers add to the kernel's"
    );
}

/// What the layout model says gcc's probe must print.
fn model_facts(structs: &[Struct<'_>], set: &[Struct<'_>]) -> Facts {
    let mut facts = Facts::new();
    for s in structs {
        facts.insert(
            s.name.to_string(),
            format!("size {} align {}", s.size, s.align),
        );
        for f in s.fields.iter() {
            let value = match probe_of(f) {
                Probe::Plain => {
                    if matches!(f.ty, Ty::Ptr(_)) {
                        for m in ["phys", "ptr"] {
                            facts.insert(
                                format!("{}.{}.{m}", s.name, f.name),
                                format!("offset {} size 8", f.offset),
                            );
                        }
                    }
                    format!("offset {} size {}", f.offset, f.size)
                }
                Probe::Flex => {
                    let elem = match &f.ty {
                        Ty::Flex(e) => e.get().size(set).unwrap_or(usize::MAX),
                        _ => usize::MAX,
                    };
                    format!("offset {} element {elem}", f.offset)
                }
                Probe::Bits => {
                    let b = f.bits.unwrap_or_else(|| panic!("{}.{}", s.name, f.name));
                    let first = f.offset * 8 + usize::from(b.first);
                    let w = b.width;
                    format!("bits first {first} width {w} span {w}")
                }
            };
            facts.insert(format!("{}.{}", s.name, f.name), value);
        }
    }
    facts
}

#[test]
fn gcc_lays_out_each_kernel_header_as_the_layout_model_does() {
    let abis = shipped();
    let dir = common::scratch("kernel_layouts", "model");
    let mut diffs = Vec::new();
    for &(header, name) in HEADERS {
        let a = abi(&abis, name);
        let tag = name.replace('-', "_");
        for &page in a.pages() {
            let structs = a.structs_at(page);
            let k = probe(&dir, &tag, &kernel(), header, &[], structs, page)
                .unwrap_or_else(|e| panic!("the probe does not compile against {header}:\n{e}"));
            let m = model_facts(structs, a.set_at(page));
            diffs.extend(
                differences(header, page, &k, &m)
                    .into_iter()
                    .map(|d| d.replace("the generated one", "kho's layout model")),
            );
        }
    }
    assert!(
        diffs.is_empty(),
        "kho's layout model disagrees with gcc on the kernel's headers:\n{}",
        diffs.join("\n")
    );
}

/// The struct and union names a fixture declares (`struct x {` at the
/// start of a line).
fn declared(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("struct ")
                .or_else(|| l.strip_prefix("union "))?;
            let name = rest.strip_suffix(" {")?;
            name.bytes()
                .all(|b| b == b'_' || b.is_ascii_alphanumeric())
                .then(|| name.to_string())
        })
        .collect()
}

/// The object-like macros a fixture defines (`#define NAME value`), its
/// include guard left out.
fn defined(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("#define ")?;
            let end = rest
                .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .unwrap_or(rest.len());
            let (name, after) = rest.split_at(end);
            // A function-like macro (DECLARE_KHOSER_PTR) is not a value;
            // the guard has no value.
            let value = after.trim();
            (!after.starts_with('(') && !value.is_empty()).then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_struct_and_macro_a_kernel_header_declares_is_in_its_schema() {
    let abis = shipped();
    for &(header, name) in HEADERS {
        let text = read(&kernel().join(header));
        let found = declared(&text);
        assert!(!found.is_empty(), "{header}: no struct found");
        let a = abi(&abis, name);
        let ours: Vec<&str> = a.structs().iter().map(|s| &*s.name).collect();
        for s in &found {
            assert!(
                ours.contains(&s.as_str()),
                "{header} declares struct {s}, schema {} ({}) does not: {ours:?}",
                a.name,
                a.file
            );
        }
        assert_eq!(
            ours.len(),
            found.len(),
            "{header}: {found:?} against {ours:?}"
        );
        let names: Vec<String> = macros(a).into_iter().map(|m| m.name).collect();
        let kernel_macros = defined(&text);
        assert!(!kernel_macros.is_empty(), "{header}: no macro found");
        for m in &kernel_macros {
            assert!(
                names.contains(m),
                "{header} defines {m}, schema {} ({}) does not: {names:?}",
                a.name,
                a.file
            );
        }
    }
    // And no fixture is left without a schema to compare with.
    let mut on_disk = Vec::new();
    for e in std::fs::read_dir(kernel().join("linux/kho/abi")).unwrap_or_else(|e| panic!("{e}")) {
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        on_disk.push(format!("linux/kho/abi/{}", e.file_name().to_string_lossy()));
    }
    on_disk.sort();
    let mut listed: Vec<String> = HEADERS.iter().map(|(h, _)| h.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every fixture header is compared");
}

/// Copies the kernel fixtures to `root`, with `edit` applied to `header`.
fn mutated(root: &Path, header: &str, from: &str, to: &str) -> PathBuf {
    let include = root.join("kernel");
    for &(h, _) in HEADERS {
        let mut text = read(&kernel().join(h));
        if h == header {
            assert!(text.contains(from), "{h} has no {from:?}");
            text = text.replacen(from, to, 1);
        }
        write(&include.join(h), &text);
    }
    include
}

#[test]
fn the_comparison_catches_a_kernel_header_that_differs() {
    let abis = shipped();
    let dir = common::scratch("kernel_layouts", "mutants");
    let generated = generated_headers(&dir, &abis);
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        // header, abi, from, to, what the difference must name
        (
            "linux/kho/abi/memfd.h",
            "memfd",
            "u64 pfn:52;",
            "u64 pfn:51;",
            "struct memfd_luo_folio_ser, field pfn: the kernel's header gives `bits first 0 width 51 span 51`, the generated one `bits first 0 width 52 span 52`",
        ),
        (
            "linux/kho/abi/kexec_handover.h",
            "kho",
            "\tunsigned short order;\n};",
            "\tunsigned short order;\n} __packed;",
            "struct kho_vmalloc: the kernel's header gives `size 16 align 1`, the generated one `size 16 align 8`",
        ),
        (
            "linux/kho/abi/kexec_handover.h",
            "kho",
            "\t\tu64 phys;\t\t\\",
            "\t\tu64 phys[2];\t\\",
            "struct kho_vmalloc_hdr: the kernel's header gives `size 16 align 8`, the generated one `size 8 align 8`",
        ),
        (
            "linux/kho/abi/pci.h",
            "pci",
            "struct pci_dev_ser devices[];",
            "struct pci_dev_ser devices[1];",
            "struct pci_ser: the kernel's header gives `size 16 align 1`, the generated one `size 8 align 1`",
        ),
        (
            "linux/kho/abi/memfd.h",
            "memfd",
            "MEMFD_LUO_FH_COMPATIBLE\t\"memfd-v2\"",
            "MEMFD_LUO_FH_COMPATIBLE\t\"memfd-v3\"",
            "macro MEMFD_LUO_FH_COMPATIBLE: the kernel's header gives `string \"memfd-v3\"`, the generated one `string \"memfd-v2\"`",
        ),
        (
            "linux/kho/abi/memfd.h",
            "memfd",
            "BIT(1)",
            "BIT(2)",
            "macro MEMFD_LUO_FOLIO_UPTODATE: the kernel's header gives `integer 4`, the generated one `integer 2`",
        ),
        (
            "linux/kho/abi/kexec_metadata.h",
            "kexec-metadata",
            "__NEW_UTS_LEN + 1]",
            "__NEW_UTS_LEN + 2]",
            "struct kho_kexec_metadata, field previous_release: the kernel's header gives `offset 4 size 66`, the generated one `offset 4 size 65`",
        ),
    ];
    for (i, &(header, name, from, to, want)) in cases.iter().enumerate() {
        let root = dir.join(format!("case{i}"));
        let include = mutated(&root, header, from, to);
        let found = compare(&root, &abis, &include, &generated, &[(header, name)]);
        let all = found.diffs.join("\n");
        assert!(
            all.contains(want),
            "{header} with {from:?} -> {to:?}: expected a difference naming\n  {want}\ngot:\n{all}"
        );
        assert!(
            all.contains("(PAGE_SIZE 4096)") && all.contains("(PAGE_SIZE 65536)"),
            "every page size is probed: {all}"
        );
    }
}
