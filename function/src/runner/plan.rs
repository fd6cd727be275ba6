//! A plan's result: the part of Terraform's output a reviewer reads, the summary from
//! `terraform show -json` (sensitive values cut from the text and the log), and the planfile
//! stored as an artifact when the plan changes anything.

use std::fs;
use std::path::Path;

use super::execute::{Executed, Run, Stop, failed};
use super::git;
use super::process::Capture;
use crate::run::ProjectResult;
use crate::run::summary;
use crate::store::artifacts::Artifacts;
use crate::store::keys;

/// The part of Terraform's plan output a reviewer reads: from "Terraform used the selected
/// providers" (or "No changes.") to the rule before "Saved the plan to".
#[must_use]
pub fn plan_text(output: &str) -> String {
    const STARTS: [&str; 4] = [
        "Terraform used the selected providers",
        "Terraform will perform the following actions",
        "Terraform planned the following actions",
        "No changes.",
    ];
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

/// Ends a plan run whose workflow has run in `dir` (`output` being its plan step's output):
/// summarises the planfile and stores it.
pub(super) async fn finish_plan<A: Artifacts>(
    run: &mut Run<'_>,
    dir: &Path,
    output: &str,
    artifacts: &A,
) -> Result<Executed, Stop> {
    let spec = run.spec;
    if !run.planfile.is_file() {
        return Err(failed(
            "plan",
            format!(
                "the workflow wrote no planfile at $PLANFILE ({})",
                run.planfile.display()
            ),
        ));
    }
    let args = vec![
        "show".to_owned(),
        "-json".to_owned(),
        "-no-color".to_owned(),
        run.planfile.display().to_string(),
    ];
    let (mut cmd, shown) = run.terraform(&args);
    cmd.current_dir(dir)
        .envs(run.env.iter().map(|(name, value)| (name, value)));
    for name in git::WITHHELD_VARS {
        cmd.env_remove(name);
    }
    let done = run
        .wait(cmd, Capture::Split, false)
        .map_err(|err| failed("show", format!("{shown}: {err}")))?;
    if done.timed_out {
        return Err(run.timed_out("show", done.stderr_text()));
    }
    if !done.status.success() {
        return Err(failed("show", done.stderr_text()));
    }
    let json = done.text();
    let _ = fs::write(run.planfile.with_extension("json"), &json);
    let summary =
        summary::summarize(&json).map_err(|err| failed("show", format!("{shown}: {err}")))?;
    let secrets = summary::sensitive_values(&json);
    let text = summary::redact(&plan_text(output), &secrets);
    run.log = summary::redact(&run.log, &secrets);

    let planfile = if summary.has_changes() {
        let bytes = fs::read(&run.planfile)
            .map_err(|err| failed("upload", format!("reading the planfile: {err}")))?;
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
    fn output_without_markers_is_kept_whole() {
        assert_eq!(plan_text("custom tool output\n"), "custom tool output");
    }
}
