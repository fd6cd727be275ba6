//! Getting the code: a clone at the exact head commit, only from the configured VCS host, and a
//! git credential helper that serves the VCS token to that clone only.
//!
//! The token never appears in a URL, an argument list, a log or the runner's environment. The
//! runner takes it out of its environment before anything else ([`move_token_off_environment`]),
//! writes it to a file readable only by itself, and points git at the helper through
//! `GIT_CONFIG_*` variables. The clone URL is checked first ([`check_clone_url`]): `https://` on
//! the VCS host, or `file://` when the operator allows it; nothing else is cloned and no
//! credential is offered to another host. Once the clone is done the file is removed
//! ([`forget_token`]) and the steps (Terraform, `run`) get no helper ([`step_git_env`]): the
//! pull request's code cannot read the token. The helper is this very binary:
//! `landfall-runner git-credential get`.
//!
//! [`credential`] holds the token and the helper, [`url`] the check of the clone URL and
//! [`clone`] the clone.

mod clone;
mod credential;
mod url;

pub use self::clone::{CloneError, Cloned, clone_at, project_dir};
pub use self::credential::{
    CREDENTIAL_HOST_VAR, TOKEN_FILE_VAR, TOKEN_ON_STDIN_VAR, USERNAME_VAR, WITHHELD_VARS,
    clone_credential, credential_answer, credential_helper_main, forget_token, git_env,
    handed_over, move_token_off_environment, step_git_env, token_file, token_from_environment,
    token_username,
};
pub use self::url::{CloneHosts, CloneUrl, UrlError, check_clone_url, parse_clone_url};
