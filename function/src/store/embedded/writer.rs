//! The writer thread: every write waiting at a moment runs in one redb transaction, committed
//! durably once (group commit); a failing batch runs again write by write, so that only the
//! failing write fails.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use redb::WriteTransaction;
use tokio::sync::oneshot;

use super::{EmbeddedError, EmbeddedStore, Partial, Shared};

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) shared: Arc<Shared>,
    pub(super) jobs: Option<mpsc::Sender<Job>>,
    pub(super) writer: Option<std::thread::JoinHandle<()>>,
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
pub(super) enum Finish<T> {
    Commit(T),
    Abort(T),
}

/// The most writes one group commit carries.
const MAX_BATCH: usize = 256;

/// A write's work inside a (possibly shared) transaction.
type RunWrite = Box<dyn Fn(&WriteTransaction, &Path) -> Result<Ran, Partial> + Send>;

/// A queued write: its closure (re-runnable, so a failing batch can be split up) and how to
/// report a failure.
pub(super) struct Job {
    action: &'static str,
    run: RunWrite,
    fail: Box<dyn FnOnce(EmbeddedError) + Send>,
}

/// A write that ran: whether it changed anything, and how to hand its outcome to the caller
/// once the transaction is committed.
pub(super) struct Ran {
    wrote: bool,
    deliver: Box<dyn FnOnce() + Send>,
}

type Reply<T> = Arc<Mutex<Option<oneshot::Sender<Result<T, EmbeddedError>>>>>;

pub(super) fn job<T, F>(
    action: &'static str,
    f: F,
) -> (Job, oneshot::Receiver<Result<T, EmbeddedError>>)
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
    pub(super) async fn write<T, F>(&self, action: &'static str, f: F) -> Result<T, EmbeddedError>
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
}

impl Shared {
    /// The writer thread: takes every write queued at the moment (up to [`MAX_BATCH`]) and runs
    /// them as one transaction, until the store is dropped.
    pub(super) fn write_loop(&self, queue: &mpsc::Receiver<Job>) {
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

    pub(super) fn try_batch(&self, batch: &[Job]) -> Result<Vec<Ran>, EmbeddedError> {
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
