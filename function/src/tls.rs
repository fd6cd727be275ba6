//! One TLS implementation for every client in the function and the runner: rustls with ring.
//! reqwest and kube take rustls' process-wide default provider; every reqwest and kube client is
//! built through this module, which installs it first.

use anyhow::Context as _;

/// A reqwest client builder, with the provider in place.
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    install_provider();
    reqwest::Client::builder()
}

/// A Kubernetes client for `config`, with the provider in place.
///
/// # Errors
///
/// When kube cannot build its TLS or authentication layers from `config`.
pub fn kube_client(config: kube::Config) -> anyhow::Result<kube::Client> {
    install_provider();
    kube::Client::try_from(config).context("cannot build the Kubernetes client")
}

/// Installs ring as rustls' default provider, unless one is installed already.
fn install_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Only fails when another thread installed one in between, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
