//! The operator's switches on the real `landfall-function serve`, a fake GitHub, local dispatch
//! and the real `terraform`, checked by their effect: autoplan off (server-wide and per repo)
//! plans nothing while comments still plan; a command outside `LANDFALL_ALLOW_COMMANDS` is
//! answered and runs nothing; the global apply lock refuses every apply until cleared, the lock
//! still held and nothing applied; `silence_pr_comments` leaves a plan without changes
//! uncommented while its status is set. The server starts with a policy carrying every key of
//! Atlantis' server-side reference.

use std::path::Path;
use std::time::Duration;

use landfall_function::store::{ApplyLock, ApplyLocks as _, Store as _};

use crate::loop_common::{Server, Story, new_story, open_pr, run_dirs, server_env, start_server};
use crate::loop_moto::{dynamodb_env, moto_store};

/// Atlantis' server-side reference, every key at a value Landfall implements.
const EVERY_KEY: &str = r"repos:
- id: /.*/
  branch: /.*/
  repo_config_file: atlantis.yaml
  plan_requirements: []
  apply_requirements: []
  import_requirements: []
  workflow: custom
  allowed_overrides: [apply_requirements, plan_requirements, import_requirements, workflow, delete_source_branch_on_merge, repo_locking, repo_locks, policy_check, custom_policy_check, silence_pr_comments]
  allowed_workflows: [custom]
  allow_custom_workflows: false
  delete_source_branch_on_merge: false
  repo_locking: true
  repo_locks:
    mode: on_plan
  custom_policy_check: false
  policy_check: false
  autodiscover:
    mode: auto
    ignore_paths: [vendor/*]
  silence_pr_comments: [apply]
  pre_workflow_hooks:
  - run: echo pre-hook
    description: A hook before the workflow
  post_workflow_hooks:
  - run: echo post-hook
workflows:
  custom:
    plan:
      steps: [init, plan]
    apply:
      steps: [apply]
metrics:
  statsd:
    host: localhost
    port: 8125
";

/// Waits `for_what` long enough for an event's work to have shown, then checks nothing did.
fn nothing_happens(story: &Story, data: &Path, pr: u64) {
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(run_dirs(data), 0, "no run");
    assert!(story.comments(pr).is_empty(), "{:?}", story.comments(pr));
    assert!(story.host.state.lock().unwrap().statuses.is_empty());
}

fn state_file(story: &Story) -> String {
    std::fs::read_to_string(story.dir.path().join("state/terraform.tfstate")).unwrap_or_default()
}

#[test]
fn autoplan_off_plans_nothing_and_a_command_not_allowed_runs_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    story.commit(
        "main",
        &[("envs/app/main.tf", story.main_tf("v1"))],
        "initial",
    );
    let policy = story.dir.path().join("repos.yaml");
    std::fs::write(&policy, EVERY_KEY).unwrap();
    let data = story.dir.path().join("data");
    let mut env = server_env(&mock, &data);
    env.push(("LANDFALL_POLICY", policy.display().to_string()));
    env.push(("LANDFALL_ALLOW_COMMANDS", "plan,unlock".to_owned()));

    // Server-wide: LANDFALL_DISABLE_AUTOPLAN.
    let mut off = env.clone();
    off.push(("LANDFALL_DISABLE_AUTOPLAN", "true".to_owned()));
    let server = start_server(&off, &story.dir.path().join("server-off.log"));
    story.commit("change", &[("envs/app/main.tf", story.main_tf("v2"))], "v2");
    open_pr(&story, 1, "change", "octocat");
    let id = story.next_delivery();
    let opened = story.pull_request("opened", 1, false);
    assert_eq!(server.deliver("pull_request", &id, &opened).0, 202);
    nothing_happens(&story, &data, 1);
    drop(server);

    // Per repository: the policy's `disable_autoplan` for acme/infra only.
    std::fs::write(
        &policy,
        EVERY_KEY.replace(
            "\nworkflows:",
            "\n- id: acme/infra\n  disable_autoplan: true\nworkflows:",
        ),
    )
    .unwrap();
    let server = start_server(&env, &story.dir.path().join("server.log"));
    let id = story.next_delivery();
    let pushed = story.pull_request("synchronize", 1, false);
    assert_eq!(server.deliver("pull_request", &id, &pushed).0, 202);
    nothing_happens(&story, &data, 1);

    // Comments still plan.
    let id = story.next_delivery();
    let plan = story.comment(1, "atlantis plan");
    assert_eq!(server.deliver("issue_comment", &id, &plan).0, 202);
    story.wait_comment(1, 0, "Plan: 1 to add");
    assert_eq!(run_dirs(&data), 1);

    // `apply` is not on LANDFALL_ALLOW_COMMANDS: answered, nothing run, nothing applied.
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let apply = story.comment(1, "atlantis apply");
    assert_eq!(server.deliver("issue_comment", &id, &apply).0, 202);
    let reply = story.wait_comment(1, seen, "not allowed here");
    assert!(reply.contains("plan,unlock"), "{reply}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(run_dirs(&data), 1, "no run for a command not allowed");
    assert!(!state_file(&story).contains("\"v2\""), "nothing applied");
}

#[test]
fn the_apply_lock_refuses_every_apply_until_cleared_and_silenced_plans_stay_quiet() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (moto, _sdk, table) = moto_store(&runtime);

    let (mock, mut story) = new_story(&runtime);
    story.commit(
        "main",
        &[("envs/app/main.tf", story.main_tf("v1"))],
        "initial",
    );
    let policy = story.dir.path().join("repos.yaml");
    std::fs::write(
        &policy,
        "repos:\n- id: /.*/\n  silence_pr_comments: [plan]\n",
    )
    .unwrap();
    let data = story.dir.path().join("data");
    let env = dynamodb_env(server_env(&mock, &data), &moto, &policy);
    let server = start_server(&env, &story.dir.path().join("server.log"));

    // A plan with changes is shown although plans are silenced.
    story.commit("change", &[("envs/app/main.tf", story.main_tf("v2"))], "v2");
    open_pr(&story, 1, "change", "octocat");
    let id = story.next_delivery();
    let opened = story.pull_request("opened", 1, false);
    assert_eq!(server.deliver("pull_request", &id, &opened).0, 202);
    story.wait_comment(1, 0, "Plan: 1 to add");

    // The operator stops applies: refused, naming who and why; the lock stays, nothing applied.
    let freeze = ApplyLock {
        by: "ops-alice".to_owned(),
        since: landfall_function::store::now_secs(),
        reason: Some("change freeze".to_owned()),
    };
    assert_eq!(
        runtime.block_on(table.set_apply_lock(&freeze)).unwrap(),
        None
    );
    let runs = run_dirs(&data);
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let apply = story.comment(1, "landfall apply");
    assert_eq!(server.deliver("issue_comment", &id, &apply).0, 202);
    let refused = story.wait_comment(1, seen, "Apply is locked");
    assert!(
        refused.contains("ops-alice") && refused.contains("change freeze"),
        "{refused}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(run_dirs(&data), runs, "no run while applies are locked");
    assert!(!state_file(&story).contains("\"v2\""), "nothing applied");
    let locks = runtime.block_on(table.list_locks(None)).unwrap();
    assert_eq!(
        locks.len(),
        1,
        "the project's lock is still held: {locks:?}"
    );

    // Cleared: the same comment applies.
    runtime.block_on(table.clear_apply_lock()).unwrap();
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let apply = story.comment(1, "landfall apply");
    assert_eq!(server.deliver("issue_comment", &id, &apply).0, 202);
    story.wait_comment(1, seen, "Apply complete!");
    assert!(
        state_file(&story).contains("\"v2\""),
        "{}",
        state_file(&story)
    );

    silenced_plan_stays_quiet(&server, &mut story);
}

/// PR #2 adds a project whose plan changes nothing; plans are silenced: its status is set, and
/// no comment is posted.
fn silenced_plan_stays_quiet(server: &Server, story: &mut Story) {
    story.commit(
        "quiet",
        &[("envs/quiet/main.tf", "locals {\n  a = 1\n}\n".to_owned())],
        "a project with nothing to create",
    );
    open_pr(story, 2, "quiet", "octocat");
    let id = story.next_delivery();
    let opened = story.pull_request("opened", 2, false);
    assert_eq!(server.deliver("pull_request", &id, &opened).0, 202);
    let deadline = std::time::Instant::now() + Duration::from_mins(2);
    loop {
        let done = story
            .host
            .state
            .lock()
            .unwrap()
            .statuses
            .iter()
            .any(|(_, ctx, s)| ctx == "landfall/plan: envs/quiet" && s == "success");
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no plan status for envs/quiet"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(story.comments(2).is_empty(), "{:?}", story.comments(2));
}
