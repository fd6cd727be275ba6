//! The command line: clap types only. Each subcommand's behaviour lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::DEFAULT_CONFIG_FILE;

/// Landfall renders, from one small `landfall.toml`, everything a GitOps platform on AWS needs:
/// a secure Terraform state backend, a VPC and an EKS cluster, Argo CD and its app of apps, and
/// the Landfall function that plans and applies Terraform from pull requests.
///
/// Start with `landfall init`, then `landfall render`; add applications with `landfall app add`.
#[derive(Debug, Parser)]
#[command(name = "landfall", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented landfall.toml with sensible defaults.
    Init(InitArgs),
    /// Render terraform/ and manifests/ from landfall.toml.
    Render(RenderArgs),
    /// Add, remove or list the applications of the app of apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Render a complete example platform into a folder, with no cloud account needed.
    Demo(DemoArgs),
    /// List or release the pull-request locks the Landfall function holds.
    #[command(subcommand)]
    Locks(crate::commands::locks::LocksCommand),
    /// List what the Landfall function's scheduled drift checks found drifted (exit status 2 when
    /// something drifts).
    Drift(crate::commands::drift::DriftArgs),
    /// Stop every apply of the Landfall function until cleared, or show who stopped them.
    #[command(subcommand, name = "apply-lock")]
    ApplyLock(crate::commands::apply_lock::ApplyLockCommand),
    /// Apply the rendered Terraform, migrate its state, set the secrets and register the webhook:
    /// from a rendered folder to a working deployment, resumable and idempotent.
    Up(crate::commands::up::UpArgs),
    /// Destroy the platform stage after a typed confirmation; the state backend stays.
    Down(crate::commands::up::DownArgs),
}

/// Where the configuration is and where output goes.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE", default_value = DEFAULT_CONFIG_FILE, env = "LANDFALL_CONFIG")]
    pub config: PathBuf,
    /// The folder that receives terraform/ and manifests/ [default: the configuration's folder].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  landfall init --name acme --region eu-west-1 --repo-url https://github.com/acme/platform.git
  landfall init --name acme --vcs gitlab --repo-allowlist 'acme/*' --force")]
pub struct InitArgs {
    /// Name of the platform: a DNS-1123 label that prefixes every AWS resource
    /// [default: the current folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// AWS region to build in [default: $AWS_REGION, else us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Git repository Argo CD syncs the rendered manifests from
    /// [default: this folder's `origin` remote].
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
    /// Branch, tag or commit of that repository Argo CD follows.
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub revision: String,
    /// VCS host that sends pull-request webhooks to the Landfall function.
    #[arg(long, default_value = "github", value_parser = ["github", "gitlab", "azure-devops", "bitbucket-cloud", "bitbucket-server", "gitea"])]
    pub vcs: String,
    /// Repositories (globs of owner/repo) allowed to use the function; repeat or comma-separate.
    #[arg(long, value_name = "GLOB", value_delimiter = ',')]
    pub repo_allowlist: Vec<String>,
    /// IPv4 block of the VPC, /16 to /20.
    #[arg(long, default_value = "10.0.0.0/16", value_name = "CIDR")]
    pub vpc_cidr: String,
    /// EKS Kubernetes version.
    #[arg(long, default_value = "1.34", value_name = "VERSION")]
    pub kubernetes_version: String,
    /// The file to write.
    #[arg(long, short = 'c', value_name = "FILE", default_value = DEFAULT_CONFIG_FILE)]
    pub config: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long, short = 'f')]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status: 0 when the output is up to date or was written, 1 when --check finds a difference,
2 on an error (the output folder is then left exactly as it was).")]
pub struct RenderArgs {
    #[command(flatten)]
    pub target: ConfigArgs,
    /// Write nothing: print a unified diff of what would change and exit 1 if anything would.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Add an application and regenerate the app of apps.
    #[command(after_help = "\
Examples:
  landfall app add guestbook --repo-url https://github.com/argoproj/argocd-example-apps.git --path guestbook
  landfall app add ingress --repo-url https://kubernetes.github.io/ingress-nginx \\
      --chart ingress-nginx --chart-version 4.13.0 --namespace ingress --sync-wave -1 --cluster-wide")]
    Add(AppAddArgs),
    /// Remove an application and the manifest Landfall generated for it.
    Remove(AppRemoveArgs),
    /// List the applications.
    List(AppListArgs),
}

#[derive(Debug, Args)]
pub struct AppAddArgs {
    /// Name of the Argo CD Application: a DNS-1123 label.
    pub name: String,
    /// Git repository (with --path) or Helm repository (with --chart) of the app.
    #[arg(long, value_name = "URL")]
    pub repo_url: String,
    /// Folder inside the Git repository holding the app's manifests.
    #[arg(long, required_unless_present = "chart", conflicts_with = "chart")]
    pub path: Option<String>,
    /// Helm chart name inside the Helm repository.
    #[arg(long, requires = "chart_version")]
    pub chart: Option<String>,
    /// Pinned chart version.
    #[arg(long, value_name = "VERSION", requires = "chart")]
    pub chart_version: Option<String>,
    /// Namespace to deploy into (created if missing) [default: the app's name].
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Branch, tag or commit of a Git source [default: HEAD].
    #[arg(long, value_name = "REV", conflicts_with = "chart")]
    pub revision: Option<String>,
    /// Argo CD sync wave: lower waves sync first.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub sync_wave: Option<i32>,
    /// Trust the app with the whole cluster (`cluster_wide = true`): any namespace and any
    /// cluster-wide object, as a controller's chart needs (ingress-nginx, cert-manager). Without
    /// it the app's source may deploy into its own namespace only.
    #[arg(long)]
    pub cluster_wide: bool,
    #[command(flatten)]
    pub target: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct AppRemoveArgs {
    /// Name of the application to remove.
    pub name: String,
    #[command(flatten)]
    pub target: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct AppListArgs {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE", default_value = DEFAULT_CONFIG_FILE, env = "LANDFALL_CONFIG")]
    pub config: PathBuf,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The folder to create the example platform in.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "landfall-demo")]
    pub out: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
