//! The runner around the workflow, end to end with the real binary and `terraform`: the
//! operator's hooks (a post-workflow hook that fails fails the run, its plan still reported and
//! not offered for apply; a pre-workflow hook that fails stops the run before Terraform), and
//! an apply stage without `init` (Atlantis' default apply when a workflow defines only `plan`)
//! prepared from a fresh clone the way its plan stage initialised it, in the project's
//! workspace.

use landfall_e2e::git;
use landfall_function::run::{EnvSource, RunCommand, RunStatus, Step, WorkflowHook, default_steps};

use crate::runner_e2e::Fixture;

#[test]
fn a_post_hook_that_fails_fails_the_run_and_its_plan_is_still_reported() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.hooks.post = vec![WorkflowHook {
        description: Some("Policy check".to_owned()),
        ..WorkflowHook::new("echo \"1 policy violated in $DIR\"; exit 3")
    }];
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(report.planfile.is_some(), "the plan ran to its end");
    let comment = &report.comment;
    assert!(
        comment.contains("**Plan: 1 to add, 0 to change, 0 to destroy.**"),
        "{comment}"
    );
    assert!(
        comment.contains("**post-workflow hook failed:** Policy check"),
        "{comment}"
    );
    // The hook ran in the clone's root, as `DIR` says.
    let root = fx.path(&format!("work/{}/repo", spec.run_id()));
    assert!(
        comment.contains(&format!("1 policy violated in {}\n", root.display())),
        "{comment}"
    );
    assert!(!comment.contains("landfall apply -p app"), "{comment}");
}

/// What a step leaves at `$SHOWFILE` is not what the post-workflow hooks read: the runner
/// writes the plan it showed there anew. Here a link to `/dev/null`, which a write through it
/// would empty; a forged plan made read-only is the same to a runner that is not root.
#[test]
fn a_post_hook_reads_the_plan_the_runner_showed_not_what_a_step_left() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-showfile");
    let mut workflow = default_steps(RunCommand::Plan);
    workflow.push(Step::run("ln -sf /dev/null \"$SHOWFILE\""));
    spec.project.workflow = Some(workflow);
    spec.project.hooks.post = vec![WorkflowHook::new(
        "grep -o '\"terraform_data.app\"' \"$SHOWFILE\" | head -1",
    )];
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains("\"terraform_data.app\""),
        "{}",
        report.comment
    );
}

/// A plan that fails after a `show` step leaves no `$SHOWFILE` to the post-workflow hooks: the
/// file there may be a later step's forgery, and the plan it showed is not the run's.
#[test]
fn after_a_failed_plan_a_post_hook_finds_no_show_file() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-showfile-failed");
    let mut workflow = default_steps(RunCommand::Plan);
    workflow.push(Step::Show);
    workflow.push(Step::run(
        "echo '{\"resource_changes\": \"forged\"}' > \"$SHOWFILE\"; exit 4",
    ));
    spec.project.workflow = Some(workflow);
    spec.project.hooks.post = vec![WorkflowHook::new(
        "if [ -e \"$SHOWFILE\" ]; then echo \"show file: $(cat \"$SHOWFILE\")\"; else echo no-show-file; fi",
    )];
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(
        report.comment.contains("no-show-file"),
        "{}",
        report.comment
    );
    assert!(!report.comment.contains("forged"), "{}", report.comment);
}

/// A hook runs only in runs of the commands it names (Atlantis' `commands`), decided by the
/// runner from its run's command: an apply made from a plan's spec keeps its apply-only hooks.
#[test]
fn a_hook_runs_only_for_the_commands_it_names() {
    use landfall_function::run::RunCommand;
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.hooks.pre = vec![
        WorkflowHook {
            commands: Some(vec![RunCommand::Apply]),
            ..WorkflowHook::new("echo apply-gate-ran")
        },
        WorkflowHook {
            commands: Some(vec![RunCommand::Plan]),
            ..WorkflowHook::new("echo plan-hook-ran")
        },
    ];
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains("plan-hook-ran"),
        "{}",
        report.comment
    );
    assert!(
        !report.comment.contains("apply-gate-ran"),
        "{}",
        report.comment
    );
}

#[test]
fn a_pre_hook_that_fails_stops_the_run_before_terraform() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.hooks.pre = vec![
        WorkflowHook::new("echo first-hook-ran"),
        WorkflowHook {
            shell: Some("bash".to_owned()),
            shell_args: vec!["-o".to_owned(), "pipefail".to_owned(), "-c".to_owned()],
            // Fails only under pipefail: the hook ran with its shell and arguments.
            ..WorkflowHook::new("echo gate-closed; false | true")
        },
    ];
    spec.project.hooks.post = vec![WorkflowHook::new("echo post-hook-ran")];
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    let comment = &report.comment;
    assert!(
        comment.contains(
            "**plan failed** in step `pre_workflow_hook (echo gate-closed; false | true)`"
        ),
        "{comment}"
    );
    assert!(comment.contains("first-hook-ran") && comment.contains("gate-closed"));
    assert!(!comment.contains("post-hook-ran"), "{comment}");
    assert!(report.planfile.is_none() && report.summary.is_none());
    let work = fx.path(&format!("work/{}", spec.run_id()));
    assert!(
        !work.join("repo/envs/app/.terraform").exists(),
        "terraform never ran"
    );
}

#[test]
fn an_apply_stage_without_init_is_initialised_like_its_plan_in_its_workspace() {
    let fx = Fixture::new();
    // A partial backend: where the state goes is given to `init` by the plan stage only.
    let repo = fx.repo();
    std::fs::write(
        repo.join("envs/app/main.tf"),
        "terraform {\n  backend \"local\" {}\n}\n\nresource \"terraform_data\" \"app\" {\n  \
         input = \"staged\"\n}\n",
    )
    .unwrap();
    git(&repo, &["commit", "--quiet", "-am", "partial backend"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let workspaces = fx.path("state/workspaces");
    // The folder comes from an `env` step of the plan stage, which the apply stage does not
    // have: the runner sets it again before it initialises the apply's fresh clone.
    let folder = Step::env(
        "STATE_FOLDER",
        EnvSource::Value(workspaces.display().to_string()),
    );
    let init = Step::Init {
        extra_args: vec!["-backend-config=workspace_dir=${STATE_FOLDER}".to_owned()],
    };
    let plan_steps = vec![
        folder,
        init,
        Step::Plan {
            extra_args: Vec::new(),
        },
    ];

    let mut plan = fx.spec(&head, "delivery-1");
    plan.project.workspace = "staging".to_owned();
    plan.project.workflow = Some(plan_steps.clone());
    let planned = fx.run(&plan);
    assert_eq!(planned.status, RunStatus::Planned, "{}", planned.comment);

    // What the function sends for a workflow that defines only `plan`: Atlantis' default
    // apply stage, and the plan stage's `init` arguments.
    let mut apply = fx.apply_spec(&plan, &planned, &head);
    apply.project.workspace = "staging".to_owned();
    apply.project.workflow = Some(vec![Step::Apply {
        extra_args: Vec::new(),
    }]);
    apply.project.init_args = landfall_function::run::init_args(&plan_steps);
    apply.project.init_env = landfall_function::run::init_env(&plan_steps);
    let applied = fx.run(&apply);
    assert_eq!(applied.status, RunStatus::Applied, "{}", applied.comment);
    assert!(
        applied
            .comment
            .contains("Apply complete! Resources: 1 added")
    );
    let state = std::fs::read_to_string(workspaces.join("staging/terraform.tfstate")).unwrap();
    assert!(state.contains("\"staged\""), "{state}");
}

#[test]
fn every_steps_and_hooks_output_is_scrubbed_of_the_plans_sensitive_values() {
    let fx = Fixture::new();
    let repo = fx.repo();
    std::fs::write(
        repo.join("envs/app/secret.tf"),
        "variable \"db_password\" {\n  type      = string\n  sensitive = true\n  default   = \
         \"hunter2-6f1c9e\"\n}\n\nresource \"terraform_data\" \"db\" {\n  input = \
         var.db_password\n}\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "a secret"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::Plan {
            extra_args: Vec::new(),
        },
        Step::run("echo \"step sees hunter2-6f1c9e\""),
    ]);
    spec.project.hooks.post = vec![WorkflowHook::new("echo \"hook sees hunter2-6f1c9e\"")];
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("hunter2-6f1c9e"), "{json}");
    assert!(
        report.comment.contains("step sees (sensitive value)")
            && report.comment.contains("hook sees (sensitive value)"),
        "{}",
        report.comment
    );
    let log = report.log.expect("the log is stored");
    let stored = std::fs::read_to_string(fx.path("data/artifacts").join(&log.key)).unwrap();
    assert!(!stored.contains("hunter2-6f1c9e"), "{stored}");
}
