//! The one loop every adapter pages with. Hosts differ only in their cursor and where the next
//! one comes from: GitHub and Gitea a `Link: rel="next"` URL, GitLab `X-Next-Page`, Bitbucket
//! Cloud the body's `next` URL, Bitbucket Server `isLastPage` + `nextPageStart`, Azure DevOps
//! `nextSkip` + `nextTop`, Gitea's tree listing a page number while `truncated`. Each adapter
//! says how to fetch one page; [`collect`] walks them.

use std::future::Future;

use super::Result;

/// Every item of a paged list: `fetch` reads the page at `cursor` and gives its items and the
/// next page's cursor, `None` after the last page. Pages are read one after another, from
/// `first`, and their items kept in order.
///
/// # Errors
///
/// The first page's error; nothing read before it is returned.
pub(crate) async fn collect<C, T, F, Fut>(first: C, mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(C) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<C>)>>,
{
    let mut out = Vec::new();
    let mut next = Some(first);
    while let Some(cursor) = next {
        let (mut items, following) = fetch(cursor).await?;
        out.append(&mut items);
        next = following;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::VcsError;

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
}
