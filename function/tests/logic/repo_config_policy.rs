//! The server-side policy (`repos.yaml`) enforced the way Atlantis enforces it: restricted keys
//! refused without its leave, `allowed_overrides`, custom and allowed workflows, the server-side
//! default workflow, and Atlantis' documented server-side example and every key of its reference
//! read (a value asking for what Landfall does not do refused saying so, an invalid policy named by
//! its line).

use landfall_function::repo_config::{
    EffectivePolicy, OverrideKey, Policy, Requirement, ShellCommand, Step, load, parse_repo_config,
    resolve,
};
use landfall_function::run::RunCommand;

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
        matches!(&resolved.projects[0].workflow.apply_steps()[0], Step::Run(ShellCommand { command, .. }) if command == "my custom apply command")
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
