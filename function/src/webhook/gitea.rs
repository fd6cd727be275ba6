//! Gitea and Forgejo. Their payloads follow GitHub's shape; the differences are the headers
//! (`X-Gitea-Event` / `X-Forgejo-Event`), the `synchronized` action, `is_pull` on comments, and
//! drafts marked by a `WIP:` title prefix rather than a flag.

use http::HeaderMap;
use serde::Deserialize;

use super::auth::header;
use super::github::{self, Common, IssueComment, PullRequest};
use super::{ParseError, from_json, has_draft_prefix};
use crate::event::{Event, EventKind, IgnoreReason, Provider, PullRequestNumber};

#[derive(Deserialize)]
struct TitleChange {
    from: Option<String>,
}

#[derive(Deserialize)]
struct Changes {
    title: Option<TitleChange>,
    /// The base branch changed (Gitea's `ChangesPayload.Ref`, sent since 1.11 with the new
    /// branch as `from`, so only its presence says anything).
    #[serde(rename = "ref")]
    base: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct GiteaPullRequest {
    title: Option<String>,
    #[serde(flatten)]
    common: PullRequest,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: Option<String>,
    number: Option<u64>,
    pull_request: Option<GiteaPullRequest>,
    changes: Option<Changes>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct IssueCommentEvent {
    is_pull: Option<bool>,
    #[serde(flatten)]
    comment: IssueComment,
}

const P: Provider = Provider::Gitea;

pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Event, ParseError> {
    let event_type = [
        "x-forgejo-event",
        "x-gitea-event",
        "x-gogs-event",
        "x-github-event",
    ]
    .iter()
    .find_map(|n| header(headers, n))
    .unwrap_or_else(|| github::infer_event_type(body));
    match event_type {
        "pull_request" | "pull_request_sync" => {
            let e: PullRequestEvent = from_json(P, event_type, body)?;
            let action = e.action.unwrap_or_default();
            let pr = e.pull_request.as_ref();
            let retargeted = e.changes.as_ref().is_some_and(|c| c.base.is_some());
            let was_draft = e
                .changes
                .and_then(|c| c.title)
                .and_then(|t| t.from)
                .is_some_and(|from| has_draft_prefix(&from));
            let is_draft = pr
                .and_then(|p| p.title.as_deref())
                .is_some_and(has_draft_prefix);
            let kind = match action.as_str() {
                "opened" => EventKind::Opened,
                "synchronized" | "synchronize" => EventKind::Pushed,
                "reopened" => EventKind::Reopened,
                "closed" => github::closed(pr.map(|p| &p.common)),
                "edited" if was_draft && !is_draft => EventKind::Ready,
                // Retargeted: handled as the head pushed anew, as GitHub's.
                "edited" if retargeted => EventKind::Pushed,
                _ => EventKind::Ignored(IgnoreReason::UnhandledAction {
                    event: event_type.to_owned(),
                    action,
                }),
            };
            let mut event = github::pull_request_event(P, kind, pr.map(|p| &p.common), e.common);
            event.number = event.number.or(e.number.map(PullRequestNumber));
            let head = pr.and_then(|p| p.common.head.as_ref());
            if let Some(head) = head
                && crate::vcs::is_agit(
                    head.name.as_deref().unwrap_or_default(),
                    head.label.as_deref(),
                )
            {
                event.head_repo = None;
            }
            // Gitea's own work-in-progress prefixes (`WORK_IN_PROGRESS_PREFIXES`, by default
            // `WIP:` and `[WIP]`, without case), beside the `draft` flag newer versions send.
            let wip = pr.and_then(|p| p.title.as_deref()).is_some_and(|title| {
                let title = title.trim_start().to_ascii_lowercase();
                title.starts_with("wip:") || title.starts_with("[wip]")
            });
            event.draft |= wip;
            Ok(event)
        }
        "issue_comment" | "pull_request_comment" => {
            let e: IssueCommentEvent = from_json(P, event_type, body)?;
            let is_pull = e
                .is_pull
                .or((event_type == "pull_request_comment").then_some(true));
            Ok(github::issue_comment_event(P, e.comment, is_pull))
        }
        other => {
            let common = serde_json::from_slice(body).unwrap_or(Common {
                repository: None,
                sender: None,
            });
            let reason = match other {
                "push" => IgnoreReason::BranchPush,
                _ => IgnoreReason::UnhandledEvent(other.to_owned()),
            };
            Ok(github::common_event(P, EventKind::Ignored(reason), common))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CommitSha, RepoName};
    use crate::webhook::test_headers;

    fn parse_as(event: &'static str, body: &str) -> Event {
        let headers = test_headers(&[("x-gitea-event", event), ("x-gitea-delivery", "d-1")]);
        parse(&headers, body.as_bytes()).unwrap()
    }

    const PR: &str = r#""pull_request":{"number":4,"title":"TITLE","user":{"login":"alice"},"merged":MERGED,
        "head":{"ref":"feature","sha":"0123456789012345678901234567890123456789","repo":{"full_name":"alice/infra","clone_url":"https://gitea.example/alice/infra.git"}},
        "base":{"ref":"main","sha":"x"}},"repository":{"full_name":"org/infra"},"sender":{"login":"bob"}"#;

    fn pr(action: &str, title: &str, merged: bool, extra: &str) -> String {
        format!(
            r#"{{"action":"{action}","number":4,{}{extra}}}"#,
            PR.replace("TITLE", title)
                .replace("MERGED", &merged.to_string())
        )
    }

    #[test]
    fn synchronized_is_a_push_and_carries_the_head() {
        let e = parse_as("pull_request", &pr("synchronized", "t", false, ""));
        assert_eq!(e.kind, EventKind::Pushed);
        assert_eq!(
            e.head_sha,
            Some(CommitSha::new("0123456789012345678901234567890123456789"))
        );
        assert_eq!(
            (e.head_branch.as_deref(), e.base_branch.as_deref()),
            (Some("feature"), Some("main"))
        );
        assert_eq!(e.repo, Some(RepoName::new("org/infra")));
        assert_eq!(
            e.clone_url.as_deref(),
            Some("https://gitea.example/alice/infra.git")
        );
        // The head lives in alice's fork of org/infra.
        assert_eq!(e.head_repo, Some(RepoName::new("alice/infra")));
        assert_eq!(e.sender_id, None);
    }

    #[test]
    fn a_branch_of_the_base_repository_is_its_own_head_repository_and_a_deleted_fork_none() {
        let same = pr("opened", "t", false, "")
            .replace(r#""full_name":"alice/infra""#, r#""full_name":"org/infra""#);
        let e = parse_as("pull_request", &same);
        assert_eq!(e.head_repo, Some(RepoName::new("org/infra")));
        assert_eq!(e.head_repo, e.repo);
        let deleted = pr("opened", "t", false, "").replace(
            r#""repo":{"full_name":"alice/infra","clone_url":"https://gitea.example/alice/infra.git"}"#,
            r#""repo":null"#,
        );
        let e = parse_as("pull_request", &deleted);
        assert_eq!(e.head_repo, None);
    }

    #[test]
    fn an_agit_pull_request_names_the_base_repository_as_its_head_and_counts_as_a_fork() {
        // `git push origin HEAD:refs/for/main`: Gitea names no branch (`ref` is the pull
        // request's own ref, `label` empty) and gives the base repository as the head's.
        let agit = pr("opened", "t", false, "").replace(
            r#""head":{"ref":"feature","sha":"0123456789012345678901234567890123456789","repo":{"full_name":"alice/infra","#,
            r#""head":{"label":"","ref":"refs/pull/4/head","sha":"0123456789012345678901234567890123456789","repo":{"full_name":"org/infra","#,
        );
        assert!(agit.contains("refs/pull/4/head"));
        let e = parse_as("pull_request", &agit);
        assert_eq!(e.head_repo, None);
        assert_eq!(e.repo, Some(RepoName::new("org/infra")));
        // A branch of the repository deleted after a merge: Gitea names the pull request's own
        // ref too, but keeps the label. Still the repository's own branch, not a fork.
        let deleted = agit.replace(r#""label":"","#, r#""label":"feature","#);
        assert!(deleted.contains(r#""label":"feature""#));
        let e = parse_as("pull_request", &deleted);
        assert_eq!(e.head_repo, Some(RepoName::new("org/infra")));
    }

    #[test]
    fn a_comment_names_no_head_repository() {
        let e = parse_as(
            "issue_comment",
            r#"{"action":"created","is_pull":true,"issue":{"number":4,"pull_request":{"merged":false}},"comment":{"body":"landfall plan"},"repository":{"full_name":"org/infra"},"sender":{"login":"bob"}}"#,
        );
        assert!(matches!(e.kind, EventKind::Commented(Some(_))));
        assert_eq!((e.head_repo, e.sender_id), (None, None));
    }

    #[test]
    fn closed_and_merged_is_a_merge_and_closed_alone_is_not() {
        assert_eq!(
            parse_as("pull_request", &pr("closed", "t", true, "")).kind,
            EventKind::Merged
        );
        assert_eq!(
            parse_as("pull_request", &pr("closed", "t", false, "")).kind,
            EventKind::Closed
        );
    }

    #[test]
    fn removing_the_wip_prefix_marks_the_pull_request_ready() {
        let e = parse_as(
            "pull_request",
            &pr(
                "edited",
                "fix",
                false,
                r#","changes":{"title":{"from":"WIP: fix"}}"#,
            ),
        );
        assert_eq!(e.kind, EventKind::Ready);
        let e = parse_as(
            "pull_request",
            &pr(
                "edited",
                "fixed",
                false,
                r#","changes":{"title":{"from":"fix"}}"#,
            ),
        );
        assert!(matches!(e.kind, EventKind::Ignored(_)));
    }

    #[test]
    fn a_retargeted_pull_request_is_its_head_pushed_anew() {
        // Gitea's `PullRequestChangeTargetBranch` notification: `changes.ref.from` holds the new
        // base (both of its callers pass it), so only its presence counts.
        let e = parse_as(
            "pull_request",
            &pr(
                "edited",
                "t",
                false,
                r#","changes":{"ref":{"from":"main"}}"#,
            ),
        );
        assert_eq!(e.kind, EventKind::Pushed);
        assert_eq!(e.base_branch.as_deref(), Some("main"));
    }

    #[test]
    fn a_wip_title_marks_a_draft() {
        let e = parse_as("pull_request", &pr("opened", "WIP: fix", false, ""));
        assert!(e.draft);
        let e = parse_as("pull_request", &pr("opened", "[wip] fix", false, ""));
        assert!(e.draft);
        // Not one of Gitea's prefixes: not a draft there.
        let e = parse_as("pull_request", &pr("opened", "Draft: fix", false, ""));
        assert!(!e.draft);
        let e = parse_as("pull_request", &pr("opened", "fix", false, ""));
        assert!(!e.draft);
    }

    #[test]
    fn comments_are_commands_only_on_pull_requests() {
        let body = |is_pull: bool| {
            format!(
                r#"{{"action":"created","is_pull":{is_pull},"issue":{{"number":4,"pull_request":null}},"comment":{{"body":"atlantis plan"}}}}"#
            )
        };
        assert!(matches!(
            parse_as("issue_comment", &body(true)).kind,
            EventKind::Commented(Some(_))
        ));
        assert!(matches!(
            parse_as("issue_comment", &body(false)).kind,
            EventKind::Ignored(IgnoreReason::NotAPullRequestComment(_))
        ));
    }

    #[test]
    fn the_delivery_header_is_kept() {
        let headers = test_headers(&[("x-forgejo-event", "push"), ("x-forgejo-delivery", "d-2")]);
        let e = super::super::parse(P, &headers, b"{}").unwrap();
        assert_eq!(e.delivery.unwrap().as_str(), "d-2");
        assert_eq!(e.kind, EventKind::Ignored(IgnoreReason::BranchPush));
    }
}
