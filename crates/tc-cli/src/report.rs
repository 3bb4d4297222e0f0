//! What `validate` prints: each problem as it is found, then a summary with counts per code.

use std::io::{self, Write};
use tc_core::diagnostic::escape_control_characters;
use tc_core::{Code, Diagnostic};

/// Human output lists at most this many problems; `--output json` lists all of them.
pub const MAX_SHOWN_PROBLEMS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// `line L, record N, field: message [code]`, then a summary.
    Human,
    /// One JSON object per problem on standard output; the summary goes to standard error.
    Json,
}

/// Counts of records and of problems per code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationTally {
    pub records: u64,
    pub valid: u64,
    pub invalid: u64,
    /// Problems per code, indexed like [`Code::ALL`].
    problems: Vec<u64>,
}

impl ValidationTally {
    /// `(code, problems)` for every code seen, most frequent first, then by name.
    pub fn by_code(&self) -> Vec<(Code, u64)> {
        let mut counts: Vec<(Code, u64)> = Code::ALL
            .iter()
            .zip(&self.problems)
            .filter(|(_, &n)| n > 0)
            .map(|(&code, &n)| (code, n))
            .collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.as_str().cmp(b.0.as_str())));
        counts
    }

    fn count(&mut self, code: Code) {
        if self.problems.is_empty() {
            self.problems = vec![0; Code::ALL.len()];
        }
        if let Some(i) = Code::ALL.iter().position(|&c| c == code) {
            self.problems[i] += 1;
        }
    }
}

pub struct Report<W: Write> {
    out: W,
    output: Output,
    shown: usize,
    hidden: usize,
    tally: ValidationTally,
}

impl<W: Write> Report<W> {
    pub fn new(out: W, output: Output) -> Self {
        Report {
            out,
            output,
            shown: 0,
            hidden: 0,
            tally: ValidationTally::default(),
        }
    }

    pub fn valid(&mut self) {
        self.tally.records += 1;
        self.tally.valid += 1;
    }

    pub fn invalid(
        &mut self,
        record: usize,
        line: usize,
        problems: &[Diagnostic],
    ) -> io::Result<()> {
        self.tally.records += 1;
        self.tally.invalid += 1;
        for problem in problems {
            self.tally.count(problem.code);
            match self.output {
                Output::Json => write_json(&mut self.out, record, line, problem)?,
                Output::Human if self.shown < MAX_SHOWN_PROBLEMS => {
                    self.shown += 1;
                    // The message quotes the user's values: escaped, they cannot drive the terminal.
                    let problem = escape_control_characters(&problem.to_string()).into_owned();
                    writeln!(self.out, "line {line}, record {record}, {problem}")?;
                }
                Output::Human => self.hidden += 1,
            }
        }
        Ok(())
    }

    /// Writes the summary (to the report for human output, to standard error next to JSON
    /// output) followed by `notes`, and returns the counts.
    pub fn finish(mut self, notes: &[String]) -> io::Result<ValidationTally> {
        match self.output {
            Output::Human => {
                if self.hidden > 0 {
                    writeln!(
                        self.out,
                        "... and {} more problems not shown (use --output json for all)",
                        self.hidden
                    )?;
                }
                if self.shown > 0 {
                    writeln!(self.out)?;
                }
                write_summary(&mut self.out, &self.tally, notes)?;
                self.out.flush()?;
            }
            Output::Json => {
                self.out.flush()?;
                write_summary(&mut io::stderr().lock(), &self.tally, notes)?;
            }
        }
        Ok(self.tally)
    }
}

/// `{"record": N, "line": L, "field": "caller_number", "code": "...", "message": "..."}`
fn write_json(
    out: &mut impl Write,
    record: usize,
    line: usize,
    problem: &Diagnostic,
) -> io::Result<()> {
    write!(out, "{{\"record\": {record}, \"line\": {line}, \"field\": ")?;
    match problem.field {
        Some(field) => write!(out, "\"{}\"", field.wire_name())?,
        None => out.write_all(b"null")?,
    }
    write!(
        out,
        ", \"code\": \"{}\", \"message\": ",
        problem.code.as_str()
    )?;
    serde_json::to_writer(&mut *out, &problem.message)?;
    out.write_all(b"}\n")
}

fn write_summary(
    out: &mut impl Write,
    tally: &ValidationTally,
    notes: &[String],
) -> io::Result<()> {
    if tally.records == 0 {
        writeln!(out, "no records found in the input")?;
    } else {
        let noun = if tally.records == 1 {
            "record"
        } else {
            "records"
        };
        writeln!(
            out,
            "{} {noun}: {} valid, {} invalid",
            tally.records, tally.valid, tally.invalid
        )?;
    }
    let counts = tally.by_code();
    if !counts.is_empty() {
        writeln!(out, "problems by code:")?;
        for (code, n) in counts {
            writeln!(out, "{n:>9}  {code}")?;
        }
    }
    for note in notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}
