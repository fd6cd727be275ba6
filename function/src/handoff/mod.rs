//! The durable hand-off under Lambda. Lambda may freeze an execution environment as soon as an
//! invocation has answered, so work spawned after the answer is not safe there. Instead, the
//! invocation that receives a webhook verifies it, answers `202` and hands the event on as an
//! **asynchronous invocation** (`InvocationType: Event`) of the worker
//! (`LANDFALL_HANDOFF_FUNCTION`; unset, the function itself): Lambda queues it durably and
//! retries it on failure, and that second invocation does the slow work (repo config, selection,
//! locks, dispatch) while nobody waits. A hand-off that Lambda does not accept is a `500`, so the
//! host redelivers; nothing was recorded. A runner's report is handed on the same way once
//! recorded: what follows the run (the next execution order group, apply on merge, automerge) is
//! [`seal_settled`]'s payload.
//!
//! The payload is the normalised event (not the raw delivery: Azure DevOps' and GitLab's
//! secrets travel in headers), sealed with an HMAC-SHA256 keyed by the webhook secret, so a
//! principal allowed to invoke the function still cannot forge an event without the secret.
//!
//! Outside Lambda, and under Lambda with `LANDFALL_HANDOFF=inline`, the work is spawned in the
//! same process after the answer, as `serve` does.

use std::fmt::Write as _;

use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::OnceCell;

use crate::command::parse_comment;
use crate::config::env_vars;
use crate::config::env_vars::HANDOFF;
use crate::event::{
    CommentId, CommitSha, DeliveryId, Event, EventKind, Provider, PullRequestNumber, RepoName,
};
use crate::run::RunSpec;

/// The key of a hand-off payload's one member; any other invocation is an HTTP event.
pub const PAYLOAD_KEY: &str = "landfall_handoff";

/// An event as it travels in a hand-off: the actionable kinds only, a comment's command parsed
/// again on arrival from its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffEvent {
    kind: String,
    provider: Provider,
    delivery: Option<String>,
    repo: Option<String>,
    number: Option<u64>,
    head_sha: Option<String>,
    head_branch: Option<String>,
    base_branch: Option<String>,
    pr_author: Option<String>,
    sender: Option<String>,
    #[serde(default)]
    sender_id: Option<String>,
    #[serde(default)]
    head_repo: Option<String>,
    #[serde(default)]
    body_sha256: Option<String>,
    comment: Option<String>,
    /// Left out when absent, as `draft` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment_id: Option<String>,
    clone_url: Option<String>,
    installation: Option<u64>,
    /// Left out when false, so that a hand-off sealed before the field existed opens the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    draft: bool,
    /// When the hand-off was sealed (Unix seconds); absent from hand-offs sealed before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_at: Option<u64>,
}

/// A comment command whose hand-off is older than this when it is opened is not run. Lambda
/// retries a hand-off for an hour at most (the rendered platform's maximum event age), so an
/// older one was redriven from the dead-letter queue, and the commenter asked for it in
/// another state of the pull request: they are to ask again.
pub const MAX_COMMAND_AGE_SECS: u64 = 3 * 3600;

/// A hand-off that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// Not a hand-off payload, or not one this version reads.
    #[error("malformed hand-off payload: {0}")]
    Malformed(String),
    /// The seal does not match: not sent by this deployment.
    #[error("the hand-off's seal does not match; it was not sent by this function")]
    BadSeal,
    /// A comment command sealed longer ago than [`MAX_COMMAND_AGE_SECS`]: not run.
    #[error(
        "the hand-off of a comment command was sealed {age_secs} s ago (a redrive from the \
         dead-letter queue?): it is not run; the commenter may comment again"
    )]
    StaleCommand {
        /// How long ago it was sealed.
        age_secs: u64,
    },
}

impl HandoffEvent {
    /// The hand-off form of `event`; `None` for events with nothing to do.
    #[must_use]
    pub fn from_event(event: &Event) -> Option<Self> {
        if !event.is_actionable() {
            return None;
        }
        Some(Self {
            kind: event.kind.name().to_owned(),
            provider: event.provider,
            delivery: event.delivery.as_ref().map(|d| d.as_str().to_owned()),
            repo: event.repo.as_ref().map(|r| r.as_str().to_owned()),
            number: event.number.map(|n| n.0),
            head_sha: event.head_sha.as_ref().map(|s| s.as_str().to_owned()),
            head_branch: event.head_branch.clone(),
            base_branch: event.base_branch.clone(),
            pr_author: event.pr_author.clone(),
            sender: event.sender.clone(),
            sender_id: event.sender_id.clone(),
            head_repo: event.head_repo.as_ref().map(|r| r.as_str().to_owned()),
            body_sha256: event.body_sha256.clone(),
            comment: event.comment.clone(),
            comment_id: event.comment_id.as_ref().map(|c| c.0.clone()),
            clone_url: event.clone_url.clone(),
            installation: event.installation,
            draft: event.draft,
            sealed_at: None,
        })
    }

    /// The event again.
    pub fn into_event(self) -> Result<Event, HandoffError> {
        let kind = match self.kind.as_str() {
            "opened" => EventKind::Opened,
            "pushed" => EventKind::Pushed,
            "ready" => EventKind::Ready,
            "reopened" => EventKind::Reopened,
            "closed" => EventKind::Closed,
            "merged" => EventKind::Merged,
            "comment" => EventKind::Commented(self.comment.as_deref().and_then(parse_comment)),
            other => {
                return Err(HandoffError::Malformed(format!(
                    "unknown event kind {other:?}"
                )));
            }
        };
        let mut event = Event::new(self.provider, kind);
        event.delivery = self.delivery.map(DeliveryId::new);
        event.repo = self.repo.map(RepoName::new);
        event.number = self.number.map(PullRequestNumber);
        event.head_sha = self.head_sha.map(CommitSha::new);
        event.head_branch = self.head_branch;
        event.base_branch = self.base_branch;
        event.pr_author = self.pr_author;
        event.sender = self.sender;
        event.sender_id = self.sender_id;
        event.head_repo = self.head_repo.map(RepoName::new);
        event.body_sha256 = self.body_sha256;
        event.comment = self.comment;
        event.comment_id = self.comment_id.map(CommentId);
        event.clone_url = self.clone_url;
        event.installation = self.installation;
        event.draft = self.draft;
        Ok(event)
    }
}

/// The seal's domain of a hand-off.
const HANDOFF_DOMAIN: &[u8] = b"landfall-handoff-v1\n";

/// HMAC-SHA256 of `domain` then `value`'s JSON under `key`, in hex: a domain per kind of
/// payload, so that one kind's seal never opens another.
fn mac_hex(domain: &[u8], value: &impl Serialize, key: &SecretString) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(domain);
    mac.update(&serde_json::to_vec(value).expect("a hand-off serialises"));
    let mut hex = String::with_capacity(64);
    for byte in mac.finalize().into_bytes() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The invocation payload handing `event` off: `{"landfall_handoff": {"event": ..., "seal":
/// ...}}`; `None` for events with nothing to do.
#[must_use]
pub fn seal(event: &Event, key: &SecretString) -> Option<serde_json::Value> {
    let mut event = HandoffEvent::from_event(event)?;
    event.sealed_at = Some(crate::store::now_secs());
    Some(sealed(PAYLOAD_KEY, "event", HANDOFF_DOMAIN, &event, key))
}

/// Whether an invocation payload is a hand-off.
#[must_use]
pub fn is_handoff(payload: &serde_json::Value) -> bool {
    payload.get(PAYLOAD_KEY).is_some()
}

/// The event a hand-off payload carries, once its seal is checked (in constant time); a comment
/// command sealed too long ago is refused ([`HandoffError::StaleCommand`]).
pub fn open(payload: &serde_json::Value, key: &SecretString) -> Result<Event, HandoffError> {
    open_at(payload, key, crate::store::now_secs())
}

/// [`open`] at the time `now` (Unix seconds).
fn open_at(payload: &serde_json::Value, key: &SecretString, now: u64) -> Result<Event, HandoffError> {
    let event: HandoffEvent = open_sealed(payload, PAYLOAD_KEY, "event", HANDOFF_DOMAIN, key)?;
    let age_secs = event.sealed_at.map_or(0, |at| now.saturating_sub(at));
    if event.kind == "comment" && age_secs > MAX_COMMAND_AGE_SECS {
        return Err(HandoffError::StaleCommand { age_secs });
    }
    event.into_event()
}

/// `{name: {field: value, "seal": ...}}`: `value` and its seal under `domain`.
fn sealed(
    name: &str,
    field: &str,
    domain: &[u8],
    value: &impl Serialize,
    key: &SecretString,
) -> serde_json::Value {
    let seal = mac_hex(domain, value, key);
    serde_json::json!({ name: { field: value, "seal": seal } })
}

/// The `field` of the payload's member `name`, once the seal beside it is checked against
/// `domain` (in constant time).
fn open_sealed<T: serde::de::DeserializeOwned + Serialize>(
    payload: &serde_json::Value,
    name: &str,
    field: &str,
    domain: &[u8],
    key: &SecretString,
) -> Result<T, HandoffError> {
    let inner = payload
        .get(name)
        .ok_or_else(|| HandoffError::Malformed(format!("no {name:?} member")))?;
    let part = |part: &str| {
        inner
            .get(part)
            .ok_or_else(|| HandoffError::Malformed(format!("no {part:?} in {name:?}")))
    };
    let seal = part("seal")?
        .as_str()
        .ok_or_else(|| HandoffError::Malformed(format!("the seal in {name:?} is not a string")))?;
    let value = crate::json::from_value(part(field)?)
        .map_err(|err| HandoffError::Malformed(err.to_string()))?;
    check_seal(&mac_hex(domain, &value, key), seal)?;
    Ok(value)
}

/// Compares a seal with the one expected, in constant time.
fn check_seal(expected: &str, seal: &str) -> Result<(), HandoffError> {
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        seal.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(HandoffError::BadSeal)
    }
}

/// The key of the payload that hands on what follows a recorded run (the next execution order
/// group, apply on merge, automerge): the function that takes a runner's report answers it at
/// once and leaves that work to the hand-off's function.
pub const SETTLED_KEY: &str = "landfall_settled";

/// The seal's domain of what follows a recorded run.
const SETTLED_DOMAIN: &[u8] = b"landfall-settled-v1\n";

/// The invocation payload handing on what follows `spec`'s recorded run:
/// `{"landfall_settled": {"spec": ..., "seal": ...}}`.
#[must_use]
pub fn seal_settled(spec: &RunSpec, key: &SecretString) -> serde_json::Value {
    sealed(SETTLED_KEY, "spec", SETTLED_DOMAIN, spec, key)
}

/// Whether an invocation payload hands on what follows a recorded run.
#[must_use]
pub fn is_settled(payload: &serde_json::Value) -> bool {
    payload.get(SETTLED_KEY).is_some()
}

/// The run a settled payload names, once its seal is checked (in constant time).
pub fn open_settled(
    payload: &serde_json::Value,
    key: &SecretString,
) -> Result<RunSpec, HandoffError> {
    open_sealed(payload, SETTLED_KEY, "spec", SETTLED_DOMAIN, key)
}

/// Hands events (and what follows recorded runs) on as asynchronous Lambda invocations of the
/// worker, or of this very function.
pub struct LambdaHandoff {
    function: String,
    qualifier: Option<String>,
    key: SecretString,
    client: OnceCell<aws_sdk_lambda::Client>,
}

impl std::fmt::Debug for LambdaHandoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaHandoff")
            .field("function", &self.function)
            .field("qualifier", &self.qualifier)
            .finish_non_exhaustive()
    }
}

/// Checks `LANDFALL_HANDOFF_FUNCTION`: a function's name, or its ARN (with a version or alias).
fn lambda_function(value: &str) -> anyhow::Result<String> {
    let name_ok = |name: &str| {
        (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    };
    let valid = match value.strip_prefix("arn:") {
        Some(arn) => {
            let parts: Vec<&str> = arn.split(':').collect();
            matches!(parts.as_slice(),
                [partition, "lambda", region, account, "function", name, qualifier @ ..]
                    if partition.starts_with("aws")
                        && !region.is_empty()
                        && account.len() == 12
                        && account.chars().all(|c| c.is_ascii_digit())
                        && name_ok(name)
                        && qualifier.len() <= 1
                        && qualifier.iter().all(|q| name_ok(q) || *q == "$LATEST"))
        }
        None => name_ok(value),
    };
    anyhow::ensure!(
        valid,
        "{} is invalid ({value:?}): expected a Lambda function's name (letters, digits, '-' and \
         '_', at most 64) or its ARN",
        env_vars::HANDOFF_FUNCTION
    );
    Ok(value.to_owned())
}

impl LambdaHandoff {
    /// The hand-off for this process: under Lambda unless `LANDFALL_HANDOFF=inline`. The AWS
    /// client is built on first use, keeping it off the cold start.
    pub fn from_env(key: &SecretString) -> anyhow::Result<Option<Self>> {
        Self::from_lookup(&crate::config::process::var, key)
    }

    /// As [`LambdaHandoff::from_env`], from `lookup` instead of the process environment.
    fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
        key: &SecretString,
    ) -> anyhow::Result<Option<Self>> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        match get(env_vars::HANDOFF).as_deref().map(str::trim) {
            Some("inline") => return Ok(None),
            Some("lambda") | None => {}
            Some(other) => anyhow::bail!(
                "{HANDOFF} is invalid ({other:?}): expected `lambda` (hand events to an \
                 asynchronous invocation, the default under Lambda) or `inline`"
            ),
        }
        let Some(own) = get(env_vars::AWS_LAMBDA_FUNCTION_NAME) else {
            return Ok(None);
        };
        let (function, qualifier) = match get(env_vars::HANDOFF_FUNCTION) {
            Some(other) => (lambda_function(other.trim())?, None),
            None => (own, get(env_vars::AWS_LAMBDA_FUNCTION_VERSION).filter(|v| v != "$LATEST")),
        };
        Ok(Some(Self {
            function,
            qualifier,
            key: key.clone(),
            client: OnceCell::new(),
        }))
    }

    /// A hand-off to `function` through `client` (tests point it at a fake Lambda API).
    #[cfg(any(test, feature = "test-support"))]
    #[must_use]
    pub fn with_client(function: &str, key: &SecretString, client: aws_sdk_lambda::Client) -> Self {
        Self {
            function: function.to_owned(),
            qualifier: None,
            key: key.clone(),
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// Queues `event` as an asynchronous invocation of this function. Events with nothing to
    /// do are not sent.
    pub async fn send(&self, event: &Event) -> anyhow::Result<()> {
        let Some(payload) = seal(event, &self.key) else {
            return Ok(());
        };
        self.invoke(&payload, "event handed off").await
    }

    /// Queues what follows `spec`'s recorded run as an asynchronous invocation.
    pub async fn send_settled(&self, spec: &RunSpec) -> anyhow::Result<()> {
        self.invoke(&seal_settled(spec, &self.key), "what follows the run handed off")
            .await
    }

    /// Sends `payload` as an asynchronous invocation; logs `done` when Lambda took it.
    async fn invoke(&self, payload: &serde_json::Value, done: &'static str) -> anyhow::Result<()> {
        let client = self
            .client
            .get_or_init(|| async {
                let sdk = crate::aws::sdk_config().await;
                aws_sdk_lambda::Client::new(&sdk)
            })
            .await;
        let bytes = serde_json::to_vec(payload).expect("a hand-off serialises");
        let answer = client
            .invoke()
            .function_name(&self.function)
            .set_qualifier(self.qualifier.clone())
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(bytes))
            .send()
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "Lambda did not accept the hand-off to {}: {}",
                    self.function,
                    aws_sdk_lambda::error::DisplayErrorContext(&err)
                )
            })?;
        tracing::info!(status = answer.status_code(), function = %self.function, "{done}");
        Ok(())
    }

    /// The key hand-offs are sealed with.
    #[must_use]
    pub fn key(&self) -> &SecretString {
        &self.key
    }
}

#[cfg(test)]
mod tests;
