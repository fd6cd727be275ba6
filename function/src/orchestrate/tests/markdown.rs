//! What a pull request controls (its repo config, its file paths, its comments) reaches the
//! comments the loop writes as code only: CommonMark's rules find none of the attacker's text
//! outside a code block or a code span.

use super::{Loop, comment, opened};
use crate::markdown::tests::{lines_outside_code, outside_inline_code};

/// What an attacker hopes to see rendered: a mention of everyone and a fake result.
const HOSTILE: &str = "x` @acme/everyone **Applied.** `";

/// The lines of `body` where the attacker's text renders as Markdown.
fn rendered_attacker_text(body: &str) -> Vec<String> {
    lines_outside_code(body)
        .into_iter()
        .map(outside_inline_code)
        .filter(|text| text.contains("@acme") || text.contains("Applied"))
        .collect()
}

/// Every comment body posted or edited on the PR.
async fn bodies(lp: &Loop) -> Vec<String> {
    let mut out = Vec::new();
    for verb in ["POST", "PATCH"] {
        for sent in lp.sent(verb, "/comments").await {
            out.push(sent["body"].as_str().unwrap_or_default().to_owned());
        }
    }
    out
}

fn assert_inert(bodies: &[String]) {
    assert!(!bodies.is_empty(), "nothing was posted");
    for body in bodies {
        let shown = rendered_attacker_text(body);
        assert!(shown.is_empty(), "rendered as Markdown: {shown:?}\n{body}");
    }
}

/// The comments posted when a PR with `files` at its head is opened, each checked inert.
async fn comments_on_opening(files: &[(&str, &str)]) -> Vec<String> {
    let lp = Loop::new().await;
    lp.host_has_pr("open", false).await;
    lp.host_has_files(files).await;
    lp.ctx.process(&opened()).await.unwrap();
    let bodies = bodies(&lp).await;
    assert_inert(&bodies);
    bodies
}

#[tokio::test]
async fn a_project_name_stays_code_in_the_plan_comment() {
    let config = format!("version: 3\nprojects:\n- name: \"{HOSTILE}\"\n  dir: .\n");
    let bodies = comments_on_opening(&[
        ("atlantis.yaml", config.as_str()),
        ("main.tf", "resource \"terraform_data\" \"a\" {}\n"),
    ])
    .await;
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("@acme/everyone **Applied.**")),
        "the name is shown: {bodies:?}"
    );
}

#[tokio::test]
async fn a_config_warning_quoting_the_pull_request_stays_code_in_the_plan_comment() {
    // A `dir` from the root is warned about (it is read from the repository's root), quoting
    // it; a `dir` with `*` would be an error, fenced.
    let dir = "/x` @acme/everyone _Applied._ `".to_owned();
    let config = format!("version: 3\nprojects:\n- dir: \"{dir}\"\n");
    let main_tf = format!("{}/main.tf", dir.trim_start_matches('/'));
    let bodies = comments_on_opening(&[
        ("atlantis.yaml", config.as_str()),
        (main_tf.as_str(), "resource \"terraform_data\" \"a\" {}\n"),
    ])
    .await;
    assert!(
        bodies.iter().any(|b| b.contains("from the repository's root")),
        "the warning is shown: {bodies:?}"
    );
}

#[tokio::test]
async fn a_discovered_dir_and_an_unparsable_files_text_stay_code_in_the_plan_comment() {
    let bodies = comments_on_opening(&[
        (
            "x` @acme **Applied.** `/main.tf",
            "resource \"terraform_data\" \"a\" {}\n",
        ),
        ("y/z.tf", "@acme/everyone **Applied.** }}} = {{{\n"),
    ])
    .await;
    assert!(
        bodies.iter().any(|b| b.contains("could not be parsed")),
        "the unparsable file is named: {bodies:?}"
    );
}

#[tokio::test]
async fn a_pull_requests_invalid_repo_config_is_quoted_as_code() {
    let config = format!(
        "version: 3\n\"{HOSTILE}\": 1\nprojects:\n- dir: \"{HOSTILE}/..\"\n  workspace: \"{HOSTILE}\"\n"
    );
    let bodies = comments_on_opening(&[
        ("atlantis.yaml", config.as_str()),
        ("main.tf", "resource \"terraform_data\" \"a\" {}\n"),
    ])
    .await;
    assert!(
        bodies.iter().any(|b| b.contains("could not use")),
        "the config is refused: {bodies:?}"
    );
}

#[tokio::test]
async fn a_selection_the_config_cannot_serve_names_projects_and_dirs_as_code() {
    let lp = Loop::new().await;
    lp.host_knows("author", "write").await;
    let config = format!(
        "version: 3\nprojects:\n- name: \"{HOSTILE}\"\n  dir: .\n- name: \"@acme/everyone **Applied.**\"\n  dir: .\n  workspace: b\n"
    );
    lp.host_has_files(&[
        ("atlantis.yaml", config.as_str()),
        ("main.tf", "resource \"terraform_data\" \"a\" {}\n"),
    ])
    .await;
    for (n, text) in [
        format!("landfall plan -p '{HOSTILE}x'"),
        format!("landfall plan -d '{HOSTILE}'"),
        "landfall plan -d . -w c".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut event = comment("author", &text, &format!("s-{n}"));
        event.head_sha = opened().head_sha;
        lp.ctx.process(&event).await.unwrap();
    }

    let bodies = bodies(&lp).await;
    assert!(
        bodies.iter().filter(|b| b.contains("Cannot plan")).count() >= 2,
        "the selections are refused: {bodies:?}"
    );
    assert_inert(&bodies);
}

#[tokio::test]
async fn an_unknown_command_is_echoed_as_code() {
    let lp = Loop::new().await;
    lp.host_has_pr("open", false).await;
    for (n, text) in [
        "landfall 'x @acme/everyone **Applied.**'",
        "landfall state 'x @acme/everyone **Applied.**'",
        "landfall plan 'x @acme/everyone **Applied.**'",
        "landfall plan -d '/x @acme/everyone **Applied.**'",
        "landfall plan -- '-chdir=x @acme/everyone **Applied.**'",
    ]
    .into_iter()
    .enumerate()
    {
        lp.ctx
            .process(&comment("drive-by", text, &format!("c-{n}")))
            .await
            .unwrap();
    }

    let bodies = bodies(&lp).await;
    assert_eq!(bodies.len(), 5, "{bodies:?}");
    assert_inert(&bodies);
}

#[tokio::test]
async fn a_cancelled_and_an_unlocked_projects_dir_stays_code() {
    let lp = Loop::new().await;
    lp.host_knows("author", "write").await;
    lp.running_plan(HOSTILE, "lf-plan-1-x", crate::store::now_secs() + 600).await;

    lp.ctx
        .process(&comment("author", "landfall cancel", "cancel-1"))
        .await
        .unwrap();
    lp.ctx
        .process(&comment("author", "landfall unlock", "unlock-1"))
        .await
        .unwrap();

    let bodies = bodies(&lp).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_inert(&bodies);
}

#[tokio::test]
async fn a_stuck_runs_project_dir_stays_code_in_the_sweepers_comment() {
    let lp = Loop::new().await;
    lp.host_has_pr("open", false).await;
    lp.running_plan(HOSTILE, "lf-plan-1-x", crate::store::now_secs() - 1).await;

    lp.ctx.sweep().await.unwrap();

    let bodies = bodies(&lp).await;
    assert_inert(&bodies);
}

#[test]
fn a_deleted_or_moved_projects_dirs_stay_code_in_the_note() {
    for renamed_to in [None, Some(format!("{HOSTILE}2"))] {
        let note = super::super::text::deleted(&crate::projects::Deleted {
            dir: HOSTILE.to_owned(),
            name: None,
            renamed_to,
        });
        let body = super::super::text::with_notes("**`plan`**", &[note]);
        assert_inert(&[body]);
    }
}
