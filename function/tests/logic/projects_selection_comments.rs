//! Project selection by comment commands: `-p`, `-d` and `-w`, with and without a config, on
//! the generated monorepo of [`super::projects_selection`].

use std::fmt::Write as _;

use landfall_function::command::{ParsedComment, parse_comment};
use landfall_function::projects::{
    ChangedFile, Reason, Request, SelectionError, TerraformTree, select,
};
use landfall_function::repo_config::{EffectivePolicy, ResolvedConfig};

use super::projects_selection::{config, dirs, monorepo, no_config};

fn request(comment: &str) -> Request {
    match parse_comment(comment) {
        Some(ParsedComment::Command(c)) => Request::from_command(&c),
        other => panic!("{other:?}"),
    }
}

#[test]
fn comment_flags_select_explicitly_by_name_dir_and_workspace() {
    let tree = TerraformTree::from_files([("project1/main.tf", "")]);
    let cfg = config(
        "version: 3\nprojects:\n- name: stg\n  dir: project1\n  workspace: staging\n- name: prd\n  dir: project1\n  workspace: production\n",
    );
    let by_name = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &[],
        "main",
        &request("atlantis plan -p prd"),
    )
    .unwrap();
    assert_eq!(by_name.projects[0].project.workspace, "production");
    assert_eq!(by_name.projects[0].reason, Reason::Requested);
    let by_dir = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &[],
        "main",
        &request("landfall plan -d ./project1 -w staging"),
    )
    .unwrap();
    assert_eq!(by_dir.projects[0].project.name.as_deref(), Some("stg"));

    let err = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &[],
        "main",
        &request("landfall plan -p nope"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no project is named `nope`: the projects are `stg`, `prd`"
    );
    let err = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &[],
        "main",
        &request("landfall plan -d project1"),
    )
    .unwrap_err();
    assert!(matches!(err, SelectionError::NotConfigured { .. }), "{err}");
}

#[test]
fn without_a_config_dash_d_plans_any_terraform_directory_and_refuses_others() {
    let tree = monorepo();
    let sel = select(
        &no_config(),
        &EffectivePolicy::default(),
        &tree,
        &[],
        "main",
        &request("landfall plan -d envs/dev/app -w blue"),
    )
    .unwrap();
    assert_eq!(sel.projects[0].project.workspace, "blue");
    let err = select(
        &no_config(),
        &EffectivePolicy::default(),
        &tree,
        &[],
        "main",
        &request("landfall plan -d docs"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "directory `docs` holds no Terraform files at the head commit"
    );
    // `-w` alone is the root directory in that workspace, as in Atlantis: never every changed
    // root in a workspace it does not use.
    let changed = [ChangedFile::modified("envs/dev/app/main.tf")];
    let err = select(
        &no_config(),
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &request("landfall plan -w blue"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "directory `.` holds no Terraform files at the head commit"
    );
    let with_root = TerraformTree::from_files([
        ("main.tf", "variable \"a\" {}\n"),
        ("envs/dev/app/main.tf", "variable \"b\" {}\n"),
    ]);
    let sel = select(
        &no_config(),
        &EffectivePolicy::default(),
        &with_root,
        &changed,
        "main",
        &request("landfall plan -w blue"),
    )
    .unwrap();
    assert_eq!(dirs(&sel), ["."]);
    assert_eq!(sel.projects[0].project.workspace, "blue");
}

#[test]
fn a_generated_monorepo_selects_exactly_the_projects_its_files_touch() {
    // 40 teams x 25 services; every 10th service also watches a shared module folder.
    let mut text = String::from("version: 3\nprojects:\n");
    let mut tf = Vec::new();
    for t in 0..40 {
        for s in 0..25 {
            let dir = format!("teams/t{t}/svc{s}");
            writeln!(text, "- dir: {dir}").unwrap();
            if s % 10 == 0 {
                text.push_str("  autoplan:\n    when_modified: [\"**/*.tf*\", \"../../../shared/net/**/*.tf\"]\n");
            }
            tf.push(format!("{dir}/main.tf"));
        }
    }
    let cfg = config(&text);
    let tree = TerraformTree::from_files(tf.iter().map(|p| (p.as_str(), "")));
    let changed = [
        ChangedFile::modified("teams/t3/svc7/main.tf"),
        ChangedFile::modified("teams/t3/svc7x/notes.txt"),
        ChangedFile::modified("shared/net/vpc/main.tf"),
        ChangedFile::modified("teams/t39/svc24/env/prod.tfvars"),
    ];
    let sel = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert_eq!(sel.projects.len(), 2 + 40 * 3, "{:?}", dirs(&sel));
    assert!(dirs(&sel).contains(&"teams/t3/svc7"));
    assert!(dirs(&sel).contains(&"teams/t39/svc24"));
    assert!(dirs(&sel).contains(&"teams/t0/svc20"));
}

#[test]
fn an_unnamed_project_is_selected_by_the_label_every_message_shows() {
    let tree = TerraformTree::from_files([("project1/main.tf", "")]);
    let cfg = config(
        "version: 3\nprojects:\n- dir: project1\n  workspace: staging\n- dir: project1\n  workspace: production\n",
    );
    let select_by = |comment: &str| {
        select(
            &cfg,
            &EffectivePolicy::default(),
            &tree,
            &[],
            "main",
            &request(comment),
        )
    };
    let picked = select_by("landfall apply -p project1:staging").unwrap();
    assert_eq!(picked.projects.len(), 1);
    assert_eq!(picked.projects[0].project.workspace, "staging");
    let err = select_by("landfall apply -p nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no project is named `nope`: the projects are `project1:staging`, `project1:production`"
    );
}

/// What `comment` selects in `tree` under `cfg`, with no file changed.
fn selected_by(
    cfg: &ResolvedConfig,
    tree: &TerraformTree,
    comment: &str,
) -> Result<landfall_function::projects::Selection, SelectionError> {
    let request = request(comment);
    select(
        cfg,
        &EffectivePolicy::default(),
        tree,
        &[],
        "main",
        &request,
    )
}

#[test]
fn a_name_selects_its_project_and_not_an_unnamed_one_whose_directory_it_is() {
    let tree = TerraformTree::from_files([("network/main.tf", ""), ("envs/net/main.tf", "")]);
    let cfg = config("version: 3\nprojects:\n- name: network\n  dir: envs/net\n- dir: network\n");
    let picked = selected_by(&cfg, &tree, "landfall apply -p network").unwrap();
    assert_eq!(dirs(&picked), ["envs/net"]);
    let by_dir = selected_by(&cfg, &tree, "landfall apply -d network").unwrap();
    assert_eq!(dirs(&by_dir), ["network"]);
}

pub(super) fn refused(config: &ResolvedConfig, comment: &str) -> SelectionError {
    let request = request(comment);
    select(
        config,
        &EffectivePolicy::default(),
        &monorepo(),
        &[],
        "main",
        &request,
    )
    .unwrap_err()
}
