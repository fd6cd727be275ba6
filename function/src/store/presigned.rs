//! A run's artifacts through links the function signed: the runner holds no S3 credential and
//! no store settings, only a presigned PUT for each key its run may write (its planfile and its
//! log) and, for an apply, a presigned GET of the planfile it applies. A key the function did
//! not sign is refused before any request; the bucket, the signature and the expiry are S3's to
//! enforce. The function keeps the truth: it records the planfile's key and SHA-256 only after
//! checking the key is its run's own, and an apply re-checks the bytes against that SHA-256.

use std::time::Duration;

#[cfg(feature = "function")]
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use serde::{Deserialize, Serialize};

use super::artifacts::{ArtifactError, Artifacts, StoredArtifact};
#[cfg(feature = "function")]
use super::artifacts::{MAX_LINK_VALIDITY, S3Artifacts};
use super::artifacts::{sha256_hex, verify};

/// The links of one run, as the runner gets them (JSON in `LANDFALL_RUN_ARTIFACTS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLinks {
    /// Keys the run may write, with a presigned PUT each.
    #[serde(default)]
    pub put: Vec<(String, String)>,
    /// Keys the run may read, with a presigned GET each.
    #[serde(default)]
    pub get: Vec<(String, String)>,
}

#[cfg(feature = "function")]
impl RunLinks {
    /// The presigned PUT of each of `writes` and GET of each of `reads`, valid for `valid_for`
    /// (at most seven days, SigV4's limit). Signed locally, with no request to S3.
    pub async fn sign(
        s3: &S3Artifacts,
        writes: &[String],
        reads: &[String],
        valid_for: Duration,
    ) -> Result<Self, ArtifactError> {
        let config = PresigningConfig::expires_in(valid_for.min(MAX_LINK_VALIDITY))
            .map_err(|err| s3.error("presign", "", err))?;
        let mut links = Self::default();
        for key in writes {
            let put = s3.client().put_object().bucket(s3.bucket()).key(key);
            let signed = put.presigned(config.clone()).await;
            links.put.push(link(s3, "presign PutObject", key, signed)?);
        }
        for key in reads {
            let get = s3.client().get_object().bucket(s3.bucket()).key(key);
            let signed = get.presigned(config.clone()).await;
            links.get.push(link(s3, "presign GetObject", key, signed)?);
        }
        Ok(links)
    }
}

impl RunLinks {
    /// Every URL, for cutting them from the texts a run keeps.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.put
            .iter()
            .chain(&self.get)
            .map(|(_, url)| url.clone())
            .collect()
    }
}

/// `key` and its presigned URL, or the error that `operation` on it met.
#[cfg(feature = "function")]
fn link(
    s3: &S3Artifacts,
    operation: &'static str,
    key: &str,
    signed: Result<PresignedRequest, impl std::error::Error + Send + Sync + 'static>,
) -> Result<(String, String), ArtifactError> {
    let request = signed.map_err(|err| s3.error(operation, key, err))?;
    Ok((key.to_owned(), request.uri().to_owned()))
}

/// Artifacts through a run's presigned links.
#[derive(Debug, Clone)]
pub struct PresignedArtifacts {
    links: RunLinks,
    client: reqwest::Client,
}

impl PresignedArtifacts {
    /// Artifacts through `links`.
    pub fn new(links: RunLinks) -> Result<Self, ArtifactError> {
        let client = crate::tls::reqwest_builder()
            .timeout(Duration::from_mins(5))
            .build()
            .map_err(|err| http_error("client", "", err))?;
        Ok(Self { links, client })
    }

    fn link<'a>(list: &'a [(String, String)], key: &str) -> Result<&'a str, ArtifactError> {
        list.iter()
            .find(|(k, _)| k == key)
            .map(|(_, url)| url.as_str())
            .ok_or_else(|| ArtifactError::InvalidKey {
                key: format!("{key} (this run was given no link for it)"),
            })
    }
}

/// Who answers a presigned link: the bucket is in the link, which is not shown.
const PRESIGNED: &str = "(presigned)";

fn http_error(
    operation: &'static str,
    key: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> ArtifactError {
    ArtifactError::s3(PRESIGNED, operation, key, source)
}

/// A refusal by S3, with its status and the start of its answer (never the URL: it is a secret).
#[derive(Debug, thiserror::Error)]
#[error("S3 answered {status}: {body}")]
struct Refused {
    status: u16,
    body: String,
}

async fn checked(
    operation: &'static str,
    key: &str,
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<reqwest::Response, ArtifactError> {
    // reqwest's errors carry the URL: keep only what went wrong.
    let response = response.map_err(|err| http_error(operation, key, err.without_url()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(ArtifactError::NotFound {
            location: "s3 (presigned)".to_owned(),
            key: key.to_owned(),
        });
    }
    let mut body = response.text().await.unwrap_or_default();
    body.truncate(300);
    Err(http_error(
        operation,
        key,
        Refused {
            status: status.as_u16(),
            body,
        },
    ))
}

impl Artifacts for PresignedArtifacts {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<StoredArtifact, ArtifactError> {
        let url = Self::link(&self.links.put, key)?;
        let artifact = StoredArtifact {
            key: key.to_owned(),
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
        };
        let response = self.client.put(url).body(bytes).send().await;
        checked("PutObject", key, response).await?;
        Ok(artifact)
    }

    async fn get_verified(&self, artifact: &StoredArtifact) -> Result<Vec<u8>, ArtifactError> {
        let key = artifact.key.as_str();
        let url = Self::link(&self.links.get, key)?;
        let response = checked("GetObject", key, self.client.get(url).send().await).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|err| http_error("GetObject", key, err.without_url()))?;
        verify("s3 (presigned)", artifact, bytes.to_vec())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, ArtifactError> {
        Err(ArtifactError::InvalidKey {
            key: format!("{prefix} (a run deletes nothing)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_without_a_link_is_refused_before_any_request() {
        let store = PresignedArtifacts::new(RunLinks {
            put: vec![("runs/a/plan".into(), "http://127.0.0.1:9/never".into())],
            get: Vec::new(),
        })
        .unwrap();
        let err = store.put("runs/b/plan", b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, ArtifactError::InvalidKey { .. }), "{err}");
        let other = StoredArtifact {
            key: "runs/a/plan".into(),
            sha256: sha256_hex(b"x"),
            size: 1,
        };
        let err = store.get_verified(&other).await.unwrap_err();
        assert!(
            matches!(err, ArtifactError::InvalidKey { .. }),
            "a put link does not read"
        );
        assert!(store.delete_prefix("runs/").await.is_err());
    }
}
