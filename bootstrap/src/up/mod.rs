//! `landfall up` and `landfall down`: from a rendered folder to a working deployment, in stages
//! that each find out from reality whether they are done (the local state file, the state
//! object in S3, Terraform's own plan, the secrets' values, the hooks on the VCS host), so an
//! interrupted run is finished by running it again and a run after success changes nothing.
//!
//! [`stages`] holds the Terraform stages, [`image`] the runner image, [`connect`] the secrets
//! and the webhook, [`terraform`] the child processes, [`source`] the Landfall source the
//! function and the image are built from. Progress is one line per stage, with its state and elapsed time.

pub mod connect;
pub mod image;
pub mod source;
pub mod stages;
pub mod terraform;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use landfall_function::event::Provider;

use crate::config::Config;

/// Everything a stage needs: the folders, the configuration's names, the options and the AWS
/// clients (built once).
#[derive(Debug)]
pub struct Ctx {
    /// The rendered folder (holds `terraform/`).
    pub out: PathBuf,
    /// The platform's name.
    pub name: String,
    /// The state bucket.
    pub bucket: String,
    /// The VCS host kind.
    pub provider: Provider,
    /// The VCS host's API URL, when not the public service.
    pub vcs_url: Option<String>,
    /// The runner image landfall.toml names; `None`: the platform's ECR repository at
    /// Landfall's version.
    pub runner_image: Option<String>,
    /// The container platform of the cluster's nodes (`linux/amd64`, `linux/arm64`): the runner
    /// image is built for it, whatever the operator's machine.
    pub node_platform: &'static str,
    /// The options given.
    pub opts: Options,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// ECR (the runner image's repository and login).
    pub ecr: aws_sdk_ecr::Client,
    /// DynamoDB (`down` lifts the function table's deletion protection).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The AWS account the credentials are of: the state bucket is read only if it owns it.
    /// `None` when STS could not say (an endpoint that serves S3 alone): then it is not checked.
    pub account: Option<String>,
}

/// The options of `landfall up` as the stages use them.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// `terraform` to run.
    pub terraform: PathBuf,
    /// Extra `-backend-config` file for both stages' `init`.
    pub backend_config: Option<PathBuf>,
    /// A built function package.
    pub function_package: Option<PathBuf>,
    /// A runner image that is already pushed: used as it is, nothing is built.
    pub runner_image: Option<String>,
    /// `KEY=VALUE` build arguments for the runner image built here.
    pub runner_build_args: Vec<String>,
    /// A file holding the webhook secret to use.
    pub webhook_secret_file: Option<PathBuf>,
    /// A file holding the VCS token.
    pub vcs_token_file: Option<PathBuf>,
    /// A file holding the token that manages the webhook, never stored (else the VCS token).
    pub hook_token_file: Option<PathBuf>,
    /// The VCS token from `LANDFALL_VCS_TOKEN`.
    pub vcs_token_env: Option<secrecy::SecretString>,
    /// The repository whose hook to register.
    pub hook_repo: Option<String>,
    /// The organisation or group whose hook to register.
    pub hook_org: Option<String>,
    /// Stop after this stage.
    pub until: Option<Stage>,
    /// The operator's policy (`[function] policy`), shipped in the function package.
    pub policy: Option<PathBuf>,
}

/// A program `up` starts (Terraform and what it runs, podman or docker, `cargo lambda`):
/// the VCS token and webhook secret `up` may have been given in its environment stay with `up`
/// (they reach the platform through Secrets Manager), so none of them inherits them.
pub(crate) fn child_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    use landfall_function::config::env_vars::{VCS_TOKEN, WEBHOOK_SECRET};
    let mut command = std::process::Command::new(program);
    command.env_remove(VCS_TOKEN).env_remove(WEBHOOK_SECRET);
    command
}

/// The stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Stage {
    /// Apply `terraform/bootstrap` (the state bucket and lock table).
    Backend,
    /// Move the backend stage's local state into the bucket.
    Migrate,
    /// Build or take the function's Lambda package.
    Package,
    /// Build and push the runner image, or take the one given.
    Image,
    /// Apply `terraform/platform`.
    Platform,
    /// Put the webhook secret and the VCS token into Secrets Manager.
    Secrets,
    /// Register the webhook on the VCS host.
    Webhook,
}

impl Stage {
    /// Every stage in order.
    pub const ALL: [Stage; 7] = [
        Stage::Backend,
        Stage::Migrate,
        Stage::Package,
        Stage::Image,
        Stage::Platform,
        Stage::Secrets,
        Stage::Webhook,
    ];

    /// The stage's name in the display and the logs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Stage::Backend => "state backend",
            Stage::Migrate => "state migration",
            Stage::Package => "function package",
            Stage::Image => "runner image",
            Stage::Platform => "platform",
            Stage::Secrets => "secrets",
            Stage::Webhook => "webhook",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Stage::Backend => "backend",
            Stage::Migrate => "migrate",
            Stage::Package => "package",
            Stage::Image => "image",
            Stage::Platform => "platform",
            Stage::Secrets => "secrets",
            Stage::Webhook => "webhook",
        }
    }
}

/// What a stage found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already done: nothing changed.
    Unchanged(String),
    /// Done now.
    Changed(String),
    /// Not done, and this run cannot do it: what the user has to do.
    Left(String),
}

/// The AWS account the SDK's credentials are of (STS `GetCallerIdentity`).
async fn account_of(sts: aws_sdk_sts::Client) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", aws_sdk_sts::error::DisplayErrorContext(err)))
        .context("cannot tell which AWS account the credentials are of (sts:GetCallerIdentity)")?;
    identity
        .account()
        .map(str::to_owned)
        .context("sts:GetCallerIdentity named no account")
}

impl Ctx {
    /// `terraform/<stage>` of the rendered folder.
    #[must_use]
    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.out.join("terraform").join(stage)
    }

    /// Where `landfall up` keeps its logs and what it registered.
    #[must_use]
    pub fn work_dir(&self) -> PathBuf {
        self.out.join(".landfall-up")
    }

    /// The log file of `stage`.
    #[must_use]
    pub fn log(&self, stage: Stage) -> PathBuf {
        self.work_dir().join(format!("{}.log", stage.slug()))
    }

    /// A Terraform in `terraform/<dir>` logging to `stage`'s log.
    #[must_use]
    pub fn terraform(&self, dir: &str, stage: Stage) -> terraform::Terraform {
        terraform::Terraform::new(&self.opts.terraform, &self.stage_dir(dir), &self.log(stage))
    }

    /// `terraform init` with the `--backend-config` file given.
    #[must_use]
    pub fn init_args(&self) -> Vec<String> {
        let mut args = vec![
            "init".to_owned(),
            "-input=false".to_owned(),
            "-no-color".to_owned(),
        ];
        if let Some(file) = &self.opts.backend_config {
            args.push(format!("-backend-config={}", file.display()));
        }
        args
    }

    /// `-var function_package=...` for the platform stage, and `-var runner_image=...` when the
    /// runner image stage named one.
    pub fn platform_vars(&self, runner_image: Option<&str>) -> anyhow::Result<Vec<String>> {
        let package = self.stage_dir("platform").join(stages::PACKAGE_FILE);
        if !package.is_file() {
            anyhow::bail!(
                "{} is missing: the function package stage has not run",
                package.display()
            );
        }
        // Relative to the stage's folder, where Terraform runs: the same in every checkout, so
        // that a run from another clone does not read as a new package.
        let mut vars = vec![format!("-var=function_package={}", stages::PACKAGE_FILE)];
        vars.extend(runner_image.map(|image| format!("-var=runner_image={image}")));
        Ok(vars)
    }

    /// Builds the context: the configuration's names and the AWS clients (credentials and
    /// endpoint from the SDK's own environment, as the function's). The region is always
    /// `landfall.toml`'s, where Terraform builds, whatever the profile or `AWS_REGION` say.
    pub async fn new(config: &Config, out: &Path, opts: Options) -> anyhow::Result<Self> {
        let sdk = landfall_function::aws::sdk_config()
            .await
            .into_builder()
            .region(aws_sdk_s3::config::Region::new(
                config.platform.region.get_ref().clone(),
            ))
            .build();
        // Path-style addressing only for a custom endpoint (moto, MinIO, a VPC endpoint).
        let custom = sdk.endpoint_url().is_some();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(custom)
                .build(),
        );
        let provider: Provider = config
            .function
            .vcs
            .get_ref()
            .parse()
            .map_err(|e| anyhow::anyhow!("landfall.toml: {e}"))?;
        Ok(Ctx {
            out: out.to_owned(),
            name: config.name().to_owned(),
            bucket: config.state_bucket(),
            provider,
            vcs_url: config
                .function
                .vcs_url
                .as_ref()
                .map(|u| u.get_ref().clone()),
            runner_image: config
                .function
                .runner_image
                .as_ref()
                .map(|image| image.get_ref().clone()),
            node_platform: crate::names::node_platform(&config.cluster.instance_types),
            opts,
            s3,
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            ecr: aws_sdk_ecr::Client::new(&sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            account: match account_of(aws_sdk_sts::Client::new(&sdk)).await {
                Ok(account) => Some(account),
                Err(err) => {
                    eprintln!(
                        "warning: {err:#}; the state bucket's owner is not checked before its \
                         state is read"
                    );
                    None
                }
            },
        })
    }
}

/// Runs every stage in order (or, with `plan`, says what each would do), one line each.
/// Returns whether everything is done.
pub async fn up(ctx: &Ctx, plan: bool, stdout: &mut dyn Write) -> anyhow::Result<bool> {
    terraform::forward_interrupts();
    let run_started = Instant::now();
    let mut changed = false;
    let mut left = Vec::new();
    let mut state = connect::RunState::default();
    for stage in Stage::ALL {
        if terraform::interrupted() {
            anyhow::bail!(
                "interrupted before the {} stage; run `landfall up` again to finish",
                stage.name()
            );
        }
        let started = Instant::now();
        let result = if plan {
            stages::check(ctx, stage).await
        } else {
            stages::run(ctx, stage, &mut state).await
        };
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(outcome) => {
                let (mark, note) = match &outcome {
                    Outcome::Unchanged(n) => ("ok", n),
                    Outcome::Changed(n) => {
                        changed = true;
                        (if plan { "todo" } else { "done" }, n)
                    }
                    Outcome::Left(n) => {
                        left.push(format!("{}: {n}", stage.name()));
                        ("left", n)
                    }
                };
                writeln!(
                    stdout,
                    "{mark:>5}  {:<17}{secs:>6.1}s  {note}",
                    stage.name()
                )?;
            }
            Err(e) => {
                writeln!(stdout, "{:>5}  {:<17}{secs:>6.1}s", "FAIL", stage.name())?;
                return Err(e.context(format!(
                    "the {} stage failed; nothing after it ran. Fix the cause and run `landfall up` again: finished stages are kept",
                    stage.name()
                )));
            }
        }
        if ctx.opts.until == Some(stage) {
            writeln!(stdout, "stopped after the {} stage (--until)", stage.name())?;
            return Ok(false);
        }
    }
    if plan {
        writeln!(
            stdout,
            "{}",
            if changed {
                "`landfall up` would make the changes marked todo"
            } else {
                "nothing to do"
            }
        )?;
    } else if !changed && left.is_empty() {
        writeln!(stdout, "everything is up to date; nothing changed")?;
    }
    let total = run_started.elapsed();
    let tf = terraform::terraform_time();
    let tools = terraform::tool_time();
    write!(
        stdout,
        "took {:.1}s: Terraform {:.1}s, landfall itself {:.2}s",
        total.as_secs_f64(),
        tf.as_secs_f64(),
        total.saturating_sub(tf).saturating_sub(tools).as_secs_f64()
    )?;
    if !tools.is_zero() {
        write!(stdout, ", build tools {:.1}s", tools.as_secs_f64())?;
    }
    writeln!(stdout)?;
    if let Some(url) = &state.webhook_url {
        writeln!(stdout, "webhook URL: {url}")?;
    }
    if !left.is_empty() {
        writeln!(stdout, "left to do:")?;
        for l in &left {
            writeln!(stdout, "  - {l}")?;
        }
    }
    Ok(left.is_empty())
}
