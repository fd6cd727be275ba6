//! The clone itself: git run with the credential helper's environment and the run's deadline,
//! at the exact head commit, and the project directory inside it.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::WITHHELD_VARS;
use crate::runner::process::{self, Capture};

/// A clone that failed.
#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    /// A git command could not be started.
    #[error("running git {args} failed")]
    Spawn {
        /// The arguments.
        args: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A git command failed.
    #[error("git {args} failed:\n{output}")]
    Git {
        /// The arguments.
        args: String,
        /// Its output.
        output: String,
    },
    /// The checkout is not at the requested commit.
    #[error("the checkout is at {found}, not at the requested head {wanted}")]
    WrongCommit {
        /// The commit asked for.
        wanted: String,
        /// The commit checked out.
        found: String,
    },
    /// The run's time limit passed during the clone.
    #[error("the clone did not finish within the run's time limit")]
    TimedOut,
}

/// How a clone went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloned {
    /// The commit checked out, in full.
    pub sha: String,
    /// Whether the shallow fetch of the one commit worked (else a full fetch was needed).
    pub shallow: bool,
}

fn git(
    dir: &Path,
    args: &[&str],
    env: &[(String, String)],
    deadline: Instant,
) -> Result<String, CloneError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    for name in WITHHELD_VARS {
        cmd.env_remove(name);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let shown = args.join(" ");
    let done = process::run(cmd, Capture::Split, deadline, Duration::from_secs(5), None).map_err(
        |source| CloneError::Spawn {
            args: shown.clone(),
            source,
        },
    )?;
    if done.timed_out {
        return Err(CloneError::TimedOut);
    }
    if done.status.success() {
        Ok(done.text())
    } else {
        Err(CloneError::Git {
            args: shown,
            output: format!("{}{}", done.text(), done.stderr_text()),
        })
    }
}

/// Clones `url` into `dest` at `sha`: a shallow fetch of that one commit where the server allows
/// it (GitHub, GitLab and `file://` do), else a full fetch and a checkout. `env` carries the
/// credential helper ([`git_env`]).
pub fn clone_at(
    url: &str,
    sha: &str,
    dest: &Path,
    env: &[(String, String)],
    deadline: Instant,
) -> Result<Cloned, CloneError> {
    std::fs::create_dir_all(dest).map_err(|source| CloneError::Spawn {
        args: format!("init {}", dest.display()),
        source,
    })?;
    git(dest, &["init", "--quiet"], env, deadline)?;
    git(dest, &["remote", "add", "origin", url], env, deadline)?;
    let shallow = git(
        dest,
        &["fetch", "--quiet", "--depth=1", "--no-tags", "origin", sha],
        env,
        deadline,
    )
    .is_ok();
    if !shallow {
        git(
            dest,
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
            ],
            env,
            deadline,
        )?;
    }
    let target = if shallow { "FETCH_HEAD" } else { sha };
    git(
        dest,
        &["checkout", "--quiet", "--detach", target],
        env,
        deadline,
    )?;
    let found = git(dest, &["rev-parse", "HEAD"], env, deadline)?
        .trim()
        .to_owned();
    if !found.starts_with(sha) {
        return Err(CloneError::WrongCommit {
            wanted: sha.to_owned(),
            found,
        });
    }
    Ok(Cloned {
        sha: found,
        shallow,
    })
}

/// The project directory inside the clone, refusing a `dir` that would leave it.
#[must_use]
pub fn project_dir(repo: &Path, dir: &str) -> Option<PathBuf> {
    let relative = Path::new(dir);
    let plain = !relative.is_absolute()
        && relative.components().all(|component| {
            matches!(
                component,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    plain.then(|| repo.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_dirs_cannot_leave_the_clone() {
        let repo = Path::new("/w/repo");
        assert_eq!(project_dir(repo, "envs/prod"), Some(repo.join("envs/prod")));
        assert_eq!(project_dir(repo, "."), Some(repo.join(".")));
        assert_eq!(project_dir(repo, "../x"), None);
        assert_eq!(project_dir(repo, "/etc"), None);
    }
}
