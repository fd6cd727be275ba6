//! Terraform version constraints as `terraform_version` and `required_version` write them:
//! `1.9.5`, `= 1.9.5`, `!= 1.9.0`, `> 1.5`, `>= 1.5, < 2.0`, `~> 1.9` (at least 1.9, below 2.0),
//! `~> 1.9.2` (at least 1.9.2, below 1.10). A pre-release (`1.10.0-beta1`) matches only a
//! constraint that names it exactly. The runner picks the newest version it carries that matches.

use std::cmp::Ordering;
use std::fmt;

/// A version: three numbers and an optional pre-release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    parts: [u64; 3],
    pre: Option<String>,
}

impl Version {
    /// Parses `1.9.5`, `v1.9.5`, `1.10.0-beta1`; missing numbers are 0.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_start_matches('v');
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_owned())),
            Some(_) => return None,
            None => (text, None),
        };
        let core = core.split_once('+').map_or(core, |(c, _)| c);
        let mut parts = [0_u64; 3];
        let mut count = 0;
        for (i, piece) in core.split('.').enumerate() {
            if i >= 3 || piece.is_empty() || !piece.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            parts[i] = piece.parse().ok()?;
            count += 1;
        }
        (count > 0).then_some(Version { parts, pre })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts
            .cmp(&other.parts)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.parts;
        write!(f, "{a}.{b}.{c}")?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// `~>`: the last number given may rise.
    Pessimistic,
}

/// One comparison of a constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    op: Op,
    version: Version,
    /// How many numbers the constraint wrote (`~> 1.9` is 2).
    given: usize,
}

/// A constraint: every term must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    terms: Vec<Term>,
}

impl Constraint {
    /// Parses a comma-separated list of terms.
    ///
    /// # Errors
    ///
    /// A term that is not an operator and a version.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for raw in text.split(',') {
            let raw = raw.trim();
            let (op, rest) = [
                ("~>", Op::Pessimistic),
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("!=", Op::Ne),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(sym, op)| raw.strip_prefix(sym).map(|rest| (*op, rest)))
            .unwrap_or((Op::Eq, raw));
            let rest = rest.trim();
            let version = Version::parse(rest)
                .ok_or_else(|| format!("`{raw}` is not a version constraint"))?;
            let core = rest
                .trim_start_matches('v')
                .split(['-', '+'])
                .next()
                .unwrap_or("");
            let given = core.split('.').count();
            terms.push(Term { op, version, given });
        }
        if terms.is_empty() {
            return Err("an empty version constraint".to_owned());
        }
        Ok(Constraint { terms })
    }

    /// Whether `v` satisfies every term.
    #[must_use]
    pub fn matches(&self, v: &Version) -> bool {
        // A pre-release is only ever chosen by naming it.
        if v.pre.is_some() && !self.terms.iter().any(|t| t.op == Op::Eq && t.version == *v) {
            return false;
        }
        self.terms.iter().all(|t| t.holds(v))
    }

    /// The newest of `versions` that matches.
    #[must_use]
    pub fn newest<'a>(
        &self,
        versions: impl IntoIterator<Item = &'a Version>,
    ) -> Option<&'a Version> {
        versions.into_iter().filter(|v| self.matches(v)).max()
    }
}

impl Term {
    fn holds(&self, v: &Version) -> bool {
        let w = &self.version;
        match self.op {
            Op::Eq => v == w,
            Op::Ne => v != w,
            Op::Gt => v > w,
            Op::Ge => v >= w,
            Op::Lt => v < w,
            Op::Le => v <= w,
            Op::Pessimistic => {
                // The numbers before the last one given stay (`~> 1` and `~> 1.9` keep the
                // major version, `~> 1.9.2` the minor too).
                let fixed = self.given.clamp(2, 3) - 1;
                v >= w && v.parts[..fixed] == w.parts[..fixed]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn ok(constraint: &str, version: &str) -> bool {
        Constraint::parse(constraint).unwrap().matches(&v(version))
    }

    #[test]
    fn constraints_read_as_terraform_reads_them() {
        assert!(ok("1.9.5", "1.9.5") && !ok("1.9.5", "1.9.6"));
        assert!(ok("= v1.9.5", "1.9.5"));
        assert!(ok(">= 1.5, < 2.0", "1.15.5") && !ok(">= 1.5, < 2.0", "2.0.0"));
        assert!(ok("~> 1.9", "1.15.5") && !ok("~> 1.9", "2.0.0") && !ok("~> 1.9", "1.8.9"));
        assert!(ok("~> 1.9.2", "1.9.7") && !ok("~> 1.9.2", "1.10.0"));
        assert!(ok("~> 1", "1.15.0") && !ok("~> 1", "2.0.0"));
        assert!(!ok("!= 1.9.0", "1.9.0") && ok("!= 1.9.0", "1.9.1"));
        assert!(ok("> 1.5", "1.5.1") && !ok("> 1.5", "1.5.0"));
        assert!(ok("<= 1.5", "1.5.0") && !ok("<= 1.5", "1.5.1"));
    }

    #[test]
    fn a_pre_release_is_chosen_only_by_naming_it() {
        assert!(!ok(">= 1.9", "1.10.0-beta1"));
        assert!(ok("1.10.0-beta1", "1.10.0-beta1"));
        assert!(v("1.10.0-beta1") < v("1.10.0"));
    }

    #[test]
    fn the_newest_match_wins_and_words_are_refused() {
        let have = [v("1.5.7"), v("1.9.8"), v("1.15.5")];
        let c = Constraint::parse("~> 1.9.0").unwrap();
        assert_eq!(c.newest(&have), Some(&v("1.9.8")));
        assert_eq!(
            Constraint::parse(">= 1.0").unwrap().newest(&have),
            Some(&v("1.15.5"))
        );
        assert_eq!(Constraint::parse("> 2").unwrap().newest(&have), None);
        assert!(Constraint::parse("latest").is_err());
        assert!(Constraint::parse(">= 1.0, ").is_err());
    }
}
