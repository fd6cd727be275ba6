//! Speed of the loop's fan-out: a PR touching 10 projects, from the signed webhook sent to
//! `landfall-function serve` to all 10 runs dispatched (local dispatch), over 20 pushes. The
//! runner is a stub that exits at once (`LANDFALL_RUNNER`), so what is measured is the function:
//! the answer, the VCS calls (a local fake GitHub), selection, one lock transaction, ten plan
//! records, ten statuses and ten dispatches. Prints p50/p99.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use crate::loop_common::{new_story, open_pr, run_dirs, server_env, start_server};

const PROJECTS: usize = 10;
const PUSHES: usize = 20;

fn as_refs(files: &[(String, String)]) -> Vec<(&str, String)> {
    files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect()
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[test]
fn a_ten_project_push_is_answered_at_once_and_dispatched_fast() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    let files: Vec<(String, String)> = (0..PROJECTS)
        .map(|i| {
            (
                format!("envs/p{i:02}/main.tf"),
                "resource \"terraform_data\" \"x\" {\n  input = \"v1\"\n}\n".to_owned(),
            )
        })
        .collect();
    story.commit("main", &as_refs(&files), "initial");
    let changed: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.clone(), t.replace("v1", "v2")))
        .collect();
    story.commit("change", &as_refs(&changed), "v2");
    open_pr(&story, 1, "change", "octocat");

    let stub = story.dir.path().join("stub-runner");
    std::fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = story.dir.path().join("data");
    let mut env = server_env(&mock, &data);
    env.push(("LANDFALL_RUNNER", stub.display().to_string()));
    let server = start_server(&env, &story.dir.path().join("server.log"));

    let mut answers = Vec::new();
    let mut dispatched = Vec::new();
    for push in 0..PUSHES {
        let action = if push == 0 { "opened" } else { "synchronize" };
        if push > 0 {
            // A real push: a new head (a head planned already is not planned again).
            story.commit("change", &[("NOTES.md", format!("push {push}\n"))], "notes");
        }
        let body = story.pull_request(action, 1, false);
        let id = story.next_delivery();
        let started = Instant::now();
        let (status, answered) = server.deliver("pull_request", &id, &body);
        assert_eq!(status, 202);
        answers.push(answered);
        let want = PROJECTS * (push + 1);
        let deadline = started + Duration::from_secs(30);
        while run_dirs(&data) < want {
            assert!(
                Instant::now() < deadline,
                "push {push}: {} of {want} runs",
                run_dirs(&data)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        dispatched.push(started.elapsed());
        assert_eq!(run_dirs(&data), want, "one run per project and push");
        // Let the stub runs be recorded before the next push.
        story.wait_comment(1, push, "runner");
    }
    // An update that brings no new commit (Bitbucket Cloud sends one for a title edit) plans
    // nothing again.
    let runs = run_dirs(&data);
    let id = story.next_delivery();
    let body = story.pull_request("synchronize", 1, false);
    assert_eq!(server.deliver("pull_request", &id, &body).0, 202);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(run_dirs(&data), runs, "the same head is not planned twice");
    drop(server);
    answers.sort_unstable();
    dispatched.sort_unstable();
    eprintln!(
        "{PROJECTS}-project PR, {PUSHES} pushes: webhook answered p50 {:?} p99 {:?}; \
         webhook to all {PROJECTS} runs dispatched p50 {:?} p99 {:?}",
        percentile(&answers, 50),
        percentile(&answers, 99),
        percentile(&dispatched, 50),
        percentile(&dispatched, 99),
    );
    assert!(percentile(&answers, 99) < Duration::from_secs(2));
    assert!(percentile(&dispatched, 99) < Duration::from_secs(10));
}
