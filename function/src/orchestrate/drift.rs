//! Scheduled drift detection. Each sweep (`{"landfall": "drift"}` from EventBridge Scheduler
//! under Lambda, a timer in `serve`) reads, for every repository the operator policy names, the
//! repo config at the default branch's head and checks each project whose `drift` schedule is
//! due: it takes the project's lock (a pull request holding it skips the check, said so in the
//! record and the sweep's answer) and plans the project there as a run like any plan, for
//! "pull request 0" (see [`crate::run::DRIFT_PR`]). When the run reports, its result becomes the
//! project's drift record and is reported ([`super::drift_report`]).
//!
//! `remediate` applies the check's own plan under the same lock, and only when it puts back what
//! changed outside Terraform: the project's inputs (its directory, its local modules, the repo
//! config) are the same at the checked commit as at the commit Landfall last applied it at, and,
//! where it calls modules from outside the repository, every address the plan changes was found
//! changed by Terraform's refresh (`resource_drift`). Any other change (code merged but never
//! applied, a remote module that moved) is reported, never applied.

use std::sync::Arc;

use serde::Serialize;

use super::select::{Loaded, run_spec};
use super::{Context, PrContext};
use crate::event::{CommitSha, RepoName};
use crate::markdown::inline_code;
use crate::projects::TerraformTree;
use crate::repo_config::{self, DriftMode, EffectivePolicy, ResolvedConfig, ResolvedProject};
use crate::vcs::tree::HeadFiles;
use crate::run::{
    CommentThread, DRIFT_PR, DRIFT_TRIGGER, Outcome, ProjectResult, RunCommand,
    RunSpec,
};
use crate::store::{
    ApplyLocks as _, DriftRecord, DriftState, Drifts as _, LockHolder, LockKey, LockOutcome, PlanRecord,
    PlanStatus, Remediation, Store as _, now_secs,
};
use crate::vcs::{Actor, VcsClient as _};

/// Who drift checks run as, in locks and run specs.
pub const DRIFT_USER: &str = "landfall-drift";

/// How often a drift record is read and written again when another write came between.
const DRIFT_WRITE_ATTEMPTS: usize = 5;

/// What one drift sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DriftSweep {
    /// Repositories looked at.
    pub repositories: usize,
    /// Checks started (`owner/repo project`).
    pub checked: Vec<String>,
    /// Checks skipped, with why (`owner/repo project: locked by pull request #12`).
    pub skipped: Vec<String>,
    /// Projects whose schedule was not due.
    pub not_due: usize,
    /// Projects whose last check (or remediation) is still running: not started again.
    pub running: usize,
    /// Repositories that could not be checked, with why.
    pub problems: Vec<String>,
}

impl Context {
    /// One drift sweep. A problem with one repository is said and the others go on.
    pub async fn drift_sweep(self: &Arc<Self>) -> anyhow::Result<DriftSweep> {
        let mut sweep = DriftSweep::default();
        let repositories: Vec<RepoName> = self
            .policy
            .as_ref()
            .and_then(|policy| policy.drift.as_ref())
            .map(|drift| drift.repositories().to_vec())
            .unwrap_or_default();
        let now = now_secs();
        for repo in repositories {
            sweep.repositories += 1;
            if let Err(err) = Box::pin(self.drift_repo(&repo, now, &mut sweep)).await {
                tracing::warn!(%repo, error = format!("{err:#}"), "cannot check a repository for drift");
                sweep.problems.push(format!("{repo}: {err:#}"));
            }
        }
        tracing::info!(
            checked = sweep.checked.len(),
            skipped = sweep.skipped.len(),
            not_due = sweep.not_due,
            running = sweep.running,
            "drift sweep done"
        );
        Ok(sweep)
    }

    /// Starts the due checks of `repo`'s projects.
    async fn drift_repo(
        self: &Arc<Self>,
        repo: &RepoName,
        now: u64,
        sweep: &mut DriftSweep,
    ) -> anyhow::Result<()> {
        let info = self.vcs.repository(repo).await?;
        let policy = self.policy_for(repo, &info.default_branch);
        let files = repo_config::config_file_candidates(&policy);
        let head = HeadFiles::read(&self.vcs, repo, &info.head_sha, &files).await?;
        let (config, policy) = match Loaded::resolve(policy, head.config.as_ref()) {
            Loaded::Config(loaded) => *loaded,
            Loaded::Invalid(why) => anyhow::bail!("the repo config cannot be used: {why}"),
        };
        let mut specs = Vec::new();
        for project in drift_projects(&config, &policy, &head.tree()) {
            let Some(settings) = &project.drift else {
                continue;
            };
            let key = LockKey::of(
                repo,
                project.name.as_deref(),
                &project.dir,
                &project.workspace,
            );
            let label = format!("{repo} {}", key.project_label());
            let mut record = self
                .store
                .get_drift(&key)
                .await?
                .unwrap_or_else(|| DriftRecord::new(key.clone()));
            let last = (record.last_checked > 0).then_some(record.last_checked);
            if !settings.schedule.is_due(last, now) {
                sweep.not_due += 1;
                continue;
            }
            // A check still running is not started again (the sweeper ends one that is lost).
            if self
                .store
                .get_plan(&key, DRIFT_PR.0)
                .await?
                .is_some_and(|run| run.in_progress())
            {
                sweep.running += 1;
                continue;
            }
            let holder = LockHolder {
                pr: DRIFT_PR.0,
                user: DRIFT_USER.to_owned(),
                head_sha: info.head_sha.as_str().to_owned(),
                pull_url: String::new(),
            };
            let taken = self
                .store
                .acquire_locks(&holder, std::slice::from_ref(&key))
                .await?;
            if let LockOutcome::HeldBy(locks) = taken {
                let by = locks.first().map_or(0, |lock| lock.holder.pr);
                let why = format!("locked by pull request #{by}");
                record.skipped = Some(why.clone());
                record.last_checked = now;
                record.version += 1;
                if !self.store.put_drift(&record).await? {
                    // Written meanwhile (a check's end, an apply): the next sweep notes the skip.
                    tracing::info!(project = %key.project_label(), "the drift record changed meanwhile; the skip is not noted");
                }
                sweep.skipped.push(format!("{label}: {why}"));
                continue;
            }
            let ctx = drift_context(self, repo, &info, settings.mode, now);
            let mut spec = run_spec(&ctx, &project, &policy, RunCommand::Plan, &[], None);
            // A check plans to compare, not to be applied by a person: no policy checks.
            spec.project.policy_sets.clear();
            spec.report_back = self.report_back.then(drift_thread);
            sweep.checked.push(label);
            specs.push(spec);
        }
        if !specs.is_empty() {
            Box::pin(self.run_group(specs, &drift_thread())).await?;
        }
        Ok(())
    }

    /// After a drift check's or remediation's run ended (`record`, as the store holds it now):
    /// the project's drift record, a remediation when due, the lock given back, the report.
    /// `spec` is the run's, when known (the sweeper failing a run knows only its record).
    pub(crate) async fn after_drift(
        self: &Arc<Self>,
        record: &PlanRecord,
        spec: Option<&RunSpec>,
    ) -> anyhow::Result<()> {
        let key = &record.key;
        let (drift, reported_before, remediation) = self.note_drift_end(record, spec).await?;
        // The lock stays with the check; the remediation's own end gives it back.
        if let Some(spec) = remediation
            && let Some(apply) = self.apply_of(spec, record).await?
        {
            self.drift_status(&drift, None).await;
            Box::pin(self.run_group(vec![apply], &drift_thread())).await?;
            return Ok(());
        }
        let released = self.store.release_lock(key, Some(DRIFT_PR.0)).await?;
        tracing::info!(?released, project = %key.project_label(), state = drift.state.as_str(), "drift check ended");
        let repo = RepoName::new(&key.repo);
        // A check that found what the last one found leaves the repository's report as it is:
        // no need to read every project's record again (a sweep of N projects would read N²).
        let issue = if reported_before == Some(super::drift_report::reported_facts(&drift)) {
            let kept = self.store.repo_drift(repo.as_str()).await?;
            kept.issue.map(|issue| issue.url)
        } else {
            self.report_drift(&repo).await?
        };
        self.drift_status(&drift, issue.as_deref()).await;
        Ok(())
    }

    /// The project's drift record updated with the run that ended as `record` and written, with
    /// the facts it reported before and the remediation to start, if any. Read and decided
    /// again when another write came between (an import that cleared the applied commit).
    async fn note_drift_end<'s>(
        &self,
        record: &PlanRecord,
        spec: Option<&'s RunSpec>,
    ) -> anyhow::Result<(DriftRecord, Option<String>, Option<&'s RunSpec>)> {
        let key = &record.key;
        for _ in 0..DRIFT_WRITE_ATTEMPTS {
            let known = self.store.get_drift(key).await?;
            let reported_before = known.as_ref().map(super::drift_report::reported_facts);
            let mut drift = known.unwrap_or_else(|| DriftRecord::new(key.clone()));
            let result = record.result.as_ref();
            let command = result.map_or(RunCommand::Plan, |r| r.command);
            let now = now_secs();
            let mut remediation = None;
            if command == RunCommand::Plan {
                checked(&mut drift, record, now);
                let wants_remediation = record
                    .trigger
                    .as_deref()
                    .is_some_and(|t| t.starts_with(&remediate_trigger_prefix()));
                if drift.state == DriftState::Drifted && wants_remediation {
                    match self.remediation_refused(&drift, record).await? {
                        Some(why) => drift.remediated(Remediation {
                            at: now,
                            sha: record.head_sha.clone(),
                            outcome: "refused".to_owned(),
                            detail: why,
                        }),
                        None => remediation = spec,
                    }
                }
            } else {
                remediated(&mut drift, record, now);
            }
            drift.version += 1;
            if self.store.put_drift(&drift).await? {
                return Ok((drift, reported_before, remediation));
            }
        }
        anyhow::bail!(
            "the drift record of {} kept changing while it was written",
            key.project_label()
        )
    }

    /// Changes `key`'s drift record with `change` (which says whether it changed anything),
    /// creating one first when `create`; read and changed again when another write came
    /// between.
    async fn change_drift(
        &self,
        key: &LockKey,
        create: bool,
        change: impl Fn(&mut DriftRecord) -> bool,
    ) -> anyhow::Result<()> {
        for _ in 0..DRIFT_WRITE_ATTEMPTS {
            let mut drift = match self.store.get_drift(key).await? {
                Some(drift) => drift,
                None if create => DriftRecord::new(key.clone()),
                None => return Ok(()),
            };
            if !change(&mut drift) {
                return Ok(());
            }
            drift.version += 1;
            if self.store.put_drift(&drift).await? {
                return Ok(());
            }
        }
        anyhow::bail!(
            "the drift record of {} kept changing while it was written",
            key.project_label()
        )
    }

    /// Why the check's plan may not be applied by a remediation, or `None` when it only puts
    /// back what changed outside Terraform: the project's inputs are those Landfall last applied
    /// it at. That resources the plan changes drifted is not enough: a change merged but never
    /// applied would be applied with the drift's (an attribute of a drifted resource, a replace,
    /// an output). And a project that calls modules from outside the repository (a registry or
    /// Git source) has inputs no commit here pins: there, every resource the plan changes must be
    /// one Terraform's refresh found changed outside it.
    async fn remediation_refused(
        &self,
        drift: &DriftRecord,
        record: &PlanRecord,
    ) -> anyhow::Result<Option<String>> {
        // The operator's apply lock stops remediations as it stops every other apply.
        if let Some(lock) = self.store.apply_lock().await? {
            return Ok(Some(super::text::applies_locked(&lock)));
        }
        if record.planfile.is_none() {
            return Ok(Some("the check stored no plan to apply".to_owned()));
        }
        let beyond: Vec<String> = drift
            .addresses
            .iter()
            .filter(|address| !drift.drifted.contains(address))
            .map(|address| inline_code(address))
            .collect();
        let lead = if beyond.is_empty() {
            String::new()
        } else {
            format!(
                "the plan also changes {}, which Terraform did not find changed outside it, and ",
                beyond.join(", ")
            )
        };
        let Some(applied) = &drift.applied_sha else {
            return Ok(Some(format!(
                "{lead}Landfall has not applied this project yet, so nothing shows that the plan \
                 only puts back what changed outside Terraform (a change merged but never \
                 applied would be applied with it): apply the project once through a pull request"
            )));
        };
        let repo = RepoName::new(&record.key.repo);
        let policy = self.policy_for(&repo, "");
        let files = repo_config::config_file_candidates(&policy);
        let checked = CommitSha::new(&record.head_sha);
        if !beyond.is_empty() && self.calls_remote_modules(&repo, &checked, record, &files).await? {
            return Ok(Some(format!(
                "{lead}the project calls modules from outside the repository, whose code can \
                 change with no commit here: review that change and apply it through a pull \
                 request"
            )));
        }
        let changed = self
            .inputs_changed(
                &repo,
                &[(applied.as_str(), record.key.dir.as_str())],
                &checked,
                &files,
            )
            .await?;
        if changed.first().copied().unwrap_or(true) {
            return Ok(Some(format!(
                "{lead}the project's code changed since Landfall applied it at `{}`: review and \
                 apply that change through a pull request",
                crate::report::short(applied)
            )));
        }
        Ok(None)
    }

    /// Whether the project of `record`, or a local module it calls, calls a module from
    /// outside the repository at `commit`.
    async fn calls_remote_modules(
        &self,
        repo: &RepoName,
        commit: &CommitSha,
        record: &PlanRecord,
        config_files: &[String],
    ) -> anyhow::Result<bool> {
        let tree = HeadFiles::read(&self.vcs, repo, commit, config_files).await?.tree();
        let closure = super::merge::inputs::module_closure(&tree, &record.key.dir);
        Ok(closure
            .iter()
            .any(|dir| tree.dirs.get(dir).is_some_and(|d| d.remote_modules)))
    }

    /// Keeps what a pull request's run did to a project's state, for remediation's check that
    /// nothing but drift would be applied (repositories swept for drift only): the commit a
    /// successful apply applied, or, `None`, that `import`, `state rm` or a failed apply edited
    /// the state, so that no commit describes it until the next apply (a remediation would undo
    /// the edit). The state is the directory's and workspace's: a project of the same state
    /// under another name (a pull request's config may rename it) no longer has an applied
    /// commit either.
    pub(crate) async fn note_state_written(
        &self,
        record: &PlanRecord,
        applied: Option<&str>,
    ) -> anyhow::Result<()> {
        let swept = self
            .policy
            .as_ref()
            .and_then(|policy| policy.drift.as_ref())
            .is_some_and(|drift| drift.sweeps(&record.key.repo));
        if !swept {
            return Ok(());
        }
        let same_state = |key: &crate::run::LockKey| {
            (&key.dir, &key.workspace) == (&record.key.dir, &record.key.workspace)
        };
        for other in self.store.list_drift(Some(&record.key.repo)).await? {
            if other.key != record.key && same_state(&other.key) && other.applied_sha.is_some() {
                self.change_drift(&other.key, false, |drift| drift.applied_sha.take().is_some())
                    .await?;
            }
        }
        let applied = applied.map(str::to_owned);
        self.change_drift(&record.key, applied.is_some(), |drift| {
            let changed = drift.applied_sha != applied;
            drift.applied_sha.clone_from(&applied);
            changed
        })
        .await
    }
}

/// The projects a drift sweep looks at: the configured ones with drift settings and, where
/// projects are discovered, every other Terraform root with the file's (or policy's) default.
fn drift_projects(
    config: &ResolvedConfig,
    policy: &EffectivePolicy,
    tree: &TerraformTree,
) -> Vec<ResolvedProject> {
    let mut projects: Vec<ResolvedProject> = config
        .projects
        .iter()
        .filter(|p| p.drift.is_some())
        .cloned()
        .collect();
    if let Some(drift) = config.drift.as_ref().filter(|_| config.autodiscover()) {
        for dir in tree.roots() {
            if config.projects.iter().any(|p| p.dir == dir) || config.autodiscover.ignores(dir) {
                continue;
            }
            let mut project = ResolvedProject::with_defaults(policy, dir);
            project.drift = Some(drift.clone());
            projects.push(project);
        }
    }
    projects
}

/// The trigger prefix of checks whose drift is remediated.
fn remediate_trigger_prefix() -> String {
    format!("{DRIFT_TRIGGER}remediate-")
}

/// The thread a drift run reports into: none (a drift check has no pull request).
fn drift_thread() -> CommentThread {
    CommentThread {
        comment_id: None,
        header: String::new(),
        silenced: Vec::new(),
        verbose: false,
    }
}

/// A drift check as the planning code sees a pull request: the default branch's head, "pull
/// request 0", the drift user.
fn drift_context(
    ctx: &Context,
    repo: &RepoName,
    info: &crate::vcs::RepoInfo,
    mode: DriftMode,
    now: u64,
) -> PrContext {
    let mode = match mode {
        DriftMode::Report => "report",
        DriftMode::Remediate => "remediate",
    };
    PrContext {
        provider: ctx.provider,
        repo: repo.clone(),
        pr: DRIFT_PR,
        head_sha: info.head_sha.clone(),
        head_branch: info.default_branch.clone(),
        base_branch: info.default_branch.clone(),
        clone_url: info.clone_url.clone(),
        user: DRIFT_USER.to_owned(),
        sender: Actor {
            login: DRIFT_USER.to_owned(),
            id: None,
        },
        author: String::new(),
        author_id: None,
        head_repo: Some(repo.clone()),
        announce_fork_skip: false,
        mergeable: None,
        state: crate::vcs::PrState::Open,
        merge_sha: None,
        delivered_head: None,
        trigger: format!("{DRIFT_TRIGGER}{mode}-{now}"),
        access: Arc::default(),
    }
}

/// `drift` updated with the check that ended as `record`.
fn checked(drift: &mut DriftRecord, record: &PlanRecord, now: u64) {
    let result = record.result.as_ref();
    drift.last_checked = now;
    drift.checked_sha.clone_from(&record.head_sha);
    drift.run_id.clone_from(&record.run_id);
    drift.skipped = None;
    drift.log = result.and_then(|r| r.log.clone());
    match record.status {
        PlanStatus::NoChanges => {
            drift.state = DriftState::InSync;
            drift.first_seen = None;
            "No changes.".clone_into(&mut drift.summary);
            drift.addresses.clear();
            drift.drifted.clear();
        }
        PlanStatus::Planned => {
            drift.state = DriftState::Drifted;
            drift.first_seen = drift.first_seen.or(Some(now));
            drift.summary = match result.map(|r| &r.outcome) {
                Some(Outcome::Planned { summary, .. }) => summary.clone(),
                _ => "Changes.".to_owned(),
            };
            let facts = result.and_then(|r| r.drift.clone()).unwrap_or_default();
            drift.addresses = facts.changed;
            drift.drifted = facts.drifted;
        }
        _ => {
            drift.state = DriftState::Failed;
            drift.summary = failure_line(result);
        }
    }
}

/// `drift` updated with the remediation that ended as `record`.
fn remediated(drift: &mut DriftRecord, record: &PlanRecord, now: u64) {
    let result = record.result.as_ref();
    let (outcome, detail) = if record.status == PlanStatus::Applied {
        let addresses: Vec<String> = drift.addresses.iter().map(|a| inline_code(a)).collect();
        let detail = format!("applied the plan of {}", addresses.join(", "));
        drift.state = DriftState::InSync;
        drift.first_seen = None;
        "Remediated: applied back to the code.".clone_into(&mut drift.summary);
        drift.addresses.clear();
        drift.drifted.clear();
        drift.applied_sha = Some(record.head_sha.clone());
        ("applied", detail)
    } else {
        ("failed", failure_line(result))
    };
    drift.remediated(Remediation {
        at: now,
        sha: record.head_sha.clone(),
        outcome: outcome.to_owned(),
        detail,
    });
}

/// One line saying why a run failed; what the run printed is shown as code (a failed check's
/// output is the default branch's and the cloud's, never Markdown in the tracking issue).
fn failure_line(result: Option<&ProjectResult>) -> String {
    let first_line = |text: &str| -> String {
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        line.chars().take(300).collect()
    };
    match result.map(|r| &r.outcome) {
        Some(Outcome::Failed { step, output }) => match first_line(output) {
            line if line.is_empty() => format!("failed in {}", inline_code(step)),
            line => format!("failed in {}: {}", inline_code(step), inline_code(&line)),
        },
        Some(Outcome::TimedOut { step, .. }) => format!("timed out in {}", inline_code(step)),
        Some(Outcome::Refused { reason }) => format!("refused: {}", first_line(reason)),
        _ => "the check failed".to_owned(),
    }
}
