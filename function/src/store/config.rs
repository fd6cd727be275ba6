//! The clients built from the store's settings ([`StoreConfig`], read by [`crate::config`]). The
//! function and the `landfall locks` operator commands connect the same way.

use super::AnyArtifacts;
use super::artifacts::{LocalArtifacts, S3Artifacts};
use super::{AnyStore, DynamoStore, EmbeddedError, EmbeddedStore};
pub use crate::config::StoreConfig;

/// The store named by the settings cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The embedded store could not be opened.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
}

impl StoreConfig {
    /// Builds the store and the artifact store, the AWS clients once from the SDK's default
    /// chain (which honours `AWS_REGION` and `AWS_ENDPOINT_URL`).
    pub async fn connect(&self) -> Result<(AnyStore, AnyArtifacts), ConnectError> {
        match self {
            Self::DynamoDb { .. } => {
                let sdk = crate::aws::sdk_config().await;
                self.connect_with(&sdk)
            }
            Self::Embedded { .. } => self.connect_with(&aws_config::SdkConfig::builder().build()),
        }
    }

    /// Builds the stores from an already loaded SDK configuration (tests point it at moto).
    pub fn connect_with(
        &self,
        sdk: &aws_config::SdkConfig,
    ) -> Result<(AnyStore, AnyArtifacts), ConnectError> {
        match self {
            Self::DynamoDb {
                table,
                bucket,
                path_style,
            } => {
                let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
                let s3_config = aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(*path_style)
                    .build();
                let s3 = aws_sdk_s3::Client::from_conf(s3_config);
                Ok((
                    AnyStore::DynamoDb(DynamoStore::new(&dynamodb, table)),
                    AnyArtifacts::S3(S3Artifacts::new(s3, bucket)),
                ))
            }
            Self::Embedded { data_dir } => Ok((
                AnyStore::Embedded(EmbeddedStore::open_dir(data_dir)?),
                AnyArtifacts::Local(LocalArtifacts::new(data_dir.join("artifacts"))),
            )),
        }
    }

    /// A one-line description for logs and CLI output, such as `dynamodb table t, bucket b`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::DynamoDb { table, bucket, .. } => {
                format!("DynamoDB table {table}, S3 bucket {bucket}")
            }
            Self::Embedded { data_dir } => format!("embedded store in {}", data_dir.display()),
        }
    }
}
