//! What each webhook costs in DynamoDB requests, counted by an SDK interceptor on the store's own
//! client against a real local endpoint (moto). These are the figures `docs/store.md` quotes.

use landfall_function::store::{
    DELIVERY_TTL, DeliveryOutcome, LockOutcome, PlanOutcome, PlanRecord, PlanStatus, Store,
};

use crate::store_common::seam::{FaultyHttp, RequestLog, instrumented_client};
use crate::store_common::{REPO, dynamo_store_with, holder, projects, start_moto};

fn counts(actions: &[String]) -> String {
    let mut sorted: Vec<&str> = actions.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut out = Vec::new();
    for action in sorted {
        match out.last_mut() {
            Some((last, count)) if *last == action => *count += 1,
            _ => out.push((action, 1)),
        }
    }
    out.iter()
        .map(|(action, count)| format!("{count} {action}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_webhook_costs_the_documented_number_of_dynamodb_requests() {
    let moto = start_moto();
    let log = RequestLog::default();
    let client = instrumented_client(&moto, &log, &FaultyHttp::new());
    let store = dynamo_store_with(&client, "requests").await;
    log.take();
    let mut figures = Vec::new();
    let mut measure = |what: &str, actions: Vec<String>| {
        figures.push(format!(
            "{what}: {} requests ({})",
            actions.len(),
            counts(&actions)
        ));
        actions
    };

    // A PR opened with 100 projects: one delivery record, one transaction for all the locks.
    assert_eq!(
        store
            .record_delivery("github:1", DELIVERY_TTL)
            .await
            .unwrap(),
        DeliveryOutcome::New
    );
    let wanted = projects(100);
    assert_eq!(
        store.acquire_locks(&holder(1), &wanted).await.unwrap(),
        LockOutcome::Acquired
    );
    let actions = measure("PR webhook, 100 projects", log.take());
    assert_eq!(actions, ["PutItem", "TransactWriteItems"]);

    // The same delivery again: one request, and nothing else is done.
    assert_eq!(
        store
            .record_delivery("github:1", DELIVERY_TTL)
            .await
            .unwrap(),
        DeliveryOutcome::Duplicate
    );
    assert_eq!(measure("redelivery", log.take()), ["PutItem"]);

    // Another PR touching a locked project: still two requests, the refusal names the holder.
    let _ = store
        .record_delivery("github:2", DELIVERY_TTL)
        .await
        .unwrap();
    let outcome = store.acquire_locks(&holder(2), &projects(3)).await.unwrap();
    assert!(matches!(outcome, LockOutcome::HeldBy(ref held) if held.len() == 3));
    assert_eq!(
        measure("PR webhook refused by locks", log.take()),
        ["PutItem", "TransactWriteItems"]
    );

    // A plan record: one transaction (condition check on the lock + put).
    let record = PlanRecord {
        key: wanted[0].clone(),
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
    assert_eq!(store.put_plan(&record).await.unwrap(), PlanOutcome::Written);
    assert_eq!(measure("plan record", log.take()), ["TransactWriteItems"]);

    // PR closed: delivery, the PR's locks from the index, its plans, then deletes in
    // transactions of up to 100 (100 locks + 1 plan = 2 transactions).
    let _ = store
        .record_delivery("github:3", DELIVERY_TTL)
        .await
        .unwrap();
    let released = store.release_pr(REPO, 1).await.unwrap().released;
    assert_eq!(released.len(), 100);
    assert_eq!(
        measure("close webhook, 100 locks and 1 plan", log.take()),
        [
            "PutItem",
            "Query",
            "Query",
            "TransactWriteItems",
            "TransactWriteItems"
        ]
    );

    // Beyond one transaction: one conditional update per lock, in key order.
    let _ = store
        .record_delivery("github:4", DELIVERY_TTL)
        .await
        .unwrap();
    assert_eq!(
        store
            .acquire_locks(&holder(3), &projects(150))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    let actions = measure("PR webhook, 150 projects", log.take());
    assert_eq!(actions.len(), 151);
    assert_eq!(actions.iter().filter(|a| *a == "UpdateItem").count(), 150);

    eprintln!("DynamoDB requests per webhook:\n  {}", figures.join("\n  "));
}

/// What a sweep costs with 1,200 finished plan records (1.3 MB, more than one page of any read
/// over them) and 10 stuck runs: its reads come from the sparse `by_state` index, so the finished
/// records are never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_reads_only_the_runs_in_progress_and_the_locks() {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    use landfall_function::store::Sweeps as _;

    let moto = start_moto();
    let log = RequestLog::default();
    let client = instrumented_client(&moto, &log, &FaultyHttp::new());
    let store = dynamo_store_with(&client, "sweep").await;
    // 1,200 finished records (as the store writes them, each padded with 1 KiB so that reading
    // them all takes two 1 MB pages: a read that is not sparse shows in the count); 25 per batch
    // to seed quickly.
    let s = |v: String| AttributeValue::S(v);
    let padding = "x".repeat(1024);
    for batch in 0..48 {
        let writes = (0..25).map(|i| {
            let n = batch * 25 + i;
            let item = [
                ("pk", s(format!("plan#{REPO}#{}", 1000 + n / 10))),
                ("sk", s(format!("projects/{:03}#default#", n % 10))),
                ("kind", s("plan".into())),
                ("status", s("applied".into())),
                ("run_id", s(format!("run-{n}"))),
                ("pad", s(padding.clone())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        });
        client
            .batch_write_item()
            .request_items("sweep", writes.collect())
            .send()
            .await
            .unwrap();
    }
    // 10 stuck runs, each holding its project's lock.
    let stuck = projects(10);
    let _ = store.acquire_locks(&holder(1), &stuck).await.unwrap();
    for key in &stuck {
        let record = PlanRecord {
            key: key.clone(),
            pr: 1,
            head_sha: holder(1).head_sha,
            run_id: format!("stuck-{}", key.dir),
            status: PlanStatus::Planning,
            planfile: None,
            updated_at: 1,
            trigger: None,
            result: None,
            deadline: Some(2),
        };
        assert_eq!(store.put_plan(&record).await.unwrap(), PlanOutcome::Written);
    }
    log.take();

    // The sweep's store work: the runs in progress, every lock, then each stuck run failed.
    let unfinished = store.unfinished_runs().await.unwrap();
    assert_eq!(unfinished.len(), 10);
    let locks = store.list_locks(None).await.unwrap();
    assert_eq!(locks.len(), 10);
    for record in &unfinished {
        let mut failed = record.clone();
        failed.status = PlanStatus::Failed;
        failed.deadline = None;
        assert!(store.finish_stuck(&failed, &record.run_id).await.unwrap());
    }
    let actions = log.take();
    eprintln!(
        "DynamoDB requests per sweep, 1,200 finished and 10 stuck runs: {} ({})",
        actions.len(),
        counts(&actions)
    );
    assert_eq!(counts(&actions), "10 PutItem, 2 Query");
    // With nothing stuck, finding the runs in progress is one query.
    assert!(store.unfinished_runs().await.unwrap().is_empty());
    assert_eq!(counts(&log.take()), "1 Query");
}
