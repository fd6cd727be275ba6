//! The repo-level config: Atlantis' documented `atlantis.yaml` v3 examples read as they are, and
//! invalid files reported with their line and problem (the server-side policy, enforced the way
//! Atlantis enforces it: `repo_config_policy`).

use landfall_function::repo_config::{
    EffectivePolicy, Policy, Requirement, RunOutput, ShellCommand, Step, parse_repo_config, resolve,
};
use landfall_function::run::RunCommand;

/// Atlantis' "Example Using All Keys" from its repo-level atlantis.yaml documentation.
const ALL_KEYS: &str = r#"version: 3
automerge: true
delete_source_branch_on_merge: true
parallel_plan: true
parallel_apply: true
projects:
- name: my-project-name
  branch: /main/
  dir: .
  workspace: default
  terraform_version: v0.11.0
  delete_source_branch_on_merge: true
  repo_locking: true
  autoplan:
    when_modified: ["*.tf", "../modules/**/*.tf"]
    enabled: true
  apply_requirements: [mergeable, approved]
  workflow: myworkflow
workflows:
  myworkflow:
    plan:
      steps:
      - run: my-custom-command arg1 arg2
      - init
      - plan:
          extra_args: ["-lock", "false"]
      - run: my-custom-command arg1 arg2
    apply:
      steps:
      - run: echo hi
      - apply
allowed_regexp_prefixes:
- dev/
- staging/
"#;

fn permissive() -> EffectivePolicy {
    let policy = Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  allowed_overrides: [apply_requirements, workflow]\n  allow_custom_workflows: true\n",
    )
    .unwrap();
    policy.resolve("github.com", "acme/infra", "main")
}

#[test]
fn the_documented_all_keys_example_parses_and_reports_the_keys_it_ignores() {
    let config = parse_repo_config("atlantis.yaml", ALL_KEYS).unwrap();
    assert_eq!(config.version, 3);
    assert!(config.automerge && config.parallel_plan && config.parallel_apply);
    let p = &config.projects[0];
    assert_eq!(p.name.as_deref(), Some("my-project-name"));
    assert_eq!(p.dir, ".");
    assert_eq!(p.terraform_version.as_deref(), Some("v0.11.0"));
    assert_eq!(p.autoplan.when_modified, ["*.tf", "../modules/**/*.tf"]);
    assert!(p.branch.as_ref().unwrap().matches("main"));
    let reqs = &p.apply_requirements.as_ref().unwrap().value;
    assert_eq!(reqs, &[Requirement::Mergeable, Requirement::Approved]);
    let w = &config.workflows["myworkflow"];
    let plan = w.plan.as_ref().unwrap();
    assert_eq!(plan.len(), 4);
    assert_eq!(
        plan[2],
        Step::Plan {
            extra_args: vec!["-lock".into(), "false".into()]
        }
    );
    assert!(
        matches!(&plan[0], Step::Run(ShellCommand { command, output: RunOutput::Show, .. }) if command == "my-custom-command arg1 arg2")
    );
    // Every key we skip is named with its line; nothing is silently dropped.
    let ignored: Vec<(usize, String)> = config
        .warnings
        .iter()
        .map(|d| (d.line, d.message.split('`').nth(1).unwrap().to_owned()))
        .collect();
    // `automerge` is implemented (orchestrate/merge.rs), so it is no longer among them.
    assert_eq!(ignored, [(32, "allowed_regexp_prefixes".to_owned())]);
    // `delete_source_branch_on_merge` needs the policy's leave.
    let err = resolve(&permissive(), Some(&config)).unwrap_err();
    assert!(err.to_string().contains("may not override"), "{err}");
    let mut config = config;
    config.delete_source_branch_on_merge = None;
    config.projects[0].delete_source_branch_on_merge = None;
    let resolved = resolve(&permissive(), Some(&config)).unwrap();
    assert_eq!(resolved.projects[0].workflow_name, "myworkflow");
    assert_eq!(resolved.projects[0].workflow.apply_steps().len(), 2);
}

#[test]
fn delete_source_branch_on_merge_as_the_policy_says_needs_no_leave() {
    // Real repositories write the default out; only a change of it needs the policy's leave.
    let parse = |text: &str| parse_repo_config("atlantis.yaml", text).unwrap();
    let kept = parse(
        "version: 3\ndelete_source_branch_on_merge: false\nprojects:\n- dir: .\n  delete_source_branch_on_merge: false\n",
    );
    let resolved = resolve(&permissive(), Some(&kept)).unwrap();
    assert!(!resolved.delete_source_branch_on_merge);
    let changed = parse("version: 3\ndelete_source_branch_on_merge: true\nprojects:\n- dir: .\n");
    let err = resolve(&permissive(), Some(&changed)).unwrap_err();
    assert!(err.to_string().contains("may not override"), "{err}");
}

#[test]
fn atlantis_top_level_switches_are_read_as_atlantis_reads_them() {
    let policy = Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  allowed_overrides: [silence_pr_comments]\n",
    )
    .unwrap()
    .resolve("github.com", "acme/infra", "main");
    let config = parse_repo_config(
        "atlantis.yaml",
        "version: 3\nemoji_reaction: eyes\nrepo_locks:\n  mode: on_plan\nsilence_pr_comments: [apply]\n\
         projects:\n- dir: a\n- dir: b\n  silence_pr_comments: [plan]\n",
    )
    .unwrap();
    // `emoji_reaction` is not done: said, not silently dropped.
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.message.contains("emoji_reaction"))
    );
    let resolved = resolve(&policy, Some(&config)).unwrap();
    // The top level is every project's default; a project's own wins.
    assert_eq!(
        resolved.projects[0].silence_pr_comments,
        [RunCommand::Apply]
    );
    assert_eq!(resolved.projects[1].silence_pr_comments, [RunCommand::Plan]);
    // Repo locks only as Landfall takes them.
    let got = errors(
        "atlantis.yaml",
        "version: 3\nrepo_locks:\n  mode: disabled\n",
    );
    assert!(got[0].contains("repo_locks: {mode: disabled}"), "{got:?}");
}

#[test]
fn projects_may_share_settings_through_yaml_merge_keys() {
    let config = parse_repo_config(
        "atlantis.yaml",
        "version: 3\nprojects:\n- &template\n  name: base\n  dir: base\n  terraform_version: v1.9.8\n  \
         autoplan:\n    when_modified: [\"*.tf\", \"../modules/**/*.tf\"]\n- <<: *template\n  name: confirm\n  \
         dir: confirm\n",
    )
    .unwrap();
    let confirm = &config.projects[1];
    assert_eq!(confirm.name.as_deref(), Some("confirm"));
    assert_eq!(confirm.dir, "confirm");
    assert_eq!(confirm.terraform_version.as_deref(), Some("v1.9.8"));
}

#[test]
fn a_dir_from_the_root_is_the_repositorys_root_as_in_atlantis() {
    let config = parse_repo_config(
        "atlantis.yaml",
        "version: 3\nprojects:\n- dir: /ibm/eu-gb/prod\n- dir: envs/dev\n",
    )
    .unwrap();
    assert_eq!(config.projects[0].dir, "ibm/eu-gb/prod");
    assert!(
        config.warnings[0]
            .message
            .contains("read as `ibm/eu-gb/prod`")
    );
    // The root alone, and `..` above it, are still refused.
    for dir in ["/", "/../etc"] {
        let got = errors(
            "atlantis.yaml",
            &format!("version: 3\nprojects:\n- dir: {dir}\n"),
        );
        assert!(got[0].contains("must be a relative path"), "{dir}: {got:?}");
    }
}

#[test]
fn the_documented_use_cases_parse() {
    let cases = [
        // Disabling autoplanning
        "version: 3\nprojects:\n- dir: project1\n  autoplan:\n    enabled: false\n",
        // Parallel plans and applies
        "version: 3\nparallel_plan: true\nparallel_apply: true\n",
        // Configuring planning
        "version: 3\nprojects:\n- dir: project1\n  autoplan:\n    when_modified: [\"../modules/**/*.tf\", \"*.tf*\"]\n",
        // Workspaces
        "version: 3\nprojects:\n- dir: project1\n  workspace: staging\n- dir: project1\n  workspace: production\n",
        // Terraform versions
        "version: 3\nprojects:\n- dir: project1\n  terraform_version: 0.10.0\n",
        // Order of planning/applying
        "version: 3\nprojects:\n- dir: project1\n  execution_order_group: 2\n- dir: project2\n  execution_order_group: 1\n",
        // Multiple servers: a project restricted to a base branch
        "version: 3\nprojects:\n- name: project\n  branch: /production/\n  dir: infrastructure/production\n",
        // depends_on
        "version: 3\nprojects:\n- name: network\n  dir: network\n- name: app\n  dir: app\n  depends_on: [network]\n",
    ];
    for text in cases {
        let config =
            parse_repo_config("atlantis.yaml", text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        assert!(config.warnings.is_empty(), "{text}: {:?}", config.warnings);
        resolve(&EffectivePolicy::default(), Some(&config)).unwrap();
    }
    let ws = parse_repo_config("atlantis.yaml", cases[3]).unwrap();
    assert_eq!(
        ws.projects
            .iter()
            .map(|p| p.workspace.as_str())
            .collect::<Vec<_>>(),
        ["staging", "production"]
    );
    let off = parse_repo_config("atlantis.yaml", cases[0]).unwrap();
    assert!(!off.projects[0].autoplan.enabled);
    // Atlantis' defaults, and OpenTofu's `.tofu` and `.tofu.json` files.
    assert_eq!(
        off.projects[0].autoplan.when_modified,
        [
            "**/*.tf*",
            "**/*.tofu*",
            "**/terragrunt.hcl",
            "**/.terraform.lock.hcl"
        ]
    );
}

#[test]
fn custom_workflow_steps_in_every_documented_form_parse() {
    let text = r#"version: 3
workflows:
  custom:
    plan:
      steps:
      - env:
          name: TF_VAR_a
          value: one
      - env:
          name: TF_VAR_b
          command: echo two | cat
          shell: bash
          shellArgs: -eo pipefail -c
      - run:
          command: terragrunt plan -out $PLANFILE
          shell: bash
          shellArgs: ["-eu", "-c"]
          output: strip_refreshing
      - init:
          extra_args: ["-upgrade"]
      - show
      - multienv: ./creds.sh
      - multienv:
          command: ./more.sh
          shell: bash
          shellArgs: -c
          output: hide
    apply:
      steps: []
"#;
    let config = parse_repo_config("landfall.yaml", text).unwrap();
    let plan = config.workflows["custom"].plan.clone().unwrap();
    assert_eq!(plan.len(), 7);
    assert_eq!(plan[4], Step::Show);
    assert!(
        matches!(&plan[5], Step::Multienv(ShellCommand { command, shell: None, output: RunOutput::Show, .. }) if command == "./creds.sh")
    );
    assert!(
        matches!(&plan[6], Step::Multienv(ShellCommand { command, shell: Some(s), shell_args, output: RunOutput::Hide }) if command == "./more.sh" && s == "bash" && shell_args == &["-c"])
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert!(
        matches!(&plan[1], Step::Env { shell: Some(s), shell_args, .. } if s == "bash" && shell_args == &["-eo", "pipefail", "-c"])
    );
    assert!(
        matches!(&plan[2], Step::Run(ShellCommand { shell: Some(s), shell_args, output: RunOutput::StripRefreshing, .. }) if s == "bash" && shell_args.len() == 2)
    );
    assert_eq!(config.workflows["custom"].apply, Some(vec![]));
}

/// A stage, or its `steps`, left empty means the default steps, as Atlantis reads it ("if a
/// plan or apply explicitly defines an empty steps key then it gets the defaults"); so does an
/// empty `when_modified`. An empty list is a stage that runs nothing.
#[test]
fn empty_keys_mean_the_defaults_as_in_atlantis() {
    let text = r"version: 3
projects:
- dir: app
  autoplan:
    when_modified:
workflows:
  custom:
    plan:
    apply:
      steps:
    import:
      steps: []
";
    let config = parse_repo_config("atlantis.yaml", text).unwrap();
    let custom = &config.workflows["custom"];
    assert_eq!(
        (&custom.plan, &custom.apply),
        (&None, &None),
        "default steps"
    );
    assert_eq!(custom.import, Some(vec![]));
    let defaults = landfall_function::repo_config::Autoplan::default();
    assert_eq!(
        config.projects[0].autoplan.when_modified,
        defaults.when_modified
    );
    assert!(!config.projects[0].autoplan.when_modified.is_empty());
}

#[test]
fn a_glob_dir_is_refused_rather_than_never_planned() {
    let errors = errors("atlantis.yaml", "version: 3\nprojects:\n- dir: envs/*\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("`dir: envs/*` is a pattern"),
        "{errors:?}"
    );
}

fn errors(file: &str, text: &str) -> Vec<String> {
    parse_repo_config(file, text)
        .unwrap_err()
        .errors()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn invalid_files_are_reported_with_their_line_and_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "projects:\n- dir: a\n",
            "atlantis.yaml:1: error: `version` is required",
        ),
        (
            "version: 4\n",
            "atlantis.yaml:1: error: unsupported `version: 4`",
        ),
        (
            "version: 3\nprojets:\n- dir: a\n",
            "atlantis.yaml:2: error: unknown key `projets` in the top level\n  help: did you mean `projects`?",
        ),
        (
            "version: 3\nprojects:\n- workspace: a\n",
            "atlantis.yaml:3: error: each project needs `dir`",
        ),
        (
            "version: 3\nprojects:\n- dir: ../outside\n",
            "atlantis.yaml:3: error: `dir: ../outside` must be a relative path inside the repository",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  autoplan:\n    enabled: yes\n",
            "atlantis.yaml:5: error: `autoplan.enabled` must be true or false",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  apply_requirements: [approved, reviewed]\n",
            "atlantis.yaml:4: error: unknown requirement `reviewed` in `apply_requirements`",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  branch: /ma(in/\n",
            "atlantis.yaml:4: error: `branch: /ma(in/` is not a valid regex",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  autoplan:\n    when_modified: [\"a/[b\"]\n",
            "atlantis.yaml:5: error: `when_modified` pattern `a/[b` is invalid",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n- dir: a/\n",
            "atlantis.yaml:4: error: two projects have dir `a` and workspace `default` (the other on line 3)",
        ),
        (
            "version: 3\nprojects:\n- name: x\n  dir: a\n- name: x\n  dir: b\n",
            "atlantis.yaml:5: error: project name `x` is used twice (first on line 3)",
        ),
        (
            "version: 3\nprojects:\n- name: x\n  dir: a\n  depends_on: [y]\n",
            "atlantis.yaml:3: error: `depends_on` names `y`",
        ),
        (
            "version: 3\nprojects:\n  dir: a\n",
            "atlantis.yaml:3: error: `projects` must be a list, found a mapping",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  dir: b\n",
            "atlantis.yaml:4: error: invalid YAML: duplicate key `dir` (first set on line 3)",
        ),
        (
            "version: 3\nprojects: [\n",
            "atlantis.yaml:3: error: invalid YAML:",
        ),
        (
            "version: 3\nworkflows:\n  w:\n    policy_check:\n      steps:\n      - show\n      - policy_check:\n          extra_args: [--all-namespaces]\n",
            "atlantis.yaml:4: error: the `policy_check` stage of workflow `w` is not supported",
        ),
        (
            "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - env:\n          name: A\n",
            "atlantis.yaml:7: error: step `env` for `A` needs `value` or `command`",
        ),
        (
            "version: 3\nprojects:\n- dir: a\n  execution_order_group: first\n",
            "atlantis.yaml:4: error: `execution_order_group` must be an integer, found `first`",
        ),
        ("", "atlantis.yaml: error: the file is empty"),
    ];
    for (text, expected) in cases {
        let got = errors("atlantis.yaml", text);
        assert!(
            got.iter().any(|e| e.starts_with(expected)),
            "for {text:?}\nexpected an error starting with {expected:?}\ngot {got:#?}"
        );
    }
}

/// `show` and `multienv` are read in Atlantis' forms only; `version` is not a workflow step.
#[test]
fn invalid_steps_are_reported_with_their_line_and_problem() {
    let cases = [
        (
            "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - version\n",
            "atlantis.yaml:6: error: step `version` in stage `plan` of workflow `w` is not supported by Landfall yet",
        ),
        (
            "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - multienv:\n          command: x\n          output: strip_refreshing\n",
            "atlantis.yaml:8: error: `multienv.output` must be show or hide, found `strip_refreshing`",
        ),
        (
            "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - multienv\n",
            "atlantis.yaml:6: error: step `multienv` in stage `plan` of workflow `w` needs a value",
        ),
        (
            "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - show:\n          extra_args: [-no-color]\n",
            "atlantis.yaml:7: error: step `show` in stage `plan` of workflow `w` takes no arguments",
        ),
        (
            "version: 3\nworkflows:\n  w:\n    import:\n      steps:\n      - show\n",
            "atlantis.yaml:6: error: step `show` in stage `import` of workflow `w`: there is no plan to show there",
        ),
        (
            "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - init\n      - show\n      - plan\n",
            "atlantis.yaml:7: error: step `show` in stage `plan` of workflow `w` comes before any step that plans",
        ),
    ];
    for (text, expected) in cases {
        let got = errors("atlantis.yaml", text);
        assert!(
            got.iter().any(|e| e.starts_with(expected)),
            "for {text:?}\nexpected an error starting with {expected:?}\ngot {got:#?}"
        );
    }
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let text = "version: 3\nautomerge: maybe\nprojects:\n- dir: ../abs\n- dir: b\n  wokspace: x\n";
    let got = errors("landfall.yaml", text);
    assert_eq!(got.len(), 3, "{got:#?}");
    let comment = parse_repo_config("landfall.yaml", text)
        .unwrap_err()
        .to_comment();
    assert!(comment.starts_with("**Landfall could not use `landfall.yaml`**: 3 problems"));
    assert!(comment.contains("landfall.yaml:6: error: unknown key `wokspace` in a project"));
    assert!(comment.contains("did you mean `workspace`?"));
}

/// Atlantis' default `policy_check` stage is what Landfall evaluates: accepted, with a warning
/// that it is not needed; a custom one is an error (see the errors above).
#[test]
fn the_default_policy_check_stage_is_accepted_with_a_warning() {
    for stage in [
        "steps: [show, policy_check]",
        "steps:\n      - policy_check",
        "",
    ] {
        let text = format!("version: 3\nworkflows:\n  w:\n    policy_check:\n      {stage}\n");
        let config =
            parse_repo_config("atlantis.yaml", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        let said: Vec<&str> = config.warnings.iter().map(|w| w.message.as_str()).collect();
        assert!(
            said.iter().any(|w| w.contains("Atlantis' default")),
            "{text}: {said:?}"
        );
    }
}

/// `import` and `state rm` without a stage of their own repeat only the plan stage's `init`: a
/// plan stage that `run`, `env` or `multienv` steps prepare (a backend, credentials) needs the
/// stage spelled out, or the state they edit may not be the one the plan read.
#[test]
fn a_plan_stage_prepared_by_its_own_steps_needs_an_import_stage() {
    let text = r"version: 3
workflows:
  by_multienv:
    plan:
      steps: [{multienv: ./backend.sh}, init, plan]
  by_env:
    plan:
      steps: [{env: {name: A, value: b}}, init, plan]
  spelled_out:
    plan:
      steps: [{multienv: ./backend.sh}, init, plan]
    import:
      steps: [{multienv: ./backend.sh}, init, import]
  plain:
    plan:
      steps: [init, plan, show]
";
    let config = parse_repo_config("atlantis.yaml", text).unwrap();
    let missing = |name: &str, command| config.workflows[name].state_stage_missing(command);
    for command in [RunCommand::Import, RunCommand::StateRm] {
        let why = missing("by_multienv", command).expect("refused");
        assert!(why.contains("a `multienv` step"), "{why}");
        let why = missing("by_env", command).expect("refused");
        assert!(why.contains("`env` step"), "{why}");
        assert_eq!(missing("plain", command), None);
    }
    assert_eq!(missing("spelled_out", RunCommand::Import), None);
    assert!(missing("spelled_out", RunCommand::StateRm).is_some());
}
