//! What the relay says about a record: its id, where it is on its way, and its delivery.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The relay's id of an acknowledged record, given in the answer to the post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct RecordId(i64);

impl RecordId {
    pub(crate) fn new(id: i64) -> RecordId {
        RecordId(id)
    }

    pub(crate) fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// A text that is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a record id (ids look like r123)")]
pub struct InvalidRecordId(String);

impl FromStr for RecordId {
    type Err = InvalidRecordId;

    fn from_str(text: &str) -> Result<RecordId, InvalidRecordId> {
        text.strip_prefix('r')
            .and_then(|digits| digits.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .map(RecordId)
            .ok_or_else(|| InvalidRecordId(tc_core::diagnostic::excerpt(text)))
    }
}

impl From<RecordId> for String {
    fn from(id: RecordId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for RecordId {
    type Error = InvalidRecordId;

    fn try_from(text: String) -> Result<RecordId, InvalidRecordId> {
        text.parse()
    }
}

/// Where an acknowledged record is on its way to the API: the lifecycle the push shares.
pub use tc_engine::{InvalidRecordState, RecordState};

/// Everything the relay knows about one record: the answer of `GET /v1/call-records/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct TrackedRecord {
    #[schema(value_type = String, example = "r17")]
    pub id: RecordId,
    /// `queued`, `in_flight`, `accepted`, `rejected`, `failed` or `unknown`.
    #[schema(value_type = String, example = "accepted")]
    pub state: RecordState,
    /// When the relay acknowledged it, RFC 3339.
    pub received_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    /// The API's id of the batch that carried it, once accepted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<String>)]
    pub batch_id: Option<tc_core::BatchId>,
    /// Why it was rejected, failed or is unknown: a rule code (`window_expired`), the API's
    /// error slug, `http_NNN` or `outcome_unknown`, as the push's report says it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<String>)]
    pub code: Option<tc_engine::ReportCode>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    /// The API may hold this record twice: a batch that carried it had an unknown outcome and
    /// it was sent again.
    pub possibly_duplicated: bool,
    /// Its delivery, from the status endpoint, once the relay has asked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<String>)]
    pub delivery: Option<tc_core::wire::DeliveryStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delivery_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_states_read_back_what_they_write() {
        let id = RecordId::new(42);
        assert_eq!(id.to_string().parse::<RecordId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"r42\"");
        assert!("42".parse::<RecordId>().is_err());
        assert!("r-1".parse::<RecordId>().is_err());
    }
}
