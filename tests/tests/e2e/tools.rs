//! Proves that the locally installed tools and the helpers that find and start them work: each
//! tool runs, moto answers S3 and `DynamoDB`, and Terraform applies against local and S3 state.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use landfall_e2e::{
    MotoServer, corpus, path_with_tools, repo_root, shared_dir, terraform, tool, tools_dir,
};

/// A fresh directory under Cargo's scratch space for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tools")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a command and returns its output, failing with both streams when it does not succeed.
pub(crate) fn run(cmd: &mut Command) -> Output {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn paths_point_at_the_repository_and_shared_data() {
    assert!(repo_root().join("scripts/install-tools").is_file());
    assert!(shared_dir().join("BRIEF.md").is_file());
    assert!(corpus("MANIFEST.md").is_file());
    assert!(tool("terraform").starts_with(tools_dir()));
}

#[test]
#[should_panic(expected = "run scripts/install-tools")]
fn a_missing_tool_panics_with_the_install_command() {
    let _ = tool("no-such-tool");
}

#[test]
fn terraform_reports_version_1_15() {
    let dir = scratch("version");
    let out = stdout(&run(terraform(&dir).arg("version")));
    assert!(out.starts_with("Terraform v1.15."), "{out}");
}

const TERRAFORM_DATA: &str = r#"
resource "terraform_data" "a" {
  input = "hello"
}

resource "terraform_data" "b" {
  input = "${terraform_data.a.output}-world"
}

output "b" {
  value = terraform_data.b.output
}
"#;

#[test]
fn terraform_applies_terraform_data_with_local_state() {
    let dir = scratch("local-state");
    fs::write(dir.join("main.tf"), TERRAFORM_DATA).unwrap();
    run(terraform(&dir).arg("init"));
    let applied = stdout(&run(terraform(&dir).args(["apply", "-auto-approve"])));
    assert!(applied.contains("Resources: 2 added"), "{applied}");
    assert!(
        !applied.contains('\u{1b}'),
        "colour codes in output: {applied}"
    );
    let output = stdout(&run(terraform(&dir).args(["output", "-raw", "b"])));
    assert_eq!(output, "hello-world");
    assert!(dir.join("terraform.tfstate").is_file());
}

#[test]
fn moto_serves_s3_and_dynamodb() {
    let moto = MotoServer::start().unwrap();
    assert!(moto.endpoint().starts_with("http://127.0.0.1:"));
    moto.create_bucket("landfall-test").unwrap();
    let (status, listing) = moto.request("GET", "/", &[], b"").unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&listing).contains("<Name>landfall-test</Name>"));
    assert_eq!(moto.get_object("landfall-test", "absent").unwrap(), None);

    moto.create_lock_table("probe-tflock").unwrap();
    let tables = moto.dynamodb("ListTables", "{}").unwrap();
    assert!(tables.contains(r#""probe-tflock""#), "{tables}");

    moto.reset().unwrap();
    let tables = moto.dynamodb("ListTables", "{}").unwrap();
    assert!(!tables.contains(r#""probe-tflock""#), "{tables}");
}

#[test]
fn dropping_moto_stops_the_server() {
    let moto = MotoServer::start().unwrap();
    let port = moto.port();
    drop(moto);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn terraform_migrates_local_state_into_an_s3_backend_on_moto() {
    let moto = MotoServer::start().unwrap();
    moto.create_bucket("tfstate").unwrap();
    moto.create_lock_table("platform-tflock").unwrap();

    let dir = scratch("s3-backend");
    fs::write(dir.join("main.tf"), TERRAFORM_DATA).unwrap();
    run(terraform(&dir).arg("init"));
    run(terraform(&dir).args(["apply", "-auto-approve"]));

    fs::write(
        dir.join("backend.tf"),
        "terraform {\n  backend \"s3\" {}\n}\n",
    )
    .unwrap();
    let config = moto.backend_config("tfstate", "platform/terraform.tfstate", "platform-tflock");
    fs::write(dir.join("s3.tfbackend"), config).unwrap();
    run(moto.aws_env(&mut terraform(&dir)).args([
        "init",
        "-migrate-state",
        "-force-copy",
        "-backend-config=s3.tfbackend",
    ]));

    let state = moto
        .get_object("tfstate", "platform/terraform.tfstate")
        .unwrap()
        .expect("the state object is in the bucket");
    assert!(String::from_utf8_lossy(&state).contains("terraform_data"));

    // A plan against the migrated state takes both locks and finds nothing to do.
    let plan = plan_taking_the_locks(&moto, &dir);
    assert!(stdout(&plan).contains("No changes."), "{}", stdout(&plan));
    // The DynamoDB table was used: the S3 backend keeps the state's digest there.
    let items = moto
        .dynamodb("Scan", r#"{"TableName":"platform-tflock"}"#)
        .unwrap();
    assert!(
        items.contains("tfstate/platform/terraform.tfstate-md5"),
        "{items}"
    );
}

/// `terraform plan -detailed-exitcode` in `dir` against moto. On a loaded machine the AWS SDK
/// can send the DynamoDB lock's conditional `PutItem` again after moto wrote it the first time;
/// Terraform then reads its own lock as another's ("Error acquiring the state lock", the lock
/// naming this very plan). That lock is released and the plan run once more; any other failure
/// fails the test.
fn plan_taking_the_locks(moto: &MotoServer, dir: &Path) -> Output {
    let plan = || {
        let mut cmd = terraform(dir);
        moto.aws_env(&mut cmd).args(["plan", "-detailed-exitcode"]);
        cmd
    };
    let first = plan().output().unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    let own_lock = stderr.contains("Error acquiring the state lock")
        && stderr.contains("Operation: OperationTypePlan");
    if first.status.success() {
        return first;
    }
    assert!(
        own_lock,
        "terraform plan failed with {}\n--- stdout\n{}\n--- stderr\n{stderr}",
        first.status,
        String::from_utf8_lossy(&first.stdout)
    );
    let id = stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("ID:"))
        .map(str::trim)
        .expect("the lock's ID");
    run(moto
        .aws_env(&mut terraform(dir))
        .args(["force-unlock", "-force", id]));
    run(&mut plan())
}

#[test]
fn validators_and_cargo_lambda_run() {
    let out = stdout(&run(
        Command::new(tool("kubernetes-validate")).arg("--version")
    ));
    assert!(out.trim().starts_with("1."), "{out}");
    let out = stdout(&run(Command::new(tool("checkov")).arg("--version")));
    assert!(out.trim().starts_with("3."), "{out}");

    let dir = scratch("tf-schema-check");
    fs::write(
        dir.join("main.tf"),
        "resource \"aws_s3_bucket\" \"state\" {\n  bucket = \"x\"\n}\n",
    )
    .unwrap();
    run(Command::new(tool("tf-schema-check")).arg(&dir));

    let _ = tool("cargo-lambda");
    let out = stdout(&run(Command::new(env!("CARGO"))
        .args(["lambda", "--version"])
        .env("PATH", path_with_tools())));
    assert!(out.starts_with("cargo-lambda 1."), "{out}");
}
