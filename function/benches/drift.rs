//! The drift sweep over 1,000 projects (issue 18, "Speed and cost"): the function in process on
//! a DynamoDB table in moto, a fake GitHub on loopback whose repository holds 1,000 project
//! folders, and local dispatch whose runner is `/bin/true` (each check spawns a process that
//! ends at once without reporting: the spawn is part of the figures, an upper bound for the
//! Kubernetes Job creation it stands for). Prints, for each step, the wall time, DynamoDB
//! requests by operation and VCS requests by route, per project:
//!
//! 1. a sweep with every project due (the policy sweeps all discovered projects daily);
//! 2. a sweep right after, while those checks still run;
//! 3. every check's report, as a runner posts it (`Context::take_report`, the handler's path);
//! 4. a sweep with nothing due (the day's other ticks);
//! 5. a day later, in steady state: checks whose result did not change, one that finds drift
//!    (the tracking issue opens) and one whose drift is gone (it closes);
//!
//! then the AWS cost of a steady day of 1,000 checks, from the counted requests and the list
//! prices in `drift/cost.rs`. Terraform's own runtime is aside.

#![allow(
    clippy::cast_precision_loss,
    clippy::large_futures,
    reason = "a bench: per-project averages of small counts; the sweep's future is awaited once"
)]

#[path = "drift/cost.rs"]
mod cost;
#[path = "drift/dynamo_count.rs"]
mod dynamo_count;
#[path = "drift/fake_github.rs"]
mod fake_github;
#[path = "drift/moto.rs"]
mod moto;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use landfall_function::context::{Context, run_artifact_keys};
use landfall_function::dispatch::{AnyDispatcher, LocalDispatcher};
use landfall_function::event::{CommitSha, Provider, RepoName};
use landfall_function::orchestrate::DriftSweep;
use landfall_function::repo_config::Policy;
use landfall_function::run::report_auth::ReportEnvelope;
use landfall_function::run::{
    CommentThread, DRIFT_PR, DriftFacts, Outcome, ProjectResult, ProjectSpec, RunCommand,
    RunReport, RunSpec, RunStatus, StoredArtifact, Timings,
};
use landfall_function::store::artifacts::LocalArtifacts;
use landfall_function::store::{
    AnyArtifacts, AnyStore, Drifts as _, DynamoStore, LockKey, Store as _,
};
use landfall_function::vcs::{AnyVcs, RetryPolicy, VcsSettings};
use secrecy::{ExposeSecret as _, SecretString};
use wiremock::MockServer;

use cost::{Day, Invocation};
use dynamo_count::{DynamoCount, Sent};
use fake_github::{REPO, SHA, project_dir};

/// Projects in the swept repository: the bench's numeric argument
/// (`cargo bench --bench drift -- 300`), 1,000 by default. moto copies its tables on every
/// transaction, so a smaller repository keeps the whole story within minutes; the figures are
/// per project, and the cost is for [`cost::COST_PROJECTS`].
fn projects() -> usize {
    std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1_000)
}
/// Steady-state checks measured a day later.
const STEADY: usize = 10;

/// The operator policy: every discovered project of the repository, daily.
const POLICY: &str = "\
repos:
  - id: /.*/
drift:
  repositories: [acme/infra]
  projects: all
  schedule: rate(1 day)
";

/// What the function sent and how long it took, over one step.
struct Usage {
    wall: Duration,
    cpu: Duration,
    dynamo: Vec<Sent>,
    vcs: Vec<String>,
}

impl Usage {
    fn units(&self) -> (f64, f64) {
        let rru = self.dynamo.iter().map(|s| s.rru).sum();
        let wru = self.dynamo.iter().map(|s| s.wru).sum();
        (rru, wru)
    }

    /// One average invocation of `count` (or the whole step when `count` is 1).
    #[allow(clippy::cast_precision_loss, reason = "small counts")]
    fn per(&self, count: usize) -> Invocation {
        let (rru, wru) = self.units();
        let n = count.max(1) as f64;
        Invocation {
            rru: rru / n,
            wru: wru / n,
            seconds: self.cpu.as_secs_f64() / n,
        }
    }
}

/// User + system CPU time in a `/proc` `stat` file (10 ms ticks).
fn cpu_in(stat: &str) -> Duration {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // After the command: the state is field 3, utime 14 and stime 15.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// The bench's threads now.
fn threads() -> BTreeSet<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|entry| {
                entry
                    .ok()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
            })
            .collect()
        })
        .unwrap_or_default()
}

/// The function's CPU time: the process's (exited threads included) less the fake host's
/// threads'.
fn function_cpu(host_threads: &BTreeSet<String>) -> Duration {
    let host: Duration = host_threads
        .iter()
        .map(|tid| cpu_in(&format!("/proc/self/task/{tid}/stat")))
        .sum();
    cpu_in("/proc/self/stat").saturating_sub(host)
}

struct Bench {
    ctx: Arc<Context>,
    github: MockServer,
    /// The fake GitHub's threads, whose CPU time is not the function's.
    github_threads: BTreeSet<String>,
    dynamo: DynamoCount,
    seen: usize,
    _moto: landfall_e2e::MotoServer,
    _data: tempfile::TempDir,
}

impl Bench {
    async fn start() -> Self {
        let moto = landfall_e2e::MotoServer::start().expect("moto starts (scripts/install-tools)");
        let dynamo = DynamoCount::default();
        let client = moto::dynamodb(moto.endpoint(), &dynamo);
        let store = DynamoStore::new(&client, "landfall");
        store.create_table().await.expect("the table is created");
        let before = threads();
        let github = fake_github::start(projects()).await;
        let github_threads = threads().difference(&before).cloned().collect();
        let vcs = AnyVcs::new(&VcsSettings {
            provider: Provider::Github,
            base_url: Some(github.uri()),
            token: SecretString::from("t0ken".to_owned()),
            retry: RetryPolicy::default(),
            status_name: landfall_function::vcs::DEFAULT_STATUS_NAME.to_owned(),
        })
        .expect("the GitHub adapter");
        let data = tempfile::tempdir().expect("a temporary folder");
        let artifacts = AnyArtifacts::Local(LocalArtifacts::new(data.path().join("artifacts")));
        let dispatcher = AnyDispatcher::Local(LocalDispatcher::new(
            "/bin/true",
            data.path().join("runs"),
            Vec::new(),
            None,
        ));
        let policy = Policy::parse("repos.yaml", POLICY).expect("the policy parses");
        let mut ctx = Context::new(
            Provider::Github,
            Some(github.uri()),
            (AnyStore::DynamoDb(store), artifacts),
            dispatcher,
            vcs,
            Some(policy),
        );
        // As under Lambda: runners post their reports; the sweep ends once checks are started.
        ctx.report_back = true;
        ctx.report_url = Some("http://127.0.0.1:9".to_owned());
        let _ = dynamo.take();
        Bench {
            ctx: Arc::new(ctx),
            github,
            github_threads,
            dynamo,
            seen: 0,
            _moto: moto,
            _data: data,
        }
    }

    /// Runs `work`, with what it sent and its time.
    async fn measure<T>(&mut self, work: impl Future<Output = T>) -> (T, Usage) {
        let _ = self.dynamo.take();
        let (_, seen) = fake_github::routes_since(&self.github, self.seen).await;
        let (cpu, start) = (function_cpu(&self.github_threads), Instant::now());
        let out = work.await;
        let wall = start.elapsed();
        let cpu = function_cpu(&self.github_threads).saturating_sub(cpu);
        let dynamo = self.dynamo.take();
        let (vcs, now) = fake_github::routes_since(&self.github, seen).await;
        self.seen = now;
        let usage = Usage {
            wall,
            cpu,
            dynamo,
            vcs,
        };
        (out, usage)
    }

    async fn sweep(&mut self, title: &str) -> (DriftSweep, Usage) {
        let ctx = Arc::clone(&self.ctx);
        let (sweep, usage) = self.measure(ctx.drift_sweep()).await;
        let sweep = sweep.expect("the sweep runs");
        assert!(sweep.problems.is_empty(), "{:?}", sweep.problems);
        let checks = sweep.checked.len();
        println!(
            "{title}: {checks} checks started, {} skipped, {} not due, {} still running; wall {:.3} s ({:.3} ms per check started); function CPU {:.2} s ({:.3} ms per check started)",
            sweep.skipped.len(),
            sweep.not_due,
            sweep.running,
            usage.wall.as_secs_f64(),
            usage.wall.as_secs_f64() * 1e3 / checks.max(1) as f64,
            usage.cpu.as_secs_f64(),
            usage.cpu.as_secs_f64() * 1e3 / checks.max(1) as f64,
        );
        print_requests(&usage, projects(), "project");
        (sweep, usage)
    }

    /// The runs in progress of `keys`, as their runners know them.
    async fn running(&self, keys: &[LockKey]) -> Vec<RunSpec> {
        let mut specs = Vec::new();
        for key in keys {
            let record = self.ctx.store.get_plan(key, DRIFT_PR.0).await.unwrap();
            let record = record.expect("a check's plan record");
            specs.push(check_spec(
                key,
                &record.head_sha,
                record.trigger.as_deref().unwrap(),
            ));
        }
        let _ = self.dynamo.take();
        specs
    }

    /// Each check of `keys` reports `result`, one after another, as runners post them.
    async fn report(&mut self, title: &str, keys: &[LockKey], result: Check) -> Usage {
        let specs = self.running(keys).await;
        let ctx = Arc::clone(&self.ctx);
        let (answers, usage) = self
            .measure(async {
                let mut answers = Vec::new();
                for spec in &specs {
                    let body = serde_json::to_vec(&ReportEnvelope::new(spec, report(spec, result)));
                    let credential = ctx.report_key.credential(spec);
                    let answer = ctx
                        .take_report(Some(credential.expose_secret()), &body.unwrap())
                        .await;
                    answers.push(format!("{answer:?}"));
                }
                answers
            })
            .await;
        let refused: Vec<&String> = answers.iter().filter(|a| *a != "Recorded").collect();
        assert!(refused.is_empty(), "reports refused: {refused:?}");
        println!(
            "{title}: {} reports; wall {:.3} s ({:.3} ms per report); function CPU {:.2} s ({:.3} ms per report)",
            keys.len(),
            usage.wall.as_secs_f64(),
            usage.wall.as_secs_f64() * 1e3 / keys.len() as f64,
            usage.cpu.as_secs_f64(),
            usage.cpu.as_secs_f64() * 1e3 / keys.len() as f64,
        );
        print_requests(&usage, keys.len(), "report");
        usage
    }

    /// Makes `keys` due again, as a day later.
    async fn make_due(&self, keys: &[LockKey]) {
        for key in keys {
            let mut record = self.ctx.store.get_drift(key).await.unwrap().unwrap();
            record.last_checked = 1;
            record.version += 1;
            assert!(self.ctx.store.put_drift(&record).await.unwrap());
        }
        let _ = self.dynamo.take();
    }
}

/// What a check's plan found.
#[derive(Debug, Clone, Copy)]
enum Check {
    InSync,
    Drifted,
}

fn key(n: usize) -> LockKey {
    LockKey::new(REPO, project_dir(n), "default")
}

/// A drift check's spec as the sweep made it: its identity (repository, "pull request 0",
/// project, command, commit, trigger) is what the run id and the report's checks read.
fn check_spec(key: &LockKey, head_sha: &str, trigger: &str) -> RunSpec {
    RunSpec {
        provider: Provider::Github,
        repo: RepoName::new(&key.repo),
        head_repo: RepoName::new(&key.repo),
        pr: DRIFT_PR,
        head_sha: CommitSha::new(head_sha),
        head_branch: "main".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: format!("https://github.com/{REPO}.git"),
        user: "landfall-drift".to_owned(),
        pull_author: String::new(),
        command: RunCommand::Plan,
        project: ProjectSpec::new(key.dir.clone()),
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: trigger.to_owned(),
        apply: None,
        report_back: Some(CommentThread {
            comment_id: None,
            header: String::new(),
            silenced: Vec::new(),
            verbose: false,
        }),
    }
}

fn artifact(key: String) -> StoredArtifact {
    StoredArtifact {
        key,
        sha256: "0".repeat(64),
        size: 4_096,
    }
}

/// The runner's report of `spec`: a plan without changes, or one that changes what was
/// changed outside Terraform.
fn report(spec: &RunSpec, check: Check) -> RunReport {
    let (planfile, log) = run_artifact_keys(spec);
    let (status, outcome, planfile) = match check {
        Check::InSync => (
            RunStatus::NoChanges,
            Outcome::NoChanges {
                plan_text: "No changes. Your infrastructure matches the configuration.".into(),
            },
            None,
        ),
        Check::Drifted => (
            RunStatus::Planned,
            Outcome::Planned {
                summary: "Plan: 0 to add, 1 to change, 0 to destroy.".into(),
                plan_text: "  ~ resource \"terraform_data\" \"app\" {}".into(),
            },
            Some(artifact(planfile)),
        ),
    };
    let mut result = ProjectResult::new(&spec.project, RunCommand::Plan, outcome);
    if let Check::Drifted = check {
        result.drift = Some(DriftFacts {
            changed: vec!["terraform_data.app".to_owned()],
            drifted: vec!["terraform_data.app".to_owned()],
        });
    }
    RunReport {
        run_id: spec.run_id(),
        repo: spec.repo.clone(),
        pr: spec.pr,
        head_sha: spec.head_sha.clone(),
        status,
        result,
        summary: None,
        planfile,
        log: Some(artifact(log)),
        comment: String::new(),
        timings: Timings::default(),
    }
}

/// DynamoDB requests by operation and VCS requests by route, in all and per `per` `unit`.
#[allow(clippy::cast_precision_loss, reason = "small counts")]
fn print_requests(usage: &Usage, per: usize, unit: &str) {
    let per = per.max(1) as f64;
    let mut dynamo: BTreeMap<&str, (usize, f64, f64)> = BTreeMap::new();
    for sent in &usage.dynamo {
        let entry = dynamo.entry(&sent.op).or_default();
        *entry = (entry.0 + 1, entry.1 + sent.rru, entry.2 + sent.wru);
    }
    for (op, (count, rru, wru)) in &dynamo {
        println!(
            "  DynamoDB {op:<28} {count:>7} {:>9.3} per {unit}  {rru:>9.1} RRU {wru:>9.1} WRU",
            *count as f64 / per
        );
    }
    let (rru, wru) = usage.units();
    println!(
        "  DynamoDB {:<28} {:>7} {:>9.3} per {unit}  {rru:>9.1} RRU {wru:>9.1} WRU",
        "total",
        usage.dynamo.len(),
        usage.dynamo.len() as f64 / per
    );
    let mut vcs: BTreeMap<&str, usize> = BTreeMap::new();
    for route in &usage.vcs {
        *vcs.entry(route).or_default() += 1;
    }
    for (route, count) in &vcs {
        println!(
            "  VCS {route:<56} {count:>7} {:>9.3} per {unit}",
            *count as f64 / per
        );
    }
    println!(
        "  VCS {:<56} {:>7} {:>9.3} per {unit}",
        "total",
        usage.vcs.len(),
        usage.vcs.len() as f64 / per
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .init();
    let mut bench = Bench::start().await;
    let projects = projects();
    let keys: Vec<LockKey> = (0..projects).map(key).collect();
    println!(
        "drift bench: {projects} projects in {REPO} (head {}), DynamoDB on moto, GitHub faked on loopback, runner /bin/true",
        &SHA[..7]
    );

    let (first, dispatch) = bench.sweep("sweep 1, every project due").await;
    assert_eq!(first.checked.len(), projects);
    let _ = bench
        .sweep("sweep 2, right after, checks still running")
        .await;
    let first_reports = bench
        .report("reports 1, each check ends in sync", &keys, Check::InSync)
        .await;
    let (_, idle) = bench.sweep("sweep 3, nothing due").await;

    let steady_keys = &keys[..STEADY];
    bench.make_due(steady_keys).await;
    let _ = bench.sweep("sweep 4, a day later, 10 projects due").await;
    let steady = bench
        .report(
            "reports 2, steady state: in sync again",
            steady_keys,
            Check::InSync,
        )
        .await;
    bench.make_due(&keys[..1]).await;
    let _ = bench.sweep("sweep 5, 1 project due").await;
    let _ = bench
        .report(
            "reports 3, drift found: the tracking issue opens",
            &keys[..1],
            Check::Drifted,
        )
        .await;
    bench.make_due(&keys[..1]).await;
    let _ = bench.sweep("sweep 6, 1 project due").await;
    let _ = bench
        .report(
            "reports 4, drift gone: the tracking issue closes",
            &keys[..1],
            Check::InSync,
        )
        .await;

    let day = Day {
        checks: cost::COST_PROJECTS,
        dispatch: dispatch.per(projects),
        idle_tick: idle.per(1),
        report: steady.per(STEADY),
        puts_per_check: 1.0,
        gets_per_check: 0.0,
    };
    let first_report = first_reports.per(projects);
    println!(
        "reports on the first day average {:.1} RRU, {:.1} WRU, {:.3} ms each (each first check reads the repository's records, 0 to {projects} of them)",
        first_report.rru,
        first_report.wru,
        first_report.seconds * 1e3
    );
    println!(
        "cost of a steady day of {} checks (the per-check figures above times {0}), us-east-1 list prices 2026 (DynamoDB on demand $0.25/M RRU, $1.25/M WRU; S3 PUT $0.005/1k, GET $0.0004/1k; Scheduler $1.00/M; Lambda arm64 $0.20/M requests, $0.0000133334/GB-s at {} MB); {} ticks a day, one starts every check; one report per check; S3: one PUT (the log) per check in sync, a drifted check adds its planfile; Terraform's own runtime aside:",
        cost::COST_PROJECTS,
        cost::MEMORY_MB,
        cost::TICKS_PER_DAY,
    );
    for line in day.lines() {
        println!("{line}");
    }
}
