//! What the platform gives the runner image and stateful apps, read from the rendered HCL: the
//! runner image's ECR repository (immutable tags, scan on push, its own rotated key, a lifecycle
//! policy) and the Job's default image, and the EBS CSI driver's add-on and Pod Identity role.

use std::path::Path;

use hcl::{Block, Body, Expression};
use landfall::config::Config;
use landfall::render::{Renderer, Tree};

use super::render_tree::{attribute, field};

fn render(config: &str) -> Tree {
    let config = match config {
        "example" => Config::parse(
            &landfall::commands::demo::example_config().unwrap(),
            Path::new("landfall.toml"),
        )
        .unwrap(),
        "full" => super::render_tree::full(),
        other => panic!("no config {other}"),
    };
    Renderer::new().render(&config).unwrap()
}

fn parse(tree: &Tree, file: &str) -> Body {
    hcl::parse(&tree[&format!("terraform/platform/{file}")]).unwrap()
}

/// The top-level block `kind "type" "name"` (a resource, data source or module).
fn block<'a>(body: &'a Body, kind: &str, labels: &[&str]) -> &'a Block {
    body.blocks()
        .find(|b| {
            b.identifier() == kind
                && b.labels()
                    .iter()
                    .map(hcl::BlockLabel::as_str)
                    .eq(labels.iter().copied())
        })
        .unwrap_or_else(|| panic!("no {kind} {labels:?}"))
}

fn nested<'a>(block: &'a Block, name: &str) -> Vec<&'a Block> {
    block
        .body()
        .blocks()
        .filter(|b| b.identifier() == name)
        .collect()
}

/// An expression as HCL text with its white space removed (none of the strings compared here
/// holds any), so that a one-line form compares equal to the formatted one.
fn text(expr: &Expression) -> String {
    expr.to_string().split_whitespace().collect()
}

#[test]
fn the_runner_image_repository_is_immutable_scanned_encrypted_and_pruned() {
    for config in ["example", "full"] {
        let body = parse(&render(config), "registry.tf");
        let repo = block(&body, "resource", &["aws_ecr_repository", "runner"]);
        assert_eq!(attribute(repo, "image_tag_mutability"), "IMMUTABLE".into());
        let scanning = nested(repo, "image_scanning_configuration");
        assert_eq!(attribute(scanning[0], "scan_on_push"), true.into());
        let encryption = nested(repo, "encryption_configuration");
        assert_eq!(attribute(encryption[0], "encryption_type"), "KMS".into());
        assert_eq!(
            text(&attribute(encryption[0], "kms_key")),
            "aws_kms_key.runner_images.arn"
        );

        // A customer-managed key with rotation, administered by the account like the others.
        let key = block(&body, "resource", &["aws_kms_key", "runner_images"]);
        assert_eq!(attribute(key, "enable_key_rotation"), true.into());
        assert_eq!(
            text(&attribute(key, "policy")),
            "data.aws_iam_policy_document.runner_images_key.json"
        );

        // Untagged images expire after days; of tagged ones a count is kept.
        let lifecycle = block(&body, "resource", &["aws_ecr_lifecycle_policy", "runner"]);
        assert_eq!(
            text(&attribute(lifecycle, "repository")),
            "aws_ecr_repository.runner.name"
        );
        let policy = attribute(lifecycle, "policy");
        let Expression::FuncCall(call) = &policy else {
            panic!("policy: {policy}");
        };
        assert_eq!(call.name.name.as_str(), "jsonencode");
        let Expression::Array(rules) = field(&call.args[0], "rules") else {
            panic!("rules: {policy}");
        };
        let selections: Vec<(String, String)> = rules
            .iter()
            .map(|rule| {
                assert_eq!(field(field(rule, "action"), "type"), &"expire".into());
                let selection = field(rule, "selection");
                (
                    text(field(selection, "tagStatus")),
                    text(field(selection, "countType")),
                )
            })
            .collect();
        for expected in [
            ("\"untagged\"", "\"sinceImagePushed\""),
            ("\"tagged\"", "\"imageCountMoreThan\""),
        ] {
            assert!(
                selections.contains(&(expected.0.to_owned(), expected.1.to_owned())),
                "{config}: no rule {expected:?} in {selections:?}"
            );
        }
    }
}

#[test]
fn jobs_run_the_platform_repository_at_this_version_unless_landfall_toml_names_an_image() {
    let image = |config: &str| {
        let tree = render(config);
        let function = &tree["terraform/platform/landfall.tf"];
        assert!(
            function.contains("LANDFALL_RUNNER_IMAGE                 = local.runner_image"),
            "{function}"
        );
        let body = parse(&tree, "registry.tf");
        let locals = block(&body, "locals", &[]);
        let expr = attribute(locals, "runner_image");
        let Expression::FuncCall(call) = &expr else {
            panic!("runner_image: {expr}");
        };
        assert_eq!(call.name.name.as_str(), "coalesce");
        assert_eq!(text(&call.args[0]), "var.runner_image", "-var overrides");
        text(&call.args[1])
    };
    assert_eq!(
        image("example"),
        format!(
            "\"${{aws_ecr_repository.runner.repository_url}}:{}\"",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        image("full"),
        "\"registry.example.com/landfall-runner:1.2.3\""
    );

    let outputs = parse(&render("example"), "outputs.tf");
    let url = block(&outputs, "output", &["runner_repository_url"]);
    assert_eq!(
        text(&attribute(url, "value")),
        "aws_ecr_repository.runner.repository_url"
    );
    let variables = parse(&render("example"), "variables.tf");
    let var = block(&variables, "variable", &["runner_image"]);
    assert_eq!(attribute(var, "default"), Expression::Null);
}

#[test]
fn the_ebs_csi_driver_is_an_add_on_with_its_own_pod_identity_role() {
    for config in ["example", "full"] {
        let cluster = parse(&render(config), "cluster.tf");
        let eks = block(&cluster, "module", &["eks"]);
        let addons = attribute(eks, "addons");
        // Pod Identity needs its agent, installed before the nodes.
        let agent = field(&addons, "eks-pod-identity-agent");
        assert_eq!(field(agent, "before_compute"), &true.into());
        let ebs = field(&addons, "aws-ebs-csi-driver");
        let Expression::Array(associations) = field(ebs, "pod_identity_association") else {
            panic!("{config}: {ebs}");
        };
        assert_eq!(associations.len(), 1);
        assert_eq!(
            text(field(&associations[0], "role_arn")),
            "aws_iam_role.ebs_csi.arn"
        );
        assert_eq!(
            text(field(&associations[0], "service_account")),
            "local.ebs_csi_service_account"
        );
    }
}

#[test]
fn only_the_ebs_csi_controller_can_assume_its_role_which_has_only_the_drivers_policy() {
    for config in ["example", "full"] {
        let storage = parse(&render(config), "storage.tf");
        let locals = block(&storage, "locals", &[]);
        assert_eq!(
            attribute(locals, "ebs_csi_service_account"),
            "ebs-csi-controller-sa".into()
        );
        let role = block(&storage, "resource", &["aws_iam_role", "ebs_csi"]);
        assert_eq!(
            text(&attribute(role, "assume_role_policy")),
            "data.aws_iam_policy_document.ebs_csi_assume.json"
        );
        let trust = block(
            &storage,
            "data",
            &["aws_iam_policy_document", "ebs_csi_assume"],
        );
        let statements = nested(trust, "statement");
        assert_eq!(statements.len(), 1, "{config}: one statement");
        let statement = statements[0];
        assert!(
            nested(statement, "effect").is_empty()
                && statement.body().attributes().all(|a| a.key() != "effect"),
            "{config}: an Allow"
        );
        let principals = nested(statement, "principals");
        assert_eq!(principals.len(), 1);
        assert_eq!(attribute(principals[0], "type"), "Service".into());
        assert_eq!(
            text(&attribute(principals[0], "identifiers")),
            "[\"pods.eks.amazonaws.com\"]"
        );
        let conditions: Vec<(String, String, String)> = nested(statement, "condition")
            .into_iter()
            .map(|c| {
                (
                    text(&attribute(c, "test")),
                    text(&attribute(c, "variable")),
                    text(&attribute(c, "values")),
                )
            })
            .collect();
        for (variable, values) in [
            ("aws:SourceAccount", "[local.account_id]"),
            (
                "aws:RequestTag/eks-cluster-name",
                "[module.eks.cluster_name]",
            ),
            ("aws:RequestTag/kubernetes-namespace", "[\"kube-system\"]"),
            (
                "aws:RequestTag/kubernetes-service-account",
                "[local.ebs_csi_service_account]",
            ),
        ] {
            let expected = (
                "\"StringEquals\"".to_owned(),
                format!("\"{variable}\""),
                values.to_owned(),
            );
            assert!(
                conditions.contains(&expected),
                "{config}: the trust lacks {expected:?}: {conditions:?}"
            );
        }

        // AWS's managed policy for the driver, and the operator's own volume keys if any.
        let policies: Vec<&Block> = storage
            .blocks()
            .filter(|b| {
                b.identifier() == "resource"
                    && b.labels()[0].as_str().starts_with("aws_iam_role_policy")
            })
            .collect();
        assert_eq!(policies.len(), 2, "{config}");
        let managed = block(
            &storage,
            "resource",
            &["aws_iam_role_policy_attachment", "ebs_csi"],
        );
        assert_eq!(
            text(&attribute(managed, "role")),
            "aws_iam_role.ebs_csi.name"
        );
        assert!(
            text(&attribute(managed, "policy_arn"))
                .ends_with(":iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy\""),
            "{config}"
        );
    }
}

/// A StorageClass of the operator's own may name a key they manage; the driver may then use
/// those keys, and only those, for volumes: grants only for AWS resources.
#[test]
fn the_ebs_csi_driver_uses_only_the_volume_keys_it_is_given() {
    let storage = parse(&render("full"), "storage.tf");
    let inline = block(
        &storage,
        "resource",
        &["aws_iam_role_policy", "ebs_csi_keys"],
    );
    assert_eq!(text(&attribute(inline, "role")), "aws_iam_role.ebs_csi.id");
    assert_eq!(
        text(&attribute(inline, "count")),
        "length(var.volume_kms_key_arns)>0?1:0"
    );
    let keys = block(
        &storage,
        "data",
        &["aws_iam_policy_document", "ebs_csi_keys"],
    );
    let statements = nested(keys, "statement");
    assert_eq!(statements.len(), 2);
    for statement in &statements {
        assert_eq!(
            text(&attribute(statement, "resources")),
            "var.volume_kms_key_arns"
        );
    }
    let grants = statements
        .iter()
        .find(|s| text(&attribute(s, "actions")).contains("kms:CreateGrant"))
        .expect("a grant statement");
    let condition = nested(grants, "condition");
    assert_eq!(
        text(&attribute(condition[0], "variable")),
        "\"kms:GrantIsForAWSResource\""
    );
    assert_eq!(text(&attribute(condition[0], "values")), "[\"true\"]");
}
