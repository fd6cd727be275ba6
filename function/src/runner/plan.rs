//! The part of Terraform's plan output a reviewer reads (the run's end, summary and planfile
//! upload, is [`super::execute`]'s).

/// Where the part of Terraform's plan output that a reviewer reads starts.
const STARTS: [&str; 5] = [
    "Terraform used the selected providers",
    "Terraform will perform the following actions",
    "Terraform planned the following actions",
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
        assert!(!reads_as_plan("custom tool output\n"));
    }

    #[test]
    fn a_plan_of_outputs_only_starts_at_its_changes() {
        let output = "terraform_data.a: Refreshing state...\n\nChanges to Outputs:\n  + greeting = \"hi\"\n\nYou can apply this plan to save these new output values.\n";
        assert!(reads_as_plan(output));
        assert!(plan_text(output).starts_with("Changes to Outputs:"));
    }
}
