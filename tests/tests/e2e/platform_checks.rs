//! The rendered platform against checkov and the Kubernetes schemas: no failed check anywhere,
//! the checks that matter for the runner image's registry and the EBS CSI driver among the
//! passed ones, and the cluster-wide manifests (the default StorageClass) valid and as meant.

use std::process::Command;

use landfall_e2e::tool;

use super::platform::{
    assert_valid_kubernetes, files, rendered, run, text, yaml_as_json, yaml_documents,
};

/// Checks that must pass on what the platform adds for the runner image and volumes, by
/// (check, resource): the image repository keeps tags immutable, scans on push and is encrypted
/// with a customer-managed key, which rotates.
const PASSED_ON_THE_ADDITIONS: &[(&str, &str)] = &[
    ("CKV_AWS_51", "aws_ecr_repository.runner"),
    ("CKV_AWS_163", "aws_ecr_repository.runner"),
    ("CKV_AWS_136", "aws_ecr_repository.runner"),
    ("CKV_AWS_7", "aws_kms_key.runner_images"),
];

fn assert_passed(name: &str, report: &serde_json::Value, expected: &[(&str, &str)]) {
    let passed: Vec<(&str, &str)> = report["results"]["passed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check_id"].as_str().unwrap_or_default(),
                c["resource"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for check in expected {
        assert!(passed.contains(check), "{name}: {check:?} did not pass");
    }
}

#[test]
fn checkov_fails_nothing_except_checks_skipped_with_a_reason() {
    for name in ["example", "full"] {
        let (dir, _) = rendered(name);
        let out = run(Command::new(tool("checkov"))
            .args([
                "--framework",
                "terraform",
                "--skip-download",
                "--output",
                "json",
                "-d",
            ])
            .arg(dir.path().join("terraform")));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("checkov printed no JSON ({e}):\n{}", text(&out)));
        let summary = &report["summary"];
        assert!(
            summary["passed"].as_u64().unwrap() > 100,
            "{name}: {summary}"
        );
        assert_eq!(
            summary["failed"],
            0,
            "{name}: {}",
            serde_json::to_string_pretty(&report["results"]["failed_checks"]).unwrap()
        );
        assert_passed(name, &report, PASSED_ON_THE_ADDITIONS);
        for skipped in report["results"]["skipped_checks"].as_array().unwrap() {
            let reason = skipped["check_result"]["suppress_comment"]
                .as_str()
                .unwrap_or_default();
            assert!(
                reason.len() > 20,
                "{name}: {} is skipped without a reason",
                skipped["check_id"]
            );
        }
    }
}

#[test]
fn the_cluster_wide_manifests_pass_strict_schema_validation() {
    let (dir, _) = rendered("full");
    let platform = files(&dir.path().join("manifests/platform"), "yaml");
    assert_eq!(platform.len(), 3, "{platform:?}");
    assert_valid_kubernetes(&platform);
}

/// The Pod Security labels of the namespaces Landfall renders are changed by nobody but Argo CD's
/// application controller: the policy matches every update of such a namespace (by its label),
/// excepts that controller by its service account in the configured Argo CD namespace, compares
/// every Pod Security label before and after, and its binding denies what it refuses.
#[test]
fn only_argo_cd_changes_the_pod_security_labels_of_landfalls_namespaces() {
    let (dir, config) = rendered("full");
    let policy = yaml_as_json(&dir.path().join("manifests/platform/namespace-guard.yaml"));
    let spec = &policy["spec"];
    assert_eq!(spec["failurePolicy"], "Fail");
    assert_eq!(
        spec["matchConstraints"]["objectSelector"]["matchLabels"]["app.kubernetes.io/managed-by"],
        "landfall"
    );
    let rule = &spec["matchConstraints"]["resourceRules"][0];
    assert_eq!(
        rule["resources"],
        serde_json::json!(["namespaces", "namespaces/status", "namespaces/finalize"])
    );
    assert_eq!(rule["operations"], serde_json::json!(["UPDATE"]));
    let controller = format!(
        "system:serviceaccount:{}:argocd-application-controller",
        config.argocd.namespace.get_ref()
    );
    let exception = spec["matchConditions"][0]["expression"].as_str().unwrap();
    assert!(
        exception.contains(&format!("!= '{controller}'")),
        "{exception}"
    );
    let argocd = format!("request.name != '{}'", config.argocd.namespace.get_ref());
    assert_eq!(spec["matchConditions"][1]["expression"], argocd.as_str());
    let keys = spec["variables"][0]["expression"].as_str().unwrap();
    for label in [
        "'enforce'",
        "'warn'",
        "'audit'",
        "'enforce-version'",
        "'app.kubernetes.io/managed-by'",
    ] {
        assert!(keys.contains(label), "{keys}");
    }
    let binding = yaml_as_json(
        &dir.path()
            .join("manifests/platform/namespace-guard-binding.yaml"),
    );
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(
        binding["spec"]["validationActions"],
        serde_json::json!(["Deny"])
    );
}

/// The default class gives every claim that names none an encrypted gp3 EBS volume, made in the
/// zone its pod lands in, that can grow.
#[test]
fn the_default_storage_class_is_encrypted_gp3_from_the_ebs_csi_driver() {
    for name in ["example", "full"] {
        let (dir, _) = rendered(name);
        let class = yaml_as_json(&dir.path().join("manifests/platform/storageclass.yaml"));
        assert_eq!(class["apiVersion"], "storage.k8s.io/v1", "{name}");
        assert_eq!(class["kind"], "StorageClass", "{name}");
        assert_eq!(
            class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"], "true",
            "{name}"
        );
        assert_eq!(class["provisioner"], "ebs.csi.aws.com", "{name}");
        assert_eq!(class["parameters"]["type"], "gp3", "{name}");
        assert_eq!(class["parameters"]["encrypted"], "true", "{name}");
        assert_eq!(class["volumeBindingMode"], "WaitForFirstConsumer", "{name}");
        assert_eq!(class["allowVolumeExpansion"], true, "{name}");
        assert_eq!(class["reclaimPolicy"], "Delete", "{name}");

        // Applied by the platform app, which syncs before the runner and every app.
        let app = yaml_as_json(&dir.path().join("manifests/apps/landfall-platform.yaml"));
        assert!(
            app["spec"]["source"]["path"]
                .as_str()
                .unwrap()
                .ends_with("platform"),
            "{name}: {app}"
        );
        let wave = |app: &serde_json::Value| -> i64 {
            app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        };
        for other in files(&dir.path().join("manifests/apps"), "yaml") {
            if other.ends_with("landfall-platform.yaml") {
                continue;
            }
            // An app's file holds its AppProject too, which needs no storage.
            for other in yaml_documents(&other) {
                if other["kind"] == "Application" {
                    assert!(wave(&app) < wave(&other), "{name}: {other}");
                }
            }
        }
    }
}

/// Each app's Application is in the app's own AppProject, which admits only the app's repository
/// and namespace and no cluster-wide object, not even that namespace (unless the config trusts
/// the app with the cluster): a writer of the app's repository cannot deploy into Argo CD's or the
/// runners' namespace, bind a cluster role or relabel its namespace.
#[test]
fn each_app_is_confined_to_its_repository_and_namespace_by_its_own_project() {
    for name in ["example", "full"] {
        let (dir, config) = rendered(name);
        let confined = config
            .apps
            .iter()
            .filter(|a| !a.get_ref().cluster_wide)
            .count();
        assert!(
            confined > 0,
            "{name}: some app is confined to its namespace"
        );
        for app in &config.apps {
            let app = app.get_ref();
            let path = dir
                .path()
                .join(format!("manifests/apps/{}.yaml", app.name.get_ref()));
            let mut docs = yaml_documents(&path);
            // The app's Namespace, where its file holds it (checked by the Pod Security test).
            docs.retain(|doc| doc["kind"] != "Namespace");
            let [project, application] = docs.as_slice() else {
                panic!("{}: an AppProject and an Application", path.display());
            };
            assert_eq!(project["kind"], "AppProject");
            assert_eq!(application["spec"]["project"], project["metadata"]["name"]);
            assert_ne!(project["metadata"]["name"], "default");
            let namespace = app.namespace();
            assert_eq!(
                project["spec"]["sourceRepos"],
                serde_json::json!([app.repo_url.get_ref()])
            );
            // A controller's chart is trusted with the cluster only when the config says so.
            let (destination, cluster_wide) = if app.cluster_wide {
                ("*", serde_json::json!([{"group": "*", "kind": "*"}]))
            } else {
                (namespace, serde_json::json!([]))
            };
            assert_eq!(
                project["spec"]["destinations"],
                serde_json::json!([{"server": "https://kubernetes.default.svc", "namespace": destination}])
            );
            assert_eq!(project["spec"]["clusterResourceWhitelist"], cluster_wide);
            assert_eq!(application["spec"]["destination"]["namespace"], namespace);
        }
    }
}
