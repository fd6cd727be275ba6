//! The planfile a plan stores is the one its comment shows: the pull request's code cannot
//! make the runner store (and a later apply apply) another plan than the one reviewed.

use landfall_e2e::git;
use landfall_function::run::{RunStatus, Step};

use super::runner_e2e::{Fixture, wrapper};

/// A `run` step's script that makes another plan than the project's (of a `terraform_data.pwned`,
/// against the project's state) at `$work/swapped.tfplan`, then runs `put` with it.
fn another_plan(fx: &Fixture, put: &str) -> String {
    format!(
        r#"set -e
work=$(dirname "$(dirname "$PLANFILE")")
mkdir -p "$work/other"
printf 'terraform {{\n  backend "local" {{\n    path = "{state}"\n  }}\n}}\nresource "terraform_data" "pwned" {{\n  input = "x"\n}}\n' > "$work/other/main.tf"
cd "$work/other"
"$LANDFALL_TERRAFORM" init -input=false -no-color >/dev/null
"$LANDFALL_TERRAFORM" plan -input=false -no-color -out="$work/swapped.tfplan" >/dev/null
{put}"#,
        state = fx.state_file().display()
    )
}

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
    let swap = another_plan(
        &fx,
        r#"mkdir -p "$(dirname "$PLANFILE")"
ln -sf /proc/self/cwd/swapped.tfplan "$PLANFILE""#,
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

/// A process of the pull request's that outlived its step (here stood in for by a Terraform that
/// does it around `show`) puts another plan at `$PLANFILE` while the runner summarises it and
/// the reviewed one back before the upload. The runner summarises a copy of the bytes it
/// read once and stores those same bytes: the summary, the policy checks and the stored
/// planfile are one plan.
#[test]
fn the_summary_is_made_from_the_very_bytes_stored() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let shown = fx.path("shown.sha256");
    wrapper(
        &fx.path("versions/9.9.7/terraform"),
        &format!(
            r#"[ "$1" = show ] || exec "$real" "$@"
for planfile; do :; done
"$real" plan -input=false -no-color -target=terraform_data.app -out="$PLANFILE.other" >/dev/null 2>&1
cp "$PLANFILE" "$PLANFILE.reviewed" && cp "$PLANFILE.other" "$PLANFILE"
sha256sum "$planfile" | cut -d' ' -f1 > '{}'
"$real" "$@"
status=$?
cp "$PLANFILE.reviewed" "$PLANFILE"
exit $status"#,
            shown.display()
        ),
    );
    let mut plan = fx.spec(&head, "delivery-1");
    plan.project.terraform_version = Some("9.9.7".to_owned());
    let report = fx.run(&plan);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let stored = report.planfile.expect("the plan is stored");
    let bytes = std::fs::read(fx.path("data/artifacts").join(&stored.key)).unwrap();
    assert_eq!(
        landfall_function::store::artifacts::sha256_hex(&bytes),
        stored.sha256
    );
    assert_eq!(
        std::fs::read_to_string(&shown).unwrap().trim(),
        stored.sha256,
        "the summary was made from the stored planfile"
    );
}

/// The pull request's code puts another plan, a regular file, at `$PLANFILE` after Terraform
/// printed the reviewed one (here a `run` step after the plan stands in for a data source's
/// program that keeps doing so in the background while Terraform plans). The comment shows
/// Terraform's rendering of the planfile stored, the one an apply applies, and says that the
/// printed plan was not it.
#[test]
fn the_comment_shows_the_plan_stored_when_the_printed_one_was_swapped() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut plan = fx.spec(&head, "delivery-1");
    let swap = another_plan(&fx, r#"mv "$work/swapped.tfplan" "$PLANFILE""#);
    plan.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::Plan {
            extra_args: Vec::new(),
        },
        Step::run(&swap),
    ]);
    let report = fx.run(&plan);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report
            .comment
            .contains("terraform_data.pwned will be created")
            && report.comment.contains("is not the planfile it left"),
        "the comment shows the plan stored:\n{}",
        report.comment
    );
    assert!(
        !report
            .comment
            .contains("terraform_data.app will be created"),
        "the comment does not show the plan printed:\n{}",
        report.comment
    );
}

/// The check raises no false alarm: a `run` step's plan in colour (Atlantis' documented custom
/// workflow runs `terraform plan` without `-no-color`), the built-in plan, and a plan with no
/// changes show what was printed, colours taken out, with no note. A plan of its own printed
/// before Terraform's (as code writing into Terraform's output would) is not taken.
#[test]
fn the_printed_plan_is_shown_when_it_is_the_one_stored() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let note = "is not the planfile it left";
    let mut coloured = fx.spec(&head, "delivery-1");
    coloured.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::run(r#""$LANDFALL_TERRAFORM" plan -input=false -out="$PLANFILE""#),
    ]);
    let report = fx.run(&coloured);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(!report.comment.contains(note), "{}", report.comment);
    assert!(!report.comment.contains('\u{1b}'), "{}", report.comment);
    assert!(
        report
            .comment
            .contains("terraform_data.app will be created")
    );

    let builtin = fx.spec(&head, "delivery-2");
    let report = fx.run(&builtin);
    assert!(!report.comment.contains(note), "{}", report.comment);
    let applied = fx.run(&fx.apply_spec(&builtin, &report, &head));
    assert_eq!(applied.status, RunStatus::Applied, "{}", applied.comment);
    let unchanged = fx.run(&fx.spec(&head, "delivery-3"));
    assert!(
        unchanged.comment.contains("No changes."),
        "{}",
        unchanged.comment
    );
    assert!(!unchanged.comment.contains(note), "{}", unchanged.comment);

    let mut forged = fx.spec(&head, "delivery-4");
    forged.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::run(
            r#"printf 'Terraform used the selected providers to generate the following plan.\n\n  # terraform_data.harmless will be created\n\n' && "$LANDFALL_TERRAFORM" plan -input=false -no-color -out="$PLANFILE" >/dev/null && "$LANDFALL_TERRAFORM" show -no-color "$PLANFILE""#,
        ),
    ]);
    let report = fx.run(&forged);
    assert!(report.comment.contains(note), "{}", report.comment);
}
