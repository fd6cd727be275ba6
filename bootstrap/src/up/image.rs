//! The runner image stage of `landfall up`: the image runner Jobs run, taken as given
//! (`--runner-image`, else landfall.toml's `runner_image`) or built from
//! `images/runner/Containerfile` with podman or docker and pushed to the platform's ECR
//! repository, tagged with Landfall's version. ECR tags are immutable, so a tag already there
//! (`DescribeImages`) is never pushed again. The registry password comes from ECR's
//! `GetAuthorizationToken` through the SDK and reaches the tool on its standard input
//! (`login --password-stdin`), never its argv or a log.
//!
//! The repository belongs to `terraform/platform`, which is applied after this stage (with
//! `-var runner_image=<ref>`): when it does not exist yet, this stage applies the platform with
//! `-target=aws_ecr_repository.runner` first, as one would by hand.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;
use secrecy::SecretString;

use super::connect::RunState;
use super::{Ctx, Outcome, Stage};

/// The Containerfile, from the root of the Landfall source.
pub const CONTAINERFILE: &str = "images/runner/Containerfile";
/// The tag every image gets: Landfall's version (the platform's default `runner_image`).
pub const TAG: &str = env!("CARGO_PKG_VERSION");
/// The container tools `landfall up` builds with, in order of preference.
const TOOLS: [&str; 2] = ["podman", "docker"];
/// The platform's resources the targeted apply creates before the first push.
const REPOSITORY_TARGETS: [&str; 2] = [
    "-target=aws_ecr_repository.runner",
    "-target=aws_ecr_lifecycle_policy.runner",
];

/// Where the runner image comes from.
#[derive(Debug)]
enum Source {
    /// A reference given, and who gave it.
    Given(String, &'static str),
    /// Built with this tool from this Landfall source tree; or, when the tree found is of
    /// another version, why it may not be built (no matter when the tag is already pushed).
    Build {
        tool: PathBuf,
        source: Result<PathBuf, String>,
    },
    /// Neither: what to do instead.
    Missing(String),
}

fn source(ctx: &Ctx) -> Source {
    if let Some(image) = &ctx.opts.runner_image {
        return Source::Given(image.clone(), "--runner-image");
    }
    if let Some(image) = &ctx.runner_image {
        return Source::Given(image.clone(), "landfall.toml's runner_image");
    }
    let tool = TOOLS.iter().find_map(|t| on_path(t));
    let source = match super::source::landfall_source() {
        Ok(found) => found.filter(|s| s.join(CONTAINERFILE).is_file()),
        Err(other_version) => {
            let why = format!("{other_version:#}");
            return match tool {
                Some(tool) => Source::Build {
                    tool,
                    source: Err(why),
                },
                None => Source::Missing(why),
            };
        }
    };
    match (tool, source) {
        (Some(tool), Some(source)) => Source::Build {
            tool,
            source: Ok(source),
        },
        (tool, source) => Source::Missing(format!(
            "no runner image: {}; pass --runner-image REF (an image already pushed), or run \
             `landfall up` inside the Landfall source with podman or docker on PATH to build \
             {CONTAINERFILE} and push it to the platform's ECR repository",
            match (tool, source) {
                (None, None) =>
                    "neither podman nor docker is on PATH, and this is not the Landfall source",
                (None, _) => "neither podman nor docker is on PATH",
                _ => "this is not the Landfall source (no images/runner/Containerfile)",
            }
        )),
    }
}

/// `name` found in a directory of `PATH`, as an executable file.
fn on_path(name: &str) -> Option<PathBuf> {
    use landfall_function::config::process;
    let path = process::var_os("PATH")?;
    process::executable_in(std::env::split_paths(&path), name.as_ref())
}

/// The platform's ECR repository for the runner image.
fn repository_name(ctx: &Ctx) -> String {
    format!("{}/landfall-runner", ctx.name)
}

/// The repository's URI, `None` when it does not exist.
async fn repository_uri(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    let name = repository_name(ctx);
    match ctx
        .ecr
        .describe_repositories()
        .repository_names(&name)
        .send()
        .await
    {
        Ok(found) => Ok(found
            .repositories()
            .first()
            .and_then(|r| r.repository_uri())
            .map(str::to_owned)),
        Err(e) => match aws_sdk_ecr::Error::from(e) {
            aws_sdk_ecr::Error::RepositoryNotFoundException(_) => Ok(None),
            other => Err(anyhow::Error::from(other)
                .context(format!("cannot look up the ECR repository {name}"))),
        },
    }
}

/// Whether the repository holds an image tagged [`TAG`].
async fn tag_exists(ctx: &Ctx) -> anyhow::Result<bool> {
    let name = repository_name(ctx);
    let id = aws_sdk_ecr::types::ImageIdentifier::builder()
        .image_tag(TAG)
        .build();
    match ctx
        .ecr
        .describe_images()
        .repository_name(&name)
        .image_ids(id)
        .send()
        .await
    {
        Ok(found) => Ok(!found.image_details().is_empty()),
        Err(e) => match aws_sdk_ecr::Error::from(e) {
            aws_sdk_ecr::Error::ImageNotFoundException(_)
            | aws_sdk_ecr::Error::RepositoryNotFoundException(_) => Ok(false),
            other => Err(anyhow::Error::from(other)
                .context(format!("cannot list the images of {name}:{TAG}"))),
        },
    }
}

/// The registry's user and password, from `GetAuthorizationToken` (base64 of `user:password`).
async fn registry_login(ctx: &Ctx) -> anyhow::Result<(String, SecretString)> {
    let answer = ctx
        .ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(aws_sdk_ecr::Error::from)
        .context("cannot get an ECR login token (ecr:GetAuthorizationToken)")?;
    let token = answer
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .context("ECR gave no authorization token")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .context("ECR's authorization token is not base64 of user:password")?;
    let (user, password) = decoded
        .split_once(':')
        .context("ECR's authorization token is not user:password")?;
    Ok((user.to_owned(), SecretString::from(password.to_owned())))
}

/// Makes sure the platform's ECR repository exists (a targeted apply of `terraform/platform`
/// when it does not) and returns its URI.
async fn ensure_repository(ctx: &Ctx) -> anyhow::Result<String> {
    if let Some(uri) = repository_uri(ctx).await? {
        return Ok(uri);
    }
    let tf = ctx.terraform("platform", Stage::Image);
    tf.run(&ctx.init_args(), false).await?;
    let mut vars: Vec<String> = REPOSITORY_TARGETS.iter().map(|t| (*t).to_owned()).collect();
    vars.extend(ctx.platform_vars(None)?);
    tf.plan_and_apply(&vars).await?;
    let _ = fs::remove_file(ctx.stage_dir("platform").join("landfall-up.tfplan"));
    repository_uri(ctx).await?.with_context(|| {
        format!(
            "terraform apply {} did not create the ECR repository {} (see {})",
            REPOSITORY_TARGETS.join(" "),
            repository_name(ctx),
            tf.log().display()
        )
    })
}

/// The runner image stage: resolves the image and, when it is to be built, builds and pushes it
/// unless its tag is already in ECR. `dry` says what it would do and changes nothing.
pub async fn image(ctx: &Ctx, state: &mut RunState, dry: bool) -> anyhow::Result<Outcome> {
    let (tool, source) = match source(ctx) {
        Source::Given(image, from) => {
            state.runner_image = Some(image.clone());
            return Ok(Outcome::Unchanged(format!("using {image} ({from})")));
        }
        Source::Missing(why) if dry => return Ok(Outcome::Left(why)),
        Source::Missing(why) => bail!(why),
        Source::Build { tool, source } => (tool, source),
    };
    let tool_name = tool.file_name().unwrap_or_default().to_string_lossy();
    let what = format!("build {CONTAINERFILE} with {tool_name}");
    let uri = if dry {
        let Some(uri) = repository_uri(ctx).await? else {
            return Ok(match source {
                Err(why) => Outcome::Left(why),
                Ok(_) => Outcome::Changed(format!(
                    "create the ECR repository {} (terraform/platform, -target), {what}, push it tagged {TAG}",
                    repository_name(ctx)
                )),
            });
        };
        uri
    } else {
        // No repository, no tag: a source that may not be built fails before one is made.
        if let Err(why) = &source
            && repository_uri(ctx).await?.is_none()
        {
            bail!(why.clone());
        }
        ensure_repository(ctx).await?
    };
    let reference = format!("{uri}:{TAG}");
    state.runner_image = Some(reference.clone());
    if tag_exists(ctx).await? {
        return Ok(Outcome::Unchanged(format!(
            "{reference} already there (tags are immutable)"
        )));
    }
    let source = match source {
        Ok(source) => source,
        Err(why) if dry => return Ok(Outcome::Left(why)),
        Err(why) => bail!(why),
    };
    if dry {
        return Ok(Outcome::Changed(format!("{what}, push {reference}")));
    }
    let log = ctx.log(Stage::Image);
    let local = format!("landfall-runner:{TAG}");
    let containerfile = source.join(CONTAINERFILE).display().to_string();
    let run = |args: &[&str], stdin: Option<&SecretString>| {
        super::terraform::run_logged(&tool, args, &source, &log, stdin)
    };
    let mut build = vec![
        "build",
        "--platform",
        ctx.node_platform,
        "-f",
        &containerfile,
        "-t",
        &local,
    ];
    for arg in &ctx.opts.runner_build_args {
        build.extend(["--build-arg", arg.as_str()]);
    }
    build.push(".");
    run(&build, None)?;
    run(&["tag", &local, &reference], None)?;
    let registry = uri.split('/').next().unwrap_or(&uri);
    let (user, password) = registry_login(ctx).await?;
    run(
        &["login", "--username", &user, "--password-stdin", registry],
        Some(&password),
    )?;
    run(&["push", &reference], None)?;
    Ok(Outcome::Changed(format!(
        "built with {tool_name} and pushed {reference} (log {})",
        log.display()
    )))
}
