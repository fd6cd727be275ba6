//! The VCS host's API base URL (`vcs_url`, `landfall init --vcs-url`), judged by the function's
//! own checks, and refused in plain http but to this machine.

use landfall_function::config;
use landfall_function::event::Provider;

/// What is wrong with the VCS URL setting of a `provider` host, `url` as written: `landfall.toml`'s
/// `vcs_url` and `landfall init --vcs-url` are judged alike, by the function's own checks.
pub(crate) enum VcsUrlIssue {
    /// None given, where the host has no public API to default to; `example` is what to write.
    Missing { example: &'static str },
    /// Not a base URL ([`config::check_vcs_url`]), shown without what may be secret.
    Invalid { value: String, reason: String },
    /// A base URL, but not the host's API base ([`config::vcs_url_problem`]).
    NotApiBase { url: String, problem: String },
    /// Plain `http://` to another host than this machine: the function sends its token, in
    /// the clear, with every request.
    PlainHttp { url: String },
}

/// The issue with `url` for `provider`, if any.
pub(crate) fn vcs_url_issue(provider: Provider, url: Option<&str>) -> Option<VcsUrlIssue> {
    let Some(url) = url else {
        let example = match provider {
            Provider::AzureDevops => "\"https://dev.azure.com/<organization>\"",
            _ => "\"https://bitbucket.example.com\" (your Bitbucket server's base URL)",
        };
        return config::default_vcs_url(provider)
            .is_none()
            .then_some(VcsUrlIssue::Missing { example });
    };
    match config::check_vcs_url(url) {
        Err(config::ConfigError::Invalid { value, reason, .. }) => {
            Some(VcsUrlIssue::Invalid { value, reason })
        }
        Err(_) => None,
        // The function's own rule, as for its drift webhook: http only to this machine.
        Ok(checked) if checked.starts_with("http://") && !config::is_loopback_http(&checked) => {
            Some(VcsUrlIssue::PlainHttp { url: checked })
        }
        Ok(checked) => {
            config::vcs_url_problem(provider, &checked).map(|problem| VcsUrlIssue::NotApiBase {
                url: checked,
                problem,
            })
        }
    }
}
