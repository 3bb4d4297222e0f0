//! What a journal says has happened, folded into per-row facts: which entry has the last word on
//! each row, which rows are settled for good, and which may have reached the API unanswered.
//! Both `--resume` and the report are built from this one reading, so they cannot disagree.

use super::journal::{read_entries, BatchStatus, DeliveryRow, Entry};
use anyhow::Result;
use std::collections::HashMap;
use std::path::Path;

/// A set of row numbers as a bitmap: one bit per input row.
#[derive(Debug, Default, Clone)]
pub struct RowSet {
    bits: Vec<u64>,
    len: u64,
}

impl RowSet {
    pub fn insert(&mut self, row: u64) {
        let (word, bit) = ((row / 64) as usize, row % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) == 0 {
            self.bits[word] |= 1 << bit;
            self.len += 1;
        }
    }

    pub fn contains(&self, row: u64) -> bool {
        let word = (row / 64) as usize;
        word < self.bits.len() && self.bits[word] & (1 << (row % 64)) != 0
    }

    pub fn len(&self) -> u64 {
        self.len
    }
}

/// How a batch ended, as far as the journal knows.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: BatchStatus,
    pub batch_id: String,
    pub code: String,
    pub message: String,
    pub possibly_duplicated: bool,
    /// Sending again later may succeed: `--resume` sends these rows again.
    pub retryable: bool,
}

/// The journal, read once.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Per row (index = row number): where the entry with the last word on it starts in the
    /// journal, plus one; 0 when the journal never mentions the row. Eight bytes a row.
    last: Vec<u64>,
    /// Rows whose last word is final: rejected, accepted, or refused for good.
    pub settled: RowSet,
    /// Rows that may have reached the API without an answer, at any time. Sticky: a row once
    /// possibly sent is flagged in the report even after a later batch is accepted.
    pub maybe_sent: RowSet,
    pub outcomes: HashMap<u64, Outcome>,
    pub deliveries: HashMap<u64, HashMap<u64, DeliveryRow>>,
    pub next_seq: u64,
    pub next_run: u32,
}

impl Ledger {
    pub fn empty() -> Ledger {
        Ledger {
            next_seq: 1,
            next_run: 1,
            ..Default::default()
        }
    }

    pub fn load(path: &Path) -> Result<Ledger> {
        let mut ledger = Ledger::empty();
        // Batches whose outcome has not been read yet: seq -> (their `last` key, rows).
        let mut open: HashMap<u64, (u64, Vec<u64>)> = HashMap::new();
        for entry in read_entries(path)? {
            let (at, entry) = entry?;
            let key = at.offset + 1;
            match entry {
                Entry::Start { run, .. } => ledger.next_run = ledger.next_run.max(run + 1),
                Entry::Rejected {
                    row, maybe_sent, ..
                } => {
                    ledger.set_last(row, key);
                    ledger.settled.insert(row);
                    if maybe_sent {
                        ledger.maybe_sent.insert(row);
                    }
                }
                Entry::Batch {
                    seq,
                    rows,
                    maybe_sent,
                    ..
                } => {
                    ledger.next_seq = ledger.next_seq.max(seq + 1);
                    for &row in &rows {
                        ledger.set_last(row, key);
                    }
                    for row in maybe_sent {
                        ledger.maybe_sent.insert(row);
                    }
                    open.insert(seq, (key, rows));
                }
                Entry::Outcome {
                    seq,
                    status,
                    batch_id,
                    code,
                    message,
                    possibly_duplicated,
                    maybe_stored,
                    retryable,
                    ..
                } => {
                    let (batch_key, rows) = open.remove(&seq).unwrap_or_default();
                    for row in rows {
                        if possibly_duplicated || maybe_stored {
                            ledger.maybe_sent.insert(row);
                        }
                        if !retryable && ledger.last_word(row) == batch_key {
                            ledger.settled.insert(row);
                        }
                    }
                    let outcome = Outcome {
                        status,
                        batch_id: batch_id.unwrap_or_default(),
                        code: code.unwrap_or_default(),
                        message: message.unwrap_or_default(),
                        possibly_duplicated,
                        retryable,
                    };
                    ledger.outcomes.insert(seq, outcome);
                }
                Entry::Delivery { seq, records } => {
                    ledger
                        .deliveries
                        .insert(seq, records.into_iter().map(|r| (r.row, r)).collect());
                }
                Entry::End { .. } => {}
            }
        }
        // Written down, never answered: the request may have been processed.
        for row in open.into_values().flat_map(|(_, rows)| rows) {
            ledger.maybe_sent.insert(row);
        }
        Ok(ledger)
    }

    /// Where the entry with the last word on `row` starts in the journal, plus one (0: none).
    pub fn last_word(&self, row: u64) -> u64 {
        self.last.get(row as usize).copied().unwrap_or(0)
    }

    /// Rows the journal mentions, 1-based, up to the highest.
    pub fn highest_row(&self) -> u64 {
        self.last.len().saturating_sub(1) as u64
    }

    fn set_last(&mut self, row: u64, key: u64) {
        let index = row as usize;
        if index >= self.last.len() {
            self.last.resize(index + 1, 0);
        }
        self.last[index] = key;
    }
}
