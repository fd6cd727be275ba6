//! The direct invocations the rendered schedules send (never the Function URL): a sweep that
//! reconciles the store with the truth, and a drift check. Only IAM principals allowed to invoke
//! the function can send them.

use std::sync::Arc;

use super::{Context, DriftSweep, Sink, SweepReport};
use crate::handler::SinkError;

impl Sink {
    /// One sweep (see [`super::sweep`]); `None` when this deployment only logs deliveries.
    pub async fn sweep(&self) -> Result<Option<SweepReport>, SinkError> {
        self.on_context(async |ctx| ctx.sweep().await).await
    }

    /// One drift sweep (see [`super::drift`]); `None` when this deployment only logs deliveries.
    pub async fn drift(&self) -> Result<Option<DriftSweep>, SinkError> {
        self.on_context(async |ctx| ctx.drift_sweep().await).await
    }

    /// `work` on the loop's context; `None` when this deployment only logs deliveries.
    async fn on_context<T>(
        &self,
        work: impl AsyncFnOnce(&Arc<Context>) -> anyhow::Result<T>,
    ) -> Result<Option<T>, SinkError> {
        match self.get().await? {
            Some(orchestrator) => work(&orchestrator.ctx)
                .await
                .map(Some)
                .map_err(|err| SinkError(err.into())),
            None => Ok(None),
        }
    }
}

/// Whether a direct invocation asks for a drift sweep: `{"landfall": "drift"}`, the input of
/// the rendered drift schedule. As with [`is_sweep`], only IAM principals allowed to invoke the
/// function can send it, and it checks only what the operator policy and the repo configs
/// name, at the default branch's head.
#[must_use]
pub fn is_drift(payload: &serde_json::Value) -> bool {
    payload.as_object().is_some_and(|o| o.len() == 1) && payload["landfall"] == "drift"
}

/// Whether a direct invocation asks for a sweep: `{"landfall": "sweep"}`, the input of the
/// rendered EventBridge Scheduler schedule. Only IAM principals allowed to invoke the function
/// can send it (never the Function URL), and a sweep only reconciles the store with the truth.
#[must_use]
pub fn is_sweep(payload: &serde_json::Value) -> bool {
    payload.as_object().is_some_and(|o| o.len() == 1) && payload["landfall"] == "sweep"
}
