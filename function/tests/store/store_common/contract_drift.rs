//! The store contract for drift records.

use landfall_function::store::{
    DriftRecord, DriftState, Drifts, LockKey, Remediation, RepoDrift, Store, Sweeps, TrackedIssue,
};

use super::REPO;

fn record(repo: &str, dir: &str, state: DriftState) -> DriftRecord {
    let mut record = DriftRecord::new(LockKey::new(repo, dir, "default"));
    record.state = state;
    record.last_checked = 1_777_636_800;
    record.checked_sha = "c".repeat(40);
    "Plan: 0 to add, 1 to change, 0 to destroy.".clone_into(&mut record.summary);
    record.addresses = vec!["terraform_data.a".to_owned()];
    record
}

pub async fn drift_records_are_kept_per_project_and_listed_per_repository_or_all(
    store: &(impl Store + Sweeps + Drifts),
) {
    let key = LockKey::new(REPO, "net", "default");
    assert_eq!(store.get_drift(&key).await.unwrap(), None);
    assert!(store.list_drift(None).await.unwrap().is_empty());
    assert_eq!(store.repo_drift(REPO).await.unwrap(), RepoDrift::default());

    let mut drifted = record(REPO, "net", DriftState::Drifted);
    drifted.first_seen = Some(1_777_636_000);
    store.put_drift(&drifted).await.unwrap();
    store
        .put_drift(&record(REPO, "app", DriftState::InSync))
        .await
        .unwrap();
    store
        .put_drift(&record("acme/other", "net", DriftState::Failed))
        .await
        .unwrap();
    assert_eq!(store.get_drift(&key).await.unwrap(), Some(drifted.clone()));

    // Replaced in place, with remediations kept, by a writer that names the version it read.
    drifted.remediated(Remediation {
        at: 1_777_637_000,
        sha: "c".repeat(40),
        outcome: "applied".to_owned(),
        detail: "1 changed".to_owned(),
    });
    drifted.state = DriftState::InSync;
    drifted.version = 1;
    assert!(store.put_drift(&drifted).await.unwrap());
    assert_eq!(store.get_drift(&key).await.unwrap(), Some(drifted.clone()));
    // A writer that read the record before that write (a check that read it before an import
    // cleared its applied commit) writes nothing.
    let mut stale = drifted.clone();
    stale.applied_sha = Some("a".repeat(40));
    assert!(!store.put_drift(&stale).await.unwrap());
    stale.version = 3;
    assert!(!store.put_drift(&stale).await.unwrap());
    assert_eq!(store.get_drift(&key).await.unwrap(), Some(drifted.clone()));
    let mut next = drifted.clone();
    next.version = 2;
    next.applied_sha = None;
    assert!(store.put_drift(&next).await.unwrap());
    assert_eq!(store.get_drift(&key).await.unwrap(), Some(next));
    // A new record that another writer created first is not replaced either.
    let mut first = record(REPO, "fresh", DriftState::Drifted);
    first.version = 1;
    assert!(store.put_drift(&first).await.unwrap());
    assert!(!store.put_drift(&first).await.unwrap());

    let dirs = |records: Vec<DriftRecord>| -> Vec<(String, String)> {
        records
            .into_iter()
            .map(|r| (r.key.repo, r.key.dir))
            .collect()
    };
    assert_eq!(
        dirs(store.list_drift(Some(REPO)).await.unwrap()),
        [
            (REPO.to_owned(), "app".to_owned()),
            (REPO.to_owned(), "fresh".to_owned()),
            (REPO.to_owned(), "net".to_owned())
        ]
    );
    assert_eq!(store.list_drift(None).await.unwrap().len(), 4);

    // A repository's record is apart from its projects' and from other stores' lists.
    let tracked = RepoDrift {
        issue: Some(TrackedIssue {
            number: 7,
            url: "https://example.com/issues/7".to_owned(),
            open: true,
        }),
        reported: "digest".to_owned(),
        opening_since: None,
        version: 1,
    };
    assert!(store.put_repo_drift(REPO, &tracked).await.unwrap());
    assert_eq!(store.repo_drift(REPO).await.unwrap(), tracked);
    // A writer that read an older version writes nothing.
    assert!(!store.put_repo_drift(REPO, &tracked).await.unwrap());
    let mut next = tracked.clone();
    next.version = 2;
    "newer".clone_into(&mut next.reported);
    assert!(store.put_repo_drift(REPO, &next).await.unwrap());
    assert!(!store.put_repo_drift(REPO, &next).await.unwrap());
    assert_eq!(store.repo_drift(REPO).await.unwrap(), next);
    assert_eq!(store.list_drift(Some(REPO)).await.unwrap().len(), 3);
    // Directories that sort before the repository's own item are listed too.
    for dir in [" spaced", "!bang", "\"quoted"] {
        store
            .put_drift(&record(REPO, dir, DriftState::InSync))
            .await
            .unwrap();
    }
    assert_eq!(store.list_drift(Some(REPO)).await.unwrap().len(), 6);
    assert!(store.list_locks(None).await.unwrap().is_empty());
    assert!(store.unfinished_runs().await.unwrap().is_empty());
}
