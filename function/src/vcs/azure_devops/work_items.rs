//! Tracking issues on Azure DevOps ([`VcsClient::tracking_issue`]): work items of type `Issue`
//! in the repository's project, written with JSON Patch (`application/json-patch+json`):
//! `System.Title` (cut to 255 characters), `System.Description` (HTML: the text escaped in a
//! `<pre>`, Markdown left as written) and `System.State`.
//!
//! State names differ by process (Basic: `To Do`, `Doing`, `Done`; Agile: `Active`, `Closed`;
//! CMMI: `Proposed`, `Active`, `Resolved`, `Closed`), so none is hard-coded: the `Issue` type's
//! states are read (`GET {project}/_apis/wit/workitemtypes/Issue/states`) and their category
//! decides. A work item in a `Proposed` or `InProgress` state is open; closing moves it to the
//! first `Completed` state, reopening to the first `Proposed` one (else `InProgress`). A process
//! without an `Issue` type (Scrum) refuses the creation: the error carries Azure DevOps' reason.
//!
//! [`VcsClient::tracking_issue`]: super::super::VcsClient::tracking_issue

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{API_VERSION, AzureDevopsClient, ListJson};
use crate::event::RepoName;
use crate::vcs::branch::{Request, get_json, string_at};
use crate::vcs::http::check;
use crate::vcs::issues::{self, send};
use crate::vcs::{IssueRef, Result, TrackingIssue, VcsError, owner_and_name_segments, truncate};

/// The work item type tracking issues are.
const ISSUE_TYPE: &str = "Issue";
/// How work item writes are sent.
const JSON_PATCH: &str = "application/json-patch+json";
/// The longest title Azure DevOps keeps.
const TITLE_MAX: usize = 255;

/// One state of a work item type.
#[derive(Deserialize)]
struct StateJson {
    name: String,
    category: String,
}

/// `text` as HTML that shows it as written: escaped, in a `<pre>`.
fn preformatted(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 11);
    html.push_str("<pre>");
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
    html.push_str("</pre>");
    html
}

/// A JSON Patch operation setting field `name`.
fn set(name: &str, value: &str) -> Value {
    json!({"op": "add", "path": format!("/fields/{name}"), "value": value})
}

/// Whether a state of `category` is open.
fn is_open(category: &str) -> bool {
    matches!(category, "Proposed" | "InProgress")
}

/// The state to move a work item in state `now` to so that it is open (or closed) as `open`
/// says; `None` when it already is.
fn target(states: &[StateJson], now: &str, open: bool) -> Result<Option<String>, String> {
    let current = states.iter().find(|s| s.name.eq_ignore_ascii_case(now));
    if current.is_some_and(|s| is_open(&s.category) == open) {
        return Ok(None);
    }
    let wanted: &[&str] = if open {
        &["Proposed", "InProgress"]
    } else {
        &["Completed"]
    };
    wanted
        .iter()
        .find_map(|category| states.iter().find(|s| s.category == *category))
        .map(|s| Some(s.name.clone()))
        .ok_or_else(|| format!("the {ISSUE_TYPE} type has no state of category {wanted:?}"))
}

/// [`VcsClient::tracking_issue`](crate::vcs::VcsClient::tracking_issue) on Azure DevOps: see the
/// module.
pub(super) async fn track(
    client: &AzureDevopsClient,
    repo: &RepoName,
    existing: Option<&IssueRef>,
    issue: &TrackingIssue,
) -> Result<Option<IssueRef>> {
    let (project, _) = owner_and_name_segments(repo)?;
    let title = truncate(&issue.title, TITLE_MAX);
    let description = preformatted(&issue.body);
    let items = format!("{project}/_apis/wit/workitems");
    if let Some(existing) = existing {
        let number = existing.number;
        let path = format!("{items}/{number}?api-version={API_VERSION}");
        let what = format!("read work item {number} of {project}");
        if let Some(now) = get_json(client, repo, &path, &what).await? {
            let field = |name: &str| string_at(&now, &format!("/fields/{name}")).unwrap_or("");
            let mut ops = Vec::new();
            if field("System.Title") != title {
                ops.push(set("System.Title", &title));
            }
            if field("System.Description") != description {
                ops.push(set("System.Description", &description));
            }
            let what = format!("read the states of {ISSUE_TYPE} work items in {project}");
            let states = format!(
                "{project}/_apis/wit/workitemtypes/{ISSUE_TYPE}/states?api-version={API_VERSION}"
            );
            let states: ListJson<StateJson> = client.rest.get(&states, &what).await?;
            let state = target(&states.value, field("System.State"), issue.open)
                .map_err(|message| VcsError::Config { message })?;
            if let Some(state) = state {
                ops.push(set("System.State", &state));
            }
            if !ops.is_empty() {
                let what = format!("update work item {number} of {project}");
                let update = Request::new(Method::PATCH, path, Some(Value::Array(ops)));
                check(send(client, repo, &update, JSON_PATCH, &what).await?, &what)?;
            }
            let url = string_at(&now, "/_links/html/href").unwrap_or(&existing.url);
            return Ok(Some(IssueRef {
                number,
                url: url.to_owned(),
            }));
        }
    }
    if !issue.open {
        return Ok(None);
    }
    let create = format!("{items}/${ISSUE_TYPE}?api-version={API_VERSION}");
    let body = json!([
        set("System.Title", &title),
        set("System.Description", &description)
    ]);
    let post = Request::new(Method::POST, create, Some(body));
    issues::create(
        client,
        repo,
        &post,
        JSON_PATCH,
        ("/id", "/_links/html/href"),
    )
    .await
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(list: &[(&str, &str)]) -> Vec<StateJson> {
        list.iter()
            .map(|(name, category)| StateJson {
                name: (*name).to_owned(),
                category: (*category).to_owned(),
            })
            .collect()
    }

    #[test]
    fn states_are_chosen_by_category_whatever_the_process_names_them() {
        let basic = states(&[
            ("To Do", "Proposed"),
            ("Doing", "InProgress"),
            ("Done", "Completed"),
        ]);
        assert_eq!(target(&basic, "Doing", false), Ok(Some("Done".into())));
        assert_eq!(target(&basic, "Done", true), Ok(Some("To Do".into())));
        assert_eq!(target(&basic, "Doing", true), Ok(None));
        let agile = states(&[("Active", "InProgress"), ("Closed", "Completed")]);
        assert_eq!(target(&agile, "Closed", true), Ok(Some("Active".into())));
        assert_eq!(target(&agile, "Closed", false), Ok(None));
        assert!(target(&states(&[("Open", "Proposed")]), "Open", false).is_err());
    }

    #[test]
    fn the_text_is_escaped_and_kept_as_written() {
        assert_eq!(
            preformatted("a < b & \"c\"\n- x"),
            "<pre>a &lt; b &amp; &quot;c&quot;\n- x</pre>"
        );
    }
}
