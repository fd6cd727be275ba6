//! The Kubernetes client configuration outside EKS mode, found as `kubectl` finds it: the files
//! in `KUBECONFIG` (merged, first value wins; missing files skipped), else `~/.kube/config`,
//! else the pod's service account (in-cluster).
//!
//! The kubeconfig is read with the YAML reader the repository config uses ([`yaml`]) into kube's
//! own [`Kubeconfig`] type, then [`kube::Config::from_custom_kubeconfig`] applies it with all of
//! kube's authentication (tokens, token files, client certificates, exec plugins). kube's own
//! reader would bring a second YAML library into the function's binary for this one file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::{env_vars, process};
use crate::repo_config::yaml::{self, Node, Value};

/// The configuration `kubectl` would use: the kubeconfig files if any exists, else in-cluster.
///
/// # Errors
///
/// When a kubeconfig exists but cannot be read or used (never silently replaced by the
/// in-cluster configuration), or when there is neither a kubeconfig nor a service account.
pub async fn infer() -> anyhow::Result<kube::Config> {
    let candidates = kubeconfig_paths(
        process::var_os(env_vars::KUBECONFIG),
        process::var_os(env_vars::HOME),
    );
    let existing: Vec<PathBuf> = candidates.iter().filter(|p| p.is_file()).cloned().collect();
    if existing.is_empty() {
        let looked = show(&candidates);
        return kube::Config::incluster().with_context(|| {
            format!(
                "no kubeconfig (looked for {}) and no in-cluster service account",
                if looked.is_empty() {
                    "none: HOME is not set"
                } else {
                    &looked
                }
            )
        });
    }
    from_files(&existing).await
}

/// The configuration from the current context of the kubeconfig `paths`, merged.
///
/// # Errors
///
/// As [`read_files`], and when the current context, its cluster or its user is missing or
/// unusable.
pub async fn from_files(paths: &[PathBuf]) -> anyhow::Result<kube::Config> {
    let kubeconfig = read_files(paths)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .with_context(|| format!("cannot use the kubeconfig from {}", show(paths)))?;
    config.apply_debug_overrides();
    Ok(config)
}

/// The kubeconfig files to read: `KUBECONFIG`'s list when it names any, else `~/.kube/config`.
#[must_use]
pub fn kubeconfig_paths(kubeconfig: Option<OsString>, home: Option<OsString>) -> Vec<PathBuf> {
    let listed: Vec<PathBuf> = kubeconfig
        .map(|value| {
            std::env::split_paths(&value)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    home.map(|home| Path::new(&home).join(".kube").join("config"))
        .into_iter()
        .collect()
}

/// Reads and merges `paths` in order (the first file to set a value wins), with the relative
/// file references of each made absolute against its folder.
///
/// # Errors
///
/// When a file cannot be read, is not YAML, or is not a kubeconfig; the message names the file.
pub fn read_files(paths: &[PathBuf]) -> anyhow::Result<Kubeconfig> {
    let mut merged = Kubeconfig::default();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
        let mut config = parse(&text)
            .with_context(|| format!("{} is not a valid kubeconfig", path.display()))?;
        if let Some(dir) = path.parent() {
            absolute_references(&mut config, dir);
        }
        merged = merged
            .merge(config)
            .with_context(|| format!("cannot merge the kubeconfig {}", path.display()))?;
    }
    Ok(merged)
}

/// One kubeconfig document; an empty text is an empty kubeconfig.
///
/// # Errors
///
/// When `text` is not YAML or does not have a kubeconfig's shape.
pub fn parse(text: &str) -> anyhow::Result<Kubeconfig> {
    let Some(root) = yaml::parse(text)? else {
        return Ok(Kubeconfig::default());
    };
    Ok(serde_json::from_value(to_json(&root))?)
}

/// A YAML node as JSON. Plain `true`/`false` are booleans and plain `null`/`~` are null; every
/// other scalar is a string, which is what every other kubeconfig field is.
fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Scalar { text, plain: true } => match text.as_str() {
            "true" | "True" | "TRUE" => serde_json::Value::Bool(true),
            "false" | "False" | "FALSE" => serde_json::Value::Bool(false),
            "null" | "Null" | "NULL" | "~" => serde_json::Value::Null,
            _ => serde_json::Value::String(text.clone()),
        },
        Value::Scalar { text, plain: false } => serde_json::Value::String(text.clone()),
        Value::Seq(items) => items.iter().map(to_json).collect(),
        Value::Map(entries) => entries
            .iter()
            .map(|entry| (entry.key.clone(), to_json(&entry.value)))
            .collect(),
    }
}

/// Makes the files a kubeconfig refers to absolute against `dir`, its folder, as `kubectl`
/// does: certificate authorities, client certificates and keys, token files, and exec commands
/// written as a path (a bare command name is looked up in `PATH`).
fn absolute_references(config: &mut Kubeconfig, dir: &Path) {
    let fix = |path: &mut String| {
        if Path::new(path.as_str()).is_relative() {
            *path = dir.join(path.as_str()).display().to_string();
        }
    };
    for cluster in config
        .clusters
        .iter_mut()
        .filter_map(|c| c.cluster.as_mut())
    {
        cluster.certificate_authority.as_mut().map(fix);
    }
    for auth in config
        .auth_infos
        .iter_mut()
        .filter_map(|a| a.auth_info.as_mut())
    {
        auth.client_certificate.as_mut().map(fix);
        auth.client_key.as_mut().map(fix);
        auth.token_file.as_mut().map(fix);
        if let Some(command) = auth.exec.as_mut().and_then(|e| e.command.as_mut())
            && command.contains(std::path::MAIN_SEPARATOR)
        {
            fix(command);
        }
    }
}

fn show(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: &str = r#"
apiVersion: v1
kind: Config
current-context: kind-landfall
clusters:
- name: kind-landfall
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: certs/ca.crt
    insecure-skip-tls-verify: false
contexts:
- name: kind-landfall
  context:
    cluster: kind-landfall
    user: kind-landfall
    namespace: "2024"
users:
- name: kind-landfall
  user:
    client-certificate: /etc/kind/client.crt
    client-key: client.key
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/token-helper
      args: ["--cluster", landfall]
      interactiveMode: Never
      provideClusterInfo: true
"#;

    #[test]
    fn a_kubeconfig_reads_into_kubes_types_with_its_booleans_and_strings() {
        let config = parse(KIND).unwrap();
        assert_eq!(config.current_context.as_deref(), Some("kind-landfall"));
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(cluster.insecure_skip_tls_verify, Some(false));
        let context = config.contexts[0].context.as_ref().unwrap();
        assert_eq!(context.namespace.as_deref(), Some("2024"));
        let exec = config.auth_infos[0]
            .auth_info
            .as_ref()
            .unwrap()
            .exec
            .as_ref()
            .unwrap();
        assert_eq!(
            exec.args.as_deref(),
            Some(&["--cluster".to_owned(), "landfall".to_owned()][..])
        );
        assert!(exec.provide_cluster_info);
    }

    #[test]
    fn relative_file_references_are_made_absolute_against_the_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, KIND).unwrap();
        let config = read_files(std::slice::from_ref(&path)).unwrap();
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        let expected = dir.path().join("certs/ca.crt").display().to_string();
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some(expected.as_str())
        );
        let user = config.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(
            user.client_certificate.as_deref(),
            Some("/etc/kind/client.crt")
        );
        let key = dir.path().join("client.key").display().to_string();
        assert_eq!(user.client_key.as_deref(), Some(key.as_str()));
        let helper = dir.path().join("./bin/token-helper").display().to_string();
        assert_eq!(
            user.exec.as_ref().unwrap().command.as_deref(),
            Some(helper.as_str())
        );
    }

    #[test]
    fn merged_files_keep_the_first_value_set() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a");
        let second = dir.path().join("b");
        std::fs::write(&first, KIND).unwrap();
        std::fs::write(
            &second,
            "current-context: other\nusers:\n- name: kind-landfall\n  user:\n    token: ignored\n- name: ci\n  user:\n    token: t\n",
        )
        .unwrap();
        let config = read_files(&[first, second]).unwrap();
        assert_eq!(config.current_context.as_deref(), Some("kind-landfall"));
        let names: Vec<&str> = config.auth_infos.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["kind-landfall", "ci"]);
        assert!(
            config.auth_infos[0]
                .auth_info
                .as_ref()
                .unwrap()
                .token
                .is_none()
        );
    }

    #[test]
    fn a_broken_kubeconfig_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "clusters:\n- name: a\n  cluster: [unclosed\n").unwrap();
        let message = format!("{:#}", read_files(std::slice::from_ref(&path)).unwrap_err());
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("line"), "{message}");

        std::fs::write(&path, "clusters: 3\n").unwrap();
        let message = format!("{:#}", read_files(std::slice::from_ref(&path)).unwrap_err());
        assert!(message.contains("not a valid kubeconfig"), "{message}");
    }

    #[test]
    fn kubeconfig_lists_win_over_the_home_default() {
        let home = Some(OsString::from("/home/ops"));
        assert_eq!(
            kubeconfig_paths(None, home.clone()),
            [PathBuf::from("/home/ops/.kube/config")]
        );
        assert_eq!(
            kubeconfig_paths(Some(OsString::from("/a:/b")), home.clone()),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(
            kubeconfig_paths(Some(OsString::new()), home),
            [PathBuf::from("/home/ops/.kube/config")]
        );
        assert!(kubeconfig_paths(None, None).is_empty());
    }
}
