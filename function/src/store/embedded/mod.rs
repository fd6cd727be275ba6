//! The embedded store: one redb file under `LANDFALL_DATA_DIR`, the default outside AWS. Every
//! operation is one redb write (or read) transaction, so a lock set is taken atomically, a plan
//! record is written only under its lock, and everything survives a restart.
//!
//! redb allows one process per file: while `landfall-function serve` runs, `landfall locks`
//! reports the database as in use instead of opening it.
//!
//! This file opens the database and reads it; [`writer`] is the writer thread every write goes
//! through, and `store_impl` the [`Store`](super::Store) operations.

mod apply_lock;
mod drift;
mod pull_head;
mod queue;
mod store_impl;
mod sweep;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::writer::{Finish, Inner, job};
use super::{LockKey, Result};

/// Lock key (see [`embedded_lock_key`](super::keys::embedded_lock_key)) → JSON
/// [`Lock`](super::Lock).
const LOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("locks");
/// Plan key (see [`embedded_plan_key`](super::keys::embedded_plan_key)) → JSON
/// [`PlanRecord`](super::PlanRecord).
const PLANS: TableDefinition<&str, &[u8]> = TableDefinition::new("plans");
/// Split comment key (see [`embedded_comment_parts_key`](super::keys::embedded_comment_parts_key))
/// → JSON list of part comment ids.
const COMMENT_PARTS: TableDefinition<&str, &[u8]> = TableDefinition::new("comment_parts");
/// `apply-lock` → JSON [`ApplyLock`](super::ApplyLock), when an operator set it.
const APPLY_LOCK: TableDefinition<&str, &[u8]> = TableDefinition::new("apply_lock");
/// Commands' execution order groups still to start, by repo, PR and trigger.
const RUN_QUEUES: TableDefinition<&str, &[u8]> = TableDefinition::new("run_queues");
/// PR and head commit → JSON list of the lock keys a plan of the whole PR selected there.
const PULL_HEADS: TableDefinition<&str, &[u8]> = TableDefinition::new("pull_heads");
/// Lock key of a project → JSON [`DriftRecord`](super::DriftRecord).
const DRIFTS: TableDefinition<&str, &[u8]> = TableDefinition::new("drifts");
/// Repository → JSON [`RepoDrift`](super::RepoDrift).
const REPO_DRIFTS: TableDefinition<&str, &[u8]> = TableDefinition::new("repo_drifts");
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
struct Shared {
    db: Database,
    path: PathBuf,
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
            txn.open_table(APPLY_LOCK)?;
            txn.open_table(RUN_QUEUES)?;
            txn.open_table(DRIFTS)?;
            txn.open_table(REPO_DRIFTS)?;
            txn.open_table(PULL_HEADS)?;
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

    /// Puts `value` (an encoded JSON record) under `id` in `table`, replacing what was there.
    async fn put_json(
        &self,
        action: &'static str,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        id: String,
        value: Vec<u8>,
    ) -> Result<(), EmbeddedError> {
        self.write(action, move |txn, _| {
            txn.open_table(table)?
                .insert(id.as_str(), value.as_slice())?;
            Ok(Finish::Commit(()))
        })
        .await
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

    /// The JSON records of `table` whose ids start with `prefix`, ordered by their lock `key`.
    async fn list_json<T: DeserializeOwned + Send + 'static>(
        &self,
        action: &'static str,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        prefix: String,
        key: fn(&T) -> &LockKey,
    ) -> Result<Vec<T>, EmbeddedError> {
        let mut records: Vec<T> = self
            .read(action, move |txn, _| {
                let table = txn.open_table(table)?;
                Ok(scan_prefix(&table, &prefix)?
                    .into_iter()
                    .map(|(_, record)| record)
                    .collect())
            })
            .await?;
        records.sort_by(|a, b| key(a).cmp(key(b)));
        Ok(records)
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

/// The value at `id` of a string-keyed table, if any.
fn read<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<T>, Partial> {
    table
        .get(id)?
        .map(|value| decode(id, value.value()))
        .transpose()
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
