//! `delete_branch` on GitHub: `GET /repos/{o}/{r}` (`default_branch`),
//! `GET .../git/ref/heads/{branch}` (`object.sha`), then `DELETE .../git/refs/heads/{branch}`, the
//! branch's `/` kept (the ref parameter spans segments); and the 422 `Reference does not exist`
//! GitHub answers for a ref already deleted.

use serde_json::json;
use wiremock::ResponseTemplate;
use wiremock::matchers::{body_string, header};

use super::{client, github_get, repo};

#[macro_use]
#[path = "../delete_branch_harness.rs"]
#[allow(clippy::duplicate_mod, reason = "each host's copy, as tests/common")]
mod harness;

use harness::{Api, BRANCH};

fn api() -> Api {
    Api {
        repository: || github_get("/repos/acme/infra"),
        repository_json: |default| json!({ "full_name": "acme/infra", "default_branch": default }),
        branch: || github_get("/repos/acme/infra/git/ref/heads/feature/x"),
        branch_at: |sha| {
            let object = json!({ "type": "commit", "sha": sha });
            let git_ref = json!({ "ref": format!("refs/heads/{BRANCH}"), "object": object });
            ResponseTemplate::new(200).set_body_json(git_ref)
        },
        gone: || harness::refused(404, "Not Found"),
        delete: || {
            let token = ("authorization", "Bearer ghp_test");
            harness::request(
                "DELETE",
                "/repos/acme/infra/git/refs/heads/feature/x",
                token,
            )
            .and(header("x-github-api-version", "2022-11-28"))
            .and(body_string(""))
        },
        deleted: || ResponseTemplate::new(204),
    }
}

delete_branch_tests!(client, repo, api);

#[tokio::test]
async fn a_422_reference_does_not_exist_for_a_branch_gone_meanwhile_is_already_gone() {
    let reply = harness::refused(422, "Reference does not exist");
    case().await.gone_meanwhile(reply).await;
}

#[tokio::test]
async fn refusing_to_delete_the_default_branch_is_an_error_with_githubs_reason() {
    let reason = "Refusing to delete the default branch";
    let reply = harness::refused(422, reason);
    case().await.refusal_is_an_error(reply, (422, reason)).await;
}
