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
//! - **Merge or close**, **`landfall unlock`**: the PR's locks released and its plans discarded.
//! - `help`, `version` and commands that cannot be parsed: the reply text as a comment.
//!
//! Results are recorded by whoever can reach the store ([`crate::report`]): on DynamoDB the
//! runner itself; with the embedded store, this loop, from the local run's `report.json`. Under
//! Lambda events are handed to an asynchronous invocation first ([`crate::handoff`]).

mod apply;
mod authorize;
mod plan;
mod requirements;
mod text;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::command::{Action, Command, ParsedComment};
use crate::config::{Config, DispatchConfig, Secrets, env_vars, process};
use crate::dispatch::{AnyDispatcher, KubernetesDispatcher, LocalDispatcher, RunnerSettings};
use crate::event::{CommitSha, Event, EventKind, Provider, PullRequestNumber, RepoName};
use crate::handler::{EventSink, LogSink, SinkError};
use crate::repo_config::{EffectivePolicy, Policy};
use crate::report::Reporter;
use crate::run::{RunReport, RunSpec};
use crate::store::{AnyStore, DELIVERY_TTL, DeliveryOutcome, Store};
use crate::vcs::{Access, Actor, AnyVcs, CommentId, RetryPolicy, VcsClient};

/// The sink chosen at start-up: the whole loop when the function can talk to the VCS host, else
/// only logging (a deployment without `LANDFALL_VCS_TOKEN` verifies and logs deliveries).
#[derive(Debug)]
pub enum AnySink {
    /// Logs events only.
    Log(LogSink),
    /// Plans, applies, locks and comments.
    Loop(Orchestrator),
}

impl EventSink for AnySink {
    async fn record(&self, event: &Event) -> Result<(), SinkError> {
        match self {
            AnySink::Log(sink) => sink.record(event).await,
            AnySink::Loop(sink) => sink.record(event).await,
        }
    }
}

impl AnySink {
    /// Handles a hand-off invocation (see [`crate::handoff`]).
    pub async fn handle_handoff(&self, payload: &serde_json::Value) -> Result<(), SinkError> {
        match self {
            AnySink::Loop(sink) => sink.handle_handoff(payload).await,
            AnySink::Log(_) => {
                tracing::warn!("a hand-off arrived, but this deployment only logs deliveries");
                Ok(())
            }
        }
    }

    /// The sink for `config`: the loop when a VCS token is configured, else the log sink.
    pub async fn from_config(config: &Config, secrets: &Secrets) -> anyhow::Result<Self> {
        if !secrets.has_vcs_credentials() {
            tracing::warn!(
                "LANDFALL_VCS_TOKEN is not set: deliveries are verified and logged, nothing is planned"
            );
            return Ok(AnySink::Log(LogSink));
        }
        Ok(AnySink::Loop(
            Orchestrator::from_config(config, secrets).await?,
        ))
    }
}

/// The loop, built once at start-up; cheap to clone.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) provider: Provider,
    pub(crate) vcs_url: Option<String>,
    pub(crate) store: AnyStore,
    /// Where runs' planfiles and logs are, for the log links of a cut comment.
    pub(crate) artifacts: crate::store::AnyArtifacts,
    pub(crate) dispatcher: AnyDispatcher,
    pub(crate) vcs: AnyVcs,
    pub(crate) policy: Option<Policy>,
    /// Whether runners record their own results (they can reach the store: DynamoDB); else
    /// the function waits for each local run's report and records it.
    pub(crate) report_back: bool,
    /// Under Lambda: where events go to be handled by an asynchronous invocation.
    pub(crate) handoff: Option<crate::handoff::LambdaHandoff>,
    /// The key hand-offs are sealed with (the webhook secret).
    pub(crate) handoff_key: secrecy::SecretString,
    /// How often a local run's report is looked for.
    pub(crate) poll: Duration,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("provider", &self.inner.provider)
            .field("vcs_url", &self.inner.vcs_url)
            .finish_non_exhaustive()
    }
}

impl Orchestrator {
    /// Builds the store, the dispatcher, the VCS client and the policy from the configuration.
    pub async fn from_config(config: &Config, secrets: &Secrets) -> anyhow::Result<Self> {
        let (store, artifacts) = config
            .store
            .connect()
            .await
            .with_context(|| format!("cannot open the store ({})", config.store.describe()))?;
        let report_back = matches!(config.store, crate::config::StoreConfig::DynamoDb { .. });
        let env = runner_env(config);
        let dispatcher = match &config.dispatch {
            DispatchConfig::Local => {
                let runner = process::var_os(env_vars::RUNNER)
                    .map_or_else(LocalDispatcher::runner_beside_current_exe, PathBuf::from);
                let data_dir = match &config.store {
                    crate::config::StoreConfig::Embedded { data_dir } => Some(data_dir.clone()),
                    crate::config::StoreConfig::DynamoDb { .. } => {
                        process::var_os(env_vars::DATA_DIR).map(PathBuf::from)
                    }
                };
                let runs_dir = data_dir.map_or_else(
                    || std::env::temp_dir().join("landfall-runs"),
                    |dir| std::path::absolute(&dir).unwrap_or(dir).join("runs"),
                );
                AnyDispatcher::Local(LocalDispatcher::new(
                    runner,
                    runs_dir,
                    env,
                    secrets.vcs_token.clone(),
                ))
            }
            DispatchConfig::Kubernetes {
                namespace,
                image,
                service_account,
            } => {
                let mut settings = RunnerSettings::new(namespace, image, service_account);
                settings.env = env;
                // Under Lambda the cluster comes from LANDFALL_EKS_*, with EKS tokens; elsewhere
                // from the kubeconfig or the pod's service account.
                let sdk = crate::aws::sdk_config().await;
                let eks = crate::dispatch::eks::client_from_env(&sdk)
                    .await
                    .context("cannot set up the EKS cluster's API client")?;
                let dispatcher = if let Some((client, auth)) = eks {
                    KubernetesDispatcher::with_eks(client, settings, auth)
                } else {
                    let kube_config = crate::dispatch::kubeconfig::infer()
                        .await
                        .context("no Kubernetes API to dispatch runs to")?;
                    let client = crate::tls::kube_client(kube_config)?;
                    KubernetesDispatcher::new(client, settings)
                };
                AnyDispatcher::Kubernetes(Box::new(dispatcher))
            }
        };
        let vcs = AnyVcs::from_config(config, secrets, RetryPolicy::default())
            .context("cannot build the VCS client")?;
        let policy = match &config.policy {
            Some(path) => Some(Policy::load(path).context("invalid LANDFALL_POLICY")?),
            None => None,
        };
        Ok(Self::new(Inner {
            provider: config.vcs,
            vcs_url: config.vcs_url.clone(),
            store,
            artifacts,
            dispatcher,
            vcs,
            policy,
            report_back,
            handoff: crate::handoff::LambdaHandoff::from_env(&secrets.webhook_secret)?,
            handoff_key: secrets.webhook_secret.clone(),
            poll: Duration::from_millis(100),
        }))
    }

    pub(crate) fn new(inner: Inner) -> Self {
        Orchestrator {
            inner: Arc::new(inner),
        }
    }
}

impl EventSink for Orchestrator {
    async fn record(&self, event: &Event) -> Result<(), SinkError> {
        if let Some(handoff) = &self.inner.handoff {
            // Under Lambda: queued durably as an asynchronous invocation, which de-duplicates
            // and does the work (see `crate::handoff`).
            return handoff
                .send(event)
                .await
                .map_err(|err| SinkError(err.into()));
        }
        if self.is_redelivery(event).await? {
            return Ok(());
        }
        // The host waits for the answer; the work goes on without it, in this process.
        let inner = Arc::clone(&self.inner);
        let event = event.clone();
        let span = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move { inner.process_logged(&event).await },
            span,
        ));
        Ok(())
    }
}

impl Orchestrator {
    /// Handles a hand-off invocation: checks its seal, de-duplicates the delivery and does the
    /// work before returning (nobody waits for this invocation). An error makes Lambda retry.
    pub async fn handle_handoff(&self, payload: &serde_json::Value) -> Result<(), SinkError> {
        let event = crate::handoff::open(payload, &self.inner.handoff_key)
            .map_err(|err| SinkError(Box::new(err)))?;
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
                if self.is_redelivery(&event).await? {
                    return Ok(());
                }
                self.inner.process_logged(&event).await;
                Ok(())
            },
            span,
        )
        .await
    }

    /// Records the delivery; `true` when it was seen before (nothing more to do).
    async fn is_redelivery(&self, event: &Event) -> Result<bool, SinkError> {
        let Some(delivery) = &event.delivery else {
            return Ok(false);
        };
        // The delivery id, then the body: the same bytes under a new id are a replay (the id is
        // not signed on most hosts), or a host's retry that changed its id (GitLab's event UUID).
        let provider = event.provider.as_str();
        let keys = std::iter::once(format!("{provider}:{}", delivery.as_str())).chain(
            event
                .body_sha256
                .as_ref()
                .map(|sha| format!("{provider}:body:{sha}")),
        );
        for (n, key) in keys.enumerate() {
            let outcome = self
                .inner
                .store
                .record_delivery(&key, DELIVERY_TTL)
                .await
                .map_err(|e| SinkError(Box::new(e)))?;
            if outcome == DeliveryOutcome::Duplicate {
                if n == 0 {
                    tracing::info!("redelivery: already handled");
                } else {
                    tracing::warn!(
                        "a body seen before under another delivery id: not handled again"
                    );
                }
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The plain settings a runner needs, whichever dispatcher starts it: where the store is (a
/// runner on DynamoDB records its own result), the VCS host's URL and the AWS region and
/// endpoint, and a GitHub App's id. Never a secret: the token reaches the runner separately.
fn runner_env(config: &Config) -> Vec<(String, String)> {
    use crate::config::env_vars as v;
    let mut env = Vec::new();
    match &config.store {
        crate::config::StoreConfig::Embedded { data_dir } => {
            let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.clone());
            env.push((v::STORE.to_owned(), "embedded".to_owned()));
            env.push((v::DATA_DIR.to_owned(), data_dir.display().to_string()));
        }
        crate::config::StoreConfig::DynamoDb { table, bucket, .. } => {
            env.push((v::STORE.to_owned(), "dynamodb".to_owned()));
            env.push((v::TABLE.to_owned(), table.clone()));
            env.push((v::BUCKET.to_owned(), bucket.clone()));
        }
    }
    if let Some(url) = &config.vcs_url {
        env.push((v::VCS_URL.to_owned(), url.clone()));
    }
    // A token kept in Secrets Manager is read there by the runner itself (its role may read
    // it); the ARN is not a secret.
    if let Some(crate::config::SecretSource::Arn { arn, .. }) = &config.vcs_token {
        env.push((v::VCS_TOKEN_ARN.to_owned(), arn.clone()));
    }
    // A GitHub App's runner mints its own installation token, with the key it reads by ARN. A
    // key given directly reaches only a local runner, which inherits the function's environment.
    if let Some(app) = &config.github_app {
        env.push((v::GITHUB_APP_ID.to_owned(), app.app_id.to_string()));
        if let crate::config::SecretSource::Arn { arn, .. } = &app.key {
            env.push((v::GITHUB_APP_KEY_ARN.to_owned(), arn.clone()));
        }
        if let Some(id) = app.installation_id {
            env.push((v::GITHUB_INSTALLATION_ID.to_owned(), id.to_string()));
        }
    }
    for name in ["AWS_REGION", "AWS_ENDPOINT_URL"] {
        if let Some(value) = process::var(name) {
            env.push((name.to_owned(), value));
        }
    }
    env
}

/// A pull request as one piece of work sees it.
#[derive(Clone, Debug)]
pub(crate) struct PrContext {
    pub(crate) provider: Provider,
    pub(crate) repo: RepoName,
    pub(crate) pr: PullRequestNumber,
    pub(crate) head_sha: CommitSha,
    pub(crate) head_branch: String,
    pub(crate) base_branch: String,
    pub(crate) clone_url: String,
    pub(crate) user: String,
    /// Who caused the delivery (the commenter, or the pusher for autoplan).
    pub(crate) sender: Actor,
    /// Who opened the PR.
    pub(crate) author: String,
    /// The author's host id where logins are not unique (Bitbucket Cloud).
    pub(crate) author_id: Option<String>,
    /// Where the head lives (`owner/name`); `None` when the host no longer names it.
    pub(crate) head_repo: Option<RepoName>,
    /// Whether a skipped fork autoplan is said on the PR (on open, not on every push).
    pub(crate) announce_fork_skip: bool,
    pub(crate) mergeable: Option<bool>,
    pub(crate) trigger: String,
    /// Access looked up during this delivery, by login.
    access: Arc<std::sync::Mutex<std::collections::HashMap<String, Access>>>,
}

impl PrContext {
    /// Whether the head lives outside the base repository (or the host no longer names it).
    pub(crate) fn is_fork(&self) -> bool {
        self.head_repo.as_ref() != Some(&self.repo)
    }

    /// The PR's author as an actor.
    pub(crate) fn author_actor(&self) -> Actor {
        Actor {
            login: self.author.clone(),
            id: self.author_id.clone(),
        }
    }

    /// Whether `user` is the PR's author, by what identifies people on this host.
    pub(crate) fn is_author(&self, user: &Actor) -> bool {
        let author = self.author_actor().identity(self.provider);
        author.is_some() && user.identity(self.provider) == author
    }

    fn known_access(&self, user: &Actor) -> Option<Access> {
        let key = user.identity(self.provider)?;
        let cache = self
            .access
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(&key).copied()
    }

    fn remember_access(&self, user: &Actor, access: Access) {
        let Some(key) = user.identity(self.provider) else {
            return;
        };
        let mut cache = self
            .access
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(key, access);
    }
}

impl Inner {
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
                // Bitbucket Cloud sends `pullrequest:updated` for title and description edits
                // too: a head that was planned already needs no new plan.
                tracing::info!("the head was planned already: nothing to re-plan");
                Ok(())
            }
            EventKind::Opened | EventKind::Pushed | EventKind::Reopened | EventKind::Ready => {
                let ctx = self.context(event, repo, pr, false).await?;
                if !self.authorize(&ctx, Action::Plan, true, &[]).await? {
                    return Ok(());
                }
                self.plan(&ctx, &crate::projects::Request::autoplan(), &[])
                    .await
            }
            EventKind::Merged | EventKind::Closed => {
                let released = self.store.release_pr(repo.as_str(), pr.0).await?;
                if !released.is_empty() {
                    let verb = if event.kind == EventKind::Merged {
                        "merged"
                    } else {
                        "closed"
                    };
                    let body = text::released(&released, &format!("this pull request was {verb}"));
                    self.vcs.post_comment(repo, pr, &body).await?;
                }
                Ok(())
            }
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

    /// Whether the PR has plan records made at the event's head commit (a 12-character
    /// Bitbucket Cloud hash matches as a prefix).
    async fn planned_at_head(
        &self,
        event: &Event,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> anyhow::Result<bool> {
        let Some(head) = event.head_sha.as_ref().map(CommitSha::as_str) else {
            return Ok(false);
        };
        if head.len() < 7 {
            return Ok(false);
        }
        let records = self.store.list_plans(repo.as_str(), pr.0).await?;
        Ok(records.iter().any(|r| r.head_sha.starts_with(head)))
    }

    async fn command(
        self: &Arc<Self>,
        event: &Event,
        repo: &RepoName,
        pr: PullRequestNumber,
        command: &Command,
    ) -> anyhow::Result<()> {
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
        match command.action {
            Action::Plan => {
                self.plan(
                    &ctx,
                    &crate::projects::Request::from_command(command),
                    &command.extra_args,
                )
                .await
            }
            Action::Apply => self.apply(&ctx, command).await,
            Action::Unlock => {
                let released = self.store.release_pr(repo.as_str(), pr.0).await?;
                let body = if released.is_empty() {
                    "This pull request holds no locks.".to_owned()
                } else {
                    text::released(&released, "`landfall unlock`")
                };
                self.vcs.post_comment(repo, pr, &body).await?;
                Ok(())
            }
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
        Ok(ctx)
    }

    /// The policy in force for this PR.
    pub(crate) fn effective_policy(&self, ctx: &PrContext) -> EffectivePolicy {
        self.policy
            .as_ref()
            .map_or_else(EffectivePolicy::default, |p| {
                p.resolve(&self.host(), ctx.repo.as_str(), &ctx.base_branch)
            })
    }

    /// The host name policies match on (`github.com`, `gitlab.example.com`).
    fn host(&self) -> String {
        let url = self.vcs_url.as_deref().unwrap_or_default();
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        match host.as_str() {
            "api.github.com" => "github.com".to_owned(),
            "api.bitbucket.org" => "bitbucket.org".to_owned(),
            "" => self.provider.as_str().to_owned(),
            _ => host,
        }
    }

    /// Waits for a local run's report; `Err` holds the log tail of a run that ended without
    /// one, or says that none came in time.
    pub(crate) async fn wait_for_report(
        &self,
        spec: &RunSpec,
        run_id: &str,
    ) -> Result<RunReport, String> {
        let AnyDispatcher::Local(local) = &self.dispatcher else {
            return Err("only local runs report to the function".to_owned());
        };
        let report = local.report_path(run_id);
        let deadline = Instant::now() + spec.project.timeout + Duration::from_mins(5);
        let read = || async {
            let json = tokio::fs::read_to_string(&report).await.ok()?;
            serde_json::from_str::<RunReport>(&json).ok()
        };
        loop {
            let ended = local.exit_status(run_id);
            if let Some(parsed) = read().await {
                return Ok(parsed);
            }
            if let Some(status) = ended {
                // The report is written before the process ends; one more look, then give up.
                if let Some(parsed) = read().await {
                    return Ok(parsed);
                }
                let log = tokio::fs::read_to_string(local.run_dir(run_id).join("runner.log"))
                    .await
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "the runner ended ({}) without a report:\n{}",
                    status.trim(),
                    tail.join("\n")
                ));
            }
            if Instant::now() > deadline {
                return Err("the runner did not report in time".to_owned());
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Tells the PR that handling its event failed, best effort.
    async fn report_failure(&self, event: &Event, err: &anyhow::Error) {
        if let (Some(repo), Some(pr)) = (&event.repo, event.number) {
            let body = format!(
                "**Landfall could not handle this event.**\n\n```\n{err:#}\n```\n\nComment `landfall plan` to try again."
            );
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
        }
    }
}
