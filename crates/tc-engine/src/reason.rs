//! Why a record was not accepted, in one vocabulary for the push's report and the relay's
//! status alike.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a record was not accepted: a validation rule, the API's answer, or the engine's own
/// reason. Written and read by its text (`window_expired`, `invalid-input`, `http_503`, ...).
///
/// ```
/// use tc_engine::ReportCode;
///
/// let code: ReportCode = "http_503".parse().unwrap();
/// assert_eq!(code, ReportCode::Http(503));
/// assert_eq!(ReportCode::of_answer(Some(400), Some("")), ReportCode::Http(400));
/// assert_eq!(code.to_string(), "http_503");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ReportCode {
    /// A validation rule of `tc-core` (`window_expired`, `phone_has_letters`, ...).
    Rule(tc_core::Code),
    /// The API's error slug (`invalid-input`, `authorization-error`, ...).
    Slug(String),
    /// An HTTP status with no slug: `http_NNN`.
    Http(u16),
    /// `not_sent`: the record was never sent, or its request never left.
    NotSent,
    /// `interrupted`: the record's batch was sent and the push ended before the answer.
    Interrupted,
    /// `outcome_unknown`: the request was sent and no answer came; it may be stored.
    OutcomeUnknown,
}

impl ReportCode {
    /// The code of an answer that refused a request: its slug when it has one, else its HTTP
    /// status, else `not_sent` (no answer came at all). An empty slug is no slug.
    pub fn of_answer(status: Option<u16>, slug: Option<&str>) -> ReportCode {
        match (slug.filter(|s| !s.is_empty()), status) {
            (Some(slug), _) => ReportCode::Slug(slug.to_owned()),
            (None, Some(status)) => ReportCode::Http(status),
            (None, None) => ReportCode::NotSent,
        }
    }
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

    /// Every string is some code: the engine's own names first, then `http_NNN`, then the rule
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

    #[test]
    fn an_answer_with_an_empty_slug_is_named_by_its_status() {
        assert_eq!(
            ReportCode::of_answer(Some(422), Some("")),
            ReportCode::Http(422)
        );
        assert_eq!(
            ReportCode::of_answer(Some(422), Some("invalid-input")),
            ReportCode::Slug("invalid-input".into())
        );
        assert_eq!(ReportCode::of_answer(None, None), ReportCode::NotSent);
    }
}
