//! Connecting the deployment to its VCS host: the webhook secret (generated with the system's
//! CSPRNG unless given) and the VCS token put into the secrets the platform created, through the
//! Secrets Manager API so they never reach Terraform state, argv or a log; then the webhook
//! registered on the host ([`landfall_function::vcs::hooks`]) and its delivery confirmed where the
//! host can tell. `landfall down` removes that hook again ([`remove_webhook`]).

use std::fs;

use anyhow::{Context, bail};
use landfall_function::event::Provider;
use landfall_function::vcs::hooks::{Confirmation, HookChange, HookClient, HookScope, HookSpec};
use secrecy::{ExposeSecret, SecretString};

use super::{Ctx, Outcome, Stage};

/// The file in `.landfall-up/` recording the hook registered and the secret version it got.
pub const MARKER: &str = "webhook.json";

/// What a stage hands the later ones: the runner image to the platform, the secrets to the
/// webhook.
#[derive(Debug, Default)]
pub struct RunState {
    /// The runner image the platform stage passes as `-var runner_image`.
    pub runner_image: Option<String>,
    /// The function's URL.
    pub webhook_url: Option<String>,
    /// The webhook secret and its Secrets Manager version.
    pub secret: Option<(SecretString, String)>,
    /// The VCS token.
    pub token: Option<SecretString>,
}

/// The platform's outputs the connection needs.
struct Outputs {
    url: String,
    secret_arn: String,
    token_arn: String,
}

async fn outputs(ctx: &Ctx) -> anyhow::Result<Option<Outputs>> {
    let all = ctx.terraform("platform", Stage::Secrets).outputs().await?;
    let get = |name: &str| all[name]["value"].as_str().map(str::to_owned);
    Ok(
        match (
            get("webhook_url"),
            get("webhook_secret_arn"),
            get("vcs_token_arn"),
        ) {
            (Some(url), Some(secret_arn), Some(token_arn)) => Some(Outputs {
                url,
                secret_arn,
                token_arn,
            }),
            _ => None,
        },
    )
}

/// A secret's current value and version; `None` when it has none yet.
async fn current(ctx: &Ctx, arn: &str) -> anyhow::Result<Option<(SecretString, String)>> {
    match ctx.secrets.get_secret_value().secret_id(arn).send().await {
        Ok(v) => Ok(v.secret_string().map(|s| {
            (
                SecretString::from(s.to_owned()),
                v.version_id().unwrap_or_default().to_owned(),
            )
        })),
        Err(e) => match aws_sdk_secretsmanager::Error::from(e) {
            aws_sdk_secretsmanager::Error::ResourceNotFoundException(_) => Ok(None),
            other => {
                Err(anyhow::Error::from(other).context(format!("cannot read the secret {arn}")))
            }
        },
    }
}

/// Puts `value` as the secret's current version; returns the version id.
async fn put(ctx: &Ctx, arn: &str, value: &SecretString) -> anyhow::Result<String> {
    let out = ctx
        .secrets
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value.expose_secret())
        .send()
        .await
        .map_err(aws_sdk_secretsmanager::Error::from)
        .with_context(|| format!("cannot put a value into the secret {arn}"))?;
    Ok(out.version_id().unwrap_or_default().to_owned())
}

fn read_secret_file(path: &std::path::Path, what: &str) -> anyhow::Result<SecretString> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        bail!("{} is empty: write the {what} into it", path.display());
    }
    Ok(SecretString::from(value.to_owned()))
}

/// The VCS token given: `--vcs-token-file`, else `LANDFALL_VCS_TOKEN`.
fn given_token(ctx: &Ctx) -> anyhow::Result<Option<SecretString>> {
    Ok(match &ctx.opts.vcs_token_file {
        Some(p) => Some(read_secret_file(p, "VCS token")?),
        None => ctx.opts.vcs_token_env.clone(),
    })
}

/// The token that manages the webhook: `--hook-token-file`, read only for that and never
/// stored, else the VCS token `token`.
fn hook_token(ctx: &Ctx, token: SecretString) -> anyhow::Result<SecretString> {
    match &ctx.opts.hook_token_file {
        Some(p) => read_secret_file(p, "webhook-managing token"),
        None => Ok(token),
    }
}

/// A new webhook secret: 32 bytes from the system's CSPRNG, hex (Azure DevOps: `landfall:` and
/// that, its basic-auth user and password).
pub fn generate_secret(provider: Provider) -> anyhow::Result<SecretString> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
    let hex = hex::encode(bytes);
    Ok(SecretString::from(if provider == Provider::AzureDevops {
        format!("landfall:{hex}")
    } else {
        hex
    }))
}

/// Puts the webhook secret and the VCS token into the platform's secrets.
pub async fn secrets(ctx: &Ctx, state: &mut RunState, dry: bool) -> anyhow::Result<Outcome> {
    let Some(out) = (if ctx.stage_dir("platform").join(".terraform").is_dir() {
        outputs(ctx).await?
    } else {
        None
    }) else {
        return Ok(if dry {
            Outcome::Changed("put the webhook secret and the VCS token into Secrets Manager".into())
        } else {
            Outcome::Left("the platform has no webhook_url / secret ARN outputs yet".into())
        });
    };
    state.webhook_url = Some(out.url.clone());
    let mut done = Vec::new();
    let mut left = None;
    // The webhook secret: the given one, else the one already there, else a new one.
    let given = ctx
        .opts
        .webhook_secret_file
        .as_deref()
        .map(|p| read_secret_file(p, "webhook secret"))
        .transpose()?;
    let have = current(ctx, &out.secret_arn).await?;
    let secret = match (given, have) {
        (Some(g), Some((h, v))) if g.expose_secret() == h.expose_secret() => (h, v),
        (None, Some(have)) => have,
        (given, _) => {
            if dry {
                done.push("put the webhook secret");
                (SecretString::from(String::new()), String::new())
            } else {
                let value = match given {
                    Some(g) => g,
                    None => generate_secret(ctx.provider)?,
                };
                let version = put(ctx, &out.secret_arn, &value).await?;
                done.push("put the webhook secret");
                (value, version)
            }
        }
    };
    state.secret = Some(secret);
    // The VCS token: from the file or LANDFALL_VCS_TOKEN, else the one already there.
    let given = given_token(ctx)?;
    let have = current(ctx, &out.token_arn).await?;
    match (given, have) {
        (Some(g), Some((h, _))) if g.expose_secret() == h.expose_secret() => state.token = Some(h),
        (None, Some((h, _))) => state.token = Some(h),
        (Some(g), _) => {
            if !dry {
                put(ctx, &out.token_arn, &g).await?;
            }
            done.push("put the VCS token");
            state.token = Some(g);
        }
        (None, None) => {
            left = Some(
                "no VCS token: pass --vcs-token-file FILE or set LANDFALL_VCS_TOKEN".to_owned(),
            );
        }
    }
    Ok(match (done.is_empty(), left) {
        (_, Some(l)) => Outcome::Left(l),
        (true, None) => Outcome::Unchanged("webhook secret and VCS token set".into()),
        (false, None) => Outcome::Changed(done.join(", ")),
    })
}

/// What was registered last time.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct Marker {
    url: String,
    scope: HookScope,
    secret_version: String,
}

/// The marker `landfall up` wrote, `None` when there is none (or one of an older format).
fn read_marker(ctx: &Ctx) -> Option<Marker> {
    fs::read(ctx.work_dir().join(MARKER))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// `--repo` or `--org`.
fn given_scope(ctx: &Ctx) -> Option<HookScope> {
    match (&ctx.opts.hook_repo, &ctx.opts.hook_org) {
        (Some(r), _) => Some(HookScope::Repo(r.clone())),
        (None, Some(o)) => Some(HookScope::Org(o.clone())),
        (None, None) => None,
    }
}

/// Registers the webhook on the VCS host (or updates the one there for the same URL).
pub async fn webhook(ctx: &Ctx, state: &mut RunState, dry: bool) -> anyhow::Result<Outcome> {
    let Some(scope) = given_scope(ctx) else {
        return Ok(Outcome::Left(
            "not registered: pass --repo OWNER/NAME (or --org ORG) to register it, or add it on the host by hand with the URL and secret".into(),
        ));
    };
    if dry {
        return Ok(Outcome::Changed(format!(
            "create or update the {} hook of {scope:?}",
            ctx.provider
        )));
    }
    let (Some(url), Some((secret, version)), Some(token)) = (
        state.webhook_url.clone(),
        state.secret.clone(),
        state.token.clone(),
    ) else {
        return Ok(Outcome::Left("the secrets stage is not done".into()));
    };
    let marker_path = ctx.work_dir().join(MARKER);
    let marker = Marker {
        url: url.clone(),
        scope: scope.clone(),
        secret_version: version,
    };
    let old = read_marker(ctx);
    let token = hook_token(ctx, token)?;
    let client = HookClient::new(ctx.provider, ctx.vcs_url.as_deref(), &token)?;
    let spec = HookSpec {
        url: url.clone(),
        secret,
        secret_changed: old.as_ref() != Some(&marker),
    };
    let changes = client
        .ensure(&scope, &spec)
        .await
        .context("cannot register the webhook on the VCS host")?;
    let any_written = changes
        .iter()
        .any(|c| !matches!(c, HookChange::Unchanged(_)));
    let write_marker = || -> anyhow::Result<()> {
        fs::create_dir_all(ctx.work_dir())?;
        fs::write(&marker_path, serde_json::to_vec_pretty(&marker)?)?;
        Ok(())
    };
    let what: Vec<String> = changes
        .iter()
        .map(|c| match c {
            HookChange::Created(id) => format!("created hook {id}"),
            HookChange::Updated(id) => format!("updated hook {id}"),
            HookChange::Unchanged(id) => format!("hook {id} up to date"),
        })
        .collect();
    let mut note = what.join(", ");
    if any_written {
        let first = changes.first().map(HookChange::id).unwrap_or_default();
        let confirmed = client.confirm(&scope, first, &spec).await?;
        let refused = matches!(confirmed, Confirmation::Failed { .. });
        note = format!("{note}; {}", confirmation(confirmed));
        if refused {
            // Not recorded as done: the next run updates the hook and asks the host again
            // (running functions read the secret when they start, so a new one can take until
            // they are replaced).
            return Ok(Outcome::Left(format!(
                "{note}; run `landfall up` again to register and test the hook again"
            )));
        }
        write_marker()?;
        return Ok(Outcome::Changed(note));
    }
    write_marker()?;
    Ok(Outcome::Unchanged(note))
}

/// What `landfall up` says of the host's confirmation: a failure names the function's status
/// and what it points at (a wrong secret, a wrong URL).
fn confirmation(confirmed: Confirmation) -> String {
    match confirmed {
        Confirmation::Delivered(Some(code)) => {
            format!("the host reached the function (HTTP {code})")
        }
        Confirmation::Delivered(None) => "the host reached the function (HTTP 2xx)".to_owned(),
        Confirmation::Failed {
            status: Some(code),
            reason,
        } => {
            let hint = match code {
                401 | 403 => {
                    ": the function refused the host's signature or credentials: the webhook secret it has is not the one registered"
                }
                404 => ": check the function's URL",
                _ => "",
            };
            format!("the host's test delivery got HTTP {code} from the function ({reason}){hint}")
        }
        Confirmation::Failed {
            status: None,
            reason,
        } => format!("the host's test delivery failed: {reason}"),
        Confirmation::Unknown => "the host gives no delivery status: open a PR to check".to_owned(),
    }
}

/// `landfall down`, before the platform goes: deletes the hook `landfall up` registered (the
/// URL and scope it recorded, or `--repo`/`--org` and the platform's URL), with the token given
/// or the one in Secrets Manager. Says what it did; nothing to remove is not an error.
pub async fn remove_webhook(ctx: &Ctx) -> anyhow::Result<String> {
    let marker = read_marker(ctx);
    let Some(scope) = given_scope(ctx).or_else(|| marker.as_ref().map(|m| m.scope.clone())) else {
        return Ok(
            "no webhook registered by `landfall up` here (pass --repo or --org to remove one)"
                .to_owned(),
        );
    };
    let out = outputs(ctx).await?;
    let Some(url) = marker
        .map(|m| m.url)
        .or_else(|| out.as_ref().map(|o| o.url.clone()))
    else {
        bail!("the platform has no webhook_url output: cannot tell which hook to remove");
    };
    let given = match &ctx.opts.hook_token_file {
        Some(p) => Some(read_secret_file(p, "webhook-managing token")?),
        None => given_token(ctx)?,
    };
    let token = match (given, &out) {
        (Some(token), _) => token,
        (None, Some(o)) => current(ctx, &o.token_arn)
            .await?
            .map(|(t, _)| t)
            .with_context(
                || "no VCS token: pass --vcs-token-file FILE or set LANDFALL_VCS_TOKEN",
            )?,
        (None, None) => bail!("no VCS token: pass --vcs-token-file FILE or set LANDFALL_VCS_TOKEN"),
    };
    let client = HookClient::new(ctx.provider, ctx.vcs_url.as_deref(), &token)?;
    let removed = client
        .remove(&scope, &url)
        .await
        .context("cannot remove the webhook from the VCS host")?;
    let _ = fs::remove_file(ctx.work_dir().join(MARKER));
    Ok(if removed.is_empty() {
        format!(
            "no {} hook for {url} on {scope:?}: nothing to remove",
            ctx.provider
        )
    } else {
        format!(
            "removed the {} hook {} for {url}",
            ctx.provider,
            removed.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_32_random_bytes_and_basic_auth_for_azure_devops() {
        let a = generate_secret(Provider::Github).unwrap();
        let b = generate_secret(Provider::Github).unwrap();
        assert_eq!(a.expose_secret().len(), 64);
        assert_ne!(a.expose_secret(), b.expose_secret());
        let azure = generate_secret(Provider::AzureDevops).unwrap();
        let (user, password) = azure.expose_secret().split_once(':').unwrap();
        assert_eq!((user, password.len()), ("landfall", 64));
    }
}
