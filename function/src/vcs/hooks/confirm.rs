//! Whether the host reached the function with the hook just registered, asked the way each
//! host's published API allows:
//!
//! | host | how | what it tells |
//! |---|---|---|
//! | GitHub | `POST .../hooks/{id}/pings`, then the ping in `GET .../hooks/{id}/deliveries` (`repos/ping-webhook`, `repos/list-webhook-deliveries`, and the `orgs/` ones) | the function's status |
//! | GitLab | `POST projects/{id}/hooks/{hook_id}/test/push_events`, groups likewise (`groups/`, Premium) | 201 when the function answered 2xx, else 422 with its answer's body |
//! | Bitbucket Data Center | `POST .../webhooks/test?webhookId={id}&url={url}` (`testWebhook_1`) | the function's `response.statusCode` |
//! | Azure DevOps | `POST _apis/hooks/testnotifications` of the PR-created subscription, then `GET _apis/hooks/subscriptions/{s}/notifications/{n}` (`Notifications_Create`, `Notifications_Get`) | `result`, the consumer's `response` and `errorMessage` |
//! | Gitea, Forgejo | none: `repoTestHook` sends a test delivery but answers 204 and no API reads its result | [`Confirmation::Unknown`] |
//! | Bitbucket Cloud | none: no test or delivery API | [`Confirmation::Unknown`] |
//!
//! GitLab's test is of `push_events`, not `merge_requests_events`: GitLab builds the latter from
//! the project's newest merge request with the action `open` (`TestHooks::ProjectService`), which
//! the function would autoplan, and fails with 422 when the project has none; a push is GitLab's
//! sample data, which the function checks the token of and then ignores.
//!
//! Nothing here logs or returns the webhook secret: Azure DevOps' notification echoes the request
//! it sent (its `Authorization` header) in `details.request`, which is never read.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Confirmation, HookClient, HookScope, HookSpec, events};
use crate::event::Provider;
use crate::vcs::http::{Idempotency, RawResponse, check, segment};
use crate::vcs::{Result, VcsError};

/// How many times a delivery's result is read before it is reported unknown, and how long
/// apart.
const POLLS: usize = 20;
const POLL_WAIT: Duration = Duration::from_millis(500);

/// The most of a host's or the function's text kept in a reason.
const REASON_CHARS: usize = 200;

impl HookClient {
    /// Asks the host whether it reached the function with `hook`, the id of the first change
    /// [`HookClient::ensure`] returned (Azure DevOps: the PR-created subscription, whose test
    /// notification is built from `spec`). See the module's table for each host's way; a host
    /// without one answers [`Confirmation::Unknown`], as does one whose delivery is still
    /// pending after about ten seconds.
    ///
    /// # Errors
    ///
    /// When the host refuses the request (no permission to test hooks).
    pub async fn confirm(
        &self,
        scope: &HookScope,
        hook: &str,
        spec: &HookSpec,
    ) -> Result<Confirmation> {
        match self.provider {
            Provider::Github => self.confirm_github(scope, hook).await,
            Provider::Gitlab => self.confirm_gitlab(scope, hook).await,
            Provider::BitbucketServer => self.confirm_bitbucket_server(scope, hook, spec).await,
            Provider::AzureDevops => self.confirm_azure(scope, hook, spec).await,
            Provider::Gitea | Provider::BitbucketCloud => Ok(Confirmation::Unknown),
        }
    }

    /// `POST url` without a body, the response whatever its status.
    async fn post_empty(&self, url: url::Url, what: &str) -> Result<RawResponse> {
        let accept = self.rest.accept_json();
        self.rest
            .send(
                Method::POST,
                url,
                None,
                accept,
                Idempotency::Idempotent,
                what,
            )
            .await
    }

    /// GitHub: a ping, then that ping's entry among the hook's deliveries (told apart from an
    /// earlier registration's pings by its id).
    async fn confirm_github(&self, scope: &HookScope, hook: &str) -> Result<Confirmation> {
        let base = self.collection(scope)?;
        // Newest first.
        let deliveries = format!("{base}/{}/deliveries?per_page=30", segment(hook));
        let pings = |listed: Vec<Value>| -> Vec<Value> {
            listed
                .into_iter()
                .filter(|d| d["event"] == "ping")
                .collect()
        };
        let listing = "list the webhook's deliveries";
        let earlier: Vec<Value> = pings(self.rest.get(&deliveries, listing).await?)
            .into_iter()
            .map(|d| d["id"].clone())
            .collect();
        let what = "ping the webhook";
        let pinged = self
            .post_empty(
                self.rest.url(&format!("{base}/{}/pings", segment(hook)))?,
                what,
            )
            .await?;
        check(pinged, what)?;
        for _ in 0..POLLS {
            let listed = pings(self.rest.get(&deliveries, listing).await?);
            let ping = listed.iter().find(|d| !earlier.contains(&d["id"]));
            let status = ping.and_then(|d| d["status_code"].as_u64());
            match status.and_then(|code| u16::try_from(code).ok()) {
                Some(code) if code > 0 => {
                    let reason = ping.and_then(|d| d["status"].as_str()).unwrap_or("");
                    return Ok(by_status(code, reason));
                }
                _ => tokio::time::sleep(POLL_WAIT).await,
            }
        }
        Ok(Confirmation::Unknown)
    }

    /// GitLab: the hook's test of `push_events`, which GitLab delivers before it answers: 201
    /// when the function answered 2xx, 422 with the function's body (or why GitLab could not
    /// test: a project without commits) otherwise. A GitLab without the endpoint (404) cannot
    /// tell.
    async fn confirm_gitlab(&self, scope: &HookScope, hook: &str) -> Result<Confirmation> {
        let base = self.collection(scope)?;
        let what = "test the webhook";
        let path = format!("{base}/{}/test/push_events", segment(hook));
        let r = self.post_empty(self.rest.url(&path)?, what).await?;
        match r.status {
            StatusCode::UNPROCESSABLE_ENTITY => {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                let reason = match &body["message"] {
                    Value::String(m) => m.clone(),
                    Value::Null => String::from_utf8_lossy(&r.body).into_owned(),
                    other => other.to_string(),
                };
                Ok(Confirmation::Failed {
                    status: None,
                    reason: short(&reason),
                })
            }
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Ok(Confirmation::Unknown),
            _ => check(r, what).map(|_| Confirmation::Delivered(None)),
        }
    }

    /// Bitbucket Data Center: the test of the webhook `hook` (its configuration, so the request
    /// is signed with its secret) at its URL; the reply has the function's `response`.
    async fn confirm_bitbucket_server(
        &self,
        scope: &HookScope,
        hook: &str,
        spec: &HookSpec,
    ) -> Result<Confirmation> {
        let base = self.collection(scope)?;
        let mut url = self.rest.url(&format!("{base}/test"))?;
        url.query_pairs_mut()
            .append_pair("webhookId", hook)
            .append_pair("url", &spec.url);
        let what = "test the webhook";
        let r = self.post_empty(url, what).await?;
        let tested: Value = check(r, what)?.json(what)?;
        let response = &tested["response"];
        let status = response["statusCode"].as_u64();
        Ok(match status.and_then(|code| u16::try_from(code).ok()) {
            Some(code) => by_status(code, response["body"].as_str().unwrap_or("")),
            None => match error_text(&tested["error"]) {
                Some(reason) => Confirmation::Failed {
                    status: None,
                    reason,
                },
                None => Confirmation::Unknown,
            },
        })
    }

    /// Azure DevOps: a test notification of the PR-created subscription `hook`, built from what
    /// it was created with, read until the service hook says it completed.
    async fn confirm_azure(
        &self,
        scope: &HookScope,
        hook: &str,
        spec: &HookSpec,
    ) -> Result<Confirmation> {
        let (project_id, repo_id) = self.azure_repository(scope).await?;
        let (user, password) = super::azure_devops::basic_auth(spec)?;
        let event = events(Provider::AzureDevops)[0];
        let body = json!({
            "subscriptionId": hook,
            "details": {
                "publisherId": "tfs", "eventType": event,
                "consumerId": "webHooks", "consumerActionId": "httpRequest",
                "publisherInputs": {"projectId": project_id, "repository": repo_id},
                "consumerInputs": {"url": spec.url, "basicAuthUsername": user, "basicAuthPassword": password},
            },
        });
        let api = super::azure_devops::API_VERSION;
        let sent: Value = self
            .rest
            .create(
                &format!("_apis/hooks/testnotifications?{api}"),
                &body,
                "send a test notification",
            )
            .await?;
        let (Some(id), subscription) = (sent["id"].as_u64(), sent["subscriptionId"].as_str())
        else {
            return Err(VcsError::Config {
                message: "Azure DevOps sent a test notification but gave no id".to_owned(),
            });
        };
        let path = format!(
            "_apis/hooks/subscriptions/{}/notifications/{id}?{api}",
            segment(subscription.unwrap_or(hook))
        );
        let mut notification = sent;
        for _ in 0..POLLS {
            if let Some(outcome) = notification_outcome(&notification) {
                return Ok(outcome);
            }
            tokio::time::sleep(POLL_WAIT).await;
            notification = self.rest.get(&path, "read the test notification").await?;
        }
        Ok(notification_outcome(&notification).unwrap_or(Confirmation::Unknown))
    }
}

/// A delivery the function answered with `code`: delivered when 2xx, else failed with the
/// host's reason (the status line, or the start of the function's answer).
fn by_status(code: u16, reason: &str) -> Confirmation {
    if (200..300).contains(&code) {
        Confirmation::Delivered(Some(code))
    } else {
        Confirmation::Failed {
            status: Some(code),
            reason: short(reason),
        }
    }
}

/// What an Azure DevOps notification says once it is done (`result` `succeeded`, `failed` or
/// `filtered`), `None` while it is `pending`. The consumer's status is read from the
/// `response` it recorded (`Status Code: 401`, `HTTP/1.1 401 ...`) or the `errorMessage`
/// (`... (401) Unauthorized.`).
fn notification_outcome(notification: &Value) -> Option<Confirmation> {
    let details = &notification["details"];
    let response = details["response"].as_str().unwrap_or("");
    let error = details["errorMessage"].as_str().unwrap_or("");
    let status = status_in(response).or_else(|| status_in(error));
    match notification["result"].as_str()? {
        "succeeded" => Some(Confirmation::Delivered(status)),
        "failed" => {
            let reason = if error.is_empty() {
                response.lines().next().unwrap_or("failed")
            } else {
                error
            };
            Some(Confirmation::Failed {
                status,
                reason: short(reason),
            })
        }
        "filtered" => Some(Confirmation::Failed {
            status: None,
            reason: "Azure DevOps filtered the test notification out: it was not sent".to_owned(),
        }),
        _ => None,
    }
}

/// An HTTP status named in a host's text: after `status code:`, after `HTTP/x.y `, or in
/// parentheses (`(401)`).
fn status_in(text: &str) -> Option<u16> {
    let lower = text.to_ascii_lowercase();
    let code = |rest: &str| -> Option<u16> {
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse::<u16>()
            .ok()
            .filter(|c| digits.len() == 3 && (100..600).contains(c))
    };
    let after = |marker: &str| {
        lower
            .match_indices(marker)
            .find_map(|(at, _)| code(&lower[at + marker.len()..]))
    };
    after("status code:")
        .or_else(|| {
            lower.match_indices("http/").find_map(|(at, _)| {
                let rest = &lower[at..];
                rest.split_once(' ').and_then(|(_, tail)| code(tail))
            })
        })
        .or_else(|| after("("))
}

/// A host's `error`: a string, or an object's `message`.
fn error_text(error: &Value) -> Option<String> {
    match error {
        Value::String(s) if !s.is_empty() => Some(short(s)),
        Value::Object(o) => o.get("message").and_then(Value::as_str).map(short),
        _ => None,
    }
}

/// `text` on one line, at most [`REASON_CHARS`] characters.
fn short(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(REASON_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_read_from_the_ways_hosts_write_it() {
        assert_eq!(status_in("Status Code: 401\r\nReason Phrase: x"), Some(401));
        assert_eq!(status_in("HTTP/1.1 404 Not Found"), Some(404));
        assert_eq!(
            status_in("The remote server returned an error: (401) Unauthorized."),
            Some(401)
        );
        assert_eq!(status_in("connection refused"), None);
        assert_eq!(status_in("(12345)"), None);
    }

    #[test]
    fn an_azure_notification_is_done_when_its_result_says_so() {
        let pending = json!({"result": "pending", "status": "queued"});
        assert_eq!(notification_outcome(&pending), None);
        let ok = json!({"result": "succeeded", "details": {"response": "Status Code: 200"}});
        assert_eq!(
            notification_outcome(&ok),
            Some(Confirmation::Delivered(Some(200)))
        );
        let failed = json!({"result": "failed", "details": {
            "errorMessage": "The remote server returned an error: (401) Unauthorized.",
            "request": "Authorization: Basic bGFuZGZhbGw6czNjcmV0"}});
        assert_eq!(
            notification_outcome(&failed),
            Some(Confirmation::Failed {
                status: Some(401),
                reason: "The remote server returned an error: (401) Unauthorized.".into(),
            })
        );
    }

    #[test]
    fn a_reason_is_one_short_line() {
        assert_eq!(short("a\n  b"), "a b");
        assert_eq!(short(&"x".repeat(300)).chars().count(), REASON_CHARS + 1);
    }
}
