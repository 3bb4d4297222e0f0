//! The ledger and the report read from hand-written journals: each row answered once, and a
//! row that may be stored never reported as if it were not.

use tc_push::journal::{Entry, JournalWriter};
use tc_push::{write_report, Fingerprint, Ledger, OutcomeStatus, ReportCode, ReportRow, RowStatus};

fn start(run: u32) -> Entry {
    Entry::Start {
        version: 1,
        run,
        fingerprint: Fingerprint::from_reader(&b"input"[..]).unwrap(),
        input: "x".into(),
        at: 0,
        options: None,
    }
}

fn batch(seq: u64, rows: &[u64], stored_before: &[u64]) -> Entry {
    Entry::Batch {
        seq,
        rows: rows.to_vec(),
        lines: rows.iter().map(|r| r + 1).collect(),
        receivers: rows.iter().map(|r| format!("+9198765432{r:02}")).collect(),
        stored_before: stored_before.to_vec(),
        marks_leaving: false,
    }
}

/// A batch as the push writes it now: a leaving entry follows it when its request leaves.
fn marked_batch(seq: u64, rows: &[u64]) -> Entry {
    match batch(seq, rows, &[]) {
        Entry::Batch {
            seq,
            rows,
            lines,
            receivers,
            stored_before,
            ..
        } => Entry::Batch {
            seq,
            rows,
            lines,
            receivers,
            stored_before,
            marks_leaving: true,
        },
        _ => unreachable!("batch() writes a batch"),
    }
}

fn outcome(seq: u64, status: OutcomeStatus, possibly_stored: bool, retryable: bool) -> Entry {
    Entry::Outcome {
        seq,
        status,
        batch_id: (status == OutcomeStatus::Accepted)
            .then(|| format!("b{seq}").parse().expect("a batch id")),
        code: (status != OutcomeStatus::Accepted).then_some(ReportCode::Http(500)),
        message: None,
        attempts: 1,
        possibly_duplicated: false,
        possibly_stored,
        retryable,
    }
}

fn write(journal: &std::path::Path, entries: &[Entry]) {
    let mut w = if journal.exists() {
        JournalWriter::append(journal).unwrap()
    } else {
        JournalWriter::create(journal).unwrap()
    };
    for e in entries {
        w.write(e).unwrap();
    }
    w.sync().unwrap();
}

fn report(dir: &std::path::Path, journal: &std::path::Path, rows: u64) -> Vec<ReportRow> {
    let path = dir.join("report.jsonl");
    write_report(journal, &path, rows).unwrap();
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_resumed_push_reports_each_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    // Run 1: batch 1 answered, batch 2 in flight when the process died mid-line.
    write(
        &journal,
        &[
            start(1),
            batch(1, &[1, 2], &[]),
            outcome(1, OutcomeStatus::Accepted, false, false),
            batch(2, &[3, 4], &[]),
        ],
    );
    let mut raw = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut raw, br#"{"t":"outcome","seq":2,"sta"#).unwrap();
    drop(raw);
    // Run 2 resends rows 3 and 4, flagged, and rejects row 5.
    let mut w = JournalWriter::append(&journal).unwrap();
    w.end_torn_line().unwrap();
    drop(w);
    let rejected = Entry::Rejected {
        row: 5,
        line: 6,
        field: Some(tc_core::Field::EndsAt),
        code: tc_core::Code::WindowExpired,
        message: "late".into(),
        stored_before: false,
    };
    write(
        &journal,
        &[
            start(2),
            batch(3, &[3, 4], &[3, 4]),
            outcome(3, OutcomeStatus::Accepted, false, false),
            rejected,
        ],
    );
    let ledger = Ledger::load(&journal).unwrap();
    assert_eq!(ledger.settled.len(), 5);
    assert_eq!((ledger.next_seq, ledger.next_run), (4, 3));

    let rows = report(dir.path(), &journal, 5);
    let numbers: Vec<u64> = rows.iter().map(|r| r.row).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    assert_eq!(rows[2].batch_id, "b3");
    assert!(rows[2].possibly_duplicated && rows[3].possibly_duplicated);
    assert!(!rows[0].possibly_duplicated);
    assert_eq!(rows[4].status, RowStatus::Rejected);
}

#[test]
fn a_batch_never_answered_is_unknown_and_unread_rows_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    write(&journal, &[start(1), batch(1, &[1, 2], &[])]);
    let ledger = Ledger::load(&journal).unwrap();
    assert!(ledger.possibly_stored.contains(1) && ledger.possibly_stored.contains(2));
    assert_eq!(ledger.settled.len(), 0);
    let rows = report(dir.path(), &journal, 3);
    assert_eq!(rows[0].status, RowStatus::Unknown);
    assert_eq!(rows[0].code, Some(ReportCode::Interrupted));
    assert_eq!(rows[2].status, RowStatus::Failed);
    assert_eq!(rows[2].code, Some(ReportCode::NotSent));
}

/// Issue 26, item 7: a batch journaled whose request never left (no leaving entry) stored
/// nothing: its rows are not sent, and a resume sends them whatever the guarantee. One whose
/// request left and was never answered may be stored.
#[test]
fn a_batch_whose_request_never_left_stored_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    write(
        &journal,
        &[
            start(1),
            marked_batch(1, &[1, 2]),
            Entry::Leaving { seq: 1 },
            marked_batch(2, &[3, 4]),
        ],
    );
    let ledger = Ledger::load(&journal).unwrap();
    assert!(ledger.possibly_stored.contains(1) && ledger.possibly_stored.contains(2));
    assert!(!ledger.possibly_stored.contains(3) && !ledger.possibly_stored.contains(4));
    let rows = report(dir.path(), &journal, 4);
    assert_eq!(rows[0].status, RowStatus::Unknown);
    assert_eq!(rows[0].code, Some(ReportCode::Interrupted));
    for row in &rows[2..] {
        assert_eq!(row.status, RowStatus::Failed, "{row:?}");
        assert_eq!(row.code, Some(ReportCode::NotSent), "{row:?}");
    }

    // Resumed: the rows of the batch that never left go out again, not flagged.
    write(
        &journal,
        &[
            start(2),
            marked_batch(3, &[3, 4]),
            Entry::Leaving { seq: 3 },
            outcome(3, OutcomeStatus::Accepted, false, false),
        ],
    );
    let rows = report(dir.path(), &journal, 4);
    for row in &rows[2..] {
        assert_eq!(row.status, RowStatus::Accepted, "{row:?}");
        assert!(!row.possibly_duplicated, "{row:?}");
    }
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
    let err = Ledger::load(&journal).unwrap_err();
    assert!(err.to_string().contains("line 2 is damaged"), "{err}");
}

/// Issue 13, item 5: a batch with an unknown outcome, then a resume whose batch fails for
/// good (a spent token budget, a refused key): the rows may be stored, so they are `unknown`,
/// never `failed`.
#[test]
fn a_later_failure_never_unflags_a_row_that_may_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    write(
        &journal,
        &[
            start(1),
            batch(1, &[1, 2], &[]),
            outcome(1, OutcomeStatus::Unknown, true, true),
            start(2),
            batch(2, &[1, 2], &[1, 2]),
            outcome(2, OutcomeStatus::Failed, false, false),
        ],
    );
    let rows = report(dir.path(), &journal, 2);
    for row in &rows {
        assert_eq!(row.status, RowStatus::Unknown, "{row:?}");
        assert!(
            row.message.contains("earlier attempt may have stored it"),
            "{row:?}"
        );
    }
}

/// The same, when the journal's own flags are missing: the fold works it out from the history
/// (an unanswered batch, then a rejection at resume).
#[test]
fn an_expiry_at_resume_never_unflags_a_row_left_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let expired = Entry::Rejected {
        row: 1,
        line: 2,
        field: Some(tc_core::Field::EndsAt),
        code: tc_core::Code::WindowExpired,
        message: "late".into(),
        stored_before: false,
    };
    write(
        &journal,
        &[start(1), batch(1, &[1], &[]), start(2), expired],
    );
    let rows = report(dir.path(), &journal, 1);
    assert_eq!(rows[0].status, RowStatus::Unknown);
    assert_eq!(
        rows[0].code,
        Some(ReportCode::Rule(tc_core::Code::WindowExpired))
    );
}

#[test]
fn a_journal_of_the_previous_release_keeps_its_possibly_stored_rows() {
    // Written by the release before the glossary settled: `maybe_sent` on a batch, and
    // `maybe_stored` on an outcome. Reading them under the new names must keep every flag.
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let fingerprint = Fingerprint::from_reader(&b"input"[..]).unwrap();
    let lines = [
        format!(
            r#"{{"t":"start","version":1,"run":1,"fingerprint":"{}","input":"x","at":0}}"#,
            fingerprint.as_str()
        ),
        r#"{"t":"batch","seq":1,"rows":[1,2],"lines":[2,3],"receivers":["+919876543201","+919876543202"],"maybe_sent":[2]}"#.to_owned(),
        r#"{"t":"outcome","seq":1,"status":"unknown","code":"outcome_unknown","attempts":6,"maybe_stored":true}"#.to_owned(),
    ];
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let ledger = Ledger::load(&journal).unwrap();
    assert!(ledger.possibly_stored.contains(1) && ledger.possibly_stored.contains(2));
    let rows = report(dir.path(), &journal, 2);
    assert_eq!(rows[0].status, RowStatus::Unknown);
    assert!(
        rows[1].possibly_duplicated,
        "row 2 was possibly stored before"
    );
}

#[cfg(unix)]
#[test]
fn the_report_gets_the_permissions_any_new_file_would() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    write(
        &journal,
        &[
            start(1),
            batch(1, &[1], &[]),
            outcome(1, OutcomeStatus::Accepted, false, false),
        ],
    );
    let path = dir.path().join("report.csv");
    write_report(&journal, &path, 1).unwrap();
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&path),
        mode(&plain),
        "written atomically, but not private to its owner as temporary files are"
    );
}
