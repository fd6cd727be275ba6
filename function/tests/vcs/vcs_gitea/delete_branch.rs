//! `delete_branch` on Gitea: `GET repos/{owner}/{repo}` (`default_branch`),
//! `GET repos/{owner}/{repo}/branches/{branch}` (`commit.id`), then `DELETE` of the same path
//! (204), the branch's `/` kept as Gitea's branch routes take it.

use serde_json::json;
use wiremock::ResponseTemplate;
use wiremock::matchers::body_string;

use super::{client, get, repo};

#[macro_use]
#[path = "../delete_branch_harness.rs"]
#[allow(clippy::duplicate_mod, reason = "each host's copy, as tests/common")]
mod harness;

use harness::{Api, BRANCH};

fn api() -> Api {
    Api {
        repository: || get("/api/v1/repos/acme/infra"),
        repository_json: |default| json!({ "full_name": "acme/infra", "default_branch": default }),
        branch: || get("/api/v1/repos/acme/infra/branches/feature/x"),
        branch_at: |sha| {
            let branch = json!({ "name": BRANCH, "commit": { "id": sha } });
            ResponseTemplate::new(200).set_body_json(branch)
        },
        gone: || harness::refused(404, "The target couldn't be found."),
        delete: || {
            let branch = "/api/v1/repos/acme/infra/branches/feature/x";
            let token = ("authorization", "token gt0k");
            harness::request("DELETE", branch, token).and(body_string(""))
        },
        deleted: || ResponseTemplate::new(204),
    }
}

delete_branch_tests!(client, repo, api);
