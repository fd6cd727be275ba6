//! The Job [`super::job_spec`] builds: the token's reference, the run's own inputs, the deadline.

use k8s_openapi::api::core::v1::{EnvVar, SecretKeySelector};

use super::*;
use crate::config::env_vars;
use crate::run::env::tests::plan_spec;

fn settings() -> RunnerSettings {
    RunnerSettings::new(
        "landfall-runners",
        "ghcr.io/acme/landfall:1.0",
        "landfall-runner",
    )
}

fn container(job: &Job) -> &Container {
    &job.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
}

#[test]
fn the_token_comes_from_a_secret_reference_never_a_literal() {
    let job = job_spec(&plan_spec(), &settings());
    let token = env_var(&job, env_vars::VCS_TOKEN);
    assert_eq!(token.value, None);
    let reference = secret_reference(token);
    assert_eq!(reference.name, "landfall-vcs-token");
    assert_eq!(reference.key, "token");
    assert_eq!(reference.optional, Some(false), "no other source: required");

    let mut with_arn = settings();
    let arn = "arn:aws:secretsmanager:eu-west-1:1:secret:vcs";
    with_arn
        .env
        .push((env_vars::VCS_TOKEN_ARN.to_owned(), arn.to_owned()));
    let job = job_spec(&plan_spec(), &with_arn);
    assert_eq!(
        env_var(&job, env_vars::VCS_TOKEN_ARN).value.as_deref(),
        Some(arn)
    );
    assert_eq!(
        secret_reference(env_var(&job, env_vars::VCS_TOKEN)).optional,
        Some(true),
        "the runner reads the ARN instead"
    );
}

fn env_var<'a>(job: &'a Job, name: &str) -> &'a EnvVar {
    let env = container(job).env.as_ref().unwrap();
    env.iter().find(|var| var.name == name).unwrap()
}

fn secret_reference(var: &EnvVar) -> &SecretKeySelector {
    var.value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap()
}

#[test]
fn settings_never_override_the_runs_own_inputs() {
    let mut settings = settings();
    settings
        .env
        .push(("LANDFALL_RUN_PR".to_owned(), "999".to_owned()));
    let job = job_spec(&plan_spec(), &settings);
    let prs: Vec<_> = container(&job)
        .env
        .as_ref()
        .unwrap()
        .iter()
        .filter(|var| var.name == "LANDFALL_RUN_PR")
        .collect();
    assert_eq!(prs.len(), 1);
    assert_eq!(prs[0].value.as_deref(), Some("42"));
}

#[test]
fn the_deadline_leaves_the_runner_time_to_report_after_its_own_timeout() {
    let job = job_spec(&plan_spec(), &settings());
    let spec = job.spec.unwrap();
    assert_eq!(spec.active_deadline_seconds, Some(1800 + 300));
    assert_eq!(spec.backoff_limit, Some(0));
    // Stopped, the runner gives its step 30 s between SIGINT and SIGKILL, then reports.
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.termination_grace_period_seconds, Some(30 + 90));
}

/// `value` as the kubelet gives it to the container (Kubernetes' `expansion` rules): `$$` is
/// `$`, `$(NAME)` is an earlier variable's value (left as it is when there is none).
fn expand(value: &str, earlier: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some((name, after)) = rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
            match earlier.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(v),
                None => out.extend(["$(", name, ")"]),
            }
            rest = after;
        } else {
            out.push('$');
        }
    }
    out + rest
}

#[test]
fn the_runner_reads_every_value_as_given_though_the_kubelet_expands_dollars() {
    let mut spec = plan_spec();
    spec.head_branch = "feature/$(LANDFALL_RUN_REPO)-$$HOME-$".to_owned();
    spec.project.name = Some("$(LANDFALL_RUN_PR)".to_owned());
    spec.extra_args = vec!["-var=cost=$$5".to_owned()];
    let job = job_spec(&spec, &settings());
    let mut seen: Vec<(String, String)> = Vec::new();
    for var in container(&job).env.as_ref().unwrap() {
        if let Some(value) = &var.value {
            let expanded = expand(value, &seen);
            seen.push((var.name.clone(), expanded));
        }
    }
    let read = crate::run::RunSpec::from_lookup(|name| {
        seen.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    })
    .unwrap();
    assert_eq!(read.head_branch, spec.head_branch);
    assert_eq!(read.project.name, spec.project.name);
    assert_eq!(read.extra_args, spec.extra_args);
    assert_eq!(read.run_id(), spec.run_id());
}
