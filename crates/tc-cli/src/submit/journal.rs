//! The journal: an append-only JSON Lines file that records the fate of every row, so a push
//! killed at any moment can be resumed without losing a record or re-sending an acknowledged one.
//!
//! A batch is written down (`batch`) and synced to disk *before* its request leaves, and its
//! outcome (`outcome`) after the answer. On resume, a batch with no outcome may or may not have
//! reached the API: its rows are sent again and flagged as possibly duplicated.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const JOURNAL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Entry {
    /// First line of every run. A resumed run checks `fingerprint` against its input.
    Start {
        version: u32,
        run: u32,
        fingerprint: String,
        input: String,
        at: i64,
    },
    /// A row that will not be sent, with the reason.
    Rejected {
        row: u64,
        line: u64,
        field: Option<String>,
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "is_false")]
        maybe_sent: bool,
    },
    /// A batch about to be sent. `maybe_sent` lists rows that were in a batch of an earlier run
    /// whose outcome was never recorded.
    Batch {
        seq: u64,
        rows: Vec<u64>,
        lines: Vec<u64>,
        receivers: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        maybe_sent: Vec<u64>,
    },
    /// What became of a batch.
    Outcome {
        seq: u64,
        status: BatchStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        attempts: u32,
        /// Accepted, but an attempt's answer was lost and the batch was sent again.
        #[serde(default, skip_serializing_if = "is_false")]
        possibly_duplicated: bool,
        /// Not accepted, but an attempt may have been stored all the same.
        #[serde(default, skip_serializing_if = "is_false")]
        maybe_stored: bool,
        /// Sending again later may succeed: `--resume` sends these rows again.
        #[serde(default, skip_serializing_if = "is_false")]
        retryable: bool,
    },
    /// Per-record delivery results of an accepted batch, from the status endpoint (`--wait`).
    Delivery { seq: u64, records: Vec<DeliveryRow> },
    /// Last line of a run that finished or was interrupted cleanly.
    End {
        run: u32,
        at: i64,
        interrupted: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// The API acknowledged the batch with a batch id.
    Accepted,
    /// The API refused the batch, or every attempt failed before it could be processed.
    Failed,
    /// The request may or may not have been processed (at-most-once mode, or retries exhausted
    /// after an ambiguous failure).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub row: u64,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Appends entries. `sync` flushes and fsyncs: call it before a batch counts as sent.
pub struct JournalWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl JournalWriter {
    /// Creates a new journal; refuses to overwrite one (that would forget what was sent).
    pub fn create(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| {
                if path.exists() {
                    format!(
                        "journal {} already exists: add --resume to continue that push, or give \
                     another --journal path to start a new one",
                        path.display()
                    )
                } else {
                    format!("cannot create journal {}", path.display())
                }
            })?;
        Ok(JournalWriter {
            out: BufWriter::new(file),
            path: path.to_owned(),
        })
    }

    /// Opens an existing journal to append a resumed run.
    pub fn append(path: &Path) -> Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open journal {} to resume", path.display()))?;
        // A run killed mid-line leaves a torn last line: start ours on a fresh one.
        let len = file.metadata()?.len();
        let mut last = [0u8; 1];
        if len > 0 {
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(JournalWriter {
            out: BufWriter::new(file),
            path: path.to_owned(),
        })
    }

    pub fn write(&mut self, entry: &Entry) -> Result<()> {
        serde_json::to_writer(&mut self.out, entry)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// Everything written so far is on disk when this returns.
    pub fn sync(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("cannot write journal {}", self.path.display()))?;
        self.out
            .get_ref()
            .sync_data()
            .with_context(|| format!("cannot sync journal {}", self.path.display()))
    }
}

/// Where an entry stands in the journal: its line, for messages, and the byte offset of its
/// start, for reading it again with [`read_entry_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub offset: u64,
}

/// The journal's lines with their positions.
fn lines(path: &Path) -> Result<impl Iterator<Item = std::io::Result<(Position, String)>>> {
    let file =
        File::open(path).with_context(|| format!("cannot open journal {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut at = Position { line: 0, offset: 0 };
    Ok(std::iter::from_fn(move || {
        let mut text = String::new();
        match reader.read_line(&mut text) {
            Ok(0) => None,
            Ok(n) => {
                at.line += 1;
                let here = at;
                at.offset += n as u64;
                text.truncate(text.trim_end_matches(['\n', '\r']).len());
                Some(Ok((here, text)))
            }
            Err(e) => Some(Err(e)),
        }
    }))
}

/// Reads a journal entry by entry. A torn line (the process died mid-write) is skipped when it
/// is the last line or the last line of a run: what it would have recorded was never synced, so
/// nothing depended on it. A damaged line anywhere else is an error.
pub fn read_entries(path: &Path) -> Result<impl Iterator<Item = Result<(Position, Entry)>>> {
    let mut lines = lines(path)?.peekable();
    let path = path.to_owned();
    Ok(std::iter::from_fn(move || loop {
        let (at, line) = match lines.next()? {
            Ok(line) => line,
            Err(e) => {
                let e = anyhow::Error::new(e)
                    .context(format!("cannot read journal {}", path.display()));
                return Some(Err(e));
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(&line) {
            Ok(entry) => return Some(Ok((at, entry))),
            Err(e) => {
                let torn = match lines.peek() {
                    None => true,
                    Some(Ok((_, next))) => {
                        matches!(serde_json::from_str::<Entry>(next), Ok(Entry::Start { .. }))
                    }
                    Some(Err(_)) => false,
                };
                if !torn {
                    return Some(Err(anyhow::anyhow!(
                        "journal {} line {} is damaged ({e}); it cannot be resumed safely",
                        path.display(),
                        at.line
                    )));
                }
            }
        }
    }))
}

/// Reads the entry that starts at `offset` (a [`Position::offset`] from [`read_entries`]).
pub fn read_entry_at(journal: &mut BufReader<File>, offset: u64) -> Result<Entry> {
    journal.seek(SeekFrom::Start(offset))?;
    let mut line = String::new();
    journal.read_line(&mut line)?;
    serde_json::from_str(&line).with_context(|| format!("journal entry at byte {offset}"))
}

/// Checks that a journal belongs to this input before resuming. `Ok(false)` when there is no
/// journal yet, or it holds no start entry: the push never got as far as sending anything.
pub fn matches_input(path: &Path, fingerprint: &str) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    for entry in read_entries(path)? {
        if let (
            _,
            Entry::Start {
                fingerprint: theirs,
                input,
                version,
                ..
            },
        ) = entry?
        {
            if version != JOURNAL_VERSION {
                bail!(
                    "journal {} was written by another version ({version}) of tcbatch",
                    path.display()
                );
            }
            if theirs != fingerprint {
                bail!(
                    "journal {} belongs to another input (it was written for {input}, whose \
                     content differs from this file); resume with the same file, or start a new \
                     push with another --journal path",
                    path.display()
                );
            }
            return Ok(true);
        }
    }
    Ok(false)
}
