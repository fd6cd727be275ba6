//! A call made with a repository's credentials: what the shared calls of every host (a
//! branch's deletion, the repository's facts, tracking issues) ask of an adapter. Every
//! [`Host`](super::host::Host) gives it.

use std::future::Future;

use super::Result;
use super::http::Rest;
use crate::event::RepoName;

/// A call made with a client: what [`Host::with_rest`] runs with the credentials a repository
/// needs (a closure `|rest: Rest| async move { ... }`).
pub(crate) trait RestCall<T>: Send + Sync {
    /// The call's future.
    type Reply: Future<Output = Result<T>> + Send;

    /// Makes the call with `rest`.
    fn call(&self, rest: Rest) -> Self::Reply;
}

impl<T, F, Fut> RestCall<T> for F
where
    F: Fn(Rest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<T>> + Send,
{
    type Reply = Fut;

    fn call(&self, rest: Rest) -> Fut {
        self(rest)
    }
}

/// A client with the credentials a repository needs.
pub(crate) trait WithRest: Send + Sync {
    /// Runs `call` with the client carrying the credentials for `repo`.
    fn rest_for<T: Send>(
        &self,
        repo: &RepoName,
        call: impl RestCall<T>,
    ) -> impl Future<Output = Result<T>> + Send;
}
