//! The typed words of the journal and the report: a row's status, the code that says why, and a
//! record's delivery. Each is written by its serde name and read back the same way.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// What became of a batch, as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BatchStatus {
    /// The API acknowledged the batch with a batch id.
    Accepted,
    /// The API refused the batch, or every attempt failed before it could be processed.
    Failed,
    /// The request may or may not have been processed.
    Unknown,
}

/// A row's answer in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RowStatus {
    /// The API acknowledged the row's batch.
    Accepted,
    /// The row is invalid and was never sent.
    Rejected,
    /// The row was not stored: the API refused its batch, or it was never sent.
    Failed,
    /// The row may or may not be stored.
    Unknown,
}

/// Why a row was not accepted: a validation rule, the API's answer, or the push's own reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ReportCode {
    /// A validation rule of `tc-core` (`window_expired`, `phone_has_letters`, ...).
    Rule(tc_core::Code),
    /// The API's error slug (`invalid-input`, `authorization-error`, ...).
    Slug(String),
    /// An HTTP status with no slug: `http_NNN`.
    Http(u16),
    /// `not_sent`: the push stopped before the row was sent, or the request never left.
    NotSent,
    /// `interrupted`: the row's batch was sent and the push ended before the answer.
    Interrupted,
    /// `outcome_unknown`: the request was sent and no answer came; it may be stored.
    OutcomeUnknown,
}

impl fmt::Display for ReportCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportCode::Rule(code) => f.write_str(code.as_str()),
            ReportCode::Slug(slug) => f.write_str(slug),
            ReportCode::Http(status) => write!(f, "http_{status}"),
            ReportCode::NotSent => f.write_str("not_sent"),
            ReportCode::Interrupted => f.write_str("interrupted"),
            ReportCode::OutcomeUnknown => f.write_str("outcome_unknown"),
        }
    }
}

impl FromStr for ReportCode {
    type Err = std::convert::Infallible;

    /// Every string is some code: the push's own names first, then `http_NNN`, then the rule
    /// codes; anything else is an API slug.
    fn from_str(text: &str) -> Result<ReportCode, Self::Err> {
        Ok(match text {
            "not_sent" => ReportCode::NotSent,
            "interrupted" => ReportCode::Interrupted,
            "outcome_unknown" => ReportCode::OutcomeUnknown,
            _ => match text.strip_prefix("http_").and_then(|s| s.parse().ok()) {
                Some(status) => ReportCode::Http(status),
                None => tc_core::Code::from_name(text)
                    .map_or_else(|| ReportCode::Slug(text.to_owned()), ReportCode::Rule),
            },
        })
    }
}

impl Serialize for ReportCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReportCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_codes_read_back_what_they_write() {
        for code in [
            ReportCode::Rule(tc_core::Code::WindowExpired),
            ReportCode::Slug("authorization-error".into()),
            ReportCode::Http(503),
            ReportCode::NotSent,
            ReportCode::Interrupted,
            ReportCode::OutcomeUnknown,
        ] {
            let text = serde_json::to_string(&code).unwrap();
            assert_eq!(serde_json::from_str::<ReportCode>(&text).unwrap(), code);
        }
    }
}
