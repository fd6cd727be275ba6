//! The rendered platform against the real tools: `terraform fmt`, the provider-schema checker,
//! kubernetes-validate, the Argo CD CRD schemas, and a real `terraform` storing state in a real
//! (moto) S3 bucket through the rendered backend blocks (checkov: `platform_checks`).

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use landfall::config::Config;
use landfall::render::Renderer;
use landfall_e2e::{MotoServer, repo_root, shared_dir, terraform, tool};

/// The example platform and a config with every setting, rendered into a temporary folder.
pub(super) fn rendered(name: &str) -> (tempfile::TempDir, Config) {
    let text = match name {
        "example" => landfall::commands::demo::example_config().unwrap(),
        "full" => {
            fs::read_to_string(repo_root().join("bootstrap/tests/fixtures/full.toml")).unwrap()
        }
        other => panic!("no config {other}"),
    };
    let config = Config::parse(&text, Path::new("landfall.toml")).unwrap();
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
    assert_eq!(policies.len(), 1, "{policies:#?}");
    // One attachment resource, for the operator's own policy ARNs, per role.
    assert!(
        policies[0].contains("aws_iam_role_policy_attachment")
            && policies[0].contains("role.policy_arns"),
        "{}",
        policies[0]
    );
    let runner = fs::read_to_string(dir.path().join("terraform/platform/runner.tf")).unwrap();
    for action in ["dynamodb:", "s3:", "secretsmanager:", "kms:", "lambda:"] {
        assert!(
            !runner.contains(action),
            "runner.tf grants {action}:\n{runner}"
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

/// A rendered YAML file as JSON, read by PyYAML from the tools' virtualenv.
pub(super) fn yaml_as_json(path: &Path) -> serde_json::Value {
    let out = run(Command::new(repo_root().join(".tools/venv/bin/python"))
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(path));
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A CIDR block (or a bare address) as (IPv6?, first address, prefix length), both families in
/// 128 bits so that one comparison serves both.
fn cidr(block: &str) -> (bool, u128, u32) {
    let (addr, len) = block.split_once('/').unwrap_or((block, ""));
    let (v6, bits, width) = match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => (false, u128::from(u32::from(a)), 32),
        Ok(IpAddr::V6(a)) => (true, u128::from(a), 128),
        Err(e) => panic!("{block} is not a CIDR block: {e}"),
    };
    let len = if len.is_empty() {
        width
    } else {
        len.parse().unwrap()
    };
    assert!(len <= width, "{block} is not a CIDR block");
    (v6, network(bits, width, len), len)
}

/// The first `len` bits of a `width`-bit address.
fn network(bits: u128, width: u32, len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        bits & !((1u128 << (width - len)) - 1)
    }
}

/// Whether block `outer` contains every address of block `inner`.
fn covers(outer: &str, inner: &str) -> bool {
    let ((v6_o, base_o, len_o), (v6_i, base_i, len_i)) = (cidr(outer), cidr(inner));
    let width = if v6_o { 128 } else { 32 };
    v6_o == v6_i && len_o <= len_i && network(base_i, width, len_o) == base_o
}

/// Whether two blocks share an address.
fn overlap(a: &str, b: &str) -> bool {
    covers(a, b) || covers(b, a)
}

/// The egress rules of `policy` that let a selected pod reach some address of `target`, each
/// as `(rule index, rule)`. An `ipBlock` opens `target` unless one of its `except` blocks covers
/// all of it; a rule with no `to` opens every address; pod and namespace selectors open only pod
/// addresses (and, on EKS, the Service addresses in front of those pods), never a fixed block.
fn egress_reaching(policy: &serde_json::Value, target: &str) -> Vec<(usize, serde_json::Value)> {
    let mut found = Vec::new();
    let rules = policy["spec"]["egress"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        let to = rule["to"].as_array().cloned().unwrap_or_default();
        let opens = to.is_empty()
            || to.iter().any(|peer| {
                let Some(block) = peer["ipBlock"].as_object() else {
                    return false;
                };
                let outer = block["cidr"].as_str().unwrap();
                let excepted = block
                    .get("except")
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(|e| e.iter().any(|x| covers(x.as_str().unwrap(), target)));
                overlap(outer, target) && !excepted
            });
        if opens {
            found.push((i, rule.clone()));
        }
    }
    found
}

#[test]
fn egress_reaching_finds_every_way_out() {
    let policy = |egress: serde_json::Value| serde_json::json!({"spec": {"egress": egress}});
    let open = policy(serde_json::json!([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]));
    assert_eq!(egress_reaching(&open, "169.254.169.254/32").len(), 1);
    assert_eq!(egress_reaching(&open, "fd00:ec2::254/128").len(), 0);
    let everything = policy(serde_json::json!([{"ports": [{"port": 443}]}]));
    assert_eq!(egress_reaching(&everything, "169.254.169.254/32").len(), 1);
    let part = policy(serde_json::json!([{"to": [{"ipBlock": {
        "cidr": "0.0.0.0/0", "except": ["10.0.0.0/17"]}}]}]));
    assert_eq!(
        egress_reaching(&part, "10.0.0.0/16").len(),
        1,
        "half is open"
    );
    assert_eq!(egress_reaching(&part, "10.0.1.0/24").len(), 0);
    let inside = policy(serde_json::json!([{"to": [{"ipBlock": {"cidr": "10.0.3.7/32"}}]}]));
    assert_eq!(egress_reaching(&inside, "10.0.0.0/16").len(), 1);
    let pods = policy(serde_json::json!([{"to": [{"podSelector": {}}]}]));
    assert_eq!(egress_reaching(&pods, "169.254.169.254/32").len(), 0);
    assert!(covers("0.0.0.0/0", "172.20.0.0/20"));
    assert!(covers("172.20.0.0/16", "172.20.0.0/20"));
    assert!(!covers("172.20.0.0/20", "172.20.0.0/16"));
    assert!(!covers("10.100.0.0/16", "10.0.0.0/16"));
    assert!(covers("::/0", "fd00:ec2::254"));
    assert!(!covers("0.0.0.0/0", "fd00:ec2::254"));
}

/// The labels every runner pod carries (`job_labels` in function/src/dispatch/kubernetes.rs).
const RUNNER_POD_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "landfall-runner"),
    ("app.kubernetes.io/managed-by", "landfall"),
];

/// Runner pods are selected (every label the selector asks for is one they carry), both
/// directions are isolated, and no ingress is allowed at all.
fn assert_isolates_runner_pods(name: &str, policy: &serde_json::Value) {
    let spec = &policy["spec"];
    let selector = &spec["podSelector"];
    assert!(selector.is_object(), "{name}: {selector}");
    assert!(
        selector["matchExpressions"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{name}: {selector}"
    );
    for (key, value) in selector["matchLabels"].as_object().into_iter().flatten() {
        assert!(
            RUNNER_POD_LABELS.contains(&(key.as_str(), value.as_str().unwrap_or_default())),
            "{name}: runner pods do not carry {key}={value}"
        );
    }
    let types: Vec<&str> = spec["policyTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"Ingress") && types.contains(&"Egress"),
        "{name}: {types:?}"
    );
    assert!(
        spec["ingress"].as_array().is_none_or(Vec::is_empty),
        "{name}"
    );
}

/// DNS: the kube-dns pods in kube-system, on UDP and TCP 53.
fn assert_allows_cluster_dns(name: &str, policy: &serde_json::Value) {
    let spec = &policy["spec"];
    let dns = spec["egress"].as_array().unwrap().iter().find(|rule| {
        rule["to"].as_array().is_some_and(|to| {
            to.iter().any(|peer| {
                peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    == "kube-system"
                    && peer["podSelector"]["matchLabels"]["k8s-app"] == "kube-dns"
            })
        })
    });
    let dns = dns.unwrap_or_else(|| panic!("{name}: no rule allows kube-dns"));
    for protocol in ["UDP", "TCP"] {
        assert!(
            dns["ports"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!({"protocol": protocol, "port": 53})),
            "{name}: {dns}"
        );
    }
}

#[test]
fn the_runner_network_policy_keeps_pull_request_code_off_the_cluster_and_the_node() {
    for name in ["example", "full"] {
        let (dir, config) = rendered(name);
        let policy = yaml_as_json(
            &dir.path()
                .join("manifests/landfall-runner/networkpolicy.yaml"),
        );
        let spec = &policy["spec"];
        assert_eq!(policy["kind"], "NetworkPolicy", "{name}");
        assert_eq!(
            policy["metadata"]["namespace"],
            config.function.runner_namespace.get_ref().as_str(),
            "{name}"
        );

        assert_isolates_runner_pods(name, &policy);
        assert_allows_cluster_dns(name, &policy);

        // Instance metadata is unreachable over IPv4 and IPv6, and so is the rest of the cluster:
        // the VPC (nodes, pods, Argo CD, the function) and either EKS default Service range.
        let vpc = config.network.vpc_cidr.get_ref();
        for closed in [
            "169.254.169.254/32",
            "fd00:ec2::254/128",
            "fd00:ec2::23/128",
            vpc,
            "10.100.0.0/16",
            "172.20.0.0/16",
        ] {
            let open = egress_reaching(&policy, closed);
            assert!(
                open.is_empty(),
                "{name}: {closed} is reachable through {open:?}"
            );
        }
        // Every ipBlock wide enough to hold the VPC says so in an except of its own.
        let blocks: Vec<&serde_json::Value> = spec["egress"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["to"].as_array().into_iter().flatten())
            .filter_map(|p| p.get("ipBlock"))
            .collect();
        let wide: Vec<_> = blocks
            .iter()
            .filter(|b| covers(b["cidr"].as_str().unwrap(), vpc))
            .collect();
        assert!(!wide.is_empty(), "{name}: no internet block");
        for block in wide {
            assert!(
                block["except"].as_array().unwrap().iter().any(|e| e == vpc),
                "{name}: {block} does not except the VPC {vpc}"
            );
        }

        // Of link-local, only EKS Pod Identity's agent, and only on TCP 80: the runner's AWS
        // role comes from its Pod Identity association.
        let link_local = egress_reaching(&policy, "169.254.0.0/16");
        assert_eq!(link_local.len(), 1, "{name}: {link_local:?}");
        let (_, pod_identity) = &link_local[0];
        assert_eq!(
            pod_identity["to"],
            serde_json::json!([{"ipBlock": {"cidr": "169.254.170.23/32"}}]),
            "{name}"
        );
        assert_eq!(
            pod_identity["ports"],
            serde_json::json!([{"protocol": "TCP", "port": 80}]),
            "{name}"
        );
        assert_eq!(egress_reaching(&policy, "169.254.170.23/32").len(), 1);

        // The internet (here the GitHub and GitLab web addresses) is reachable.
        for public in ["140.82.112.3/32", "172.65.251.78/32"] {
            assert!(
                !egress_reaching(&policy, public).is_empty(),
                "{name}: {public}"
            );
        }
    }
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
        assert!(
            text(&out).contains(&format!(
                "{} Argo CD objects checked, 0 problems",
                apps.len()
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

const STACK: &str = r#"
resource "terraform_data" "network" {
  input = "vpc"
}

resource "terraform_data" "cluster" {
  input = "eks on ${terraform_data.network.output}"
}

output "cluster" {
  value = terraform_data.cluster.output
}
"#;

/// Backend settings that point the rendered `backend "s3"` block at moto. Only the endpoint
/// settings: bucket, key, region, lock file and table come from the rendered file.
fn endpoint_overrides(moto: &MotoServer, dir: &Path) -> PathBuf {
    let rendered_keys = ["bucket", "key", "region", "use_lockfile", "dynamodb_table"];
    let overrides: String = moto
        .backend_config("unused", "unused", "unused")
        .lines()
        .filter(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            !rendered_keys.contains(&key)
        })
        .fold(String::new(), |mut all, line| {
            all.push_str(line);
            all.push('\n');
            all
        });
    let path = dir.join("moto.s3.tfbackend");
    fs::write(&path, overrides).unwrap();
    path
}

fn tf(moto: &MotoServer, dir: &Path, args: &[&str]) -> String {
    let mut cmd = terraform(dir);
    moto.aws_env(&mut cmd);
    let out = run(cmd.args(args));
    assert!(
        out.status.success(),
        "terraform {args:?} failed:\n{}",
        text(&out)
    );
    text(&out)
}

fn lock_table_items(moto: &MotoServer, config: &Config) -> String {
    let table = config.state_lock_table();
    moto.dynamodb_in(
        config.platform.region.get_ref(),
        "Scan",
        &format!(r#"{{"TableName":"{table}"}}"#),
    )
    .unwrap()
}

#[test]
fn the_platform_backend_keeps_state_in_the_bucket_under_its_key_with_the_lock_table() {
    let (rendered_dir, config) = rendered("full");
    let moto = MotoServer::start().unwrap();
    let (bucket, table, key) = (
        config.state_bucket(),
        config.state_lock_table(),
        config.state_key(),
    );
    moto.create_bucket(&bucket).unwrap();
    moto.create_lock_table_in(&table, config.platform.region.get_ref())
        .unwrap();

    let stack = tempfile::tempdir().unwrap();
    fs::copy(
        rendered_dir.path().join("terraform/platform/backend.tf"),
        stack.path().join("backend.tf"),
    )
    .unwrap();
    fs::write(stack.path().join("main.tf"), STACK).unwrap();
    let overrides = endpoint_overrides(&moto, stack.path());
    tf(
        &moto,
        stack.path(),
        &["init", &format!("-backend-config={}", overrides.display())],
    );
    tf(&moto, stack.path(), &["apply", "-auto-approve"]);

    let state = moto
        .get_object(&bucket, &key)
        .unwrap()
        .expect("state is in the bucket under the configured key");
    let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["outputs"]["cluster"]["value"], "eks on vpc");
    assert!(
        !stack.path().join("terraform.tfstate").exists(),
        "no local state"
    );
    let items = lock_table_items(&moto, &config);
    assert!(
        items.contains(&format!("{bucket}/{key}-md5")),
        "the lock table holds the state digest: {items}"
    );
}

#[test]
fn the_bootstrap_stage_migrates_its_local_state_into_the_bucket() {
    let (rendered_dir, config) = rendered("example");
    let moto = MotoServer::start().unwrap();
    let (bucket, table) = (config.state_bucket(), config.state_lock_table());

    // Step 1: the stage applies on local state (here a stand-in stack; the bucket is made by moto).
    let stage = tempfile::tempdir().unwrap();
    fs::write(stage.path().join("main.tf"), STACK).unwrap();
    tf(&moto, stage.path(), &["init"]);
    tf(&moto, stage.path(), &["apply", "-auto-approve"]);
    assert!(stage.path().join("terraform.tfstate").is_file());
    moto.create_bucket(&bucket).unwrap();
    moto.create_lock_table_in(&table, config.platform.region.get_ref())
        .unwrap();

    // Step 2, as the rendered README says: copy backend.tf.example to backend.tf and migrate.
    fs::copy(
        rendered_dir
            .path()
            .join("terraform/bootstrap/backend.tf.example"),
        stage.path().join("backend.tf"),
    )
    .unwrap();
    let overrides = endpoint_overrides(&moto, stage.path());
    tf(
        &moto,
        stage.path(),
        &[
            "init",
            "-migrate-state",
            "-force-copy",
            &format!("-backend-config={}", overrides.display()),
        ],
    );

    let migrated = moto
        .get_object(&bucket, "bootstrap/terraform.tfstate")
        .unwrap()
        .expect("migrated state");
    let migrated: serde_json::Value = serde_json::from_slice(&migrated).unwrap();
    assert_eq!(migrated["outputs"]["cluster"]["value"], "eks on vpc");
    assert!(lock_table_items(&moto, &config).contains("bootstrap/terraform.tfstate-md5"));
    // Nothing to do afterwards: the migrated state is the stage's state.
    let mut cmd = terraform(stage.path());
    moto.aws_env(&mut cmd);
    let plan = run(cmd.args(["plan", "-detailed-exitcode"]));
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}
