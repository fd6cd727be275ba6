//! A plan's end: the part of Terraform's plan output a reviewer reads, and the planfile read
//! once, summarised (`terraform show -json` of a private copy) and stored, those very bytes.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::git;
use super::process::Capture;
use super::state::{Executed, Run, Stop, failed};
use crate::run::{ProjectResult, summary};
use crate::store::artifacts::Artifacts;
use crate::store::keys;

/// Where the part of Terraform's (or OpenTofu's) plan output that a reviewer reads starts.
const STARTS: [&str; 8] = [
    "Terraform used the selected providers",
    "Terraform will perform the following actions",
    "Terraform planned the following actions",
    "OpenTofu used the selected providers",
    "OpenTofu will perform the following actions",
    "OpenTofu planned the following actions",
    "Changes to Outputs:",
    "No changes.",
];

/// Whether `output` has a Terraform plan in it.
pub(super) fn reads_as_plan(output: &str) -> bool {
    output
        .lines()
        .any(|line| STARTS.iter().any(|start| line.starts_with(start)))
}

/// The part of Terraform's plan output a reviewer reads: from "Terraform used the selected
/// providers" (or "Changes to Outputs:", or "No changes.") to the rule before "Saved the plan
/// to".
#[must_use]
pub fn plan_text(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|line| STARTS.iter().any(|start| line.starts_with(start)))
        .unwrap_or(0);
    let end = lines[start..]
        .iter()
        .position(|line| line.starts_with('─') || line.starts_with("Saved the plan to:"))
        .map_or(lines.len(), |offset| start + offset);
    lines[start..end].join("\n").trim().to_owned()
}

/// The planfile's bytes, read only where the runner put `$PLANFILE`: no symbolic link on the way
/// (one to `/proc/self/cwd/...` leads Terraform and the runner to two different files). `step`
/// (`plan`, `show`) names the step that fails when they cannot be read.
pub(super) fn planfile_bytes(run: &Run<'_>, step: &str) -> Result<Vec<u8>, Stop> {
    let out = run.planfile.parent().unwrap_or(&run.opts.work_dir);
    let linked = fs::read_link(&run.opts.work_dir).ok() != run.work_dir_link
        || [out, &run.planfile]
            .into_iter()
            .any(|path| fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()));
    if linked {
        let not = if step == "show" { "shown" } else { "stored" };
        return Err(failed(
            step,
            format!(
                "$PLANFILE ({}) leads through a symbolic link: the planfile is not {not}",
                run.planfile.display()
            ),
        ));
    }
    if !run.planfile.is_file() {
        return Err(failed(
            step,
            format!(
                "the workflow wrote no planfile at $PLANFILE ({})",
                run.planfile.display()
            ),
        ));
    }
    fs::read(&run.planfile).map_err(|err| failed("upload", format!("reading the planfile: {err}")))
}

/// `bytes` written to a folder the runner makes now, after the workflow's last step: every
/// step's process group was killed when it ended, so nothing of the pull request's knows the
/// folder or is left to rewrite the copy. The folder goes when the returned guard drops.
fn private_copy(run: &Run<'_>, bytes: &[u8]) -> Result<(TempDir, PathBuf), Stop> {
    let copy_failed = |err: std::io::Error| failed("show", format!("copying the planfile: {err}"));
    let folder = tempfile::Builder::new()
        .prefix("landfall-show-")
        .tempdir_in(&run.opts.work_dir)
        .map_err(copy_failed)?;
    let copy = folder.path().join("plan.tfplan");
    fs::write(&copy, bytes).map_err(copy_failed)?;
    Ok((folder, copy))
}

/// `terraform show -json` of `planfile`, run in the project directory `dir`.
fn show_json(run: &mut Run<'_>, dir: &Path, planfile: &Path) -> Result<String, Stop> {
    show(run, dir, &["-json", "-no-color"], planfile)
}

/// `terraform show` of `planfile` with `flags`, run in the project directory `dir`.
fn show(run: &mut Run<'_>, dir: &Path, flags: &[&str], planfile: &Path) -> Result<String, Stop> {
    let mut args = vec!["show".to_owned()];
    args.extend(flags.iter().map(|flag| (*flag).to_owned()));
    args.push(planfile.display().to_string());
    let (mut cmd, shown) = run.terraform(&args);
    // Not the dynamic loader's variables a step set (`LD_PRELOAD`): the runner's own `show`
    // runs only the binary it found, whose output the summary and the policies read.
    cmd.current_dir(dir).envs(
        run.env
            .iter()
            .filter(|(name, _)| !name.starts_with("LD_"))
            .map(|(name, value)| (name, value)),
    );
    for name in git::WITHHELD_VARS {
        cmd.env_remove(name);
    }
    let done = run
        .wait(cmd, Capture::Split, None)
        .map_err(|err| failed("show", format!("{shown}: {err}")))?;
    if done.cancelled {
        return Err(Run::cancelled("show", ""));
    }
    if done.timed_out {
        return Err(run.timed_out("show", done.stderr_text()));
    }
    if !done.status.success() {
        return Err(failed("show", done.stderr_text()));
    }
    Ok(done.text())
}

/// The plan's text for reviewers: the plan step's `output` (its colours taken out), where it
/// starts with Terraform's rendering of the very planfile stored (`copy`), else that rendering,
/// with a note. Code of the pull request's that ran while Terraform planned (a data source's
/// program) can swap the planfile after Terraform printed its plan, or write a plan of its own
/// into Terraform's output, so the printed plan is never taken on trust. What follows the
/// rendering (warnings, a custom step's own lines) is kept. A custom step's output that does not
/// read as a plan is shown as it is (the counts shown are the stored plan's).
fn checked_text(run: &mut Run<'_>, dir: &Path, copy: &Path, output: &str) -> Result<String, Stop> {
    let output = summary::without_colours(output);
    if !reads_as_plan(&output) {
        return Ok(plan_text(&output));
    }
    let stored = plan_text(&show(run, dir, &["-no-color"], copy)?);
    let printed = plan_text(&output);
    if lines_trimmed(&printed).starts_with(&lines_trimmed(&stored)) {
        return Ok(printed);
    }
    Ok(format!(
        "(The plan the workflow printed is not the planfile it left: what follows is \
         Terraform's rendering of the planfile stored, the one `apply` applies.)\n\n{stored}"
    ))
}

/// `text` with every line's trailing blanks cut.
fn lines_trimmed(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes the plan's JSON at `$SHOWFILE`, for the steps after a `show` step and the
/// post-workflow hooks. A step may have left something there (a forged plan, read-only; a link
/// to elsewhere): the JSON is written whole to a new file beside it (`create_new` follows no
/// link) and renamed over it (which replaces a link, never its target), and a write that fails
/// fails the run, so nothing reads a part of it.
fn write_showfile(path: &Path, json: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let part = path.with_extension("json.part");
    match fs::remove_file(&part) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)?;
    file.write_all(json.as_bytes())?;
    drop(file);
    fs::rename(&part, path)
}

/// Removes `$SHOWFILE` where the run did not end by writing it, before the post-workflow
/// hooks: a failed plan's file may be a step's forgery, or a `show` step's from before the
/// steps that failed.
pub(super) fn remove_showfile(run: &Run<'_>) {
    let _ = fs::remove_file(run.planfile.with_extension("json"));
}

/// Atlantis' `show` step: `terraform show -json` of the plan at `$PLANFILE` (a private copy,
/// read as the plan's end reads it) written to `$SHOWFILE` for the steps after it. Nothing of
/// it is shown or logged: the JSON holds the plan's sensitive values.
pub(super) fn show_step(run: &mut Run<'_>, dir: &Path) -> Result<(), Stop> {
    if fs::symlink_metadata(&run.planfile).is_err() {
        return Err(failed(
            "show",
            format!(
                "there is no plan at $PLANFILE ({}) to show: `show` goes after the step that plans",
                run.planfile.display()
            ),
        ));
    }
    let bytes = planfile_bytes(run, "show")?;
    let (_folder, copy) = private_copy(run, &bytes)?;
    let json = show_json(run, dir, &copy)?;
    // The steps after it may print the file: its sensitive values are cut from every text from
    // now on, in an apply and in a plan that fails before its end as well.
    run.sensitive.extend(summary::sensitive_values(&json));
    write_showfile(&run.planfile.with_extension("json"), &json)
        .map_err(|err| failed("show", format!("writing $SHOWFILE: {err}")))
}

/// Ends a plan run whose workflow has run in `dir` (`output` being its plan step's output):
/// reads the planfile once, and summarises, checks and stores those bytes.
pub(super) async fn finish_plan<A: Artifacts>(
    run: &mut Run<'_>,
    dir: &Path,
    output: &str,
    artifacts: &A,
) -> Result<Executed, Stop> {
    let spec = run.spec;
    // The one read: what is summarised, checked against the policies, checksummed and stored.
    let bytes = planfile_bytes(run, "plan")?;
    let (_folder, copy) = private_copy(run, &bytes)?;
    let json = show_json(run, dir, &copy)?;
    write_showfile(&run.planfile.with_extension("json"), &json)
        .map_err(|err| failed("show", format!("writing $SHOWFILE: {err}")))?;
    let summary = summary::summarize(&json)
        .map_err(|err| failed("show", format!("terraform show -json: {err}")))?;
    // Beside what a `show` step found: a step may have printed those before a new plan.
    run.sensitive.extend(summary::sensitive_values(&json));
    run.policies = crate::run::policy::evaluate(&spec.project.policy_sets, &json);
    let shown = checked_text(run, dir, &copy, output)?;
    let text = summary::redact(&shown, &run.sensitive);

    let planfile = if summary.has_changes() {
        // Belt and braces: something still rewriting the planfile, or the copy, after the
        // workflow ended is refused outright.
        if planfile_bytes(run, "plan")? != bytes || fs::read(&copy).ok().as_ref() != Some(&bytes) {
            return Err(failed(
                "plan",
                "the planfile changed while Terraform summarised it: it is not stored",
            ));
        }
        let key = keys::planfile_key(
            &spec.lock_key(),
            spec.pr.0,
            spec.head_sha.as_str(),
            &spec.run_id(),
        );
        Some(
            artifacts
                .put(&key, bytes)
                .await
                .map_err(|err| failed("upload", format!("storing the planfile: {err:#}")))?,
        )
    } else {
        None
    };
    let result = ProjectResult::planned(&spec.project, &summary, text);
    Ok((result.outcome, Some(summary), planfile))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_text_keeps_what_a_reviewer_reads() {
        let output = "terraform_data.a: Refreshing state...\n\nTerraform used the selected providers to generate the following execution\nplan.\n\n  # terraform_data.a will be created\n\nPlan: 1 to add, 0 to change, 0 to destroy.\n\n─────────\n\nSaved the plan to: /w/p.tfplan\n";
        let text = plan_text(output);
        assert!(text.starts_with("Terraform used the selected providers"));
        assert!(text.ends_with("Plan: 1 to add, 0 to change, 0 to destroy."));
    }

    #[test]
    fn colours_are_taken_out_and_nothing_else() {
        let coloured =
            "\u{1b}[0m\u{1b}[1mTerraform used\u{1b}[0m\n  \u{1b}[32m+\u{1b}[0m create [x]\n";
        assert_eq!(
            summary::without_colours(coloured),
            "Terraform used\n  + create [x]\n"
        );
        assert_eq!(summary::without_colours("a \u{1b} b"), "a \u{1b} b");
    }

    #[test]
    fn output_without_markers_is_kept_whole() {
        assert_eq!(plan_text("custom tool output\n"), "custom tool output");
        assert!(!reads_as_plan("custom tool output\n"));
    }

    #[test]
    fn a_plan_of_outputs_only_starts_at_its_changes() {
        let output = "terraform_data.a: Refreshing state...\n\nChanges to Outputs:\n  + greeting = \"hi\"\n\nYou can apply this plan to save these new output values.\n";
        assert!(reads_as_plan(output));
        assert!(plan_text(output).starts_with("Changes to Outputs:"));
    }
}
