use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

mod github_app;

/// A lookup of `vars`, standing in for the process environment.
pub(super) fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn config(vars: &[(&str, &str)], under_lambda: bool) -> Result<Config, ConfigError> {
    Config::from_lookup(lookup(vars), under_lambda)
}

/// Asserts that `result` is an error whose message contains `says`.
pub(super) fn assert_refused<T: std::fmt::Debug>(result: Result<T, ConfigError>, says: &str) {
    let err = result.unwrap_err();
    assert!(err.to_string().contains(says), "{err}");
}

/// The configuration outside Lambda from a webhook secret and `vars`.
fn with_secret(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    config(&[&[("LANDFALL_WEBHOOK_SECRET", "s")], vars].concat(), false)
}

#[test]
fn a_secret_alone_is_enough_outside_lambda() {
    let c = with_secret(&[]).unwrap();
    assert_eq!(c.vcs, Provider::Github);
    assert_eq!(c.vcs_url.as_deref(), Some("https://api.github.com"));
    assert_eq!(
        c.store,
        StoreConfig::Embedded {
            data_dir: ".landfall".into()
        }
    );
    assert_eq!(c.dispatch, DispatchConfig::Local);
    assert!(c.allowlist.allows_all());
    assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(c.serve, ServeLimits::default());
}

#[test]
fn file_clones_are_allowed_only_when_the_operator_says_so() {
    let get = |value: &'static str| {
        move |name: &str| (name == "LANDFALL_ALLOW_FILE_CLONE").then(|| value.to_owned())
    };
    assert!(!allow_file_clone(&|_: &str| None).unwrap());
    assert!(allow_file_clone(&get("true")).unwrap());
    assert!(!allow_file_clone(&get("false")).unwrap());
    assert_refused(
        with_secret(&[("LANDFALL_ALLOW_FILE_CLONE", "sure")]),
        "LANDFALL_ALLOW_FILE_CLONE",
    );
}

#[test]
fn serve_limits_are_read_and_the_budget_holds_the_largest_body() {
    let c = with_secret(&[
        ("LANDFALL_BODY_TIMEOUT_SECS", " 3 "),
        ("LANDFALL_MAX_CONNECTIONS", "8"),
        ("LANDFALL_BODY_BUDGET_BYTES", "26214400"),
        ("LANDFALL_SWEEP_SECS", "300"),
        ("LANDFALL_DRIFT_SECS", "600"),
    ])
    .unwrap();
    let expected = ServeLimits {
        body_timeout: std::time::Duration::from_secs(3),
        max_connections: 8,
        body_budget_bytes: 26_214_400,
        sweep_every: Some(std::time::Duration::from_mins(5)),
        drift_every: Some(std::time::Duration::from_mins(10)),
    };
    assert_eq!(c.serve, expected);
    // The sweeper runs every minute by default; 0 turns it off; anything else is an error.
    assert_eq!(
        with_secret(&[]).unwrap().serve.sweep_every,
        Some(std::time::Duration::from_mins(1))
    );
    let off = with_secret(&[("LANDFALL_SWEEP_SECS", "0")]).unwrap();
    assert_eq!(off.serve.sweep_every, None);
    assert!(with_secret(&[("LANDFALL_SWEEP_SECS", "soon")]).is_err());
    // Drift sweeps: hourly by default, 0 for never.
    assert_eq!(
        with_secret(&[]).unwrap().serve.drift_every,
        Some(std::time::Duration::from_hours(1))
    );
    let off = with_secret(&[("LANDFALL_DRIFT_SECS", "0")]).unwrap();
    assert_eq!(off.serve.drift_every, None);
    // A body limit above the default budget raises the default budget to it...
    let c = with_secret(&[("LANDFALL_MAX_BODY_BYTES", "104857600")]).unwrap();
    assert_eq!(c.serve.body_budget_bytes, 104_857_600);
    // ...but a budget set below it is a mistake.
    let err = with_secret(&[("LANDFALL_BODY_BUDGET_BYTES", "1024")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("LANDFALL_BODY_BUDGET_BYTES=\"1024\" is invalid")
            && err.contains("LANDFALL_MAX_BODY_BYTES (26214400 bytes)"),
        "{err}"
    );
}

#[test]
fn start_up_without_a_secret_names_the_variable() {
    let err = config(&[("LANDFALL_VCS", "gitlab")], false).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("LANDFALL_WEBHOOK_SECRET is not set"),
        "{err}"
    );
    let err = config(&[("LANDFALL_WEBHOOK_SECRET", "  ")], false).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Missing {
            var: "LANDFALL_WEBHOOK_SECRET",
            ..
        }
    ));
}

#[test]
fn invalid_settings_name_their_variable() {
    for (var, value) in [
        ("LANDFALL_VCS", "svn"),
        ("LANDFALL_VCS_URL", "gitlab.example.com"),
        ("LANDFALL_WEBHOOK_ALLOW_SHA1", "maybe"),
        ("LANDFALL_REPO_ALLOWLIST", "a/[b"),
        ("LANDFALL_STORE", "postgres"),
        ("LANDFALL_DISPATCH", "nomad"),
        ("LANDFALL_MAX_BODY_BYTES", "0"),
        ("LANDFALL_BODY_TIMEOUT_SECS", "0"),
        ("LANDFALL_BODY_TIMEOUT_SECS", "1.5"),
        ("LANDFALL_MAX_CONNECTIONS", "-1"),
        ("LANDFALL_BODY_BUDGET_BYTES", "64MiB"),
        ("LANDFALL_POLICY", "/nonexistent/repos.yaml"),
        ("LANDFALL_VCS_TOKEN_ARN", "not-an-arn"),
    ] {
        let err = with_secret(&[(var, value)]).unwrap_err();
        assert!(err.to_string().contains(var), "{var}: {err}");
    }
}

#[test]
fn a_secret_and_its_arn_together_are_ambiguous() {
    let err =
        with_secret(&[("LANDFALL_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:x")]).unwrap_err();
    assert!(matches!(err, ConfigError::Ambiguous { .. }));
}

#[test]
fn under_lambda_the_production_store_and_dispatch_need_their_settings() {
    let err = config(&[("LANDFALL_WEBHOOK_SECRET", "s")], true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("LANDFALL_TABLE is not set"), "{err}");
    assert!(
        err.contains("LANDFALL_RUNNER_NAMESPACE is not set"),
        "{err}"
    );
    let production = [
        ("LANDFALL_WEBHOOK_SECRET", "s"),
        ("LANDFALL_TABLE", "t"),
        ("LANDFALL_BUCKET", "b"),
        ("LANDFALL_RUNNER_NAMESPACE", "landfall"),
        ("LANDFALL_RUNNER_IMAGE", "img"),
        ("LANDFALL_RUNNER_SERVICE_ACCOUNT", "runner"),
    ];
    let c = config(&production, true).unwrap();
    assert_eq!(
        c.store,
        StoreConfig::DynamoDb {
            table: "t".into(),
            bucket: "b".into(),
            path_style: false,
        }
    );
    let DispatchConfig::Kubernetes {
        service_account,
        apply_service_account,
        ..
    } = &c.dispatch
    else {
        panic!("{:?}", c.dispatch);
    };
    assert_eq!(
        (service_account.as_str(), apply_service_account.as_str()),
        ("runner", "runner")
    );
    let apply_account = [("LANDFALL_RUNNER_APPLY_SERVICE_ACCOUNT", "runner-apply")];
    let c = config(&[&production[..], &apply_account].concat(), true).unwrap();
    assert!(
        matches!(&c.dispatch, DispatchConfig::Kubernetes { apply_service_account, .. } if apply_service_account == "runner-apply")
    );
}

#[test]
fn azure_devops_secrets_are_user_and_password() {
    let err = config(
        &[
            ("LANDFALL_VCS", "azure-devops"),
            ("LANDFALL_WEBHOOK_SECRET", "nopassword"),
        ],
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("user:password"));
    assert!(
        !err.to_string().contains("nopassword"),
        "the secret is never echoed"
    );
    config(
        &[
            ("LANDFALL_VCS", "azure-devops"),
            ("LANDFALL_VCS_URL", "https://dev.azure.com/acme"),
            ("LANDFALL_WEBHOOK_SECRET", "u:p"),
        ],
        false,
    )
    .unwrap();
}

#[test]
fn the_vcs_url_defaults_to_the_public_api_and_loses_its_trailing_slash() {
    // The default is the API base the adapter is built with, API path and all.
    for (vcs, api) in [
        ("gitlab", "https://gitlab.com/api/v4"),
        ("gitea", "https://gitea.com/api/v1"),
        ("bitbucket-cloud", "https://api.bitbucket.org/2.0"),
    ] {
        let c = with_secret(&[("LANDFALL_VCS", vcs)]).unwrap();
        assert_eq!(c.vcs_url.as_deref(), Some(api), "{vcs}");
    }
    // Azure DevOps' API names the organisation, and Bitbucket Server is self-hosted: without
    // the URL the function would call the wrong address, so it does not start.
    for (vcs, secret) in [("azure-devops", "user:pass"), ("bitbucket-server", "s")] {
        let err = config(
            &[("LANDFALL_VCS", vcs), ("LANDFALL_WEBHOOK_SECRET", secret)],
            false,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Missing {
                    var: "LANDFALL_VCS_URL",
                    ..
                }
            ),
            "{vcs}: {err}"
        );
    }
    let c = config(
        &[
            ("LANDFALL_VCS_URL", "https://ghe.example.com/api/v3/"),
            ("LANDFALL_WEBHOOK_SECRET", "s"),
        ],
        false,
    )
    .unwrap();
    assert_eq!(c.vcs_url.as_deref(), Some("https://ghe.example.com/api/v3"));
}

#[tokio::test]
async fn secrets_given_directly_resolve_without_aws() {
    let c = with_secret(&[("LANDFALL_VCS_TOKEN", "t")]).unwrap();
    let secrets = c.resolve_secrets().await.unwrap();
    assert_eq!(secrets.webhook_secret.expose_secret(), "s");
    assert_eq!(secrets.vcs_token.unwrap().expose_secret(), "t");
}

#[test]
fn an_embedded_store_with_kubernetes_runners_is_refused_at_start_up() {
    let err = with_secret(&[
        ("LANDFALL_STORE", "embedded"),
        ("LANDFALL_DISPATCH", "kubernetes"),
        ("LANDFALL_RUNNER_NAMESPACE", "runners"),
        ("LANDFALL_RUNNER_IMAGE", "runner:1"),
        ("LANDFALL_RUNNER_SERVICE_ACCOUNT", "runner"),
        ("LANDFALL_REPORT_URL", "https://landfall.example.com"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                var: "LANDFALL_STORE",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("LANDFALL_DISPATCH=local"), "{err}");
}

#[test]
fn a_vcs_url_holding_a_token_is_refused_without_showing_it() {
    for url in [
        "https://ghp_s3cr3t@ghe.example.com/api/v3",
        "https://oauth2:s3cr3t@gitlab.example.com",
        "glpat-s3cr3t@gitlab.example.com/api/v4",
    ] {
        let err = with_secret(&[("LANDFALL_VCS_URL", url)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LANDFALL_VCS_URL") && !err.contains("s3cr3t"),
            "{err}"
        );
    }
}

#[test]
fn every_wrong_setting_is_reported_at_once() {
    let err = config(
        &[
            ("LANDFALL_VCS", "gitlab"),
            ("LANDFALL_VCS_URL", "gitlab.example.com"),
            ("LANDFALL_WEBHOOK_ALLOW_SHA1", "maybe"),
            ("LANDFALL_MAX_BODY_BYTES", "-1"),
            ("LANDFALL_STORE", "redis"),
        ],
        false,
    )
    .unwrap_err();
    let ConfigError::Several(problems) = &err else {
        panic!("expected several problems: {err}");
    };
    let text = err.to_string();
    for var in [
        "LANDFALL_VCS_URL",
        "LANDFALL_WEBHOOK_SECRET",
        "LANDFALL_WEBHOOK_ALLOW_SHA1",
        "LANDFALL_MAX_BODY_BYTES",
        "LANDFALL_STORE",
    ] {
        assert!(text.contains(var), "{var} missing from:\n{text}");
    }
    assert_eq!(problems.len(), 5, "{text}");
}

#[test]
fn kubernetes_runners_outside_lambda_need_the_report_url() {
    let runners = [
        ("LANDFALL_STORE", "dynamodb"),
        ("LANDFALL_TABLE", "t"),
        ("LANDFALL_BUCKET", "b"),
        ("LANDFALL_DISPATCH", "kubernetes"),
        ("LANDFALL_RUNNER_NAMESPACE", "runners"),
        ("LANDFALL_RUNNER_IMAGE", "runner:1"),
        ("LANDFALL_RUNNER_SERVICE_ACCOUNT", "runner"),
    ];
    let err = with_secret(&runners).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                var: "LANDFALL_REPORT_URL",
                ..
            }
        ),
        "{err}"
    );
    let with_url = [
        &runners[..],
        &[("LANDFALL_REPORT_URL", "https://fn.example.com/")],
    ]
    .concat();
    let config = with_secret(&with_url).unwrap();
    assert_eq!(config.report_url.as_deref(), Some("https://fn.example.com"));
    let bad = [&runners[..], &[("LANDFALL_REPORT_URL", "fn.example.com")]].concat();
    assert!(
        with_secret(&bad).is_err(),
        "a URL without its scheme is refused"
    );
}

#[test]
fn the_drift_webhook_is_a_secret_that_must_be_https() {
    assert!(with_secret(&[]).unwrap().drift_webhook_url.is_none());
    let hook = "https://hooks.slack.com/services/T0/B0/secret";
    let c = with_secret(&[("LANDFALL_DRIFT_WEBHOOK_URL", hook)]).unwrap();
    let Some(SecretSource::Value(url)) = &c.drift_webhook_url else {
        panic!("{:?}", c.drift_webhook_url);
    };
    assert_eq!(url.expose_secret(), hook);
    for local in ["http://localhost:8080/hook", "http://127.0.0.1/hook"] {
        assert!(with_secret(&[("LANDFALL_DRIFT_WEBHOOK_URL", local)]).is_ok());
    }
    for bad in [
        "http://hooks.slack.com/services/T0/B0/secret",
        "hooks.slack.com/x",
    ] {
        let err = with_secret(&[("LANDFALL_DRIFT_WEBHOOK_URL", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LANDFALL_DRIFT_WEBHOOK_URL=\"(hidden)\""),
            "{err}"
        );
        assert!(!err.contains("secret"), "the URL is never shown: {err}");
    }
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:drift";
    let c = with_secret(&[("LANDFALL_DRIFT_WEBHOOK_URL_ARN", arn)]).unwrap();
    assert!(matches!(
        c.drift_webhook_url,
        Some(SecretSource::Arn {
            var: "LANDFALL_DRIFT_WEBHOOK_URL_ARN",
            ..
        })
    ));
    assert_refused(
        with_secret(&[
            ("LANDFALL_DRIFT_WEBHOOK_URL", hook),
            ("LANDFALL_DRIFT_WEBHOOK_URL_ARN", arn),
        ]),
        "set only one",
    );
}

#[test]
fn the_policy_may_sweep_for_drift_only_repositories_the_allowlist_allows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    std::fs::write(&path, "drift:\n  repositories: [acme/infra, other/app]\n").unwrap();
    let path = path.to_str().unwrap();
    let all = with_secret(&[("LANDFALL_POLICY", path)]).unwrap();
    assert!(all.load_policy().unwrap().unwrap().drift.is_some());
    let acme = with_secret(&[
        ("LANDFALL_POLICY", path),
        ("LANDFALL_REPO_ALLOWLIST", "acme/*"),
    ])
    .unwrap();
    let err = acme.load_policy().unwrap_err().to_string();
    assert!(
        err.contains(
            "`drift.repositories` lists other/app, which LANDFALL_REPO_ALLOWLIST does not allow"
        ),
        "{err}"
    );
    assert!(with_secret(&[]).unwrap().load_policy().unwrap().is_none());
    // Patterns that name the host (Atlantis' `github.com/acme/*` form) match the VCS URL's.
    let hosted = with_secret(&[
        ("LANDFALL_POLICY", path),
        (
            "LANDFALL_REPO_ALLOWLIST",
            "github.com/acme/*, github.com/other/*",
        ),
    ])
    .unwrap();
    assert!(hosted.load_policy().unwrap().unwrap().drift.is_some());
}

#[test]
fn a_vcs_url_is_a_base_url_and_each_host_has_its_api_path() {
    use super::{check_vcs_url, vcs_url_problem};
    for bad in [
        "https://",
        "https:// spaces here",
        "https://x.example/api?x=1",
        "https://x#y",
    ] {
        assert!(check_vcs_url(bad).is_err(), "{bad}");
    }
    let err = check_vcs_url("https://gitlab.example.com/api/v4?private_token=glpat-x").unwrap_err();
    assert!(!err.to_string().contains("glpat"), "{err}");
    {}
    let problem = |vcs, url| vcs_url_problem(vcs, url);
    assert!(problem(Provider::Gitlab, "https://gitlab.example.com").is_some());
    assert!(problem(Provider::Gitlab, "https://git.example.com/gitlab/api/v4/").is_none());
    assert!(problem(Provider::Gitea, "https://gitea.example.com").is_some());
    assert!(problem(Provider::Gitea, "https://gitea.example.com/api/v1").is_none());
    assert!(problem(Provider::Github, "https://github.example.com").is_some());
    assert!(problem(Provider::Github, "https://github.example.com/api/v3").is_none());
    assert!(problem(Provider::Github, "https://api.acme.ghe.com").is_none());
    assert!(problem(Provider::AzureDevops, "https://dev.azure.com").is_some());
    assert!(problem(Provider::AzureDevops, "https://dev.azure.com/acme").is_none());
    assert!(problem(Provider::AzureDevops, "https://acme.visualstudio.com").is_none());
    assert!(
        problem(
            Provider::BitbucketServer,
            "https://bb.example.com/rest/api/1.0"
        )
        .is_some()
    );
    assert!(problem(Provider::BitbucketCloud, "https://api.bitbucket.org/2.0").is_none());
    assert!(problem(Provider::BitbucketServer, "https://bitbucket.example.com").is_none());
    // Every default passes its own host's rule.
    for vcs in [
        Provider::Github,
        Provider::Gitlab,
        Provider::Gitea,
        Provider::BitbucketCloud,
    ] {
        let url = super::default_vcs_url(vcs).unwrap();
        assert_eq!(problem(vcs, url), None, "{vcs:?}");
    }
}
