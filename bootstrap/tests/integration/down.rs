//! `landfall down`: a typed confirmation, then the hook removed and the platform destroyed,
//! the state backend kept; a destroy that cannot start touches nothing.

use std::fs;

use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::up::{Fixture, NAME, state_object, text};

#[test]
fn down_needs_the_platform_name_and_keeps_the_state_backend() {
    let f = Fixture::new();
    f.fake_github();
    let _ = f.up(&[]);
    let out = down(&f, "wrong");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("nothing was destroyed"),
        "{}",
        text(&out)
    );
    // The function's table, protected from deletion as the platform stage creates it.
    f.helper(&["protected-table", "t1-landfall"]);
    // A destroy that cannot start (no function package here) leaves the hook as it was.
    let package = f.path("terraform/platform/landfall-function.zip");
    let aside = f.path("landfall-function.zip.aside");
    fs::rename(&package, &aside).unwrap();
    let out = down(&f, NAME);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(f.requests("DELETE").is_empty(), "{}", text(&out));
    assert_eq!(f.helper_says(&["table-protected", "t1-landfall"]), "true");
    fs::rename(&aside, &package).unwrap();
    // The host refuses the hook's deletion once: nothing is destroyed, and the table is
    // protected again.
    f.mount(
        Mock::given(method("DELETE"))
            .and(path("/api/v3/repos/acme/infra/hooks/7"))
            .respond_with(ResponseTemplate::new(403).set_body_string("no"))
            .up_to_n_times(1)
            .with_priority(1),
    );
    let out = down(&f, NAME);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("nothing was destroyed"),
        "{}",
        text(&out)
    );
    assert_eq!(f.helper_says(&["table-protected", "t1-landfall"]), "true");
    let said = f.landfall_ok(&[
        "down",
        "--confirm",
        NAME,
        "--backend-config",
        "moto.tfbackend",
    ]);
    assert!(said.contains("state backend"), "{said}");
    assert!(said.contains("removed the github hook 7"), "{said}");
    assert_eq!(
        f.helper_says(&["table-protected", "t1-landfall"]),
        "false",
        "down lifts the table's deletion protection, or its destroy would fail"
    );
    assert_eq!(
        f.requests("DELETE").len(),
        2,
        "the hook up registered is deleted (the second time), with the token from Secrets Manager"
    );
    let platform: serde_json::Value =
        serde_json::from_slice(&state_object(&f, "platform/terraform.tfstate").unwrap()).unwrap();
    assert_eq!(
        platform["resources"].as_array().map(Vec::len),
        Some(0),
        "the platform is destroyed"
    );
    assert!(
        state_object(&f, "bootstrap/terraform.tfstate").is_some(),
        "the state backend stays"
    );
}

/// `landfall down --confirm <confirm>` against the test's moto.
fn down(f: &Fixture, confirm: &str) -> std::process::Output {
    f.landfall(&[
        "down",
        "--confirm",
        confirm,
        "--backend-config",
        "moto.tfbackend",
    ])
}
