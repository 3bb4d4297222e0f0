//! Producer API keys: held as SHA-256 digests only, and compared in constant time, so neither
//! the configuration nor the time an answer takes gives a key away.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use subtle::ConstantTimeEq;

/// The SHA-256 digest of one producer key, as 64 hexadecimal digits in configuration files
/// (`printf %s "$KEY" | sha256sum`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    /// The digest of a key given in clear.
    pub fn of_key(key: &str) -> KeyDigest {
        KeyDigest(Sha256::digest(key.as_bytes()).into())
    }
}

/// Digests are not secret, but printing one invites pasting it where a key belongs.
impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyDigest(..)")
    }
}

/// A producer, as the relay names it beside its records: its key's digest in hex (never the
/// key). A producer reads only its own records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Producer(String);

impl Producer {
    /// A producer as a store wrote it.
    pub fn stored(text: String) -> Producer {
        Producer(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A text that is not 64 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key digest is 64 hexadecimal digits (the SHA-256 of the key), got {0} characters")]
pub struct InvalidKeyDigest(usize);

impl FromStr for KeyDigest {
    type Err = InvalidKeyDigest;

    fn from_str(text: &str) -> Result<KeyDigest, InvalidKeyDigest> {
        let text = text.trim();
        let invalid = || InvalidKeyDigest(text.chars().count());
        if text.len() != 64 || !text.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(KeyDigest(bytes))
    }
}

/// The keys producers may post with: never none. An empty set would admit no one if read
/// literally and everyone if read as "no keys configured"; the second is what a truncated keys
/// file used to do, so an empty set cannot be made. A relay without producer keys has no
/// `ProducerKeys` at all ([`crate::RelayConfig::producer_keys`] is `None`).
#[derive(Clone, PartialEq, Eq)]
pub struct ProducerKeys {
    digests: Vec<KeyDigest>,
}

/// A set of producer keys with no key in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no key digest was given: add one SHA-256 digest per key (printf %s \"$KEY\" | sha256sum), \
     or configure no producer keys to serve on loopback without them"
)]
pub struct NoProducerKeys;

/// What [`ProducerKeys::parse_lines`] says of a file with no digest in it.
const NO_DIGEST_IN_TEXT: &str =
    "holds no key digest (only blank lines and comments): add one SHA-256 digest per line \
     (printf %s \"$KEY\" | sha256sum), or leave producer keys out to serve on loopback without \
     them";

impl ProducerKeys {
    /// # Errors
    /// [`NoProducerKeys`] when `digests` is empty.
    pub fn new(
        digests: impl IntoIterator<Item = KeyDigest>,
    ) -> Result<ProducerKeys, NoProducerKeys> {
        let digests: Vec<KeyDigest> = digests.into_iter().collect();
        if digests.is_empty() {
            return Err(NoProducerKeys);
        }
        Ok(ProducerKeys { digests })
    }

    /// Reads one digest per line; blank lines and `#` comments are skipped.
    ///
    /// # Errors
    /// The first line that is not a digest, by its number; or a text with no digest at all.
    pub fn parse_lines(text: &str) -> Result<ProducerKeys, String> {
        let mut digests = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // `sha256sum` prints "digest  -": the digest is the first word.
            let word = line.split_whitespace().next().unwrap_or(line);
            digests.push(word.parse().map_err(|e| format!("line {}: {e}", n + 1))?);
        }
        ProducerKeys::new(digests).map_err(|NoProducerKeys| NO_DIGEST_IN_TEXT.to_owned())
    }

    /// How many keys there are: at least one.
    pub fn count(&self) -> usize {
        self.digests.len()
    }

    /// Whether `key` is one of the keys. Every digest is compared, each in constant time.
    pub fn admits(&self, key: &str) -> bool {
        self.producer_of(key).is_some()
    }

    /// Which producer `key` is, if it is one of the keys: its digest, as the relay writes it
    /// beside the records that producer posts. Every digest is compared, each in constant time.
    pub(crate) fn producer_of(&self, key: &str) -> Option<Producer> {
        let presented = KeyDigest::of_key(key);
        let mut found = subtle::Choice::from(0);
        for digest in &self.digests {
            found |= digest.0[..].ct_eq(&presented.0[..]);
        }
        bool::from(found)
            .then(|| Producer(presented.0.iter().map(|b| format!("{b:02x}")).collect()))
    }
}

impl fmt::Debug for ProducerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProducerKeys({} keys)", self.digests.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_admitted_by_its_digest_only() {
        // sha256("producer-one")
        let line = format!(
            "{}  -\n# a comment\n",
            hex(&KeyDigest::of_key("producer-one"))
        );
        let keys = ProducerKeys::parse_lines(&line).unwrap();
        assert_eq!(keys.count(), 1);
        assert!(keys.admits("producer-one"));
        assert!(!keys.admits("producer-two"));
        assert!(!keys.admits(""));
        assert!(!format!("{keys:?}").contains(&hex(&KeyDigest::of_key("producer-one"))));
    }

    #[test]
    fn a_line_that_is_not_a_digest_is_named() {
        let err = ProducerKeys::parse_lines("\nnot-a-digest\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }

    #[test]
    fn a_file_of_only_blank_lines_and_comments_is_refused_not_read_as_no_keys() {
        for text in ["", "\n\n", "# dialer\n   \n# crm\n"] {
            let refused = ProducerKeys::parse_lines(text).unwrap_err();
            assert!(refused.contains("no key digest"), "{refused}");
        }
        assert_eq!(ProducerKeys::new([]), Err(NoProducerKeys));
    }

    fn hex(digest: &KeyDigest) -> String {
        digest.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}
