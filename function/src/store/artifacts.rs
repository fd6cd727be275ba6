//! Plan artifacts: planfiles and full logs, stored in S3 (production) or in a local folder (the
//! embedded default). Every artifact is stored with its SHA-256, and every read checks it, so a
//! planfile altered after review is refused rather than applied.
//!
//! Object keys come from [`keys::planfile_key`](super::keys::planfile_key): one object per repo,
//! PR, project, commit and run. S3 objects are encrypted by the bucket's default encryption
//! (SSE-KMS with the bucket's key); the puts set no encryption header, since naming `aws:kms`
//! without a key id would switch to the AWS-managed key instead of the bucket's own.

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

#[cfg(feature = "function")]
pub use super::s3_artifacts::S3Artifacts;
#[cfg(not(feature = "function"))]
pub use super::s3_artifacts_absent::S3Artifacts;
pub use crate::run::StoredArtifact;

/// The longest a presigned S3 link can live: SigV4 refuses more than seven days. A link signed
/// with temporary credentials (a Job's IAM role) stops working when they expire, which can be
/// sooner.
pub const MAX_LINK_VALIDITY: Duration = Duration::from_hours(7 * 24);

/// Where a person can read a stored artifact, such as a run's full log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLink {
    /// A URL to read it: an S3 presigned GET, or a `file://` URL for the local folder; `None`
    /// when none could be made.
    pub url: Option<String>,
    /// Where it is, always: `s3://<bucket>/<key>` or the local path.
    pub location: String,
    /// How long `url` works, for a URL that expires.
    pub valid_for: Option<Duration>,
}

/// What can go wrong storing or reading an artifact.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// No object under the key.
    #[error("artifact {key} not found in {location}")]
    NotFound {
        /// The bucket (`s3://bucket`) or folder.
        location: String,
        /// The key.
        key: String,
    },
    /// The stored bytes do not match the recorded SHA-256: the object was altered or corrupted.
    #[error(
        "artifact {key} in {location} fails its checksum: the plan recorded SHA-256 {expected}, \
         the stored object has {actual}; it was changed after the plan, so plan again"
    )]
    ChecksumMismatch {
        /// The bucket or folder.
        location: String,
        /// The key.
        key: String,
        /// The SHA-256 recorded with the plan.
        expected: String,
        /// The SHA-256 of what is stored now.
        actual: String,
    },
    /// The key is not a relative path of plain segments.
    #[error("artifact key {key:?} is not a relative path of plain segments")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// An S3 request failed.
    #[error("S3 {operation} s3://{bucket}/{key} failed")]
    S3 {
        /// The S3 operation, such as `PutObject`.
        operation: &'static str,
        /// The bucket.
        bucket: String,
        /// The key (or prefix).
        key: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A local file operation failed.
    #[error("{action} {} failed", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ArtifactError {
    /// An S3 request on `bucket` failed.
    pub(super) fn s3(
        bucket: &str,
        operation: &'static str,
        key: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ArtifactError::S3 {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            source: Box::new(source),
        }
    }
}

/// Where artifacts are kept.
pub trait Artifacts: Send + Sync {
    /// Stores `bytes` under `key` and returns its checksum record.
    fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<StoredArtifact, ArtifactError>> + Send;

    /// Reads an artifact back, refusing it unless its SHA-256 matches the record.
    fn get_verified(
        &self,
        artifact: &StoredArtifact,
    ) -> impl Future<Output = Result<Vec<u8>, ArtifactError>> + Send;

    /// Deletes every artifact under `prefix` (a PR's planfiles when it closes); returns how many.
    fn delete_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<usize, ArtifactError>> + Send;
}

/// SHA-256 of `bytes`, lower-case hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(super) fn verify(
    location: &str,
    artifact: &StoredArtifact,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, ArtifactError> {
    let actual = sha256_hex(&bytes);
    if actual == artifact.sha256 {
        Ok(bytes)
    } else {
        Err(ArtifactError::ChecksumMismatch {
            location: location.to_owned(),
            key: artifact.key.clone(),
            expected: artifact.sha256.clone(),
            actual,
        })
    }
}

/// Artifacts in a local folder (`LANDFALL_DATA_DIR/artifacts`), written atomically.
#[derive(Debug, Clone)]
pub struct LocalArtifacts {
    root: PathBuf,
}

impl LocalArtifacts {
    /// Artifacts under `root`, created on first write.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The path of `key`, refusing keys that could leave the folder.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, ArtifactError> {
        let plain = key
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | "..") && !segment.contains('\\'));
        if plain {
            Ok(self.root.join(key))
        } else {
            Err(ArtifactError::InvalidKey {
                key: key.to_owned(),
            })
        }
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    /// The local file of `key` as a `file://` URL, for a person on the same machine.
    #[must_use]
    pub fn link(&self, key: &str) -> ArtifactLink {
        match self.path_of(key) {
            Ok(path) => ArtifactLink {
                url: Some(format!("file://{}", path.display())),
                location: path.display().to_string(),
                valid_for: None,
            },
            Err(_) => ArtifactLink {
                url: None,
                location: format!("{} in {}", key, self.location()),
                valid_for: None,
            },
        }
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError {
    let path = path.to_path_buf();
    move |source| ArtifactError::Io {
        action,
        path,
        source,
    }
}

impl Artifacts for LocalArtifacts {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<StoredArtifact, ArtifactError> {
        let path = self.path_of(key)?;
        let artifact = StoredArtifact {
            key: key.to_owned(),
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
        };
        tokio::task::spawn_blocking(move || {
            let dir = path.parent().expect("an artifact path has a parent folder");
            std::fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .map_err(io_error("creating a file in", dir))?;
            tmp.write_all(&bytes)
                .map_err(io_error("writing", tmp.path()))?;
            tmp.as_file()
                .sync_all()
                .map_err(io_error("syncing", tmp.path()))?;
            tmp.persist(&path)
                .map_err(|err| io_error("renaming into", &path)(err.error))?;
            Ok(())
        })
        .await
        .expect("the artifact write task does not panic")?;
        Ok(artifact)
    }

    async fn get_verified(&self, artifact: &StoredArtifact) -> Result<Vec<u8>, ArtifactError> {
        let path = self.path_of(&artifact.key)?;
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArtifactError::NotFound {
                    location: self.location(),
                    key: artifact.key.clone(),
                });
            }
            Err(err) => return Err(io_error("reading", &path)(err)),
        };
        verify(&self.location(), artifact, bytes)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, ArtifactError> {
        let folder = self.path_of(prefix.trim_end_matches('/'))?;
        tokio::task::spawn_blocking(move || {
            let count = count_files(&folder);
            match std::fs::remove_dir_all(&folder) {
                Ok(()) => Ok(count),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
                Err(err) => Err(io_error("removing", &folder)(err)),
            }
        })
        .await
        .expect("the artifact delete task does not panic")
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|entry| {
                let path = entry.path();
                if path.is_dir() { count_files(&path) } else { 1 }
            })
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stores `bytes` under `key` in `local`.
    async fn put(local: &LocalArtifacts, key: &str, bytes: &[u8]) -> StoredArtifact {
        local.put(key, bytes.to_vec()).await.unwrap()
    }

    #[tokio::test]
    async fn an_s3_log_link_is_presigned_locally_for_at_most_seven_days_without_the_secret() {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI-the-secret",
                Some("the-session-token".to_owned()),
                None,
                "test",
            ))
            .build();
        let s3 = S3Artifacts::new(aws_sdk_s3::Client::from_conf(config), "landfall-artifacts");
        let link = s3
            .link(
                "logs/acme%2Finfra/pr-7/run.log",
                Duration::from_hours(30 * 24),
            )
            .await;
        let url = link.url.expect("a presigned URL");
        assert!(
            url.starts_with("https://landfall-artifacts.s3.eu-west-1.amazonaws.com/logs/"),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-Expires=604800"),
            "capped at 7 days: {url}"
        );
        assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Security-Token="));
        assert!(
            !url.contains("the-secret"),
            "the secret key never leaves: {url}"
        );
        assert_eq!(link.valid_for, Some(MAX_LINK_VALIDITY));
        assert_eq!(
            link.location,
            "s3://landfall-artifacts/logs/acme%2Finfra/pr-7/run.log"
        );
    }

    #[test]
    fn a_local_log_link_is_its_file_url() {
        let local = LocalArtifacts::new("/data/artifacts");
        let link = local.link("logs/r/pr-1/run.log");
        assert_eq!(
            link.url.as_deref(),
            Some("file:///data/artifacts/logs/r/pr-1/run.log")
        );
        assert_eq!(link.valid_for, None);
        assert_eq!(local.link("../etc/passwd").url, None);
    }

    #[test]
    fn local_keys_that_could_leave_the_folder_are_refused() {
        let local = LocalArtifacts::new("/data/artifacts");
        for key in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "",
            "a/./b",
            "a//b",
            "a\\..\\b",
        ] {
            assert!(local.path_of(key).is_err(), "{key} accepted");
        }
        assert_eq!(
            local.path_of("planfiles/o%2Fr/pr-1/x.tfplan").unwrap(),
            Path::new("/data/artifacts/planfiles/o%2Fr/pr-1/x.tfplan")
        );
    }

    #[tokio::test]
    async fn a_local_planfile_round_trips_and_a_tampered_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalArtifacts::new(dir.path());
        let stored = put(&local, "planfiles/p.tfplan", b"plan").await;
        assert_eq!(stored.sha256, sha256_hex(b"plan"));
        assert_eq!(local.get_verified(&stored).await.unwrap(), b"plan");
        std::fs::write(dir.path().join("planfiles/p.tfplan"), b"evil").unwrap();
        let err = local.get_verified(&stored).await.unwrap_err();
        assert!(
            matches!(err, ArtifactError::ChecksumMismatch { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn deleting_a_prefix_removes_a_prs_planfiles_only() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalArtifacts::new(dir.path());
        let one = put(&local, "planfiles/r/pr-1/a.tfplan", b"1").await;
        let two = put(&local, "planfiles/r/pr-2/a.tfplan", b"2").await;
        assert_eq!(local.delete_prefix("planfiles/r/pr-1/").await.unwrap(), 1);
        assert!(matches!(
            local.get_verified(&one).await,
            Err(ArtifactError::NotFound { .. })
        ));
        assert_eq!(local.get_verified(&two).await.unwrap(), b"2");
    }
}
