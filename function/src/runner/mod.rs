//! The runner (`landfall-runner`): executes one run inside a Kubernetes Job or as a local
//! process, and reports back.
//!
//! It reads its [`RunSpec`] from the environment, clones the repository at the exact head commit
//! ([`git`]), runs the project's workflow ([`workflow`]) under the run's time limit
//! ([`process`]), summarises the plan from `terraform show -json` ([`crate::run::summary`]), stores the
//! planfile and the log as artifacts with their SHA-256, and renders the comment
//! ([`crate::comment::render`]).
//! An apply refuses a plan made at another commit, and a planfile whose checksum differs from the
//! plan record, before Terraform sees it; Terraform's own "Saved plan is stale" is reported as
//! such. The result is a [`RunReport`]: written to `LANDFALL_RUN_REPORT` when set, and printed
//! as the last line of stdout.

pub mod git;
pub mod process;
pub mod workflow;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};

use crate::config::env_vars::TERRAFORM_VERSIONS_DIR;
use crate::config::{env_vars as function_env, process as settings};
use crate::run::summary;
use crate::run::{
    EnvSource, Outcome, PlanSummary, ProjectResult, RunCommand, RunReport, RunSpec, RunStatus,
    Step, Timings,
};
use crate::store::artifacts::{
    AnyArtifacts, ArtifactError, Artifacts, LocalArtifacts, S3Artifacts, StoredArtifact,
};
use crate::store::{StoreConfig, keys};
use process::Capture;

/// Terraform's words when it refuses a planfile because the state changed since the plan.
pub const STALE_PLAN_TEXT: &str = "Saved plan is stale";

/// How the runner itself is set up (not the run: that is the [`RunSpec`]).
#[derive(Clone)]
pub struct RunnerOptions {
    /// Where the clone and the outputs go.
    pub work_dir: PathBuf,
    /// The `terraform` binary.
    pub terraform: PathBuf,
    /// Other Terraform versions, `<dir>/<version>/terraform`, for projects that pin one.
    pub versions_dir: Option<PathBuf>,
    /// The provider plugin cache, shared between runs; `init` holds a lock on it.
    pub plugin_cache: PathBuf,
    /// Time between SIGINT and SIGKILL when a run passes its limit.
    pub grace: Duration,
    /// The VCS token, served to git by the credential helper.
    pub token: Option<SecretString>,
    /// The credential helper: this binary, run as `<exe> git-credential`.
    pub helper_exe: PathBuf,
    /// Whether to echo each step's output to stderr (the Job's log).
    pub echo: bool,
}

impl std::fmt::Debug for RunnerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerOptions")
            .field("work_dir", &self.work_dir)
            .field("terraform", &self.terraform)
            .field("plugin_cache", &self.plugin_cache)
            .field("grace", &self.grace)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("helper_exe", &self.helper_exe)
            .finish_non_exhaustive()
    }
}

impl RunnerOptions {
    /// Options from the environment: `LANDFALL_WORK_DIR`, `LANDFALL_TERRAFORM`,
    /// `LANDFALL_PLUGIN_CACHE_DIR`, `LANDFALL_RUN_GRACE` and the token (`LANDFALL_VCS_TOKEN`, or
    /// standard input after [`git::move_token_off_environment`]).
    #[must_use]
    pub fn from_env() -> Self {
        let get = settings::var_os;
        let work_dir = get(function_env::WORK_DIR)
            .map_or_else(|| std::env::temp_dir().join("landfall-run"), PathBuf::from);
        Self {
            plugin_cache: get(function_env::PLUGIN_CACHE_DIR)
                .map_or_else(|| work_dir.join("plugin-cache"), PathBuf::from),
            terraform: get(function_env::TERRAFORM)
                .map_or_else(|| PathBuf::from("terraform"), PathBuf::from),
            versions_dir: get(function_env::TERRAFORM_VERSIONS_DIR).map(PathBuf::from),
            grace: get(function_env::RUN_GRACE)
                .and_then(|value| value.to_str()?.parse().ok())
                .map_or(Duration::from_secs(30), Duration::from_secs),
            token: git::token_from_environment(),
            helper_exe: std::env::current_exe()
                .unwrap_or_else(|_| PathBuf::from("landfall-runner")),
            echo: true,
            work_dir,
        }
    }
}

/// The run's working state: paths, environment, log and clock.
struct Run<'a> {
    spec: &'a RunSpec,
    opts: &'a RunnerOptions,
    /// The Terraform binary for this project (its pinned version, when it pins one).
    terraform: PathBuf,
    started: Instant,
    deadline: Instant,
    planfile: PathBuf,
    log: String,
    terraform_time: Duration,
    clone_time: Duration,
    env: Vec<(String, String)>,
}

/// A step that ended the run early.
struct Stop(Outcome);

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Run<'_> {
    fn record(&mut self, line: &str, output: &str) {
        self.log.push_str(line);
        self.log.push('\n');
        self.log.push_str(output);
        if !output.ends_with('\n') {
            self.log.push('\n');
        }
    }

    fn limit_secs(&self) -> u64 {
        self.spec.project.timeout.as_secs()
    }

    /// Runs one process as a step; `Err` ends the run.
    fn exec(
        &mut self,
        step: &str,
        mut cmd: Command,
        shown: &str,
        dir: &Path,
    ) -> Result<String, Stop> {
        if Instant::now() >= self.deadline {
            return Err(Stop(Outcome::TimedOut {
                step: step.to_owned(),
                limit_secs: self.limit_secs(),
                output: String::new(),
            }));
        }
        cmd.current_dir(dir);
        for name in git::WITHHELD_VARS {
            cmd.env_remove(name);
        }
        cmd.envs(self.env.iter().map(|(name, value)| (name, value)));
        let began = Instant::now();
        let done = process::run(
            cmd,
            Capture::Merged,
            self.deadline,
            self.opts.grace,
            self.opts.echo,
        );
        self.terraform_time += began.elapsed();
        let done = done.map_err(|err| {
            Stop(Outcome::Failed {
                step: step.to_owned(),
                output: format!("{shown}: could not start: {err}"),
            })
        })?;
        let text = done.text();
        self.record(&format!("$ {shown}"), &text);
        if done.timed_out {
            return Err(Stop(Outcome::TimedOut {
                step: step.to_owned(),
                limit_secs: self.limit_secs(),
                output: text,
            }));
        }
        if !done.status.success() {
            if text.contains(STALE_PLAN_TEXT) {
                return Err(Stop(Outcome::Refused {
                    reason: format!(
                        "Terraform refused the saved plan as stale: the state changed after \
                         this plan was made, so it can no longer be applied as reviewed. Plan \
                         again with `landfall plan`.\n\n{}",
                        fence(&text)
                    ),
                }));
            }
            return Err(Stop(Outcome::Failed {
                step: step.to_owned(),
                output: text,
            }));
        }
        Ok(text)
    }

    fn terraform(&self, args: &[String]) -> (Command, String) {
        let mut cmd = Command::new(&self.terraform);
        cmd.args(args);
        (cmd, format!("terraform {}", args.join(" ")))
    }

    /// Runs the workflow's steps in `dir`; returns the plan step's output (or the last step's).
    fn steps(&mut self, steps: &[Step], dir: &Path) -> Result<String, Stop> {
        let mut main_output = String::new();
        let mut initialised = false;
        for step in steps {
            match step {
                Step::Init { .. } | Step::Plan { .. } | Step::Apply { .. } => {
                    let args =
                        workflow::terraform_args(step, &self.planfile, &self.spec.extra_args)
                            .expect("built-in steps have Terraform arguments");
                    let (cmd, shown) = self.terraform(&args);
                    let output = if matches!(step, Step::Init { .. }) {
                        let _lock = lock_plugin_cache(&self.opts.plugin_cache).map_err(|err| {
                            Stop(Outcome::Failed {
                                step: "init".to_owned(),
                                output: format!(
                                    "locking the plugin cache {} failed: {err}",
                                    self.opts.plugin_cache.display()
                                ),
                            })
                        })?;
                        self.exec(step.name(), cmd, &shown, dir)?
                    } else {
                        self.exec(step.name(), cmd, &shown, dir)?
                    };
                    if matches!(step, Step::Init { .. }) && !initialised {
                        initialised = true;
                        self.select_workspace(dir)?;
                    }
                    if !matches!(step, Step::Init { .. }) {
                        main_output = output;
                    }
                }
                Step::Run {
                    command,
                    shell,
                    shell_args,
                    output,
                } => {
                    let mut cmd = Command::new(shell.as_deref().unwrap_or("sh"));
                    if shell_args.is_empty() {
                        cmd.arg("-c");
                    } else {
                        cmd.args(shell_args);
                    }
                    cmd.arg(command);
                    let text = self.exec("run", cmd, command, dir)?;
                    if let Some(shown) = output.shown(&text) {
                        main_output = shown;
                    }
                }
                Step::Env { name, source } => {
                    let value = match source {
                        EnvSource::Value(value) => value.clone(),
                        EnvSource::Command(command) => {
                            let mut cmd = Command::new("sh");
                            cmd.arg("-c").arg(command);
                            self.exec("env", cmd, command, dir)?.trim().to_owned()
                        }
                    };
                    self.env.push((name.clone(), value));
                }
            }
        }
        Ok(main_output)
    }

    fn select_workspace(&mut self, dir: &Path) -> Result<(), Stop> {
        let workspace = self.spec.project.workspace.clone();
        if workspace == "default" {
            return Ok(());
        }
        let args = vec![
            "workspace".to_owned(),
            "select".to_owned(),
            "-or-create=true".to_owned(),
            "-no-color".to_owned(),
            workspace,
        ];
        let (cmd, shown) = self.terraform(&args);
        self.exec("workspace", cmd, &shown, dir).map(drop)
    }
}

fn fence(text: &str) -> String {
    format!("```\n{}\n```", text.trim_end())
}

/// Holds an exclusive lock on the plugin cache while `init` runs: Terraform's cache is not
/// safe for concurrent installs. Released when dropped.
fn lock_plugin_cache(cache: &Path) -> std::io::Result<fs::File> {
    fs::create_dir_all(cache)?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache.join(".landfall-init.lock"))?;
    file.lock()?;
    Ok(file)
}

/// The part of Terraform's plan output a reviewer reads: from "Terraform used the selected
/// providers" (or "No changes.") to the rule before "Saved the plan to".
#[must_use]
pub fn plan_text(output: &str) -> String {
    const STARTS: [&str; 4] = [
        "Terraform used the selected providers",
        "Terraform will perform the following actions",
        "Terraform planned the following actions",
        "No changes.",
    ];
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|line| STARTS.iter().any(|start| line.starts_with(start)))
        .unwrap_or(0);
    let end = lines[start..]
        .iter()
        .position(|line| line.starts_with('─') || line.starts_with("Saved the plan to:"))
        .map_or(lines.len(), |offset| start + offset);
    lines[start..end].join("\n").trim().to_owned()
}

/// The Terraform binary for the project: for a pinned exact version, `<versions dir>/<version>/
/// terraform` or the default binary when it is that version; never another version. A version
/// constraint (`>= 1.5`, `~> 1.9`) is left to Terraform's own `required_version` check.
fn pick_terraform(spec: &RunSpec, opts: &RunnerOptions) -> Result<PathBuf, String> {
    let Some(pinned) = spec.project.terraform_version.as_deref() else {
        return Ok(opts.terraform.clone());
    };
    let wanted = pinned.trim().trim_start_matches(['v', '=']).trim();
    let exact = wanted.starts_with(|c: char| c.is_ascii_digit())
        && wanted
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !exact {
        return Ok(opts.terraform.clone());
    }
    if let Some(dir) = &opts.versions_dir {
        let candidate = dir.join(wanted).join("terraform");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let found = installed_version(&opts.terraform)?;
    if found == wanted {
        return Ok(opts.terraform.clone());
    }
    Err(format!(
        "the project pins Terraform {wanted} (terraform_version), but this runner's terraform \
         ({}) is {found}{}. Add Terraform {wanted} to the runner image{}, or change the \
         project's terraform_version.",
        opts.terraform.display(),
        opts.versions_dir
            .as_ref()
            .map_or_else(String::new, |dir| format!(
                " and {} has no {wanted}/terraform",
                dir.display()
            )),
        opts.versions_dir.as_ref().map_or_else(
            || format!(" (as <dir>/{wanted}/terraform with {TERRAFORM_VERSIONS_DIR}=<dir>)"),
            |dir| format!(" as {}", dir.join(wanted).join("terraform").display())
        ),
    ))
}

/// What `terraform version -json` says `terraform` is.
fn installed_version(terraform: &Path) -> Result<String, String> {
    let out = Command::new(terraform)
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .map_err(|err| format!("cannot run {}: {err}", terraform.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|err| {
        format!(
            "{} version -json printed no JSON ({err})",
            terraform.display()
        )
    })?;
    json.get("terraform_version")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{} version -json names no version", terraform.display()))
}

/// Prepares the work directory and the token file; returns the git environment.
fn prepare(
    spec: &RunSpec,
    opts: &RunnerOptions,
    host: &str,
) -> std::io::Result<Vec<(String, String)>> {
    fs::create_dir_all(opts.work_dir.join("out"))?;
    // In a Job, HOME is a folder of the writable work volume that nobody has made yet; git and
    // Terraform write their settings there.
    if let Some(home) = settings::var_os(function_env::HOME).map(PathBuf::from)
        && home.starts_with(&opts.work_dir)
    {
        fs::create_dir_all(&home)?;
    }
    let secrets = opts.work_dir.join("secrets");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&secrets)?;
    let token_file = git::token_file(&opts.work_dir);
    if let Some(token) = &opts.token {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&token_file)?;
        file.write_all(token.expose_secret().as_bytes())?;
    }
    Ok(git::git_env(
        &opts.helper_exe,
        host,
        git::token_username(spec.provider),
        &token_file,
    ))
}

/// Executes `spec` and returns its report; planfiles and logs go to `artifacts`. Blocking
/// work (git, Terraform) runs on the calling thread: this is the runner process's one job.
pub async fn run<A: Artifacts>(spec: &RunSpec, opts: &RunnerOptions, artifacts: &A) -> RunReport {
    let started = Instant::now();
    let mut run = Run {
        spec,
        opts,
        terraform: opts.terraform.clone(),
        started,
        deadline: started + spec.project.timeout,
        planfile: opts.work_dir.join("out").join("plan.tfplan"),
        log: String::new(),
        terraform_time: Duration::ZERO,
        clone_time: Duration::ZERO,
        env: Vec::new(),
    };
    let (outcome, summary, planfile) = match execute(&mut run, artifacts).await {
        Ok(done) => done,
        Err(Stop(outcome)) => (outcome, None, None),
    };
    let mut result = ProjectResult::new(&spec.project, spec.command, outcome);
    let status = match &result.outcome {
        Outcome::Planned { .. } => RunStatus::Planned,
        Outcome::NoChanges { .. } => RunStatus::NoChanges,
        Outcome::Applied { .. } => RunStatus::Applied,
        Outcome::Failed { .. } => RunStatus::Failed,
        Outcome::TimedOut { .. } => RunStatus::TimedOut,
        Outcome::Refused { .. } => RunStatus::Refused,
    };
    let run_id = spec.run_id();
    // Belt and braces: the token is out of the steps' reach; were it printed anyway, it is cut
    // from everything the runner keeps.
    let secrets: Vec<String> = opts
        .token
        .iter()
        .map(|token| token.expose_secret().to_owned())
        .collect();
    run.log = summary::redact(&run.log, &secrets);
    let log = if run.log.is_empty() {
        None
    } else {
        let key = keys::log_key(&spec.lock_key(), spec.pr.0, spec.head_sha.as_str(), &run_id);
        match artifacts.put(&key, run.log.clone().into_bytes()).await {
            Ok(stored) => Some(stored),
            Err(err) => {
                tracing::warn!(error = %err, "storing the run's log failed");
                None
            }
        }
    };
    result.log.clone_from(&log);
    let report = RunReport {
        comment: crate::comment::render(std::slice::from_ref(&result)),
        run_id,
        repo: spec.repo.clone(),
        pr: spec.pr,
        head_sha: spec.head_sha.clone(),
        status,
        result,
        summary,
        planfile,
        log,
        timings: Timings {
            total_ms: millis(run.started.elapsed()),
            terraform_ms: millis(run.terraform_time),
            clone_ms: millis(run.clone_time),
        },
    };
    redact_report(report, &secrets)
}

/// `report` with every `secrets` cut from its text (comment, outputs, resource addresses).
fn redact_report(report: RunReport, secrets: &[String]) -> RunReport {
    let json = serde_json::to_string(&report).expect("a report serialises");
    // As JSON writes them (a quote or a backslash is escaped).
    let escaped: Vec<String> = secrets
        .iter()
        .map(|secret| {
            let quoted = serde_json::to_string(secret).expect("a string serialises");
            quoted[1..quoted.len() - 1].to_owned()
        })
        .collect();
    let redacted = summary::redact(&json, &escaped);
    if redacted == json {
        return report;
    }
    serde_json::from_str(&redacted).unwrap_or(report)
}

type Executed = (Outcome, Option<PlanSummary>, Option<StoredArtifact>);

fn failed(step: &str, output: impl Into<String>) -> Stop {
    Stop(Outcome::Failed {
        step: step.to_owned(),
        output: output.into(),
    })
}

#[allow(clippy::too_many_lines)] // The run's sequence, read top to bottom.
async fn execute<A: Artifacts>(run: &mut Run<'_>, artifacts: &A) -> Result<Executed, Stop> {
    let spec = run.spec;
    run.terraform = pick_terraform(spec, run.opts).map_err(|output| {
        Stop(Outcome::Failed {
            step: "terraform".to_owned(),
            output,
        })
    })?;
    // An apply is checked before anything is cloned: the plan must be for the current head,
    // and the planfile must be the very bytes recorded with it.
    let planfile_bytes = match (spec.command, &spec.apply) {
        (RunCommand::Plan, _) => None,
        (RunCommand::Apply, None) => {
            return Err(Stop(Outcome::Refused {
                reason: "there is no stored plan for this project: run `landfall plan` first."
                    .to_owned(),
            }));
        }
        (RunCommand::Apply, Some(apply)) => {
            if apply.planned_sha != spec.head_sha {
                return Err(Stop(Outcome::Refused {
                    reason: format!(
                        "this plan was made at commit `{}`, but the pull request's head is now \
                         `{}`. Plan again with `landfall plan` and review the new plan.",
                        apply.planned_sha, spec.head_sha
                    ),
                }));
            }
            match artifacts.get_verified(&apply.planfile).await {
                Ok(bytes) => Some(bytes),
                Err(err @ ArtifactError::ChecksumMismatch { .. }) => {
                    return Err(Stop(Outcome::Refused {
                        reason: format!("the stored planfile will not be applied: {err}."),
                    }));
                }
                Err(err) => return Err(failed("download", format!("{err:#}"))),
            }
        }
    };

    // The clone URL is checked before the token is written or git runs.
    let allow_file = crate::config::allow_file_clone(&settings::var)
        .map_err(|err| failed("clone", err.to_string()))?;
    let hosts = git::CloneHosts::for_vcs(spec.provider, vcs_url(spec).as_deref());
    let clone_url = git::check_clone_url(&spec.clone_url, &hosts, allow_file)
        .map_err(|err| failed("clone", format!("refused: {err}")))?;
    let git_env = prepare(spec, run.opts, &clone_url.host).map_err(|err| {
        failed(
            "prepare",
            format!("preparing {}: {err}", run.opts.work_dir.display()),
        )
    })?;
    let repo = run.opts.work_dir.join("repo");
    let clone_started = Instant::now();
    let cloned = git::clone_at(
        &spec.clone_url,
        spec.head_sha.as_str(),
        &repo,
        &git_env,
        run.deadline,
    );
    run.clone_time = clone_started.elapsed();
    // The token served the clone only: it is gone before any step (Terraform, `run`) starts.
    git::forget_token(&git::token_file(&run.opts.work_dir))
        .map_err(|err| failed("clone", format!("removing the token file: {err}")))?;
    match cloned {
        Ok(cloned) => run.record(
            &format!("$ git fetch {} {}", spec.clone_url, spec.head_sha),
            &format!("checked out {} (shallow: {})", cloned.sha, cloned.shallow),
        ),
        Err(git::CloneError::TimedOut) => {
            return Err(Stop(Outcome::TimedOut {
                step: "clone".to_owned(),
                limit_secs: run.limit_secs(),
                output: String::new(),
            }));
        }
        Err(err) => return Err(failed("clone", format!("{err}"))),
    }
    let dir = git::project_dir(&repo, &spec.project.dir)
        .filter(|dir| dir.is_dir())
        .ok_or_else(|| {
            failed(
                "clone",
                format!(
                    "the project directory {:?} does not exist at {}",
                    spec.project.dir, spec.head_sha
                ),
            )
        })?;

    if let Some(bytes) = &planfile_bytes {
        fs::write(&run.planfile, bytes)
            .map_err(|err| failed("download", format!("writing the planfile: {err}")))?;
    }
    run.env = git::step_git_env();
    run.env.extend(
        workflow::step_env(spec, &dir, &run.planfile)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    run.env.extend(
        [
            ("TF_IN_AUTOMATION", "1".to_owned()),
            ("TF_INPUT", "0".to_owned()),
            ("CHECKPOINT_DISABLE", "1".to_owned()),
            (
                "TF_PLUGIN_CACHE_DIR",
                run.opts.plugin_cache.display().to_string(),
            ),
        ]
        .map(|(name, value)| (name.to_owned(), value)),
    );
    fs::create_dir_all(&run.opts.plugin_cache)
        .map_err(|err| failed("prepare", format!("creating the plugin cache: {err}")))?;

    let steps = spec
        .project
        .workflow
        .clone()
        .unwrap_or_else(|| crate::run::default_steps(spec.command));
    let output = run.steps(&steps, &dir)?;

    match spec.command {
        RunCommand::Apply => Ok((Outcome::Applied { output }, None, None)),
        RunCommand::Plan => finish_plan(run, &dir, &output, artifacts).await,
    }
}

async fn finish_plan<A: Artifacts>(
    run: &mut Run<'_>,
    dir: &Path,
    output: &str,
    artifacts: &A,
) -> Result<Executed, Stop> {
    let spec = run.spec;
    if !run.planfile.is_file() {
        return Err(failed(
            "plan",
            format!(
                "the workflow wrote no planfile at $PLANFILE ({})",
                run.planfile.display()
            ),
        ));
    }
    let args = vec![
        "show".to_owned(),
        "-json".to_owned(),
        "-no-color".to_owned(),
        run.planfile.display().to_string(),
    ];
    let (mut cmd, shown) = run.terraform(&args);
    cmd.current_dir(dir)
        .envs(run.env.iter().map(|(name, value)| (name, value)));
    for name in git::WITHHELD_VARS {
        cmd.env_remove(name);
    }
    let began = Instant::now();
    let done = process::run(cmd, Capture::Split, run.deadline, run.opts.grace, false);
    run.terraform_time += began.elapsed();
    let done = done.map_err(|err| failed("show", format!("{shown}: {err}")))?;
    if done.timed_out {
        return Err(Stop(Outcome::TimedOut {
            step: "show".to_owned(),
            limit_secs: run.limit_secs(),
            output: done.stderr_text(),
        }));
    }
    if !done.status.success() {
        return Err(failed("show", done.stderr_text()));
    }
    let json = done.text();
    let _ = fs::write(run.planfile.with_extension("json"), &json);
    let summary =
        summary::summarize(&json).map_err(|err| failed("show", format!("{shown}: {err}")))?;
    let secrets = summary::sensitive_values(&json);
    let text = summary::redact(&plan_text(output), &secrets);
    run.log = summary::redact(&run.log, &secrets);

    let planfile = if summary.has_changes() {
        let bytes = fs::read(&run.planfile)
            .map_err(|err| failed("upload", format!("reading the planfile: {err}")))?;
        let key = keys::planfile_key(
            &spec.lock_key(),
            spec.pr.0,
            spec.head_sha.as_str(),
            &spec.run_id(),
        );
        Some(
            artifacts
                .put(&key, bytes)
                .await
                .map_err(|err| failed("upload", format!("storing the planfile: {err:#}")))?,
        )
    } else {
        None
    };
    let result = ProjectResult::planned(&spec.project, &summary, text);
    Ok((result.outcome, Some(summary), planfile))
}

/// The artifact store the runner writes to, from the function's own store settings. The
/// embedded store's database is not opened: the runner only writes artifacts, and the function
/// that owns the database records the report.
pub async fn artifacts_from_env() -> Result<AnyArtifacts, crate::config::ConfigError> {
    Ok(match StoreConfig::from_env()? {
        StoreConfig::DynamoDb {
            bucket, path_style, ..
        } => {
            let sdk = crate::aws::sdk_config().await;
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(path_style)
                    .build(),
            );
            AnyArtifacts::S3(S3Artifacts::new(s3, bucket))
        }
        StoreConfig::Embedded { data_dir } => {
            AnyArtifacts::Local(LocalArtifacts::new(data_dir.join("artifacts")))
        }
    })
}

/// What a runner that records its own result talks to.
struct ReportBack {
    store: crate::store::AnyStore,
    artifacts: AnyArtifacts,
    vcs: crate::vcs::AnyVcs,
    /// The host's API base URL, for the links in statuses and comments.
    vcs_url: Option<String>,
}

impl ReportBack {
    /// The clients, built before the run so that a misconfigured runner fails before Terraform
    /// does anything.
    /// `app` is the GitHub App's client when the runner acts as one (it mints fresh tokens for
    /// however long the run takes); otherwise the client uses the token.
    async fn connect(
        spec: &RunSpec,
        opts: &RunnerOptions,
        app: Option<crate::vcs::AnyVcs>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let config = StoreConfig::from_env().context("invalid store configuration")?;
        let (store, artifacts) = config
            .connect()
            .await
            .with_context(|| format!("cannot open the store ({})", config.describe()))?;
        let vcs_url = vcs_url(spec);
        let vcs = if let Some(app) = app {
            app
        } else {
            let token = opts.token.clone().with_context(|| {
                format!(
                    "{} is not set (nor a GitHub App): a runner that records its own result needs it",
                    function_env::VCS_TOKEN
                )
            })?;
            crate::vcs::AnyVcs::new(&crate::vcs::VcsSettings {
                provider: spec.provider,
                base_url: vcs_url.clone(),
                token,
                retry: crate::vcs::RetryPolicy::default(),
            })
            .context("cannot build the VCS client")?
        };
        Ok(Self {
            store,
            artifacts,
            vcs,
            vcs_url,
        })
    }

    /// Records the run's result: plan record, commit status, the shared PR comment.
    async fn record(&self, spec: &RunSpec, report: &RunReport) -> anyhow::Result<()> {
        let reporter = crate::report::Reporter {
            store: &self.store,
            vcs: &self.vcs,
            artifacts: &self.artifacts,
            provider: spec.provider,
            vcs_url: self.vcs_url.as_deref(),
        };
        reporter
            .finish(spec, Ok(report), spec.report_back.as_ref())
            .await?;
        Ok(())
    }
}

/// The host's API base URL: `LANDFALL_VCS_URL`, else the provider's public one.
fn vcs_url(spec: &RunSpec) -> Option<String> {
    settings::var(function_env::VCS_URL)
        .or_else(|| crate::config::default_vcs_url(spec.provider).map(str::to_owned))
}

/// How long a GitHub App's installation token minted for the run stays valid at least: the
/// clone and `terraform init`'s module downloads use it; later calls mint their own.
const APP_TOKEN_VALIDITY: Duration = Duration::from_mins(45);

/// When the runner has no token but a GitHub App is configured: the App's client, and an
/// installation token for the run's repository (for git).
async fn github_app(spec: &RunSpec) -> anyhow::Result<Option<(crate::vcs::AnyVcs, SecretString)>> {
    use anyhow::Context as _;
    let Some((app, key)) = crate::config::runner_github_app().await? else {
        return Ok(None);
    };
    let client = crate::vcs::github::GithubClient::app(
        vcs_url(spec).as_deref(),
        app.app_id,
        key.expose_secret().as_bytes(),
        app.installation_id,
        crate::vcs::RetryPolicy::default(),
    )
    .context("cannot build the GitHub App's client")?;
    let repo = spec.repo.clone();
    let token = client
        .token_for(&repo, APP_TOKEN_VALIDITY)
        .await
        .with_context(|| format!("cannot mint the GitHub App's token for {repo}"))?;
    Ok(Some((crate::vcs::AnyVcs::Github(client), token)))
}

/// `landfall-runner`'s whole program; `main` only calls this.
#[must_use]
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("git-credential") {
        let operation = args.get(1).map_or("get", String::as_str);
        return match git::credential_helper_main(
            operation,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("landfall-runner git-credential: {err}");
                ExitCode::FAILURE
            }
        };
    }
    if !args.is_empty() {
        eprintln!(
            "landfall-runner takes its inputs from LANDFALL_RUN_* variables (see docs/runs.md); \
             the only subcommand is `git-credential`"
        );
        return ExitCode::from(2);
    }
    if let Err(err) = git::move_token_off_environment() {
        eprintln!("landfall-runner: taking the token out of the environment failed: {err}");
        return ExitCode::from(2);
    }
    let spec = match RunSpec::from_lookup(settings::var) {
        Ok(spec) => spec,
        Err(err) => {
            eprintln!("landfall-runner: {err}");
            return ExitCode::from(2);
        }
    };
    let mut opts = RunnerOptions::from_env();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("landfall-runner: starting the async runtime failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(async {
        if opts.token.is_none()
            && let Some(arn) = settings::var(function_env::VCS_TOKEN_ARN)
        {
            let token = crate::config::read_secret_arn(function_env::VCS_TOKEN_ARN, &arn)
                .await
                .map_err(|e| (2, e.to_string()))?;
            opts.token = Some(token);
        }
        let mut app = None;
        if opts.token.is_none()
            && let Some((client, token)) =
                github_app(&spec).await.map_err(|e| (2, format!("{e:#}")))?
        {
            opts.token = Some(token);
            app = Some(client);
        }
        if spec.report_back.is_none() {
            let artifacts = artifacts_from_env().await.map_err(|e| (2, e.to_string()))?;
            return Ok(run(&spec, &opts, &artifacts).await);
        }
        let back = ReportBack::connect(&spec, &opts, app)
            .await
            .map_err(|e| (2, format!("{e:#}")))?;
        let report = run(&spec, &opts, &back.artifacts).await;
        back.record(&spec, &report)
            .await
            .map_err(|e| (1, format!("recording the result failed: {e:#}")))?;
        Ok(report)
    });
    let report = match report {
        Ok(report) => report,
        Err((code, err)) => {
            eprintln!("landfall-runner: {err}");
            return ExitCode::from(code);
        }
    };
    let json = serde_json::to_string(&report).expect("a report serialises");
    if let Some(path) = settings::var_os(function_env::RUN_REPORT)
        && let Err(err) = fs::write(&path, &json)
    {
        eprintln!(
            "landfall-runner: writing the report to {} failed: {err}",
            Path::new(&path).display()
        );
    }
    println!("{json}");
    if report.status.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_text_keeps_what_a_reviewer_reads() {
        let output = "terraform_data.a: Refreshing state...\n\nTerraform used the selected providers to generate the following execution\nplan.\n\n  # terraform_data.a will be created\n\nPlan: 1 to add, 0 to change, 0 to destroy.\n\n─────────\n\nSaved the plan to: /w/p.tfplan\n";
        let text = plan_text(output);
        assert!(text.starts_with("Terraform used the selected providers"));
        assert!(text.ends_with("Plan: 1 to add, 0 to change, 0 to destroy."));
    }

    #[test]
    fn output_without_markers_is_kept_whole() {
        assert_eq!(plan_text("custom tool output\n"), "custom tool output");
    }
}
