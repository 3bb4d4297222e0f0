//! What a journal must agree with before it is resumed: the input's fingerprint and the options
//! that change what is sent.

use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use tc_core::{NumberFormat, Region};

/// A digest of the input: a journal is only resumed against the input it was written for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// SHA-256 of everything `reader` yields.
    pub fn from_reader(mut reader: impl Read) -> std::io::Result<Fingerprint> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Fingerprint(format!("sha256:{hex}")))
    }

    /// SHA-256 of a file's bytes.
    pub fn of_file(path: &Path) -> std::io::Result<Fingerprint> {
        Fingerprint::from_reader(std::fs::File::open(path)?)
    }

    /// The digest as written in the journal (`sha256:...`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the batches go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Destination {
    /// The API, or any server, at this base URL.
    Api { base_url: String },
    /// A simulator started inside the pushing process: gone when the process ends, so its rows
    /// are never mixed with a real push's.
    BuiltInSimulator,
}

/// The options that change what is sent, recorded in the journal so that a resumed push sends
/// its rows in the same form to the same place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendOptions {
    /// Default region for numbers written without a country code.
    #[serde(with = "region_code")]
    pub region: Option<Region>,
    pub number_format: NumberFormat,
    pub destination: Destination,
    pub client_account_id: String,
}

impl SendOptions {
    /// No default region, E.164 numbers.
    pub fn new(destination: Destination, client_account_id: impl Into<String>) -> SendOptions {
        SendOptions {
            region: None,
            number_format: NumberFormat::E164,
            destination,
            client_account_id: client_account_id.into(),
        }
    }

    pub fn with_region(mut self, region: Option<Region>) -> SendOptions {
        self.region = region;
        self
    }

    pub fn with_number_format(mut self, format: NumberFormat) -> SendOptions {
        self.number_format = format;
        self
    }

    /// One phrase per option where `self` (this run) differs from `journaled`.
    pub fn differences(&self, journaled: &SendOptions) -> Vec<String> {
        self.changes(journaled)
            .into_iter()
            .map(|(_, phrase)| phrase)
            .collect()
    }

    /// The differences a resumed push must refuse, given what the journal says may already be
    /// stored. What is sent (region, number format) must never change: rows already settled were
    /// judged under the old options. Where it is sent (destination, account) may change while
    /// nothing can have been stored, so an operator who mistyped the base URL or the account id,
    /// and whose push stopped on it, fixes the flag and resumes.
    pub fn refused_changes(&self, journaled: &SendOptions, stored: StoredSoFar) -> Vec<String> {
        self.changes(journaled)
            .into_iter()
            .filter(|(change, _)| *change == Change::WhatIsSent || stored == StoredSoFar::Something)
            .map(|(_, phrase)| phrase)
            .collect()
    }

    fn changes(&self, journaled: &SendOptions) -> Vec<(Change, String)> {
        let mut out = Vec::new();
        let mut differ = |change: Change, name: &str, then: String, now: String| {
            if then != now {
                out.push((change, format!("{name} {then} (now {now})")));
            }
        };
        let region = |r: &Option<Region>| r.map_or("none".to_owned(), |r| r.to_string());
        differ(
            Change::WhatIsSent,
            "region",
            region(&journaled.region),
            region(&self.region),
        );
        differ(
            Change::WhatIsSent,
            "number format",
            journaled.number_format.as_str().to_owned(),
            self.number_format.as_str().to_owned(),
        );
        let destination = |d: &Destination| match d {
            Destination::Api { base_url } => format!("base URL {base_url}"),
            Destination::BuiltInSimulator => "the built-in simulator".to_owned(),
        };
        differ(
            Change::WhereItGoes,
            "destination",
            destination(&journaled.destination),
            destination(&self.destination),
        );
        differ(
            Change::WhereItGoes,
            "client account id",
            journaled.client_account_id.clone(),
            self.client_account_id.clone(),
        );
        out
    }
}

/// Whether anything of a journal's push may be on the API: an accepted batch, or a request
/// whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredSoFar {
    Nothing,
    Something,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// The form of the records: region, number format.
    WhatIsSent,
    /// The place they go: destination, account.
    WhereItGoes,
}

mod region_code {
    use serde::{Deserialize, Deserializer, Serializer};
    use tc_core::Region;

    pub fn serialize<S: Serializer>(region: &Option<Region>, s: S) -> Result<S::Ok, S::Error> {
        match region {
            Some(region) => s.collect_str(region),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Region>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|code| code.parse::<Region>().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_every_option_that_changed() {
        let then = SendOptions::new(
            Destination::Api {
                base_url: "https://a.example".into(),
            },
            "acct",
        )
        .with_region(Some("IN".parse::<Region>().unwrap()));
        let now = SendOptions::new(Destination::BuiltInSimulator, "acct")
            .with_region(Some("US".parse::<Region>().unwrap()))
            .with_number_format(NumberFormat::Digits);
        let text = now.differences(&then).join(", ");
        assert_eq!(
            text,
            "region IN (now US), number format e164 (now digits), destination base URL \
             https://a.example (now the built-in simulator)"
        );
        assert!(then.differences(&then).is_empty());
        assert_eq!(
            now.refused_changes(&then, StoredSoFar::Nothing).join(", "),
            "region IN (now US), number format e164 (now digits)",
            "where the rows go may change while nothing can be stored"
        );
        assert_eq!(now.refused_changes(&then, StoredSoFar::Something).len(), 3);
        let json = serde_json::to_string(&then).unwrap();
        assert_eq!(serde_json::from_str::<SendOptions>(&json).unwrap(), then);
    }
}
