//! Kubernetes-safe names and label values. The run's id itself (the Job name) is
//! [`crate::run::job_name`].

use sha2::{Digest, Sha256};

pub use crate::run::id::{HASH_LEN, MAX_NAME_LEN};

/// `value` as a valid label value: at most 63 characters of letters, digits, `-`, `_` and `.`,
/// starting and ending with an alphanumeric. Other characters (the `/` of `owner/name`) become
/// `_`; a value that had to be cut ends with a hash of the original, so two long values stay
/// distinct. The exact value goes in an annotation beside the label.
#[must_use]
pub fn label_value(value: &str) -> String {
    let mapped: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.len() <= MAX_NAME_LEN {
        return trimmed.to_owned();
    }
    let hash = hex::encode(Sha256::digest(value.as_bytes()));
    let keep = MAX_NAME_LEN - HASH_LEN - 1;
    let mut head: String = trimmed.chars().take(keep).collect();
    while head.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        head.pop();
    }
    if head.is_empty() {
        hash[..HASH_LEN].to_owned()
    } else {
        format!("{head}-{}", &hash[..HASH_LEN])
    }
}

/// Whether `name` is a DNS-1123 label (what Kubernetes requires of a Job name used in labels).
#[must_use]
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

/// Whether `value` is a valid Kubernetes label value.
#[must_use]
pub fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.is_empty()
        || (bytes.len() <= MAX_NAME_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::event::{CommitSha, PullRequestNumber, RepoName};
    use crate::run::env::tests::plan_spec;
    use crate::run::{RunCommand, job_name};

    #[test]
    fn a_job_name_reads_as_command_pr_and_project() {
        let name = job_name(&plan_spec());
        assert!(name.starts_with("lf-plan-42-prod-"), "{name}");
        assert!(is_dns1123_label(&name), "{name}");
    }

    #[test]
    fn the_same_run_always_gets_the_same_name() {
        assert_eq!(job_name(&plan_spec()), job_name(&plan_spec()));
    }

    #[test]
    fn a_new_commit_command_or_trigger_gets_a_new_name() {
        let base = job_name(&plan_spec());
        let mut spec = plan_spec();
        spec.head_sha = CommitSha::new("0".repeat(40));
        assert_ne!(job_name(&spec), base);
        let mut spec = plan_spec();
        spec.command = RunCommand::Apply;
        assert_ne!(job_name(&spec), base);
        let mut spec = plan_spec();
        spec.trigger = "github:another".to_owned();
        assert_ne!(job_name(&spec), base);
    }

    #[test]
    fn a_very_long_project_name_is_cut_to_63_characters() {
        let mut spec = plan_spec();
        spec.project.name = Some("a-really-long-project-name-that-goes-on-and-on-and-on".repeat(3));
        let name = job_name(&spec);
        assert_eq!(name.len(), MAX_NAME_LEN);
        assert!(is_dns1123_label(&name), "{name}");
    }

    #[test]
    fn repository_names_become_label_values() {
        assert_eq!(label_value("acme/infra"), "acme_infra");
        assert_eq!(label_value("envs/prod"), "envs_prod");
        assert_eq!(label_value("prod"), "prod");
        assert_eq!(label_value("."), "");
        let long = label_value(&"group/sub/".repeat(20));
        assert!(
            long.len() <= MAX_NAME_LEN && is_label_value(&long),
            "{long}"
        );
    }

    proptest! {
        #[test]
        fn job_names_are_always_dns1123_labels(
            repo in ".{1,80}", dir in ".{1,80}", ws in ".{1,20}",
            name in proptest::option::of(".{0,80}"), pr in any::<u64>(), sha in "[0-9a-f]{40}",
        ) {
            let mut spec = plan_spec();
            spec.repo = RepoName::new(repo);
            spec.project.dir = dir;
            spec.project.workspace = ws;
            spec.project.name = name;
            spec.pr = PullRequestNumber(pr);
            spec.head_sha = CommitSha::new(sha);
            let job = job_name(&spec);
            prop_assert!(is_dns1123_label(&job), "{}", job);
        }

        #[test]
        fn label_values_are_always_valid(value in ".{0,200}") {
            let label = label_value(&value);
            prop_assert!(is_label_value(&label), "{:?} -> {:?}", value, label);
        }
    }
}
