//! `landfall locks` as an operator runs it, on the embedded store chosen by the same variables as
//! the function. (The listing and release logic is tested on both stores in
//! `function/tests/store_ops.rs`.)

use std::path::Path;
use std::process::{Command, Output};

fn landfall(data_dir: &Path, store: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_landfall"))
        .args(args)
        .env("LANDFALL_STORE", store)
        .env("LANDFALL_DATA_DIR", data_dir)
        .env_remove("AWS_LAMBDA_FUNCTION_NAME")
        .output()
        .expect("landfall runs")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "landfall failed: {out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn an_empty_store_lists_no_locks_as_text_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let text = stdout(&landfall(dir.path(), "embedded", &["locks", "list"]));
    assert_eq!(text, "no locks\n");
    let json = stdout(&landfall(
        dir.path(),
        "embedded",
        &["locks", "list", "--repo", "acme/infra", "--json"],
    ));
    assert_eq!(json.trim(), "[]");
    assert!(
        dir.path().join("landfall.redb").is_file(),
        "the store lives in LANDFALL_DATA_DIR"
    );
}

#[test]
fn releasing_what_nobody_holds_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let text = stdout(&landfall(
        dir.path(),
        "embedded",
        &["locks", "release", "--repo", "acme/infra", "--pr", "7"],
    ));
    assert_eq!(
        text,
        "PR #7 of acme/infra holds no locks; nothing released\n"
    );
    let text = stdout(&landfall(
        dir.path(),
        "embedded",
        &[
            "locks",
            "release",
            "--repo",
            "acme/infra",
            "--project",
            "prod",
        ],
    ));
    assert_eq!(
        text,
        "no lock of acme/infra matches project \"prod\"; nothing released\n"
    );
}

#[test]
fn release_needs_a_pr_or_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let out = landfall(
        dir.path(),
        "embedded",
        &["locks", "release", "--repo", "acme/infra"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--pr"), "{err}");
}

#[test]
fn a_wrong_store_setting_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = landfall(dir.path(), "redis", &["locks", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`dynamodb` or `embedded`"), "{err}");
    let out = landfall(dir.path(), "dynamodb", &["locks", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LANDFALL_TABLE"), "{err}");
}

#[test]
fn help_names_the_variables_that_choose_the_store() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["list", "release"] {
        let help = stdout(&landfall(
            dir.path(),
            "embedded",
            &["locks", command, "--help"],
        ));
        for needle in [
            "LANDFALL_STORE",
            "LANDFALL_TABLE",
            "LANDFALL_DATA_DIR",
            "--repo",
        ] {
            assert!(help.contains(needle), "{needle} missing from:\n{help}");
        }
    }
}

#[test]
fn the_apply_lock_is_set_once_shown_and_cleared_by_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| landfall(dir.path(), "embedded", args);
    let set = stdout(&run(&[
        "apply-lock",
        "set",
        "--by",
        "ops-alice",
        "--reason",
        "change freeze",
    ]));
    assert!(
        set.starts_with("apply lock set by ops-alice since ") && set.contains(": change freeze"),
        "{set}"
    );
    // A second operator is told who holds it, with a failing exit, and changes nothing.
    let again = run(&["apply-lock", "set", "--by", "ops-bob"]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already set by ops-alice"));
    let shown: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["apply-lock", "show", "--json"]))).unwrap();
    assert_eq!(shown["by"], "ops-alice");
    assert_eq!(shown["reason"], "change freeze");
    let cleared = stdout(&run(&["apply-lock", "clear"]));
    assert!(
        cleared.starts_with("cleared the apply lock set by ops-alice"),
        "{cleared}"
    );
    assert_eq!(
        stdout(&run(&["apply-lock", "show"])),
        "no apply lock is set: applies run\n"
    );
    assert_eq!(
        stdout(&run(&["apply-lock", "show", "--json"])).trim(),
        "null"
    );
}

/// `landfall drift` lists what the drift checks found: drifted and failed projects by default,
/// every checked one with `--all`, as text or JSON; exit status 2 while something drifts.
#[test]
fn drift_lists_the_drifted_projects_and_exits_2_while_something_drifts() {
    use landfall_function::store::{DriftRecord, DriftState, Drifts as _, EmbeddedStore, LockKey};

    let dir = tempfile::tempdir().unwrap();
    let out = landfall(dir.path(), "embedded", &["drift"]);
    assert_eq!(stdout(&out), "no drift\n");
    {
        let store = EmbeddedStore::open_dir(dir.path()).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        for (dir, state) in [("net", DriftState::Drifted), ("dns", DriftState::InSync)] {
            let mut record = DriftRecord::new(LockKey::new("acme/infra", dir, "default"));
            record.state = state;
            record.last_checked = 1_777_636_800;
            record.first_seen = (state == DriftState::Drifted).then_some(1_777_600_000);
            record.checked_sha = "c".repeat(40);
            "Plan: 0 to add, 1 to change, 0 to destroy.".clone_into(&mut record.summary);
            record.addresses = vec!["aws_s3_bucket.logs".to_owned()];
            runtime.block_on(store.put_drift(&record)).unwrap();
        }
    }
    let out = landfall(dir.path(), "embedded", &["drift"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("REPO"), "{text}");
    assert!(text.contains("acme/infra  net"), "{text}");
    assert!(text.contains("cccccccc"), "{text}");
    assert!(!text.contains("dns"), "{text}");
    let out = landfall(dir.path(), "embedded", &["drift", "--all", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert_eq!(rows[1]["project"], "net");
    assert_eq!(rows[1]["state"], "drifted");
    assert_eq!(rows[1]["addresses"][0], "aws_s3_bucket.logs");
    assert_eq!(rows[1]["since"], "2026-05-01T01:46:40Z");
    let out = landfall(dir.path(), "embedded", &["drift", "--repo", "acme/other"]);
    assert_eq!(stdout(&out), "no drift\n");
    // An error is 1, never the 2 of "drifted" (as `terraform plan -detailed-exitcode`).
    let out = landfall(dir.path(), "postgres", &["drift"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("LANDFALL_STORE"),
        "{out:?}"
    );
}

/// Without `LANDFALL_STORE`, the commands that read or change the function's store refuse: the
/// function's default outside Lambda, an embedded store here, is not the deployed platform's,
/// and a change freeze set there would hold nothing.
#[test]
fn without_a_named_store_nothing_is_read_or_changed() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["apply-lock", "set", "--reason", "change freeze"][..],
        &["locks", "list"],
        &["drift"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_landfall"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("LANDFALL_STORE")
            .env_remove("LANDFALL_DATA_DIR")
            .output()
            .expect("landfall runs");
        // A failure; `drift`'s is 1, never its "drifted" 2.
        let code = out.status.code();
        assert!(code.is_some_and(|c| c != 0), "{args:?}: {out:?}");
        if args[0] == "drift" {
            assert_eq!(code, Some(1), "{out:?}");
        }
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("LANDFALL_STORE is not set"),
            "{args:?}: {said}"
        );
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{args:?} wrote a store here"
        );
    }
}
