//! A GitHub App instead of a token: its settings read, and its mistakes stopping start-up.

use secrecy::ExposeSecret;

use super::*;

const APP_KEY: &str = include_str!("../../../tests/vcs_fixtures/github-app-test-key.pem");

#[tokio::test]
async fn a_github_app_replaces_the_token() {
    let c = with_secret(&[
        ("LANDFALL_GITHUB_APP_ID", " 12345 "),
        ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
        ("LANDFALL_GITHUB_INSTALLATION_ID", "99"),
    ])
    .unwrap();
    let app = c.github_app.as_ref().unwrap();
    assert_eq!((app.app_id, app.installation_id), (12345, Some(99)));
    assert!(c.vcs_token.is_none());
    let secrets = c.resolve_secrets().await.unwrap();
    assert!(secrets.has_vcs_credentials());
    assert_eq!(
        secrets.github_app_key.unwrap().expose_secret().trim(),
        APP_KEY.trim()
    );
    // The installation is optional.
    let c = with_secret(&[
        ("LANDFALL_GITHUB_APP_ID", "12345"),
        (
            "LANDFALL_GITHUB_APP_KEY_ARN",
            "arn:aws:secretsmanager:eu-west-1:1:secret:k",
        ),
    ])
    .unwrap();
    assert!(matches!(
        c.github_app.unwrap().key,
        SecretSource::Arn {
            var: "LANDFALL_GITHUB_APP_KEY_ARN",
            ..
        }
    ));
}

#[test]
fn github_app_mistakes_stop_start_up_naming_the_variable() {
    let base = [("LANDFALL_WEBHOOK_SECRET", "s")];
    for (vars, var, says) in [
        (
            vec![
                ("LANDFALL_GITHUB_APP_ID", "my-app"),
                ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
            ],
            "LANDFALL_GITHUB_APP_ID",
            "numeric id",
        ),
        (
            vec![
                ("LANDFALL_GITHUB_APP_ID", "1"),
                ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
                ("LANDFALL_GITHUB_INSTALLATION_ID", "-3"),
            ],
            "LANDFALL_GITHUB_INSTALLATION_ID",
            "numeric id",
        ),
        (
            vec![
                ("LANDFALL_GITHUB_APP_ID", "1"),
                (
                    "LANDFALL_GITHUB_APP_KEY",
                    "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----",
                ),
            ],
            "LANDFALL_GITHUB_APP_KEY",
            "not an RSA private key in PEM",
        ),
        (
            vec![("LANDFALL_GITHUB_APP_KEY", APP_KEY)],
            "LANDFALL_GITHUB_APP_ID",
            "not the App's id",
        ),
        (
            vec![("LANDFALL_GITHUB_APP_ID", "1")],
            "LANDFALL_GITHUB_APP_KEY",
            "private key",
        ),
        (
            vec![
                ("LANDFALL_GITHUB_APP_ID", "1"),
                ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
                ("LANDFALL_VCS_TOKEN", "ghp_x"),
            ],
            "LANDFALL_VCS_TOKEN",
            "unset the token",
        ),
        (
            vec![
                ("LANDFALL_VCS", "gitlab"),
                ("LANDFALL_GITHUB_APP_ID", "1"),
                ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
            ],
            "LANDFALL_GITHUB_APP_ID",
            "not gitlab",
        ),
    ] {
        let mut vars = vars;
        vars.extend(base);
        let err = config(&vars, false).unwrap_err().to_string();
        assert!(err.starts_with(var) && err.contains(says), "{var}: {err}");
        assert!(
            !err.contains("nope") && !err.contains("ghp_x"),
            "no secret in {err}"
        );
    }
}

#[tokio::test]
async fn the_vcs_client_is_built_from_the_app_or_the_token() {
    use crate::context::vcs_client;
    use crate::vcs::{AnyVcs, RetryPolicy};
    let app = with_secret(&[
        ("LANDFALL_GITHUB_APP_ID", "1"),
        ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
    ])
    .unwrap();
    let secrets = app.resolve_secrets().await.unwrap();
    let vcs = vcs_client(&app, &secrets, RetryPolicy::default()).unwrap();
    assert!(matches!(vcs, AnyVcs::Github(_)));
    let gitlab = with_secret(&[("LANDFALL_VCS", "gitlab")]).unwrap();
    let secrets = gitlab.resolve_secrets().await.unwrap();
    assert!(!secrets.has_vcs_credentials());
    let err = vcs_client(&gitlab, &secrets, RetryPolicy::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("LANDFALL_VCS_TOKEN is not set"),
        "{err}"
    );
}
