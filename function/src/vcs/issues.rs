//! Tracking issues ([`VcsClient::tracking_issue`]), once for the hosts whose issues are REST
//! resources (GitHub, GitLab, Gitea, Bitbucket Cloud): each adapter says where its issues are
//! and how their JSON reads and is written ([`IssueApi`]); the flow is here. An issue named is
//! read first; nothing is written when its title, text and state are already what is asked,
//! else one write sets them. An issue the host no longer has (404, 410) is replaced by a new
//! one when it should be open. A creation is never sent twice unless the host refused it, and
//! nothing is ever deleted.
//!
//! [`VcsClient::tracking_issue`]: super::VcsClient::tracking_issue

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::branch::{Request, get_json, send_as, string_at};
use super::http::{Idempotency, RawResponse, check};
use super::rest_call::WithRest;
use super::{IssueRef, Result, TrackingIssue, VcsError};
use crate::event::RepoName;

/// How one host's API keeps issues.
#[derive(Debug)]
pub(crate) struct IssueApi {
    /// Where an issue is created (POST); `{issues}/{number}` is one issue (GET).
    pub issues: String,
    /// The new issue's JSON.
    pub create: Value,
    /// The method of the write that changes an issue.
    pub edit_method: Method,
    /// What follows `{issues}/{number}` in that write's path (Bitbucket's `/changes`).
    pub edit_suffix: &'static str,
    /// The write's JSON setting the title and text.
    pub edit: Value,
    /// What is merged into it to reopen the issue.
    pub reopen: Value,
    /// What is merged into it to close the issue.
    pub close: Value,
    /// Where an issue's JSON holds: its number, web URL, title, text and state.
    pub number_at: &'static str,
    /// The web URL.
    pub url_at: &'static str,
    /// The title.
    pub title_at: &'static str,
    /// The text.
    pub text_at: &'static str,
    /// The state.
    pub state_at: &'static str,
    /// The states that mean closed; any other is open.
    pub closed: &'static [&'static str],
}

impl IssueApi {
    /// GitHub's shape, which Gitea follows: issues at `{base}/issues`, `title` and `body`
    /// created with a POST and changed with a PATCH, `state` `open` or `closed`; an issue's
    /// `number` and `html_url`.
    pub fn github_shaped(base: &str, issue: &TrackingIssue) -> Self {
        let text = json!({"title": issue.title, "body": issue.body});
        IssueApi {
            issues: format!("{base}/issues"),
            create: text.clone(),
            edit_method: Method::PATCH,
            edit_suffix: "",
            edit: text,
            reopen: json!({"state": "open"}),
            close: json!({"state": "closed"}),
            number_at: "/number",
            url_at: "/html_url",
            title_at: "/title",
            text_at: "/body",
            state_at: "/state",
            closed: &["closed"],
        }
    }
}

/// `patch` merged into `into`, objects field by field.
fn merge(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(into), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(into.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (into, patch) => *into = patch.clone(),
    }
}

/// Sends `request` with the credentials for `repo`, its JSON body as `media_type`; a POST is
/// never sent twice unless the host refused it.
pub(crate) async fn send(
    host: &impl WithRest,
    repo: &RepoName,
    request: &Request,
    media_type: &'static str,
    what: &str,
) -> Result<RawResponse> {
    let idempotency = if request.method == Method::POST {
        Idempotency::NotIdempotent
    } else {
        Idempotency::Idempotent
    };
    send_as(host, repo, request, (Some(media_type), idempotency), what).await
}

/// Creates an issue: `create` POSTed to `path`; its number and URL read from the reply at
/// `number_at` and `url_at`. A 404 or 410 says the repository keeps no issues.
pub(crate) async fn create(
    host: &impl WithRest,
    repo: &RepoName,
    post: &Request,
    media_type: &'static str,
    (number_at, url_at): (&str, &str),
) -> Result<IssueRef> {
    let what = format!("create a tracking issue in {repo}");
    let reply = send(host, repo, post, media_type, &what).await?;
    if matches!(reply.status, StatusCode::NOT_FOUND | StatusCode::GONE) {
        return Err(VcsError::Status {
            status: reply.status.as_u16(),
            message: format!(
                "the repository has no issue tracker, or its issues are turned off: {}",
                String::from_utf8_lossy(&reply.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
            what,
        });
    }
    let json: Value = check(reply, &what)?.json(&what)?;
    let number = json.pointer(number_at).and_then(Value::as_u64);
    let url = string_at(&json, url_at);
    match (number, url) {
        (Some(number), Some(url)) => Ok(IssueRef {
            number,
            url: url.to_owned(),
        }),
        _ => Err(VcsError::Status {
            what,
            status: 200,
            message: format!("the reply names no issue at {number_at} and {url_at}"),
        }),
    }
}

/// [`VcsClient::tracking_issue`](super::VcsClient::tracking_issue) on `host`, with the
/// adapter's requests `api`: see the module.
pub(crate) async fn track(
    host: &impl WithRest,
    api: IssueApi,
    repo: &RepoName,
    existing: Option<&IssueRef>,
    issue: &TrackingIssue,
) -> Result<Option<IssueRef>> {
    if let Some(existing) = existing {
        let path = format!("{}/{}", api.issues, existing.number);
        let what = format!("read tracking issue {} of {repo}", existing.number);
        if let Some(now) = get_json(host, repo, &path, &what).await? {
            let url = string_at(&now, api.url_at)
                .unwrap_or(&existing.url)
                .to_owned();
            if let Some(edit) = edit(&api, &now, issue) {
                let request = Request::new(
                    api.edit_method.clone(),
                    format!("{path}{}", api.edit_suffix),
                    Some(edit),
                );
                let what = format!("update tracking issue {} of {repo}", existing.number);
                let reply = send(host, repo, &request, "application/json", &what).await?;
                check(reply, &what)?;
            }
            return Ok(Some(IssueRef {
                number: existing.number,
                url,
            }));
        }
    }
    if !issue.open {
        return Ok(None);
    }
    let post = Request::new(Method::POST, api.issues.clone(), Some(api.create));
    let at = (api.number_at, api.url_at);
    create(host, repo, &post, "application/json", at)
        .await
        .map(Some)
}

/// The write that makes `now` what `issue` asks; `None` when it already is.
fn edit(api: &IssueApi, now: &Value, issue: &TrackingIssue) -> Option<Value> {
    let text = |at| string_at(now, at).unwrap_or_default();
    let state = string_at(now, api.state_at).unwrap_or_default();
    let open = !api.closed.contains(&state);
    let same_text = text(api.title_at) == issue.title && text(api.text_at) == issue.body;
    if same_text && open == issue.open {
        return None;
    }
    let mut edit = api.edit.clone();
    match (open, issue.open) {
        (false, true) => merge(&mut edit, &api.reopen),
        (true, false) => merge(&mut edit, &api.close),
        _ => {}
    }
    Some(edit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github_like() -> IssueApi {
        IssueApi::github_shaped("repos/acme/infra", &issue(true))
    }

    fn issue(open: bool) -> TrackingIssue {
        TrackingIssue {
            title: "Drift".into(),
            body: "x".into(),
            open,
        }
    }

    #[test]
    fn an_issue_already_as_asked_is_not_written() {
        let now = json!({"title": "Drift", "body": "x", "state": "open"});
        assert_eq!(edit(&github_like(), &now, &issue(true)), None);
    }

    #[test]
    fn the_state_is_sent_only_when_it_changes() {
        let api = github_like();
        let closed = json!({"title": "Drift", "body": "x", "state": "closed"});
        let reopen = json!({"title": "Drift", "body": "x", "state": "open"});
        assert_eq!(edit(&api, &closed, &issue(true)), Some(reopen));
        let open = json!({"title": "Old", "body": "x", "state": "open"});
        let retitled = json!({"title": "Drift", "body": "x"});
        assert_eq!(edit(&api, &open, &issue(true)), Some(retitled));
    }

    #[test]
    fn nested_writes_merge_field_by_field() {
        let mut edit = json!({"changes": {"title": {"new": "t"}}});
        merge(&mut edit, &json!({"changes": {"state": {"new": "open"}}}));
        assert_eq!(
            edit,
            json!({"changes": {"title": {"new": "t"}, "state": {"new": "open"}}})
        );
    }
}
