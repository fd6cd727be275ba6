//! `landfall up` finding a stage not done though something of it is there: a hook whose test
//! delivery the function refused, and a function package of another Landfall version.

use std::fs;

use super::up::{Fixture, IMAGE, text};

/// A hook whose test delivery the function refused (a secret the running functions do not have
/// yet) is not recorded as done (`.landfall-up/webhook.json`, which would make the next run find
/// it "up to date"): `up` says what is left and exits 3, and the next run registers and tests
/// the hook again.
#[test]
fn a_refused_test_delivery_leaves_the_hook_to_the_next_run() {
    let f = Fixture::new();
    f.fake_github_answering_pings(401, "Unauthorized");
    let out = f.up(&[]);
    let first = text(&out);
    assert_eq!(out.status.code(), Some(3), "{first}");
    assert!(first.contains("HTTP 401"), "{first}");
    assert!(first.contains("left to do:"), "{first}");
    assert!(
        !f.path(".landfall-up/webhook.json").exists(),
        "not recorded as registered"
    );
}

/// The function package is noted with the Landfall version it was put there for; one of
/// another version (an upgrade, or a package copied by hand) is not taken for this version's:
/// outside the source and without `--function-package`, the stage is left, saying why.
#[test]
fn a_function_package_of_another_version_is_not_taken_for_this_ones() {
    let f = Fixture::new();
    f.fake_github();
    // Stopped after the package (exit 3: the rest is left to do).
    let out = f.up(&["--until", "package"]);
    assert!(
        text(&out).contains("done  function package"),
        "{}",
        text(&out)
    );
    let noted = f.path("terraform/platform/landfall-function.zip.version");
    assert_eq!(
        fs::read_to_string(&noted).unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    fs::write(&noted, "0.0.1").unwrap();
    let config = f.path("landfall.toml").display().to_string();
    let backend = f.path("moto.tfbackend").display().to_string();
    let mut up = f.command(&[
        "up",
        "--config",
        &config,
        "--backend-config",
        &backend,
        "--runner-image",
        IMAGE,
        "--until",
        "package",
    ]);
    let out = up.current_dir(f.dir.path()).output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains(" left  function package"), "{said}");
    assert!(said.contains("put there by Landfall 0.0.1"), "{said}");
}
