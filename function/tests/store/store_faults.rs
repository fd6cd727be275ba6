//! Injected faults against DynamoDB (moto behind a fault-injecting HTTP client): throttling and
//! transaction conflicts are retried and never leave a half-acquired set; a failure after locks
//! were taken releases them, or reports them when it cannot.

use landfall_function::store::dynamodb::DynamoError;
use landfall_function::store::{DELIVERY_TTL, DeliveryOutcome, LockOutcome, Store, StoreError};

use crate::store_common::seam::{Fault, FaultyHttp, RequestLog, Rule, instrumented_client};
use crate::store_common::{REPO, dynamo_store_with, holder, projects, start_moto};

fn rule(action: &'static str, skip: usize, times: usize, fault: Fault) -> Rule {
    Rule {
        action,
        skip,
        times,
        fault,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_conflicts_are_retried_and_never_leave_half_a_lock_set() {
    let moto = start_moto();
    let log = RequestLog::default();
    let faults = FaultyHttp::new();
    let client = instrumented_client(&moto, &log, &faults);
    let store = dynamo_store_with(&client, "faults").await;
    log.take();

    eprintln!("throttled delivery writes are retried");
    faults.set(vec![rule("PutItem", 0, 3, Fault::Throttled)]);
    assert_eq!(
        store
            .record_delivery("github:1", DELIVERY_TTL)
            .await
            .unwrap(),
        DeliveryOutcome::New
    );
    assert_eq!(
        log.take(),
        ["PutItem"; 4],
        "three throttled attempts, then success"
    );

    eprintln!("transaction conflicts are retried and the whole set is taken");
    faults.set(vec![
        rule("TransactWriteItems", 0, 2, Fault::TransactionConflict),
        rule("TransactWriteItems", 0, 1, Fault::Throttled),
    ]);
    let wanted = projects(20);
    assert_eq!(
        store.acquire_locks(&holder(1), &wanted).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(log.take().len(), 3, "two conflicts, then success");
    let _ = store.release_pr(REPO, 1).await.unwrap();

    eprintln!("a server error with an HTML page instead of DynamoDB's JSON is retried too");
    faults.set(vec![rule("TransactWriteItems", 0, 2, Fault::ProxyPage)]);
    assert_eq!(
        store.acquire_locks(&holder(1), &wanted).await.unwrap(),
        LockOutcome::Acquired
    );
    log.take();
    assert_eq!(store.list_locks(Some(REPO)).await.unwrap().len(), 20);
    let _ = store.release_pr(REPO, 1).await.unwrap();

    eprintln!("conflicts that outlast the retry budget are an error, with no lock taken");
    faults.set(vec![rule(
        "TransactWriteItems",
        0,
        usize::MAX,
        Fault::TransactionConflict,
    )]);
    let err = store.acquire_locks(&holder(1), &wanted).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DynamoDb(DynamoError::RetriesExhausted { attempts: 12, .. })
        ),
        "{err:?}"
    );
    faults.set(Vec::new());
    assert!(
        store.list_locks(None).await.unwrap().is_empty(),
        "no half-acquired set"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_the_middle_of_a_large_set_releases_the_locks_taken_or_reports_them() {
    let moto = start_moto();
    let log = RequestLog::default();
    let faults = FaultyHttp::new();
    let client = instrumented_client(&moto, &log, &faults);
    let store = dynamo_store_with(&client, "faults").await;

    eprintln!("server errors in the middle of a large set are retried");
    faults.set(vec![rule("UpdateItem", 40, 2, Fault::ServerError)]);
    let large = projects(150);
    assert_eq!(
        store.acquire_locks(&holder(2), &large).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(store.list_locks(Some(REPO)).await.unwrap().len(), 150);
    let _ = store.release_pr(REPO, 2).await.unwrap();
    log.take();

    eprintln!("a hard error in the middle of a large set releases what was taken");
    faults.set(vec![rule("UpdateItem", 60, 1, Fault::Invalid)]);
    let err = store.acquire_locks(&holder(3), &large).await.unwrap_err();
    assert!(
        matches!(err, StoreError::DynamoDb(DynamoError::Request { .. })),
        "{err:?}"
    );
    let actions = log.take();
    assert_eq!(
        actions.iter().filter(|a| *a == "DeleteItem").count(),
        60,
        "the 60 locks taken before the failure are released"
    );
    faults.set(Vec::new());
    assert!(
        store.list_locks(None).await.unwrap().is_empty(),
        "nothing left behind"
    );

    eprintln!("when the release fails too, the locks left behind are reported");
    faults.set(vec![
        rule("UpdateItem", 30, 1, Fault::Invalid),
        rule("DeleteItem", 0, usize::MAX, Fault::Invalid),
    ]);
    let err = store.acquire_locks(&holder(4), &large).await.unwrap_err();
    let StoreError::LocksLeftBehind { pr, keys, source } = &err else {
        panic!("expected the left-behind locks to be reported: {err:?}");
    };
    assert_eq!(*pr, 4);
    assert_eq!(keys.as_slice(), &large[..30]);
    assert!(matches!(
        **source,
        StoreError::DynamoDb(DynamoError::Request { .. })
    ));
    assert!(
        err.to_string().contains("30 lock(s) taken for PR #4"),
        "{err}"
    );
    faults.set(Vec::new());
    let held = store.list_locks(Some(REPO)).await.unwrap();
    assert_eq!(held.len(), 30, "exactly the reported locks are held");
    assert_eq!(store.release_pr(REPO, 4).await.unwrap().released.len(), 30);
}
