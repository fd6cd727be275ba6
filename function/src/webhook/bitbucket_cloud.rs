//! Bitbucket Cloud. The event type lives only in `X-Event-Key` (`pullrequest:created`, ...); the
//! body never names it. Commit hashes are 12-character abbreviations that must be resolved through
//! the API before a plan is bound to them. `pullrequest:updated` fires for any change, commits or
//! not; it is reported as a push and the head SHA tells later stages whether anything moved.
//! The sender's id is `actor.uuid` (what the permission API takes); the head repository is
//! `pullrequest.source.repository.full_name` (a fork when it is not the destination).

use http::HeaderMap;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::auth::header;
use super::{
    ParseError, comment_changed, from_json, head_spelled_as, numbered_comment, unhandled_key,
};
use crate::command::parse_comment;
use crate::event::{
    CommitSha, Event, EventKind, IgnoreReason, Provider, PullRequestNumber, RepoName,
};

#[derive(Deserialize)]
struct Account {
    nickname: Option<String>,
    username: Option<String>,
    display_name: Option<String>,
    uuid: Option<String>,
}

impl Account {
    fn name(self) -> Option<String> {
        self.nickname.or(self.username).or(self.display_name)
    }
}

#[derive(Deserialize)]
struct Href {
    href: Option<String>,
}

#[derive(Deserialize)]
struct Links {
    html: Option<Href>,
}

#[derive(Deserialize)]
struct Repo {
    full_name: Option<String>,
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Hash {
    hash: Option<String>,
}

#[derive(Deserialize)]
struct Endpoint {
    branch: Option<Named>,
    commit: Option<Hash>,
    repository: Option<Repo>,
}

#[derive(Deserialize)]
struct PullRequest {
    id: Option<u64>,
    author: Option<Account>,
    source: Option<Endpoint>,
    destination: Option<Endpoint>,
    state: Option<String>,
    created_on: Option<String>,
    updated_on: Option<String>,
    draft: Option<bool>,
}

#[derive(Deserialize)]
struct Content {
    raw: Option<String>,
}

#[derive(Deserialize)]
struct Comment {
    id: Option<u64>,
    content: Option<Content>,
    deleted: Option<bool>,
}

#[derive(Deserialize)]
struct Payload {
    pullrequest: Option<PullRequest>,
    comment: Option<Comment>,
    actor: Option<Account>,
    repository: Option<Repo>,
    /// Set in approval events (`pullrequest:approved`, `unapproved`).
    approval: Option<IgnoredAny>,
    /// Set in change request events.
    changes_request: Option<IgnoredAny>,
}

const P: Provider = Provider::BitbucketCloud;

pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Event, ParseError> {
    let key = header(headers, "x-event-key");
    let payload: Payload = from_json(P, key.unwrap_or("pullrequest"), body)?;
    let key = key.map_or_else(|| infer_key(&payload), str::to_owned);
    // What only other events carry: a pull request event's body has none of it (a signed
    // approval sent again as `pullrequest:created` would plan as the approver).
    let carries = if payload.comment.is_some() {
        Some("a comment")
    } else if payload.approval.is_some() {
        Some("an approval")
    } else {
        payload.changes_request.as_ref().map(|_| "a change request")
    };
    let (comment_id, deleted, comment) = payload.comment.map_or((None, false, None), |c| {
        let text = c.content.and_then(|c| c.raw);
        (c.id, c.deleted == Some(true), text)
    });
    let kind = match key.as_str() {
        "pullrequest:created" => EventKind::Opened,
        "pullrequest:updated" => EventKind::Pushed,
        "pullrequest:fulfilled" => EventKind::Merged,
        "pullrequest:rejected" => EventKind::Closed,
        // A deleted comment is no command, whatever key its signed delivery is sent again under.
        "pullrequest:comment_created" if deleted => comment_changed("deleted"),
        "pullrequest:comment_created" => {
            EventKind::Commented(comment.as_deref().and_then(parse_comment))
        }
        "pullrequest:comment_updated" => comment_changed("updated"),
        "pullrequest:comment_deleted" => comment_changed("deleted"),
        "repo:push" => EventKind::Ignored(IgnoreReason::BranchPush),
        other => unhandled_key(other, "pullrequest"),
    };
    // The signature covers the body, not the header: a merge or a decline must be one by the
    // pull request's own state (a signed delivery of another event sent again as one is not).
    let state = payload
        .pullrequest
        .as_ref()
        .and_then(|pr| pr.state.as_deref());
    let expected = match kind {
        EventKind::Merged => Some("MERGED"),
        EventKind::Closed => Some("DECLINED"),
        _ => None,
    };
    let pull_request_event = matches!(
        kind,
        EventKind::Opened | EventKind::Pushed | EventKind::Merged | EventKind::Closed
    );
    let mismatch = match (expected, state) {
        (Some(expected), Some(state)) if state != expected => {
            Some(format!("pull request state {state:?}"))
        }
        _ => carries
            .filter(|_| pull_request_event)
            .map(|part| format!("a body carrying {part}")),
    };
    let kind = match mismatch {
        Some(body) => EventKind::Ignored(IgnoreReason::EventKeyMismatch {
            header: key.clone(),
            body,
        }),
        None => kind,
    };
    let mut event = Event::new(P, kind);
    event.repo = payload
        .repository
        .and_then(|r| r.full_name)
        .map(RepoName::new);
    if let Some(mut actor) = payload.actor {
        event.sender_id = actor.uuid.take();
        event.sender = actor.name();
    }
    event.comment = comment;
    event.comment_id = numbered_comment(comment_id);
    let mut head_repo = None;
    if let Some(pr) = payload.pullrequest {
        event.number = pr.id.map(PullRequestNumber);
        event.draft = pr.draft == Some(true);
        event.pr_author = pr.author.and_then(Account::name);
        if let Some(source) = pr.source {
            event.head_sha = source.commit.and_then(|c| c.hash).map(CommitSha::new);
            event.head_branch = source.branch.and_then(|b| b.name);
            head_repo = source.repository.as_ref().and_then(|r| r.full_name.clone());
            event.clone_url = source
                .repository
                .and_then(|r| r.links)
                .and_then(|l| l.html)
                .and_then(|h| h.href)
                .map(|href| format!("{href}.git"));
        }
        if let Some(destination) = pr.destination {
            event.base_branch = destination.branch.and_then(|b| b.name);
            // The pull request lives in the destination repository.
            if event.repo.is_none() {
                event.repo = destination
                    .repository
                    .and_then(|r| r.full_name)
                    .map(RepoName::new);
            }
        }
    }
    event.head_repo = head_repo.map(|name| head_spelled_as(event.repo.as_ref(), name));
    Ok(event)
}

/// Best guess at the event key of a payload saved without its headers.
fn infer_key(payload: &Payload) -> String {
    let Some(pr) = &payload.pullrequest else {
        return String::new();
    };
    if payload.comment.is_some() {
        return "pullrequest:comment_created".to_owned();
    }
    match pr.state.as_deref() {
        Some("MERGED") => "pullrequest:fulfilled",
        Some("DECLINED" | "SUPERSEDED") => "pullrequest:rejected",
        _ if pr.created_on.is_some() && pr.created_on == pr.updated_on => "pullrequest:created",
        _ => "pullrequest:updated",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{test_headers, with_event_key};

    #[test]
    fn the_event_key_header_decides_the_kind() {
        let body = r#"{"pullrequest":{"id":1,"state":"OPEN"}}"#;
        let cases = [
            ("pullrequest:created", "OPEN", EventKind::Opened),
            ("pullrequest:updated", "OPEN", EventKind::Pushed),
            ("pullrequest:fulfilled", "MERGED", EventKind::Merged),
            ("pullrequest:rejected", "DECLINED", EventKind::Closed),
        ];
        for (key, state, kind) in cases {
            let body = format!(r#"{{"pullrequest":{{"id":1,"state":"{state}"}}}}"#);
            assert_eq!(with_event_key(P, key, &body).kind, kind, "{key}");
        }
        // A merge or a decline of a pull request its signed body says is open (an approval's
        // delivery sent again under another key) is not believed.
        for key in ["pullrequest:fulfilled", "pullrequest:rejected"] {
            assert!(
                matches!(
                    with_event_key(P, key, body).kind,
                    EventKind::Ignored(IgnoreReason::EventKeyMismatch { .. })
                ),
                "{key}"
            );
        }
        assert!(matches!(
            with_event_key(P, "pullrequest:approved", body).kind,
            EventKind::Ignored(IgnoreReason::UnhandledAction { .. })
        ));
        // An approval's, a change request's or a comment's signed body sent again as a pull
        // request event is not believed either (it would plan as the approver).
        for part in [
            r#""approval":{"date":"2026-01-01T00:00:00Z"}"#,
            r#""changes_request":{"date":"2026-01-01T00:00:00Z"}"#,
            r#""comment":{"id":5,"content":{"raw":"lgtm"}}"#,
        ] {
            let signed = format!(r#"{{"pullrequest":{{"id":1,"state":"OPEN"}},{part}}}"#);
            for key in ["pullrequest:created", "pullrequest:updated"] {
                assert!(
                    matches!(
                        with_event_key(P, key, &signed).kind,
                        EventKind::Ignored(IgnoreReason::EventKeyMismatch { .. })
                    ),
                    "{key} {part}"
                );
            }
        }
        assert_eq!(
            with_event_key(P, "issue:created", "{}").kind,
            EventKind::Ignored(IgnoreReason::UnhandledEvent("issue:created".into()))
        );
    }

    #[test]
    fn a_draft_pull_request_is_known_by_its_flag() {
        let e = with_event_key(
            P,
            "pullrequest:created",
            r#"{"pullrequest":{"id":1,"state":"OPEN","draft":true}}"#,
        );
        assert!(e.draft);
        let e = with_event_key(
            P,
            "pullrequest:created",
            r#"{"pullrequest":{"id":1,"state":"OPEN"}}"#,
        );
        assert!(!e.draft);
    }

    #[test]
    fn without_the_header_the_key_is_inferred_from_the_state() {
        let parse_plain = |body: &str| parse(&HeaderMap::new(), body.as_bytes()).unwrap().kind;
        assert_eq!(
            parse_plain(r#"{"pullrequest":{"state":"MERGED"}}"#),
            EventKind::Merged
        );
        assert_eq!(
            parse_plain(r#"{"pullrequest":{"state":"OPEN","created_on":"t","updated_on":"t"}}"#),
            EventKind::Opened
        );
        assert_eq!(
            parse_plain("{}"),
            EventKind::Ignored(IgnoreReason::MissingEventType)
        );
    }

    #[test]
    fn a_fork_pull_request_names_the_fork_as_head_and_the_actor_by_uuid() {
        let e = with_event_key(
            P,
            "pullrequest:comment_created",
            r#"{"actor":{"nickname":"outsider","uuid":"{2b1c}"},
               "repository":{"full_name":"acme/infra"},
               "comment":{"content":{"raw":"landfall plan"}},
               "pullrequest":{"id":3,
                 "source":{"branch":{"name":"evil"},"commit":{"hash":"e0624da46d3a"},
                           "repository":{"full_name":"outsider/infra"}},
                 "destination":{"branch":{"name":"main"},"repository":{"full_name":"acme/infra"}}}}"#,
        );
        assert_eq!(e.repo, Some(RepoName::new("acme/infra")));
        assert_eq!(e.head_repo, Some(RepoName::new("outsider/infra")));
        assert_eq!(
            (e.sender.as_deref(), e.sender_id.as_deref()),
            (Some("outsider"), Some("{2b1c}"))
        );
    }

    #[test]
    fn a_branch_of_the_repository_itself_is_its_own_head_repository() {
        let e = with_event_key(
            P,
            "pullrequest:created",
            r#"{"repository":{"full_name":"acme/infra"},
               "pullrequest":{"source":{"repository":{"full_name":"ACME/Infra"}}}}"#,
        );
        assert_eq!(e.head_repo, e.repo);
        // A source repository the payload does not name (a deleted fork) is unknown.
        let e = with_event_key(
            P,
            "pullrequest:created",
            r#"{"repository":{"full_name":"acme/infra"},"pullrequest":{"source":{}}}"#,
        );
        assert_eq!((e.head_repo, e.sender_id), (None, None));
    }

    #[test]
    fn short_hashes_are_kept_and_flagged_as_abbreviated() {
        let e = with_event_key(
            P,
            "pullrequest:created",
            r#"{"pullrequest":{"source":{"commit":{"hash":"e0624da46d3a"}}}}"#,
        );
        assert!(e.head_sha.unwrap().is_abbreviated());
    }

    /// A delivery from the shared corpus, read in place.
    fn corpus(rel: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
        std::fs::read(root.join(rel)).unwrap()
    }

    #[test]
    fn atlantis_fixtures_from_a_fork_and_from_a_branch() {
        let headers = |key: &'static str| test_headers(&[("x-event-key", key)]);
        let e = parse(
            &headers("pullrequest:comment_created"),
            &corpus("atlantis-webhooks/bitbucket-cloud/bitbucket-cloud-comment-event.json"),
        )
        .unwrap();
        assert_eq!(e.repo, Some(RepoName::new("lkysow/atlantis-example")));
        assert_eq!(
            e.head_repo,
            Some(RepoName::new("lkysow-fork/atlantis-example"))
        );
        assert_eq!(
            e.sender_id.as_deref(),
            Some("{bf34a99b-8a11-452c-8fbc-bdffc340e584}")
        );
        let e = parse(
            &headers("pullrequest:updated"),
            &corpus("atlantis-webhooks/bitbucket-cloud/bitbucket-cloud-pull-event-updated.json"),
        )
        .unwrap();
        assert_eq!(e.head_repo, e.repo);
        assert!(e.head_repo.is_some());
    }
}
