//! A token as the state file holds it: sealed by the client, written as hexadecimal.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A sealed token: encrypted and authenticated by the client under a key derived from the API
/// key, opaque here. Never shown (`Debug` gives its length).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Sealed(Vec<u8>);

impl From<Vec<u8>> for Sealed {
    fn from(bytes: Vec<u8>) -> Self {
        Sealed(bytes)
    }
}

impl From<Sealed> for Vec<u8> {
    fn from(sealed: Sealed) -> Self {
        sealed.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed([{} bytes])", self.0.len())
    }
}

impl Serialize for Sealed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        from_hex(&text).map(Sealed).ok_or_else(|| {
            serde::de::Error::custom("a sealed token is an even number of hex digits")
        })
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_is_written_as_hex_and_read_back() {
        let sealed = Sealed(vec![0, 1, 0xab, 0xff]);
        let text = serde_json::to_string(&sealed).unwrap();
        assert_eq!(text, "\"0001abff\"");
        assert_eq!(serde_json::from_str::<Sealed>(&text).unwrap(), sealed);
        for bad in ["\"abc\"", "\"zz\"", "\"é\"", "12"] {
            assert!(serde_json::from_str::<Sealed>(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{sealed:?}"), "Sealed([4 bytes])");
    }
}
