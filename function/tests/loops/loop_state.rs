//! `landfall import` and `landfall state rm` through `landfall-function serve`, the real
//! binary, with the embedded store, local dispatch of the real runner and the real `terraform`
//! (issue 19):
//!
//! - an outsider's import changes nothing (no run, no state);
//! - a writer's import brings the object into the project's state, and the plan made before it
//!   can no longer be applied: the apply is refused and nothing is applied;
//! - after a new plan, `state rm` takes the object out of the state again, and that plan is
//!   stale in its turn;
//! - with the operator's default `LANDFALL_ALLOW_COMMANDS`, neither command runs.

use landfall_e2e::git;

use crate::loop_common::{Server, Story, open_pr, run_dirs, start_server, story_with_policy};

const POLICY: &str = "repos:\n  - id: /.*/\n";

fn state_file(story: &Story) -> String {
    std::fs::read_to_string(story.dir.path().join("state/terraform.tfstate")).unwrap_or_default()
}

/// The project at `v1` plus a `terraform_data.extra` nobody has created through Terraform.
fn project_with_extra(story: &Story) -> String {
    format!(
        "{}\nresource \"terraform_data\" \"extra\" {{\n  input = \"x\"\n}}\n",
        story.main_tf("v1")
    )
}

/// Comments `text` on PR `n` as `login` and waits for a comment, after the ones seen, with
/// `needle`.
fn say(
    server: &Server,
    story: &mut Story,
    n: u64,
    login: &str,
    text: &str,
    needle: &str,
) -> String {
    let seen = story.comments(n).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment_by(n, text, login));
    assert_eq!(status, 202);
    story.wait_comment(n, seen, needle)
}

/// A writer's comment on PR #1.
fn octocat(server: &Server, story: &mut Story, text: &str, needle: &str) -> String {
    say(server, story, 1, "octocat", text, needle)
}

/// `landfall apply` is refused because the state changed since the plan, and applies nothing.
fn apply_refused_as_stale(server: &Server, story: &mut Story) {
    let said = octocat(server, story, "landfall apply", "refused");
    assert!(said.contains("`import` or `state rm`"), "{said}");
    assert!(!state_file(story).contains("\"v1\""), "nothing was applied");
}

#[test]
fn import_and_state_rm_edit_the_state_and_make_the_plan_stale() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_mock, mut story, mut env, data) = story_with_policy(&runtime, POLICY);
    env.push((
        "LANDFALL_ALLOW_COMMANDS",
        "version,plan,apply,unlock,import,state".to_owned(),
    ));
    let server = start_server(&env, &story.dir.path().join("server.log"));
    let head = story.commit(
        "one",
        &[("envs/app/main.tf", project_with_extra(&story))],
        "extra",
    );
    open_pr(&story, 1, "one", "octocat");
    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    assert_eq!(status, 202);
    story.wait_comment(1, 0, "To apply this plan");
    let planned = run_dirs(&data);

    // An outsider may not import: nothing runs, the state is untouched.
    let said = say(
        &server,
        &mut story,
        1,
        "mallory",
        "landfall import terraform_data.extra ext-1",
        "you may not run `import`",
    );
    assert!(said.contains("Nothing was run"), "{said}");
    assert_eq!(run_dirs(&data), planned, "no run for an outsider");
    assert_eq!(state_file(&story), "", "nothing was written to the state");

    // A writer's import: the object is in the state, nothing else is.
    let said = octocat(
        &server,
        &mut story,
        "landfall import -d envs/app terraform_data.extra ext-1",
        "Imported.",
    );
    assert!(said.contains(&head[..7]), "{said}");
    let state = state_file(&story);
    assert!(state.contains("\"ext-1\""), "{state}");
    assert!(
        !state.contains("\"v1\""),
        "only the import changed the state: {state}"
    );
    let statuses = story.host.state.lock().unwrap().statuses.clone();
    assert!(
        statuses.iter().any(|(sha, context, state)| sha == &head
            && context == "landfall/import: envs/app"
            && state == "success"),
        "{statuses:?}"
    );
    // The plan's own status no longer reads as a plan to apply.
    let last_plan = statuses
        .iter()
        .rev()
        .find(|(sha, context, _)| sha == &head && context == "landfall/plan: envs/app");
    assert_eq!(
        last_plan.map(|s| s.2.as_str()),
        Some("failure"),
        "{statuses:?}"
    );

    // The plan made before the import is stale: the apply is refused, nothing applied.
    apply_refused_as_stale(&server, &mut story);

    // A new plan knows the imported object; `state rm` takes it out again and makes that plan
    // stale too.
    octocat(&server, &mut story, "landfall plan", "To apply this plan");
    let said = octocat(
        &server,
        &mut story,
        "atlantis state rm terraform_data.extra",
        "Removed from the state.",
    );
    assert!(said.contains("terraform_data.extra"), "{said}");
    assert!(
        !state_file(&story).contains("\"ext-1\""),
        "{}",
        state_file(&story)
    );
    apply_refused_as_stale(&server, &mut story);

    // After one more plan, the apply goes through: the project is whole.
    octocat(&server, &mut story, "landfall plan", "To apply this plan");
    octocat(&server, &mut story, "landfall apply", "Apply complete!");
    let state = state_file(&story);
    assert!(
        state.contains("\"v1\"") && state.contains("\"x\""),
        "{state}"
    );
    assert_eq!(git(&story.origin(), &["rev-parse", "one"]), head);
}

#[test]
fn import_and_state_rm_do_not_run_unless_the_operator_allows_them() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_mock, mut story, env, data) = story_with_policy(&runtime, POLICY);
    let server = start_server(&env, &story.dir.path().join("server.log"));
    story.commit(
        "one",
        &[("envs/app/main.tf", project_with_extra(&story))],
        "extra",
    );
    open_pr(&story, 1, "one", "octocat");
    for (text, word) in [
        (
            "landfall import terraform_data.extra ext-1",
            "`import` is not allowed here",
        ),
        (
            "landfall state rm terraform_data.extra",
            "`state rm` is not allowed here",
        ),
    ] {
        let said = say(&server, &mut story, 1, "octocat", text, word);
        assert!(said.contains("Nothing was done"), "{said}");
    }
    assert_eq!(run_dirs(&data), 0, "nothing ran");
    assert_eq!(state_file(&story), "");
}
