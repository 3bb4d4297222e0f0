//! The typed words of the journal and the report: a row's status, the code that says why, and a
//! record's delivery. Each is written by its serde name and read back the same way.

use serde::{Deserialize, Serialize};

/// What became of a batch, as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutcomeStatus {
    /// The API acknowledged the batch with a batch id.
    Accepted,
    /// The API refused the batch, or every attempt failed before it could be processed.
    Failed,
    /// The request may or may not have been processed.
    Unknown,
}

impl OutcomeStatus {
    /// The journal's status word for an outcome: a batch that may be stored and is not
    /// accepted is `unknown`.
    pub fn of(outcome: &tc_engine::BatchOutcome) -> OutcomeStatus {
        use tc_engine::BatchOutcome as O;
        match outcome {
            O::Accepted { .. } => OutcomeStatus::Accepted,
            O::Unknown { .. }
            | O::Resumable {
                possibly_stored: true,
                ..
            } => OutcomeStatus::Unknown,
            O::Refused { .. }
            | O::Resumable {
                possibly_stored: false,
                ..
            } => OutcomeStatus::Failed,
        }
    }
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

/// Why a row was not accepted: one vocabulary for the push's report and the relay's status,
/// decided in `tc-engine`.
pub use tc_engine::ReportCode;
