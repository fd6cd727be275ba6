//! The runs a merge starts: each planned project's stored plan applied when the merge changed
//! none of its inputs, planned again at the merge commit when it did (and the policy allows it),
//! or named as not applied; with what the merge's comment says of each.

use super::OnMerge;
use crate::markdown::inline_code;
use crate::event::CommitSha;
use crate::orchestrate::PrContext;
use crate::orchestrate::select::stages;
use crate::orchestrate::select::run_spec;
use crate::repo_config;
use crate::run::{LockKey, PlanToApply, RunCommand, RunSpec};

/// The runs a merge starts: stored plans applied, projects planned again (each with the
/// projects it depends on), and what is said.
pub(super) struct MergeRuns {
    pub(super) applies: Vec<(RunSpec, Vec<String>)>,
    pub(super) plans: Vec<(RunSpec, Vec<String>)>,
    pub(super) notes: Vec<Note>,
}

/// What the merge's comment says of one project, known by its lock key: two projects may share
/// a label (one's name can be another's directory).
pub(super) type Note = (LockKey, String);

/// The runs a merge starts for `on_merge` and the notes on each project, `stale` ones (their
/// state changed since their plan) named as not applied.
pub(super) fn merge_runs(
    ctx: &PrContext,
    (on_merge, stale): (&[OnMerge], &[OnMerge]),
    changed: &[bool],
    merge_sha: &CommitSha,
    policy: &repo_config::EffectivePolicy,
) -> MergeRuns {
    let mut notes = Vec::new();
    let mut applies = Vec::new();
    let mut plans = Vec::new();
    for (item, &changed) in on_merge.iter().zip(changed) {
        let label = item.project.display_name();
        let Some(planfile) = item.record.planfile.clone() else {
            continue;
        };
        if !changed {
            let mut at_plan = ctx.clone();
            at_plan.head_sha = CommitSha::new(item.record.head_sha.clone());
            let apply = PlanToApply {
                planfile,
                planned_sha: at_plan.head_sha.clone(),
            };
            let spec = run_spec(
                &at_plan,
                &item.project,
                policy,
                RunCommand::Apply,
                &[],
                Some(apply),
            );
            applies.push((spec, item.project.depends_on.clone()));
            notes.push((
                item.record.key.clone(),
                format!("{}: its stored plan is applied (the merge changed none of its files)", inline_code(&label)),
            ));
        } else if policy.merge.replan {
            let mut at_merge = ctx.clone();
            at_merge.head_sha = merge_sha.clone();
            at_merge.head_repo = Some(ctx.repo.clone());
            let spec = run_spec(&at_merge, &item.project, policy, RunCommand::Plan, &[], None);
            plans.push((spec, item.project.depends_on.clone()));
            notes.push((item.record.key.clone(), format!("{}: the merge changed its files (or the pull request's head) since its plan, so it is planned again at the merge commit and applied if that plan succeeds", inline_code(&label))));
        } else {
            notes.push((item.record.key.clone(), not_applied(
                &label,
                "the merge changed its files (or the pull request's head) since its plan, and this repository does not apply a plan made again at the merge commit (`apply_on_merge_replan`)",
            )));
        }
    }
    notes.extend(stale.iter().map(|item| {
        (
            item.record.key.clone(),
            not_applied(
                &item.project.display_name(),
                "its state was changed by `import` or `state rm` after its plan, so that plan is stale",
            ),
        )
    }));
    first_stage_when_replanning(MergeRuns {
        applies,
        plans,
        notes,
    })
}

/// What the merge's comment says of project `label`, which it does not apply because `why`: its
/// lock stays with the pull request.
fn not_applied(label: &str, why: &str) -> String {
    format!(
        "{}: **not applied**: {why}. Its lock stays with this pull request: apply the change from a new pull request after `landfall unlock` here",
        inline_code(label)
    )
}

/// Replaces what `notes` said of the project of `spec` (what `merge_runs` said it would do) with
/// its being not applied because `why`.
fn replace_note(notes: &mut Vec<Note>, spec: &RunSpec, why: &str) {
    let key = spec.lock_key();
    notes.retain(|(of, _)| *of != key);
    notes.push((key, not_applied(&spec.project.label(), why)));
}

/// Runs, each with the projects it depends on: the merge's plans, then its applies.
type RunsByCommand = (Vec<(RunSpec, Vec<String>)>, Vec<(RunSpec, Vec<String>)>);

/// `runs` as the merge's plans and its applies.
fn plans_and_applies(runs: Vec<(RunSpec, Vec<String>)>) -> RunsByCommand {
    runs.into_iter()
        .partition(|(spec, _)| spec.command == RunCommand::Plan)
}

/// Of `runs`, those that depend, directly or through others, on a project of `candidates` (the
/// PR's projects with a plan not yet applied or a run in progress, by name) that this merge does
/// not run (its own apply on merge off, refused by the merge's gates, stale, changed without
/// `apply_on_merge_replan`, or deferred) are not run either: `depends_on` within
/// the runs orders only what runs, so a dependent would otherwise apply without its dependency.
/// They are named as not applied, their locks kept.
pub(crate) fn without_dependents_of_skipped(runs: MergeRuns, candidates: &[String]) -> MergeRuns {
    let MergeRuns {
        mut applies,
        mut plans,
        mut notes,
    } = runs;
    let running: Vec<String> = applies
        .iter()
        .chain(&plans)
        .filter_map(|(spec, _)| spec.project.name.clone())
        .collect();
    let mut skipped: Vec<String> = candidates
        .iter()
        .filter(|name| !running.contains(name))
        .cloned()
        .collect();
    loop {
        let waits = |(_, deps): &(RunSpec, Vec<String>)| deps.iter().any(|d| skipped.contains(d));
        let (blocked, kept): (Vec<_>, Vec<_>) = applies.into_iter().chain(plans).partition(waits);
        (plans, applies) = plans_and_applies(kept);
        if blocked.is_empty() {
            break;
        }
        for (spec, deps) in blocked {
            let missing: Vec<String> = deps
                .iter()
                .filter(|d| skipped.contains(d))
                .map(|d| inline_code(d))
                .collect();
            let why = format!("it depends on {}, which this merge does not apply", missing.join(", "));
            replace_note(&mut notes, &spec, &why);
            skipped.extend(spec.project.name);
        }
    }
    MergeRuns {
        applies,
        plans,
        notes,
    }
}

/// A project planned again applies once its new plan reports, a stored plan at once: a merge
/// cannot order the two. So when it plans a project again and its runs fall into more than one
/// stage (`execution_order_group`, then `depends_on`), only the first stage runs; the later
/// stages are named as not applied, their locks kept with the pull request.
fn first_stage_when_replanning(runs: MergeRuns) -> MergeRuns {
    let MergeRuns {
        applies,
        plans,
        mut notes,
    } = runs;
    if plans.is_empty() {
        return MergeRuns {
            applies,
            plans,
            notes,
        };
    }
    let mut stages = stages(applies.into_iter().chain(plans).collect()).into_iter();
    let first = stages.next().unwrap_or_default();
    let first_names: Vec<String> = first
        .iter()
        .map(|(spec, _)| inline_code(&spec.project.label()))
        .collect();
    for (spec, _) in stages.flatten() {
        let why = format!(
            "it comes after {} (`execution_order_group`, `depends_on`), and apply on merge cannot order an apply after a project it plans again at the merge commit",
            first_names.join(", ")
        );
        replace_note(&mut notes, &spec, &why);
    }
    let (plans, applies) = plans_and_applies(first);
    MergeRuns {
        applies,
        plans,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ProjectSpec;

    /// An apply of the project at `dir`, named `name`, depending on `deps`.
    fn apply(name: Option<&str>, dir: &str, deps: &[&str]) -> (RunSpec, Vec<String>) {
        let mut spec = crate::run::env::tests::plan_spec();
        spec.command = RunCommand::Apply;
        spec.project = ProjectSpec {
            name: name.map(str::to_owned),
            ..ProjectSpec::new(dir)
        };
        (spec, deps.iter().map(|d| (*d).to_owned()).collect())
    }

    /// A project's name comes from the pull request's config: whatever it holds stays in one
    /// code span (no mention, link, image or HTML comment from the bot).
    #[test]
    fn a_hostile_project_name_stays_in_its_code_span() {
        let label = "a` @acme/all [click](https://evil.example) <!--";
        let note = not_applied(label, "why");
        assert!(
            note.starts_with("``a` @acme/all [click](https://evil.example) <!--``: "),
            "{note}"
        );
    }

    /// A project named `app` and an unnamed one in the directory `app` share a label: what is
    /// said of one is not said of the other.
    #[test]
    fn a_note_replaced_for_one_project_leaves_another_of_the_same_label() {
        let named = apply(Some("app"), "envs/app", &["network"]);
        let unnamed = apply(None, "app", &[]);
        assert_eq!(named.0.project.label(), unnamed.0.project.label());
        let applied = |spec: &RunSpec| {
            (
                spec.lock_key(),
                format!("{}: its stored plan is applied", inline_code(&spec.project.label())),
            )
        };
        let runs = MergeRuns {
            notes: vec![applied(&named.0), applied(&unnamed.0)],
            applies: vec![named.clone(), unnamed.clone()],
            plans: Vec::new(),
        };
        let runs = without_dependents_of_skipped(runs, &["network".to_owned(), "app".to_owned()]);
        assert_eq!(runs.applies, std::slice::from_ref(&unnamed));
        assert_eq!(
            runs.notes,
            [
                applied(&unnamed.0),
                (
                    named.0.lock_key(),
                    not_applied(
                        "app",
                        "it depends on `network`, which this merge does not apply"
                    )
                ),
            ]
        );
    }
}
