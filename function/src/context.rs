//! The composition root: the clients the loop works with (store, artifacts, dispatcher, VCS
//! host, policy, hand-off), built once from the [`Config`] and [`Secrets`] read at start-up.
//! `serve` builds it before it listens; under Lambda it is built on the first invocation that
//! needs it (see [`crate::orchestrate::Sink`]). Tests build one from parts ([`Context::new`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::{Config, DispatchConfig, Secrets, StoreConfig, env_vars, process};
use crate::dispatch::{AnyDispatcher, KubernetesDispatcher, LocalDispatcher, RunnerSettings};
use crate::event::Provider;
use crate::repo_config::Policy;
use crate::store::{AnyArtifacts, AnyStore};
use crate::vcs::{AnyVcs, RetryPolicy};

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
    /// Whether runners record their own results (they can reach the store: DynamoDB); else
    /// the function waits for each local run's report and records it.
    pub report_back: bool,
    /// Under Lambda: where events go to be handled by an asynchronous invocation.
    pub handoff: Option<crate::handoff::LambdaHandoff>,
    /// The key hand-offs are sealed with (the webhook secret).
    pub handoff_key: secrecy::SecretString,
    /// How often a local run's report is looked for.
    pub poll: Duration,
    /// The operator's server-wide switches (autoplan off, the commands that run).
    pub switches: crate::config::OperatorSwitches,
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
        let report_back = matches!(config.store, StoreConfig::DynamoDb { .. });
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
        let vcs = AnyVcs::from_config(config, secrets, RetryPolicy::default())
            .context("cannot build the VCS client")?;
        let policy = match &config.policy {
            Some(path) => Some(Policy::load(path).context("invalid LANDFALL_POLICY")?),
            None => None,
        };
        Ok(Context {
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
            switches: config.switches.clone(),
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
            handoff: None,
            handoff_key: secrecy::SecretString::from(String::new()),
            poll: Duration::from_millis(10),
            switches: crate::config::OperatorSwitches::default(),
        }
    }
}

/// The plain settings a runner needs, whichever dispatcher starts it: where the store is (a
/// runner on DynamoDB records its own result), the VCS host's URL and the AWS region and
/// endpoint, and a GitHub App's id. Never a secret: the token reaches the runner separately.
fn runner_env(config: &Config) -> Vec<(String, String)> {
    use crate::config::env_vars as v;
    let mut env = Vec::new();
    match &config.store {
        StoreConfig::Embedded { data_dir } => {
            let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.clone());
            env.push((v::STORE.to_owned(), "embedded".to_owned()));
            env.push((v::DATA_DIR.to_owned(), data_dir.display().to_string()));
        }
        StoreConfig::DynamoDb { table, bucket, .. } => {
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
