//! A runner that reports to the function: its [`RunReport`] posted with its spec and the
//! credential the function minted for this run ([`crate::run::report_auth`]). The runner holds
//! no store settings and no VCS API client: the function checks the report against the run it
//! dispatched, then records it (plan record, commit status, PR comment).

use std::time::Duration;

use anyhow::Context as _;

use super::git;
use crate::config::{env_vars, process as settings};
use crate::run::report_auth::ReportEnvelope;
use crate::run::{RunReport, RunSpec};

/// How many times a report is sent before the runner gives up (the sweeper then fails the run):
/// about 45 s of waits in all.
const ATTEMPTS: u32 = 10;

/// The report as it travels: its result cut to what a record keeps, so that a huge plan still
/// fits a Lambda request (6 MB); the full log is stored as an artifact.
fn envelope(spec: &RunSpec, report: &RunReport) -> ReportEnvelope {
    let mut report = report.clone();
    report.result = crate::run::cap::capped(&report.result);
    report.comment = crate::comment::render(std::slice::from_ref(&report.result));
    ReportEnvelope::new(spec, report)
}

/// Posts `report` to the function; retried with backoff on connection errors, 5xx answers and
/// 429 (throttled).
/// A 409 (the run was already recorded) is not an error.
pub(super) async fn post(spec: &RunSpec, report: &RunReport) -> anyhow::Result<()> {
    let url = settings::var(env_vars::RUN_REPORT_URL)
        .with_context(|| format!("{} is not set", env_vars::RUN_REPORT_URL))?;
    let credential = git::handed_over(env_vars::RUN_REPORT_TOKEN)
        .with_context(|| format!("{} was not given", env_vars::RUN_REPORT_TOKEN))?;
    let body = serde_json::to_vec(&envelope(spec, report))?;
    let client = crate::tls::reqwest_builder()
        .timeout(Duration::from_mins(1))
        .build()
        .context("cannot build the HTTP client")?;
    let mut wait = Duration::from_millis(250);
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(&url)
            .bearer_auth(&credential)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let retry = match sent {
            Ok(answer) if answer.status().is_success() => return Ok(()),
            Ok(answer) if answer.status() == reqwest::StatusCode::CONFLICT => {
                eprintln!("landfall-runner: the function had already recorded this run");
                return Ok(());
            }
            // 429: Lambda throttled the function (its reserved concurrency in use).
            Ok(answer)
                if answer.status().is_server_error()
                    || answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
            {
                format!("the function answered {}", answer.status())
            }
            Ok(answer) => {
                let status = answer.status();
                let text = answer.text().await.unwrap_or_default();
                anyhow::bail!("the function refused the report ({status}): {text}");
            }
            Err(err) => format!("{}", err.without_url()),
        };
        eprintln!("landfall-runner: report attempt {attempt} of {ATTEMPTS} failed: {retry}");
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }
    anyhow::bail!("the function did not take the report after {ATTEMPTS} attempts")
}
