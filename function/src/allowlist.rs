//! The repository allowlist (`LANDFALL_REPO_ALLOWLIST`): comma-separated globs of full repository
//! names, like Atlantis' `--repo-allowlist` without the host prefix. `*` matches within one path
//! segment, `**` across segments (nested GitLab groups); matching ignores case, as hosts do. A lone
//! `*` allows every repository.

use std::sync::OnceLock;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::event::RepoName;

/// A pattern that is not a valid glob.
#[derive(Debug, thiserror::Error)]
#[error("invalid repository pattern {pattern:?}")]
pub struct AllowlistError {
    /// The pattern as written.
    pub pattern: String,
    /// What globset found.
    #[source]
    pub source: globset::Error,
}

/// Which repositories may use this deployment. Patterns are checked when parsed; the matcher is
/// compiled on first use, which keeps that work out of the Lambda cold start.
#[derive(Clone, Debug)]
pub struct RepoAllowlist {
    patterns: Vec<String>,
    globs: Vec<Glob>,
    set: OnceLock<GlobSet>,
    allow_all: bool,
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
        let globs = patterns
            .iter()
            .map(|pattern| {
                GlobBuilder::new(pattern)
                    .case_insensitive(true)
                    .literal_separator(true)
                    .build()
                    .map_err(|source| AllowlistError {
                        pattern: pattern.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let allow_all = patterns.iter().any(|p| p == "*" || p == "**");
        Ok(RepoAllowlist {
            patterns,
            globs,
            set: OnceLock::new(),
            allow_all,
        })
    }

    /// Allows every repository.
    #[must_use]
    pub fn allow_all() -> Self {
        Self::parse("*").expect("`*` is a valid pattern")
    }

    /// Whether `repo` may use this deployment.
    #[must_use]
    pub fn allows(&self, repo: &RepoName) -> bool {
        self.allow_all || self.matcher().is_match(repo.as_str())
    }

    fn matcher(&self) -> &GlobSet {
        self.set.get_or_init(|| {
            let mut builder = GlobSetBuilder::new();
            for glob in &self.globs {
                builder.add(glob.clone());
            }
            // Every glob parsed; a set of valid globs always builds.
            builder.build().unwrap_or_else(|_| GlobSet::empty())
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(spec: &str, repo: &str) -> bool {
        RepoAllowlist::parse(spec)
            .unwrap()
            .allows(&RepoName::new(repo))
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
        assert!(!allows("", "a/b"));
        assert!(!allows(" , ", "a/b"));
    }

    #[test]
    fn invalid_globs_name_the_pattern() {
        let err = RepoAllowlist::parse("acme/[infra").unwrap_err();
        assert_eq!(err.pattern, "acme/[infra");
    }
}
