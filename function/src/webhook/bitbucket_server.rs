//! Bitbucket Server and Data Center. The event type is in `X-Event-Key` and, unlike Bitbucket
//! Cloud, also in the body's `eventKey`. Repositories are named `PROJECT_KEY/slug`, as in the
//! host's URLs (`/projects/KEY/repos/slug`); the head repository is `fromRef.repository`, a fork
//! when it is not `toRef.repository` (personal forks live in `~USER` projects). The permission
//! API names people by user name, so there is no sender id.

use http::HeaderMap;
use serde::Deserialize;

use super::auth::header;
use super::{
    ParseError, comment_changed, from_json, head_spelled_as, numbered_comment, unhandled_key,
};
use crate::command::parse_comment;
use crate::event::{
    CommitSha, Event, EventKind, IgnoreReason, Provider, PullRequestNumber, RepoName,
};
use crate::vcs::joined_name;

#[derive(Deserialize)]
struct User {
    name: Option<String>,
    slug: Option<String>,
}

impl User {
    fn into_name(self) -> Option<String> {
        self.name.or(self.slug)
    }
}

#[derive(Deserialize)]
struct Project {
    key: Option<String>,
}

#[derive(Deserialize)]
struct CloneLink {
    href: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    clone: Vec<CloneLink>,
}

#[derive(Deserialize)]
struct Repo {
    slug: Option<String>,
    project: Option<Project>,
    links: Option<Links>,
}

impl Repo {
    fn full_name(&self) -> Option<RepoName> {
        let key = self.project.as_ref().and_then(|p| p.key.as_deref());
        joined_name(key, self.slug.as_deref())
    }

    fn http_clone_url(&self) -> Option<String> {
        self.links
            .as_ref()?
            .clone
            .iter()
            .find(|l| matches!(l.name.as_deref(), Some("http" | "https")))?
            .href
            .clone()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ref {
    display_id: Option<String>,
    id: Option<String>,
    latest_commit: Option<String>,
    repository: Option<Repo>,
}

#[derive(Deserialize)]
struct Participant {
    user: Option<User>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullRequest {
    id: Option<u64>,
    author: Option<Participant>,
    from_ref: Option<Ref>,
    to_ref: Option<Ref>,
    draft: Option<bool>,
}

#[derive(Deserialize)]
struct Comment {
    id: Option<u64>,
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    event_key: Option<String>,
    /// `pr:modified` (Data Center 8.18+): whether the pull request was a draft before.
    previous_draft: Option<bool>,
    /// `pr:modified`: the target branch before (sent whether or not it changed).
    previous_target: Option<Ref>,
    actor: Option<User>,
    pull_request: Option<PullRequest>,
    comment: Option<Comment>,
    repository: Option<Repo>,
}

const P: Provider = Provider::BitbucketServer;

/// A `pr:modified` whose `previousTarget` is not the pull request's target now.
fn retargeted(payload: &Payload) -> bool {
    let before = payload
        .previous_target
        .as_ref()
        .and_then(|r| r.id.as_deref());
    let now = payload
        .pull_request
        .as_ref()
        .and_then(|pr| pr.to_ref.as_ref());
    matches!((before, now.and_then(|r| r.id.as_deref())), (Some(b), Some(n)) if b != n)
}

pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Event, ParseError> {
    let header_key = header(headers, "x-event-key");
    let payload: Payload = from_json(P, header_key.unwrap_or("event"), body)?;
    // The signature covers the body, not the header: the body's `eventKey` says what happened,
    // and a header that names another event (a signed body sent again as something else) is
    // not believed.
    if let (Some(header_key), Some(body_key)) = (header_key, payload.event_key.as_deref())
        && header_key != body_key
    {
        let mismatch = IgnoreReason::EventKeyMismatch {
            header: header_key.to_owned(),
            body: format!("eventKey {body_key:?}"),
        };
        return Ok(Event::new(P, EventKind::Ignored(mismatch)));
    }
    let key = payload
        .event_key
        .clone()
        .or(header_key.map(str::to_owned))
        .unwrap_or_default();
    let retargeted = retargeted(&payload);
    let (comment_id, comment) = payload.comment.map_or((None, None), |c| (c.id, c.text));
    let kind = match key.as_str() {
        "pr:opened" => EventKind::Opened,
        "pr:from_ref_updated" => EventKind::Pushed,
        "pr:merged" => EventKind::Merged,
        "pr:declined" | "pr:deleted" => EventKind::Closed,
        "pr:comment:added" => EventKind::Commented(comment.as_deref().and_then(parse_comment)),
        "pr:comment:edited" => comment_changed("edited"),
        "pr:comment:deleted" => comment_changed("deleted"),
        // A draft marked ready for review.
        "pr:modified"
            if payload.previous_draft == Some(true)
                && payload
                    .pull_request
                    .as_ref()
                    .is_some_and(|pr| pr.draft != Some(true)) =>
        {
            EventKind::Ready
        }
        // Retargeted: handled as the head pushed anew, as on the other hosts.
        "pr:modified" if retargeted => EventKind::Pushed,
        "diagnostics:ping" => EventKind::Ping,
        "repo:refs_changed" => EventKind::Ignored(IgnoreReason::BranchPush),
        other => unhandled_key(other, "pr"),
    };
    let mut event = Event::new(P, kind);
    event.sender = payload.actor.and_then(User::into_name);
    event.comment = comment;
    event.comment_id = numbered_comment(comment_id);
    event.repo = payload.repository.as_ref().and_then(Repo::full_name);
    if let Some(pr) = payload.pull_request {
        event.number = pr.id.map(PullRequestNumber);
        event.pr_author = pr.author.and_then(|a| a.user).and_then(User::into_name);
        event.draft = pr.draft == Some(true);
        if let Some(to) = pr.to_ref {
            event.repo = to
                .repository
                .as_ref()
                .and_then(Repo::full_name)
                .or(event.repo);
            event.base_branch = to
                .display_id
                .or_else(|| to.id.as_deref().map(super::short_branch));
        }
        if let Some(from) = pr.from_ref {
            event.head_sha = from.latest_commit.map(CommitSha::new);
            event.head_branch = from
                .display_id
                .or_else(|| from.id.as_deref().map(super::short_branch));
            event.clone_url = from.repository.as_ref().and_then(Repo::http_clone_url);
            // Keys and slugs are case-insensitive: the same repository keeps one spelling.
            let head = from.repository.as_ref().and_then(Repo::full_name);
            event.head_repo = head.map(|head| head_spelled_as(event.repo.as_ref(), head.as_str()));
        }
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::with_event_key;

    #[test]
    fn every_documented_pull_request_key_maps_to_an_event() {
        let cases = [
            ("pr:opened", EventKind::Opened),
            ("pr:from_ref_updated", EventKind::Pushed),
            ("pr:merged", EventKind::Merged),
            ("pr:declined", EventKind::Closed),
            ("pr:deleted", EventKind::Closed),
            ("diagnostics:ping", EventKind::Ping),
            (
                "repo:refs_changed",
                EventKind::Ignored(IgnoreReason::BranchPush),
            ),
        ];
        for (key, kind) in cases {
            assert_eq!(with_event_key(P, key, "{}").kind, kind, "{key}");
        }
        assert!(matches!(
            with_event_key(P, "pr:modified", "{}").kind,
            EventKind::Ignored(IgnoreReason::UnhandledAction { .. })
        ));
        // A draft marked ready: planned as on the other hosts.
        let ready = r#"{"eventKey":"pr:modified","previousDraft":true,"pullRequest":{"id":1,"draft":false}}"#;
        assert_eq!(
            with_event_key(P, "pr:modified", ready).kind,
            EventKind::Ready
        );
        // Retargeted: its head pushed anew. `previousTarget` comes with every `pr:modified`,
        // a title or description edit too (where it is the target now).
        let retargeted = r#"{"eventKey":"pr:modified","previousTarget":{"id":"refs/heads/main","displayId":"main"},"pullRequest":{"id":1,"toRef":{"id":"refs/heads/release","displayId":"release"}}}"#;
        let e = with_event_key(P, "pr:modified", retargeted);
        assert_eq!(
            (e.kind, e.base_branch.as_deref()),
            (EventKind::Pushed, Some("release"))
        );
        let edited = retargeted.replace("release", "main");
        assert!(matches!(
            with_event_key(P, "pr:modified", &edited).kind,
            EventKind::Ignored(IgnoreReason::UnhandledAction { .. })
        ));
        let still = r#"{"eventKey":"pr:modified","previousDraft":true,"pullRequest":{"id":1,"draft":true}}"#;
        assert!(matches!(
            with_event_key(P, "pr:modified", still).kind,
            EventKind::Ignored(IgnoreReason::UnhandledAction { .. })
        ));
        assert!(matches!(
            with_event_key(P, "pr:reviewer:approved", "{}").kind,
            EventKind::Ignored(IgnoreReason::UnhandledAction { .. })
        ));
    }

    #[test]
    fn a_draft_pull_request_is_known_by_its_flag() {
        let e = with_event_key(
            P,
            "pr:opened",
            r#"{"eventKey":"pr:opened","pullRequest":{"id":1,"draft":true}}"#,
        );
        assert!(e.draft);
        let e = with_event_key(
            P,
            "pr:opened",
            r#"{"eventKey":"pr:opened","pullRequest":{"id":1}}"#,
        );
        assert!(!e.draft);
    }

    #[test]
    fn the_body_event_key_is_used_when_the_header_is_missing() {
        let e = parse(&HeaderMap::new(), br#"{"eventKey":"pr:merged"}"#).unwrap();
        assert_eq!(e.kind, EventKind::Merged);
    }

    #[test]
    fn a_header_that_names_another_event_than_the_signed_body_is_not_believed() {
        // An edit of an old comment to `landfall apply`, sent again as a new comment.
        let edited = r#"{"eventKey":"pr:comment:edited","comment":{"text":"landfall apply"},
            "pullRequest":{"id":1}}"#;
        let e = with_event_key(P, "pr:comment:added", edited);
        assert!(
            matches!(&e.kind, EventKind::Ignored(IgnoreReason::EventKeyMismatch { header, body })
                if header == "pr:comment:added" && body == "eventKey \"pr:comment:edited\""),
            "{:?}",
            e.kind
        );
        // An approval sent again as a decline.
        let approved = r#"{"eventKey":"pr:reviewer:approved","pullRequest":{"id":1}}"#;
        let e = with_event_key(P, "pr:declined", approved);
        assert!(matches!(
            e.kind,
            EventKind::Ignored(IgnoreReason::EventKeyMismatch { .. })
        ));
        // The same key in both: read as before.
        let e = with_event_key(P, "pr:comment:edited", edited);
        assert!(
            matches!(&e.kind, EventKind::Ignored(IgnoreReason::CommentChanged(how)) if how == "edited")
        );
    }

    #[test]
    fn the_repo_is_the_target_project_key_and_slug() {
        let e = with_event_key(
            P,
            "pr:opened",
            r#"{"pullRequest":{"id":1,"toRef":{"displayId":"main","repository":{"slug":"infra","project":{"key":"OPS"}}},
               "fromRef":{"id":"refs/heads/feature","latestCommit":"abc","repository":{"slug":"infra","project":{"key":"~ALICE"},
               "links":{"clone":[{"href":"ssh://x","name":"ssh"},{"href":"https://bb/scm/~alice/infra.git","name":"http"}]}}}}}"#,
        );
        assert_eq!(e.repo, Some(RepoName::new("OPS/infra")));
        assert_eq!(e.head_repo, Some(RepoName::new("~ALICE/infra")));
        assert_eq!(e.head_branch.as_deref(), Some("feature"));
        assert_eq!(
            e.clone_url.as_deref(),
            Some("https://bb/scm/~alice/infra.git")
        );
    }

    #[test]
    fn a_branch_of_the_target_repository_is_its_own_head_repository() {
        let e = with_event_key(
            P,
            "pr:comment:added",
            r#"{"actor":{"name":"dev"},"comment":{"text":"landfall plan"},"pullRequest":{"id":1,
               "toRef":{"displayId":"main","repository":{"slug":"infra","project":{"key":"OPS"}}},
               "fromRef":{"displayId":"feature","repository":{"slug":"Infra","project":{"key":"ops"}}}}}"#,
        );
        assert_eq!(e.head_repo, Some(RepoName::new("OPS/infra")));
        assert_eq!(e.head_repo, e.repo);
        assert_eq!(e.sender_id, None);
        // No source repository (a deleted fork): unknown, which later stages treat as a fork.
        let e = with_event_key(
            P,
            "pr:opened",
            r#"{"pullRequest":{"toRef":{"repository":{"slug":"infra","project":{"key":"OPS"}}},"fromRef":{"displayId":"x"}}}"#,
        );
        assert_eq!(e.head_repo, None);
    }

    /// A delivery from the shared corpus, read in place.
    fn corpus(rel: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
        std::fs::read(root.join(rel)).unwrap()
    }

    #[test]
    fn atlantis_fixtures_name_the_fork_project_as_head() {
        let dir = "atlantis-webhooks/bitbucket-server";
        let e = parse(
            &HeaderMap::new(),
            &corpus(&format!("{dir}/bitbucket-server-comment-event.json")),
        )
        .unwrap();
        assert_eq!(
            (e.repo, e.head_repo),
            (
                Some(RepoName::new("AT/atlantis-example")),
                Some(RepoName::new("FK/atlantis-example"))
            )
        );
        let e = parse(
            &HeaderMap::new(),
            &corpus(&format!("{dir}/bitbucket-server-pull-event-created.json")),
        )
        .unwrap();
        assert_eq!(e.head_repo, Some(RepoName::new("AT/atlantis-example")));
        assert_eq!(e.head_repo, e.repo);
    }
}
