//! What every host's `delete_branch` tests share; each host's `delete_branch` module includes this
//! file (`#[path]`) and writes down only its documented requests ([`Api`]):
//! `delete_branch_tests!` makes one test per scenario from them. The scenarios: the documented
//! deletion after reading the default branch and the branch's head; nothing sent for a fork, an
//! unmerged pull request or one whose head is its base; the default branch kept; a branch that
//! moved after the merge kept; a branch already gone; a 404 to the deletion with the branch gone
//! meanwhile; a 403 with the branch still there, an error carrying the host's reason. Hosts that
//! send the expected head with the deletion also use [`Case::moved_meanwhile`].
#![allow(
    dead_code,
    reason = "each host's module includes this file and uses the scenarios that apply to it"
)]

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::vcs::{
    BranchDeletion, PrState, PullRequest, Result, SkipReason, VcsClient, VcsError,
};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// The merged pull request's head commit.
pub const HEAD: &str = "1d4a2c9e0b7f3a6d8e5c2b1f0a9e8d7c6b5a4f3e";
/// A commit pushed to the branch after the merge.
pub const PUSHED: &str = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";
/// The head branch: its `/` must reach each host as the host wants it.
pub const BRANCH: &str = "feature/x";

/// One host's documented requests and answers.
pub struct Api {
    /// The GET of the repository (its default branch).
    pub repository: fn() -> MockBuilder,
    /// Its answer, the default branch named as given.
    pub repository_json: fn(&str) -> Value,
    /// The GET of the branch (its head).
    pub branch: fn() -> MockBuilder,
    /// Its answer with the branch at the given commit.
    pub branch_at: fn(&str) -> ResponseTemplate,
    /// Its answer for a branch that is gone.
    pub gone: fn() -> ResponseTemplate,
    /// The documented deletion: method, path, body.
    pub delete: fn() -> MockBuilder,
    /// The host's answer to a deletion made.
    pub deleted: fn() -> ResponseTemplate,
}

/// `method` of `p`, authenticated with the `header: value` given.
pub fn request(verb: &str, p: impl Into<String>, (name, value): (&str, &str)) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(p.into()))
        .and(header(name, value))
}

/// A reply carrying `message` as most hosts say it.
pub fn refused(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "message": message }))
}

/// A merged pull request 7 from [`BRANCH`] at [`HEAD`] into `main`, its head in `head_repo`.
pub fn merged(head_repo: Option<RepoName>) -> PullRequest {
    PullRequest {
        number: PullRequestNumber(7),
        head_sha: CommitSha::new(HEAD),
        head_branch: BRANCH.to_owned(),
        base_branch: "main".to_owned(),
        author: "dev".to_owned(),
        author_id: None,
        state: PrState::Merged,
        mergeable: None,
        head_repo,
        merge_sha: None,
    }
}

/// What one read of the branch answers.
#[derive(Clone, Copy)]
pub enum Read {
    /// The branch, at this commit.
    At(&'static str),
    /// No such branch.
    Gone,
}

/// One host's client against its wiremock server.
pub struct Case<C> {
    pub server: MockServer,
    pub client: C,
    pub repo: RepoName,
    pub api: Api,
}

impl<C: VcsClient> Case<C> {
    /// A server, and the client `make` builds for it.
    pub async fn start(make: impl FnOnce(&MockServer) -> C, repo: RepoName, api: Api) -> Self {
        let server = MockServer::start().await;
        let client = make(&server);
        Case {
            server,
            client,
            repo,
            api,
        }
    }

    /// The methods of every request the host received, in order.
    async fn methods(&self) -> Vec<String> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests.iter().map(|r| r.method.to_string()).collect()
    }

    /// `delete_branch` of the merged pull request, the host naming `default` the default branch
    /// (once), answering the branch's reads with `reads` in turn, and the deletion with `reply`
    /// (once; never when `None`).
    async fn run(
        &self,
        default: &str,
        reads: &[Read],
        reply: Option<ResponseTemplate>,
    ) -> Result<BranchDeletion> {
        let api = &self.api;
        (api.repository)()
            .respond_with(ResponseTemplate::new(200).set_body_json((api.repository_json)(default)))
            .expect(1)
            .mount(&self.server)
            .await;
        for read in reads {
            let answer = match read {
                Read::At(sha) => (api.branch_at)(sha),
                Read::Gone => (api.gone)(),
            };
            (api.branch)()
                .respond_with(answer)
                .up_to_n_times(1)
                .expect(1)
                .mount(&self.server)
                .await;
        }
        let times = u64::from(reply.is_some());
        (api.delete)()
            .respond_with(reply.unwrap_or_else(api.deleted))
            .expect(times)
            .mount(&self.server)
            .await;
        let pr = merged(Some(self.repo.clone()));
        self.client.delete_branch(&self.repo, &pr).await
    }

    pub async fn deletes_with_the_documented_request(&self) {
        let reply = (self.api.deleted)();
        let outcome = self.run("main", &[Read::At(HEAD)], Some(reply)).await;
        assert_eq!(outcome.unwrap(), BranchDeletion::Deleted);
        let sent = self.methods().await;
        assert_eq!(
            &sent[..2],
            ["GET", "GET"],
            "{sent:?}: reads, then the deletion"
        );
    }

    /// A fork, a fork the host no longer names, an open pull request, one whose head is its
    /// base: skipped, nothing sent.
    pub async fn sends_nothing_for(&self, pr: PullRequest, reason: SkipReason) {
        let outcome = self.client.delete_branch(&self.repo, &pr).await.unwrap();
        assert_eq!(outcome, BranchDeletion::Skipped(reason));
        assert_eq!(self.methods().await, Vec::<String>::new());
    }

    pub async fn keeps_the_default_branch(&self) {
        let outcome = self.run(BRANCH, &[], None).await;
        let kept = BranchDeletion::Skipped(SkipReason::DefaultBranch);
        assert_eq!(outcome.unwrap(), kept);
        assert_eq!(self.methods().await, ["GET"]);
    }

    pub async fn keeps_a_branch_pushed_to_after_the_merge(&self) {
        let outcome = self.run("main", &[Read::At(PUSHED)], None).await;
        let now = CommitSha::new(PUSHED);
        let kept = BranchDeletion::Skipped(SkipReason::Moved { now });
        assert_eq!(outcome.unwrap(), kept);
        assert_eq!(self.methods().await, ["GET", "GET"]);
    }

    pub async fn a_branch_gone_is_already_gone(&self) {
        let outcome = self.run("main", &[Read::Gone], None).await;
        assert_eq!(outcome.unwrap(), BranchDeletion::AlreadyGone);
    }

    /// The branch is there when read, then the deletion answers `reply` and the branch, read
    /// again, is gone: someone (the host's own setting) deleted it in between.
    pub async fn gone_meanwhile(&self, reply: ResponseTemplate) {
        let reads = [Read::At(HEAD), Read::Gone];
        let outcome = self.run("main", &reads, Some(reply)).await;
        assert_eq!(outcome.unwrap(), BranchDeletion::AlreadyGone);
    }

    /// The branch is at the head when read, then the deletion answers `reply` (the host refusing
    /// a branch no longer at the expected head) and the branch, read again, is at [`PUSHED`].
    pub async fn moved_meanwhile(&self, reply: ResponseTemplate) {
        let reads = [Read::At(HEAD), Read::At(PUSHED)];
        let outcome = self.run("main", &reads, Some(reply)).await;
        let now = CommitSha::new(PUSHED);
        let kept = BranchDeletion::Skipped(SkipReason::Moved { now });
        assert_eq!(outcome.unwrap(), kept);
    }

    /// The deletion is refused with `reply` while the branch stays at the head: an error
    /// carrying the host's `reason`, with `status`.
    pub async fn refusal_is_an_error(
        &self,
        reply: ResponseTemplate,
        (status, reason): (u16, &str),
    ) {
        let reads = [Read::At(HEAD), Read::At(HEAD)];
        let error = self.run("main", &reads, Some(reply)).await.unwrap_err();
        let VcsError::Status {
            status: got,
            message,
            ..
        } = &error
        else {
            panic!("not the host's refusal: {error:?}");
        };
        assert_eq!(*got, status, "{error}");
        assert!(message.contains(reason), "{message:?} lacks {reason:?}");
        assert!(error.to_string().contains(BRANCH), "{error}");
    }
}

/// One test per scenario for a host: `$client(&MockServer)` builds its client, `$repo()` names
/// the repository, `$api()` gives its [`Api`].
macro_rules! delete_branch_tests {
    ($client:path, $repo:path, $api:path) => {
        async fn case() -> harness::Case<impl landfall_function::vcs::VcsClient> {
            harness::Case::start($client, $repo(), $api()).await
        }

        #[tokio::test]
        async fn deletes_the_branch_with_the_documented_request() {
            case().await.deletes_with_the_documented_request().await;
        }

        #[tokio::test]
        async fn a_fork_pull_request_sends_no_request() {
            let fork = harness::merged(Some(landfall_function::event::RepoName::new("out/infra")));
            let fork_gone = harness::merged(None);
            for pr in [fork, fork_gone] {
                let reason = landfall_function::vcs::SkipReason::Fork;
                case().await.sends_nothing_for(pr, reason).await;
            }
        }

        #[tokio::test]
        async fn an_open_pull_request_or_one_into_its_own_branch_sends_no_request() {
            use landfall_function::vcs::{PrState, PullRequest, SkipReason};
            let open = PullRequest {
                state: PrState::Open,
                ..harness::merged(Some($repo()))
            };
            case()
                .await
                .sends_nothing_for(open, SkipReason::NotMerged)
                .await;
            let into_itself = PullRequest {
                base_branch: format!("refs/heads/{}", harness::BRANCH),
                ..harness::merged(Some($repo()))
            };
            let reason = SkipReason::BaseBranch;
            case().await.sends_nothing_for(into_itself, reason).await;
        }

        #[tokio::test]
        async fn the_default_branch_is_kept() {
            case().await.keeps_the_default_branch().await;
        }

        #[tokio::test]
        async fn a_branch_pushed_to_after_the_merge_is_kept() {
            case()
                .await
                .keeps_a_branch_pushed_to_after_the_merge()
                .await;
        }

        #[tokio::test]
        async fn a_branch_already_deleted_is_already_gone() {
            case().await.a_branch_gone_is_already_gone().await;
        }

        #[tokio::test]
        async fn a_404_to_the_deletion_of_a_branch_gone_meanwhile_is_already_gone() {
            let reply = harness::refused(404, "404 Not Found");
            case().await.gone_meanwhile(reply).await;
        }

        #[tokio::test]
        async fn a_403_is_an_error_with_the_hosts_reason() {
            let reason = "you may not delete this branch";
            let reply = harness::refused(403, reason);
            case().await.refusal_is_an_error(reply, (403, reason)).await;
        }
    };
}
