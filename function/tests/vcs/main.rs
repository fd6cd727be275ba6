//! The VCS adapters against wiremock hosts that assert the documented requests, every request
//! checked against the hosts' published API descriptions (conformance), the tree archive reader,
//! and what fetching a PR's files costs: one test binary.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their own harness's variables (PATH, seeds, the tools' places), not Landfall's settings"
)]

mod archive_common;
mod conformance;
mod conformance_check;
mod conformance_graphql;
mod conformance_hosts;
mod drift_harness;
mod vcs_archive;
mod vcs_azure_devops;
mod vcs_bitbucket;
mod vcs_fetch_cost;
mod vcs_gitea;
mod vcs_github;
mod vcs_gitlab;
