//! The rendered backend blocks against a real `terraform` and a real (moto) S3 bucket: the
//! platform's state kept in the bucket under its key with the lock table, and the bootstrap
//! stage's local state migrated into the bucket as the rendered README says.

use std::fs;
use std::path::{Path, PathBuf};

use landfall::config::Config;
use landfall_e2e::{MotoServer, terraform};

use super::platform::{rendered, run, text};

const STACK: &str = r#"
resource "terraform_data" "network" {
  input = "vpc"
}

resource "terraform_data" "cluster" {
  input = "eks on ${terraform_data.network.output}"
}

output "cluster" {
  value = terraform_data.cluster.output
}
"#;

/// Backend settings that point the rendered `backend "s3"` block at moto. Only the endpoint
/// settings: bucket, key, region, lock file and table come from the rendered file.
fn endpoint_overrides(moto: &MotoServer, dir: &Path) -> PathBuf {
    let rendered_keys = ["bucket", "key", "region", "use_lockfile", "dynamodb_table"];
    let overrides: String = moto
        .backend_config("unused", "unused", "unused")
        .lines()
        .filter(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            !rendered_keys.contains(&key)
        })
        .fold(String::new(), |mut all, line| {
            all.push_str(line);
            all.push('\n');
            all
        });
    let path = dir.join("moto.s3.tfbackend");
    fs::write(&path, overrides).unwrap();
    path
}

fn tf(moto: &MotoServer, dir: &Path, args: &[&str]) -> String {
    let mut cmd = terraform(dir);
    moto.aws_env(&mut cmd);
    let out = run(cmd.args(args));
    assert!(
        out.status.success(),
        "terraform {args:?} failed:\n{}",
        text(&out)
    );
    text(&out)
}

fn lock_table_items(moto: &MotoServer, config: &Config) -> String {
    let table = config.state_lock_table();
    moto.dynamodb_in(
        config.platform.region.get_ref(),
        "Scan",
        &format!(r#"{{"TableName":"{table}"}}"#),
    )
    .unwrap()
}

#[test]
fn the_platform_backend_keeps_state_in_the_bucket_under_its_key_with_the_lock_table() {
    let (rendered_dir, config) = rendered("full");
    let moto = MotoServer::start().unwrap();
    let (bucket, table, key) = (
        config.state_bucket(),
        config.state_lock_table(),
        config.state_key(),
    );
    moto.create_bucket(&bucket).unwrap();
    moto.create_lock_table_in(&table, config.platform.region.get_ref())
        .unwrap();

    let stack = tempfile::tempdir().unwrap();
    fs::copy(
        rendered_dir.path().join("terraform/platform/backend.tf"),
        stack.path().join("backend.tf"),
    )
    .unwrap();
    fs::write(stack.path().join("main.tf"), STACK).unwrap();
    let overrides = endpoint_overrides(&moto, stack.path());
    tf(
        &moto,
        stack.path(),
        &["init", &format!("-backend-config={}", overrides.display())],
    );
    tf(&moto, stack.path(), &["apply", "-auto-approve"]);

    let state = moto
        .get_object(&bucket, &key)
        .unwrap()
        .expect("state is in the bucket under the configured key");
    let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["outputs"]["cluster"]["value"], "eks on vpc");
    assert!(
        !stack.path().join("terraform.tfstate").exists(),
        "no local state"
    );
    let items = lock_table_items(&moto, &config);
    assert!(
        items.contains(&format!("{bucket}/{key}-md5")),
        "the lock table holds the state digest: {items}"
    );
}

#[test]
fn the_bootstrap_stage_migrates_its_local_state_into_the_bucket() {
    let (rendered_dir, config) = rendered("example");
    let moto = MotoServer::start().unwrap();
    let (bucket, table) = (config.state_bucket(), config.state_lock_table());

    // Step 1: the stage applies on local state (here a stand-in stack; the bucket is made by moto).
    let stage = tempfile::tempdir().unwrap();
    fs::write(stage.path().join("main.tf"), STACK).unwrap();
    tf(&moto, stage.path(), &["init"]);
    tf(&moto, stage.path(), &["apply", "-auto-approve"]);
    assert!(stage.path().join("terraform.tfstate").is_file());
    moto.create_bucket(&bucket).unwrap();
    moto.create_lock_table_in(&table, config.platform.region.get_ref())
        .unwrap();

    // Step 2, as the rendered README says: copy backend.tf.example to backend.tf and migrate.
    fs::copy(
        rendered_dir
            .path()
            .join("terraform/bootstrap/backend.tf.example"),
        stage.path().join("backend.tf"),
    )
    .unwrap();
    let overrides = endpoint_overrides(&moto, stage.path());
    tf(
        &moto,
        stage.path(),
        &[
            "init",
            "-migrate-state",
            "-force-copy",
            &format!("-backend-config={}", overrides.display()),
        ],
    );

    let migrated = moto
        .get_object(&bucket, "bootstrap/terraform.tfstate")
        .unwrap()
        .expect("migrated state");
    let migrated: serde_json::Value = serde_json::from_slice(&migrated).unwrap();
    assert_eq!(migrated["outputs"]["cluster"]["value"], "eks on vpc");
    assert!(lock_table_items(&moto, &config).contains("bootstrap/terraform.tfstate-md5"));
    // Nothing to do afterwards: the migrated state is the stage's state.
    let mut cmd = terraform(stage.path());
    moto.aws_env(&mut cmd);
    let plan = run(cmd.args(["plan", "-detailed-exitcode"]));
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}
