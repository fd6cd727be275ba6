use crate::allowlist::RepoAllowlist;
use crate::event::RepoName;
use crate::repo_config::{
    DriftMode, DriftProjects, DriftSchedule, DriftSettings, EffectivePolicy, Policy,
    ResolvedConfig, ResolvedProject, load, parse_repo_config,
};

const SWEEP_INFRA: &str = "drift:\n  repositories: [acme/infra]\n";

fn policy(text: &str) -> EffectivePolicy {
    Policy::parse("repos.yaml", text)
        .unwrap()
        .resolve("github.com", "acme/infra", "main")
}

fn policy_error(text: &str) -> String {
    Policy::parse("repos.yaml", text).unwrap_err().to_string()
}

fn resolved(policy_text: &str, file: &str) -> ResolvedConfig {
    load(&policy(policy_text), Some(("landfall.yaml", file))).unwrap()
}

fn refused(policy_text: &str, file: &str) -> String {
    load(&policy(policy_text), Some(("landfall.yaml", file)))
        .unwrap_err()
        .to_string()
}

fn checked(schedule: &str, mode: DriftMode) -> DriftSettings {
    DriftSettings {
        schedule: DriftSchedule::parse(schedule).unwrap(),
        mode,
    }
}

fn drifts(config: &ResolvedConfig) -> Vec<Option<DriftSettings>> {
    config.projects.iter().map(|p| p.drift.clone()).collect()
}

#[test]
fn the_policy_section_has_defaults_and_lists_exact_repositories() {
    let p = Policy::parse(
        "repos.yaml",
        "drift:\n  repositories: [acme/infra, group/sub/app, acme/infra]\n",
    )
    .unwrap();
    let drift = p.drift.as_deref().unwrap();
    let names: Vec<&str> = drift.repositories().iter().map(RepoName::as_str).collect();
    assert_eq!(names, ["acme/infra", "group/sub/app"], "deduplicated");
    assert_eq!(drift.schedule.to_string(), "rate(1 day)");
    assert_eq!(drift.mode, DriftMode::Report);
    assert_eq!(drift.projects, DriftProjects::Configured);
    assert!(!drift.allow_remediate);
    let full = Policy::parse(
        "repos.yaml",
        "drift:\n  repositories: []\n  schedule: cron(0 6 * * ? *)\n  mode: remediate\n  projects: all\n  allow_remediate: true\n",
    )
    .unwrap();
    let drift = full.drift.as_deref().unwrap();
    assert_eq!(drift.schedule.to_string(), "cron(0 6 * * ? *)");
    assert_eq!(
        (drift.mode, drift.projects),
        (DriftMode::Remediate, DriftProjects::All)
    );
    assert!(
        Policy::parse("repos.yaml", "repos: []\n")
            .unwrap()
            .drift
            .is_none()
    );
}

#[test]
fn the_policy_section_fails_closed_naming_the_line() {
    let err = policy_error("drift:\n  repositories: [acme/infra]\n  schedul: rate(1 day)\n");
    assert!(
        err.contains(":3: error: unknown key `schedul` in `drift`"),
        "{err}"
    );
    assert!(err.contains("did you mean `schedule`?"), "{err}");
    let err = policy_error("drift:\n  schedule: rate(1 day)\n");
    assert!(
        err.contains(":1: error: `drift` needs `repositories`"),
        "{err}"
    );
    for (name, why) in [
        ("acme/*", "is not an exact name"),
        ("github.com/acme/infra", "starts with a host"),
        ("infra", "is not `owner/name`"),
        ("acme//infra", "is not `owner/name`"),
    ] {
        let err = policy_error(&format!("drift:\n  repositories: ['{name}']\n"));
        let says = format!(":2: error: `drift.repositories` lists `{name}`: it {why}");
        assert!(err.contains(&says), "{name}: {err}");
    }
    for (key, says) in [
        ("schedule: rate(1 hours)", ":3: error: `drift.schedule`"),
        (
            "mode: remediate",
            ":3: error: `drift.mode: remediate` needs `allow_remediate: true`",
        ),
        ("projects: some", "`drift.projects: some` is not a choice"),
    ] {
        let err = policy_error(&format!("drift:\n  repositories: []\n  {key}\n"));
        assert!(err.contains(says), "{key}: {err}");
    }
}

#[test]
fn only_the_swept_repositories_get_the_drift_policy() {
    let p = Policy::parse("repos.yaml", "drift:\n  repositories: [Acme/Infra]\n").unwrap();
    assert!(
        p.resolve("github.com", "acme/infra", "main")
            .drift
            .is_some()
    );
    assert!(
        p.resolve("github.com", "acme/other", "main")
            .drift
            .is_none()
    );
    assert!(EffectivePolicy::default().drift.is_none());
}

#[test]
fn every_swept_repository_must_pass_the_allowlist() {
    let p = Policy::parse(
        "repos.yaml",
        "drift:\n  repositories: [acme/infra, other/app]\n",
    )
    .unwrap();
    let drift = p.drift.as_deref().unwrap();
    assert_eq!(drift.refused_by(&RepoAllowlist::allow_all()), None);
    let only_acme = RepoAllowlist::parse("acme/*").unwrap();
    assert_eq!(
        drift.refused_by(&only_acme).map(RepoName::as_str),
        Some("other/app")
    );
}

#[test]
fn configured_checks_only_projects_with_a_key_and_the_shorthand_turns_it_on_or_off() {
    let file = "version: 3\nprojects:\n- dir: a\n- dir: b\n  drift: true\n- dir: c\n  drift: false\n- dir: d\n  drift:\n    schedule: rate(6 hours)\n    mode: report\n- dir: e\n  drift:\n    enabled: false\n    schedule: rate(2 days)\n";
    let config = resolved(SWEEP_INFRA, file);
    assert_eq!(
        drifts(&config),
        [
            None,
            Some(checked("rate(1 day)", DriftMode::Report)),
            None,
            Some(checked("rate(6 hours)", DriftMode::Report)),
            None,
        ]
    );
    assert_eq!(config.drift, None, "discovered projects have no key");
    let all = resolved(
        &format!("{SWEEP_INFRA}  projects: all\n  schedule: rate(12 hours)\n"),
        file,
    );
    assert_eq!(
        drifts(&all)[0],
        Some(checked("rate(12 hours)", DriftMode::Report))
    );
    assert_eq!(drifts(&all)[2], None, "`drift: false` still leaves it out");
    assert_eq!(
        all.drift,
        Some(checked("rate(12 hours)", DriftMode::Report))
    );
}

#[test]
fn the_files_top_level_drift_is_every_projects_default_key_by_key() {
    let policy_text = format!("{SWEEP_INFRA}  allow_remediate: true\n");
    let file = "version: 3\ndrift:\n  schedule: cron(0 6 * * ? *)\n  mode: remediate\nprojects:\n- dir: a\n- dir: b\n  drift:\n    mode: report\n- dir: c\n  drift: false\n";
    let config = resolved(&policy_text, file);
    assert_eq!(
        drifts(&config),
        [
            Some(checked("cron(0 6 * * ? *)", DriftMode::Remediate)),
            Some(checked("cron(0 6 * * ? *)", DriftMode::Report)),
            None,
        ]
    );
    assert_eq!(
        config.drift,
        Some(checked("cron(0 6 * * ? *)", DriftMode::Remediate))
    );
    // A project's own key turns it back on under a file that turned drift off.
    let off = "version: 3\ndrift: false\nprojects:\n- dir: a\n- dir: b\n  drift:\n    schedule: rate(1 hour)\n";
    let config = resolved(&format!("{SWEEP_INFRA}  projects: all\n"), off);
    assert_eq!(
        drifts(&config),
        [None, Some(checked("rate(1 hour)", DriftMode::Report))]
    );
    assert_eq!(config.drift, None);
}

#[test]
fn remediate_without_the_policys_leave_is_an_error_on_the_project_never_a_downgrade() {
    let file =
        "version: 3\nprojects:\n- name: network\n  dir: network\n  drift:\n    mode: remediate\n";
    let err = refused(SWEEP_INFRA, file);
    assert!(
        err.contains("landfall.yaml:6: error: project `network` asks for drift `mode: remediate`, but remediate is not allowed by the operator policy"),
        "{err}"
    );
    assert!(err.contains("`allow_remediate: true`"), "{err}");
    let top = "version: 3\ndrift:\n  mode: remediate\nprojects:\n- dir: a\n";
    let err = refused(SWEEP_INFRA, top);
    assert!(
        err.contains(":3: error: this file asks for drift `mode: remediate`"),
        "{err}"
    );
    let allowed = resolved(&format!("{SWEEP_INFRA}  allow_remediate: true\n"), file);
    assert_eq!(
        drifts(&allowed),
        [Some(checked("rate(1 day)", DriftMode::Remediate))]
    );
}

#[test]
fn drift_keys_in_a_repository_not_swept_are_a_warning_and_check_nothing() {
    let file = "version: 3\nprojects:\n- dir: a\n  drift:\n    mode: remediate\n";
    for policy_text in ["repos: []\n", "drift:\n  repositories: [acme/other]\n"] {
        let config = resolved(policy_text, file);
        assert_eq!(drifts(&config), [None]);
        let warning = config.warnings[0].to_string();
        assert!(
            warning.contains(":4: warning: `drift` is not checked"),
            "{warning}"
        );
        assert!(warning.contains("`drift.repositories`"), "{warning}");
    }
}

#[test]
fn the_repo_keys_are_checked_where_they_are_written() {
    let err = |file: &str| {
        parse_repo_config("landfall.yaml", file)
            .unwrap_err()
            .to_string()
    };
    let project = "version: 3\nprojects:\n- dir: a\n";
    for (file, says) in [
        (
            format!("{project}  drift:\n    schedule: rate(0 minutes)\n"),
            ":5: error: `drift.schedule`: `rate(0 minutes)` is never",
        ),
        (
            format!("{project}  drift:\n    mod: report\n"),
            ":5: error: unknown key `mod` in `drift`",
        ),
        (
            format!("{project}  drift:\n    mod: report\n"),
            "did you mean `mode`?",
        ),
        (
            format!("{project}  drift:\n    mode: fix\n"),
            ":5: error: `drift.mode`: `fix` is not a drift mode",
        ),
        (
            "version: 3\ndrift: sometimes\n".to_owned(),
            ":2: error: `drift` must be true, false or a mapping",
        ),
        (format!("{project}  drfit: true\n"), "did you mean `drift`?"),
    ] {
        let e = err(&file);
        assert!(e.contains(says), "{file}: {e}");
    }
}

#[test]
fn discovered_projects_take_the_policys_default_only_when_it_checks_all() {
    let configured = policy(SWEEP_INFRA);
    assert_eq!(ResolvedProject::with_defaults(&configured, "x").drift, None);
    let all = policy(&format!("{SWEEP_INFRA}  projects: all\n  mode: report\n"));
    assert_eq!(
        ResolvedProject::with_defaults(&all, "x").drift,
        Some(checked("rate(1 day)", DriftMode::Report))
    );
    assert_eq!(
        load(&all, None).unwrap().drift,
        Some(checked("rate(1 day)", DriftMode::Report))
    );
}
