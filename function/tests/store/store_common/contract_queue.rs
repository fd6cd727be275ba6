//! The store contract for queued execution order groups.

use landfall_function::run::{CommentThread, ProjectSpec, RunCommand};
use landfall_function::store::{
    HeadKey, LockKey, PullHeads, QueueKey, QueuedGroups, RunQueues, Store,
};

use landfall_function::store::keys::project_key;

use super::{REPO, project};

fn queue(pr: u64, trigger: &'static str) -> QueueKey<'static> {
    QueueKey {
        repo: REPO,
        pr,
        trigger,
    }
}

fn spec(dir: &str) -> landfall_function::run::RunSpec {
    landfall_function::run::RunSpec {
        provider: landfall_function::event::Provider::Github,
        repo: landfall_function::event::RepoName::new(REPO),
        head_repo: landfall_function::event::RepoName::new(REPO),
        pr: landfall_function::event::PullRequestNumber(1),
        head_sha: landfall_function::event::CommitSha::new("0".repeat(40)),
        head_branch: "change".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: "https://example.com/acme/infra.git".to_owned(),
        user: "octocat".to_owned(),
        pull_author: "octocat".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec::new(dir),
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: "t1".to_owned(),
        apply: None,
        report_back: None,
    }
}

/// The lock key of `spec(dir)`.
fn key(dir: &str) -> LockKey {
    spec(dir).lock_key()
}

pub async fn a_queued_group_is_taken_once_and_only_after_its_own_group(
    store: &(impl Store + RunQueues),
) {
    let thread = CommentThread::new(
        landfall_function::event::CommentId("7".to_owned()),
        "header".to_owned(),
    );
    let queued = QueuedGroups {
        thread: thread.clone(),
        current: vec![project_key(&key("a"))],
        groups: vec![vec![spec("b1"), spec("b2")], vec![spec("c")]],
    };
    assert_eq!(
        store.next_group(queue(1, "t1"), &key("a")).await.unwrap(),
        None
    );
    store.queue_groups(queue(1, "t1"), &queued).await.unwrap();
    // A project of no running group, another trigger or another PR takes nothing.
    assert_eq!(
        store.next_group(queue(1, "t1"), &project(9)).await.unwrap(),
        None
    );
    assert_eq!(
        store.next_group(queue(1, "t2"), &key("a")).await.unwrap(),
        None
    );
    assert_eq!(
        store.next_group(queue(2, "t1"), &key("a")).await.unwrap(),
        None
    );
    let taken = store
        .next_group(queue(1, "t1"), &key("a"))
        .await
        .unwrap()
        .expect("group a's end starts group b");
    assert_eq!(taken.thread, thread);
    assert_eq!(taken.ended, queued.current, "the group that ended");
    assert_eq!(taken.runs, vec![spec("b1"), spec("b2")]);
    // Group a ended once: a second report of it starts nothing more.
    assert_eq!(
        store.next_group(queue(1, "t1"), &key("a")).await.unwrap(),
        None
    );
    let last = store
        .next_group(queue(1, "t1"), &key("b2"))
        .await
        .unwrap()
        .expect("group b's end starts group c");
    assert_eq!(last.ended, [key("b1"), key("b2")].map(|k| project_key(&k)));
    assert_eq!(last.runs, vec![spec("c")]);
    assert_eq!(
        store.next_group(queue(1, "t1"), &key("b1")).await.unwrap(),
        None
    );
    assert_eq!(
        store.next_group(queue(1, "t1"), &key("c")).await.unwrap(),
        None
    );
}

/// What a plan of the whole PR selected is kept per PR and head (a named project apart from the
/// same directory unnamed), replaced by the next, and absent for any other head or PR.
pub async fn a_heads_selection_is_kept_per_pr_and_head_and_replaced(store: &impl PullHeads) {
    let head = "1".repeat(40);
    let at = |pr: u64, head: &'static str| HeadKey {
        repo: REPO,
        pr,
        head,
    };
    let at_head = HeadKey {
        repo: REPO,
        pr: 1,
        head: &head,
    };
    assert_eq!(store.selected(at_head).await.expect("selected"), None);
    let named = LockKey {
        project: Some("net|work".to_owned()),
        ..project(1)
    };
    let both = vec![project(1), named.clone()];
    store
        .put_selected(at_head, &both)
        .await
        .expect("put_selected");
    assert_eq!(store.selected(at_head).await.expect("selected"), Some(both));
    store
        .put_selected(at_head, &[])
        .await
        .expect("put_selected");
    assert_eq!(
        store.selected(at_head).await.expect("selected"),
        Some(Vec::new())
    );
    assert_eq!(store.selected(at(2, "1111")).await.expect("selected"), None);
    assert_eq!(store.selected(at(1, "2222")).await.expect("selected"), None);
    store
        .put_selected(at(2, "1111"), std::slice::from_ref(&named))
        .await
        .expect("put_selected");
    assert_eq!(
        store.selected(at_head).await.expect("selected"),
        Some(Vec::new())
    );
    assert_eq!(
        store.selected(at(2, "1111")).await.expect("selected"),
        Some(vec![named])
    );
}
