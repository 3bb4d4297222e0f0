//! Reader tests on in-memory inputs, read through a tiny buffer so that every record straddles
//! buffer boundaries.

use super::csv::CsvRecords;
use super::json::JsonRecords;
use super::jsonl::JsonlRecords;
use super::open::sniff;
use super::*;
use std::io::{BufReader, Cursor};

const HEADER: &str = "caller_number,receiver_number,dynamic_label_name,dynamic_call_reason,label_id,starts_at,ends_at";
const ROW: &str = "+919876543210,+919876543211,Centro Bank,Calling you for KYC Verification,,1753248600000,1753257600000";

fn tiny(bytes: &[u8]) -> BufReader<Cursor<Vec<u8>>> {
    BufReader::with_capacity(3, Cursor::new(bytes.to_vec()))
}

fn csv(text: &[u8]) -> Vec<InputRecord> {
    CsvRecords::new(tiny(text), "test".into())
        .expect("header")
        .collect()
}

fn jsonl(text: &[u8]) -> Vec<InputRecord> {
    JsonlRecords::new(tiny(text), "test".into(), None).collect()
}

fn json(text: &str) -> Vec<InputRecord> {
    JsonRecords::new(tiny(text.as_bytes()), "test".into(), None)
        .expect("records array")
        .collect()
}

/// `(record, line, Ok(caller_number) | Err(message))` for compact assertions.
fn summary(records: &[InputRecord]) -> Vec<(usize, usize, Result<String, String>)> {
    records
        .iter()
        .map(|r| {
            let outcome = match &r.raw {
                Ok(raw) => Ok(match raw.get(Field::CallerNumber) {
                    Some(Scalar::Text(t)) => t.clone(),
                    other => format!("{other:?}"),
                }),
                Err(d) => {
                    assert_eq!(d.code, Code::RecordUnreadable);
                    assert_eq!(d.field, None);
                    Err(d.message.clone())
                }
            };
            (r.record, r.line, outcome)
        })
        .collect()
}

fn ok_lines(records: &[InputRecord]) -> Vec<usize> {
    records
        .iter()
        .filter(|r| r.raw.is_ok())
        .map(|r| r.line)
        .collect()
}

fn bad_lines(records: &[InputRecord]) -> Vec<usize> {
    records
        .iter()
        .filter(|r| r.raw.is_err())
        .map(|r| r.line)
        .collect()
}

#[test]
fn format_comes_from_the_flag_else_the_extension() {
    assert_eq!(
        Format::resolve(Some(Format::Json), Some(Path::new("a.csv"))).ok(),
        Some(Format::Json)
    );
    assert_eq!(
        Format::resolve(None, Some(Path::new("a.CSV"))).ok(),
        Some(Format::Csv)
    );
    assert_eq!(
        Format::resolve(None, Some(Path::new("a.ndjson"))).ok(),
        Some(Format::Jsonl)
    );
    assert_eq!(
        Format::resolve(None, Some(Path::new("a.json"))).ok(),
        Some(Format::Json)
    );
    assert!(Format::resolve(None, Some(Path::new("a.txt")))
        .unwrap_err()
        .to_string()
        .contains("--format"));
    assert!(Format::resolve(None, Some(Path::new("-")))
        .unwrap_err()
        .to_string()
        .contains("standard input"));
    assert!(Format::resolve(None, None::<&Path>).is_err());
}

#[test]
fn csv_reads_rows_with_bom_crlf_blank_lines_and_no_final_newline() {
    let text = format!("\u{FEFF}{HEADER}\r\n{ROW}\r\n\r\n{ROW}");
    let records = csv(text.as_bytes());
    assert_eq!(
        summary(&records),
        [
            (1, 2, Ok("+919876543210".into())),
            (2, 4, Ok("+919876543210".into())),
        ]
    );
    let raw = records[0].raw.as_ref().unwrap();
    assert_eq!(raw.get(Field::LabelId), None, "a blank cell is absent");
    assert_eq!(
        raw.get(Field::EndsAt),
        Some(&Scalar::Text("1753257600000".into()))
    );
}

#[test]
fn csv_columns_in_any_order_extra_ones_ignored_with_a_typo_hint() {
    let text = "ends_at,Caller_Number,receiver_number,customer,starts_at,dynamic_label_name,dynamic_call_reasn\n\
                1753257600000,+919876543210,+919876543211,Asha,1753248600000,Centro Bank,Calling you\n";
    let reader = CsvRecords::new(tiny(text.as_bytes()), "`x.csv`".into()).unwrap();
    let warning = reader.warnings().join("\n");
    assert!(warning.contains("`customer`"), "{warning}");
    assert!(
        warning.contains("`dynamic_call_reasn` (did you mean `dynamic_call_reason`?)"),
        "{warning}"
    );
    let records: Vec<_> = reader.collect();
    let raw = records[0].raw.as_ref().unwrap();
    assert_eq!(
        raw.get(Field::CallerNumber),
        Some(&Scalar::Text("+919876543210".into()))
    );
    assert_eq!(raw.get(Field::DynamicCallReason), None);
}

#[test]
fn csv_header_problems_are_errors_naming_the_column() {
    let err = |text: &str| {
        CsvRecords::new(tiny(text.as_bytes()), "`x.csv`".into())
            .err()
            .unwrap()
            .to_string()
    };
    let missing = err("caller_number,reciever_number,dynamic_label_name,starts_at,ends_at\n");
    assert!(
        missing.contains("holds `receiver_number` (is `reciever_number` a misspelling of it?);"),
        "{missing}"
    );
    let no_label = err("caller_number,receiver_number,starts_at,ends_at\n");
    assert!(no_label.contains("`dynamic_label_name`"), "{no_label}");
    assert!(err("").contains("is empty"));
    // The reader of a file whose delimiter is given as a comma does not guess another.
    assert!(err("caller_number;receiver_number;starts_at\n").contains("separated by `;`"));
    assert!(err("caller_number,caller_number\n").contains("two columns of `x.csv` hold"));
    // label_id may stand in for the label name column.
    assert!(CsvRecords::new(
        tiny(b"caller_number,receiver_number,label_id,starts_at,ends_at\n"),
        "x".into()
    )
    .is_ok());
}

#[test]
fn csv_broken_rows_cost_only_themselves() {
    let text = format!(
        "{HEADER}\n\
         {ROW}\n\
         +919876543210,\"+919876543211,Centro Bank,Calling you for KYC Verification,,1753248600000,1753257600000\n\
         {ROW}\n\
         {ROW},extra\n\
         +91\u{1}9876543210,+919876543211,Centro\u{1}Bank,Calling you for KYC Verification,,1,2\n\
         +919876543210,+919876543211\n\
         {ROW}\n"
    );
    // Bytes that are not UTF-8, as a Latin-1 export would hold.
    let bytes: Vec<u8> = text
        .bytes()
        .map(|b| if b == 1 { 0xFF } else { b })
        .collect();
    let records = csv(&bytes);
    assert_eq!(ok_lines(&records), [2, 4, 8], "{:#?}", summary(&records));
    assert_eq!(bad_lines(&records), [3, 5, 6, 7]);
    let messages: Vec<String> = summary(&records)
        .into_iter()
        .filter_map(|(_, _, r)| r.err())
        .collect();
    assert!(messages[0].contains("never closed"), "{}", messages[0]);
    assert!(
        messages[1].contains("has 8 fields but the header has 7"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].contains("caller_number column is not valid UTF-8 (byte 0xFF at position 4)"),
        "{}",
        messages[2]
    );
    assert!(messages[3].contains("has 2 fields"), "{}", messages[3]);
    let positions: Vec<usize> = records.iter().map(|r| r.record).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn csv_stray_quote_with_no_closing_quote_before_the_end_of_the_file() {
    let text = format!("{HEADER}\n{ROW}\n\"+919876543210,+919876543211\n{ROW}\n{ROW}\n");
    let records = csv(text.as_bytes());
    assert_eq!(ok_lines(&records), [2, 4, 5], "{:#?}", summary(&records));
    assert_eq!(bad_lines(&records), [3]);
}

#[test]
fn csv_quoted_fields_may_hold_commas_quotes_and_line_breaks() {
    let text = format!(
        "{HEADER}\n+919876543210,+919876543211,\"Centro, \"\"the\"\" Bank\",\"Calling you\nabout KYC\",,1753248600000,1753257600000\n{ROW}\n"
    );
    let records = csv(text.as_bytes());
    assert_eq!(ok_lines(&records), [2, 4]);
    let raw = records[0].raw.as_ref().unwrap();
    assert_eq!(
        raw.get(Field::DynamicLabelName),
        Some(&Scalar::Text("Centro, \"the\" Bank".into()))
    );
    assert_eq!(
        raw.get(Field::DynamicCallReason),
        Some(&Scalar::Text("Calling you\nabout KYC".into()))
    );
}

#[test]
fn csv_overlong_line_is_one_unreadable_record() {
    let long = "9".repeat(MAX_RECORD_BYTES + 10);
    let text = format!("{HEADER}\n{long}\n{ROW}\n");
    let records = csv(text.as_bytes());
    assert_eq!(bad_lines(&records), [2]);
    assert_eq!(ok_lines(&records), [3]);
}

#[test]
fn jsonl_skips_blank_lines_and_reports_bad_lines_with_their_column() {
    let text = b"\xEF\xBB\xBF{\"caller_number\": \"+919876543210\"}\n\n  \r\n{\"caller_number\": \"a\",}\r\n[1, 2]\nnot json\n{\"caller_number\": \"+1\"}";
    let s = summary(&jsonl(text));
    assert_eq!(s[0], (1, 1, Ok("+919876543210".into())));
    assert_eq!((s[1].0, s[1].1), (2, 4));
    let message = s[1].2.clone().unwrap_err();
    assert!(message.contains("trailing comma at column 23"), "{message}");
    assert!(!message.contains("line 1"), "{message}");
    assert!(s[2].2.clone().unwrap_err().contains("found an array"));
    assert!(
        s[3].2
            .clone()
            .unwrap_err()
            .contains("expected ident at column 2"),
        "{:?}",
        s[3]
    );
    assert_eq!(s[4], (5, 7, Ok("+1".into())));
}

#[test]
fn json_empty_text_is_absent_like_an_empty_csv_cell() {
    let records = jsonl(br#"{"caller_number": "", "starts_at": "  ", "ends_at": null}"#);
    let raw = records[0].raw.as_ref().unwrap();
    assert_eq!(
        (
            raw.get(Field::CallerNumber),
            raw.get(Field::StartsAt),
            raw.get(Field::EndsAt)
        ),
        (None, None, None)
    );
}

#[test]
fn json_array_with_tricky_strings_crlf_and_whitespace() {
    let text = "\r\n [ \r\n{\"caller_number\": \"+91 {98765} [43210]\", \"dynamic_label_name\": \"a \\\"quoted\\\" }{ name\\\\\"},\r\n\t\
                {\"caller_number\": \"+2\",\r\n \"x\": {\"nested\": [1, {\"y\": \"]\"}]}}\r\n ] \r\n";
    let records = json(text);
    assert_eq!(
        summary(&records),
        [
            (1, 3, Ok("+91 {98765} [43210]".into())),
            (2, 4, Ok("+2".into()))
        ]
    );
    let raw = records[0].raw.as_ref().unwrap();
    assert_eq!(
        raw.get(Field::DynamicLabelName),
        Some(&Scalar::Text("a \"quoted\" }{ name\\".into()))
    );
}

#[test]
fn json_empty_array_and_empty_body_hold_no_records() {
    assert!(json("[]").is_empty());
    assert!(json(" [ \n ] ").is_empty());
    assert!(json(r#"{"call_records": []}"#).is_empty());
}

#[test]
fn json_body_may_hold_other_keys_before_call_records() {
    let text = r#"{"meta": {"call_records": "not this", "list": [1, "]"]}, "n": 2,
                   "call_records": [{"caller_number": "+1"}, {"caller_number": "+2"}], "after": true}"#;
    let mut reader = JsonRecords::new(tiny(text.as_bytes()), "x".into(), None).unwrap();
    assert!(reader.is_api_body());
    let records: Vec<_> = reader.by_ref().collect();
    assert_eq!(
        summary(&records),
        [(1, 2, Ok("+1".into())), (2, 2, Ok("+2".into()))]
    );
    assert_eq!(reader.finish().map_err(|e| e.to_string()), Ok(()));
}

#[test]
fn json_broken_element_costs_only_itself() {
    let text = "[\n{\"caller_number\": \"+1\"},\n{\"caller_number\": \"+2\", \"starts_at\": 12 34},\n\"just text\",\n{\"caller_number\": \"+3\"} {\"caller_number\": \"+4\"},\n{\"caller_number\": \"+5\"}\n]";
    let s = summary(&json(text));
    assert_eq!(s.len(), 6, "{s:#?}");
    assert_eq!(s[0], (1, 2, Ok("+1".into())));
    let message = s[1].2.clone().unwrap_err();
    assert!(message.contains("at line 3, column "), "{message}");
    assert!(s[2].2.clone().unwrap_err().contains("found a string"));
    assert_eq!(s[3], (4, 5, Ok("+3".into())));
    assert!(s[4].2.clone().unwrap_err().contains("`,` is missing"));
    assert_eq!(s[5], (6, 6, Ok("+5".into())));
}

#[test]
fn json_unclosed_string_resumes_at_the_next_record_line() {
    let text = "[\n{\"caller_number\": \"+1\"},\n{\"caller_number\": \"+2, \"receiver_number\": \"+3\"},\n{\"caller_number\": \"+4\"}\n]\n";
    let s = summary(&json(text));
    assert_eq!(s.len(), 3, "{s:#?}");
    assert!(
        s[1].2
            .clone()
            .unwrap_err()
            .contains("not closed before the end of line 3"),
        "{s:?}"
    );
    assert_eq!(s[2], (3, 4, Ok("+4".into())));
}

#[test]
fn json_cut_short_inside_a_record_or_between_records() {
    let inside = summary(&json(
        "[{\"caller_number\": \"+1\"},\n{\"caller_number\": \"+2",
    ));
    assert_eq!(inside.len(), 2);
    assert_eq!((inside[1].0, inside[1].1), (2, 2));
    assert!(inside[1]
        .2
        .clone()
        .unwrap_err()
        .contains("ends inside this record"));
    let between = summary(&json("[{\"caller_number\": \"+1\"},\n"));
    assert_eq!(between.len(), 2);
    assert_eq!(between[0].2, Ok("+1".into()));
    assert!(between[1].2.clone().unwrap_err().contains("before the `]`"));
    assert_eq!(summary(&json("[")).len(), 1);
}

#[test]
fn json_without_a_records_array_is_an_error() {
    let err = |text: &str| {
        JsonRecords::new(tiny(text.as_bytes()), "`x.json`".into(), None)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(err("").contains("empty"));
    assert!(err("42").contains("expected a JSON array"));
    assert!(err(r#"{"batch": []}"#).contains("no `call_records` key"));
    assert!(err(r#"{"call_records": {"a": 1}}"#).contains("not an array"));
    let one_record = err("{\"caller_number\": \"+1\"}\n{\"caller_number\": \"+2\"}\n");
    assert!(one_record.contains("--format jsonl"), "{one_record}");
}

/// The records and the warnings of a JSON input.
fn json_with_warnings(text: &str) -> (Vec<InputRecord>, Vec<String>) {
    let mut reader =
        JsonRecords::new(tiny(text.as_bytes()), "`x.json`".into(), None).expect("records");
    let records: Vec<_> = reader.by_ref().collect();
    assert_eq!(reader.finish().map_err(|e| e.to_string()), Ok(()));
    (records, reader.warnings())
}

#[test]
fn json_arrays_joined_together_lose_no_record() {
    for text in [
        r#"[{"caller_number": "+1"}][{"caller_number": "+2"}]"#,
        "[{\"caller_number\": \"+1\"}]\n[{\"caller_number\": \"+2\"}]\n",
        "[{\"caller_number\": \"+1\"}]\n{\"call_records\": [{\"caller_number\": \"+2\"}]}",
    ] {
        let (records, warnings) = json_with_warnings(text);
        let callers: Vec<_> = summary(&records)
            .into_iter()
            .map(|(n, _, c)| (n, c))
            .collect();
        assert_eq!(
            callers,
            [(1, Ok("+1".into())), (2, Ok("+2".into()))],
            "{text}"
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("every array were read"),
            "{warnings:?}"
        );
    }
}

#[test]
fn json_duplicated_call_records_key_reads_both_arrays() {
    let text = "{\"call_records\": [{\"caller_number\": \"+1\"}],\n \"note\": 1,\n \"call_records\": [{\"caller_number\": \"+2\"}]}\n";
    let (records, warnings) = json_with_warnings(text);
    assert_eq!(
        summary(&records),
        [(1, 1, Ok("+1".into())), (2, 3, Ok("+2".into()))]
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("starts on line 3"), "{warnings:?}");
}

#[test]
fn json_content_after_the_records_is_reported_on_its_line() {
    let cases = [
        (
            "[{\"caller_number\": \"+1\"}]\n\n  oops",
            "unexpected `o` at line 3",
        ),
        (
            "[{\"caller_number\": \"+1\"}]\n]",
            "unexpected `]` at line 2",
        ),
        (
            "{\"call_records\": [{\"caller_number\": \"+1\"}]\n",
            "before the `}` that closes the API body",
        ),
        (
            "{\"call_records\": [{\"caller_number\": \"+1\"}] \"x\": 1}",
            "expected `,` or `}` after the `call_records` array",
        ),
        (
            "[{\"caller_number\": \"+1\"}]\n{\"caller_number\": \"+2\"}",
            "a call record object on line 2 is outside the records array",
        ),
    ];
    for (text, expected) in cases {
        let (records, _) = json_with_warnings(text);
        let s = summary(&records);
        assert_eq!(s.len(), 2, "{text}: {s:?}");
        assert_eq!(s[0].2, Ok("+1".into()));
        let message = s[1].2.clone().unwrap_err();
        assert!(message.contains(expected), "{text}: {message}");
    }
}

#[test]
fn json_keys_match_fields_like_csv_headers_do() {
    let records = jsonl(b"{\"Caller_Number\": \"+1\", \" ENDS_AT \": 5}\n{\"caller_number\": \"+1\", \"CALLER_NUMBER\": \"+2\"}\n");
    let raw = records[0].raw.as_ref().unwrap();
    assert_eq!(
        raw.get(Field::CallerNumber),
        Some(&Scalar::Text("+1".into()))
    );
    assert_eq!(raw.get(Field::EndsAt), Some(&Scalar::Int(5)));
    let twice = records[1].raw.as_ref().unwrap_err();
    assert!(
        twice
            .message
            .contains("`caller_number` twice (as `caller_number` and `CALLER_NUMBER`)"),
        "{}",
        twice.message
    );
}

#[test]
fn unknown_json_keys_get_one_warning_like_unknown_csv_columns() {
    let text = b"{\"caller_number\": \"+1\", \"customer\": 7}\n\n{\"reciever_number\": \"+2\", \"customer\": 8}\n";
    let mut reader = JsonlRecords::new(tiny(text), "`x.jsonl`".into(), None);
    assert!(reader.warnings().is_empty());
    assert_eq!(reader.by_ref().filter(|r| r.raw.is_ok()).count(), 2);
    assert_eq!(
        reader.warnings(),
        [
            "`x.jsonl`: ignoring key(s) that are not call record fields: `customer` (line 1), \
          `reciever_number` (line 3; did you mean `receiver_number`?)"
        ]
    );
    let (_, warnings) = json_with_warnings(r#"[{"caller_number": "+1", "customer": 7}]"#);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("`customer` (line 1)"), "{warnings:?}");
}

/// Gives `data`, then fails: a disk or pipe error in the middle of a file.
struct FailingReader {
    data: Cursor<Vec<u8>>,
}

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.data.read(buf)? {
            0 => Err(io::Error::other("device error")),
            n => Ok(n),
        }
    }
}

fn failing(text: &str) -> BufReader<FailingReader> {
    BufReader::with_capacity(
        3,
        FailingReader {
            data: Cursor::new(text.as_bytes().to_vec()),
        },
    )
}

/// An error as `tcbatch` prints it: the error, then each of its sources, `: `-separated.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[test]
fn an_io_error_stops_reading_visibly() {
    let check = |records: Vec<InputRecord>, finish: Result<(), ReadError>, line: usize| {
        assert_eq!(records.len(), 2, "{records:#?}");
        assert!(records[0].raw.is_ok());
        assert_eq!((records[1].record, records[1].line), (2, line));
        let message = &records[1].raw.as_ref().unwrap_err().message;
        assert!(
            message.contains("reading stopped here: device error"),
            "{message}"
        );
        let err = finish.unwrap_err();
        assert!(matches!(err, ReadError::Io { .. }), "{err:?}");
        assert_eq!(chain(&err), "cannot read x: device error");
    };
    let mut csv = CsvRecords::new(failing(&format!("{HEADER}\n{ROW}\n{ROW}")), "x".into()).unwrap();
    let records: Vec<_> = csv.by_ref().collect();
    check(records, csv.finish(), 3);
    let mut jsonl = JsonlRecords::new(
        failing("{\"caller_number\": \"+1\"}\n{\"caller"),
        "x".into(),
        None,
    );
    let records: Vec<_> = jsonl.by_ref().collect();
    check(records, jsonl.finish(), 2);
    let mut json = JsonRecords::new(
        failing("[{\"caller_number\": \"+1\"},\n{\"caller"),
        "x".into(),
        None,
    )
    .unwrap();
    let records: Vec<_> = json.by_ref().collect();
    check(records, json.finish(), 2);
}

#[test]
fn row_estimate_scales_the_sample_to_the_file_size() {
    let path = std::env::temp_dir().join(format!("tcbatch-estimate-{}.csv", std::process::id()));
    let text = format!("{HEADER}\n{}", format!("{ROW}\n").repeat(5000));
    std::fs::write(&path, &text).unwrap();
    let estimate = estimate_rows(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!((4900..=5100).contains(&estimate), "{estimate}");
    assert_eq!(estimate_rows(Path::new("-")), None);
}

fn sniffed(bytes: &[u8], format: Format) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut source = sniff(Box::new(tiny(bytes)), "`x`", format).map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    source.read_to_end(&mut all).unwrap();
    Ok(all)
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|unit| {
            if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            }
        })
        .collect()
}

#[test]
fn utf16_input_is_an_error_that_says_save_as_utf8() {
    let text = format!("\u{FEFF}{HEADER}\n{ROW}\n");
    let no_bom = format!("{HEADER}\n{ROW}\n");
    for (bytes, encoding) in [
        (utf16(&text, false), "UTF-16 (little-endian)"),
        (utf16(&text, true), "UTF-16 (big-endian)"),
        (utf16(&no_bom, false), "UTF-16 (little-endian)"),
        (utf16(&no_bom, true), "UTF-16 (big-endian)"),
        (b"\xFF\xFE\0\0c\0\0\0".to_vec(), "UTF-32 (little-endian)"),
    ] {
        for format in [Format::Csv, Format::Jsonl, Format::Json] {
            let err = sniffed(&bytes, format).unwrap_err();
            assert!(
                err.starts_with(&format!("`x` is {encoding} text"))
                    && err.contains("save it as UTF-8"),
                "{err}"
            );
        }
    }
}

#[test]
fn utf8_input_passes_through_whole() {
    let long = format!("{HEADER}\n{}", format!("{ROW}\n").repeat(100));
    for text in [long.as_str(), "सेंट्रो बैंक,x\n", "\u{FEFF}a", "[]", "x"] {
        assert_eq!(
            sniffed(text.as_bytes(), Format::Csv).as_deref(),
            Ok(text.as_bytes())
        );
    }
}

#[test]
fn an_empty_input_is_the_same_error_in_every_format() {
    for bytes in [&b""[..], b"\n\n", b"\xEF\xBB\xBF", b"  \r\n\t"] {
        for format in [Format::Csv, Format::Jsonl, Format::Json] {
            let err = sniffed(bytes, format).unwrap_err();
            assert!(
                err.starts_with("`x` is empty, so there is nothing to check or send"),
                "{err}"
            );
        }
    }
}

#[test]
fn a_million_joined_empty_arrays_are_read_without_recursion_and_warned_of_once() {
    let mut text = "[]".repeat(1_000_000);
    text.push_str(r#"[{"caller_number": "+1"}]"#);
    let mut reader = JsonRecords::new(
        BufReader::new(Cursor::new(text.into_bytes())),
        "x".into(),
        None,
    )
    .expect("records");
    let records: Vec<_> = reader.by_ref().collect();
    assert_eq!(summary(&records), [(1, 1, Ok("+1".into()))]);
    assert_eq!(reader.warnings().len(), 1);
}

/// Rows left for a validating thread to build come out the same as rows built as read: the
/// same records, the same unreadable rows with the same messages, in the same places.
#[test]
fn csv_rows_built_on_another_thread_are_the_rows_read_directly() {
    let text = [
        HEADER.as_bytes(),
        b"\n",
        ROW.as_bytes(),
        b"\n+919876543210,only three,fields\n",
        // Not UTF-8 in one field; a two-byte character cut in two by a separator.
        b"+91987654321\xFF,+919876543211,Centro Bank,Calling you for KYC,,1,2\n",
        b"+919876543210,+91987654321\xC3,\xA9Centro Bank,Calling you for KYC,,1,2\n",
        b"\"+919876543210,+919876543211,Centro Bank,Calling you,,1,2\n",
        "+919876543210,+919876543211,\"Centro, Bank\",Café visit,,1,2\n".as_bytes(),
        ROW.as_bytes(),
    ]
    .concat();
    let direct = csv(&text);
    let mut reader = CsvRecords::new(tiny(&text), "test".into()).expect("header");
    let columns = reader.columns().to_vec();
    let unbuilt: Vec<_> = std::iter::from_fn(|| reader.next_unbuilt()).collect();
    let built: Vec<InputRecord> = std::thread::spawn(move || {
        unbuilt
            .into_iter()
            .map(|row| row.build(&columns, RawRecord::default()))
            .collect()
    })
    .join()
    .expect("building");
    assert_eq!(built, direct);
    assert_eq!(direct.len(), 7, "{:?}", summary(&direct));
    let unreadable = direct.iter().filter(|r| r.raw.is_err()).count();
    assert_eq!(unreadable, 4, "{:?}", summary(&direct));
}

/// A record refilled row after row (the validating threads reuse one to spare the allocator)
/// is the record built afresh: a field empty in this row is absent, not the last row's, and a
/// field no column gives is absent whatever the spare held.
#[test]
fn a_csv_row_built_into_an_earlier_record_is_the_row_built_afresh() {
    let text = [
        HEADER.as_bytes(),
        b"\n",
        ROW.as_bytes(),
        b"\n+919876543210,+919876543212,,,,1753248600000,1753257600000\n",
        b"+919876543210,only three,fields\n",
        "+919876543210,+919876543211,\"Centro, Bank\",Café visit,,1,2\n".as_bytes(),
        b"+91 98765 43210,+919876543213,Acme,,,1753248600000,\n",
    ]
    .concat();
    let direct = csv(&text);
    let mut reader = CsvRecords::new(tiny(&text), "test".into()).expect("header");
    let columns = reader.columns().to_vec();
    let mut spare = RawRecord::default();
    let mut refilled = Vec::new();
    while let Some(row) = reader.next_unbuilt() {
        let input = row.build(&columns, std::mem::take(&mut spare));
        if let Ok(raw) = &input.raw {
            spare = raw.clone();
        }
        refilled.push(input);
    }
    assert_eq!(refilled, direct);
    assert_eq!(direct.len(), 5, "{:?}", summary(&direct));

    let no_label_id = b"caller_number,receiver_number,dynamic_label_name,starts_at,ends_at\n\
                        +919876543210,+919876543211,Centro Bank,1753248600000,1753257600000\n";
    let mut reader = CsvRecords::new(tiny(no_label_id), "test".into()).expect("header");
    let columns = reader.columns().to_vec();
    let row = reader.next_unbuilt().expect("a row");
    let mut spare = RawRecord::default();
    spare.set_text(Field::LabelId, "b00924e0-afb5-5768-2980-9dfbbf241002");
    let built = row.build(&columns, spare);
    assert_eq!(built, csv(no_label_id).remove(0));
    assert_eq!(built.raw.expect("a record").get(Field::LabelId), None);
}

/// A workbook of two records, the second only a caller's number stored as a number, as an .xlsx
/// file's bytes.
fn workbook_bytes() -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, name) in HEADER.split(',').enumerate() {
        sheet.write_string(0, col as u16, name).unwrap();
    }
    for (col, value) in ROW.split(',').enumerate() {
        sheet.write_string(1, col as u16, value).unwrap();
    }
    sheet.write_number(2, 0, 919876543210.0).unwrap();
    workbook.save_to_buffer().unwrap()
}

#[test]
fn a_workbook_reads_from_memory_as_from_its_file() {
    let bytes = workbook_bytes();
    let path = std::env::temp_dir().join(format!("tc-input-sheet-{}.xlsx", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let from_file: Vec<InputRecord> = open_with(Some(&path), &ReadOptions::default())
        .expect("the workbook")
        .collect();
    std::fs::remove_file(&path).unwrap();
    let from_memory: Vec<InputRecord> = from_reader(
        Cursor::new(bytes),
        "`x.xlsx`",
        Format::Spreadsheet,
        &ReadOptions::default(),
    )
    .expect("the workbook")
    .collect();
    assert_eq!(from_memory, from_file);
    assert_eq!(
        summary(&from_memory)
            .into_iter()
            .map(|(record, line, outcome)| (record, line, outcome.is_ok()))
            .collect::<Vec<_>>(),
        [(1, 2, true), (2, 3, true)]
    );
}

#[test]
fn a_reader_is_read_as_the_file_it_holds() {
    let text = format!("{HEADER}\n{ROW}\n+919876543210,only three,fields\n{ROW}");
    let path = std::env::temp_dir().join(format!("tc-input-reader-{}.csv", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let from_file: Vec<InputRecord> = open_with(Some(&path), &ReadOptions::default())
        .expect("the header")
        .collect();
    std::fs::remove_file(&path).unwrap();
    let options = ReadOptions::default();
    let from_memory: Vec<InputRecord> =
        from_reader(tiny(text.as_bytes()), "`x.csv`", Format::Csv, &options)
            .expect("the header")
            .collect();
    assert_eq!(from_memory, from_file);
    assert_eq!(bad_lines(&from_memory), [3]);
}

#[test]
fn a_reader_gets_the_checks_a_file_gets() {
    let empty = from_reader(
        tiny(b"\n"),
        "the request body",
        Format::Jsonl,
        &ReadOptions::default(),
    );
    let err = empty.err().expect("an empty input is an error");
    assert!(matches!(err, ReadError::Empty { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("the request body is empty"),
        "{err}"
    );

    let mut map = map::ColumnMap::default();
    map.insert("receiver_number=Customer Mobile".parse().unwrap());
    let mapped = ReadOptions::builder().column_map(map).build();
    let json = from_reader(tiny(b"[]"), "the request body", Format::Json, &mapped);
    let err = json.err().expect("a column map does not apply to JSON");
    assert!(matches!(err, ReadError::Options { .. }), "{err:?}");
}

#[test]
fn a_kept_key_is_set_aside_and_the_records_key_matches_in_any_case() {
    let text = "{\" Call_Records\": [\n{\"caller_number\": \"+1\", \"External_ID\": \"crm-7\"},\n{\"caller_number\": \"+2\", \"colour\": 1}\n]}";
    let mut reader = JsonRecords::new(
        tiny(text.as_bytes()),
        "x".into(),
        Some("external_id".into()),
    )
    .unwrap();
    let records: Vec<InputRecord> = reader.by_ref().collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].kept, Some(Scalar::Text("crm-7".into())));
    assert_eq!((records[1].line, records[1].kept.clone()), (3, None));
    assert_eq!(
        reader.unknown_keys(),
        ["colour"],
        "the kept key is not unknown"
    );
    // Without the key kept, it is one more unknown key, and nothing is set aside.
    let plain: Vec<InputRecord> = JsonRecords::new(tiny(text.as_bytes()), "x".into(), None)
        .unwrap()
        .collect();
    assert_eq!(plain[0].kept, None);
}
