//! Azure DevOps service hooks. There is no event header: the body's `eventType` names the event.
//! Branches are full refs (`refs/heads/main`) and are shortened. `git.pullrequest.updated` covers
//! every change; its `status` and `message.text` say which. Comment events come in two resource
//! versions: 2.0 carries the pull request; 1.0 only the comment, whose API links give the pull
//! request's number and the repository's id but not its name. A 1.0 comment that does not carry
//! the pull request is ignored with a reason that tells the operator to choose version 2.0.
//! Repositories are named `project/repo`; the organisation is fixed by `LANDFALL_VCS_URL`. The
//! sender of a comment is its author, with the identity `id` the permission API takes; the head
//! repository is the pull request's `forkSource.repository` when it comes from a fork, else its
//! own repository.

use serde::Deserialize;

use super::{ParseError, comment_changed, from_json, short_branch};
use crate::command::parse_comment;
use crate::event::{
    CommentId, CommitSha, DeliveryId, Event, EventKind, IgnoreReason, Provider, PullRequestNumber,
    RepoName,
};
use crate::vcs::joined_name;

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repo {
    name: Option<String>,
    project: Option<Named>,
    remote_url: Option<String>,
}

impl Repo {
    fn full_name(&self) -> Option<RepoName> {
        let project = self.project.as_ref().and_then(|p| p.name.as_deref());
        joined_name(project, self.name.as_deref())
    }
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    id: Option<String>,
    unique_name: Option<String>,
}

impl Identity {
    /// The identity's `uniqueName` (its sign-in name), never its `displayName`: anyone may
    /// take a display name, and `users:` rules and the author check compare this name.
    fn into_name(self) -> Option<String> {
        self.unique_name
    }
}

/// `forkSource`: the source branch of a pull request from a fork, with the fork.
#[derive(Deserialize)]
struct ForkRef {
    repository: Option<Repo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Commit {
    commit_id: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullRequest {
    #[serde(rename = "pullRequestId")]
    id: Option<u64>,
    status: Option<String>,
    repository: Option<Repo>,
    source_ref_name: Option<String>,
    target_ref_name: Option<String>,
    last_merge_source_commit: Option<Commit>,
    created_by: Option<Identity>,
    /// Who completed (or abandoned) it, where the payload says.
    closed_by: Option<Identity>,
    fork_source: Option<ForkRef>,
    is_draft: Option<bool>,
}

#[derive(Deserialize)]
struct Link {
    href: Option<String>,
}

/// A comment's API links (`.../_apis/git/repositories/{id}/pullRequests/{n}/threads/...`).
#[derive(Deserialize)]
struct CommentLinks {
    #[serde(rename = "self")]
    this: Option<Link>,
    threads: Option<Link>,
}

impl CommentLinks {
    /// The pull request's number, from the first link whose path has `pullRequests/{n}`.
    fn pull_request(&self) -> Option<PullRequestNumber> {
        self.number_after("pullRequests").map(PullRequestNumber)
    }

    /// The comment's id as `thread/comment` (a comment's own id counts within its thread).
    fn comment_id(&self, id: Option<u64>) -> Option<CommentId> {
        let thread = self.number_after("threads")?;
        Some(CommentId(format!("{thread}/{}", id?)))
    }

    /// The number after `segment` in the first link whose path has one.
    fn number_after(&self, segment: &str) -> Option<u64> {
        [&self.this, &self.threads]
            .into_iter()
            .flatten()
            .filter_map(|link| link.href.as_deref())
            .find_map(|href| number_in_path(href, segment))
    }
}

/// `number_in_path(".../pullRequests/12/threads/5", "pullRequests")` → 12.
fn number_in_path(href: &str, segment: &str) -> Option<u64> {
    let mut segments = href.split(['/', '?', '#']);
    segments.find(|s| s.eq_ignore_ascii_case(segment))?;
    segments.next()?.parse().ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comment {
    id: Option<u64>,
    content: Option<String>,
    author: Option<Identity>,
    #[serde(rename = "commentType")]
    kind: Option<String>,
    is_deleted: Option<bool>,
    #[serde(rename = "_links")]
    links: Option<CommentLinks>,
    /// When it was written, and when its text last changed: the event comes for edits too.
    published_date: Option<String>,
    last_content_updated_date: Option<String>,
}

/// The `resource`: a pull request, a comment (1.0), or a comment with its pull request (2.0).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    #[serde(flatten)]
    pull_request: PullRequest,
    #[serde(flatten)]
    comment_v1: Comment,
    comment: Option<Comment>,
    #[serde(rename = "pullRequest")]
    comment_pull_request: Option<PullRequest>,
}

#[derive(Deserialize)]
struct Message {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    id: Option<String>,
    event_type: Option<String>,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Payload {
    resource: Option<Resource>,
}

#[derive(Deserialize)]
struct RepoOnly {
    repository: Option<Repo>,
}

#[derive(Deserialize)]
struct PushPayload {
    resource: Option<RepoOnly>,
}

const P: Provider = Provider::AzureDevops;
const COMMENT_EVENT: &str = "ms.vss-code.git-pullrequest-comment-event";

pub(super) fn parse(body: &[u8]) -> Result<Event, ParseError> {
    let envelope: Envelope = from_json(P, "service hook", body)?;
    let event_type = envelope.event_type.unwrap_or_default();
    let delivery = envelope.id.map(DeliveryId::new);
    let message = envelope.message.and_then(|m| m.text).unwrap_or_default();
    if !event_type.starts_with("git.pullrequest.") && event_type != COMMENT_EVENT {
        // Events we do not handle are not parsed further, so their resource's shape cannot fail us.
        let reason = if event_type == "git.push" {
            IgnoreReason::BranchPush
        } else {
            IgnoreReason::UnhandledEvent(event_type.clone())
        };
        let mut event = Event::new(P, EventKind::Ignored(reason));
        event.delivery = delivery;
        event.repo = serde_json::from_slice::<PushPayload>(body)
            .ok()
            .and_then(|p| p.resource)
            .and_then(|r| r.repository)
            .and_then(|r| r.full_name());
        return Ok(event);
    }
    let payload: Payload = from_json(P, &event_type, body)?;
    let Some(resource) = payload.resource else {
        let mut event = Event::new(
            P,
            EventKind::Ignored(IgnoreReason::UnhandledEvent(event_type)),
        );
        event.delivery = delivery;
        return Ok(event);
    };
    let (pr, comment) = if event_type == COMMENT_EVENT {
        let comment = resource.comment.unwrap_or(resource.comment_v1);
        // Resource version 1.0 has no pull request beside the comment; take its number from the
        // comment's links, so that the log and the answer name it.
        let pr = resource.comment_pull_request.or_else(|| {
            let number = comment
                .links
                .as_ref()
                .and_then(CommentLinks::pull_request)?;
            Some(PullRequest {
                id: Some(number.0),
                ..PullRequest::default()
            })
        });
        (pr, Some(comment))
    } else {
        (Some(resource.pull_request), None)
    };
    let status = pr
        .as_ref()
        .and_then(|p| p.status.as_deref())
        .unwrap_or_default()
        .to_owned();
    let kind = match event_type.as_str() {
        "git.pullrequest.created" => EventKind::Opened,
        "git.pullrequest.merged" | "git.pullrequest.updated" if status == "completed" => {
            EventKind::Merged
        }
        "git.pullrequest.updated" if status == "abandoned" => EventKind::Closed,
        "git.pullrequest.updated" => updated_kind(&message),
        "git.pullrequest.merged" => EventKind::Ignored(IgnoreReason::UnhandledAction {
            event: event_type.clone(),
            action: "merge attempted".to_owned(),
        }),
        COMMENT_EVENT => comment_kind(
            comment.as_ref(),
            pr.as_ref().is_some_and(|p| p.repository.is_some()),
        ),
        _ => EventKind::Ignored(IgnoreReason::UnhandledEvent(event_type.clone())),
    };
    let mut event = Event::new(P, kind);
    event.delivery = delivery;
    let is_comment = comment.is_some();
    if let Some(comment) = comment {
        event.comment_id = comment
            .links
            .as_ref()
            .and_then(|l| l.comment_id(comment.id));
        event.comment = comment.content;
        if let Some(mut author) = comment.author {
            event.sender_id = author.id.take();
            event.sender = author.into_name();
        }
    }
    if let Some(pr) = pr {
        if !is_comment && let Some(mut cause) = cause(&event.kind, &pr) {
            event.sender_id = cause.id.take();
            event.sender = cause.into_name();
        }
        event.repo = pr.repository.as_ref().and_then(Repo::full_name);
        event.head_repo = head_repository(&pr, event.repo.as_ref());
        event.clone_url = pr.repository.and_then(|r| r.remote_url);
        event.number = pr.id.map(PullRequestNumber);
        event.head_sha = pr
            .last_merge_source_commit
            .and_then(|c| c.commit_id)
            .map(CommitSha::new);
        event.head_branch = pr.source_ref_name.as_deref().map(short_branch);
        event.base_branch = pr.target_ref_name.as_deref().map(short_branch);
        event.draft = pr.is_draft == Some(true);
        event.pr_author = pr.created_by.and_then(Identity::into_name);
    }
    Ok(event)
}

/// Who caused a pull request event, which the event does not say. A push or an opening is the
/// author's, as Atlantis reads it (a push to a branch of the repository needs Contribute, and a
/// fork's is never autoplanned); a completion is `closedBy`'s, else nobody's, and what needs to
/// know who merged (apply on merge) is then refused.
fn cause(kind: &EventKind, pr: &PullRequest) -> Option<Identity> {
    if *kind == EventKind::Merged {
        pr.closed_by.clone()
    } else {
        pr.created_by.clone()
    }
}

/// The repository `pr`'s source branch lives in: the fork for a pull request from a fork, else
/// `repo`, its own. Azure DevOps sets `forkSource` only for a fork, so a fork source that names
/// no repository, or one spelled like `repo`, is `None`: an unknown head, treated as a fork.
fn head_repository(pr: &PullRequest, repo: Option<&RepoName>) -> Option<RepoName> {
    let Some(fork) = &pr.fork_source else {
        return repo.cloned();
    };
    let head = fork.repository.as_ref().and_then(Repo::full_name)?;
    match repo {
        Some(repo) if repo.as_str().eq_ignore_ascii_case(head.as_str()) => None,
        _ => Some(head),
    }
}

/// Reads an active pull request's update from the message Azure DevOps writes for it.
fn updated_kind(message: &str) -> EventKind {
    let m = message.to_ascii_lowercase();
    if m.contains("updated the source branch") {
        EventKind::Pushed
    } else if m.contains("reactivated") {
        EventKind::Reopened
    } else if m.contains("published") {
        EventKind::Ready
    } else {
        EventKind::Ignored(IgnoreReason::UnhandledAction {
            event: "git.pullrequest.updated".to_owned(),
            action: message.to_owned(),
        })
    }
}

fn comment_kind(comment: Option<&Comment>, names_repository: bool) -> EventKind {
    let Some(comment) = comment else {
        return EventKind::Commented(None);
    };
    if comment.kind.as_deref() == Some("system") {
        return EventKind::Ignored(IgnoreReason::SystemComment);
    }
    if comment.is_deleted == Some(true) {
        return comment_changed("deleted");
    }
    if !names_repository {
        return EventKind::Ignored(IgnoreReason::AzureCommentWithoutRepository);
    }
    // An edit comes as the same event: only a comment as first written carries a command.
    if let (Some(published), Some(changed)) = (
        comment.published_date.as_deref(),
        comment.last_content_updated_date.as_deref(),
    ) && published != changed
    {
        return comment_changed("edited");
    }
    EventKind::Commented(comment.content.as_deref().and_then(parse_comment))
}

#[cfg(test)]
mod tests;
