//! A runner that records its own result (DynamoDB: the function does not wait for the Job):
//! the store, artifacts and VCS clients, connected before the run, and the recording itself,
//! done by [`crate::report::Reporter`] as the function would.

use super::RunnerOptions;
use super::options::vcs_url;
use crate::config::env_vars as function_env;
use crate::run::{RunReport, RunSpec};
use crate::store::StoreConfig;
use crate::store::artifacts::AnyArtifacts;

/// What a runner that records its own result talks to.
pub(super) struct ReportBack {
    store: crate::store::AnyStore,
    pub(super) artifacts: AnyArtifacts,
    vcs: crate::vcs::AnyVcs,
    /// The host's API base URL, for the links in statuses and comments.
    vcs_url: Option<String>,
}

impl ReportBack {
    /// The clients, built before the run so that a misconfigured runner fails before Terraform
    /// does anything.
    /// `app` is the GitHub App's client when the runner acts as one (it mints fresh tokens for
    /// however long the run takes); otherwise the client uses the token.
    pub(super) async fn connect(
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
    pub(super) async fn record(&self, spec: &RunSpec, report: &RunReport) -> anyhow::Result<()> {
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
