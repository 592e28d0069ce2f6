//! The schema compiler on the shipped schemas and on broken ones.

use kho_schema::{compile, Source};

mod common;
use common::{errors, shipped, HEAD};

#[test]
fn luo_matches_the_published_layout() {
    let abis = shipped();
    let luo = abis.iter().find(|a| a.name == "luo").unwrap();
    assert_eq!(luo.compatible, "luo-v4-kho-block-v1");
    // Sizes and offsets from abi-facts/luo.md.
    let expect = [
        (
            "luo_feature_hdr",
            128,
            vec![("supp", 0), ("req", 8), ("active", 16), ("reserved", 24)],
        ),
        (
            "luo_ser",
            152,
            vec![
                ("features", 0),
                ("liveupdate_num", 128),
                ("sessions_pa", 136),
                ("flbs_pa", 144),
            ],
        ),
        (
            "luo_file_ser",
            64,
            vec![("name", 0), ("data", 48), ("token", 56)],
        ),
        ("luo_file_set_ser", 16, vec![("files", 0), ("count", 8)]),
        (
            "luo_session_ser",
            80,
            vec![("name", 0), ("file_set_ser", 64)],
        ),
        ("luo_flb_header_ser", 16, vec![("pgcnt", 0), ("count", 8)]),
        (
            "luo_flb_ser",
            64,
            vec![("name", 0), ("data", 48), ("count", 56)],
        ),
        ("liveupdate_ver_hdr", 8, vec![("magic", 0), ("version", 4)]),
        (
            "liveupdate_feature_entry",
            80,
            vec![
                ("name", 0),
                ("feat_bytes", 48),
                ("reserved", 52),
                ("supp", 56),
                ("req", 64),
                ("active", 72),
            ],
        ),
    ];
    assert_eq!(luo.structs().len(), expect.len());
    for (name, size, fields) in expect {
        let (s, _) = luo.find(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(s.size, size, "{name}");
        let got: Vec<_> = s
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.offset))
            .collect();
        assert_eq!(got, fields, "{name}");
    }
    let entries: Vec<_> = luo
        .items()
        .filter(|(_, n)| n.entry)
        .map(|(s, _)| s.name.as_str())
        .collect();
    assert_eq!(entries, ["luo_file_ser", "luo_session_ser"]);
    let block = abis.iter().find(|a| a.name == "kho-block").unwrap();
    assert_eq!(block.compatible, "kho-block-v1");
    assert_eq!(
        block.find("kho_block_header_ser").map(|(s, _)| s.size),
        Some(16)
    );
}

#[test]
fn errors_name_file_line_column_and_field() {
    let text = format!(
        "{HEAD}\n[[struct]]\nname = \"s\"\nentry = true\nfields = [\n  {{ name = \"a\", type = \"u65\" }},\n  \
         {{ name = \"b\", type = \"u8[NOPE]\" }},\n  {{ name = \"a\", type = \"u8\" }},\n]\n"
    );
    let e = errors(&[("t.toml", &text)]);
    assert!(e.contains("t.toml:9:24: s.a: unknown type `u65`"), "{e}");
    assert!(
        e.contains("t.toml:10:28: s.b: unknown constant `NOPE` in type `u8[NOPE]`"),
        "{e}"
    );
    assert!(e.contains("t.toml:11:12: s.a: duplicate field"), "{e}");
    assert_eq!(e.lines().count(), 3, "{e}");
}

#[test]
fn recursive_struct_is_an_error() {
    let text = format!(
        "{HEAD}[[struct]]\nname = \"a\"\nfields = [{{ name = \"b\", type = \"b\" }}]\n\
         [[struct]]\nname = \"b\"\nfields = [{{ name = \"a\", type = \"a[2]\" }}]\n"
    );
    let e = errors(&[("r.toml", &text)]);
    assert!(e.contains("recursive struct: a -> b -> a"), "{e}");
}

#[test]
fn entry_too_large_for_a_block() {
    let text = format!("{HEAD}[[struct]]\nname = \"big\"\nentry = true\nfields = [{{ name = \"x\", type = \"u8[4081]\" }}]\n");
    let e = errors(&[("b.toml", &text)]);
    assert!(
        e.contains("b.toml:5:8: entry big is 4081 bytes: a block holds at most 4080"),
        "{e}"
    );
    // Not an entry: allowed.
    let ok = text.replace("entry = true\n", "");
    assert!(compile(&[Source::new("b.toml", ok)]).is_ok());
}

#[test]
fn malformed_names_and_versions() {
    let e = errors(&[("m.toml", "[abi]\nname = \"Luo_v4\"\nversion = 0\n")]);
    assert!(
        e.contains("m.toml:2:8: malformed ABI name \"Luo_v4\""),
        "{e}"
    );
    assert!(e.contains("m.toml:3:11: version starts at 1"), "{e}");
    let e = errors(&[("v.toml", "[abi]\nname = \"luo-v4\"\nversion = 4\n")]);
    assert!(e.contains("malformed ABI name"), "{e}");
}

#[test]
fn unknown_keys_and_wrong_types() {
    let e = errors(&[("k.toml", "[abi]\nname = \"k\"\nversoin = 1\n")]);
    assert!(
        e.contains("k.toml:3:1: unknown key `versoin` in [abi]"),
        "{e}"
    );
    assert!(e.contains("missing `version`"), "{e}");
    let e = errors(&[("s.toml", "[abi]\nname = \"k\"\nversion = \"1\"\n")]);
    assert!(
        e.contains("s.toml:3:11: `version` must be a non-negative integer"),
        "{e}"
    );
    let e = errors(&[(
        "x.toml",
        "[abi]\nname = \"k\"\nversion = 1\n[[struct]]\nname = \"s\"\nfields = []\n",
    )]);
    assert!(e.contains("struct s has no fields"), "{e}");
}

#[test]
fn toml_syntax_errors_have_a_place() {
    let e = errors(&[("bad.toml", "[abi]\nname = \"k\nversion = 1\n")]);
    assert!(e.starts_with("bad.toml:2:"), "{e}");
}

#[test]
fn composition_append_and_sorted() {
    let base = ("b.toml", "[abi]\nname = \"block\"\nversion = 1\n");
    let other = ("a.toml", "[abi]\nname = \"alpha\"\nversion = 2\n");
    let app = (
        "l.toml",
        "[abi]\nname = \"luo\"\nversion = 5\ndepends = [\"block\", \"alpha\"]\n",
    );
    let abis = compile(&[
        Source::new(base.0, base.1),
        Source::new(other.0, other.1),
        Source::new(app.0, app.1),
    ])
    .unwrap();
    assert_eq!(abis[2].compatible, "luo-v5-block-v1-alpha-v2");
    let sorted = app
        .1
        .replace("version = 5\n", "version = 5\ncompose = \"sorted\"\n");
    let abis = compile(&[
        Source::new(base.0, base.1),
        Source::new(other.0, other.1),
        Source::new(app.0, sorted.clone()),
    ])
    .unwrap();
    assert_eq!(abis[2].compatible, "luo-v5;alpha-v2;block-v1");
    let long = sorted.replace(
        "\"luo\"",
        "\"a-very-long-name-for-an-abi-that-will-not-fit\"",
    );
    let e = errors(&[base, other, ("l.toml", &long)]);
    assert!(e.contains("the limit is 47"), "{e}");
    let e = errors(&[("l.toml", app.1)]);
    assert!(e.contains("unknown dependency `block`"), "{e}");
}

#[test]
fn same_canonical_text_as_the_derive() {
    // The schema compiler and the derive share kho_layout: a struct with the
    // same fields has the same fingerprint whichever way it was declared.
    let abis = shipped();
    let block = abis.iter().find(|a| a.name == "kho-block").unwrap();
    let text =
        kho_layout::canonical_text_in(block.find("kho_block_header_ser").unwrap().0, block.set())
            .unwrap();
    assert_eq!(text, "struct kho_block_header_ser size 16\n  next u64 offset 0 size 8\n  count u64 offset 8 size 8\n");
}

#[test]
fn names_that_cannot_be_generated_are_schema_errors() {
    let e = errors(&[("n.toml", "[abi]\nname = \"n\"\nversion = 1\n[constants]\nCOMPATIBLE = 1\n_X = 2\n[[struct]]\nname = \"s\"\nfields = [{ name = \"_\", type = \"u8\" }]\n")]);
    assert!(
        e.contains("n.toml:5:1: constant name COMPATIBLE is taken"),
        "{e}"
    );
    assert!(
        e.contains("n.toml:6:1: malformed constant name \"_X\""),
        "{e}"
    );
    assert!(e.contains("n.toml:9:20: s._: malformed field name"), "{e}");
}
