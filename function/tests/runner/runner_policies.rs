//! Policy checks over the corpus' real plans: four policy sets written for these tests after
//! public conftest examples (`policies/`: a v0 `deny`, a v1 `deny_` rule, a `warn`, a
//! `violation` with `msg` objects and a `warn_` rule), loaded the way the function loads the
//! operator's policy (`Policy::load`, paths beside the policy file), evaluated as the runner
//! evaluates them. The results are snapshotted per plan.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use landfall_e2e::git;
use landfall_function::repo_config::{Policy, PolicyError};
use landfall_function::run::RunStatus;
use landfall_function::run::policy::{
    Namespaces, PolicyModule, PolicySet, PolicySetResult, evaluate,
};

use super::runner_e2e::Fixture;

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runner/policies")
}

/// The operator's policy file in `dir`, naming `sets` (name, path) beside it.
fn policy_file(dir: &Path, sets: &[(&str, &str)]) -> PathBuf {
    let mut text =
        String::from("policies:\n  owners:\n    users: [security-lead]\n  policy_sets:\n");
    for (name, path) in sets {
        let _ = write!(
            text,
            "  - name: {name}\n    path: {path}\n    source: local\n"
        );
    }
    let file = dir.join("repos.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

fn load(sets: &[(&str, &str)]) -> Result<Policy, PolicyError> {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("policies");
    copy_dir(&policies_dir(), &base);
    Policy::load(&policy_file(dir.path(), sets))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

const SETS: [(&str, &str); 4] = [
    ("no-destroy", "policies/no_destroy"),
    ("tags", "policies/tags"),
    ("instances", "policies/instances/instance_types.rego"),
    ("gke", "policies/gke"),
];

#[derive(serde::Serialize)]
struct Snapshot<'a> {
    plan: &'a str,
    results: Vec<PolicySetResult>,
}

#[test]
fn the_corpus_plans_against_real_style_policies() {
    let policy = load(&SETS).unwrap();
    let checks = policy.policy_checks.clone().expect("the policies section");
    let sets = checks.policy_sets();
    assert_eq!(sets.len(), 4);
    assert!(
        sets.iter().all(|s| !s.modules.is_empty()),
        "every set read its files"
    );
    for plan in [
        "terraform-show-json/basic-create/output.json",
        "terraform-show-json/basic-delete/output.json",
        "terraform-show-json/drift/output.json",
        "terraform-show-json/multi-resource-update/output.json",
        "terraform-show-json/requires-replace/output.json",
        "terraform-plan-json-infracost/example_plan.json",
        "terraform-plan-json-infracost/terraform_v0.14_plan.json",
        "terraform-plan-json-conftest/gke-show.json",
    ] {
        let json = std::fs::read_to_string(landfall_e2e::corpus(plan)).unwrap();
        let mut results = evaluate(&sets, &json);
        // Each result names the rules it was read with (the snapshots leave that out, so an
        // edit to a test policy changes only what it finds).
        for (result, set) in results.iter_mut().zip(&sets) {
            assert_eq!(result.digest, set.digest(), "{}", set.name);
            result.digest.clear();
        }
        let snapshot = Snapshot { plan, results };
        let name = plan.replace(['/', '.'], "_");
        insta::assert_yaml_snapshot!(name, snapshot);
    }
}

#[test]
fn a_policy_that_does_not_parse_fails_its_set_and_a_missing_path_stops_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("bad.rego"),
        "package main\n\ndeny[msg] {\n  msg := \n",
    )
    .unwrap();
    let policy = Policy::load(&policy_file(dir.path(), &[("broken", "broken")])).unwrap();
    let sets = policy.policy_checks.unwrap().policy_sets();
    let json = std::fs::read_to_string(landfall_e2e::corpus(
        "terraform-show-json/basic-create/output.json",
    ))
    .unwrap();
    let results = evaluate(&sets, &json);
    assert!(!results[0].passed(), "never a silent pass");
    assert!(
        results[0]
            .error
            .as_deref()
            .unwrap()
            .contains("is not valid Rego"),
        "{results:?}"
    );

    let missing = load(&[("gone", "policies/not-there")]).unwrap_err();
    assert!(matches!(missing, PolicyError::PolicySets(_)), "{missing}");
}

/// The operator's policy sets reach the real runner through its environment and are checked
/// over the plan's `terraform show -json`: a failure, a warning, a set that does not parse
/// (reported as an error, never a pass) and a set read in the packages its workflow chose land
/// in the report and the comment.
#[test]
fn the_runner_checks_the_plan_with_the_policy_sets_it_is_given() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let set = |name: &str, text: &str| PolicySet {
        name: name.to_owned(),
        modules: vec![PolicyModule {
            path: format!("{name}/policy.rego"),
            text: text.to_owned(),
        }],
        namespaces: Namespaces::default(),
    };
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.policy_sets = vec![
        set(
            "no-new-data",
            "package main\n\ndeny[msg] {\n  rc := input.resource_changes[_]\n  rc.type == \"terraform_data\"\n  rc.change.actions[_] == \"create\"\n  msg := sprintf(\"%s may not be created\", [rc.address])\n}\n",
        ),
        set(
            "inputs",
            "package main\n\nwarn contains msg if {\n  some rc in input.resource_changes\n  rc.change.after.input == \"v1\"\n  msg := sprintf(\"%s keeps input v1\", [rc.address])\n}\n",
        ),
        set("broken", "package main\n\ndeny[msg] {\n"),
        PolicySet {
            namespaces: Namespaces::All,
            ..set(
                "all-packages",
                "package terraform.data\n\ndeny contains msg if {\n  some rc in input.resource_changes\n  rc.type == \"terraform_data\"\n  msg := sprintf(\"%s is data\", [rc.address])\n}\n",
            )
        },
    ];
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let policies = &report.result.policies;
    assert_eq!(policies.len(), 4, "{policies:?}");
    assert_eq!(
        policies[0].failures,
        ["terraform_data.app may not be created"]
    );
    assert!(policies[1].passed() && policies[1].warnings == ["terraform_data.app keeps input v1"]);
    assert!(!policies[2].passed() && policies[2].error.is_some());
    assert_eq!(
        policies[3].failures,
        ["terraform.data: terraform_data.app is data"]
    );
    assert!(!report.result.policies_passed());
    assert!(
        report
            .comment
            .contains("terraform_data.app may not be created")
            && report.comment.contains("could not be evaluated")
            && report.comment.contains("landfall approve_policies"),
        "{}",
        report.comment
    );
}
