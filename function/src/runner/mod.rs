//! The runner (`landfall-runner`): executes one run inside a Kubernetes Job or as a local
//! process, and reports back.
//!
//! It reads its [`RunSpec`](crate::run::RunSpec) from the environment ([`main`], in `start.rs`),
//! clones the repository at the exact head commit ([`git`]), runs the project's workflow
//! ([`workflow`]) under the run's time limit ([`process`]), summarises the plan from
//! `terraform show -json` ([`crate::run::summary`]; `plan.rs`), stores the planfile and the log
//! as artifacts with their SHA-256, and renders the comment ([`crate::comment::render()`]).
//! An apply refuses a plan made at another commit, and a planfile whose checksum differs from the
//! plan record, before Terraform sees it; Terraform's own "Saved plan is stale" is reported as
//! such ([`run`], in `execute.rs`). The result is a [`RunReport`](crate::run::RunReport):
//! written to `LANDFALL_RUN_REPORT` when set, and printed as the last line of stdout. A runner
//! that can reach the store records it itself (`report_back.rs`).
//!
//! The workflow's steps, and how the fresh clone is prepared for them (`terraform init` and the
//! workspace when the steps do not init), are `steps.rs`; the operator's hooks around them,
//! `hooks.rs`. How the runner is set up is [`RunnerOptions`] (`options.rs`); which Terraform
//! binary runs a project, `terraform.rs`.

mod execute;
pub mod git;
mod hooks;
mod leftovers;
mod multienv;
mod options;
mod plan;
pub mod process;
mod report_back;
mod start;
mod state;
mod steps;
mod terraform;
pub mod workflow;

pub use execute::run;
pub use options::RunnerOptions;
pub use plan::plan_text;
pub use start::{artifacts_from_env, main};

/// Terraform's words when it refuses a planfile because the state changed since the plan.
pub const STALE_PLAN_TEXT: &str = "Saved plan is stale";
