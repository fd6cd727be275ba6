//! The rendered platform against the real tools: `terraform fmt`, the provider-schema checker,
//! kubernetes-validate and the Argo CD CRD schemas, and the runner roles as rendered (checkov:
//! `platform_checks`; the runner NetworkPolicy: `platform_network`; state in a real (moto) S3
//! bucket through the rendered backend blocks: `platform_state`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use landfall::config::Config;
use landfall::render::Renderer;
use landfall_e2e::{repo_root, shared_dir, terraform, tool};

/// The example platform and a config with every setting, rendered into a temporary folder.
pub(super) fn rendered(name: &str) -> (tempfile::TempDir, Config) {
    let full = repo_root().join("bootstrap/tests/fixtures/full.toml");
    let (text, path) = match name {
        "example" => (
            landfall::commands::demo::example_config().unwrap(),
            Path::new("landfall.toml"),
        ),
        // Beside its policy file, which it names.
        "full" => (fs::read_to_string(&full).unwrap(), full.as_path()),
        // Two apps of one namespace, neither trusted with the cluster; a third, restricted.
        "shared" => (
            fs::read_to_string(&full).unwrap()
                + "\n[[apps]]\nname = \"billing\"\nrepo_url = \"https://github.com/acme/billing.git\"\npath = \"deploy\"\nnamespace = \"payments\"\n"
                + "\n[[apps]]\nname = \"ledger\"\nrepo_url = \"https://github.com/acme/ledger.git\"\npath = \"deploy\"\npod_security = \"restricted\"\n",
            full.as_path(),
        ),
        other => panic!("no config {other}"),
    };
    let config = Config::parse_to_render(&text, path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tree = Renderer::new().render(&config).unwrap();
    let changes = landfall::output::plan(dir.path(), &tree).unwrap();
    landfall::output::apply(dir.path(), &changes).unwrap();
    (dir, config)
}

pub(super) fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub(super) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(super) fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path, extension));
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn rendered_terraform_is_formatted_as_terraform_fmt_writes_it() {
    for name in ["example", "full"] {
        let (dir, _) = rendered(name);
        let out =
            run(terraform(dir.path()).args(["fmt", "-check", "-recursive", "-diff", "terraform"]));
        assert!(
            out.status.success(),
            "{name}: terraform fmt -check failed:\n{}",
            text(&out)
        );
    }
}

fn schema_check(dir: &Path) -> Output {
    run(Command::new(tool("tf-schema-check")).arg(dir))
}

#[test]
fn rendered_terraform_matches_the_real_provider_schemas_and_module_inputs() {
    for name in ["example", "full"] {
        let (dir, _) = rendered(name);
        let out = schema_check(&dir.path().join("terraform"));
        assert!(
            out.status.success(),
            "{name}: tf-schema-check found problems:\n{}",
            text(&out)
        );
        assert!(text(&out).contains(", 0 findings"), "{}", text(&out));
    }
    // The checker does look: a misspelt argument and a v20 module input are both reported.
    let (dir, _) = rendered("example");
    let main = dir.path().join("terraform/bootstrap/main.tf");
    let tf = fs::read_to_string(&main)
        .unwrap()
        .replace("  hash_key ", "  force_destory = true\n  hash_key ");
    fs::write(&main, tf).unwrap();
    let cluster = dir.path().join("terraform/platform/cluster.tf");
    let tf = fs::read_to_string(&cluster)
        .unwrap()
        .replace("kubernetes_version =", "cluster_version =");
    fs::write(&cluster, tf).unwrap();
    let out = schema_check(&dir.path().join("terraform"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("unsupported argument \"force_destory\""),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("has no input \"cluster_version\""),
        "{}",
        text(&out)
    );
}

/// Plans and applies are different cloud identities: two service accounts, each bound to its own
/// role, and only Pod Identity for this account, this cluster, the runner namespace and that one
/// service account may assume either.
#[test]
fn plans_and_applies_have_their_own_roles_that_only_their_service_account_can_assume() {
    let (dir, _) = rendered("full");
    let runner = dir.path().join("manifests/landfall-runner");
    let name = |file: &str| {
        yaml_as_json(&runner.join(file))["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (plan, apply) = (
        name("serviceaccount.yaml"),
        name("serviceaccount-apply.yaml"),
    );
    assert_ne!(plan, apply);
    let roles = fs::read_to_string(dir.path().join("terraform/platform/runner.tf")).unwrap();
    for bound in [
        format!("service_account = \"{plan}\""),
        format!("service_account = \"{apply}\""),
        "policy_arns     = var.runner_plan_policy_arns".to_owned(),
        "policy_arns     = var.runner_apply_policy_arns".to_owned(),
    ] {
        assert!(roles.contains(&bound), "runner.tf lacks {bound}:\n{roles}");
    }
    for condition in [
        "aws:SourceAccount",
        "aws:RequestTag/eks-cluster-name",
        "aws:RequestTag/kubernetes-namespace",
        "aws:RequestTag/kubernetes-service-account",
    ] {
        assert!(
            roles.contains(&format!("variable = \"{condition}\"")),
            "the runner roles' trust lacks {condition}"
        );
    }
    let function = fs::read_to_string(dir.path().join("terraform/platform/landfall.tf")).unwrap();
    assert!(
        function.contains(&format!(
            "LANDFALL_RUNNER_APPLY_SERVICE_ACCOUNT = \"{apply}\""
        )),
        "the function is not told the apply service account"
    );
}

/// Every IAM policy the rendered platform gives the runner roles: inline policies and
/// attachments whose `role` is a runner role, as HCL text.
fn runner_role_policies(platform: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for file in files(platform, "tf") {
        let body = hcl::parse(&fs::read_to_string(&file).unwrap()).unwrap();
        for block in body.blocks() {
            let labels: Vec<&str> = block.labels().iter().map(hcl::BlockLabel::as_str).collect();
            if block.identifier() == "resource"
                && labels
                    .first()
                    .is_some_and(|kind| kind.starts_with("aws_iam_role_policy"))
            {
                let text = hcl::to_string(block).unwrap();
                if text.contains("aws_iam_role.runner") {
                    found.push(text);
                }
            }
        }
    }
    found
}

#[test]
fn the_runner_roles_reach_nothing_of_the_function_only_the_operators_policies() {
    let (dir, _) = rendered("full");
    let policies = runner_role_policies(&dir.path().join("terraform/platform"));
    assert_eq!(policies.len(), 2, "{policies:#?}");
    // One attachment resource, for the operator's own policy ARNs, per role; and the fence.
    assert!(
        policies[0].contains("aws_iam_role_policy_attachment")
            && policies[0].contains("role.policy_arns"),
        "{}",
        policies[0]
    );
    assert!(
        policies[1].contains("data.aws_iam_policy_document.runner_fence.json"),
        "{}",
        policies[1]
    );
    let runner = fs::read_to_string(dir.path().join("terraform/platform/runner.tf")).unwrap();
    // The fence only denies, and denies the function's key, table, bucket and every secret.
    let body = hcl::parse(&runner).unwrap();
    let fence = body
        .blocks()
        .find(|b| {
            b.identifier() == "data" && b.labels().iter().any(|l| l.as_str() == "runner_fence")
        })
        .expect("the runner_fence policy document");
    let statements: Vec<String> = fence
        .body()
        .blocks()
        .map(|b| hcl::to_string(b).unwrap())
        .collect();
    assert_eq!(statements.len(), 8, "{statements:#?}");
    for statement in &statements {
        assert!(statement.contains("effect = \"Deny\""), "{statement}");
    }
    // Nor the function's compute (both functions, their versions), the runner image's
    // repository, the cluster's access entries, or writes of the platform's own states.
    for (statement, needles) in [
        (
            &statements[1],
            &[
                "function:${local.function_name}\"",
                "function:${local.function_name}:*\"",
                "function:${local.worker_name}\"",
                "function:${local.worker_name}:*\"",
                "aws_ecr_repository.runner.arn",
            ][..],
        ),
        (
            &statements[2],
            &[
                "eks:CreateAccessEntry",
                "eks:AssociateAccessPolicy",
                "eks:CreatePodIdentityAssociation",
                "access-entry/${module.eks.cluster_name}/*",
                "eks:AssociateIdentityProviderConfig",
                "eks:CreateAddon",
            ][..],
        ),
        (
            &statements[3],
            &[
                "s3:PutObject",
                "s3:DeleteObject",
                "acme-prod-terraform-state/platform/prod.tfstate\"",
                "acme-prod-terraform-state/bootstrap/terraform.tfstate\"",
            ][..],
        ),
        (
            &statements[4],
            &[
                "s3:PutBucket*",
                "s3:PutLifecycleConfiguration",
                "s3:::acme-prod-terraform-state\"",
            ][..],
        ),
        (
            &statements[7],
            &[
                "iam:PassRole",
                "role/${local.function_name}\"",
                "role/${local.function_name}-sweep\"",
                "role/${local.name}-landfall-runner-*\"",
                "iam_role_arn",
            ][..],
        ),
        (
            &statements[5],
            &[
                "dynamodb:PutItem",
                "dynamodb:LeadingKeys",
                "acme-prod-terraform-state/platform/prod.tfstate*",
                "acme-prod-terraform-state/bootstrap/terraform.tfstate*",
            ][..],
        ),
    ] {
        for needle in needles {
            assert!(statement.contains(needle), "{needle}: {statement}");
        }
    }
    assert!(!statements[3].contains("s3:GetObject"), "{}", statements[3]);
    for resource in [
        "aws_kms_key.landfall.arn",
        "aws_dynamodb_table.landfall.arn",
        "aws_s3_bucket.artifacts.arn",
        "aws_secretsmanager_secret.webhook_secret.arn",
        "aws_secretsmanager_secret.vcs_token.arn",
        "aws_secretsmanager_secret.drift_webhook.arn",
    ] {
        assert!(
            statements[0].contains(resource),
            "{resource}: {}",
            statements[0]
        );
    }
    let function_secrets = fs::read_to_string(dir.path().join("terraform/platform/landfall.tf"))
        .unwrap()
        .matches("resource \"aws_secretsmanager_secret\"")
        .count();
    assert_eq!(
        statements[0].matches("aws_secretsmanager_secret.").count(),
        function_secrets,
        "every secret of the function is fenced off"
    );
    // Outside the fence (which names them to deny them), runner.tf grants none of them.
    let granting: String = body
        .blocks()
        .filter(|b| !b.labels().iter().any(|l| l.as_str() == "runner_fence"))
        .map(|b| hcl::to_string(b).unwrap())
        .collect();
    for action in [
        "dynamodb:",
        "s3:",
        "secretsmanager:",
        "kms:",
        "lambda:",
        "eks:",
        "ecr:",
    ] {
        assert!(
            !granting.contains(action),
            "runner.tf grants {action}:\n{granting}"
        );
    }
    let function = fs::read_to_string(dir.path().join("terraform/platform/landfall.tf")).unwrap();
    assert!(
        function.contains("lambda:GetFunctionUrlConfig"),
        "the function cannot find its URL"
    );
}

#[test]
fn rendered_kubernetes_objects_pass_strict_schema_validation() {
    let (dir, _) = rendered("full");
    let runner = files(&dir.path().join("manifests/landfall-runner"), "yaml");
    assert_eq!(runner.len(), 7, "{runner:?}");
    assert!(
        runner.iter().any(|p| p.ends_with("networkpolicy.yaml")),
        "{runner:?}"
    );
    assert_valid_kubernetes(&runner);

    // Strict means strict: an unknown field fails.
    let limits = dir.path().join("manifests/landfall-runner/limitrange.yaml");
    fs::write(
        &limits,
        fs::read_to_string(&limits)
            .unwrap()
            .replace("spec:\n", "spec:\n  bogus: 1\n"),
    )
    .unwrap();
    let out = run(Command::new(tool("kubernetes-validate"))
        .arg("--strict")
        .arg(&limits));
    assert!(!out.status.success(), "{}", text(&out));
}

/// The function's Role, in the runner namespace only: Jobs, their pods' state and logs, and the
/// runs' own Secrets, which it creates, gives their Job as owner and deletes, but never reads.
#[test]
fn the_dispatcher_writes_the_runs_secrets_and_never_reads_them() {
    let (dir, _) = rendered("full");
    let role = yaml_as_json(&dir.path().join("manifests/landfall-runner/role.yaml"));
    assert_eq!(role["kind"], "Role", "namespaced, never a ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    let verbs = |resource: &str| -> Vec<&str> {
        rules
            .iter()
            .filter(|rule| {
                rule["resources"]
                    .as_array()
                    .unwrap()
                    .contains(&resource.into())
            })
            .flat_map(|rule| rule["verbs"].as_array().unwrap())
            .map(|verb| verb.as_str().unwrap())
            .collect()
    };
    assert_eq!(verbs("secrets"), ["create", "patch", "delete"]);
    assert_eq!(verbs("jobs"), ["create", "get", "list", "watch", "delete"]);
    assert_eq!(verbs("pods"), ["get", "list", "watch"]);
    assert!(verbs("*").is_empty(), "{role}");
}

/// Every object of `paths` passes `kubernetes-validate --strict`, one object a file.
pub(super) fn assert_valid_kubernetes(paths: &[PathBuf]) {
    let out = run(Command::new(tool("kubernetes-validate"))
        .arg("--strict")
        .args(paths));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).matches(" passed for resource ").count(),
        paths.len(),
        "{}",
        text(&out)
    );
}

/// A rendered YAML file of one document as JSON, read by PyYAML from the tools' virtualenv.
pub(super) fn yaml_as_json(path: &Path) -> serde_json::Value {
    let mut documents = yaml_documents(path);
    assert_eq!(documents.len(), 1, "{}: one document", path.display());
    documents.remove(0)
}

/// Every document of a rendered YAML file, as JSON.
pub(super) fn yaml_documents(path: &Path) -> Vec<serde_json::Value> {
    let out = run(Command::new(repo_root().join(".tools/venv/bin/python"))
        .args([
            "-c",
            "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], sys.stdout)",
        ])
        .arg(path));
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn validate_argocd(paths: &[PathBuf]) -> Output {
    run(Command::new(repo_root().join(".tools/venv/bin/python"))
        .arg(repo_root().join("scripts/validate-argocd"))
        .arg(shared_dir().join("argocd-crds"))
        .args(paths))
}

#[test]
fn rendered_applications_validate_against_the_argo_cd_crds() {
    for name in ["example", "full"] {
        let (dir, config) = rendered(name);
        let mut apps = files(&dir.path().join("manifests/apps"), "yaml");
        assert_eq!(
            apps.len(),
            config.apps.len() + 2,
            "one per app plus the runner and platform apps"
        );
        apps.push(dir.path().join("manifests/root-app.yaml"));
        let out = validate_argocd(&apps);
        assert!(out.status.success(), "{name}:\n{}", text(&out));
        // Each of the config's apps has its AppProject too.
        assert!(
            text(&out).contains(&format!(
                "{} Argo CD objects checked, 0 problems",
                apps.len() + config.apps.len()
            )),
            "{}",
            text(&out)
        );
    }
    let (dir, _) = rendered("example");
    let root = dir.path().join("manifests/root-app.yaml");
    fs::write(
        &root,
        fs::read_to_string(&root).unwrap().replace(
            "  project: default\n",
            "  project: default\n  syncPolice: {}\n",
        ),
    )
    .unwrap();
    let out = validate_argocd(&[root]);
    assert!(
        !out.status.success() && text(&out).contains("'syncPolice' was unexpected"),
        "{}",
        text(&out)
    );
}

/// An app not trusted with the cluster deploys into a namespace Landfall renders once, with Pod
/// Security's `baseline` level enforced and never pruned, and may create no cluster-wide object
/// of its own (so neither that namespace nor another label on it); an app trusted with the
/// cluster creates its own. Each Namespace passes the Kubernetes schema.
#[test]
fn an_untrusted_apps_namespace_is_landfalls_with_pod_security_enforced() {
    let mut files_to_check = Vec::new();
    let kept = tempfile::tempdir().unwrap();
    for name in ["example", "full", "shared"] {
        let (dir, config) = rendered(name);
        let mut namespaces: Vec<String> = Vec::new();
        let checked = kept.path();
        for app in &config.apps {
            let app = app.get_ref();
            let path = dir
                .path()
                .join(format!("manifests/apps/{}.yaml", app.name.get_ref()));
            let documents = yaml_documents(&path);
            let of = |kind: &str| documents.iter().find(|d| d["kind"] == kind).unwrap();
            let project = of("AppProject");
            let options = &of("Application")["spec"]["syncPolicy"]["syncOptions"];
            if app.cluster_wide {
                assert_eq!(project["spec"]["clusterResourceWhitelist"][0]["kind"], "*");
                assert_eq!(options[0], "CreateNamespace=true", "{name}");
                continue;
            }
            assert_eq!(
                project["spec"]["clusterResourceWhitelist"],
                serde_json::json!([])
            );
            assert!(options.is_null(), "{name}: {options}");
            for namespace in documents.iter().filter(|d| d["kind"] == "Namespace") {
                let labels = &namespace["metadata"]["labels"];
                let level = serde_json::to_value(app.pod_security()).unwrap();
                assert_eq!(
                    labels["pod-security.kubernetes.io/enforce"], level,
                    "{name}"
                );
                assert_eq!(
                    namespace["metadata"]["annotations"]["argocd.argoproj.io/sync-options"],
                    "Prune=false"
                );
                let file = checked.join(format!("{name}-{}.yaml", namespaces.len()));
                fs::write(&file, namespace.to_string()).unwrap();
                files_to_check.push(file);
                namespaces.push(namespace["metadata"]["name"].as_str().unwrap().to_owned());
            }
        }
        let mut expected: Vec<String> = config
            .apps
            .iter()
            .filter_map(|app| {
                let app = app.get_ref();
                (!app.cluster_wide).then(|| app.namespace().to_owned())
            })
            .collect();
        expected.sort();
        expected.dedup();
        namespaces.sort();
        assert_eq!(namespaces, expected, "{name}: each namespace once");
    }
    // One run of the validator for all of them: each start costs a second.
    assert_valid_kubernetes(&files_to_check);
}
