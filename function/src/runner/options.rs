//! How the runner itself is set up ([`RunnerOptions`]), as opposed to the run (the
//! [`RunSpec`]), and the host the run's repository lives on.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::git;
use crate::config::{env_vars as function_env, process as settings};
use crate::run::RunSpec;

/// How the runner itself is set up (not the run: that is the [`RunSpec`]). Its `Debug` shows
/// the token as `SecretString`'s, redacted.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Where the clone and the outputs go.
    pub work_dir: PathBuf,
    /// The `terraform` binary.
    pub terraform: PathBuf,
    /// The `tofu` binary (OpenTofu), for projects that ask for it.
    pub tofu: PathBuf,
    /// Other versions, `<dir>/<version>/terraform` (and `<dir>/<version>/tofu` for OpenTofu),
    /// for projects that pin one.
    pub versions_dir: Option<PathBuf>,
    /// The provider plugin cache, shared between runs; `init` holds a lock on it.
    pub plugin_cache: PathBuf,
    /// Time between SIGINT and SIGKILL when a run passes its limit.
    pub grace: Duration,
    /// The VCS token, served to git by the credential helper.
    pub token: Option<SecretString>,
    /// The credential helper: this binary, run as `<exe> git-credential`.
    pub helper_exe: PathBuf,
    /// Whether to echo each step's output to stderr (the Job's log).
    pub echo: bool,
}

impl RunnerOptions {
    /// Options from the environment: `LANDFALL_WORK_DIR`, `LANDFALL_TERRAFORM`, `LANDFALL_TOFU`,
    /// `LANDFALL_PLUGIN_CACHE_DIR`, `LANDFALL_RUN_GRACE` and the token (`LANDFALL_VCS_TOKEN`, or
    /// standard input after [`git::move_token_off_environment`]).
    ///
    /// # Errors
    ///
    /// A `LANDFALL_RUN_GRACE` that is not a whole number of seconds.
    pub fn from_env() -> Result<Self, String> {
        let get = settings::var_os;
        let path = get(function_env::PATH);
        let work_dir = get(function_env::WORK_DIR)
            .map_or_else(|| std::env::temp_dir().join("landfall-run"), PathBuf::from);
        Ok(Self {
            plugin_cache: get(function_env::PLUGIN_CACHE_DIR)
                .map_or_else(|| work_dir.join("plugin-cache"), PathBuf::from),
            terraform: found_now(
                get(function_env::TERRAFORM).map_or_else(|| "terraform".into(), PathBuf::from),
                path.as_deref(),
            ),
            tofu: found_now(
                get(function_env::TOFU).map_or_else(|| "tofu".into(), PathBuf::from),
                path.as_deref(),
            ),
            // Absolute from the start, as the binaries: a relative one would be looked up again
            // in each project's folder of the clone, which the pull request writes.
            versions_dir: get(function_env::TERRAFORM_VERSIONS_DIR)
                .map(|dir| std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(dir))),
            grace: grace(get(function_env::RUN_GRACE))?,
            token: git::token_from_environment(),
            helper_exe: std::env::current_exe()
                .unwrap_or_else(|_| PathBuf::from("landfall-runner")),
            echo: true,
            work_dir,
        })
    }
}

/// `LANDFALL_RUN_GRACE`: the seconds a step is given between SIGINT and SIGKILL (30 unset).
fn grace(value: Option<std::ffi::OsString>) -> Result<Duration, String> {
    let Some(value) = value else {
        return Ok(crate::run::STEP_GRACE);
    };
    value
        .to_str()
        .and_then(|text| text.trim().parse().ok())
        .map(Duration::from_secs)
        .ok_or_else(|| {
            format!(
                "{}=\"{}\" is invalid: expected a whole number of seconds",
                function_env::RUN_GRACE,
                value.display()
            )
        })
}

/// The host's API base URL: `LANDFALL_VCS_URL`, else the provider's public one.
pub(super) fn vcs_url(spec: &RunSpec) -> Option<String> {
    settings::var(function_env::VCS_URL)
        .or_else(|| crate::config::default_vcs_url(spec.provider).map(str::to_owned))
}

/// `program` as an absolute path, fixed at start-up: a relative path from the runner's working
/// folder, a bare name from the runner's own `path`. `Command` searches the `PATH` it gives
/// the child, so a workflow's `env` step that sets `PATH` would otherwise choose the
/// `terraform` that plans, and the one that shows the plan the summary and the policies read.
/// Only absolute folders count; a name found in none stays a bare name, which
/// `terraform::pick_terraform` refuses to run.
fn found_now(program: PathBuf, path: Option<&std::ffi::OsStr>) -> PathBuf {
    if program.is_absolute() {
        return program;
    }
    if program.components().count() != 1 {
        return std::path::absolute(&program).unwrap_or(program);
    }
    let dirs = path
        .iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| dir.is_absolute());
    settings::executable_in(dirs, &program).unwrap_or(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grace_that_is_no_number_of_seconds_is_an_error_not_thirty() {
        assert_eq!(grace(None), Ok(Duration::from_secs(30)));
        assert_eq!(grace(Some("5".into())), Ok(Duration::from_secs(5)));
        for bad in ["5s", "-1", "", "1.5"] {
            let err = grace(Some(bad.into())).unwrap_err();
            assert!(err.contains("LANDFALL_RUN_GRACE"), "{bad}: {err}");
        }
    }
}
