//! Azure DevOps service hooks: one subscription per event (publisher `tfs`, consumer
//! `webHooks`, action `httpRequest`) on `{organization}/_apis/hooks/subscriptions`
//! (`Subscriptions - Create`, `- Replace Subscription`, `- Delete`, `- List`, api-version 7.1),
//! filtered to one repository by `publisherInputs.repository`, the secret as basic auth.

use http::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{HookChange, HookClient, HookScope, HookSpec, events, hook_id};
use crate::event::Provider;
use crate::vcs::http::{Idempotency, segment};
use crate::vcs::{Result, VcsError};

/// The subscriptions' API version.
pub(super) const API_VERSION: &str = "api-version=7.1";

impl HookClient {
    /// The ids of the project and the repository of `scope` (`project/repo`).
    pub(super) async fn azure_repository(&self, scope: &HookScope) -> Result<(String, String)> {
        let HookScope::Repo(repo) = scope else {
            return Err(VcsError::Config {
                message: "Azure DevOps hooks are registered per repository (project/repo)"
                    .to_owned(),
            });
        };
        let (project, name) = repo.split_once('/').ok_or_else(|| VcsError::Config {
            message: format!("{repo:?} is not project/repo"),
        })?;
        let found: Value = self
            .rest
            .get(
                &format!(
                    "{}/_apis/git/repositories/{}?{API_VERSION}",
                    segment(project),
                    segment(name)
                ),
                "read the repository",
            )
            .await?;
        match (found["project"]["id"].as_str(), found["id"].as_str()) {
            (Some(project_id), Some(repo_id)) => Ok((project_id.to_owned(), repo_id.to_owned())),
            _ => Err(VcsError::Config {
                message: format!("Azure DevOps gave no id for {repo}"),
            }),
        }
    }

    /// Every web hook subscription of the organisation. `Subscriptions - List` documents no
    /// paging; a continuation token (`x-ms-continuationtoken`, as Azure DevOps' paged lists
    /// give) is followed all the same.
    async fn azure_subscriptions(&self) -> Result<Vec<Value>> {
        let first =
            format!("_apis/hooks/subscriptions?publisherId=tfs&consumerId=webHooks&{API_VERSION}");
        let what = "list the service hook subscriptions";
        crate::vcs::paging::collect(None, |token: Option<String>| {
            let first = &first;
            async move {
                let mut url = self.rest.url(first)?;
                if let Some(token) = &token {
                    url.query_pairs_mut()
                        .append_pair("continuationToken", token);
                }
                let r = self
                    .rest
                    .get_raw(url, self.rest.accept_json(), what)
                    .await?;
                let next = r
                    .header("x-ms-continuationtoken")
                    .filter(|t| !t.is_empty())
                    .map(|t| Some(t.to_owned()));
                let mut page: Value = r.json(what)?;
                let items = page["value"]
                    .as_array_mut()
                    .map(std::mem::take)
                    .unwrap_or_default();
                Ok((items, next))
            }
        })
        .await
    }

    /// Deletes the subscriptions that send `scope`'s events to `url`; their ids.
    pub(super) async fn remove_azure(&self, scope: &HookScope, url: &str) -> Result<Vec<String>> {
        let (_, repo_id) = self.azure_repository(scope).await?;
        let mut removed = Vec::new();
        for subscription in self.azure_subscriptions().await? {
            let ours = subscription["consumerInputs"]["url"] == json!(url)
                && subscription["publisherInputs"]["repository"] == json!(repo_id);
            if let (true, Some(id)) = (ours, subscription["id"].as_str()) {
                let path = format!("_apis/hooks/subscriptions/{}?{API_VERSION}", segment(id));
                if self.delete(&path, "delete the subscription").await? {
                    removed.push(id.to_owned());
                }
            }
        }
        Ok(removed)
    }

    /// Subscribes the function to each event (or updates a subscription that is disabled, of
    /// another payload version, or whose secret changed).
    pub(super) async fn ensure_azure(
        &self,
        scope: &HookScope,
        spec: &HookSpec,
    ) -> Result<Vec<HookChange>> {
        let (project_id, repo_id) = self.azure_repository(scope).await?;
        let (project_id, repo_id) = (project_id.as_str(), repo_id.as_str());
        let listed = self.azure_subscriptions().await?;
        let (user, password) = basic_auth(spec)?;
        let mut changes = Vec::new();
        for event in events(Provider::AzureDevops) {
            let version = resource_version(event);
            let body = json!({
                "publisherId": "tfs", "eventType": event, "resourceVersion": version,
                "consumerId": "webHooks", "consumerActionId": "httpRequest",
                "publisherInputs": {"projectId": project_id, "repository": repo_id},
                "consumerInputs": {"url": spec.url, "basicAuthUsername": user, "basicAuthPassword": password},
            });
            let existing = listed.iter().find(|s| {
                s["eventType"] == json!(event)
                    && s["consumerInputs"]["url"] == json!(spec.url)
                    && s["publisherInputs"]["repository"] == json!(repo_id)
            });
            let change = match existing.and_then(|s| s["id"].as_str()) {
                Some(id)
                    if !spec.secret_changed
                        && existing.is_some_and(|s| {
                            s["status"] == json!("enabled")
                                && s["resourceVersion"] == json!(version)
                        }) =>
                {
                    HookChange::Unchanged(id.to_owned())
                }
                Some(id) => {
                    let path = format!("_apis/hooks/subscriptions/{}?{API_VERSION}", segment(id));
                    self.rest
                        .send_json::<Value>(
                            Method::PUT,
                            &path,
                            &body,
                            Idempotency::Idempotent,
                            "update the subscription",
                        )
                        .await?;
                    HookChange::Updated(id.to_owned())
                }
                None => {
                    let created: Value = self
                        .rest
                        .create(
                            &format!("_apis/hooks/subscriptions?{API_VERSION}"),
                            &body,
                            "create the subscription",
                        )
                        .await?;
                    HookChange::Created(hook_id(&created).unwrap_or_default())
                }
            };
            changes.push(change);
        }
        Ok(changes)
    }
}

/// The payload version `event`'s subscription asks for: 2.0 for a comment, whose 1.0 payload
/// carries the comment alone (not its pull request or repository, which the webhook needs); 1.0
/// for the pull request events.
fn resource_version(event: &str) -> &'static str {
    if event == "ms.vss-code.git-pullrequest-comment-event" {
        "2.0"
    } else {
        "1.0"
    }
}

/// The basic-auth user and password the subscriptions send, from the webhook secret
/// (`user:password`).
pub(super) fn basic_auth(spec: &HookSpec) -> Result<(&str, &str)> {
    spec.secret
        .expose_secret()
        .split_once(':')
        .ok_or_else(|| VcsError::Config {
            message: "the Azure DevOps webhook secret must be user:password".to_owned(),
        })
}
