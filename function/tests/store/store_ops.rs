//! The operator commands behind `landfall locks`, through the same configuration path as the
//! CLI (`StoreConfig` → connect → list or release), on the embedded store and on DynamoDB (moto).

use landfall_function::config::FromVariables as _;
use landfall_function::store::ops::{self, ReleaseTarget};
use landfall_function::store::{LockKey, PlanOutcome, PlanRecord, PlanStatus, Store, StoreConfig};

use crate::store_common;
use crate::store_common::{REPO, holder, project};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// PR 1 holds projects 1 and 2 (with a plan for 1), PR 2 holds a named project, and another
/// repository has a lock of PR 1.
async fn seed(store: &impl Store) {
    let _ = store
        .acquire_locks(&holder(1), &[project(1), project(2)])
        .await
        .unwrap();
    let named = LockKey::new(REPO, "envs/prod", "default").named("prod");
    let _ = store.acquire_locks(&holder(2), &[named]).await.unwrap();
    let other = LockKey::new("acme/apps", ".", "default");
    let _ = store.acquire_locks(&holder(1), &[other]).await.unwrap();
    let plan = PlanRecord {
        key: project(1),
        pr: 1,
        head_sha: holder(1).head_sha,
        run_id: "run-1".into(),
        status: PlanStatus::Planned,
        planfile: None,
        updated_at: 1,
        trigger: None,
        result: None,
        deadline: None,
    };
    assert_eq!(store.put_plan(&plan).await.unwrap(), PlanOutcome::Written);
}

/// Lists, then releases by project name, by directory, and by PR, checking what is printed.
fn exercise(config: &StoreConfig) {
    let rows = ops::list_locks_blocking(config, Some(REPO)).unwrap();
    let summary: Vec<(String, u64, Option<String>)> = rows
        .iter()
        .map(|row| (row.project.clone(), row.pr, row.plan_status.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("prod".to_owned(), 2, None),
            ("projects/001".to_owned(), 1, Some("planned".to_owned())),
            ("projects/002".to_owned(), 1, None),
        ]
    );
    let json = serde_json::to_value(&rows).unwrap();
    for key in ["repo", "project", "dir", "workspace", "pr", "since"] {
        assert!(json[0].get(key).is_some(), "{key} missing: {json}");
    }
    assert!(json[0]["since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ops::list_locks_blocking(config, None).unwrap().len(), 4);

    let target = ReleaseTarget::Project("prod".into());
    let released = ops::release_locks_blocking(config, REPO, &target).unwrap();
    let text = ops::render_released(REPO, &target, &released);
    assert!(
        text.starts_with("released acme/infra prod (workspace default), held by #2 since "),
        "{text}"
    );

    let target = ReleaseTarget::Project("projects/002".into());
    let released = ops::release_locks_blocking(config, REPO, &target).unwrap();
    assert_eq!(released.released.len(), 1);

    let target = ReleaseTarget::Pr(1);
    let released = ops::release_locks_blocking(config, REPO, &target).unwrap();
    assert_eq!(
        released.released.len(),
        1,
        "only PR 1's remaining lock in this repository"
    );
    let again = ops::release_locks_blocking(config, REPO, &target).unwrap();
    assert_eq!(
        ops::render_released(REPO, &target, &again),
        "PR #1 of acme/infra holds no locks; nothing released\n"
    );
    let rows = ops::list_locks_blocking(config, None).unwrap();
    assert_eq!(rows.len(), 1, "the other repository's lock stays");
    assert_eq!(rows[0].repo, "acme/apps");
}

#[test]
fn operators_list_and_release_locks_in_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::Embedded {
        data_dir: dir.path().to_path_buf(),
    };
    {
        let (store, _) = runtime().block_on(config.connect()).unwrap();
        runtime().block_on(seed(&store));
        let busy = ops::list_locks_blocking(&config, None).unwrap_err();
        let message = format!("{busy:#}");
        assert!(
            message.contains("is in use by another process"),
            "{message}"
        );
        assert!(message.contains("landfall-function serve"), "{message}");
    }
    exercise(&config);
}

#[test]
fn operators_list_and_release_locks_in_dynamodb() {
    let moto = store_common::start_moto();
    let runtime = runtime();
    let store = runtime.block_on(store_common::dynamo_store(&moto, "ops"));
    runtime.block_on(seed(&store));
    // The CLI's path: from the environment, the SDK's default chain pointed at moto.
    let env = [
        ("LANDFALL_STORE", "dynamodb".to_owned()),
        ("LANDFALL_TABLE", "ops".to_owned()),
        ("LANDFALL_BUCKET", "artifacts".to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ];
    let config = StoreConfig::from_lookup(
        |name| {
            env.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.clone())
        },
        false,
    )
    .unwrap();
    assert!(matches!(
        config,
        StoreConfig::DynamoDb {
            path_style: true,
            ..
        }
    ));
    let (store, _) = config
        .connect_with(&store_common::sdk_config(&moto))
        .unwrap();
    let rows = runtime
        .block_on(ops::list_locks(&store, Some(REPO)))
        .unwrap();
    assert_eq!(rows.len(), 3);
    drop(runtime);
    exercise_dynamodb(&config, &moto);
}

/// [`exercise`] needs the SDK's default chain to find moto; the blocking helpers load it from
/// the process environment, which parallel tests must not change. So the DynamoDB run goes
/// through `connect_with` and the async functions instead.
fn exercise_dynamodb(config: &StoreConfig, moto: &landfall_e2e::MotoServer) {
    let runtime = runtime();
    let (store, _) = config
        .connect_with(&store_common::sdk_config(moto))
        .unwrap();
    runtime.block_on(async {
        let released = ops::release_locks(&store, REPO, &ReleaseTarget::Project("prod".into()))
            .await
            .unwrap()
            .released;
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].holder.pr, 2);
        let released = ops::release_locks(&store, REPO, &ReleaseTarget::Pr(1))
            .await
            .unwrap()
            .released;
        assert_eq!(released.len(), 2);
        let rows = ops::list_locks(&store, None).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].repo, "acme/apps");
    });
}

/// After a rollback, a plan record a newer version wrote (a status this one does not know)
/// cannot be read, but the PR's release still gives its lock back and discards it.
#[tokio::test]
async fn a_dynamodb_record_this_version_cannot_read_whole_is_still_released() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use landfall_function::store::keys;

    let moto = store_common::start_moto();
    let client = aws_sdk_dynamodb::Client::new(&store_common::sdk_config(&moto));
    let store = store_common::dynamo_store_with(&client, "newer").await;
    let key = project(1);
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    let s = |value: &str| AttributeValue::S(value.to_owned());
    client
        .put_item()
        .table_name("newer")
        .item("pk", s(&keys::plan_pk(REPO, 1)))
        .item("sk", s(&keys::project_key(&key)))
        .item("kind", s("plan"))
        .item("repo", s(REPO))
        .item("dir", s(&key.dir))
        .item("workspace", s(&key.workspace))
        .item("status", s("reviewing"))
        .send()
        .await
        .unwrap();
    assert!(store.list_plans(REPO, 1).await.is_err(), "it is unreadable");

    let release = store.release_pr(REPO, 1).await.unwrap();
    assert_eq!(release.released.len(), 1);
    assert!(store.get_lock(&key).await.unwrap().is_none());
    assert!(store.list_plans(REPO, 1).await.unwrap().is_empty());
}

/// A drift record written before records had versions (no `version` attribute, none in its
/// body) is version 0: the first versioned write replaces it, a stale one does not.
#[tokio::test]
async fn a_dynamodb_drift_record_from_before_versions_is_version_zero() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use landfall_function::store::{DriftRecord, Drifts as _, keys};

    let moto = store_common::start_moto();
    let client = aws_sdk_dynamodb::Client::new(&store_common::sdk_config(&moto));
    let store = store_common::dynamo_store_with(&client, "legacy").await;
    let key = project(1);
    let mut legacy = DriftRecord::new(key.clone());
    legacy.applied_sha = Some("a".repeat(40));
    let mut body = serde_json::to_value(&legacy).unwrap();
    body.as_object_mut().unwrap().remove("version");
    let s = |value: &str| AttributeValue::S(value.to_owned());
    client
        .put_item()
        .table_name("legacy")
        .item("pk", s(&format!("drift#{}", keys::escape(REPO))))
        .item("sk", s(&keys::project_key(&key)))
        .item("kind", s("drift"))
        .item("body", s(&body.to_string()))
        .item("gsi2pk", s("drift"))
        .send()
        .await
        .unwrap();
    let read = store.get_drift(&key).await.unwrap().unwrap();
    assert_eq!(
        (read.version, read.applied_sha.as_deref()),
        (0, legacy.applied_sha.as_deref())
    );

    let mut cleared = read.clone();
    cleared.applied_sha = None;
    cleared.version = 1;
    assert!(store.put_drift(&cleared).await.unwrap());
    // A writer that read the old record after that write lost the race: nothing written.
    let mut stale = read;
    stale.version = 1;
    assert!(!store.put_drift(&stale).await.unwrap());
    assert_eq!(store.get_drift(&key).await.unwrap(), Some(cleared));
}
