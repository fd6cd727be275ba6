//! The Kubernetes dispatcher against a `tower-test` mock API server, one scenario per test: the
//! exact Job it POSTs, a 409 as "already dispatched", 403 and 5xx as typed errors. The Job
//! manifest itself, and a run's Secret, pass `kubernetes-validate --strict`.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use kube::client::Body;
use landfall_function::dispatch::kubernetes::{KubernetesError, job_spec};
use landfall_function::dispatch::{
    DispatchError, DispatchOutcome, Dispatcher as _, KubernetesDispatcher, RunSecrets,
    RunnerSettings, job_secret, job_spec_with,
};
use landfall_function::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use landfall_function::run::{ProjectSpec, RunCommand, RunSpec};
use tower_test::mock::{self, Handle};

pub(super) type ApiHandle = Handle<Request<Body>, Response<Body>>;

pub(super) fn spec() -> RunSpec {
    RunSpec {
        provider: Provider::Github,
        repo: RepoName::new("acme/infra"),
        head_repo: RepoName::new("acme/infra"),
        pr: PullRequestNumber(7),
        head_sha: CommitSha::new("ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
        head_branch: "change-vpc".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: "https://github.com/acme/infra.git".to_owned(),
        user: "octocat".to_owned(),
        pull_author: "octocat".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec {
            name: Some("network".to_owned()),
            timeout: Duration::from_mins(20),
            ..ProjectSpec::new("envs/prod/network")
        },
        extra_args: vec!["-target=terraform_data.a".to_owned()],
        operands: Vec::new(),
        trigger: "github:72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
        report_back: None,
        apply: None,
    }
}

pub(super) fn settings() -> RunnerSettings {
    let mut settings = RunnerSettings::new(
        "landfall-runners",
        "ghcr.io/landfall-dev/landfall-runner:0.1.0",
        "landfall-runner",
    );
    settings.env = vec![
        ("LANDFALL_STORE".to_owned(), "dynamodb".to_owned()),
        ("LANDFALL_TABLE".to_owned(), "landfall".to_owned()),
        ("LANDFALL_BUCKET".to_owned(), "landfall-plans".to_owned()),
        ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
    ];
    settings
}

pub(super) fn dispatcher() -> (KubernetesDispatcher, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    (KubernetesDispatcher::new(client, settings()), handle)
}

pub(super) fn status_body(code: u16, reason: &str, message: &str) -> Body {
    Body::from(
        serde_json::to_vec(&serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code,
        }))
        .unwrap(),
    )
}

/// Answers the next request with `status` and `body`; returns the request's method, URI and
/// JSON body (`null` for none).
pub(super) async fn answer(
    handle: &mut ApiHandle,
    status: StatusCode,
    body: impl FnOnce(&serde_json::Value) -> Body,
) -> (String, String, serde_json::Value) {
    let (request, send) = handle
        .next_request()
        .await
        .expect("the dispatcher calls the API");
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let bytes = request.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    send.send_response(
        Response::builder()
            .status(status)
            .body(body(&json))
            .unwrap(),
    );
    (method, uri, json)
}

#[tokio::test]
async fn dispatch_posts_exactly_the_job_spec_to_the_runner_namespace() {
    let (dispatcher, mut handle) = dispatcher();
    let spec = spec();
    let server = tokio::spawn(async move {
        answer(&mut handle, StatusCode::CREATED, |job| {
            Body::from(serde_json::to_vec(job).unwrap())
        })
        .await
    });
    let outcome = dispatcher
        .dispatch(&spec, &RunSecrets::default())
        .await
        .unwrap();
    let (method, uri, body) = server.await.unwrap();
    assert_eq!(method, "POST");
    assert_eq!(uri, "/apis/batch/v1/namespaces/landfall-runners/jobs?");
    assert_eq!(
        body,
        serde_json::to_value(job_spec(&spec, &settings())).unwrap()
    );
    assert_eq!(
        outcome,
        DispatchOutcome::Dispatched {
            run_id: spec.run_id()
        }
    );
    assert_eq!(body["metadata"]["name"], spec.run_id());
}

#[tokio::test]
async fn a_conflict_means_the_run_was_already_dispatched() {
    let (dispatcher, mut handle) = dispatcher();
    let spec = spec();
    let name = spec.run_id();
    let server = tokio::spawn(async move {
        answer(&mut handle, StatusCode::CONFLICT, |_| {
            status_body(
                409,
                "AlreadyExists",
                &format!("jobs.batch \"{name}\" already exists"),
            )
        })
        .await
    });
    let outcome = dispatcher
        .dispatch(&spec, &RunSecrets::default())
        .await
        .unwrap();
    server.await.unwrap();
    assert_eq!(
        outcome,
        DispatchOutcome::AlreadyDispatched {
            run_id: spec.run_id()
        }
    );
}

#[tokio::test]
async fn a_forbidden_create_is_a_typed_error_naming_job_and_namespace() {
    let (dispatcher, mut handle) = dispatcher();
    let server = tokio::spawn(async move {
        answer(&mut handle, StatusCode::FORBIDDEN, |_| {
            status_body(
                403,
                "Forbidden",
                "jobs.batch is forbidden: User \"landfall-function\" cannot create resource \"jobs\"",
            )
        })
        .await
    });
    let err = dispatcher
        .dispatch(&spec(), &RunSecrets::default())
        .await
        .unwrap_err();
    server.await.unwrap();
    let DispatchError::Kubernetes(KubernetesError::Api {
        code,
        namespace,
        message,
        ..
    }) = &err
    else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(*code, 403);
    assert_eq!(namespace, "landfall-runners");
    assert!(message.contains("cannot create resource"), "{message}");
    assert!(err.to_string().contains("HTTP 403"), "{err}");
}

#[tokio::test]
async fn a_server_error_with_a_plain_text_body_is_a_typed_error() {
    let (dispatcher, mut handle) = dispatcher();
    let server = tokio::spawn(async move {
        answer(&mut handle, StatusCode::SERVICE_UNAVAILABLE, |_| {
            Body::from("upstream connect error".as_bytes().to_vec())
        })
        .await
    });
    let err = dispatcher
        .dispatch(&spec(), &RunSecrets::default())
        .await
        .unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(
            err,
            DispatchError::Kubernetes(KubernetesError::Api { code: 503, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn the_job_manifest_is_stable() {
    let job = serde_json::to_value(job_spec(&spec(), &settings())).unwrap();
    insta::assert_json_snapshot!("runner_job", job);
}

#[test]
fn plans_and_applies_run_as_their_own_service_accounts() {
    let mut settings = settings();
    settings.apply_service_account = "landfall-runner-apply".to_owned();
    let mut apply = spec();
    apply.command = RunCommand::Apply;
    let account = |spec: &RunSpec| {
        let job = serde_json::to_value(job_spec(spec, &settings)).unwrap();
        job["spec"]["template"]["spec"]["serviceAccountName"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(account(&spec()), "landfall-runner");
    assert_eq!(account(&apply), "landfall-runner-apply");
    // `import` and `state rm` write the state: the apply role, and a valid Job name.
    for command in [RunCommand::Import, RunCommand::StateRm] {
        let mut edit = spec();
        edit.command = command;
        edit.operands = vec!["terraform_data.a".to_owned(), "id-1".to_owned()];
        assert_eq!(account(&edit), "landfall-runner-apply");
        let name = edit.run_id();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}

#[test]
fn the_job_manifest_passes_kubernetes_validate_strict() {
    let dir = tempfile::tempdir().unwrap();
    let mut apply = spec();
    apply.command = RunCommand::Apply;
    apply.apply = Some(landfall_function::run::PlanToApply {
        planfile: landfall_function::store::StoredArtifact {
            key: "planfiles/acme%2Finfra/pr-7/x.tfplan".to_owned(),
            sha256: "0".repeat(64),
            size: 10,
        },
        planned_sha: apply.head_sha.clone(),
    });
    // A run with secrets of its own: its Job refers to its Secret, validated beside it.
    let secrets = super::dispatch_kubernetes_secrets::run_secrets();
    let with_secrets = job_spec_with(&spec(), &secrets, &settings());
    let secret = job_secret(&spec(), &secrets, &settings()).unwrap();
    let mut files = Vec::new();
    for (name, object) in [
        (
            "plan.json",
            serde_json::to_value(job_spec(&spec(), &settings())),
        ),
        (
            "apply.json",
            serde_json::to_value(job_spec(&apply, &settings())),
        ),
        ("with-secrets.json", serde_json::to_value(with_secrets)),
        ("secret.json", serde_json::to_value(secret)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(&object.unwrap()).unwrap()).unwrap();
        files.push(path);
    }
    let output = std::process::Command::new(landfall_e2e::tool("kubernetes-validate"))
        .arg("--strict")
        .arg("--kubernetes-version")
        .arg("1.33.0")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubernetes-validate refused the Job or its Secret:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Outside EKS the client comes from a kubeconfig: here two files, merged, whose current context
/// names a token file relative to its kubeconfig. The Job reaches the server that context names,
/// with that token, in the runner namespace (not the context's).
#[tokio::test]
async fn a_kubeconfig_context_with_a_token_file_reaches_its_cluster() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/apis/batch/v1/namespaces/landfall-runners/jobs"))
        .and(header("authorization", "Bearer sa-token-from-file"))
        .respond_with(ResponseTemplate::new(201).set_body_json(job_spec(&spec(), &settings())))
        .expect(1)
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    std::fs::write(dir.path().join("tokens/landfall"), "sa-token-from-file").unwrap();
    let main = dir.path().join("config");
    std::fs::write(
        &main,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: dev\n\
             contexts:\n- name: dev\n  context: {{cluster: dev, user: dispatcher, namespace: elsewhere}}\n\
             clusters:\n- name: dev\n  cluster:\n    server: {}\n",
            server.uri()
        ),
    )
    .unwrap();
    let users = dir.path().join("users");
    std::fs::write(
        &users,
        "users:\n- name: dispatcher\n  user:\n    tokenFile: tokens/landfall\n",
    )
    .unwrap();

    let config = landfall_function::dispatch::kubeconfig::from_files(&[main, users])
        .await
        .unwrap();
    let client = landfall_function::tls::kube_client(config).unwrap();
    let dispatcher = KubernetesDispatcher::new(client, settings());
    let spec = spec();
    assert_eq!(
        dispatcher
            .dispatch(&spec, &RunSecrets::default())
            .await
            .unwrap(),
        DispatchOutcome::Dispatched {
            run_id: spec.run_id()
        }
    );
}

#[tokio::test]
async fn a_kubeconfig_whose_context_is_missing_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, "current-context: gone\nclusters: []\n").unwrap();
    let error = landfall_function::dispatch::kubeconfig::from_files(std::slice::from_ref(&path))
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("gone"), "{message}");
}
