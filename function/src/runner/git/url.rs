//! Which clone URLs the runner uses: `https://` on the VCS host (or `file://` when the operator
//! allows it), with no password and a host name this check and git cannot read differently.

use crate::config::env_vars;
use crate::event::Provider;

/// The parts of a clone URL the runner needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneUrl {
    /// The scheme: `https`, `http`, `file`, `ssh`...
    pub scheme: String,
    /// The host (and port), empty for `file://`.
    pub host: String,
}

/// A clone URL that the runner will not use.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// The URL has no `scheme://`.
    #[error("the clone URL {0:?} has no scheme (expected https:// or file://)")]
    NoScheme(String),
    /// The URL carries a password: the token must come from the credential helper.
    #[error("the clone URL carries a password; give it without credentials")]
    Credentials,
    /// Not `https://` (nor an allowed `file://`).
    #[error("the clone URL {url:?} is not an https:// URL{hint}")]
    Scheme {
        /// The URL.
        url: String,
        /// What would allow it, if anything.
        hint: &'static str,
    },
    /// The host part cannot be read safely.
    #[error(
        "the clone URL {url:?} has no plain host name (letters, digits, dots, dashes and a port)"
    )]
    Malformed {
        /// The URL.
        url: String,
    },
    /// The URL is on another host than the VCS host's.
    #[error(
        "the clone URL {url:?} is on {host}, not on the VCS host ({expected}): the runner clones, and \
         offers its token, only there"
    )]
    OtherHost {
        /// The URL.
        url: String,
        /// Its host.
        host: String,
        /// The hosts allowed.
        expected: String,
    },
}

/// The hosts a runner clones from: the VCS host's (its API URL's host, `LANDFALL_VCS_URL`, or the
/// public service's), over HTTPS. GitHub's and Bitbucket Cloud's API live on `api.<host>`, so
/// `<host>` is one too (`api.github.com` → `github.com`; GitHub Enterprise Cloud's
/// `api.<tenant>.ghe.com` → `<tenant>.ghe.com`); Azure DevOps' `dev.azure.com` also serves the
/// older `<organisation>.visualstudio.com`. Self-hosted servers (GitHub Enterprise Server,
/// GitLab, Gitea, Bitbucket Server, Azure DevOps Server) clone from their own host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneHosts {
    /// Host names (lowercase) and their HTTPS port.
    exact: Vec<(String, u16)>,
    /// Whether `*.visualstudio.com` is one.
    visualstudio: bool,
}

impl CloneHosts {
    /// The clone hosts of `provider` with the API at `vcs_url` (else the public service's).
    #[must_use]
    pub fn for_vcs(provider: Provider, vcs_url: Option<&str>) -> Self {
        let url = vcs_url
            .filter(|url| !url.trim().is_empty())
            .or_else(|| crate::config::default_vcs_url(provider))
            .or((provider == Provider::AzureDevops).then_some("https://dev.azure.com"));
        let mut exact = Vec::new();
        let mut visualstudio = false;
        if let Some((name, port)) = url.and_then(url_host) {
            // GitHub and Bitbucket Cloud clone from the site their API's `api.` host serves.
            let site = crate::vcs::site_host(provider, &name);
            if site != name {
                exact.push((site.to_owned(), port));
            }
            // Azure DevOps Services answers at dev.azure.com and at <organization>.visualstudio.com
            // alike, and a repository's `remoteUrl` may name either.
            visualstudio = provider == Provider::AzureDevops
                && (name == "dev.azure.com" || name.ends_with(".visualstudio.com"));
            if visualstudio && name != "dev.azure.com" {
                exact.push(("dev.azure.com".to_owned(), 443));
            }
            exact.push((name, port));
        }
        Self {
            exact,
            visualstudio,
        }
    }

    fn allows(&self, name: &str, port: u16) -> bool {
        self.exact.iter().any(|(n, p)| n == name && *p == port)
            || (self.visualstudio
                && port == 443
                && name
                    .strip_suffix(".visualstudio.com")
                    .is_some_and(|org| !org.is_empty() && !org.contains('.')))
    }

    fn describe(&self) -> String {
        let mut hosts: Vec<String> = self
            .exact
            .iter()
            .map(|(name, port)| {
                if *port == 443 {
                    name.clone()
                } else {
                    format!("{name}:{port}")
                }
            })
            .collect();
        if self.visualstudio {
            hosts.push("*.visualstudio.com".to_owned());
        }
        if hosts.is_empty() {
            format!("none: set {}", env_vars::VCS_URL)
        } else {
            hosts.join(", ")
        }
    }
}

/// The host name (lowercase) and port of a plain `host[:port]`; `None` when it is anything else.
fn host_and_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (name, port) = match authority.rsplit_once(':') {
        Some((name, port)) => (name, port.parse().ok().filter(|p| *p > 0)?),
        None => (authority, default_port),
    };
    let plain = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    plain.then(|| (name.to_ascii_lowercase(), port))
}

/// The host of an API URL (`https://host[:port]/path`); an HTTPS port of 443 unless it names one.
fn url_host(url: &str) -> Option<(String, u16)> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host_and_port(authority, 443)
}

/// Checks a clone URL before git runs or any credential exists: `https://` on one of `hosts`,
/// with no password and a plain host; `file://` (no host) only when `allow_file`
/// (`LANDFALL_ALLOW_FILE_CLONE=true`). Everything else (`http://`, `ssh://`, `ext::`, another
/// host, a host git and this check might read differently) is refused.
pub fn check_clone_url(
    url: &str,
    hosts: &CloneHosts,
    allow_file: bool,
) -> Result<CloneUrl, UrlError> {
    let parsed = parse_clone_url(url)?;
    let (_, rest) = url.split_once("://").unwrap_or_default();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if parsed.scheme == "file" && allow_file {
        return if authority.is_empty() {
            Ok(parsed)
        } else {
            Err(UrlError::Malformed {
                url: url.to_owned(),
            })
        };
    }
    if parsed.scheme != "https" {
        return Err(UrlError::Scheme {
            url: url.to_owned(),
            hint: if parsed.scheme == "file" {
                " (file:// clones need LANDFALL_ALLOW_FILE_CLONE=true, for local use and tests)"
            } else {
                ""
            },
        });
    }
    // One `@` at most, and no backslash: where parsers disagree, a URL could name one host
    // to this check and another to git.
    if authority.contains('\\') || authority.matches('@').count() > 1 {
        return Err(UrlError::Malformed {
            url: url.to_owned(),
        });
    }
    let (name, port) = host_and_port(&parsed.host, 443).ok_or_else(|| UrlError::Malformed {
        url: url.to_owned(),
    })?;
    if !hosts.allows(&name, port) {
        return Err(UrlError::OtherHost {
            url: url.to_owned(),
            host: parsed.host,
            expected: hosts.describe(),
        });
    }
    Ok(parsed)
}

/// Reads a clone URL, refusing one with embedded credentials.
pub fn parse_clone_url(url: &str) -> Result<CloneUrl, UrlError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| UrlError::NoScheme(url.to_owned()))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            if userinfo.contains(':') {
                return Err(UrlError::Credentials);
            }
            host
        }
        None => authority,
    };
    Ok(CloneUrl {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls_with_passwords_are_refused() {
        assert!(matches!(
            parse_clone_url("https://x:secret@github.com/a/b.git"),
            Err(UrlError::Credentials)
        ));
        assert_eq!(
            parse_clone_url("https://git@GitHub.com/a/b.git").unwrap(),
            CloneUrl {
                scheme: "https".into(),
                host: "github.com".into()
            }
        );
        assert_eq!(parse_clone_url("file:///tmp/repo").unwrap().host, "");
    }

    #[test]
    fn clone_urls_must_be_https_on_the_vcs_host() {
        let github = CloneHosts::for_vcs(Provider::Github, None);
        let check = |url: &str, hosts: &CloneHosts| check_clone_url(url, hosts, false);
        assert_eq!(
            check("https://github.com/acme/infra.git", &github)
                .unwrap()
                .host,
            "github.com"
        );
        assert!(check("https://GitHub.com:443/acme/infra.git", &github).is_ok());
        for (url, says) in [
            ("https://evil.example/acme/infra.git", "not on the VCS host"),
            (
                "https://github.com.evil.example/a/b.git",
                "not on the VCS host",
            ),
            ("https://github.com:8443/a/b.git", "not on the VCS host"),
            (
                "https://github.com@evil.example/a/b.git",
                "not on the VCS host",
            ),
            ("https://evil.example\\@github.com/a/b.git", "no plain host"),
            ("https://a@b@github.com/a/b.git", "no plain host"),
            ("https://github.com%2eevil/a/b.git", "no plain host"),
            ("http://github.com/acme/infra.git", "not an https:// URL"),
            ("ssh://git@github.com/acme/infra.git", "not an https:// URL"),
            ("ext::sh -c touch% /tmp/pwned", "no scheme"),
            ("file:///srv/repo", "LANDFALL_ALLOW_FILE_CLONE=true"),
        ] {
            let err = check(url, &github).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
        assert_eq!(
            check_clone_url("file:///srv/repo", &github, true)
                .unwrap()
                .host,
            ""
        );
        assert!(check_clone_url("file://evil.example/srv/repo", &github, true).is_err());
        assert!(check_clone_url("https://evil.example/a.git", &github, true).is_err());

        // Enterprise and self-hosted: the API URL's own host (and port).
        let ghes = CloneHosts::for_vcs(Provider::Github, Some("https://ghe.corp.example/api/v3"));
        assert!(check("https://ghe.corp.example/acme/infra.git", &ghes).is_ok());
        assert!(check("https://github.com/acme/infra.git", &ghes).is_err());
        let ghe_cloud = CloneHosts::for_vcs(Provider::Github, Some("https://api.acme.ghe.com"));
        assert!(check("https://acme.ghe.com/acme/infra.git", &ghe_cloud).is_ok());
        let gitea = CloneHosts::for_vcs(Provider::Gitea, Some("https://git.corp.example:3000"));
        assert!(check("https://git.corp.example:3000/acme/infra.git", &gitea).is_ok());
        assert!(check("https://git.corp.example/acme/infra.git", &gitea).is_err());
        let gitlab = CloneHosts::for_vcs(Provider::Gitlab, None);
        assert!(check("https://gitlab.com/group/sub/infra.git", &gitlab).is_ok());
        let bitbucket = CloneHosts::for_vcs(Provider::BitbucketCloud, None);
        assert!(
            check(
                "https://x-token-auth@bitbucket.org/acme/infra.git",
                &bitbucket
            )
            .is_ok()
        );
        let azure = CloneHosts::for_vcs(Provider::AzureDevops, None);
        assert!(check("https://acme@dev.azure.com/acme/proj/_git/infra", &azure).is_ok());
        assert!(check("https://acme.visualstudio.com/proj/_git/infra", &azure).is_ok());
        assert!(check("https://a.b.visualstudio.com/proj/_git/infra", &azure).is_err());
        assert!(check("https://acme.visualstudio.com/proj/_git/infra", &github).is_err());
        // The organisation's own URL serves both names too.
        let org = CloneHosts::for_vcs(Provider::AzureDevops, Some("https://acme.visualstudio.com"));
        assert!(check("https://acme@dev.azure.com/acme/proj/_git/infra", &org).is_ok());
        assert!(check("https://acme.visualstudio.com/proj/_git/infra", &org).is_ok());
        // Bitbucket Server has no public service: without LANDFALL_VCS_URL nothing is cloned.
        let server = CloneHosts::for_vcs(Provider::BitbucketServer, None);
        let err = check("https://bitbucket.corp/scm/a/b.git", &server).unwrap_err();
        assert!(err.to_string().contains("LANDFALL_VCS_URL"), "{err}");
    }
}
