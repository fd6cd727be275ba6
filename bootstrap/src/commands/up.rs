//! `landfall up` and `landfall down`: the settings their arguments ([`crate::cli::UpArgs`],
//! [`crate::cli::DownArgs`]) resolve to, and the run; the stages live in [`crate::up`].

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{DownArgs, UpArgs};
use crate::config::Config;
use crate::up::{self, Ctx, Options};

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
    let config = Config::load_to_render(&args.target.config)?;
    let out = absolute(super::output_dir(
        &args.target.config,
        args.target.out.as_deref(),
    ))?;
    let opts = Options {
        terraform: program(&args.terraform)?,
        backend_config: args.backend_config.clone().map(absolute).transpose()?,
        function_package: args.function_package.clone().map(absolute).transpose()?,
        runner_image: args.runner_image.clone(),
        runner_build_args: args.runner_build_arg.clone(),
        webhook_secret_file: args.webhook_secret_file.clone(),
        vcs_token_file: args.vcs_token_file.clone(),
        hook_token_file: args.hook_token_file.clone(),
        vcs_token_env: vcs_token_env(),
        hook_repo: args.repo.clone(),
        hook_org: args.org.clone(),
        until: args.until,
        policy: config
            .policy_path(&args.target.config)
            .map(absolute)
            .transpose()?,
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

/// A program named by a path (`.tools/bin/terraform`) made absolute: Terraform runs in each
/// stage's folder. A bare name is looked up on `PATH`.
fn program(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    if path.components().count() > 1 {
        absolute(path)
    } else {
        Ok(path.to_owned())
    }
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
        terraform: program(&args.terraform)?,
        backend_config: args.backend_config.clone().map(absolute).transpose()?,
        vcs_token_file: args.vcs_token_file.clone(),
        hook_token_file: args.hook_token_file.clone(),
        vcs_token_env: vcs_token_env(),
        hook_repo: args.repo.clone(),
        hook_org: args.org.clone(),
        ..Options::default()
    };
    runtime()?.block_on(async {
        let ctx = Ctx::new(&config, &out, opts).await?;
        up::terraform::forward_interrupts();
        up::stages::init_platform(&ctx).await?;
        // Known before the hook goes: a destroy that cannot start leaves everything as it was.
        let vars = ctx
            .platform_vars(None)
            .context("nothing was removed or destroyed")?;
        up::stages::protect_function_table(&ctx, false)
            .await
            .context("nothing was removed or destroyed")?;
        if !args.keep_webhook {
            let removed = up::connect::remove_webhook(&ctx).await;
            if removed.is_err() {
                // Stopped before the destroy: the table is protected again.
                up::stages::protect_function_table(&ctx, true).await?;
            }
            let said = removed.context(
                "nothing was destroyed; fix the cause, or pass --keep-webhook to leave the hook",
            )?;
            writeln!(stdout, "{said}")?;
        }
        up::stages::destroy_platform(&ctx, vars).await?;
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
    fn a_program_given_by_a_relative_path_is_found_from_every_stages_folder() {
        let given = std::path::Path::new(".tools/bin/terraform");
        let found = program(given).unwrap();
        assert!(found.is_absolute() && found.ends_with(given), "{found:?}");
        assert_eq!(
            program(std::path::Path::new("terraform")).unwrap(),
            PathBuf::from("terraform")
        );
    }
}
