//! Inputs that made the `schema_parse` fuzz target (fuzz/fuzz_targets/
//! schema_parse.rs) panic, replayed as that target calls the library:
//! `compile`, then `emit::all` on what compiles.
//!
//! A struct name that is a valid lowercase C identifier can still have no
//! Rust type name: `type_name` drops the `_`s and capitalizes the words, so
//! `_` and `__` give "" and `_1`, `_1a` give "1", "1a". The Rust emitter
//! then panics in `format_ident!` (quote's runtime.rs:
//! "Ident is not allowed to be empty", "Ident cannot be a number",
//! "\"1a\" is not a valid Ident") at kho-schema/src/emit/rust.rs, in
//! `struct_tokens` (`format_ident!("{}", type_name(&s.name))`). The same
//! name reaches `ty_tokens` when another struct holds it.
//!
//! What these tests expect: such a name is a schema error, reported at the
//! struct's name like every other malformed name (validate.rs), so nothing
//! reaches the emitter.

use kho_schema::{compile, emit, Source};

/// What the fuzz target does with `text`; the diagnostics if it does not
/// compile.
fn compile_and_emit(text: &str) -> Result<usize, kho_schema::Error> {
    let abis = compile(&[Source::new("fuzz.toml", text)])?;
    Ok(emit::all(&abis).len())
}

/// `text` must be rejected with a diagnostic on `line` that names `name`.
fn rejected_at(text: &str, line: usize, name: &str) {
    match compile_and_emit(text) {
        Ok(files) => {
            panic!("compiled and emitted {files} files; expected an error naming {name:?}")
        }
        Err(d) => assert!(
            d.diagnostics()
                .iter()
                .any(|d| d.line == line && d.message.contains(&format!("{name:?}"))),
            "no diagnostic on line {line} naming {name:?}:\n{d}"
        ),
    }
}

/// The minimized crash input (`cargo fuzz tmin`), byte for byte.
/// Panicked: "Ident is not allowed to be empty; use Option<Ident>".
#[test]
fn struct_named_underscore() {
    let input = b"[abi]\nname =\"a\"\nversion =1\n[[struct]]\nname = \"_\"\nfields = [{name = \"x\",type =\"u8\" }]\n";
    rejected_at(std::str::from_utf8(input).unwrap(), 5, "_");
}

/// Panicked: "Ident is not allowed to be empty; use Option<Ident>".
#[test]
fn struct_named_only_underscores() {
    let input = "[abi]\nname = \"a\"\nversion = 1\n[[struct]]\nname = \"__\"\nfields = [{ name = \"x\", type = \"u8\" }]\n";
    rejected_at(input, 5, "__");
}

/// Panicked: "Ident cannot be a number; use Literal instead".
#[test]
fn struct_named_underscore_digit() {
    let input = "[abi]\nname = \"a\"\nversion = 1\n[[struct]]\nname = \"_1\"\nfields = [{ name = \"x\", type = \"u8\" }]\n";
    rejected_at(input, 5, "_1");
}

/// Panicked: "\"1a\" is not a valid Ident".
#[test]
fn struct_named_underscore_digit_letter() {
    let input = "[abi]\nname = \"a\"\nversion = 1\n[[struct]]\nname = \"_1a\"\nfields = [{ name = \"x\", type = \"u8\" }]\n";
    rejected_at(input, 5, "_1a");
}

/// Struct names are lowercase words joined by single `_`s: those compile;
/// a trailing or doubled `_` is refused too (`a__b` and `a_b` would both be
/// `AB` in Rust).
#[test]
fn underscores_after_a_letter_still_compile() {
    for name in ["a__b", "a_"] {
        let input = format!(
            "[abi]\nname = \"a\"\nversion = 1\n[[struct]]\nname = \"{name}\"\nfields = [{{ name = \"x\", type = \"u8\" }}]\n"
        );
        rejected_at(&input, 5, name);
    }
    for name in ["x_1", "luo_file_ser", "a1_b2"] {
        let input = format!(
            "[abi]\nname = \"a\"\nversion = 1\n[[struct]]\nname = \"{name}\"\nfields = [{{ name = \"x\", type = \"u8\" }}]\n"
        );
        assert_eq!(
            compile_and_emit(&input).map_err(|d| d.to_string()),
            Ok(3),
            "{name}"
        );
    }
}
