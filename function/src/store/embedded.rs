//! The embedded store: one redb file under `LANDFALL_DATA_DIR`, the default outside AWS. Every
//! operation is one redb write (or read) transaction, so a lock set is taken atomically, a plan
//! record is written only under its lock, and everything survives a restart.
//!
//! redb allows one process per file: while `landfall-function serve` runs, `landfall locks`
//! reports the database as in use instead of opening it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tokio::sync::oneshot;

use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys;
use super::{
    DeliveryOutcome, Lock, LockHolder, LockKey, LockOutcome, PartsOutcome, PlanOutcome, PlanRecord,
    ReleaseOutcome, Result, Store, normalise_keys, now_secs,
};

/// Lock key (see [`keys::embedded_lock_key`]) → JSON [`Lock`].
const LOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("locks");
/// Plan key (see [`keys::embedded_plan_key`]) → JSON [`PlanRecord`].
const PLANS: TableDefinition<&str, &[u8]> = TableDefinition::new("plans");
/// Split comment key (see [`keys::embedded_comment_parts_key`]) → JSON list of part comment ids.
const COMMENT_PARTS: TableDefinition<&str, &[u8]> = TableDefinition::new("comment_parts");
/// Delivery id → when it expires (Unix seconds).
const DELIVERIES: TableDefinition<&str, u64> = TableDefinition::new("deliveries");
/// (expiry, delivery id), to prune expired deliveries oldest first.
const DELIVERY_EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("delivery_expiry");

/// How many expired delivery records one new delivery prunes, keeping each write small.
const PRUNE_PER_DELIVERY: usize = 16;

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "landfall.redb";

/// What can go wrong in the embedded store.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// Another process (usually `landfall-function serve`) has the database open.
    #[error(
        "the embedded store {path} is in use by another process; stop `landfall-function serve` \
         (or point LANDFALL_DATA_DIR elsewhere) and try again"
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// The database file could not be created or opened.
    #[error("cannot open the embedded store {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A read or write transaction failed.
    #[error("embedded store {path}: {action} failed")]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What was being done, such as `acquire locks`.
        action: &'static str,
        /// The cause.
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored value is not the JSON this version writes.
    #[error("embedded store {path}: the value under {key:?} is malformed")]
    Malformed {
        /// The database file.
        path: PathBuf,
        /// The key whose value is malformed.
        key: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The writer thread stopped (it panicked); the store must be opened again.
    #[error("embedded store {path}: the writer thread stopped")]
    WriterStopped {
        /// The database file.
        path: PathBuf,
    },
    /// The blocking task running a read panicked or was cancelled.
    #[error("embedded store {path}: the {action} task failed")]
    Task {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// The embedded, file-backed store. Cheap to clone: clones share one open database and one
/// writer thread.
///
/// Writes go to the writer thread, which runs every write waiting at that moment in one redb
/// transaction and commits it durably once (group commit): under load, one fsync covers many
/// operations, and no caller hears its outcome before it is on disk. Reads run in their own read
/// transactions on the blocking pool.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    db: Database,
    path: PathBuf,
}

impl Drop for Inner {
    /// Stops the writer after the writes already queued and waits for it, so the file is closed
    /// (and can be opened again) once the last clone is gone.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Whether a write keeps or drops its changes. A closure that returns `Abort` must not have
/// written anything: it may share its transaction with other writes.
enum Finish<T> {
    Commit(T),
    Abort(T),
}

/// The most writes one group commit carries.
const MAX_BATCH: usize = 256;

/// A write's work inside a (possibly shared) transaction.
type RunWrite = Box<dyn Fn(&WriteTransaction, &Path) -> Result<Ran, Partial> + Send>;

/// A queued write: its closure (re-runnable, so a failing batch can be split up) and how to
/// report a failure.
struct Job {
    action: &'static str,
    run: RunWrite,
    fail: Box<dyn FnOnce(EmbeddedError) + Send>,
}

/// A write that ran: whether it changed anything, and how to hand its outcome to the caller
/// once the transaction is committed.
struct Ran {
    wrote: bool,
    deliver: Box<dyn FnOnce() + Send>,
}

type Reply<T> = Arc<Mutex<Option<oneshot::Sender<Result<T, EmbeddedError>>>>>;

fn job<T, F>(action: &'static str, f: F) -> (Job, oneshot::Receiver<Result<T, EmbeddedError>>)
where
    T: Send + 'static,
    F: Fn(&WriteTransaction, &Path) -> Result<Finish<T>, Partial> + Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    let reply: Reply<T> = Arc::new(Mutex::new(Some(sender)));
    let on_success = Arc::clone(&reply);
    let run = Box::new(move |txn: &WriteTransaction, path: &Path| {
        let (wrote, value) = match f(txn, path)? {
            Finish::Commit(value) => (true, value),
            Finish::Abort(value) => (false, value),
        };
        let reply = Arc::clone(&on_success);
        let deliver: Box<dyn FnOnce() + Send> = Box::new(move || {
            if let Some(sender) = reply.lock().expect("reply lock").take() {
                let _ = sender.send(Ok(value));
            }
        });
        Ok(Ran { wrote, deliver })
    });
    let fail = Box::new(move |err: EmbeddedError| {
        if let Some(sender) = reply.lock().expect("reply lock").take() {
            let _ = sender.send(Err(err));
        }
    });
    (Job { action, run, fail }, receiver)
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `data_dir`, as the file [`DATABASE_FILE`].
    pub fn open_dir(data_dir: &Path) -> Result<Self, EmbeddedError> {
        std::fs::create_dir_all(data_dir).map_err(|err| EmbeddedError::Open {
            path: data_dir.to_path_buf(),
            source: Box::new(err),
        })?;
        Self::open(&data_dir.join(DATABASE_FILE))
    }

    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, EmbeddedError> {
        let db = Database::create(path).map_err(|err| match err {
            DatabaseError::DatabaseAlreadyOpen => EmbeddedError::InUse {
                path: path.to_path_buf(),
            },
            other => EmbeddedError::Open {
                path: path.to_path_buf(),
                source: Box::new(other),
            },
        })?;
        let shared = Arc::new(Shared {
            db,
            path: path.to_path_buf(),
        });
        let (create, _) = job("create tables", |txn, _| {
            txn.open_table(LOCKS)?;
            txn.open_table(PLANS)?;
            txn.open_table(COMMENT_PARTS)?;
            txn.open_table(DELIVERIES)?;
            txn.open_table(DELIVERY_EXPIRY)?;
            Ok(Finish::Commit(()))
        });
        shared.try_batch(std::slice::from_ref(&create))?;
        let (jobs, queue) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("landfall-store-writer".into())
            .spawn(move || writer_shared.write_loop(&queue))
            .map_err(|err| EmbeddedError::Open {
                path: path.to_path_buf(),
                source: Box::new(err),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                jobs: Some(jobs),
                writer: Some(writer),
            }),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.shared.path
    }

    async fn write<T, F>(&self, action: &'static str, f: F) -> Result<T, EmbeddedError>
    where
        T: Send + 'static,
        F: Fn(&WriteTransaction, &Path) -> Result<Finish<T>, Partial> + Send + 'static,
    {
        let stopped = || EmbeddedError::WriterStopped {
            path: self.path().to_path_buf(),
        };
        let (job, outcome) = job(action, f);
        self.inner
            .jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    /// The JSON record under `id` in `table`, if any.
    async fn get_json<T: DeserializeOwned + Send + 'static>(
        &self,
        action: &'static str,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        id: String,
    ) -> Result<Option<T>, EmbeddedError> {
        self.read(action, move |txn, _| {
            let table = txn.open_table(table)?;
            let value = table.get(id.as_str())?;
            value.map(|v| decode(&id, v.value())).transpose()
        })
        .await
    }

    async fn read<T, F>(&self, action: &'static str, f: F) -> Result<T, EmbeddedError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction, &Path) -> Result<T, Partial> + Send + 'static,
    {
        let shared = Arc::clone(&self.inner.shared);
        tokio::task::spawn_blocking(move || {
            let txn = shared
                .db
                .begin_read()
                .map_err(|err| shared.storage(action, err))?;
            f(&txn, &shared.path).map_err(|partial| partial.complete(&shared.path, action))
        })
        .await
        .map_err(|source| EmbeddedError::Task {
            path: self.path().to_path_buf(),
            action,
            source,
        })?
    }
}

impl Shared {
    fn storage(&self, action: &'static str, err: impl Into<redb::Error>) -> EmbeddedError {
        EmbeddedError::Storage {
            path: self.path.clone(),
            action,
            source: Box::new(err.into()),
        }
    }

    /// The writer thread: takes every write queued at the moment (up to [`MAX_BATCH`]) and runs
    /// them as one transaction, until the store is dropped.
    fn write_loop(&self, queue: &mpsc::Receiver<Job>) {
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.run_batch(batch);
        }
    }

    /// Runs a batch and answers every write in it. If the batch fails, nothing of it was
    /// committed, and each write runs again alone so that only the failing one fails.
    fn run_batch(&self, batch: Vec<Job>) {
        match self.try_batch(&batch) {
            Ok(ran) => {
                for ran in ran {
                    (ran.deliver)();
                }
            }
            Err(_) if batch.len() > 1 => {
                for job in batch {
                    self.run_batch(vec![job]);
                }
            }
            Err(err) => {
                if let Some(job) = batch.into_iter().next() {
                    (job.fail)(err);
                }
            }
        }
    }

    fn try_batch(&self, batch: &[Job]) -> Result<Vec<Ran>, EmbeddedError> {
        let action = batch.first().map_or("write", |job| job.action);
        let txn = self
            .db
            .begin_write()
            .map_err(|err| self.storage(action, err))?;
        let mut ran = Vec::with_capacity(batch.len());
        let mut dirty = false;
        for job in batch {
            match (job.run)(&txn, &self.path) {
                Ok(done) => {
                    dirty |= done.wrote;
                    ran.push(done);
                }
                Err(partial) => {
                    let _ = txn.abort();
                    return Err(partial.complete(&self.path, job.action));
                }
            }
        }
        if dirty {
            txn.commit().map_err(|err| self.storage(action, err))?;
        } else {
            txn.abort().map_err(|err| self.storage(action, err))?;
        }
        Ok(ran)
    }
}

/// An error inside a transaction closure, before the path and action are attached.
enum Partial {
    Storage(redb::Error),
    Malformed(String, serde_json::Error),
}

impl Partial {
    fn complete(self, path: &Path, action: &'static str) -> EmbeddedError {
        match self {
            Partial::Storage(source) => EmbeddedError::Storage {
                path: path.to_path_buf(),
                action,
                source: Box::new(source),
            },
            Partial::Malformed(key, source) => EmbeddedError::Malformed {
                path: path.to_path_buf(),
                key,
                source,
            },
        }
    }
}

impl<E: Into<redb::Error>> From<E> for Partial {
    fn from(err: E) -> Self {
        Partial::Storage(err.into())
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, Partial> {
    serde_json::from_slice(bytes).map_err(|err| Partial::Malformed(key.to_owned(), err))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("store records serialise to JSON")
}

/// Reads every value under `prefix` of a string-keyed table, in key order.
fn scan_prefix<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
) -> Result<Vec<(String, T)>, Partial> {
    let mut out = Vec::new();
    for entry in table.range(prefix..)? {
        let (key, value) = entry?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        out.push((key.to_owned(), decode(key, value.value())?));
    }
    Ok(out)
}

impl Store for EmbeddedStore {
    async fn record_delivery(&self, delivery: &str, ttl: Duration) -> Result<DeliveryOutcome> {
        let id = delivery.to_owned();
        let outcome = self
            .write("record delivery", move |txn, _| {
                let now = now_secs();
                let mut deliveries = txn.open_table(DELIVERIES)?;
                let mut expiry = txn.open_table(DELIVERY_EXPIRY)?;
                let seen = deliveries.get(id.as_str())?.map(|v| v.value());
                if seen.is_some_and(|expires| expires > now) {
                    return Ok(Finish::Abort(DeliveryOutcome::Duplicate));
                }
                if let Some(old) = seen {
                    expiry.remove((old, id.as_str()))?;
                }
                let expires = now.saturating_add(ttl.as_secs());
                deliveries.insert(id.as_str(), expires)?;
                expiry.insert((expires, id.as_str()), ())?;
                let mut stale = Vec::new();
                for entry in expiry.iter()?.take(PRUNE_PER_DELIVERY) {
                    let (key, _) = entry?;
                    let (at, other) = key.value();
                    if at > now {
                        break;
                    }
                    stale.push((at, other.to_owned()));
                }
                for (at, other) in stale {
                    expiry.remove((at, other.as_str()))?;
                    deliveries.remove(other.as_str())?;
                }
                Ok(Finish::Commit(DeliveryOutcome::New))
            })
            .await?;
        Ok(outcome)
    }

    async fn acquire_locks(&self, holder: &LockHolder, keys: &[LockKey]) -> Result<LockOutcome> {
        let keys = normalise_keys(keys)?;
        let holder = holder.clone();
        let outcome = self
            .write("acquire locks", move |txn, _| {
                let mut table = txn.open_table(LOCKS)?;
                let mut held = Vec::new();
                let mut current = Vec::with_capacity(keys.len());
                for key in &keys {
                    let id = keys::embedded_lock_key(key);
                    let lock = match table.get(id.as_str())? {
                        Some(value) => Some(decode::<Lock>(&id, value.value())?),
                        None => None,
                    };
                    match lock {
                        Some(lock) if lock.holder.pr != holder.pr => held.push(lock),
                        lock => current.push((id, key, lock.map(|l| l.since))),
                    }
                }
                if !held.is_empty() {
                    return Ok(Finish::Abort(LockOutcome::HeldBy(held)));
                }
                let now = now_secs();
                for (id, key, since) in current {
                    let lock = Lock {
                        key: key.clone(),
                        holder: holder.clone(),
                        since: since.unwrap_or(now),
                    };
                    table.insert(id.as_str(), encode(&lock).as_slice())?;
                }
                Ok(Finish::Commit(LockOutcome::Acquired))
            })
            .await?;
        Ok(outcome)
    }

    async fn release_lock(&self, key: &LockKey, pr: Option<u64>) -> Result<ReleaseOutcome> {
        let key = key.clone();
        let outcome = self
            .write("release lock", move |txn, _| {
                let mut locks = txn.open_table(LOCKS)?;
                let id = keys::embedded_lock_key(&key);
                let lock = match locks.get(id.as_str())? {
                    Some(value) => decode::<Lock>(&id, value.value())?,
                    None => return Ok(Finish::Abort(ReleaseOutcome::NotLocked)),
                };
                if pr.is_some_and(|pr| pr != lock.holder.pr) {
                    return Ok(Finish::Abort(ReleaseOutcome::HeldBy(lock)));
                }
                locks.remove(id.as_str())?;
                let mut plans = txn.open_table(PLANS)?;
                plans.remove(keys::embedded_plan_key(&key, lock.holder.pr).as_str())?;
                Ok(Finish::Commit(ReleaseOutcome::Released(lock)))
            })
            .await?;
        Ok(outcome)
    }

    async fn release_pr(&self, repo: &str, pr: u64) -> Result<Vec<Lock>> {
        let repo = repo.to_owned();
        let released = self
            .write("release a PR's locks", move |txn, _| {
                let mut locks = txn.open_table(LOCKS)?;
                let held: Vec<(String, Lock)> =
                    scan_prefix(&locks, &keys::embedded_repo_prefix(&repo))?
                        .into_iter()
                        .filter(|(_, lock): &(String, Lock)| lock.holder.pr == pr)
                        .collect();
                for (id, _) in &held {
                    locks.remove(id.as_str())?;
                }
                let mut plans = txn.open_table(PLANS)?;
                let prefix = keys::embedded_plan_prefix(&repo, pr);
                let records: Vec<(String, PlanRecord)> = scan_prefix(&plans, &prefix)?;
                for (id, _) in &records {
                    plans.remove(id.as_str())?;
                }
                let mut comments = txn.open_table(COMMENT_PARTS)?;
                let threads: Vec<(String, Vec<String>)> = scan_prefix(&comments, &prefix)?;
                for (id, _) in &threads {
                    comments.remove(id.as_str())?;
                }
                Ok(Finish::Commit(
                    held.into_iter().map(|(_, lock)| lock).collect(),
                ))
            })
            .await?;
        Ok(released)
    }

    async fn get_lock(&self, key: &LockKey) -> Result<Option<Lock>> {
        Ok(self
            .get_json("read a lock", LOCKS, keys::embedded_lock_key(key))
            .await?)
    }

    async fn list_locks(&self, repo: Option<&str>) -> Result<Vec<Lock>> {
        let prefix = repo.map(keys::embedded_repo_prefix).unwrap_or_default();
        let mut locks: Vec<Lock> = self
            .read("list locks", move |txn, _| {
                let table = txn.open_table(LOCKS)?;
                Ok(scan_prefix(&table, &prefix)?
                    .into_iter()
                    .map(|(_, lock)| lock)
                    .collect())
            })
            .await?;
        locks.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(locks)
    }

    async fn put_plan(&self, plan: &PlanRecord) -> Result<PlanOutcome> {
        let plan = plan.clone();
        let outcome = self
            .write("write a plan record", move |txn, _| {
                let locks = txn.open_table(LOCKS)?;
                let id = keys::embedded_lock_key(&plan.key);
                let lock = match locks.get(id.as_str())? {
                    Some(value) => Some(decode::<Lock>(&id, value.value())?),
                    None => None,
                };
                match lock {
                    Some(lock) if lock.holder.pr == plan.pr => {
                        let mut plans = txn.open_table(PLANS)?;
                        let plan_id = keys::embedded_plan_key(&plan.key, plan.pr);
                        plans.insert(plan_id.as_str(), encode(&plan).as_slice())?;
                        Ok(Finish::Commit(PlanOutcome::Written))
                    }
                    other => Ok(Finish::Abort(PlanOutcome::LockNotHeld(other))),
                }
            })
            .await?;
        Ok(outcome)
    }

    async fn get_plan(&self, key: &LockKey, pr: u64) -> Result<Option<PlanRecord>> {
        let id = keys::embedded_plan_key(key, pr);
        Ok(self.get_json("read a plan record", PLANS, id).await?)
    }

    async fn list_plans(&self, repo: &str, pr: u64) -> Result<Vec<PlanRecord>> {
        let prefix = keys::embedded_plan_prefix(repo, pr);
        let mut plans: Vec<PlanRecord> = self
            .read("list plan records", move |txn, _| {
                let table = txn.open_table(PLANS)?;
                Ok(scan_prefix(&table, &prefix)?
                    .into_iter()
                    .map(|(_, plan)| plan)
                    .collect())
            })
            .await?;
        plans.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(plans)
    }

    async fn comment_parts(&self, repo: &str, pr: u64, comment_id: &str) -> Result<Vec<String>> {
        let id = keys::embedded_comment_parts_key(repo, pr, comment_id);
        let parts = self
            .get_json("read a comment's parts", COMMENT_PARTS, id)
            .await?;
        Ok(parts.unwrap_or_default())
    }

    async fn add_comment_parts(
        &self,
        repo: &str,
        pr: u64,
        comment_id: &str,
        known: &[String],
        added: &[String],
    ) -> Result<PartsOutcome> {
        let id = keys::embedded_comment_parts_key(repo, pr, comment_id);
        let (known, added) = (known.to_vec(), added.to_vec());
        let outcome = self
            .write("add a comment's parts", move |txn, _| {
                let mut table = txn.open_table(COMMENT_PARTS)?;
                let mut parts: Vec<String> = match table.get(id.as_str())? {
                    Some(value) => decode(&id, value.value())?,
                    None => Vec::new(),
                };
                if parts != known {
                    return Ok(Finish::Abort(PartsOutcome::Changed(parts)));
                }
                parts.extend(added.iter().cloned());
                table.insert(id.as_str(), encode(&parts).as_slice())?;
                Ok(Finish::Commit(PartsOutcome::Written(parts)))
            })
            .await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableTableMetadata;

    use super::*;

    fn holder(pr: u64) -> LockHolder {
        LockHolder {
            pr,
            user: "alice".into(),
            head_sha: "abc".into(),
            pull_url: format!("https://example.test/pr/{pr}"),
        }
    }

    #[tokio::test]
    async fn locks_survive_closing_and_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let key = LockKey::new("o/r", ".", "default");
        {
            let store = EmbeddedStore::open_dir(dir.path()).unwrap();
            let outcome = store
                .acquire_locks(&holder(1), std::slice::from_ref(&key))
                .await
                .unwrap();
            assert_eq!(outcome, LockOutcome::Acquired);
        }
        let store = EmbeddedStore::open_dir(dir.path()).unwrap();
        let lock = store
            .get_lock(&key)
            .await
            .unwrap()
            .expect("the lock survived");
        assert_eq!(lock.holder.pr, 1);
    }

    #[tokio::test]
    async fn a_second_process_opening_the_same_file_is_told_it_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = EmbeddedStore::open_dir(dir.path()).unwrap();
        let err = EmbeddedStore::open_dir(dir.path()).unwrap_err();
        assert!(matches!(err, EmbeddedError::InUse { .. }), "{err:?}");
        assert!(err.to_string().contains("in use"), "{err}");
    }

    #[tokio::test]
    async fn expired_deliveries_are_pruned_when_new_ones_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_dir(dir.path()).unwrap();
        for n in 0..5 {
            let outcome = store
                .record_delivery(&format!("d{n}"), Duration::ZERO)
                .await
                .unwrap();
            assert_eq!(outcome, DeliveryOutcome::New);
        }
        let remaining = store
            .read("count", |txn, _| Ok(txn.open_table(DELIVERIES)?.len()?))
            .await
            .unwrap();
        assert!(remaining <= 1, "{remaining} expired deliveries kept");
    }
}
