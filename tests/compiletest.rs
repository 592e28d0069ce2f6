//! Compile-time checks of `#[derive(KhoEntry)]`: every rejection has a case
//! in tests/ui/fail with its expected compiler output; tests/ui/pass must
//! build and run. Re-bless the .stderr files with `TRYBUILD=overwrite
//! cargo test --test compiletest` after reading the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
