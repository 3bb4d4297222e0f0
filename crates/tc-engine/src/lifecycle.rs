//! The states a record moves through on its way to the API, and the moves allowed between
//! them. The push's report and the relay's store speak of records in these states alone.
//!
//! ```text
//!             ┌──────────── resumable outcome, or a restart at least once ───────┐
//!             ▼                                                                   │
//!  ──► queued ──── cut into a batch, request about to leave ────► in flight ──────┤
//!        │                                                          │  │  │       │
//!        └─► rejected (its window closed)            accepted ◄─────┘  │  └─► unknown
//!                                                     failed ◄─────────┘   (at most once)
//! ```
//!
//! *Possibly duplicated* is not a state but a flag a record keeps from the moment an attempt
//! that carried it may have been stored and it was sent again.

use crate::guarantee::Guarantee;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a record is on its way to the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Valid and stored, waiting for a batch.
    Queued,
    /// In a batch whose request may have left and has no answer yet.
    InFlight,
    /// The API acknowledged its batch.
    #[serde(alias = "sent")]
    Accepted,
    /// Never sent, for a rule: it is invalid, or its window closed while it waited.
    Rejected,
    /// The API refused its batch for good.
    Failed,
    /// Its batch may be stored and is never sent again: the API may or may not hold it.
    Unknown,
}

/// A move of a record from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state it leaves.
    pub from: RecordState,
    /// The state it enters.
    pub to: RecordState,
}

impl RecordState {
    /// Every state, in the order of the lifecycle.
    pub const ALL: [RecordState; 6] = [
        RecordState::Queued,
        RecordState::InFlight,
        RecordState::Accepted,
        RecordState::Rejected,
        RecordState::Failed,
        RecordState::Unknown,
    ];

    /// The state's name, as JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Queued => "queued",
            RecordState::InFlight => "in_flight",
            RecordState::Accepted => "accepted",
            RecordState::Rejected => "rejected",
            RecordState::Failed => "failed",
            RecordState::Unknown => "unknown",
        }
    }

    /// Whether the record has its final answer: nothing will send it again.
    pub fn is_settled(self) -> bool {
        !matches!(self, RecordState::Queued | RecordState::InFlight)
    }

    /// Whether a record in this state may move to `to`. Settled states are final; a record
    /// in flight may go back to the queue (a resumable outcome, or a restart at least once).
    pub fn can_become(self, to: RecordState) -> bool {
        use RecordState as S;
        matches!(
            (self, to),
            (S::Queued, S::InFlight | S::Rejected)
                | (
                    S::InFlight,
                    S::Queued | S::Accepted | S::Failed | S::Unknown | S::Rejected
                )
        )
    }

    /// The move to `to`, if it is allowed.
    pub fn to(self, to: RecordState) -> Option<Transition> {
        self.can_become(to).then_some(Transition { from: self, to })
    }

    /// Where a record left in flight by a process that stopped goes when the work resumes:
    /// its batch may be stored, so at least once it is queued again (flagged possibly
    /// duplicated) and at most once it is unknown.
    pub fn resumed_from_flight(guarantee: Guarantee) -> RecordState {
        match guarantee {
            Guarantee::AtMostOnce => RecordState::Unknown,
            Guarantee::AtLeastOnce => RecordState::Queued,
        }
    }
}

impl fmt::Display for RecordState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is not a record state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a record state: queued, in_flight, accepted, rejected, failed or unknown")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_what_they_write() {
        for state in RecordState::ALL {
            assert_eq!(state.as_str().parse::<RecordState>(), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<RecordState>(&json).unwrap(), state);
        }
        // The relay's word before the lifecycle was shared.
        let sent: RecordState = serde_json::from_str("\"sent\"").unwrap();
        assert_eq!(sent, RecordState::Accepted);
        assert!("sent".parse::<RecordState>().is_err());
    }

    #[test]
    fn settled_states_are_final() {
        for from in RecordState::ALL.into_iter().filter(|s| s.is_settled()) {
            for to in RecordState::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_queued_record_reaches_the_api_only_through_flight() {
        use RecordState as S;
        assert!(S::Queued.can_become(S::InFlight));
        assert!(S::Queued.can_become(S::Rejected));
        for to in [S::Accepted, S::Failed, S::Unknown, S::Queued] {
            assert!(!S::Queued.can_become(to), "queued -> {to}");
        }
        for to in [S::Queued, S::Accepted, S::Failed, S::Unknown] {
            assert_eq!(
                S::InFlight.to(to),
                Some(Transition {
                    from: S::InFlight,
                    to
                })
            );
        }
    }

    #[test]
    fn a_record_left_in_flight_follows_the_guarantee() {
        use RecordState as S;
        let again = S::resumed_from_flight(Guarantee::AtLeastOnce);
        let never = S::resumed_from_flight(Guarantee::AtMostOnce);
        assert_eq!((again, never), (S::Queued, S::Unknown));
        assert!(S::InFlight.can_become(again) && S::InFlight.can_become(never));
    }
}
