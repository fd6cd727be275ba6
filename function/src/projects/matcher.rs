//! `when_modified` matching for many projects at once.
//!
//! Patterns use Atlantis' `.dockerignore` semantics: relative to the project directory, `*` stops
//! at `/`, `**` crosses directories, a pattern also matches everything under a directory it
//! matches, `!` negates, and the last matching pattern decides.
//!
//! The project directory is joined to each pattern and the result cleaned, as Atlantis does, so
//! `../modules/**/*.tf` of `stacks/a` means `stacks/modules/**/*.tf` and `**` never climbs out
//! of the project. Each pattern is kept as (directory prefix, rest of the pattern): the rest is
//! what gets compiled.
//!
//! The speed comes from two facts. Most projects share the same pattern rests (the defaults), so
//! each distinct list is compiled once. And a pattern can only match files
//! under its literal prefix, so each project looks only at the slice of the sorted changed files
//! under its prefixes instead of at every file.

use std::collections::HashMap;

use globset::{Glob, GlobBuilder, GlobMatcher};

fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// One pattern of one project, split for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Split {
    /// The directory the rest is relative to, with a trailing `/`, or empty for the repo root.
    /// `None` when the pattern climbs above the repository root and so matches nothing.
    prefix: Option<String>,
    /// The pattern with its leading `../` and `./` resolved away.
    rest: String,
    /// `!pattern`.
    negated: bool,
}

fn split(dir: &str, pattern: &str) -> Split {
    let (negated, body) = match pattern.trim().strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, pattern.trim()),
    };
    let body = body.trim_end_matches('/');
    let mut base: Vec<&str> = if dir == "." {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    let mut parts = body.split('/').peekable();
    let mut above_root = false;
    while let Some(p) = parts.peek() {
        match *p {
            "." | "" => {}
            ".." => {
                if base.pop().is_none() {
                    above_root = true;
                }
            }
            _ => break,
        }
        parts.next();
    }
    let rest = parts.collect::<Vec<_>>().join("/");
    let prefix = if above_root {
        None
    } else if base.is_empty() {
        Some(String::new())
    } else {
        Some(format!("{}/", base.join("/")))
    };
    Split {
        prefix,
        rest,
        negated,
    }
}

/// The literal directory part of a pattern rest (up to the first component with a glob
/// character); a fully literal rest is kept whole as a string prefix.
fn literal_part(rest: &str) -> String {
    let parts: Vec<&str> = rest.split('/').collect();
    let literal: Vec<&str> = parts
        .iter()
        .take_while(|p| !p.contains(['*', '?', '[', '{', '\\']))
        .copied()
        .collect();
    if literal.is_empty() {
        String::new()
    } else if literal.len() == parts.len() {
        literal.join("/")
    } else {
        format!("{}/", literal.join("/"))
    }
}

/// One pattern, compiled: how many directories it climbs above the project, the literal start
/// of the rest (where matching files must lie), and the rest as globs.
#[derive(Debug)]
struct CompiledPattern {
    ups: usize,
    literal: String,
    negated: bool,
    glob: GlobMatcher,
}

impl CompiledPattern {
    /// Whether `rel` or one of its parent directories matches (a pattern naming a directory
    /// selects everything under it).
    fn matches(&self, rel: &str) -> bool {
        self.glob.is_match(rel)
            || rel
                .match_indices('/')
                .any(|(i, _)| self.glob.is_match(&rel[..i]))
    }
}

/// The ancestor of `dir` (`.` for the root) `ups` levels up: `""` for the root, `None` above it.
fn ancestor(dir: &str, ups: usize) -> Option<&str> {
    if dir == "." {
        return (ups == 0).then_some("");
    }
    let mut end = dir.len();
    for _ in 0..ups {
        if end == 0 {
            return None;
        }
        end = dir[..end].rfind('/').unwrap_or(0);
    }
    Some(&dir[..end])
}

fn compile_list(
    patterns: &[String],
    globs: &mut HashMap<String, GlobMatcher>,
) -> Result<Vec<CompiledPattern>, globset::Error> {
    patterns
        .iter()
        .map(|p| {
            // The directory is irrelevant to the rest and to how far the pattern climbs.
            let s = split("x", p);
            let ups = p
                .trim_start_matches('!')
                .trim()
                .split('/')
                .take_while(|part| matches!(*part, ".." | "." | ""))
                .filter(|part| *part == "..")
                .count();
            let matcher = if let Some(m) = globs.get(&s.rest) {
                m.clone()
            } else {
                let m = glob(&s.rest)?.compile_matcher();
                globs.insert(s.rest.clone(), m.clone());
                m
            };
            Ok(CompiledPattern {
                ups,
                literal: literal_part(&s.rest),
                negated: s.negated,
                glob: matcher,
            })
        })
        .collect()
}

/// The path of `file` relative to `dir` (`.` for the root), with `../` where `file` is outside.
#[must_use]
pub fn relative_to(dir: &str, file: &str) -> String {
    if dir == "." {
        return file.to_owned();
    }
    if let Some(rest) = file.strip_prefix(dir)
        && let Some(rest) = rest.strip_prefix('/')
    {
        return rest.to_owned();
    }
    let mut d = dir.split('/').peekable();
    let mut f = file.split('/').peekable();
    while let (Some(a), Some(b)) = (d.peek(), f.peek()) {
        if a != b {
            break;
        }
        d.next();
        f.next();
    }
    let ups = d.count();
    let mut out = "../".repeat(ups);
    out.push_str(&f.collect::<Vec<_>>().join("/"));
    out
}

/// A project's patterns, for [`ProjectIndex::new`].
#[derive(Debug, Clone, Copy)]
pub struct PatternInput<'a> {
    /// The project directory, normalised (`.` for the root).
    pub dir: &'a str,
    /// Its `when_modified` patterns.
    pub patterns: &'a [String],
}

/// Compiled `when_modified` patterns of many projects, ready to be matched against a PR's files.
#[derive(Debug)]
pub struct ProjectIndex<'a> {
    lists: Vec<Vec<CompiledPattern>>,
    projects: Vec<(&'a str, usize)>,
}

impl<'a> ProjectIndex<'a> {
    /// Compiles the patterns of `projects`, each distinct list once.
    pub fn new(
        projects: impl IntoIterator<Item = PatternInput<'a>>,
    ) -> Result<Self, globset::Error> {
        let mut lists = Vec::new();
        let mut by_list: HashMap<&'a [String], usize> = HashMap::new();
        let mut globs = HashMap::new();
        let mut out = Vec::new();
        for p in projects {
            let list = if let Some(i) = by_list.get(p.patterns) {
                *i
            } else {
                lists.push(compile_list(p.patterns, &mut globs)?);
                by_list.insert(p.patterns, lists.len() - 1);
                lists.len() - 1
            };
            out.push((p.dir, list));
        }
        Ok(ProjectIndex {
            lists,
            projects: out,
        })
    }

    /// Whether `file` is selected for the project at `dir`: the last matching pattern decides.
    fn selects(dir: &str, list: &[CompiledPattern], file: &str) -> bool {
        let mut decision = false;
        for pat in list {
            let Some(anc) = ancestor(dir, pat.ups) else {
                continue;
            };
            let rel = if anc.is_empty() {
                Some(file)
            } else {
                file.strip_prefix(anc).and_then(|r| r.strip_prefix('/'))
            };
            if let Some(rel) = rel
                && pat.matches(rel)
            {
                decision = !pat.negated;
            }
        }
        decision
    }

    /// Indices (in input order) of the projects that `files` modify.
    #[must_use]
    pub fn matching(&self, files: &[&str]) -> Vec<usize> {
        let mut sorted: Vec<&str> = files.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut base = String::new();
        let mut out = Vec::new();
        for (i, (dir, list)) in self.projects.iter().enumerate() {
            let list = &self.lists[*list];
            let hit = list.iter().filter(|p| !p.negated).any(|pat| {
                let Some(anc) = ancestor(dir, pat.ups) else {
                    return false;
                };
                base.clear();
                if !anc.is_empty() {
                    base.push_str(anc);
                    base.push('/');
                }
                base.push_str(&pat.literal);
                let start = sorted.partition_point(|f| *f < base.as_str());
                sorted[start..]
                    .iter()
                    .take_while(|f| f.starts_with(base.as_str()))
                    .any(|f| Self::selects(dir, list, f))
            });
            if hit {
                out.push(i);
            }
        }
        out
    }
}

/// The naive reference: every project x every file x every pattern, each distinct glob compiled
/// once. Same answers as [`ProjectIndex::matching`]; kept for tests and the benchmark.
#[cfg(any(test, feature = "test-support"))]
pub fn naive_matching<'a>(
    projects: impl IntoIterator<Item = PatternInput<'a>>,
    files: &[&str],
) -> Result<Vec<usize>, globset::Error> {
    let projects: Vec<(PatternInput<'a>, Vec<Split>)> = projects
        .into_iter()
        .map(|p| (p, p.patterns.iter().map(|pat| split(p.dir, pat)).collect()))
        .collect();
    let mut compiled: HashMap<String, (GlobMatcher, GlobMatcher)> = HashMap::new();
    for (_, splits) in &projects {
        for s in splits {
            if !compiled.contains_key(&s.rest) {
                compiled.insert(
                    s.rest.clone(),
                    (
                        glob(&s.rest)?.compile_matcher(),
                        glob(&format!("{}/**", s.rest))?.compile_matcher(),
                    ),
                );
            }
        }
    }
    let mut out = Vec::new();
    for (i, (_, splits)) in projects.iter().enumerate() {
        let hit = files.iter().any(|f| {
            let mut selected = false;
            for s in splits {
                let Some(rel) = s.prefix.as_deref().and_then(|pre| f.strip_prefix(pre)) else {
                    continue;
                };
                let (g, under) = &compiled[&s.rest];
                if g.is_match(rel) || under.is_match(rel) {
                    selected = !s.negated;
                }
            }
            selected
        });
        if hit {
            out.push(i);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        crate::repo_config::DEFAULT_WHEN_MODIFIED
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    fn select(dir: &str, patterns: &[String], files: &[&str]) -> bool {
        let index = ProjectIndex::new([PatternInput { dir, patterns }]).unwrap();
        let fast = !index.matching(files).is_empty();
        let naive = !naive_matching([PatternInput { dir, patterns }], files)
            .unwrap()
            .is_empty();
        assert_eq!(
            fast, naive,
            "fast and naive disagree for {dir} {patterns:?} {files:?}"
        );
        fast
    }

    #[test]
    fn relative_paths_climb_with_dot_dot() {
        assert_eq!(relative_to("a/b", "a/b/c.tf"), "c.tf");
        assert_eq!(
            relative_to("a/b", "a/modules/x/main.tf"),
            "../modules/x/main.tf"
        );
        assert_eq!(relative_to("a/b", "z.tf"), "../../z.tf");
        assert_eq!(relative_to(".", "a/b.tf"), "a/b.tf");
        assert_eq!(relative_to("a/b", "a/bc/x.tf"), "../bc/x.tf");
    }

    #[test]
    fn the_defaults_match_terraform_files_anywhere_under_the_project() {
        let d = defaults();
        assert!(select("p", &d, &["p/main.tf"]));
        assert!(select("p", &d, &["p/env/prod.tfvars"]));
        assert!(select("p", &d, &["p/.terraform.lock.hcl"]));
        assert!(select("p", &d, &["p/sub/terragrunt.hcl"]));
        assert!(!select("p", &d, &["p/README.md"]));
        assert!(!select("p", &d, &["q/main.tf"]));
        assert!(!select("p", &d, &["pp/main.tf"]));
    }

    #[test]
    fn a_single_star_does_not_cross_directories() {
        let pats = vec!["*.tf".to_owned()];
        assert!(select("p", &pats, &["p/main.tf"]));
        assert!(!select("p", &pats, &["p/sub/main.tf"]));
    }

    #[test]
    fn patterns_may_reach_outside_the_project_with_dot_dot() {
        let pats = vec!["../modules/**/*.tf".to_owned(), "*.tf*".to_owned()];
        assert!(select(
            "project1",
            &pats,
            &["modules/module1/submodule/main.tf"]
        ));
        assert!(!select("project1", &pats, &["other/main.tf"]));
    }

    #[test]
    fn a_pattern_naming_a_directory_matches_everything_under_it() {
        let pats = vec!["config".to_owned()];
        assert!(select("p", &pats, &["p/config/a/b.json"]));
        assert!(!select("p", &pats, &["p/configs/a.json"]));
    }

    #[test]
    fn the_last_matching_pattern_decides_and_negation_excludes() {
        let pats = vec!["**/*.tf".to_owned(), "!tests/**".to_owned()];
        assert!(select("p", &pats, &["p/main.tf"]));
        assert!(!select("p", &pats, &["p/tests/fixture.tf"]));
        let back = vec![
            "**/*.tf".to_owned(),
            "!tests/**".to_owned(),
            "tests/keep.tf".to_owned(),
        ];
        assert!(select("p", &back, &["p/tests/keep.tf"]));
    }

    #[test]
    fn a_root_project_sees_every_file() {
        assert!(select(".", &defaults(), &["deep/down/x.tf"]));
    }
}
