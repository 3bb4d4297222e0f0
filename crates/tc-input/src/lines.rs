//! Physical lines of an input, capped in length, with line numbers, and a way to read lines again
//! (the CSV reader re-reads the lines a runaway quoted field swallowed). `tcbatch normalize`
//! reads its numbers, one a line, through [`Lines`] too.

use super::MAX_RECORD_BYTES;
use std::io::{self, BufRead};

/// What [`Lines::read_line`] appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Line {
    /// 1-based number of the line.
    pub number: usize,
    /// The line was longer than [`MAX_RECORD_BYTES`]: only its start was kept, the rest skipped.
    pub overlong: bool,
    /// The line ended with `\n` (only the last line of a file may not).
    pub terminated: bool,
}

/// The lines of a reader, each at most [`MAX_RECORD_BYTES`] long (the rest of a longer one is
/// skipped), numbered from 1.
pub struct Lines<R> {
    reader: R,
    /// Bytes to read again before reading on, and how far they have been read.
    replay: Vec<u8>,
    replay_at: usize,
    next_number: usize,
}

impl<R: BufRead> Lines<R> {
    /// The lines of `reader`, from its first.
    pub fn new(reader: R) -> Self {
        Lines {
            reader,
            replay: Vec::new(),
            replay_at: 0,
            next_number: 1,
        }
    }

    /// Appends the next line, with its `\n`, to `buf`. `None` at the end of the input.
    pub fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
        let number = self.next_number;
        let start = buf.len();
        let mut overlong = false;
        let mut terminated = false;
        let mut any = false;
        while !terminated {
            let from_replay = self.replay_at < self.replay.len();
            let available = if from_replay {
                &self.replay[self.replay_at..]
            } else {
                match self.reader.fill_buf() {
                    Ok(bytes) => bytes,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(err),
                }
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let used = match memchr::memchr(b'\n', available) {
                Some(at) => {
                    terminated = true;
                    at + 1
                }
                None => available.len(),
            };
            let room = MAX_RECORD_BYTES.saturating_sub(buf.len() - start);
            if used > room {
                overlong = true;
            }
            buf.extend_from_slice(&available[..used.min(room)]);
            if from_replay {
                self.replay_at += used;
            } else {
                self.reader.consume(used);
            }
        }
        if !any {
            return Ok(None);
        }
        if overlong && terminated {
            // Keep the line ending, so the kept start stays a line of its own if read again.
            if let Some(last) = buf.last_mut() {
                *last = b'\n';
            }
        }
        self.next_number += 1;
        Ok(Some(Line {
            number,
            overlong,
            terminated,
        }))
    }

    /// The number of the line the next read starts on.
    pub fn next_number(&self) -> usize {
        self.next_number
    }

    /// Makes `bytes`, which start on line `number`, the next ones read, ahead of anything not yet
    /// read again.
    pub(crate) fn unread(&mut self, bytes: &[u8], number: usize) {
        let mut replay = Vec::with_capacity(bytes.len() + self.replay.len() - self.replay_at);
        replay.extend_from_slice(bytes);
        replay.extend_from_slice(&self.replay[self.replay_at..]);
        self.replay = replay;
        self.replay_at = 0;
        self.next_number = number;
    }
}
