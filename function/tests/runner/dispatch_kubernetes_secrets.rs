//! The run's secrets in a Kubernetes dispatch, against the `tower-test` mock API server of
//! `dispatch_kubernetes.rs`: they go in a Secret created before the Job, the Job only refers to
//! it, and the Job then owns it, so that the Secret goes with the Job. A Job that cannot be created
//! takes its Secret with it; a Secret the Job cannot own takes the Job with it; a redelivery gives
//! the existing Job's Secret fresh values and that Job as owner.

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

fn owner_patch(uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": spec().run_id(), "uid": uid,
        "blockOwnerDeletion": false,
    }]}})
}

#[tokio::test]
async fn the_runs_secrets_are_in_a_secret_created_before_its_job_which_then_owns_it() {
    let (outcome, requests) = dispatch(&[
        (StatusCode::CREATED, echo),
        (StatusCode::CREATED, created),
        (StatusCode::OK, secret),
    ])
    .await;
    let name = spec().run_id();
    assert_eq!(
        outcome.unwrap(),
        DispatchOutcome::Dispatched {
            run_id: name.clone()
        }
    );

    let (method, uri, body) = &requests[0];
    assert_eq!(
        (method.as_str(), uri.as_str()),
        ("POST", &*format!("{SECRETS}?"))
    );
    let expected = job_secret(&spec(), &run_secrets(), &settings()).unwrap();
    assert_eq!(body, &serde_json::to_value(expected).unwrap());
    assert_eq!(body["metadata"]["name"], name);
    assert_eq!(body["stringData"]["LANDFALL_VCS_TOKEN"], TOKEN);
    assert_eq!(body["stringData"]["LANDFALL_RUN_REPORT_TOKEN"], CREDENTIAL);
    assert!(
        body["stringData"]["LANDFALL_RUN_ARTIFACTS"]
            .as_str()
            .unwrap()
            .contains(PUT_LINK)
    );

    let (method, uri, job) = &requests[1];
    assert_eq!(
        (method.as_str(), uri.as_str()),
        ("POST", &*format!("{JOBS}?"))
    );
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

    let (method, uri, patch) = &requests[2];
    assert_eq!(
        (method.as_str(), uri.as_str()),
        ("PATCH", &*format!("{SECRETS}/{name}?"))
    );
    assert_eq!(patch, &owner_patch("0b7e5f2c-uid-of-the-job"));
}

#[tokio::test]
async fn a_job_that_cannot_be_created_takes_its_secret_with_it() {
    let (outcome, requests) = dispatch(&[
        (StatusCode::CREATED, echo),
        (StatusCode::FORBIDDEN, forbidden),
        (StatusCode::OK, gone),
    ])
    .await;
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
    let (method, uri, _) = &requests[2];
    assert_eq!(
        (method.as_str(), uri.as_str()),
        ("DELETE", &*format!("{SECRETS}/{}?", spec().run_id()))
    );
}

#[tokio::test]
async fn a_secret_its_job_cannot_own_withdraws_the_job_and_the_secret() {
    let (outcome, requests) = dispatch(&[
        (StatusCode::CREATED, echo),
        (StatusCode::CREATED, created),
        (StatusCode::INTERNAL_SERVER_ERROR, failure),
        (StatusCode::OK, gone),
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
    let calls: Vec<_> = requests
        .iter()
        .map(|(method, uri, _)| format!("{method} {uri}"))
        .collect();
    assert_eq!(
        calls[2..],
        [
            format!("PATCH {SECRETS}/{name}?"),
            format!("DELETE {JOBS}/{name}?"),
            format!("DELETE {SECRETS}/{name}?"),
        ]
    );
    assert_eq!(requests[3].2["propagationPolicy"], "Foreground");
}

#[tokio::test]
async fn a_redelivery_refreshes_the_secret_and_gives_it_to_the_existing_job() {
    let (outcome, requests) = dispatch(&[
        (StatusCode::CONFLICT, conflict),
        (StatusCode::OK, secret),
        (StatusCode::CONFLICT, conflict),
        (StatusCode::OK, |_| {
            echo(&json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": spec().run_id(), "uid": "uid-of-the-first-attempt"},
            }))
        }),
        (StatusCode::OK, secret),
    ])
    .await;
    let name = spec().run_id();
    assert_eq!(
        outcome.unwrap(),
        DispatchOutcome::AlreadyDispatched {
            run_id: name.clone()
        }
    );
    let calls: Vec<_> = requests
        .iter()
        .map(|(method, uri, _)| format!("{method} {uri}"))
        .collect();
    assert_eq!(
        calls,
        [
            format!("POST {SECRETS}?"),
            format!("PATCH {SECRETS}/{name}?"),
            format!("POST {JOBS}?"),
            format!("GET {JOBS}/{name}"),
            format!("PATCH {SECRETS}/{name}?"),
        ]
    );
    assert_eq!(requests[1].2["stringData"]["LANDFALL_VCS_TOKEN"], TOKEN);
    assert_eq!(requests[4].2, owner_patch("uid-of-the-first-attempt"));
}

#[tokio::test]
async fn a_secret_that_cannot_be_created_stops_the_dispatch_before_its_job() {
    let (outcome, requests) = dispatch(&[(StatusCode::FORBIDDEN, forbidden)]).await;
    let err = outcome.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("creating the Secret of Job {}", spec().run_id())),
        "{err}"
    );
    assert_eq!(requests.len(), 1);
}
