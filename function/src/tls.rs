//! One TLS implementation for every client in the function and the runner: rustls with ring.
//! reqwest and kube take rustls' process-wide default provider; every reqwest and kube client is
//! built through this module, which installs it first.
//!
//! Every reqwest client also shares one certificate verifier, with the system's roots. Left to
//! itself, reqwest reads and parses the whole system store (147 files on Debian) for each client
//! it builds, and a Lambda instance builds several on its first invocation.

use std::sync::{Arc, OnceLock};

#[cfg(feature = "function")]
use anyhow::Context as _;
use rustls::ClientConfig;
use rustls_platform_verifier::Verifier;

/// A reqwest client builder, with the provider in place and the shared verifier.
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    install_provider();
    let builder = reqwest::Client::builder();
    match shared_client_config() {
        Some(config) => builder.tls_backend_preconfigured(config.clone()),
        // No system roots: reqwest's own set-up then fails with the same error, at `build`.
        None => builder,
    }
}

/// What reqwest would configure for an HTTP/1.1 client (rustls' default protocol versions, SNI,
/// no client certificate), around a verifier with the system's roots. Built once per process;
/// `None` when no roots can be read. The provider must be installed first.
fn shared_client_config() -> Option<&'static ClientConfig> {
    static CONFIG: OnceLock<Option<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = rustls::crypto::CryptoProvider::get_default()?.clone();
            let verifier = Verifier::new(Arc::clone(&provider)).ok()?;
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(config)
        })
        .as_ref()
}

#[cfg(feature = "function")]
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

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;

    use rustls::ServerConfig;
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    use super::*;

    const CERT: &str = include_str!("../tests/vcs_fixtures/tls-untrusted-localhost.cert.pem");
    const KEY: &str = include_str!("../tests/vcs_fixtures/tls-untrusted-localhost.key.pem");

    #[test]
    fn every_client_shares_one_verifier_and_asks_for_http_1_1() {
        install_provider();
        let config = shared_client_config().expect("this machine has system roots");
        assert!(std::ptr::eq(config, shared_client_config().unwrap()));
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(config.enable_sni);
    }

    /// What a TLS server on loopback saw of one client: the SNI name and the ALPN protocol.
    fn serve_once(
        listener: TcpListener,
    ) -> std::thread::JoinHandle<(Option<String>, Option<Vec<u8>>)> {
        let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 1024];
            if stream.read(&mut buf).is_ok() {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
            let conn = &stream.conn;
            (
                conn.server_name().map(str::to_owned),
                conn.alpn_protocol().map(<[u8]>::to_vec),
            )
        })
    }

    #[tokio::test]
    async fn a_certificate_the_system_does_not_trust_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_once(listener);
        let client = reqwest_builder().build().unwrap();
        let err = client
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .expect_err("a self-signed certificate must not be accepted");
        let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        assert!(chain.contains("certificate"), "{chain}");
        let (sni, alpn) = server.join().unwrap();
        assert_eq!(sni.as_deref(), Some("localhost"));
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    }
}
