//! The plan summary and the comment body against real Terraform output from the shared corpus
//! (read in place): every plan JSON summarises to the counts Terraform's own `Plan:` line shows,
//! sensitive values never reach a comment, and the rendered comments are snapshots.

use std::path::{Path, PathBuf};

use landfall_function::comment::render;
use landfall_function::run::ProjectResult;
use landfall_function::run::ProjectSpec;
use landfall_function::run::summary::{
    PlanSummary, REDACTED, redact, sensitive_values, summarize, summarize_all,
};
use landfall_function::runner::plan_text;

fn files_named(dir: &Path, wanted: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_named(&path, wanted, out);
        } else if wanted(&path) {
            out.push(path);
        }
    }
}

fn plan_jsons() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for folder in [
        "terraform-show-json",
        "terraform-plans-borchero-plan-comment",
        "terraform-plans-ovsds-tf-plan-format",
    ] {
        let root = landfall_e2e::corpus(folder);
        let mut files = Vec::new();
        files_named(
            &root,
            &|path| path.extension().is_some_and(|ext| ext == "json"),
            &mut files,
        );
        for file in files {
            let rel = file
                .strip_prefix(landfall_e2e::corpus(""))
                .unwrap()
                .display()
                .to_string();
            out.push((rel, file));
        }
    }
    out
}

fn snapshot_name(rel: &str) -> String {
    rel.trim_end_matches(".json").replace('/', "__")
}

#[test]
fn every_corpus_plan_summarises_and_matches_its_snapshot() {
    let plans = plan_jsons();
    assert!(plans.len() >= 37, "found only {} plans", plans.len());
    for (rel, path) in plans {
        let text = std::fs::read_to_string(&path).unwrap();
        let summary = summarize_all(&text).map(|summaries| {
            summaries
                .iter()
                .map(|summary| (summary.line(), summary.clone()))
                .collect::<Vec<(String, PlanSummary)>>()
        });
        match summary {
            Ok(summaries) => insta::assert_yaml_snapshot!(snapshot_name(&rel), summaries),
            Err(err) => insta::assert_snapshot!(snapshot_name(&rel), format!("refused: {err}")),
        }
    }
}

/// Terraform's `Plan:` lines from its human text, in order.
fn terraform_plan_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with("Plan: ") || line.starts_with("No changes."))
        .map(|line| {
            if line.starts_with("No changes.") {
                "No changes.".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// Our line cut back to what Terraform's line says (we add replace, move and forget counts).
fn as_terraform_says(summary: &PlanSummary) -> String {
    let line = summary.line();
    match line.split_once(" (") {
        Some((head, _)) => format!("{head}."),
        None if line.starts_with("No changes.")
            && summary.counts.forget + summary.counts.moved > 0 =>
        {
            line
        }
        None => line,
    }
}

#[test]
fn counts_agree_with_terraforms_own_plan_lines() {
    let root = landfall_e2e::corpus("terraform-plans-borchero-plan-comment");
    let mut texts = Vec::new();
    files_named(
        &root,
        &|path| path.file_name().is_some_and(|name| name == "plan.txt"),
        &mut texts,
    );
    assert!(texts.len() >= 12);
    for text_path in texts {
        let json = std::fs::read_to_string(text_path.with_file_name("plan.json")).unwrap();
        let text = std::fs::read_to_string(&text_path).unwrap();
        let ours: Vec<String> = summarize_all(&json)
            .unwrap()
            .iter()
            .map(as_terraform_says)
            .collect();
        // A pure move or forget is "0 to add, 0 to change, 0 to destroy" for Terraform; we
        // count it, and say so after the same numbers.
        let theirs = terraform_plan_lines(&text);
        assert_eq!(ours, theirs, "{}", text_path.display());
    }
}

#[test]
fn borchero_plans_render_as_comments() {
    let root = landfall_e2e::corpus("terraform-plans-borchero-plan-comment");
    let mut texts = Vec::new();
    files_named(
        &root,
        &|path| path.file_name().is_some_and(|name| name == "plan.txt"),
        &mut texts,
    );
    for text_path in texts {
        let rel = text_path
            .parent()
            .unwrap()
            .strip_prefix(&root)
            .unwrap()
            .display()
            .to_string();
        if rel.contains("hundreds") || rel.contains("multiplan") {
            continue; // 183 KB of text (splitting is the comment module's), and three plans.
        }
        let json = std::fs::read_to_string(text_path.with_file_name("plan.json")).unwrap();
        let text = std::fs::read_to_string(&text_path).unwrap();
        let summary = summarize(&json).unwrap();
        let project = ProjectSpec {
            name: Some("app".to_owned()),
            ..ProjectSpec::new("envs/app")
        };
        let result = ProjectResult::planned(
            &project,
            &summary,
            redact(&plan_text(&text), &sensitive_values(&json)),
        );
        insta::assert_snapshot!(
            format!("comment__{}", rel.replace('/', "__")),
            render(&[result])
        );
    }
}

#[test]
fn the_comment_says_terraforms_plan_line_and_how_to_apply() {
    let dir = landfall_e2e::corpus("terraform-plans-borchero-plan-comment/basic/0-create");
    let json = std::fs::read_to_string(dir.join("plan.json")).unwrap();
    let text = std::fs::read_to_string(dir.join("plan.txt")).unwrap();
    let result = ProjectResult::planned(
        &ProjectSpec {
            name: Some("app".to_owned()),
            ..ProjectSpec::new("envs/app")
        },
        &summarize(&json).unwrap(),
        plan_text(&text),
    );
    let body = render(&[result]);
    assert!(
        body.contains("**Plan: 3 to add, 0 to change, 0 to destroy.**"),
        "{body}"
    );
    assert!(
        body.contains("<details><summary>Show plan</summary>"),
        "{body}"
    );
    assert!(body.contains("landfall apply -p app"), "{body}");
}

#[test]
fn sensitive_values_in_corpus_plans_never_reach_a_comment() {
    for (rel, expected) in [
        ("terraform-show-json/sensitive-values/output.json", "boop"),
        (
            "terraform-plans-ovsds-tf-plan-format/sensitive/terraform.tfplan.json",
            "hxk5iA==",
        ),
    ] {
        let json = std::fs::read_to_string(landfall_e2e::corpus(rel)).unwrap();
        let secrets = sensitive_values(&json);
        assert!(secrets.iter().any(|s| s == expected), "{rel}: {secrets:?}");
        // Suppose a provider echoed the value into the human text: the comment still hides it.
        let leaky =
            format!("  + ami = \"{expected}\"\nPlan: 1 to add, 0 to change, 0 to destroy.\n");
        let result = ProjectResult::planned(
            &ProjectSpec::new("."),
            &summarize(&json).unwrap(),
            redact(&leaky, &secrets),
        );
        let body = render(&[result]);
        assert!(!body.contains(expected), "{rel}: {body}");
        assert!(body.contains(REDACTED), "{rel}: {body}");
    }
}

#[test]
fn a_plan_tells_what_drifted_from_what_the_code_changes() {
    let json = std::fs::read_to_string(landfall_e2e::corpus(
        "terraform-show-json/drift/output.json",
    ))
    .unwrap();
    let summary = summarize(&json).unwrap();
    // Refresh found `should_refresh` changed outside Terraform; `no_refresh` changes because
    // its code did.
    assert_eq!(summary.drifted, ["test_instance.should_refresh"]);
    let facts = landfall_function::run::DriftFacts::of(&summary);
    assert_eq!(facts.beyond_drift(), ["test_instance.no_refresh"]);
    // A plan without refresh-detected drift has nothing in it.
    let json = std::fs::read_to_string(landfall_e2e::corpus(
        "terraform-show-json/basic-create/output.json",
    ))
    .unwrap();
    assert!(summarize(&json).unwrap().drifted.is_empty());
}
