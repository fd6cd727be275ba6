//! Apply on merge and automerge through `landfall-function serve`, the real binary, with the
//! embedded store, local dispatch of the real runner and the real `terraform` (issue 18):
//!
//! - PR #1 merges with the tree it was planned at: its stored plan is applied, the lock given
//!   back.
//! - PR #2 merges after `main` moved on in the same project: the merge commit's tree differs,
//!   so the project is planned again at the merge commit and, as the policy allows re-planned
//!   applies, that plan is applied (both changes are in the state).
//! - PR #3, in a repository file with `automerge: true`, is applied by comment and only then
//!   merged, with the policy's method, at the applied head.

use std::time::{Duration, Instant};

use landfall_e2e::git;

use crate::loop_common::{Server, Story, open_pr, start_server, story_with_policy};

const POLICY: &str = "\
repos:
  - id: /.*/
    apply_on_merge: true
    apply_on_merge_replan: true
    automerge_method: squash
";

fn state_file(story: &Story) -> String {
    std::fs::read_to_string(story.dir.path().join("state/terraform.tfstate")).unwrap_or_default()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_mins(3);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Opens PR `n` from `branch` and waits for its plan.
fn open_and_plan(server: &Server, story: &mut Story, n: u64, branch: &str) {
    open_pr(story, n, branch, "octocat");
    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("opened", n, false));
    assert_eq!(status, 202);
    story.wait_comment(n, 0, "To apply this plan");
}

/// Merges PR `n` on the fake host: `main` moves to `merged` (fast-forward: the PR's head, or a
/// merge commit made on `main`), and the closed delivery is sent.
fn merge(server: &Server, story: &mut Story, n: u64, merged: &str) {
    git(&story.origin(), &["merge", "--quiet", "--ff-only", merged]);
    {
        let mut host = story.host.state.lock().unwrap();
        host.prs.get_mut(&n).unwrap().merged = true;
        host.merge_commits.insert(n, merged.to_owned());
    }
    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("closed", n, true));
    assert_eq!(status, 202);
}

fn resource(name: &str, value: &str) -> String {
    format!("resource \"terraform_data\" \"{name}\" {{\n  input = \"{value}\"\n}}\n")
}

#[test]
fn merged_plans_are_applied_and_automerge_waits_for_the_apply() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_mock, mut story, env, data) = story_with_policy(&runtime, POLICY);
    let server = start_server(&env, &story.dir.path().join("server.log"));
    let comments = |story: &Story, n: u64| format!("{:#?}", story.comments(n));

    // 1. Merged at the planned tree: the stored plan is applied, the lock released.
    let head = story.commit("one", &[("envs/app/main.tf", story.main_tf("v2"))], "v2");
    open_and_plan(&server, &mut story, 1, "one");
    let seen = story.comments(1).len();
    merge(&server, &mut story, 1, &head);
    story.wait_comment(1, seen, "applied on merge");
    assert!(state_file(&story).contains("\"v2\""));
    let runs = std::fs::read_dir(data.join("runs")).unwrap().count();
    assert_eq!(
        runs, 2,
        "its plan, then the apply of that stored plan: no new plan"
    );

    // 2. `main` moved on in the project before PR #2 merged: planned again at the merge
    // commit, and that plan applied.
    let pr_head = story.commit("two", &[("envs/app/main.tf", story.main_tf("v3"))], "v3");
    open_and_plan(&server, &mut story, 2, "two");
    story.commit(
        "main",
        &[("envs/app/extra.tf", resource("extra", "x1"))],
        "extra",
    );
    let origin = story.origin();
    git(
        &origin,
        &["merge", "--quiet", "--no-ff", "-m", "Merge #2", &pr_head],
    );
    let merge_commit = git(&origin, &["rev-parse", "HEAD"]);
    let seen = story.comments(2).len();
    merge(&server, &mut story, 2, &merge_commit);
    story.wait_comment(2, seen, "applied on merge");
    let state = state_file(&story);
    assert!(
        state.contains("\"v3\"") && state.contains("\"x1\""),
        "{state}"
    );
    let said = story.comments(2).join("\n");
    assert!(
        said.contains(&merge_commit[..7]),
        "the new plan names the merge commit: {said}"
    );

    // 3. Automerge: only after the apply succeeded, with the policy's method, at the head.
    story.commit(
        "main",
        &[("landfall.yaml", "version: 3\nautomerge: true\n".to_owned())],
        "automerge",
    );
    let three = story.commit("three", &[("envs/app/main.tf", story.main_tf("v4"))], "v4");
    open_and_plan(&server, &mut story, 3, "three");
    assert!(
        story.host.state.lock().unwrap().merges.is_empty(),
        "nothing is merged before it is applied"
    );
    let seen = story.comments(3).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment(3, "landfall apply"));
    assert_eq!(status, 202);
    story.wait_comment(3, seen, "Apply complete!");
    wait_for(
        "PR #3 is merged",
        || !story.host.state.lock().unwrap().merges.is_empty(),
        || comments(&story, 3),
    );
    let merges = story.host.state.lock().unwrap().merges.clone();
    assert_eq!(merges.len(), 1, "{merges:?}");
    assert_eq!(merges[0].0, 3);
    assert_eq!(merges[0].1["merge_method"], "squash");
    assert_eq!(merges[0].1["sha"], three.as_str());
    assert!(state_file(&story).contains("\"v4\""));
}
