//! The operator commands behind `landfall locks list` and `landfall locks release`, as library
//! functions returning printable rows; the CLI only parses arguments and prints. The
//! `*_blocking` forms connect from a [`StoreConfig`] on a runtime of their own, for synchronous
//! callers such as the `landfall` CLI.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use super::{
    ApplyLock, ApplyLocks, PrRelease, ReleaseOutcome, Result, Store, StoreConfig,
    format_timestamp,
};

/// One lock as `landfall locks list` shows it (and as one object of `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockRow {
    /// The repository.
    pub repo: String,
    /// The project's name, or its directory (and workspace) when it has none.
    pub project: String,
    /// The project directory.
    pub dir: String,
    /// The Terraform workspace.
    pub workspace: String,
    /// The PR holding the lock.
    pub pr: u64,
    /// When the PR took it, RFC 3339 UTC.
    pub since: String,
    /// The user whose event took it.
    pub user: String,
    /// A link to the PR.
    pub pull_url: String,
    /// The PR's plan status for the project, if it has a plan record.
    pub plan_status: Option<String>,
    /// The PR merged and its merge kept the lock ([`super::Lock::kept_after_merge`]).
    pub kept_after_merge: bool,
}

/// What to release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseTarget {
    /// Every lock of a PR, with its plans.
    Pr(u64),
    /// The locks of one project, whoever holds them: matched by project name, or by directory
    /// (`dir` or `dir:workspace`).
    Project(String),
}

/// Lists locks, of one repository or all, with each holder's plan status.
pub async fn list_locks(store: &impl Store, repo: Option<&str>) -> Result<Vec<LockRow>> {
    let locks = store.list_locks(repo).await?;
    let mut rows = Vec::with_capacity(locks.len());
    for lock in locks {
        let plan = store.get_plan(&lock.key, lock.holder.pr).await?;
        rows.push(LockRow {
            repo: lock.key.repo.clone(),
            project: lock.key.project_label(),
            dir: lock.key.dir.clone(),
            workspace: lock.key.workspace.clone(),
            pr: lock.holder.pr,
            since: format_timestamp(lock.since),
            user: lock.holder.user,
            pull_url: lock.holder.pull_url,
            plan_status: plan.map(|plan| plan.status.to_string()),
            kept_after_merge: lock.kept_after_merge,
        });
    }
    Ok(rows)
}

/// Releases the locks `target` names in `repo`. A PR's release keeps the locks of a run that
/// writes the state (as the function's own does); a project's is the operator's way out and
/// releases whatever runs.
pub async fn release_locks(
    store: &impl Store,
    repo: &str,
    target: &ReleaseTarget,
) -> Result<PrRelease> {
    match target {
        ReleaseTarget::Pr(pr) => release_pr_with_kept(store, repo, *pr).await,
        ReleaseTarget::Project(project) => {
            let mut release = PrRelease::default();
            for lock in store.list_locks(Some(repo)).await? {
                let key = &lock.key;
                let matches = key.project.as_deref() == Some(project.as_str())
                    || key.project_label() == *project
                    || (key.dir == *project && key.project.is_none())
                    || format!("{}:{}", key.dir, key.workspace) == *project;
                if matches
                    && let ReleaseOutcome::Released(lock) = store.release_lock(key, None).await?
                {
                    release.released.push(lock);
                }
            }
            Ok(release)
        }
    }
}

/// [`Store::release_pr`], and then the locks the PR's merge kept
/// ([`super::Lock::kept_after_merge`]):
/// `landfall unlock` and an operator's release of a PR.
pub async fn release_pr_with_kept(store: &impl Store, repo: &str, pr: u64) -> Result<PrRelease> {
    let mut release = store.release_pr(repo, pr).await?;
    for lock in std::mem::take(&mut release.kept_after_merge) {
        match store.release_lock(&lock.key, Some(pr)).await? {
            ReleaseOutcome::Released(lock) => release.released.push(lock),
            ReleaseOutcome::Running(lock) => release.kept.push(lock),
            // `release_lock` never leaves a kept lock.
            ReleaseOutcome::NotLocked | ReleaseOutcome::HeldBy(_) | ReleaseOutcome::Kept(_) => {}
        }
    }
    release.released.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(release)
}

pub(crate) fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start an async runtime")?
        .block_on(future)
}

/// [`list_locks`] on the store `config` names.
pub fn list_locks_blocking(
    config: &StoreConfig,
    repo: Option<&str>,
) -> anyhow::Result<Vec<LockRow>> {
    block_on(async {
        let (store, _) = config.connect().await?;
        list_locks(&store, repo)
            .await
            .with_context(|| format!("cannot list the locks in the {}", config.describe()))
    })
}

/// [`release_locks`] on the store `config` names.
pub fn release_locks_blocking(
    config: &StoreConfig,
    repo: &str,
    target: &ReleaseTarget,
) -> anyhow::Result<PrRelease> {
    block_on(async {
        let (store, _) = config.connect().await?;
        release_locks(&store, repo, target).await.with_context(|| {
            format!(
                "cannot release locks of {repo} in the {}",
                config.describe()
            )
        })
    })
}

/// What `landfall apply-lock` asks of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyLockRequest {
    /// Read it.
    Show,
    /// Set it, unless it is set.
    Set(ApplyLock),
    /// Clear it.
    Clear,
}

/// Runs `request` on the store `config` names. Returns the lock it concerns: the one in force
/// (`Show`; for `Set`, the one already in force, `None` when the new one was set), or the one
/// cleared.
pub fn apply_lock_blocking(
    config: &StoreConfig,
    request: &ApplyLockRequest,
) -> anyhow::Result<Option<ApplyLock>> {
    block_on(async {
        let (store, _) = config.connect().await?;
        let answer = match request {
            ApplyLockRequest::Show => store.apply_lock().await,
            ApplyLockRequest::Set(lock) => store.set_apply_lock(lock).await,
            ApplyLockRequest::Clear => store.clear_apply_lock().await,
        };
        answer.with_context(|| format!("cannot reach the apply lock in the {}", config.describe()))
    })
}

/// The apply lock in one line: who set it, when, and why.
#[must_use]
pub fn describe_apply_lock(lock: &ApplyLock) -> String {
    let mut out = format!("set by {} since {}", lock.by, format_timestamp(lock.since));
    if let Some(reason) = &lock.reason {
        let _ = write!(out, ": {reason}");
    }
    out
}

/// The rows as an aligned text table with a header, or a one-line note when there are none.
#[must_use]
pub fn render_table(rows: &[LockRow]) -> String {
    let header = ["REPO", "PROJECT", "DIR", "WORKSPACE", "PR", "SINCE", "BY", "PLAN"];
    table(rows, "no locks", &header, |row| {
        vec![
            row.repo.clone(),
            row.project.clone(),
            row.dir.clone(),
            row.workspace.clone(),
            format!("#{}", row.pr),
            row.since.clone(),
            row.user.clone(),
            match (&row.plan_status, row.kept_after_merge) {
                (Some(status), true) => format!("{status}, kept after merge"),
                (None, true) => "kept after merge".to_owned(),
                (status, false) => status.clone().unwrap_or_else(|| "-".to_owned()),
            },
        ]
    })
}

/// `rows` as a table under `header`, a row's cells from `cells`; `empty` on a line when there
/// are none.
pub(crate) fn table<R>(
    rows: &[R],
    empty: &str,
    header: &[&str],
    cells: impl Fn(&R) -> Vec<String>,
) -> String {
    if rows.is_empty() {
        return format!("{empty}\n");
    }
    let cells: Vec<Vec<String>> = rows.iter().map(cells).collect();
    aligned(header, &cells)
}

/// `header` and `rows` as columns aligned on their widest cell.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(text, "{cell:<width$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header);
    for row in rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

/// One line per released (and kept) lock, or a note that nothing matched.
#[must_use]
pub fn render_released(repo: &str, target: &ReleaseTarget, release: &PrRelease) -> String {
    let mut out = String::new();
    if release.released.is_empty() && release.kept.is_empty() {
        return match target {
            ReleaseTarget::Pr(pr) => {
                format!("PR #{pr} of {repo} holds no locks; nothing released\n")
            }
            ReleaseTarget::Project(project) => {
                format!("no lock of {repo} matches project {project:?}; nothing released\n")
            }
        };
    }
    for (verb, locks) in [("released", &release.released), ("kept", &release.kept)] {
        for lock in locks {
            let _ = write!(
                out,
                "{verb} {} {} (workspace {}), held by #{} since {}",
                lock.key.repo,
                lock.key.project_label(),
                lock.key.workspace,
                lock.holder.pr,
                format_timestamp(lock.since)
            );
            if verb == "kept" {
                let _ = write!(
                    out,
                    ": a run that writes its state is running; `--project {}` releases it anyway",
                    lock.key.project_label()
                );
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(repo: &str, project: &str, pr: u64) -> LockRow {
        LockRow {
            repo: repo.into(),
            project: project.into(),
            dir: project.into(),
            workspace: "default".into(),
            pr,
            since: "2026-05-01T12:00:00Z".into(),
            user: "alice".into(),
            pull_url: format!("https://example.test/{pr}"),
            plan_status: (pr == 1).then(|| "planned".into()),
            kept_after_merge: false,
        }
    }

    #[test]
    fn the_table_aligns_columns_under_a_header() {
        let kept = LockRow {
            kept_after_merge: true,
            ..row("o/r", "app", 1)
        };
        let text = render_table(&[
            row("acme/infra", "envs/prod", 1),
            row("o/r", ".", 12),
            kept,
        ]);
        insta::assert_snapshot!(text, @r"
        REPO        PROJECT    DIR        WORKSPACE  PR   SINCE                 BY     PLAN
        acme/infra  envs/prod  envs/prod  default    #1   2026-05-01T12:00:00Z  alice  planned
        o/r         .          .          default    #12  2026-05-01T12:00:00Z  alice  -
        o/r         app        app        default    #1   2026-05-01T12:00:00Z  alice  planned, kept after merge
        ");
    }

    #[test]
    fn a_kept_lock_says_why_and_how_to_release_it_anyway() {
        let lock = |dir: &str| crate::store::Lock {
            key: crate::run::LockKey::new("acme/infra", dir, "default"),
            holder: crate::store::LockHolder {
                pr: 7,
                user: "alice".into(),
                head_sha: "a".repeat(40),
                pull_url: "https://example.test/7".into(),
            },
            since: 1_777_636_800,
            kept_after_merge: false,
        };
        let release = PrRelease {
            released: vec![lock("dev")],
            kept: vec![lock("prod")],
            kept_after_merge: Vec::new(),
        };
        let text = render_released("acme/infra", &ReleaseTarget::Pr(7), &release);
        insta::assert_snapshot!(text, @r"
        released acme/infra dev (workspace default), held by #7 since 2026-05-01T12:00:00Z
        kept acme/infra prod (workspace default), held by #7 since 2026-05-01T12:00:00Z: a run that writes its state is running; `--project prod` releases it anyway
        ");
    }

    #[test]
    fn an_empty_list_says_so() {
        assert_eq!(render_table(&[]), "no locks\n");
    }

    #[test]
    fn json_rows_carry_the_documented_keys() {
        let json = serde_json::to_value(row("o/r", ".", 3)).unwrap();
        let documented = [
            "repo",
            "project",
            "dir",
            "workspace",
            "pr",
            "since",
            "user",
            "pull_url",
            "plan_status",
            "kept_after_merge",
        ];
        for key in documented {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
    }
}
