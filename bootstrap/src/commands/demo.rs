//! `landfall demo`: a complete example platform, rendered into a folder with no cloud account.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::DemoArgs;
use crate::commands::init::{self, InitValues};
use crate::config::Config;

/// The example's applications, appended to the `landfall init` file.
const EXAMPLE_APPS: &str = r#"
[[apps]]
name = "guestbook"
repo_url = "https://github.com/argoproj/argocd-example-apps.git"
path = "guestbook"
sync_wave = 1

[[apps]]
name = "ingress-nginx"
repo_url = "https://kubernetes.github.io/ingress-nginx"
chart = "ingress-nginx"
chart_version = "4.13.0"
namespace = "ingress"
sync_wave = -1
cluster_wide = true
"#;

/// The example configuration: what `landfall init` writes for a demo platform, plus two apps.
pub fn example_config() -> anyhow::Result<String> {
    let mut text = init::render(&InitValues {
        version: env!("CARGO_PKG_VERSION"),
        name: "demo".to_owned(),
        region: "eu-west-1".to_owned(),
        repo_url: "https://github.com/example/platform.git".to_owned(),
        revision: "HEAD".to_owned(),
        vcs: "github".to_owned(),
        vcs_url: None,
        repo_allowlist: vec!["example/*".to_owned()],
        vpc_cidr: "10.0.0.0/16".to_owned(),
        kubernetes_version: "1.34".to_owned(),
    })?;
    text.push_str(EXAMPLE_APPS);
    Ok(text)
}

pub fn run(args: &DemoArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let out = &args.out;
    let config_path = out.join("landfall.toml");
    let text = match std::fs::read_to_string(&config_path) {
        Ok(existing) => existing,
        Err(_) => example_config()?,
    };
    let config = Config::parse(&text, &config_path)?;
    let changes = super::plan_render(&config, out)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    if !config_path.exists() {
        std::fs::write(&config_path, &text)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
    }
    super::write_changes(out, &changes, &mut std::io::sink())?;
    summarise(out, &config, stdout)?;
    Ok(ExitCode::SUCCESS)
}

fn summarise(out: &Path, config: &Config, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let count = |dir: &str| {
        walk(&out.join(dir))
            .into_iter()
            .filter(|p| !p.ends_with(".landfall-generated"))
            .count()
    };
    writeln!(
        stdout,
        "Rendered the example platform {:?} into {}:",
        config.name(),
        out.display()
    )?;
    writeln!(
        stdout,
        "  {}/landfall.toml             the configuration (edit it, then `landfall render`)",
        out.display()
    )?;
    writeln!(
        stdout,
        "  {}/terraform/bootstrap/  {:>3} files  S3 + DynamoDB state backend, on local state first",
        out.display(),
        count("terraform/bootstrap")
    )?;
    writeln!(
        stdout,
        "  {}/terraform/platform/   {:>3} files  VPC, EKS, Argo CD, the Landfall function",
        out.display(),
        count("terraform/platform")
    )?;
    writeln!(
        stdout,
        "  {}/manifests/            {:>3} files  root app of apps, {} apps, the runner namespace",
        out.display(),
        count("manifests"),
        config.apps.len()
    )?;
    writeln!(
        stdout,
        "Next: read {}/terraform/bootstrap/README.md to stand it up on AWS.",
        out.display()
    )?;
    Ok(())
}

fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path.to_string_lossy().into_owned());
        }
    }
    files
}
