//! GitHub App authentication: the App's private key and the short-lived JWTs (RS256) it signs,
//! with which the App asks for installation tokens. Signed with ring, the crypto the function's
//! TLS already uses.
//!
//! A JWT is issued 60 s in the past (GitHub's advice against clock drift) and expires 9 minutes
//! after it was made, inside GitHub's 10-minute limit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use secrecy::SecretString;

/// How far back a JWT's `iat` is set.
const BACKDATE: Duration = Duration::from_mins(1);
/// How long a JWT is valid, from the moment it is made.
const LIFETIME: Duration = Duration::from_mins(9);

/// A GitHub App's RSA private key.
pub struct AppKey {
    pair: RsaKeyPair,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(hidden)")
    }
}

impl AppKey {
    /// The key from its PEM: PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`, as GitHub downloads it)
    /// or PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    ///
    /// Why the text is not an RSA private key in PEM (never any of the key's bytes).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| format!("no private key in PEM found ({e})"))?;
        let pair = match &der {
            PrivateKeyDer::Pkcs1(key) => RsaKeyPair::from_der(key.secret_pkcs1_der()),
            PrivateKeyDer::Pkcs8(key) => RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()),
            _ => return Err("the key is not an RSA key".to_owned()),
        }
        .map_err(|e| format!("the RSA key is refused: {e}"))?;
        Ok(AppKey { pair })
    }

    /// A JWT for App `app_id`, made at `now`.
    ///
    /// # Errors
    ///
    /// When signing fails (no system randomness for the blinding) or `now` is before 1970.
    pub fn jwt(&self, app_id: u64, now: SystemTime) -> Result<SecretString, String> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970".to_owned())?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iat": now.saturating_sub(BACKDATE).as_secs(),
            "exp": (now + LIFETIME).as_secs(),
            "iss": app_id,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "the JWT could not be signed".to_owned())?;
        Ok(SecretString::from(format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    const PKCS1: &str = include_str!("../../tests/vcs_fixtures/github-app-test-key.pem");
    const PKCS8: &str = include_str!("../../tests/vcs_fixtures/github-app-test-key.pkcs8.pem");
    const EC: &str = include_str!("../../tests/vcs_fixtures/ec-test-key.pem");

    fn parts(jwt: &SecretString) -> Vec<Vec<u8>> {
        jwt.expose_secret()
            .split('.')
            .map(|p| URL_SAFE_NO_PAD.decode(p).unwrap())
            .collect()
    }

    #[test]
    fn a_jwt_is_rs256_with_the_apps_id_backdated_and_short_lived() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let jwt = AppKey::from_pem(PKCS1).unwrap().jwt(12345, now).unwrap();
        let parts = parts(&jwt);
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&parts[0]).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        let claims: serde_json::Value = serde_json::from_slice(&parts[1]).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"iat": 1_699_999_940, "exp": 1_700_000_540, "iss": 12345})
        );
        assert_eq!(parts[2].len(), 256, "a 2048-bit RSA signature");
    }

    #[test]
    fn pkcs1_and_pkcs8_forms_of_one_key_sign_alike() {
        // RSASSA-PKCS1-v1_5 is deterministic: the same key signs the same bytes the same way.
        let now = SystemTime::now();
        let one = AppKey::from_pem(PKCS1).unwrap().jwt(1, now).unwrap();
        let eight = AppKey::from_pem(PKCS8).unwrap().jwt(1, now).unwrap();
        assert_eq!(one.expose_secret(), eight.expose_secret());
    }

    #[test]
    fn what_is_not_an_rsa_private_key_is_refused_without_showing_it() {
        let ec = AppKey::from_pem(EC).unwrap_err();
        assert!(ec.contains("refused") || ec.contains("not an RSA"), "{ec}");
        let garbage = AppKey::from_pem(
            "-----BEGIN RSA PRIVATE KEY-----\nbm9wZQ==\n-----END RSA PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(!garbage.contains("bm9wZQ"), "{garbage}");
        assert!(AppKey::from_pem("").is_err());
        assert_eq!(
            format!("{:?}", AppKey::from_pem(PKCS1).unwrap()),
            "AppKey(hidden)"
        );
    }
}
