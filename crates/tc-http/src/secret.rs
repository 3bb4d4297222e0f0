//! [`AccessToken`]: a bearer token that cannot be printed by accident.

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// An access token from the token endpoint. Its `Debug` is redacted and it has no `Display`;
/// the only way out is a sensitive `Authorization` header value.
#[derive(Clone)]
pub(crate) struct AccessToken(SecretString);

impl AccessToken {
    pub fn new(token: String) -> AccessToken {
        AccessToken(SecretString::from(token))
    }

    /// `Bearer <token>`, marked sensitive so HTTP layers never log it. `None` if the server
    /// handed out a token that cannot travel in a header.
    pub fn authorization(&self) -> Option<HeaderValue> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", self.0.expose_secret())).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    #[cfg(test)]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
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
}
