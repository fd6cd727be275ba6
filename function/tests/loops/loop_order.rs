//! `depends_on` across runs, through the real `landfall-function serve`, a fake GitHub, local
//! dispatch of the real runner and the real `terraform`: a chain `network` ← `database` ← `app`
//! whose middle project fails to plan. `network` is planned first and `database` only once
//! `network`'s run has ended; `app` is never dispatched: the comment says it was not run because
//! of `database`, and it holds no lock.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use landfall_function::run::{RunReport, RunStatus};

use crate::loop_common::{new_story, open_pr, server_env, start_server};

const ATLANTIS_YAML: &str = "version: 3
projects:
- name: network
  dir: network
- name: database
  dir: database
  depends_on: [network]
- name: app
  dir: app
  depends_on: [database]
";

fn data_resource(name: &str, value: &str) -> String {
    format!("resource \"terraform_data\" \"{name}\" {{\n  input = \"{value}\"\n}}\n")
}

/// Each dispatched run: its project's name, report status, and when it started and ended (its
/// log's creation, its exit file's last change).
fn runs(data: &Path) -> Vec<(String, RunStatus, SystemTime, SystemTime)> {
    let mut out = Vec::new();
    for run in std::fs::read_dir(data.join("runs")).unwrap().flatten() {
        let dir = run.path();
        let report: RunReport =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap())
                .unwrap();
        let started = std::fs::metadata(dir.join("runner.log"))
            .and_then(|m| m.created().or_else(|_| m.modified()))
            .unwrap();
        let ended = std::fs::metadata(dir.join("exit"))
            .and_then(|m| m.modified())
            .unwrap();
        let name = report.result.name.clone().unwrap_or_default();
        out.push((name, report.status, started, ended));
    }
    out.sort_by_key(|run| run.2);
    out
}

#[test]
fn a_chain_plans_in_order_and_a_failure_stops_its_dependents() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    story.commit(
        "main",
        &[
            ("atlantis.yaml", ATLANTIS_YAML.to_owned()),
            ("network/main.tf", data_resource("n", "v1")),
            ("database/main.tf", data_resource("d", "v1")),
            ("app/main.tf", data_resource("a", "v1")),
        ],
        "initial",
    );
    story.commit(
        "change",
        &[
            ("network/main.tf", data_resource("n", "v2")),
            // An unclosed block: `terraform init` fails on it.
            (
                "database/main.tf",
                "resource \"terraform_data\" \"d\" {\n".to_owned(),
            ),
            ("app/main.tf", data_resource("a", "v2")),
        ],
        "change every project, break the database",
    );
    open_pr(&story, 1, "change", "octocat");
    let data = story.dir.path().join("data");
    let server = start_server(
        &server_env(&mock, &data),
        &story.dir.path().join("server.log"),
    );

    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_mins(3);
    let comment = loop {
        let comments = story.comments(1);
        if let Some(done) = comments.iter().find(|c| c.contains("not run")) {
            break done.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no 'not run' comment: {comments:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        comment.contains("`database`, which this project depends on"),
        "{comment}"
    );

    let runs = runs(&data);
    let names: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["network", "database"], "app was never dispatched");
    assert_eq!(runs[0].1, RunStatus::Planned);
    assert_eq!(runs[1].1, RunStatus::Failed);
    assert!(
        runs[1].2 >= runs[0].3,
        "database started only after network's run ended"
    );
    drop(server);
    // The store is free to open once the server is gone: app holds no lock, the others do.
    let embedded = landfall_function::store::EmbeddedStore::open_dir(&data).unwrap();
    let locks = runtime
        .block_on(landfall_function::store::Store::list_locks(&embedded, None))
        .unwrap();
    let mut held: Vec<String> = locks.iter().map(|l| l.key.project_label()).collect();
    held.sort();
    assert_eq!(held, ["database", "network"]);
}
