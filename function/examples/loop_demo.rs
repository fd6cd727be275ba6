//! The Landfall function working with no cloud account, for `scripts/demo`: starts
//! `landfall-function serve` in local mode (embedded store, local dispatch of the real
//! `landfall-runner`, the real `terraform`), with a tiny built-in fake GitHub answering from a
//! local git repository that holds a sample `terraform_data` project; sends it a signed PR
//! delivery, then a `landfall apply` comment, then the merge; and prints the comments the PR
//! receives.
//!
//! Build the binaries first: `cargo build -p landfall-function --bins`.

#[path = "../tests/loop_common/mod.rs"]
mod loop_common;

use std::time::{Duration, Instant};

use loop_common::{new_story, open_pr, server_env, start_server};

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let (mock, mut story) = new_story(&runtime);
    let sample = |value: &str| {
        format!(
            "terraform {{\n  backend \"local\" {{\n    path = \"{}\"\n  }}\n}}\n\n\
             resource \"terraform_data\" \"greeting\" {{\n  input = \"{value}\"\n}}\n",
            story.dir.path().join("state/terraform.tfstate").display()
        )
    };
    story.commit(
        "main",
        &[(
            "README.md",
            "A sample infrastructure repository.\n".to_owned(),
        )],
        "initial",
    );
    story.commit(
        "add-greeting",
        &[("envs/demo/main.tf", sample("hello from landfall"))],
        "add a greeting",
    );
    open_pr(&story, 1, "add-greeting", "octocat");
    let data = story.dir.path().join("data");
    let server = start_server(
        &server_env(&mock, &data),
        &story.dir.path().join("server.log"),
    );
    println!(
        "landfall-function serve is listening on {} (embedded store in {}, local dispatch);\n\
         the fake GitHub API is at {}.\n",
        server.addr,
        data.display(),
        mock.uri()
    );

    let started = Instant::now();
    println!("==> acme/infra#1 opened (a signed `pull_request` delivery)");
    let id = story.next_delivery();
    let (status, took) =
        server.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    println!("    answered {status} in {took:?}\n");
    let plan = story.wait_comment(1, 0, "To apply this plan");
    print_comment(&plan);

    println!("==> comment on acme/infra#1: `landfall apply`");
    let id = story.next_delivery();
    let (status, took) = server.deliver("issue_comment", &id, &story.comment(1, "landfall apply"));
    println!("    answered {status} in {took:?}\n");
    let applied = story.wait_comment(1, 1, "Applied");
    print_comment(&applied);

    println!("==> acme/infra#1 merged");
    story
        .host
        .state
        .lock()
        .unwrap()
        .prs
        .get_mut(&1)
        .unwrap()
        .merged = true;
    let id = story.next_delivery();
    let (status, took) =
        server.deliver("pull_request", &id, &story.pull_request("closed", 1, true));
    println!("    answered {status} in {took:?}\n");
    let released = story.wait_comment(1, 2, "Locks released");
    print_comment(&released);

    let statuses = story.host.state.lock().unwrap().statuses.clone();
    println!("Commit statuses set:");
    for (sha, context, state) in statuses {
        println!("    {} {context}: {state}", &sha[..7]);
    }
    println!(
        "\nThe whole story took {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(100));
}

fn print_comment(body: &str) {
    println!("    ┌── comment on acme/infra#1");
    for line in body.lines() {
        println!("    │ {line}");
    }
    println!("    └──\n");
}
