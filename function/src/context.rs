//! The composition root: the clients the loop works with (store, artifacts, dispatcher, VCS
//! host, policy, hand-off), built once from the [`Config`] and [`Secrets`] read at start-up.
//! `serve` builds it before it listens; under Lambda it is built on the first invocation that
//! needs it (the orchestrator's `Sink`). Tests build one from parts ([`Context::new`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::{Config, DispatchConfig, Secrets, StoreConfig, env_vars, process};
use crate::dispatch::{AnyDispatcher, KubernetesDispatcher, LocalDispatcher, RunnerSettings};
use crate::event::Provider;
use crate::repo_config::Policy;
use crate::store::{AnyArtifacts, AnyStore};
use crate::vcs::github::GithubClient;
use crate::vcs::{AnyVcs, RetryPolicy, VcsError, VcsSettings};

/// What the loop works with.
pub struct Context {
    /// The VCS host's kind.
    pub provider: Provider,
    /// The host's API base URL, for links and the policy's host name.
    pub vcs_url: Option<String>,
    /// Locks, plan records and deliveries.
    pub store: AnyStore,
    /// Where runs' planfiles and logs are, for the log links of a cut comment.
    pub artifacts: AnyArtifacts,
    /// Where runs start.
    pub dispatcher: AnyDispatcher,
    /// Comments, statuses, permissions and the tree.
    pub vcs: AnyVcs,
    /// The operator's server-side policy.
    pub policy: Option<Policy>,
    /// Whether runners post their reports to the function ([`Self::report_url`]); else the
    /// function waits for each local run's report and records it.
    pub report_back: bool,
    /// The function's base URL as runners reach it, where they post their reports.
    pub report_url: Option<String>,
    /// The key of the runs' report credentials (derived from the webhook secret).
    pub report_key: crate::run::report_auth::ReportKey,
    /// The deployment's VCS token, handed to each run for its clone (a GitHub App's runs get a
    /// token minted for them instead). The runner's cloud role then needs no secret of its own.
    pub run_token: Option<secrecy::SecretString>,
    /// Under Lambda: where events go to be handled by an asynchronous invocation.
    pub handoff: Option<crate::handoff::LambdaHandoff>,
    /// The key hand-offs are sealed with (the webhook secret).
    pub handoff_key: secrecy::SecretString,
    /// How often a local run's report is looked for.
    pub poll: Duration,
    /// The operator's server-wide switches (autoplan off, the commands that run).
    pub switches: crate::config::OperatorSwitches,
    /// Where drift is posted (a Slack-compatible incoming webhook URL: a credential).
    pub drift_webhook: Option<secrecy::SecretString>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("provider", &self.provider)
            .field("vcs_url", &self.vcs_url)
            .field("report_back", &self.report_back)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Builds the store, the dispatcher, the VCS client and the policy from the configuration.
    pub async fn build(config: &Config, secrets: &Secrets) -> anyhow::Result<Self> {
        let (store, artifacts) = config
            .store
            .connect()
            .await
            .with_context(|| format!("cannot open the store ({})", config.store.describe()))?;
        let report_url = match &config.report_url {
            Some(url) => Some(url.clone()),
            None if process::under_lambda() => {
                let name = process::var(env_vars::AWS_LAMBDA_FUNCTION_NAME)
                    .context(
                        "AWS_LAMBDA_FUNCTION_NAME is not set, so the function's URL for run \
                         reports is unknown; set LANDFALL_REPORT_URL",
                    )?;
                Some(crate::aws::own_function_url(&name).await.context(
                    "cannot find the function's URL for run reports; set LANDFALL_REPORT_URL",
                )?)
            }
            None => None,
        };
        let report_back = report_url.is_some();
        let env = runner_env(config);
        let dispatcher = match &config.dispatch {
            DispatchConfig::Local => {
                let runner = process::var_os(env_vars::RUNNER)
                    .map_or_else(LocalDispatcher::runner_beside_current_exe, PathBuf::from);
                let data_dir = match &config.store {
                    StoreConfig::Embedded { data_dir } => Some(data_dir.clone()),
                    StoreConfig::DynamoDb { .. } => {
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
                apply_service_account,
            } => {
                let mut settings = RunnerSettings::new(namespace, image, service_account);
                settings
                    .apply_service_account
                    .clone_from(apply_service_account);
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
        let vcs = vcs_client(config, secrets, RetryPolicy::default())
            .context("cannot build the VCS client")?;
        let policy = config.load_policy().context("invalid LANDFALL_POLICY")?;
        Ok(Context {
            provider: config.vcs,
            vcs_url: config.vcs_url.clone(),
            store,
            artifacts,
            dispatcher,
            vcs,
            policy,
            report_back,
            report_url,
            report_key: crate::run::report_auth::ReportKey::derive(&secrets.webhook_secret),
            run_token: secrets.vcs_token.clone(),
            handoff: crate::handoff::LambdaHandoff::from_env(&secrets.webhook_secret)?,
            handoff_key: secrets.webhook_secret.clone(),
            poll: Duration::from_millis(100),
            switches: config.switches.clone(),
            drift_webhook: secrets.drift_webhook_url.clone(),
        })
    }

    /// A context from parts, for tests: no hand-off (its key is empty), reports looked for every
    /// 10 ms. Not in production builds.
    #[cfg(any(test, feature = "test-support"))]
    #[must_use]
    pub fn new(
        provider: Provider,
        vcs_url: Option<String>,
        (store, artifacts): (AnyStore, AnyArtifacts),
        dispatcher: AnyDispatcher,
        vcs: AnyVcs,
        policy: Option<Policy>,
    ) -> Self {
        Context {
            provider,
            vcs_url,
            store,
            artifacts,
            dispatcher,
            vcs,
            policy,
            report_back: false,
            report_url: None,
            report_key: crate::run::report_auth::ReportKey::derive(&secrecy::SecretString::from(
                "test webhook secret",
            )),
            run_token: None,
            handoff: None,
            handoff_key: secrecy::SecretString::from(String::new()),
            poll: Duration::from_millis(10),
            switches: crate::config::OperatorSwitches::default(),
            drift_webhook: None,
        }
    }
}

/// The plain settings a runner needs, whichever dispatcher starts it: the embedded store's
/// folder (a local runner writes its artifacts there; on S3 a run gets presigned links
/// instead, and no store settings at all), the VCS host's URL, and the AWS region and endpoint.
/// Never a secret, nor a secret's ARN: each run is handed its token ([`Context::run_secrets`]),
/// so the runner's cloud role needs no access to Secrets Manager.
fn runner_env(config: &Config) -> Vec<(String, String)> {
    use crate::config::env_vars as v;
    let mut env = Vec::new();
    if let StoreConfig::Embedded { data_dir } = &config.store {
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.clone());
        env.push((v::STORE.to_owned(), "embedded".to_owned()));
        env.push((v::DATA_DIR.to_owned(), data_dir.display().to_string()));
    }
    if let Some(url) = &config.vcs_url {
        env.push((v::VCS_URL.to_owned(), url.clone()));
    }
    for name in ["AWS_REGION", "AWS_ENDPOINT_URL"] {
        if let Some(value) = process::var(name) {
            env.push((name.to_owned(), value));
        }
    }
    env
}

/// The keys a run writes: its planfile (a plan's) and its log. The runner derives the same.
#[must_use]
pub fn run_artifact_keys(spec: &crate::run::RunSpec) -> (String, String) {
    use crate::store::keys;
    let (lock, run_id) = (spec.lock_key(), spec.run_id());
    let sha = spec.head_sha.as_str();
    (
        keys::planfile_key(&lock, spec.pr.0, sha, &run_id),
        keys::log_key(&lock, spec.pr.0, sha, &run_id),
    )
}

/// The artifact keys `spec`'s run may write and read: a plan writes its planfile, an apply reads
/// one, an edit of the state does neither; every run writes its log.
fn artifact_access(spec: &crate::run::RunSpec) -> (Vec<String>, Vec<String>) {
    let (planfile, log) = run_artifact_keys(spec);
    match (&spec.apply, spec.command) {
        (Some(apply), _) => (vec![log], vec![apply.planfile.key.clone()]),
        (None, crate::run::RunCommand::Plan) => (vec![planfile, log], Vec::new()),
        (None, _) => (vec![log], Vec::new()),
    }
}

impl Context {
    /// What `spec`'s run is given for itself: the report credential and URL (when runners
    /// report back), presigned links for exactly the keys it writes and reads (on S3,
    /// [`artifact_access`]), and its VCS token: a GitHub App's installation token for the
    /// repository, read-only, else the deployment's token.
    pub async fn run_secrets(
        &self,
        spec: &crate::run::RunSpec,
    ) -> anyhow::Result<crate::dispatch::RunSecrets> {
        let mut secrets = crate::dispatch::RunSecrets::default();
        if spec.report_back.is_some()
            && let Some(url) = &self.report_url
        {
            secrets.report = Some((
                format!("{url}{}", crate::run::report_auth::REPORT_PATH),
                self.report_key.credential(spec),
            ));
        }
        if let AnyArtifacts::S3(s3) = &self.artifacts {
            let (writes, reads) = artifact_access(spec);
            let valid_for = spec.project.timeout + crate::run::DEADLINE_GRACE * 2;
            secrets.artifacts = Some(
                crate::store::presigned::RunLinks::sign(s3, &writes, &reads, valid_for)
                    .await
                    .context("cannot sign the run's artifact links")?,
            );
        }
        if let AnyVcs::Github(client) = &self.vcs
            && client.is_app()
        {
            let token = client
                .token_for(&spec.repo, Duration::from_hours(1))
                .await
                .with_context(|| format!("cannot mint the run's token for {}", spec.repo))?;
            secrets.vcs_token = Some(token);
        } else {
            secrets.vcs_token.clone_from(&self.run_token);
        }
        Ok(secrets)
    }
}

/// Builds the adapter the configuration names: a GitHub App when
/// `LANDFALL_GITHUB_APP_ID` is set, else the host's adapter with the token.
///
/// # Errors
///
/// [`VcsError::Config`] when neither a token nor a GitHub App is configured, or the client
/// cannot be built.
pub fn vcs_client(
    config: &Config,
    secrets: &Secrets,
    retry: RetryPolicy,
) -> Result<AnyVcs, VcsError> {
    if let Some(app) = &config.github_app {
        let key = secrets
            .github_app_key
            .as_ref()
            .ok_or_else(|| VcsError::Config {
                message: format!("{} was not read", env_vars::GITHUB_APP_KEY),
            })?;
        return Ok(AnyVcs::Github(GithubClient::app(
            config.vcs_url.as_deref(),
            app.app_id,
            secrecy::ExposeSecret::expose_secret(key).as_bytes(),
            app.installation_id,
            retry,
        )?
        .with_status_name(config.switches.status_name())));
    }
    let token = secrets.vcs_token.clone().ok_or_else(|| VcsError::Config {
        message: format!(
            "{} is not set (nor, for GitHub, {}): the function needs it to talk to the host",
            env_vars::VCS_TOKEN,
            env_vars::GITHUB_APP_ID
        ),
    })?;
    AnyVcs::new(&VcsSettings {
        provider: config.vcs,
        base_url: config.vcs_url.clone(),
        token,
        retry,
        status_name: config.switches.status_name().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{PlanToApply, RunCommand, StoredArtifact};

    #[test]
    fn a_run_is_given_links_to_what_its_command_writes_and_reads_and_nothing_else() {
        let plan = crate::run::env::tests::plan_spec();
        let (planfile, log) = run_artifact_keys(&plan);
        assert_eq!(
            artifact_access(&plan),
            (vec![planfile.clone(), log], Vec::new())
        );

        let mut apply = plan.clone();
        apply.command = RunCommand::Apply;
        apply.apply = Some(PlanToApply {
            planfile: StoredArtifact {
                key: planfile.clone(),
                sha256: "ab".repeat(32),
                size: 1,
            },
            planned_sha: plan.head_sha.clone(),
        });
        let (_, apply_log) = run_artifact_keys(&apply);
        assert_eq!(artifact_access(&apply), (vec![apply_log], vec![planfile]));

        for command in [RunCommand::Import, RunCommand::StateRm] {
            let mut edit = plan.clone();
            edit.command = command;
            let (edit_planfile, edit_log) = run_artifact_keys(&edit);
            let (writes, reads) = artifact_access(&edit);
            assert_eq!(writes, [edit_log], "{command:?} writes its log only");
            assert!(!writes.contains(&edit_planfile));
            assert!(reads.is_empty(), "{command:?} reads no planfile");
        }
    }
}
