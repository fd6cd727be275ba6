//! [`S3Artifacts`]: artifacts in an S3 bucket, the function's store of planfiles and logs.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::artifacts::{
    ArtifactError, ArtifactLink, Artifacts, MAX_LINK_VALIDITY, StoredArtifact, verify,
};

/// Artifacts in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Artifacts {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Artifacts {
    /// Artifacts in `bucket`, through a client built once at start-up.
    #[must_use]
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A presigned GET of `key`, valid for `valid_for` (at most [`MAX_LINK_VALIDITY`]); signed
    /// locally, with no request to S3. The URL carries the signature and, with temporary
    /// credentials, their session token: what anyone holding it can do is read this one object
    /// until it expires.
    pub async fn link(&self, key: &str, valid_for: Duration) -> ArtifactLink {
        let valid_for = valid_for.min(MAX_LINK_VALIDITY);
        let presigned = match PresigningConfig::expires_in(valid_for) {
            Ok(config) => self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(config)
                .await
                .map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        let url = match presigned {
            Ok(request) => Some(request.uri().to_owned()),
            Err(err) => {
                tracing::warn!(error = %err, key, "could not presign a link to an artifact");
                None
            }
        };
        ArtifactLink {
            valid_for: url.is_some().then_some(valid_for),
            url,
            location: format!("s3://{}/{key}", self.bucket),
        }
    }

    /// The S3 client.
    pub(super) fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub(super) fn error(
        &self,
        operation: &'static str,
        key: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ArtifactError {
        ArtifactError::s3(&self.bucket, operation, key, source)
    }
}

impl Artifacts for S3Artifacts {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<StoredArtifact, ArtifactError> {
        let digest = Sha256::digest(&bytes);
        let artifact = StoredArtifact {
            key: key.to_owned(),
            sha256: hex::encode(digest),
            size: bytes.len() as u64,
        };
        // S3 checks the upload against checksum_sha256 and keeps it with the object; the hex
        // copy in the metadata is for people reading the bucket.
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(digest))
            .metadata("sha256", &artifact.sha256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|err| self.error("PutObject", key, aws_sdk_s3::Error::from(err)))?;
        Ok(artifact)
    }

    async fn get_verified(&self, artifact: &StoredArtifact) -> Result<Vec<u8>, ArtifactError> {
        let key = artifact.key.as_str();
        let response = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => {
                let err = aws_sdk_s3::Error::from(err);
                return Err(if matches!(err, aws_sdk_s3::Error::NoSuchKey(_)) {
                    ArtifactError::NotFound {
                        location: format!("s3://{}", self.bucket),
                        key: key.to_owned(),
                    }
                } else {
                    self.error("GetObject", key, err)
                });
            }
        };
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|err| self.error("GetObject", key, err))?
            .into_bytes()
            .to_vec();
        verify(&format!("s3://{}", self.bucket), artifact, bytes)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, ArtifactError> {
        let mut deleted = 0;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|err| self.error("ListObjectsV2", prefix, aws_sdk_s3::Error::from(err)))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|err| self.error("DeleteObject", key, aws_sdk_s3::Error::from(err)))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
