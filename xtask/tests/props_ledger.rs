//! The ledger's promise: whatever the journal holds (any runs, any batches left unanswered, any
//! outcomes, rejections at resume, and a failure at the end), the report never presents a row
//! that may be stored as `failed` or `rejected`, and flags an accepted row that may be stored
//! twice as `possibly_duplicated`.

mod common;

use common::config;
use proptest::prelude::*;
use tc_push::journal::{Entry, JournalWriter};
use tc_push::{Fingerprint, OutcomeStatus, ReportCode, ReportRow, RowStatus};

const ROWS: u64 = 6;

/// What happens to one group of rows in a run.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Sent, and the process died before the answer; `marked`: journaled with a leaving mark
    /// (as today), else as journals written before leaving marks were.
    Unanswered {
        marked: bool,
    },
    /// Journaled, and the process died before its request left (waiting for a token).
    NeverLeft,
    Accepted {
        duplicated: bool,
    },
    /// Sent, answer lost: may be stored.
    Unknown,
    /// Refused, but an attempt may have been stored.
    FailedMaybeStored,
    /// Refused for good or stopped before sending (credentials, budget): nothing stored.
    Failed {
        retryable: bool,
    },
    /// Rejected at validation (say, expired by the time of a resume).
    Rejected,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        any::<bool>().prop_map(|marked| Fate::Unanswered { marked }),
        Just(Fate::NeverLeft),
        any::<bool>().prop_map(|duplicated| Fate::Accepted { duplicated }),
        Just(Fate::Unknown),
        Just(Fate::FailedMaybeStored),
        any::<bool>().prop_map(|retryable| Fate::Failed { retryable }),
        Just(Fate::Rejected),
    ]
}

/// Runs of (rows as a bit mask, fate, whether the journal carries its own stored-before flags).
fn runs() -> impl Strategy<Value = Vec<Vec<(u8, Fate, bool)>>> {
    let step = (1u8..64, fate(), any::<bool>());
    prop::collection::vec(prop::collection::vec(step, 1..4), 1..5)
}

/// The truth the journal implies: per row, how many attempts may have stored it.
#[derive(Default)]
struct Model {
    may_store: [u32; ROWS as usize + 1],
}

impl Model {
    fn attempt(&mut self, row: u64, fate: Fate) {
        self.may_store[row as usize] += match fate {
            Fate::Unanswered { .. } | Fate::Unknown | Fate::FailedMaybeStored => 1,
            Fate::Accepted { duplicated } => 1 + u32::from(duplicated),
            Fate::Failed { .. } | Fate::Rejected | Fate::NeverLeft => 0,
        };
    }
}

fn entries(runs: &[Vec<(u8, Fate, bool)>], model: &mut Model) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut seq = 0;
    for (run, steps) in (1u32..).zip(runs) {
        out.push(Entry::Start {
            version: 1,
            run,
            fingerprint: Fingerprint::from_reader(&b"input"[..]).unwrap(),
            input: "input".into(),
            at: 0,
            options: None,
        });
        let mut used = 0u8;
        for &(mask, fate, flags) in steps {
            let rows: Vec<u64> = (1..=ROWS)
                .filter(|r| (mask & !used) & (1 << (r - 1)) != 0)
                .collect();
            used |= mask;
            if rows.is_empty() {
                continue;
            }
            let stored_before: Vec<u64> = rows
                .iter()
                .copied()
                .filter(|&r| flags && model.may_store[r as usize] > 0)
                .collect();
            seq += 1;
            out.extend(step_entries(seq, &rows, &stored_before, fate));
            for &row in &rows {
                model.attempt(row, fate);
            }
        }
    }
    out
}

fn step_entries(seq: u64, rows: &[u64], stored_before: &[u64], fate: Fate) -> Vec<Entry> {
    if let Fate::Rejected = fate {
        return rows
            .iter()
            .map(|&row| Entry::Rejected {
                row,
                line: row + 1,
                field: Some(tc_core::Field::EndsAt),
                code: tc_core::Code::WindowExpired,
                message: "expired".into(),
                stored_before: stored_before.contains(&row),
            })
            .collect();
    }
    let batch = Entry::Batch {
        seq,
        rows: rows.to_vec(),
        lines: rows.iter().map(|r| r + 1).collect(),
        receivers: rows.iter().map(|r| format!("+91987654321{r}")).collect(),
        stored_before: stored_before.to_vec(),
        marks_leaving: !matches!(fate, Fate::Unanswered { marked: false }),
    };
    let leaving = Entry::Leaving { seq };
    let (status, possibly_stored, retryable, duplicated) = match fate {
        Fate::Unanswered { marked: false } | Fate::Rejected | Fate::NeverLeft => {
            return vec![batch]
        }
        Fate::Unanswered { marked: true } => return vec![batch, leaving],
        Fate::Accepted { duplicated } => (OutcomeStatus::Accepted, false, false, duplicated),
        Fate::Unknown => (OutcomeStatus::Unknown, true, true, false),
        Fate::FailedMaybeStored => (OutcomeStatus::Failed, true, false, false),
        Fate::Failed { retryable } => (OutcomeStatus::Failed, false, retryable, false),
    };
    let outcome = Entry::Outcome {
        seq,
        status,
        batch_id: (status == OutcomeStatus::Accepted)
            .then(|| format!("b{seq}").parse().expect("a batch id")),
        code: (status != OutcomeStatus::Accepted).then_some(ReportCode::Http(401)),
        message: None,
        attempts: 1,
        possibly_duplicated: duplicated,
        possibly_stored,
        retryable,
    };
    vec![batch, leaving, outcome]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_row_that_may_be_stored_is_always_flagged(
        mut runs in runs(),
        last_failure in (1u8..64, any::<bool>()),
    ) {
        // Any later failure: a last run whose batch fails for good or stops the push.
        runs.push(vec![(last_failure.0, Fate::Failed { retryable: last_failure.1 }, true)]);
        let mut model = Model::default();
        let entries = entries(&runs, &mut model);
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let mut writer = JournalWriter::create(&journal).unwrap();
        for entry in &entries {
            writer.write(entry).unwrap();
        }
        writer.sync().unwrap();
        drop(writer);
        let report = dir.path().join("report.jsonl");
        tc_push::write_report(&journal, &report, ROWS).unwrap();
        let text = std::fs::read_to_string(&report).unwrap();
        let rows: Vec<ReportRow> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        prop_assert_eq!(rows.len() as u64, ROWS);
        for row in rows {
            let may_store = model.may_store[row.row as usize];
            if may_store > 0 {
                prop_assert!(
                    matches!(row.status, RowStatus::Accepted | RowStatus::Unknown),
                    "row {} may be stored ({} attempts) but is reported {:?}", row.row, may_store, row
                );
            }
            if row.status == RowStatus::Accepted && may_store > 1 {
                prop_assert!(row.possibly_duplicated, "row {} may be stored twice: {:?}", row.row, row);
            }
        }
    }
}
