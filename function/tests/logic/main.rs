//! The function's logic in process, without a server: webhook parsing over the whole corpus
//! (insta snapshots), property tests (parsers that never panic, authorization, matching, comment
//! splitting), project selection and the repo and server config: one test binary.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their own harness's variables (PATH, seeds, the tools' places), not Landfall's settings"
)]

mod authz_props;
mod corpus;
mod corpus_signatures;
mod never_panic;
mod policy_permissions;
mod projects_matcher_props;
mod projects_selection;
mod projects_selection_comments;
mod repo_config_atlantis;
mod repo_config_policy;
mod repo_config_policy_check;
mod vcs_comment_split_props;
