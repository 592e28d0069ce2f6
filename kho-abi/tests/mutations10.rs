//! The kernel's constructs under change, as a reviewer meets them: a
//! repository with one schema of every construct is generated, one thing
//! is changed, and `kho-abi check` (and `generate`) must refuse it until
//! the version of the macro that covers the changed struct is bumped,
//! naming the field and that macro. A draft ABI changes freely; adding a
//! constant is not a change.

use std::path::Path;

mod common;
use common::{on, stderr, TempDir};

const SCHEMA: &str = r#"[abi]
name = "mu"
version = 1

[abi.c]
header = "linux/kho/abi/mut.h"
compatible_macro = "MUT_COMPATIBLE"

[[abi.compatible]]
macro = "MUT_DEV_COMPATIBLE"
name = "mu-dev"
version = 1
structs = ["dev", "devs"]

[constants]
SLOTS = { expr = "PAGE_SIZE / 512" }

[[struct]]
name = "folio"
fields = [
    { name = "pfn", type = "u64", bits = 52 },
    { name = "flags", type = "u64", bits = 12 },
    { name = "index", type = "u64" },
]

[[struct]]
name = "vm"
packed = false
align = 16
fields = [
    { name = "first", type = "khoser_ptr<folio>" },
    { name = "total", type = "unsigned int" },
]

[[struct]]
name = "addr"
union = true
packed = false
fields = [
    { name = "phys", type = "u64" },
    { name = "lo", type = "u32" },
]

[[struct]]
name = "dev"
fields = [
    { name = "domain", type = "u32" },
    { name = "bdf", type = "u16" },
    { name = "refcount", type = "u16" },
]

[[struct]]
name = "devs"
fields = [
    { name = "nr", type = "u32" },
    { name = "pad", type = "u32" },
    { name = "devices", type = "dev[]", count = "nr" },
]

[[struct]]
name = "table"
fields = [{ name = "slots", type = "u64[SLOTS]" }]
"#;

const MAIN_BUMP: (&str, &str) = (
    "name = \"mu\"\nversion = 1\n",
    "name = \"mu\"\nversion = 2\n",
);
const DEV_BUMP: (&str, &str) = (
    "name = \"mu-dev\"\nversion = 1\n",
    "name = \"mu-dev\"\nversion = 2\n",
);

/// `text` with the one occurrence of `from` replaced.
fn once(text: &str, (from, to): (&str, &str)) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} is not in the schema once"
    );
    text.replacen(from, to, 1)
}

/// A generated, checked repository holding `schema`.
fn repo(tag: &str, schema: &str) -> TempDir {
    let t = TempDir::with_empty_schemas(tag);
    std::fs::write(t.schemas().join("mut.toml"), schema).unwrap();
    for cmd in ["generate", "check"] {
        let out = on(t.path(), cmd);
        assert_eq!(
            out.status.code(),
            Some(0),
            "baseline {cmd}: {}",
            stderr(&out)
        );
    }
    t
}

fn write_schema(root: &Path, schema: &str) {
    std::fs::write(root.join("schemas/mut.toml"), schema).unwrap();
}

/// A change of the layout: refused without the bump, naming each of
/// `needles` (the field, the macro); accepted with `bump` (and still
/// refused with `wrong_bump`, the other macro's).
fn breaking(
    tag: &str,
    change: (&str, &str),
    needles: &[&str],
    bump: (&str, &str),
    wrong_bump: (&str, &str),
) {
    let t = repo(tag, SCHEMA);
    let changed = once(SCHEMA, change);
    write_schema(t.path(), &changed);
    let lock = std::fs::read(t.schemas().join("abi.lock")).unwrap();
    for cmd in ["check", "generate"] {
        let out = on(t.path(), cmd);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{tag}: {cmd} passed: {err}");
        for n in needles.iter().chain(&["mut.toml:"]) {
            assert!(err.contains(n), "{tag}: {cmd} does not name {n:?}:\n{err}");
        }
    }
    assert_eq!(
        std::fs::read(t.schemas().join("abi.lock")).unwrap(),
        lock,
        "{tag}: a refused generate changed the lock"
    );

    // The other macro's bump does not cover the change.
    write_schema(t.path(), &once(&changed, wrong_bump));
    let out = on(t.path(), "generate");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{tag}: bumping the wrong macro was accepted: {}",
        stderr(&out)
    );

    write_schema(t.path(), &once(&changed, bump));
    for cmd in ["generate", "check"] {
        let out = on(t.path(), cmd);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{tag}: {cmd} with the bump: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_bit_width_changed() {
    breaking(
        "bits",
        (
            "{ name = \"pfn\", type = \"u64\", bits = 52 },",
            "{ name = \"pfn\", type = \"u64\", bits = 51 },",
        ),
        &["folio.pfn", "MUT_COMPATIBLE"],
        MAIN_BUMP,
        DEV_BUMP,
    );
}

#[test]
fn an_alignment_changed() {
    breaking(
        "align",
        ("align = 16\n", "align = 32\n"),
        &["vm", "MUT_COMPATIBLE"],
        MAIN_BUMP,
        DEV_BUMP,
    );
}

#[test]
fn a_union_member_changed() {
    breaking(
        "union",
        (
            "{ name = \"lo\", type = \"u32\" },",
            "{ name = \"lo\", type = \"u16[3]\" },",
        ),
        &["addr.lo", "MUT_COMPATIBLE"],
        MAIN_BUMP,
        DEV_BUMP,
    );
}

#[test]
fn a_flexible_arrays_element_changed() {
    // Within the ABI the change is named where it is: the element's struct.
    breaking(
        "flex",
        (
            "{ name = \"refcount\", type = \"u16\" },",
            "{ name = \"refcount\", type = \"u32\" },",
        ),
        &["dev.refcount", "MUT_DEV_COMPATIBLE"],
        DEV_BUMP,
        MAIN_BUMP,
    );
}

/// pci.h's shape: the flexible array's element is another ABI's struct,
/// and the ABI holding it keeps its own string (`compose = "none"`).
#[test]
fn a_flexible_arrays_element_of_another_abi_changed() {
    const DEV: &str = "[abi]\nname = \"pcidev\"\nversion = 1\n[abi.c]\nheader = \"linux/kho/abi/pcidev.h\"\n\
        [[struct]]\nname = \"pci_dev_ser\"\nfields = [\n    { name = \"domain\", type = \"u32\" },\n    \
        { name = \"bdf\", type = \"u16\" },\n    { name = \"refcount\", type = \"u16\" },\n]\n";
    const PCI: &str = "[abi]\nname = \"pci\"\nversion = 1\ndepends = [\"pcidev\"]\ncompose = \"none\"\n\
        [abi.c]\nheader = \"linux/kho/abi/pci.h\"\ncompatible_macro = \"PCI_LUO_FLB_COMPATIBLE\"\n\
        [[struct]]\nname = \"pci_ser\"\nfields = [\n    { name = \"max_nr_devices\", type = \"u32\" },\n    \
        { name = \"nr_devices\", type = \"u32\" },\n    \
        { name = \"devices\", type = \"pci_dev_ser[]\", count = \"nr_devices\" },\n]\n";
    let t = TempDir::with_empty_schemas("flexdep");
    std::fs::write(t.schemas().join("pcidev.toml"), DEV).unwrap();
    std::fs::write(t.schemas().join("pci.toml"), PCI).unwrap();
    for cmd in ["generate", "check"] {
        let out = on(t.path(), cmd);
        assert_eq!(
            out.status.code(),
            Some(0),
            "baseline {cmd}: {}",
            stderr(&out)
        );
    }
    let changed = once(
        DEV,
        (
            "{ name = \"refcount\", type = \"u16\" }",
            "{ name = \"refcount\", type = \"u32\" }",
        ),
    );
    std::fs::write(t.schemas().join("pcidev.toml"), &changed).unwrap();
    let out = on(t.path(), "check");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for n in [
        "pci_ser.devices[].refcount",
        "PCI_LUO_FLB_COMPATIBLE",
        "pci.toml:",
    ] {
        assert!(err.contains(n), "check does not name {n:?}:\n{err}");
    }
    // Both bumps: the element's ABI and, as it does not compose, pci.
    std::fs::write(
        t.schemas().join("pcidev.toml"),
        once(&changed, ("version = 1", "version = 2")),
    )
    .unwrap();
    let out = on(t.path(), "check");
    assert_eq!(
        out.status.code(),
        Some(1),
        "pci's own bump is missing: {}",
        stderr(&out)
    );
    std::fs::write(
        t.schemas().join("pci.toml"),
        once(PCI, ("version = 1", "version = 2")),
    )
    .unwrap();
    for cmd in ["generate", "check"] {
        let out = on(t.path(), cmd);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{cmd} with both bumps: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_expressions_value_changed() {
    breaking(
        "expr",
        ("PAGE_SIZE / 512", "PAGE_SIZE / 256"),
        // The constant is what changed, at each page size, and the field
        // whose length it gives.
        &[
            "SLOTS",
            "4096:16",
            "65536:256",
            "table.slots",
            "MUT_COMPATIBLE",
        ],
        MAIN_BUMP,
        DEV_BUMP,
    );
}

#[test]
fn a_draft_changes_without_a_bump() {
    let draft = once(
        SCHEMA,
        (
            "version = 1\n\n[abi.c]",
            "version = 1\ndraft = true\n\n[abi.c]",
        ),
    );
    let t = repo("draft", &draft);
    let changed = once(
        &draft,
        (
            "{ name = \"pfn\", type = \"u64\", bits = 52 },",
            "{ name = \"pfn\", type = \"u64\", bits = 40 },",
        ),
    );
    write_schema(t.path(), &changed);
    for cmd in ["generate", "check"] {
        let out = on(t.path(), cmd);
        assert_eq!(out.status.code(), Some(0), "draft {cmd}: {}", stderr(&out));
    }
    // Released (the key removed), the next change needs a bump again.
    let released = once(&changed, ("draft = true\n", ""));
    write_schema(t.path(), &released);
    let out = on(t.path(), "generate");
    assert_eq!(out.status.code(), Some(0), "release: {}", stderr(&out));
    write_schema(
        t.path(),
        &once(
            &released,
            (
                "{ name = \"pfn\", type = \"u64\", bits = 40 },",
                "{ name = \"pfn\", type = \"u64\", bits = 41 },",
            ),
        ),
    );
    let out = on(t.path(), "check");
    assert_eq!(
        out.status.code(),
        Some(1),
        "released, then changed: {}",
        stderr(&out)
    );
}

#[test]
fn adding_a_constant_needs_no_bump() {
    let t = repo("addconst", SCHEMA);
    write_schema(
        t.path(),
        &once(
            SCHEMA,
            (
                "[constants]\n",
                "[constants]\nMUT_FLAG = { expr = \"BIT(3)\" }\n",
            ),
        ),
    );
    for cmd in ["generate", "check"] {
        let out = on(t.path(), cmd);
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", stderr(&out));
    }
}

#[test]
fn release_makes_a_draft_need_bumps() {
    let draft = once(
        SCHEMA,
        (
            "version = 1\n\n[abi.c]",
            "version = 1\ndraft = true\n\n[abi.c]",
        ),
    );
    let t = repo("release", &draft);
    let lock = || std::fs::read_to_string(t.schemas().join("abi.lock")).unwrap();
    assert!(lock().contains("draft = true"), "{}", lock());

    let out = on(t.path(), "release");
    assert_eq!(
        out.status.code(),
        Some(2),
        "NAME is required: {}",
        stderr(&out)
    );
    let out = common::kho_abi(&["release", "nope", "--root", t.arg()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "no schema declares ABI `nope`\n");

    let out = common::kho_abi(&["release", "mu", "--root", t.arg()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("kho-abi: released mu: "),
        "{}",
        stderr(&out)
    );
    let schema = std::fs::read_to_string(t.schemas().join("mut.toml")).unwrap();
    assert_eq!(schema, SCHEMA, "only the draft line goes");
    assert!(!lock().contains("draft = true"), "{}", lock());
    let out = on(t.path(), "check");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Released: a second release is refused, and a change needs a bump.
    let before = lock();
    let out = common::kho_abi(&["release", "mu", "--root", t.arg()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a draft"), "{}", stderr(&out));
    assert_eq!(lock(), before);
    write_schema(
        t.path(),
        &once(
            SCHEMA,
            (
                "{ name = \"pfn\", type = \"u64\", bits = 52 },",
                "{ name = \"pfn\", type = \"u64\", bits = 50 },",
            ),
        ),
    );
    let out = on(t.path(), "check");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("folio.pfn"), "{}", stderr(&out));
}
