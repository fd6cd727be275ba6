//! The run's secrets in a Kubernetes dispatch, against the `tower-test` mock API server of
//! `dispatch_kubernetes.rs`: the Job only refers to them, and they go in a Secret created after
//! the Job and owned by it from its creation, so that no Secret is ever left without an owner
//! and the Secret goes with the Job. A Job that cannot be created writes no Secret; a Secret that
//! cannot be created takes the Job with it; a redelivery gives the existing Job its Secret, with
//! fresh values.

use http::StatusCode;
use kube::client::Body;
use landfall_function::dispatch::kubernetes::KubernetesError;
use landfall_function::dispatch::{
    DispatchError, DispatchOutcome, Dispatcher as _, RunSecrets, job_secret, job_spec_with,
};
use landfall_function::store::presigned::RunLinks;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::dispatch_kubernetes::{answer, dispatcher, settings, spec, status_body};

const TOKEN: &str = "ghs_minted0for0this0run0only";
const CREDENTIAL: &str = "report-credential-0c4f9a";
const PUT_LINK: &str = "https://plans.s3.amazonaws.com/logs/x.log?X-Amz-Signature=0put0signature0";
const SECRETS: &str = "/api/v1/namespaces/landfall-runners/secrets";
const JOBS: &str = "/apis/batch/v1/namespaces/landfall-runners/jobs";

pub(super) fn run_secrets() -> RunSecrets {
    RunSecrets {
        vcs_token: Some(SecretString::from(TOKEN)),
        report: Some((
            "https://function.example/runs/report".to_owned(),
            SecretString::from(CREDENTIAL),
        )),
        artifacts: Some(RunLinks {
            put: vec![("logs/x.log".to_owned(), PUT_LINK.to_owned())],
            get: Vec::new(),
        }),
    }
}

/// One answer of the mock API server: a status and a body made from the request's.
type Answer = (StatusCode, fn(&Value) -> Body);

fn echo(request: &Value) -> Body {
    Body::from(serde_json::to_vec(request).unwrap())
}

/// The created object, as the API server answers it: with its uid.
fn created(request: &Value) -> Body {
    let mut object = request.clone();
    object["metadata"]["uid"] = json!("0b7e5f2c-uid-of-the-job");
    echo(&object)
}

fn secret(_: &Value) -> Body {
    echo(&json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": spec().run_id(), "namespace": "landfall-runners"},
    }))
}

fn gone(_: &Value) -> Body {
    echo(&json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}))
}

fn conflict(_: &Value) -> Body {
    status_body(409, "AlreadyExists", "already exists")
}

fn forbidden(_: &Value) -> Body {
    status_body(
        403,
        "Forbidden",
        "User \"landfall-function\" cannot create resource",
    )
}

fn failure(_: &Value) -> Body {
    status_body(500, "InternalError", "etcdserver: request timed out")
}

/// Dispatches `spec()`'s run with `run_secrets()` while the API answers `answers` in order;
/// returns the outcome and each request's method, URI and body, and checks none came after.
async fn dispatch(
    answers: &[Answer],
) -> (
    Result<DispatchOutcome, DispatchError>,
    Vec<(String, String, Value)>,
) {
    let (dispatcher, mut handle) = dispatcher();
    let answers = answers.to_vec();
    let server = tokio::spawn(async move {
        let mut requests = Vec::new();
        for (status, body) in answers {
            requests.push(answer(&mut handle, status, body).await);
        }
        assert!(
            handle.next_request().await.is_none(),
            "no request after {requests:#?}"
        );
        requests
    });
    let outcome = dispatcher.dispatch(&spec(), &run_secrets()).await;
    drop(dispatcher);
    (outcome, server.await.unwrap())
}

/// Job `job` reads variable `var` from key `var` of the run's own Secret (named like the Job).
pub(super) fn assert_read_from_the_runs_secret(job: &Value, var: &str) {
    let env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let found: Vec<_> = env.iter().filter(|v| v["name"] == var).collect();
    assert_eq!(
        found,
        [&json!({"name": var, "valueFrom": {"secretKeyRef": {
            "name": job["metadata"]["name"], "key": var, "optional": false,
        }}})],
        "{var}"
    );
}

/// The run's Secret as the dispatcher creates it: owned by the Job with `uid` from the start.
fn owned_secret(uid: &str) -> Value {
    let mut secret =
        serde_json::to_value(job_secret(&spec(), &run_secrets(), &settings()).unwrap()).unwrap();
    secret["metadata"]["ownerReferences"] = owners(uid);
    secret
}

/// The Job with `uid` as an owner reference; `blockOwnerDeletion` false.
fn owners(uid: &str) -> Value {
    json!([{
        "apiVersion": "batch/v1", "kind": "Job", "name": spec().run_id(), "uid": uid,
        "blockOwnerDeletion": false,
    }])
}

/// Each request as `METHOD URI`.
fn calls(requests: &[(String, String, Value)]) -> Vec<String> {
    requests
        .iter()
        .map(|(method, uri, _)| format!("{method} {uri}"))
        .collect()
}

#[tokio::test]
async fn the_runs_secrets_are_in_a_secret_its_job_owns_from_its_creation() {
    let (outcome, requests) =
        dispatch(&[(StatusCode::CREATED, created), (StatusCode::CREATED, echo)]).await;
    let name = spec().run_id();
    assert_eq!(
        outcome.unwrap(),
        DispatchOutcome::Dispatched {
            run_id: name.clone()
        }
    );
    assert_eq!(
        calls(&requests),
        [format!("POST {JOBS}?"), format!("POST {SECRETS}?")]
    );

    let job = &requests[0].2;
    assert_eq!(
        job,
        &serde_json::to_value(job_spec_with(&spec(), &run_secrets(), &settings())).unwrap()
    );
    let text = job.to_string();
    for secret in [TOKEN, CREDENTIAL, PUT_LINK, "0put0signature0"] {
        assert!(!text.contains(secret), "{secret} is in the Job: {text}");
    }
    for var in [
        "LANDFALL_VCS_TOKEN",
        "LANDFALL_RUN_REPORT_TOKEN",
        "LANDFALL_RUN_ARTIFACTS",
    ] {
        assert_read_from_the_runs_secret(job, var);
    }

    // Never a Secret without its owner: the Job's uid is in the request that creates it.
    let body = &requests[1].2;
    assert_eq!(body, &owned_secret("0b7e5f2c-uid-of-the-job"));
    assert_eq!(body["metadata"]["name"], name);
    assert_eq!(body["stringData"]["LANDFALL_VCS_TOKEN"], TOKEN);
    assert_eq!(body["stringData"]["LANDFALL_RUN_REPORT_TOKEN"], CREDENTIAL);
    assert!(
        body["stringData"]["LANDFALL_RUN_ARTIFACTS"]
            .as_str()
            .unwrap()
            .contains(PUT_LINK)
    );
}

#[tokio::test]
async fn a_job_that_cannot_be_created_writes_no_secret() {
    let (outcome, requests) = dispatch(&[(StatusCode::FORBIDDEN, forbidden)]).await;
    let err = outcome.unwrap_err();
    assert!(
        matches!(
            &err,
            DispatchError::Kubernetes(KubernetesError::Api {
                code: 403,
                action: "creating Job",
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(calls(&requests), [format!("POST {JOBS}?")]);
}

#[tokio::test]
async fn a_secret_that_cannot_be_created_withdraws_its_job() {
    let (outcome, requests) = dispatch(&[
        (StatusCode::CREATED, created),
        (StatusCode::INTERNAL_SERVER_ERROR, failure),
        (StatusCode::OK, gone),
    ])
    .await;
    let name = spec().run_id();
    let err = outcome.unwrap_err();
    assert!(
        matches!(&err, DispatchError::Kubernetes(KubernetesError::Withdrawn { job, .. }) if *job == name),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(
        calls(&requests),
        [
            format!("POST {JOBS}?"),
            format!("POST {SECRETS}?"),
            format!("DELETE {JOBS}/{name}?"),
        ]
    );
    // In the foreground: the garbage collector deletes what the Job owns (a Secret created
    // after all, its answer lost) before the Job is gone.
    assert_eq!(requests[2].2["propagationPolicy"], "Foreground");
}

#[tokio::test]
async fn a_redelivery_gives_the_existing_job_its_secret_with_fresh_values() {
    let existing = |_: &Value| {
        echo(&json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": spec().run_id(), "uid": "uid-of-the-first-attempt"},
        }))
    };
    // The first attempt wrote the Secret (409), or stopped before it could.
    for secret_exists in [true, false] {
        let mut answers: Vec<Answer> =
            vec![(StatusCode::CONFLICT, conflict), (StatusCode::OK, existing)];
        if secret_exists {
            answers.extend([
                (StatusCode::CONFLICT, conflict as fn(&Value) -> Body),
                (StatusCode::OK, secret),
            ]);
        } else {
            answers.push((StatusCode::CREATED, echo));
        }
        let (outcome, requests) = dispatch(&answers).await;
        let name = spec().run_id();
        assert_eq!(
            outcome.unwrap(),
            DispatchOutcome::AlreadyDispatched {
                run_id: name.clone()
            }
        );
        let mut expected = vec![
            format!("POST {JOBS}?"),
            format!("GET {JOBS}/{name}"),
            format!("POST {SECRETS}?"),
        ];
        if secret_exists {
            expected.push(format!("PATCH {SECRETS}/{name}?"));
        }
        assert_eq!(calls(&requests), expected);
        assert_eq!(requests[2].2, owned_secret("uid-of-the-first-attempt"));
        if secret_exists {
            let patch = &requests[3].2;
            assert_eq!(
                patch["metadata"]["ownerReferences"],
                owners("uid-of-the-first-attempt")
            );
            assert_eq!(patch["stringData"]["LANDFALL_VCS_TOKEN"], TOKEN);
        }
    }
}

#[tokio::test]
async fn a_redelivery_whose_job_is_gone_writes_no_secret() {
    let (outcome, requests) = dispatch(&[
        (StatusCode::CONFLICT, conflict),
        (StatusCode::NOT_FOUND, |_| {
            status_body(404, "NotFound", "jobs not found")
        }),
    ])
    .await;
    assert!(matches!(
        outcome.unwrap(),
        DispatchOutcome::AlreadyDispatched { .. }
    ));
    assert_eq!(requests.len(), 2);
}
