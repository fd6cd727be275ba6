//! `landfall-function serve`: the webhook handler over plain HTTP, and the Lambda entry point
//! (the same start-up, a different loop).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;
use tokio::runtime::{Builder, Runtime};

use crate::config::{Config, FromVariables as _, Secrets};
use crate::handler::WebhookHandler;
use crate::orchestrate::Sink;
use crate::{lambda, server, telemetry};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        env = "LANDFALL_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
}

/// Starts up: telemetry, the configuration, then the Tokio runtime from `runtime`.
fn start_up(mut runtime: Builder) -> anyhow::Result<(Config, Runtime)> {
    telemetry::init();
    let config = Config::from_env().context("invalid configuration")?;
    if config.allowlist.allows_all() {
        tracing::warn!(
            "LANDFALL_REPO_ALLOWLIST is not set: every repository that knows the secret may use this deployment"
        );
    }
    Ok((config, runtime.enable_all().build()?))
}

/// Reads the secrets (by ARN if so configured) and checks them.
async fn secrets(config: &Config) -> anyhow::Result<Secrets> {
    let secrets = config
        .resolve_secrets()
        .await
        .context("cannot read the secrets")?;
    crate::webhook::auth::check_secret(config.vcs, &secrets.webhook_secret)
        .context("LANDFALL_WEBHOOK_SECRET is invalid")?;
    Ok(secrets)
}

async fn handler(config: &Config) -> anyhow::Result<Arc<WebhookHandler<Sink>>> {
    let secrets = secrets(config).await?;
    let sink = Sink::build(config, &secrets).await?;
    Ok(Arc::new(WebhookHandler::from_config(
        config, &secrets, sink,
    )))
}

/// Sweeps every `every` (the first one at start-up: runs lost while the server was down).
async fn sweep_every(handler: Arc<WebhookHandler<Sink>>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = handler.sink().sweep().await {
            tracing::warn!(error = %err, "the sweep failed; the next one tries again");
        }
    }
}

/// Looks for due drift checks every `every`, the first at most a minute after start-up (not at
/// once: a server restarting in a loop would start checks in bursts). Each project's own
/// schedule decides when it is due.
async fn drift_every(handler: Arc<WebhookHandler<Sink>>, every: std::time::Duration) {
    let first = tokio::time::Instant::now() + every.min(std::time::Duration::from_mins(1));
    let mut tick = tokio::time::interval_at(first, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = handler.sink().drift().await {
            tracing::warn!(error = %err, "the drift sweep failed; the next one tries again");
        }
    }
}

pub(super) fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let (config, runtime) = start_up(Builder::new_multi_thread())?;
    runtime.block_on(async {
        let handler = handler(&config).await?;
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let limits = config.serve;
        if let Some(every) = limits.sweep_every {
            tokio::spawn(sweep_every(Arc::clone(&handler), every));
        }
        if let Some(every) = limits.drift_every {
            tokio::spawn(drift_every(Arc::clone(&handler), every));
        }
        tracing::info!(
            %addr,
            vcs = config.vcs.as_str(),
            max_body_bytes = config.max_body_bytes,
            body_timeout_secs = limits.body_timeout.as_secs(),
            max_connections = limits.max_connections,
            body_budget_bytes = limits.body_budget_bytes,
            "listening"
        );
        server::serve(
            listener,
            handler,
            limits,
            config.max_body_bytes,
            server::shutdown_signal(),
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs under AWS Lambda: a single-threaded runtime (one invocation at a time per instance, and
/// the fastest cold start), the handler built once, then the runtime loop.
pub(super) fn run_lambda() -> anyhow::Result<ExitCode> {
    let (config, runtime) = start_up(Builder::new_current_thread())?;
    runtime.block_on(async {
        let secrets = secrets(&config).await?;
        // The settings that only the sink's construction reads are checked now, without building
        // its clients: that waits for the first invocation (a lazy `Sink`), after the first poll.
        crate::handoff::LambdaHandoff::from_env(&secrets.webhook_secret)?;
        config.load_policy().context("invalid LANDFALL_POLICY")?;
        let sink = Sink::lazy(config.clone(), secrets.clone());
        let handler = Arc::new(WebhookHandler::from_config(&config, &secrets, sink));
        lambda::run(handler)
            .await
            .map_err(|e| anyhow::anyhow!(e))
            .context("the Lambda runtime stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}
