//! Planning a PR: config and tree at the head, selection, locks, one run per project, results.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinSet;

use super::select::{Loaded, refused, run_spec, silenced, stages};
use super::{Context, PrContext, text};

use crate::dispatch::{DispatchOutcome, Dispatcher};
use crate::markdown::inline_code;
use crate::projects::{Request, select};
use crate::repo_config::{self, EffectivePolicy, Requirement, ResolvedConfig, ResolvedProject};
use crate::report::Reporter;
use crate::run::{CommentThread, Outcome, ProjectResult, RunCommand, RunSpec};
use crate::store::{
    ApplyLocks as _, LockHolder, LockKey, LockOutcome, PlanOutcome, PlanRecord, PlanStatus, Store,
};
use crate::vcs::tree::HeadFiles;
use crate::vcs::{PrState, StatusState, VcsClient};

/// What a command that selects projects reads at the PR's head.
pub(super) struct AtHead {
    pub changed: Vec<crate::projects::ChangedFile>,
    pub head: HeadFiles,
    pub config: ResolvedConfig,
    pub policy: EffectivePolicy,
}

impl Context {
    /// Reads the repo config at the head commit and merges it over the policy.
    pub(crate) async fn load_config(&self, ctx: &PrContext) -> anyhow::Result<Loaded> {
        self.load_config_at(self.effective_policy(ctx), &ctx.repo, &ctx.head_sha)
            .await
    }

    /// Reads the repo config at `sha` of `repo` and merges it over `policy`.
    pub(crate) async fn load_config_at(
        &self,
        policy: EffectivePolicy,
        repo: &crate::event::RepoName,
        sha: &crate::event::CommitSha,
    ) -> anyhow::Result<Loaded> {
        let mut found = None;
        for file in repo_config::config_file_candidates(&policy) {
            if let Some(bytes) = self.vcs.read_file(repo, sha, &file).await? {
                found = Some((file, String::from_utf8_lossy(&bytes).into_owned()));
                break;
            }
        }
        Ok(Loaded::resolve(policy, found.as_ref()))
    }

    /// The projects whose `plan_requirements` are met; the others are named in `notes`.
    async fn meeting_plan_requirements(
        &self,
        ctx: &PrContext,
        projects: Vec<ResolvedProject>,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Vec<ResolvedProject>> {
        if projects.iter().all(|p| p.plan_requirements.is_empty()) {
            return Ok(projects);
        }
        let mut checked = super::requirements::Checked::default();
        // Autoplan's context comes from the payload, which has no merge state: asked only when
        // a project needs `mergeable`.
        let mut ctx_now = ctx.clone();
        let wants_mergeable = projects
            .iter()
            .any(|p| p.plan_requirements.contains(&Requirement::Mergeable));
        if wants_mergeable && ctx_now.mergeable.is_none() {
            ctx_now.mergeable = self.vcs.pull_request(&ctx.repo, ctx.pr).await?.mergeable;
        }
        let mut kept = Vec::new();
        for project in projects {
            let reasons = self
                .unmet(
                    &ctx_now,
                    &project.plan_requirements,
                    "plan",
                    RunCommand::Plan,
                    &mut checked,
                )
                .await?;
            if reasons.is_empty() {
                kept.push(project);
            } else {
                notes.push(format!(
                    "{} was not planned: {}",
                    inline_code(&project.display_name()),
                    reasons.join("; ")
                ));
            }
        }
        Ok(kept)
    }

    /// The PR's changed files, and its config and Terraform files at the head, from one read
    /// of the head's tree (one archive download where the host offers it); `None` after
    /// commenting why the config cannot be used.
    pub(super) async fn at_head(&self, ctx: &PrContext) -> anyhow::Result<Option<AtHead>> {
        let policy = self.effective_policy(ctx);
        let config_files = repo_config::config_file_candidates(&policy);
        let (changed, head) = tokio::try_join!(
            self.vcs.changed_files(&ctx.repo, ctx.pr),
            HeadFiles::read(&self.vcs, &ctx.repo, &ctx.head_sha, &config_files)
        )?;
        match Loaded::resolve(policy, head.config.as_ref()) {
            Loaded::Config(loaded) => {
                let (config, policy) = *loaded;
                Ok(Some(AtHead {
                    changed,
                    head,
                    config,
                    policy,
                }))
            }
            Loaded::Invalid(comment) => {
                self.upsert_comment(ctx, None, &comment).await?;
                Ok(None)
            }
        }
    }

    /// Plans the projects `request` selects. A plan of the whole PR (no `-p`, `-d`, `-w`, nor
    /// Terraform arguments, which may narrow what it plans) sets the PR's own statuses once its
    /// runs have started, or when it starts none (refused, nothing selected).
    pub(crate) async fn plan(
        self: &Arc<Self>,
        ctx: &PrContext,
        request: &Request,
        extra_args: &[String],
    ) -> anyhow::Result<()> {
        let whole = !request.is_explicit() && extra_args.is_empty();
        let started = self.plan_selected(ctx, request, extra_args, whole).await;
        // Runs the function waited for (local dispatch) have each set them as they reported; a
        // plan that failed part way still sets them from what it left in the store.
        if whole && (self.report_back || !matches!(started, Ok(true))) {
            self.reporter().pull_statuses(ctx.pull_head()).await;
        }
        started.map(drop)
    }

    async fn plan_selected(
        self: &Arc<Self>,
        ctx: &PrContext,
        request: &Request,
        extra_args: &[String],
        whole: bool,
    ) -> anyhow::Result<bool> {
        if !self.may_plan_this_commit(ctx, request).await? {
            return Ok(false);
        }
        let Some(AtHead {
            changed,
            head,
            config,
            policy,
        }) = self.at_head(ctx).await?
        else {
            return Ok(false);
        };
        let tree = head.tree();
        let selection = match select(&config, &policy, &tree, &changed, &ctx.base_branch, request) {
            Ok(selection) => selection,
            Err(err) => {
                self.upsert_comment(ctx, None, &format!("**Cannot plan:** {err}"))
                    .await?;
                return Ok(false);
            }
        };
        let mut notes: Vec<String> = selection.notes.clone();
        // Diagnostics quote the pull request's YAML (a `dir`, a workflow's name): code, as the
        // errors are, never Markdown.
        notes.extend(config.warnings.iter().map(|w| inline_code(&w.to_string())));
        for deleted in &selection.deleted {
            notes.push(text::deleted(deleted));
        }
        if whole {
            self.keep_selection(ctx, &selection).await;
        }
        if selection.projects.is_empty() {
            if !request.automatic {
                let body = text::with_notes("No project to plan matches this request.", &notes);
                self.upsert_comment(ctx, None, &body).await?;
            }
            return Ok(false);
        }
        let projects: Vec<ResolvedProject> =
            selection.projects.into_iter().map(|s| s.project).collect();
        let projects = self
            .meeting_plan_requirements(ctx, projects, &mut notes)
            .await?;
        if projects.is_empty() {
            let body = text::with_notes("No project was planned.", &notes);
            self.upsert_comment(ctx, None, &body).await?;
            return Ok(false);
        }

        let (wanted, held_by) = self.take_locks(ctx, projects).await?;
        if !wanted.is_empty() && !self.still_open(ctx).await? {
            return Ok(false);
        }
        // Once something is planned anew, no other plan of the PR stays (a plan that selects
        // nothing, or a ready event with nothing to plan, leaves them as they are, as Atlantis
        // does).
        if !wanted.is_empty() {
            let planned: Vec<LockKey> = wanted.iter().map(|p| lock_key(ctx, p)).collect();
            notes.extend(self.discard_other_plans(ctx, request, &planned).await?);
        }
        let header = text::plan_header(ctx, &wanted, &held_by, &notes);
        let silenced = silenced(&wanted, RunCommand::Plan);
        // With every project silenced and nothing else to say, nothing is posted up front.
        let quiet = !wanted.is_empty()
            && silenced.len() == wanted.len()
            && held_by.is_empty()
            && notes.is_empty();
        let thread = CommentThread {
            comment_id: if quiet {
                None
            } else {
                Some(self.upsert_comment(ctx, None, &header).await?)
            },
            header,
            silenced,
            verbose: request.verbose,
        };
        if wanted.is_empty() {
            return Ok(false);
        }
        // Projects run in parallel within an execution order group, groups one after another;
        // within a group, a project after the projects it depends on (`depends_on`).
        let runs = wanted
            .iter()
            .map(|project| {
                let mut spec = run_spec(ctx, project, &policy, RunCommand::Plan, extra_args, None);
                spec.report_back = self.report_back.then(|| thread.clone());
                let depends_on = spec.project.depends_on.clone();
                (spec, depends_on)
            })
            .collect();
        let specs: Vec<Vec<RunSpec>> = stages(runs)
            .into_iter()
            .map(|stage| stage.into_iter().map(|(spec, _)| spec).collect())
            .collect();
        self.mark_planned(&ctx.repo, ctx.pr, &ctx.head_sha).await?;
        self.start_groups(ctx, &thread, specs).await?;
        Ok(true)
    }

    /// Takes all the projects' locks at once; projects another PR holds are left out (and
    /// their locks returned), the rest taken.
    pub(super) async fn take_locks(
        &self,
        ctx: &PrContext,
        projects: Vec<ResolvedProject>,
    ) -> anyhow::Result<(Vec<ResolvedProject>, Vec<crate::store::Lock>)> {
        let holder = LockHolder {
            pr: ctx.pr.0,
            user: ctx.user.clone(),
            head_sha: ctx.head_sha.as_str().to_owned(),
            pull_url: self.reporter().pull_url(&ctx.repo, ctx.pr),
        };
        let mut wanted = projects;
        let mut held_by = Vec::new();
        for _ in 0..3 {
            if wanted.is_empty() {
                break;
            }
            let keys: Vec<LockKey> = wanted.iter().map(|p| lock_key(ctx, p)).collect();
            match self.store.acquire_locks(&holder, &keys).await? {
                LockOutcome::Acquired => break,
                LockOutcome::HeldBy(locks) => {
                    wanted.retain(|p| !locks.iter().any(|l| l.key == lock_key(ctx, p)));
                    held_by.extend(locks);
                }
            }
        }
        Ok((wanted, held_by))
    }

    /// Whether the PR is still open now that its locks are taken. A PR merged or closed while
    /// its files were read had its locks released before these were taken: they are given back
    /// here, or the merged PR would hold them forever.
    pub(super) async fn still_open(&self, ctx: &PrContext) -> anyhow::Result<bool> {
        let now = self.vcs.pull_request(&ctx.repo, ctx.pr).await?;
        if now.state == PrState::Open {
            return Ok(true);
        }
        let release = self.store.release_pr(ctx.repo.as_str(), ctx.pr.0).await?;
        tracing::info!(
            released = release.released.len(),
            kept = release.kept.len(),
            "the pull request closed while it was being planned: its locks are given back"
        );
        Ok(false)
    }

    /// Runs `specs` in parallel; a run that cannot start is recorded as failed.
    pub(crate) async fn run_group(
        self: &Arc<Self>,
        specs: Vec<RunSpec>,
        thread: &CommentThread,
    ) -> anyhow::Result<()> {
        let mut runs = JoinSet::new();
        for spec in specs {
            let inner = Arc::clone(self);
            let thread = thread.clone();
            runs.spawn(async move {
                let result = inner.run(&spec, &thread).await;
                (spec, thread, result)
            });
        }
        while let Some(done) = runs.join_next().await {
            let (spec, thread, result) = done.context("a run task panicked")?;
            if let Err(err) = result {
                self.run_not_started(&spec, &thread, &err).await?;
            } else if let Err(err) = Box::pin(self.after_run(&spec)).await {
                tracing::error!(error = format!("{err:#}"), "what follows the run failed");
            }
        }
        Ok(())
    }

    /// Records a run that failed before or while starting. A plan that could not be dispatched
    /// gives its lock back (no lock is held without a run); an apply keeps its plan.
    async fn run_not_started(
        &self,
        spec: &RunSpec,
        thread: &CommentThread,
        err: &anyhow::Error,
    ) -> anyhow::Result<()> {
        tracing::error!(error = format!("{err:#}"), project = %spec.project.label(), "the run could not start");
        let not_dispatched = err
            .downcast_ref::<crate::dispatch::DispatchError>()
            .is_some();
        let reporter = self.reporter();
        // A merge's plan at the merge commit keeps its lock: the merge kept it for the
        // unapplied change (and its PR can take no new plan).
        let merge = crate::run::is_merge_trigger(&spec.trigger);
        if not_dispatched && spec.command == RunCommand::Plan && !merge {
            let failed = ProjectResult::new(
                &spec.project,
                spec.command,
                Outcome::Failed {
                    step: "dispatch".to_owned(),
                    output: format!(
                        "{err:#}\n\nNothing runs for this project, so its lock was released. \
                         Comment `landfall plan` to try again."
                    ),
                },
            );
            // Released before the comment that says so: a release that fails, or a function
            // stopped in between, must not leave a comment claiming a lock that is still held.
            let released = self
                .store
                .release_lock(&spec.lock_key(), Some(spec.pr.0))
                .await?;
            tracing::info!(?released, project = %spec.project.label(), "lock given back");
            reporter.publish(spec, thread, Some(&failed)).await?;
            reporter.pull_statuses_of(spec).await;
            return Ok(());
        }
        let failed = ProjectResult::new(
            &spec.project,
            spec.command,
            Outcome::Failed {
                step: if not_dispatched { "dispatch" } else { "record" }.to_owned(),
                output: format!("{err:#}"),
            },
        );
        // An apply that did not start leaves its plan as it was.
        let status = match spec.command {
            RunCommand::Apply if not_dispatched => PlanStatus::Planned,
            _ => PlanStatus::Failed,
        };
        let written = reporter
            .record_status(spec, &spec.run_id(), status, None, Some(&failed))
            .await?;
        let extra = (written != PlanOutcome::Written).then_some(&failed);
        reporter.publish(spec, thread, extra).await?;
        reporter.pull_statuses_of(spec).await;
        Ok(())
    }

    /// Records the run as started, dispatches it and, when the function records runs itself,
    /// waits for its report and records it.
    async fn run(&self, spec: &RunSpec, thread: &CommentThread) -> anyhow::Result<()> {
        let run_id = spec.run_id();
        let reporter = self.reporter();
        let existing = self.store.get_plan(&spec.lock_key(), spec.pr.0).await?;
        if existing.as_ref().is_some_and(|e| e.run_id == run_id) {
            tracing::info!(run = %run_id, "already dispatched: the first dispatch records it");
            return Ok(());
        }
        // A plan never takes the record of a run that is writing the state (apply, import,
        // state rm): that run's result would be lost, and the plan could read the state before
        // the run changed it.
        if spec.command == RunCommand::Plan
            && existing
                .as_ref()
                .is_some_and(|e| e.status == PlanStatus::Applying)
        {
            let refused = refused(
                spec,
                "an apply, import or state rm of this project is running; comment `landfall plan` once it has ended",
            );
            return reporter.publish(spec, thread, Some(&refused)).await;
        }
        // The operator's apply lock, read again as the run starts: one set while this apply was
        // being checked (a comment's requirements, a merge's comparison) still stops it.
        if spec.command != RunCommand::Plan
            && let Some(lock) = self.store.apply_lock().await?
        {
            let why = format!("not applied: {}", text::applies_locked(&lock));
            return reporter.publish(spec, thread, Some(&refused(spec, &why))).await;
        }
        let (started, verb) = match spec.command {
            RunCommand::Plan if spec.is_drift() => (PlanStatus::Planning, "Checking for drift…"),
            RunCommand::Plan => (PlanStatus::Planning, "Planning…"),
            RunCommand::Apply if spec.is_drift() => (PlanStatus::Applying, "Remediating…"),
            RunCommand::Apply => (PlanStatus::Applying, "Applying…"),
            RunCommand::Import => (PlanStatus::Applying, "Importing…"),
            RunCommand::StateRm => (PlanStatus::Applying, "Removing from the state…"),
        };
        let record = Reporter::plan_record(spec, &run_id, started, None, None);
        let written = match &spec.apply {
            // An apply starts only from the plan it was checked against, and only once: of two
            // applies of one plan (two comments, a merge and a comment) one takes the record.
            Some(apply) => match existing.filter(|e| {
                e.status == PlanStatus::Planned && e.planfile.as_ref() == Some(&apply.planfile)
            }) {
                // The plan's result (its policy checks and their approvals) stays with the
                // record while it applies: an apply refused before Terraform ran leaves the plan
                // as it was (`Reporter::record_status`).
                Some(plan) => {
                    let applying = PlanRecord {
                        result: plan.result.clone(),
                        ..record
                    };
                    self.store.replace_plan(&applying, &plan).await?
                }
                None => PlanOutcome::Changed,
            },
            None => self.store.put_plan(&record).await?,
        };
        let why = match written {
            PlanOutcome::Written => None,
            PlanOutcome::LockNotHeld(_) => Some(format!(
                "the lock was released before the {} started",
                spec.command
            )),
            PlanOutcome::Changed if spec.apply.is_some() => Some(
                "another run of this project started, or its plan changed, since this apply was \
                 checked; comment `landfall apply` again once it has ended"
                    .to_owned(),
            ),
            PlanOutcome::Changed => Some(format!(
                "a run that writes this project's state (apply, import, state rm) is still \
                 running; comment `landfall {}` again once it has ended",
                spec.command
            )),
        };
        if let Some(why) = why {
            return reporter
                .publish(spec, thread, Some(&refused(spec, &why)))
                .await;
        }
        reporter.run_status(spec, StatusState::Pending, verb).await;
        let secrets = self.run_secrets(spec).await?;
        let outcome = self.dispatcher.dispatch(spec, &secrets).await?;
        tracing::info!(run = %run_id, project = %spec.project.label(), command = %spec.command, "run dispatched");
        if let DispatchOutcome::AlreadyDispatched { .. } = outcome {
            tracing::info!(run = %run_id, "already dispatched: its report is recorded by the first");
            return Ok(());
        }
        if spec.report_back.is_some() {
            return Ok(());
        }
        let Some(report) = self.dispatcher.report(spec, &run_id, self.poll).await else {
            anyhow::bail!("run {run_id} records its own result, but it was not asked to");
        };
        // Held to what a report sent back is held to: a local run's folder is the PR code's too.
        let report = report.and_then(|report| match super::reports::belongs_to(spec, &report) {
            Ok(()) => Ok(report),
            Err(why) => Err(format!("its report was refused: {why}")),
        });
        reporter
            .finish(spec, report.as_ref().map_err(Clone::clone), Some(thread))
            .await?;
        Ok(())
    }
}

impl Context {
    /// Records an apply that will not run because of `reason`: its plan stays `planned`, the
    /// refusal is kept with it and shown in the command's comment.
    pub(crate) async fn refuse_apply(
        &self,
        spec: &RunSpec,
        thread: &CommentThread,
        reason: &str,
    ) -> anyhow::Result<()> {
        let refused = refused(spec, reason);
        let reporter = self.reporter();
        let _ = reporter
            .record_status(
                spec,
                &spec.run_id(),
                PlanStatus::Planned,
                None,
                Some(&refused),
            )
            .await?;
        reporter.publish(spec, thread, Some(&refused)).await
    }
}

pub(crate) fn lock_key(ctx: &PrContext, project: &ResolvedProject) -> LockKey {
    LockKey::of(
        &ctx.repo,
        project.name.as_deref(),
        &project.dir,
        &project.workspace,
    )
}

