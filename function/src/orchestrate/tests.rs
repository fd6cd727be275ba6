//! The loop's decisions in process: a [`Context`] from parts (the embedded store in a temporary
//! folder, a wiremock GitHub, a local dispatcher whose "runner" is `true`: a dispatched run
//! leaves its folder and ends without a report), events handed straight to it. Each test checks the effect: what the store
//! holds, what the host was sent, that nothing was dispatched.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::Context;
use crate::command::parse_comment;
use crate::dispatch::{AnyDispatcher, LocalDispatcher};
use crate::event::{
    CommitSha, DeliveryId, Event, EventKind, Provider, PullRequestNumber,
    RepoName,
};
use crate::store::{
    AnyArtifacts, AnyStore, EmbeddedStore, LockHolder, LockKey, LockOutcome, Store,
    artifacts::LocalArtifacts,
};
use crate::vcs::{AnyVcs, RetryPolicy, VcsSettings};

mod drift;
mod ended;
mod forks;
mod markdown;
mod merge;
mod races;
mod deliveries;
mod depends;
mod policies;
mod pull_status;
mod replan;
mod reports;
mod state;
mod sweep;
mod who_may;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const REPO: &str = "acme/infra";
/// The commit a merge of the PR made.
const MERGE_SHA: &str = "5d2b9a1c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b";

struct Loop {
    ctx: Arc<Context>,
    host: MockServer,
    runs: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Loop {
    async fn new() -> Self {
        Self::with_policy(None).await
    }

    async fn with_policy(policy: Option<crate::repo_config::Policy>) -> Self {
        Self::with_runner(std::path::Path::new("/bin/true"), policy).await
    }

    async fn with_runner(
        runner: &std::path::Path,
        policy: Option<crate::repo_config::Policy>,
    ) -> Self {
        let host = MockServer::start().await;
        let data = tempfile::tempdir().unwrap();
        let runs = tempfile::tempdir().unwrap();
        let store = AnyStore::Embedded(EmbeddedStore::open_dir(data.path()).unwrap());
        let artifacts = AnyArtifacts::Local(LocalArtifacts::new(data.path().join("artifacts")));
        let vcs = AnyVcs::new(&VcsSettings {
            provider: Provider::Github,
            base_url: Some(host.uri()),
            token: SecretString::from("t0ken".to_owned()),
            retry: RetryPolicy::default(),
            status_name: "landfall".to_owned(),
        })
        .unwrap();
        let dispatcher =
            AnyDispatcher::Local(LocalDispatcher::new(runner, runs.path(), Vec::new(), None));
        let ctx = Context::new(
            Provider::Github,
            Some(host.uri()),
            (store, artifacts),
            dispatcher,
            vcs,
            policy,
        );
        Loop {
            ctx: Arc::new(ctx),
            host,
            runs,
            _data: data,
        }
    }

    /// The PR as the host answers (`state`, `merged`), taking comments and statuses.
    async fn host_has_pr(&self, state: &str, merged: bool) {
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/pulls/1")))
            .respond_with(ResponseTemplate::new(200).set_body_json(pr_json(state, merged)))
            .mount(&self.host)
            .await;
        for (verb, at, status) in [
            ("POST", format!("/repos/{REPO}/issues/1/comments"), 201),
            ("PATCH", format!("/repos/{REPO}/issues/comments/99"), 200),
            ("POST", format!("/repos/{REPO}/statuses/{SHA}"), 201),
        ] {
            Mock::given(method(verb))
                .and(path(at))
                .respond_with(ResponseTemplate::new(status).set_body_json(json!({"id": 99})))
                .mount(&self.host)
                .await;
        }
    }

    /// An open PR, and `user`'s permission on the repository.
    async fn host_knows(&self, user: &str, permission: &str) {
        self.host_has_pr("open", false).await;
        self.host_grants(user, permission).await;
    }

    /// The host gives `user` the repository permission `permission`.
    async fn host_grants(&self, user: &str, permission: &str) {
        Mock::given(method("GET"))
            .and(path(format!(
                "/repos/{REPO}/collaborators/{user}/permission"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "permission": permission, "role_name": permission, "user": {"login": user}
            })))
            .mount(&self.host)
            .await;
    }

    /// A PR whose head holds `main.tf` and changes it; the host says the PR is `state`.
    async fn host_has_a_terraform_pr(&self, state: &str, merged: bool) {
        self.host_has_pr(state, merged).await;
        let get = |p: String| Mock::given(method("GET")).and(path(p));
        get(format!("/repos/{REPO}/pulls/1/files"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"filename": "main.tf", "status": "modified"}
            ])))
            .mount(&self.host)
            .await;
        get(format!("/repos/{REPO}/git/trees/{SHA}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "sha": SHA, "truncated": false,
                "tree": [{"path": "main.tf", "type": "blob", "mode": "100644", "sha": SHA}]
            })))
            .mount(&self.host)
            .await;
        get(format!("/repos/{REPO}/contents/main.tf"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("resource \"terraform_data\" \"a\" {}\n"),
            )
            .mount(&self.host)
            .await;
    }

    /// The PR's head holds `files` (path, text), all of them changed by the PR.
    async fn host_has_files(&self, files: &[(&str, &str)]) {
        let changed: Vec<_> = files
            .iter()
            .map(|(f, _)| json!({"filename": f, "status": "modified"}))
            .collect();
        let tree: Vec<_> = files
            .iter()
            .map(|(f, _)| json!({"path": f, "type": "blob", "mode": "100644", "sha": SHA}))
            .collect();
        let get = |p: String| Mock::given(method("GET")).and(path(p));
        get(format!("/repos/{REPO}/pulls/1/files"))
            .respond_with(ResponseTemplate::new(200).set_body_json(changed))
            .mount(&self.host)
            .await;
        get(format!("/repos/{REPO}/git/trees/{SHA}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"sha": SHA, "truncated": false, "tree": tree}),
            ))
            .mount(&self.host)
            .await;
        for (file, text) in files {
            get(format!("/repos/{REPO}/contents/{file}"))
                .respond_with(ResponseTemplate::new(200).set_body_string(*text))
                .mount(&self.host)
                .await;
        }
    }

    /// The bodies of the comments posted on the PR.
    async fn comments(&self) -> Vec<String> {
        let requests = self.host.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/comments"))
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                body["body"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }

    /// Asserts that one of the PR's comments contains every one of `parts`.
    async fn assert_commented(&self, parts: &[&str]) {
        let comments = self.comments().await;
        assert!(
            comments.iter().any(|c| parts.iter().all(|p| c.contains(p))),
            "no comment says {parts:?}: {comments:?}"
        );
    }

    /// Requests the host received with `verb` on a path containing `part`, as JSON bodies.
    async fn sent(&self, verb: &str, part: &str) -> Vec<serde_json::Value> {
        let requests = self.host.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == verb && r.url.path().contains(part))
            .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
            .collect()
    }

    fn nothing_dispatched(&self) -> bool {
        std::fs::read_dir(self.runs.path()).map_or(true, |mut dir| dir.next().is_none())
    }

    async fn hold_lock(&self, pr: u64, dir: &str) -> LockKey {
        let key = LockKey::new(REPO, dir, "default");
        let holder = LockHolder {
            pr,
            user: "author".to_owned(),
            head_sha: SHA.to_owned(),
            pull_url: format!("https://github.com/{REPO}/pull/{pr}"),
        };
        let outcome = self
            .ctx
            .store
            .acquire_locks(&holder, std::slice::from_ref(&key))
            .await
            .unwrap();
        assert_eq!(outcome, LockOutcome::Acquired);
        key
    }

    /// A finished plan of PR 1 at `dir` at the head (its lock taken), as an autoplan leaves:
    /// `import` and `state rm` run only at a head that was planned.
    async fn planned_here(&self, dir: &str) {
        let record = crate::store::PlanRecord {
            key: self.hold_lock(1, dir).await,
            pr: 1,
            head_sha: SHA.to_owned(),
            run_id: "lf-plan-0".to_owned(),
            status: crate::store::PlanStatus::NoChanges,
            planfile: None,
            updated_at: crate::store::now_secs(),
            trigger: Some("autoplan".to_owned()),
            result: None,
            deadline: None,
        };
        let written = self.ctx.store.put_plan(&record).await.unwrap();
        assert_eq!(written, crate::store::PlanOutcome::Written);
    }

    /// A plan of PR 1 at `dir` (its lock taken), run `run_id`, in progress until `deadline` and
    /// last heard of over an hour ago.
    async fn running_plan(&self, dir: &str, run_id: &str, deadline: u64) {
        let record = crate::store::PlanRecord {
            key: self.hold_lock(1, dir).await,
            pr: 1,
            head_sha: SHA.to_owned(),
            run_id: run_id.to_owned(),
            status: crate::store::PlanStatus::Planning,
            planfile: None,
            updated_at: crate::store::now_secs() - 4000,
            trigger: Some("t".to_owned()),
            result: None,
            deadline: Some(deadline),
        };
        let written = self.ctx.store.put_plan(&record).await.unwrap();
        assert_eq!(written, crate::store::PlanOutcome::Written);
    }
}

fn opened() -> Event {
    let mut event = Event::new(Provider::Github, EventKind::Opened);
    event.delivery = Some(DeliveryId::new("open-1"));
    event.repo = Some(RepoName::new(REPO));
    event.number = Some(PullRequestNumber(1));
    event.head_sha = Some(CommitSha::new(SHA));
    event.head_branch = Some("feature".to_owned());
    event.base_branch = Some("main".to_owned());
    event.head_repo = Some(RepoName::new(REPO));
    event.pr_author = Some("author".to_owned());
    event.sender = Some("author".to_owned());
    event.clone_url = Some(format!("https://github.com/{REPO}.git"));
    event
}

fn comment(user: &str, text: &str, delivery: &str) -> Event {
    let mut event = Event::new(Provider::Github, EventKind::Commented(parse_comment(text)));
    event.delivery = Some(DeliveryId::new(delivery));
    event.repo = Some(RepoName::new(REPO));
    event.number = Some(PullRequestNumber(1));
    event.sender = Some(user.to_owned());
    event.comment = Some(text.to_owned());
    event.clone_url = Some(format!("https://github.com/{REPO}.git"));
    event
}

#[tokio::test]
async fn a_merged_pr_releases_its_locks_without_asking_anyone() {
    let lp = Loop::new().await;
    lp.host_knows("nobody", "none").await;
    let key = lp.hold_lock(1, "envs/prod").await;
    let mut merged = Event::new(Provider::Github, EventKind::Merged);
    merged.repo = Some(RepoName::new(REPO));
    merged.number = Some(PullRequestNumber(1));
    merged.head_sha = Some(CommitSha::new(SHA));

    lp.ctx.process(&merged).await.unwrap();

    assert!(lp.ctx.store.get_lock(&key).await.unwrap().is_none());
    assert_eq!(lp.comments().await.len(), 1, "the release is said once");
}

#[tokio::test]
async fn a_pr_merged_while_its_files_were_read_ends_holding_no_lock() {
    let lp = Loop::new().await;
    // The merge's release ran before this plan took its locks: the host already says merged.
    lp.host_has_a_terraform_pr("closed", true).await;

    lp.ctx.process(&opened()).await.unwrap();

    let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
    assert!(locks.is_empty(), "a merged PR holds {locks:?}");
    assert!(lp.nothing_dispatched());
}

#[tokio::test]
async fn an_open_pr_keeps_the_locks_its_plan_took() {
    let lp = Loop::new().await;
    lp.host_has_a_terraform_pr("open", false).await;

    lp.ctx.process(&opened()).await.unwrap();

    let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].key.dir, ".");
}

/// A delivery that names nobody (Azure DevOps' completion without `closedBy`) is refused
/// where the rule needs to know who: nothing planned, no lock, nobody looked up.
#[tokio::test]
async fn an_event_that_names_nobody_is_refused_where_the_rule_needs_someone() {
    let lp = Loop::new().await;
    lp.host_has_a_terraform_pr("open", false).await;
    let mut event = opened();
    event.sender = None;

    lp.ctx.process(&event).await.unwrap();

    lp.assert_commented(&["does not say who"]).await;
    assert!(lp.nothing_dispatched());
    assert!(lp.ctx.store.list_locks(Some(REPO)).await.unwrap().is_empty());
    assert!(lp.sent("GET", "/collaborators/").await.is_empty());
}

#[tokio::test]
async fn a_plan_never_takes_the_record_of_a_running_state_edit() {
    let lp = Loop::new().await;
    lp.host_has_a_terraform_pr("open", false).await;
    // A writer's, with no approval yet: the author may plan a commit that has a record.
    lp.host_grants("author", "write").await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/1/reviews")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&lp.host)
        .await;
    // An import of the project is running for this PR: its lock and its `applying` record.
    let key = lp.hold_lock(1, ".").await;
    let importing = crate::store::PlanRecord {
        key: key.clone(),
        pr: 1,
        head_sha: SHA.to_owned(),
        run_id: "lf-import-1-running".to_owned(),
        status: crate::store::PlanStatus::Applying,
        planfile: None,
        updated_at: crate::store::now_secs(),
        trigger: Some("import-comment".to_owned()),
        result: None,
        deadline: Some(crate::store::now_secs() + 3600),
    };
    let written = lp.ctx.store.put_plan(&importing).await.unwrap();
    assert_eq!(written, crate::store::PlanOutcome::Written);

    // A push autoplans the PR meanwhile.
    lp.ctx.process(&opened()).await.unwrap();

    assert!(lp.nothing_dispatched(), "no plan was started");
    let record = lp.ctx.store.get_plan(&key, 1).await.unwrap().unwrap();
    assert_eq!(record, importing, "the import's record is untouched");
    // The plan's comment is edited to say why.
    let edits = lp.sent("PATCH", "/issues/comments/").await;
    let said = edits
        .iter()
        .filter_map(|body| body["body"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(said.contains("is running"), "{said}");
}

/// A hand-off through a fake Lambda API answering `status`.
async fn lambda_answering(status: u16) -> (MockServer, crate::handoff::LambdaHandoff) {
    let lambda = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({})))
        .mount(&lambda)
        .await;
    let sdk = crate::aws::sdk_config().await;
    let config = aws_sdk_lambda::config::Builder::from(&sdk)
        .endpoint_url(lambda.uri())
        .region(aws_sdk_lambda::config::Region::new("eu-west-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .build();
    let handoff = crate::handoff::LambdaHandoff::with_client(
        "landfall",
        &SecretString::from("s3cret".to_owned()),
        aws_sdk_lambda::Client::from_conf(config),
    );
    (lambda, handoff)
}

/// An @-mention addresses the deployment only when it names `LANDFALL_BOT_USER` (any case):
/// another login's, or any while none is set, gets nothing done and no reply.
#[tokio::test]
async fn an_at_mention_runs_a_command_only_when_it_names_the_bot_user() {
    for (bot_user, text, ours) in [
        (None, "@landfall-bot unlock", false),
        (Some("landfall-bot"), "@someone-else unlock", false),
        (Some("landfall-bot"), "@someone-else plan --bogus", false),
        (Some("landfall-bot"), "@Landfall-Bot unlock", true),
    ] {
        let mut lp = Loop::new().await;
        Arc::get_mut(&mut lp.ctx).unwrap().switches.bot_user = bot_user.map(str::to_owned);
        lp.host_knows("maintainer", "write").await;
        let key = lp.hold_lock(1, "envs/prod").await;
        lp.ctx
            .process(&comment("maintainer", text, "mention-1"))
            .await
            .unwrap();
        let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
        assert_eq!(locks.is_empty(), ours, "{text} with {bot_user:?}");
        if !ours {
            assert_eq!(locks[0].key, key);
            assert!(lp.comments().await.is_empty(), "{text}: no reply");
        }
    }
}

/// Under Lambda a delivery counts as handled only once its work is queued: a hand-off Lambda
/// refuses leaves the delivery unrecorded (the host's retry is handled), an accepted one is
/// recorded (a redelivery is not handed off twice).
#[tokio::test]
async fn a_delivery_is_handled_only_once_its_hand_off_is_queued() {
    for (status, queued) in [(500, false), (202, true)] {
        let mut lp = Loop::new().await;
        let (lambda, handoff) = lambda_answering(status).await;
        Arc::get_mut(&mut lp.ctx).unwrap().handoff = Some(handoff);
        let orchestrator = super::Orchestrator {
            ctx: Arc::clone(&lp.ctx),
        };
        let event = comment("maintainer", "landfall plan", "d-queue");

        let first = orchestrator.record(&event).await;
        assert_eq!(first.is_ok(), queued, "Lambda answered {status}");
        let again = orchestrator.record(&event).await;
        assert_eq!(again.is_ok(), queued, "Lambda answered {status}");
        let invocations = lambda.received_requests().await.unwrap().len();
        // Refused: the retry is handed off again. Accepted: the redelivery is not.
        assert_eq!(
            invocations,
            if queued { 1 } else { 2 },
            "Lambda answered {status}"
        );
    }
}

/// A merged PR with the policy's `delete_source_branch_on_merge`; the host has its branch at the
/// PR's head. Returns the DELETE requests the host received.
async fn merge_with_policy(policy: &str) -> Vec<String> {
    let policy = crate::repo_config::Policy::parse("repos.yaml", policy).unwrap();
    let lp = Loop::with_policy(Some(policy)).await;
    lp.host_has_pr("closed", true).await;
    lp.host_can_delete_the_branch().await;
    let mut merged = opened();
    merged.kind = EventKind::Merged;
    lp.ctx.process(&merged).await.unwrap();
    lp.deletions().await
}

/// The PR as GitHub describes it, `state` and `merged`.
pub(super) fn pr_json(state: &str, merged: bool) -> serde_json::Value {
    json!({
        "number": 1, "state": state, "merged": merged, "mergeable": true,
        "mergeable_state": "clean",
        "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": REPO}},
        "base": {"ref": "main", "sha": SHA, "repo": {"full_name": REPO}},
        "user": {"login": "author"},
        "merge_commit_sha": merged.then_some(MERGE_SHA)
    })
}

impl Loop {
    /// The host has the PR's branch `feature` at the PR's head, and deletes it when asked.
    pub(super) async fn host_can_delete_the_branch(&self) {
        let get = |p: String| Mock::given(method("GET")).and(path(p));
        get(format!("/repos/{REPO}"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"default_branch": "main"})),
            )
            .mount(&self.host)
            .await;
        get(format!("/repos/{REPO}/git/ref/heads/feature"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "ref": "refs/heads/feature", "object": {"sha": SHA, "type": "commit"}
            })))
            .mount(&self.host)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("/repos/{REPO}/git/refs/heads/feature")))
            .respond_with(ResponseTemplate::new(204))
            .mount(&self.host)
            .await;
    }

    /// The paths of the DELETE requests the host received.
    pub(super) async fn deletions(&self) -> Vec<String> {
        let requests = self.host.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "DELETE")
            .map(|r| r.url.path().to_owned())
            .collect()
    }
}

/// As in Atlantis, `delete_source_branch_on_merge` is for the merges Landfall makes (automerge,
/// in `tests/merge.rs`): a PR someone merged keeps its branch (a `develop` merged into `main`).
#[tokio::test]
async fn a_pr_someone_merged_keeps_its_source_branch_whatever_the_policy() {
    let kept =
        merge_with_policy("repos:\n- id: /.*/\n  delete_source_branch_on_merge: true\n").await;
    assert!(kept.is_empty(), "{kept:?}");
}

/// An error may quote what the pull request controls (its repo config, its branch): in the
/// failure comment it stays inside its code block.
#[test]
fn a_failures_text_cannot_close_its_code_block() {
    let err = anyhow::anyhow!("landfall.yaml:3: `x`\n```\n**Applied.** @acme/everyone\n````");
    let body = super::failure_comment(&err);
    let outside = crate::markdown::tests::lines_outside_code(&body);
    assert!(
        outside
            .iter()
            .all(|line| !line.contains("Applied") && !line.contains("@acme")),
        "{outside:?}\n{body}"
    );
    assert!(body.contains("**Applied.** @acme/everyone"), "{body}");
}
