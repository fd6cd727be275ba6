//! The function's own comment texts (the runner renders each project's result).

use std::fmt::Write as _;

use super::PrContext;
use crate::markdown::inline_code;
use crate::projects::Deleted;
use crate::repo_config::ResolvedProject;
use crate::report::short;
use crate::store::{Lock, PrRelease};

/// "Locks released" after a merge, a close or `landfall unlock`.
pub(crate) fn released(locks: &[Lock], why: &str) -> String {
    let mut out =
        format!("**Locks released** ({why}); the plans of this pull request are discarded:\n\n");
    for lock in locks {
        let _ = writeln!(out, "- {}", inline_code(&lock.key.project_label()));
    }
    out
}

/// What a release of every lock of the PR did, with `why` and what then frees the locks kept
/// for a run that writes the state (`then`); `None` when it released nothing.
pub(crate) fn pr_released(release: &PrRelease, why: &str, then: &str) -> Option<String> {
    if release.released.is_empty() {
        return None;
    }
    let mut out = released(&release.released, why);
    if !release.kept.is_empty() {
        let _ = write!(
            out,
            "\n**Kept** while a run that writes their state still runs: {}. Their locks and plans \
             stay until it reports; {then}.\n",
            lock_names(&release.kept)
        );
    }
    Some(out)
}

/// A project apply on merge does not apply, and why (`reasons`): its lock stays.
pub(crate) fn not_applied_on_merge(label: &str, reasons: &[String]) -> String {
    format!(
        "{}: **not applied**: {}. Its lock stays with this pull request: apply the change from a \
         new pull request after `landfall unlock` here",
        inline_code(label),
        reasons.join("; ")
    )
}

/// The reply to a command that runs only on open pull requests, on one that `state` ended.
pub(crate) fn pr_ended(state: crate::vcs::PrState, action: crate::command::Action) -> String {
    let ended = if state == crate::vcs::PrState::Merged { "merged" } else { "closed" };
    format!(
        "This pull request is {ended}: `{}` runs only on open pull requests. Nothing was run. \
         A change it did not apply goes through a new pull request; `landfall unlock` here \
         releases the locks it still holds.",
        action.as_str()
    )
}

/// The locks' projects, as code, separated by commas.
pub(crate) fn lock_names(locks: &[Lock]) -> String {
    let names: Vec<String> = locks
        .iter()
        .map(|lock| inline_code(&lock.key.project_label()))
        .collect();
    names.join(", ")
}

/// The reply to a command the deployment does not run (`LANDFALL_ALLOW_COMMANDS`).
pub(crate) fn command_not_allowed(
    command: &crate::command::Command,
    allowed: &crate::config::AllowedCommands,
) -> String {
    let word = command.action.as_str();
    format!(
        "**`{word}` is not allowed here:** this Landfall deployment runs only these commands: {} \
         (`LANDFALL_ALLOW_COMMANDS`). Nothing was done; ask its operator if `{word}` should run.",
        allowed.describe()
    )
}

/// The reply to `apply` while an operator holds the global apply lock.
pub(crate) fn apply_locked(lock: &crate::store::ApplyLock) -> String {
    format!(
        "**Apply is locked** for every repository: {}. Nothing was applied; plans stay as they \
         are. An operator lifts it with `landfall apply-lock clear`.",
        crate::store::ops::describe_apply_lock(lock)
    )
}

/// Why an apply that did not come from a comment (a merge's, a later stage's) did not run.
pub(crate) fn applies_locked(lock: &crate::store::ApplyLock) -> String {
    format!(
        "apply is locked for every repository ({}; an operator lifts it with `landfall \
         apply-lock clear`)",
        crate::store::ops::describe_apply_lock(lock)
    )
}

/// The comment on a run the sweeper failed.
pub(crate) fn stuck(command: crate::run::RunCommand, label: &str, output: &str) -> String {
    let word = command.title();
    // `import` and `state rm` need their addresses again, as first commented.
    let again = if command.edits_state() {
        format!("your `landfall {word}` command")
    } else {
        format!("`landfall {word}`")
    };
    let label = inline_code(label);
    format!("**The {word} of {label} failed:** {output}\n\nComment {again} to run it again.")
}

/// Who holds `lock`, for a refusal: a pull request (linked), or a drift check.
pub(crate) fn held(lock: &crate::store::Lock) -> String {
    if lock.holder.pr == crate::run::DRIFT_PR.0 {
        "is being checked for drift (or its drift remediated) at the default branch's head".to_owned()
    } else {
        format!("is locked by #{} ({})", lock.holder.pr, lock.holder.pull_url)
    }
}

/// A project the PR deleted or renamed.
pub(crate) fn deleted(deleted: &Deleted) -> String {
    let name = inline_code(deleted.name.as_deref().unwrap_or(&deleted.dir));
    match &deleted.renamed_to {
        Some(to) => {
            let to = inline_code(to);
            format!("Project {name} moved to {to}: it is not planned at its old place.")
        }
        None => format!("Project {name} was deleted: it is not planned."),
    }
}

/// `text` followed by the notes, if any.
pub(crate) fn with_notes(text: &str, notes: &[String]) -> String {
    let mut out = text.to_owned();
    if !notes.is_empty() {
        out.push_str("\n\n");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// The head of a plan comment: what runs, what is locked by another PR, notes.
pub(crate) fn plan_header(
    ctx: &PrContext,
    planned: &[ResolvedProject],
    held_by: &[Lock],
    notes: &[String],
) -> String {
    let mut out = format!(
        "**`plan`** of {} project(s) at `{}`",
        planned.len(),
        short(ctx.head_sha.as_str())
    );
    if planned.is_empty() {
        out.push_str(": nothing could be planned.");
    } else {
        out.push_str(": ");
        let names: Vec<String> = planned
            .iter()
            .map(|p| inline_code(&p.display_name()))
            .collect();
        out.push_str(&names.join(", "));
    }
    for lock in held_by {
        if lock.holder.pr == crate::run::DRIFT_PR.0 {
            let _ = write!(
                out,
                "\n\n**Locked:** {} is being checked for drift (or its drift remediated) at the \
                 default branch's head, so it is not planned here. The lock is given back when \
                 that run ends: comment `landfall plan` again then.",
                inline_code(&lock.key.project_label()),
            );
            continue;
        }
        let _ = write!(
            out,
            "\n\n**Locked:** {} is locked by #{} ([link]({})), so it is not planned here. \
             The lock is released when #{} is merged or closed, or with `landfall unlock` on #{}.",
            inline_code(&lock.key.project_label()),
            lock.holder.pr,
            lock.holder.pull_url,
            lock.holder.pr,
            lock.holder.pr
        );
    }
    with_notes(&out, notes)
}

/// Why an apply's later stage (execution order group, `depends_on`) is refused.
pub(super) const EARLIER_STAGE_NOT_APPLIED: &str = "an earlier stage of this apply was not \
     applied, so this project, which comes after it, was not applied either";
