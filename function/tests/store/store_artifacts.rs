//! Plan artifacts through S3 on a real local endpoint (moto), configured as the function does it
//! (`StoreConfig` with an endpoint override, so path-style addressing): a planfile round trip
//! with its SHA-256, a tampered object refused, a missing one reported, a PR's planfiles
//! discarded together.

use landfall_function::store::artifacts::sha256_hex;
use landfall_function::store::keys::{planfile_key, pr_planfile_prefix};
use landfall_function::store::{AnyArtifacts, ArtifactError, Artifacts, LockKey, StoreConfig};

use crate::store_common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planfiles_round_trip_through_s3_and_tampering_is_detected() {
    let moto = store_common::start_moto();
    moto.create_bucket("artifacts").unwrap();
    let config = StoreConfig::DynamoDb {
        table: "unused".into(),
        bucket: "artifacts".into(),
        path_style: true,
    };
    let (_, artifacts) = config
        .connect_with(&store_common::sdk_config(&moto))
        .unwrap();
    assert!(matches!(artifacts, AnyArtifacts::S3(_)));

    let key = LockKey::new("acme/infra", "envs/prod", "default");
    let object = planfile_key(&key, 42, &"a".repeat(40), "run-1");
    let planfile: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let stored = artifacts.put(&object, planfile.clone()).await.unwrap();
    assert_eq!(stored.sha256, sha256_hex(&planfile));
    assert_eq!(stored.size, 300_000);
    assert!(artifacts.get_verified(&stored).await.unwrap() == planfile);
    // The key's own percent signs are escaped in the request path, as the SDK does.
    let url_path = object.replace('%', "%25");
    let raw = moto.get_object("artifacts", &url_path).unwrap();
    assert!(
        raw.as_deref() == Some(planfile.as_slice()),
        "not stored under the derived key {object}"
    );

    // Someone rewrites the object after the plan was reviewed.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&store_common::sdk_config(&moto))
            .force_path_style(true)
            .build(),
    );
    s3.put_object()
        .bucket("artifacts")
        .key(&object)
        .body(b"a different plan".to_vec().into())
        .send()
        .await
        .unwrap();
    let err = artifacts.get_verified(&stored).await.unwrap_err();
    match &err {
        ArtifactError::ChecksumMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &stored.sha256);
            assert_eq!(actual, &sha256_hex(b"a different plan"));
        }
        other => panic!("tampering went unnoticed: {other:?}"),
    }
    assert!(err.to_string().contains("plan again"), "{err}");

    let mut missing = stored.clone();
    missing.key = planfile_key(&key, 42, &"b".repeat(40), "run-2");
    assert!(matches!(
        artifacts.get_verified(&missing).await,
        Err(ArtifactError::NotFound { .. })
    ));

    // Closing the PR discards its planfiles and no other PR's.
    let other = planfile_key(&key, 43, &"c".repeat(40), "run-3");
    let kept = artifacts.put(&other, b"other".to_vec()).await.unwrap();
    let deleted = artifacts
        .delete_prefix(&pr_planfile_prefix("acme/infra", 42))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert!(moto.get_object("artifacts", &url_path).unwrap().is_none());
    assert_eq!(artifacts.get_verified(&kept).await.unwrap(), b"other");
}

#[tokio::test]
async fn the_embedded_configuration_keeps_artifacts_in_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::Embedded {
        data_dir: dir.path().to_path_buf(),
    };
    let (_, artifacts) = config.connect().await.unwrap();
    let stored = artifacts
        .put("planfiles/x/pr-1/p.tfplan", b"plan".to_vec())
        .await
        .unwrap();
    assert!(
        dir.path()
            .join("artifacts/planfiles/x/pr-1/p.tfplan")
            .is_file()
    );
    assert_eq!(artifacts.get_verified(&stored).await.unwrap(), b"plan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_link_is_a_presigned_get_that_reads_the_log_for_seven_days() {
    let moto = store_common::start_moto();
    moto.create_bucket("artifacts").unwrap();
    let config = StoreConfig::DynamoDb {
        table: "unused".into(),
        bucket: "artifacts".into(),
        path_style: true,
    };
    let (_, artifacts) = config
        .connect_with(&store_common::sdk_config(&moto))
        .unwrap();
    let key = LockKey::new("acme/infra", "envs/prod", "default");
    let object = landfall_function::store::keys::log_key(&key, 42, &"a".repeat(40), "run-1");
    let log = b"terraform plan\n  # terraform_data.app will be created\n".to_vec();
    artifacts.put(&object, log.clone()).await.unwrap();
    let link = artifacts
        .link(&object, landfall_function::report::LOG_LINK_VALIDITY)
        .await;
    assert_eq!(link.location, format!("s3://artifacts/{object}"));
    assert_eq!(
        link.valid_for,
        Some(std::time::Duration::from_hours(7 * 24))
    );
    let url = link.url.expect("a presigned URL");
    assert!(url.contains("X-Amz-Expires=604800"), "{url}");
    // Anyone with the link reads the log, with no credentials of their own.
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.bytes().await.unwrap().as_ref(), log.as_slice());
}
