//! The generated C headers, compiled by gcc. The layout kho-schema computes
//! is checked by the C compiler, not by more Rust arithmetic: for every
//! struct and field of the shipped schemas a `_Static_assert` on `sizeof`
//! and `offsetof` against the generated header. The kernel patch's
//! `kho_block.c` and `kho_block.h` (verbatim, in `tests/fixtures/seed/`) are
//! compiled unchanged against the generated `linux/kho/abi/block.h`, and the
//! patch's own `block.h` is checked against the schema.
//!
//! These tests need `gcc` on `PATH` and fail, saying so, without it.

use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kho_layout::{Kind, Ty};
use kho_schema::Abi;
use kho_schema::ConstValue;

mod common;
use common::shipped;

/// A fresh directory for one test, under cargo's scratch directory.
fn scratch(test: &str) -> PathBuf {
    common::scratch("c_headers", test)
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures")
}

fn stubs() -> PathBuf {
    fixtures().join("kernel-stubs/include")
}

fn seed() -> PathBuf {
    fixtures().join("seed")
}

fn abi<'a>(abis: &'a [Abi], name: &str) -> &'a Abi {
    abis.iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no schema named {name}"))
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn copy(from: &Path, to: &Path) {
    let text = std::fs::read_to_string(from).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the patch's files are kept in tests/fixtures/seed/)",
            from.display()
        )
    });
    write(to, &text);
}

/// Writes every generated C header (as `kho-abi generate` lays them out,
/// `c/<header>`) under `root/include/` and returns that directory.
fn write_headers(root: &Path, abis: &[Abi]) -> PathBuf {
    let include = root.join("include");
    let mut n = 0;
    for g in kho_schema::emit::all(abis) {
        if let Some(rel) = g.path.strip_prefix("c/") {
            write(&include.join(rel), &g.text);
            n += 1;
        }
    }
    assert_eq!(n, abis.len(), "one C header per ABI");
    include
}

/// Runs gcc; a missing gcc fails the test with what to do about it.
fn gcc(args: &[&str], dir: &Path) -> Output {
    match Command::new("gcc").args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "gcc is not on PATH: tests/c_headers.rs compiles the generated C headers with gcc \
             to check their layout (Debian/Ubuntu: apt-get install gcc)"
        ),
        Err(e) => panic!("cannot run gcc: {e}"),
    }
}

/// Compiles with gcc and panics with its diagnostics if it fails.
fn gcc_ok(args: &[&str], dir: &Path) {
    let out = gcc(args, dir);
    assert!(
        out.status.success(),
        "gcc {} failed (in {}):\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The include flags: the given directories first, then the kernel stubs.
fn includes(dirs: &[&Path]) -> Vec<String> {
    dirs.iter()
        .copied()
        .chain([stubs().as_path()])
        .map(|d| format!("-I{}", d.display()))
        .collect()
}

/// A C string literal (test-side, independent of the emitter's).
fn c_str(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' | b'?' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

/// The value of integer constant `k` with `page`-sized pages, if it has one
/// kho knows (a verbatim `c = ".."` constant has none).
fn int_value(k: &kho_schema::Constant, page: usize) -> Option<u64> {
    match k.values.iter().find(|(p, _)| *p == page) {
        Some(&(_, v)) => Some(v),
        None => match k.value {
            ConstValue::Int(n) => Some(n),
            _ => None,
        },
    }
}

/// `struct s` or `union s`.
fn c_tag(s: &kho_schema::Struct<'_>) -> String {
    match s.kind {
        Kind::Union => format!("union {}", s.name),
        Kind::Struct => format!("struct {}", s.name),
    }
}

/// A C program checking `abi`'s header against the IR laid out for
/// `page`-sized pages: every macro is defined, integer constants have
/// their values and every struct its size and alignment and every field
/// its offset and size (at compile time; a bit field's bits are probed by
/// tests/kernel_layouts.rs, a flexible array's element size is checked);
/// every compatible string and string constant matches (when run).
fn layout_check(abi: &Abi, page: usize) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "/* {}: the layout kho-schema computed for {page}-byte pages. */",
        abi.name
    );
    let _ = writeln!(c, "#include <{}>", abi.c.header);
    c.push_str("#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n\n");
    // Every constant is a macro but an enum's member, whose value the
    // asserts below check all the same.
    let macros = abi.compatibles().iter().map(|m| &m.macro_name).chain(
        abi.constants
            .iter()
            .filter(|k| k.enum_tag.is_none())
            .map(|k| &k.name),
    );
    for m in macros {
        let _ = writeln!(c, "#ifndef {m}\n#error \"{m} is not defined\"\n#endif");
    }
    for k in &abi.constants {
        if let Some(n) = int_value(k, page) {
            let _ = writeln!(
                c,
                "_Static_assert({} == {n}ULL, \"{} == {n}\");",
                k.name, k.name
            );
        }
    }
    for s in abi.structs_at(page) {
        let st = c_tag(s);
        let _ = writeln!(
            c,
            "_Static_assert(sizeof({st}) == {0}, \"sizeof({st}) == {0}\");\n\
             _Static_assert(_Alignof({st}) == {1}, \"_Alignof({st}) == {1}\");",
            s.size, s.align
        );
        for f in s.fields.iter() {
            if f.bits.is_some() {
                continue;
            }
            let _ = writeln!(
                c,
                "_Static_assert(offsetof({st}, {f}) == {o}, \"offsetof({st}, {f}) == {o}\");",
                f = f.name,
                o = f.offset,
            );
            match &f.ty {
                Ty::Flex(elem) => {
                    let z = elem.get().size(abi.set_at(page)).unwrap_or(usize::MAX);
                    let _ = writeln!(
                        c,
                        "_Static_assert(sizeof((({st} *)0)->{f}[0]) == {z}, \
                         \"sizeof({st}.{f}[0]) == {z}\");",
                        f = f.name
                    );
                }
                _ => {
                    let _ = writeln!(
                        c,
                        "_Static_assert(sizeof((({st} *)0)->{f}) == {z}, \"sizeof({st}.{f}) == {z}\");",
                        f = f.name,
                        z = f.size
                    );
                }
            }
        }
    }
    c.push_str("\nstatic int check(const char *name, const char *got, const char *want)\n{\n");
    c.push_str("\tif (strcmp(got, want) == 0)\n\t\treturn 0;\n");
    c.push_str("\tprintf(\"%s is \\\"%s\\\", the schema says \\\"%s\\\"\\n\", name, got, want);\n");
    c.push_str("\treturn 1;\n}\n\nint main(void)\n{\n\tint bad = 0;\n\n");
    for m in abi.compatibles() {
        if m.main && abi.c.version_macro {
            // A version number, not a string: checked at compile time.
            let _ = writeln!(
                c,
                "\t_Static_assert({} == {}, \"version macro\");",
                m.macro_name, m.version
            );
            continue;
        }
        let _ = writeln!(
            c,
            "\tbad |= check(\"{0}\", {0}, {1});",
            m.macro_name,
            c_str(&m.value)
        );
    }
    for k in &abi.constants {
        if let ConstValue::Str(s) = &k.value {
            let _ = writeln!(c, "\tbad |= check(\"{0}\", {0}, {1});", k.name, c_str(s));
        }
    }
    c.push_str("\treturn bad;\n}\n");
    c
}

/// Compiles `abi`'s layout check for `page`-sized pages against the
/// headers in `include` and runs it; returns gcc's output if it does not
/// compile.
fn run_layout_check(dir: &Path, include: &Path, abi: &Abi, page: usize) -> Result<(), String> {
    let name = format!("{}_{page}", abi.name.replace('-', "_"));
    let src = format!("check_{name}.c");
    write(&dir.join(&src), &layout_check(abi, page));
    let shift = format!("-DPAGE_SHIFT={}", page.trailing_zeros());
    let mut args = vec!["-std=gnu11", "-Wall", "-Wextra", "-Werror", shift.as_str()];
    let inc = includes(&[include]);
    args.extend(inc.iter().map(String::as_str));
    args.extend([src.as_str(), "-o", name.as_str()]);
    let out = gcc(&args, dir);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let run = Command::new(dir.join(&name))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    assert!(
        run.status.success(),
        "{} ({page}-byte pages): {}",
        abi.name,
        String::from_utf8_lossy(&run.stdout)
    );
    Ok(())
}

#[test]
fn gcc_lays_out_every_generated_struct_as_the_schema_does() {
    let abis = shipped();
    let dir = scratch("layout");
    let include = write_headers(&dir, &abis);
    for abi in &abis {
        for &page in abi.pages() {
            if let Err(e) = run_layout_check(&dir, &include, abi, page) {
                panic!(
                    "{} ({page}-byte pages): gcc disagrees with kho-schema's layout, or the \
                     header does not compile:\n{e}",
                    abi.name
                );
            }
        }
    }
}

#[test]
fn generated_headers_compile_together_and_twice() {
    let abis = shipped();
    let dir = scratch("together");
    let include = write_headers(&dir, &abis);
    let mut src = String::new();
    for _ in 0..2 {
        for a in &abis {
            let _ = writeln!(src, "#include <{}>", a.c.header);
        }
    }
    write(&dir.join("all.c"), &src);
    let inc = includes(&[&include]);
    for page in abis.first().map(Abi::pages).unwrap_or_default() {
        let shift = format!("-DPAGE_SHIFT={}", page.trailing_zeros());
        let mut args = vec!["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-c", &shift];
        args.extend(inc.iter().map(String::as_str));
        args.extend(["all.c", "-o", "all.o"]);
        gcc_ok(&args, &dir);
    }
}

/// Kernel code stores and loads KHOSER pointers with KHOSER_STORE_PTR and
/// KHOSER_LOAD_PTR: the generated kexec_handover.h must define them as the
/// kernel's does, so a round trip through a physical address gives the
/// pointer back, and NULL stays NULL. Built and run with identity
/// virt/phys stand-ins.
#[test]
fn khoser_accessors_store_and_load_as_the_kernels_do() {
    let abis = shipped();
    let dir = scratch("khoser_accessors");
    let include = write_headers(&dir, &abis);
    let src = r#"#include <linux/kho/abi/kexec_handover.h>
#include <stdio.h>
#define typecheck(type, x) ({ type __a; typeof(x) __b; (void)(&__a == &__b); 1; })
#define virt_to_phys(v) ((u64)(unsigned long)(v) + 0x1000)
#define phys_to_virt(p) ((void *)(unsigned long)((p) - 0x1000))
int main(void)
{
	static struct kho_vmalloc_chunk chunk;
	struct kho_vmalloc v = { 0 };
	struct kho_vmalloc_chunk *back;

	KHOSER_STORE_PTR(v.first, &chunk);
	back = KHOSER_LOAD_PTR(v.first);
	if (v.first.phys != (u64)(unsigned long)&chunk + 0x1000 || back != &chunk)
		return 1;
	v.first.phys = 0;
	if (KHOSER_LOAD_PTR(v.first) != NULL)
		return 2;
	puts("ok");
	return 0;
}
"#;
    write(&dir.join("khoser.c"), src);
    let inc = includes(&[&include]);
    let mut args = vec![
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-DPAGE_SHIFT=12",
    ];
    args.extend(inc.iter().map(String::as_str));
    args.extend(["khoser.c", "-o", "khoser"]);
    gcc_ok(&args, &dir);
    let out = Command::new(dir.join("khoser"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run the accessor probe: {e}"));
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim()
        ),
        (Some(0), "ok"),
        "KHOSER_STORE_PTR/KHOSER_LOAD_PTR do not round-trip"
    );
}

#[test]
fn the_layout_check_catches_a_wrong_size_or_offset() {
    let abis = shipped();
    let dir = scratch("mutants");
    let include = write_headers(&dir, &abis);
    let block = abi(&abis, "kho-block");

    let mut bigger = block.clone();
    bigger.struct_mut(0).unwrap().size += 1;
    let e =
        run_layout_check(&dir, &include, &bigger, 4096).expect_err("a wrong size must not compile");
    assert!(
        e.contains("sizeof(struct kho_block_header_ser) == 17"),
        "{e}"
    );

    let mut moved = block.clone();
    moved.struct_mut(0).unwrap().fields.to_mut()[1].offset = 4;
    let e = run_layout_check(&dir, &include, &moved, 4096)
        .expect_err("a wrong offset must not compile");
    assert!(
        e.contains("offsetof(struct kho_block_header_ser, count) == 4"),
        "{e}"
    );
}

#[test]
fn the_patch_compiles_unchanged_against_the_generated_block_h() {
    let abis = shipped();
    let dir = scratch("patch");
    let include = write_headers(&dir, &abis);
    // Only the generated block.h is on the include path: the patch's own
    // stays in the fixtures.
    copy(
        &seed().join("include/linux/kho_block.h"),
        &include.join("linux/kho_block.h"),
    );
    copy(
        &seed().join("kernel/liveupdate/kho_block.c"),
        &dir.join("kho_block.c"),
    );
    let inc = includes(&[&include]);
    let mut args = vec![
        "-std=gnu11",
        "-Wall",
        "-Werror",
        "-DKBUILD_MODNAME=\"kho_block\"",
        "-c",
    ];
    args.extend(inc.iter().map(String::as_str));
    args.extend(["kho_block.c", "-o", "kho_block.o"]);
    gcc_ok(&args, &dir);
    // And it saw the generated header, not some other block.h.
    let out = gcc(
        &[
            &["-std=gnu11", "-E", "-dM"][..],
            &inc.iter().map(String::as_str).collect::<Vec<_>>(),
            &["kho_block.c"],
        ]
        .concat(),
        &dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let macros = String::from_utf8_lossy(&out.stdout);
    assert!(
        macros.contains("#define KHO_BLOCK_ABI_COMPATIBLE \"kho-block-v1\""),
        "{macros}"
    );
    let used = std::fs::read_to_string(include.join("linux/kho/abi/block.h")).unwrap_or_default();
    assert!(used.contains("Generated by `kho-abi generate`"), "{used}");
}

#[test]
fn the_patch_block_h_has_the_schema_layout() {
    let abis = shipped();
    let dir = scratch("patch_block_h");
    let seed_include = seed().join("include");
    if let Err(e) = run_layout_check(&dir, &seed_include, abi(&abis, "kho-block"), 4096) {
        panic!("the patch's block.h disagrees with schemas/kho_block.toml:\n{e}");
    }
}

#[test]
fn block_h_is_a_drop_in_for_the_patch_header() {
    let abis = shipped();
    let h = kho_schema::emit::c::header(abi(&abis, "kho-block"), &abis);
    assert!(h.starts_with("/* SPDX-License-Identifier: GPL-2.0 */\n/*\n * Generated by `kho-abi generate` from schemas/kho_block.toml: do not edit.\n"), "{h}");
    for line in [
        "#ifndef _LINUX_KHO_ABI_BLOCK_H\n#define _LINUX_KHO_ABI_BLOCK_H\n",
        "#include <asm/page.h>\n#include <linux/types.h>\n#include <linux/build_bug.h>\n",
        "#define KHO_BLOCK_ABI_COMPATIBLE \"kho-block-v1\"\n",
        "#define KHO_BLOCK_SIZE PAGE_SIZE\n",
        "struct kho_block_header_ser {\n\tu64 next;\n\tu64 count;\n} __packed;\n",
        "static_assert(sizeof(struct kho_block_header_ser) == 16);\n",
        " * DOC: ",
        " * struct kho_block_header_ser - ",
        " * @next: ",
        " * @count: ",
    ] {
        assert!(h.contains(line), "missing {line:?} in:\n{h}");
    }
    assert!(
        h.ends_with("\n#endif /* _LINUX_KHO_ABI_BLOCK_H */\n"),
        "{h}"
    );
    assert!(h.lines().all(|l| l.chars().count() <= 80), "{h}");

    let luo = kho_schema::emit::c::header(abi(&abis, "luo"), &abis);
    for line in [
        "#define LUO_ABI_COMPATIBLE \"luo-v4-kho-block-v1\"\n",
        "#define LIVEUPDATE_VER_HDR_MAGIC 0x4c565550\n",
        "\tchar name[LIVEUPDATE_HNDL_NAME_LENGTH];\n",
        "\tu64 reserved[13];\n",
        "\tstruct luo_file_set_ser file_set_ser;\n",
    ] {
        assert!(luo.contains(line), "missing {line:?} in:\n{luo}");
    }
    assert!(luo.lines().all(|l| l.chars().count() <= 80), "{luo}");
}

#[test]
fn headers_are_reproducible() {
    let abis = shipped();
    let again = shipped();
    for (a, b) in abis.iter().zip(&again) {
        assert_eq!(
            kho_schema::emit::c::header(a, &abis),
            kho_schema::emit::c::header(b, &again)
        );
        assert_eq!(
            kho_schema::emit::markdown::tables(a, &abis),
            kho_schema::emit::markdown::tables(b, &again)
        );
    }
}
