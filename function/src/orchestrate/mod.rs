//! The loop: what the function does with an accepted event. [`Orchestrator`] is the production
//! [`EventSink`]: it records the delivery in the store (so a redelivery does nothing), answers,
//! and does the slow work off the request path:
//!
//! - **PR opened, pushed, reopened, ready** (and `landfall plan`): the repo config and the
//!   Terraform tree at the head commit and the PR's changed files from the VCS host; the projects
//!   selected; all their locks taken at once (projects another PR holds get "locked by #N" and are
//!   not planned); a plan record `planning` and one run dispatched per project; as each run
//!   reports, its plan record, commit status and the PR comment.
//! - **`landfall apply`** (or `atlantis apply`): each plan record checked (plan made, lock held,
//!   made at the current head commit, approved or mergeable when required); an apply run with the
//!   stored planfile, which the runner verifies by checksum; the result recorded and commented.
//! - **`landfall import`**, **`landfall state rm`**: one project's state edited by a run, held to
//!   apply's permissions and requirements; the project's plan is stale from then on.
//! - **Merge or close**, **`landfall unlock`**: the PR's locks released and its plans discarded.
//! - `help`, `version` and commands that cannot be parsed: the reply text as a comment.
//!
//! Results are recorded by the function alone ([`crate::report`]): runners post their reports to
//! it with a credential minted for their run (`reports.rs`), or, with local dispatch and no
//! report URL, this loop reads the local run's `report.json`. Under Lambda events are handed to
//! an asynchronous invocation first ([`crate::handoff`]).

mod apply;
mod authorize;
mod cancel;
mod deliveries;
mod drift;
mod drift_report;
mod groups;
mod merge;
mod plan;
mod policies;
mod pr;
mod replan;
mod reports;
mod requirements;
mod scheduled;
mod select;
mod state;
mod sweep;
mod text;
mod unlock;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::OnceCell;

use crate::command::{Action, Command, ParsedComment};
use crate::config::{Config, Secrets};
pub use crate::context::Context;
use crate::event::{CommitSha, Event, EventKind, PullRequestNumber, RepoName};
use crate::handler::{EventSink, LogSink, SinkError};
use crate::repo_config::EffectivePolicy;
use crate::report::Reporter;
use crate::run::RunCommand;
use crate::store::ApplyLocks as _;
use crate::vcs::{Actor, CommentId, PrState, VcsClient};
pub(crate) use pr::PrContext;
pub use drift::{DRIFT_USER, DriftSweep};
pub use scheduled::{is_drift, is_sweep};
pub use sweep::SweepReport;

/// The one production [`EventSink`]: the loop over a [`Context`] built once, before `serve`
/// listens ([`Sink::build`]) or, under Lambda, on the first invocation that needs it
/// ([`Sink::lazy`]: the clients stay off the cold start). A deployment without VCS credentials
/// only verifies and logs deliveries. A failed lazy build fails that invocation (500, so the host
/// redelivers) and is tried again on the next one.
#[derive(Debug)]
pub struct Sink {
    /// What a lazy sink builds from.
    settings: Option<(Config, Secrets)>,
    /// The loop, once built; `None` inside: logging only.
    orchestrator: OnceCell<Option<Orchestrator>>,
}

impl Sink {
    /// A sink whose loop is built on first use from `config` and `secrets`.
    #[must_use]
    pub fn lazy(config: Config, secrets: Secrets) -> Self {
        Sink {
            settings: Some((config, secrets)),
            orchestrator: OnceCell::new(),
        }
    }

    /// A sink whose loop is built now.
    pub async fn build(config: &Config, secrets: &Secrets) -> anyhow::Result<Self> {
        Ok(Self::with(build_orchestrator(config, secrets).await?))
    }

    /// A sink over an orchestrator built already (`None`: logging only).
    #[must_use]
    pub fn with(orchestrator: Option<Orchestrator>) -> Self {
        Sink {
            settings: None,
            orchestrator: OnceCell::new_with(Some(orchestrator)),
        }
    }

    async fn get(&self) -> Result<Option<&Orchestrator>, SinkError> {
        let built = self
            .orchestrator
            .get_or_try_init(|| async {
                let (config, secrets) = self
                    .settings
                    .as_ref()
                    .context("a sink built without settings has its orchestrator already")?;
                build_orchestrator(config, secrets).await
            })
            .await
            .map_err(|err| SinkError(err.into()))?;
        Ok(built.as_ref())
    }

    /// Whether the loop has been built (a lazy sink builds it on first use).
    #[must_use]
    pub fn is_built(&self) -> bool {
        self.orchestrator.initialized()
    }

    /// Handles a hand-off invocation (see [`crate::handoff`]).
    pub async fn handle_handoff(&self, payload: &serde_json::Value) -> Result<(), SinkError> {
        if let Some(orchestrator) = self.get().await? {
            return orchestrator.handle_handoff(payload).await;
        }
        tracing::warn!("a hand-off arrived, but this deployment only logs deliveries");
        Ok(())
    }

    /// Handles what follows a recorded run, handed off by the function that took its report.
    pub async fn handle_settled(&self, payload: &serde_json::Value) -> Result<(), SinkError> {
        match self.get().await? {
            Some(orchestrator) => orchestrator.handle_settled(payload).await,
            None => Ok(()),
        }
    }
}

impl EventSink for Sink {
    async fn record(&self, event: &Event) -> Result<(), SinkError> {
        match self.get().await? {
            Some(orchestrator) => orchestrator.record(event).await,
            None => LogSink.record(event).await,
        }
    }

    async fn note_changed_comment(&self, event: &Event) -> Result<(), SinkError> {
        match self.get().await? {
            Some(orchestrator) => orchestrator.note_changed_comment(event).await,
            None => Ok(()),
        }
    }

    async fn run_report(
        &self,
        credential: Option<String>,
        body: bytes::Bytes,
    ) -> crate::handler::ReportAnswer {
        match self.get().await {
            Ok(Some(orchestrator)) => {
                orchestrator
                    .ctx
                    .take_report(credential.as_deref(), &body)
                    .await
            }
            Ok(None) => crate::handler::ReportAnswer::NotHere,
            Err(_) => crate::handler::ReportAnswer::Failed,
        }
    }
}

/// The loop for `config`, or `None` when the function cannot talk to the VCS host.
async fn build_orchestrator(
    config: &Config,
    secrets: &Secrets,
) -> anyhow::Result<Option<Orchestrator>> {
    if !secrets.has_vcs_credentials() {
        tracing::warn!(
            "LANDFALL_VCS_TOKEN is not set: deliveries are verified and logged, nothing is planned"
        );
        return Ok(None);
    }
    Ok(Some(Orchestrator::new(
        Context::build(config, secrets).await?,
    )))
}

/// The loop, built once at start-up; cheap to clone.
#[derive(Clone)]
pub struct Orchestrator {
    ctx: Arc<Context>,
}

impl Orchestrator {
    /// The loop over `ctx`.
    #[must_use]
    pub fn new(ctx: Context) -> Self {
        Orchestrator { ctx: Arc::new(ctx) }
    }

    /// The loop over a context shared with its caller (tests and benchmarks read its store).
    #[must_use]
    pub fn new_shared(ctx: Arc<Context>) -> Self {
        Orchestrator { ctx }
    }
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl Orchestrator {
    /// Takes `event`: records the delivery (a redelivery does nothing more), then does the work
    /// off the request path (under Lambda: hands it to an asynchronous invocation).
    pub async fn record(&self, event: &Event) -> Result<(), SinkError> {
        if self.is_redelivery(event).await? {
            return Ok(());
        }
        if let Some(handoff) = &self.ctx.handoff {
            // Under Lambda: queued durably as an asynchronous invocation, which does the work
            // (see `crate::handoff`). A delivery counts as handled only once its work is queued:
            // if the hand-off fails it is forgotten again, and the host's retry is handled.
            if let Err(err) = handoff.send(event).await {
                self.forget(event).await;
                return Err(SinkError(err.into()));
            }
            return Ok(());
        }
        // The host waits for the answer; the work goes on without it, in this process.
        let ctx = Arc::clone(&self.ctx);
        let event = event.clone();
        let span = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move { ctx.process_logged(&event).await },
            span,
        ));
        Ok(())
    }

    /// Handles a hand-off invocation: checks its seal and does the work before returning (nobody
    /// waits for this invocation). The delivery was de-duplicated before it was handed off, so
    /// Lambda's retries of this invocation (after a crash or a timeout) do the work again rather
    /// than find it done; what the first attempt finished is found finished (the PR's own locks,
    /// runs named by their trigger, so a Job already created is not created twice).
    pub async fn handle_handoff(&self, payload: &serde_json::Value) -> Result<(), SinkError> {
        let event = match crate::handoff::open(payload, &self.ctx.handoff_key) {
            Ok(event) => event,
            // Answered, so that Lambda does not retry it: nothing is run, and the log says why.
            Err(err @ crate::handoff::HandoffError::StaleCommand { .. }) => {
                tracing::warn!(error = %err, "a hand-off was not run");
                return Ok(());
            }
            Err(err) => return Err(SinkError(Box::new(err))),
        };
        let span = tracing::info_span!(
            "handoff",
            provider = event.provider.as_str(),
            delivery = event
                .delivery
                .as_ref()
                .map(crate::event::DeliveryId::as_str),
            repo = event.repo.as_ref().map(RepoName::as_str),
            pr = event.number.map(|n| n.0),
        );
        tracing::Instrument::instrument(
            async {
                self.ctx.process_logged(&event).await;
                Ok(())
            },
            span,
        )
        .await
    }
}

impl Context {
    /// Does the work for `event`; a failure is logged and reported on the PR.
    async fn process_logged(self: &Arc<Self>, event: &Event) {
        let started = Instant::now();
        if let Err(err) = self.process(event).await {
            tracing::error!(error = format!("{err:#}"), "handling the event failed");
            self.report_failure(event, &err).await;
        }
        tracing::info!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "event handled"
        );
    }

    async fn process(self: &Arc<Self>, event: &Event) -> anyhow::Result<()> {
        let (Some(repo), Some(pr)) = (&event.repo, event.number) else {
            return Ok(());
        };
        if let Some(installation) = event.installation {
            self.vcs.remember_installation(repo, installation);
        }
        match &event.kind {
            EventKind::Pushed if self.planned_at_head(event, repo, pr).await? => {
                // Bitbucket Cloud's `pullrequest:updated` comes for title edits too. A head
                // pushed again (a force-push back) gets its own statuses set again.
                tracing::info!("the head was planned already: nothing to re-plan");
                // Best effort, as the statuses are. Read from the host, not the payload: a
                // retarget delivered late must not set them for the base the PR had before.
                match self.context(event, repo, pr, true).await {
                    Ok(ctx) => self.reporter().pull_statuses(ctx.pull_head()).await,
                    Err(err) => tracing::warn!(error = format!("{err:#}"), "could not read the pull request to set its statuses"),
                }
                Ok(())
            }
            EventKind::Opened | EventKind::Pushed | EventKind::Reopened | EventKind::Ready => {
                let ctx = self.context(event, repo, pr, false).await?;
                let autoplan =
                    !(self.switches.disable_autoplan || self.effective_policy(&ctx).disable_autoplan);
                if !autoplan {
                    tracing::info!("autoplan is off for this repository: nothing is planned");
                }
                if autoplan && self.authorize(&ctx, Action::Plan, true, &[]).await? {
                    return self
                        .plan(&ctx, &crate::projects::Request::autoplan(), &[])
                        .await;
                }
                // What the statuses say may be of an earlier push of this commit, or of the
                // plans a close discarded.
                self.reporter().pull_statuses(ctx.pull_head()).await;
                Ok(())
            }
            EventKind::Merged => self.merged(event, repo, pr).await,
            EventKind::Closed => self.release_ended(repo, pr, false).await.map(drop),
            EventKind::Commented(Some(_)) if !self.addressed(event) => Ok(()),
            EventKind::Commented(Some(ParsedComment::Command(command))) => {
                self.command(event, repo, pr, command).await
            }
            EventKind::Commented(Some(invalid @ ParsedComment::Invalid(_))) => {
                if let Some(reply) = invalid.reply() {
                    self.vcs.post_comment(repo, pr, &reply).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn command(
        self: &Arc<Self>,
        event: &Event,
        repo: &RepoName,
        pr: PullRequestNumber,
        command: &Command,
    ) -> anyhow::Result<()> {
        if !self.switches.allow_commands.allows(command.action) {
            let reply = text::command_not_allowed(command, &self.switches.allow_commands);
            self.vcs.post_comment(repo, pr, &reply).await?;
            return Ok(());
        }
        if matches!(command.action, Action::Help | Action::Version) {
            if let Some(reply) = command.reply() {
                self.vcs.post_comment(repo, pr, &reply).await?;
            }
            return Ok(());
        }
        // Who may run it is decided before anything else happens.
        let ctx = self.context(event, repo, pr, true).await?;
        if !self
            .authorize(&ctx, command.action, false, &command.extra_args)
            .await?
        {
            return Ok(());
        }
        // A merged PR's apply is the merge's, checked against the merge commit, and its
        // `approve_policies` approves what the merge held back for its policy checks.
        let after_merge = ctx.state == PrState::Merged
            && matches!(command.action, Action::Apply | Action::ApprovePolicies);
        if ctx.state != PrState::Open && command.action.needs_an_open_pr() && !after_merge {
            let reply = text::pr_ended(ctx.state, command.action);
            self.vcs.post_comment(repo, pr, &reply).await?;
            return Ok(());
        }
        match command.action {
            Action::Plan => {
                self.plan(
                    &ctx,
                    &crate::projects::Request::from_command(command),
                    &command.extra_args,
                )
                .await
            }
            Action::Apply => {
                // The operator's apply lock is read before anything else of the apply.
                if let Some(lock) = self.store.apply_lock().await? {
                    let body = text::apply_locked(&lock);
                    self.vcs.post_comment(repo, pr, &body).await?;
                    return Ok(());
                }
                if ctx.state == PrState::Merged {
                    return self.apply_after_merge(event, &ctx, command).await;
                }
                self.apply(&ctx, command).await
            }
            Action::Cancel => self.cancel(&ctx, command).await,
            Action::Import => self.edit_state(&ctx, command, RunCommand::Import).await,
            Action::StateRm => self.edit_state(&ctx, command, RunCommand::StateRm).await,
            Action::ApprovePolicies => self.approve_policies(&ctx, command).await,
            Action::Unlock => self.unlock(&ctx).await,
            Action::Help | Action::Version => Ok(()),
        }
    }

    /// The PR's head and branches: from the event when it carries them, else from the host
    /// (comment payloads carry no head).
    async fn context(
        &self,
        event: &Event,
        repo: &RepoName,
        pr: PullRequestNumber,
        fetch: bool,
    ) -> anyhow::Result<PrContext> {
        let clone_url = event
            .clone_url
            .clone()
            .context("the delivery names no clone URL")?;
        let sender = Actor {
            login: event.sender.clone().unwrap_or_default(),
            id: event.sender_id.clone(),
        };
        let user = if sender.login.is_empty() {
            event.pr_author.clone().unwrap_or_default()
        } else {
            sender.login.clone()
        };
        let trigger = event.delivery.as_ref().map_or_else(
            || format!("t{}", crate::store::now_secs()),
            |d| d.as_str().to_owned(),
        );
        let announce_fork_skip = matches!(
            event.kind,
            EventKind::Opened | EventKind::Reopened | EventKind::Ready
        );
        let mut ctx = PrContext {
            provider: self.provider,
            repo: repo.clone(),
            pr,
            head_sha: event.head_sha.clone().unwrap_or_else(|| CommitSha::new("")),
            head_branch: event.head_branch.clone().unwrap_or_default(),
            base_branch: event.base_branch.clone().unwrap_or_default(),
            clone_url,
            user,
            sender,
            author: event.pr_author.clone().unwrap_or_default(),
            author_id: None,
            head_repo: event.head_repo.clone(),
            announce_fork_skip,
            mergeable: None,
            state: PrState::implied_by(&event.kind),
            merge_sha: None,
            delivered_head: event.head_sha.clone(),
            trigger,
            access: Arc::default(),
        };
        // The payload is enough for autoplan when it names the head, both branches and the
        // head's repository; commands always ask the host for the PR as it is now.
        let complete = event.head_sha.as_ref().is_some_and(|s| !s.is_abbreviated())
            && event.head_branch.is_some()
            && event.base_branch.is_some()
            && event.head_repo.is_some()
            && event.pr_author.is_some();
        if complete && !fetch {
            return Ok(ctx);
        }
        let now = self.vcs.pull_request(repo, pr).await?;
        ctx.head_repo = now.head_repo;
        ctx.head_sha = now.head_sha;
        ctx.head_branch = now.head_branch;
        ctx.base_branch = now.base_branch;
        ctx.author = now.author;
        ctx.author_id = now.author_id;
        ctx.mergeable = now.mergeable;
        ctx.state = now.state;
        ctx.merge_sha = now.merge_sha;
        Ok(ctx)
    }

    /// The policy in force for this PR.
    pub(crate) fn effective_policy(&self, ctx: &PrContext) -> EffectivePolicy {
        self.policy_for(&ctx.repo, &ctx.base_branch)
    }

    /// The policy in force for PRs of `repo` into `base_branch`.
    pub(crate) fn policy_for(&self, repo: &RepoName, base_branch: &str) -> EffectivePolicy {
        self.policy
            .as_ref()
            .map_or_else(EffectivePolicy::default, |p| {
                p.resolve(&self.host(), repo.as_str(), base_branch)
            })
    }

    /// The host name policies match on (`github.com`, `gitlab.example.com`).
    fn host(&self) -> String {
        crate::vcs::policy_host(self.provider, self.vcs_url.as_deref())
    }

    /// Tells the PR that handling its event failed, best effort.
    async fn report_failure(&self, event: &Event, err: &anyhow::Error) {
        if let (Some(repo), Some(pr)) = (&event.repo, event.number) {
            let body = failure_comment(err);
            if let Err(e) = self.vcs.post_comment(repo, pr, &body).await {
                tracing::warn!(error = %e, "could not report the failure on the PR");
            }
        }
    }

    /// Posts `body` on the PR, or edits the comment `id`; returns the comment's id.
    pub(crate) async fn upsert_comment(
        &self,
        ctx: &PrContext,
        id: Option<&CommentId>,
        body: &str,
    ) -> anyhow::Result<CommentId> {
        self.reporter()
            .upsert_comment(&ctx.repo, ctx.pr, id, body)
            .await
    }

    /// What records runs, borrowing this loop's store and VCS client.
    pub(crate) fn reporter(&self) -> Reporter<'_> {
        Reporter {
            store: &self.store,
            vcs: &self.vcs,
            artifacts: &self.artifacts,
            provider: self.provider,
            vcs_url: self.vcs_url.as_deref(),
            status_name: self.switches.status_name(),
            policy: self.policy.as_ref(),
        }
    }
}
/// The comment for an event that failed: the error (which may quote the pull request's files
/// and branch names) in a code block nothing in it can close.
fn failure_comment(err: &anyhow::Error) -> String {
    format!(
        "**Landfall could not handle this event.**\n\n{}\nComment `landfall plan` to try again.",
        crate::markdown::fenced(&format!("{err:#}"), "")
    )
}

#[cfg(test)]
mod tests;
