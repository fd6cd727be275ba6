//! A GitHub App's credentials: its private key, the JWTs it signs ([`AppKey`]) to act as the
//! App itself, and the installation tokens it exchanges them for
//! (`POST /app/installations/{id}/access_tokens`), cached per installation and replaced
//! before they expire. An installation is the configured one, else found per repository
//! (from a delivery's `installation.id`, or `GET /repos/{o}/{r}/installation`) or per
//! organisation (`GET /orgs/{org}/installation`, for team membership).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;

use super::super::app_jwt::AppKey;
use super::super::http::{Auth, IdJson, Idempotency, Rest, check, segment};
use super::super::{Result, VcsError, owner_and_name};
use super::ACCEPT_JSON;
use crate::event::RepoName;

/// Whose installation token a call needs: a repository's, or an organisation's for team
/// membership, which names no repository.
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    Repo(&'a RepoName),
    Org(&'a str),
}

/// A GitHub App and what it has learnt: installations and their current tokens.
#[derive(Debug)]
pub(super) struct AppAuth {
    id: u64,
    key: AppKey,
    /// The configured installation; `None`: per repository, from the webhook or the API.
    installation: Option<u64>,
    /// Repository → installation, learnt from deliveries or `GET /repos/{o}/{r}/installation`.
    by_repo: Mutex<HashMap<String, u64>>,
    /// Organisation → installation, from `GET /orgs/{org}/installation` (team membership).
    by_org: Mutex<HashMap<String, u64>>,
    /// Installation → its current token.
    tokens: Mutex<HashMap<u64, InstallationToken>>,
}

#[derive(Debug, Clone)]
struct InstallationToken {
    token: SecretString,
    expires_at: SystemTime,
}

#[derive(Deserialize)]
struct AccessTokenJson {
    token: String,
    expires_at: String,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A GitHub App private key from its PEM (PKCS#1 `RSA PRIVATE KEY`, as GitHub hands it out, or
/// PKCS#8). A PEM pasted into one line with literal `\n`s is accepted too.
///
/// # Errors
///
/// [`VcsError::Config`] when it is not an RSA private key in PEM.
pub fn app_key(pem: &[u8]) -> Result<AppKey> {
    let text = String::from_utf8_lossy(pem);
    let text = if text.contains("\\n") && !text.trim().contains('\n') {
        text.replace("\\n", "\n")
    } else {
        text.into_owned()
    };
    AppKey::from_pem(text.trim()).map_err(|e| VcsError::Config {
        message: format!(
            "the GitHub App private key is not an RSA private key in PEM \
             (-----BEGIN RSA PRIVATE KEY-----, as GitHub downloads it): {e}"
        ),
    })
}

impl AppAuth {
    pub(super) fn new(id: u64, key: AppKey, installation: Option<u64>) -> Self {
        AppAuth {
            id,
            key,
            installation,
            by_repo: Mutex::new(HashMap::new()),
            by_org: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Records the installation a delivery for `repo` came from.
    pub(super) fn remember(&self, repo: &RepoName, installation: u64) {
        locked(&self.by_repo).insert(repo.as_str().to_owned(), installation);
    }

    /// `rest` authenticated as the App itself, with a JWT made now.
    fn as_app(&self, rest: &Rest) -> Result<Rest> {
        let jwt = self
            .key
            .jwt(self.id, SystemTime::now())
            .map_err(|message| VcsError::Config { message })?;
        Ok(rest.with_auth(Auth::Bearer(jwt)))
    }

    /// The installation whose token a call in `scope` needs.
    pub(super) async fn installation_for(&self, rest: &Rest, scope: Scope<'_>) -> Result<u64> {
        if let Some(id) = self.installation {
            return Ok(id);
        }
        let repo = match scope {
            Scope::Repo(repo) => repo,
            Scope::Org(org) => return self.org_installation(rest, org).await,
        };
        if let Some(id) = locked(&self.by_repo).get(repo.as_str()) {
            return Ok(*id);
        }
        let (o, r) = owner_and_name(repo)?;
        let what = format!("find the GitHub App installation for {repo}");
        let found: IdJson = self
            .as_app(rest)?
            .get(&format!("/repos/{o}/{r}/installation"), &what)
            .await?;
        self.remember(repo, found.id);
        Ok(found.id)
    }

    /// The installation on organisation `org`: an App is installed per account, so any
    /// repository of `org` remembered from a delivery names it; else
    /// `GET /orgs/{org}/installation`, remembered.
    async fn org_installation(&self, rest: &Rest, org: &str) -> Result<u64> {
        let owner_of = |name: &str| name.split_once('/').map(|(owner, _)| owner.to_lowercase());
        let key = org.to_lowercase();
        let remembered = locked(&self.by_repo)
            .iter()
            .find(|(name, _)| owner_of(name).as_deref() == Some(key.as_str()))
            .map(|(_, id)| *id)
            .or_else(|| locked(&self.by_org).get(&key).copied());
        if let Some(id) = remembered {
            return Ok(id);
        }
        let what = format!("find the GitHub App installation on the organisation {org}");
        let found: IdJson = self
            .as_app(rest)?
            .get(&format!("/orgs/{}/installation", segment(org)), &what)
            .await?;
        locked(&self.by_org).insert(key, found.id);
        Ok(found.id)
    }

    /// A token for installation `id` valid for at least `valid_for`: the cached one, else one
    /// minted now and cached.
    pub(super) async fn token(
        &self,
        rest: &Rest,
        id: u64,
        valid_for: Duration,
    ) -> Result<SecretString> {
        let fresh_until = SystemTime::now() + valid_for;
        if let Some(cached) = locked(&self.tokens).get(&id)
            && cached.expires_at > fresh_until
        {
            return Ok(cached.token.clone());
        }
        let minted = self.mint(rest, id, None).await?;
        let token = minted.token.clone();
        locked(&self.tokens).insert(id, minted);
        Ok(token)
    }

    /// A token of installation `id` for repository `name` (its name without the owner) alone,
    /// with only `permissions` (GitHub's `repositories` and `permissions` of the request): what
    /// a runner's clone and its Terraform's private modules get. Minted every time, never
    /// cached beside the installation's own token.
    pub(super) async fn scoped_token(
        &self,
        rest: &Rest,
        id: u64,
        name: &str,
        permissions: &[(&str, &str)],
    ) -> Result<SecretString> {
        let permissions: serde_json::Map<String, serde_json::Value> = permissions
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        let body = serde_json::json!({ "repositories": [name], "permissions": permissions });
        Ok(self.mint(rest, id, Some(&body)).await?.token)
    }

    async fn mint(
        &self,
        rest: &Rest,
        id: u64,
        body: Option<&serde_json::Value>,
    ) -> Result<InstallationToken> {
        let what = format!("mint an access token for GitHub App installation {id}");
        let url = rest.url(&format!("/app/installations/{id}/access_tokens"))?;
        // Minting twice only makes a second token: safe to retry.
        let reply = self
            .as_app(rest)?
            .send(
                Method::POST,
                url,
                body,
                ACCEPT_JSON,
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        let json: AccessTokenJson = check(reply, &what)?.json(&what)?;
        let expires_at = aws_smithy_types::DateTime::from_str(
            &json.expires_at,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| VcsError::Status {
            what: what.clone(),
            status: 201,
            message: format!("expires_at {:?} is not an RFC 3339 time", json.expires_at),
        })?;
        Ok(InstallationToken {
            token: SecretString::from(json.token),
            expires_at,
        })
    }

    /// Drops installation `id`'s cached token (GitHub no longer accepts it).
    pub(super) fn forget_token(&self, id: u64) {
        locked(&self.tokens).remove(&id);
    }
}
