//! Pure key derivation: the DynamoDB `pk`/`sk` strings, the embedded store's keys and the
//! artifact object keys, all from a [`LockKey`], a PR number and a commit. Deriving keys (never
//! storing counters) makes every write idempotent: a retry finds its own earlier work.
//!
//! Components are escaped so that no repository, directory, workspace or project name can
//! produce another's key: `#` separates components in table keys, `/` separates segments in
//! object keys.

use std::fmt::Write as _;

use super::LockKey;

/// The sort key of lock and delivery items, which are alone in their partition.
pub const ITEM_SK: &str = "item";

/// Escapes a component for a `#`-separated table key: `%` and `#` become `%25` and `%23`.
#[must_use]
pub fn escape(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for c in component.chars() {
        match c {
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            _ => out.push(c),
        }
    }
    out
}

/// The project part shared by lock and plan keys: `<dir>#<workspace>#<project>`, where the
/// project is empty without a name and `=<name>` with one (so no name collides with none).
#[must_use]
pub fn project_key(key: &LockKey) -> String {
    let mut out = format!("{}#{}#", escape(&key.dir), escape(&key.workspace));
    if let Some(project) = &key.project {
        out.push('=');
        out.push_str(&escape(project));
    }
    out
}

/// The partition key of a lock: `lock#<repo>#<dir>#<workspace>#<project>`. Every project's lock
/// is its own partition, so lock traffic spreads across the table.
#[must_use]
pub fn lock_pk(key: &LockKey) -> String {
    format!("lock#{}#{}", escape(&key.repo), project_key(key))
}

/// The embedded store's lock key: `<repo>#<project key>`, ordered by repository.
#[must_use]
pub fn embedded_lock_key(key: &LockKey) -> String {
    format!("{}#{}", escape(&key.repo), project_key(key))
}

/// The prefix of every embedded lock key of `repo`.
#[must_use]
pub fn embedded_repo_prefix(repo: &str) -> String {
    format!("{}#", escape(repo))
}

/// The embedded store's plan key: `<repo>#<pr, zero-padded>#<project key>`, so a PR's plans are
/// one range.
#[must_use]
pub fn embedded_plan_key(key: &LockKey, pr: u64) -> String {
    format!(
        "{}{}",
        embedded_plan_prefix(&key.repo, pr),
        project_key(key)
    )
}

/// The prefix of every embedded plan key of one PR.
#[must_use]
pub fn embedded_plan_prefix(repo: &str, pr: u64) -> String {
    format!("{}#{pr:020}#", escape(repo))
}

/// The partition key of a PR's plan records: `plan#<repo>#<pr>`, so one query reads them all.
#[must_use]
pub fn plan_pk(repo: &str, pr: u64) -> String {
    format!("plan#{}#{pr}", escape(repo))
}

/// The partition key of the `by_repo` index: every lock of a repository.
#[must_use]
pub fn repo_index_pk(repo: &str) -> String {
    format!("repo#{}", escape(repo))
}

/// The sort key of the `by_repo` index: `<pr, zero-padded>#<project key>`, so the locks of one
/// PR are one `begins_with` range.
#[must_use]
pub fn repo_index_sk(key: &LockKey, pr: u64) -> String {
    format!("{}{}", repo_index_pr_prefix(pr), project_key(key))
}

/// The `by_repo` sort-key prefix of one PR's locks.
#[must_use]
pub fn repo_index_pr_prefix(pr: u64) -> String {
    format!("{pr:020}#")
}

/// The partition key of the records of a PR's split comments: `comment#<repo>#<pr>`; the sort
/// key is the command comment's id.
#[must_use]
pub fn comment_parts_pk(repo: &str, pr: u64) -> String {
    format!("comment#{}#{pr}", escape(repo))
}

/// The embedded store's key of a split comment's record: `<repo>#<pr, zero-padded>#<comment id>`,
/// so a PR's records are one range.
#[must_use]
pub fn embedded_comment_parts_key(repo: &str, pr: u64, comment_id: &str) -> String {
    format!("{}{}", embedded_plan_prefix(repo, pr), escape(comment_id))
}

/// The sweep index's key (`gsi2pk`) of a lock: every lock, listed without a scan.
pub const SWEEP_LOCK: &str = "lock";

/// The sweep index's key (`gsi2pk`) of a plan record whose run is in progress; finished records
/// carry none, so the index holds only unfinished runs.
pub const SWEEP_RUN: &str = "run";

/// The partition key of the global apply lock (alone in the table; `apply-lock` cannot be any
/// other key, which all start with `lock#`, `plan#`, `delivery#` or `comment#`).
pub const APPLY_LOCK_PK: &str = "apply-lock";

/// The embedded store's key of the global apply lock.
pub const EMBEDDED_APPLY_LOCK_KEY: &str = "apply-lock";

/// The partition key of a delivery record: `delivery#<id>`.
#[must_use]
pub fn delivery_pk(delivery: &str) -> String {
    format!("delivery#{}", escape(delivery))
}

/// Encodes one object-key segment: ASCII letters, digits, `-`, `_` and `.` stay, everything else
/// (including `/`) is percent-encoded, and a segment of dots only is fully encoded, so a
/// segment can never climb out of its folder.
#[must_use]
pub fn object_segment(component: &str) -> String {
    let dots_only = !component.is_empty() && component.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(component.len());
    for byte in component.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_')
            || (byte == b'.' && !dots_only);
        if keep {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

/// The object key of a planfile:
/// `planfiles/<repo>/pr-<pr>/<dir>/<workspace>/<project or ->/<sha>/<run>.tfplan`. A new commit
/// or run gets a new object, so an apply always reads the bytes its plan record names.
#[must_use]
pub fn planfile_key(key: &LockKey, pr: u64, head_sha: &str, run_id: &str) -> String {
    artifact_key("planfiles", key, pr, head_sha, run_id, "tfplan")
}

/// The object key of a run's full log, beside its planfile under `logs/`.
#[must_use]
pub fn log_key(key: &LockKey, pr: u64, head_sha: &str, run_id: &str) -> String {
    artifact_key("logs", key, pr, head_sha, run_id, "log")
}

fn artifact_key(
    kind: &str,
    key: &LockKey,
    pr: u64,
    head_sha: &str,
    run_id: &str,
    extension: &str,
) -> String {
    let project = key.project.as_deref().map_or_else(
        || "-".to_owned(),
        |name| format!("p-{}", object_segment(name)),
    );
    format!(
        "{kind}/{}/pr-{pr}/{}/{}/{project}/{}/{}.{extension}",
        object_segment(&key.repo),
        object_segment(&key.dir),
        object_segment(&key.workspace),
        object_segment(head_sha),
        object_segment(run_id),
    )
}

/// The prefix of every planfile of a PR, for discarding them.
#[must_use]
pub fn pr_planfile_prefix(repo: &str, pr: u64) -> String {
    format!("planfiles/{}/pr-{pr}/", object_segment(repo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(repo: &str, dir: &str, workspace: &str, project: Option<&str>) -> LockKey {
        LockKey {
            repo: repo.into(),
            dir: dir.into(),
            workspace: workspace.into(),
            project: project.map(Into::into),
        }
    }

    #[test]
    fn lock_keys_name_repo_dir_workspace_and_project() {
        assert_eq!(
            lock_pk(&key("acme/infra", "envs/prod", "default", None)),
            "lock#acme/infra#envs/prod#default#"
        );
        assert_eq!(
            lock_pk(&key("acme/infra", ".", "default", Some("prod"))),
            "lock#acme/infra#.#default#=prod"
        );
    }

    #[test]
    fn a_separator_inside_a_name_cannot_forge_another_key() {
        let tricky = key("o/r", "a#b", "c", None);
        let plain = key("o/r", "a", "b#c", None);
        assert_ne!(lock_pk(&tricky), lock_pk(&plain));
        assert_eq!(lock_pk(&tricky), "lock#o/r#a%23b#c#");
    }

    #[test]
    fn an_unnamed_project_never_collides_with_an_empty_name() {
        assert_ne!(
            lock_pk(&key("o/r", ".", "default", None)),
            lock_pk(&key("o/r", ".", "default", Some("")))
        );
    }

    #[test]
    fn a_prs_index_entries_share_a_prefix_that_no_other_pr_matches() {
        let k = key("o/r", ".", "default", None);
        assert!(repo_index_sk(&k, 7).starts_with(&repo_index_pr_prefix(7)));
        assert!(!repo_index_sk(&k, 70).starts_with(&repo_index_pr_prefix(7)));
    }

    #[test]
    fn planfile_keys_are_per_repo_pr_project_and_commit() {
        assert_eq!(
            planfile_key(
                &key("acme/infra", "envs/prod", "default", None),
                42,
                "abc123",
                "run-1"
            ),
            "planfiles/acme%2Finfra/pr-42/envs%2Fprod/default/-/abc123/run-1.tfplan"
        );
        assert_eq!(
            planfile_key(
                &key("acme/infra", ".", "default", Some("prod")),
                42,
                "abc123",
                "r"
            ),
            "planfiles/acme%2Finfra/pr-42/%2E/default/p-prod/abc123/r.tfplan"
        );
    }

    #[test]
    fn dot_segments_cannot_climb_out_of_their_folder() {
        assert_eq!(object_segment(".."), "%2E%2E");
        assert_eq!(object_segment(""), "%00");
        assert_eq!(object_segment("v1.2"), "v1.2");
    }

    proptest! {
        #[test]
        fn distinct_keys_give_distinct_lock_and_object_keys(
            a in ("[a-z#%/.]{1,4}", "[a-z#%/.]{1,4}", proptest::option::of("[a-z#%=.]{0,3}")),
            b in ("[a-z#%/.]{1,4}", "[a-z#%/.]{1,4}", proptest::option::of("[a-z#%=.]{0,3}")),
        ) {
            let ka = key("o/r", &a.0, &a.1, a.2.as_deref());
            let kb = key("o/r", &b.0, &b.1, b.2.as_deref());
            prop_assert_eq!(ka == kb, lock_pk(&ka) == lock_pk(&kb));
            prop_assert_eq!(ka == kb, planfile_key(&ka, 1, "s", "r") == planfile_key(&kb, 1, "s", "r"));
        }

        #[test]
        fn object_segments_never_contain_a_slash_or_dot_dot(s in ".{0,12}") {
            let seg = object_segment(&s);
            prop_assert!(!seg.contains('/'));
            prop_assert!(seg != "." && seg != "..");
        }
    }
}
