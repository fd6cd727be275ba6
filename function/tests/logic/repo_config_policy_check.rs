//! A server-side workflow's `policy_check` stage, read as Atlantis passes conftest its flags:
//! `--namespace`/`-n` and `--all-namespaces` choose the packages every plan of the workflow is
//! checked against (Atlantis' documented example among them), and the rules then run for real.
//! Anything else in the stage stops the policy from loading: an argument that would not run
//! could let pass what conftest fails. A repository's own workflow keeps the operator's choice.

use landfall_function::repo_config::{Policy, parse_repo_config, resolve};
use landfall_function::run::policy::{Namespaces, PolicyModule, PolicySet, evaluate};

/// Atlantis' "Policy Checking" example, `--all-namespaces` and a `-p` naming the set's folder.
const DOCUMENTED: &str = r#"repos:
  - id: github.com/myorg/example-repo
    workflow: custom
policies:
  owners:
    users:
      - example-dev
  policy_sets:
    - name: example-conf-tests
      path: /home/atlantis/conftest_policies  # Consider separate vcs & mount into container
      source: local
workflows:
  custom:
    plan:
      steps:
        - init
        - plan
    policy_check:
      steps:
        - policy_check:
            extra_args: ["-p /home/atlantis/conftest_policies/", "--all-namespaces"]
"#;

fn namespaces_of(policy: &str, repo_file: Option<&str>) -> Namespaces {
    let policy = Policy::parse("repos.yaml", policy).unwrap();
    let effective = policy.resolve("github.com", "myorg/example-repo", "main");
    let text = repo_file.unwrap_or("version: 3\nprojects:\n- dir: .\n");
    let config = parse_repo_config("atlantis.yaml", text).unwrap();
    let resolved = resolve(&effective, Some(&config)).unwrap();
    resolved.projects[0].workflow.policy_namespaces()
}

fn with_stage(extra_args: &str) -> String {
    format!(
        "repos:\n- id: /.*/\n  workflow: checked\npolicies:\n  policy_sets:\n  - name: s\n    path: ./policies/\n    source: local\nworkflows:\n  checked:\n    policy_check:\n      steps:\n      - show\n      - policy_check:\n          extra_args: {extra_args}\n"
    )
}

#[test]
fn the_documented_example_checks_every_package_and_its_rules_run() {
    let namespaces = namespaces_of(DOCUMENTED, None);
    assert_eq!(namespaces, Namespaces::All);
    let module = |path: &str, package: &str| PolicyModule {
        path: path.to_owned(),
        text: format!(
            "package {package}\n\ndeny contains msg if {{\n  some rc in input.resource_changes\n  \"delete\" in rc.change.actions\n  msg := sprintf(\"%s is deleted\", [rc.address])\n}}\n"
        ),
    };
    let set = PolicySet {
        name: "example-conf-tests".to_owned(),
        modules: vec![module("aws.rego", "terraform.aws")],
        namespaces,
    };
    let plan = std::fs::read_to_string(landfall_e2e::corpus(
        "terraform-show-json/basic-delete/output.json",
    ))
    .unwrap();
    let result = evaluate(std::slice::from_ref(&set), &plan).remove(0);
    assert!(!result.passed(), "{result:?}");
    assert!(
        result.failures[0].starts_with("terraform.aws: "),
        "{result:?}"
    );
    // Without the stage, conftest's default reads `main` only, where this set has no rule.
    let default = PolicySet {
        namespaces: Namespaces::default(),
        ..set
    };
    let result = evaluate(&[default], &plan).remove(0);
    assert!(result.error.unwrap().contains("would check nothing"));
}

#[test]
fn named_packages_are_read_in_every_spelling_conftest_takes() {
    for args in [
        r#"["--namespace terraform.aws", "-n gcp,k8s"]"#,
        r#"["--namespace=terraform.aws,gcp", "-n=k8s"]"#,
        r#"["-n", "terraform.aws", "--namespace", "gcp", "-n", "k8s", "-p", "policies"]"#,
    ] {
        let mut names = match namespaces_of(&with_stage(args), None) {
            Namespaces::Named(names) => names,
            Namespaces::All => panic!("{args}: all"),
        };
        names.sort();
        assert_eq!(names, ["gcp", "k8s", "terraform.aws"], "{args}");
    }
    // `--all-namespaces` wins over names, as in conftest; `=false` leaves them.
    assert_eq!(
        namespaces_of(&with_stage(r#"["-n aws", "--all-namespaces"]"#), None),
        Namespaces::All
    );
    assert_eq!(
        namespaces_of(&with_stage(r#"["-n aws", "--all-namespaces=false"]"#), None),
        Namespaces::Named(vec!["aws".to_owned()])
    );
}

/// What Landfall cannot honour stops the policy from loading, naming the line.
#[test]
fn an_argument_or_step_that_would_not_run_stops_the_policy() {
    // The step is on line 14 of the policy, its `extra_args` on line 15.
    for (args, at, expected) in [
        (
            r#"["--combine"]"#,
            14,
            "`--combine` is not an argument Landfall can honour",
        ),
        (r#"["--all-namespaces", "--no-fail"]"#, 14, "`--no-fail`"),
        (r#"["-n"]"#, 14, "`-n` needs a package name"),
        (r#"["-n", "main]; x := ["]"#, 14, "is not a package name"),
        (r#"["-n", "$NAMESPACE"]"#, 14, "is not a package name"),
        (r#"["--all-namespaces=yes"]"#, 14, "takes `true` or `false`"),
        (r#"["-é"]"#, 14, "`-é` is not an argument"),
        (
            r#"["-p /etc/other"]"#,
            14,
            "`-p /etc/other` in the `policy_check` stage of workflow `checked` is not the folder of policy set `s`",
        ),
        (r#"["-n 'unterminated"]"#, 15, "unterminated quote"),
    ] {
        let err = Policy::parse("repos.yaml", &with_stage(args)).unwrap_err();
        assert!(err.to_string().contains(expected), "{args}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("repos.yaml:{at}: error: ")),
            "{args}: {err}"
        );
    }
    for (stage, expected) in [
        (
            "      - run: conftest test $SHOWFILE\n",
            "may hold only `show` and `policy_check` steps",
        ),
        (
            "      - policy_check\n      - policy_check:\n          extra_args: [--all-namespaces]\n",
            "more than one `policy_check` step",
        ),
        (
            "      - policy_check:\n          args: [--all-namespaces]\n",
            "`args`",
        ),
    ] {
        let text = format!(
            "repos:\n- id: /.*/\nworkflows:\n  w:\n    policy_check:\n      steps:\n{stage}"
        );
        let err = Policy::parse("repos.yaml", &text).unwrap_err();
        assert!(err.to_string().contains(expected), "{stage}: {err}");
    }
}

/// pflag's other spellings: a value joined to `-n`, and its boolean words.
#[test]
fn pflags_joined_values_and_boolean_words_are_read() {
    assert_eq!(
        namespaces_of(&with_stage(r#"["-naws", "-n=gcp"]"#), None),
        Namespaces::Named(vec!["aws".to_owned(), "gcp".to_owned()])
    );
    for yes in ["1", "t", "True", "TRUE"] {
        let args = format!(r#"["--all-namespaces={yes}"]"#);
        assert_eq!(namespaces_of(&with_stage(&args), None), Namespaces::All);
    }
    assert_eq!(
        namespaces_of(&with_stage(r#"["-n aws", "--all-namespaces=F"]"#), None),
        Namespaces::Named(vec!["aws".to_owned()])
    );
}

/// Choosing a workflow (`allowed_overrides: [workflow]`) never drops a package the workflow the
/// policy gives the repository reads: not with `default`, nor with a narrower server workflow.
#[test]
fn choosing_a_workflow_never_narrows_the_packages() {
    let policy = "repos:\n- id: /.*/\n  workflow: strict\n  allowed_overrides: [workflow]\nworkflows:\n  strict:\n    policy_check:\n      steps:\n      - policy_check:\n          extra_args: [--all-namespaces]\n  aws:\n    policy_check:\n      steps:\n      - policy_check:\n          extra_args: [-n, aws]\n";
    for chosen in ["default", "aws", "strict"] {
        let repo = format!("version: 3\nprojects:\n- dir: .\n  workflow: {chosen}\n");
        assert_eq!(
            namespaces_of(policy, Some(&repo)),
            Namespaces::All,
            "{chosen}"
        );
    }
    // Under the built-in default (`main`), a narrower workflow adds its packages to `main`.
    let policy = policy.replace("  workflow: strict\n", "");
    let repo = "version: 3\nprojects:\n- dir: .\n  workflow: aws\n";
    assert_eq!(
        namespaces_of(&policy, Some(repo)),
        Namespaces::Named(vec!["aws".to_owned(), "main".to_owned()])
    );
}

/// A repository's file cannot narrow the packages: its stage is refused, and its own workflow
/// (with `allow_custom_workflows`) keeps the stage of the workflow the policy gives it.
#[test]
fn a_repository_keeps_the_packages_the_operator_chose() {
    let stage = "version: 3\nworkflows:\n  mine:\n    policy_check:\n      steps:\n      - policy_check:\n          extra_args: [--namespace, nothing]\n";
    let err = parse_repo_config("atlantis.yaml", stage).unwrap_err();
    assert!(
        err.to_string()
            .contains("not supported in a repository's file"),
        "{err}"
    );
    let policy = DOCUMENTED.replace(
        "    workflow: custom\n",
        "    workflow: custom\n    allowed_overrides: [workflow]\n    allow_custom_workflows: true\n",
    );
    let own = "version: 3\nprojects:\n- dir: .\n  workflow: mine\nworkflows:\n  mine:\n    plan:\n      steps: [init, plan]\n";
    assert_eq!(namespaces_of(&policy, Some(own)), Namespaces::All);
}
