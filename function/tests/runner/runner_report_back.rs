//! A runner posting its report to the function: a throttled function (Lambda's 429, its
//! reserved concurrency in use) is asked again, with backoff, until it takes the report.

use landfall_e2e::git;
use landfall_function::event::CommentId;
use landfall_function::run::{CommentThread, RunStatus};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::runner_e2e::Fixture;

const CREDENTIAL: &str = "report-credential-7a1f";

#[test]
fn a_throttled_report_is_sent_again_until_the_function_takes_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let function = runtime.block_on(async {
        let function = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/runs/report"))
            .respond_with(ResponseTemplate::new(429))
            .up_to_n_times(2)
            .with_priority(1)
            .mount(&function)
            .await;
        Mock::given(method("POST"))
            .and(path("/runs/report"))
            .and(header("authorization", format!("Bearer {CREDENTIAL}")))
            .respond_with(ResponseTemplate::new(200))
            .with_priority(2)
            .mount(&function)
            .await;
        function
    });
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.report_back = Some(CommentThread::new(
        CommentId("555".to_owned()),
        "Planning 1 project".to_owned(),
    ));
    // The report reaches the file only once the function took it: a runner that gave up on the
    // function exits without writing it, and the fixture fails.
    let report = fx.run_with_env(
        &spec,
        &[
            (
                "LANDFALL_RUN_REPORT_URL",
                format!("{}/runs/report", function.uri()),
            ),
            ("LANDFALL_RUN_REPORT_TOKEN", CREDENTIAL.to_owned()),
        ],
    );
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let posted = runtime.block_on(function.received_requests()).unwrap();
    assert_eq!(posted.len(), 3, "two throttled, then taken");
}
