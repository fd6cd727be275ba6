//! The real `landfall-function` binary end to end: `serve` and the Lambda emulator, the whole
//! loop on fake GitHub, GitLab and Gitea hosts with the real runner and `terraform`, and what a
//! PR's code can reach: one test binary.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their own harness's variables (PATH, seeds, the tools' places), not Landfall's settings"
)]

#[path = "../loop_common/mod.rs"]
mod loop_common;
mod loop_hosts;

mod lambda_watch;
mod loop_authz;
mod loop_authz_gitea;
mod loop_authz_gitlab;
mod loop_cancel;
mod loop_dispatch_failure;
mod loop_drift;
mod loop_fanout;
mod loop_lambda_watch;
mod loop_merge;
mod loop_moto;
mod loop_order;
mod loop_serve;
mod loop_state;
mod loop_switches;
mod loop_workflows;
mod report_split;
mod runner_secrets;
mod secrets_arn;
mod serve;
mod serve_flood;
mod startup_layout;
