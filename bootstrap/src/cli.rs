//! The command line: clap types only. Each subcommand's behaviour lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::DEFAULT_CONFIG_FILE;
use crate::up::Stage;

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
    Up(UpArgs),
    /// Destroy the platform stage after a typed confirmation; the state backend stays.
    Down(DownArgs),
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
  landfall init --name acme --region eu-west-1 --repo-allowlist 'acme/*' \\
      --repo-url https://github.com/acme/platform.git
  landfall init --name acme --vcs gitlab --repo-allowlist 'acme/*' --force")]
pub struct InitArgs {
    /// Name of the platform: a DNS-1123 label that prefixes every AWS resource
    /// [default: the current folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// AWS region to build in [default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Git repository Argo CD syncs the rendered manifests from
    /// [default: this folder's `origin` remote, without the credentials a CI clone puts in it].
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
    /// Branch, tag or commit of that repository Argo CD follows.
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub revision: String,
    /// VCS host that sends pull-request webhooks to the Landfall function.
    #[arg(long, default_value = "github", value_parser = ["github", "gitlab", "azure-devops", "bitbucket-cloud", "bitbucket-server", "gitea", "forgejo"])]
    pub vcs: String,
    /// The VCS host's API base URL: required for azure-devops
    /// (https://dev.azure.com/<organization>) and bitbucket-server (the server's base URL);
    /// for GitHub Enterprise, self-hosted GitLab or Gitea [default: the public service's].
    #[arg(long, value_name = "URL")]
    pub vcs_url: Option<String>,
    /// Repositories (globs of owner/repo) allowed to use the function; repeat or comma-separate.
    /// Required: the function takes pull requests from these repositories only.
    #[arg(long, value_name = "GLOB", value_delimiter = ',', required = true)]
    pub repo_allowlist: Vec<String>,
    /// IPv4 block of the VPC, /16 to /20.
    #[arg(long, default_value = "10.0.0.0/16", value_name = "CIDR")]
    pub vpc_cidr: String,
    /// EKS Kubernetes version.
    #[arg(long, default_value = "1.34", value_name = "VERSION")]
    pub kubernetes_version: String,
    /// The file to write.
    #[arg(long, short = 'c', value_name = "FILE", default_value = DEFAULT_CONFIG_FILE, env = "LANDFALL_CONFIG")]
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

const UP_HELP: &str = "\
Stages, each skipped when reality shows it done (so a run that was interrupted, failed or
stopped with Ctrl-C is finished by running `landfall up` again, and a run after success
changes nothing and says so):
  state backend     apply terraform/bootstrap (state bucket and lock table) on local state
  state migration   write backend.tf from backend.tf.example, `terraform init -migrate-state`,
                    read the state back from S3, then remove the local terraform.tfstate
  function package  --function-package FILE, else `cargo lambda build` inside the Landfall source
  runner image      --runner-image REF, else landfall.toml's runner_image, else (inside the
                    Landfall source, with podman or docker on PATH) build
                    images/runner/Containerfile, log in to the platform's ECR repository with a
                    token from ecr:GetAuthorizationToken (on the tool's stdin, never argv) and
                    push it tagged with Landfall's version; skipped when that tag is in ECR
  platform          apply terraform/platform on its S3 state, with -var runner_image=<the image>
  secrets           put the webhook secret (generated unless --webhook-secret-file) and the VCS
                    token (--vcs-token-file or $LANDFALL_VCS_TOKEN, never an argument) into
                    Secrets Manager through its API: the values never reach Terraform state
  webhook           create, or update, the hook for the function's URL on the VCS host
                    (--repo or --org), then ask the host whether it reached the function

Terraform's output goes to .landfall-up/<stage>.log beside terraform/; a failing stage shows
its tail. AWS credentials and endpoint come from the SDK's environment (AWS_PROFILE,
AWS_ENDPOINT_URL, ...); the region is always landfall.toml's, where Terraform builds. Ctrl-C
is forwarded to Terraform, which stops cleanly.

Exit status: 0 when every stage is done, 3 when something is left to do (listed at the end),
2 on an error (the failing stage's log tail is shown; finished stages are kept).

Examples:
  landfall up --plan
  LANDFALL_VCS_TOKEN=... landfall up --function-package bootstrap.zip \\
      --runner-image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/landfall-runner:0.1.0 \\
      --repo acme/infra";

/// `landfall up`.
#[derive(Debug, Args)]
#[command(after_help = UP_HELP)]
pub struct UpArgs {
    #[command(flatten)]
    pub target: ConfigArgs,
    /// Show what each stage would do, and change nothing.
    #[arg(long)]
    pub plan: bool,
    /// The function's Lambda package (a zip from `cargo lambda build --profile lambda-package
    /// --arm64 --output-format zip`).
    #[arg(long, value_name = "FILE")]
    pub function_package: Option<PathBuf>,
    /// The runner image the Jobs use, already pushed: nothing is built, and the platform gets
    /// it as `-var runner_image`. For this run only: a later run without it goes back to the
    /// default, so set `runner_image` in landfall.toml to keep an image [default: landfall.toml's
    /// `runner_image`, else built with podman or docker and pushed to the platform's ECR
    /// repository].
    #[arg(long, value_name = "REF")]
    pub runner_image: Option<String>,
    /// A build argument for the runner image `landfall up` builds, KEY=VALUE (repeatable):
    /// TERRAGRUNT_VERSION, OPENTOFU_VERSION, EXTRA_PACKAGES, PROVIDERS_TF, ... The tag stays
    /// Landfall's version, and a tag already in ECR is not built again.
    #[arg(long, value_name = "KEY=VALUE", value_parser = build_arg)]
    pub runner_build_arg: Vec<String>,
    /// A file holding the webhook secret [default: the one already in Secrets Manager, else a
    /// new random one]. Azure DevOps: `user:password`.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// A file holding the VCS host's API token [default: $LANDFALL_VCS_TOKEN, else the one
    /// already in Secrets Manager]. It also registers the webhook, unless --hook-token-file is
    /// given, and then needs that right.
    #[arg(long, value_name = "FILE")]
    pub vcs_token_file: Option<PathBuf>,
    /// A file holding a token allowed to manage webhooks (GitHub `admin:repo_hook`, GitLab
    /// Maintainer, ...), used only to register the webhook and never stored [default: the VCS
    /// token]. With it, the token the function keeps, and every run's Job carries, needs no
    /// admin right.
    #[arg(long, value_name = "FILE")]
    pub hook_token_file: Option<PathBuf>,
    /// Register the webhook on this repository: owner/name (GitLab group/project, Bitbucket
    /// Data Center PROJECT/slug, Azure DevOps project/repo).
    #[arg(long, value_name = "REPO", conflicts_with = "org")]
    pub repo: Option<String>,
    /// Register the webhook on this GitHub organisation or GitLab group instead.
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// A `-backend-config` file for both stages' `terraform init` (a profile, an endpoint).
    #[arg(long, value_name = "FILE")]
    pub backend_config: Option<PathBuf>,
    /// Stop after this stage.
    #[arg(long, value_enum, value_name = "STAGE")]
    pub until: Option<Stage>,
    /// The Terraform binary.
    #[arg(long, value_name = "PATH", default_value = "terraform")]
    pub terraform: PathBuf,
}

/// `landfall down`.
#[derive(Debug, Args)]
#[command(after_help = "\
Destroys terraform/platform (the cluster, Argo CD, the function, its secrets, the runner
images' repository with its images). The state
backend (terraform/bootstrap: the bucket with every state version, the lock table) is kept:
its deletion protection stays on.

First it removes the webhook `landfall up` registered: the hooks for the function's URL on the
repository or organisation recorded in .landfall-up/webhook.json (or given with --repo/--org),
with the VCS token given or the one in Secrets Manager. When that fails nothing is destroyed;
--keep-webhook leaves the hook alone.

Without --confirm, it asks for the platform's name on standard input.")]
pub struct DownArgs {
    #[command(flatten)]
    pub target: ConfigArgs,
    /// Skip the question by giving the platform's name (as in landfall.toml) here.
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
    /// A `-backend-config` file for `terraform init`.
    #[arg(long, value_name = "FILE")]
    pub backend_config: Option<PathBuf>,
    /// Remove the webhook from this repository [default: the one `landfall up` registered].
    #[arg(long, value_name = "REPO", conflicts_with = "org")]
    pub repo: Option<String>,
    /// Remove the webhook from this GitHub organisation or GitLab group.
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// A file holding the VCS host's API token [default: $LANDFALL_VCS_TOKEN, else the one in
    /// Secrets Manager].
    #[arg(long, value_name = "FILE")]
    pub vcs_token_file: Option<PathBuf>,
    /// A file holding a token allowed to manage webhooks, used only to remove the webhook
    /// [default: the VCS token].
    #[arg(long, value_name = "FILE")]
    pub hook_token_file: Option<PathBuf>,
    /// Leave the webhook on the VCS host.
    #[arg(long)]
    pub keep_webhook: bool,
    /// The Terraform binary.
    #[arg(long, value_name = "PATH", default_value = "terraform")]
    pub terraform: PathBuf,
}

/// A `--runner-build-arg`: `KEY=VALUE` with a build argument's name as KEY.
fn build_arg(value: &str) -> Result<String, String> {
    match value.split_once('=') {
        Some((key, _))
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(value.to_owned())
        }
        _ => Err(format!(
            "{value:?} is not KEY=VALUE (a build argument such as TERRAGRUNT_VERSION=0.99.0)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_runner_build_arg_is_a_name_then_a_value() {
        assert!(build_arg("TERRAGRUNT_VERSION=0.99.0").is_ok());
        assert!(build_arg("EXTRA_PACKAGES=awscli jq").is_ok());
        for bad in ["TERRAGRUNT_VERSION", "=1", "A B=1", "--squash=1"] {
            assert!(build_arg(bad).is_err(), "{bad}");
        }
    }
}
