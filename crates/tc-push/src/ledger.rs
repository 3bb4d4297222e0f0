//! What a journal says has happened, folded into per-row facts: which entry has the last word on
//! each row, which rows are settled for good, and which may be stored. Both a resumed push and
//! the report are built from this one reading, so they cannot disagree.

use crate::error::Error;
use crate::journal::{read_entries, DeliveryRow, Entry};
use crate::options::StoredSoFar;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use tc_engine::BatchOutcome;

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

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows in `self` and not in `other`.
    pub fn count_without(&self, other: &RowSet) -> u64 {
        self.bits
            .iter()
            .enumerate()
            .map(|(i, word)| (word & !other.bits.get(i).copied().unwrap_or(0)).count_ones())
            .map(u64::from)
            .sum()
    }
}

/// The journal, read once.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Per row (index = row number): where the entry with the last word on it starts in the
    /// journal, plus one; 0 when the journal never mentions the row. Eight bytes a row.
    last: Vec<u64>,
    /// Rows whose last word is final: rejected, accepted, or refused for good.
    pub settled: RowSet,
    /// Rows an attempt may have stored (or did store), at any time. Sticky: no later entry
    /// removes a row from it.
    pub possibly_stored: RowSet,
    /// Rows that an attempt *before* their last word may have stored: the report flags them
    /// whatever the last word says.
    pub stored_before_last_word: RowSet,
    /// How each answered batch ended (by its seq), as `tc-engine` decided it.
    pub outcomes: HashMap<u64, BatchOutcome>,
    pub deliveries: HashMap<u64, HashMap<u64, DeliveryRow>>,
    /// Batches written down whose request never left (the push stopped first): none of their
    /// rows was sent by them.
    pub never_left: HashSet<u64>,
    pub next_seq: u64,
    pub next_run: u32,
}

impl Ledger {
    /// The ledger of a journal with nothing in it.
    pub fn empty() -> Ledger {
        Ledger {
            next_seq: 1,
            next_run: 1,
            ..Default::default()
        }
    }

    /// Reads and folds the journal at `path`.
    pub fn load(path: &Path) -> Result<Ledger, Error> {
        let mut fold = Fold::default();
        for entry in read_entries(path)? {
            let (at, entry) = entry?;
            fold.apply(at.offset + 1, entry);
        }
        Ok(fold.finish())
    }

    /// Where the entry with the last word on `row` starts in the journal, plus one (0: none).
    pub fn last_word(&self, row: u64) -> u64 {
        self.last.get(row as usize).copied().unwrap_or(0)
    }

    /// Rows the journal mentions, 1-based, up to the highest.
    pub fn highest_row(&self) -> u64 {
        self.last.len().saturating_sub(1) as u64
    }

    /// Rows that may be stored and are not settled: a resumed push sends them again (flagged),
    /// unless it is at most once.
    pub fn unsettled_possibly_stored(&self) -> u64 {
        self.possibly_stored.count_without(&self.settled)
    }

    /// Whether anything of the push may be on the API. Accepted rows are in `possibly_stored`
    /// too, so that one set says it.
    pub fn stored_so_far(&self) -> StoredSoFar {
        if self.possibly_stored.is_empty() {
            StoredSoFar::Nothing
        } else {
            StoredSoFar::Something
        }
    }
}

/// The fold's state while reading: the ledger, plus the batches still waiting for an answer.
#[derive(Default)]
pub(crate) struct Fold {
    ledger: Ledger,
    /// Batches whose outcome has not been read yet: seq -> (their `last` key, rows).
    open: HashMap<u64, (u64, Vec<u64>)>,
    /// Keys of the open batches whose request may have left.
    left: HashSet<u64>,
}

impl Fold {
    pub(crate) fn apply(&mut self, key: u64, entry: Entry) {
        let ledger = &mut self.ledger;
        match entry {
            Entry::Start { run, .. } => ledger.next_run = ledger.next_run.max(run + 1),
            Entry::Rejected {
                row, stored_before, ..
            } => {
                self.set_last(row, key, stored_before);
                self.ledger.settled.insert(row);
            }
            Entry::Batch {
                seq,
                rows,
                stored_before,
                marks_leaving,
                ..
            } => {
                ledger.next_seq = ledger.next_seq.max(seq + 1);
                for &row in &rows {
                    let flagged = stored_before.binary_search(&row).is_ok();
                    self.set_last(row, key, flagged);
                }
                self.open.insert(seq, (key, rows));
                if !marks_leaving {
                    self.left.insert(key);
                }
            }
            Entry::Leaving { seq } => {
                if let Some((key, _)) = self.open.get(&seq) {
                    self.left.insert(*key);
                }
            }
            entry @ Entry::Outcome { .. } => {
                if let Some((seq, outcome)) = entry.batch_outcome() {
                    self.answer(seq, outcome);
                }
            }
            Entry::Delivery { seq, records } => {
                let records = records.into_iter().map(|r| (r.row, r)).collect();
                ledger.deliveries.insert(seq, records);
            }
            Entry::End { .. } => {}
        }
    }

    /// Settles the rows of batch `seq` whose last word it is (unless a resume may send them
    /// again), and marks them possibly stored when the outcome says they may be.
    fn answer(&mut self, seq: u64, outcome: BatchOutcome) {
        let (batch_key, rows) = self.open.remove(&seq).unwrap_or_default();
        self.left.remove(&batch_key);
        let stored = outcome.may_be_stored();
        let resumable = matches!(outcome, BatchOutcome::Resumable { .. });
        for row in rows {
            if stored {
                self.ledger.possibly_stored.insert(row);
            }
            if !resumable && self.ledger.last_word(row) == batch_key {
                self.ledger.settled.insert(row);
            }
        }
        self.ledger.outcomes.insert(seq, outcome);
    }

    /// Gives `row` a new last word. The row counts as stored before it when the journal says so
    /// (`flagged`), when an earlier entry may have stored it, or when its previous last word is a
    /// batch that was never answered and whose request may have left.
    fn set_last(&mut self, row: u64, key: u64, flagged: bool) {
        let ledger = &mut self.ledger;
        let previous = ledger.last_word(row);
        if previous != 0 && self.left.contains(&previous) {
            ledger.possibly_stored.insert(row);
        }
        if flagged || ledger.possibly_stored.contains(row) {
            ledger.possibly_stored.insert(row);
            ledger.stored_before_last_word.insert(row);
        }
        let index = row as usize;
        if index >= ledger.last.len() {
            ledger.last.resize(index + 1, 0);
        }
        ledger.last[index] = key;
    }

    /// The ledger of the entries applied so far, less what [`Fold::finish`] adds: which rows
    /// the batches still unanswered may have stored.
    pub(crate) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub(crate) fn finish(mut self) -> Ledger {
        // Written down, never answered, and it may have left: it may have been processed. One
        // that never left is not stored: a resume sends its rows, whatever the guarantee.
        for (seq, (key, rows)) in self.open {
            if !self.left.contains(&key) {
                self.ledger.never_left.insert(seq);
                continue;
            }
            for row in rows {
                self.ledger.possibly_stored.insert(row);
            }
        }
        self.ledger
    }
}
