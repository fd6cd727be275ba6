//! `landfall-function webhook inspect`: a debugging aid that reads one delivery (a body plus the
//! headers given with `--header`) and prints the normalised event as one JSON object. It runs the
//! very parsers the handler uses, so it is also how the parsers are checked against real deliveries.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

use crate::event::Provider;
use crate::webhook::{self, Verifier};

/// Arguments of `webhook inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A header of the delivery, as `Name: value` (repeat for each header; names are
    /// case-insensitive).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Verify the delivery with this webhook secret (for Azure DevOps, the basic-auth
    /// `user:password`). Without it, `verified` is null; with it, a delivery that does not
    /// verify is still shown, and the command exits 1.
    #[arg(long, value_name = "SECRET")]
    pub secret: Option<String>,

    /// The host that sent the delivery, when the headers do not say.
    #[arg(long, value_name = "VCS")]
    pub provider: Option<Provider>,

    /// Accept GitHub's legacy SHA-1 signature (`X-Hub-Signature: sha1=...`).
    #[arg(long)]
    pub allow_sha1: bool,

    /// The login comments address the bot by, as `LANDFALL_BOT_USER` sets it: a comment that
    /// @-mentions another login shows as ignored. Without it, every @-mention is ignored, as
    /// the function does with `LANDFALL_BOT_USER` unset.
    #[arg(long, value_name = "LOGIN", value_parser = crate::config::bot_user)]
    pub bot_user: Option<String>,

    /// The delivery's body, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub(super) fn run(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let body = if args.file.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .context("cannot read the delivery from standard input")?;
        body
    } else {
        std::fs::read(&args.file)
            .with_context(|| format!("cannot read the delivery from {}", args.file.display()))?
    };
    let headers = parse_headers(&args.headers)?;
    let (json, verified) = inspect(
        &headers,
        &body,
        args.provider,
        args.secret.as_deref(),
        args.allow_sha1,
        args.bot_user.as_deref(),
    )?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{json}")?;
    if verified == Some(false) {
        eprintln!(
            "landfall-function: the delivery does not verify with this secret: the function \
             would answer 401 and do nothing"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The inspect view of one delivery as JSON text, and whether it verified with `secret` (`None`
/// without one).
pub fn inspect(
    headers: &HeaderMap,
    body: &[u8],
    provider: Option<Provider>,
    secret: Option<&str>,
    allow_sha1: bool,
    bot_user: Option<&str>,
) -> anyhow::Result<(String, Option<bool>)> {
    let Some(provider) = provider.or_else(|| webhook::detect_provider(headers, body)) else {
        bail!(
            "cannot tell which host sent this delivery from its headers: pass --provider, or the host's event header with --header"
        );
    };
    let verified = secret.map(|s| {
        Verifier::new(provider, SecretString::from(s.to_owned()), allow_sha1)
            .verify(headers, body)
            .is_ok()
    });
    let mut event = webhook::parse(provider, headers, body).context("cannot parse the delivery")?;
    event.ignore_unaddressed(|login| crate::config::is_the_bot(bot_user, login));
    // As a deployment with `LANDFALL_ALLOW_DRAFT_PRS` unset sees it.
    event.ignore_draft();
    Ok((serde_json::to_string(&event.view(verified))?, verified))
}

fn parse_headers(lines: &[String]) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("header {line:?} is not `Name: value`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("invalid header name in {line:?}"))?;
        let value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("invalid header value in {line:?}"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_split_at_the_first_colon_and_trimmed() {
        let h = parse_headers(&["X-Event-Key:  pr:opened ".to_owned()]).unwrap();
        assert_eq!(h["x-event-key"], "pr:opened");
        assert!(parse_headers(&["no colon".to_owned()]).is_err());
    }

    #[test]
    fn an_unrecognisable_delivery_asks_for_the_provider() {
        let err = inspect(&HeaderMap::new(), b"{}", None, None, false, None).unwrap_err();
        assert!(err.to_string().contains("--provider"));
    }

    #[test]
    fn verified_is_null_without_a_secret_and_false_with_a_wrong_one() {
        let h = parse_headers(&["X-GitHub-Event: ping".to_owned()]).unwrap();
        let (json, verified) = inspect(&h, b"{}", None, None, false, None).unwrap();
        let unverified: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(unverified["verified"].is_null() && verified.is_none());
        let (json, verified) = inspect(&h, b"{}", None, Some("s"), false, None).unwrap();
        let wrong: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!((&wrong["verified"], verified), (&serde_json::Value::Bool(false), Some(false)));
        assert_eq!(wrong["event"], "ping");
    }
}
