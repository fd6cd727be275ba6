//! The one loop every adapter pages with. Hosts differ only in their cursor and where the next
//! one comes from: GitHub and Gitea a `Link: rel="next"` URL, GitLab `X-Next-Page`, Bitbucket
//! Cloud the body's `next` URL, Bitbucket Server `isLastPage` + `nextPageStart`, Azure DevOps
//! `nextSkip` + `nextTop`, Gitea's tree listing a page number while `truncated`, its reviews a
//! page number until `X-Total-Count` is read. Each adapter
//! says how to fetch one page; [`collect`] walks them. The cursors more than one list of a host
//! follows are read here, as [`Rest`] methods.

use std::future::Future;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::http::{Rest, next_link};
use super::{Result, VcsError};

/// The most pages one list may take. The longest lists are a large repository's tree on a host
/// that pages it (Gitea: 1,000 entries a page) and GitHub's 3,000 changed files (30 pages);
/// a host whose `next` never ends is stopped here instead of paging until the timeout.
pub(crate) const MAX_PAGES: usize = 2_000;

/// Every item of a paged list: `fetch` reads the page at `cursor` and gives its items and the
/// next page's cursor, `None` after the last page. Pages are read one after another, from
/// `first`, and their items kept in order.
///
/// # Errors
///
/// The first page's error; nothing read before it is returned. [`VcsError::Paging`] when a
/// page points back at itself or the list runs past [`MAX_PAGES`].
pub(crate) async fn collect<C, T, F, Fut>(first: C, fetch: F) -> Result<Vec<T>>
where
    C: Clone + PartialEq + std::fmt::Debug,
    F: FnMut(C) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<C>)>>,
{
    collect_at_most(MAX_PAGES, first, fetch).await
}

impl Rest {
    /// Every item of a JSON list whose pages are linked by `Link: rel="next"` (GitHub, Gitea),
    /// from `first`.
    pub async fn pages<T: DeserializeOwned>(&self, first: &str, what: &str) -> Result<Vec<T>> {
        collect(first.to_owned(), |target| async move {
            let r = self
                .get_raw(self.url(&target)?, self.accept_json(), what)
                .await?;
            Ok((r.json(what)?, next_link(&r.headers)))
        })
        .await
    }

    /// Every item of a JSON list whose next page's number is in `X-Next-Page` (GitLab), from
    /// `first`: the same URL with `page` set to it.
    pub async fn pages_numbered<T: DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        collect(self.url(first)?, |mut url| async move {
            let r = self.get_raw(url.clone(), self.accept_json(), what).await?;
            let next = r
                .header("x-next-page")
                .map(str::trim)
                .filter(|p| !p.is_empty());
            let next = next.map(|page| {
                let query: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != "page")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(query)
                    .append_pair("page", page);
                url
            });
            Ok((r.json(what)?, next))
        })
        .await
    }

    /// Every item of the JSON list at `path`, paged by number with no `Link` header, its length
    /// in `X-Total-Count` (Gitea's reviews): pages 1, 2, ... of `limit` items until the total is
    /// read, or, when the host gives none, until a page comes back short.
    pub async fn pages_counted<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: usize,
        what: &str,
    ) -> Result<Vec<T>> {
        let url = self.url(path)?;
        collect((1_usize, 0_usize), |(page, before)| {
            let mut url = url.clone();
            async move {
                url.query_pairs_mut()
                    .append_pair("limit", &limit.to_string())
                    .append_pair("page", &page.to_string());
                let r = self.get_raw(url, self.accept_json(), what).await?;
                let total = r
                    .header("x-total-count")
                    .and_then(|total| total.trim().parse::<usize>().ok());
                let items: Vec<T> = r.json(what)?;
                let read = before + items.len();
                let more = !items.is_empty() && total.map_or(items.len() >= limit, |t| read < t);
                Ok((items, more.then_some((page + 1, read))))
            }
        })
        .await
    }

    /// Every item of the `values` of a list whose body names the next page's URL in `next`
    /// (Bitbucket Cloud), from `first`.
    pub async fn pages_linked<T: DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        collect(first.to_owned(), |target| async move {
            let page: LinkedPage<T> = self.get(&target, what).await?;
            Ok((page.values, page.next))
        })
        .await
    }

    /// Every item of the `values` of a list paged by `start` until `isLastPage` (Bitbucket
    /// Server), from `first`.
    pub async fn pages_from_start<T: DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        let sep = if first.contains('?') { '&' } else { '?' };
        collect(0u64, |start| async move {
            let page: StartPage<T> = self
                .get(&format!("{first}{sep}start={start}"), what)
                .await?;
            let next = page.next_page_start.filter(|_| !page.is_last_page);
            Ok((page.values, next))
        })
        .await
    }
}

/// A page of a Bitbucket Cloud list.
#[derive(Deserialize)]
struct LinkedPage<T> {
    values: Vec<T>,
    next: Option<String>,
}

/// A page of a Bitbucket Server list; a page that does not say it is the last is taken for it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartPage<T> {
    pub values: Vec<T>,
    #[serde(default = "yes")]
    is_last_page: bool,
    next_page_start: Option<u64>,
}

fn yes() -> bool {
    true
}

async fn collect_at_most<C, T, F, Fut>(limit: usize, first: C, mut fetch: F) -> Result<Vec<T>>
where
    C: Clone + PartialEq + std::fmt::Debug,
    F: FnMut(C) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<C>)>>,
{
    let mut out = Vec::new();
    let mut next = Some(first);
    let mut pages = 0;
    while let Some(cursor) = next {
        if pages == limit {
            return Err(VcsError::Paging {
                message: format!("the list did not end after {limit} pages"),
            });
        }
        pages += 1;
        let (mut items, following) = fetch(cursor.clone()).await?;
        out.append(&mut items);
        if following.as_ref() == Some(&cursor) {
            return Err(VcsError::Paging {
                message: format!("page {pages} ({cursor:?}) names itself as the next page"),
            });
        }
        next = following;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_are_read_in_order_until_there_is_no_next_cursor() {
        let mut seen = Vec::new();
        let items = collect(1u32, |page| {
            seen.push(page);
            async move {
                Ok((
                    vec![page * 10, page * 10 + 1],
                    (page < 3).then_some(page + 1),
                ))
            }
        })
        .await
        .unwrap();
        assert_eq!(items, [10, 11, 20, 21, 30, 31]);
        assert_eq!(seen, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_failing_page_fails_the_whole_list() {
        let result = collect(1u32, |page| async move {
            if page == 2 {
                return Err(VcsError::NotFound {
                    what: "page 2".into(),
                });
            }
            Ok((vec![page], Some(page + 1)))
        })
        .await;
        assert!(matches!(result, Err(VcsError::NotFound { .. })));
    }

    #[tokio::test]
    async fn a_page_that_names_itself_as_next_stops_the_list() {
        let result = collect(1u32, |page| async move {
            Ok((vec![page], Some((page + 1).min(2))))
        })
        .await;
        let Err(VcsError::Paging { message }) = result else {
            panic!("expected a paging error, got {result:?}");
        };
        assert!(message.contains("page 2 (2)"), "{message}");
    }

    #[tokio::test]
    async fn a_list_that_never_ends_stops_at_the_limit() {
        let mut calls = 0;
        let result = collect_at_most(5, 0u64, |page| {
            calls += 1;
            async move { Ok((vec![page], Some(page + 1))) }
        })
        .await;
        assert!(matches!(result, Err(VcsError::Paging { .. })), "{result:?}");
        assert_eq!(calls, 5);
        let items = collect_at_most(5, 0u64, |page| async move {
            Ok((vec![page], (page < 4).then_some(page + 1)))
        })
        .await
        .unwrap();
        assert_eq!(items, [0, 1, 2, 3, 4], "exactly the limit is fine");
    }
}
