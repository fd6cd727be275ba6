//! `landfall up` and `landfall down` end to end: the real binary, the real `terraform` and the
//! real S3 backend against a moto server, and a wiremock GitHub. The AWS provider cannot be
//! installed here, so the two stage folders are swapped for test stages of `terraform_data`
//! whose `local-exec` creates in moto what the real stage would (the versioned bucket and the
//! lock table; the two secrets); the rendered `backend.tf.example` and `backend.tf`, the
//! migration, the ordering, Secrets Manager and the webhook registration are the real code.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use landfall_e2e::{MotoServer, path_with_tools, tools_dir};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const NAME: &str = "t1";
const BUCKET: &str = "t1-tfstate-us-east-1";
const URL: &str = "https://abc.lambda-url.us-east-1.on.aws/";
const TOKEN: &str = "ghp_test_token";
const HOOK_TOKEN: &str = "ghp_hook_admin_token";
/// The runner image the tests name with `--runner-image` (nothing is built).
pub const IMAGE: &str = "registry.example/landfall-runner:test";

const HELPER: &str = r#"
import os, sys, boto3
kind = sys.argv[1]
if kind == "backend":
    s3 = boto3.client("s3")
    try:
        s3.create_bucket(Bucket=sys.argv[2])
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_bucket_versioning(Bucket=sys.argv[2], VersioningConfiguration={"Status": "Enabled"})
    ddb = boto3.client("dynamodb")
    try:
        ddb.create_table(TableName=sys.argv[3], KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    except ddb.exceptions.ResourceInUseException:
        pass
elif kind == "secrets":
    sm = boto3.client("secretsmanager")
    for name in sys.argv[2:]:
        try:
            sm.create_secret(Name=name)
        except sm.exceptions.ResourceExistsException:
            pass
elif kind == "ecr-repository":
    boto3.client("ecr").create_repository(repositoryName=sys.argv[2], imageTagMutability="IMMUTABLE")
elif kind == "protected-table":
    boto3.client("dynamodb").create_table(TableName=sys.argv[2], KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=True)
elif kind == "table-protected":
    table = boto3.client("dynamodb").describe_table(TableName=sys.argv[2])["Table"]
    print(str(table.get("DeletionProtectionEnabled", False)).lower(), end="")
elif kind == "get-secret":
    print(boto3.client("secretsmanager").get_secret_value(SecretId=sys.argv[2])["SecretString"], end="")
elif kind == "wait-for":
    import time
    for _ in range(600):
        if os.path.exists(sys.argv[2]):
            break
        time.sleep(0.1)
elif kind == "fail-unless":
    sys.exit(0 if os.path.exists(sys.argv[2]) else 1)
"#;

/// A rendered folder with test stages, a moto server and a fake GitHub.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub moto: MotoServer,
    pub github: MockServer,
    rt: tokio::runtime::Runtime,
}

fn python() -> PathBuf {
    tools_dir().join("venv/bin/python")
}

impl Fixture {
    pub fn new() -> Fixture {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let github = rt.block_on(MockServer::start());
        let dir = tempfile::Builder::new()
            .disable_cleanup(std::env::var_os("LANDFALL_KEEP_TEST_DIR").is_some())
            .tempdir()
            .unwrap();
        let f = Fixture {
            dir,
            moto: MotoServer::start().unwrap(),
            github,
            rt,
        };
        f.landfall_ok(&[
            "init",
            "--repo-allowlist",
            "acme/*",
            "--name",
            NAME,
            "--region",
            "us-east-1",
            "--repo-url",
            "https://github.com/acme/platform.git",
        ]);
        let toml = f.path("landfall.toml");
        let text = fs::read_to_string(&toml).unwrap().replacen(
            "[function]\n",
            // Served where GitHub Enterprise Server serves its API.
            &format!("[function]\nvcs_url = \"{}/api/v3\"\n", f.github.uri()),
            1,
        );
        fs::write(&toml, text).unwrap();
        f.landfall_ok(&["render"]);
        f.swap_stages("");
        fs::write(f.path("helper.py"), HELPER).unwrap();
        fs::write(f.path("bootstrap.zip"), b"package").unwrap();
        fs::write(
            f.path("moto.tfbackend"),
            format!(
                "endpoints = {{\n  s3 = \"{0}\"\n  dynamodb = \"{0}\"\n}}\nuse_path_style = true\nskip_credentials_validation = true\nskip_requesting_account_id = true\nskip_metadata_api_check = true\nskip_region_validation = true\n",
                f.moto.endpoint()
            ),
        )
        .unwrap();
        f
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Replaces both stages' Terraform (but the backend blocks) by test stages; `platform_guard`
    /// is a file the platform stage needs to exist, to make it fail until it does.
    pub fn swap_stages(&self, platform_guard: &str) {
        self.swap_stages_with("fail-unless", platform_guard);
    }

    /// [`Self::swap_stages`] with the guard's kind: `fail-unless` or `wait-for` (sleeps until
    /// the file exists, at most a minute).
    pub fn swap_stages_with(&self, kind: &str, platform_guard: &str) {
        let py = python();
        let helper = self.path("helper.py");
        for stage in ["bootstrap", "platform"] {
            for entry in fs::read_dir(self.path(&format!("terraform/{stage}"))).unwrap() {
                let p = entry.unwrap().path();
                if p.extension().is_some_and(|e| e == "tf") && !p.ends_with("backend.tf") {
                    fs::remove_file(p).unwrap();
                }
            }
        }
        fs::write(
            self.path("terraform/bootstrap/main.tf"),
            format!(
                r#"resource "terraform_data" "backend" {{
  input = "{BUCKET}"
  provisioner "local-exec" {{
    command = "{} {} backend {BUCKET} t1-tflock"
  }}
}}
output "state_bucket" {{
  value = terraform_data.backend.output
}}
"#,
                py.display(),
                helper.display()
            ),
        )
        .unwrap();
        let guard = if platform_guard.is_empty() {
            String::new()
        } else {
            format!(
                "  provisioner \"local-exec\" {{\n    command = \"{} {} {kind} {platform_guard}\"\n  }}\n",
                py.display(),
                helper.display()
            )
        };
        fs::write(
            self.path("terraform/platform/main.tf"),
            format!(
                r#"variable "function_package" {{
  type = string
}}
variable "runner_image" {{
  type    = string
  default = null
}}
resource "terraform_data" "image" {{
  input = var.runner_image
}}
resource "terraform_data" "function" {{
  input = filesha256(var.function_package)
{guard}  provisioner "local-exec" {{
    command = "{} {} secrets {NAME}/webhook-secret {NAME}/vcs-token"
  }}
  provisioner "local-exec" {{
    command = "printf %s \"$${{LANDFALL_VCS_TOKEN-unset}}\" > ${{path.root}}/token-seen-by-terraform"
  }}
}}
output "webhook_url" {{
  value = "{URL}"
}}
output "webhook_secret_arn" {{
  value = "{NAME}/webhook-secret"
}}
output "vcs_token_arn" {{
  value = "{NAME}/vcs-token"
}}
"#,
                py.display(),
                helper.display()
            ),
        )
        .unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_landfall"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("PATH", path_with_tools())
            .env(
                "TF_CLI_CONFIG_FILE",
                tools_dir().join("terraformrc-offline"),
            )
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("TF_CLI_ARGS")
            .env_remove("TF_DATA_DIR")
            .env_remove("TF_WORKSPACE")
            .env_remove("LANDFALL_VCS_TOKEN");
        self.moto.aws_env(&mut cmd);
        cmd
    }

    pub fn landfall(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn landfall_ok(&self, args: &[&str]) -> String {
        let out = self.landfall(args);
        assert!(
            out.status.success(),
            "landfall {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `landfall up` with the test's options (the runner image given) and the token in the
    /// environment.
    pub fn up(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--runner-image", IMAGE];
        args.extend_from_slice(extra);
        self.up_in(self.dir.path(), &args).output().unwrap()
    }

    /// `landfall up` run in `cwd` with the test's files named by absolute paths, the token in
    /// the environment and `extra` options.
    pub fn up_in(&self, cwd: &std::path::Path, extra: &[&str]) -> Command {
        let config = self.path("landfall.toml").display().to_string();
        let backend = self.path("moto.tfbackend").display().to_string();
        let package = self.path("bootstrap.zip").display().to_string();
        let mut args = vec![
            "up",
            "--config",
            &config,
            "--backend-config",
            &backend,
            "--function-package",
            &package,
            "--repo",
            "acme/infra",
        ];
        args.extend_from_slice(extra);
        let mut cmd = self.command(&args);
        cmd.current_dir(cwd).env("LANDFALL_VCS_TOKEN", TOKEN);
        cmd
    }

    /// Runs the test helper with `args` against moto.
    pub fn helper(&self, args: &[&str]) {
        let mut cmd = Command::new(python());
        cmd.arg(self.path("helper.py")).args(args);
        self.moto.aws_env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    pub fn secret(&self, name: &str) -> String {
        self.helper_says(&["get-secret", name])
    }

    /// What the test helper prints when run with `args` against moto.
    pub fn helper_says(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(python());
        cmd.arg(self.path("helper.py")).args(args);
        self.moto.aws_env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(&self.github));
    }

    pub fn requests(&self, verb: &str) -> Vec<serde_json::Value> {
        self.rt
            .block_on(self.github.received_requests())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == verb)
            .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
            .collect()
    }

    /// A GitHub that has no hook until one is created, then lists it and says the ping reached
    /// the function.
    pub fn fake_github(&self) {
        self.fake_github_answering_pings(200, "OK");
    }

    /// [`Fixture::fake_github`] whose ping deliveries got `status` from the function.
    pub fn fake_github_answering_pings(&self, status: u16, text: &str) {
        let hook = serde_json::json!({"id": 7, "active": true,
            "events": ["pull_request", "issue_comment", "pull_request_review", "pull_request_review_comment"],
            "config": {"url": URL, "content_type": "json"}});
        self.mount(
            Mock::given(method("GET"))
                .and(path("/api/v3/repos/acme/infra/hooks"))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
                .up_to_n_times(1),
        );
        self.mount(
            Mock::given(method("GET"))
                .and(path("/api/v3/repos/acme/infra/hooks"))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(serde_json::json!([hook.clone()])),
                ),
        );
        self.mount(Mock::given(method("POST")).and(path("/api/v3/repos/acme/infra/hooks")).and(body_partial_json(serde_json::json!({"name": "web", "active": true, "config": {"url": URL, "content_type": "json"}}))).respond_with(ResponseTemplate::new(201).set_body_json(hook.clone())));
        self.mount(
            Mock::given(method("PATCH"))
                .and(path("/api/v3/repos/acme/infra/hooks/7"))
                .respond_with(ResponseTemplate::new(200).set_body_json(hook.clone())),
        );
        self.mount(
            Mock::given(method("POST"))
                .and(path("/api/v3/repos/acme/infra/hooks/7/pings"))
                .respond_with(ResponseTemplate::new(204)),
        );
        // The ping's delivery, listed once the ping was sent.
        let deliveries = "/api/v3/repos/acme/infra/hooks/7/deliveries";
        self.mount(
            Mock::given(method("GET"))
                .and(path(deliveries))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
                .up_to_n_times(1),
        );
        let ping =
            serde_json::json!([{"id": 1, "event": "ping", "status_code": status, "status": text}]);
        self.mount(
            Mock::given(method("GET"))
                .and(path(deliveries))
                .respond_with(ResponseTemplate::new(200).set_body_json(ping)),
        );
        self.mount(
            Mock::given(method("DELETE"))
                .and(path("/api/v3/repos/acme/infra/hooks/7"))
                .respond_with(ResponseTemplate::new(204)),
        );
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn state_object(f: &Fixture, key: &str) -> Option<Vec<u8>> {
    f.moto.get_object(BUCKET, key).unwrap()
}

pub fn assert_complete(f: &Fixture) {
    assert!(
        !f.path("terraform/bootstrap/terraform.tfstate").exists(),
        "the local state is removed after the migration"
    );
    assert!(
        !f.path("terraform/bootstrap/terraform.tfstate.backup")
            .exists()
    );
    let migrated: serde_json::Value = serde_json::from_slice(
        &state_object(f, "bootstrap/terraform.tfstate").expect("state in S3"),
    )
    .unwrap();
    assert_eq!(migrated["outputs"]["state_bucket"]["value"], BUCKET);
    assert!(state_object(f, "platform/terraform.tfstate").is_some());
    assert_eq!(f.secret("t1/vcs-token"), TOKEN);
    let secret = f.secret("t1/webhook-secret");
    assert_eq!(
        secret.len(),
        64,
        "a generated secret is 32 random bytes in hex"
    );
    let posted = f.requests("POST");
    let creates: Vec<_> = posted
        .iter()
        .filter(|b| b["config"]["url"] == URL)
        .collect();
    assert_eq!(creates.len(), 1, "one hook created: {posted:?}");
    assert_eq!(
        creates[0]["config"]["secret"],
        secret.as_str(),
        "the hook has the secret in Secrets Manager"
    );
    assert_eq!(creates[0]["events"][0], "pull_request");
}

/// Every request to the host carried the hook token, and none of what `up` keeps holds it.
fn hook_token_used_and_not_kept(f: &Fixture) {
    let hook_calls =
        f.rt.block_on(f.github.received_requests())
            .unwrap_or_default();
    assert!(!hook_calls.is_empty());
    for request in &hook_calls {
        let auth = request
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap_or_default());
        assert!(
            auth.is_some_and(|a| a.ends_with(HOOK_TOKEN)),
            "{} {}: {auth:?}",
            request.method,
            request.url
        );
    }
    assert_ne!(
        f.secret("t1/vcs-token"),
        HOOK_TOKEN,
        "the hook token is not stored"
    );
    for entry in fs::read_dir(f.path(".landfall-up")).unwrap() {
        let path = entry.unwrap().path();
        let kept = fs::read(&path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&kept).contains(HOOK_TOKEN),
            "{} holds the hook token",
            path.display()
        );
    }
}

#[test]
fn up_applies_migrates_connects_and_a_second_run_changes_nothing() {
    let f = Fixture::new();
    f.fake_github();
    let plan = f.landfall_ok(&[
        "up",
        "--plan",
        "--backend-config",
        "moto.tfbackend",
        "--function-package",
        "bootstrap.zip",
        "--repo",
        "acme/infra",
    ]);
    assert!(plan.contains("todo  state backend"), "{plan}");
    assert!(
        state_object(&f, "bootstrap/terraform.tfstate").is_none(),
        "--plan changes nothing"
    );
    assert!(!f.path("terraform/bootstrap/terraform.tfstate").exists());

    // The webhook is registered with a token of its own, which is never stored.
    fs::write(f.path("hook-token"), HOOK_TOKEN).unwrap();
    let hook_token = f.path("hook-token").display().to_string();
    let out = f.up(&["--hook-token-file", &hook_token]);
    let first = text(&out);
    assert_eq!(out.status.code(), Some(0), "{first}");
    hook_token_used_and_not_kept(&f);
    // The token given to `up` reached no program it started (here a provisioner of Terraform).
    assert_eq!(
        fs::read_to_string(f.path("terraform/platform/token-seen-by-terraform")).unwrap(),
        "unset"
    );
    assert!(
        first.contains("   ok  runner image") && first.contains(IMAGE),
        "the image given is used: {first}"
    );
    for stage in [
        "state backend",
        "state migration",
        "function package",
        "platform",
        "secrets",
        "webhook",
    ] {
        assert!(
            first.contains(&format!(" done  {stage}")),
            "{stage} done: {first}"
        );
    }
    assert!(
        first.contains("the host reached the function (HTTP 200)"),
        "{first}"
    );
    assert!(first.contains(&format!("webhook URL: {URL}")), "{first}");
    assert!(
        f.path(".landfall-up/platform.log").is_file(),
        "Terraform's output goes to a log per stage"
    );
    assert!(
        !first.contains(TOKEN) && !first.contains(&f.secret("t1/webhook-secret")),
        "no secret printed"
    );
    assert_complete(&f);

    let out = f.up(&[]);
    let second = text(&out);
    assert!(
        !second.contains(" done "),
        "the second run changes nothing: {second}"
    );
    for stage in [
        "state backend",
        "state migration",
        "function package",
        "platform",
        "secrets",
        "webhook",
    ] {
        assert!(
            second.contains(&format!("   ok  {stage}")),
            "{stage} ok: {second}"
        );
    }
    assert_eq!(f.requests("PATCH").len(), 0, "nothing updated on the host");
    assert_complete(&f);
}

#[test]
fn up_stopped_at_every_stage_boundary_is_finished_by_the_next_run() {
    let f = Fixture::new();
    f.fake_github();
    for stage in [
        "backend", "migrate", "package", "image", "platform", "secrets",
    ] {
        let out = f.up(&["--until", stage]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(text(&out).contains("stopped after"), "{}", text(&out));
    }
    assert!(!f.path("terraform/bootstrap/terraform.tfstate").exists());
    let out = f.up(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_complete(&f);
}

#[test]
fn a_failing_platform_stage_stops_the_run_keeps_the_migrated_state_and_the_next_run_finishes() {
    let f = Fixture::new();
    f.fake_github();
    let guard = f.path("platform-may-apply");
    f.swap_stages(&guard.display().to_string());
    let out = f.up(&[]);
    let first = text(&out);
    assert_eq!(out.status.code(), Some(2), "{first}");
    assert!(first.contains(" FAIL  platform"), "{first}");
    assert!(
        first.contains("the end of its log"),
        "the log's tail is shown: {first}"
    );
    assert!(
        !first.contains("  secrets"),
        "nothing after the failed stage ran: {first}"
    );
    assert!(
        state_object(&f, "bootstrap/terraform.tfstate").is_some(),
        "the migrated state is kept"
    );
    assert!(
        f.requests("POST").is_empty(),
        "no hook registered before the platform exists"
    );
    fs::write(&guard, "").unwrap();
    let out = f.up(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("   ok  state migration"),
        "{}",
        text(&out)
    );
    assert_complete(&f);
}
