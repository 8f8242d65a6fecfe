//! Compile-pass and compile-fail cases of the eventfold macros. Refresh the
//! expected `.stderr` files with `TRYBUILD=overwrite cargo test -p
//! eventfold-ui-tests`, then review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
