//! `landfall up` and `landfall down`: the arguments, the settings they resolve to, and the run;
//! the stages live in [`crate::up`].

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::ConfigArgs;
use crate::config::Config;
use crate::up::{self, Ctx, Options, Stage};

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
its tail. AWS settings come from the SDK's environment (AWS_REGION, AWS_PROFILE,
AWS_ENDPOINT_URL, ...). Ctrl-C is forwarded to Terraform, which stops cleanly.

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
    /// it as `-var runner_image` [default: landfall.toml's `runner_image`, else built with
    /// podman or docker and pushed to the platform's ECR repository].
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
    /// already in Secrets Manager]. It also registers the webhook, so it needs that right.
    #[arg(long, value_name = "FILE")]
    pub vcs_token_file: Option<PathBuf>,
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

/// `LANDFALL_VCS_TOKEN`, when set and not blank.
fn vcs_token_env() -> Option<secrecy::SecretString> {
    landfall_function::config::process::var(landfall_function::config::env_vars::VCS_TOKEN)
        .filter(|t| !t.trim().is_empty())
        .map(secrecy::SecretString::from)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `landfall up`.
pub fn run_up(args: &UpArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.target.config)?;
    let out = absolute(super::output_dir(
        &args.target.config,
        args.target.out.as_deref(),
    ))?;
    let opts = Options {
        terraform: args.terraform.clone(),
        backend_config: args.backend_config.clone().map(absolute).transpose()?,
        function_package: args.function_package.clone().map(absolute).transpose()?,
        runner_image: args.runner_image.clone(),
        runner_build_args: args.runner_build_arg.clone(),
        webhook_secret_file: args.webhook_secret_file.clone(),
        vcs_token_file: args.vcs_token_file.clone(),
        vcs_token_env: vcs_token_env(),
        hook_repo: args.repo.clone(),
        hook_org: args.org.clone(),
        until: args.until,
    };
    runtime()?.block_on(async {
        let ctx = Ctx::new(&config, &out, opts).await?;
        let complete = up::up(&ctx, args.plan, stdout).await?;
        Ok(if complete || args.plan {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        })
    })
}

fn absolute(path: impl AsRef<std::path::Path>) -> anyhow::Result<PathBuf> {
    let path = path.as_ref();
    std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))
}

/// Runs `landfall down`.
pub fn run_down(args: &DownArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.target.config)?;
    let out = absolute(super::output_dir(
        &args.target.config,
        args.target.out.as_deref(),
    ))?;
    let name = config.name().to_owned();
    let typed = if let Some(c) = &args.confirm {
        c.clone()
    } else {
        writeln!(
            stdout,
            "This destroys the platform {name:?} (terraform/platform); the state backend stays."
        )?;
        write!(stdout, "Type the platform's name to go on: ")?;
        stdout.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim().to_owned()
    };
    if typed != name {
        bail!("{typed:?} is not the platform's name {name:?}; nothing was destroyed");
    }
    let opts = Options {
        terraform: args.terraform.clone(),
        backend_config: args.backend_config.clone().map(absolute).transpose()?,
        vcs_token_file: args.vcs_token_file.clone(),
        vcs_token_env: vcs_token_env(),
        hook_repo: args.repo.clone(),
        hook_org: args.org.clone(),
        ..Options::default()
    };
    runtime()?.block_on(async {
        let ctx = Ctx::new(&config, &out, opts).await?;
        up::terraform::forward_interrupts();
        up::stages::init_platform(&ctx).await?;
        if !args.keep_webhook {
            let said = up::connect::remove_webhook(&ctx).await.context(
                "nothing was destroyed; fix the cause, or pass --keep-webhook to leave the hook",
            )?;
            writeln!(stdout, "{said}")?;
        }
        up::stages::destroy_platform(&ctx).await?;
        writeln!(
            stdout,
            "destroyed terraform/platform; the state backend (s3://{}) is kept",
            ctx.bucket
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_build_arg_is_a_name_then_a_value() {
        assert!(build_arg("TERRAGRUNT_VERSION=0.99.0").is_ok());
        assert!(build_arg("EXTRA_PACKAGES=awscli jq").is_ok());
        for bad in ["TERRAGRUNT_VERSION", "=1", "A B=1", "--squash=1"] {
            assert!(build_arg(bad).is_err(), "{bad}");
        }
    }
}
