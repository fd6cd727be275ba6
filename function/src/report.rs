//! Recording a finished run: the plan record (written only while the PR holds the project's
//! lock, and for a plan only while its commit is still the PR's head), the commit status, and
//! the PR comment that the runs of one command share.
//!
//! Whoever can reach the store records the run. With DynamoDB the runner does it itself as its
//! last step, so the function never waits for a Job (under Lambda nothing may run after the
//! answer). With the embedded store, which only the function's process can open, the function
//! records what the local runner reports.
//!
//! The shared comment is rebuilt from the store: each run stores its result in its plan record
//! (tagged with the command's trigger), then renders every result of that trigger under the
//! comment's header and edits the comment. A run whose edit may have overtaken another's
//! re-reads the records after editing and edits again until what it showed is current, so the
//! last edit always holds every result.
//!
//! A body over the host's limit is split ([`crate::comment::split`]) into at most
//! [`MAX_COMMENT_PARTS`] comments: the first is the command's comment, the others are posted once
//! and their ids kept in the store ([`Store::add_comment_parts`]), so every later rebuild edits
//! them in place. Two runs that post a part at once both try to record it; the one whose write
//! is refused marks its own comment as a duplicate and edits the winner's from then on. When
//! even the last part cannot hold the rest, it says so and links every run's full log.

use std::fmt::Write as _;

use crate::comment::render;
use crate::comment::{MAX_COMMENT_PARTS, SUPERSEDED, SplitOptions, place, split};
use crate::event::{Provider, PullRequestNumber, RepoName};
use crate::run::summary::PlanSummary;
use crate::run::{CommentThread, Outcome, ProjectResult, RunCommand, RunSpec};
use crate::run::{RunReport, RunStatus};
use crate::store::artifacts::ArtifactLink;
use crate::store::{
    AnyArtifacts, AnyStore, PartsOutcome, PlanOutcome, PlanRecord, PlanStatus, Store,
    StoredArtifact,
};
use crate::vcs::{AnyVcs, CommentId, CommitStatus, StatusState, VcsClient, status_context};

/// The most bytes of Terraform output a stored result keeps: a plan record stays far below
/// DynamoDB's 400 KB item limit, and the comment shows less than this anyway. The full log is
/// stored as an artifact.
pub const RESULT_TEXT_LIMIT: usize = 60 * 1024;

/// How many times one run edits the shared comment before leaving it to the others.
const PUBLISH_ROUNDS: usize = 4;

/// The log note of a cut comment takes at most this share of a comment (a quarter): presigned
/// URLs are long, and a comment of a hundred projects must still show output.
const LOG_NOTE_SHARE: usize = 4;

/// How long the links to full logs in a cut comment work: the longest S3 allows.
pub const LOG_LINK_VALIDITY: std::time::Duration = crate::store::artifacts::MAX_LINK_VALIDITY;

/// What records runs: the store, the VCS client and the host's identity.
#[derive(Debug, Clone, Copy)]
pub struct Reporter<'a> {
    /// Plan records and locks.
    pub store: &'a AnyStore,
    /// Comments and statuses.
    pub vcs: &'a AnyVcs,
    /// Where runs' full logs are, for the links of a cut comment.
    pub artifacts: &'a AnyArtifacts,
    /// The host kind, for web links.
    pub provider: Provider,
    /// The host's API base URL (`LANDFALL_VCS_URL`), for web links.
    pub vcs_url: Option<&'a str>,
}

impl Reporter<'_> {
    /// Records a finished run: `Ok(report)`, or `Err(log tail)` for a runner that ended without
    /// a report. Writes the plan record with the run's result, sets the commit status and, with
    /// a `thread`, edits the shared comment. Returns the result as the comment shows it.
    pub async fn finish(
        &self,
        spec: &RunSpec,
        report: Result<&RunReport, String>,
        thread: Option<&CommentThread>,
    ) -> anyhow::Result<ProjectResult> {
        let (result, recorded) = match spec.command {
            RunCommand::Plan => self.record_plan(spec, report).await?,
            RunCommand::Apply => self.record_apply(spec, report).await?,
        };
        if let Some(thread) = thread {
            self.publish(spec, thread, (!recorded).then_some(&result))
                .await?;
        }
        Ok(result)
    }

    /// The plan's record and status; returns the result and whether the record holds it.
    async fn record_plan(
        &self,
        spec: &RunSpec,
        report: Result<&RunReport, String>,
    ) -> anyhow::Result<(ProjectResult, bool)> {
        let context = status_context("plan", &spec.project.label());
        let report = match report {
            Ok(report) => report,
            Err(output) => return self.runner_failed(spec, &context, output).await,
        };
        let mut result = report.result.clone();
        let (state, description) = match report.status {
            RunStatus::Planned => (
                StatusState::Success,
                report
                    .summary
                    .as_ref()
                    .map_or_else(|| "Planned".to_owned(), PlanSummary::line),
            ),
            RunStatus::NoChanges => (StatusState::Success, "No changes".to_owned()),
            RunStatus::Refused => (StatusState::Failure, "Refused".to_owned()),
            RunStatus::TimedOut => (StatusState::Failure, "Timed out".to_owned()),
            RunStatus::Failed | RunStatus::Applied => {
                (StatusState::Failure, "Plan failed".to_owned())
            }
        };
        // A plan overtaken by a push is never recorded: it could otherwise be applied.
        let now = self.vcs.pull_request(&spec.repo, spec.pr).await?;
        if now.head_sha != report.head_sha {
            result.outcome = Outcome::Refused {
                reason: format!(
                    "the pull request moved to `{}` while this plan ran at `{}`; it is not recorded",
                    short(now.head_sha.as_str()),
                    short(report.head_sha.as_str())
                ),
            };
            self.status(spec, &context, StatusState::Failure, "Overtaken by a push")
                .await;
            return Ok((result, false));
        }
        let status = PlanStatus::after(report.status).unwrap_or(PlanStatus::Failed);
        let written = self
            .record_status(
                spec,
                &report.run_id,
                status,
                report.planfile.clone(),
                Some(&result),
            )
            .await?;
        if let PlanOutcome::LockNotHeld(by) = written {
            result.outcome = Outcome::Refused {
                reason: lost_lock(by.as_ref(), "plan"),
            };
            self.status(spec, &context, StatusState::Failure, "Lock lost")
                .await;
            return Ok((result, false));
        }
        self.status(spec, &context, state, &description).await;
        Ok((result, true))
    }

    /// The apply's record and status; returns the result and whether the record holds it.
    async fn record_apply(
        &self,
        spec: &RunSpec,
        report: Result<&RunReport, String>,
    ) -> anyhow::Result<(ProjectResult, bool)> {
        let context = status_context("apply", &spec.project.label());
        let report = match report {
            Ok(report) => report,
            Err(output) => return self.runner_failed(spec, &context, output).await,
        };
        let mut result = report.result.clone();
        let status = match report.status {
            RunStatus::Applied => PlanStatus::Applied,
            // Refused before Terraform changed anything: the plan stays as it was.
            RunStatus::Refused => PlanStatus::Planned,
            _ => PlanStatus::Failed,
        };
        let (state, description) = match report.status {
            RunStatus::Applied => (StatusState::Success, "Applied"),
            RunStatus::Refused => (StatusState::Failure, "Refused"),
            RunStatus::TimedOut => (StatusState::Failure, "Timed out"),
            _ => (StatusState::Failure, "Apply failed"),
        };
        let written = self
            .record_status(spec, &report.run_id, status, None, Some(&result))
            .await?;
        self.status(spec, &context, state, description).await;
        if let PlanOutcome::LockNotHeld(by) = written {
            // The apply happened (or not) all the same; say so, and that nothing was recorded.
            let note = lost_lock(by.as_ref(), "apply");
            if let Outcome::Refused { reason } = &mut result.outcome {
                let _ = write!(reason, " ({note})");
            }
            return Ok((result, false));
        }
        Ok((result, true))
    }

    async fn runner_failed(
        &self,
        spec: &RunSpec,
        context: &str,
        output: String,
    ) -> anyhow::Result<(ProjectResult, bool)> {
        let result = ProjectResult::new(
            &spec.project,
            spec.command,
            Outcome::Failed {
                step: "runner".to_owned(),
                output,
            },
        );
        let written = self
            .record_status(
                spec,
                &spec.run_id(),
                PlanStatus::Failed,
                None,
                Some(&result),
            )
            .await?;
        self.status(spec, context, StatusState::Error, "The runner failed")
            .await;
        Ok((result, written == PlanOutcome::Written))
    }

    /// Writes the run's plan record (only while the PR holds the lock), tagged with the run's
    /// trigger. An apply's record keeps the commit and planfile of the plan it applied.
    pub async fn record_status(
        &self,
        spec: &RunSpec,
        run_id: &str,
        status: PlanStatus,
        planfile: Option<StoredArtifact>,
        result: Option<&ProjectResult>,
    ) -> anyhow::Result<PlanOutcome> {
        let head_sha = spec
            .apply
            .as_ref()
            .map_or_else(|| spec.head_sha.clone(), |a| a.planned_sha.clone());
        let planfile = planfile.or_else(|| spec.apply.as_ref().map(|a| a.planfile.clone()));
        Ok(self
            .store
            .put_plan(&PlanRecord {
                key: spec.lock_key(),
                pr: spec.pr.0,
                head_sha: head_sha.to_string(),
                run_id: run_id.to_owned(),
                status,
                planfile,
                updated_at: crate::store::now_secs(),
                trigger: Some(spec.trigger.clone()),
                result: result.map(capped),
            })
            .await?)
    }

    /// Rebuilds the shared comment from the results stored under the run's trigger (plus
    /// `extra`, a result that could not be stored) and edits it until what it shows is current.
    pub async fn publish(
        &self,
        spec: &RunSpec,
        thread: &CommentThread,
        extra: Option<&ProjectResult>,
    ) -> anyhow::Result<()> {
        let mut shown: Option<String> = None;
        for _ in 0..PUBLISH_ROUNDS {
            let records = self.store.list_plans(spec.repo.as_str(), spec.pr.0).await?;
            let mut results = results_of(&records, &spec.trigger);
            if let Some(extra) = extra
                && !results.contains(extra)
            {
                results.push(extra.clone());
            }
            let body = compose(&thread.header, &results);
            if shown.as_deref() == Some(body.as_str()) {
                break;
            }
            self.show_split(spec, thread, &body, &results).await?;
            shown = Some(body);
        }
        Ok(())
    }

    /// Shows `body` in the thread's comment and, when it is over the host's limit, in the
    /// thread's part comments: the ones already posted are edited, missing ones posted once.
    async fn show_split(
        &self,
        spec: &RunSpec,
        thread: &CommentThread,
        body: &str,
        results: &[ProjectResult],
    ) -> anyhow::Result<()> {
        let repo = &spec.repo;
        let pr = spec.pr;
        let limit = self.vcs.comment_limit();
        let mut options = SplitOptions::new(limit, MAX_COMMENT_PARTS);
        if body.len() > limit {
            options.full_log = self.full_logs(results, limit / LOG_NOTE_SHARE).await;
        }
        let parts = split(body, &options);
        let first = parts.first().map_or("", String::as_str);
        self.vcs
            .edit_comment(repo, pr, &thread.comment_id, first)
            .await?;
        let store = self.store;
        let mut ids = store
            .comment_parts(spec.repo.as_str(), spec.pr.0, &thread.comment_id.0)
            .await?;
        let mut fresh: Vec<String> = Vec::new();
        // Each refused write means another run recorded more parts, so this ends.
        for _ in 0..MAX_COMMENT_PARTS {
            let posts = place(&parts, &ids).posts;
            if posts.is_empty() {
                break;
            }
            let mut posted = Vec::new();
            let mut failed = None;
            for part in posts {
                match self.vcs.post_comment(repo, pr, part).await {
                    Ok(id) => posted.push(id.0),
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                }
            }
            let recorded = if posted.is_empty() {
                None
            } else {
                Some(
                    store
                        .add_comment_parts(
                            spec.repo.as_str(),
                            spec.pr.0,
                            &thread.comment_id.0,
                            &ids,
                            &posted,
                        )
                        .await?,
                )
            };
            match recorded {
                Some(PartsOutcome::Written(all)) => {
                    ids = all;
                    fresh = posted;
                }
                Some(PartsOutcome::Changed(current)) => {
                    tracing::info!(
                        comment = %thread.comment_id,
                        "another run posted the comment's parts first; using its comments"
                    );
                    for id in &posted {
                        self.vcs
                            .edit_comment(repo, pr, &CommentId(id.clone()), SUPERSEDED)
                            .await?;
                    }
                    ids = current;
                }
                None => {}
            }
            if let Some(err) = failed {
                return Err(err.into());
            }
        }
        for (id, part) in place(&parts, &ids).edits {
            if !fresh.iter().any(|posted| posted == id) {
                self.vcs
                    .edit_comment(repo, pr, &CommentId(id.to_owned()), part)
                    .await?;
            }
        }
        Ok(())
    }

    /// Markdown naming the full logs of `results`, at most `budget` bytes (see [`log_note`]).
    async fn full_logs(&self, results: &[ProjectResult], budget: usize) -> Option<String> {
        let mut links = Vec::new();
        for result in results {
            if let Some(log) = &result.log {
                let link = self.artifacts.link(&log.key, LOG_LINK_VALIDITY).await;
                links.push((result.label(), link));
            }
        }
        log_note(&links, budget, crate::store::now_secs())
    }

    /// Posts `body`, or edits the comment `id` when there is one; returns the comment's id. A
    /// body over the host's limit is cut at it, fences and blocks closed.
    pub async fn upsert_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        id: Option<&CommentId>,
        body: &str,
    ) -> anyhow::Result<CommentId> {
        let limit = self.vcs.comment_limit();
        let body = if body.len() > limit {
            crate::comment::split(body, &crate::comment::SplitOptions::new(limit, 1))
                .into_iter()
                .next()
                .unwrap_or_default()
        } else {
            body.to_owned()
        };
        match id {
            Some(id) => {
                self.vcs.edit_comment(repo, pr, id, &body).await?;
                Ok(id.clone())
            }
            None => Ok(self.vcs.post_comment(repo, pr, &body).await?),
        }
    }

    /// Sets a commit status, best effort: a status that cannot be set is logged, not fatal.
    pub async fn status(
        &self,
        spec: &RunSpec,
        context: &str,
        state: StatusState,
        description: &str,
    ) {
        let repo = &spec.repo;
        let status = CommitStatus {
            context: context.to_owned(),
            state,
            description: description.to_owned(),
            target_url: Some(self.pull_url(repo, spec.pr)),
        };
        let sha = &spec.head_sha;
        if let Err(err) = self.vcs.set_status(repo, sha, &status).await {
            tracing::warn!(error = %err, context, "could not set the commit status");
        }
    }

    /// The PR's web page, for "locked by #N" and status links.
    #[must_use]
    pub fn pull_url(&self, repo: &RepoName, pr: PullRequestNumber) -> String {
        let api = self.vcs_url.unwrap_or_default();
        let web = match self.provider {
            Provider::Github if api.is_empty() || api == "https://api.github.com" => {
                "https://github.com".to_owned()
            }
            _ => api
                .trim_end_matches('/')
                .trim_end_matches("/api/v3")
                .trim_end_matches("/api/v4")
                .trim_end_matches("/api/v1")
                .to_owned(),
        };
        match self.provider {
            Provider::Gitlab => format!("{web}/{repo}/-/merge_requests/{pr}"),
            Provider::BitbucketCloud => format!("https://bitbucket.org/{repo}/pull-requests/{pr}"),
            _ => format!("{web}/{repo}/pull/{pr}"),
        }
    }
}

/// The results stored under `trigger`, in the records' (project key) order.
#[must_use]
pub fn results_of(records: &[PlanRecord], trigger: &str) -> Vec<ProjectResult> {
    records
        .iter()
        .filter(|record| record.trigger.as_deref() == Some(trigger))
        .filter_map(|record| record.result.clone())
        .collect()
}

/// The shared comment: the header, then the results.
#[must_use]
pub fn compose(header: &str, results: &[ProjectResult]) -> String {
    if results.is_empty() {
        header.to_owned()
    } else {
        format!("{header}\n\n{}", render(results))
    }
}

/// The note of a cut comment about the full logs: each project's link (and, for a link that
/// expires, where the log stays: its `s3://` location), in at most `budget` bytes, then how
/// many more there are; for links that expire, how long they work from `now`. `None` without
/// logs.
#[must_use]
pub fn log_note(links: &[(String, ArtifactLink)], budget: usize, now: u64) -> Option<String> {
    if links.is_empty() {
        return None;
    }
    let mut text = String::from("Full logs:");
    let mut expiring = None;
    let mut shown = 0;
    for (label, link) in links {
        let entry = match (&link.url, link.valid_for) {
            (Some(url), Some(valid_for)) => {
                expiring = Some(valid_for);
                format!(" [{label}]({url}) (`{}`)", link.location)
            }
            (Some(url), None) => format!(" [{label}]({url})"),
            (None, _) => format!(" {label}: `{}`", link.location),
        };
        // Room is kept for the sentences that follow the links.
        if shown > 0 && text.len() + entry.len() + 320 > budget {
            break;
        }
        if shown > 0 {
            text.push(',');
        }
        text.push_str(&entry);
        shown += 1;
    }
    text.push('.');
    if shown < links.len() {
        let _ = write!(
            text,
            " The other {} are beside them, under the same `logs/` folder.",
            links.len() - shown
        );
    }
    if let Some(valid_for) = expiring {
        let _ = write!(
            text,
            " The links work for {} days (until {}) or until the credentials that signed them \
             expire, if sooner; the `s3://` locations stay.",
            valid_for.as_secs() / 86_400,
            crate::store::format_timestamp(now + valid_for.as_secs()),
        );
    }
    Some(text)
}

fn lost_lock(by: Option<&crate::store::Lock>, what: &str) -> String {
    match by {
        Some(lock) => format!(
            "the lock was taken by #{} while this {what} ran; it is not recorded",
            lock.holder.pr
        ),
        None => format!("the lock was released while this {what} ran; it is not recorded"),
    }
}

pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// `result` with its texts cut to [`RESULT_TEXT_LIMIT`]: the start of a plan or an apply's
/// output (what a reviewer reads first), the end of a failure's (where the error is).
#[must_use]
pub fn capped(result: &ProjectResult) -> ProjectResult {
    let mut result = result.clone();
    match &mut result.outcome {
        Outcome::Planned {
            plan_text: text, ..
        }
        | Outcome::NoChanges { plan_text: text }
        | Outcome::Applied { output: text } => keep_head(text),
        Outcome::Failed { output: text, .. } | Outcome::TimedOut { output: text, .. } => {
            keep_tail(text);
        }
        Outcome::Refused { reason } => keep_head(reason),
    }
    result
}

const CUT_NOTE: &str = "… (cut here: the full output is in the run's log)";

fn keep_head(text: &mut String) {
    if text.len() > RESULT_TEXT_LIMIT {
        let mut end = RESULT_TEXT_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('\n');
        text.push_str(CUT_NOTE);
    }
}

fn keep_tail(text: &mut String) {
    if text.len() > RESULT_TEXT_LIMIT {
        let mut start = text.len() - RESULT_TEXT_LIMIT;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        *text = format!("{CUT_NOTE}\n{}", &text[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ProjectSpec;

    fn result(outcome: Outcome) -> ProjectResult {
        ProjectResult::new(&ProjectSpec::new("envs/app"), RunCommand::Plan, outcome)
    }

    #[test]
    fn a_long_plan_keeps_its_start_and_a_long_failure_its_end_on_char_boundaries() {
        let long = format!("{}é{}", "a".repeat(RESULT_TEXT_LIMIT - 1), "z".repeat(5000));
        let planned = capped(&result(Outcome::Planned {
            summary: "1 to add".to_owned(),
            plan_text: long.clone(),
        }));
        let Outcome::Planned { plan_text, .. } = planned.outcome else {
            panic!()
        };
        assert!(plan_text.starts_with("aaa") && plan_text.ends_with(CUT_NOTE));
        assert!(plan_text.len() <= RESULT_TEXT_LIMIT + CUT_NOTE.len() + 1);
        let failed = capped(&result(Outcome::Failed {
            step: "plan".to_owned(),
            output: format!("{long}Error: the end"),
        }));
        let Outcome::Failed { output, .. } = failed.outcome else {
            panic!()
        };
        assert!(output.starts_with(CUT_NOTE) && output.ends_with("Error: the end"));
        let short = result(Outcome::NoChanges {
            plan_text: "No changes.".to_owned(),
        });
        assert_eq!(capped(&short), short, "short texts are kept whole");
    }

    #[test]
    fn the_shared_comment_holds_only_the_results_of_its_trigger() {
        let key = crate::store::LockKey::new("acme/infra", "envs/app", "default");
        let mine = result(Outcome::NoChanges {
            plan_text: "No changes. mine".to_owned(),
        });
        let other = result(Outcome::NoChanges {
            plan_text: "No changes. other".to_owned(),
        });
        let record = |trigger: &str, result: Option<ProjectResult>| PlanRecord {
            key: key.clone(),
            pr: 1,
            head_sha: "a".repeat(40),
            run_id: "r".to_owned(),
            status: PlanStatus::NoChanges,
            planfile: None,
            updated_at: 0,
            trigger: Some(trigger.to_owned()),
            result,
        };
        let records = [
            record("t1", Some(mine.clone())),
            record("t2", Some(other)),
            record("t1", None),
        ];
        assert_eq!(results_of(&records, "t1"), vec![mine.clone()]);
        let body = compose("**header**", &results_of(&records, "t1"));
        assert!(body.starts_with("**header**\n\n") && body.contains("mine"));
        assert!(!body.contains("other"));
        assert_eq!(compose("**header**", &[]), "**header**");
    }

    fn link(url: Option<&str>, location: &str, days: Option<u64>) -> ArtifactLink {
        ArtifactLink {
            url: url.map(str::to_owned),
            location: location.to_owned(),
            valid_for: days.map(|d| std::time::Duration::from_hours(d * 24)),
        }
    }

    #[test]
    fn a_cut_comment_links_each_log_says_how_long_and_where_it_stays() {
        let links = vec![
            (
                "`envs/app`".to_owned(),
                link(
                    Some("https://b.s3.amazonaws.com/logs/app.log?X-Amz-Expires=604800"),
                    "s3://b/logs/app.log",
                    Some(7),
                ),
            ),
            (
                "`envs/db`".to_owned(),
                link(None, "s3://b/logs/db.log", None),
            ),
        ];
        let note = log_note(&links, 16_384, 1_777_636_800).unwrap();
        insta::assert_snapshot!(note, @"Full logs: [`envs/app`](https://b.s3.amazonaws.com/logs/app.log?X-Amz-Expires=604800) (`s3://b/logs/app.log`), `envs/db`: `s3://b/logs/db.log`. The links work for 7 days (until 2026-05-08T12:00:00Z) or until the credentials that signed them expire, if sooner; the `s3://` locations stay.");
        let local = [(
            "`envs/app`".to_owned(),
            link(
                Some("file:///data/logs/app.log"),
                "/data/logs/app.log",
                None,
            ),
        )];
        assert_eq!(
            log_note(&local, 16_384, 0).unwrap(),
            "Full logs: [`envs/app`](file:///data/logs/app.log)."
        );
        assert_eq!(log_note(&[], 16_384, 0), None);
    }

    #[test]
    fn many_logs_fit_the_notes_budget_and_the_rest_are_counted() {
        let url = format!(
            "https://b.s3.amazonaws.com/logs/x.log?{}",
            "s".repeat(1_400)
        );
        let links: Vec<_> = (0..100)
            .map(|i| {
                (
                    format!("`envs/p{i}`"),
                    link(Some(&url), "s3://b/logs/x.log", Some(7)),
                )
            })
            .collect();
        let note = log_note(&links, 16_384, 0).unwrap();
        assert!(note.len() <= 16_384, "{} bytes", note.len());
        assert!(note.contains("[`envs/p0`]") && !note.contains("[`envs/p99`]"));
        let shown = note.matches("](https://").count();
        assert!(note.contains(&format!("The other {} are beside them", 100 - shown)));
    }
}
