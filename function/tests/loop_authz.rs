//! Who may change infrastructure, tried as an outsider would: the real `landfall-function
//! serve`, a fake GitHub that answers the documented permission, review and compare endpoints,
//! local dispatch of the real runner and the real `terraform`. Each attack is checked by its
//! effect (no run started, the state file unchanged, the lock still held) and by the one
//! comment that tells the PR why; the allowed paths (a writer plans, applies, unlocks) still
//! work.

mod loop_common;

use std::path::Path;

use landfall_function::store::{EmbeddedStore, Store as _};
use loop_common::{Pr, Story, git, new_story, open_pr, run_dirs, server_env, start_server};

const OUTSIDER: &str = "evil-outsider";

fn state_file(story: &Story) -> Option<Vec<u8>> {
    std::fs::read(story.dir.path().join("state/terraform.tfstate")).ok()
}

/// Whether PR #1 still holds the project's lock, by its effect: PR #2 on the same project is
/// told "locked by #1" and nothing runs for it.
fn assert_locked_by_1(server: &loop_common::Server, story: &mut Story, data: &Path) {
    if !story.host.state.lock().unwrap().prs.contains_key(&2) {
        story.commit("other", &[("envs/app/main.tf", story.main_tf("v3"))], "v3");
        open_pr(story, 2, "other", "octocat");
    }
    let runs = run_dirs(data);
    let seen = story.comments(2).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver(
        "pull_request",
        &id,
        &story.pull_request("reopened", 2, false),
    );
    assert_eq!(status, 202);
    story.wait_comment(2, seen, "locked by #1");
    assert_eq!(run_dirs(data), runs);
}

/// Delivers a comment by `login` on PR `number` and waits for the reply containing `needle`.
fn comment(
    server: &loop_common::Server,
    story: &mut Story,
    number: u64,
    login: &str,
    text: &str,
    needle: &str,
) -> String {
    let seen = story.comments(number).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment_by(number, text, login));
    assert_eq!(status, 202, "{text}");
    story.wait_comment(number, seen, needle)
}

#[test]
fn outsiders_forks_and_unmet_requirements_change_nothing_and_writers_still_can() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    story.commit(
        "main",
        &[("envs/app/main.tf", story.main_tf("v1"))],
        "initial",
    );
    let policy = story.dir.path().join("repos.yaml");
    std::fs::write(
        &policy,
        "repos:\n  - id: /.*/\n    apply_requirements: [approved, mergeable, undiverged]\n",
    )
    .unwrap();
    let data = story.dir.path().join("data");
    let mut env = server_env(&mock, &data);
    env.push(("LANDFALL_POLICY", policy.display().to_string()));
    let server = start_server(&env, &story.dir.path().join("server.log"));

    // A writer's PR is planned on open (no permission lookup: its branch is in the repository).
    story.commit("change", &[("envs/app/main.tf", story.main_tf("v2"))], "v2");
    open_pr(&story, 1, "change", "octocat");
    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    assert_eq!(status, 202);
    story.wait_comment(1, 0, "Plan: 1 to add");
    assert_eq!(run_dirs(&data), 1);
    assert_eq!(story.host.state.lock().unwrap().permission_lookups, 0);
    let state_before = state_file(&story);

    // An outsider plans with -destroy, applies and unlocks someone else's PR: each refused.
    let refused = comment(
        &server,
        &mut story,
        1,
        OUTSIDER,
        "landfall plan -- -destroy",
        "refused",
    );
    assert!(refused.contains("may not run `plan`"), "{refused}");
    assert!(refused.contains("write access"), "says who may: {refused}");
    let refused = comment(
        &server,
        &mut story,
        1,
        OUTSIDER,
        "landfall apply",
        "refused",
    );
    assert!(refused.contains("may not run `apply`"), "{refused}");
    let refused = comment(
        &server,
        &mut story,
        1,
        OUTSIDER,
        "atlantis unlock",
        "refused",
    );
    assert!(refused.contains("may not run `unlock`"), "{refused}");
    assert_eq!(run_dirs(&data), 1, "no run for an outsider");
    assert_eq!(state_file(&story), state_before, "nothing applied");
    assert_locked_by_1(&server, &mut story, &data);

    // A reader (triage) is no better; a writer's apply with Terraform arguments is refused.
    story
        .host
        .state
        .lock()
        .unwrap()
        .roles
        .insert("triager".to_owned(), "triage".to_owned());
    comment(
        &server,
        &mut story,
        1,
        "triager",
        "landfall apply",
        "may not run `apply`",
    );
    let refused = comment(
        &server,
        &mut story,
        1,
        "octocat",
        "landfall apply -- -auto-approve",
        "refused",
    );
    assert!(
        refused.contains("takes only `-p`, `-d` and `-w`"),
        "{refused}"
    );
    let refused = comment(
        &server,
        &mut story,
        1,
        "octocat",
        "landfall plan -- -lock=false",
        "refused",
    );
    assert!(
        refused.contains("`-lock=false` is not allowed"),
        "{refused}"
    );
    assert_eq!(run_dirs(&data), 1);

    // Approvals that do not count: a drive-by user's, and a writer's on an older commit.
    let head = git(&story.origin(), &["rev-parse", "change"]);
    {
        let mut state = story.host.state.lock().unwrap();
        state
            .reviews
            .push((1, OUTSIDER.to_owned(), "APPROVED".to_owned(), head.clone()));
        state.reviews.push((
            1,
            "reviewer".to_owned(),
            "APPROVED".to_owned(),
            "0".repeat(40),
        ));
    }
    let refused = comment(
        &server,
        &mut story,
        1,
        "octocat",
        "landfall apply",
        "Refused",
    );
    assert!(refused.contains("requirement `approved`"), "{refused}");
    assert_eq!(state_file(&story), state_before);

    // Approved at the head by a writer, but `main` moved ahead: `undiverged` refuses.
    // (The reviewer's latest review decides: approve again, at the head.)
    story.host.state.lock().unwrap().reviews.push((
        1,
        "reviewer".to_owned(),
        "APPROVED".to_owned(),
        head.clone(),
    ));
    story.commit("main", &[("README.md", "moved\n".to_owned())], "main moves");
    let refused = comment(
        &server,
        &mut story,
        1,
        "octocat",
        "landfall apply",
        "Refused",
    );
    assert!(refused.contains("requirement `undiverged`"), "{refused}");
    assert!(!refused.contains("`approved`"), "{refused}");
    assert_eq!(state_file(&story), state_before);
    assert_locked_by_1(&server, &mut story, &data);

    // The branch brought up to date, planned again and approved: the writer applies.
    let repo = story.origin();
    git(&repo, &["checkout", "--quiet", "change"]);
    git(&repo, &["merge", "--quiet", "--no-edit", "main"]);
    git(&repo, &["checkout", "--quiet", "main"]);
    let head = git(&repo, &["rev-parse", "change"]);
    story.host.state.lock().unwrap().reviews.push((
        1,
        "reviewer".to_owned(),
        "APPROVED".to_owned(),
        head,
    ));
    comment(
        &server,
        &mut story,
        1,
        "octocat",
        "landfall plan",
        "Plan: 1 to add",
    );
    let applied = comment(
        &server,
        &mut story,
        1,
        "octocat",
        "landfall apply",
        "Apply complete!",
    );
    assert!(applied.contains("1 added"), "{applied}");
    assert_ne!(
        state_file(&story),
        state_before,
        "the writer's apply happened"
    );

    // A fork PR: not planned on open, and a writer's `landfall plan` is refused too (forks are
    // not allowed by default).
    story.commit(
        "evil",
        &[("envs/app/main.tf", story.main_tf("pwned"))],
        "fork",
    );
    story.host.state.lock().unwrap().prs.insert(
        3,
        Pr {
            head: "evil".to_owned(),
            author: OUTSIDER.to_owned(),
            merged: false,
            head_repo: format!("{OUTSIDER}/infra"),
        },
    );
    let runs = run_dirs(&data);
    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("opened", 3, false));
    assert_eq!(status, 202);
    let skipped = story.wait_comment(3, 0, "Not planned");
    assert!(skipped.contains("fork"), "{skipped}");
    let refused = comment(
        &server,
        &mut story,
        3,
        "octocat",
        "landfall plan",
        "refused",
    );
    assert!(refused.contains("allow_fork_prs"), "{refused}");
    assert_eq!(run_dirs(&data), runs, "nothing runs for a fork");

    // The writer unlocks their own PR.
    comment(
        &server,
        &mut story,
        1,
        "octocat",
        "landfall unlock",
        "Locks released",
    );
    assert_eq!(story.host.state.lock().unwrap().unauthorized, 0);
    drop(server);
    let store = EmbeddedStore::open_dir(&data).unwrap();
    let locks = runtime.block_on(store.list_locks(None)).unwrap();
    assert!(locks.is_empty(), "{locks:?}");
}
