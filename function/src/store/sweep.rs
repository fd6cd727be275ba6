//! What the sweeper reads and writes: the runs in progress (to fail those that ended without a
//! report or passed their deadline) and, conditionally, their failure.

use std::future::Future;

use super::{PlanRecord, Result};

/// The store's part of a sweep.
pub trait Sweeps: Send + Sync {
    /// The plan records whose run is in progress (`planning`, `applying`), in no particular
    /// order. DynamoDB reads them from a sparse index: the cost grows with the runs in progress,
    /// not with the table.
    fn unfinished_runs(&self) -> impl Future<Output = Result<Vec<PlanRecord>>> + Send;

    /// Writes `plan` (the run's failure) only while the stored record is still run `run_id` in
    /// progress: a run that reported meanwhile, or a PR that released its locks, keeps what it
    /// has. Returns whether it was written.
    fn finish_stuck(
        &self,
        plan: &PlanRecord,
        run_id: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
}
