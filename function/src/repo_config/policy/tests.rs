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
