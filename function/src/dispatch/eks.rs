//! Reaching an EKS cluster's API from Lambda, where there is no kubeconfig and no service
//! account: the endpoint and CA come from `LANDFALL_EKS_ENDPOINT` and `LANDFALL_EKS_CA_DATA`
//! (set by the rendered Terraform), and the bearer token is what `aws eks get-token` makes: a
//! presigned STS `GetCallerIdentity` URL bound to the cluster name (`x-k8s-aws-id`), as
//! `k8s-aws-v1.<base64url>`. EKS maps the function's IAM role to its access entry.
//!
//! Tokens live 15 minutes. The client reads its token from a file (kube re-reads it at least
//! once a minute), and [`EksAuth::refresh`] rewrites that file before each dispatch when the
//! token is older than ten minutes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::config::env_vars;
use crate::config::env_vars::{EKS_CA_DATA, EKS_ENDPOINT};
use anyhow::Context as _;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;

/// How long the presigned URL inside a token is valid for signing (EKS accepts the token for
/// 15 minutes after the signing time).
const PRESIGN_EXPIRY: Duration = Duration::from_mins(1);
/// A token older than this is replaced before the next dispatch.
const REFRESH_AFTER: Duration = Duration::from_mins(10);

/// The bearer token for `cluster`, signed with `credentials` in `region` at `time`.
pub fn token(
    cluster: &str,
    region: &str,
    credentials: &Credentials,
    time: SystemTime,
) -> anyhow::Result<String> {
    let url =
        format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRY);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .context("cannot set up SigV4 signing")?
        .into();
    let headers = [("x-k8s-aws-id", cluster)];
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .context("cannot sign the STS request")?;
    let (instructions, _) = sign(request, &params)
        .context("cannot sign the STS request")?
        .into_parts();
    let mut presigned = http::Request::builder()
        .uri(&url)
        .body(())
        .context("the STS URL is invalid")?;
    instructions.apply_to_request_http1x(&mut presigned);
    let encoded =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned.uri().to_string());
    Ok(format!("k8s-aws-v1.{encoded}"))
}

/// Tokens for one cluster, kept fresh in a file the Kubernetes client reads.
pub struct EksAuth {
    cluster: String,
    region: String,
    credentials: SharedCredentialsProvider,
    token_file: PathBuf,
    issued: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for EksAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksAuth")
            .field("cluster", &self.cluster)
            .field("region", &self.region)
            .field("token_file", &self.token_file)
            .finish_non_exhaustive()
    }
}

impl EksAuth {
    /// Rewrites the token file when its token is older than ten minutes (or was never written).
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let fresh = self
            .issued
            .lock()
            .expect("the token clock is never poisoned")
            .is_some_and(|at| at.elapsed() < REFRESH_AFTER);
        if fresh {
            return Ok(());
        }
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .context("no AWS credentials to sign the EKS token with")?;
        let token = token(&self.cluster, &self.region, &credentials, SystemTime::now())?;
        write_private(&self.token_file, &token)?;
        *self
            .issued
            .lock()
            .expect("the token clock is never poisoned") = Some(Instant::now());
        Ok(())
    }
}

/// Writes `text` to `path` with mode 0600, replacing it whole (a reader never sees half).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let staged = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&staged)
        .with_context(|| format!("cannot write {}", staged.display()))?;
    file.write_all(text.as_bytes())?;
    std::fs::rename(&staged, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The certificates of a base64-encoded PEM bundle, as DER.
pub fn ca_certificates(ca_data: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = b64
        .decode(ca_data.trim())
        .with_context(|| format!("{EKS_CA_DATA} is not base64"))?;
    let pem = String::from_utf8(pem).with_context(|| format!("{EKS_CA_DATA} is not a PEM"))?;
    let mut certs = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match line {
            "-----BEGIN CERTIFICATE-----" => body = Some(String::new()),
            "-----END CERTIFICATE-----" => {
                let text = body.take().unwrap_or_default();
                certs.push(
                    b64.decode(text)
                        .with_context(|| format!("{EKS_CA_DATA} holds a damaged certificate"))?,
                );
            }
            _ => {
                if let Some(text) = body.as_mut() {
                    text.push_str(line);
                }
            }
        }
    }
    anyhow::ensure!(!certs.is_empty(), "{EKS_CA_DATA} holds no PEM certificate");
    Ok(certs)
}

/// A client for the cluster named by `LANDFALL_EKS_*`, or `None` when they are not set (then
/// the usual kubeconfig or in-cluster configuration applies).
pub async fn client_from_env(
    sdk: &aws_config::SdkConfig,
) -> anyhow::Result<Option<(kube::Client, EksAuth)>> {
    let get = |name: &str| crate::config::process::var(name).filter(|v| !v.trim().is_empty());
    let (Some(cluster), Some(endpoint), Some(ca)) = (
        get(env_vars::EKS_CLUSTER),
        get(env_vars::EKS_ENDPOINT),
        get(env_vars::EKS_CA_DATA),
    ) else {
        return Ok(None);
    };
    let region = sdk
        .region()
        .map(ToString::to_string)
        .context("AWS_REGION is not set: the EKS token is signed for a region")?;
    let credentials = sdk
        .credentials_provider()
        .context("no AWS credentials provider to sign the EKS token with")?;
    let token_file = std::env::temp_dir().join(format!("landfall-eks-{cluster}.token"));
    let auth = EksAuth {
        cluster,
        region,
        credentials,
        token_file: token_file.clone(),
        issued: Mutex::new(None),
    };
    auth.refresh().await?;
    let mut config = kube::Config::new(
        endpoint
            .parse()
            .with_context(|| format!("{EKS_ENDPOINT} is not a URL ({endpoint:?})"))?,
    );
    config.root_cert = Some(ca_certificates(&ca)?);
    config.auth_info.token_file = Some(token_file.display().to_string());
    let client = crate::tls::kube_client(config)?;
    Ok(Some((client, auth)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_a_presigned_get_caller_identity_bound_to_the_cluster() {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = token("platform", "eu-west-1", &credentials, time).unwrap();
        let encoded = token.strip_prefix("k8s-aws-v1.").expect("the EKS prefix");
        assert!(!encoded.contains('='), "unpadded base64url");
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.host_str(), Some("sts.eu-west-1.amazonaws.com"));
        let query: std::collections::HashMap<String, String> =
            parsed.query_pairs().into_owned().collect();
        assert_eq!(query["Action"], "GetCallerIdentity");
        assert_eq!(query["Version"], "2011-06-15");
        assert_eq!(query["X-Amz-Expires"], "60");
        assert_eq!(query["X-Amz-Date"], "20231114T221320Z");
        assert_eq!(
            query["X-Amz-Credential"],
            "AKIDEXAMPLE/20231114/eu-west-1/sts/aws4_request"
        );
        assert_eq!(query["X-Amz-SignedHeaders"], "host;x-k8s-aws-id");
        assert_eq!(query["X-Amz-Signature"].len(), 64);
        assert_ne!(
            token,
            super::token("other", "eu-west-1", &credentials, time).unwrap(),
            "the cluster name is signed"
        );
    }

    #[test]
    fn the_ca_bundle_is_read_from_base64_pem() {
        let der = vec![0x30, 0x82, 0x01, 0x0a, 0xff];
        let b64 = base64::engine::general_purpose::STANDARD;
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            b64.encode(&der)
        );
        assert_eq!(ca_certificates(&b64.encode(pem)).unwrap(), vec![der]);
        assert!(ca_certificates("not base64!").is_err());
        assert!(ca_certificates(&b64.encode("no certificate")).is_err());
    }
}
