//! The checker of the conformance test: a host's trimmed API description (`api/{host}.json`,
//! written by `scripts/trim-api-description` from the published description, GitLab's by hand
//! from its API source) and whether a request is one it documents: method and path template,
//! every query parameter (and its value where the description lists the values), every JSON body
//! field, nested as far as the description is kept (and its value where it lists the values).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

/// One host's trimmed description.
#[derive(Debug, Deserialize)]
pub struct Description {
    /// Where the description's paths start on the wire (`/api/v1`, `/rest`, ...).
    base_path: String,
    /// A request path prefix the description spells otherwise (Bitbucket's `1.0` and `latest`).
    #[serde(default)]
    path_aliases: Vec<Alias>,
    /// Query parameters every operation marked `paged` takes (Bitbucket's paging).
    #[serde(default)]
    paged_query: Option<PagedQuery>,
    /// The operations Landfall calls.
    pub operations: Vec<Operation>,
}

#[derive(Debug, Deserialize)]
struct Alias {
    request: String,
    description: String,
}

#[derive(Debug, Deserialize)]
struct PagedQuery {
    names: Vec<String>,
}

/// One documented operation.
#[derive(Debug, Deserialize)]
pub struct Operation {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path template, relative to the base path.
    pub path: String,
    /// Path parameters that span any number of segments (a file path).
    #[serde(default)]
    multi_segment: Vec<String>,
    /// Takes the host's paging parameters.
    #[serde(default)]
    paged: bool,
    /// Query parameter name → its values, where the description lists them. A name's `N`
    /// segment (`permission.N.projectKey`) stands for a natural number.
    query: BTreeMap<String, Option<Vec<String>>>,
    /// The JSON body, when the operation takes one.
    #[serde(default)]
    body: Option<Value>,
}

impl Operation {
    /// `METHOD /path/template`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The description of `host`, as kept in `api/`.
pub fn description(host: &str) -> Description {
    let text = match host {
        "github" => include_str!("api/github.json"),
        "gitlab" => include_str!("api/gitlab.json"),
        "gitea" => include_str!("api/gitea.json"),
        "azure_devops" => include_str!("api/azure_devops.json"),
        "bitbucket_cloud" => include_str!("api/bitbucket_cloud.json"),
        "bitbucket_server" => include_str!("api/bitbucket_server.json"),
        other => panic!("no API description for {other}"),
    };
    serde_json::from_str(text).unwrap_or_else(|e| panic!("api/{host}.json: {e}"))
}

impl Description {
    /// The index of the operation `method` `url` (with `body`) is, or why it is none.
    ///
    /// # Errors
    ///
    /// An undocumented endpoint, query parameter, value or body field, said in words.
    pub fn check(&self, method: &str, url: &url::Url, body: &[u8]) -> Result<usize, String> {
        let request = format!("{method} {}", url_text(url));
        let path = url
            .path()
            .strip_prefix(&self.base_path)
            .ok_or_else(|| format!("{request}: not under the API base {}", self.base_path))?;
        let path = self
            .path_aliases
            .iter()
            .find_map(|a| {
                path.strip_prefix(&a.request)
                    .map(|rest| format!("{}{rest}", a.description))
            })
            .unwrap_or_else(|| path.to_owned());
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let mut failures = Vec::new();
        for (index, op) in self.operations.iter().enumerate() {
            if !op.method.eq_ignore_ascii_case(method) || !op.matches(&segments) {
                continue;
            }
            match self
                .check_query(op, url)
                .and_then(|()| check_body(op, body))
            {
                Ok(()) => return Ok(index),
                Err(why) => failures.push(format!("as {}: {why}", op.name())),
            }
        }
        if failures.is_empty() {
            return Err(format!(
                "{request}: no operation of the description has this method and path"
            ));
        }
        Err(format!("{request}: {}", failures.join("; ")))
    }

    fn check_query(&self, op: &Operation, url: &url::Url) -> Result<(), String> {
        for (name, value) in url.query_pairs() {
            let documented = op
                .query
                .iter()
                .find(|(pattern, _)| query_name_matches(pattern, &name));
            match documented {
                Some((_, Some(values))) if !values.iter().any(|v| *v == value) => {
                    return Err(format!(
                        "query parameter {name}={value} is not one of the documented values {values:?}"
                    ));
                }
                Some(_) => {}
                None if op.paged
                    && self
                        .paged_query
                        .as_ref()
                        .is_some_and(|p| p.names.iter().any(|n| *n == name)) => {}
                None => return Err(format!("query parameter {name} is not documented")),
            }
        }
        Ok(())
    }
}

impl Operation {
    /// Whether the request path `segments` fit this operation's template.
    fn matches(&self, segments: &[&str]) -> bool {
        let template: Vec<&str> = self.path.split('/').skip(1).collect();
        self.match_from(&template, segments)
    }

    fn match_from(&self, template: &[&str], segments: &[&str]) -> bool {
        let Some((first, rest)) = template.split_first() else {
            return segments.is_empty();
        };
        let multi = first
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .is_some_and(|name| self.multi_segment.iter().any(|m| m == name));
        if multi {
            // Any number of segments, none included (a listing at the root: `src/{sha}/`).
            return (0..=segments.len()).any(|n| self.match_from(rest, &segments[n..]));
        }
        match segments.split_first() {
            Some((segment, others)) => {
                segment_matches(first, segment) && self.match_from(rest, others)
            }
            None => false,
        }
    }
}

/// Whether `segment` fits `pattern`: literal text and `{param}`s, each standing for one or more
/// characters (`{index}`, `archive.{format}`, `{index}.{diffType}`).
fn segment_matches(pattern: &str, segment: &str) -> bool {
    if let Some(open) = pattern.find('{') {
        let close = pattern[open..]
            .find('}')
            .map_or(pattern.len(), |c| open + c + 1);
        let (literal, rest) = (&pattern[..open], &pattern[close..]);
        let Some(after) = segment.strip_prefix(literal) else {
            return false;
        };
        return (1..=after.len())
            .filter(|n| after.is_char_boundary(*n))
            .any(|n| segment_matches(rest, &after[n..]));
    }
    pattern == segment
}

/// Whether query parameter `name` is the documented `pattern`, where a `.N.` segment of the
/// pattern is a natural number.
fn query_name_matches(pattern: &str, name: &str) -> bool {
    if pattern == name {
        return true;
    }
    let (p, n): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), name.split('.').collect());
    p.len() == n.len()
        && p.iter().zip(&n).all(|(p, n)| {
            p == n
                || (*p == "N"
                    && !n.is_empty()
                    && !n.starts_with('0')
                    && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn check_body(op: &Operation, body: &[u8]) -> Result<(), String> {
    if body.is_empty() {
        return Ok(());
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Some(spec) = &op.body else {
        return Err("the operation documents no request body".into());
    };
    check_value(spec, &value, "body")
}

/// `value` (at `at`) against the description's `spec` of it: `enum`, `fields`, `items`, or an
/// `object` whose fields are not kept; anything else is a scalar.
fn check_value(spec: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(values) = spec.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        return Err(format!(
            "{at} = {value} is not one of the documented values {values:?}"
        ));
    }
    match value {
        // An object whose fields the trimmed description does not keep (too deep).
        Value::Object(_) if spec.get("object") == Some(&Value::Bool(true)) => Ok(()),
        Value::Object(map) => {
            let Some(fields) = spec.get("fields").and_then(Value::as_object) else {
                return Err(format!(
                    "{at} is an object the description does not describe"
                ));
            };
            for (name, inner) in map {
                let field = fields
                    .get(name)
                    .ok_or_else(|| format!("{at}.{name} is not a documented field"))?;
                check_value(field, inner, &format!("{at}.{name}"))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let Some(item) = spec.get("items") else {
                return Err(format!(
                    "{at} is an array the description does not describe"
                ));
            };
            items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| check_value(item, v, &format!("{at}[{i}]")))
        }
        _ if spec.get("fields").is_some() || spec.get("items").is_some() => Err(format!(
            "{at} = {value}: the description has an object or an array here"
        )),
        _ => Ok(()),
    }
}

fn url_text(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The methods of the `VcsClient` trait (`function/src/vcs/client.rs`), but those that never make
/// a request (`provider`, `comment_limit`).
pub fn client_operations() -> BTreeSet<String> {
    let source = include_str!("../../src/vcs/client.rs");
    let start = source
        .find("pub trait VcsClient")
        .expect("client.rs defines VcsClient");
    let body = &source[start..];
    let end = body.find("\n}\n").expect("the trait ends");
    fn_names(&body[..end], "    fn ")
        .filter(|n| n != "provider" && n != "comment_limit")
        .collect()
}

/// The public async methods of an adapter (its source), which make requests of their own beyond
/// the `VcsClient` ones (`token_for`, `full_sha`).
pub fn adapter_operations(source: &str) -> BTreeSet<String> {
    fn_names(source, "    pub async fn ").collect()
}

fn fn_names<'a>(source: &'a str, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    source.lines().filter_map(move |line| {
        let rest = line.strip_prefix(prefix)?;
        let end = rest.find(['(', '<'])?;
        Some(rest[..end].to_owned())
    })
}
