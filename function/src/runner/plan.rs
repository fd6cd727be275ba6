//! The part of Terraform's plan output a reviewer reads (the run's end, summary and planfile
//! upload, is [`super::execute`]'s).

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
