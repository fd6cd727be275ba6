//! Project selection on generated monorepos: `when_modified` globs, module-dependency
//! propagation, deleted and renamed projects, and comment commands.

use landfall_function::projects::{
    ChangedFile, FileStatus, Reason, Request, SelectionError, TerraformTree, select,
};
use landfall_function::repo_config::{EffectivePolicy, ResolvedConfig, load};

use super::projects_selection_comments::refused;

pub(super) fn no_config() -> ResolvedConfig {
    load(&EffectivePolicy::default(), None).unwrap()
}

pub(super) fn config(text: &str) -> ResolvedConfig {
    load(&EffectivePolicy::default(), Some(("atlantis.yaml", text))).unwrap()
}

fn module(source: &str) -> String {
    format!("module \"m\" {{\n  source = \"{source}\"\n}}\n")
}

/// A monorepo: `envs/{dev,prod}/{app,db,edge}` roots; `app` uses `modules/service`, which uses
/// `modules/network`; `db` uses `modules/network` directly; `edge` uses nothing local.
pub(super) fn monorepo() -> TerraformTree {
    let mut files: Vec<(String, String)> = Vec::new();
    for env in ["dev", "prod"] {
        files.push((
            format!("envs/{env}/app/main.tf"),
            module("../../../modules/service"),
        ));
        files.push((
            format!("envs/{env}/db/main.tf"),
            module("../../../modules/network"),
        ));
        files.push((
            format!("envs/{env}/edge/main.tf"),
            module("terraform-aws-modules/cloudfront/aws"),
        ));
    }
    files.push(("modules/service/main.tf".into(), module("../network")));
    files.push((
        "modules/network/main.tf".into(),
        "variable \"cidr\" {}\n".into(),
    ));
    TerraformTree::from_files(files.iter().map(|(p, t)| (p.as_str(), t.as_str())))
}

pub(super) fn dirs(sel: &landfall_function::projects::Selection) -> Vec<&str> {
    sel.projects
        .iter()
        .map(|s| s.project.dir.as_str())
        .collect()
}

#[test]
fn a_change_to_a_module_plans_every_root_that_uses_it_directly_or_through_another_module() {
    let tree = monorepo();
    let changed = [ChangedFile::modified("modules/network/main.tf")];
    let sel = select(
        &no_config(),
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert_eq!(
        dirs(&sel),
        [
            "envs/dev/app",
            "envs/dev/db",
            "envs/prod/app",
            "envs/prod/db"
        ]
    );
    let app = &sel.projects[0];
    assert_eq!(
        app.reason,
        Reason::ModuleChanged(vec![
            "envs/dev/app".into(),
            "modules/service".into(),
            "modules/network".into()
        ])
    );
    assert_eq!(
        sel.projects[1].reason,
        Reason::ModuleChanged(vec!["envs/dev/db".into(), "modules/network".into()])
    );
}

#[test]
fn a_change_inside_a_root_plans_only_that_root() {
    let tree = monorepo();
    let changed = [
        ChangedFile::modified("envs/prod/edge/main.tf"),
        ChangedFile::modified("envs/prod/edge/README.md"),
        ChangedFile::modified("docs/index.md"),
    ];
    let sel = select(
        &no_config(),
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert_eq!(dirs(&sel), ["envs/prod/edge"]);
    assert_eq!(sel.projects[0].reason, Reason::Changed);
}

#[test]
fn nested_tfvars_belong_to_the_nearest_terraform_directory() {
    let tree = monorepo();
    let changed = [ChangedFile::modified("envs/dev/db/vars/extra.tfvars")];
    let sel = select(
        &no_config(),
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert_eq!(dirs(&sel), ["envs/dev/db"]);
}

#[test]
fn a_deleted_project_is_reported_and_not_planned() {
    // At head, envs/dev/edge is gone.
    let mut tree = monorepo();
    tree.dirs.remove("envs/dev/edge");
    let changed = [ChangedFile::new(
        "envs/dev/edge/main.tf",
        FileStatus::Removed,
    )];
    let sel = select(
        &no_config(),
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert!(sel.projects.is_empty());
    assert_eq!(sel.deleted.len(), 1);
    assert_eq!(sel.deleted[0].dir, "envs/dev/edge");
    assert_eq!(sel.deleted[0].renamed_to, None);
}

#[test]
fn a_renamed_project_is_planned_at_its_new_place_and_reported_at_its_old_one() {
    let tree = TerraformTree::from_files([
        ("envs/staging/edge/main.tf", ""),
        ("envs/staging/edge/vars.tf", ""),
    ]);
    let changed = [
        ChangedFile::renamed("envs/dev/edge/main.tf", "envs/staging/edge/main.tf"),
        ChangedFile::renamed("envs/dev/edge/vars.tf", "envs/staging/edge/vars.tf"),
    ];
    let sel = select(
        &no_config(),
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert_eq!(dirs(&sel), ["envs/staging/edge"]);
    assert_eq!(sel.deleted[0].dir, "envs/dev/edge");
    assert_eq!(
        sel.deleted[0].renamed_to.as_deref(),
        Some("envs/staging/edge")
    );
}

#[test]
fn a_configured_project_whose_directory_is_gone_is_reported_as_deleted() {
    let tree = TerraformTree::from_files([("live/main.tf", "")]);
    let cfg = config("version: 3\nprojects:\n- name: old\n  dir: old\n- dir: live\n");
    let changed = [
        ChangedFile::new("old/main.tf", FileStatus::Removed),
        ChangedFile::modified("live/main.tf"),
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
    assert_eq!(dirs(&sel), ["live"]);
    assert_eq!(sel.deleted[0].name.as_deref(), Some("old"));
}

#[test]
fn when_modified_globs_select_configured_projects_and_autoplan_false_skips_only_autoplans() {
    let tree = TerraformTree::from_files([
        ("project1/main.tf", ""),
        ("project2/main.tf", ""),
        ("modules/module1/main.tf", ""),
    ]);
    let cfg = config(
        "version: 3\nprojects:\n- dir: project1\n  autoplan:\n    when_modified: [\"../modules/**/*.tf\", \"*.tf*\"]\n- dir: project2\n  autoplan:\n    enabled: false\n",
    );
    let module_change = [ChangedFile::modified("modules/module1/submodule/main.tf")];
    let sel = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &module_change,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert_eq!(dirs(&sel), ["project1"]);

    let p2 = [ChangedFile::modified("project2/main.tf")];
    let auto = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &p2,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert!(auto.projects.is_empty(), "autoplan disabled");
    let manual = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &p2,
        "main",
        &Request::default(),
    )
    .unwrap();
    assert_eq!(
        dirs(&manual),
        ["project2"],
        "`landfall plan` still uses when_modified"
    );
}

#[test]
fn projects_restricted_to_a_branch_are_only_considered_for_prs_into_it() {
    let tree = TerraformTree::from_files([
        ("infrastructure/production/main.tf", ""),
        ("infrastructure/staging/main.tf", ""),
    ]);
    let cfg = config(
        "version: 3\nprojects:\n- name: prod\n  branch: /^production$/\n  dir: infrastructure/production\n- name: stg\n  branch: /^staging$/\n  dir: infrastructure/staging\n",
    );
    let changed = [
        ChangedFile::modified("infrastructure/production/main.tf"),
        ChangedFile::modified("infrastructure/staging/main.tf"),
    ];
    let sel = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "staging",
        &Request::autoplan(),
    )
    .unwrap();
    assert_eq!(dirs(&sel), ["infrastructure/staging"]);
}

#[test]
fn execution_order_groups_order_the_selection() {
    let tree = TerraformTree::from_files([("a/main.tf", ""), ("b/main.tf", "")]);
    let cfg = config(
        "version: 3\nprojects:\n- dir: a\n  execution_order_group: 2\n- dir: b\n  execution_order_group: 1\n",
    );
    let changed = [
        ChangedFile::modified("a/main.tf"),
        ChangedFile::modified("b/main.tf"),
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
    assert_eq!(dirs(&sel), ["b", "a"]);
}

fn autoplan_dirs(config: &ResolvedConfig, changed: &[&str]) -> Vec<String> {
    let changed: Vec<ChangedFile> = changed.iter().map(|p| ChangedFile::modified(p)).collect();
    let sel = select(
        config,
        &EffectivePolicy::default(),
        &monorepo(),
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    dirs(&sel).into_iter().map(str::to_owned).collect()
}

#[test]
fn autodiscover_modes_decide_whether_unconfigured_roots_are_planned() {
    let changed = ["envs/dev/app/main.tf", "envs/dev/db/main.tf"];
    let projects = "projects:\n- dir: envs/dev/app\n  workspace: staging\n";
    // auto: a file with projects discovers nothing.
    let auto = config(&format!("version: 3\n{projects}"));
    assert_eq!(autoplan_dirs(&auto, &changed), ["envs/dev/app"]);
    // enabled: the configured project wins for its directory, the others are discovered.
    let enabled = config(&format!(
        "version: 3\nautodiscover:\n  mode: enabled\n{projects}"
    ));
    let sel = autoplan_dirs(&enabled, &changed);
    assert_eq!(sel, ["envs/dev/app", "envs/dev/db"]);
    // disabled: without projects, nothing is planned, and `-d` names no project.
    let disabled = config("version: 3\nautodiscover:\n  mode: disabled\n");
    assert!(autoplan_dirs(&disabled, &changed).is_empty());
    let err = refused(&disabled, "atlantis plan -d envs/dev/db");
    assert!(matches!(err, SelectionError::NotConfigured { .. }), "{err}");
}

#[test]
fn ignore_paths_leave_directories_out_of_discovery_and_of_dir_commands() {
    let ignoring =
        config("version: 3\nautodiscover:\n  mode: auto\n  ignore_paths: [envs/prod/*]\n");
    let changed = ["modules/network/main.tf"];
    assert_eq!(
        autoplan_dirs(&ignoring, &changed),
        ["envs/dev/app", "envs/dev/db"]
    );
    let err = refused(&ignoring, "atlantis plan -d envs/prod/db");
    assert!(matches!(err, SelectionError::Ignored { .. }), "{err}");
}

#[test]
fn a_terragrunt_unit_is_a_project_as_in_atlantis() {
    // A unit holds `terragrunt.hcl` and no `.tf`; the repository has Terraform elsewhere.
    let tree = TerraformTree::from_files([
        ("modules/vpc/main.tf", "variable \"cidr\" {}\n"),
        (
            "live/prod/vpc/terragrunt.hcl",
            "terraform {\n  source = \"../../../modules/vpc\"\n}\n",
        ),
    ]);
    let cfg = config("version: 3\nprojects:\n- name: vpc\n  dir: live/prod/vpc\n");
    let changed = [ChangedFile::modified("live/prod/vpc/terragrunt.hcl")];
    let sel = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert_eq!(dirs(&sel), ["live/prod/vpc"]);
    assert!(sel.deleted.is_empty(), "{:?}", sel.deleted);
    // Its last `terragrunt.hcl` removed, the unit is gone.
    let tree = TerraformTree::from_files([("modules/vpc/main.tf", "")]);
    let changed = [ChangedFile::new(
        "live/prod/vpc/terragrunt.hcl",
        FileStatus::Removed,
    )];
    let sel = select(
        &cfg,
        &EffectivePolicy::default(),
        &tree,
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    assert!(sel.projects.is_empty());
    assert_eq!(sel.deleted[0].name.as_deref(), Some("vpc"));
}
