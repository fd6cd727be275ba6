//! Where a runner Job stands, for the sweeper: the Job's conditions and, for a failed one, why
//! its pod ended (`OOMKilled`, `Error`, evicted). Read as dynamic objects: the binary carries no
//! deserializer for whole Jobs and pods.

use std::fmt::Write as _;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PropagationPolicy};
use serde_json::Value;

use super::RunState;
use super::kubernetes::KubernetesDispatcher;

impl KubernetesDispatcher {
    /// The state of Job `run_id`: running, ended (why), or unknown when the API does not answer.
    pub async fn job_state(&self, run_id: &str) -> RunState {
        if let Some(auth) = self.eks()
            && let Err(err) = auth.refresh().await
        {
            return RunState::Unknown(format!("{err:#}"));
        }
        let namespace = &self.settings().namespace;
        let jobs: Api<DynamicObject> = Api::namespaced_with(
            self.client(),
            namespace,
            &ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&()),
        );
        let job = match jobs.get_opt(run_id).await {
            Ok(Some(job)) => job,
            Ok(None) => {
                return RunState::Ended(format!(
                    "its Job `{run_id}` no longer exists (deleted before it reported)"
                ));
            }
            Err(err) => return RunState::Unknown(err.to_string()),
        };
        let status = &job.data["status"];
        let condition = |kind: &str| {
            status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == kind && c["status"] == "True")
                .cloned()
        };
        if let Some(failed) = condition("Failed") {
            let mut why = format!(
                "its Job failed ({})",
                text(&failed["reason"]).unwrap_or("no reason given")
            );
            if let Some(message) = text(&failed["message"]) {
                let _ = write!(why, ": {message}");
            }
            if let Some(pod) = self.pod_end(run_id).await {
                let _ = write!(why, "; the runner {pod}");
            }
            return RunState::Ended(why);
        }
        if condition("Complete").is_some() || status["succeeded"].as_i64().is_some_and(|n| n > 0) {
            return RunState::Ended("its Job completed without recording a result".to_owned());
        }
        RunState::Running
    }

    /// Deletes Job `run_id` with foreground propagation (its pod first: the runner gets SIGTERM
    /// and stops its step; the garbage collector deletes the run's Secret too, which the Job
    /// owns); `Ok(false)` when there is no such Job.
    pub async fn delete_job(&self, run_id: &str) -> Result<bool, String> {
        if let Some(auth) = self.eks() {
            auth.refresh().await.map_err(|err| format!("{err:#}"))?;
        }
        let jobs: Api<DynamicObject> = Api::namespaced_with(
            self.client(),
            &self.settings().namespace,
            &ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&()),
        );
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..DeleteParams::default()
        };
        match jobs.delete(run_id, &params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(err) => Err(err.to_string()),
        }
    }

    /// How the Job's runner container ended, when a pod says (`was OOMKilled`, `exited 1`).
    async fn pod_end(&self, run_id: &str) -> Option<String> {
        let pods: Api<DynamicObject> = Api::namespaced_with(
            self.client(),
            &self.settings().namespace,
            &ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
        );
        let list = pods
            .list(&ListParams::default().labels(&format!("job-name={run_id}")))
            .await
            .ok()?;
        list.items.iter().rev().find_map(|pod| {
            let statuses = pod.data["status"]["containerStatuses"].as_array()?;
            statuses.iter().find_map(|c| {
                let ended = &c["state"]["terminated"];
                let ended = if ended.is_null() {
                    &c["lastState"]["terminated"]
                } else {
                    ended
                };
                let reason = text(&ended["reason"])?;
                Some(match ended["exitCode"].as_i64() {
                    Some(code) => format!("was {reason} (exit code {code})"),
                    None => format!("was {reason}"),
                })
            })
        })
    }
}

fn text(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.is_empty())
}
