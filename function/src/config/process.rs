//! The one reader of the process environment: every other module is handed values (or this
//! module's [`var`] as a lookup) instead of reading variables itself, so what Landfall reads is
//! named once in [`super::env_vars`] and every reader is testable with a map.
#![allow(
    clippy::disallowed_methods,
    reason = "this module is the one place that reads the process environment"
)]

use std::ffi::OsString;

use super::ConfigError;

/// A configuration read from variables: the process environment's, or a map in tests.
pub trait FromVariables: Sized {
    /// Reads it through `get`, which gives a variable's value (`None` when unset or blank).
    /// `under_lambda` picks the production defaults instead of the embedded ones.
    fn from_variables(
        get: &impl Fn(&str) -> Option<String>,
        under_lambda: bool,
    ) -> Result<Self, ConfigError>;

    /// Reads the process environment.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(var, under_lambda())
    }

    /// Reads it through `lookup` (a variable's value, `None` when unset); blank values count as
    /// unset.
    fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        under_lambda: bool,
    ) -> Result<Self, ConfigError> {
        Self::from_variables(
            &|name: &str| lookup(name).filter(|value| !value.trim().is_empty()),
            under_lambda,
        )
    }
}

/// A variable's value; `None` when it is unset, empty or not UTF-8.
#[must_use]
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// A variable's value as the OS gives it (paths); `None` when it is unset or empty.
#[must_use]
pub fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// The whole environment, for a child process built from an allowlist.
#[must_use]
pub fn vars_os() -> std::env::VarsOs {
    std::env::vars_os()
}

/// Whether this process runs under AWS Lambda: the runtime API's address is set. Lambda's
/// production defaults (DynamoDB store, Kubernetes dispatch, `/tmp` data folder) follow from it.
#[must_use]
pub fn under_lambda() -> bool {
    var_os(super::env_vars::LAMBDA_RUNTIME_API).is_some()
}

/// The first of `dirs` (a `PATH`'s folders, in order) that holds `name` as an executable file,
/// and that file.
pub fn executable_in(
    dirs: impl IntoIterator<Item = std::path::PathBuf>,
    name: &std::path::Path,
) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}
