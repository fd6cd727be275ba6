//! Webhooks: authentication ([`auth`]), recognising the host from the headers, and one parser per
//! host that turns its payload into an [`Event`]. Everything here is pure: headers and bytes in,
//! a value out.

pub mod auth;
mod azure_devops;
mod bitbucket_cloud;
mod bitbucket_server;
mod gitea;
mod github;
mod gitlab;

use std::borrow::Cow;

use http::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use self::auth::header;
pub use self::auth::{AuthError, Verifier};
use crate::event::{DeliveryId, Event, Provider};

/// Why a delivery that passed authentication cannot be parsed. The handler answers 400.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not the JSON the host sends for this event type.
    #[error("the body is not a valid {provider} {event} payload")]
    Json {
        /// The host.
        provider: Provider,
        /// The event type, as the host names it.
        event: String,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
}

/// Recognises the host from the headers it always sends; falls back to the few bodies that name
/// their host (Azure DevOps, GitLab, Bitbucket Server). `None` when nothing identifies it.
#[must_use]
pub fn detect_provider(headers: &HeaderMap, body: &[u8]) -> Option<Provider> {
    let has = |name: &str| headers.contains_key(name);
    if has("x-forgejo-event") || has("x-gitea-event") || has("x-gogs-event") {
        return Some(Provider::Gitea);
    }
    if has("x-github-event") {
        return Some(Provider::Github);
    }
    if has("x-gitlab-event") || has("x-gitlab-token") || has("x-gitlab-instance") {
        return Some(Provider::Gitlab);
    }
    if let Some(key) = header(headers, "x-event-key") {
        let cloud = has("x-hook-uuid")
            || has("x-request-uuid")
            || key.starts_with("pullrequest:")
            || key == "repo:push"
            || header(headers, "user-agent").is_some_and(|ua| ua.starts_with("Bitbucket-Webhooks"));
        return Some(if cloud {
            Provider::BitbucketCloud
        } else {
            Provider::BitbucketServer
        });
    }
    if has("x-vss-activityid") || has("x-vss-subscriptionid") {
        return Some(Provider::AzureDevops);
    }
    sniff_body(body)
}

fn sniff_body(body: &[u8]) -> Option<Provider> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sniff {
        publisher_id: Option<String>,
        event_type: Option<String>,
        event_key: Option<String>,
        #[serde(rename = "object_kind")]
        object_kind: Option<String>,
    }
    let sniff: Sniff = serde_json::from_slice(body).ok()?;
    if sniff.publisher_id.as_deref() == Some("tfs")
        || sniff
            .event_type
            .is_some_and(|t| t.starts_with("git.") || t.starts_with("ms.vss"))
    {
        Some(Provider::AzureDevops)
    } else if sniff.object_kind.is_some() {
        Some(Provider::Gitlab)
    } else if sniff.event_key.is_some() {
        Some(Provider::BitbucketServer)
    } else {
        None
    }
}

/// Parses an authenticated delivery from `provider` into an [`Event`].
pub fn parse(provider: Provider, headers: &HeaderMap, body: &[u8]) -> Result<Event, ParseError> {
    let body = json_body(headers, body);
    let mut event = match provider {
        Provider::Github => github::parse(headers, &body),
        Provider::Gitlab => gitlab::parse(headers, &body),
        Provider::AzureDevops => azure_devops::parse(&body),
        Provider::BitbucketCloud => bitbucket_cloud::parse(headers, &body),
        Provider::BitbucketServer => bitbucket_server::parse(headers, &body),
        Provider::Gitea => gitea::parse(headers, &body),
    }?;
    if event.delivery.is_none() {
        event.delivery = delivery_id(provider, headers);
    }
    Ok(event)
}

/// The host's id for this delivery, from the header each host uses.
#[must_use]
pub fn delivery_id(provider: Provider, headers: &HeaderMap) -> Option<DeliveryId> {
    let names: &[&str] = match provider {
        Provider::Github => &["x-github-delivery"],
        Provider::Gitlab => &[
            "x-gitlab-event-uuid",
            "x-gitlab-webhook-uuid",
            "idempotency-key",
            "webhook-id",
        ],
        Provider::BitbucketCloud => &["x-request-uuid"],
        Provider::BitbucketServer => &["x-request-id"],
        Provider::Gitea => &[
            "x-forgejo-delivery",
            "x-gitea-delivery",
            "x-gogs-delivery",
            "x-github-delivery",
        ],
        Provider::AzureDevops => &[],
    };
    names
        .iter()
        .find_map(|n| header(headers, n))
        .map(DeliveryId::new)
}

/// GitHub and Gitea can send `application/x-www-form-urlencoded` bodies with the JSON in a
/// `payload` field; everything else is the JSON itself. A "form" body that has no `payload` field
/// is read as JSON (tools such as `curl --data` label JSON as a form).
fn json_body<'a>(headers: &HeaderMap, body: &'a [u8]) -> Cow<'a, [u8]> {
    let form = header(headers, "content-type").is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !form || body.first() == Some(&b'{') {
        return Cow::Borrowed(body);
    }
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map_or(Cow::Borrowed(body), |(_, v)| {
            Cow::Owned(v.into_owned().into_bytes())
        })
}

/// Deserialises a payload. The typed fast path refuses duplicate keys, which some hosts' payloads
/// have (GitLab repeats `git_http_url`); on any error the body is read again through
/// [`serde_json::Value`], which keeps the last duplicate as Go and Ruby parsers do.
fn from_json<T: DeserializeOwned>(
    provider: Provider,
    event: &str,
    body: &[u8],
) -> Result<T, ParseError> {
    serde_json::from_slice(body)
        .or_else(|_| {
            serde_json::from_slice::<serde_json::Value>(body).and_then(serde_json::from_value)
        })
        .map_err(|source| ParseError::Json {
            provider,
            event: event.to_owned(),
            source,
        })
}

/// `refs/heads/main` → `main`; other names unchanged.
fn short_branch(name: &str) -> String {
    name.strip_prefix("refs/heads/").unwrap_or(name).to_owned()
}

/// Whether a title marks a draft the way GitLab and Gitea do (`Draft:`, `[Draft]`, `(Draft)`,
/// `WIP:`, `[WIP]`).
fn has_draft_prefix(title: &str) -> bool {
    let t = title.trim_start().to_ascii_lowercase();
    ["draft:", "[draft]", "(draft)", "wip:", "[wip]"]
        .iter()
        .any(|p| t.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn gitea_headers_win_over_the_github_compatible_ones_it_also_sends() {
        let h = headers(&[
            ("x-github-event", "pull_request"),
            ("x-gitea-event", "pull_request"),
        ]);
        assert_eq!(detect_provider(&h, b""), Some(Provider::Gitea));
        let h = headers(&[
            ("x-github-event", "pull_request"),
            ("x-forgejo-event", "pull_request"),
        ]);
        assert_eq!(detect_provider(&h, b""), Some(Provider::Gitea));
    }

    #[test]
    fn bitbucket_cloud_and_server_are_told_apart_by_their_headers_and_keys() {
        let cloud = headers(&[("x-event-key", "repo:push"), ("x-hook-uuid", "u")]);
        assert_eq!(detect_provider(&cloud, b""), Some(Provider::BitbucketCloud));
        let cloud = headers(&[("x-event-key", "pullrequest:created")]);
        assert_eq!(detect_provider(&cloud, b""), Some(Provider::BitbucketCloud));
        for key in ["pr:opened", "diagnostics:ping", "repo:refs_changed"] {
            let server: HeaderMap = [(
                http::HeaderName::from_static("x-event-key"),
                HeaderValue::from_static(key),
            )]
            .into_iter()
            .collect();
            assert_eq!(
                detect_provider(&server, b""),
                Some(Provider::BitbucketServer),
                "{key}"
            );
        }
    }

    #[test]
    fn bodies_that_name_their_host_are_recognised_without_headers() {
        assert_eq!(
            detect_provider(&HeaderMap::new(), br#"{"publisherId":"tfs"}"#),
            Some(Provider::AzureDevops)
        );
        assert_eq!(
            detect_provider(&HeaderMap::new(), br#"{"object_kind":"push"}"#),
            Some(Provider::Gitlab)
        );
        assert_eq!(
            detect_provider(&HeaderMap::new(), br#"{"eventKey":"pr:opened"}"#),
            Some(Provider::BitbucketServer)
        );
        assert_eq!(detect_provider(&HeaderMap::new(), br#"{"zen":"x"}"#), None);
        assert_eq!(detect_provider(&HeaderMap::new(), b"not json"), None);
    }

    #[test]
    fn form_encoded_bodies_are_unwrapped() {
        let h = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        let body = json_body(&h, b"payload=%7B%22zen%22%3A%22x%22%7D");
        assert_eq!(&*body, br#"{"zen":"x"}"#);
        assert_eq!(&*json_body(&h, br#"{"zen":"x"}"#), br#"{"zen":"x"}"#);
        assert_eq!(&*json_body(&h, b"other=1"), b"other=1");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        #[derive(Deserialize)]
        struct T {
            a: Option<u8>,
        }
        let t: T = from_json(Provider::Gitlab, "x", br#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(t.a, Some(2));
    }

    #[test]
    fn draft_prefixes_are_recognised_in_any_case() {
        assert!(has_draft_prefix("Draft: fix"));
        assert!(has_draft_prefix("[WIP] fix"));
        assert!(has_draft_prefix("  wip: fix"));
        assert!(!has_draft_prefix("Drafting the plan"));
    }
}
