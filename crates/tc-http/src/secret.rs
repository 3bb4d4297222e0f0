//! [`AccessToken`]: a bearer token that cannot be printed by accident, and the [`Sealer`]
//! that encrypts it for the other processes of the account.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// An access token from the token endpoint. Its `Debug` is redacted and it has no `Display`;
/// the only way out is a sensitive `Authorization` header value, or a sealed copy for the
/// coordinator. `shared_id` is its id among the processes sharing the account, if it is shared.
#[derive(Clone)]
pub(crate) struct AccessToken {
    value: SecretString,
    shared_id: Option<u64>,
}

impl AccessToken {
    pub fn new(token: String) -> AccessToken {
        AccessToken {
            value: SecretString::from(token),
            shared_id: None,
        }
    }

    /// The same token, known to the other processes of the account under `id`.
    pub fn shared_as(mut self, id: u64) -> AccessToken {
        self.shared_id = Some(id);
        self
    }

    pub fn shared_id(&self) -> Option<u64> {
        self.shared_id
    }

    /// `Bearer <token>`, marked sensitive so HTTP layers never log it. `None` if the server
    /// handed out a token that cannot travel in a header.
    pub fn authorization(&self) -> Option<HeaderValue> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", self.value.expose_secret())).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    #[cfg(test)]
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// The nonce's length, prefixed to every sealed token.
const NONCE_LEN: usize = 12;

/// Encrypts tokens for the coordinator's store and opens them again, with a key derived from
/// the credentials: only a process holding the same API key can use a shared token, and a
/// store that keeps its data on disk never holds a usable one.
pub(crate) struct Sealer {
    cipher: ChaCha20Poly1305,
    /// Binds a sealed token to its account, as the AEAD's associated data.
    account: Vec<u8>,
}

impl Sealer {
    pub fn new(key_id: &str, api_key: &SecretString, account: &str) -> Sealer {
        let mut hasher = Sha256::new();
        hasher.update(b"tc-http shared token v1\0");
        hasher.update(key_id.as_bytes());
        hasher.update(b"\0");
        hasher.update(api_key.expose_secret().as_bytes());
        let key = hasher.finalize();
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            account: account.as_bytes().to_vec(),
        }
    }

    /// The token encrypted under a fresh random nonce, which leads the result.
    pub fn seal(&self, token: &AccessToken) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: token.value.expose_secret().as_bytes(),
            aad: &self.account,
        };
        let mut sealed = nonce.to_vec();
        // Encryption fails only for messages of gigabytes; a token that cannot be sealed is
        // simply not shared (the empty value opens to nothing).
        if let Ok(ciphertext) = self.cipher.encrypt(Nonce::from_slice(&nonce), payload) {
            sealed.extend(ciphertext);
        }
        sealed
    }

    /// The token sealed in `sealed`, or `None` if it was sealed under other credentials or
    /// another account, or altered.
    pub fn open(&self, sealed: &[u8]) -> Option<AccessToken> {
        if sealed.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: &self.account,
        };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .ok()?;
        String::from_utf8(plain).ok().map(AccessToken::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_shows() {
        let token = AccessToken::new("s3cr3t-t0k3n".into());
        assert!(!format!("{token:?}").contains("s3cr3t"));
        let header = token.authorization().unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("s3cr3t"));
        assert_eq!(token.expose(), "s3cr3t-t0k3n");
        assert!(AccessToken::new("bad\nvalue".into())
            .authorization()
            .is_none());
    }

    #[test]
    fn a_sealed_token_opens_only_under_the_same_credentials_and_account() {
        let key = SecretString::from("api-key-1".to_owned());
        let sealer = Sealer::new("key-1", &key, "acct-1");
        let token = AccessToken::new("s3cr3t-t0k3n".into());
        let sealed = sealer.seal(&token);
        assert!(!String::from_utf8_lossy(&sealed).contains("s3cr3t"));
        assert_ne!(sealed, sealer.seal(&token), "a fresh nonce every time");
        let opened = sealer.open(&sealed).expect("same credentials");
        assert_eq!(opened.expose(), "s3cr3t-t0k3n");

        let other_key = Sealer::new(
            "key-1",
            &SecretString::from("api-key-2".to_owned()),
            "acct-1",
        );
        assert!(other_key.open(&sealed).is_none());
        assert!(Sealer::new("key-1", &key, "acct-2").open(&sealed).is_none());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(sealer.open(&altered).is_none());
        assert!(sealer.open(&sealed[..NONCE_LEN]).is_none());
    }
}
