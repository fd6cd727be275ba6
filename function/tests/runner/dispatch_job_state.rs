//! Where a runner Job stands, read back for the sweeper against a `tower-test` mock API server:
//! a Job that failed because its runner was `OOMKilled`, a Job deleted before it reported, a
//! Job that completed without recording a result, and one still running.

use http::{Request, Response, StatusCode};
use kube::client::Body;
use landfall_function::dispatch::{
    Dispatcher as _, KubernetesDispatcher, RunState, RunnerSettings,
};
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

const JOB: &str = "lf-plan-7-envs-prod-network-0123456789ab";

fn dispatcher() -> (KubernetesDispatcher, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let settings = RunnerSettings::new("landfall-runners", "runner:1", "landfall-runner");
    (KubernetesDispatcher::new(client, settings), handle)
}

/// Answers the API's requests in order with `answers` (status, body); returns the URIs asked.
async fn serve(mut handle: ApiHandle, answers: Vec<(StatusCode, Value)>) -> Vec<String> {
    let mut uris = Vec::new();
    for (status, body) in answers {
        let (request, send) = handle.next_request().await.expect("the API is asked");
        uris.push(request.uri().to_string());
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap(),
        );
    }
    uris
}

fn job(status: &Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": JOB, "namespace": "landfall-runners"},
        "status": status,
    })
}

async fn job_state(answers: Vec<(StatusCode, Value)>) -> (RunState, Vec<String>) {
    let (dispatcher, handle) = dispatcher();
    let server = tokio::spawn(serve(handle, answers));
    let state = dispatcher.run_state(JOB).await;
    (state, server.await.unwrap())
}

#[tokio::test]
async fn a_job_whose_runner_was_oom_killed_has_ended_and_says_so() {
    let failed = job(&json!({
        "failed": 1,
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit"}]
    }));
    let pods = json!({
        "apiVersion": "v1", "kind": "PodList", "metadata": {},
        "items": [{
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{JOB}-x7k2p"), "labels": {"job-name": JOB}},
            "status": {"containerStatuses": [{
                "name": "runner",
                "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
            }]}
        }]
    });
    let (state, uris) = job_state(vec![(StatusCode::OK, failed), (StatusCode::OK, pods)]).await;
    let RunState::Ended(why) = state else {
        panic!("{state:?}")
    };
    assert!(why.contains("BackoffLimitExceeded"), "{why}");
    assert!(why.contains("OOMKilled (exit code 137)"), "{why}");
    assert_eq!(
        uris[0],
        format!("/apis/batch/v1/namespaces/landfall-runners/jobs/{JOB}")
    );
    assert!(
        uris[1].starts_with("/api/v1/namespaces/landfall-runners/pods?")
            && uris[1].contains(&format!("labelSelector=job-name%3D{JOB}")),
        "{}",
        uris[1]
    );
}

#[tokio::test]
async fn a_deleted_job_has_ended() {
    let missing = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("jobs.batch \"{JOB}\" not found"), "reason": "NotFound", "code": 404
    });
    let (state, _) = job_state(vec![(StatusCode::NOT_FOUND, missing)]).await;
    assert!(
        matches!(&state, RunState::Ended(why) if why.contains("no longer exists")),
        "{state:?}"
    );
}

#[tokio::test]
async fn a_completed_job_without_a_result_has_ended_and_a_running_one_has_not() {
    let complete = job(&json!({
        "succeeded": 1,
        "conditions": [{"type": "Complete", "status": "True"}]
    }));
    let (state, _) = job_state(vec![(StatusCode::OK, complete)]).await;
    assert!(
        matches!(&state, RunState::Ended(why) if why.contains("completed without recording")),
        "{state:?}"
    );
    let running = job(&json!({"active": 1}));
    let (state, _) = job_state(vec![(StatusCode::OK, running)]).await;
    assert_eq!(state, RunState::Running);
}

#[tokio::test]
async fn an_api_that_fails_leaves_the_run_for_the_next_sweep() {
    let broken = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "etcd is down", "reason": "InternalError", "code": 500
    });
    let (state, _) = job_state(vec![(StatusCode::INTERNAL_SERVER_ERROR, broken)]).await;
    assert!(matches!(state, RunState::Unknown(_)), "{state:?}");
}

#[tokio::test]
async fn a_cancel_deletes_the_job_with_foreground_propagation() {
    let (dispatcher, mut handle) = dispatcher();
    let server = tokio::spawn(async move {
        let (request, send) = handle.next_request().await.expect("the API is asked");
        let method = request.method().to_string();
        let uri = request.uri().to_string();
        let body = http_body_util::BodyExt::collect(request.into_body())
            .await
            .unwrap()
            .to_bytes();
        send.send_response(
            Response::builder()
                .status(StatusCode::OK)
                .body(Body::from(serde_json::to_vec(&job(&json!({}))).unwrap()))
                .unwrap(),
        );
        (method, uri, serde_json::from_slice::<Value>(&body).unwrap())
    });
    assert_eq!(dispatcher.cancel(JOB).await, Ok(true));
    let (method, uri, body) = server.await.unwrap();
    assert_eq!(method, "DELETE");
    assert_eq!(
        uri,
        format!("/apis/batch/v1/namespaces/landfall-runners/jobs/{JOB}?")
    );
    assert_eq!(body["propagationPolicy"], "Foreground");
}
