//! The repository allowlist (`LANDFALL_REPO_ALLOWLIST`): comma-separated globs of repositories.
//!
//! A pattern is either a full repository name (`acme/infra`, `acme/*`, `group/**`), or, as in
//! Atlantis' `--repo-allowlist`, the same with the host first (`github.com/acme/*`,
//! `gitlab.example.com/group/**`). A pattern names a host when its first segment contains a dot
//! or a colon or is `localhost`; it then matches `host/owner/repo`, where the host is the one in
//! the delivery's repository URL, or else `LANDFALL_VCS_URL`'s (without a leading `api.`, so
//! `https://api.github.com` is `github.com`). Host names ignore ports.
//!
//! `*` matches within one path segment, `**` across segments (nested GitLab groups); matching
//! ignores case, as hosts do. A lone `*` or `**` allows every repository. A pattern that names a
//! host but cannot match any repository there (`github.com/*`: Atlantis' "whole host") is refused
//! with a hint, which also catches an owner with a dot in its name written without the host.

use std::sync::OnceLock;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::event::RepoName;

/// A pattern that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    /// Not a valid glob.
    #[error("invalid repository pattern {pattern:?}")]
    Glob {
        /// The pattern as written.
        pattern: String,
        /// What globset found.
        #[source]
        source: globset::Error,
    },
    /// A URL, or a single name: it matches no `owner/repo`.
    #[error(
        "repository pattern {pattern:?} matches no repository: {reason}; write OWNER/REPO, \
         OWNER/* or HOST/OWNER/*"
    )]
    NotARepository {
        /// The pattern as written.
        pattern: String,
        /// Why not.
        reason: &'static str,
    },
    /// It names a host but no repository on it.
    #[error(
        "repository pattern {pattern:?} names the host {host:?} but no repository on it: write \
         `{host}/OWNER/REPO`, `{host}/OWNER/*`, or `{host}/**` for every repository there (if {host:?} \
         is an owner with a dot in its name, put the host first: `HOST/{pattern}`)"
    )]
    HostWithoutRepo {
        /// The pattern as written.
        pattern: String,
        /// Its first segment, read as a host.
        host: String,
    },
}

impl AllowlistError {
    /// The pattern as written.
    #[must_use]
    pub fn pattern(&self) -> &str {
        match self {
            AllowlistError::Glob { pattern, .. }
            | AllowlistError::NotARepository { pattern, .. }
            | AllowlistError::HostWithoutRepo { pattern, .. } => pattern,
        }
    }
}

/// Which repositories may use this deployment. Patterns are checked when parsed; the matchers are
/// compiled on first use, which keeps that work out of the Lambda cold start.
#[derive(Clone, Debug)]
pub struct RepoAllowlist {
    patterns: Vec<String>,
    /// Patterns of `owner/repo`.
    names: Matcher,
    /// Patterns of `host/owner/repo`.
    hosted: Matcher,
    /// The host when the delivery gives none (from `LANDFALL_VCS_URL`), lowercase.
    default_host: Option<String>,
    allow_all: bool,
}

/// Globs, compiled into one set on first use.
#[derive(Clone, Debug, Default)]
struct Matcher {
    globs: Vec<Glob>,
    set: OnceLock<GlobSet>,
}

impl Matcher {
    fn is_match(&self, candidate: &str) -> bool {
        !self.globs.is_empty()
            && self
                .set
                .get_or_init(|| {
                    let mut builder = GlobSetBuilder::new();
                    for glob in &self.globs {
                        builder.add(glob.clone());
                    }
                    // Every glob parsed; a set of valid globs always builds.
                    builder.build().unwrap_or_else(|_| GlobSet::empty())
                })
                .is_match(candidate)
    }
}

/// Whether a pattern's first segment reads as a host name (`github.com`, `git.local:8443`,
/// `localhost`): owners on the hosts we serve have no dot, colon or such name.
fn host_segment(pattern: &str) -> Option<&str> {
    let (first, rest) = pattern.split_once('/')?;
    let looks_like_host =
        first.contains('.') || first.contains(':') || first.eq_ignore_ascii_case("localhost");
    (looks_like_host && !rest.is_empty()).then_some(first)
}

impl RepoAllowlist {
    /// Parses a comma-separated list of patterns; blanks are skipped.
    pub fn parse(spec: &str) -> Result<Self, AllowlistError> {
        let patterns: Vec<String> = spec
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let mut names = Matcher::default();
        let mut hosted = Matcher::default();
        for pattern in &patterns {
            let reason = if pattern.contains("://") {
                Some("it is a URL, and repositories are matched by name")
            } else if !pattern.contains('/') && pattern != "*" && pattern != "**" {
                Some("a repository is named OWNER/REPO, and this has one part")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(AllowlistError::NotARepository {
                    pattern: pattern.clone(),
                    reason,
                });
            }
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|source| AllowlistError::Glob {
                    pattern: pattern.clone(),
                    source,
                })?;
            match host_segment(pattern) {
                Some(host) => {
                    // host/owner/repo has three segments at least, unless `**` stands for several.
                    if pattern.split('/').count() < 3 && !pattern.contains("**") {
                        return Err(AllowlistError::HostWithoutRepo {
                            pattern: pattern.clone(),
                            host: host.to_owned(),
                        });
                    }
                    hosted.globs.push(glob);
                }
                None => names.globs.push(glob),
            }
        }
        let allow_all = patterns.iter().any(|p| p == "*" || p == "**");
        Ok(RepoAllowlist {
            patterns,
            names,
            hosted,
            default_host: None,
            allow_all,
        })
    }

    /// Allows every repository.
    #[must_use]
    pub fn allow_all() -> Self {
        Self::parse("*").expect("`*` is a valid pattern")
    }

    /// Takes the host for deliveries that carry no repository URL from the VCS host's API base
    /// URL (`LANDFALL_VCS_URL`): its host name without a leading `api.`.
    #[must_use]
    pub fn with_vcs_url(mut self, vcs_url: Option<&str>) -> Self {
        self.default_host = vcs_url.and_then(host_of_url).map(|host| {
            host.strip_prefix("api.")
                .filter(|rest| rest.contains('.'))
                .map_or(host.clone(), str::to_owned)
        });
        self
    }

    /// Whether `repo` may use this deployment. `repo_url` is the repository's URL from the
    /// delivery (its clone URL), which gives the host for patterns that name one.
    #[must_use]
    pub fn allows(&self, repo: &RepoName, repo_url: Option<&str>) -> bool {
        if self.allow_all || self.names.is_match(repo.as_str()) {
            return true;
        }
        if self.hosted.globs.is_empty() {
            return false;
        }
        let host = repo_url
            .and_then(host_of_url)
            .or_else(|| self.default_host.clone());
        host.is_some_and(|host| self.hosted.is_match(&format!("{host}/{}", repo.as_str())))
    }

    /// Whether every repository is allowed.
    #[must_use]
    pub fn allows_all(&self) -> bool {
        self.allow_all
    }

    /// The patterns as written.
    #[must_use]
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// The host name of a URL (`https://user@host:port/path`) or of an scp-like git address
/// (`git@host:path`), lowercase, without user or port.
fn host_of_url(url: &str) -> Option<String> {
    let url = url.trim();
    let host = if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        match authority.strip_prefix('[') {
            // An IPv6 literal: `[::1]:8080`.
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        }
    } else {
        let (before, _) = url.split_once(':')?;
        before.rsplit_once('@').map_or(before, |(_, h)| h)
    };
    (!host.is_empty() && !host.contains(['/', ' '])).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(spec: &str, repo: &str) -> bool {
        RepoAllowlist::parse(spec)
            .unwrap()
            .allows(&RepoName::new(repo), None)
    }

    fn allows_at(spec: &str, vcs_url: Option<&str>, repo_url: Option<&str>, repo: &str) -> bool {
        RepoAllowlist::parse(spec)
            .unwrap()
            .with_vcs_url(vcs_url)
            .allows(&RepoName::new(repo), repo_url)
    }

    #[test]
    fn a_star_matches_within_one_segment_only() {
        assert!(allows("acme/*", "acme/infra"));
        assert!(!allows("acme/*", "acme/platform/infra"));
        assert!(!allows("acme/*", "other/infra"));
    }

    #[test]
    fn a_double_star_matches_nested_groups() {
        assert!(allows("acme/**", "acme/platform/team/infra"));
        assert!(allows("acme/**/infra", "acme/a/b/infra"));
    }

    #[test]
    fn matching_ignores_case_and_whitespace_around_commas() {
        assert!(allows(" Acme/Infra , other/x", "acme/infra"));
        assert!(allows("acme/infra, Other/X ", "other/x"));
    }

    #[test]
    fn a_lone_star_allows_everything_and_an_empty_list_nothing() {
        assert!(allows("*", "a/b/c"));
        assert!(allows("**", "a/b/c"));
        assert!(!allows("", "a/b"));
        assert!(!allows(" , ", "a/b"));
    }

    #[test]
    fn a_url_or_a_single_name_is_refused_as_matching_nothing() {
        // Both would take no pull request at all, silently: every delivery answered 403.
        for pattern in ["https://github.com/acme/*", "acme", "acme*"] {
            let err = RepoAllowlist::parse(&format!("acme/infra, {pattern}")).unwrap_err();
            assert_eq!(err.pattern(), pattern);
            assert!(err.to_string().contains("matches no repository"), "{err}");
        }
    }

    #[test]
    fn invalid_globs_name_the_pattern() {
        let err = RepoAllowlist::parse("acme/[infra").unwrap_err();
        assert_eq!(err.pattern(), "acme/[infra");
    }

    #[test]
    fn a_host_pattern_matches_the_host_in_the_delivery() {
        let url = Some("https://github.com/acme/infra.git");
        assert!(allows_at("github.com/acme/*", None, url, "acme/infra"));
        assert!(!allows_at("github.com/acme/*", None, url, "other/infra"));
        assert!(!allows_at(
            "ghe.example.com/acme/*",
            None,
            url,
            "acme/infra"
        ));
        // Ports, users and case do not matter; scp-like addresses work too.
        for url in [
            "https://oauth2@GitLab.Example.com:8443/group/sub/infra.git",
            "git@gitlab.example.com:group/sub/infra.git",
            "ssh://git@gitlab.example.com:2222/group/sub/infra.git",
        ] {
            assert!(
                allows_at(
                    "gitlab.example.com/group/**",
                    None,
                    Some(url),
                    "group/sub/infra"
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn without_a_url_in_the_delivery_the_host_comes_from_the_vcs_url() {
        let api = Some("https://api.github.com");
        assert!(allows_at("github.com/acme/*", api, None, "acme/infra"));
        assert!(allows_at(
            "ghe.example.com/acme/*",
            Some("https://ghe.example.com/api/v3"),
            None,
            "acme/infra"
        ));
        assert!(allows_at(
            "bitbucket.org/team/*",
            Some("https://api.bitbucket.org/2.0"),
            None,
            "team/x"
        ));
        // The delivery's URL wins over the configured one.
        assert!(!allows_at(
            "github.com/acme/*",
            api,
            Some("https://evil.example/acme/infra.git"),
            "acme/infra"
        ));
        // No host known at all: host patterns match nothing.
        assert!(!allows_at("github.com/acme/*", None, None, "acme/infra"));
    }

    #[test]
    fn both_forms_can_be_mixed_and_the_host_form_does_not_match_a_bare_name() {
        let spec = "acme/*, gitlab.example.com/platform/**";
        let vcs = Some("https://gitlab.example.com");
        assert!(allows_at(spec, vcs, None, "acme/infra"));
        assert!(allows_at(spec, vcs, None, "platform/team/infra"));
        assert!(!allows_at(spec, vcs, None, "other/infra"));
        // A group literally named like the host is not the host.
        assert!(!allows_at(
            "gitlab.example.com/platform/*",
            Some("https://gitlab.com"),
            None,
            "gitlab.example.com/platform/x"
        ));
    }

    #[test]
    fn a_host_with_no_repository_is_refused_with_a_hint() {
        for spec in ["github.com/*", "github.com/acme", "john.doe/infra"] {
            let err = RepoAllowlist::parse(spec).unwrap_err();
            assert!(
                matches!(err, AllowlistError::HostWithoutRepo { .. }),
                "{spec}"
            );
            assert!(err.to_string().contains("/**"), "{err}");
        }
        assert!(RepoAllowlist::parse("github.com/**").is_ok());
        assert!(allows_at(
            "gitea.example.com/john.doe/*",
            None,
            Some("https://gitea.example.com/john.doe/infra.git"),
            "john.doe/infra"
        ));
    }

    #[test]
    fn hosts_are_read_from_urls_and_addresses() {
        assert_eq!(
            host_of_url("https://x@dev.azure.com/org/p/_git/r").as_deref(),
            Some("dev.azure.com")
        );
        assert_eq!(host_of_url("http://[::1]:8080/a/b").as_deref(), Some("::1"));
        assert_eq!(
            host_of_url("file:///tmp/repo").as_deref(),
            None,
            "a local path names no host"
        );
        assert_eq!(host_of_url("no host here"), None);
        assert_eq!(host_of_url(""), None);
    }
}
