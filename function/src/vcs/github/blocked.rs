//! Reading what blocks a `blocked` pull request: the GraphQL query of [`super::mergeable`], then
//! what its judgment leaves to REST.

use http::Method;

use super::app::Scope;
use super::mergeable::{QUERY, StillToCheck, judge};
use super::{GithubClient, Host as _, PrRef, Rest};
use crate::vcs::PullRequest;
use crate::vcs::http::{Idempotency, segment};

impl GithubClient {
    /// Whether a `blocked` pull request is blocked by Landfall's own apply checks alone (asked
    /// only where a `mergeable` requirement is checked): one `POST /graphql` (`/api/graphql` on
    /// Enterprise Server), then what [`judge`] leaves to REST. Anything unread is a no.
    pub(super) async fn only_own_checks_block(&self, pr: PrRef<'_>, pull: &PullRequest) -> bool {
        let verdict = match self.ask_what_blocks(pr, pull).await {
            Ok(answer) => judge(
                &answer,
                pull.head_sha.as_str(),
                &pull.base_branch,
                &self.status_name,
            ),
            Err(e) => Err(e.to_string()),
        };
        let verdict = match verdict {
            Ok(left) => self.check_the_rest(pr, pull, &left).await,
            Err(why) => Err(why),
        };
        if let Err(why) = &verdict {
            tracing::info!(pr = %Self::pr_name(pr), %why, "blocked: not mergeable");
        }
        verdict.is_ok()
    }

    async fn ask_what_blocks(
        &self,
        pr: PrRef<'_>,
        pull: &PullRequest,
    ) -> super::Result<serde_json::Value> {
        let (owner, name) = pr.repo.as_str().split_once('/').unwrap_or_default();
        let body = serde_json::json!({
            "query": QUERY,
            "variables": {
                "owner": owner, "name": name, "number": pr.number.0,
                "head": pull.head_sha.as_str(),
            },
        });
        let what = format!("read what blocks the merge of {}", Self::pr_name(pr));
        let (body, what) = (&body, what.as_str());
        self.authed(Scope::Repo(pr.repo), |rest: Rest| async move {
            let graphql = if rest.url("")?.path().ends_with("/v3/") {
                "../graphql"
            } else {
                "graphql"
            };
            let idempotent = Idempotency::Idempotent;
            rest.send_json(Method::POST, graphql, body, idempotent, what)
                .await
        })
        .await
    }

    /// What the GraphQL answer left: that the base has no branch protection it could not show
    /// (`GET /repos/{o}/{r}/branches/{base}`: `protected` false), and that the head is up to
    /// date with the base.
    async fn check_the_rest(
        &self,
        pr: PrRef<'_>,
        pull: &PullRequest,
        left: &StillToCheck,
    ) -> Result<(), String> {
        if left.no_protection {
            let what = format!("read the protection of {} in {}", pull.base_branch, pr.repo);
            let repo = Self::repo_path(pr.repo).map_err(|e| e.to_string())?;
            let target = format!("{repo}/branches/{}", segment(&pull.base_branch));
            let branch: serde_json::Value = self
                .get(pr.repo, &target, &what)
                .await
                .map_err(|e| e.to_string())?;
            // Only an unprotected branch: `protected` is true for a ruleset's branch too, and
            // what else a hidden rule asks cannot be known.
            if branch.get("protected").and_then(serde_json::Value::as_bool) != Some(false) {
                return Err(format!(
                    "{} is protected, and GitHub did not show its protection rule (an App needs Administration: Read-only)",
                    pull.base_branch
                ));
            }
        }
        if left.up_to_date
            && !self
                .head_contains_base(pr.repo, pull)
                .await
                .map_err(|e| e.to_string())?
        {
            return Err("a required check is enforced on an up-to-date branch, and the head is behind its base".to_owned());
        }
        Ok(())
    }
}
