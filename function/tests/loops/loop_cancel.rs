//! `landfall cancel` on the real `serve` binary, the real runner and `terraform`, DynamoDB on
//! moto: an apply stuck in a long `local-exec` is stopped within seconds, no Terraform or
//! provisioner process is left behind, and the PR keeps its lock.

use std::time::{Duration, Instant};

use landfall_function::store::Store as _;

use crate::loop_common::{Story, new_story, open_pr, server_env, start_server};
use crate::loop_moto::{dynamodb_env, moto_store};

/// A project whose apply sleeps in a provisioner for `marker` seconds.
fn slow_tf(story: &Story, marker: u32) -> String {
    format!(
        "terraform {{\n  backend \"local\" {{\n    path = \"{}\"\n  }}\n}}\n\n\
         resource \"terraform_data\" \"slow\" {{\n  input = \"v2\"\n\n  provisioner \"local-exec\" {{\n    command = \"sleep {marker}\"\n  }}\n}}\n",
        story.dir.path().join("state/terraform.tfstate").display()
    )
}

/// The processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) && !text.contains("loops-") {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

#[test]
fn a_cancel_stops_a_long_apply_within_seconds_and_keeps_the_lock() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (moto, _sdk, table) = moto_store(&runtime);
    let (mock, mut story) = new_story(&runtime);
    story.commit(
        "main",
        &[("envs/app/README.md", "app\n".to_owned())],
        "initial",
    );
    let policy = story.dir.path().join("repos.yaml");
    std::fs::write(&policy, "repos:\n- id: /.*/\n").unwrap();
    let data = story.dir.path().join("data");
    let env = dynamodb_env(server_env(&mock, &data), &moto, &policy);
    let server = start_server(&env, &story.dir.path().join("server.log"));

    let marker = 347;
    let sleeper = format!("sleep {marker}");
    story.commit(
        "slow",
        &[("envs/app/main.tf", slow_tf(&story, marker))],
        "slow",
    );
    open_pr(&story, 1, "slow", "octocat");
    let id = story.next_delivery();
    let opened = story.pull_request("opened", 1, false);
    assert_eq!(server.deliver("pull_request", &id, &opened).0, 202);
    story.wait_comment(1, 0, "Plan: 1 to add");

    let id = story.next_delivery();
    let apply = story.comment(1, "landfall apply");
    assert_eq!(server.deliver("issue_comment", &id, &apply).0, 202);
    wait_for("the provisioner's sleep", Duration::from_mins(2), || {
        !processes_with(&sleeper).is_empty()
    });

    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let cancel = story.comment(1, "landfall cancel");
    let asked = Instant::now();
    assert_eq!(server.deliver("issue_comment", &id, &cancel).0, 202);
    let said = story.wait_comment(1, seen, "**Cancelled** by @octocat");
    let took = asked.elapsed();
    assert!(said.contains("the apply of `envs/app`: stopped"), "{said}");
    eprintln!("cancel: the reply came {took:?} after the comment");
    wait_for("no provisioner left", Duration::from_secs(10), || {
        processes_with(&sleeper).is_empty()
    });
    let runs = data.join("runs").display().to_string();
    wait_for("no Terraform left", Duration::from_secs(10), || {
        processes_with(&runs).is_empty()
    });
    let state = std::fs::read_to_string(story.dir.path().join("state/terraform.tfstate"))
        .unwrap_or_default();
    // Interrupted in its provisioner, Terraform keeps the resource it created as tainted.
    assert!(
        !state.contains("\"v2\"") || state.contains("\"tainted\""),
        "the apply did not finish: {state}"
    );
    let locks = runtime.block_on(table.list_locks(None)).unwrap();
    assert_eq!(locks.len(), 1, "the lock stays with the PR: {locks:?}");
    drop(server);
}
