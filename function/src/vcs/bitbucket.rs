//! What Bitbucket Cloud and Bitbucket Server share: build statuses, in the same states, each
//! keyed by a digest of its name, with a link Bitbucket requires.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::CommitStatus;
use super::host::StatusFields;

/// How both Bitbucket APIs spell a build status.
const BUILD_STATUS: StatusFields = StatusFields {
    states: ["INPROGRESS", "SUCCESSFUL", "FAILED", "FAILED"],
    name: "name",
    url: "url",
    description_max: 255,
};

/// The body of a build status: its `key`, state, name, description and link, `default_url`'s
/// when the status has none (Bitbucket requires one).
pub(super) fn build_status(status: &CommitStatus, default_url: impl FnOnce() -> String) -> Value {
    let mut body = BUILD_STATUS.json(status);
    body["key"] = json!(status_key(&status.context));
    if status.target_url.is_none() {
        body["url"] = json!(default_url());
    }
    body
}

/// Bitbucket keys a build status by `key` (at most 40 characters): a digest of the context.
fn status_key(context: &str) -> String {
    let digest = Sha256::digest(context.as_bytes());
    format!("landfall-{}", hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::StatusState;

    #[test]
    fn status_keys_are_stable_and_short() {
        let k = status_key("landfall/plan: envs/prod");
        assert_eq!(k, status_key("landfall/plan: envs/prod"));
        assert!(k.len() <= 40);
        assert_ne!(k, status_key("landfall/apply: envs/prod"));
    }

    #[test]
    fn a_status_without_a_link_gets_the_default_one() {
        let status = CommitStatus {
            context: "landfall/plan: envs/prod".into(),
            state: StatusState::Error,
            description: "x".repeat(300),
            target_url: None,
            branch: None,
            pull: None,
        };
        let body = build_status(&status, || "https://bb.example".into());
        assert_eq!(body["state"], "FAILED");
        assert_eq!(body["url"], "https://bb.example");
        assert_eq!(body["name"], "landfall/plan: envs/prod");
        assert_eq!(body["description"].as_str().unwrap().chars().count(), 255);
        let linked = CommitStatus {
            target_url: Some("https://ci/1".into()),
            ..status
        };
        assert_eq!(build_status(&linked, String::new)["url"], "https://ci/1");
    }
}
