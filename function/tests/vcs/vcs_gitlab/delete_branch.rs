//! `delete_branch` on GitLab: `GET /projects/:id` (`default_branch`),
//! `GET /projects/:id/repository/branches/:branch` (`commit.id`), then `DELETE` of the same path,
//! the branch URL-encoded as one segment (`feature%2Fx`) like the project path.

use serde_json::json;
use wiremock::ResponseTemplate;
use wiremock::matchers::body_string;

use super::{PROJECT, client, get, repo};

#[macro_use]
#[path = "../delete_branch_harness.rs"]
#[allow(clippy::duplicate_mod, reason = "each host's copy, as tests/common")]
mod harness;

use harness::{Api, BRANCH};

fn api() -> Api {
    Api {
        repository: || get(PROJECT.to_owned()),
        repository_json: |default| json!({ "path_with_namespace": "acme/platform/infra", "default_branch": default }),
        branch: || get(format!("{PROJECT}/repository/branches/feature%2Fx")),
        branch_at: |sha| {
            let branch = json!({ "name": BRANCH, "default": false, "commit": { "id": sha } });
            ResponseTemplate::new(200).set_body_json(branch)
        },
        gone: || harness::refused(404, "404 Branch Not Found"),
        delete: || {
            let branch = format!("{PROJECT}/repository/branches/feature%2Fx");
            let token = ("private-token", "glpat-test");
            harness::request("DELETE", branch, token).and(body_string(""))
        },
        deleted: || ResponseTemplate::new(204),
    }
}

delete_branch_tests!(client, repo, api);
