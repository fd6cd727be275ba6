//! Runners' reports, taken by the function, the only writer of plan records, statuses and
//! comments. A report is recorded only when it carries the credential minted for its run (its
//! whole spec signed, see [`crate::run::report_auth`]), says what its run is, names only its run's
//! own artifact keys, and its run is still the one in progress for the project: a forged report,
//! another run's, or a replay after the run was recorded changes nothing.

use std::sync::Arc;

use super::Context;
use crate::handler::{ReportAnswer, SinkError};
use crate::run::report_auth::ReportEnvelope;
use crate::run::{RunCommand, RunReport, RunSpec};
use crate::store::{PlanStatus, Store as _};

impl Context {
    /// Checks a runner's report against its run and records it.
    pub async fn take_report(
        self: &Arc<Self>,
        credential: Option<&str>,
        body: &[u8],
    ) -> ReportAnswer {
        if self.report_url.is_none() {
            return ReportAnswer::NotHere;
        }
        let Some(credential) = credential else {
            return ReportAnswer::Unauthorized;
        };
        let Ok(envelope) = serde_json::from_slice::<ReportEnvelope>(body) else {
            return ReportAnswer::Invalid("the body is not a run report".to_owned());
        };
        let Ok(spec) = envelope.run_spec() else {
            return ReportAnswer::Invalid("the report's run cannot be read".to_owned());
        };
        // Before anything else: only the function could have minted this for that spec.
        if !self.report_key.verify(&spec, credential) {
            return ReportAnswer::Unauthorized;
        }
        let report = envelope.report;
        if let Err(why) = belongs_to(&spec, &report) {
            return ReportAnswer::Invalid(why);
        }
        let in_progress = match spec.command {
            RunCommand::Plan => PlanStatus::Planning,
            RunCommand::Apply | RunCommand::Import | RunCommand::StateRm => PlanStatus::Applying,
        };
        match self.store.get_plan(&spec.lock_key(), spec.pr.0).await {
            Ok(Some(record)) if record.run_id == spec.run_id() && record.status == in_progress => {}
            Ok(_) => {
                return ReportAnswer::Conflict(
                    "this run is no longer in progress: nothing was recorded".to_owned(),
                );
            }
            Err(err) => {
                tracing::error!(error = %err, "reading the run's plan record failed");
                return ReportAnswer::Failed;
            }
        }
        let thread = spec.report_back.clone();
        match self
            .reporter()
            .finish(&spec, Ok(&report), thread.as_ref())
            .await
        {
            Ok(_) => {
                // Boxed: it holds the Lambda client's and the orchestration's futures.
                Box::pin(self.hand_on(&spec)).await;
                ReportAnswer::Recorded
            }
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), run = %spec.run_id(), "recording a run's report failed");
                ReportAnswer::Failed
            }
        }
    }

    /// What follows `spec`'s recorded run. Under Lambda it is handed to the worker (the
    /// function that takes reports answers the runner at once, and keeps its concurrency for
    /// deliveries); elsewhere, or when Lambda does not take the hand-off, it is done here.
    async fn hand_on(self: &Arc<Self>, spec: &RunSpec) {
        if let Some(handoff) = &self.handoff {
            match handoff.send_settled(spec).await {
                Ok(()) => return,
                Err(err) => tracing::warn!(
                    error = format!("{err:#}"),
                    "what follows the run is done here: the hand-off failed"
                ),
            }
        }
        self.follow_run(spec).await;
    }

    /// What follows a recorded run: apply on merge and automerge (`after_run`), and, for the
    /// report that ends an execution order group, the next group. Done again by a retried
    /// hand-off, it finds what the first attempt did done (runs are named by their trigger).
    pub async fn follow_run(self: &Arc<Self>, spec: &RunSpec) {
        if let Err(err) = self.after_run(spec).await {
            tracing::error!(error = format!("{err:#}"), "what follows the run failed");
        }
        let next = self
            .advance(&spec.repo, spec.pr, &spec.trigger, &spec.lock_key())
            .await;
        if let Err(err) = next {
            tracing::error!(
                error = format!("{err:#}"),
                "cannot start the next execution order group"
            );
        }
    }
}

impl super::Orchestrator {
    /// Handles a settled run's hand-off ([`crate::handoff::seal_settled`]): checks its seal,
    /// then does what follows the run before returning (nobody waits for this invocation).
    pub async fn handle_settled(&self, payload: &serde_json::Value) -> Result<(), SinkError> {
        let spec = crate::handoff::open_settled(payload, &self.ctx.handoff_key)
            .map_err(|err| SinkError(Box::new(err)))?;
        let span = tracing::info_span!("settled", run = %spec.run_id(), repo = %spec.repo, pr = spec.pr.0);
        tracing::Instrument::instrument(self.ctx.follow_run(&spec), span).await;
        Ok(())
    }
}

/// Whether `report` is `spec`'s run's: the same run, PR and commit, a result for the run's own
/// project and command, only that run's own artifact keys (a plan's planfile, its log, the
/// result's log too: the function presigns it), and no policy approval (those are given on
/// the PR, never by a run).
pub(super) fn belongs_to(spec: &RunSpec, report: &RunReport) -> Result<(), String> {
    if report.run_id != spec.run_id()
        || report.repo != spec.repo
        || report.pr != spec.pr
        || report.head_sha != spec.head_sha
    {
        return Err("the report names another run than its own".to_owned());
    }
    let (planfile_key, log_key) = crate::context::run_artifact_keys(spec);
    if let Some(planfile) = &report.planfile
        && (spec.command != RunCommand::Plan || planfile.key != planfile_key)
    {
        return Err("the report names a planfile that is not its run's".to_owned());
    }
    if let Some(log) = &report.log
        && log.key != log_key
    {
        return Err("the report names a log that is not its run's".to_owned());
    }
    let result = &report.result;
    if result.log != report.log {
        return Err("the report's result names another log than the report".to_owned());
    }
    if (&result.name, &result.dir, &result.workspace, result.command)
        != (&spec.project.name, &spec.project.dir, &spec.project.workspace, spec.command)
    {
        return Err("the report's result is for another project or command".to_owned());
    }
    if !result.policy_approvals.is_empty() {
        return Err("a run's report carries no policy approvals".to_owned());
    }
    // A plan's report answers for every policy set the run was given: one left out would let
    // its apply through as though it passed.
    let answered = |set: &crate::run::policy::PolicySet| {
        result.policies.iter().any(|r| r.name == set.name)
    };
    if matches!(result.outcome, crate::run::Outcome::Planned { .. })
        && !spec.project.policy_sets.iter().all(answered)
    {
        return Err("the report leaves out a policy set its run was given".to_owned());
    }
    // ... with the rules and in the packages it was given: a runner that predates them reads
    // `main` alone and names no rules.
    let read_as_given = |r: &crate::run::policy::PolicySetResult| {
        let set = spec.project.policy_sets.iter().find(|set| set.name == r.name);
        set.is_none_or(|set| set.namespaces == r.namespaces && set.digest() == r.digest)
    };
    if !result.policies.iter().all(read_as_given) {
        return Err(
            "the report's policy sets were not read with the rules and in the packages its run was given (a runner older than the function?)"
                .to_owned(),
        );
    }
    // ... and for no other: a failing set the run was not given would have no owners to ask.
    let given = |name: &str| spec.project.policy_sets.iter().any(|set| set.name == name);
    if !result.policies.iter().all(|r| given(&r.name)) {
        return Err("the report names a policy set its run was not given".to_owned());
    }
    Ok(())
}
