use super::*;

#[test]
fn a_projects_inputs_are_its_directory_and_its_modules_transitively() {
    let tree = TerraformTree::from_files([
        (
            "envs/prod/main.tf",
            "module \"net\" { source = \"../../modules/net\" }",
        ),
        (
            "modules/net/main.tf",
            "module \"sub\" { source = \"../sub\" }",
        ),
        ("modules/sub/main.tf", ""),
        ("modules/other/main.tf", ""),
    ]);
    let dirs = module_closure(&tree, "envs/prod");
    assert_eq!(
        dirs.into_iter().collect::<Vec<_>>(),
        ["envs/prod", "modules/net", "modules/sub"]
    );
    let set = BTreeSet::from(["envs/prod".to_owned()]);
    assert!(under_any("envs/prod/vars.tfvars", &set));
    assert!(under_any("envs/prod/sub/x.json", &set));
    assert!(!under_any("envs/production/main.tf", &set));
    assert!(under_any("anything", &BTreeSet::from([".".to_owned()])));
}
