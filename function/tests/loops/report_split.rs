//! The shared PR comment when the output is over the host's limit, through the fake GitHub of
//! the loop tests (wiremock) and the embedded store: the command's comment is edited with the
//! first part and the other parts are posted as new comments, once; later rebuilds edit those
//! same comments (PATCH), parts a shorter body no longer needs say so, runs publishing at once
//! keep one set of part comments, and output past the part cap links the full logs.

use std::fmt::Write as _;

use landfall_function::comment::{MAX_COMMENT_PARTS, NOTHING_MORE, SUPERSEDED, SplitOptions};
use landfall_function::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use landfall_function::report::{Reporter, compose, results_of};
use landfall_function::run::{CommentThread, ProjectSpec, RunCommand, RunSpec};
use landfall_function::run::{Outcome, ProjectResult};
use landfall_function::store::artifacts::LocalArtifacts;
use landfall_function::store::{
    AnyArtifacts, AnyStore, Artifacts as _, CommentKey, EmbeddedStore, LockHolder, LockKey,
    LockOutcome, PlanOutcome, PlanRecord, PlanStatus, Store as _,
};
use landfall_function::vcs::{AnyVcs, RetryPolicy, VcsClient as _, VcsSettings};
use serde_json::Value;
use wiremock::MockServer;

use crate::loop_common;
use crate::loop_common::{REPO, TOKEN, new_story};

const PR: u64 = 7;
/// GitHub's limit, which the adapter reports.
const LIMIT: usize = 65_536;

struct Setup {
    mock: MockServer,
    story: loop_common::Story,
    store: AnyStore,
    vcs: AnyVcs,
    artifacts: AnyArtifacts,
    artifacts_dir: std::path::PathBuf,
    _data: tempfile::TempDir,
}

impl Setup {
    fn reporter(&self) -> Reporter<'_> {
        Reporter {
            store: &self.store,
            vcs: &self.vcs,
            artifacts: &self.artifacts,
            provider: Provider::Github,
            vcs_url: None,
            status_name: landfall_function::vcs::DEFAULT_STATUS_NAME,
            policy: None,
        }
    }

    /// The comment requests the host received since the first `from`: (method, path, body).
    async fn comment_requests(&self, from: usize) -> Vec<(String, String, String)> {
        let requests = self.mock.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .skip(from)
            .filter(|r| r.url.path().contains("/comments"))
            .map(|r| {
                let auth = r.headers.get("authorization").unwrap().to_str().unwrap();
                assert_eq!(auth, format!("Bearer {TOKEN}"));
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                (
                    r.method.to_string(),
                    r.url.path().to_owned(),
                    body["body"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Publishes the shared comment of `spec`'s trigger; returns the comment requests it made
    /// and the parts the comment splits into.
    async fn publish(
        &self,
        spec: &RunSpec,
        thread: &CommentThread,
    ) -> (Vec<(String, String, String)>, Vec<String>) {
        let before = self.request_count().await;
        self.reporter().publish(spec, thread, None).await.unwrap();
        let parts = self.expected_parts(thread, &spec.trigger).await;
        (self.comment_requests(before).await, parts)
    }

    async fn request_count(&self) -> usize {
        self.mock
            .received_requests()
            .await
            .unwrap_or_default()
            .len()
    }

    /// The body of comment `id` on the fake host now.
    fn comment(&self, id: &str) -> String {
        let id: u64 = id.parse().unwrap();
        let state = self.story.host.state.lock().unwrap();
        state.comments.iter().find(|c| c.0 == id).unwrap().2.clone()
    }

    fn comment_count(&self) -> usize {
        self.story.host.state.lock().unwrap().comments.len()
    }

    /// Posts the command's comment and returns its thread.
    async fn thread(&self, header: &str) -> CommentThread {
        let repo = RepoName::new(REPO);
        let id = self
            .vcs
            .post_comment(&repo, PullRequestNumber(PR), header)
            .await
            .unwrap();
        CommentThread::new(id, header.to_owned())
    }

    /// Records a plan for each of `dirs` under `trigger`, each `lines` lines long, with its log
    /// stored; returns the spec of the first run.
    async fn plans(&self, trigger: &str, dirs: &[String], lines: usize) -> RunSpec {
        let holder = LockHolder {
            pr: PR,
            user: "octocat".to_owned(),
            head_sha: "a".repeat(40),
            pull_url: format!("https://github.com/{REPO}/pull/{PR}"),
        };
        let keys: Vec<LockKey> = dirs
            .iter()
            .map(|d| LockKey::new(REPO, d, "default"))
            .collect();
        let taken = self.store.acquire_locks(&holder, &keys).await.unwrap();
        assert_eq!(taken, LockOutcome::Acquired);
        for key in &keys {
            let mut plan_text = String::new();
            for i in 0..lines {
                let _ = writeln!(plan_text, "  # terraform_data.r{i} will be created");
            }
            let log = self
                .artifacts
                .put(
                    &format!("logs/{}/{trigger}.log", key.dir),
                    plan_text.clone().into_bytes(),
                )
                .await
                .unwrap();
            let mut result = ProjectResult::new(
                &ProjectSpec::new(&key.dir),
                RunCommand::Plan,
                Outcome::Planned {
                    summary: format!("{lines} to add, 0 to change, 0 to destroy"),
                    plan_text,
                },
            );
            result.log = Some(log);
            let record = PlanRecord {
                key: key.clone(),
                pr: PR,
                head_sha: holder.head_sha.clone(),
                run_id: format!("run-{trigger}"),
                status: PlanStatus::Planned,
                planfile: None,
                updated_at: 1_777_636_800,
                trigger: Some(trigger.to_owned()),
                result: Some(landfall_function::report::capped(&result)),
                deadline: None,
            };
            let written = self.store.put_plan(&record).await.unwrap();
            assert_eq!(written, PlanOutcome::Written);
        }
        spec(trigger, &dirs[0])
    }

    /// The parts the shared comment of `trigger` splits into now, as the reporter splits it.
    async fn expected_parts(&self, thread: &CommentThread, trigger: &str) -> Vec<String> {
        let records = self.store.list_plans(REPO, PR).await.unwrap();
        let body = compose(&thread.header, &results_of(&records, trigger));
        let mut options = SplitOptions::new(LIMIT, MAX_COMMENT_PARTS);
        options.full_log = (body.len() > LIMIT).then(|| self.log_note(&records, trigger));
        landfall_function::comment::split(&body, &options)
    }

    /// What a cut comment says about the logs of the embedded store: their file URLs.
    fn log_note(&self, records: &[PlanRecord], trigger: &str) -> String {
        let links: Vec<String> = results_of(records, trigger)
            .iter()
            .map(|r| {
                let key = &r.log.as_ref().unwrap().key;
                format!(
                    "[`{}`](file://{})",
                    r.dir,
                    self.artifacts_dir.join(key).display()
                )
            })
            .collect();
        format!("Full logs: {}.", links.join(", "))
    }
}

fn spec(trigger: &str, dir: &str) -> RunSpec {
    RunSpec {
        provider: Provider::Github,
        repo: RepoName::new(REPO),
        head_repo: RepoName::new(REPO),
        pr: PullRequestNumber(PR),
        head_sha: CommitSha::new("a".repeat(40)),
        head_branch: "feature".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: "file:///nowhere".to_owned(),
        user: "octocat".to_owned(),
        pull_author: "octocat".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec::new(dir),
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: trigger.to_owned(),
        apply: None,
        report_back: None,
    }
}

fn dirs(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("envs/{prefix}{i:02}")).collect()
}

fn setup(runtime: &tokio::runtime::Runtime) -> Setup {
    let (mock, fake) = new_story(runtime);
    let data = tempfile::tempdir().unwrap();
    let store = AnyStore::Embedded(EmbeddedStore::open_dir(&data.path().join("store")).unwrap());
    let artifacts_dir = data.path().join("artifacts");
    // The client's middleware starts on the runtime it will run on.
    let _entered = runtime.enter();
    let vcs = AnyVcs::new(&VcsSettings {
        provider: Provider::Github,
        base_url: Some(mock.uri()),
        token: TOKEN.to_owned().into(),
        retry: RetryPolicy::default(),
        status_name: "landfall".to_owned(),
    })
    .unwrap();
    Setup {
        mock,
        story: fake,
        store,
        vcs,
        artifacts: AnyArtifacts::Local(LocalArtifacts::new(&artifacts_dir)),
        artifacts_dir,
        _data: data,
    }
}

/// Runs `scenario` against a fresh fake GitHub, embedded store and artifacts folder.
fn run(scenario: impl AsyncFnOnce(&Setup)) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s = setup(&runtime);
    runtime.block_on(scenario(&s));
}

fn patch(id: &str, body: &str) -> (String, String, String) {
    let path = format!("/repos/{REPO}/issues/comments/{id}");
    ("PATCH".to_owned(), path, body.to_owned())
}

fn post(body: &str) -> (String, String, String) {
    let path = format!("/repos/{REPO}/issues/{PR}/comments");
    ("POST".to_owned(), path, body.to_owned())
}

#[test]
fn a_huge_plan_posts_its_parts_once_and_later_rebuilds_edit_them_in_place() {
    run(async |s| {
        let thread = s.thread("**Planning 2 projects**").await;
        // Two projects of 1,500 lines: about 110 KB, two comments' worth.
        let spec = s.plans("t1", &dirs("app", 2), 1_500).await;
        let (requests, parts) = s.publish(&spec, &thread).await;
        assert_eq!(parts.len(), 2, "two comments' worth");
        let part_id = (s.comment_count() + 999).to_string();
        assert_eq!(
            requests,
            vec![
                patch(&thread.comment_id.as_ref().unwrap().0, &parts[0]),
                post(&parts[1])
            ],
            "the command's comment is edited and one part posted"
        );
        assert!(parts[0].len() <= LIMIT && parts[1].len() <= LIMIT);
        assert!(parts[1].starts_with("*Continued from the previous comment (part 2).*"));
        assert!(!parts[1].contains("Output truncated"));

        // A third project reports: the same two comments are edited, a third part is posted.
        let more = s.plans("t1", &dirs("app", 3), 1_500).await;
        let (requests, grown) = s.publish(&more, &thread).await;
        assert_eq!(grown.len(), 3);
        let third_id = (s.comment_count() + 999).to_string();
        assert_eq!(
            requests,
            vec![
                patch(&thread.comment_id.as_ref().unwrap().0, &grown[0]),
                post(&grown[2]),
                patch(&part_id, &grown[1]),
            ],
        );

        // Published again with nothing new: only edits of the same three comments.
        let (requests, again) = s.publish(&more, &thread).await;
        assert_eq!(again, grown);
        assert_eq!(
            requests,
            vec![
                patch(&thread.comment_id.as_ref().unwrap().0, &grown[0]),
                patch(&part_id, &grown[1]),
                patch(&third_id, &grown[2]),
            ],
            "no comment is posted twice"
        );

        // The output shrinks to one comment: the parts say there is nothing more.
        s.plans("t1", &dirs("app", 3), 10).await;
        let (requests, shrunk) = s.publish(&more, &thread).await;
        assert_eq!(shrunk.len(), 1);
        assert_eq!(
            requests,
            vec![
                patch(&thread.comment_id.as_ref().unwrap().0, &shrunk[0]),
                patch(&part_id, NOTHING_MORE),
                patch(&third_id, NOTHING_MORE),
            ],
        );
        assert_eq!(s.comment(&part_id), NOTHING_MORE);
    });
}

#[test]
fn output_past_the_part_cap_is_cut_and_links_every_full_log() {
    run(async |s| {
        let thread = s.thread("**Planning 14 projects**").await;
        // Fourteen projects of 60 KiB each (the stored cap): far over ten GitHub comments.
        let spec = s.plans("t2", &dirs("big", 14), 3_000).await;
        let (requests, parts) = s.publish(&spec, &thread).await;
        assert_eq!(parts.len(), MAX_COMMENT_PARTS);
        let mut expected = vec![patch(&thread.comment_id.as_ref().unwrap().0, &parts[0])];
        expected.extend(parts[1..].iter().map(|p| post(p)));
        assert_eq!(requests, expected);
        let last = parts.last().unwrap();
        assert!(last.len() <= LIMIT, "{}", last.len());
        assert!(last.contains("**Output truncated:** "), "{last}");
        let first_log = s.artifacts_dir.join("logs/envs/big00/t2.log");
        assert!(
            last.contains(&format!("[`envs/big00`](file://{})", first_log.display())),
            "{last}"
        );
        assert!(
            last.contains("[`envs/big13`](file://"),
            "every log is linked"
        );
        assert!(
            std::fs::read_to_string(&first_log)
                .unwrap()
                .contains("r2999 will be created")
        );
    });
}

#[test]
fn runs_publishing_at_once_keep_one_set_of_part_comments() {
    run(async |s| {
        let thread = s.thread("**Planning 4 projects**").await;
        let first = s.plans("t3", &dirs("race", 4), 2_000).await;
        let other = spec("t3", "envs/race01");
        let reporter = s.reporter();
        let (a, b) = tokio::join!(
            reporter.publish(&first, &thread, None),
            reporter.publish(&other, &thread, None),
        );
        a.unwrap();
        b.unwrap();
        let parts = s.expected_parts(&thread, "t3").await;
        assert!(parts.len() >= 3, "{} parts", parts.len());
        let ids = s
            .store
            .comment_parts(CommentKey {
                repo: REPO,
                pr: PR,
                comment_id: &thread.comment_id.as_ref().unwrap().0,
            })
            .await
            .unwrap();
        assert_eq!(ids.len(), parts.len() - 1, "one recorded comment per part");
        for (id, part) in ids.iter().zip(&parts[1..]) {
            assert_eq!(&s.comment(id), part);
        }
        // Every other comment posted is a loser's, marked as such.
        let state = s.story.host.state.lock().unwrap().comments.clone();
        let losers: Vec<_> = state
            .iter()
            .filter(|c| {
                c.0.to_string() != thread.comment_id.as_ref().unwrap().0
                    && !ids.contains(&c.0.to_string())
            })
            .collect();
        assert!(losers.iter().all(|c| c.2 == SUPERSEDED), "{losers:#?}");
        // A later rebuild posts nothing.
        let (requests, _) = s.publish(&first, &thread).await;
        assert!(requests.iter().all(|r| r.0 == "PATCH"), "{requests:?}");
    });
}
