//! The web pages of a host, from its API base URL (`LANDFALL_VCS_URL`, else the public
//! service's): where a status's link and "locked by #N" send a reader.

use super::http::segment;
use crate::event::{Provider, PullRequestNumber, RepoName};

/// The web page of pull request `pr` of `repo`, as each host routes it:
///
/// | host | page |
/// |---|---|
/// | GitHub | `{web}/{owner}/{repo}/pull/{n}` |
/// | GitLab | `{web}/{group/project}/-/merge_requests/{n}` |
/// | Gitea | `{web}/{owner}/{repo}/pulls/{n}` |
/// | Bitbucket Cloud | `https://bitbucket.org/{workspace}/{slug}/pull-requests/{n}` |
/// | Bitbucket Server | `{base}/projects/{KEY}/repos/{slug}/pull-requests/{n}` |
/// | Azure DevOps | `{organization}/{project}/_git/{repo}/pullrequest/{n}` |
///
/// `{web}` is the API base without its API path (`/api/v3`, `/api/v4`, `/api/v1`); GitHub's
/// public API (`api.github.com`) is `github.com`.
#[must_use]
pub fn pull_request_url(
    provider: Provider,
    api_url: Option<&str>,
    repo: &RepoName,
    pr: PullRequestNumber,
) -> String {
    let api = api_url
        .or_else(|| crate::config::default_vcs_url(provider))
        .unwrap_or_default()
        .trim_end_matches('/');
    let web = web_base(provider, api);
    let (owner, name) = repo
        .as_str()
        .rsplit_once('/')
        .unwrap_or(("", repo.as_str()));
    match provider {
        Provider::Github => format!("{web}/{repo}/pull/{pr}"),
        Provider::Gitlab => format!("{web}/{repo}/-/merge_requests/{pr}"),
        Provider::Gitea => format!("{web}/{repo}/pulls/{pr}"),
        Provider::BitbucketCloud => format!("https://bitbucket.org/{repo}/pull-requests/{pr}"),
        Provider::BitbucketServer => format!(
            "{web}/projects/{}/repos/{}/pull-requests/{pr}",
            segment(owner),
            segment(name)
        ),
        Provider::AzureDevops => format!(
            "{web}/{}/_git/{}/pullrequest/{pr}",
            segment(owner),
            segment(name)
        ),
    }
}

/// The site's host name for an API host: GitHub's and Bitbucket Cloud's APIs are served from
/// `api.` before the site's name (`api.github.com`, `api.bitbucket.org`, GitHub Enterprise
/// Cloud's `api.acme.ghe.com`); other hosts serve both from one name.
#[must_use]
pub fn site_host(provider: Provider, host: &str) -> &str {
    match provider {
        Provider::Github | Provider::BitbucketCloud => host
            .strip_prefix("api.")
            .filter(|site| site.contains('.'))
            .unwrap_or(host),
        _ => host,
    }
}

/// The host name the operator's policy names repositories by (`github.com`,
/// `gitlab.example.com`), from the VCS API base URL; the provider's name without one.
#[must_use]
pub fn policy_host(provider: Provider, vcs_url: Option<&str>) -> String {
    let host = url::Url::parse(vcs_url.unwrap_or_default())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if host.is_empty() {
        return provider.as_str().to_owned();
    }
    site_host(provider, &host).to_owned()
}

/// The host's web address from its API base URL.
fn web_base(provider: Provider, api: &str) -> String {
    let suffix = match provider {
        Provider::Github => "/api/v3",
        Provider::Gitlab => "/api/v4",
        Provider::Gitea => "/api/v1",
        Provider::BitbucketCloud | Provider::BitbucketServer | Provider::AzureDevops => "",
    };
    if let Some(web) = api.strip_suffix(suffix).filter(|_| !suffix.is_empty()) {
        return web.to_owned();
    }
    // `https://api.github.com`, `https://api.acme.ghe.com`: the site is the name after `api.`.
    if provider == Provider::Github
        && let Some((scheme, rest)) = api.split_once("://")
    {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let site = site_host(provider, host);
        if site != host {
            let path = if path.is_empty() {
                String::new()
            } else {
                format!("/{path}")
            };
            return format!("{scheme}://{site}{path}");
        }
    }
    api.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(provider: Provider, api: Option<&str>, repo: &str) -> String {
        pull_request_url(provider, api, &RepoName::new(repo), PullRequestNumber(7))
    }

    #[test]
    fn each_host_links_its_own_pull_request_page() {
        use Provider as P;
        let cases = [
            (
                P::Github,
                None,
                "acme/infra",
                "https://github.com/acme/infra/pull/7",
            ),
            (
                P::Github,
                Some("https://ghe.example.com/api/v3"),
                "acme/infra",
                "https://ghe.example.com/acme/infra/pull/7",
            ),
            (
                P::Github,
                Some("https://api.acme.ghe.com"),
                "acme/infra",
                "https://acme.ghe.com/acme/infra/pull/7",
            ),
            (
                P::Gitlab,
                None,
                "acme/platform/infra",
                "https://gitlab.com/acme/platform/infra/-/merge_requests/7",
            ),
            (
                P::Gitlab,
                Some("https://git.example.com/gitlab/api/v4"),
                "acme/infra",
                "https://git.example.com/gitlab/acme/infra/-/merge_requests/7",
            ),
            (
                P::Gitea,
                None,
                "acme/infra",
                "https://gitea.com/acme/infra/pulls/7",
            ),
            (
                P::Gitea,
                Some("https://git.example.com:3000/api/v1"),
                "acme/infra",
                "https://git.example.com:3000/acme/infra/pulls/7",
            ),
            (
                P::BitbucketCloud,
                None,
                "acme/infra",
                "https://bitbucket.org/acme/infra/pull-requests/7",
            ),
            (
                P::BitbucketServer,
                Some("https://bitbucket.example.com/"),
                "PLAT/infra",
                "https://bitbucket.example.com/projects/PLAT/repos/infra/pull-requests/7",
            ),
            (
                P::AzureDevops,
                Some("https://dev.azure.com/acme"),
                "Platform Team/infra",
                "https://dev.azure.com/acme/Platform%20Team/_git/infra/pullrequest/7",
            ),
        ];
        for (provider, api, repo, page) in cases {
            assert_eq!(url(provider, api, repo), page, "{provider:?}");
        }
    }
}
