//! Which store to use, read once from the environment, and the clients built from it. The
//! function and the `landfall locks` operator commands read the same variables.

use std::path::PathBuf;

use super::artifacts::{AnyArtifacts, LocalArtifacts, S3Artifacts};
use super::{AnyStore, DynamoStore, EmbeddedError, EmbeddedStore};

/// `dynamodb` or `embedded`; defaults to `dynamodb` under Lambda, `embedded` elsewhere.
pub const LANDFALL_STORE: &str = "LANDFALL_STORE";
/// The DynamoDB table (with `LANDFALL_STORE=dynamodb`).
pub const LANDFALL_TABLE: &str = "LANDFALL_TABLE";
/// The S3 bucket for planfiles and logs (with `LANDFALL_STORE=dynamodb`).
pub const LANDFALL_BUCKET: &str = "LANDFALL_BUCKET";
/// The folder of the embedded database and artifacts (default `.landfall`, `/tmp/landfall` under
/// Lambda).
pub const LANDFALL_DATA_DIR: &str = "LANDFALL_DATA_DIR";
/// Set by the Lambda runtime; its presence makes DynamoDB the default store.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// The AWS SDK's endpoint override (moto in tests); S3 then uses path-style addressing.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// The AWS SDK's S3-only endpoint override.
pub const AWS_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
/// The default data folder of the embedded store, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = ".landfall";
/// The default data folder under Lambda, whose only writable folder is `/tmp`.
pub const LAMBDA_DATA_DIR: &str = "/tmp/landfall";

/// The store configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// DynamoDB and S3; region, credentials and endpoint come from the AWS SDK's own variables
    /// (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
    DynamoDb {
        /// The table.
        table: String,
        /// The artifact bucket.
        bucket: String,
        /// Address S3 by path (`endpoint/bucket/key`): needed by local endpoints such as moto.
        path_style: bool,
    },
    /// The embedded redb store and a local artifact folder.
    Embedded {
        /// Holds `landfall.redb` and `artifacts/`.
        data_dir: PathBuf,
    },
}

/// A configuration variable is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable the chosen store needs is unset or empty.
    #[error("{var} is not set; LANDFALL_STORE=dynamodb needs {var} ({what})")]
    Missing {
        /// The variable.
        var: &'static str,
        /// What it names.
        what: &'static str,
    },
    /// `LANDFALL_STORE` names no store.
    #[error("LANDFALL_STORE={value:?} is not a store; use `dynamodb` or `embedded`")]
    UnknownStore {
        /// The value found.
        value: String,
    },
    /// The embedded store could not be opened.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
}

impl StoreConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get` (the environment, or a map in tests). Empty values
    /// count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|value| !value.trim().is_empty());
        let under_lambda = get(AWS_LAMBDA_FUNCTION_NAME).is_some();
        let kind = get(LANDFALL_STORE).unwrap_or_else(|| {
            if under_lambda {
                "dynamodb".to_owned()
            } else {
                "embedded".to_owned()
            }
        });
        match kind.trim() {
            "dynamodb" => Ok(Self::DynamoDb {
                table: get(LANDFALL_TABLE).ok_or(ConfigError::Missing {
                    var: LANDFALL_TABLE,
                    what: "the DynamoDB table of locks, plans and deliveries",
                })?,
                bucket: get(LANDFALL_BUCKET).ok_or(ConfigError::Missing {
                    var: LANDFALL_BUCKET,
                    what: "the S3 bucket of planfiles and logs",
                })?,
                path_style: get(AWS_ENDPOINT_URL).is_some() || get(AWS_ENDPOINT_URL_S3).is_some(),
            }),
            "embedded" => Ok(Self::Embedded {
                data_dir: get(LANDFALL_DATA_DIR).map_or_else(
                    || {
                        PathBuf::from(if under_lambda {
                            LAMBDA_DATA_DIR
                        } else {
                            DEFAULT_DATA_DIR
                        })
                    },
                    PathBuf::from,
                ),
            }),
            _ => Err(ConfigError::UnknownStore { value: kind }),
        }
    }

    /// Builds the store and the artifact store, the AWS clients once from the SDK's default
    /// chain (which honours `AWS_REGION` and `AWS_ENDPOINT_URL`).
    pub async fn connect(&self) -> Result<(AnyStore, AnyArtifacts), ConfigError> {
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
    ) -> Result<(AnyStore, AnyArtifacts), ConfigError> {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<StoreConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        StoreConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn outside_lambda_the_default_is_the_embedded_store_in_dot_landfall() {
        assert_eq!(
            config(&[]).unwrap(),
            StoreConfig::Embedded {
                data_dir: PathBuf::from(".landfall")
            }
        );
    }

    #[test]
    fn under_lambda_the_default_is_dynamodb_and_it_needs_a_table_and_a_bucket() {
        let err = config(&[("AWS_LAMBDA_FUNCTION_NAME", "landfall")]).unwrap_err();
        assert!(err.to_string().contains("LANDFALL_TABLE"), "{err}");
        let ok = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "landfall"),
            ("LANDFALL_TABLE", "t"),
            ("LANDFALL_BUCKET", "b"),
        ])
        .unwrap();
        assert_eq!(
            ok,
            StoreConfig::DynamoDb {
                table: "t".into(),
                bucket: "b".into(),
                path_style: false
            }
        );
    }

    #[test]
    fn a_custom_endpoint_switches_s3_to_path_style() {
        let ok = config(&[
            ("LANDFALL_STORE", "dynamodb"),
            ("LANDFALL_TABLE", "t"),
            ("LANDFALL_BUCKET", "b"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert!(matches!(
            ok,
            StoreConfig::DynamoDb {
                path_style: true,
                ..
            }
        ));
    }

    #[test]
    fn an_embedded_store_under_lambda_defaults_to_tmp() {
        assert_eq!(
            config(&[
                ("AWS_LAMBDA_FUNCTION_NAME", "landfall"),
                ("LANDFALL_STORE", "embedded")
            ])
            .unwrap(),
            StoreConfig::Embedded {
                data_dir: PathBuf::from("/tmp/landfall")
            }
        );
    }

    #[test]
    fn an_unknown_store_name_is_refused_with_the_choices() {
        let err = config(&[("LANDFALL_STORE", "redis")]).unwrap_err();
        assert!(
            err.to_string().contains("`dynamodb` or `embedded`"),
            "{err}"
        );
    }

    #[test]
    fn the_embedded_store_uses_landfall_data_dir() {
        assert_eq!(
            config(&[
                ("LANDFALL_STORE", "embedded"),
                ("LANDFALL_DATA_DIR", "/var/lib/landfall")
            ])
            .unwrap(),
            StoreConfig::Embedded {
                data_dir: PathBuf::from("/var/lib/landfall")
            }
        );
    }
}
