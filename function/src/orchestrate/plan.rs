//! Planning a PR: config and tree at the head, selection, locks, one run per project, results.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinSet;

use super::{Inner, PrContext, text};
use crate::dispatch::{DispatchOutcome, Dispatcher, ProjectSpec, RunCommand, RunSpec};
use crate::projects::discover::is_terraform_file;
use crate::projects::{Request, TerraformTree, select};
use crate::repo_config::{self, EffectivePolicy, ResolvedConfig, ResolvedProject};
use crate::runner::comment::{Outcome, ProjectResult};
use crate::runner::{RunReport, RunStatus, workflow::Step};
use crate::store::{LockHolder, LockKey, LockOutcome, PlanOutcome, PlanRecord, PlanStatus, Store};
use crate::vcs::{CommentId, CommitStatus, StatusState, VcsClient, status_context};

/// The config at the head, or the comment that says why it cannot be used.
pub(crate) enum Loaded {
    Config(Box<(ResolvedConfig, EffectivePolicy)>),
    Invalid(String),
}

impl Inner {
    /// Reads the repo config at the head commit and merges it over the policy.
    pub(crate) async fn load_config(&self, ctx: &PrContext) -> anyhow::Result<Loaded> {
        let policy = self.effective_policy(ctx);
        let mut found = None;
        for file in repo_config::config_file_candidates(&policy) {
            if let Some(bytes) = self.vcs.read_file(&ctx.repo, &ctx.head_sha, &file).await? {
                found = Some((file, String::from_utf8_lossy(&bytes).into_owned()));
                break;
            }
        }
        Ok(
            match repo_config::load(
                &policy,
                found.as_ref().map(|(f, t)| (f.as_str(), t.as_str())),
            ) {
                Ok(config) => Loaded::Config(Box::new((config, policy))),
                Err(errors) => Loaded::Invalid(errors.to_comment()),
            },
        )
    }

    /// Every Terraform file at the head commit, read concurrently.
    async fn tree(self: &Arc<Self>, ctx: &PrContext) -> anyhow::Result<TerraformTree> {
        let files = self.vcs.list_files(&ctx.repo, &ctx.head_sha).await?;
        let mut reads = JoinSet::new();
        for path in files.into_iter().filter(|p| is_terraform_file(p)) {
            let inner = Arc::clone(self);
            let (repo, sha) = (ctx.repo.clone(), ctx.head_sha.clone());
            reads.spawn(async move {
                let bytes = inner.vcs.read_file(&repo, &sha, &path).await?;
                Ok::<_, crate::vcs::VcsError>((path, bytes.unwrap_or_default()))
            });
        }
        let mut texts = Vec::new();
        while let Some(read) = reads.join_next().await {
            let (path, bytes) = read.context("a file read panicked")??;
            texts.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
        texts.sort();
        Ok(TerraformTree::from_files(
            texts.iter().map(|(p, t)| (p.as_str(), t.as_str())),
        ))
    }

    /// Plans the projects `request` selects.
    pub(crate) async fn plan(
        self: &Arc<Self>,
        ctx: &PrContext,
        request: &Request,
        extra_args: &[String],
    ) -> anyhow::Result<()> {
        let (config, policy) = match self.load_config(ctx).await? {
            Loaded::Config(loaded) => *loaded,
            Loaded::Invalid(comment) => {
                self.upsert_comment(ctx, None, &comment).await?;
                return Ok(());
            }
        };
        let (changed, tree) = tokio::try_join!(
            async {
                self.vcs
                    .changed_files(&ctx.repo, ctx.pr)
                    .await
                    .map_err(anyhow::Error::from)
            },
            self.tree(ctx)
        )?;
        let selection = match select(&config, &policy, &tree, &changed, &ctx.base_branch, request) {
            Ok(selection) => selection,
            Err(err) => {
                self.upsert_comment(ctx, None, &format!("**Cannot plan:** {err}"))
                    .await?;
                return Ok(());
            }
        };
        let mut notes: Vec<String> = selection.notes.clone();
        notes.extend(config.warnings.iter().map(ToString::to_string));
        for deleted in &selection.deleted {
            notes.push(text::deleted(deleted));
        }
        if selection.projects.is_empty() {
            if !request.automatic {
                let body = text::with_notes("No project to plan matches this request.", &notes);
                self.upsert_comment(ctx, None, &body).await?;
            }
            return Ok(());
        }
        let projects: Vec<ResolvedProject> =
            selection.projects.into_iter().map(|s| s.project).collect();

        // All the locks at once; projects another PR holds are left out, the rest taken.
        let holder = LockHolder {
            pr: ctx.pr.0,
            user: ctx.user.clone(),
            head_sha: ctx.head_sha.as_str().to_owned(),
            pull_url: self.pull_url(&ctx.repo, ctx.pr),
        };
        let mut wanted: Vec<ResolvedProject> = projects;
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
        let header = text::plan_header(ctx, &wanted, &held_by, &notes);
        let comment = self.upsert_comment(ctx, None, &header).await?;
        if wanted.is_empty() {
            return Ok(());
        }
        let mut results: Vec<ProjectResult> = Vec::new();
        // Projects run in parallel within an execution order group, groups one after another.
        let mut groups: Vec<i64> = wanted.iter().map(|p| p.execution_order_group).collect();
        groups.dedup();
        for group in groups {
            let mut runs = JoinSet::new();
            for project in wanted.iter().filter(|p| p.execution_order_group == group) {
                let spec = run_spec(ctx, project, RunCommand::Plan, extra_args, None);
                let inner = Arc::clone(self);
                runs.spawn(async move {
                    let result = inner.run_plan(&spec).await;
                    (spec, result)
                });
            }
            while let Some(done) = runs.join_next().await {
                let (spec, result) = done.context("a run task panicked")?;
                let result = result.unwrap_or_else(|err| {
                    ProjectResult::new(
                        &spec.project,
                        RunCommand::Plan,
                        Outcome::Failed {
                            step: "dispatch".to_owned(),
                            output: format!("{err:#}"),
                        },
                    )
                });
                results.push(result);
                self.show_results(ctx, &comment, &header, &results).await?;
            }
        }
        Ok(())
    }

    async fn show_results(
        &self,
        ctx: &PrContext,
        comment: &CommentId,
        header: &str,
        results: &[ProjectResult],
    ) -> anyhow::Result<()> {
        let body = format!("{header}\n\n{}", crate::runner::comment::render(results));
        self.upsert_comment(ctx, Some(comment), &body).await?;
        Ok(())
    }

    /// Records `planning`, dispatches one plan run and records its report.
    async fn run_plan(&self, spec: &RunSpec) -> anyhow::Result<ProjectResult> {
        let run_id = spec.run_id();
        let key = spec.lock_key();
        let planning = PlanRecord {
            key: key.clone(),
            pr: spec.pr,
            head_sha: spec.head_sha.clone(),
            run_id: run_id.clone(),
            status: PlanStatus::Planning,
            planfile: None,
            updated_at: crate::store::now_secs(),
        };
        if let PlanOutcome::LockNotHeld(_) = self.store.put_plan(&planning).await? {
            return Ok(refused(
                spec,
                "the lock was released before the plan started",
            ));
        }
        let context = status_context("plan", &spec.project.label());
        self.status(spec, &context, StatusState::Pending, "Planning…")
            .await;
        let outcome = self.dispatcher.dispatch(spec).await?;
        tracing::info!(run = %run_id, project = %spec.project.label(), "plan dispatched");
        if let DispatchOutcome::AlreadyDispatched { .. } = outcome {
            return Ok(refused(spec, "this run was already dispatched"));
        }
        let Some(report) = self.wait_for_report(spec, &run_id).await else {
            return Ok(ProjectResult::new(
                &spec.project,
                RunCommand::Plan,
                Outcome::Refused {
                    reason: format!("dispatched as `{run_id}`; its result is posted by the run"),
                },
            ));
        };
        let report = match report {
            Ok(report) => report,
            Err(output) => {
                let _ = self
                    .record_status(spec, &run_id, PlanStatus::Failed, None)
                    .await?;
                self.status(spec, &context, StatusState::Error, "The runner failed")
                    .await;
                return Ok(ProjectResult::new(
                    &spec.project,
                    RunCommand::Plan,
                    Outcome::Failed {
                        step: "runner".to_owned(),
                        output,
                    },
                ));
            }
        };
        self.record_plan_report(spec, &report, &context).await
    }

    async fn record_plan_report(
        &self,
        spec: &RunSpec,
        report: &RunReport,
        context: &str,
    ) -> anyhow::Result<ProjectResult> {
        let mut result = report.result.clone();
        if let Some(status) = report.status.plan_status() {
            // The record is written only while the PR holds the lock and the plan's commit is
            // still the head: a plan overtaken by a push is never applied.
            let now = self
                .vcs
                .pull_request(
                    &crate::event::RepoName::new(&spec.repo),
                    crate::event::PullRequestNumber(spec.pr),
                )
                .await?;
            if now.head_sha.as_str() != report.head_sha {
                result.outcome = Outcome::Refused {
                    reason: format!(
                        "the pull request moved to `{}` while this plan ran at `{}`; it is not recorded",
                        short(now.head_sha.as_str()),
                        short(&report.head_sha)
                    ),
                };
            } else if let PlanOutcome::LockNotHeld(by) = self
                .record_status(spec, &report.run_id, status, report.planfile.clone())
                .await?
            {
                result.outcome = Outcome::Refused {
                    reason: match by {
                        Some(lock) => format!(
                            "the lock was taken by #{} while this plan ran; it is not recorded",
                            lock.holder.pr
                        ),
                        None => "the lock was released while this plan ran; it is not recorded"
                            .to_owned(),
                    },
                };
            }
        }
        let (state, description) = match report.status {
            RunStatus::Planned => (
                StatusState::Success,
                report.summary.as_ref().map_or_else(
                    || "Planned".to_owned(),
                    crate::runner::summary::PlanSummary::line,
                ),
            ),
            RunStatus::NoChanges => (StatusState::Success, "No changes".to_owned()),
            RunStatus::Refused => (StatusState::Failure, "Refused".to_owned()),
            RunStatus::TimedOut => (StatusState::Failure, "Timed out".to_owned()),
            RunStatus::Failed | RunStatus::Applied => {
                (StatusState::Failure, "Plan failed".to_owned())
            }
        };
        self.status(spec, context, state, &description).await;
        Ok(result)
    }

    pub(crate) async fn record_status(
        &self,
        spec: &RunSpec,
        run_id: &str,
        status: PlanStatus,
        planfile: Option<crate::store::StoredArtifact>,
    ) -> anyhow::Result<PlanOutcome> {
        let head_sha = spec
            .apply
            .as_ref()
            .map_or_else(|| spec.head_sha.clone(), |a| a.planned_sha.clone());
        let planfile = planfile.or_else(|| spec.apply.as_ref().map(|a| a.planfile.clone()));
        Ok(self
            .store
            .put_plan(&PlanRecord {
                key: spec.lock_key(),
                pr: spec.pr,
                head_sha,
                run_id: run_id.to_owned(),
                status,
                planfile,
                updated_at: crate::store::now_secs(),
            })
            .await?)
    }

    /// Sets a commit status, best effort: a status that cannot be set is logged, not fatal.
    pub(crate) async fn status(
        &self,
        spec: &RunSpec,
        context: &str,
        state: StatusState,
        description: &str,
    ) {
        let status = CommitStatus {
            context: context.to_owned(),
            state,
            description: description.to_owned(),
            target_url: Some(self.pull_url(
                &crate::event::RepoName::new(&spec.repo),
                crate::event::PullRequestNumber(spec.pr),
            )),
        };
        let sha = crate::event::CommitSha::new(&spec.head_sha);
        if let Err(err) = self
            .vcs
            .set_status(&crate::event::RepoName::new(&spec.repo), &sha, &status)
            .await
        {
            tracing::warn!(error = %err, context, "could not set the commit status");
        }
    }
}

pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

pub(crate) fn refused(spec: &RunSpec, reason: &str) -> ProjectResult {
    ProjectResult::new(
        &spec.project,
        spec.command,
        Outcome::Refused {
            reason: reason.to_owned(),
        },
    )
}

pub(crate) fn lock_key(ctx: &PrContext, project: &ResolvedProject) -> LockKey {
    LockKey {
        repo: ctx.repo.as_str().to_owned(),
        dir: project.dir.clone(),
        workspace: project.workspace.clone(),
        project: project.name.clone(),
    }
}

/// The run for one project.
pub(crate) fn run_spec(
    ctx: &PrContext,
    project: &ResolvedProject,
    command: RunCommand,
    extra_args: &[String],
    apply: Option<crate::dispatch::PlanToApply>,
) -> RunSpec {
    let custom = project.workflow.plan.is_some() || project.workflow.apply.is_some();
    let workflow = custom.then(|| {
        let steps = match command {
            RunCommand::Plan => project.workflow.plan_steps(),
            RunCommand::Apply => project.workflow.apply_steps(),
        };
        steps.iter().map(runner_step).collect()
    });
    RunSpec {
        provider: ctx.provider,
        repo: ctx.repo.as_str().to_owned(),
        head_repo: ctx.repo.as_str().to_owned(),
        pr: ctx.pr.0,
        head_sha: ctx.head_sha.as_str().to_owned(),
        head_branch: ctx.head_branch.clone(),
        base_branch: ctx.base_branch.clone(),
        clone_url: ctx.clone_url.clone(),
        user: ctx.user.clone(),
        command,
        project: ProjectSpec {
            name: project.name.clone(),
            dir: project.dir.clone(),
            workspace: project.workspace.clone(),
            terraform_version: project.terraform_version.clone(),
            timeout: crate::dispatch::spec::DEFAULT_TIMEOUT,
            workflow,
        },
        extra_args: extra_args.to_vec(),
        trigger: ctx.trigger.clone(),
        apply,
    }
}

fn runner_step(step: &repo_config::Step) -> Step {
    match step {
        repo_config::Step::Init { extra_args } => Step::Init {
            extra_args: extra_args.clone(),
        },
        repo_config::Step::Plan { extra_args } => Step::Plan {
            extra_args: extra_args.clone(),
        },
        repo_config::Step::Apply { extra_args } => Step::Apply {
            extra_args: extra_args.clone(),
        },
        repo_config::Step::Run { command, .. } => Step::Run {
            command: command.clone(),
        },
        repo_config::Step::Env { name, source } => match source {
            repo_config::EnvSource::Value(value) => Step::Env {
                name: name.clone(),
                value: Some(value.clone()),
                command: None,
            },
            repo_config::EnvSource::Command(command) => Step::Env {
                name: name.clone(),
                value: None,
                command: Some(command.clone()),
            },
        },
    }
}
