//! Registering the function's webhook on a VCS host, idempotently: the host's hooks are listed,
//! one already pointing at the function's URL is updated (only when its events, its active flag
//! or its secret differ), else one is created. `landfall up` calls [`HookClient::ensure`], then
//! [`HookClient::confirm`]; the paths and bodies follow each host's published API description:
//!
//! | host | hooks | the secret | confirmed by |
//! |---|---|---|---|
//! | GitHub | `repos/{o}/{r}/hooks` or `orgs/{org}/hooks` (`repos/create-webhook`, `repos/update-webhook` (no `name` in its body), `orgs/create-webhook`, `orgs/update-webhook`) | `config.secret` | a ping (`POST .../hooks/{id}/pings`) and its entry in `GET .../hooks/{id}/deliveries` (an organisation hook has no `last_response`): the function's status |
//! | GitLab | `projects/{id}/hooks` or `groups/{id}/hooks` (`POST`, `PUT .../hooks/{hook_id}`) | `token` | `POST .../hooks/{hook_id}/test/push_events` (groups: Premium): 201 when the function answered 2xx, else 422 with its answer |
//! | Gitea, Forgejo | `repos/{o}/{r}/hooks` (`repoListHooks` paged by `page`/`limit`, `repoCreateHook`, `repoEditHook` whose `EditHookOption` has no `type`) | `config.secret` | nothing: `repoTestHook` answers 204 and no API reads a delivery ([`Confirmation::Unknown`]) |
//! | Bitbucket Cloud | `repositories/{workspace}/{slug}/hooks` (`POST`, `PUT .../hooks/{uid}`) | `secret` | nothing: no test or delivery API ([`Confirmation::Unknown`]) |
//! | Bitbucket Data Center | `rest/api/1.0/projects/{KEY}/repos/{slug}/webhooks` (`POST`, `PUT .../webhooks/{id}`) | `configuration.secret` | `POST .../webhooks/test?webhookId={id}&url={url}`: the function's `response.statusCode` |
//! | Azure DevOps | one service hook subscription per event (`_apis/hooks/subscriptions`, publisher `tfs`, consumer `webHooks`/`httpRequest`) | basic auth | a test notification of the PR-created subscription (`POST _apis/hooks/testnotifications`), read back (`GET _apis/hooks/subscriptions/{s}/notifications/{n}`) until its `result` is `succeeded` or `failed` |
//!
//! How each confirmation is read, and why GitLab tests `push_events`, is in `hooks/confirm.rs`.
//!
//! `landfall down` calls [`HookClient::remove`]: every hook for the function's URL is deleted
//! (`DELETE` on the hook, or Azure DevOps' subscription); none there is not an error.
//!
//! A host does not give a hook's secret back, so whether the registered secret is the current
//! one is told by the caller (`secret_changed`).

mod azure_devops;
mod confirm;

use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::http::{Auth, Idempotency, Rest, RestOptions, RetryPolicy, segment};
use super::{Result, VcsError};
use crate::event::Provider;

/// Where the hook is registered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookScope {
    /// One repository: `owner/name` (GitHub, Gitea, Bitbucket Cloud `workspace/slug`),
    /// `group/project` (GitLab, nested groups too), `PROJECT/slug` (Bitbucket Data Center),
    /// `project/repo` (Azure DevOps).
    Repo(String),
    /// Every repository of a GitHub organisation or a GitLab group.
    Org(String),
}

/// What to register.
#[derive(Debug)]
pub struct HookSpec {
    /// The function's URL.
    pub url: String,
    /// The webhook secret (Azure DevOps: `user:password`).
    pub secret: SecretString,
    /// Whether the secret differs from the one last registered: an existing hook is then
    /// updated even when everything the host shows matches.
    pub secret_changed: bool,
}

/// What [`ensure`] did to one hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookChange {
    /// A new hook, with the host's id.
    Created(String),
    /// An existing hook for the same URL, updated.
    Updated(String),
    /// An existing hook already as wanted.
    Unchanged(String),
}

impl HookChange {
    /// The host's id of the hook.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            HookChange::Created(id) | HookChange::Updated(id) | HookChange::Unchanged(id) => id,
        }
    }
}

/// Whether the host says it reached the function ([`HookClient::confirm`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The host's delivery got a 2xx from the function: its status, where the host gives it
    /// (GitLab only says the hook answered 2xx).
    Delivered(Option<u16>),
    /// The host's delivery failed: the function's status where the host gives it (401: the
    /// secret the host signs with is not the function's; 404: the URL is wrong), and the
    /// host's reason.
    Failed {
        /// The HTTP status the function answered, where the host gives it.
        status: Option<u16>,
        /// The host's words: its error message, or the status line.
        reason: String,
    },
    /// The host has no delivery to report yet, or no API to ask.
    Unknown,
}

/// The events the function acts on, per host.
#[must_use]
pub fn events(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Github => &[
            "pull_request",
            "issue_comment",
            "pull_request_review",
            "pull_request_review_comment",
        ],
        Provider::Gitea => &[
            "pull_request",
            "pull_request_sync",
            "issue_comment",
            "pull_request_comment",
        ],
        Provider::Gitlab => &["merge_requests_events", "note_events"],
        Provider::BitbucketCloud => &[
            "pullrequest:created",
            "pullrequest:updated",
            "pullrequest:fulfilled",
            "pullrequest:rejected",
            "pullrequest:comment_created",
        ],
        Provider::BitbucketServer => &[
            "pr:opened",
            "pr:from_ref_updated",
            "pr:merged",
            "pr:declined",
            "pr:deleted",
            "pr:modified",
            "pr:comment:added",
        ],
        Provider::AzureDevops => &[
            "git.pullrequest.created",
            "git.pullrequest.updated",
            "git.pullrequest.merged",
            "ms.vss-code.git-pullrequest-comment-event",
        ],
    }
}

/// A client for registering hooks on one host.
#[derive(Debug)]
pub struct HookClient {
    provider: Provider,
    rest: Rest,
}

impl HookClient {
    /// A client for `provider`'s API at `base` (the public service's when `None`, as
    /// `LANDFALL_VCS_URL`), authenticated as the function's adapters are with `token`.
    ///
    /// # Errors
    ///
    /// [`VcsError::Config`] for a bad URL, or a host without a public service and no URL.
    pub fn new(provider: Provider, base: Option<&str>, token: &SecretString) -> Result<Self> {
        let policy = RetryPolicy::default();
        let needs_url = || VcsError::Config {
            message: format!("{provider} has no public service: set the API URL (--vcs-url)"),
        };
        let rest = match provider {
            Provider::Github => {
                let mut headers = http::HeaderMap::new();
                headers.insert(
                    "x-github-api-version",
                    http::HeaderValue::from_static("2022-11-28"),
                );
                let options = RestOptions {
                    headers,
                    accept_json: "application/vnd.github+json",
                    accept_archive: "application/vnd.github+json",
                    follow_redirects: false,
                };
                let base = base.unwrap_or(super::github::DEFAULT_URL);
                Rest::with_options(base, Auth::Bearer(token.clone()), policy, options)?
            }
            Provider::Gitlab => Rest::new(
                base.unwrap_or(super::gitlab::DEFAULT_URL),
                Auth::PrivateToken(token.clone()),
                policy,
            )?,
            Provider::Gitea => Rest::new(
                base.unwrap_or(super::gitea::DEFAULT_URL),
                Auth::Token(token.clone()),
                policy,
            )?,
            Provider::BitbucketCloud => Rest::new(
                base.unwrap_or(super::bitbucket_cloud::DEFAULT_URL),
                Auth::basic_or(token, Auth::Bearer),
                policy,
            )?,
            Provider::BitbucketServer => Rest::new(
                base.ok_or_else(needs_url)?,
                Auth::basic_or(token, Auth::Bearer),
                policy,
            )?,
            Provider::AzureDevops => {
                let auth = Auth::basic_or(token, |t| Auth::Basic {
                    user: String::new(),
                    password: t,
                });
                Rest::new(base.ok_or_else(needs_url)?, auth, policy)?
            }
        };
        Ok(HookClient { provider, rest })
    }

    /// Makes sure the host sends the function's events to `spec.url`, with the secret:
    /// creates the hook, or updates the one already there for that URL. Azure DevOps has one
    /// subscription per event, so one change per event.
    ///
    /// # Errors
    ///
    /// When the host refuses (no permission to manage hooks: the message names the status), or
    /// the scope does not fit the host.
    pub async fn ensure(&self, scope: &HookScope, spec: &HookSpec) -> Result<Vec<HookChange>> {
        match self.provider {
            Provider::AzureDevops => self.ensure_azure(scope, spec).await,
            _ => Ok(vec![self.ensure_one(scope, spec).await?]),
        }
    }

    /// Deletes every hook of `scope` that sends to `url` (Azure DevOps: every subscription);
    /// returns their ids, none when there was none.
    ///
    /// # Errors
    ///
    /// When the host refuses (no permission to manage hooks), or the scope does not fit.
    pub async fn remove(&self, scope: &HookScope, url: &str) -> Result<Vec<String>> {
        if self.provider == Provider::AzureDevops {
            return self.remove_azure(scope, url).await;
        }
        let base = self.collection(scope)?;
        let mut removed = Vec::new();
        for hook in self.list(&base).await? {
            if let (true, Some(id)) = (self.judge(&hook, url).0, hook_id(&hook)) {
                let path = format!("{base}/{}", segment(&id));
                if self.delete(&path, "delete the webhook").await? {
                    removed.push(id);
                }
            }
        }
        Ok(removed)
    }

    /// `DELETE path`: whether it deleted something (a 404 is a hook already gone).
    async fn delete(&self, path: &str, what: &str) -> Result<bool> {
        let url = self.rest.url(path)?;
        let r = self
            .rest
            .send(
                Method::DELETE,
                url,
                None,
                self.rest.accept_json(),
                Idempotency::Idempotent,
                what,
            )
            .await?;
        if r.status == http::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        super::http::check(r, what).map(|_| true)
    }

    /// The hooks collection of `scope` on this host.
    fn collection(&self, scope: &HookScope) -> Result<String> {
        let wrong = |what: &str| VcsError::Config {
            message: format!("{} hooks cannot be registered on {what}", self.provider),
        };
        let two = |s: &str| -> Result<(String, String)> {
            s.split_once('/')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('/'))
                .map(|(a, b)| (segment(a), segment(b)))
                .ok_or_else(|| VcsError::Config {
                    message: format!("{s:?} is not owner/name"),
                })
        };
        Ok(match (self.provider, scope) {
            (Provider::Github | Provider::Gitea, HookScope::Repo(r)) => {
                let (o, n) = two(r)?;
                format!("repos/{o}/{n}/hooks")
            }
            (Provider::Github, HookScope::Org(org)) => format!("orgs/{}/hooks", segment(org)),
            (Provider::Gitlab, HookScope::Repo(p)) => format!("projects/{}/hooks", segment(p)),
            (Provider::Gitlab, HookScope::Org(g)) => format!("groups/{}/hooks", segment(g)),
            (Provider::BitbucketCloud, HookScope::Repo(r)) => {
                let (w, s) = two(r)?;
                format!("repositories/{w}/{s}/hooks")
            }
            (Provider::BitbucketServer, HookScope::Repo(r)) => {
                let (p, s) = two(r)?;
                format!("rest/api/1.0/projects/{p}/repos/{s}/webhooks")
            }
            (_, HookScope::Org(_)) => return Err(wrong("an organisation or group")),
            (Provider::AzureDevops, HookScope::Repo(_)) => "_apis/hooks/subscriptions".to_owned(),
        })
    }

    /// The body that creates or updates the hook.
    fn body(&self, spec: &HookSpec) -> Value {
        let secret = spec.secret.expose_secret();
        let events = events(self.provider);
        match self.provider {
            Provider::Github => json!({
                "name": "web", "active": true, "events": events,
                "config": {"url": spec.url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
            }),
            Provider::Gitea => json!({
                "type": "gitea", "active": true, "events": events,
                "config": {"url": spec.url, "content_type": "json", "secret": secret},
            }),
            // A `whsec_` secret is GitLab's signing token (the `webhook-signature` the function
            // then requires); any other, the plain `X-Gitlab-Token`.
            Provider::Gitlab => {
                let key = if secret.starts_with("whsec_") {
                    "signing_token"
                } else {
                    "token"
                };
                json!({
                    "url": spec.url, key: secret, "merge_requests_events": true,
                    "note_events": true, "push_events": false, "enable_ssl_verification": true,
                })
            }
            Provider::BitbucketCloud => json!({
                "description": "Landfall", "url": spec.url, "active": true,
                "events": events, "secret": secret,
            }),
            Provider::BitbucketServer | Provider::AzureDevops => json!({
                "name": "Landfall", "url": spec.url, "active": true, "events": events,
                "configuration": {"secret": secret},
            }),
        }
    }

    /// Whether a listed hook is the function's, and whether it is already as wanted (apart
    /// from the secret, which no host shows).
    fn judge(&self, hook: &Value, url: &str) -> (bool, bool) {
        let hook_url = match self.provider {
            Provider::Github | Provider::Gitea => hook["config"]["url"].as_str(),
            _ => hook["url"].as_str(),
        };
        if hook_url != Some(url) {
            return (false, false);
        }
        let wanted = events(self.provider);
        let same = if self.provider == Provider::Gitlab {
            hook["merge_requests_events"] == json!(true) && hook["note_events"] == json!(true)
        } else {
            let mut have: Vec<&str> = hook["events"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            have.sort_unstable();
            let mut want = wanted.to_vec();
            want.sort_unstable();
            have == want && hook["active"] != json!(false)
        };
        (true, same)
    }

    async fn ensure_one(&self, scope: &HookScope, spec: &HookSpec) -> Result<HookChange> {
        let base = self.collection(scope)?;
        let list = self.list(&base).await?;
        let body = self.body(spec);
        let found = list
            .iter()
            .map(|h| (h, self.judge(h, &spec.url)))
            .find(|(_, (mine, _))| *mine);
        if let Some((hook, (_, same))) = found {
            let id = hook_id(hook).ok_or_else(|| VcsError::Config {
                message: format!("the host listed a hook for {} without an id", spec.url),
            })?;
            if same && !spec.secret_changed {
                return Ok(HookChange::Unchanged(id));
            }
            let (method, body) = match self.provider {
                Provider::Github | Provider::Gitea => (Method::PATCH, edit_body(body)),
                _ => (Method::PUT, body),
            };
            let path = format!("{base}/{}", segment(&id));
            self.rest
                .put(method, &path, &body, "update the webhook")
                .await?;
            return Ok(HookChange::Updated(id));
        }
        let created: Value = self.rest.create(&base, &body, "create the webhook").await?;
        let id = hook_id(&created).ok_or_else(|| VcsError::Config {
            message: "the host created a hook but gave no id".to_owned(),
        })?;
        Ok(HookChange::Created(id))
    }

    /// Every hook of a collection, following every page the host gives: GitHub and Gitea by
    /// `Link: rel="next"` (Gitea pages with `limit`, not `per_page`), GitLab by `X-Next-Page`,
    /// Bitbucket Cloud by the page's `next`, Bitbucket Data Center by `nextPageStart`.
    async fn list(&self, base: &str) -> Result<Vec<Value>> {
        let what = "list the webhooks";
        let rest = &self.rest;
        match self.provider {
            Provider::Github => rest.pages(&format!("{base}?per_page=100"), what).await,
            Provider::Gitea => rest.pages(&format!("{base}?limit=50"), what).await,
            Provider::Gitlab => {
                rest.pages_numbered(&format!("{base}?per_page=100"), what)
                    .await
            }
            Provider::BitbucketCloud => {
                rest.pages_linked(&format!("{base}?pagelen=100"), what)
                    .await
            }
            Provider::BitbucketServer => {
                rest.pages_from_start(&format!("{base}?limit=100"), what)
                    .await
            }
            Provider::AzureDevops => Err(VcsError::Config {
                message: "Azure DevOps has subscriptions, not a hooks collection".to_owned(),
            }),
        }
    }
}

/// The body of a GitHub or Gitea edit: the create body without what only a create takes
/// (GitHub's `name`, Gitea's `type`).
fn edit_body(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.remove("name");
        fields.remove("type");
    }
    body
}

/// A hook's id as text: `id` (number or string) or Bitbucket Cloud's `uuid`.
fn hook_id(hook: &Value) -> Option<String> {
    match (&hook["id"], &hook["uuid"]) {
        (Value::Number(n), _) => Some(n.to_string()),
        (Value::String(s), _) | (_, Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_id_is_a_number_a_string_or_a_bitbucket_uuid() {
        assert_eq!(hook_id(&json!({"id": 7})).as_deref(), Some("7"));
        assert_eq!(hook_id(&json!({"id": "s-1"})).as_deref(), Some("s-1"));
        assert_eq!(
            hook_id(&json!({"uuid": "{4e1a}"})).as_deref(),
            Some("{4e1a}")
        );
        assert_eq!(hook_id(&json!({"url": "x"})), None);
    }

    #[test]
    fn every_host_subscribes_to_pull_requests_and_comments() {
        for provider in Provider::ALL {
            let events = events(provider).join(" ");
            assert!(
                events.contains("pull")
                    || events.contains("merge_request")
                    || events.contains("pr:opened"),
                "{provider}: {events}"
            );
            assert!(
                events.contains("comment") || events.contains("note"),
                "{provider}: {events}"
            );
        }
    }

    #[test]
    fn a_gitlab_signing_secret_is_registered_as_the_signing_token() {
        let client = HookClient::new(
            Provider::Gitlab,
            Some("https://gitlab.example.com/api/v4"),
            &SecretString::from("tok"),
        )
        .unwrap();
        let spec = |secret: &str| HookSpec {
            url: "https://fn.example.com/".to_owned(),
            secret: SecretString::from(secret.to_owned()),
            secret_changed: true,
        };
        let signed = client.body(&spec("whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="));
        assert!(signed.get("token").is_none(), "{signed}");
        assert!(
            signed["signing_token"]
                .as_str()
                .unwrap()
                .starts_with("whsec_")
        );
        let plain = client.body(&spec("s3cret"));
        assert_eq!(plain["token"], "s3cret");
        assert!(plain.get("signing_token").is_none());
    }

    #[test]
    fn an_organisation_hook_is_refused_where_the_host_has_none() {
        let token = SecretString::from("t");
        let gitea =
            HookClient::new(Provider::Gitea, Some("http://127.0.0.1:1/api/v1"), &token).unwrap();
        assert!(gitea.collection(&HookScope::Org("acme".into())).is_err());
        assert!(
            gitea.collection(&HookScope::Repo("acme".into())).is_err(),
            "owner/name needed"
        );
        assert!(
            HookClient::new(Provider::BitbucketServer, None, &token).is_err(),
            "a URL is needed"
        );
    }
}
