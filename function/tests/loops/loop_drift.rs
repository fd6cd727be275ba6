//! Drift detection end to end, shaped like production: the function under the Lambda runtime
//! emulator on moto's DynamoDB and S3, local dispatch of the real runner and the real
//! `terraform`, two `terraform_data` projects whose state lives in moto's S3. Both are applied
//! through a pull request; their state is then changed out of band; one scheduled invocation
//! (`{"landfall":"drift"}`, as EventBridge Scheduler sends it) finds both drifted: the `report`
//! project opens the tracking issue, fails its `landfall/drift` status and posts the webhook;
//! the `remediate` project is applied back to the code. The drift removed, the next check closes
//! the issue. A pull request holding a project's lock makes its check skip.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use landfall_e2e::{AWS_REGION, MotoServer, git};
use landfall_function::store::{DriftState, Drifts as _, DynamoStore, LockKey};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::lambda_watch::post_to;
use crate::loop_common::steps::{Deliver as _, FunctionUrl};
use crate::loop_common::{REPO, Story, new_story, open_pr, run_dirs};
use crate::loop_lambda_watch::start_function_on;

const STATE_BUCKET: &str = "drift-state";

/// The function's log, for a timed-out wait to show.
static LOG: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

fn project_tf(endpoint: &str, key: &str, value: &str) -> String {
    format!(
        r#"terraform {{
  backend "s3" {{
    bucket                      = "{STATE_BUCKET}"
    key                         = "{key}"
    region                      = "{AWS_REGION}"
    access_key                  = "test"
    secret_key                  = "test"
    endpoints                   = {{ s3 = "{endpoint}" }}
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }}
}}

resource "terraform_data" "app" {{
  input = "{value}"
}}
"#,
    )
}

const REPO_CONFIG: &str = "\
version: 3
projects:
- dir: report
  drift:
    schedule: rate(1 minute)
- dir: heal
  drift:
    schedule: rate(1 minute)
    mode: remediate
";

const POLICY: &str = "\
repos:
  - id: /.*/
drift:
  repositories: [acme/infra]
  allow_remediate: true
";

fn s3(moto: &MotoServer) -> aws_sdk_s3::Client {
    let sdk = crate::loop_moto::sdk_config(moto);
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The state object `key`, as text.
fn state(runtime: &tokio::runtime::Runtime, s3: &aws_sdk_s3::Client, key: &str) -> String {
    runtime.block_on(async {
        let object = s3
            .get_object()
            .bucket(STATE_BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap()
    })
}

/// Changes the state object `key` out of band: `from` becomes `to`, the serial goes up.
fn tamper(
    runtime: &tokio::runtime::Runtime,
    s3: &aws_sdk_s3::Client,
    key: &str,
    from: &str,
    to: &str,
) {
    let text = state(runtime, s3, key);
    assert!(text.contains(from), "{text}");
    let mut json: Value = serde_json::from_str(&text.replace(from, to)).unwrap();
    json["serial"] = Value::from(json["serial"].as_u64().unwrap() + 1);
    runtime.block_on(async {
        s3.put_object()
            .bucket(STATE_BUCKET)
            .key(key)
            .body(ByteStream::from(serde_json::to_vec_pretty(&json).unwrap()))
            .send()
            .await
            .unwrap();
    });
}

fn wait_until(what: &str, done: impl FnMut() -> bool) {
    wait_until_or(what, done, String::new);
}

/// [`wait_until`], saying `context()` too when it times out.
fn wait_until_or(what: &str, mut done: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_mins(3);
    while !done() {
        if Instant::now() > deadline {
            let tail = LOG
                .get()
                .and_then(|log| std::fs::read_to_string(log).ok())
                .unwrap_or_default();
            let lines: Vec<&str> = tail.lines().collect();
            panic!(
                "timed out waiting until {what}; {}\nthe function's log ends:\n{}",
                context(),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One scheduled invocation; its answer.
fn drift_sweep(emulator: &landfall_e2e::LambdaEmulator) -> Value {
    let (status, body) = post_to(
        emulator,
        "/2015-03-31/functions/landfall-function/invocations",
        &[],
        br#"{"landfall":"drift"}"#,
        Duration::from_mins(2),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["drift"].clone()
}

fn key(dir: &str) -> LockKey {
    LockKey::new(REPO, dir, "default")
}

/// Makes `dir`'s next check due (as if its schedule's interval had passed), or not.
fn set_due(runtime: &tokio::runtime::Runtime, store: &DynamoStore, dir: &str, due: bool) {
    runtime.block_on(async {
        let mut record = store.get_drift(&key(dir)).await.unwrap().unwrap();
        record.last_checked = if due {
            1
        } else {
            landfall_function::store::now_secs()
        };
        record.version += 1;
        assert!(store.put_drift(&record).await.unwrap());
    });
}

/// Step 1: both projects applied through PR #1, which merges into main.
fn apply_through_a_pull_request(
    runtime: &tokio::runtime::Runtime,
    url: &FunctionUrl,
    story: &mut Story,
    moto: &MotoServer,
) {
    story.commit(
        "change",
        &[
            (
                "report/main.tf",
                project_tf(&moto.endpoint(), "report.tfstate", "v2"),
            ),
            (
                "heal/main.tf",
                project_tf(&moto.endpoint(), "heal.tfstate", "v2"),
            ),
        ],
        "v2",
    );
    open_pr(story, 1, "change", "octocat");
    let id = story.next_delivery();
    let (status, _) = url.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    assert_eq!(status, 202);
    wait_until_or(
        "both projects are planned",
        || {
            story
                .comments(1)
                .iter()
                .any(|c| c.contains("Plan for dir `heal`") && c.contains("Plan for dir `report`"))
        },
        || format!("comments: {:#?}", story.comments(1)),
    );
    // The summary table counts what each plan does.
    let comment = story.comments(1).remove(0);
    assert!(comment.contains("| `heal` | ✅ changes | 1 |"), "{comment}");
    let id = story.next_delivery();
    let (status, _) = url.deliver("issue_comment", &id, &story.comment(1, "landfall apply"));
    assert_eq!(status, 202);
    let s3 = s3(moto);
    let applied = |key: &str| {
        runtime.block_on(async {
            let object = s3.get_object().bucket(STATE_BUCKET).key(key).send().await;
            match object {
                Ok(object) => object.body.collect().await.unwrap().to_vec(),
                Err(_) => Vec::new(),
            }
        })
    };
    wait_until_or(
        "both projects are applied",
        || {
            ["report.tfstate", "heal.tfstate"]
                .iter()
                .all(|key| String::from_utf8_lossy(&applied(key)).contains("\"v2\""))
        },
        || format!("comments: {:#?}", story.comments(1)),
    );
    // Merged once both applies have reported, as a user merges on the "Applied" comment: a
    // merge while an apply runs keeps its lock until the apply reports.
    wait_until_or(
        "both applies are recorded",
        || {
            story
                .comments(1)
                .iter()
                .any(|c| c.matches("**Applied.**").count() == 2)
        },
        || format!("comments: {:#?}", story.comments(1)),
    );
    let head = git(&story.origin(), &["rev-parse", "change"]);
    git(&story.origin(), &["merge", "--quiet", "--ff-only", &head]);
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
    let (status, _) = url.deliver("pull_request", &id, &story.pull_request("closed", 1, true));
    assert_eq!(status, 202);
    story.wait_comment(1, seen, "Locks released");
}

/// The story's world: the function under the emulator, the fake GitHub, moto, the webhook.
struct World {
    runtime: tokio::runtime::Runtime,
    story: Story,
    s3: aws_sdk_s3::Client,
    table: DynamoStore,
    emulator: landfall_e2e::LambdaEmulator,
    slack: MockServer,
    data: std::path::PathBuf,
    moto: MotoServer,
    _mock: MockServer,
}

impl World {
    /// `main` with the two projects, the policy sweeping the repository, the function started
    /// with the webhook; both projects applied through PR #1.
    fn start() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (mock, mut story) = new_story(&runtime);
        let slack = runtime.block_on(MockServer::start());
        runtime.block_on(
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200))
                .mount(&slack),
        );
        let moto = MotoServer::start().expect("moto starts (run scripts/install-tools)");
        moto.create_bucket(STATE_BUCKET).unwrap();
        story.commit(
            "main",
            &[
                ("landfall.yaml", REPO_CONFIG.to_owned()),
                (
                    "report/main.tf",
                    project_tf(&moto.endpoint(), "report.tfstate", "v1"),
                ),
                (
                    "heal/main.tf",
                    project_tf(&moto.endpoint(), "heal.tfstate", "v1"),
                ),
            ],
            "initial",
        );
        let policy = story.dir.path().join("repos.yaml");
        std::fs::write(&policy, POLICY).unwrap();
        let log = story.dir.path().join("function.log");
        let _ = LOG.set(log.clone());
        let hook = format!("{}/services/T000/B000/XXXX", slack.uri());
        let (emulator, moto, table) = start_function_on(
            &runtime,
            &mock,
            &story,
            &log,
            &policy,
            moto,
            &[("LANDFALL_DRIFT_WEBHOOK_URL", hook)],
        );
        let url = FunctionUrl {
            addr: emulator.addr(),
            path: emulator.function_url_path(),
            timeout: Duration::from_mins(2),
        };
        apply_through_a_pull_request(&runtime, &url, &mut story, &moto);
        World {
            s3: s3(&moto),
            data: story.dir.path().join("data"),
            runtime,
            story,
            table,
            emulator,
            slack,
            moto,
            _mock: mock,
        }
    }

    fn state(&self, key: &str) -> String {
        state(&self.runtime, &self.s3, key)
    }

    fn tamper(&self, key: &str, from: &str, to: &str) {
        tamper(&self.runtime, &self.s3, key, from, to);
    }

    fn record(&self, dir: &str) -> Option<landfall_function::store::DriftRecord> {
        self.runtime
            .block_on(self.table.get_drift(&key(dir)))
            .unwrap()
    }

    /// Whether the webhook received a body whose text contains `needle`.
    fn posted(&self, needle: &str) -> bool {
        self.runtime
            .block_on(self.slack.received_requests())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .any(|body| body["text"].as_str().is_some_and(|t| t.contains(needle)))
    }

    /// The last state of the status `context` on `sha`.
    fn status(&self, sha: &str, context: &str) -> Option<String> {
        let host = self.story.host.state.lock().unwrap();
        host.statuses
            .iter()
            .rev()
            .find(|(s, c, _)| s == sha && c == context)
            .map(|(_, _, state)| state.clone())
    }
}

/// Both states changed out of band; one scheduled run: `heal` applied back to the code,
/// `report` reported in the tracking issue, its status and the webhook.
fn drift_found_reported_and_remediated(world: &World) {
    world.tamper("report.tfstate", "\"v2\"", "\"tampered\"");
    world.tamper("heal.tfstate", "\"v2\"", "\"tampered\"");
    let answer = drift_sweep(&world.emulator);
    assert_eq!(answer["checked"].as_array().unwrap().len(), 2, "{answer}");
    let main = git(&world.story.origin(), &["rev-parse", "main"]);

    wait_until("heal is remediated", || {
        world.record("heal").is_some_and(|r| {
            r.state == DriftState::InSync
                && r.remediations
                    .last()
                    .is_some_and(|m| m.outcome == "applied")
        })
    });
    assert!(world.state("heal.tfstate").contains("\"v2\""));
    let report = world.record("report").unwrap();
    assert_eq!(report.state, DriftState::Drifted);
    assert_eq!(report.addresses, ["terraform_data.app"]);
    assert_eq!(report.checked_sha, main);
    assert!(
        world.state("report.tfstate").contains("\"tampered\""),
        "report mode applies nothing"
    );
    // The issue is written after the records: until heal's remediation reaches it, it may still
    // show an earlier sweep state (report drifting, heal not checked yet).
    wait_until(
        "the tracking issue lists only report, and heal's remediation",
        || {
            let host = world.story.host.state.lock().unwrap();
            host.issues.values().any(|i| {
                i.state == "open"
                    && i.body.contains("| `report` |")
                    && !i.body.contains("| `heal` |")
                    && i.body.contains("Latest remediations")
            })
        },
    );
    {
        let host = world.story.host.state.lock().unwrap();
        assert_eq!(host.issues.len(), 1, "one issue per repository");
        let issue = host.issues.values().next().unwrap();
        assert!(issue.title.contains("drift in 1 project"), "{issue:?}");
        assert!(issue.body.contains("terraform_data.app"), "{issue:?}");
        assert!(issue.body.contains("Latest remediations"), "{issue:?}");
    }
    assert_eq!(
        world.status(&main, "landfall/drift: report").as_deref(),
        Some("failure")
    );
    assert_eq!(
        world.status(&main, "landfall/drift: heal").as_deref(),
        Some("success")
    );
    wait_until("the webhook hears of report's drift", || {
        world.posted("drift in acme/infra: report")
    });
}

/// The drift removed out of band: the next check closes the issue and says so.
fn drift_gone_closes_the_issue(world: &World) {
    world.tamper("report.tfstate", "\"tampered\"", "\"v2\"");
    set_due(&world.runtime, &world.table, "report", true);
    set_due(&world.runtime, &world.table, "heal", false);
    let answer = drift_sweep(&world.emulator);
    assert_eq!(answer["checked"].as_array().unwrap().len(), 1, "{answer}");
    wait_until("the tracking issue is closed", || {
        let host = world.story.host.state.lock().unwrap();
        host.issues.values().all(|i| i.state == "closed")
    });
    wait_until("the webhook hears the drift is gone", || {
        world.posted("no drift in acme/infra")
    });
}

/// A pull request holding report's lock: its check is skipped, and said so; nothing runs.
fn a_locked_project_is_skipped(world: &mut World) {
    let endpoint = world.moto.endpoint();
    world.story.commit(
        "other",
        &[(
            "report/main.tf",
            project_tf(&endpoint, "report.tfstate", "v3"),
        )],
        "v3",
    );
    open_pr(&world.story, 2, "other", "octocat");
    let url = FunctionUrl {
        addr: world.emulator.addr(),
        path: world.emulator.function_url_path(),
        timeout: Duration::from_mins(2),
    };
    let id = world.story.next_delivery();
    let opened = world.story.pull_request("opened", 2, false);
    let (status, _) = url.deliver("pull_request", &id, &opened);
    assert_eq!(status, 202);
    world
        .story
        .wait_comment(2, 0, "Plan: 0 to add, 1 to change");
    set_due(&world.runtime, &world.table, "report", true);
    set_due(&world.runtime, &world.table, "heal", false);
    let runs = run_dirs(&world.data);
    let answer = drift_sweep(&world.emulator);
    assert_eq!(answer["checked"], serde_json::json!([]), "{answer}");
    let skipped = answer["skipped"].to_string();
    assert!(
        skipped.contains("report: locked by pull request #2"),
        "{answer}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        run_dirs(&world.data),
        runs,
        "nothing ran for a locked project"
    );
    let record = world.record("report").unwrap();
    assert_eq!(record.skipped.as_deref(), Some("locked by pull request #2"));
}

#[test]
fn drift_is_found_reported_remediated_and_closed_on_schedule() {
    let mut world = World::start();
    drift_found_reported_and_remediated(&world);
    drift_gone_closes_the_issue(&world);
    a_locked_project_is_skipped(&mut world);
}
