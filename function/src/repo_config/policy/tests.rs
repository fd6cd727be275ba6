use super::*;

#[test]
fn later_matching_entries_override_only_the_keys_they_set() {
    let p = Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  allow_custom_workflows: true\n  apply_requirements: [approved]\n- id: github.com/owner/repo\n  apply_requirements: []\n",
    )
    .unwrap();
    let e = p.resolve("github.com", "owner/repo", "main");
    assert!(e.apply_requirements.is_empty());
    assert!(e.allow_custom_workflows);
    assert_eq!(e.workflow, "default");
    assert!(e.allowed_overrides.is_empty());
    let other = p.resolve("github.com", "owner/other", "main");
    assert_eq!(other.apply_requirements, [Requirement::Approved]);
}

#[test]
fn an_exact_id_matches_with_or_without_the_host() {
    let p = Policy::parse(
        "p",
        "repos:\n- id: acme/infra\n  apply_requirements: [mergeable]\n",
    )
    .unwrap();
    assert_eq!(
        p.resolve("gitlab.com", "acme/infra", "main")
            .apply_requirements,
        [Requirement::Mergeable]
    );
}

#[test]
fn ids_match_the_repository_however_the_host_spells_its_case() {
    // The allowlist admits `Acme/Infra` for `acme/*`; a rule written `acme/infra` must then hold
    // for it too, not leave it to the looser entries before it.
    let p = Policy::parse(
        "p",
        "repos:\n- id: /.*/\n  apply_requirements: []\n- id: github.com/acme/infra\n  apply_requirements: [approved]\n- id: /^github\\.com\\/acme\\/prod-.*$/\n  apply_requirements: [approved, mergeable]\n",
    )
    .unwrap();
    for repo in ["acme/infra", "Acme/Infra", "ACME/INFRA"] {
        assert_eq!(
            p.resolve("github.com", repo, "main").apply_requirements,
            [Requirement::Approved],
            "{repo}"
        );
    }
    assert_eq!(
        p.resolve("GitHub.com", "ACME/Prod-Network", "main")
            .apply_requirements,
        [Requirement::Approved, Requirement::Mergeable]
    );
    assert!(
        p.resolve("github.com", "acme/infra2", "main")
            .apply_requirements
            .is_empty()
    );
}

#[test]
fn a_branch_restricted_entry_applies_only_to_that_base_branch() {
    let p = Policy::parse(
        "p",
        "repos:\n- id: /.*/\n  branch: /^main$/\n  apply_requirements: [approved]\n",
    )
    .unwrap();
    assert_eq!(p.resolve("h", "a/b", "main").apply_requirements.len(), 1);
    assert!(p.resolve("h", "a/b", "dev").apply_requirements.is_empty());
}

#[test]
fn a_repo_default_workflow_must_be_defined() {
    let err = Policy::parse("p", "repos:\n- id: /.*/\n  workflow: missing\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("`workflow: missing` is not defined"),
        "{err}"
    );
}
