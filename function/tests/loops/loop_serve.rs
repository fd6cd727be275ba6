//! The whole loop through `landfall-function serve`, the real binary, configured only by the
//! variables of the brief: a fake GitHub API (wiremock, backed by a local git repository that it
//! reads like GitHub reads its own), the embedded store, local dispatch of the real
//! `landfall-runner`, and the real `terraform` on a project made of `terraform_data`. Deliveries
//! are shaped like GitHub's (octokit's examples from the corpus), signed with
//! `X-Hub-Signature-256` and carry `X-GitHub-Delivery` ids.
//!
//! One story, in order: PR #1 opened → plan comment with "Plan: 1 to add"; PR #2 on the same
//! project → "locked by #1"; `landfall apply` before approval → refused; a push not yet delivered
//! → applying the old plan refused as stale; the push delivered → re-plan; `atlantis apply` →
//! applied; merge → locks released and PR #2 can plan; the same delivery twice → one run;
//! `landfall unlock` → released, and the store, opened afterwards, holds no lock and no plan.

use std::time::{Duration, Instant};

use crate::loop_common::steps::{
    apply_and_merge, apply_refused, initial_commit_and_policy, plan_and_lock, redelivery_and_unlock,
};
use crate::loop_common::{new_story, server_env, start_server};

#[test]
fn the_whole_loop_through_serve_with_real_terraform() {
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    let policy = initial_commit_and_policy(&story);
    let data = story.dir.path().join("data");
    let mut env = server_env(&mock, &data);
    env.push(("LANDFALL_POLICY", policy.display().to_string()));
    let server = start_server(&env, &story.dir.path().join("server.log"));
    let mut answers = Vec::new();
    let opened = plan_and_lock(&server, &mut story, &data, &mut answers);
    let b = apply_refused(&server, &mut story, &data);
    apply_and_merge(&server, &mut story, &mut answers, &b);
    let runs = redelivery_and_unlock(&server, &mut story, &data, &opened);

    drop(server);
    let embedded = landfall_function::store::EmbeddedStore::open_dir(&data).unwrap();
    runtime.block_on(async {
        use landfall_function::store::Store as _;
        assert_eq!(embedded.list_locks(None).await.unwrap(), vec![]);
        assert_eq!(embedded.list_plans("acme/infra", 1).await.unwrap(), vec![]);
        assert_eq!(embedded.list_plans("acme/infra", 2).await.unwrap(), vec![]);
    });
    for (id, pr, body) in &story.host.state.lock().unwrap().comments {
        eprintln!("--- comment {id} on #{pr} ---\n{body}");
    }
    let mut answers: Vec<u128> = answers.iter().map(Duration::as_millis).collect();
    answers.sort_unstable();
    eprintln!(
        "loop: {} runs, webhook answers {answers:?} ms, whole story {:.1} s",
        runs,
        started.elapsed().as_secs_f64()
    );
    assert!(
        answers.iter().all(|ms| *ms < 2_000),
        "the host is never kept waiting: {answers:?}"
    );
}
