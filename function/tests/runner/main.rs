//! The runner and the dispatchers: the real `landfall-runner` with the real `terraform`, on the
//! local store and on S3 (moto), the plan summary against the corpus, and the local, Kubernetes
//! and EKS dispatch: one test binary.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their own harness's variables (PATH, seeds, the tools' places), not Landfall's settings"
)]

mod dispatch_eks_token;
mod dispatch_job_state;
mod dispatch_kubernetes;
mod dispatch_kubernetes_secrets;
mod dispatch_local;
mod runner_comment;
mod runner_e2e;
mod runner_github_app;
mod runner_hooks;
mod runner_planfile;
mod runner_policies;
mod runner_report_back;
mod runner_s3;
mod runner_show_multienv;
mod runner_steps;
mod runner_summary;
