//! The one mapping between the engine's types and what a store writes in its columns. No
//! state or code is written into SQL anywhere else (tidy:
//! `the_relay_store_names_states_and_codes_only_in_its_column_mapping`): queries bind these.

use tc_engine::{RecordState, ReportCode};

/// The column text of a state. An accepted record is `sent`, the word of the first stores, so
/// a store written before the lifecycle was shared reads back the same.
pub(crate) fn state(state: RecordState) -> &'static str {
    match state {
        RecordState::Queued => "queued",
        RecordState::InFlight => "in_flight",
        RecordState::Accepted => "sent",
        RecordState::Rejected => "rejected",
        RecordState::Failed => "failed",
        RecordState::Unknown => "unknown",
    }
}

/// The state a column's text names.
pub(crate) fn state_of(text: &str) -> Option<RecordState> {
    RecordState::ALL.into_iter().find(|s| state(*s) == text)
}

/// The column text of a code.
pub(crate) fn code(code: &ReportCode) -> String {
    code.to_string()
}

/// The code a column's text names: every text is some code.
pub(crate) fn code_of(text: &str) -> ReportCode {
    text.parse().unwrap_or_else(|never| match never {})
}

/// The column text of how a relay shares the account.
pub(crate) fn sharing(sharing: super::Sharing) -> &'static str {
    match sharing {
        super::Sharing::Coordinator => "coordinator",
        super::Sharing::SplitTokens => "split_tokens",
        super::Sharing::Alone => "alone",
    }
}

/// How a relay shares the account, from its column; a text of a newer relay reads as alone,
/// the most careful reading.
pub(crate) fn sharing_of(text: &str) -> super::Sharing {
    [super::Sharing::Coordinator, super::Sharing::SplitTokens]
        .into_iter()
        .find(|s| sharing(*s) == text)
        .unwrap_or(super::Sharing::Alone)
}

/// The settled states whose records the purge may forget.
pub(crate) const FORGETTABLE: [RecordState; 3] = [
    RecordState::Rejected,
    RecordState::Failed,
    RecordState::Unknown,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_column() {
        for s in RecordState::ALL {
            assert_eq!(state_of(state(s)), Some(s));
        }
        assert_eq!(state_of("sent"), Some(RecordState::Accepted));
        assert_eq!(state_of("accepted"), None);
    }
}
