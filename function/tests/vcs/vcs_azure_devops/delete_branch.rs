//! `delete_branch` on Azure DevOps: `GET repositories/{repo}` (`defaultBranch`),
//! `GET repositories/{repo}/refs?filter=heads/{branch}` (the entry named `refs/heads/{branch}`
//! among those the prefix filter lists), then Refs - Update Refs, `POST .../refs` with the
//! branch's `oldObjectId` and the zero `newObjectId`. Azure DevOps answers 200 whatever happened:
//! `success`/`updateStatus` say it (`staleOldObjectId`, `succeededNonExistentRef`,
//! `rejectedByPolicy`).

use serde_json::{Value, json};
use wiremock::ResponseTemplate;
use wiremock::matchers::{body_json, query_param};

use super::{REPO, basic, client, get, repo};

#[macro_use]
#[path = "../delete_branch_harness.rs"]
#[allow(clippy::duplicate_mod, reason = "each host's copy, as tests/common")]
mod harness;

use harness::{Api, BRANCH, HEAD};

const ZERO: &str = "0000000000000000000000000000000000000000";

fn repository_json(default: &str) -> Value {
    json!({
        "id": "5febef5a-833d-4e14-b9c0-14cb638f91e6", "name": "infra",
        "project": { "name": "Platform" }, "defaultBranch": format!("refs/heads/{default}")
    })
}

/// The refs the filter `heads/feature/x` lists: the branch, and one its name prefixes.
fn branch_json(sha: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "value": [
            { "name": format!("refs/heads/{BRANCH}"), "objectId": sha },
            { "name": format!("refs/heads/{BRANCH}-old"), "objectId": HEAD }
        ],
        "count": 2
    }))
}

/// The answer to `POST refs`: one `GitRefUpdateResult`.
fn update(success: bool, status: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "value": [{
            "repositoryId": "5febef5a-833d-4e14-b9c0-14cb638f91e6",
            "name": format!("refs/heads/{BRANCH}"), "oldObjectId": HEAD, "newObjectId": ZERO,
            "isLocked": false, "updateStatus": status, "success": success
        }],
        "count": 1
    }))
}

fn api() -> Api {
    Api {
        repository: || get(REPO.to_owned()),
        repository_json,
        branch: || get(format!("{REPO}/refs")).and(query_param("filter", "heads/feature/x")),
        branch_at: branch_json,
        gone: || ResponseTemplate::new(200).set_body_json(json!({ "value": [], "count": 0 })),
        delete: || {
            let update = [
                json!({ "name": "refs/heads/feature/x", "oldObjectId": HEAD, "newObjectId": ZERO }),
            ];
            harness::request("POST", format!("{REPO}/refs"), ("authorization", &basic()))
                .and(query_param("api-version", "7.1"))
                .and(body_json(update))
        },
        deleted: || update(true, "succeeded"),
    }
}

delete_branch_tests!(client, repo, api);

#[tokio::test]
async fn a_stale_old_object_id_with_the_branch_moved_keeps_it() {
    let reply = update(false, "staleOldObjectId");
    case().await.moved_meanwhile(reply).await;
}

#[tokio::test]
async fn succeeded_non_existent_ref_is_already_gone() {
    let reply = update(true, "succeededNonExistentRef");
    case().await.gone_meanwhile(reply).await;
}

#[tokio::test]
async fn a_ref_update_rejected_by_policy_is_an_error_though_azure_answers_200() {
    let reply = update(false, "rejectedByPolicy");
    case()
        .await
        .refusal_is_an_error(reply, (200, "rejectedByPolicy"))
        .await;
}
