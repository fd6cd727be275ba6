//! The EKS bearer token the function makes under Lambda is what `aws eks get-token` makes:
//! botocore (the AWS CLI's own signer, from the test tools) presigns the same STS request at the
//! same instant, and both signatures must be equal.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine as _;
use landfall_function::dispatch::eks::token;

const BOTOCORE_PRESIGN: &str = r#"
import sys, datetime
from unittest import mock
import botocore.auth, botocore.credentials
from botocore.awsrequest import AWSRequest
cluster, region, ts = sys.argv[1], sys.argv[2], int(sys.argv[3])
at = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(tzinfo=None)
creds = botocore.credentials.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
url = f"https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
req = AWSRequest(method="GET", url=url, headers={"x-k8s-aws-id": cluster})
auth = botocore.auth.SigV4QueryAuth(creds, "sts", region, expires=60)
with mock.patch("botocore.auth.get_current_datetime", return_value=at):
    auth.add_auth(req)
print(req.url)
"#;

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[test]
fn the_eks_token_signs_what_the_aws_cli_signs() {
    let python = landfall_e2e::tools_dir().join("venv/bin/python");
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    );
    for (cluster, region, secs) in [
        ("platform", "eu-west-1", 1_700_000_000_u64),
        ("acme-prod-eks", "us-east-1", 1_790_000_123),
    ] {
        let out = Command::new(&python)
            .args(["-c", BOTOCORE_PRESIGN, cluster, region, &secs.to_string()])
            .output()
            .expect("the tools' python runs (scripts/install-tools)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = String::from_utf8(out.stdout).unwrap();
        let ours = token(
            cluster,
            region,
            &credentials,
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        )
        .unwrap();
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(ours.strip_prefix("k8s-aws-v1.").unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(query(&url), query(expected.trim()), "{cluster} in {region}");
    }
}
