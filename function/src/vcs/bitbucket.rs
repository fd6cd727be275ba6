//! What Bitbucket Cloud and Bitbucket Server share: build statuses, in the same states, each
//! keyed by its name (a digest of a long one), with a link Bitbucket requires.

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

/// Bitbucket keys a build status by `key`, of at most 40 characters: the name itself, as
/// Atlantis keys it, so that a required build names the status (`landfall/plan`); a longer name
/// by a digest of it, where cutting it short could give two statuses one key. A digest key has
/// no `/`, which every name has, so it is no other status's key.
fn status_key(context: &str) -> String {
    if context.chars().count() <= 40 {
        return context.to_owned();
    }
    let digest = Sha256::digest(context.as_bytes());
    format!("landfall-{}", hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::StatusState;

    #[test]
    fn a_status_is_keyed_by_its_name_and_a_long_one_by_a_short_digest() {
        assert_eq!(status_key("landfall/plan"), "landfall/plan");
        assert_eq!(
            status_key("atlantis/apply: envs/prod"),
            "atlantis/apply: envs/prod"
        );
        let long = "landfall/plan: teams/payments/envs/production/eu-west-1";
        let (k, other) = (status_key(long), status_key(&long.replace("plan", "apply")));
        assert_eq!(k, status_key(long));
        assert!(k.starts_with("landfall-") && k.chars().count() <= 40, "{k}");
        assert_ne!(k, other);
        // Two long names alike in their first 40 characters get two keys.
        let alike = format!("{long}-2");
        assert_ne!(status_key(&alike), k);
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
