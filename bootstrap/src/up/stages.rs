//! The Terraform stages of `landfall up`: the state backend on local state, its migration into
//! the bucket (the local copy removed only after the object is read back from S3 with the same
//! lineage and serial), the function package and the platform (the runner image is
//! [`super::image`]). Each decides from the files, S3 and Terraform's own plan whether anything
//! is left to do.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::connect::{self, RunState};
use super::terraform::args;
use super::{Ctx, Outcome, Stage};

/// The object key of the backend stage's own state (fixed by the rendered `backend.tf.example`).
pub const BOOTSTRAP_KEY: &str = "bootstrap/terraform.tfstate";
/// Where the function package is kept for the platform stage, inside `terraform/platform`.
pub const PACKAGE_FILE: &str = "landfall-function.zip";

/// Runs one stage.
pub async fn run(ctx: &Ctx, stage: Stage, found: &mut RunState) -> anyhow::Result<Outcome> {
    match stage {
        Stage::Backend => backend(ctx).await,
        Stage::Migrate => migrate(ctx).await,
        Stage::Package => package(ctx, false),
        Stage::Image => super::image::image(ctx, found, false).await,
        Stage::Platform => platform(ctx, found.runner_image.as_deref()).await,
        Stage::Secrets => connect::secrets(ctx, found, false).await,
        Stage::Webhook => connect::webhook(ctx, found, false).await,
    }
}

/// Says what one stage would do, changing nothing.
pub async fn check(ctx: &Ctx, stage: Stage) -> anyhow::Result<Outcome> {
    let dir = ctx.stage_dir("bootstrap");
    let local = local_state(&dir)?.is_some();
    // Without backend.tf, the backend stage writes it when the state is in the bucket.
    let migrated = !local && state_object(ctx, BOOTSTRAP_KEY).await?.is_some();
    Ok(match stage {
        Stage::Backend if migrated => Outcome::Unchanged(
            "state in S3; `terraform plan` decides whether anything changes".into(),
        ),
        Stage::Backend => Outcome::Changed("apply terraform/bootstrap on local state".into()),
        Stage::Migrate if migrated => {
            Outcome::Unchanged(format!("state in s3://{}/{BOOTSTRAP_KEY}", ctx.bucket))
        }
        Stage::Migrate => Outcome::Changed(
            "write backend.tf, migrate the state into the bucket, remove the local copy".into(),
        ),
        Stage::Package => package(ctx, true)?,
        Stage::Image => super::image::image(ctx, &mut RunState::default(), true).await?,
        Stage::Platform => {
            if state_object(ctx, &platform_key(ctx)?)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                Outcome::Unchanged(
                    "state in S3; `terraform plan` decides whether anything changes".into(),
                )
            } else {
                Outcome::Changed("apply terraform/platform (first time)".into())
            }
        }
        Stage::Secrets => connect::secrets(ctx, &mut RunState::default(), true).await?,
        Stage::Webhook => connect::webhook(ctx, &mut RunState::default(), true).await?,
    })
}

/// Applies `terraform/bootstrap`: on local state until the migration, on the S3 state after.
async fn backend(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let dir = ctx.stage_dir("bootstrap");
    if !dir.join("main.tf").is_file() {
        bail!(
            "{} has no main.tf: run `landfall render` first",
            dir.display()
        );
    }
    let tf = ctx.terraform("bootstrap", Stage::Backend);
    let backend_tf = dir.join("backend.tf");
    let local = local_state(&dir)?.is_some();
    if !local && !backend_tf.exists() && state_object(ctx, BOOTSTRAP_KEY).await?.is_some() {
        // A checkout without backend.tf (another clone, a deleted file) of a backend that was
        // migrated: applied on empty local state, the stage would create the backend again,
        // and the migration would then copy that state over the bucket's.
        write_backend_tf(&dir)?;
    }
    if local || !backend_tf.exists() {
        // Local state is the truth until the migration has been verified: a backend.tf left by
        // an interrupted migration is ours and written again by the next stage.
        if backend_tf.exists() {
            fs::remove_file(&backend_tf)?;
        }
        tf.run(
            &args(&["init", "-input=false", "-no-color", "-reconfigure"]),
            false,
        )
        .await?;
    } else {
        tf.run(&ctx.init_args(), false).await?;
    }
    let changed = tf.plan_and_apply(&[]).await?;
    let _ = fs::remove_file(dir.join("landfall-up.tfplan"));
    Ok(if changed {
        Outcome::Changed(format!(
            "applied terraform/bootstrap (log {})",
            tf.log().display()
        ))
    } else {
        Outcome::Unchanged("terraform/bootstrap has no changes".into())
    })
}

/// The state object `key` in the bucket, when it exists.
async fn state_object(ctx: &Ctx, key: &str) -> anyhow::Result<Option<serde_json::Value>> {
    // A bucket of that name in another account (names are global) is never taken for ours.
    let got = ctx
        .s3
        .get_object()
        .bucket(&ctx.bucket)
        .key(key)
        .set_expected_bucket_owner(ctx.account.clone())
        .send()
        .await;
    match got {
        Ok(object) => {
            let bytes = object.body.collect().await?.into_bytes();
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("s3://{}/{key} is not a Terraform state", ctx.bucket)
            })?))
        }
        Err(e) => {
            use aws_sdk_s3::error::ProvideErrorMetadata as _;
            let e = aws_sdk_s3::Error::from(e);
            // GetObject models no NoSuchBucket: a bucket not there yet comes as its code.
            match e {
                aws_sdk_s3::Error::NoSuchKey(_) | aws_sdk_s3::Error::NoSuchBucket(_) => Ok(None),
                other if other.code() == Some("NoSuchBucket") => Ok(None),
                other => Err(anyhow::Error::from(other)
                    .context(format!("cannot read s3://{}/{key}", ctx.bucket))),
            }
        }
    }
}

/// Writes `backend.tf`, migrates the local state into the bucket, reads it back, and only then
/// removes the local copy.
async fn migrate(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let dir = ctx.stage_dir("bootstrap");
    let local = dir.join("terraform.tfstate");
    let backup = dir.join("terraform.tfstate.backup");
    let backend_tf = dir.join("backend.tf");
    let Some(wanted) = local_state(&dir)? else {
        if !backend_tf.is_file() || state_object(ctx, BOOTSTRAP_KEY).await?.is_none() {
            bail!(
                "{} has neither a local state nor its state in s3://{}/{BOOTSTRAP_KEY}: restore the state before running again",
                dir.display(),
                ctx.bucket
            );
        }
        if !local.exists() {
            return Ok(Outcome::Unchanged(format!(
                "state in s3://{}/{BOOTSTRAP_KEY}",
                ctx.bucket
            )));
        }
        // Terraform empties the local file when it migrates, keeping the state in the backup: a
        // run stopped before the verification left both; verify, then remove them.
        let saved: serde_json::Value =
            serde_json::from_slice(&fs::read(&backup).with_context(|| {
                format!(
                    "{} is empty and there is no {}: check s3://{}/{BOOTSTRAP_KEY} by hand",
                    local.display(),
                    backup.display(),
                    ctx.bucket
                )
            })?)?;
        verify(ctx, &saved, &backup).await?;
        let _ = fs::remove_file(&local);
        let _ = fs::remove_file(&backup);
        return Ok(Outcome::Changed(format!(
            "state in s3://{}/{BOOTSTRAP_KEY} (verified); local copy removed",
            ctx.bucket
        )));
    };
    write_backend_tf(&dir)?;
    let tf = ctx.terraform("bootstrap", Stage::Migrate);
    let mut init = ctx.init_args();
    init.extend(args(&["-migrate-state", "-force-copy"]));
    tf.run(&init, false).await?;
    verify(ctx, &wanted, &backup).await?;
    let _ = fs::remove_file(&local);
    let _ = fs::remove_file(&backup);
    Ok(Outcome::Changed(format!(
        "state moved to s3://{}/{BOOTSTRAP_KEY} (verified); local copy removed",
        ctx.bucket
    )))
}

/// Reads the migrated state back from S3 and checks it holds what `wanted` holds.
async fn verify(ctx: &Ctx, wanted: &serde_json::Value, kept: &Path) -> anyhow::Result<()> {
    let Some(remote) = state_object(ctx, BOOTSTRAP_KEY).await? else {
        bail!(
            "terraform init reported the migration done, but s3://{}/{BOOTSTRAP_KEY} is missing; the local state is kept",
            ctx.bucket
        );
    };
    // Terraform may give the copy a new lineage and serial: what must match is what it holds.
    if remote["resources"] != wanted["resources"] || remote["outputs"] != wanted["outputs"] {
        bail!(
            "s3://{}/{BOOTSTRAP_KEY} does not hold the resources of the local state; the local state is kept in {}",
            ctx.bucket,
            kept.display()
        );
    }
    Ok(())
}

/// The backend stage's local state, `None` when there is none (no file, or the empty file
/// Terraform leaves after a migration).
fn local_state(dir: &Path) -> anyhow::Result<Option<serde_json::Value>> {
    let path = dir.join("terraform.tfstate");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .with_context(|| format!("{} is not a Terraform state", path.display()))
}

/// The backend stage's `backend.tf`, written from the rendered `backend.tf.example`.
fn write_backend_tf(dir: &Path) -> anyhow::Result<()> {
    let example = dir.join("backend.tf.example");
    let text = fs::read_to_string(&example)
        .with_context(|| format!("cannot read {}: run `landfall render`", example.display()))?;
    write_atomically(&dir.join("backend.tf"), &text)
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tf.landfall-tmp");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// The file beside the function package that names the Landfall version it was put there for.
const PACKAGE_VERSION_FILE: &str = "landfall-function.zip.version";

/// Puts the function package where the platform stage reads it: `--function-package`, else a
/// `cargo lambda build` when run inside the Landfall source, else the package already there;
/// with the operator's policy in it (`[function] policy`), brought up to date. A package put
/// there for another Landfall version (or before versions were noted) is built again: the
/// function and the runner image of one version go together.
fn package(ctx: &Ctx, dry: bool) -> anyhow::Result<Outcome> {
    let target = ctx.stage_dir("platform").join(PACKAGE_FILE);
    let version = env!("CARGO_PKG_VERSION");
    let noted = target.with_file_name(PACKAGE_VERSION_FILE);
    // The Landfall version the package there was put there for, if it says.
    let noted_version = fs::read_to_string(&noted).ok().map(|v| v.trim().to_owned());
    let current = noted_version.as_deref() == Some(version);
    let source = match &ctx.opts.function_package {
        Some(file) => file.clone(),
        None if target.is_file() && current => target.clone(),
        None => {
            let Some(src) = super::source::landfall_source()? else {
                let why = if target.is_file() {
                    format!(
                        "{} is not Landfall {version}'s function package (it was put there by {}): \
                         pass this version's as --function-package FILE, or run inside its source",
                        target.display(),
                        noted_version
                            .map_or("an earlier version".to_owned(), |v| format!("Landfall {v}"))
                    )
                } else {
                    "no function package: pass --function-package FILE (built by `cargo lambda build --profile lambda-package --arm64 --output-format zip`), or run inside the Landfall source".to_owned()
                };
                return Ok(Outcome::Left(why));
            };
            if dry {
                return Ok(Outcome::Changed(
                    "cargo lambda build --profile lambda-package --arm64".into(),
                ));
            }
            build_package(ctx, &src)?
        }
    };
    if !source.is_file() {
        bail!("the function package {} does not exist", source.display());
    }
    let read =
        |path: &Path| fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    let policy = match &ctx.opts.policy {
        Some(path) => crate::package::policy_files(path).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Vec::new(),
    };
    let shipped = crate::package::with_policy(&read(&source)?, &policy)
        .with_context(|| format!("cannot put the policy into {}", source.display()))?;
    if target.is_file() && read(&target)? == shipped {
        if !dry && !current {
            fs::write(&noted, version)?;
        }
        let what = if source == target {
            format!(
                "{} (pass --function-package to replace it)",
                target.display()
            )
        } else {
            format!("{} is current", target.display())
        };
        return Ok(Outcome::Unchanged(what));
    }
    let what = if source == target {
        format!("{} with the policy brought up to date", target.display())
    } else {
        format!("{} from {}", target.display(), source.display())
    };
    if dry {
        return Ok(Outcome::Changed(what));
    }
    let tmp = target.with_extension("zip.landfall-tmp");
    fs::write(&tmp, &shipped).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &target)?;
    fs::write(&noted, version)?;
    Ok(Outcome::Changed(what))
}

fn build_package(ctx: &Ctx, src: &Path) -> anyhow::Result<PathBuf> {
    let cargo = Path::new("cargo");
    let args = [
        "lambda",
        "build",
        // The workspace's profile for the package (Cargo.toml): the release build, panics abort.
        "--profile",
        "lambda-package",
        "--arm64",
        "--output-format",
        "zip",
        "-p",
        "landfall-function",
        "--bin",
        "landfall-function",
    ];
    super::terraform::run_logged(cargo, &args, src, &ctx.log(Stage::Package), None)
        .context("cargo lambda build failed (pip install cargo-lambda, if it is missing)")?;
    Ok(src.join("target/lambda/landfall-function/bootstrap.zip"))
}

/// The platform stage's state key, read from its rendered `backend.tf`.
fn platform_key(ctx: &Ctx) -> anyhow::Result<String> {
    let path = ctx.stage_dir("platform").join("backend.tf");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("key"))
        .find_map(|rest| {
            rest.trim()
                .strip_prefix('=')
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
        .with_context(|| format!("{} names no state key", path.display()))
}

/// Applies `terraform/platform` on its S3 state.
async fn platform(ctx: &Ctx, runner_image: Option<&str>) -> anyhow::Result<Outcome> {
    let tf = ctx.terraform("platform", Stage::Platform);
    tf.run(&ctx.init_args(), false).await?;
    let changed = tf.plan_and_apply(&ctx.platform_vars(runner_image)?).await?;
    let _ = fs::remove_file(ctx.stage_dir("platform").join("landfall-up.tfplan"));
    Ok(if changed {
        Outcome::Changed(format!(
            "applied terraform/platform (log {})",
            tf.log().display()
        ))
    } else {
        Outcome::Unchanged("terraform/platform has no changes".into())
    })
}

/// `terraform init` of the platform stage on its S3 state.
pub async fn init_platform(ctx: &Ctx) -> anyhow::Result<()> {
    let tf = ctx.terraform("platform", Stage::Platform);
    tf.run(&ctx.init_args(), false).await.map(drop)
}

/// `landfall down`: destroys the platform stage (initialised by [`init_platform`]); the state
/// backend stays.
pub async fn destroy_platform(ctx: &Ctx, vars: Vec<String>) -> anyhow::Result<()> {
    let tf = ctx.terraform("platform", Stage::Platform);
    let mut destroy = args(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    destroy.extend(vars);
    tf.run(&destroy, false).await?;
    let _ = fs::remove_file(ctx.work_dir().join(connect::MARKER));
    Ok(())
}

/// The function's table is protected from deletion (it holds the pull requests' locks): `down`,
/// past its typed confirmation, lifts that (`protected` false) so that the destroy can delete
/// it, and sets it again when it stops before the destroy. A table that is not there (never
/// applied, or gone) needs nothing.
pub async fn protect_function_table(ctx: &Ctx, protected: bool) -> anyhow::Result<()> {
    let table = format!("{}-landfall", ctx.name);
    let set = ctx
        .dynamodb
        .update_table()
        .table_name(&table)
        .deletion_protection_enabled(protected)
        .send()
        .await;
    match set {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(aws_sdk_dynamodb::operation::update_table::UpdateTableError::is_resource_not_found_exception) =>
        {
            Ok(())
        }
        Err(err) => Err(anyhow::Error::new(err.into_service_error()).context(format!(
            "cannot set the deletion protection of the function's table {table} to {protected}"
        ))),
    }
}
