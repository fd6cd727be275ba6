//! GitHub (github.com and Enterprise Server; repository, organisation and App hooks). The event
//! type is in `X-GitHub-Event`; when that header is missing (a payload saved without headers) it
//! is inferred from the body's shape.

use http::HeaderMap;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::auth::header;
use super::{ParseError, from_json, numbered_comment};
use crate::command::parse_comment;
use crate::event::{
    CommitSha, Event, EventKind, IgnoreReason, Provider, PullRequestNumber, RepoName,
};

#[derive(Deserialize)]
pub(super) struct Repo {
    pub full_name: Option<String>,
    pub clone_url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct User {
    pub login: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Ref {
    #[serde(rename = "ref")]
    pub name: Option<String>,
    /// Gitea's `label` (empty for an AGit pull request).
    pub label: Option<String>,
    pub sha: Option<String>,
    pub repo: Option<Repo>,
}

#[derive(Deserialize)]
pub(super) struct PullRequest {
    pub number: Option<u64>,
    pub user: Option<User>,
    pub head: Option<Ref>,
    pub base: Option<Ref>,
    pub merged: Option<bool>,
    pub draft: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct Installation {
    pub id: Option<u64>,
}

/// The repository and the sender, which every delivery names.
#[derive(Deserialize)]
pub(super) struct Common {
    pub repository: Option<Repo>,
    pub sender: Option<User>,
}

/// A delivery of a GitHub App names its installation too.
#[derive(Deserialize)]
struct Delivery {
    installation: Option<Installation>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    installation: Option<Installation>,
    action: Option<String>,
    /// `edited`: what changed (`base` when the PR was retargeted).
    changes: Option<PullRequestChanges>,
    number: Option<u64>,
    pull_request: Option<PullRequest>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct PullRequestChanges {
    base: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(super) struct Issue {
    pub number: Option<u64>,
    pub user: Option<User>,
    pub pull_request: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(super) struct Comment {
    pub id: Option<u64>,
    pub body: Option<String>,
}

/// An `issue_comment` (Gitea's `pull_request_comment` too).
#[derive(Deserialize)]
pub(super) struct IssueComment {
    pub action: Option<String>,
    pub issue: Option<Issue>,
    pub comment: Option<Comment>,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Deserialize)]
struct IssueCommentEvent {
    installation: Option<Installation>,
    #[serde(flatten)]
    comment: IssueComment,
}

#[derive(Deserialize)]
struct ReviewComment {
    pull_request: Option<PullRequest>,
    comment: Option<Comment>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct Review {
    action: Option<String>,
    pull_request: Option<PullRequest>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct Shape {
    zen: Option<IgnoredAny>,
    pull_request: Option<IgnoredAny>,
    issue: Option<IgnoredAny>,
    comment: Option<IgnoredAny>,
    review: Option<IgnoredAny>,
    pusher: Option<IgnoredAny>,
}

const P: Provider = Provider::Github;

pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Event, ParseError> {
    let event_type = header(headers, "x-github-event").unwrap_or_else(|| infer_event_type(body));
    match event_type {
        "pull_request" => {
            let e: PullRequestEvent = from_json(P, event_type, body)?;
            let action = e.action.unwrap_or_default();
            let pr = e.pull_request.as_ref();
            let kind = match action.as_str() {
                "opened" => EventKind::Opened,
                "synchronize" => EventKind::Pushed,
                "ready_for_review" => EventKind::Ready,
                "reopened" => EventKind::Reopened,
                // Retargeted: what was planned for the old base no longer counts, so its
                // head is handled as pushed anew.
                "edited" if e.changes.as_ref().is_some_and(|c| c.base.is_some()) => {
                    EventKind::Pushed
                }
                "closed" => closed(pr),
                _ => EventKind::Ignored(IgnoreReason::UnhandledAction {
                    event: event_type.to_owned(),
                    action,
                }),
            };
            let mut event = pull_request_event(P, kind, pr, e.common);
            event.number = event.number.or(e.number.map(PullRequestNumber));
            event.installation = e.installation.and_then(|i| i.id);
            Ok(event)
        }
        "issue_comment" => {
            let e: IssueCommentEvent = from_json(P, event_type, body)?;
            let mut event = issue_comment_event(P, e.comment, None);
            event.installation = e.installation.and_then(|i| i.id);
            Ok(event)
        }
        "pull_request_review_comment" => {
            let e: ReviewComment = from_json(P, event_type, body)?;
            let kind = EventKind::Ignored(IgnoreReason::ReviewComment);
            let mut event = pull_request_event(P, kind, e.pull_request.as_ref(), e.common);
            if let Some(comment) = e.comment {
                event.comment = comment.body;
                event.comment_id = numbered_comment(comment.id);
            }
            Ok(event)
        }
        "pull_request_review" | "pull_request_review_thread" => {
            let e: Review = from_json(P, event_type, body)?;
            let reason = IgnoreReason::UnhandledAction {
                event: event_type.to_owned(),
                action: e.action.unwrap_or_default(),
            };
            let pr = e.pull_request.as_ref();
            Ok(pull_request_event(
                P,
                EventKind::Ignored(reason),
                pr,
                e.common,
            ))
        }
        "ping" => Ok(delivery_event(
            EventKind::Ping,
            from_json(P, event_type, body)?,
        )),
        "push" => {
            let kind = EventKind::Ignored(IgnoreReason::BranchPush);
            Ok(delivery_event(kind, from_json(P, event_type, body)?))
        }
        other => {
            // An event type we do not handle: name it, and keep whatever repo and sender it has.
            let delivery = serde_json::from_slice(body).unwrap_or(Delivery {
                installation: None,
                common: Common {
                    repository: None,
                    sender: None,
                },
            });
            let reason = IgnoreReason::UnhandledEvent(other.to_owned());
            Ok(delivery_event(EventKind::Ignored(reason), delivery))
        }
    }
}

/// A closed pull request: merged, or closed without merging (GitHub and Gitea).
pub(super) fn closed(pr: Option<&PullRequest>) -> EventKind {
    if pr.and_then(|p| p.merged) == Some(true) {
        EventKind::Merged
    } else {
        EventKind::Closed
    }
}

/// An event naming only the delivery's repository, sender and installation.
fn delivery_event(kind: EventKind, delivery: Delivery) -> Event {
    let mut event = common_event(P, kind, delivery.common);
    event.installation = delivery.installation.and_then(|i| i.id);
    event
}

/// An event naming only the repository and the sender (Gitea's are the same shape).
pub(super) fn common_event(provider: Provider, kind: EventKind, common: Common) -> Event {
    let mut event = Event::new(provider, kind);
    event.repo = common
        .repository
        .and_then(|r| r.full_name)
        .map(RepoName::new);
    event.sender = common.sender.and_then(|s| s.login);
    event
}

/// Fills an event from a GitHub-shaped pull request (Gitea's is the same shape).
pub(super) fn pull_request_event(
    provider: Provider,
    kind: EventKind,
    pr: Option<&PullRequest>,
    common: Common,
) -> Event {
    let mut event = common_event(provider, kind, common);
    if let Some(pr) = pr {
        event.number = pr.number.map(PullRequestNumber);
        event.pr_author = pr.user.as_ref().and_then(|u| u.login.clone());
        if let Some(head) = &pr.head {
            event.head_sha = head.sha.clone().map(CommitSha::new);
            event.head_branch.clone_from(&head.name);
            event.clone_url = head.repo.as_ref().and_then(|r| r.clone_url.clone());
            // The repository the head lives in: a fork when it is not `repository`. A deleted
            // fork's is `null`, left `None` (treated as a fork).
            event.head_repo = head
                .repo
                .as_ref()
                .and_then(|r| r.full_name.clone())
                .filter(|n| !n.is_empty())
                .map(RepoName::new);
        }
        event.base_branch = pr.base.as_ref().and_then(|b| b.name.clone());
        event.draft = pr.draft.unwrap_or(false);
    }
    event
}

/// Fills an event from a GitHub-shaped issue comment (Gitea's is the same shape). `is_pull` is
/// Gitea's explicit flag; GitHub marks pull requests with `issue.pull_request`.
pub(super) fn issue_comment_event(
    provider: Provider,
    c: IssueComment,
    is_pull: Option<bool>,
) -> Event {
    let on_pull =
        is_pull.unwrap_or(false) || c.issue.as_ref().is_some_and(|i| i.pull_request.is_some());
    let (id, body) = c.comment.map_or((None, None), |c| (c.id, c.body));
    let action = c.action.unwrap_or_default();
    let kind = if !on_pull {
        EventKind::Ignored(IgnoreReason::NotAPullRequestComment("an issue"))
    } else if action != "created" {
        EventKind::Ignored(IgnoreReason::CommentChanged(action))
    } else {
        EventKind::Commented(body.as_deref().and_then(parse_comment))
    };
    let mut event = Event::new(provider, kind);
    if let Some(repository) = c.common.repository {
        // Comment payloads carry no head: the base repository's clone URL serves the PR's head
        // commit too (hosts keep pull request heads in the base repository).
        event.clone_url = repository.clone_url;
        event.repo = repository.full_name.map(RepoName::new);
    }
    event.sender = c.common.sender.and_then(|s| s.login);
    if let Some(issue) = c.issue {
        event.number = issue.number.map(PullRequestNumber);
        event.pr_author = issue.user.and_then(|u| u.login);
    }
    event.comment = body;
    event.comment_id = numbered_comment(id);
    event
}

/// The event type of a GitHub-shaped payload saved without its headers.
pub(super) fn infer_event_type(body: &[u8]) -> &'static str {
    let Ok(shape) = serde_json::from_slice::<Shape>(body) else {
        return "unknown";
    };
    match shape {
        Shape { zen: Some(_), .. } => "ping",
        Shape {
            review: Some(_), ..
        } => "pull_request_review",
        Shape {
            comment: Some(_),
            issue: Some(_),
            ..
        } => "issue_comment",
        Shape {
            comment: Some(_),
            pull_request: Some(_),
            ..
        } => "pull_request_review_comment",
        Shape {
            pull_request: Some(_),
            ..
        } => "pull_request",
        Shape {
            pusher: Some(_), ..
        } => "push",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_as(event: &'static str, body: &str) -> Event {
        let headers = super::super::test_headers(&[("x-github-event", event)]);
        parse(&headers, body.as_bytes()).unwrap()
    }

    #[test]
    fn a_closed_pull_request_that_was_merged_is_a_merge() {
        let e = parse_as(
            "pull_request",
            r#"{"action":"closed","pull_request":{"number":3,"merged":true}}"#,
        );
        assert_eq!(e.kind, EventKind::Merged);
        assert_eq!(e.number, Some(PullRequestNumber(3)));
    }

    #[test]
    fn a_comment_on_a_pull_request_carries_its_command_but_no_head_sha() {
        let e = parse_as(
            "issue_comment",
            r#"{"action":"created","issue":{"number":7,"pull_request":{"url":"x"},"user":{"login":"a"}},"comment":{"body":"landfall plan"},"repository":{"full_name":"o/r"},"sender":{"login":"b"}}"#,
        );
        assert!(matches!(e.kind, EventKind::Commented(Some(_))));
        assert_eq!(e.head_sha, None);
        assert_eq!(
            (e.pr_author.as_deref(), e.sender.as_deref()),
            (Some("a"), Some("b"))
        );
    }

    /// GitHub's `pull_request` `edited` names what changed in `changes`: a new base
    /// (`changes.base.ref.from`) is a retarget, handled as the head pushed anew; a title or body
    /// edit is ignored.
    #[test]
    fn a_retargeted_pull_request_is_its_head_pushed_anew_and_a_title_edit_is_ignored() {
        let retargeted = parse_as(
            "pull_request",
            r#"{"action":"edited","number":3,"changes":{"base":{"ref":{"from":"main"},"sha":{"from":"abc"}}},"pull_request":{"number":3,"base":{"ref":"release"}}}"#,
        );
        assert_eq!(retargeted.kind, EventKind::Pushed);
        assert_eq!(retargeted.base_branch.as_deref(), Some("release"));
        let renamed = parse_as(
            "pull_request",
            r#"{"action":"edited","number":3,"changes":{"title":{"from":"x"}},"pull_request":{"number":3}}"#,
        );
        assert!(
            matches!(renamed.kind, EventKind::Ignored(_)),
            "{:?}",
            renamed.kind
        );
    }

    #[test]
    fn an_edited_command_comment_is_ignored() {
        let e = parse_as(
            "issue_comment",
            r#"{"action":"edited","issue":{"number":7,"pull_request":{}},"comment":{"body":"landfall apply"}}"#,
        );
        assert_eq!(
            e.kind,
            EventKind::Ignored(IgnoreReason::CommentChanged("edited".into()))
        );
    }

    #[test]
    fn a_comment_with_a_null_pull_request_is_on_an_issue() {
        let e = parse_as(
            "issue_comment",
            r#"{"action":"created","issue":{"number":7,"pull_request":null},"comment":{"body":"landfall plan"}}"#,
        );
        assert_eq!(
            e.kind,
            EventKind::Ignored(IgnoreReason::NotAPullRequestComment("an issue"))
        );
    }

    #[test]
    fn github_app_deliveries_keep_their_installation() {
        let e = parse_as(
            "pull_request",
            r#"{"action":"opened","installation":{"id":42,"node_id":"x"},"pull_request":{"number":1}}"#,
        );
        assert_eq!(e.installation, Some(42));
        let e = parse_as("ping", r#"{"zen":"z","installation":{"id":7}}"#);
        assert_eq!(e.installation, Some(7));
    }

    #[test]
    fn unknown_event_types_are_ignored_by_name() {
        let e = parse_as("check_run", r#"{"repository":{"full_name":"o/r"}}"#);
        assert_eq!(
            e.kind,
            EventKind::Ignored(IgnoreReason::UnhandledEvent("check_run".into()))
        );
        assert_eq!(e.repo, Some(RepoName::new("o/r")));
    }

    /// A delivery of the shared corpus (`../shared/corpus/`), read in place.
    fn corpus(rel: &str) -> serde_json::Value {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus")
            .join(rel);
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
    }

    fn parse_value(event: &'static str, body: &serde_json::Value) -> Event {
        parse_as(event, &serde_json::to_string(body).unwrap())
    }

    #[test]
    fn a_pull_request_names_the_repository_its_head_lives_in() {
        // GitHub's own example: a branch of the base repository.
        let opened = corpus("github-octokit-webhooks/pull_request/opened.payload.json");
        let e = parse_value("pull_request", &opened);
        assert_eq!(e.repo, Some(RepoName::new("Codertocat/Hello-World")));
        assert_eq!(e.head_repo, e.repo);
        assert_eq!(e.sender_id, None);

        // The same delivery from a fork (the corpus has no fork delivery): only the head's
        // repository differs, and that is what names it a fork.
        let mut fork = opened.clone();
        fork["pull_request"]["head"]["repo"]["full_name"] = "evil-outsider/Hello-World".into();
        fork["pull_request"]["head"]["repo"]["fork"] = true.into();
        let e = parse_value("pull_request", &fork);
        assert_eq!(e.repo, Some(RepoName::new("Codertocat/Hello-World")));
        assert_eq!(
            e.head_repo,
            Some(RepoName::new("evil-outsider/Hello-World"))
        );

        // A fork deleted since: GitHub sends `head.repo: null`; nothing is made up.
        let mut deleted = opened;
        deleted["pull_request"]["head"]["repo"] = serde_json::Value::Null;
        let e = parse_value("pull_request", &deleted);
        assert_eq!(e.head_repo, None);
        assert_eq!(e.clone_url, None);
    }

    #[test]
    fn a_comment_names_no_head_repository() {
        // Atlantis' fixture: a comment on a pull request (`issue.pull_request` set).
        let comment = corpus("atlantis-webhooks/github/githubIssueCommentEvent.json");
        let e = parse_value("issue_comment", &comment);
        assert!(matches!(e.kind, EventKind::Commented(_)), "{:?}", e.kind);
        assert_eq!(e.repo, Some(RepoName::new("runatlantis/atlantis-tests")));
        assert_eq!((e.head_repo, e.sender_id), (None, None));
    }

    #[test]
    fn the_event_type_is_inferred_when_the_header_is_missing() {
        assert_eq!(infer_event_type(br#"{"zen":"x","hook_id":1}"#), "ping");
        assert_eq!(
            infer_event_type(br#"{"action":"opened","pull_request":{}}"#),
            "pull_request"
        );
        assert_eq!(
            infer_event_type(br#"{"issue":{},"comment":{}}"#),
            "issue_comment"
        );
        assert_eq!(
            infer_event_type(br#"{"pull_request":{},"comment":{}}"#),
            "pull_request_review_comment"
        );
        assert_eq!(infer_event_type(b"[]"), "unknown");
    }
}
