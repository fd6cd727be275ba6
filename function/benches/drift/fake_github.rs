//! A fake GitHub for the drift bench: the repository and its default branch's head, the tree
//! listing and the tarball (a 302 to a pre-signed download of a `git archive`-shaped tar.gz of
//! `projects` project folders), commit statuses and issues. Requests are counted by route.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Mutex;

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The swept repository.
pub const REPO: &str = "acme/infra";
/// The default branch's head.
pub const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

/// Where the tarball route redirects to (codeload.github.com on github.com).
const DOWNLOAD: &str = "/_codeload/acme/infra/legacy.tar.gz/";

/// The directory of project `n`.
pub fn project_dir(n: usize) -> String {
    format!("projects/p{n:04}")
}

/// The repository at [`SHA`] as GitHub archives it: every file under one top-level folder
/// named after the repository and the short commit.
fn archive(projects: usize) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let top = format!("{}-{}", REPO.replace('/', "-"), &SHA[..7]);
    for n in 0..projects {
        let text = format!("resource \"terraform_data\" \"app\" {{\n  input = \"p{n}\"\n}}\n");
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let path = format!("{top}/{}/main.tf", project_dir(n));
        tar.append_data(&mut header, path, text.as_bytes())
            .expect("an in-memory tar entry");
    }
    let mut gz = tar.into_inner().expect("the tar stream ends");
    gz.flush().expect("gzip flushes");
    gz.finish().expect("gzip ends")
}

/// The answers, and the issues opened.
struct Host {
    archive: Vec<u8>,
    tree: Value,
    issues: Mutex<BTreeMap<u64, Value>>,
}

/// A request's route, with the repository, commits and numbers as placeholders.
pub fn route(method: &str, path: &str) -> String {
    if path.starts_with(DOWNLOAD) {
        return format!("{method} (download) /_codeload/{{o}}/{{r}}/legacy.tar.gz/{{sha}}");
    }
    let Some(rest) = path.strip_prefix(&format!("/repos/{REPO}")) else {
        return format!("{method} {path}");
    };
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    let tail = match parts.as_slice() {
        [] => String::new(),
        ["git", "ref", "heads", ..] => "/git/ref/heads/{branch}".to_owned(),
        ["git", "trees", _] => "/git/trees/{sha}".to_owned(),
        ["tarball", _] => "/tarball/{sha}".to_owned(),
        ["statuses", _] => "/statuses/{sha}".to_owned(),
        ["issues"] => "/issues".to_owned(),
        ["issues", _] => "/issues/{n}".to_owned(),
        _ => rest.to_owned(),
    };
    format!("{method} /repos/{{o}}/{{r}}{tail}")
}

fn issue_json(number: u64, body: &Value) -> Value {
    json!({
        "number": number,
        "html_url": format!("https://github.com/{REPO}/issues/{number}"),
        "title": body["title"],
        "body": body["body"],
        "state": body.get("state").cloned().unwrap_or_else(|| json!("open")),
    })
}

impl Respond for Host {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path();
        let body = || serde_json::from_slice::<Value>(&request.body).unwrap_or_default();
        let mut issues = self.issues.lock().expect("issues lock");
        match route(request.method.as_str(), path).as_str() {
            "GET /repos/{o}/{r}" => ResponseTemplate::new(200).set_body_json(json!({
                "full_name": REPO,
                "default_branch": "main",
                "clone_url": format!("https://github.com/{REPO}.git"),
            })),
            "GET /repos/{o}/{r}/git/ref/heads/{branch}" => ResponseTemplate::new(200)
                .set_body_json(
                    json!({"ref": "refs/heads/main", "object": {"sha": SHA, "type": "commit"}}),
                ),
            "GET /repos/{o}/{r}/git/trees/{sha}" => {
                ResponseTemplate::new(200).set_body_json(&self.tree)
            }
            "GET /repos/{o}/{r}/tarball/{sha}" => ResponseTemplate::new(302)
                .insert_header("location", format!("{DOWNLOAD}{SHA}?token=signed").as_str()),
            "GET (download) /_codeload/{o}/{r}/legacy.tar.gz/{sha}" => {
                ResponseTemplate::new(200).set_body_bytes(self.archive.clone())
            }
            "POST /repos/{o}/{r}/statuses/{sha}" => {
                ResponseTemplate::new(201).set_body_json(json!({}))
            }
            "POST /repos/{o}/{r}/issues" => {
                let number = 900 + issues.len() as u64;
                let issue = issue_json(number, &body());
                issues.insert(number, issue.clone());
                ResponseTemplate::new(201).set_body_json(issue)
            }
            "GET /repos/{o}/{r}/issues/{n}" | "PATCH /repos/{o}/{r}/issues/{n}" => {
                let number = path.rsplit('/').next().and_then(|n| n.parse().ok());
                let Some(issue) = number.and_then(|n| issues.get_mut(&n)) else {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"message": "Not Found"}));
                };
                if request.method.as_str() == "PATCH"
                    && let (Some(fields), Some(issue)) =
                        (body().as_object().cloned(), issue.as_object_mut())
                {
                    issue.extend(fields);
                }
                ResponseTemplate::new(200).set_body_json(&*issue)
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
        }
    }
}

/// Starts the fake host for a repository of `projects` projects.
pub async fn start(projects: usize) -> MockServer {
    let tree: Vec<Value> = (0..projects)
        .map(|n| json!({"path": format!("{}/main.tf", project_dir(n)), "type": "blob", "mode": "100644", "sha": SHA}))
        .collect();
    let host = Host {
        archive: archive(projects),
        tree: json!({"sha": SHA, "tree": tree, "truncated": false}),
        issues: Mutex::default(),
    };
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(host)
        .mount(&server)
        .await;
    server
}

/// The routes of the requests `server` received after the first `from`, and how many there
/// are now.
pub async fn routes_since(server: &MockServer, from: usize) -> (Vec<String>, usize) {
    let requests = server.received_requests().await.unwrap_or_default();
    let routes = requests
        .iter()
        .skip(from)
        .map(|r| route(r.method.as_str(), r.url.path()))
        .collect();
    (routes, requests.len())
}
