//! Who may run commands: the identity's descriptor from the identity service, then the Git
//! Repositories namespace's access control list for the repository, read as [`Access`].

use std::collections::HashMap;
use std::sync::PoisonError;

use serde::Deserialize;

use super::wire::{ListJson, RepoRefJson};
use super::{API_VERSION, AzureDevopsClient};
use crate::event::RepoName;
use crate::vcs::host::Host as _;
use crate::vcs::http::segment;
use crate::vcs::{Access, Actor, Result, VcsError};

/// The Git Repositories security namespace.
pub const GIT_REPOSITORIES_NAMESPACE: &str = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87";

/// Git Repositories permission bits (the namespace's `actions`).
const GENERIC_READ: u32 = 2;
const GENERIC_CONTRIBUTE: u32 = 4;
const MANAGE_PERMISSIONS: u32 = 8192;

/// How many identity descriptors one client remembers (an identity's descriptor never changes).
const DESCRIPTOR_CACHE: usize = 1024;

/// The identity service's base URL for the organisation at `url`.
pub(super) fn identity_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let vssps = if host == "dev.azure.com" {
        Some("vssps.dev.azure.com".to_owned())
    } else if let Some(org) = host.strip_suffix(".visualstudio.com")
        && !org.contains('.')
    {
        Some(format!("{org}.vssps.visualstudio.com"))
    } else {
        None
    };
    match vssps {
        Some(vssps) if parsed.set_host(Some(&vssps)).is_ok() => parsed.to_string(),
        _ => url.to_owned(),
    }
}

/// One entry of the identities API (`Identity`); the descriptor comes as
/// `type;identifier` text, or as the spec's `IdentityDescriptor` object.
#[derive(Deserialize)]
struct IdentityJson {
    id: Option<String>,
    descriptor: Option<DescriptorJson>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DescriptorJson {
    Text(String),
    #[serde(rename_all = "camelCase")]
    Parts {
        identity_type: String,
        identifier: String,
    },
}

impl DescriptorJson {
    fn text(self) -> String {
        match self {
            DescriptorJson::Text(t) => t,
            DescriptorJson::Parts {
                identity_type,
                identifier,
            } => format!("{identity_type};{identifier}"),
        }
    }
}

/// An `AccessControlList`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AclJson {
    token: Option<String>,
    #[serde(default)]
    aces_dictionary: HashMap<String, AceJson>,
}

/// An `AccessControlEntry` with its `extendedInfo` (`AceExtendedInformation`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AceJson {
    descriptor: Option<DescriptorJson>,
    #[serde(default)]
    allow: i64,
    #[serde(default)]
    deny: i64,
    extended_info: Option<ExtendedInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExtendedInfo {
    effective_allow: Option<i64>,
    effective_deny: Option<i64>,
}

impl AceJson {
    /// The permission bits in effect: allowed (directly, by group or inherited) and not denied.
    fn effective(&self) -> u32 {
        let (allow, deny) = match &self.extended_info {
            Some(e) => (
                e.effective_allow.unwrap_or(self.allow),
                e.effective_deny.unwrap_or(self.deny),
            ),
            None => (self.allow, self.deny),
        };
        // The bits fit in 32 (the spec's int32); a negative value is the sign bit set.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bits = |v: i64| v as u32;
        bits(allow) & !bits(deny)
    }
}

/// The Git Repositories permission bits as [`Access`].
fn access(bits: u32) -> Access {
    if bits & MANAGE_PERMISSIONS != 0 {
        Access::Admin
    } else if bits & GENERIC_CONTRIBUTE != 0 {
        Access::Write
    } else if bits & GENERIC_READ != 0 {
        Access::Read
    } else {
        Access::None
    }
}

/// An identity id as the cache keys it: lower case, without dashes.
fn identity_key(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl AzureDevopsClient {
    /// The identity descriptor of the identity `id` (`GET _apis/identities?identityIds=`), which
    /// the security APIs name people by; `None` for an identity the organisation does not know.
    async fn descriptor(&self, id: &str) -> Result<Option<String>> {
        let key = identity_key(id);
        let cached = self
            .descriptors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(descriptor) = cached {
            return Ok(Some(descriptor));
        }
        let what = format!("look up identity {id}");
        // `queryMembership` as the 7.1 description spells its values (`none`, `direct`, ...).
        let found: Result<ListJson<Option<IdentityJson>>> = self
            .identities
            .get(
                &format!(
                    "_apis/identities?identityIds={}&queryMembership=none&api-version={API_VERSION}",
                    segment(id)
                ),
                &what,
            )
            .await;
        let list = match found {
            Err(VcsError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        let descriptor = list
            .value
            .into_iter()
            .flatten()
            .find(|i| i.id.as_deref().map(identity_key).as_ref() == Some(&key))
            .and_then(|i| i.descriptor)
            .map(DescriptorJson::text);
        if let Some(d) = &descriptor {
            let mut cache = self
                .descriptors
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= DESCRIPTOR_CACHE {
                cache.clear();
            }
            cache.insert(key, d.clone());
        }
        Ok(descriptor)
    }

    /// The permission bits of `user` on `repo`, as [`Access`]: see
    /// [`VcsClient::permission`](crate::vcs::VcsClient::permission) for this host.
    pub(super) async fn acl_access(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        let id = user.id.as_deref().ok_or_else(|| VcsError::Config {
            message: format!(
                "Azure DevOps looks permissions up by identity id, and none is known for {}",
                user.login
            ),
        })?;
        let Some(descriptor) = self.descriptor(id).await? else {
            return Ok(Access::None);
        };
        let what = format!("read the ids of {repo}");
        let repository: RepoRefJson = self
            .rest
            .get(
                &format!("{}?api-version={API_VERSION}", Self::repo_path(repo)?),
                &what,
            )
            .await?;
        let (Some(project_id), Some(repo_id)) =
            (repository.project.and_then(|p| p.id), repository.id)
        else {
            return Err(VcsError::Status {
                what,
                status: 200,
                message: "the repository's id or its project's id is missing".to_owned(),
            });
        };
        let token = format!("repoV2/{project_id}/{repo_id}");
        let what = format!("read {}'s permissions on {repo}", user.login);
        let acls: ListJson<AclJson> = self
            .rest
            .get(
                &format!(
                    "_apis/accesscontrollists/{GIT_REPOSITORIES_NAMESPACE}?token={}&descriptors={}&includeExtendedInfo=true&api-version={API_VERSION}",
                    segment(&token),
                    segment(&descriptor)
                ),
                &what,
            )
            .await?;
        let bits = acls
            .value
            .iter()
            .filter(|acl| {
                acl.token
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(&token))
            })
            .flat_map(|acl| &acl.aces_dictionary)
            .filter(|(key, ace)| {
                key.eq_ignore_ascii_case(&descriptor)
                    || matches!(&ace.descriptor, Some(DescriptorJson::Text(d)) if d.eq_ignore_ascii_case(&descriptor))
            })
            .fold(0, |bits, (_, ace)| bits | ace.effective());
        Ok(access(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_bits_map_to_access() {
        assert_eq!(
            access(MANAGE_PERMISSIONS | GENERIC_CONTRIBUTE),
            Access::Admin
        );
        assert_eq!(
            access(GENERIC_CONTRIBUTE | GENERIC_READ | 16),
            Access::Write
        );
        assert_eq!(access(GENERIC_READ), Access::Read);
        assert_eq!(access(1 | 16_384), Access::None);
    }

    #[test]
    fn a_deny_wins_over_an_allow() {
        let ace: AceJson = serde_json::from_value(serde_json::json!({
            "descriptor": "Microsoft.TeamFoundation.Identity;S-1",
            "allow": 0, "deny": 0,
            "extendedInfo": {"effectiveAllow": 16_383, "effectiveDeny": 4}
        }))
        .unwrap();
        assert_eq!(access(ace.effective()), Access::Admin);
        assert_eq!(ace.effective() & GENERIC_CONTRIBUTE, 0);
    }

    #[test]
    fn the_identity_service_is_vssps_on_azure_devops_services_only() {
        assert_eq!(
            identity_url("https://dev.azure.com/acme"),
            "https://vssps.dev.azure.com/acme"
        );
        assert_eq!(
            identity_url("https://acme.visualstudio.com/"),
            "https://acme.vssps.visualstudio.com/"
        );
        assert_eq!(
            identity_url("https://tfs.example.com/DefaultCollection"),
            "https://tfs.example.com/DefaultCollection"
        );
        assert_eq!(
            identity_url("http://127.0.0.1:8080/acme"),
            "http://127.0.0.1:8080/acme"
        );
    }

    #[test]
    fn identity_ids_match_with_or_without_dashes() {
        assert_eq!(
            identity_key("81FA6389-0872-6fdd-a451-7ba7880f566a"),
            identity_key("81fa638908726fdda4517ba7880f566a")
        );
    }
}
