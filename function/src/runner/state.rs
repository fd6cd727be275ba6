//! A run's working state (paths, environment, log and clock), shared by the steps, the hooks
//! and the plan's finish, and how a step stops the run early.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::RunnerOptions;
use crate::run::summary::PlanSummary;
use crate::run::{Outcome, RunSpec, StepOutput};
use crate::store::artifacts::StoredArtifact;

/// The run's working state: paths, environment, log and clock.
pub(super) struct Run<'a> {
    pub(super) spec: &'a RunSpec,
    pub(super) opts: &'a RunnerOptions,
    /// The Terraform binary for this project (its pinned version, when it pins one).
    pub(super) terraform: PathBuf,
    pub(super) started: Instant,
    pub(super) deadline: Instant,
    pub(super) planfile: PathBuf,
    /// Where the work directory led when the run started: a link the operator made is followed.
    pub(super) work_dir_link: Option<PathBuf>,
    pub(super) log: String,
    pub(super) terraform_time: Duration,
    pub(super) clone_time: Duration,
    /// The steps' environment (`env` steps add to it).
    pub(super) env: Vec<(String, String)>,
    /// The hooks' environment: the steps' own, `DIR` being the clone's root.
    pub(super) hook_env: Vec<(String, String)>,
    /// What the hooks and steps printed, in order, the outcome's place marked among them.
    pub(super) outputs: Vec<StepOutput>,
    /// The values the plan marks sensitive, cut from every text the run keeps.
    pub(super) sensitive: Vec<String>,
    /// The values `env` steps read from a command (credentials, most often), cut from every
    /// text the run keeps, the log included.
    pub(super) withheld: Vec<String>,
    /// The plan's policy checks.
    pub(super) policies: Vec<crate::run::policy::PolicySetResult>,
}

/// A step that ended the run early.
pub(super) struct Stop(pub(super) Outcome);

/// What a run that went to its end made: its outcome, a plan's summary and stored planfile.
pub(super) type Executed = (Outcome, Option<PlanSummary>, Option<StoredArtifact>);

pub(super) fn failed(step: &str, output: impl Into<String>) -> Stop {
    Stop(Outcome::Failed {
        step: step.to_owned(),
        output: output.into(),
    })
}

impl<'a> Run<'a> {
    /// A run of `spec` starting now, to end by `deadline`, its plan saved to `planfile`.
    pub(super) fn new(
        spec: &'a RunSpec,
        opts: &'a RunnerOptions,
        deadline: Instant,
        planfile: PathBuf,
    ) -> Self {
        Run {
            spec,
            opts,
            terraform: opts.terraform.clone(),
            started: Instant::now(),
            deadline,
            planfile,
            work_dir_link: fs::read_link(&opts.work_dir).ok(),
            log: String::new(),
            terraform_time: Duration::ZERO,
            clone_time: Duration::ZERO,
            env: Vec::new(),
            hook_env: Vec::new(),
            outputs: Vec::new(),
            sensitive: Vec::new(),
            withheld: Vec::new(),
            policies: Vec::new(),
        }
    }
}
