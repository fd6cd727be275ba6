//! `landfall init`: writes a commented `landfall.toml` from flags and defaults.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use handlebars::{Handlebars, no_escape};
use serde::Serialize;

use crate::cli::InitArgs;
use crate::config::{Config, VcsUrlIssue};
use crate::names;

const TEMPLATE: &str = include_str!("../../templates/landfall.toml.hbs");

/// The values `landfall.toml` is written from.
#[derive(Debug, Serialize)]
pub struct InitValues {
    pub version: &'static str,
    pub name: String,
    pub region: String,
    pub repo_url: String,
    pub revision: String,
    pub vcs: String,
    pub vcs_url: Option<String>,
    pub repo_allowlist: Vec<String>,
    pub vpc_cidr: String,
    pub kubernetes_version: String,
}

pub fn run(args: &InitArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let dir = super::output_dir(&args.config, None);
    let values = InitValues {
        version: env!("CARGO_PKG_VERSION"),
        name: match &args.name {
            Some(name) => name.clone(),
            None => default_name(&dir),
        },
        region: match &args.region {
            Some(region) => region.clone(),
            None => default_region()?,
        },
        repo_url: match &args.repo_url {
            Some(url) => url.clone(),
            None => without_credentials(origin_remote(&dir).context(
                "no --repo-url given and this folder has no git `origin` remote; \
                 pass --repo-url with the Git repository Argo CD will sync from",
            )?),
        },
        revision: args.revision.clone(),
        vcs: args.vcs.clone(),
        vcs_url: args.vcs_url.clone(),
        repo_allowlist: args.repo_allowlist.clone(),
        vpc_cidr: args.vpc_cidr.clone(),
        kubernetes_version: args.kubernetes_version.clone(),
    };
    check_flags(&values)?;
    let text = render(&values)?;
    write_new(&args.config, &text, args.force)?;
    writeln!(
        stdout,
        "wrote {}\nnext: review it, then run `landfall render`",
        args.config.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Renders the commented file and checks that it reads back as a valid configuration.
pub fn render(values: &InitValues) -> anyhow::Result<String> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(no_escape);
    registry.register_helper(
        "toml",
        Box::new(
            |h: &handlebars::Helper<'_>,
             _: &Handlebars<'_>,
             _: &handlebars::Context,
             _: &mut handlebars::RenderContext<'_, '_>,
             out: &mut dyn handlebars::Output|
             -> handlebars::HelperResult {
                let value = h
                    .param(0)
                    .and_then(|p| p.value().as_str())
                    .unwrap_or_default();
                out.write(&toml::Value::String(value.to_owned()).to_string())?;
                Ok(())
            },
        ),
    );
    let mut context = serde_json::to_value(values)?;
    context["vcs_url_example"] = serde_json::Value::from(vcs_url_example(&values.vcs));
    let text = registry.render_template(TEMPLATE, &context)?;
    Config::parse(&text, Path::new("landfall.toml"))
        .context("the generated landfall.toml is invalid")?;
    Ok(text)
}

/// What a self-hosted `vcs`'s API base URL looks like, for the commented `vcs_url`.
fn vcs_url_example(vcs: &str) -> &'static str {
    match vcs {
        "gitlab" => "https://gitlab.example.com/api/v4",
        "gitea" | "forgejo" => "https://gitea.example.com/api/v1",
        "bitbucket-cloud" => "https://api.bitbucket.org/2.0",
        _ => "https://github.example.com/api/v3",
    }
}

/// Validates the flags first, so errors name the flag rather than a line of a file not yet written.
fn check_flags(v: &InitValues) -> anyhow::Result<()> {
    names::platform_name(&v.name).map_err(|e| anyhow::anyhow!("invalid --name: {e}"))?;
    if let Err((message, help)) = names::aws_region(&v.region) {
        bail!(
            "invalid --region: {message}{}",
            help.map(|h| format!("; {h}")).unwrap_or_default()
        );
    }
    if let Err((message, help)) = names::vpc_cidr(&v.vpc_cidr) {
        bail!(
            "invalid --vpc-cidr: {message}{}",
            help.map(|h| format!("; {h}")).unwrap_or_default()
        );
    }
    names::repo_url(&v.repo_url).map_err(|e| anyhow::anyhow!("invalid --repo-url: {e}"))?;
    let provider: landfall_function::event::Provider = v.vcs.parse()?;
    match crate::config::vcs_url_issue(provider, v.vcs_url.as_deref()) {
        None => {}
        Some(VcsUrlIssue::Missing { example }) => {
            bail!("--vcs {} needs --vcs-url: {example}", v.vcs)
        }
        Some(VcsUrlIssue::Invalid { value, reason }) => {
            bail!("invalid --vcs-url: {value:?} is invalid: {reason}")
        }
        Some(VcsUrlIssue::NotApiBase { url, problem }) => {
            bail!("--vcs-url {url} is not the host's API base URL: {problem}")
        }
        Some(VcsUrlIssue::PlainHttp { url }) => {
            bail!(
                "--vcs-url {url} is plain http: the function would send the VCS token unencrypted; use the host's https:// URL"
            )
        }
    }
    Ok(())
}

fn write_new(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    if !force && path.exists() {
        bail!(
            "{} already exists; pass --force to overwrite it, or edit it by hand",
            path.display()
        );
    }
    let dir = super::output_dir(path, None);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // 0666 less the umask, as any new file: `landfall.toml` holds no secret.
    let mut file = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if force {
        file.persist(path)
    } else {
        file.persist_noclobber(path)
    }
    .map_err(|e| e.error)
    .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn default_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .and_then(|n| names::suggest_label(&n))
        .map(|n| {
            n.chars()
                .take(names::MAX_PLATFORM_NAME)
                .collect::<String>()
                .trim_end_matches('-')
                .to_owned()
        })
        .filter(|n| names::platform_name(n).is_ok())
        .unwrap_or_else(|| "landfall".to_owned())
}

/// `$AWS_REGION`, else `$AWS_DEFAULT_REGION`, else us-east-1; a variable that names no region
/// is an error, not a reason to build somewhere else.
fn default_region() -> anyhow::Result<String> {
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(region) = std::env::var(var).ok().filter(|r| !r.is_empty()) {
            if let Err((message, help)) = names::aws_region(&region) {
                bail!(
                    "{var}: {message}{}; or pass --region",
                    help.map(|h| format!("; {h}")).unwrap_or_default()
                );
            }
            return Ok(region);
        }
    }
    Ok("us-east-1".to_owned())
}

/// The `origin` remote's URL without the credentials a CI clone puts in it
/// (`https://gitlab-ci-token:...@`): `repo_url` is written into the manifests. An `ssh://` URL
/// keeps its user name (`git@`, which the host needs) and loses only the password.
fn without_credentials(mut url: String) -> String {
    if let Some(credentials) = landfall_function::config::url_credentials(&url) {
        let userinfo = &url[credentials.start..credentials.end - 1];
        let kept = match userinfo.split_once(':') {
            Some((user, _)) if url.to_ascii_lowercase().starts_with("ssh://") => format!("{user}@"),
            _ => String::new(),
        };
        url.replace_range(credentials, &kept);
    }
    url
}

fn origin_remote(dir: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["remote", "get-url", "origin"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let url = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !url.is_empty()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> InitValues {
        InitValues {
            version: "0.0.0",
            name: "acme".into(),
            region: "eu-west-1".into(),
            repo_url: "https://github.com/acme/platform.git".into(),
            revision: "main".into(),
            vcs: "gitlab".into(),
            vcs_url: None,
            repo_allowlist: vec!["acme/*".into(), "ops/infra".into()],
            vpc_cidr: "10.1.0.0/16".into(),
            kubernetes_version: "1.33".into(),
        }
    }

    #[test]
    fn the_written_file_reads_back_with_the_flag_values() {
        let text = render(&values()).unwrap();
        let config = Config::parse(&text, Path::new("landfall.toml")).unwrap();
        assert_eq!(config.name(), "acme");
        assert_eq!(config.function.vcs.get_ref(), "gitlab");
        assert_eq!(config.function.repo_allowlist.len(), 2);
        assert_eq!(config.network.vpc_cidr.get_ref(), "10.1.0.0/16");
        assert_eq!(config.gitops.revision.get_ref(), "main");
    }

    #[test]
    fn bad_flags_are_named_in_the_error() {
        let mut v = values();
        v.name = "Acme_Corp".into();
        assert!(
            check_flags(&v)
                .unwrap_err()
                .to_string()
                .starts_with("invalid --name")
        );
        let mut v = values();
        v.region = "eu-west-9".into();
        assert!(
            check_flags(&v)
                .unwrap_err()
                .to_string()
                .contains("eu-west-")
        );
    }

    #[test]
    fn an_origin_loses_its_credentials_and_an_ssh_origin_keeps_its_user() {
        let cases = [
            (
                "https://gitlab-ci-token:glcbt-x@gitlab.com/acme/platform.git",
                "https://gitlab.com/acme/platform.git",
            ),
            (
                "https://ghp_x@github.com/acme/p.git",
                "https://github.com/acme/p.git",
            ),
            (
                "ssh://git:pw@github.com/acme/p.git",
                "ssh://git@github.com/acme/p.git",
            ),
            ("git@github.com:acme/p.git", "git@github.com:acme/p.git"),
        ];
        for (origin, kept) in cases {
            assert_eq!(without_credentials(origin.to_owned()), kept);
        }
    }

    #[test]
    fn a_host_without_a_public_api_needs_its_url() {
        let mut v = values();
        v.vcs = "azure-devops".into();
        let err = check_flags(&v).unwrap_err().to_string();
        assert!(err.contains("--vcs-url"), "{err}");
        v.vcs_url = Some("https://dev.azure.com/acme".into());
        check_flags(&v).unwrap();
        let text = render(&v).unwrap();
        let config = Config::parse(&text, Path::new("landfall.toml")).unwrap();
        let url = config.function.vcs_url.map(toml::Spanned::into_inner);
        assert_eq!(url.as_deref(), Some("https://dev.azure.com/acme"));
        // The file alone says the same: without the URL it is refused at `vcs`.
        let without = text.replace("vcs_url = \"https://dev.azure.com/acme\"", "");
        let err = Config::parse(&without, Path::new("landfall.toml")).unwrap_err();
        assert!(format!("{err:#}").contains("needs vcs_url"), "{err:#}");
    }

    #[test]
    fn an_existing_file_is_kept_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("landfall.toml");
        std::fs::write(&path, "mine").unwrap();
        let err = write_new(&path, "new", false).unwrap_err();
        assert!(err.to_string().contains("pass --force"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
        write_new(&path, "new", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }
}
