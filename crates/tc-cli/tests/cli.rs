//! The real `tcbatch` binary, run as a user runs it: output, exit status and messages.

use std::collections::BTreeSet;

mod common;
use common::{run_with_stdin, Run};

/// The fixed time the example files are valid at (see examples/README.md).
const NOW: &str = "2030-07-23T05:00:00Z";

fn tcbatch(args: &[&str], stdin: &[u8]) -> Run {
    run_with_stdin(common::tcbatch_command().args(args), stdin)
}

fn example(name: &str) -> String {
    common::example(name).to_str().unwrap().to_owned()
}

fn read_example(name: &str) -> String {
    std::fs::read_to_string(example(name)).unwrap()
}

const HEADER: &str = "caller_number,receiver_number,dynamic_label_name,dynamic_call_reason,label_id,starts_at,ends_at";
const ROW: &str = "+91 98765 43210,098765 43211,Centro Bank,Calling you for KYC Verification,,1911015000000,1911024000000";

/// The region the every-code fixture is read in: its `00 7803 025 1580` has two readings only
/// where `00` may not be the international prefix, as in Indonesia. Every other number in it
/// is written with `+`, so the region changes nothing else.
const EVERY_CODE_REGION: &str = "ID";

#[test]
fn every_code_human_output() {
    let run = tcbatch(
        &[
            "validate",
            &example("every-code.jsonl"),
            "--region",
            EVERY_CODE_REGION,
            "--now",
            NOW,
        ],
        b"",
    );
    assert_eq!(run.code, 1);
    // Paths differ between machines; the file's content does not.
    insta::assert_snapshot!("every_code_human", run.transcript());
}

#[test]
fn every_code_json_output() {
    let run = tcbatch(
        &[
            "validate",
            &example("every-code.jsonl"),
            "--region",
            EVERY_CODE_REGION,
            "--now",
            NOW,
            "--output",
            "json",
        ],
        b"",
    );
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("every_code_json", run.transcript());
}

#[test]
fn every_record_code_appears_in_the_fixture_output() {
    let run = tcbatch(
        &[
            "validate",
            &example("every-code.jsonl"),
            "--region",
            EVERY_CODE_REGION,
            "--now",
            NOW,
            "--output",
            "json",
        ],
        b"",
    );
    let seen: BTreeSet<String> = run
        .stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).expect("one JSON object per line");
            value["code"].as_str().unwrap().to_owned()
        })
        .collect();
    let batch_only = [tc_core::Code::BatchEmpty, tc_core::Code::BatchTooLarge];
    let expected: BTreeSet<String> = tc_core::Code::ALL
        .iter()
        .filter(|code| !batch_only.contains(code))
        .map(|code| code.as_str().to_owned())
        .collect();
    assert_eq!(seen, expected);
    // And the human output names each of them too.
    let human = tcbatch(
        &[
            "validate",
            &example("every-code.jsonl"),
            "--region",
            EVERY_CODE_REGION,
            "--now",
            NOW,
        ],
        b"",
    );
    for code in &expected {
        assert!(
            human.stdout.contains(&format!("[{code}]")),
            "{code} missing from human output"
        );
    }
}

#[test]
fn json_lines_have_the_documented_keys_in_order() {
    let run = tcbatch(
        &[
            "validate",
            &example("every-code.jsonl"),
            "--region",
            EVERY_CODE_REGION,
            "--now",
            NOW,
            "--output",
            "json",
        ],
        b"",
    );
    for line in run.stdout.lines() {
        assert!(line.starts_with("{\"record\": "), "{line}");
        let keys: Vec<&str> = ["\"line\": ", "\"field\": ", "\"code\": ", "\"message\": "]
            .into_iter()
            .filter(|key| line.contains(key))
            .collect();
        assert_eq!(keys.len(), 4, "{line}");
        let positions: Vec<usize> = keys.iter().map(|key| line.find(key).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
    }
    assert!(
        run.stderr.starts_with("28 records: 1 valid, 27 invalid\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn calls_example_shows_valid_rows_and_typical_mistakes() {
    let run = tcbatch(
        &[
            "validate",
            &example("calls.csv"),
            "--region",
            "IN",
            "--now",
            NOW,
        ],
        b"",
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("12 records: 7 valid, 5 invalid"),
        "{}",
        run.stdout
    );
    insta::assert_snapshot!("calls_example", run.transcript());
}

/// Every record of the fixture, as `(record, field, code, message)` with `line, ` dropped from
/// JSON syntax messages (a JSON array element can span lines, a JSON Lines record cannot).
fn diagnostics(stdout: &str, line_offset: i64) -> Vec<(i64, String, String, String)> {
    stdout
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let message = v["message"].as_str().unwrap();
            let message = match message.find("at line ") {
                Some(at) => {
                    let rest = &message[at + "at line ".len()..];
                    let after = rest.find(", column").map_or(rest, |i| &rest[i + 2..]);
                    format!("{}at {after}", &message[..at])
                }
                None => message.to_owned(),
            };
            assert_eq!(
                v["line"].as_i64().unwrap() - line_offset,
                v["record"].as_i64().unwrap(),
                "{line}"
            );
            (
                v["record"].as_i64().unwrap(),
                v["field"].to_string(),
                v["code"].to_string(),
                message,
            )
        })
        .collect()
}

#[test]
fn json_array_and_api_body_give_the_same_diagnostics_as_json_lines() {
    let lines = read_example("every-code.jsonl");
    let records: Vec<&str> = lines.lines().collect();
    let array = format!("[\n{}\n]\n", records.join(",\n"));
    let body = format!(
        "{{\"note\": \"x\",\n\"call_records\": [\n{}\n]}}\n",
        records.join(",\n")
    );
    let args = |format| {
        [
            "validate",
            "-",
            "--format",
            format,
            "--region",
            EVERY_CODE_REGION,
            "--now",
            NOW,
            "--output",
            "json",
        ]
    };
    let from_jsonl = tcbatch(&args("jsonl"), lines.as_bytes());
    let from_array = tcbatch(&args("json"), array.as_bytes());
    let from_body = tcbatch(&args("json"), body.as_bytes());
    let expected = diagnostics(&from_jsonl.stdout, 0);
    assert_eq!(expected.len(), 27);
    assert_eq!(diagnostics(&from_array.stdout, 1), expected);
    assert_eq!(diagnostics(&from_body.stdout, 2), expected);
    for run in [&from_jsonl, &from_array, &from_body] {
        assert_eq!(run.code, 1);
        assert!(
            run.stderr.starts_with("28 records: 1 valid, 27 invalid\n"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn csv_broken_rows_are_reported_on_their_lines_and_valid_rows_still_count() {
    let mut input = format!(
        "{HEADER}\n\
         {ROW}\n\
         +91 98765 43210,\"098765 43211,Centro Bank,Calling you for KYC Verification,,1911015000000,1911024000000\n\
         {ROW}\n\
         {ROW},surplus\n\
         {ROW}\n\
         +91 98765 43210,098765 43211,Centro Bank,Calling you for KYC Verification,,soon,true\n\
         {ROW}\n"
    )
    .into_bytes();
    // A row with bytes that are not UTF-8 (a Latin-1 é), on line 9.
    input.extend_from_slice(b"+91 98765 43210,098765 43211,Caf\xE9 Bank,Calling you for KYC Verification,,1911015000000,1911024000000\n");
    input.extend_from_slice(format!("{ROW}\n").as_bytes());
    let run = tcbatch(
        &[
            "validate", "-", "--format", "csv", "--region", "IN", "--now", NOW,
        ],
        &input,
    );
    assert_eq!(run.code, 1, "{}", run.transcript());
    let reported: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("line "))
        .collect();
    let places: Vec<String> = reported
        .iter()
        .map(|l| l.split(", ").take(2).collect::<Vec<_>>().join(", "))
        .collect();
    assert_eq!(
        places,
        [
            "line 3, record 2",
            "line 5, record 4",
            "line 7, record 6",
            "line 7, record 6",
            "line 9, record 8",
        ],
        "{}",
        run.stdout
    );
    assert!(reported[0].contains("never closed") && reported[0].ends_with("[record_unreadable]"));
    assert!(reported[1].contains("8 fields") && reported[1].ends_with("[record_unreadable]"));
    assert!(
        reported[2].starts_with("line 7, record 6, starts_at:")
            && reported[2].ends_with("[timestamp_invalid]")
    );
    assert!(
        reported[3].starts_with("line 7, record 6, ends_at:")
            && reported[3].ends_with("[timestamp_invalid]")
    );
    assert!(
        reported[4].contains("not valid UTF-8") && reported[4].ends_with("[record_unreadable]")
    );
    assert!(
        run.stdout.contains("9 records: 5 valid, 4 invalid"),
        "{}",
        run.stdout
    );
}

#[test]
fn unknown_csv_columns_get_one_warning() {
    let input = format!("{HEADER},reciever_no,customer_id\n{ROW},x,y\n");
    let run = tcbatch(
        &[
            "validate", "-", "--format", "csv", "--region", "IN", "--now", NOW,
        ],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning")
            && run.stderr.contains("`reciever_no`")
            && run.stderr.contains("`customer_id`")
    );
}

#[test]
fn missing_csv_column_is_a_usage_error_naming_it() {
    let input = "caller_number,reciever_number,dynamic_label_name,starts_at,ends_at\n";
    let run = tcbatch(&["validate", "-", "--format", "csv"], input.as_bytes());
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`receiver_number`") && run.stderr.contains("`reciever_number`"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "one line, no backtrace: {}",
        run.stderr
    );
}

#[test]
fn exit_status_is_0_when_all_valid_1_when_any_invalid_2_on_errors() {
    let valid = format!("{HEADER}\n{ROW}\n{ROW}\n");
    let run = tcbatch(
        &[
            "validate", "-", "--format", "csv", "--region", "IN", "--now", NOW,
        ],
        valid.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout, "2 records: 2 valid, 0 invalid\n");
    // Without a region, `098765 43211` is no number: the same file is invalid.
    let run = tcbatch(
        &["validate", "-", "--format", "csv", "--now", NOW],
        valid.as_bytes(),
    );
    assert_eq!(run.code, 1);
    let bad_region = tcbatch(&["validate", "-", "--format", "csv", "--region", "XX"], b"");
    assert_eq!(bad_region.code, 2);
    assert!(
        bad_region.stderr.contains("`XX` is not a region"),
        "{}",
        bad_region.stderr
    );
    let bad_now = tcbatch(
        &["validate", "-", "--format", "csv", "--now", "yesterday"],
        b"",
    );
    assert_eq!(bad_now.code, 2);
    let no_format = tcbatch(&["validate"], b"");
    assert_eq!(no_format.code, 2);
    assert!(
        no_format.stderr.contains("standard input needs --format"),
        "{}",
        no_format.stderr
    );
    let unknown_ext = tcbatch(&["validate", "calls.txt"], b"");
    assert_eq!(unknown_ext.code, 2);
    assert!(
        unknown_ext
            .stderr
            .contains("--format csv, jsonl, json or spreadsheet"),
        "{}",
        unknown_ext.stderr
    );
}

#[test]
fn missing_file_names_the_path_and_what_to_do() {
    let run = tcbatch(&["validate", "no/such/calls.csv"], b"");
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "tcbatch: error: cannot open `no/such/calls.csv`: no such file; check the path (a relative \
         path starts from the current directory)\n"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn human_output_lists_at_most_1000_problems() {
    let mut input = format!("{HEADER}\n");
    for _ in 0..1005 {
        input.push_str("+91 98765 43210,098765 43211,CB,Calling you for KYC Verification,,1911015000000,1911024000000\n");
    }
    let run = tcbatch(
        &[
            "validate", "-", "--format", "csv", "--region", "IN", "--now", NOW,
        ],
        input.as_bytes(),
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("line "))
            .count(),
        1000
    );
    assert!(run
        .stdout
        .contains("... and 5 more problems not shown (use --output json for all)\n"));
    assert!(run.stdout.contains("1005 records: 0 valid, 1005 invalid\n"));
    assert!(
        run.stdout.contains("     1005  label_name_too_short\n"),
        "{}",
        run.stdout
    );
    let json = tcbatch(
        &[
            "validate", "-", "--format", "csv", "--region", "IN", "--now", NOW, "--output", "json",
        ],
        input.as_bytes(),
    );
    assert_eq!(json.stdout.lines().count(), 1005);
}

#[test]
fn api_body_over_500_records_gets_a_note_about_splitting() {
    let record = r#"{"caller_number": "+919876543210", "receiver_number": "+919876543211", "dynamic_label_name": "Centro Bank", "starts_at": 1911015000000, "ends_at": 1911024000000}"#;
    let body = format!("{{\"call_records\": [{}]}}", vec![record; 501].join(","));
    let run = tcbatch(
        &["validate", "-", "--format", "json", "--now", NOW],
        body.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("501 records: 501 valid, 0 invalid\n"));
    assert!(
        run.stdout.contains("note: the input is an API request body, and a request carries at most 500 call records, this one has 501; split it: `tcbatch submit`"),
        "{}",
        run.stdout
    );
    // A plain array is not a request body: no note.
    let array = format!("[{}]", vec![record; 501].join(","));
    let run = tcbatch(
        &["validate", "-", "--format", "json", "--now", NOW],
        array.as_bytes(),
    );
    assert!(!run.stdout.contains("note:"), "{}", run.stdout);
}

#[test]
fn normalize_answers_line_for_line_in_order() {
    let input = "+91 98765 43210\n098765 43211\n\n+91 98765 4321O\r\n(+44) 7911 123456\n+1 212 555 0147 ext. 12\n+999 1234567\n9876543210";
    let run = tcbatch(&["normalize", "--region", "IN"], input.as_bytes());
    assert_eq!(
        run.stdout,
        "+919876543210\n+919876543211\nerror: missing_field\nerror: phone_has_letters\n+447911123456\n\
         error: phone_has_extension\nerror: phone_invalid_country_code\n+919876543210\n"
    );
    assert_eq!(run.code, 1);
    let all_good = tcbatch(&["normalize"], b"+91 98765 43210\n919876543211\n");
    assert_eq!(
        (all_good.code, all_good.stdout.as_str()),
        (0, "+919876543210\n+919876543211\n")
    );
    assert_eq!(tcbatch(&["normalize", "--region", "India"], b"").code, 2);
}

#[test]
fn control_characters_are_rejected_and_never_reach_the_terminal() {
    let row = |label: &str, reason: &str| {
        format!("+91 98765 43210,098765 43211,{label},{reason},,1911015000000,1911024000000")
    };
    let input = format!(
        "{HEADER}\n{}\n{}\n{}\n{ROW}\n",
        row(
            "Centro\x1b]0;owned\x07 Bank",
            "Calling you for KYC Verification"
        ),
        row("Centro Bank", "Calling you for \u{202E}noitacifireV CYK"),
        row("Centro Bank", &"\u{200B}".repeat(10)),
    );
    for output in ["human", "json"] {
        let run = tcbatch(
            &[
                "validate", "-", "--format", "csv", "--region", "IN", "--now", NOW, "--output",
                output,
            ],
            input.as_bytes(),
        );
        assert_eq!(run.code, 1, "{}", run.transcript());
        for raw in ['\x1b', '\x07', '\u{202E}', '\u{200B}'] {
            assert!(!run.stdout.contains(raw), "{raw:?} echoed: {}", run.stdout);
            assert!(!run.stderr.contains(raw), "{raw:?} echoed: {}", run.stderr);
        }
        let summary = if output == "human" {
            &run.stdout
        } else {
            &run.stderr
        };
        assert!(
            summary.contains("4 records: 1 valid, 3 invalid"),
            "{summary}"
        );
        assert!(summary.contains("3  text_control_character"), "{summary}");
        assert!(summary.contains("1  text_invisible"), "{summary}");
    }
}

fn json_record(caller: &str) -> String {
    format!(
        "{{\"caller_number\": \"{caller}\", \"receiver_number\": \"+91 98765 43211\", \
         \"dynamic_label_name\": \"Centro Bank\", \"starts_at\": 1911015000000, \
         \"ends_at\": 1911024000000}}"
    )
}

fn validate_json(input: &str) -> Run {
    tcbatch(
        &["validate", "-", "--format", "json", "--now", NOW],
        input.as_bytes(),
    )
}

#[test]
fn json_records_are_never_dropped_silently() {
    let (r1, r2) = (
        json_record("+91 98765 43210"),
        json_record("+91 98765 43212"),
    );
    // Two arrays, or a body with `call_records` twice: every record is read, with a warning.
    for joined in [
        format!("[{r1}][{r2}]"),
        format!("{{\"call_records\": [{r1}],\n\"call_records\": [{r2}]}}"),
    ] {
        let run = validate_json(&joined);
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert_eq!(run.stdout, "2 records: 2 valid, 0 invalid\n");
        assert!(
            run.stderr
                .starts_with("tcbatch: warning: standard input: another"),
            "{}",
            run.stderr
        );
    }
    // Anything else after the array is an error on its line, never ignored.
    let run = validate_json(&format!("[{r1}]\n{r2}\n"));
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.starts_with(
            "line 2, record 2, a call record object on line 2 is outside the records array"
        ),
        "{}",
        run.stdout
    );
    let run = validate_json(&format!("[{r1}]\n\nthe end\n"));
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("unexpected `t` at line 3, column 1 after the end of the records"),
        "{}",
        run.stdout
    );
}

#[test]
fn json_keys_are_matched_like_csv_headers_and_unknown_ones_warned_about() {
    let input =
        "{\"Caller_Number\": \"+91 98765 43210\", \"RECEIVER_NUMBER\": \"+91 98765 43211\", \
                 \"dynamic_label_name\": \"Centro Bank\", \"starts_at\": 1911015000000, \
                 \"ends_at\": 1911024000000, \"customer_id\": 7, \"lable_id\": \"x\"}\n";
    for format in ["jsonl", "json"] {
        let input = if format == "json" {
            format!("[{input}]")
        } else {
            input.to_owned()
        };
        let run = tcbatch(
            &["validate", "-", "--format", format, "--now", NOW],
            input.as_bytes(),
        );
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert_eq!(
            run.stderr,
            "tcbatch: warning: standard input: ignoring key(s) that are not call record fields: \
             `customer_id` (line 1), `lable_id` (line 1; did you mean `label_id`?)\n"
        );
    }
}

/// Writes `bytes` to `name` in `dir` and returns its path.
fn file_in(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `validate` and `submit` (to the built-in simulator, on loopback) of the same file.
fn validate_and_submit(file: &str) -> [Run; 2] {
    [
        tcbatch(&["validate", file, "--now", NOW], b""),
        tcbatch(&["submit", "--mock", file], b""),
    ]
}

#[test]
fn empty_inputs_are_the_same_error_in_every_format_for_validate_and_submit() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n\n"),
        ("empty.json", b"\xEF\xBB\xBF\n"),
    ] {
        let file = file_in(&dir, name, bytes);
        for run in validate_and_submit(&file) {
            assert_eq!(run.code, 2, "{name}: {}", run.transcript());
            let expected =
                format!("tcbatch: error: `{file}` is empty, so there is nothing to check or send");
            assert!(run.stderr.contains(&expected), "{name}: {}", run.stderr);
        }
    }
}

#[test]
fn utf16_input_says_save_as_utf8_for_validate_and_submit() {
    let text = format!("\u{FEFF}{HEADER}\n{ROW}\n");
    let little_endian: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = file_in(&dir, "unicode.csv", &little_endian);
    for run in validate_and_submit(&file) {
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(
            run.stderr.contains("is UTF-16 (little-endian) text")
                && run.stderr.contains("save it as UTF-8"),
            "{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains('\0'),
            "garbage echoed: {:?}",
            run.stderr
        );
    }
}

#[test]
fn submit_reads_every_record_of_joined_json_arrays() {
    let (r1, r2) = (
        json_record("+91 98765 43210"),
        json_record("+91 98765 43212"),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = file_in(&dir, "joined.json", format!("[{r1}]\n[{r2}]\n").as_bytes());
    let run = tcbatch(&["submit", "--mock", &file], b"");
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stderr.contains("2 rows: 2 accepted") || run.stdout.contains("2 rows: 2 accepted"),
        "{}",
        run.transcript()
    );
    let report = std::fs::read_to_string(format!("{file}.report.csv")).unwrap();
    assert_eq!(report.lines().count(), 3, "header and two rows: {report}");
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("joined"),
        "submit warns as validate does: {}",
        run.transcript()
    );
}

#[test]
fn submit_warns_of_unknown_columns_before_it_sends() {
    let dir = tempfile::tempdir().unwrap();
    let file = file_in(&dir, "calls.csv", format!("{HEADER},colour\n").as_bytes());
    let run = tcbatch(&["submit", "--mock", "--region", "IN", &file], b"");
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("colour"),
        "{}",
        run.transcript()
    );
    let empty = file_in(&dir, "empty.csv", b"");
    let run = tcbatch(&["submit", "--mock", &empty], b"");
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        !std::path::Path::new(&format!("{empty}.journal")).exists(),
        "an input that cannot be read leaves no journal behind"
    );
    assert!(
        !run.stderr.contains("simulator at"),
        "nothing started: {}",
        run.stderr
    );
}

#[test]
fn warnings_and_errors_escape_the_names_they_quote() {
    let csv = format!("{HEADER},note\x1b[2J\n{ROW},x\n");
    let jsonl = "{\"caller_number\": \"+91 98765 43210\", \"\\u001b]0;owned\\u0007\": 1}\n";
    for (format, input) in [("csv", csv.as_str()), ("jsonl", jsonl)] {
        let run = tcbatch(
            &[
                "validate", "-", "--format", format, "--region", "IN", "--now", NOW,
            ],
            input.as_bytes(),
        );
        assert!(run.stderr.contains("warning"), "{}", run.transcript());
        assert!(run.stderr.contains("\\u{1b}"), "{}", run.stderr);
        for raw in ['\x1b', '\x07'] {
            assert!(
                !run.stderr.contains(raw),
                "{raw:?} echoed: {:?}",
                run.stderr
            );
        }
    }
    let missing = "caller_number,receiver_number\x1b[31m,dynamic_label_name,starts_at,ends_at\n";
    let run = tcbatch(&["validate", "-", "--format", "csv"], missing.as_bytes());
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
}

/// A CSV of `rows` records (so several of the pipeline's 1,024-record chunks) in which some rows
/// break each way a row can: a bad number, a missing label, a stray quote that swallows the next
/// line, a wrong number of fields, bytes that are not UTF-8.
fn mixed_csv(rows: usize) -> Vec<u8> {
    let mut csv = format!("{HEADER}\n").into_bytes();
    for i in 0..rows {
        let receiver = format!("+91 98{:08}", i);
        let row = match i % 97 {
            7 => format!("+91 98765 4321O,{receiver},Centro Bank,,,1911015000000,1911024000000\n"),
            19 => format!("+91 98765 43210,{receiver},,,,1911015000000,1911024000000\n"),
            31 => format!("+91 98765 43210,\"{receiver},Centro Bank,,,1911015000000,1911024000000\n"),
            53 => format!("+91 98765 43210,{receiver},Centro Bank,1911015000000,1911024000000\n"),
            71 => format!("+91 98765 43210,{receiver},Centro \u{1b}Bank,,,1911015000000,1911024000000\n"),
            _ => format!("(+91) 98765.43210,{receiver},Centro Bank,Calling you for KYC Verification,,1911015000000,1911024000000\n"),
        };
        csv.extend_from_slice(row.as_bytes());
        if i % 401 == 400 {
            csv.extend_from_slice(
                b"+91 98765 43210,+91 98123 45678,Centro \xFF Bank,,,1911015000000,1911024000000\n",
            );
        }
    }
    csv
}

#[test]
fn the_report_is_the_same_bytes_whatever_the_number_of_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = file_in(&dir, "mixed.csv", &mixed_csv(5_000));
    let files = [
        example("calls.csv"),
        example("every-code.jsonl"),
        mixed.clone(),
    ];
    for file in &files {
        for output in ["human", "json"] {
            let run = |jobs: &str| {
                let args = [
                    "validate", file, "--now", NOW, "--region", "IN", "--output", output, "--jobs",
                    jobs,
                ];
                tcbatch(&args, b"").transcript()
            };
            let one = run("1");
            for jobs in ["2", "3", "8"] {
                assert_eq!(run(jobs), one, "{file} --output {output} --jobs {jobs}");
            }
        }
    }
    // The mixed file's problems run past the first chunks, in input order, each row's own.
    let json = tcbatch(
        &[
            "validate", &mixed, "--now", NOW, "--output", "json", "--jobs", "3",
        ],
        b"",
    );
    let records: Vec<u64> = json
        .stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["record"].as_u64().unwrap()
        })
        .collect();
    assert!(
        records.windows(2).all(|w| w[0] <= w[1]),
        "records out of order"
    );
    // The unclosed quotes of the file join rows, so it holds about 2,500 records; problems past
    // the second chunk of 1,024 show the order holds across chunks.
    assert!(
        records.last().is_some_and(|&r| r > 2_048),
        "{:?}",
        records.last()
    );
    assert_eq!(json.code, 1);
}

#[test]
fn jobs_must_be_a_whole_number_of_at_least_one() {
    let run = tcbatch(&["validate", &example("calls.csv"), "--jobs", "0"], b"");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("at least 1"), "{}", run.stderr);
}
