//! The operator policy's authorization keys (`permissions`, `allow_fork_prs`) and every
//! requirement value Atlantis documents: each works or stops the load with an error naming it.

use landfall_function::authz::{Permissions, Rule};
use landfall_function::repo_config::{EffectivePolicy, Policy, Requirement, load};
use landfall_function::vcs::Access;

fn resolve(text: &str) -> EffectivePolicy {
    Policy::parse("repos.yaml", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .resolve("github.com", "acme/infra", "main")
}

fn policy_error(text: &str) -> String {
    Policy::parse("repos.yaml", text)
        .expect_err("the policy must be refused")
        .to_string()
}

#[test]
fn without_a_policy_writers_may_run_everything_and_forks_are_refused() {
    assert_eq!(
        EffectivePolicy::default().permissions,
        Permissions::default()
    );
    assert_eq!(
        resolve("repos:\n- id: /.*/\n").permissions,
        Permissions::default()
    );
}

#[test]
fn permissions_widen_and_narrow_per_command_and_later_entries_override() {
    let p = resolve(
        "repos:\n\
         - id: /.*/\n  allow_fork_prs: true\n  permissions:\n    apply: {access: nobody, teams: [acme/platform], users: [oncall]}\n    plan: {access: read}\n\
         - id: github.com/acme/infra\n  permissions:\n    unlock: {access: admin}\n",
    );
    assert!(p.permissions.allow_fork_prs);
    assert_eq!(
        p.permissions.apply,
        Rule {
            access: None,
            users: vec!["oncall".to_owned()],
            teams: vec!["acme/platform".to_owned()],
            pr_author: false,
        }
    );
    assert_eq!(p.permissions.plan.access, Some(Access::Read));
    assert!(
        !p.permissions.plan.pr_author,
        "a rule that is set replaces the default"
    );
    assert_eq!(p.permissions.unlock.access, Some(Access::Admin));
    let other = Policy::parse(
        "repos.yaml",
        "repos:\n- id: github.com/acme/infra\n  allow_fork_prs: true\n",
    )
    .unwrap()
    .resolve("github.com", "acme/other", "main");
    assert!(
        !other.permissions.allow_fork_prs,
        "only the matching repository"
    );
}

#[test]
fn bad_permission_values_stop_the_load_naming_the_key() {
    for (text, needle) in [
        (
            "permissions:\n    apply: {access: everyone}",
            "`permissions.apply`.access is `everyone`",
        ),
        (
            "permissions:\n    apply: {teams: [acme platform]}",
            "`permissions.apply`.teams lists `acme platform`",
        ),
        (
            "permissions:\n    apply: {pr_author: true}",
            "pr_author is only for `plan`",
        ),
        ("permissions:\n    destroy: {access: write}", "destroy"),
        (
            "allow_fork_prs: yes-please",
            "`allow_fork_prs` must be true or false",
        ),
    ] {
        let err = policy_error(&format!("repos:\n- id: /.*/\n  {text}\n"));
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // A top-level GitLab group is a team too.
    let p = resolve("repos:\n- id: /.*/\n  permissions:\n    apply: {teams: [acme]}\n");
    assert_eq!(p.permissions.apply.teams, ["acme"]);
}

#[test]
fn every_atlantis_requirement_value_works_or_is_refused_at_load() {
    for (value, expected) in [
        ("approved", Requirement::Approved),
        ("mergeable", Requirement::Mergeable),
        ("undiverged", Requirement::Undiverged),
    ] {
        for key in ["apply_requirements", "plan_requirements"] {
            let p = resolve(&format!("repos:\n- id: /.*/\n  {key}: [{value}]\n"));
            let got = if key == "apply_requirements" {
                p.apply_requirements
            } else {
                p.plan_requirements
            };
            assert_eq!(got, [expected], "{key}: {value}");
        }
    }
    // Atlantis' `policies_passed` gates applies: what Landfall's policy gate does for each.
    let p = resolve("repos:\n- id: /.*/\n  apply_requirements: [approved, policies_passed]\n");
    assert_eq!(
        p.apply_requirements,
        [Requirement::Approved, Requirement::PoliciesPassed]
    );
    for key in ["plan_requirements", "import_requirements"] {
        let err = policy_error(&format!("repos:\n- id: /.*/\n  {key}: [policies_passed]\n"));
        assert!(
            err.contains("`policies_passed`") && err.contains("only `apply_requirements`"),
            "{err}"
        );
    }
    for key in [
        "apply_requirements",
        "plan_requirements",
        "import_requirements",
    ] {
        let err = policy_error(&format!(
            "repos:\n- id: /.*/\n  {key}: [approved, reviewed]\n"
        ));
        assert!(err.contains("unknown requirement `reviewed`"), "{err}");
    }
}

#[test]
fn a_repo_file_cannot_name_a_requirement_landfall_does_not_enforce() {
    let policy = resolve(
        "repos:\n- id: /.*/\n  allowed_overrides: [apply_requirements, plan_requirements]\n",
    );
    for (key, value) in [
        ("plan_requirements", "policies_passed"),
        ("apply_requirements", "signed"),
    ] {
        let text = format!("version: 3\nprojects:\n- dir: app\n  {key}: [{value}]\n");
        let err = load(&policy, Some(("atlantis.yaml", &text)))
            .expect_err("refused")
            .to_string();
        assert!(err.contains(value), "{err}");
    }
    let ok = load(
        &policy,
        Some((
            "atlantis.yaml",
            "version: 3\nprojects:\n- dir: app\n  plan_requirements: [undiverged]\n",
        )),
    )
    .unwrap();
    assert_eq!(ok.projects[0].plan_requirements, [Requirement::Undiverged]);
}
