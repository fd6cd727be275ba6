//! The runner's own build (without the `function` feature) has no S3 client: a runner reaches
//! S3 only through the presigned links of its run ([`super::presigned`]). [`S3Artifacts`] is
//! then a type with no value, so [`super::AnyArtifacts`] keeps one shape in both builds.

use std::time::Duration;

use super::artifacts::{ArtifactError, ArtifactLink, Artifacts, StoredArtifact};

/// No S3 store exists in this build.
#[derive(Debug, Clone)]
pub enum S3Artifacts {}

impl S3Artifacts {
    /// Never called: no value of this type exists.
    #[allow(
        clippy::unused_async,
        reason = "the same signature as the function's build"
    )]
    pub async fn link(&self, _key: &str, _valid_for: Duration) -> ArtifactLink {
        match *self {}
    }
}

impl Artifacts for S3Artifacts {
    async fn put(&self, _key: &str, _bytes: Vec<u8>) -> Result<StoredArtifact, ArtifactError> {
        match *self {}
    }

    async fn get_verified(&self, _artifact: &StoredArtifact) -> Result<Vec<u8>, ArtifactError> {
        match *self {}
    }

    async fn delete_prefix(&self, _prefix: &str) -> Result<usize, ArtifactError> {
        match *self {}
    }
}
