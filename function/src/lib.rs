//! The Landfall function: receives pull-request webhooks from GitHub, GitLab, Azure DevOps,
//! Bitbucket Cloud and Server, and Gitea/Forgejo; authenticates them; normalises them into one
//! [`event::Event`] model; parses comment commands; and (in later stages) takes per-project locks
//! and dispatches Terraform runs. The same handler runs under AWS Lambda and as a plain HTTP server.
//!
//! Module map: [`webhook`] (authentication and one parser per host), [`event`] (the normalised
//! model), [`command`] (comment commands), [`allowlist`], [`config`] (environment variables),
//! [`handler`] (the HTTP handler and the event sink seam), [`server`] (`serve`), [`lambda`],
//! [`telemetry`] (JSON logs), [`cli`] (the `landfall-function` command line).

pub mod allowlist;
pub mod authz;
pub mod aws;
pub mod cli;
pub mod command;
pub mod comment;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod event;
mod forward;
pub mod handler;
pub mod handoff;
pub mod lambda;
pub mod orchestrate;
pub mod projects;
pub mod repo_config;
pub mod report;
pub mod run;
pub mod runner;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod vcs;
pub mod webhook;
