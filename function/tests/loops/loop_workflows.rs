//! Atlantis' custom workflows and server-side hooks, through the real `landfall-function serve`,
//! a fake GitHub, local dispatch of the real runner and the real `terraform`:
//!
//! - a plan stage `[run: echo preinit, init, plan, run: echo postplan]` comments every step's
//!   output in order, Terraform's plan (with its output changes) where it stands, and the
//!   summary line;
//! - a project in workspace `staging` whose apply stage has no `init`
//!   (`[run: echo preapply, apply, run: echo postapply]`) is applied into that workspace's state
//!   from a fresh clone, initialised and in its workspace before the first step;
//! - the operator's `pre_workflow_hooks` run in the clone's root before the workflow and the
//!   `post_workflow_hooks` after it, their output in the comment in that order; a pre hook that
//!   fails stops the run before any step: no step ran (a marker file the first step writes is
//!   not there) and no planfile was stored.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::loop_common::{Server, Story, new_story, open_pr, server_env, start_server};

/// The operator's policy: custom workflows allowed, and the hooks. The pre hook checks it runs
/// in the clone's root with the steps' variables (`DIR` being that root), and fails when the
/// head has a `FAIL_HOOK` file.
const POLICY: &str = r#"repos:
- id: /.*/
  allow_custom_workflows: true
  allowed_overrides: [workflow]
  pre_workflow_hooks:
  - description: Checking the repository
    run: |
      test -f atlantis.yaml && [ "$DIR" = "$PWD" ] || { echo "not in the root: $PWD"; exit 2; }
      if [ -f FAIL_HOOK ]; then echo "pre-hook-refused"; exit 1; fi
      echo "pre-hook-in-root pull=$PULL_NUM command=$COMMAND_NAME"
  post_workflow_hooks:
  - run: echo "post-hook-ran command=$COMMAND_NAME"
"#;

/// The repo config: `app` runs the multi-step plan, `envs/staging` (workspace `staging`) an
/// apply stage without `init`, whose first step checks that the fresh clone is initialised
/// and in its workspace already. The first step of `app` leaves a marker per head commit.
fn atlantis_yaml(markers: &Path) -> String {
    format!(
        r#"version: 3
projects:
- name: app
  dir: envs/app
  workflow: steps
- dir: envs/staging
  workspace: staging
  workflow: noinit
workflows:
  steps:
    plan:
      steps:
      - run: echo preinit && touch "{}/preinit-$HEAD_COMMIT"
      - init
      - plan
      - run: echo postplan
  noinit:
    apply:
      steps:
      - run: echo "preapply in workspace $(terraform workspace show)" && test -d .terraform
      - apply
      - run: echo postapply
"#,
        markers.display()
    )
}

/// A project of `terraform_data` and an output, its state under `<story>/state/<name>`
/// (workspaces other than `default` under `<story>/state/<name>-workspaces/<workspace>/`).
fn main_tf(story: &Story, name: &str, value: &str) -> String {
    let state = story.dir.path().join("state");
    format!(
        "terraform {{\n  backend \"local\" {{\n    path          = \"{}/{name}.tfstate\"\n    \
         workspace_dir = \"{}/{name}-workspaces\"\n  }}\n}}\n\n\
         resource \"terraform_data\" \"{name}\" {{\n  input = \"{value}\"\n}}\n\n\
         output \"greeting\" {{\n  value = \"hello {value}\"\n}}\n",
        state.display(),
        state.display()
    )
}

/// The positions of `needles` in `text`, each found after the one before: they stand in that
/// order.
fn assert_in_order(text: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        let Some(at) = text[from..].find(needle) else {
            panic!("{needle:?} is not after the earlier ones ({needles:?}) in:\n{text}");
        };
        from += at + needle.len();
    }
}

/// Waits for a comment on `pr`, posted after the first `after`, holding every one of `needles`
/// (the shared comment is edited as each project's run reports).
fn wait_all(story: &Story, pr: u64, after: usize, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_mins(4);
    loop {
        let comments = story.comments(pr);
        if let Some(found) = comments
            .iter()
            .skip(after)
            .find(|c| needles.iter().all(|n| c.contains(n)))
        {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no comment on #{pr} with all of {needles:?}; comments after {after}: {:#?}",
            comments.iter().skip(after).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Comments `text` on PR #1; returns the reply holding all of `needles`.
fn comment(server: &Server, story: &mut Story, text: &str, needles: &[&str]) -> String {
    let seen = story.comments(1).len();
    let id = story.next_delivery();
    let (status, _) = server.deliver("issue_comment", &id, &story.comment(1, text));
    assert_eq!(status, 202, "{text}");
    wait_all(story, 1, seen, needles)
}

/// The stored planfiles' paths, for the commit `sha`.
fn planfiles_at(data: &Path, sha: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut all = Vec::new();
    walk(&data.join("artifacts/planfiles"), &mut all);
    all.retain(|path| path.to_string_lossy().contains(sha));
    all
}

/// The story's server, host and data.
struct Workflows {
    /// The fake GitHub, answering until the story ends.
    _host: wiremock::MockServer,
    server: Server,
    story: Story,
    data: PathBuf,
    /// Where `app`'s first step leaves its markers.
    markers: PathBuf,
}

/// `main` with both projects, the repo config and the policy; the server.
fn start(runtime: &tokio::runtime::Runtime) -> Workflows {
    let (mock, story) = new_story(runtime);
    let markers = story.dir.path().join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    story.commit(
        "main",
        &[
            ("atlantis.yaml", atlantis_yaml(&markers)),
            ("envs/app/main.tf", main_tf(&story, "app", "v1")),
            ("envs/staging/main.tf", main_tf(&story, "staging", "v1")),
        ],
        "initial",
    );
    let policy = story.dir.path().join("repos.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let data = story.dir.path().join("data");
    let mut env = server_env(&mock, &data);
    env.push(("LANDFALL_POLICY", policy.display().to_string()));
    let server = start_server(&env, &story.dir.path().join("server.log"));
    Workflows {
        _host: mock,
        server,
        story,
        data,
        markers,
    }
}

impl Workflows {
    /// Delivers PR #1's `action`; returns how many comments it had before.
    fn pull_request(&mut self, action: &str) -> usize {
        let seen = self.story.comments(1).len();
        let id = self.story.next_delivery();
        let body = self.story.pull_request(action, 1, false);
        let (status, _) = self.server.deliver("pull_request", &id, &body);
        assert_eq!(status, 202, "{action}");
        seen
    }

    /// PR #1 changes both projects → both planned; `app`'s comment shows the hook, every step
    /// and the plan in the order they ran.
    fn plan_shows_every_step_in_order(&mut self) {
        let story = &self.story;
        let first = story.commit(
            "change",
            &[
                ("envs/app/main.tf", main_tf(story, "app", "v2")),
                ("envs/staging/main.tf", main_tf(story, "staging", "v2")),
            ],
            "v2",
        );
        open_pr(story, 1, "change", "octocat");
        let seen = self.pull_request("opened");
        let plan = wait_all(
            &self.story,
            1,
            seen,
            &["postplan", "landfall apply -d envs/staging -w staging"],
        );
        let app = &plan[plan.find("project `app`").expect("app's section")..];
        assert_in_order(
            app,
            &[
                "**Plan: 1 to add, 0 to change, 0 to destroy.**",
                "Checking the repository",
                "pre-hook-in-root pull=1 command=plan",
                "preinit",
                "<details><summary>Show plan</summary>",
                "# terraform_data.app will be created",
                "Changes to Outputs:",
                "+ greeting = \"hello v2\"",
                "</details>",
                "postplan",
                "post-hook-ran command=plan",
                "landfall apply -p app",
            ],
        );
        assert!(
            !app.contains("Terraform has been successfully initialized"),
            "init's output stays hidden on success: {app}"
        );
        assert!(self.markers.join(format!("preinit-{first}")).exists());
        assert_eq!(
            planfiles_at(&self.data, &first).len(),
            2,
            "both plans stored"
        );
    }

    /// `plan -w staging`, then `apply -w staging`: the apply stage has no `init`; the fresh
    /// clone is initialised and the workspace selected by the runner before the first step.
    fn staging_applies_in_its_workspace(&mut self) {
        let (server, story) = (&self.server, &mut self.story);
        comment(
            server,
            story,
            "landfall plan -d envs/staging -w staging",
            &["Plan: 1 to add", "workspace `staging`"],
        );
        let applied = comment(
            server,
            story,
            "landfall apply -d envs/staging -w staging",
            &["Apply complete!", "postapply"],
        );
        assert_in_order(
            &applied,
            &[
                "**Applied.**",
                "pre-hook-in-root pull=1 command=apply",
                "preapply in workspace staging",
                "Apply complete! Resources: 1 added",
                "postapply",
                "post-hook-ran command=apply",
            ],
        );
        let state = story
            .dir
            .path()
            .join("state/staging-workspaces/staging/terraform.tfstate");
        let state = std::fs::read_to_string(&state)
            .unwrap_or_else(|err| panic!("{}: {err}\n{applied}", state.display()));
        assert!(
            state.contains("\"terraform_data\"") && state.contains("\"v2\""),
            "{state}"
        );
        assert!(
            !story.dir.path().join("state/staging.tfstate").exists(),
            "nothing applied to the default workspace"
        );
    }

    /// A push whose head makes the pre hook fail → each run stops before any step: the failure
    /// is commented, no step ran, no planfile is stored, no post hook ran.
    fn a_failing_pre_hook_stops_the_runs(&mut self) {
        let story = &self.story;
        let refused = story.commit(
            "change",
            &[
                ("FAIL_HOOK", "stop\n".to_owned()),
                ("envs/app/main.tf", main_tf(story, "app", "v3")),
            ],
            "v3",
        );
        let seen = self.pull_request("synchronize");
        // Both projects' runs fail; the comment is final once both have set their status.
        let deadline = Instant::now() + Duration::from_mins(3);
        let failures = || {
            let host = self.story.host.state.lock().unwrap();
            host.statuses
                .iter()
                .filter(|(sha, ctx, s)| {
                    *sha == refused && ctx.starts_with("landfall/plan") && s == "failure"
                })
                .count()
        };
        while failures() < 2 {
            assert!(
                Instant::now() < deadline,
                "the runs at {refused} did not fail"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let failed = wait_all(
            &self.story,
            1,
            seen,
            &["project `app`", "workspace `staging`", "pre-hook-refused"],
        );
        let app = &failed[failed.find("project `app`").expect("app's section")..];
        assert!(
            app.contains("**plan failed** in step `pre_workflow_hook (Checking the repository)`"),
            "{failed}"
        );
        assert!(
            !failed.contains("preinit") && !failed.contains("post-hook-ran"),
            "{failed}"
        );
        assert!(
            !self.markers.join(format!("preinit-{refused}")).exists(),
            "no workflow step ran after the failed hook"
        );
        assert!(
            planfiles_at(&self.data, &refused).is_empty(),
            "no planfile stored"
        );
    }
}

#[test]
fn custom_workflows_show_every_step_in_order_apply_in_their_workspace_and_run_the_hooks() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut story = start(&runtime);
    story.plan_shows_every_step_in_order();
    story.staging_applies_in_its_workspace();
    story.a_failing_pre_hook_stops_the_runs();
    for (id, pr, body) in &story.story.host.state.lock().unwrap().comments {
        eprintln!("--- comment {id} on #{pr} ---\n{body}");
    }
}
