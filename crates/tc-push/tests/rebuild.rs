//! `rebuild_report`: the report of a journal after the push, to a file or a stream, the same
//! as the push's own, and never over the journal or the push's input.

use std::path::Path;
use tc_push::journal::{Entry, JournalWriter};
use tc_push::{
    rebuild_report, write_report, Error, FileRole, Fingerprint, OutcomeStatus, ReportFormat,
    ReportOutput,
};

fn start(run: u32, input: &Path) -> Entry {
    Entry::Start {
        version: 1,
        run,
        fingerprint: Fingerprint::from_reader(&b"input"[..]).unwrap(),
        input: input.display().to_string(),
        at: 0,
        options: None,
    }
}

fn accepted_batch(seq: u64, rows: &[u64]) -> [Entry; 2] {
    [
        Entry::Batch {
            seq,
            rows: rows.to_vec(),
            lines: rows.iter().map(|r| r + 1).collect(),
            receivers: rows.iter().map(|r| format!("+9198765432{r:02}")).collect(),
            stored_before: Vec::new(),
            marks_leaving: false,
        },
        Entry::Outcome {
            seq,
            status: OutcomeStatus::Accepted,
            batch_id: Some(format!("b{seq}").parse().unwrap()),
            code: None,
            message: None,
            attempts: 1,
            possibly_duplicated: false,
            possibly_stored: false,
            retryable: false,
        },
    ]
}

fn end(run: u32, interrupted: bool) -> Entry {
    Entry::End {
        run,
        at: 0,
        interrupted,
    }
}

fn write(journal: &Path, entries: &[Entry]) {
    let mut writer = JournalWriter::create(journal).unwrap();
    for entry in entries {
        writer.write(entry).unwrap();
    }
    writer.sync().unwrap();
}

/// A finished push of rows 1 to 3 read from `calls.csv` in `dir`.
fn finished_push(dir: &Path) -> std::path::PathBuf {
    let journal = dir.join("calls.csv.journal");
    let input = dir.join("calls.csv");
    std::fs::write(&input, "three rows").unwrap();
    let [batch, outcome] = accepted_batch(1, &[1, 2, 3]);
    write(&journal, &[start(1, &input), batch, outcome, end(1, false)]);
    journal
}

#[test]
fn the_rebuilt_report_is_the_push_report_in_either_format_and_either_destination() {
    let dir = tempfile::tempdir().unwrap();
    let journal = finished_push(dir.path());
    let by_push = dir.path().join("push.report.csv");
    write_report(&journal, &by_push, 3).unwrap();

    let rebuilt_file = dir.path().join("rebuilt.csv");
    let rebuilt = rebuild_report(
        &journal,
        ReportOutput::File(&rebuilt_file),
        ReportFormat::Csv,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&rebuilt_file).unwrap(),
        std::fs::read(&by_push).unwrap()
    );
    assert_eq!(rebuilt.tally.accepted, 3);
    assert!(rebuilt.finished);
    assert_eq!(
        rebuilt.inputs,
        [dir.path().join("calls.csv").display().to_string()]
    );

    let mut stream = Vec::new();
    rebuild_report(
        &journal,
        ReportOutput::Stream(&mut stream),
        ReportFormat::JsonLines,
    )
    .unwrap();
    let by_push_jsonl = dir.path().join("push.report.jsonl");
    write_report(&journal, &by_push_jsonl, 3).unwrap();
    assert_eq!(stream, std::fs::read(&by_push_jsonl).unwrap());
}

#[test]
fn a_push_that_did_not_finish_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let [batch, outcome] = accepted_batch(1, &[1, 2]);
    let input = dir.path().join("calls.csv");
    write(&journal, &[start(1, &input), batch, outcome, end(1, true)]);
    let mut stream = Vec::new();
    let rebuilt = rebuild_report(
        &journal,
        ReportOutput::Stream(&mut stream),
        ReportFormat::Csv,
    )
    .unwrap();
    assert!(!rebuilt.finished);
    assert_eq!(rebuilt.tally.rows(), 2);
}

#[test]
fn the_report_never_goes_over_the_journal_or_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let journal = finished_push(dir.path());
    let input = dir.path().join("calls.csv");
    let journal_before = std::fs::read(&journal).unwrap();
    for (target, role) in [(&journal, FileRole::Journal), (&input, FileRole::Input)] {
        let refused =
            rebuild_report(&journal, ReportOutput::File(target), ReportFormat::Csv).unwrap_err();
        match refused {
            Error::SameFile { first, second, .. } => {
                assert_eq!((first, second), (role, FileRole::Report))
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(std::fs::read(&journal).unwrap(), journal_before);
    assert_eq!(std::fs::read(&input).unwrap(), b"three rows");
}

#[test]
fn a_file_that_is_not_a_journal_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.journal");
    let err = rebuild_report(
        &missing,
        ReportOutput::Stream(&mut Vec::new()),
        ReportFormat::Csv,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Journal { .. }), "{err}");
    assert!(err.to_string().contains("missing.journal"), "{err}");

    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a journal\n").unwrap();
    let err = rebuild_report(
        &notes,
        ReportOutput::Stream(&mut Vec::new()),
        ReportFormat::Csv,
    )
    .unwrap_err();
    assert!(matches!(err, Error::JournalNotStarted { .. }), "{err}");

    let csv = dir.path().join("calls.csv");
    std::fs::write(
        &csv,
        "caller_number,receiver_number\n+919876543210,+919876543211\n",
    )
    .unwrap();
    let err = rebuild_report(
        &csv,
        ReportOutput::Stream(&mut Vec::new()),
        ReportFormat::Csv,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::JournalDamaged { line: 1, .. }),
        "{err}"
    );
}
