//! The Landfall function: receives pull-request webhooks from GitHub, GitLab, Azure DevOps,
//! Bitbucket Cloud and Server, and Gitea/Forgejo; authenticates them; normalises them into one
//! [`event::Event`] model; parses comment commands; and (in later stages) takes per-project locks
//! and dispatches Terraform runs. The same handler runs under AWS Lambda and as a plain HTTP server.
//!
//! Module map: [`webhook`] (authentication and one parser per host), [`event`] (the normalised
//! model), [`command`] (comment commands), [`allowlist`], [`config`] (environment variables),
//! [`handler`] (the HTTP handler and the event sink seam), [`server`] (`serve`), [`lambda`],
//! [`telemetry`] (JSON logs), [`cli`] (the `landfall-function` command line).

/// Declares items that only the function's build has (the `function` feature, on by default):
/// `landfall-runner`'s own build (`--no-default-features`, the runner image's) leaves them out,
/// and with them the AWS SDK, kube, the Lambda runtime and the embedded database.
macro_rules! function_only {
    ($($item:item)*) => {
        $(#[cfg(feature = "function")] $item)*
    };
}

function_only! {
    pub mod aws;
    pub mod cli;
    pub mod context;
    pub mod dispatch;
    pub mod handler;
    pub mod handoff;
    pub mod lambda;
    pub mod orchestrate;
    pub mod report;
    pub mod server;
}

pub mod allowlist;
pub mod authz;
pub mod command;
pub mod comment;
pub mod config;
pub mod dir;
pub mod event;
mod forward;
mod json;
pub mod markdown;
pub mod projects;
pub mod repo_config;
pub mod run;
pub mod runner;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod vcs;
pub mod webhook;
