//! The shared PR comment that the runs of one command share, and its split over several
//! comments.
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

use super::Reporter;
use crate::comment::render;
use crate::comment::{MAX_COMMENT_PARTS, SUPERSEDED, SplitOptions, place, split};
use crate::event::{PullRequestNumber, RepoName};
use crate::run::{CommentThread, ProjectResult, RunSpec};
use crate::store::artifacts::ArtifactLink;
use crate::store::{CommentKey, PartsOutcome, PlanRecord, Store};
use crate::vcs::{CommentId, VcsClient};

/// How many times one run edits the shared comment before leaving it to the others.
const PUBLISH_ROUNDS: usize = 4;

/// The log note of a cut comment takes at most this share of a comment (a quarter): presigned
/// URLs are long, and a comment of a hundred projects must still show output.
const LOG_NOTE_SHARE: usize = 4;

/// How long the links to full logs in a cut comment work: the longest S3 allows.
pub const LOG_LINK_VALIDITY: std::time::Duration = crate::store::artifacts::MAX_LINK_VALIDITY;

impl Reporter<'_> {
    /// Rebuilds the shared comment from the results stored under the run's trigger (plus
    /// `extra`, a result that could not be stored) and edits it until what it shows is current.
    pub async fn publish(
        &self,
        spec: &RunSpec,
        thread: &CommentThread,
        extra: Option<&ProjectResult>,
    ) -> anyhow::Result<()> {
        // A drift check has no pull request to comment on: it reports on its own.
        if spec.is_drift() {
            return Ok(());
        }
        let Some(comment_id) = &thread.comment_id else {
            return self.publish_alone(spec, thread, extra).await;
        };
        let mut shown: Option<String> = None;
        for _ in 0..PUBLISH_ROUNDS {
            let records = self.store.list_plans(spec.repo.as_str(), spec.pr.0).await?;
            let mut results = results_of(&records, &spec.trigger);
            if let Some(extra) = extra
                && !results.contains(extra)
            {
                results.push(extra.clone());
            }
            let before = results.len();
            results.retain(|r| !thread.silences(r));
            let mut body = compose(&thread.header, &results);
            if results.len() < before {
                let _ = write!(
                    body,
                    "\n\n{} project(s) without changes are not shown (`silence_pr_comments`).",
                    before - results.len()
                );
            }
            if shown.as_deref() == Some(body.as_str()) {
                break;
            }
            self.show_split(spec, (comment_id, thread.verbose), &body, &results)
                .await?;
            shown = Some(body);
        }
        Ok(())
    }

    /// A run of a command whose every project silences its comment: no comment unless this
    /// run's own result has something to say (a change, a failure), and then one of its own.
    async fn publish_alone(
        &self,
        spec: &RunSpec,
        thread: &CommentThread,
        extra: Option<&ProjectResult>,
    ) -> anyhow::Result<()> {
        let own = match extra {
            Some(result) => Some(result.clone()),
            None => self
                .store
                .get_plan(&spec.lock_key(), spec.pr.0)
                .await?
                .filter(|record| record.trigger.as_deref() == Some(spec.trigger.as_str()))
                .and_then(|record| record.result),
        };
        let Some(own) = own.filter(|r| !thread.silences(r)) else {
            return Ok(());
        };
        let body = compose(&thread.header, std::slice::from_ref(&own));
        // The log is linked when asked (`--verbose`) or when the reply is cut, as in a thread.
        let limit = self.vcs.comment_limit();
        let note = if thread.verbose || body.len() > limit {
            self.full_logs(std::slice::from_ref(&own), limit / LOG_NOTE_SHARE)
                .await
        } else {
            None
        };
        let body = match note {
            Some(note) if body.len() + note.len() + 2 <= limit => format!("{body}\n\n{note}"),
            // Cut with the link in its notice, so that the link is never what is cut off.
            Some(note) => {
                let mut options = SplitOptions::new(limit, 1);
                options.full_log = Some(note);
                split(&body, &options).into_iter().next().unwrap_or_default()
            }
            None => body,
        };
        self.upsert_comment(&spec.repo, spec.pr, None, &body)
            .await?;
        Ok(())
    }

    /// Shows `body` in the thread's comment and, when it is over the host's limit, in the
    /// thread's part comments: the ones already posted are edited, missing ones posted once.
    /// A cut comment links the full logs; a `verbose` one links them in any case.
    async fn show_split(
        &self,
        spec: &RunSpec,
        (comment_id, verbose): (&CommentId, bool),
        body: &str,
        results: &[ProjectResult],
    ) -> anyhow::Result<()> {
        let repo = &spec.repo;
        let pr = spec.pr;
        let limit = self.vcs.comment_limit();
        let mut options = SplitOptions::new(limit, MAX_COMMENT_PARTS);
        let mut body = std::borrow::Cow::Borrowed(body);
        if body.len() > limit {
            options.full_log = self.full_logs(results, limit / LOG_NOTE_SHARE).await;
        } else if verbose
            && let Some(note) = self.full_logs(results, limit / LOG_NOTE_SHARE).await
        {
            body = std::borrow::Cow::Owned(format!("{body}\n\n{note}"));
        }
        let parts = split(&body, &options);
        let first = parts.first().map_or("", String::as_str);
        self.vcs.edit_comment(repo, pr, comment_id, first).await?;
        let store = self.store;
        let comment = CommentKey {
            repo: spec.repo.as_str(),
            pr: spec.pr.0,
            comment_id: &comment_id.0,
        };
        let mut ids = store.comment_parts(comment).await?;
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
                Some(store.add_comment_parts(comment, &ids, &posted).await?)
            };
            match recorded {
                Some(PartsOutcome::Written(all)) => {
                    ids = all;
                    fresh = posted;
                }
                Some(PartsOutcome::Changed(current)) => {
                    tracing::info!(
                        comment = %comment_id,
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
}

/// The results stored under `trigger`, in the records' (project key) order. A run still in
/// progress has none yet: an applying record keeps its plan's result, which is not the apply's.
#[must_use]
pub fn results_of(records: &[PlanRecord], trigger: &str) -> Vec<ProjectResult> {
    records
        .iter()
        .filter(|record| record.trigger.as_deref() == Some(trigger) && !record.in_progress())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Outcome, ProjectSpec, RunCommand};
    use crate::store::PlanStatus;

    /// A plan of `envs/app` that changes nothing, saying `text`.
    fn no_changes(text: &str) -> ProjectResult {
        let outcome = Outcome::NoChanges {
            plan_text: text.to_owned(),
        };
        ProjectResult::new(&ProjectSpec::new("envs/app"), RunCommand::Plan, outcome)
    }

    #[test]
    fn the_shared_comment_holds_only_the_results_of_its_trigger() {
        let key = crate::store::LockKey::new("acme/infra", "envs/app", "default");
        let mine = no_changes("No changes. mine");
        let other = no_changes("No changes. other");
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
            deadline: None,
        };
        // A run of the trigger still applying keeps its plan's result, which is not the
        // apply's: it is not shown.
        let mut applying = record("t1", Some(no_changes("No changes. the plan")));
        applying.status = PlanStatus::Applying;
        let records = [
            record("t1", Some(mine.clone())),
            record("t2", Some(other)),
            record("t1", None),
            applying,
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
