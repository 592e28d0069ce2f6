//! Issue 10's mutation tests at the library level: each new construct
//! changed without a bump is caught by `check` (and refused by
//! `generate`), naming the field and the compatible macro to bump; a draft
//! changes without one. (kho-abi's tests do the same through the CLI.)

mod common;

use std::path::Path;

use kho_schema::project::{Problem, Project};

/// A repository holding `files` under `schemas/`, generated once.
fn repo(test: &str, files: &[(&str, &str)]) -> Project {
    let root = common::scratch("mutations10", test);
    std::fs::create_dir_all(root.join("schemas")).unwrap();
    for (name, text) in files {
        std::fs::write(root.join("schemas").join(name), text).unwrap();
    }
    let p = Project::new(root);
    p.generate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.check(), [], "fresh repository");
    p
}

fn edit(p: &Project, file: &str, from: &str, to: &str) {
    let path = p.schema_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// The missing-bump problems of `check`, one a line.
fn bumps(p: &Project) -> Vec<String> {
    p.check()
        .into_iter()
        .filter_map(|x| match x {
            Problem::MissingBump(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// `check` finds exactly one missing bump, containing every `want`, at
/// `file:line:` of the schema; `generate` refuses with the same and
/// leaves the lock alone.
fn caught(p: &Project, file: &str, line: usize, wants: &[&str]) {
    let b = bumps(p);
    assert_eq!(b.len(), 1, "{b:#?}");
    let at = format!("{}:{line}:", p.schema_dir().join(file).display());
    assert!(b[0].starts_with(&at), "{} does not start with {at}", b[0]);
    for w in wants {
        assert!(b[0].contains(w), "{:?} not in {}", w, b[0]);
    }
    let lock = std::fs::read(p.lock_path()).unwrap();
    let e = p.generate().unwrap_err().to_string();
    assert!(e.contains(&b[0]), "{e}");
    assert_eq!(
        std::fs::read(p.lock_path()).unwrap(),
        lock,
        "lock rewritten"
    );
}

const MEMFD: &str = r#"[abi]
name = "memfd"
version = 1
[abi.c]
compatible_macro = "MEMFD_LUO_FH_COMPATIBLE"

[constants]
MEMFD_LUO_FOLIO_DIRTY = { expr = "BIT(0)" }

[[struct]]
name = "memfd_luo_folio_ser"
fields = [
  { name = "pfn", type = "u64", bits = 52 },
  { name = "flags", type = "u64", bits = 12 },
  { name = "index", type = "u64" },
]

[[struct]]
name = "kho_vmalloc"
packed = false
fields = [
  { name = "first", type = "khoser_ptr<kho_vmalloc_chunk>" },
  { name = "total_pages", type = "unsigned int" },
  { name = "flags", type = "unsigned short" },
  { name = "order", type = "unsigned short" },
]

[[struct]]
name = "kho_vmalloc_chunk"
packed = false
fields = [
  { name = "next", type = "khoser_ptr<kho_vmalloc_chunk>" },
  { name = "phys", type = "u64[(PAGE_SIZE - 8) / sizeof(u64)]" },
]

[[struct]]
name = "ptr_or_pfn"
union = true
packed = false
fields = [
  { name = "phys", type = "u64" },
  { name = "pfn", type = "u32" },
]
"#;

#[test]
fn a_bit_width_change_is_breaking_and_names_field_and_macro() {
    let p = repo("bits", &[("memfd.toml", MEMFD)]);
    edit(&p, "memfd.toml", "bits = 52", "bits = 51");
    caught(
        &p,
        "memfd.toml",
        13,
        &[
            "memfd_luo_folio_ser.pfn changed from bits 0:52 to bits 0:51",
            "bump memfd to v2 (MEMFD_LUO_FH_COMPATIBLE)",
        ],
    );
    // With the bump, generate takes it.
    edit(&p, "memfd.toml", "version = 1", "version = 2");
    assert_eq!(bumps(&p), Vec::<String>::new());
    p.generate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.check(), []);
}

#[test]
fn an_alignment_change_is_breaking() {
    let p = repo("align", &[("memfd.toml", MEMFD)]);
    edit(
        &p,
        "memfd.toml",
        "name = \"kho_vmalloc\"\npacked = false",
        "name = \"kho_vmalloc\"\npacked = false\nalign = 16",
    );
    caught(
        &p,
        "memfd.toml",
        19,
        &[
            "memfd: struct kho_vmalloc alignment changed from 8 to 16",
            "bump memfd to v2 (MEMFD_LUO_FH_COMPATIBLE)",
        ],
    );
}

#[test]
fn a_union_member_change_is_breaking() {
    let p = repo("union", &[("memfd.toml", MEMFD)]);
    edit(
        &p,
        "memfd.toml",
        "{ name = \"pfn\", type = \"u32\" }",
        "{ name = \"pfn\", type = \"u16\" }",
    );
    caught(
        &p,
        "memfd.toml",
        42,
        &[
            "ptr_or_pfn.pfn changed from u32 (4 bytes) to u16 (2 bytes)",
            "bump memfd to v2",
        ],
    );
}

#[test]
fn an_expression_value_change_is_breaking_per_page_size() {
    let p = repo("expr", &[("memfd.toml", MEMFD)]);
    edit(&p, "memfd.toml", "(PAGE_SIZE - 8)", "(PAGE_SIZE - 16)");
    caught(
        &p,
        "memfd.toml",
        33,
        &[
            "kho_vmalloc_chunk.phys changed from u64[511] (4088 bytes) to u64[510] (4080 bytes) (PAGE_SIZE = 4096)",
            "MEMFD_LUO_FH_COMPATIBLE",
        ],
    );
    let p = repo("expr_constant", &[("memfd.toml", MEMFD)]);
    edit(&p, "memfd.toml", "BIT(0)", "BIT(1)");
    caught(
        &p,
        "memfd.toml",
        8,
        &[
            "constant MEMFD_LUO_FOLIO_DIRTY changed from 1 to 2",
            "bump memfd to v2",
        ],
    );
}

#[test]
fn adding_a_constant_needs_no_bump() {
    let p = repo("add_constant", &[("memfd.toml", MEMFD)]);
    edit(
        &p,
        "memfd.toml",
        "[constants]\n",
        "[constants]\nMEMFD_LUO_FOLIO_MAPPED = { expr = \"BIT(1)\" }\n",
    );
    assert_eq!(bumps(&p), Vec::<String>::new());
    assert!(p.check().contains(&Problem::StaleLock(
        "abi.lock's record of memfd is not what generate writes".into()
    )));
    p.generate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.check(), []);
    // Removing it again is a change.
    edit(
        &p,
        "memfd.toml",
        "MEMFD_LUO_FOLIO_MAPPED = { expr = \"BIT(1)\" }\n",
        "",
    );
    // What the schema no longer declares is placed at its ABI's name.
    caught(
        &p,
        "memfd.toml",
        2,
        &["memfd: constant MEMFD_LUO_FOLIO_MAPPED removed"],
    );
}

const PCI: &str = r#"[abi]
name = "pci"
version = 1
[abi.c]
compatible_macro = "PCI_LUO_FLB_COMPATIBLE"

[[struct]]
name = "pci_dev_ser"
fields = [
  { name = "domain", type = "u32" },
  { name = "bdf", type = "u16" },
  { name = "refcount", type = "u16" },
]

[[struct]]
name = "pci_ser"
fields = [
  { name = "max_nr_devices", type = "u32" },
  { name = "nr_devices", type = "u32" },
  { name = "devices", type = "pci_dev_ser[]", count = "nr_devices" },
]
"#;

#[test]
fn a_flexible_arrays_element_change_is_breaking() {
    let p = repo("flex", &[("pci.toml", PCI)]);
    edit(&p, "pci.toml", "\"pci_dev_ser[]\"", "\"u64[]\"");
    caught(
        &p,
        "pci.toml",
        20,
        &[
            "pci_ser.devices changed type from pci_dev_ser[] to u64[]",
            "bump pci to v2 (PCI_LUO_FLB_COMPATIBLE)",
        ],
    );
}

#[test]
fn a_change_inside_a_flexible_arrays_element_names_the_path() {
    let old = common::ok(&[("pci.toml", PCI)]);
    let new_text = PCI.replace(
        "name = \"refcount\", type = \"u16\"",
        "name = \"refcount\", type = \"s16\"",
    );
    let new = common::ok(&[("pci.toml", &new_text)]);
    let d = kho_schema::diff::diff(
        &[kho_schema::view::AbiView::of(&old[0])],
        &[kho_schema::view::AbiView::of(&new[0])],
    );
    let places: Vec<(&str, &str, Option<&str>)> = d[0]
        .changes
        .iter()
        .map(|c| (c.place.as_str(), c.what.as_str(), c.at.as_deref()))
        .collect();
    assert!(
        places.contains(&(
            "pci_ser.devices[].refcount",
            "changed type from u16 to i16",
            Some("pci.toml:20:12")
        )),
        "{places:?}"
    );
    assert!(
        places.contains(&(
            "pci_dev_ser.refcount",
            "changed type from u16 to i16",
            Some("pci.toml:12:12")
        )),
        "{places:?}"
    );
}

const LUO: &str = r#"[abi]
name = "luo"
version = 1
[abi.c]
compatible_macro = "LUO_FDT_COMPATIBLE"

[[abi.compatible]]
macro = "LUO_FDT_SESSION_COMPATIBLE"
name = "luo-session"
version = 1
structs = ["luo_session_ser"]

[[struct]]
name = "luo_ser"
fields = [{ name = "a", type = "u64" }]

[[struct]]
name = "luo_session_ser"
fields = [{ name = "b", type = "u64" }]
"#;

#[test]
fn each_compatible_macro_is_bumped_on_its_own() {
    let p = repo("macros", &[("luo.toml", LUO)]);
    edit(
        &p,
        "luo.toml",
        "{ name = \"b\", type = \"u64\" }",
        "{ name = \"b\", type = \"u32\" }",
    );
    caught(
        &p,
        "luo.toml",
        19,
        &[
            "luo_session_ser.b changed from u64 (8 bytes) to u32 (4 bytes), but LUO_FDT_SESSION_COMPATIBLE is still luo-session-v1",
            "bump LUO_FDT_SESSION_COMPATIBLE to luo-session-v2",
        ],
    );
    // Bumping the main macro is not the fix.
    edit(
        &p,
        "luo.toml",
        "version = 1\n[abi.c]",
        "version = 2\n[abi.c]",
    );
    assert_eq!(bumps(&p).len(), 1, "{:?}", bumps(&p));
    edit(
        &p,
        "luo.toml",
        "version = 1\nstructs",
        "version = 2\nstructs",
    );
    assert_eq!(bumps(&p), Vec::<String>::new());
    p.generate().unwrap_or_else(|e| panic!("{e}"));
    let lock = std::fs::read_to_string(p.lock_path()).unwrap();
    assert!(
        lock.contains("macros = [\n  { macro = \"LUO_FDT_SESSION_COMPATIBLE\", compatible = \"luo-session-v2\", structs = [\"luo_session_ser\"] },\n]\n"),
        "{lock}"
    );
    assert_eq!(p.check(), []);
    // The main macro's structs still need the main bump.
    edit(
        &p,
        "luo.toml",
        "{ name = \"a\", type = \"u64\" }",
        "{ name = \"a\", type = \"u16\" }",
    );
    caught(
        &p,
        "luo.toml",
        15,
        &["luo_ser.a changed", "bump luo to v3 (LUO_FDT_COMPATIBLE)"],
    );
}

#[test]
fn a_draft_changes_without_a_bump_until_released() {
    let draft = MEMFD.replace("version = 1\n", "version = 1\ndraft = true\n");
    let p = repo("draft", &[("memfd.toml", &draft)]);
    let lock = std::fs::read_to_string(p.lock_path()).unwrap();
    assert!(lock.contains("draft = true\n"), "{lock}");
    edit(&p, "memfd.toml", "bits = 52", "bits = 40");
    assert_eq!(bumps(&p), Vec::<String>::new());
    p.generate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.check(), []);
    // Released: the lock records it without `draft`, the schema loses the key.
    p.release("memfd").unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(p.schema_dir().join("memfd.toml")).unwrap();
    assert_eq!(text, MEMFD.replace("bits = 52", "bits = 40"));
    let lock = std::fs::read_to_string(p.lock_path()).unwrap();
    assert!(!lock.contains("draft"), "{lock}");
    assert_eq!(p.check(), []);
    // From now on a change needs its bump.
    edit(&p, "memfd.toml", "bits = 40", "bits = 41");
    caught(
        &p,
        "memfd.toml",
        13,
        &["memfd_luo_folio_ser.pfn changed from bits 0:40 to bits 0:41"],
    );
    // A released ABI cannot become a draft again.
    edit(&p, "memfd.toml", "bits = 41", "bits = 40");
    edit(
        &p,
        "memfd.toml",
        "version = 1\n",
        "version = 1\ndraft = true\n",
    );
    let b = bumps(&p);
    assert!(
        b.len() == 1
            && b[0].ends_with("memfd: ABI memfd is released (abi.lock records it): it cannot be a draft again; remove `draft = true`"),
        "{b:?}"
    );
}

#[test]
fn release_refuses_what_it_cannot_release() {
    let p = repo("release_refusals", &[("memfd.toml", MEMFD)]);
    let e = p.release("memfd").unwrap_err().to_string();
    assert!(
        e.ends_with(
            "memfd.toml: ABI `memfd` is not a draft (it has no `draft = true`): nothing to release"
        ),
        "{e}"
    );
    let e = p.release("nope").unwrap_err().to_string();
    assert_eq!(e, "no schema declares ABI `nope`");
    let inline = MEMFD.replace("version = 1\n", "version = 1\ndoc = \"x\"; draft = true\n");
    assert!(Path::new(&p.schema_dir()).exists());
    std::fs::write(
        p.schema_dir().join("memfd.toml"),
        inline.replace("; ", "\n"),
    )
    .unwrap();
    p.release("memfd").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn compose_none_needs_its_own_bump_for_a_dependencys_change_named_by_path() {
    let kho = "[abi]\nname = \"kho\"\nversion = 1\n[[struct]]\nname = \"kho_vmalloc\"\npacked = false\nfields = [\n  { name = \"first\", type = \"u64\" },\n  { name = \"order\", type = \"unsigned short\" },\n]\n";
    let memfd = "[abi]\nname = \"memfd\"\nversion = 1\ndepends = [\"kho\"]\ncompose = \"none\"\n[[struct]]\nname = \"memfd_luo_ser\"\nfields = [\n  { name = \"pos\", type = \"u64\" },\n  { name = \"folios\", type = \"struct kho_vmalloc\" },\n]\n";
    let p = repo("compose_none", &[("kho.toml", kho), ("memfd.toml", memfd)]);
    edit(&p, "kho.toml", "\"unsigned short\"", "\"unsigned int\"");
    edit(&p, "kho.toml", "version = 1", "version = 2");
    caught(
        &p,
        "memfd.toml",
        10,
        &[
            "memfd: memfd_luo_ser.folios.order changed from u16 (2 bytes) to u32 (4 bytes), but the compatible string is still memfd-v1: bump memfd to v2",
        ],
    );
}

#[test]
fn moving_a_struct_in_its_schema_needs_no_bump() {
    const TWO: &str = r#"[abi]
name = "two"
version = 1
[abi.c]
compatible_macro = "TWO_COMPATIBLE"

[[struct]]
name = "first"
fields = [{ name = "a", type = "u64" }]

[[struct]]
name = "second"
fields = [{ name = "b", type = "u32" }]
"#;
    let p = repo("moving_a_struct", &[("two.toml", TWO)]);
    let moved = TWO.replace(
        "[[struct]]\nname = \"first\"\nfields = [{ name = \"a\", type = \"u64\" }]\n\n[[struct]]\nname = \"second\"\nfields = [{ name = \"b\", type = \"u32\" }]\n",
        "[[struct]]\nname = \"second\"\nfields = [{ name = \"b\", type = \"u32\" }]\n\n[[struct]]\nname = \"first\"\nfields = [{ name = \"a\", type = \"u64\" }]\n",
    );
    assert_ne!(moved, TWO);
    std::fs::write(p.schema_dir().join("two.toml"), moved).unwrap();
    // The lock and the generated files follow the new order, but no
    // layout changed: nothing to bump, and generate accepts it.
    assert_eq!(bumps(&p), Vec::<String>::new());
    p.generate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.check(), []);
}

/// An ABI versioned by a number, as kexec_metadata.h is: the header
/// defines the version, a layout change needs it bumped, and the bump is
/// the new number in the header.
#[test]
fn a_version_macro_is_bumped_like_a_compatible_string() {
    const NUMBERED: &str = r#"[abi]
name = "numbered"
version = 1
[abi.c]
version_macro = "NUMBERED_VERSION"

[[struct]]
name = "numbered_ser"
fields = [
  { name = "version", type = "u32" },
  { name = "count", type = "u32" },
]
"#;
    let p = repo("version_macro", &[("numbered.toml", NUMBERED)]);
    let header =
        || std::fs::read_to_string(p.generated_dir().join("c/linux/kho/abi/numbered.h")).unwrap();
    assert!(
        header().contains("#define NUMBERED_VERSION 1\n"),
        "{}",
        header()
    );
    assert!(!header().contains("COMPATIBLE"), "{}", header());
    edit(
        &p,
        "numbered.toml",
        "type = \"u32\" },\n]",
        "type = \"u64\" },\n]",
    );
    caught(
        &p,
        "numbered.toml",
        11,
        &[
            "numbered_ser.count changed",
            "bump numbered to v2 (NUMBERED_VERSION)",
        ],
    );
    edit(&p, "numbered.toml", "version = 1", "version = 2");
    p.generate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.check(), []);
    assert!(
        header().contains("#define NUMBERED_VERSION 2\n"),
        "{}",
        header()
    );
}

#[test]
fn a_version_macro_is_one_number_not_composed_and_alone() {
    let both = "[abi]\nname = \"v\"\nversion = 1\n[abi.c]\ncompatible_macro = \"V_COMPATIBLE\"\n\
                version_macro = \"V_VERSION\"\n";
    let e = common::errors(&[("v.toml", both)]);
    assert!(
        e.contains("v.toml:6:17: an ABI has a compatible_macro or a version_macro, not both"),
        "{e}"
    );
    let composed = "[abi]\nname = \"v\"\nversion = 1\ndepends = [\"kho-block\"]\n[abi.c]\n\
                    version_macro = \"V_VERSION\"\n";
    let block = std::fs::read_to_string(common::repo_schemas().join("kho_block.toml")).unwrap();
    let e = common::errors(&[("kho_block.toml", &block), ("v.toml", composed)]);
    assert!(
        e.contains("v.toml:6:17: version_macro V_VERSION is a number"),
        "{e}"
    );
    assert!(e.contains("compose = \"none\""), "{e}");
}
