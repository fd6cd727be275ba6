//! Tree archives from a host's API: the `.tar.gz` read while it downloads, and a redirect to
//! where the host stores archives followed without the credentials.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use super::super::VcsError;
use super::super::archive::{self, ArchiveLimits};
use super::super::tree::TreeFilter;
use super::{Idempotency, RawResponse, Rest, check, read_response, retry, send_request};

impl Rest {
    /// The files `wanted` accepts from the `.tar.gz` archive at `path` (GET with the
    /// credentials, retried per the policy), read while it downloads. A redirect (storage
    /// that serves archives directly) is followed by a client that sends no credentials,
    /// whichever host it leads to.
    ///
    /// # Errors
    ///
    /// When the host refuses or the archive cannot be used ([`VcsError::Archive`]).
    pub async fn get_archive(
        &self,
        path: &str,
        what: &str,
        wanted: &TreeFilter,
    ) -> Result<BTreeMap<String, Vec<u8>>, VcsError> {
        let url = self.url(path)?;
        let (clients, limits) = (&self.clients, self.archive_limits);
        // The final 2xx response, kept unread so that its body streams into the reader.
        let streaming = Mutex::new(None);
        let head = retry::with_retries(&clients.policy, Idempotency::Idempotent, what, || {
            let req = self.authorize(
                clients
                    .archive
                    .get(url.clone())
                    .header(http::header::ACCEPT, clients.accept_archive),
            );
            let streaming = &streaming;
            async move {
                let response = send_request(req).await?;
                if !response.status().is_success() {
                    return read_response(response).await;
                }
                let head = RawResponse {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: Bytes::new(),
                };
                *streaming.lock().unwrap_or_else(PoisonError::into_inner) = Some(response);
                Ok(head)
            }
        })
        .await?;
        let streaming = streaming
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(response) = streaming.filter(|_| head.status.is_success()) {
            return read_archive(response, what, wanted, limits).await;
        }
        let location = head
            .status
            .is_redirection()
            .then(|| head.header("location"))
            .flatten()
            .and_then(|l| url.join(l).ok());
        let Some(location) = location else {
            // Neither an archive nor a redirect: `check` says why.
            let head = check(head, what)?;
            return Err(VcsError::Status {
                what: what.to_owned(),
                status: head.status.as_u16(),
                message: "no archive in the response".into(),
            });
        };
        // The URL carries its own short-lived credentials, if any; the host's are never sent.
        let response = clients
            .download
            .get(location)
            .header(http::header::ACCEPT, "*/*")
            .send()
            .await
            .map_err(|e| VcsError::Transport {
                what: what.to_owned(),
                source: Box::new(e),
            })?;
        read_archive(response, what, wanted, limits).await
    }
}

/// The files `wanted` accepts from the `.tar.gz` body of `response`, read while it downloads
/// ([`archive::download`]), within `limits`.
///
/// # Errors
///
/// [`VcsError::Status`] when `response` is not a success, [`VcsError::Archive`] when the
/// archive cannot be used.
async fn read_archive(
    response: reqwest::Response,
    what: &str,
    wanted: &TreeFilter,
    limits: ArchiveLimits,
) -> Result<BTreeMap<String, Vec<u8>>, VcsError> {
    let archive_error = |source| VcsError::Archive {
        what: what.to_owned(),
        source,
    };
    if !response.status().is_success() {
        return Err(VcsError::Status {
            what: what.to_owned(),
            status: response.status().as_u16(),
            message: "the archive download was refused".into(),
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > limits.compressed)
    {
        return Err(archive_error(archive::ArchiveError::TooLarge {
            what: "compressed bytes",
            limit: limits.compressed,
        }));
    }
    archive::download(response, wanted.clone(), limits)
        .await
        .map_err(archive_error)
}
