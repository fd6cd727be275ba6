//! The loop's story, told the same way to every deployment shape (`loop_serve.rs` with the
//! embedded store, `loop_moto.rs` with DynamoDB and S3, `loop_lambda_watch.rs` under the Lambda
//! emulator): each step delivers, then checks what the PR shows and how many runs were started.

use std::path::Path;
use std::time::Duration;

use super::{Server, Story, deliver_to, open_pr, run_dirs};

/// Where the story's deliveries go.
pub trait Deliver {
    /// Posts a signed GitHub delivery; returns the status and how long the answer took.
    fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, Duration);
}

impl Deliver for Server {
    fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, Duration) {
        Server::deliver(self, event, delivery, body)
    }
}

/// A Function URL path on the Lambda emulator's address.
pub struct FunctionUrl {
    /// `host:port`.
    pub addr: String,
    /// The path, `/lambda-url/<function>/`.
    pub path: String,
    /// How long an answer may take.
    pub timeout: Duration,
}

impl Deliver for FunctionUrl {
    fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, Duration) {
        deliver_to(&self.addr, &self.path, event, delivery, body, self.timeout)
    }
}

/// The story's start: `main` with one project, and the operator's policy (every repository
/// needs an approval before apply) written beside it; returns the policy's path.
pub fn initial_commit_and_policy(story: &Story) -> std::path::PathBuf {
    story.commit(
        "main",
        &[
            ("envs/app/main.tf", story.main_tf("v1")),
            ("README.md", "infra\n".to_owned()),
        ],
        "initial",
    );
    let policy = story.dir.path().join("repos.yaml");
    std::fs::write(
        &policy,
        "repos:\n  - id: /.*/\n    apply_requirements: [approved]\n",
    )
    .unwrap();
    policy
}

/// Steps 1 and 2; returns PR #1's opened delivery (id and body) to redeliver later.
pub fn plan_and_lock(
    server: &impl Deliver,
    story: &mut Story,
    data: &Path,
    answers: &mut Vec<Duration>,
) -> (String, Vec<u8>) {
    // 1. PR #1 opened → one plan, commented with Terraform's own "Plan: 1 to add".
    let a = story.commit("change", &[("envs/app/main.tf", story.main_tf("v2"))], "v2");
    open_pr(story, 1, "change", "octocat");
    let opened_id = story.next_delivery();
    let opened = story.pull_request("opened", 1, false);
    let (status, took) = server.deliver("pull_request", &opened_id, &opened);
    assert_eq!(status, 202);
    answers.push(took);
    let plan = story.wait_comment(1, 0, "Plan: 1 to add");
    assert!(plan.contains("envs/app"), "{plan}");
    assert!(plan.contains("landfall apply -d envs/app"), "{plan}");
    assert!(plan.contains(&a[..7]), "the plan names its commit: {plan}");
    assert_eq!(run_dirs(data), 1);
    {
        let state = story.host.state.lock().unwrap();
        assert!(
            state.statuses.iter().any(|(sha, ctx, s)| *sha == a
                && ctx == "landfall/plan: envs/app"
                && s == "success"),
            "{:?}",
            state.statuses
        );
        assert_eq!(state.unauthorized, 0);
        // The head's config and tree came from its archive, fetched without the token.
        assert_eq!(
            (state.archives, state.credentials_off_api, state.file_reads),
            (1, 0, 0)
        );
    }

    // 2. PR #2 on the same project → "locked by #1", nothing run for it.
    story.commit("other", &[("envs/app/main.tf", story.main_tf("v3"))], "v3");
    open_pr(story, 2, "other", "hubot");
    let id = story.next_delivery();
    let (status, took) =
        server.deliver("pull_request", &id, &story.pull_request("opened", 2, false));
    assert_eq!(status, 202);
    answers.push(took);
    let locked = story.wait_comment(2, 0, "locked by #1");
    assert!(locked.contains("not planned"), "{locked}");
    assert_eq!(run_dirs(data), 1, "no run for a locked project");

    (opened_id, opened)
}

/// Steps 3 and 4; returns the new head of PR #1.
pub fn apply_refused(server: &impl Deliver, story: &mut Story, data: &Path) -> String {
    // 3. `landfall apply` without the approval the policy requires → refused.
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment(1, "landfall apply"));
    assert_eq!(status, 202);
    let refused = story.wait_comment(1, seen, "Refused");
    assert!(refused.contains("must be approved"), "{refused}");
    assert_eq!(run_dirs(data), 1, "no run for a refused apply");

    // 4. A push whose delivery has not arrived yet; approved now: the old plan is stale.
    let b = story.commit("change", &[("README.md", "infra, v2\n".to_owned())], "docs");
    story.host.state.lock().unwrap().approved.insert(1);
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment(1, "landfall apply"));
    assert_eq!(status, 202);
    let stale = story.wait_comment(1, seen, "Refused");
    assert!(stale.contains("stale"), "{stale}");
    assert!(!stale.contains("approved"), "{stale}");
    assert_eq!(run_dirs(data), 1, "no run for a stale plan");

    b
}

/// Steps 5 and 6.
pub fn apply_and_merge(
    server: &impl Deliver,
    story: &mut Story,
    answers: &mut Vec<Duration>,
    b: &str,
) {
    // 5. The push arrives → re-planned at the new head; `atlantis apply` → applied.
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let (status, took) = server.deliver(
        "pull_request",
        &id,
        &story.pull_request("synchronize", 1, false),
    );
    assert_eq!(status, 202);
    answers.push(took);
    let replan = story.wait_comment(1, seen, "Plan: 1 to add");
    assert!(replan.contains(&b[..7]), "{replan}");
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment(1, "atlantis apply"));
    assert_eq!(status, 202);
    let applied = story.wait_comment(1, seen, "Apply complete!");
    assert!(applied.contains("Applied"), "{applied}");
    let state_file = std::fs::read_to_string(story.dir.path().join("state/terraform.tfstate"))
        .expect("the apply wrote the state");
    assert!(state_file.contains("\"v2\""), "{state_file}");

    // 6. Merge → locks released; PR #2 can plan now.
    story
        .host
        .state
        .lock()
        .unwrap()
        .prs
        .get_mut(&1)
        .unwrap()
        .merged = true;
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("closed", 1, true));
    assert_eq!(status, 202);
    let released = story.wait_comment(1, seen, "Locks released");
    assert!(released.contains("envs/app"), "{released}");
    let seen = story.comments(2).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment(2, "landfall plan"));
    assert_eq!(status, 202);
    let plan2 = story.wait_comment(2, seen, "Plan:");
    assert!(!plan2.contains("locked by"), "{plan2}");
}

/// Steps 7 and 8; returns the number of runs.
pub fn redelivery_and_unlock(
    server: &impl Deliver,
    story: &mut Story,
    data: &Path,
    opened: &(String, Vec<u8>),
) -> usize {
    let (opened_id, opened) = opened;
    // 7. The same delivery again → answered, nothing run, nothing commented.
    let runs = run_dirs(data);
    let comments = story.host.state.lock().unwrap().comments.len();
    let (status, _) = server.deliver("pull_request", opened_id, opened);
    assert_eq!(status, 202);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(run_dirs(data), runs, "a redelivery runs nothing");
    assert_eq!(story.host.state.lock().unwrap().comments.len(), comments);

    // 8. `landfall unlock` on PR #2 → released; the store, opened once the server is gone,
    // holds no lock and no plan.
    let seen = story.comments(2).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment(2, "landfall unlock"));
    assert_eq!(status, 202);
    story.wait_comment(2, seen, "Locks released");
    runs
}
