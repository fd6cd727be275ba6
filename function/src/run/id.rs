//! A run's id: deterministic, so a retried dispatch of the same run (a redelivered webhook, a
//! Lambda retry) finds its own Job, while a new commit or a new comment gets a new one. Ids are
//! DNS-1123 labels (the Job's name): lower-case letters, digits and `-`, starting and ending with
//! an alphanumeric, at most 63 characters.

use sha2::{Digest, Sha256};

use super::RunSpec;

/// The longest DNS-1123 label, and the longest label value.
pub const MAX_NAME_LEN: usize = 63;

/// How many hex digits of the SHA-256 end a name: 48 bits, unique among any realistic number
/// of runs in one namespace.
pub const HASH_LEN: usize = 12;

/// The run's Job name: `lf-<command>-<pr>-<project slug>-<hash>`, where the hash covers the
/// repository, PR, project (dir, workspace, name), command, head commit and trigger, and the
/// readable part is cut to keep the whole within 63 characters.
#[must_use]
pub fn job_name(spec: &RunSpec) -> String {
    let mut hasher = Sha256::new();
    for part in [
        spec.repo.as_str(),
        &spec.pr.to_string(),
        &spec.project.dir,
        &spec.project.workspace,
        spec.project.name.as_deref().unwrap_or("\u{0}"),
        spec.command.as_str(),
        spec.head_sha.as_str(),
        &spec.trigger,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0xff]);
    }
    let hash = hex::encode(hasher.finalize());
    let hash = &hash[..HASH_LEN];
    // Kubernetes names take no `_` (`state_rm`).
    let head = format!("lf-{}-{}", spec.command.as_str().replace('_', "-"), spec.pr);
    let room = MAX_NAME_LEN - head.len() - hash.len() - 2;
    let slug = slug(&spec.project.label(), room);
    if slug.is_empty() {
        format!("{head}-{hash}")
    } else {
        format!("{head}-{slug}-{hash}")
    }
}

/// `text` as lower-case letters, digits and single dashes, without leading or trailing dashes,
/// at most `max` characters.
fn slug(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(max);
    out.trim_end_matches('-').to_owned()
}
