//! The integration tests stay in a few test binaries: every file directly in a crate's `tests/`
//! is a binary of its own, which links the whole crate and its dependencies again (the function's
//! AWS SDK and kube), so the tests live in folders, one binary each (`tests/<group>/main.rs`),
//! every file a module of one.

use std::fs;

use landfall_e2e::repo_root;

#[test]
fn no_crate_has_an_integration_test_file_of_its_own() {
    let mut strays = Vec::new();
    for krate in ["bootstrap", "function", "tests"] {
        let dir = repo_root().join(krate).join("tests");
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                strays.push(path);
            }
        }
    }
    assert!(
        strays.is_empty(),
        "put these tests into a folder of tests/ as modules of its main.rs, not a test binary \
         each: {strays:?}"
    );
}
