//! A run that cannot be dispatched holds no lock: `serve` with local dispatch of a runner
//! binary that does not exist. The PR is told the dispatch failed and that the lock was given
//! back, and the store, opened once the server is gone, holds no lock and no plan, so another
//! PR can plan the project.

use landfall_function::store::Store as _;

use crate::loop_common::{new_story, open_pr, server_env, start_server};

#[test]
fn a_plan_that_cannot_be_dispatched_gives_its_lock_back() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    story.commit(
        "main",
        &[("envs/app/main.tf", story.main_tf("v1"))],
        "initial",
    );
    story.commit("change", &[("envs/app/main.tf", story.main_tf("v2"))], "v2");
    open_pr(&story, 1, "change", "octocat");
    let data = story.dir.path().join("data");
    let mut env = server_env(&mock, &data);
    let missing = story.dir.path().join("no-such-runner");
    env.push(("LANDFALL_RUNNER", missing.display().to_string()));
    let server = start_server(&env, &story.dir.path().join("server.log"));

    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    assert_eq!(status, 202);
    let comment = story.wait_comment(1, 0, "lock was released");
    assert!(comment.contains("dispatch"), "{comment}");
    assert!(comment.contains("landfall plan"), "{comment}");
    drop(server);

    let embedded = landfall_function::store::EmbeddedStore::open_dir(&data).unwrap();
    runtime.block_on(async {
        assert_eq!(embedded.list_locks(None).await.unwrap(), vec![]);
        assert_eq!(embedded.list_plans("acme/infra", 1).await.unwrap(), vec![]);
    });
}
