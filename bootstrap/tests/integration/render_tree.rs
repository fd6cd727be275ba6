//! The rendered tree as a whole: snapshots of every file for the example and a full config, HCL
//! that parses, and the properties render must keep (deterministic, order-independent, strict).

use std::fmt::Write as _;
use std::path::Path;

use landfall::config::Config;
use landfall::render::{Renderer, Tree};
use proptest::prelude::*;

fn example() -> Config {
    let text = landfall::commands::demo::example_config().unwrap();
    Config::parse(&text, Path::new("landfall.toml")).unwrap()
}

pub(crate) fn full() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/full.toml");
    Config::load_to_render(&path).unwrap()
}

fn snapshot_tree(prefix: &str, tree: &Tree) {
    for (path, content) in tree {
        let name = format!("{prefix}__{}", path.replace('/', "__"));
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, content);
        });
    }
}

#[test]
fn the_example_platform_renders_to_the_reviewed_tree() {
    snapshot_tree("example", &Renderer::new().render(&example()).unwrap());
}

#[test]
fn a_config_with_every_setting_renders_to_the_reviewed_tree() {
    snapshot_tree("full", &Renderer::new().render(&full()).unwrap());
}

#[test]
fn every_rendered_terraform_file_parses_as_hcl() {
    for config in [example(), full()] {
        let tree = Renderer::new().render(&config).unwrap();
        let tf: Vec<_> = tree
            .iter()
            .filter(|(p, _)| {
                Path::new(p.as_str()).extension().is_some_and(|e| e == "tf")
                    || p.ends_with("tf.example")
            })
            .collect();
        assert!(tf.len() >= 12, "{} terraform files", tf.len());
        for (path, text) in tf {
            hcl::parse(text).unwrap_or_else(|e| panic!("{path} does not parse: {e}"));
        }
    }
}

fn s3_backend(text: &str) -> hcl::Block {
    let body = hcl::parse(text).unwrap();
    let terraform = body
        .blocks()
        .find(|b| b.identifier() == "terraform")
        .expect("a terraform block");
    terraform
        .body()
        .blocks()
        .find(|b| b.identifier() == "backend")
        .cloned()
        .expect("a backend block")
}

pub(super) fn attribute(block: &hcl::Block, key: &str) -> hcl::Expression {
    block
        .body()
        .attributes()
        .find(|a| a.key() == key)
        .unwrap_or_else(|| panic!("no {key}"))
        .expr()
        .clone()
}

#[test]
fn both_stages_use_the_configured_bucket_lock_file_and_table() {
    let tree = Renderer::new().render(&full()).unwrap();
    for (file, key) in [
        ("terraform/platform/backend.tf", "platform/prod.tfstate"),
        (
            "terraform/bootstrap/backend.tf.example",
            "bootstrap/terraform.tfstate",
        ),
    ] {
        let backend = s3_backend(&tree[file]);
        assert_eq!(backend.labels()[0].as_str(), "s3");
        assert_eq!(
            attribute(&backend, "bucket"),
            "acme-prod-terraform-state".into()
        );
        assert_eq!(attribute(&backend, "key"), key.into());
        assert_eq!(attribute(&backend, "region"), "us-gov-west-1".into());
        assert_eq!(attribute(&backend, "use_lockfile"), true.into());
        assert_eq!(attribute(&backend, "encrypt"), true.into());
        assert_eq!(
            attribute(&backend, "dynamodb_table"),
            "acme-prod-terraform-locks".into()
        );
    }
    assert!(
        !tree.contains_key("terraform/bootstrap/backend.tf"),
        "bootstrap starts on local state"
    );
}

/// The value under `key` of an HCL object expression.
pub(super) fn field<'a>(expr: &'a hcl::Expression, key: &str) -> &'a hcl::Expression {
    let hcl::Expression::Object(object) = expr else {
        panic!("not an object: {expr}");
    };
    object
        .iter()
        .find(|(k, _)| match k {
            hcl::ObjectKey::Identifier(id) => id.as_str() == key,
            hcl::ObjectKey::Expression(hcl::Expression::String(s)) => s == key,
            _ => false,
        })
        .map_or_else(|| panic!("no {key} in {expr}"), |(_, v)| v)
}

#[test]
fn nodes_keep_instance_metadata_from_pods_and_the_cni_enforces_network_policies() {
    for config in [example(), full()] {
        let body =
            hcl::parse(&Renderer::new().render(&config).unwrap()["terraform/platform/cluster.tf"])
                .unwrap();
        let eks = body
            .blocks()
            .find(|b| b.identifier() == "module" && b.labels()[0].as_str() == "eks")
            .expect("the eks module")
            .clone();

        // IMDSv2 only, over IPv4 only, and one hop: the token cannot reach a pod.
        let groups = attribute(&eks, "eks_managed_node_groups");
        let hcl::Expression::Object(groups) = &groups else {
            panic!("node groups: {groups}");
        };
        assert!(!groups.is_empty());
        for (_, group) in groups {
            let metadata = field(group, "metadata_options");
            assert_eq!(field(metadata, "http_endpoint"), &"enabled".into());
            assert_eq!(field(metadata, "http_tokens"), &"required".into());
            assert_eq!(field(metadata, "http_put_response_hop_limit"), &1.into());
            assert_eq!(field(metadata, "http_protocol_ipv6"), &"disabled".into());
        }

        // The VPC CNI's network policy agent is on, so the runner's NetworkPolicy is enforced.
        let addons = attribute(&eks, "addons");
        let values = field(field(&addons, "vpc-cni"), "configuration_values");
        let hcl::Expression::FuncCall(call) = values else {
            panic!("configuration_values: {values}");
        };
        assert_eq!(call.name.name.as_str(), "jsonencode");
        assert_eq!(field(&call.args[0], "enableNetworkPolicy"), &"true".into());
    }
}

#[test]
fn user_values_cannot_inject_terraform_interpolations() {
    let text = landfall::commands::demo::example_config().unwrap().replace(
        "revision = \"HEAD\"",
        "revision = \"${file(\\\"/etc/passwd\\\")}\"",
    );
    let config = Config::parse(&text, Path::new("landfall.toml")).unwrap();
    let tree = Renderer::new().render(&config).unwrap();
    let argocd = &tree["terraform/platform/argocd.tf"];
    assert!(
        argocd.contains(r#"targetRevision = "$${file(\"/etc/passwd\")}""#),
        "{argocd}"
    );
    hcl::parse(argocd).unwrap();
}

fn config_with_apps(apps: &[(String, i32)]) -> Config {
    let mut text = landfall::commands::demo::example_config().unwrap();
    text.truncate(text.find("\n[[apps]]").unwrap());
    for (name, wave) in apps {
        write!(
            text,
            "\n[[apps]]\nname = \"{name}\"\nrepo_url = \"https://git.example.com/{name}.git\"\npath = \"deploy\"\nsync_wave = {wave}\n"
        )
        .unwrap();
    }
    Config::parse(&text, Path::new("landfall.toml")).unwrap()
}

fn label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,20}[a-z0-9])?".prop_filter("not a name Landfall's own apps take", |n| {
        n != "landfall-runner" && n != landfall::config::PLATFORM_APP
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn render_is_deterministic_and_independent_of_app_order(
        apps in proptest::collection::btree_map(label(), -20i32..20, 0..12),
    ) {
        let apps: Vec<(String, i32)> = apps.into_iter().collect();
        let renderer = Renderer::new();
        let first = renderer.render(&config_with_apps(&apps)).unwrap();
        let again = renderer.render(&config_with_apps(&apps)).unwrap();
        prop_assert_eq!(&first, &again);
        let mut reversed = apps.clone();
        reversed.reverse();
        prop_assert_eq!(&first, &renderer.render(&config_with_apps(&reversed)).unwrap());
        for (name, _) in &apps {
            let key = format!("manifests/apps/{name}.yaml");
            prop_assert!(first.contains_key(&key));
        }
    }

    #[test]
    fn names_that_are_not_dns_labels_are_refused_with_the_line(name in "[ -~]{0,70}") {
        prop_assume!(landfall::names::app_name(&name).is_err());
        let mut text = landfall::commands::demo::example_config().unwrap();
        write!(
            text,
            "\n[[apps]]\nname = {}\nrepo_url = \"https://x.example.com/a.git\"\npath = \"a\"\n",
            toml::Value::String(name.clone())
        )
        .unwrap();
        let line = text.lines().count() - 2;
        let err = Config::parse(&text, Path::new("landfall.toml")).unwrap_err().to_string();
        let expected = format!("landfall.toml:{line}: invalid app name");
        prop_assert!(err.contains(&expected), "{}", err);
    }
}
