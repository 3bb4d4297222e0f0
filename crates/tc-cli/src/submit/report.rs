//! The report: exactly one row per input record, in input order, rebuilt from the journal, so it
//! is complete and consistent however many times the push was interrupted and resumed. Each row
//! is reported as the journal entry with the last word on it says.

use super::journal::{read_entry_at, BatchStatus, Entry};
use super::state::Ledger;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct ReportRow<'a> {
    pub row: u64,
    pub line: u64,
    /// accepted, rejected, failed or unknown
    pub status: &'a str,
    pub batch_id: &'a str,
    pub code: &'a str,
    pub message: &'a str,
    pub possibly_duplicated: bool,
    pub delivery_status: &'a str,
    pub delivery_message: &'a str,
}

/// Counts of report rows by status, and of the reasons behind rows not accepted or not
/// delivered.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub accepted: u64,
    pub rejected: u64,
    pub failed: u64,
    pub unknown: u64,
    pub possibly_duplicated: u64,
    pub delivered: u64,
    pub not_delivered: u64,
    pub by_code: std::collections::BTreeMap<String, u64>,
    pub by_delivery_status: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    pub fn rows(&self) -> u64 {
        self.accepted + self.rejected + self.failed + self.unknown
    }
}

const RESUME_HINT: &str = "; run the same command with --resume to send it again";

/// Writes the report for `journal` to `path` (CSV, or JSON Lines when it ends in `.jsonl`), one
/// row per input record in input order. `input_rows` is how many records the input holds: rows
/// the journal never mentions (the push stopped before reaching them) are reported `failed`
/// with code `not_sent`.
pub fn write_report(journal: &Path, path: &Path, input_rows: u64) -> Result<Tally> {
    let ledger = Ledger::load(journal)?;
    let mut entries = EntryCache::open(journal)?;
    let mut sink = Sink::create(path)?;
    let mut tally = Tally::default();
    let mut message = String::new();
    for row in 1..=input_rows.max(ledger.highest_row()) {
        let key = ledger.last_word(row);
        if key == 0 {
            let report = ReportRow {
                row,
                line: 0,
                status: "failed",
                batch_id: "",
                code: "not_sent",
                message: "the push stopped before this row was sent; run the same command with \
                          --resume to send it",
                possibly_duplicated: false,
                delivery_status: "",
                delivery_message: "",
            };
            sink.write(&report, &mut tally)?;
            continue;
        }
        let report = match entries.get(key - 1)? {
            Entry::Rejected {
                line,
                code,
                message: text,
                maybe_sent,
                ..
            } => {
                message.clear();
                message.push_str(text);
                if *maybe_sent {
                    message.push_str(
                        "; an interrupted earlier attempt may have registered it once already",
                    );
                }
                ReportRow {
                    row,
                    line: *line,
                    status: "rejected",
                    batch_id: "",
                    code,
                    message: &message,
                    possibly_duplicated: false,
                    delivery_status: "",
                    delivery_message: "",
                }
            }
            Entry::Batch {
                seq,
                rows,
                lines,
                maybe_sent,
                ..
            } => {
                // A batch's rows are in read order, so ascending.
                let line = rows
                    .binary_search(&row)
                    .ok()
                    .and_then(|i| lines.get(i).copied())
                    .unwrap_or(0);
                let sent_before = maybe_sent.binary_search(&row).is_ok();
                match ledger.outcomes.get(seq) {
                    Some(o) => {
                        let delivery = ledger.deliveries.get(seq).and_then(|d| d.get(&row));
                        message.clear();
                        message.push_str(&o.message);
                        if o.retryable {
                            message.push_str(RESUME_HINT);
                        }
                        ReportRow {
                            row,
                            line,
                            status: match o.status {
                                BatchStatus::Accepted => "accepted",
                                BatchStatus::Failed => "failed",
                                BatchStatus::Unknown => "unknown",
                            },
                            batch_id: &o.batch_id,
                            code: &o.code,
                            message: &message,
                            possibly_duplicated: match o.status {
                                BatchStatus::Accepted => o.possibly_duplicated || sent_before,
                                BatchStatus::Unknown => sent_before,
                                BatchStatus::Failed => false,
                            },
                            delivery_status: delivery.map_or("", |d| d.status.as_str()),
                            delivery_message: delivery
                                .and_then(|d| d.message.as_deref())
                                .unwrap_or(""),
                        }
                    }
                    // Sent, and the push died before the answer.
                    None => ReportRow {
                        row,
                        line,
                        status: "unknown",
                        batch_id: "",
                        code: "interrupted",
                        message: "the push stopped before the API answered; run the same \
                                  command with --resume to settle this row",
                        possibly_duplicated: sent_before,
                        delivery_status: "",
                        delivery_message: "",
                    },
                }
            }
            other => anyhow::bail!(
                "journal entry at byte {} is not about rows: {other:?}",
                key - 1
            ),
        };
        sink.write(&report, &mut tally)?;
    }
    sink.finish()?;
    Ok(tally)
}

/// The journal entries the report needs, read by offset. Rows in input order mostly come from
/// one batch at a time, with rejected rows in between: a few recent entries are all it keeps.
struct EntryCache {
    journal: BufReader<File>,
    recent: VecDeque<(u64, Entry)>,
}

impl EntryCache {
    const KEEP: usize = 16;

    fn open(path: &Path) -> Result<EntryCache> {
        let file =
            File::open(path).with_context(|| format!("cannot open journal {}", path.display()))?;
        Ok(EntryCache {
            journal: BufReader::new(file),
            recent: VecDeque::with_capacity(Self::KEEP),
        })
    }

    fn get(&mut self, offset: u64) -> Result<&Entry> {
        let index = match self.recent.iter().position(|(at, _)| *at == offset) {
            Some(index) => index,
            None => {
                let entry = read_entry_at(&mut self.journal, offset)?;
                if self.recent.len() == Self::KEEP {
                    self.recent.pop_front();
                }
                self.recent.push_back((offset, entry));
                self.recent.len() - 1
            }
        };
        Ok(&self.recent[index].1)
    }
}

enum Sink {
    Csv(Box<csv::Writer<File>>),
    Jsonl(BufWriter<File>),
}

impl Sink {
    fn create(path: &Path) -> Result<Sink> {
        let file = File::create(path)
            .with_context(|| format!("cannot write report {}", path.display()))?;
        Ok(if path.extension().is_some_and(|e| e == "jsonl") {
            Sink::Jsonl(BufWriter::new(file))
        } else {
            Sink::Csv(Box::new(csv::Writer::from_writer(file)))
        })
    }

    fn write(&mut self, row: &ReportRow, tally: &mut Tally) -> Result<()> {
        match row.status {
            "accepted" => tally.accepted += 1,
            "rejected" => tally.rejected += 1,
            "failed" => tally.failed += 1,
            _ => tally.unknown += 1,
        }
        tally.possibly_duplicated += u64::from(row.possibly_duplicated);
        if !row.code.is_empty() {
            *tally.by_code.entry(row.code.to_owned()).or_default() += 1;
        }
        match row.delivery_status {
            "" => {}
            "success" => tally.delivered += 1,
            other => {
                tally.not_delivered += 1;
                *tally
                    .by_delivery_status
                    .entry(other.to_owned())
                    .or_default() += 1;
            }
        }
        match self {
            Sink::Csv(w) => w.serialize(row)?,
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, row)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Csv(mut w) => w.flush()?,
            Sink::Jsonl(mut w) => w.flush()?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submit::journal::JournalWriter;

    fn batch(seq: u64, rows: &[u64]) -> Entry {
        Entry::Batch {
            seq,
            rows: rows.to_vec(),
            lines: rows.iter().map(|r| r + 1).collect(),
            receivers: rows.iter().map(|r| format!("+9198765432{r:02}")).collect(),
            maybe_sent: vec![],
        }
    }

    fn accepted(seq: u64) -> Entry {
        Entry::Outcome {
            seq,
            status: BatchStatus::Accepted,
            batch_id: Some(format!("b{seq}")),
            code: None,
            message: None,
            attempts: 1,
            possibly_duplicated: false,
            maybe_stored: false,
            retryable: false,
        }
    }

    #[test]
    fn a_resumed_push_reports_each_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let mut w = JournalWriter::create(&journal).unwrap();
        let start = |run| Entry::Start {
            version: 1,
            run,
            fingerprint: "f".into(),
            input: "x".into(),
            at: 0,
        };
        // Run 1: batch 1 answered, batch 2 in flight when the process died mid-line.
        for e in [start(1), batch(1, &[1, 2]), accepted(1), batch(2, &[3, 4])] {
            w.write(&e).unwrap();
        }
        w.sync().unwrap();
        drop(w);
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        std::io::Write::write_all(&mut raw, br#"{"t":"outcome","seq":2,"sta"#).unwrap();
        drop(raw);
        // Run 2 resends rows 3 and 4, flagged, and rejects row 5.
        let mut w = JournalWriter::append(&journal).unwrap();
        let resent = Entry::Batch {
            seq: 3,
            rows: vec![3, 4],
            lines: vec![4, 5],
            receivers: vec!["+919876543203".into(), "+919876543204".into()],
            maybe_sent: vec![3, 4],
        };
        let rejected = Entry::Rejected {
            row: 5,
            line: 6,
            field: Some("ends_at".into()),
            code: "window_expired".into(),
            message: "late".into(),
            maybe_sent: false,
        };
        for e in [start(2), resent, accepted(3), rejected] {
            w.write(&e).unwrap();
        }
        w.sync().unwrap();

        let state = crate::submit::state::Ledger::load(&journal).unwrap();
        assert_eq!(state.settled.len(), 5);
        assert_eq!(state.next_seq, 4);
        assert_eq!(state.next_run, 3);

        let report = dir.path().join("report.jsonl");
        let tally = write_report(&journal, &report, 5).unwrap();
        assert_eq!(
            (tally.accepted, tally.rejected, tally.possibly_duplicated),
            (4, 1, 2)
        );
        let text = std::fs::read_to_string(&report).unwrap();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut numbers: Vec<u64> = rows.iter().map(|r| r["row"].as_u64().unwrap()).collect();
        numbers.sort();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
        assert_eq!(rows[2]["batch_id"], "b3");
        assert_eq!(rows[2]["possibly_duplicated"], true);
    }

    #[test]
    fn a_batch_never_answered_is_unknown_until_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let mut w = JournalWriter::create(&journal).unwrap();
        w.write(&Entry::Start {
            version: 1,
            run: 1,
            fingerprint: "f".into(),
            input: "x".into(),
            at: 0,
        })
        .unwrap();
        w.write(&batch(1, &[1, 2])).unwrap();
        w.sync().unwrap();
        let state = crate::submit::state::Ledger::load(&journal).unwrap();
        assert!(state.maybe_sent.contains(1) && state.maybe_sent.contains(2));
        assert_eq!(state.settled.len(), 0);
        let tally = write_report(&journal, &dir.path().join("r.csv"), 3).unwrap();
        assert_eq!(
            (tally.unknown, tally.failed, tally.possibly_duplicated),
            (2, 1, 0)
        );
    }

    #[test]
    fn damage_in_the_middle_of_a_run_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        std::fs::write(
            &journal,
            "{\"t\":\"start\",\"version\":1,\"run\":1,\"fingerprint\":\"f\",\"input\":\"x\",\"at\":0}\nGARBAGE\n{\"t\":\"end\",\"run\":1,\"at\":0,\"interrupted\":false}\n",
        )
        .unwrap();
        let err = crate::submit::state::Ledger::load(&journal).unwrap_err();
        assert!(err.to_string().contains("line 2 is damaged"), "{err}");
    }
}
