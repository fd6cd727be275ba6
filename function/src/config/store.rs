//! Which store to use: `LANDFALL_STORE` and the variables of the store it names.

use std::path::PathBuf;

use super::{ConfigError, FromVariables, env_vars};

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

/// Under Lambda, DynamoDB is the default store and `/tmp` the data folder.
impl FromVariables for StoreConfig {
    fn from_variables(
        get: &impl Fn(&str) -> Option<String>,
        under_lambda: bool,
    ) -> Result<Self, ConfigError> {
        let kind = get(env_vars::STORE)
            .unwrap_or_else(|| if under_lambda { "dynamodb" } else { "embedded" }.to_owned());
        match kind.trim() {
            "dynamodb" => Ok(Self::DynamoDb {
                table: get(env_vars::TABLE).ok_or(ConfigError::Missing {
                    var: env_vars::TABLE,
                    hint: "the DynamoDB store needs its table of locks, plans and deliveries",
                })?,
                bucket: get(env_vars::BUCKET).ok_or(ConfigError::Missing {
                    var: env_vars::BUCKET,
                    hint: "the DynamoDB store keeps planfiles and logs in an S3 bucket",
                })?,
                path_style: get(env_vars::AWS_ENDPOINT_URL).is_some()
                    || get(env_vars::AWS_ENDPOINT_URL_S3).is_some(),
            }),
            "embedded" => Ok(Self::Embedded {
                data_dir: get(env_vars::DATA_DIR).map_or_else(
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
            _ => Err(ConfigError::Invalid {
                var: env_vars::STORE,
                value: kind,
                reason: "expected `dynamodb` or `embedded`".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::assert_refused;

    fn config(vars: &[(&str, &str)]) -> Result<StoreConfig, ConfigError> {
        let under_lambda = vars.iter().any(|(k, _)| *k == "AWS_LAMBDA_FUNCTION_NAME");
        StoreConfig::from_lookup(crate::config::tests::lookup(vars), under_lambda)
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
        assert_refused(
            config(&[("LANDFALL_STORE", "redis")]),
            "`dynamodb` or `embedded`",
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
