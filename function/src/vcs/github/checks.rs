//! Check runs (GitHub's Checks API) in place of commit statuses when Landfall runs as a GitHub
//! App: only an App may create them. One check run per project and command (its name is the
//! status context), created anew at each state: GitHub shows, and branch protection requires,
//! the latest run of a name for the head commit. The summary line goes into the run's output.

use serde_json::{Value, json};

use super::super::host::Put;
use super::super::{CommitStatus, StatusState};
use http::Method;

/// GitHub's limit on a check run's `output.title` and the length kept of a line in `summary`.
const TITLE_MAX: usize = 255;

/// `POST /repos/{o}/{r}/check-runs` (`checks/create`) for `status` on `sha`, under `base`
/// (`/repos/{o}/{r}`): a pending status is `in_progress`; any other is `completed` with its
/// conclusion (an error is a `failure`: Checks has no `error`).
pub(super) fn check_run(base: &str, sha: &str, status: &CommitStatus) -> Put {
    let title: String = status.description.chars().take(TITLE_MAX).collect();
    let summary = match &status.target_url {
        Some(url) => format!("{}\n\n[Details]({url})", status.description),
        None => status.description.clone(),
    };
    let mut body = json!({
        "name": status.context,
        "head_sha": sha,
        "output": {"title": title, "summary": summary},
    });
    match status.state {
        StatusState::Pending => body["status"] = json!("in_progress"),
        state => {
            body["status"] = json!("completed");
            body["conclusion"] = json!(match state {
                StatusState::Success => "success",
                _ => "failure",
            });
        }
    }
    if let Some(url) = &status.target_url {
        body["details_url"] = Value::String(url.clone());
    }
    Put::new(Method::POST, format!("{base}/check-runs"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: StatusState) -> CommitStatus {
        CommitStatus {
            context: "landfall/plan: envs/prod".to_owned(),
            state,
            description: "1 to add, 0 to change, 0 to destroy".to_owned(),
            target_url: Some("https://github.com/acme/infra/pull/7#issuecomment-1".to_owned()),
            branch: None,
            pull: None,
        }
    }

    #[test]
    fn a_pending_status_is_a_run_in_progress_and_an_ended_one_a_completed_run() {
        let pending = check_run("/repos/acme/infra", "abc", &status(StatusState::Pending));
        assert_eq!(pending.path, "/repos/acme/infra/check-runs");
        assert_eq!(pending.body["status"], "in_progress");
        assert!(pending.body.get("conclusion").is_none());
        assert_eq!(pending.body["head_sha"], "abc");
        assert_eq!(
            pending.body["output"]["title"],
            "1 to add, 0 to change, 0 to destroy"
        );
        for (state, conclusion) in [
            (StatusState::Success, "success"),
            (StatusState::Failure, "failure"),
            (StatusState::Error, "failure"),
        ] {
            let run = check_run("/repos/acme/infra", "abc", &status(state));
            assert_eq!(run.body["status"], "completed");
            assert_eq!(run.body["conclusion"], conclusion);
        }
    }
}
