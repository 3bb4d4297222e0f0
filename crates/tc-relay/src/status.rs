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

/// Where an acknowledged record is on its way to the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordState {
    /// Stored, waiting for a batch.
    Queued,
    /// In a batch whose request has left and has no answer yet.
    InFlight,
    /// The API accepted its batch (the batch id is known).
    Sent,
    /// Not sent, for a rule: its window closed while it waited (`window_expired`).
    Rejected,
    /// The API refused its batch for good.
    Failed,
    /// Its batch was possibly stored and, at most once, never sent again: the API may or may
    /// not hold it.
    Unknown,
}

impl RecordState {
    pub const ALL: [RecordState; 6] = [
        RecordState::Queued,
        RecordState::InFlight,
        RecordState::Sent,
        RecordState::Rejected,
        RecordState::Failed,
        RecordState::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Queued => "queued",
            RecordState::InFlight => "in_flight",
            RecordState::Sent => "sent",
            RecordState::Rejected => "rejected",
            RecordState::Failed => "failed",
            RecordState::Unknown => "unknown",
        }
    }

    /// Whether the record has its final answer from the relay's side: nothing will send it
    /// again.
    pub fn is_settled(self) -> bool {
        !matches!(self, RecordState::Queued | RecordState::InFlight)
    }
}

impl fmt::Display for RecordState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is not a record state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a record state")]
pub struct InvalidRecordState(String);

impl FromStr for RecordState {
    type Err = InvalidRecordState;

    fn from_str(text: &str) -> Result<RecordState, InvalidRecordState> {
        RecordState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| InvalidRecordState(tc_core::diagnostic::excerpt(text)))
    }
}

/// Everything the relay knows about one record: the answer of `GET /v1/call-records/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct RecordStatus {
    #[schema(value_type = String, example = "r17")]
    pub id: RecordId,
    pub state: RecordState,
    /// When the relay acknowledged it, RFC 3339.
    pub received_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    /// The API's id of the batch that carried it, once sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub batch_id: Option<String>,
    /// Why it was rejected or failed: a rule code (`window_expired`) or the API's error slug.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    /// The API may hold this record twice: a batch that carried it had an unknown outcome and
    /// it was sent again.
    pub possibly_duplicated: bool,
    /// Its delivery, from the status endpoint, once the relay has asked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delivery: Option<String>,
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
        for state in RecordState::ALL {
            assert_eq!(state.as_str().parse::<RecordState>(), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
        }
    }
}
