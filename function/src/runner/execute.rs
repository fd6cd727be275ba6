//! One run, start to end: the apply's checks, the clone at the head commit, the pre-workflow
//! hooks ([`super::hooks`]), the workflow's steps under the run's time limit ([`super::steps`]),
//! then the plan's result ([`super::plan`]), the post-workflow hooks, the log stored as an
//! artifact, and the [`RunReport`] with the token cut from everything it holds.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret as _;

use super::options::vcs_url;
use super::plan::finish_plan;
use super::process::{self, Capture, Finished};
use super::state::{Executed, Run, Stop, failed};
use super::terraform::pick_terraform;
use super::{RunnerOptions, STALE_PLAN_TEXT, git, workflow};
use crate::config::{env_vars as function_env, process as settings};
use crate::run::cap::RESULT_TEXT_LIMIT;
use crate::run::summary;
use crate::run::{
    Outcome, ProjectResult, RunCommand, RunReport, RunSpec, RunStatus, StepOutput, Timings,
};
use crate::store::artifacts::{ArtifactError, Artifacts};
use crate::store::keys;

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

    /// The run passed its time limit in `step`, having printed `output`.
    pub(super) fn timed_out(&self, step: &str, output: String) -> Stop {
        Stop(Outcome::TimedOut {
            step: step.to_owned(),
            limit_secs: self.spec.project.timeout.as_secs(),
            output,
        })
    }

    /// Runs `cmd` to its end or the run's deadline; its time counts as Terraform's.
    pub(super) fn wait(
        &mut self,
        cmd: Command,
        capture: Capture,
        echo: process::Echo,
    ) -> io::Result<Finished> {
        let began = Instant::now();
        let done = process::run(cmd, capture, self.deadline, self.opts.grace, echo);
        self.terraform_time += began.elapsed();
        done
    }

    /// The run was cancelled in `step`, having printed `output`.
    pub(super) fn cancelled(step: &str, output: &str) -> Stop {
        failed(
            step,
            format!(
                "{output}\nThe run was cancelled (`landfall cancel`) during this step; nothing after it ran."
            ),
        )
    }

    /// Runs one process as a step; `Err` ends the run.
    pub(super) fn exec(
        &mut self,
        step: &str,
        cmd: Command,
        shown: &str,
        dir: &Path,
    ) -> Result<String, Stop> {
        self.exec_as(step, cmd, shown, dir, None)
    }

    /// [`Self::exec`] of a step whose output stays in the runner (`hidden` says which: an
    /// `env` step, `output: hide`): not echoed, not in the log, not in a failure's text. The
    /// log and the comment are read by whoever can read the PR.
    pub(super) fn exec_hidden(
        &mut self,
        step: &str,
        cmd: Command,
        shown: &str,
        dir: &Path,
        hidden: &str,
    ) -> Result<String, Stop> {
        self.exec_as(step, cmd, shown, dir, Some(hidden))
    }

    fn exec_as(
        &mut self,
        step: &str,
        mut cmd: Command,
        shown: &str,
        dir: &Path,
        hidden: Option<&str>,
    ) -> Result<String, Stop> {
        if process::cancel_requested() {
            return Err(Self::cancelled(step, ""));
        }
        if Instant::now() >= self.deadline {
            return Err(self.timed_out(step, String::new()));
        }
        cmd.current_dir(dir);
        for name in git::WITHHELD_VARS {
            cmd.env_remove(name);
        }
        cmd.envs(self.env.iter().map(|(name, value)| (name, value)));
        // The Job's log is read by whoever can read the namespace's pods: what the texts cut is
        // cut there too.
        let echo = (self.opts.echo && hidden.is_none()).then(|| self.cut_from_texts());
        let done = self
            .wait(cmd, Capture::Merged, echo)
            .map_err(|err| failed(step, format!("{shown}: {err}")))?;
        let text = done.text();
        let kept = match hidden {
            None => text.clone(),
            Some(why) => format!("({why}: the output is not kept)"),
        };
        self.record(&format!("$ {shown}"), &kept);
        if done.cancelled {
            return Err(Self::cancelled(step, &kept));
        }
        if done.timed_out {
            return Err(self.timed_out(step, kept));
        }
        if !done.status.success() {
            if hidden.is_none() && step == "apply" && refused_as_stale(&text) {
                return Err(Stop(Outcome::Refused {
                    reason: format!(
                        "Terraform refused the saved plan as stale: the state changed after \
                         this plan was made, so it can no longer be applied as reviewed. Plan \
                         again with `landfall plan`.\n\n{}",
                        fence(&text)
                    ),
                }));
            }
            if hidden.is_some() {
                return Err(failed(
                    step,
                    format!("`{shown}` failed ({}); {kept}", done.status),
                ));
            }
            return Err(failed(step, text));
        }
        Ok(text)
    }

    /// Where the repository is cloned.
    pub(super) fn repo_dir(&self) -> PathBuf {
        self.opts.work_dir.join("repo")
    }

    pub(super) fn terraform(&self, args: &[String]) -> (Command, String) {
        let mut cmd = Command::new(&self.terraform);
        cmd.args(args);
        (cmd, format!("terraform {}", args.join(" ")))
    }
}

/// `text` as a code block: the step printed it, so nothing in it may close the block.
fn fence(text: &str) -> String {
    crate::markdown::fenced(text.trim_end(), "")
}

/// Prepares the work directory and the token file; returns the git environment.
fn prepare(spec: &RunSpec, opts: &RunnerOptions, host: &str) -> io::Result<Vec<(String, String)>> {
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
    let mut username = git::token_username(spec.provider).to_owned();
    if let Some(token) = &opts.token {
        let (user, secret) = git::clone_credential(spec.provider, token.expose_secret());
        username = user;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&token_file)?;
        file.write_all(secret.as_bytes())?;
    }
    Ok(git::git_env(&opts.helper_exe, host, &username, &token_file))
}

/// Executes `spec` and returns its report; planfiles and logs go to `artifacts`. Blocking
/// work (git, Terraform) runs on the calling thread: this is the runner process's one job.
pub async fn run<A: Artifacts>(spec: &RunSpec, opts: &RunnerOptions, artifacts: &A) -> RunReport {
    let mut run = Run::new(
        spec,
        opts,
        Instant::now() + spec.project.timeout,
        opts.work_dir.join("out").join("plan.tfplan"),
    );
    let (outcome, summary, planfile) = match execute(&mut run, artifacts).await {
        Ok(done) => done,
        Err(Stop(outcome)) => (outcome, None, None),
    };
    let mut outcome = outcome;
    // A failure's or an apply's text too: a step after `show` may have printed the plan's
    // sensitive values. A plan's text is cut of them already (twice would cut the marker).
    let cut = match outcome {
        Outcome::Planned { .. } | Outcome::NoChanges { .. } => run.withheld.clone(),
        _ => run.cut_from_texts(),
    };
    for text in outcome.texts_mut() {
        *text = summary::redact(text, &cut);
    }
    let mut result = ProjectResult::new(&spec.project, spec.command, outcome);
    // The summary table's counts (plans with changes only, as `ProjectResult::planned` keeps).
    result.counts = summary
        .as_ref()
        .filter(|s| s.has_changes() && !s.errored)
        .map(|s| s.counts);
    result.steps = run.finished_outputs();
    result.policies = std::mem::take(&mut run.policies);
    let status = match &result.outcome {
        // A post-workflow hook that failed fails the run; its outcome is still shown.
        _ if result.step_failed() => RunStatus::Failed,
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
    let hidden = [secrets.as_slice(), &run.cut_from_texts()].concat();
    run.log = summary::redact(&run.log, &hidden);
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

impl Run<'_> {
    /// Marks the outcome's place after the outputs so far, unless the workflow marked it.
    fn mark_outcome(&mut self) {
        if !self.outputs.contains(&StepOutput::Outcome) {
            self.outputs.push(StepOutput::Outcome);
        }
    }

    /// The values cut from what the steps printed: the plan's sensitive ones and what `env`
    /// and `multienv` steps read.
    pub(super) fn cut_from_texts(&self) -> Vec<String> {
        [self.sensitive.as_slice(), &self.withheld].concat()
    }

    /// The outputs as the result keeps them: the outcome's place marked, sensitive values cut,
    /// the texts within [`RESULT_TEXT_LIMIT`]; none when the outcome's text is all there is.
    fn finished_outputs(&mut self) -> Vec<StepOutput> {
        self.mark_outcome();
        let mut outputs = std::mem::take(&mut self.outputs);
        if outputs.len() == 1 {
            return Vec::new();
        }
        let cut = self.cut_from_texts();
        for output in &mut outputs {
            if let StepOutput::Printed {
                command,
                description,
                text,
                ..
            } = output
            {
                for text in [command, text].into_iter().chain(description) {
                    *text = summary::redact(text, &cut);
                }
            }
        }
        crate::run::result::cap_texts(&mut outputs, RESULT_TEXT_LIMIT);
        outputs
    }
}

/// `report` with every `secrets` cut from its text (comment, outputs, resource addresses).
fn redact_report(report: RunReport, secrets: &[String]) -> RunReport {
    let json = serde_json::to_string(&report).expect("a report serialises");
    // As JSON writes them (a quote or a backslash is escaped).
    let escaped: Vec<String> = secrets.iter().map(|s| summary::json_form(s)).collect();
    let redacted = summary::redact(&json, &escaped);
    if redacted == json {
        return report;
    }
    serde_json::from_str(&redacted).unwrap_or(report)
}

/// An apply's checks, before anything is cloned: the plan must be for the current head, and
/// the planfile must be the very bytes recorded with it. Returns those bytes (`None` for a
/// plan).
async fn checked_planfile<A: Artifacts>(
    spec: &RunSpec,
    artifacts: &A,
) -> Result<Option<Vec<u8>>, Stop> {
    match (spec.command, &spec.apply) {
        (RunCommand::Plan | RunCommand::Import | RunCommand::StateRm, _) => Ok(None),
        (RunCommand::Apply, None) => Err(Stop(Outcome::Refused {
            reason: "there is no stored plan for this project: run `landfall plan` first."
                .to_owned(),
        })),
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
                Ok(bytes) => Ok(Some(bytes)),
                Err(err @ ArtifactError::ChecksumMismatch { .. }) => Err(Stop(Outcome::Refused {
                    reason: format!("the stored planfile will not be applied: {err}."),
                })),
                Err(err) => Err(failed("download", format!("{err:#}"))),
            }
        }
    }
}

/// Clones the repository at the head commit; returns the clone's root and the project's
/// directory in it.
fn clone(run: &mut Run<'_>) -> Result<(PathBuf, PathBuf), Stop> {
    let spec = run.spec;
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
    let repo = run.repo_dir();
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
        Err(git::CloneError::TimedOut) => return Err(run.timed_out("clone", String::new())),
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
    Ok((repo, dir))
}

/// The variables a step (or, with `dir` the clone's root, a hook) sees.
fn step_env(run: &Run<'_>, dir: &Path, versioned: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = git::step_git_env();
    env.extend(
        workflow::step_env(run.spec, dir, &run.planfile)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    env.extend_from_slice(versioned);
    env.extend(
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
    env
}

/// What Atlantis gives `run` steps to reach the project's version: `ATLANTIS_TERRAFORM_VERSION`,
/// the version of the binary the run uses (not the constraint as written), and a folder after
/// the runner's own `PATH` holding `terraform<version>` (`tofu<version>`) for it, as Atlantis'
/// bin folder does (a Terragrunt workflow sets `TERRAGRUNT_TFPATH=terraform$ATLANTIS_...`).
/// Nothing when the binary does not say its version.
fn versioned_binary(run: &Run<'_>, known: Option<String>) -> Vec<(String, String)> {
    // Known when a pinned version chose the binary; else asked once.
    let Some(version) = known.or_else(|| super::terraform::installed_version(&run.terraform).ok())
    else {
        return Vec::new();
    };
    let bin = run.opts.work_dir.join("bin");
    let link = bin.join(format!(
        "{}{version}",
        run.spec.project.distribution.program()
    ));
    let linked = fs::create_dir_all(&bin)
        .and_then(|()| match fs::remove_file(&link) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => std::os::unix::fs::symlink(&run.terraform, &link),
        })
        .is_ok();
    let mut env = vec![("ATLANTIS_TERRAFORM_VERSION".to_owned(), version)];
    if linked {
        // An empty entry would be the working folder, the clone: none is added.
        let path = match settings::var("PATH").filter(|p| !p.is_empty()) {
            Some(path) => format!("{path}:{}", bin.display()),
            None => bin.display().to_string(),
        };
        env.push(("PATH".to_owned(), path));
    }
    env
}

async fn execute<A: Artifacts>(run: &mut Run<'_>, artifacts: &A) -> Result<Executed, Stop> {
    let spec = run.spec;
    let planfile_bytes = checked_planfile(spec, artifacts).await?;
    let (repo, dir) = clone(run)?;
    let (terraform, version) =
        pick_terraform(spec, run.opts, &dir).map_err(|output| failed("terraform", output))?;
    run.terraform = terraform;
    if let Some(bytes) = &planfile_bytes {
        fs::write(&run.planfile, bytes)
            .map_err(|err| failed("download", format!("writing the planfile: {err}")))?;
    }
    let versioned = versioned_binary(run, version);
    run.env = step_env(run, &dir, &versioned);
    run.hook_env = step_env(run, &repo, &versioned);
    fs::create_dir_all(&run.opts.plugin_cache)
        .map_err(|err| failed("prepare", format!("creating the plugin cache: {err}")))?;

    run.pre_hooks(&repo)?;
    let steps = spec
        .project
        .workflow
        .clone()
        .unwrap_or_else(|| crate::run::default_steps(spec.command));
    let done = match run.workflow(&steps, &dir) {
        Ok(output) => match spec.command {
            RunCommand::Apply | RunCommand::Import | RunCommand::StateRm => {
                Ok((Outcome::Applied { output }, None, None))
            }
            RunCommand::Plan => finish_plan(run, &dir, &output, artifacts).await,
        },
        Err(stop) => Err(stop),
    };
    run.mark_outcome();
    if !(spec.command == RunCommand::Plan && done.is_ok()) {
        super::plan::remove_showfile(run);
    }
    if !matches!(done, Err(Stop(Outcome::TimedOut { .. }))) {
        run.post_hooks(&repo);
    }
    done
}

/// Whether `output`, a failed built-in `apply`'s, is Terraform refusing its saved plan as stale:
/// the error is the first thing it printed, so nothing was changed. The same words printed by
/// anything else (a provisioner, after resources were made) are a failure like any other.
fn refused_as_stale(output: &str) -> bool {
    output
        .lines()
        .map(|line| line.trim_start_matches(['╷', '│']).trim())
        .find(|line| !line.is_empty())
        .is_some_and(|line| line.strip_prefix("Error: ") == Some(STALE_PLAN_TEXT))
}

#[cfg(test)]
mod tests;
