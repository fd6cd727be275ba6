//! One TLS implementation for every client in the function and the runner: rustls with ring.
//! reqwest and kube take rustls' process-wide default provider, installed here before a client is
//! built.

/// Installs ring as rustls' default provider, unless one is installed already.
pub fn install_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Only fails when another thread installed one in between, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
