use super::*;

fn parse_str(body: &str) -> Event {
    parse(body.as_bytes()).unwrap()
}

#[test]
fn an_update_that_moves_the_source_branch_is_a_push() {
    let e = parse_str(
        r#"{"eventType":"git.pullrequest.updated","message":{"text":"Jamal Hartnett updated the source branch of pull request 1"},
           "resource":{"pullRequestId":1,"status":"active","sourceRefName":"refs/heads/feature/x","targetRefName":"refs/heads/main",
           "repository":{"name":"infra","project":{"name":"Ops"}}}}"#,
    );
    assert_eq!(e.kind, EventKind::Pushed);
    assert_eq!(
        (e.head_branch.as_deref(), e.base_branch.as_deref()),
        (Some("feature/x"), Some("main"))
    );
    assert_eq!(e.repo, Some(RepoName::new("Ops/infra")));
}

#[test]
fn abandoned_is_closed_and_reactivated_is_reopened() {
    let e =
        parse_str(r#"{"eventType":"git.pullrequest.updated","resource":{"status":"abandoned"}}"#);
    assert_eq!(e.kind, EventKind::Closed);
    let e = parse_str(
        r#"{"eventType":"git.pullrequest.updated","message":{"text":"X reactivated pull request 1"},"resource":{"status":"active"}}"#,
    );
    assert_eq!(e.kind, EventKind::Reopened);
}

#[test]
fn a_merge_attempt_that_did_not_complete_is_ignored() {
    let e = parse_str(r#"{"eventType":"git.pullrequest.merged","resource":{"status":"active"}}"#);
    assert!(matches!(
        e.kind,
        EventKind::Ignored(IgnoreReason::UnhandledAction { .. })
    ));
}

#[test]
fn system_comments_are_not_commands() {
    let e = parse_str(
        r#"{"eventType":"ms.vss-code.git-pullrequest-comment-event","resource":{"comment":{"content":"atlantis plan","commentType":"system"},"pullRequest":{"pullRequestId":2}}}"#,
    );
    assert_eq!(e.kind, EventKind::Ignored(IgnoreReason::SystemComment));
    assert_eq!(e.number, Some(PullRequestNumber(2)));
}

#[test]
fn a_version_one_comment_names_no_repository_and_asks_for_version_two() {
    let e = parse_str(
        r#"{"eventType":"ms.vss-code.git-pullrequest-comment-event","resource":{"content":"landfall plan","author":{"uniqueName":"a@b"},
           "_links":{"self":{"href":"https://dev.azure.com/org/_apis/git/repositories/4bc1/pullRequests/12/threads/5/comments/2"}}}}"#,
    );
    assert_eq!(
        e.kind,
        EventKind::Ignored(IgnoreReason::AzureCommentWithoutRepository)
    );
    assert!(
        e.view(None)
            .reason
            .unwrap()
            .contains("resource version to 2.0")
    );
    assert_eq!(
        (e.number, e.repo, e.sender.as_deref(), e.comment.as_deref()),
        (
            Some(PullRequestNumber(12)),
            None,
            Some("a@b"),
            Some("landfall plan")
        )
    );
    // Without links, nothing names the pull request either.
    let e = parse_str(
        r#"{"eventType":"ms.vss-code.git-pullrequest-comment-event","resource":{"content":"landfall plan"}}"#,
    );
    assert_eq!(
        (e.kind, e.number),
        (
            EventKind::Ignored(IgnoreReason::AzureCommentWithoutRepository),
            None
        )
    );
}

#[test]
fn a_version_one_comment_with_its_pull_request_is_a_command() {
    let e = parse_str(
        r#"{"eventType":"ms.vss-code.git-pullrequest-comment-event","resourceVersion":"1.0","resource":{"content":"landfall plan",
           "pullRequest":{"pullRequestId":7,"repository":{"name":"infra","project":{"name":"Ops"}}}}}"#,
    );
    assert!(matches!(e.kind, EventKind::Commented(Some(_))));
    assert_eq!(
        (e.number, e.repo),
        (Some(PullRequestNumber(7)), Some(RepoName::new("Ops/infra")))
    );
}

#[test]
fn the_pull_request_number_is_read_from_api_paths_only() {
    for (href, number) in [
        (
            "https://x/_apis/git/repositories/r/pullRequests/1/threads/5",
            Some(1),
        ),
        (
            "https://x/_apis/git/repositories/r/pullrequests/42",
            Some(42),
        ),
        ("https://x/_apis/git/repositories/r/pullRequests/", None),
        (
            "https://x/_apis/git/repositories/r/pullRequests/x/threads",
            None,
        ),
        ("https://x/_git/Fabrikam/pullrequest/1", None),
    ] {
        assert_eq!(number_in_path(href, "pullRequests"), number, "{href}");
    }
}

#[test]
fn a_comment_on_a_fork_pull_request_names_the_fork_and_the_author_by_id() {
    let e = parse_str(
        r#"{"eventType":"ms.vss-code.git-pullrequest-comment-event","resourceVersion":"2.0","resource":{
           "comment":{"content":"landfall plan","commentType":"text",
             "author":{"id":"54d125f7-69f7-4191-904f-c5b96b6261c8","uniqueName":"outsider@example.com"}},
           "pullRequest":{"pullRequestId":4,"status":"active",
             "repository":{"name":"infra","project":{"name":"Ops"}},
             "forkSource":{"name":"refs/heads/evil","repository":{"name":"infra-fork","project":{"name":"Outside"}}}}}}"#,
    );
    assert!(matches!(e.kind, EventKind::Commented(Some(_))));
    assert_eq!(e.repo, Some(RepoName::new("Ops/infra")));
    assert_eq!(e.head_repo, Some(RepoName::new("Outside/infra-fork")));
    assert_eq!(
        (e.sender.as_deref(), e.sender_id.as_deref()),
        (
            Some("outsider@example.com"),
            Some("54d125f7-69f7-4191-904f-c5b96b6261c8")
        )
    );
}

#[test]
fn a_pull_request_without_a_fork_source_is_its_own_head_repository() {
    let e = parse_str(
        r#"{"eventType":"git.pullrequest.created","resource":{"pullRequestId":1,"status":"active",
           "repository":{"name":"infra","project":{"name":"Ops"}}}}"#,
    );
    assert_eq!(e.head_repo, Some(RepoName::new("Ops/infra")));
    // Not a comment, and no `createdBy`: nobody is named as the sender.
    assert_eq!((e.sender, e.sender_id), (None, None));
    // A fork source whose repository is not named is an unknown head, treated as a fork.
    let e = parse_str(
        r#"{"eventType":"git.pullrequest.created","resource":{"pullRequestId":1,"status":"active",
           "repository":{"name":"infra","project":{"name":"Ops"}},"forkSource":{"name":"refs/heads/x"}}}"#,
    );
    assert_eq!(e.head_repo, None);
}

#[test]
fn the_corpus_comment_names_its_author_by_identity_id() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let body = std::fs::read(
        root.join("azuredevops-mcdafydd-go-azuredevops/git-pullrequest-comment-event-v2.json"),
    )
    .unwrap();
    let e = parse(&body).unwrap();
    assert_eq!(
        e.sender_id.as_deref(),
        Some("54d125f7-69f7-4191-904f-c5b96b6261c8")
    );
    // No forkSource: the pull request's own repository.
    assert_eq!(e.head_repo, Some(RepoName::new("Fabrikam/Fabrikam")));
    assert_eq!(e.head_repo, e.repo);
    // Microsoft's sample is an edit ("has edited a pull request comment"): no command.
    assert!(
        matches!(&e.kind, EventKind::Ignored(IgnoreReason::CommentChanged(how)) if how == "edited"),
        "{:?}",
        e.kind
    );
}

#[test]
fn a_draft_pull_request_is_known_by_is_draft() {
    for (flag, draft) in [("true", true), ("false", false)] {
        let e = parse_str(&format!(
            r#"{{"eventType":"git.pullrequest.created","resource":{{"pullRequestId":1,"status":"active","isDraft":{flag},
               "repository":{{"name":"infra","project":{{"name":"Ops"}}}}}}}}"#
        ));
        assert_eq!(e.draft, draft);
    }
}

#[test]
fn a_pull_request_event_is_its_authors_and_a_completion_its_closers_or_nobodys() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/azuredevops-mcdafydd-go-azuredevops");
    let read = |name: &str| parse(&std::fs::read(root.join(name)).unwrap()).unwrap();
    let author = (
        Some("fabrikamfiber4@hotmail.com"),
        Some("54d125f7-69f7-4191-904f-c5b96b6261c8"),
    );
    let created = read("git.pullrequest.created_test.json");
    assert_eq!(created.kind, EventKind::Opened);
    assert_eq!(
        (created.sender.as_deref(), created.sender_id.as_deref()),
        author
    );
    assert_eq!(created.pr_author.as_deref(), author.0);
    // Microsoft's sample completion names nobody who completed it: no sender.
    let merged = read("git.pullrequest.merged_test.json");
    assert_eq!(merged.kind, EventKind::Merged);
    assert_eq!((merged.sender, merged.sender_id), (None, None));
    assert_eq!(merged.pr_author.as_deref(), author.0);
    // One that does is `closedBy`'s, never the author's.
    let e = parse_str(
        r#"{"eventType":"git.pullrequest.merged","resource":{"pullRequestId":1,"status":"completed",
           "createdBy":{"id":"a1","uniqueName":"author@example.com"},
           "closedBy":{"id":"c1","uniqueName":"lead@example.com","displayName":"author@example.com"},
           "repository":{"name":"infra","project":{"name":"Ops"}}}}"#,
    );
    assert_eq!(
        (e.sender.as_deref(), e.sender_id.as_deref()),
        (Some("lead@example.com"), Some("c1"))
    );
}

#[test]
fn a_display_name_never_stands_for_the_sender() {
    let e = parse_str(
        r#"{"eventType":"ms.vss-code.git-pullrequest-comment-event","resourceVersion":"2.0","resource":{
           "comment":{"content":"landfall apply","commentType":"text",
             "author":{"id":"5f1c","displayName":"admin@example.com"}},
           "pullRequest":{"pullRequestId":4,"status":"active",
             "createdBy":{"id":"77aa","displayName":"Platform Lead"},
             "repository":{"name":"infra","project":{"name":"Ops"}}}}}"#,
    );
    assert_eq!((e.sender, e.pr_author), (None, None));
    assert_eq!(e.sender_id.as_deref(), Some("5f1c"));
}

#[test]
fn an_edited_comment_is_not_a_command() {
    let delivery = |published: &str, changed: &str| {
        parse_str(&format!(
            r#"{{"eventType":"ms.vss-code.git-pullrequest-comment-event","resourceVersion":"2.0","resource":{{
               "comment":{{"content":"landfall apply","commentType":"text",
                 "publishedDate":"{published}","lastUpdatedDate":"{changed}","lastContentUpdatedDate":"{changed}",
                 "author":{{"id":"54d125f7","uniqueName":"dev@example.com"}}}},
               "pullRequest":{{"pullRequestId":4,"status":"active",
                 "repository":{{"name":"infra","project":{{"name":"Ops"}}}}}}}}}}"#
        ))
    };
    let written = delivery("2026-01-02T10:00:00.1Z", "2026-01-02T10:00:00.1Z");
    assert!(
        matches!(written.kind, EventKind::Commented(Some(_))),
        "{:?}",
        written.kind
    );
    let edited = delivery("2026-01-02T10:00:00.1Z", "2026-01-05T09:30:00.2Z");
    assert!(
        matches!(&edited.kind, EventKind::Ignored(IgnoreReason::CommentChanged(how)) if how == "edited"),
        "{:?}",
        edited.kind
    );
}
