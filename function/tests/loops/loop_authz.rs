//! Who may change infrastructure, tried as an outsider would: the real `landfall-function
//! serve`, a fake GitHub that answers the documented permission, review and compare endpoints,
//! local dispatch of the real runner and the real `terraform`. Each attack is checked by its
//! effect (no run started, the state file unchanged, the lock still held) and by the one
//! comment that tells the PR why; the allowed paths (a writer plans, applies, unlocks) still
//! work.

use std::path::PathBuf;

use landfall_e2e::git;
use landfall_function::store::{EmbeddedStore, Store as _};

use crate::loop_common::{
    Pr, Server, Story, new_story, open_pr, run_dirs, server_env, start_server,
};

const OUTSIDER: &str = "evil-outsider";

/// The story's server, host and data, with what each step checks against.
struct Attack {
    /// The fake GitHub, answering until the story ends.
    _host: wiremock::MockServer,
    server: Server,
    story: Story,
    data: PathBuf,
    /// The state file before anything was applied.
    before: Option<Vec<u8>>,
}

impl Attack {
    fn state_file(&self) -> Option<Vec<u8>> {
        std::fs::read(self.story.dir.path().join("state/terraform.tfstate")).ok()
    }

    /// Delivers a comment by `login` on PR `number`; returns the reply containing `needle`.
    fn comment(&mut self, number: u64, login: &str, text: &str, needle: &str) -> String {
        let seen = self.story.comments(number).len();
        let id = self.story.next_delivery();
        let body = self.story.comment_by(number, text, login);
        let (status, _) = self.server.deliver("issue_comment", &id, &body);
        assert_eq!(status, 202, "{text}");
        self.story.wait_comment(number, seen, needle)
    }

    fn review(&self, login: &str, state: &str, commit: &str) {
        let mut host = self.story.host.state.lock().unwrap();
        host.reviews
            .push((1, login.to_owned(), state.to_owned(), commit.to_owned()));
    }

    /// Nothing happened: no new run, the state file as it was, and PR #1 still holds the
    /// project's lock, by its effect: PR #2 on the same project is told "locked by #1" and
    /// nothing runs for it.
    fn assert_nothing_changed(&mut self, runs: usize) {
        assert_eq!(run_dirs(&self.data), runs, "no run started");
        assert_eq!(self.state_file(), self.before, "nothing applied");
        if !self.story.host.state.lock().unwrap().prs.contains_key(&2) {
            let v3 = self.story.main_tf("v3");
            self.story
                .commit("other", &[("envs/app/main.tf", v3)], "v3");
            open_pr(&self.story, 2, "other", "octocat");
        }
        let seen = self.story.comments(2).len();
        let id = self.story.next_delivery();
        let body = self.story.pull_request("reopened", 2, false);
        let (status, _) = self.server.deliver("pull_request", &id, &body);
        assert_eq!(status, 202);
        self.story.wait_comment(2, seen, "locked by #1");
        assert_eq!(run_dirs(&self.data), runs, "nothing runs for PR #2");
    }
}

/// `main` with one project, the policy, the server, and PR #1 by a writer planned on open.
fn start(runtime: &tokio::runtime::Runtime) -> Attack {
    let (mock, mut story) = new_story(runtime);
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

    story.commit("change", &[("envs/app/main.tf", story.main_tf("v2"))], "v2");
    open_pr(&story, 1, "change", "octocat");
    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    assert_eq!(status, 202);
    story.wait_comment(1, 0, "Plan: 1 to add");
    let mut attack = Attack {
        _host: mock,
        server,
        story,
        data,
        before: None,
    };
    attack.before = attack.state_file();
    assert_eq!(run_dirs(&attack.data), 1);
    // Autoplan of a non-fork PR asks nothing: its branch is in the repository.
    assert_eq!(
        attack.story.host.state.lock().unwrap().permission_lookups,
        0
    );
    attack
}

fn outsiders_and_readers_are_refused(a: &mut Attack) {
    let refused = a.comment(1, OUTSIDER, "landfall plan -- -destroy", "refused");
    assert!(refused.contains("may not run `plan`"), "{refused}");
    assert!(refused.contains("write access"), "says who may: {refused}");
    let refused = a.comment(1, OUTSIDER, "landfall apply", "refused");
    assert!(refused.contains("may not run `apply`"), "{refused}");
    let refused = a.comment(1, OUTSIDER, "atlantis unlock", "refused");
    assert!(refused.contains("may not run `unlock`"), "{refused}");
    // One permission request per comment command, none more.
    assert_eq!(a.story.host.state.lock().unwrap().permission_lookups, 3);
    a.assert_nothing_changed(1);

    let mut host = a.story.host.state.lock().unwrap();
    host.roles.insert("triager".to_owned(), "triage".to_owned());
    drop(host);
    a.comment(1, "triager", "landfall apply", "may not run `apply`");
    let refused = a.comment(1, "octocat", "landfall apply -- -auto-approve", "refused");
    assert!(
        refused.contains("takes only `-p`, `-d` and `-w`"),
        "{refused}"
    );
    let refused = a.comment(1, "octocat", "landfall plan -- -lock=false", "refused");
    assert!(
        refused.contains("`-lock=false` is not allowed"),
        "{refused}"
    );
    a.assert_nothing_changed(1);
}

fn approvals_that_do_not_count_and_a_diverged_branch_are_refused(a: &mut Attack) {
    let head = git(&a.story.origin(), &["rev-parse", "change"]);
    // A drive-by user's approval at the head, and a writer's on an older commit.
    a.review(OUTSIDER, "APPROVED", &head);
    a.review("reviewer", "APPROVED", &"0".repeat(40));
    let refused = a.comment(1, "octocat", "landfall apply", "Refused");
    assert!(refused.contains("requirement `approved`"), "{refused}");
    a.assert_nothing_changed(1);

    // The writer approves at the head (their latest review decides), but `main` moved ahead.
    a.review("reviewer", "APPROVED", &head);
    a.story
        .commit("main", &[("README.md", "moved\n".to_owned())], "main moves");
    let refused = a.comment(1, "octocat", "landfall apply", "Refused");
    assert!(refused.contains("requirement `undiverged`"), "{refused}");
    assert!(!refused.contains("`approved`"), "{refused}");
    a.assert_nothing_changed(1);
}

fn the_writer_plans_and_applies_an_up_to_date_approved_branch(a: &mut Attack) {
    let repo = a.story.origin();
    git(&repo, &["checkout", "--quiet", "change"]);
    git(&repo, &["merge", "--quiet", "--no-edit", "main"]);
    git(&repo, &["checkout", "--quiet", "main"]);
    let head = git(&repo, &["rev-parse", "change"]);
    a.review("reviewer", "APPROVED", &head);
    a.comment(1, "octocat", "landfall plan", "Plan: 1 to add");

    // `main` requires CI and Landfall's own apply check: GitHub calls the PR `blocked`. CI has
    // not passed, so it is not mergeable.
    a.story.host.state.lock().unwrap().required_checks =
        vec!["ci/test".to_owned(), "landfall/apply".to_owned()];
    let refused = a.comment(1, "octocat", "landfall apply", "Refused");
    assert!(refused.contains("requirement `mergeable`"), "{refused}");
    a.assert_nothing_changed(2);
    // Once CI passed, only Landfall's own check blocks: its apply must not wait for itself.
    let ci = (head.clone(), "ci/test".to_owned(), "success".to_owned());
    a.story.host.state.lock().unwrap().statuses.push(ci);
    let seen = a.story.comments(1).len();
    let body = a.story.comment_by(1, "landfall apply", "octocat");
    let id = a.story.next_delivery();
    let (status, _) = a.server.deliver("issue_comment", &id, &body);
    assert_eq!(status, 202);
    let applied = a.story.wait_comment(1, seen, "Apply complete!");
    assert!(applied.contains("1 added"), "{applied}");
    assert_ne!(a.state_file(), a.before, "the writer's apply happened");

    // The same signed body again under a fresh delivery id (GitHub does not sign the id): a
    // replay, not handled again.
    let runs = run_dirs(&a.data);
    let comments = a.story.comments(1).len();
    let replay = a.story.next_delivery();
    let (status, _) = a.server.deliver("issue_comment", &replay, &body);
    assert_eq!(status, 202);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(run_dirs(&a.data), runs, "a replayed body starts no run");
    assert_eq!(a.story.comments(1).len(), comments, "and gets no comment");
}

fn a_fork_is_not_planned(a: &mut Attack) {
    let pwned = a.story.main_tf("pwned");
    a.story
        .commit("evil", &[("envs/app/main.tf", pwned)], "fork");
    a.story.host.state.lock().unwrap().prs.insert(
        3,
        Pr {
            head: "evil".to_owned(),
            author: OUTSIDER.to_owned(),
            merged: false,
            head_repo: format!("{OUTSIDER}/infra"),
        },
    );
    let runs = run_dirs(&a.data);
    let id = a.story.next_delivery();
    let body = a.story.pull_request("opened", 3, false);
    let (status, _) = a.server.deliver("pull_request", &id, &body);
    assert_eq!(status, 202);
    let skipped = a.story.wait_comment(3, 0, "Not planned");
    assert!(skipped.contains("fork"), "{skipped}");
    // Not even a writer's `landfall plan`: forks are not allowed by default.
    let refused = a.comment(3, "octocat", "landfall plan", "refused");
    assert!(refused.contains("allow_fork_prs"), "{refused}");
    assert_eq!(run_dirs(&a.data), runs, "nothing runs for a fork");
}

#[test]
fn outsiders_forks_and_unmet_requirements_change_nothing_and_writers_still_can() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut a = start(&runtime);
    outsiders_and_readers_are_refused(&mut a);
    approvals_that_do_not_count_and_a_diverged_branch_are_refused(&mut a);
    the_writer_plans_and_applies_an_up_to_date_approved_branch(&mut a);
    a_fork_is_not_planned(&mut a);

    a.comment(1, "octocat", "landfall unlock", "Locks released");
    assert_eq!(a.story.host.state.lock().unwrap().unauthorized, 0);
    let Attack { server, data, .. } = a;
    drop(server);
    let embedded = EmbeddedStore::open_dir(&data).unwrap();
    let locks = runtime.block_on(embedded.list_locks(None)).unwrap();
    assert!(locks.is_empty(), "{locks:?}");
}
