//! The report credential: how the function knows a report comes from the run it dispatched.
//!
//! At dispatch the function signs the run's spec (its `LANDFALL_RUN_*` variables, exactly as the
//! runner gets them) with a key only the function holds, and gives the runner the signature as
//! its report credential. The runner posts its [`RunReport`] with its spec and that credential
//! ([`ReportEnvelope`]); the function rebuilds the spec, signs it again, and records nothing
//! unless the two match. The credential is bound to that one spec: it cannot vouch for another
//! run, another PR, another comment or another planfile, and the runner never holds the key.
//! The key is derived from the webhook secret, so there is no new secret to keep.

use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{RunReport, RunSpec, SpecError};

/// The path of the function's report endpoint.
pub const REPORT_PATH: &str = "/runs/report";

/// The function's key for report credentials. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct ReportKey(SecretString);

impl std::fmt::Debug for ReportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportKey(..)")
    }
}

/// What a runner posts to [`REPORT_PATH`], with `Authorization: Bearer <credential>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportEnvelope {
    /// The run's spec as the runner got it: its `LANDFALL_RUN_*` variables.
    pub spec: Vec<(String, String)>,
    /// What the run did.
    pub report: RunReport,
}

impl ReportEnvelope {
    /// The envelope for `spec`'s `report`.
    #[must_use]
    pub fn new(spec: &RunSpec, report: RunReport) -> Self {
        Self {
            spec: spec
                .to_env()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            report,
        }
    }

    /// The spec the envelope carries, read as the runner read it.
    pub fn run_spec(&self) -> Result<RunSpec, SpecError> {
        RunSpec::from_lookup(|name| {
            self.spec
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.clone())
        })
    }
}

type HmacSha256 = Hmac<Sha256>;

impl ReportKey {
    /// The key derived from the function's webhook secret (HMAC-SHA256 of a fixed label), so
    /// that a report credential is never a webhook signature, nor the reverse.
    #[must_use]
    pub fn derive(webhook_secret: &SecretString) -> Self {
        let mut mac = HmacSha256::new_from_slice(webhook_secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"landfall run report credential v1");
        Self(SecretString::from(hex::encode(mac.finalize().into_bytes())))
    }

    fn mac(&self, spec: &RunSpec) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.0.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        // Each name and value with its length first: no two specs sign the same bytes.
        for (name, value) in spec.to_env() {
            for part in [name.as_bytes(), value.as_bytes()] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part);
            }
        }
        mac
    }

    /// The credential for `spec`'s run.
    #[must_use]
    pub fn credential(&self, spec: &RunSpec) -> SecretString {
        SecretString::from(hex::encode(self.mac(spec).finalize().into_bytes()))
    }

    /// Whether `credential` is the one minted for `spec` (compared in constant time).
    #[must_use]
    pub fn verify(&self, spec: &RunSpec, credential: &str) -> bool {
        let Ok(bytes) = hex::decode(credential.trim()) else {
            return false;
        };
        self.mac(spec).verify_slice(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CommentId;
    use crate::run::{CommentThread, Outcome, ProjectResult};

    fn spec() -> RunSpec {
        let mut spec = crate::run::env::tests::plan_spec();
        spec.report_back = Some(CommentThread::new(CommentId("11".into()), "header".into()));
        spec
    }

    fn report(spec: &RunSpec) -> RunReport {
        let result = ProjectResult::new(
            &spec.project,
            spec.command,
            Outcome::NoChanges {
                plan_text: "No changes.".into(),
            },
        );
        RunReport {
            run_id: spec.run_id(),
            repo: spec.repo.clone(),
            pr: spec.pr,
            head_sha: spec.head_sha.clone(),
            status: crate::run::RunStatus::NoChanges,
            result,
            summary: None,
            planfile: None,
            log: None,
            comment: String::new(),
            timings: crate::run::Timings::default(),
        }
    }

    #[test]
    fn a_credential_vouches_for_its_own_spec_only() {
        let key = ReportKey::derive(&SecretString::from("webhook-secret"));
        let spec = spec();
        let credential = key.credential(&spec);
        assert!(key.verify(&spec, credential.expose_secret()));

        let envelope = ReportEnvelope::new(&spec, report(&spec));
        let read = envelope.run_spec().unwrap();
        assert_eq!(read, spec, "the spec travels whole");
        assert!(key.verify(&read, credential.expose_secret()));

        let mut other_pr = spec.clone();
        other_pr.pr = crate::event::PullRequestNumber(8);
        let mut other_comment = spec.clone();
        other_comment.report_back =
            Some(CommentThread::new(CommentId("12".into()), "header".into()));
        let mut other_dir = spec.clone();
        other_dir.project.dir = "envs/dev".into();
        for forged in [other_pr, other_comment, other_dir] {
            assert!(!key.verify(&forged, credential.expose_secret()));
        }
        let other_key = ReportKey::derive(&SecretString::from("another secret"));
        assert!(!other_key.verify(&spec, credential.expose_secret()));
        assert!(!key.verify(&spec, "not hex"));
        assert!(!key.verify(&spec, ""));
    }
}
