//! GitLab (project, group and system hooks). The kind is the body's `object_kind` (system hooks
//! say `X-Gitlab-Event: System Hook` for every kind). Merge-request `update`s are pushes only when
//! they carry `oldrev`, or change `target_branch` (a retarget); an update that clears the draft
//! flag (or the `Draft:` title prefix) marks the merge request ready. Namespaces nest, so the repo is the whole `path_with_namespace`.
//!
//! The sender's id (`sender_id`) is the delivery's `user.id`, the numeric id GitLab's member
//! APIs take. The head's project (`head_repo`) is the merge request's `source` project
//! (`object_attributes.source` in merge-request events, `merge_request.source` in notes): a fork
//! when it is not the project. Where the payload's ids and paths disagree (a source project id
//! other than the target's, under the project's own path), it is treated as a fork.

use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::auth::header;
use super::{ParseError, from_json, has_draft_prefix, numbered_comment};
use crate::command::parse_comment;
use crate::event::{
    CommitSha, Event, EventKind, IgnoreReason, Provider, PullRequestNumber, RepoName,
};

#[derive(Deserialize)]
struct Project {
    path_with_namespace: Option<String>,
    git_http_url: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: Option<u64>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Commit {
    id: Option<String>,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: Option<u64>,
    action: Option<String>,
    oldrev: Option<String>,
    source_branch: Option<String>,
    target_branch: Option<String>,
    last_commit: Option<Commit>,
    author_id: Option<u64>,
    source: Option<Project>,
    source_project_id: Option<u64>,
    target_project_id: Option<u64>,
    draft: Option<bool>,
    work_in_progress: Option<bool>,
}

impl MergeRequest {
    /// A draft by its flag (`draft`, before GitLab 14: `work_in_progress`), which GitLab sets
    /// from a `Draft:` title itself.
    fn is_draft(&self) -> bool {
        self.draft == Some(true) || self.work_in_progress == Some(true)
    }
}

#[derive(Deserialize)]
struct MergeRequestEvent {
    user: Option<User>,
    project: Option<Project>,
    object_attributes: Option<MergeRequest>,
    changes: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Note {
    id: Option<u64>,
    #[serde(rename = "note")]
    text: Option<String>,
    noteable_type: Option<String>,
    action: Option<String>,
    system: Option<bool>,
}

#[derive(Deserialize)]
struct NoteEvent {
    user: Option<User>,
    project: Option<Project>,
    object_attributes: Option<Note>,
    merge_request: Option<MergeRequest>,
}

#[derive(Deserialize)]
struct Sniff {
    object_kind: Option<String>,
    event_name: Option<String>,
    project: Option<Project>,
    user: Option<User>,
    user_username: Option<String>,
}

const P: Provider = Provider::Gitlab;

pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Event, ParseError> {
    let by_header = match header(headers, "x-gitlab-event") {
        Some("Merge Request Hook") => Some("merge_request"),
        Some("Note Hook") => Some("note"),
        _ => None,
    };
    let kind_name = if let Some(kind) = by_header {
        kind.to_owned()
    } else {
        let sniff: Sniff = from_json(P, "hook", body)?;
        match sniff.object_kind.or(sniff.event_name) {
            Some(kind) if kind == "merge_request" || kind == "note" => kind,
            other => {
                let kind = other.unwrap_or_else(|| {
                    header(headers, "x-gitlab-event")
                        .unwrap_or("unknown")
                        .to_owned()
                });
                let reason = match kind.as_str() {
                    "push" | "tag_push" => IgnoreReason::BranchPush,
                    _ => IgnoreReason::UnhandledEvent(kind),
                };
                let mut event = Event::new(P, EventKind::Ignored(reason));
                event.repo = project_name(sniff.project.as_ref());
                set_sender(&mut event, sniff.user.as_ref());
                event.sender = event.sender.or(sniff.user_username);
                return Ok(event);
            }
        }
    };
    Ok(if kind_name == "merge_request" {
        merge_request(&from_json(P, "merge_request", body)?)
    } else {
        note(&from_json(P, "note", body)?)
    })
}

fn merge_request(e: &MergeRequestEvent) -> Event {
    let mr = e.object_attributes.as_ref();
    let action = mr.and_then(|m| m.action.clone()).unwrap_or_default();
    let kind = match action.as_str() {
        "open" => EventKind::Opened,
        "reopen" => EventKind::Reopened,
        "close" => EventKind::Closed,
        "merge" => EventKind::Merged,
        "update" if mr.is_some_and(|m| m.oldrev.as_deref().is_some_and(|r| !r.is_empty())) => {
            EventKind::Pushed
        }
        "update" if became_ready(e.changes.as_ref()) => EventKind::Ready,
        // Retargeted (`changes.target_branch`): handled as the head pushed anew, as GitHub's.
        "update"
            if e.changes
                .as_ref()
                .is_some_and(|c| c.contains_key("target_branch")) =>
        {
            EventKind::Pushed
        }
        "update" => {
            let mut fields: Vec<String> = e
                .changes
                .iter()
                .flat_map(Map::keys)
                .filter(|k| {
                    !matches!(
                        k.as_str(),
                        "updated_at" | "updated_by_id" | "last_edited_at" | "last_edited_by_id"
                    )
                })
                .cloned()
                .collect();
            fields.sort();
            EventKind::Ignored(IgnoreReason::UpdateWithoutCommits(fields))
        }
        _ => EventKind::Ignored(IgnoreReason::UnhandledAction {
            event: "merge_request".to_owned(),
            action,
        }),
    };
    let mut event = Event::new(P, kind);
    event.repo = project_name(e.project.as_ref());
    fill_from_merge_request(&mut event, mr, e.user.as_ref(), e.project.as_ref());
    event.draft = mr.is_some_and(MergeRequest::is_draft);
    event
}

fn note(e: &NoteEvent) -> Event {
    let note = e.object_attributes.as_ref();
    let text = note.and_then(|n| n.text.clone());
    let kind = match note.and_then(|n| n.noteable_type.as_deref()) {
        Some("MergeRequest") if note.and_then(|n| n.system) == Some(true) => {
            EventKind::Ignored(IgnoreReason::SystemComment)
        }
        Some("MergeRequest") => match note.and_then(|n| n.action.as_deref()) {
            Some(action) if action != "create" => {
                EventKind::Ignored(IgnoreReason::CommentChanged(format!("{action}d")))
            }
            _ => EventKind::Commented(text.as_deref().and_then(parse_comment)),
        },
        Some("Issue") => EventKind::Ignored(IgnoreReason::NotAPullRequestComment("an issue")),
        Some("Commit") => EventKind::Ignored(IgnoreReason::NotAPullRequestComment("a commit")),
        Some("Snippet") => EventKind::Ignored(IgnoreReason::NotAPullRequestComment("a snippet")),
        _ => EventKind::Ignored(IgnoreReason::NotAPullRequestComment("something else")),
    };
    let on_mr = note.and_then(|n| n.noteable_type.as_deref()) == Some("MergeRequest");
    let mut event = Event::new(P, kind);
    event.repo = project_name(e.project.as_ref());
    if on_mr {
        let mr = e.merge_request.as_ref();
        fill_from_merge_request(&mut event, mr, e.user.as_ref(), e.project.as_ref());
    } else {
        set_sender(&mut event, e.user.as_ref());
    }
    event.comment = text;
    event.comment_id = numbered_comment(note.and_then(|n| n.id));
    event
}

fn fill_from_merge_request(
    event: &mut Event,
    mr: Option<&MergeRequest>,
    user: Option<&User>,
    project: Option<&Project>,
) {
    set_sender(event, user);
    let Some(mr) = mr else { return };
    event.head_repo = head_repo(mr, event.repo.as_ref());
    event.number = mr.iid.map(PullRequestNumber);
    event.head_sha = mr
        .last_commit
        .as_ref()
        .and_then(|c| c.id.clone())
        .map(CommitSha::new);
    event.head_branch.clone_from(&mr.source_branch);
    event.base_branch.clone_from(&mr.target_branch);
    // GitLab names only the author's id. The acting user is the author when the ids agree, or,
    // in older payloads whose user has no id, when the action is opening the merge request.
    if let Some(user) = user {
        let is_author = match (user.id, mr.author_id) {
            (Some(id), Some(author)) => id == author,
            _ => mr.action.as_deref() == Some("open"),
        };
        if is_author {
            event.pr_author.clone_from(&user.username);
        }
    }
    event.clone_url = mr
        .source
        .as_ref()
        .and_then(|s| s.git_http_url.clone())
        .or_else(|| project.and_then(|p| p.git_http_url.clone()));
}

/// The project's full path (`group/sub/project`).
fn project_name(project: Option<&Project>) -> Option<RepoName> {
    project
        .and_then(|p| p.path_with_namespace.clone())
        .map(RepoName::new)
}

/// The acting user: `sender` (the username) and `sender_id` (GitLab's numeric id).
fn set_sender(event: &mut Event, user: Option<&User>) {
    event.sender = user.and_then(|u| u.username.clone());
    event.sender_id = user.and_then(|u| u.id).map(|id| id.to_string());
}

/// The project the merge request's source branch lives in: `source.path_with_namespace`, or,
/// when the payload has no source path, the project itself if the source project id is the
/// target's. A source path equal to the project's under a different source project id is
/// contradictory: `None`, which is treated as a fork.
fn head_repo(mr: &MergeRequest, repo: Option<&RepoName>) -> Option<RepoName> {
    let source = mr
        .source
        .as_ref()
        .and_then(|s| s.path_with_namespace.as_deref())
        .filter(|p| !p.is_empty())
        .map(RepoName::new);
    let same_project = match (mr.source_project_id, mr.target_project_id) {
        (Some(s), Some(t)) => Some(s == t),
        _ => None,
    };
    match (source, same_project) {
        (Some(source), Some(false)) if Some(&source) == repo => None,
        (Some(source), _) => Some(source),
        (None, Some(true)) => repo.cloned(),
        (None, _) => None,
    }
}

/// Whether an update turned a draft into a ready merge request: `draft` or `work_in_progress` went
/// from true to false, or the title lost its `Draft:` prefix.
fn became_ready(changes: Option<&Map<String, Value>>) -> bool {
    let Some(changes) = changes else { return false };
    let flag_cleared = |key: &str| {
        changes.get(key).is_some_and(|c| {
            c["previous"] == Value::Bool(true) && c["current"] == Value::Bool(false)
        })
    };
    let title_cleared = changes.get("title").is_some_and(|c| {
        let prev = c["previous"].as_str().unwrap_or_default();
        let cur = c["current"].as_str().unwrap_or_default();
        has_draft_prefix(prev) && !has_draft_prefix(cur)
    });
    flag_cleared("draft") || flag_cleared("work_in_progress") || title_cleared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_body(body: &str) -> Event {
        parse(&HeaderMap::new(), body.as_bytes()).unwrap()
    }

    #[test]
    fn a_draft_is_known_by_its_flag_or_its_old_flag() {
        for attributes in [r#""draft":true"#, r#""work_in_progress":true"#] {
            let e = parse_body(&format!(
                r#"{{"object_kind":"merge_request","object_attributes":{{"iid":3,"action":"open",{attributes}}}}}"#
            ));
            assert!(e.draft, "{attributes}");
        }
        let e = parse_body(
            r#"{"object_kind":"merge_request","object_attributes":{"iid":3,"action":"open","draft":false,"title":"new network"}}"#,
        );
        assert!(!e.draft);
    }

    #[test]
    fn a_retargeted_merge_request_is_its_head_pushed_anew() {
        let e = parse_body(
            r#"{"object_kind":"merge_request","object_attributes":{"iid":3,"action":"update","target_branch":"release"},"changes":{"target_branch":{"previous":"main","current":"release"}}}"#,
        );
        assert_eq!(e.kind, EventKind::Pushed);
        assert_eq!(e.base_branch.as_deref(), Some("release"));
    }

    #[test]
    fn an_update_with_oldrev_is_a_push() {
        let e = parse_body(
            r#"{"object_kind":"merge_request","object_attributes":{"iid":3,"action":"update","oldrev":"abc"}}"#,
        );
        assert_eq!(e.kind, EventKind::Pushed);
    }

    #[test]
    fn an_update_clearing_the_draft_flag_is_ready() {
        for changes in [
            r#"{"draft":{"previous":true,"current":false}}"#,
            r#"{"work_in_progress":{"previous":true,"current":false}}"#,
            r#"{"title":{"previous":"Draft: x","current":"x"}}"#,
        ] {
            let body = format!(
                r#"{{"object_kind":"merge_request","object_attributes":{{"action":"update"}},"changes":{changes}}}"#
            );
            assert_eq!(parse_body(&body).kind, EventKind::Ready, "{changes}");
        }
    }

    #[test]
    fn deliveries_that_are_not_commands_or_pushes_are_ignored_with_their_reason() {
        let unhandled = |event: &str, action: &str| IgnoreReason::UnhandledAction {
            event: event.into(),
            action: action.into(),
        };
        let cases = [
            (
                r#"{"object_kind":"merge_request","object_attributes":{"action":"update"},"changes":{"draft":{"previous":false,"current":true},"updated_at":{}}}"#,
                IgnoreReason::UpdateWithoutCommits(vec!["draft".into()]),
            ),
            (
                r#"{"object_kind":"merge_request","object_attributes":{"action":"approved"}}"#,
                unhandled("merge_request", "approved"),
            ),
            // System hooks have no object_kind: they are named by their event_name.
            (
                r#"{"event_name":"project_create","path_with_namespace":"a/b"}"#,
                IgnoreReason::UnhandledEvent("project_create".into()),
            ),
            // System notes and edited notes are not commands.
            (
                r#"{"object_kind":"note","object_attributes":{"noteable_type":"MergeRequest","note":"atlantis plan","system":true}}"#,
                IgnoreReason::SystemComment,
            ),
            (
                r#"{"object_kind":"note","object_attributes":{"noteable_type":"MergeRequest","note":"atlantis plan","action":"update"}}"#,
                IgnoreReason::CommentChanged("updated".into()),
            ),
        ];
        for (body, reason) in cases {
            assert_eq!(parse_body(body).kind, EventKind::Ignored(reason), "{body}");
        }
    }

    #[test]
    fn the_sender_id_and_the_source_project_are_read_from_merge_request_events() {
        let e = parse_body(
            r#"{"object_kind":"merge_request","user":{"id":17,"username":"dev"},"project":{"path_with_namespace":"acme/infra"},
                "object_attributes":{"iid":3,"action":"open","source_project_id":9,"target_project_id":4,
                "source":{"path_with_namespace":"evil-outsider/infra"},"target":{"path_with_namespace":"acme/infra"}}}"#,
        );
        assert_eq!(e.sender_id.as_deref(), Some("17"));
        assert_eq!(e.head_repo, Some(RepoName::new("evil-outsider/infra")));
        let e = parse_body(
            r#"{"object_kind":"merge_request","user":{"id":17,"username":"dev"},"project":{"path_with_namespace":"acme/infra"},
                "object_attributes":{"iid":3,"action":"open","source_project_id":4,"target_project_id":4}}"#,
        );
        assert_eq!(e.head_repo, Some(RepoName::new("acme/infra")));
    }

    #[test]
    fn notes_take_the_source_project_from_the_merge_request() {
        let e = parse_body(
            r#"{"object_kind":"note","user":{"id":5,"username":"dev"},"project":{"path_with_namespace":"acme/infra"},
                "object_attributes":{"noteable_type":"MergeRequest","note":"landfall plan"},
                "merge_request":{"iid":3,"source":{"path_with_namespace":"fork/infra"}}}"#,
        );
        assert_eq!(
            (e.sender_id.as_deref(), e.head_repo),
            (Some("5"), Some(RepoName::new("fork/infra")))
        );
    }

    #[test]
    fn a_source_named_as_the_project_under_another_project_id_is_no_head_repository() {
        let e = parse_body(
            r#"{"object_kind":"merge_request","project":{"path_with_namespace":"acme/infra"},
                "object_attributes":{"iid":3,"action":"open","source_project_id":9,"target_project_id":4,
                "source":{"path_with_namespace":"acme/infra"}}}"#,
        );
        assert_eq!(e.head_repo, None);
        let e = parse_body(
            r#"{"object_kind":"merge_request","project":{"path_with_namespace":"acme/infra"},
                "object_attributes":{"iid":3,"action":"open"}}"#,
        );
        assert_eq!(e.head_repo, None, "nothing names the source: a fork");
    }

    #[test]
    fn the_author_is_named_only_when_the_actor_is_the_author() {
        let e = parse_body(
            r#"{"object_kind":"merge_request","user":{"id":1,"username":"a"},"object_attributes":{"action":"open","author_id":2}}"#,
        );
        assert_eq!((e.pr_author, e.sender.as_deref()), (None, Some("a")));
    }
}
