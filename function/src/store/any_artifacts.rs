//! The artifact store a process chooses at start-up: S3, a local folder, or a runner's
//! presigned links.

use std::time::Duration;

use super::artifacts::{
    ArtifactError, ArtifactLink, Artifacts, LocalArtifacts, S3Artifacts, StoredArtifact,
};
use super::presigned::PresignedArtifacts;
use crate::forward::forward_to_variants;

/// The artifact store chosen at start-up.
#[derive(Debug, Clone)]
pub enum AnyArtifacts {
    /// An S3 bucket (production).
    S3(S3Artifacts),
    /// A local folder (embedded).
    Local(LocalArtifacts),
    /// A run's presigned links (a runner's only access to S3).
    Presigned(PresignedArtifacts),
}

impl AnyArtifacts {
    /// Where a person can read the artifact `key`: a presigned link valid for `valid_for` (S3),
    /// or the local file.
    pub async fn link(&self, key: &str, valid_for: Duration) -> ArtifactLink {
        match self {
            Self::S3(store) => store.link(key, valid_for).await,
            Self::Local(store) => store.link(key),
            Self::Presigned(_) => ArtifactLink {
                url: None,
                location: key.to_owned(),
                valid_for: None,
            },
        }
    }
}

forward_to_variants! {
    impl Artifacts for AnyArtifacts { S3, Local, Presigned }
    fn put(&self, key: &str, bytes: Vec<u8>) -> Result<StoredArtifact, ArtifactError>;
    fn get_verified(&self, artifact: &StoredArtifact) -> Result<Vec<u8>, ArtifactError>;
    fn delete_prefix(&self, prefix: &str) -> Result<usize, ArtifactError>;
}
