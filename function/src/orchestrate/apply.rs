//! Applying a PR's plans: requirements first, then one apply run per plan with its stored
//! planfile (which the runner verifies by checksum).

use std::sync::Arc;

use super::select::{Loaded, refused, run_spec, select_records, silenced, stages};
use super::requirements::Checked;
use super::{Context, PrContext, text};
use crate::command::Command;
use crate::event::CommitSha;
use crate::repo_config::ResolvedProject;
use crate::report::short;
use crate::run::{CommentThread, PlanToApply, RunCommand, RunSpec};
use crate::store::{PlanRecord, PlanStatus, Store};

impl Context {
    /// `landfall apply`: checks each selected plan and applies those that pass.
    pub(crate) async fn apply(
        self: &Arc<Self>,
        ctx: &PrContext,
        command: &Command,
    ) -> anyhow::Result<()> {
        const NOTHING: &str = "**Nothing to apply:** this pull request has no plan for that \
                               selection. Comment `landfall plan` first.";
        let all_records = self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await?;
        let mut records = select_records(all_records.clone(), command);
        if records.is_empty() {
            self.upsert_comment(ctx, None, NOTHING).await?;
            return Ok(());
        }
        let (config, policy) = match self.load_config(ctx).await? {
            Loaded::Config(loaded) => *loaded,
            Loaded::Invalid(comment) => {
                self.upsert_comment(ctx, None, &comment).await?;
                return Ok(());
            }
        };
        // `-p NAME` of a configured project never means an unnamed one's label, even when only
        // the unnamed one has a plan (as `plan -p NAME` would plan the named one).
        if let Some(name) = &command.project
            && config.projects.iter().any(|p| p.name.as_deref() == Some(name))
        {
            records.retain(|r| r.key.project.as_deref() == Some(name.as_str()));
            if records.is_empty() {
                self.upsert_comment(ctx, None, NOTHING).await?;
                return Ok(());
            }
        }
        let mut checked = Checked::default();
        let mut results = Vec::new();
        let mut to_apply = Vec::new();
        let mut applied_projects = Vec::new();
        for record in records.clone() {
            let project = project_for(&config, &policy, &record);
            let mut reasons = self.check(ctx, &record, &project, &mut checked).await?;
            reasons.extend(unapplied_dependencies(&project, &all_records, &records));
            if record.planfile.is_none() && reasons.is_empty() {
                reasons.push("the plan record names no planfile".to_owned());
            }
            let spec = run_spec(
                ctx,
                &project,
                &policy,
                RunCommand::Apply,
                &command.extra_args,
                record.planfile.clone().map(|planfile| PlanToApply {
                    planfile,
                    planned_sha: CommitSha::new(record.head_sha.clone()),
                }),
            );
            if reasons.is_empty() {
                to_apply.push((spec, project.depends_on.clone()));
                applied_projects.push(project);
            } else {
                results.push(refused(&spec, &reasons.join("; ")));
            }
        }
        refuse_dependents(&mut to_apply, &mut results, &all_records);
        applied_projects.retain(|p| {
            to_apply.iter().any(|(spec, _)| {
                (&spec.project.dir, &spec.project.workspace) == (&p.dir, &p.workspace)
            })
        });
        let header = format!(
            "**`apply`** of {} project(s) at `{}`{}",
            to_apply.len(),
            short(ctx.head_sha.as_str()),
            if results.is_empty() {
                String::new()
            } else {
                format!(", {} refused", results.len())
            }
        );
        let header = crate::report::compose(&header, &results);
        let silenced = silenced(&applied_projects, RunCommand::Apply);
        // With every project silenced and no refusal to report, nothing is posted up front.
        let comment = if results.is_empty() && silenced.len() == to_apply.len() {
            None
        } else {
            Some(self.upsert_comment(ctx, None, &header).await?)
        };
        let thread = CommentThread {
            comment_id: comment,
            header,
            silenced,
            verbose: command.verbose,
        };
        for (spec, _) in &mut to_apply {
            spec.report_back = self.report_back.then(|| thread.clone());
        }
        self.apply_in_stages(ctx, &thread, to_apply).await
    }

    /// Runs the applies in stages (execution order groups, then `depends_on` within a group); a
    /// later stage only once every project of the earlier ones applied.
    pub(super) async fn apply_in_stages(
        self: &Arc<Self>,
        ctx: &PrContext,
        thread: &CommentThread,
        to_apply: Vec<(RunSpec, Vec<String>)>,
    ) -> anyhow::Result<()> {
        let stages = stages(to_apply);
        if self.report_back {
            // Queued stage after stage; a later stage is refused when an earlier one was not
            // applied (see `advance`).
            let stages = stages
                .into_iter()
                .map(|stage| stage.into_iter().map(|(spec, _)| spec).collect::<Vec<_>>())
                .filter(|stage| !stage.is_empty())
                .collect();
            return self.start_groups(ctx, thread, stages).await;
        }
        // The function waits for each stage's runs; a later stage runs only once every project
        // of the earlier ones applied (as `advance` decides under Lambda).
        let mut earlier_applied = true;
        for stage in stages {
            let specs: Vec<RunSpec> = stage.into_iter().map(|(spec, _)| spec).collect();
            if !earlier_applied {
                for spec in &specs {
                    self.refuse_apply(spec, thread, text::EARLIER_STAGE_NOT_APPLIED)
                        .await?;
                }
                continue;
            }
            self.run_group(specs.clone(), thread).await?;
            let now = self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await?;
            earlier_applied = specs.iter().all(|spec| {
                now.iter()
                    .any(|r| r.key == spec.lock_key() && r.status == PlanStatus::Applied)
            });
        }
        Ok(())
    }

    /// Why `record` cannot be applied now; empty when it can. `checked` keeps the host's
    /// answers across projects.
    async fn check(
        &self,
        ctx: &PrContext,
        record: &PlanRecord,
        project: &ResolvedProject,
        checked: &mut Checked,
    ) -> anyhow::Result<Vec<String>> {
        let mut reasons = Vec::new();
        match record.status {
            PlanStatus::Planned => {}
            PlanStatus::NoChanges => {
                reasons.push("the plan has no changes to apply".to_owned());
            }
            PlanStatus::Applied => reasons.push("this plan was already applied".to_owned()),
            PlanStatus::Planning | PlanStatus::Applying => {
                reasons.push("a run for this project is still in progress".to_owned());
            }
            PlanStatus::Failed => {
                reasons.push("the last run failed; fix it and comment `landfall plan`".to_owned());
            }
            PlanStatus::StateChanged => reasons.push(
                "the project's state was changed by `import` or `state rm` since this plan; comment `landfall plan` to plan again"
                    .to_owned(),
            ),
        }
        match self.store.get_lock(&record.key).await? {
            Some(lock) if lock.holder.pr == ctx.pr.0 => {}
            Some(lock) => reasons.push(format!(
                "the project is locked by #{} ({})",
                lock.holder.pr, lock.holder.pull_url
            )),
            None => reasons.push(
                "this pull request no longer holds the project's lock; comment `landfall plan`"
                    .to_owned(),
            ),
        }
        if record.head_sha != ctx.head_sha.as_str() {
            reasons.push(format!(
                "the plan is stale: it was made at `{}`, and the pull request's head is now `{}`. Comment `landfall plan` to plan again",
                short(&record.head_sha),
                short(ctx.head_sha.as_str())
            ));
        }
        if let Some(why) = super::select::other_base(record.result.as_ref(), &ctx.base_branch) {
            reasons.push(why);
        }
        let checks = self.effective_policy(ctx).policy_checks;
        if let Some(why) = crate::repo_config::unapproved(
            record.result.as_ref(),
            checks.as_deref(),
            Some(&project.workflow.policy_namespaces()),
        ) {
            reasons.push(why);
        }
        reasons.extend(
            self.unmet(ctx, &project.apply_requirements, "apply", RunCommand::Apply, checked)
                .await?,
        );
        Ok(reasons)
    }
}

/// Why `project` cannot be applied before the projects it depends on: one still runs (its
/// apply, or a plan), or has a plan with changes in this PR that is neither applied nor part of
/// this apply. Applying `project` first would break the order.
fn unapplied_dependencies(
    project: &ResolvedProject,
    all: &[PlanRecord],
    selected: &[PlanRecord],
) -> Vec<String> {
    project
        .depends_on
        .iter()
        .filter_map(|dep| {
            let named = |r: &&PlanRecord| r.key.project.as_deref() == Some(dep.as_str());
            let code = crate::markdown::inline_code(dep);
            if all.iter().filter(named).any(PlanRecord::in_progress) {
                return Some(format!(
                    "it depends on {code}, whose run is still in progress: apply it once that \
                     has ended"
                ));
            }
            // As Atlantis: a dependency this PR planned must be applied or without changes
            // (a failed plan or apply, or an edited state, holds its dependents back too).
            let unsettled = all.iter().filter(named).find(|r| !r.status.is_settled())?;
            if selected.iter().any(|r| named(&r)) {
                return None;
            }
            let command = crate::markdown::inline_code(&format!("landfall apply -p {dep}"));
            Some(if unsettled.status == PlanStatus::Planned {
                format!(
                    "it depends on {code}, whose plan is not applied yet: apply it first \
                     ({command}), or both with `landfall apply`"
                )
            } else {
                format!(
                    "it depends on {code}, which is not applied (its last run: {}): plan and \
                     apply it first",
                    unsettled.status.as_str()
                )
            })
        })
        .collect()
}

/// Moves from `to_apply` to `results` (refused) each project that depends on a project this
/// apply refused whose plan is not applied (nor without changes), and so on down the chain.
fn refuse_dependents(
    to_apply: &mut Vec<(RunSpec, Vec<String>)>,
    results: &mut Vec<crate::run::ProjectResult>,
    all: &[PlanRecord],
) {
    let done = |dep: &str| {
        all.iter()
            .filter(|r| r.key.project.as_deref() == Some(dep))
            .all(|r| r.status.is_settled())
    };
    loop {
        let not_applied: Vec<String> = results.iter().filter_map(|r| r.name.clone()).collect();
        let Some((at, dep)) = to_apply.iter().enumerate().find_map(|(at, (_, deps))| {
            let dep = deps.iter().find(|dep| not_applied.contains(dep) && !done(dep))?;
            Some((at, crate::markdown::inline_code(dep)))
        }) else {
            return;
        };
        let (spec, _) = to_apply.remove(at);
        results.push(refused(
            &spec,
            &format!("it depends on {dep}, which this apply does not apply"),
        ));
    }
}

/// The configured project a plan record is for, or the policy's defaults for a discovered one.
pub(super) fn project_for(
    config: &crate::repo_config::ResolvedConfig,
    policy: &crate::repo_config::EffectivePolicy,
    record: &PlanRecord,
) -> ResolvedProject {
    config
        .projects
        .iter()
        .find(|p| {
            p.dir == record.key.dir
                && p.workspace == record.key.workspace
                && p.name == record.key.project
        })
        .cloned()
        .unwrap_or_else(|| {
            let mut p = ResolvedProject::with_defaults(policy, &record.key.dir);
            p.workspace.clone_from(&record.key.workspace);
            p.name.clone_from(&record.key.project);
            p
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{ParsedComment, parse_comment};
    use crate::store::LockKey;

    fn command(text: &str) -> Command {
        match parse_comment(text) {
            Some(ParsedComment::Command(c)) => c,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn record(key: LockKey) -> PlanRecord {
        PlanRecord {
            key,
            pr: 1,
            head_sha: "a".repeat(40),
            run_id: "r".to_owned(),
            status: PlanStatus::Planned,
            planfile: None,
            updated_at: 0,
            trigger: None,
            result: None,
            deadline: None,
        }
    }

    fn named_run(name: &str) -> RunSpec {
        let mut spec = crate::run::env::tests::plan_spec();
        spec.project.name = Some(name.to_owned());
        spec.project.dir = format!("envs/{name}");
        spec
    }

    fn stage_names(stages: &[Vec<(RunSpec, Vec<String>)>]) -> Vec<Vec<String>> {
        stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .map(|(s, _)| s.project.name.clone().unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn dependencies_are_applied_in_stages_before_their_dependents() {
        let deps = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        let runs = vec![
            (named_run("app"), deps(&["network", "db"])),
            (named_run("db"), deps(&["network"])),
            (named_run("network"), deps(&[])),
            (named_run("dns"), deps(&["elsewhere"])),
        ];
        assert_eq!(
            stage_names(&stages(runs)),
            vec![vec!["network", "dns"], vec!["db"], vec!["app"]]
        );
        let cycle = vec![
            (named_run("a"), deps(&["b"])),
            (named_run("b"), deps(&["a"])),
            (named_run("c"), deps(&[])),
        ];
        assert_eq!(stage_names(&stages(cycle)), vec![vec!["c"], vec!["a", "b"]]);
    }

    #[test]
    fn a_dependent_is_refused_while_its_dependency_has_an_unapplied_plan_outside_this_apply() {
        let network =
            record(LockKey::new("acme/infra", "envs/network", "default").named("network"));
        let app = record(LockKey::new("acme/infra", "envs/app", "default").named("app"));
        let mut project = ResolvedProject::with_defaults(
            &crate::repo_config::EffectivePolicy::default(),
            "envs/app",
        );
        project.depends_on = vec!["network".to_owned()];
        let all = vec![network.clone(), app.clone()];
        let reasons = unapplied_dependencies(&project, &all, std::slice::from_ref(&app));
        assert_eq!(reasons.len(), 1);
        assert!(
            reasons[0].contains("landfall apply -p network"),
            "{reasons:?}"
        );
        assert!(unapplied_dependencies(&project, &all, &all).is_empty());
        let mut applied = network;
        applied.status = PlanStatus::Applied;
        assert!(unapplied_dependencies(&project, &[applied, app.clone()], &[app]).is_empty());
    }

    #[test]
    fn apply_flags_select_plan_records_like_plan_flags_select_projects() {
        let app = record(LockKey::new("acme/infra", "envs/app", "default"));
        let staging = record(LockKey::new("acme/infra", "envs/app", "staging"));
        let named = record(LockKey::new("acme/infra", "envs/db", "default").named("db"));
        // An unnamed project whose directory is another project's name.
        let db_dir = record(LockKey::new("acme/infra", "db", "default"));
        let records = vec![app, staging, named, db_dir];
        let select = |text: &str| -> Vec<String> {
            select_records(records.clone(), &command(text))
                .into_iter()
                .map(|r| format!("{}:{}", r.key.dir, r.key.workspace))
                .collect()
        };
        let everything = ["envs/app:default", "envs/app:staging", "envs/db:default", "db:default"];
        assert_eq!(select("landfall apply"), everything);
        assert_eq!(select("atlantis apply -d envs/app"), ["envs/app:default"]);
        assert_eq!(
            select("landfall apply -d envs/app -w staging"),
            ["envs/app:staging"]
        );
        assert_eq!(select("landfall apply -p db"), ["envs/db:default"]);
        assert_eq!(select("landfall apply -p envs/app"), ["envs/app:default"]);
        assert_eq!(select("landfall apply -d db"), ["db:default"]);
    }
}
