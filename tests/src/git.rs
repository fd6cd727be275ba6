//! `git` in a test repository, with a fixed author and committer so that commits work on a
//! machine without a git identity.

use std::path::Path;
use std::process::Command;

/// Runs `git -C <dir> <args>` as author and committer `t <t@example.com>` and returns its
/// standard output, trimmed.
///
/// Panics, with git's standard error, when git cannot run or fails. Most calls want the effect
/// (`init`, `commit`), some the output (`rev-parse`): the output is not `must_use`.
#[allow(clippy::must_use_candidate)]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap_or_else(|err| panic!("git {args:?} in {}: {err}", dir.display()));
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs `git -C <dir> <args>` and returns its standard output as it is; `None` when git fails
/// (an object that does not exist, say), for fakes that answer "not found" then.
#[must_use]
pub fn git_bytes(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    output.status.success().then_some(output.stdout)
}

/// Commits `files` (path and content) to `branch` of the repository `repo`, creating the branch
/// from `main` when it is new (the repository's first commit makes `main`), and returns the new
/// head. `main` stays checked out.
#[allow(clippy::must_use_candidate)] // Most callers want the commit, not its id.
pub fn commit_files(repo: &Path, branch: &str, files: &[(&str, String)], message: &str) -> String {
    let first = git_bytes(repo, &["rev-parse", "--verify", "HEAD"]).is_none();
    if first {
        // The first commit makes `main`.
    } else if git(repo, &["branch", "--list", branch]).is_empty() {
        git(repo, &["checkout", "--quiet", "-b", branch, "main"]);
    } else {
        git(repo, &["checkout", "--quiet", branch]);
    }
    for (path, text) in files {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", message]);
    let sha = git(repo, &["rev-parse", "HEAD"]);
    if !first {
        git(repo, &["checkout", "--quiet", "main"]);
    }
    sha
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_commits_without_an_identity_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(dir.path().join("a.txt"), "a\n").unwrap();
        git(dir.path(), &["add", "a.txt"]);
        git(dir.path(), &["commit", "--quiet", "-m", "first"]);
        assert_eq!(git(dir.path(), &["log", "--format=%an %s"]), "t first");
        assert_eq!(
            git_bytes(dir.path(), &["show", "HEAD:a.txt"]),
            Some(b"a\n".to_vec())
        );
        assert_eq!(git_bytes(dir.path(), &["show", "HEAD:missing.txt"]), None);
    }

    #[test]
    fn commit_files_commits_to_a_branch_from_main_and_leaves_main_checked_out() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "--quiet", "--initial-branch=main"]);
        let main = commit_files(repo, "main", &[("a.txt", "a\n".to_owned())], "first");
        let head = commit_files(repo, "change", &[("dir/b.txt", "b\n".to_owned())], "second");
        assert_eq!(git(repo, &["rev-parse", "main"]), main);
        assert_eq!(git(repo, &["rev-parse", "change"]), head);
        assert_eq!(git(repo, &["rev-parse", "change~1"]), main);
        assert_eq!(git(repo, &["branch", "--show-current"]), "main");
        assert_eq!(git(repo, &["show", "change:dir/b.txt"]), "b");
    }

    #[test]
    #[should_panic(expected = "git [\"rev-parse\", \"no-such-ref\"]")]
    fn git_panics_with_the_command_when_git_fails() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--quiet"]);
        let _ = git(dir.path(), &["rev-parse", "no-such-ref"]);
    }
}
