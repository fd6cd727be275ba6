//! `delete_branch` on Bitbucket Cloud and Bitbucket Data Center.
//!
//! Cloud: `GET repositories/{ws}/{slug}` (`mainbranch.name`), `GET .../refs/branches/{name}`
//! (`target.hash`), then `DELETE` of the same path (204).
//!
//! Data Center: `GET .../default-branch` (`displayId`),
//! `GET .../branches?filterText={branch}&boostMatches=true` (the entry whose `id` is
//! `refs/heads/{branch}`), then `DELETE rest/branch-utils/latest/projects/{KEY}/repos/{slug}/branches`
//! with `{"name": "refs/heads/{branch}", "endPoint": head}`: Bitbucket refuses with 400 when the
//! branch is no longer at `endPoint`.

#[macro_use]
#[path = "../delete_branch_harness.rs"]
#[allow(clippy::duplicate_mod, reason = "each host's copy, as tests/common")]
mod harness;

mod cloud {
    use landfall_function::event::RepoName;
    use serde_json::json;
    use wiremock::ResponseTemplate;
    use wiremock::matchers::body_string;

    use super::super::{CLOUD, basic, cloud as client};
    use super::harness::{self, Api, BRANCH};

    fn repo() -> RepoName {
        RepoName::new("acme/infra")
    }

    fn branch() -> String {
        format!("{CLOUD}/refs/branches/feature/x")
    }

    fn api() -> Api {
        Api {
            repository: || harness::request("GET", CLOUD, ("authorization", &basic())),
            repository_json: |default| json!({ "full_name": "acme/infra", "mainbranch": { "name": default } }),
            branch: || harness::request("GET", branch(), ("authorization", &basic())),
            branch_at: |sha| {
                let branch = json!({ "name": BRANCH, "target": { "hash": sha } });
                ResponseTemplate::new(200).set_body_json(branch)
            },
            gone: || harness::refused(404, "Branch not found"),
            delete: || {
                harness::request("DELETE", branch(), ("authorization", &basic()))
                    .and(body_string(""))
            },
            deleted: || ResponseTemplate::new(204),
        }
    }

    delete_branch_tests!(client, repo, api);
}

mod server {
    use landfall_function::event::RepoName;
    use serde_json::{Value, json};
    use wiremock::ResponseTemplate;
    use wiremock::matchers::{body_json, query_param};

    use super::super::{SERVER, server_client as client};
    use super::harness::{self, Api, BRANCH, HEAD};

    const TOKEN: (&str, &str) = ("authorization", "Bearer bbs-token");

    fn repo() -> RepoName {
        RepoName::new("PLAT/infra")
    }

    /// A page of the branches `filterText=feature/x` finds: the branch first (boosted), then
    /// one whose name holds it.
    fn page(values: &Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "size": values.as_array().map_or(0, Vec::len), "limit": 25, "isLastPage": true,
            "start": 0, "values": values
        }))
    }

    fn branch_json(sha: &str) -> ResponseTemplate {
        page(&json!([
            { "id": format!("refs/heads/{BRANCH}"), "displayId": BRANCH, "type": "BRANCH",
              "latestCommit": sha, "isDefault": false },
            { "id": format!("refs/heads/old/{BRANCH}"), "displayId": "old/feature/x",
              "type": "BRANCH", "latestCommit": HEAD, "isDefault": false }
        ]))
    }

    fn api() -> Api {
        Api {
            repository: || harness::request("GET", format!("{SERVER}/default-branch"), TOKEN),
            repository_json: |default| json!({ "id": format!("refs/heads/{default}"), "displayId": default }),
            branch: || {
                harness::request("GET", format!("{SERVER}/branches"), TOKEN)
                    .and(query_param("filterText", "feature/x"))
                    .and(query_param("boostMatches", "true"))
            },
            branch_at: branch_json,
            gone: || page(&json!([])),
            delete: || {
                let branches = "/rest/branch-utils/latest/projects/PLAT/repos/infra/branches";
                let body = json!({ "name": "refs/heads/feature/x", "endPoint": HEAD });
                harness::request("DELETE", branches, TOKEN).and(body_json(body))
            },
            deleted: || ResponseTemplate::new(204),
        }
    }

    delete_branch_tests!(client, repo, api);

    #[tokio::test]
    async fn a_400_for_a_branch_moved_past_its_end_point_keeps_it() {
        let error = json!({ "message": "refs/heads/feature/x is not at the expected commit" });
        let reply = ResponseTemplate::new(400).set_body_json(json!({ "errors": [error] }));
        case().await.moved_meanwhile(reply).await;
    }
}
