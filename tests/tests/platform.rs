//! The rendered platform against the real tools: `terraform fmt`, the provider-schema checker,
//! checkov, kubernetes-validate, the Argo CD CRD schemas, and a real `terraform` storing state
//! in a real (moto) S3 bucket through the rendered backend blocks.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use landfall::config::Config;
use landfall::render::Renderer;
use landfall_e2e::{MotoServer, repo_root, shared_dir, terraform, tool};

/// The example platform and a config with every setting, rendered into a temporary folder.
fn rendered(name: &str) -> (tempfile::TempDir, Config) {
    let text = match name {
        "example" => landfall::commands::demo::example_config().unwrap(),
        "full" => {
            fs::read_to_string(repo_root().join("bootstrap/tests/fixtures/full.toml")).unwrap()
        }
        other => panic!("no config {other}"),
    };
    let config = Config::parse(&text, Path::new("landfall.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tree = Renderer::new().render(&config).unwrap();
    let changes = landfall::output::plan(dir.path(), &tree).unwrap();
    landfall::output::apply(dir.path(), &changes).unwrap();
    (dir, config)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path, extension));
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn rendered_terraform_is_formatted_as_terraform_fmt_writes_it() {
    for name in ["example", "full"] {
        let (dir, _) = rendered(name);
        let out =
            run(terraform(dir.path()).args(["fmt", "-check", "-recursive", "-diff", "terraform"]));
        assert!(
            out.status.success(),
            "{name}: terraform fmt -check failed:\n{}",
            text(&out)
        );
    }
}

fn schema_check(dir: &Path) -> Output {
    run(Command::new(tool("tf-schema-check")).arg(dir))
}

#[test]
fn rendered_terraform_matches_the_real_provider_schemas_and_module_inputs() {
    for name in ["example", "full"] {
        let (dir, _) = rendered(name);
        let out = schema_check(&dir.path().join("terraform"));
        assert!(
            out.status.success(),
            "{name}: tf-schema-check found problems:\n{}",
            text(&out)
        );
        assert!(text(&out).contains(", 0 findings"), "{}", text(&out));
    }
    // The checker does look: a misspelt argument and a v20 module input are both reported.
    let (dir, _) = rendered("example");
    let main = dir.path().join("terraform/bootstrap/main.tf");
    let tf = fs::read_to_string(&main)
        .unwrap()
        .replace("  hash_key ", "  force_destory = true\n  hash_key ");
    fs::write(&main, tf).unwrap();
    let cluster = dir.path().join("terraform/platform/cluster.tf");
    let tf = fs::read_to_string(&cluster)
        .unwrap()
        .replace("kubernetes_version =", "cluster_version =");
    fs::write(&cluster, tf).unwrap();
    let out = schema_check(&dir.path().join("terraform"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("unsupported argument \"force_destory\""),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("has no input \"cluster_version\""),
        "{}",
        text(&out)
    );
}

#[test]
fn checkov_fails_nothing_except_checks_skipped_with_a_reason() {
    for name in ["example", "full"] {
        let (dir, _) = rendered(name);
        let out = run(Command::new(tool("checkov"))
            .args([
                "--framework",
                "terraform",
                "--skip-download",
                "--output",
                "json",
                "-d",
            ])
            .arg(dir.path().join("terraform")));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("checkov printed no JSON ({e}):\n{}", text(&out)));
        let summary = &report["summary"];
        assert!(
            summary["passed"].as_u64().unwrap() > 100,
            "{name}: {summary}"
        );
        assert_eq!(
            summary["failed"],
            0,
            "{name}: {}",
            serde_json::to_string_pretty(&report["results"]["failed_checks"]).unwrap()
        );
        for skipped in report["results"]["skipped_checks"].as_array().unwrap() {
            let reason = skipped["check_result"]["suppress_comment"]
                .as_str()
                .unwrap_or_default();
            assert!(
                reason.len() > 20,
                "{name}: {} is skipped without a reason",
                skipped["check_id"]
            );
        }
    }
}

#[test]
fn rendered_kubernetes_objects_pass_strict_schema_validation() {
    let (dir, _) = rendered("full");
    let runner = files(&dir.path().join("manifests/landfall-runner"), "yaml");
    assert_eq!(runner.len(), 5, "{runner:?}");
    let out = run(Command::new(tool("kubernetes-validate"))
        .arg("--strict")
        .args(&runner));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).matches(" passed for resource ").count(),
        5,
        "{}",
        text(&out)
    );

    // Strict means strict: an unknown field fails.
    let limits = dir.path().join("manifests/landfall-runner/limitrange.yaml");
    fs::write(
        &limits,
        fs::read_to_string(&limits)
            .unwrap()
            .replace("spec:\n", "spec:\n  bogus: 1\n"),
    )
    .unwrap();
    let out = run(Command::new(tool("kubernetes-validate"))
        .arg("--strict")
        .arg(&limits));
    assert!(!out.status.success(), "{}", text(&out));
}

fn validate_argocd(paths: &[PathBuf]) -> Output {
    run(Command::new(repo_root().join(".tools/venv/bin/python"))
        .arg(repo_root().join("scripts/validate-argocd"))
        .arg(shared_dir().join("argocd-crds"))
        .args(paths))
}

#[test]
fn rendered_applications_validate_against_the_argo_cd_crds() {
    for name in ["example", "full"] {
        let (dir, config) = rendered(name);
        let mut apps = files(&dir.path().join("manifests/apps"), "yaml");
        assert_eq!(
            apps.len(),
            config.apps.len() + 1,
            "one per app plus the runner app"
        );
        apps.push(dir.path().join("manifests/root-app.yaml"));
        let out = validate_argocd(&apps);
        assert!(out.status.success(), "{name}:\n{}", text(&out));
        assert!(
            text(&out).contains(&format!(
                "{} Argo CD objects checked, 0 problems",
                apps.len()
            )),
            "{}",
            text(&out)
        );
    }
    let (dir, _) = rendered("example");
    let root = dir.path().join("manifests/root-app.yaml");
    fs::write(
        &root,
        fs::read_to_string(&root).unwrap().replace(
            "  project: default\n",
            "  project: default\n  syncPolice: {}\n",
        ),
    )
    .unwrap();
    let out = validate_argocd(&[root]);
    assert!(
        !out.status.success() && text(&out).contains("'syncPolice' was unexpected"),
        "{}",
        text(&out)
    );
}

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
