//! The repo-level config: Atlantis' documented `atlantis.yaml` v3 examples read as they are,
//! invalid files reported with their line and problem, and the server-side policy enforced the
//! way Atlantis enforces it.

use landfall_function::repo_config::{
    EffectivePolicy, OverrideKey, Policy, Requirement, RunOutput, Step, load, parse_repo_config,
    resolve,
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
        matches!(&plan[0], Step::Run { command, output: RunOutput::Show, .. } if command == "my-custom-command arg1 arg2")
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
          command: echo two
      - run:
          command: terragrunt plan -out $PLANFILE
          shell: bash
          shellArgs: ["-eu", "-c"]
          output: strip_refreshing
      - init:
          extra_args: ["-upgrade"]
    apply:
      steps: []
"#;
    let config = parse_repo_config("landfall.yaml", text).unwrap();
    let plan = config.workflows["custom"].plan.clone().unwrap();
    assert_eq!(plan.len(), 4);
    assert!(
        matches!(&plan[2], Step::Run { shell: Some(s), shell_args, output: RunOutput::StripRefreshing, .. } if s == "bash" && shell_args.len() == 2)
    );
    assert_eq!(config.workflows["custom"].apply, Some(vec![]));
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
            "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - multienv: x\n",
            "atlantis.yaml:6: error: step `multienv` in stage `plan` of workflow `w` is not supported by Landfall yet",
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

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let text = "version: 3\nautomerge: maybe\nprojects:\n- dir: /abs\n- dir: b\n  wokspace: x\n";
    let got = errors("landfall.yaml", text);
    assert_eq!(got.len(), 3, "{got:#?}");
    let comment = parse_repo_config("landfall.yaml", text)
        .unwrap_err()
        .to_comment();
    assert!(comment.starts_with("**Landfall could not use `landfall.yaml`**: 3 problems"));
    assert!(comment.contains("landfall.yaml:6: error: unknown key `wokspace` in a project"));
    assert!(comment.contains("did you mean `workspace`?"));
}

#[test]
fn restricted_keys_are_refused_without_the_policys_leave_naming_key_line_and_fix() {
    let text = "version: 3\nprojects:\n- dir: prod\n  apply_requirements: []\n  workflow: fast\n";
    let config = parse_repo_config("atlantis.yaml", text).unwrap();
    let policy = Policy::parse("/etc/landfall/repos.yaml", "repos:\n- id: /.*/\n  apply_requirements: [approved]\nworkflows:\n  fast:\n    plan:\n      steps: [plan]\n").unwrap();
    let effective = policy.resolve("github.com", "acme/infra", "main");
    let err = resolve(&effective, Some(&config)).unwrap_err();
    let got: Vec<String> = err.errors().map(ToString::to_string).collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(
        got[0],
        "atlantis.yaml:4: error: project `prod` sets `apply_requirements`, which this repository may not override\n  help: to allow it, add `apply_requirements` to `allowed_overrides` for this repository in the server-side policy `/etc/landfall/repos.yaml` (LANDFALL_POLICY); or remove `apply_requirements` from this project"
    );
    assert!(got[1].starts_with("atlantis.yaml:5: error: project `prod` sets `workflow`"));
}

#[test]
fn allowed_overrides_let_the_repo_set_requirements_and_pick_server_workflows() {
    let text = "version: 3\nprojects:\n- dir: staging\n- dir: production\n  apply_requirements: []\n  workflow: fast\n";
    let config = parse_repo_config("atlantis.yaml", text).unwrap();
    let policy = Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  apply_requirements: [approved, mergeable]\n- id: github.com/acme/infra\n  allowed_overrides: [apply_requirements, workflow]\nworkflows:\n  fast:\n    plan:\n      steps: [init, plan]\n",
    )
    .unwrap();
    let resolved = resolve(
        &policy.resolve("github.com", "acme/infra", "main"),
        Some(&config),
    )
    .unwrap();
    assert_eq!(
        resolved.projects[0].apply_requirements,
        [Requirement::Approved, Requirement::Mergeable]
    );
    assert!(resolved.projects[1].apply_requirements.is_empty());
    assert_eq!(resolved.projects[1].workflow_name, "fast");
    assert!(
        policy
            .resolve("github.com", "acme/infra", "main")
            .allowed_overrides
            .contains(&OverrideKey::Workflow)
    );
}

#[test]
fn repo_defined_workflows_need_allow_custom_workflows() {
    let text = "version: 3\nprojects:\n- dir: .\n  workflow: custom1\nworkflows:\n  custom1:\n    plan:\n      steps:\n      - init\n      - run: my custom plan command\n";
    let config = parse_repo_config("atlantis.yaml", text).unwrap();
    let only_override = Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  allowed_overrides: [workflow]\n",
    )
    .unwrap();
    let err = resolve(
        &only_override.resolve("github.com", "a/b", "main"),
        Some(&config),
    )
    .unwrap_err();
    let got: Vec<String> = err.errors().map(ToString::to_string).collect();
    assert!(
        got[0].starts_with("atlantis.yaml:4: error: workflow `custom1` is not defined"),
        "{got:#?}"
    );
    assert!(
        got[1].starts_with(
            "atlantis.yaml:5: error: this repository may not define its own `workflows`"
        ),
        "{got:#?}"
    );
    assert!(got[1].contains("allow_custom_workflows: true"));

    let custom = Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  allowed_overrides: [workflow]\n  allow_custom_workflows: true\n",
    )
    .unwrap();
    let resolved = resolve(&custom.resolve("github.com", "a/b", "main"), Some(&config)).unwrap();
    assert_eq!(resolved.projects[0].workflow.plan_steps().len(), 2);
}

#[test]
fn allowed_workflows_restricts_which_server_workflows_a_repo_may_pick() {
    let policy = Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  allowed_overrides: [workflow]\n- id: /my_repo/\n  allowed_overrides: [workflow]\n  allowed_workflows: [custom1]\nworkflows:\n  custom1:\n    plan:\n      steps: [init]\n  custom2:\n    plan:\n      steps: [plan]\n",
    )
    .unwrap();
    let config = parse_repo_config(
        "atlantis.yaml",
        "version: 3\nprojects:\n- dir: .\n  workflow: custom2\n",
    )
    .unwrap();
    assert!(
        resolve(
            &policy.resolve("github.com", "acme/other", "main"),
            Some(&config)
        )
        .is_ok()
    );
    let err = resolve(
        &policy.resolve("github.com", "acme/my_repo", "main"),
        Some(&config),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("workflow `custom2` is not allowed for this repository"),
        "{err}"
    );
}

#[test]
fn the_server_side_default_workflow_replaces_the_builtin_one() {
    let policy = Policy::parse(
        "repos.yaml",
        "workflows:\n  default:\n    plan:\n      steps:\n      - init\n      - run: my custom plan command\n    apply:\n      steps:\n      - run: my custom apply command\n",
    )
    .unwrap();
    let resolved = load(
        &policy.resolve("github.com", "a/b", "main"),
        Some(("atlantis.yaml", "version: 3\nprojects:\n- dir: .\n")),
    )
    .unwrap();
    assert!(
        matches!(&resolved.projects[0].workflow.apply_steps()[0], Step::Run { command, .. } if command == "my custom apply command")
    );
}

#[test]
fn no_repo_file_means_autodiscovery_with_the_policy_defaults() {
    let resolved = load(&EffectivePolicy::default(), None).unwrap();
    assert!(resolved.autodiscover());
    assert!(resolved.file.is_none());
}

fn e_has_switches(policy: &Policy) -> bool {
    let e = policy.resolve("github.com", "acme/other", "main");
    e.delete_source_branch_on_merge && e.autodiscover.is_some_and(|a| a.ignores("foo/x"))
}

#[test]
fn the_documented_server_side_example_parses_and_reports_what_it_ignores() {
    let text = r"repos:
- id: /.*/
  branch: /.*/
  repo_config_file: path/to/atlantis.yaml
  plan_requirements: [approved, mergeable, undiverged]
  apply_requirements: [approved, mergeable, undiverged]
  import_requirements: [approved, mergeable, undiverged]
  workflow: custom
  allowed_overrides: [apply_requirements, workflow, delete_source_branch_on_merge, repo_locking, repo_locks, custom_policy_check]
  allowed_workflows: [custom]
  allow_custom_workflows: true
  delete_source_branch_on_merge: true
  repo_locking: true
  repo_locks:
    mode: on_plan
  custom_policy_check: false
  pre_workflow_hooks:
    - run: my-pre-workflow-hook-command arg1
  post_workflow_hooks:
    - run: my-post-workflow-hook-command arg1
  policy_check: false
  autodiscover:
    mode: auto
    ignore_paths:
      - foo/*
- id: github.com/myorg/specific-repo
workflows:
  custom:
    plan:
      steps:
      - run: my-custom-command arg1 arg2
      - init
      - plan:
          extra_args: [-lock, false]
      - run: my-custom-command arg1 arg2
    apply:
      steps:
      - run: echo hi
      - apply
";
    let policy = Policy::parse("repos.yaml", text).unwrap();
    assert_eq!(policy.repos.len(), 2);
    // Every key is implemented: nothing is ignored.
    assert!(policy.warnings.is_empty(), "{:#?}", policy.warnings);
    assert!(e_has_switches(&policy));
    let e = policy.resolve("github.com", "myorg/specific-repo", "main");
    assert_eq!(e.workflow, "custom");
    assert_eq!(e.repo_config_file.as_deref(), Some("path/to/atlantis.yaml"));
    assert_eq!(e.apply_requirements.len(), 3);
    assert_eq!(e.import_requirements.len(), 3);
    assert!(e.allow_custom_workflows);
}

#[test]
fn import_and_state_rm_stages_and_requirements_are_read() {
    let policy = Policy::parse(
        "repos.yaml",
        "repos:
- id: /.*/
  import_requirements: [approved]
  allowed_overrides: [import_requirements, workflow]
  allow_custom_workflows: true
",
    )
    .unwrap();
    let text = "version: 3
projects:
- dir: infra
  workflow: tg
  import_requirements: [mergeable]
- dir: other
workflows:
  tg:
    import:
      steps:
      - run: terragrunt init
      - import:
          extra_args: [-var-file=prod.tfvars]
    state_rm:
      steps: [init, state_rm]
";
    let config = load(
        &policy.resolve("github.com", "acme/infra", "main"),
        Some(("atlantis.yaml", text)),
    )
    .unwrap();
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    let infra = &config.projects[0];
    assert_eq!(infra.import_requirements, [Requirement::Mergeable]);
    assert_eq!(
        infra.workflow.import.as_deref(),
        Some(
            &[
                Step::run("terragrunt init"),
                Step::Import {
                    extra_args: vec!["-var-file=prod.tfvars".to_owned()]
                }
            ][..]
        )
    );
    assert_eq!(
        infra.workflow.state_rm.as_deref(),
        Some(
            &[
                Step::Init {
                    extra_args: Vec::new()
                },
                Step::StateRm {
                    extra_args: Vec::new()
                }
            ][..]
        )
    );
    // The policy's default holds where the repo file says nothing.
    assert_eq!(
        config.projects[1].import_requirements,
        [Requirement::Approved]
    );
}

#[test]
fn an_invalid_policy_names_its_line() {
    let err = Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  allowed_overrides: [apply_requirement]\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("repos.yaml:3: error: `allowed_overrides` lists `apply_requirement`"),
        "{err}"
    );
    let err = Policy::parse("repos.yaml", "repos:\n- branch: main\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("repos.yaml:2: error: each `repos` entry needs `id`"),
        "{err}"
    );
}

/// Every key of Atlantis' server-side reference, at values Landfall implements.
const EVERY_SERVER_SIDE_KEY: &str = r#"repos:
- id: /.*/
  branch: /.*/
  repo_config_file: path/to/atlantis.yaml
  plan_requirements: [approved, mergeable, undiverged]
  apply_requirements: [approved, mergeable, undiverged]
  import_requirements: [approved, mergeable, undiverged]
  workflow: custom
  allowed_overrides: [apply_requirements, plan_requirements, import_requirements, workflow, delete_source_branch_on_merge, repo_locking, repo_locks, policy_check, custom_policy_check, silence_pr_comments]
  allowed_workflows: [custom]
  allow_custom_workflows: true
  delete_source_branch_on_merge: true
  repo_locking: true
  repo_locks:
    mode: on_plan
  custom_policy_check: false
  policy_check: false
  autodiscover:
    mode: auto
    ignore_paths:
    - foo/*
  silence_pr_comments: [plan, apply]
  pre_workflow_hooks:
  - run: my-pre-workflow-hook-command arg1
  post_workflow_hooks:
  - run: my-post-workflow-hook-command arg1
- id: github.com/myorg/specific-repo
workflows:
  custom:
    plan:
      steps:
      - run: my-custom-command arg1 arg2
      - init
      - plan:
          extra_args: ["-lock", "false"]
    apply:
      steps:
      - run: echo hi
      - apply
metrics:
  statsd:
    host: localhost
    port: 8125
"#;

#[test]
fn every_documented_key_is_read_and_the_implemented_ones_take_effect() {
    let p = Policy::parse("repos.yaml", EVERY_SERVER_SIDE_KEY).unwrap();
    let e = p.resolve("github.com", "acme/infra", "main");
    assert!(
        e.allowed_overrides
            .contains(&OverrideKey::SilencePrComments)
    );
    assert_eq!(e.silence_pr_comments, [RunCommand::Plan, RunCommand::Apply]);
    assert!(e.delete_source_branch_on_merge);
    let auto = e.autodiscover.unwrap();
    assert!(auto.ignores("foo/bar") && !auto.ignores("bar"));
    // Only `metrics`, which Landfall does not send, is a warning.
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].message.contains("metrics"));
}

#[test]
fn a_value_asking_for_what_landfall_does_not_do_is_refused_saying_so() {
    for (yaml, says) in [
        ("  repo_locks:\n    mode: on_apply\n", "always locks"),
        ("  repo_locks:\n    mode: disabled\n", "always locks"),
        ("  repo_locking: false\n", "always locks"),
        ("  custom_policy_check: true\n", "no custom policy command"),
        ("  policy_check: maybe\n", "policy_check"),
        (
            "  silence_pr_comments: [import]\n",
            "not a command it can silence",
        ),
        ("  autodiscover:\n    mode: sometimes\n", "not a mode"),
    ] {
        let err = Policy::parse("p", &format!("repos:\n- id: /.*/\n{yaml}")).unwrap_err();
        assert!(err.to_string().contains(says), "{yaml}: {err}");
    }
    // Policy sets are checked now; only a source Landfall cannot read is refused.
    let err = Policy::parse(
        "p",
        "policies:\n  owners:\n    users: [a]\n  policy_sets:\n  - name: s\n    path: p\n    source: github\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("`source: github` is not supported"),
        "{err}"
    );
    let checked = "policies:\n  policy_sets:\n  - name: s\n    path: p\n    source: local\nrepos:\n- id: /.*/\n- id: acme/sandbox\n  policy_check: false\n";
    let p = Policy::parse("p", checked).unwrap();
    assert!(
        p.resolve("github.com", "acme/infra", "main")
            .policy_checks
            .is_some()
    );
    assert!(
        p.resolve("github.com", "acme/sandbox", "main")
            .policy_checks
            .is_none(),
        "the operator left one repository out"
    );
    let err = Policy::parse("p", "team_authz:\n  command: ./check\n").unwrap_err();
    assert!(err.to_string().contains("team_authz"), "{err}");
}
