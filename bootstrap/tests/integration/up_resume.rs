//! `landfall up` interrupted where it hurts: Ctrl-C during a Terraform apply, and a run killed
//! inside the state migration after Terraform copied the state. The next run finishes either,
//! and the state is never lost.

use std::fs;
use std::process::Command;

use super::up::{Fixture, assert_complete, state_object, text};

#[test]
fn ctrl_c_stops_terraform_cleanly_and_the_next_run_finishes() {
    let f = Fixture::new();
    f.fake_github();
    let guard = f.path("platform-may-finish");
    f.swap_stages_with("wait-for", &guard.display().to_string());
    let mut cmd = f.command(&[
        "up",
        "--backend-config",
        "moto.tfbackend",
        "--function-package",
        "bootstrap.zip",
        "--runner-image",
        super::up::IMAGE,
    ]);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = f.path(".landfall-up/platform.log");
    let started = std::time::Instant::now();
    while !fs::read_to_string(&log).is_ok_and(|l| l.contains("Provisioning with 'local-exec'")) {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "`landfall up` ended before the platform apply started:\n{}",
                text(&out)
            );
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "the platform apply never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let interrupted_at = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("interrupted"), "{said}");
    assert!(
        interrupted_at.elapsed().as_secs() < 30,
        "Terraform stopped on the forwarded SIGINT"
    );
    let platform_log = fs::read_to_string(&log).unwrap();
    assert!(
        platform_log.contains("Interrupt received"),
        "Terraform got the SIGINT: {platform_log}"
    );
    // Terraform released its state lock: the next run takes it and finishes.
    fs::write(&guard, "").unwrap();
    let out = f.up(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_complete(&f);
}

#[test]
fn a_migration_killed_after_terraform_copied_the_state_is_verified_before_the_local_copy_goes() {
    let f = Fixture::new();
    f.fake_github();
    let out = f.up(&["--until", "backend"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // What a run killed inside the migration leaves: backend.tf written, Terraform done
    // copying (the local file emptied, the state in the backup), nothing verified or removed.
    let stage = f.path("terraform/bootstrap");
    fs::copy(stage.join("backend.tf.example"), stage.join("backend.tf")).unwrap();
    let mut init = landfall_e2e::terraform(&stage);
    init.args([
        "init",
        "-migrate-state",
        "-force-copy",
        &format!("-backend-config={}", f.path("moto.tfbackend").display()),
    ]);
    f.moto.aws_env(&mut init);
    let done = init.output().unwrap();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(fs::read(stage.join("terraform.tfstate")).unwrap().len(), 0);
    assert!(stage.join("terraform.tfstate.backup").is_file());

    let out = f.up(&[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("(verified); local copy removed"), "{said}");
    assert_complete(&f);
}

/// A checkout without the backend stage's `backend.tf` (another operator's clone, or the file
/// deleted) of a platform whose backend state is in the bucket: the next run uses that state.
/// Before, it applied the backend again on empty local state, and the migration copied that
/// state over the bucket's.
#[test]
fn a_checkout_without_backend_tf_uses_the_state_in_the_bucket() {
    let f = Fixture::new();
    f.fake_github();
    let out = f.up(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before: serde_json::Value =
        serde_json::from_slice(&state_object(&f, "bootstrap/terraform.tfstate").unwrap()).unwrap();
    fs::remove_file(f.path("terraform/bootstrap/backend.tf")).unwrap();

    let out = f.up(&[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("   ok  state backend"), "{said}");
    assert!(said.contains("   ok  state migration"), "{said}");
    assert!(f.path("terraform/bootstrap/backend.tf").is_file());
    let after: serde_json::Value =
        serde_json::from_slice(&state_object(&f, "bootstrap/terraform.tfstate").unwrap()).unwrap();
    assert_eq!(
        after["lineage"], before["lineage"],
        "the bucket's state was not replaced"
    );
    assert_eq!(after["resources"], before["resources"]);
    assert_complete(&f);
}
