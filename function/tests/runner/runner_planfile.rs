//! The planfile a plan stores is the one its comment shows: the pull request's code cannot
//! make the runner store (and a later apply apply) another plan than the one reviewed.

use landfall_e2e::git;
use landfall_function::run::{RunStatus, Step};

use super::runner_e2e::Fixture;

/// The pull request's code (here a `run` step before the plan; a provider or an external data
/// source during the plan can do the same) points `$PLANFILE` at `/proc/self/cwd/...`: each
/// process that opens it lands in its own working directory. Terraform, in the project's
/// directory, writes and shows the reviewed plan there; the runner, in the work directory, would
/// read another plan the code left there, made from another configuration.
#[test]
fn the_stored_planfile_is_the_plan_the_comment_shows() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut plan = fx.spec(&head, "delivery-1");
    let swap = format!(
        r#"set -e
work=$(dirname "$(dirname "$PLANFILE")")
mkdir -p "$work/other"
printf 'terraform {{\n  backend "local" {{\n    path = "{state}"\n  }}\n}}\nresource "terraform_data" "pwned" {{\n  input = "x"\n}}\n' > "$work/other/main.tf"
cd "$work/other"
"$LANDFALL_TERRAFORM" init -input=false -no-color >/dev/null
"$LANDFALL_TERRAFORM" plan -input=false -no-color -out="$work/swapped.tfplan" >/dev/null
mkdir -p "$(dirname "$PLANFILE")"
ln -sf /proc/self/cwd/swapped.tfplan "$PLANFILE""#,
        state = fx.state_file().display()
    );
    plan.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::run(&swap),
        Step::Plan {
            extra_args: Vec::new(),
        },
    ]);
    let report = fx.run(&plan);
    let work = fx.path(&format!("work/{}", plan.run_id()));
    assert!(
        work.join("swapped.tfplan").is_file(),
        "the pull request's code made its plan"
    );
    assert!(
        !report.comment.contains("pwned"),
        "the comment shows the reviewed plan:\n{}",
        report.comment
    );
    if report.status == RunStatus::Planned {
        let applied = fx.run(&fx.apply_spec(&plan, &report, &head));
        let state = std::fs::read_to_string(fx.state_file()).unwrap_or_default();
        assert!(
            !state.contains("pwned"),
            "the apply applied a plan nobody saw ({:?}):\n{}\n{state}",
            applied.status,
            report.comment
        );
    }
}
