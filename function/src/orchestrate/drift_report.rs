//! Where drift is reported: one tracking issue per repository, updated in place and closed when
//! no project drifts any more; a commit status per project on the checked commit of the
//! default branch (`landfall/drift: <project>`); and, when the operator set one, an outgoing
//! webhook with a Slack-compatible body (`text` plus `blocks`). The issue and the webhook only
//! hear of a change: a digest of what was last reported is kept with the repository.

use std::fmt::Write as _;

use secrecy::ExposeSecret as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::Context;
use crate::event::{CommitSha, RepoName};
use crate::report::LOG_LINK_VALIDITY;
use crate::store::{DriftRecord, DriftState, Drifts as _, TrackedIssue, now_secs};
use crate::vcs::{CommitStatus, IssueRef, StatusState, TrackingIssue, VcsClient as _};
use crate::vcs::status_context;
use crate::markdown::{inline_code as code, table_cell};

/// `text` as HTML text: nothing in it opens or closes a tag.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// How often a report is tried when other reporters race it.
const REPORT_ATTEMPTS: usize = 80;

/// The wait before trying again.
const RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// How long another reporter waits for one that is opening the tracking issue.
const OPENING_GRACE_SECS: u64 = 60;

/// How long the webhook may take.
const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Context {
    /// Reports `repo`'s drift where it changed since the last report: the tracking issue and
    /// the webhook. Returns the tracking issue's address, when there is one. Of reporters that
    /// race, the one whose versioned write lands reports; the others read again (and report
    /// again only if what they saw is newer); while one opens the issue, the others wait.
    pub(crate) async fn report_drift(&self, repo: &RepoName) -> anyhow::Result<Option<String>> {
        for _ in 0..REPORT_ATTEMPTS {
            let kept = self.store.repo_drift(repo.as_str()).await?;
            let records = self.store.list_drift(Some(repo.as_str())).await?;
            let digest = digest(&records);
            if digest == kept.reported {
                return Ok(kept.issue.map(|issue| issue.url));
            }
            let open = records.iter().any(|r| r.state == DriftState::Drifted);
            let opening = open && kept.issue.is_none();
            let now = now_secs();
            if opening && kept.opening_since.is_some_and(|t| now < t + OPENING_GRACE_SECS) {
                tokio::time::sleep(RETRY_WAIT).await;
                continue;
            }
            let mut claimed = kept.clone();
            claimed.reported = digest;
            claimed.version = kept.version + 1;
            claimed.opening_since = opening.then_some(now);
            if !self.store.put_repo_drift(repo.as_str(), &claimed).await? {
                tokio::time::sleep(RETRY_WAIT).await;
                continue;
            }
            let issue = self.update_issue(repo, &records, kept.issue.as_ref(), open).await;
            if opening || issue != claimed.issue {
                let mut done = claimed.clone();
                done.issue.clone_from(&issue);
                done.opening_since = None;
                done.version = claimed.version + 1;
                if !self.store.put_repo_drift(repo.as_str(), &done).await? {
                    tracing::warn!(%repo, "a newer drift report was written before the tracking issue was kept");
                }
            }
            self.drift_webhook(repo, &records, issue.as_ref()).await;
            return Ok(issue.map(|issue| issue.url));
        }
        tracing::warn!(%repo, "drift reports kept racing; the next check reports again");
        Ok(None)
    }

    /// The tracking issue updated with `records` (opened when something drifts, closed when
    /// nothing does), or as it was when the host refuses (the next change tries again).
    async fn update_issue(
        &self,
        repo: &RepoName,
        records: &[DriftRecord],
        kept: Option<&TrackedIssue>,
        open: bool,
    ) -> Option<TrackedIssue> {
        if !open && !kept.is_some_and(|issue| issue.open) {
            return kept.cloned();
        }
        let drifted = records
            .iter()
            .filter(|r| r.state == DriftState::Drifted)
            .count();
        let title = if open {
            format!(
                "Landfall: drift in {drifted} project{}",
                if drifted == 1 { "" } else { "s" }
            )
        } else {
            "Landfall: no drift".to_owned()
        };
        let body = self.issue_body(repo, records).await;
        let existing = kept.map(|issue| IssueRef {
            number: issue.number,
            url: issue.url.clone(),
        });
        let issue = TrackingIssue { title, body, open };
        match self
            .vcs
            .tracking_issue(repo, existing.as_ref(), &issue)
            .await
        {
            Ok(Some(issue)) => Some(TrackedIssue {
                number: issue.number,
                url: issue.url,
                open,
            }),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(%repo, error = %err, "cannot update the drift tracking issue");
                kept.cloned()
            }
        }
    }

    /// Sets the project's drift status on the commit it was checked at, best effort.
    pub(crate) async fn drift_status(&self, drift: &DriftRecord, issue: Option<&str>) {
        if drift.checked_sha.is_empty() {
            return;
        }
        let (state, description) = match drift.state {
            DriftState::InSync => (StatusState::Success, "No drift".to_owned()),
            DriftState::Drifted => (StatusState::Failure, format!("Drift: {}", drift.summary)),
            DriftState::Failed | DriftState::Unchecked => {
                (StatusState::Error, "The drift check failed".to_owned())
            }
        };
        let status = CommitStatus {
            context: status_context(self.switches.status_name(), "drift", &drift.key.project_label()),
            state,
            description,
            target_url: issue.map(str::to_owned),
            branch: None,
            pull: None,
        };
        let repo = RepoName::new(&drift.key.repo);
        let sha = CommitSha::new(&drift.checked_sha);
        if let Err(err) = self.vcs.set_status(&repo, &sha, &status).await {
            tracing::warn!(error = %err, "could not set the drift status");
        }
    }

    /// The tracking issue's text: the drifted projects, the failed and skipped checks, the
    /// latest remediations.
    async fn issue_body(&self, repo: &RepoName, records: &[DriftRecord]) -> String {
        let mut body = format!(
            "Landfall's scheduled drift checks plan each project of `{repo}` at the default \
             branch's head. This issue is kept up to date by Landfall and closed when nothing \
             drifts.\n\n"
        );
        let drifted: Vec<&DriftRecord> = records
            .iter()
            .filter(|r| r.state == DriftState::Drifted)
            .collect();
        if drifted.is_empty() {
            body.push_str("**No project drifts.**\n");
        } else {
            body.push_str("| project | drifting since | checked at | plan | log |\n");
            body.push_str("|---|---|---|---|---|\n");
            for record in &drifted {
                let log = match &record.log {
                    Some(log) => {
                        let link = self.artifacts.link(&log.key, LOG_LINK_VALIDITY).await;
                        link.url
                            .map_or_else(|| code(&link.location), |url| format!("[log]({url})"))
                    }
                    None => "—".to_owned(),
                };
                let _ = writeln!(
                    body,
                    "| {} | {} | `{}` | {} | {log} |",
                    table_cell(&code(&record.key.project_label())),
                    record.first_seen.map_or_else(|| "—".to_owned(), time),
                    crate::report::short(&record.checked_sha),
                    table_cell(&record.summary),
                );
            }
            for record in &drifted {
                if !record.addresses.is_empty() {
                    let _ = writeln!(
                        body,
                        "\n<details><summary><code>{}</code>: {} address{}</summary>\n\n{}\n</details>",
                        html_text(&record.key.project_label()),
                        record.addresses.len(),
                        if record.addresses.len() == 1 { "" } else { "es" },
                        record
                            .addresses
                            .iter()
                            .map(|a| {
                                let outside = if record.drifted.contains(a) {
                                    " (changed outside Terraform)"
                                } else {
                                    ""
                                };
                                format!("- {}{outside}", code(a))
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    );
                }
            }
        }
        let failed: Vec<&DriftRecord> = records
            .iter()
            .filter(|r| r.state == DriftState::Failed)
            .collect();
        if !failed.is_empty() {
            body.push_str("\n**Checks that failed:**\n");
            for record in failed {
                let _ = writeln!(body, "- {}: {}", code(&record.key.project_label()), record.summary);
            }
        }
        let skipped: Vec<&DriftRecord> = records.iter().filter(|r| r.skipped.is_some()).collect();
        if !skipped.is_empty() {
            body.push_str("\n**Checks skipped:**\n");
            for record in skipped {
                let why = record.skipped.as_deref().unwrap_or_default();
                let _ = writeln!(body, "- {}: {why}", code(&record.key.project_label()));
            }
        }
        let mut remediations: Vec<(&DriftRecord, &crate::store::Remediation)> = records
            .iter()
            .flat_map(|r| r.remediations.iter().map(move |m| (r, m)))
            .collect();
        remediations.sort_by_key(|(_, m)| std::cmp::Reverse(m.at));
        if !remediations.is_empty() {
            body.push_str("\n**Latest remediations:**\n");
            for (record, remediation) in remediations.iter().take(10) {
                let _ = writeln!(
                    body,
                    "- {} {} at `{}`: **{}**, {}",
                    time(remediation.at),
                    code(&record.key.project_label()),
                    crate::report::short(&remediation.sha),
                    remediation.outcome,
                    remediation.detail
                );
            }
        }
        body
    }

    /// Posts the drift of `repo` to the operator's webhook, best effort.
    async fn drift_webhook(
        &self,
        repo: &RepoName,
        records: &[DriftRecord],
        issue: Option<&TrackedIssue>,
    ) {
        let Some(url) = &self.drift_webhook else {
            return;
        };
        let payload = slack_payload(repo, records, issue);
        let client = match crate::tls::reqwest_builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(error = %err, "cannot build the drift webhook's client");
                return;
            }
        };
        match client
            .post(url.expose_secret())
            .json(&payload)
            .send()
            .await
        {
            Ok(reply) if reply.status().is_success() => {}
            // The URL is a credential: never logged, only the answer.
            Ok(reply) => {
                tracing::warn!(status = %reply.status(), "the drift webhook refused the report");
            }
            Err(err) => {
                tracing::warn!(error = %err.without_url(), "the drift webhook could not be reached");
            }
        }
    }
}

/// `text` with the three characters Slack reads as markup escaped, as its formatting guide asks
/// (`&`, `<`, `>`): a project named `<!channel>` in the default branch's config names itself,
/// and pings nobody.
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack-compatible body: `text` for any receiver, `blocks` for Slack.
pub(crate) fn slack_payload(
    repo: &RepoName,
    records: &[DriftRecord],
    issue: Option<&TrackedIssue>,
) -> serde_json::Value {
    let drifted: Vec<&DriftRecord> = records
        .iter()
        .filter(|r| r.state == DriftState::Drifted)
        .collect();
    let shown = slack_escaped(repo.as_str());
    let text = if drifted.is_empty() {
        format!("Landfall: no drift in {shown}")
    } else {
        format!(
            "Landfall: drift in {shown}: {}",
            drifted
                .iter()
                .map(|r| slack_escaped(&format!("{} ({})", r.key.project_label(), r.summary)))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let mut lines: Vec<String> = drifted
        .iter()
        .map(|r| {
            let label = slack_escaped(&r.key.project_label());
            format!("• `{label}`: {}", slack_escaped(&r.summary))
        })
        .collect();
    if let Some(issue) = issue {
        lines.push(format!("<{}|Tracking issue #{}>", issue.url, issue.number));
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("*{text}*")},
    })];
    if !lines.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": lines.join("\n")},
        }));
    }
    json!({
        "text": text,
        "blocks": blocks,
        "landfall": {
            "repository": repo.as_str(),
            "drifted": drifted.iter().map(|r| json!({
                "project": r.key.project_label(),
                "dir": r.key.dir,
                "workspace": r.key.workspace,
                "summary": r.summary,
                "addresses": r.addresses,
                "first_seen": r.first_seen,
                "checked_sha": r.checked_sha,
            })).collect::<Vec<_>>(),
        },
    })
}

/// What decides whether a report changed: each project's state, plan, addresses, skip and
/// remediations (not the check times).
fn digest(records: &[DriftRecord]) -> String {
    let mut hasher = Sha256::new();
    for record in records {
        hasher.update(reported_facts(record).as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// What of a project's record the repository's report shows (not the check times): a check
/// that leaves these as they were changes nothing in the report.
pub(super) fn reported_facts(record: &DriftRecord) -> String {
    json!([
        record.key,
        record.state,
        record.first_seen,
        record.summary,
        record.addresses,
        record.skipped,
        record.remediations,
    ])
    .to_string()
}

/// A Unix time as UTC text.
fn time(secs: u64) -> String {
    crate::store::format_timestamp(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LockKey;

    #[test]
    fn the_digest_ignores_check_times_but_not_states() {
        let mut record = DriftRecord::new(LockKey::new("acme/infra", "net", "default"));
        record.state = DriftState::Drifted;
        let before = digest(std::slice::from_ref(&record));
        record.last_checked += 60;
        assert_eq!(digest(std::slice::from_ref(&record)), before);
        record.state = DriftState::InSync;
        assert_ne!(digest(std::slice::from_ref(&record)), before);
    }

    #[test]
    fn the_webhook_body_is_slack_shaped_and_names_each_drifted_project() {
        let mut record = DriftRecord::new(LockKey::new("acme/infra", "net", "default"));
        record.state = DriftState::Drifted;
        record.summary = "Plan: 0 to add, 1 to change, 0 to destroy.".to_owned();
        let issue = TrackedIssue {
            number: 3,
            url: "https://github.com/acme/infra/issues/3".to_owned(),
            open: true,
        };
        let body = slack_payload(&RepoName::new("acme/infra"), &[record], Some(&issue));
        assert_eq!(
            body["text"],
            "Landfall: drift in acme/infra: net (Plan: 0 to add, 1 to change, 0 to destroy.)"
        );
        assert_eq!(body["blocks"][0]["type"], "section");
        assert!(
            body["blocks"][1]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("<https://github.com/acme/infra/issues/3|Tracking issue #3>")
        );
        assert_eq!(body["landfall"]["drifted"][0]["dir"], "net");
    }

    #[test]
    fn a_project_named_as_slack_markup_pings_nobody() {
        let mut record = DriftRecord::new(LockKey::new("acme/infra", "<!channel>", "default"));
        record.state = DriftState::Drifted;
        record.summary = "Plan: 1 to add & <@U123>.".to_owned();
        let body = slack_payload(&RepoName::new("acme/infra"), &[record], None);
        // What Slack reads (`text`, `blocks`); the raw `landfall` data stays as it is.
        let text = format!("{}{}", body["text"], body["blocks"]);
        assert!(!text.contains("<!channel>") && !text.contains("<@U123>"), "{text}");
        assert!(body["text"].as_str().unwrap().contains("&lt;!channel&gt;"), "{text}");
        assert!(text.contains("&amp;"), "{text}");
        assert_eq!(body["landfall"]["drifted"][0]["dir"], "<!channel>");
    }
}
