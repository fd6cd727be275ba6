//! Who may change infrastructure on Gitea, tried as an outsider would: the real
//! `landfall-function serve` with `LANDFALL_VCS=gitea`, a fake Gitea that answers the
//! documented collaborator-permission, review, pull and branch endpoints from a local git
//! repository (`loop_hosts/gitea.rs`), Gitea-shaped deliveries signed with `X-Gitea-Signature`,
//! local dispatch of the real runner and the real `terraform`. Each attack is checked by its
//! effect (no run started, the state file unchanged, the lock still held) and by the one comment
//! that tells the pull request why; the allowed paths (a writer plans, applies, unlocks) still
//! work.

use std::time::Instant;

use landfall_function::store::{EmbeddedStore, Store as _};

use crate::loop_common::{Server, run_dirs, start_server};
use crate::loop_hosts::gitea::Gitea;
use crate::loop_hosts::{
    Host as _, LogOnFailure, OUTSIDER, REVIEWER, WRITER, wait_comment, wait_handled, wait_log,
};

/// `login`'s comment `text` on PR `n`; waits for the reply containing `needle`.
fn command(
    server: &Server,
    story: &mut Gitea,
    n: u64,
    login: &str,
    text: &str,
    needle: &str,
) -> String {
    let seen = story.host.comments(n).len();
    story.deliver_comment(server, n, login, text);
    wait_comment(&story.host, n, seen, needle)
}

/// `login`'s comment `text` on PR `n`, which must be refused: once it is handled, exactly one
/// new comment, no status, no run, and, for a command refused outright, at most one permission
/// lookup. Returns the comment.
fn refused(server: &Server, story: &mut Gitea, n: u64, login: &str, text: &str) -> String {
    let seen = story.host.comments(n).len();
    let statuses = story.host.statuses();
    let lookups = story.host.state.lock().unwrap().permission_lookups;
    let runs = run_dirs(&story.ws.data());
    let id = story.deliver_comment(server, n, login, text);
    wait_handled(&story.ws.log(), &id);
    let new: Vec<String> = story.host.comments(n).split_off(seen);
    assert_eq!(new.len(), 1, "one comment for {text:?}: {new:#?}");
    assert_eq!(story.host.statuses(), statuses, "no status for {text:?}");
    assert_eq!(run_dirs(&story.ws.data()), runs, "no run for {text:?}");
    let note = new.into_iter().next().unwrap();
    // Authorization costs at most one lookup (the sender's); a requirement refusal also looks
    // up the approvers.
    let lookups = story.host.state.lock().unwrap().permission_lookups - lookups;
    if note.contains("refused:**") {
        assert!(lookups <= 1, "{lookups} permission lookups for {text:?}");
    }
    note
}

/// Whether PR #1 still holds the project's lock, by its effect: PR #2 on the same project is
/// told "locked by #1" and nothing runs for it.
fn assert_locked_by_1(server: &Server, story: &mut Gitea) {
    if !story.host.state.lock().unwrap().prs.contains_key(&2) {
        story.ws.commit(
            "other",
            &[("envs/app/main.tf", story.ws.main_tf("v3"))],
            "v3",
        );
        story.open_pr(2, "other", WRITER);
    }
    let runs = run_dirs(&story.ws.data());
    let seen = story.host.comments(2).len();
    let id = story.deliver_pr(server, "reopened", 2);
    wait_comment(&story.host, 2, seen, "locked by #1");
    // Handled to the end: the statuses it sets after its comment are not a later command's.
    wait_handled(&story.ws.log(), &id);
    assert_eq!(run_dirs(&story.ws.data()), runs);
}

/// An outsider, a reader and a writer with arguments `apply` does not take: each refused with
/// one comment, nothing run, nothing applied, the lock still held.
fn outsiders_are_refused(server: &Server, story: &mut Gitea, state_before: Option<&[u8]>) {
    // An outsider (no collaborator) plans with -destroy, applies and unlocks someone else's PR:
    // each refused with one comment.
    let note = refused(server, story, 1, OUTSIDER, "landfall plan -- -destroy");
    assert!(note.contains("may not run `plan`"), "{note}");
    assert!(note.contains("write access"), "says who may: {note}");
    let note = refused(server, story, 1, OUTSIDER, "landfall apply");
    assert!(note.contains("may not run `apply`"), "{note}");
    let note = refused(server, story, 1, OUTSIDER, "landfall unlock");
    assert!(note.contains("may not run `unlock`"), "{note}");
    assert_eq!(run_dirs(&story.ws.data()), 1, "no run for an outsider");
    assert_eq!(
        story.ws.state_file().as_deref(),
        state_before,
        "nothing applied"
    );
    assert_locked_by_1(server, story);

    // A reader is no better; a writer's apply with Terraform arguments is refused.
    let note = refused(server, story, 1, "reader", "landfall apply");
    assert!(note.contains("may not run `apply`"), "{note}");
    let note = refused(server, story, 1, WRITER, "landfall apply -- -auto-approve");
    assert!(note.contains("takes only `-p`, `-d` and `-w`"), "{note}");
}

/// `apply_requirements: [approved, undiverged]`: approvals that do not count, the base branch
/// moving ahead; then met, and the writer applies. Returns the apply's delivery id.
fn requirements_hold_until_met(
    server: &Server,
    story: &mut Gitea,
    state_before: Option<&[u8]>,
) -> String {
    // An approval by a non-collaborator does not count.
    story.review(1, OUTSIDER, "APPROVED");
    let note = refused(server, story, 1, WRITER, "landfall apply");
    assert!(note.contains("requirement `approved`"), "{note}");
    assert_eq!(story.ws.state_file().as_deref(), state_before);

    // Approved by an admin, but `main` moved ahead: `undiverged` refuses.
    story.review(1, REVIEWER, "APPROVED");
    story
        .ws
        .commit("main", &[("README.md", "moved\n".to_owned())], "main moves");
    let note = refused(server, story, 1, WRITER, "landfall apply");
    assert!(note.contains("requirement `undiverged`"), "{note}");
    assert!(!note.contains("`approved`"), "{note}");
    assert_eq!(story.ws.state_file().as_deref(), state_before);
    assert_locked_by_1(server, story);

    // The branch brought up to date and planned again: the approval given before is stale
    // (Gitea marks it so) and does not count; approved again at the head, the writer applies.
    story.ws.merge_main_into("change");
    command(server, story, 1, WRITER, "landfall plan", "Plan: 1 to add");
    let note = refused(server, story, 1, WRITER, "landfall apply");
    assert!(note.contains("requirement `approved`"), "{note}");
    story.review(1, REVIEWER, "APPROVED");
    let applied = command(
        server,
        story,
        1,
        WRITER,
        "landfall apply",
        "Apply complete!",
    );
    assert!(applied.contains("1 added"), "{applied}");
    assert_ne!(
        story.ws.state_file().as_deref(),
        state_before,
        "the writer's apply happened"
    );
    story.last_delivery()
}

/// A fork's PR (its head repository is the outsider's), then an AGit PR (anyone who may read can
/// open one by pushing to `refs/for/main`; Gitea names the base repository as its head's): each
/// is not planned on open, its author's `landfall plan` is refused, and so is a writer's, naming
/// `allow_fork_prs` (forks are not allowed by default).
fn forks_are_not_planned(server: &Server, story: &mut Gitea) {
    for (n, branch, agit) in [(3, "evil", false), (4, "agit", true)] {
        story.ws.commit(
            branch,
            &[("envs/app/main.tf", story.ws.main_tf(&format!("pwned-{n}")))],
            branch,
        );
        if agit {
            story.open_agit_pr(n, branch);
        } else {
            story.open_fork_pr(n, branch);
        }
        let runs = run_dirs(&story.ws.data());
        let id = story.deliver_pr(server, "opened", n);
        wait_handled(&story.ws.log(), &id);
        let skipped = story.host.comments(n);
        assert_eq!(skipped.len(), 1, "{skipped:#?}");
        let skipped = &skipped[0];
        assert!(skipped.contains("Not planned"), "{skipped}");
        assert!(skipped.contains("fork"), "{skipped}");
        refused(server, story, n, OUTSIDER, "landfall plan");
        let note = refused(server, story, n, WRITER, "landfall plan");
        assert!(note.contains("allow_fork_prs"), "{note}");
        assert_eq!(run_dirs(&story.ws.data()), runs, "nothing runs for PR {n}");
    }
}

#[test]
fn gitea_outsiders_forks_and_unmet_requirements_change_nothing_and_writers_still_can() {
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut story = Gitea::new(&runtime);
    let _log = LogOnFailure(story.ws.log());
    story.ws.commit(
        "main",
        &[("envs/app/main.tf", story.ws.main_tf("v1"))],
        "initial",
    );
    let policy = story
        .ws
        .policy("repos:\n  - id: /.*/\n    apply_requirements: [approved, undiverged]\n");
    let data = story.ws.data();
    let server = start_server(&story.env(&policy), &story.ws.log());

    // A writer's PR is planned on open, with no permission lookup: its branch is in the
    // repository.
    story.ws.commit(
        "change",
        &[("envs/app/main.tf", story.ws.main_tf("v2"))],
        "v2",
    );
    story.open_pr(1, "change", WRITER);
    story.deliver_pr(&server, "opened", 1);
    wait_comment(&story.host, 1, 0, "Plan: 1 to add");
    assert_eq!(run_dirs(&data), 1);
    {
        let state = story.host.state.lock().unwrap();
        assert_eq!(state.permission_lookups, 0);
    }
    let state_before = story.ws.state_file();

    outsiders_are_refused(&server, &mut story, state_before.as_deref());
    let apply = requirements_hold_until_met(&server, &mut story, state_before.as_deref());
    forks_are_not_planned(&server, &mut story);

    // The writer unlocks their own PR.
    command(
        &server,
        &mut story,
        1,
        WRITER,
        "landfall unlock",
        "Locks released",
    );

    // Replays change nothing: the writer's apply sent again, byte for byte, is a redelivery;
    // sent without its delivery id, it is refused.
    let (runs, seen) = (run_dirs(&data), story.host.comments(1).len());
    let status = story.sent.replay(&server.addr, &apply);
    assert!((200..300).contains(&status), "{status}");
    wait_log(&story.ws.log(), &apply, "redelivery: already handled");
    let status = story
        .sent
        .replay_without(&server.addr, &apply, &Gitea::DELIVERY_ID_HEADERS);
    assert_eq!(status, 400);
    assert_eq!(
        (run_dirs(&data), story.host.comments(1).len()),
        (runs, seen)
    );
    {
        let state = story.host.state.lock().unwrap();
        assert_eq!(state.unauthorized, 0);
        assert!(state.unanswered.is_empty(), "{:#?}", state.unanswered);
    }
    drop(server);
    let embedded = EmbeddedStore::open_dir(&data).unwrap();
    let locks = runtime.block_on(embedded.list_locks(None)).unwrap();
    assert!(locks.is_empty(), "{locks:?}");
    eprintln!("the Gitea story took {:.1?}", started.elapsed());
}
