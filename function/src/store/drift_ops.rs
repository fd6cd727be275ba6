//! The operator command behind `landfall drift`: what the scheduled drift checks found, as
//! printable rows (see [`super::ops`] for the lock commands).

use anyhow::Context as _;
use serde::Serialize;

use super::drift::{DriftState, Drifts};
use super::ops::{block_on, table};
use super::{Result, StoreConfig, format_timestamp};

/// One project as `landfall drift` shows it (and one object of `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftRow {
    /// The repository.
    pub repo: String,
    /// The project's name, or its directory (and workspace).
    pub project: String,
    /// The project directory.
    pub dir: String,
    /// The Terraform workspace.
    pub workspace: String,
    /// `drifted`, `in_sync`, `failed` or `unchecked`.
    pub state: String,
    /// When drift was first seen, RFC 3339 UTC.
    pub since: Option<String>,
    /// When it was last checked, RFC 3339 UTC.
    pub checked_at: Option<String>,
    /// The default branch's commit the last check planned.
    pub checked_sha: String,
    /// The last check's plan line, or why it failed.
    pub summary: String,
    /// The addresses the last check's plan changes.
    pub addresses: Vec<String>,
    /// Why the last check was skipped, if it was.
    pub skipped: Option<String>,
    /// The last remediation: `applied`, `failed` or `refused`, and when.
    pub last_remediation: Option<String>,
}

/// The projects of `repo` (or every repository) whose last check found drift or failed, or
/// every checked project with `all`.
pub async fn list_drift(store: &impl Drifts, repo: Option<&str>, all: bool) -> Result<Vec<DriftRow>> {
    let records = store.list_drift(repo).await?;
    Ok(records
        .into_iter()
        .filter(|r| all || matches!(r.state, DriftState::Drifted | DriftState::Failed))
        .map(|r| DriftRow {
            project: r.key.project_label(),
            dir: r.key.dir.clone(),
            workspace: r.key.workspace.clone(),
            repo: r.key.repo,
            state: r.state.as_str().to_owned(),
            since: r.first_seen.map(format_timestamp),
            checked_at: (r.last_checked > 0).then(|| format_timestamp(r.last_checked)),
            checked_sha: r.checked_sha,
            summary: r.summary,
            addresses: r.addresses,
            skipped: r.skipped,
            last_remediation: r
                .remediations
                .last()
                .map(|m| format!("{} {}", m.outcome, format_timestamp(m.at))),
        })
        .collect())
}

/// [`list_drift`] on the store `config` names.
pub fn list_drift_blocking(
    config: &StoreConfig,
    repo: Option<&str>,
    all: bool,
) -> anyhow::Result<Vec<DriftRow>> {
    block_on(async {
        let (store, _) = config.connect().await?;
        list_drift(&store, repo, all)
            .await
            .with_context(|| format!("cannot list drift in the {}", config.describe()))
    })
}

/// The rows as an aligned table, or a one-line note when there are none.
#[must_use]
pub fn render_drift(rows: &[DriftRow]) -> String {
    let header = ["REPO", "PROJECT", "STATE", "SINCE", "CHECKED", "COMMIT", "PLAN"];
    table(rows, "no drift", &header, |row| {
        let short = row.checked_sha.get(..8).unwrap_or(&row.checked_sha);
        vec![
            row.repo.clone(),
            row.project.clone(),
            row.state.clone(),
            row.since.clone().unwrap_or_else(|| "-".to_owned()),
            row.checked_at.clone().unwrap_or_else(|| "-".to_owned()),
            short.to_owned(),
            row.skipped.as_ref().map_or_else(
                || row.summary.clone(),
                |why| format!("skipped: {why}; {}", row.summary),
            ),
        ]
    })
}
