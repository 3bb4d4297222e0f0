//! The inputs a CRM really produces, through the real `tcbatch` binary: column maps, local times,
//! windows from one call time, spreadsheets, `;` and tab separators, and config file profiles.
//! Each bad input is shown as the user sees it (an insta snapshot), with its exit status, and no
//! row is ever lost from the report.
//!
//! Every run happens in its own temporary directory with relative paths, as an operator runs
//! it: messages are the same on every machine, and `tcbatch.toml` is found there.

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use std::path::Path;
use std::process::Stdio;

mod common;
use common::Run;

/// A time the files below are valid at: every call lies ahead of it.
const NOW: &str = "2030-07-01T00:00:00Z";

const BANK_HEADER: &str = "Customer Mobile,Agent Line,Display Name,Call Reason,Scheduled (IST)";

const BANK_MAP: [&str; 8] = [
    "--map",
    "receiver_number=Customer Mobile",
    "--map",
    "caller_number=agent line",
    "--map",
    "dynamic_label_name=DISPLAY NAME",
    "--map",
    "dynamic_call_reason=CallReason",
];

const BANK_WINDOW: [&str; 8] = [
    "--timezone",
    "Asia/Kolkata",
    "--call-time",
    "Scheduled (IST)",
    "--show-before",
    "15m",
    "--show-after",
    "2h",
];

fn tcbatch(dir: &Path, args: &[&str]) -> Run {
    let output = common::tcbatch_command()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("TRUECALLER_API_KEY")
        .output()
        .expect("run tcbatch");
    Run::from_output(output)
}

fn validate(dir: &Path, file: &str, extra: &[&str]) -> Run {
    let mut args = vec!["validate", file, "--now", NOW];
    args.extend_from_slice(extra);
    tcbatch(dir, &args)
}

fn with_file(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    dir
}

/// Three bank rows: the call times as a CSV export writes them.
fn bank_csv(separator: &str) -> String {
    let rows = [
        BANK_HEADER,
        "98765 43211,+91 22 6160 6161,Centro Bank,Your card statement is ready,2030-07-23 10:30",
        "098765-43212,+91 22 6160 6161,Centro Bank,Home loan documents pending,2030-07-23 11:00:00",
        "+91 99001 23456,+91 22 6160 6161,Centro Bank,Fixed deposit renewal,2030-07-24 09:15",
    ];
    let mut text = rows.join("\n").replace(',', separator);
    text.push('\n');
    text
}

fn args<'a>(groups: &[&[&'a str]]) -> Vec<&'a str> {
    groups.iter().flat_map(|g| g.iter().copied()).collect()
}

#[test]
fn a_bank_export_is_read_through_a_column_map_and_a_call_time() {
    let dir = with_file("bank.csv", &bank_csv(","));
    let run = validate(
        dir.path(),
        "bank.csv",
        &args(&[
            &BANK_MAP,
            &BANK_WINDOW,
            &["--region", "IN", "--output", "json"],
        ]),
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stderr.contains("3 records: 3 valid, 0 invalid"));
}

#[test]
fn messages_name_the_column_a_field_came_from() {
    let text = bank_csv(",").replace("98765 43211", "98765 4321O");
    let dir = with_file("bank.csv", &text);
    // At 13:30 IST on the 23rd (08:00 UTC) the windows of the first two rows (to 12:30 and
    // 13:00) have closed; the third's, on the 24th, is ahead. The first has a letter O too.
    let run = tcbatch(
        dir.path(),
        &args(&[
            &["validate", "bank.csv", "--now", "2030-07-23T08:00:00Z"],
            &BANK_MAP,
            &BANK_WINDOW,
            &["--region", "IN"],
        ]),
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("3 records: 1 valid, 2 invalid"));
    insta::assert_snapshot!("messages_name_the_source_column", run.transcript());
}

#[test]
fn semicolon_and_tab_files_are_read_as_comma_files_are() {
    for (separator, name) in [(";", "semicolon.csv"), ("\t", "tab.csv")] {
        let dir = with_file(name, &bank_csv(separator));
        let run = validate(
            dir.path(),
            name,
            &args(&[&BANK_MAP, &BANK_WINDOW, &["--region", "IN"]]),
        );
        assert_eq!(run.code, 0, "{name}: {}", run.transcript());
        assert!(
            run.stdout.contains("3 records: 3 valid, 0 invalid"),
            "{name}"
        );
    }
    // A separator given that the file does not use: the header is one column, and says so.
    let dir = with_file("semicolon.csv", &bank_csv(";"));
    let run = validate(
        dir.path(),
        "semicolon.csv",
        &args(&[&BANK_MAP, &BANK_WINDOW, &["--delimiter", ","]]),
    );
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("delimiter_given_is_not_the_files", run.transcript());
    let bad = validate(dir.path(), "semicolon.csv", &["--delimiter", "x"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("is not a CSV separator"),
        "{}",
        bad.stderr
    );
}

#[test]
fn an_unknown_header_in_a_map_lists_the_headers_and_the_closest() {
    let dir = with_file("bank.csv", &bank_csv(","));
    let run = validate(
        dir.path(),
        "bank.csv",
        &args(&[
            &["--map", "receiver_number=Customer Mobil No"],
            &BANK_MAP[2..],
            &BANK_WINDOW,
        ]),
    );
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("map_unknown_header", run.transcript());
}

#[test]
fn unmapped_required_fields_are_named_in_one_message() {
    let dir = with_file("bank.csv", &bank_csv(","));
    let run = validate(dir.path(), "bank.csv", &[]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("map_missing_required_fields", run.transcript());
    let bad_field = validate(dir.path(), "bank.csv", &["--map", "mobile=Customer Mobile"]);
    assert_eq!(bad_field.code, 2);
    insta::assert_snapshot!("map_unknown_field", bad_field.transcript());
}

#[test]
fn an_unknown_timezone_is_a_usage_error() {
    let dir = with_file("bank.csv", &bank_csv(","));
    let run = validate(dir.path(), "bank.csv", &["--timezone", "Asia/Kolkatta"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("timezone_unknown", run.transcript());
}

#[test]
fn local_times_a_clock_change_skips_or_repeats_name_both_instants() {
    let text = "caller_number,receiver_number,dynamic_label_name,starts_at,ends_at\n\
                +12125550100,+12125550111,Centro Bank,2030-03-10 01:00,2030-03-10 04:00\n\
                +12125550100,+12125550111,Centro Bank,2030-03-10 02:30,2030-03-10 04:00\n\
                +12125550100,+12125550111,Centro Bank,2030-11-03 00:00,2030-11-03 01:30\n\
                +12125550100,+12125550111,Centro Bank,2030-11-03 03:00,2030-11-03 05:00\n";
    let dir = with_file("ny.csv", text);
    let run = tcbatch(
        dir.path(),
        &[
            "validate",
            "ny.csv",
            "--timezone",
            "America/New_York",
            "--now",
            "2030-01-01T00:00:00Z",
        ],
    );
    assert_eq!(run.code, 1);
    // Every row is in the report: the two good ones valid, the two ambiguous ones explained.
    assert!(run.stdout.contains("4 records: 2 valid, 2 invalid"));
    insta::assert_snapshot!("timezone_gap_and_overlap", run.transcript());
}

#[test]
fn a_day_first_date_format_reads_day_first_times_and_a_bad_one_is_refused() {
    let text = bank_csv(",")
        .replace("2030-07-23 10:30", "23/07/2030 10:30")
        .replace("2030-07-24 09:15", "24/07/2030 09:15");
    let dir = with_file("bank.csv", &text);
    let day_first = ["--date-format", "%d/%m/%Y %H:%M"];
    let run = validate(
        dir.path(),
        "bank.csv",
        &args(&[&BANK_MAP, &BANK_WINDOW, &day_first, &["--region", "IN"]]),
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    let bad = validate(
        dir.path(),
        "bank.csv",
        &args(&[&BANK_MAP, &BANK_WINDOW, &["--date-format", "%d/%m/%Y"]]),
    );
    assert_eq!(bad.code, 2);
    insta::assert_snapshot!("date_format_bad", bad.transcript());
}

#[test]
fn window_flags_that_cannot_make_a_window_are_usage_errors() {
    let dir = with_file("bank.csv", &bank_csv(","));
    let bad_before = validate(
        dir.path(),
        "bank.csv",
        &args(&[&BANK_MAP, &BANK_WINDOW[..4], &["--show-before", "a while"]]),
    );
    assert_eq!(bad_before.code, 2);
    insta::assert_snapshot!("show_before_bad", bad_before.transcript());
    let too_long = validate(
        dir.path(),
        "bank.csv",
        &args(&[
            &BANK_MAP,
            &BANK_WINDOW[..4],
            &["--show-before", "1h", "--show-after", "24h"],
        ]),
    );
    assert_eq!(too_long.code, 2);
    insta::assert_snapshot!("window_longer_than_a_day", too_long.transcript());
    let no_after = validate(
        dir.path(),
        "bank.csv",
        &args(&[&BANK_MAP, &BANK_WINDOW[..6]]),
    );
    assert_eq!(no_after.code, 2);
    assert!(no_after
        .stderr
        .contains("--call-time needs --show-before and --show-after"));
}

#[test]
fn a_call_time_without_a_timezone_is_explained_on_its_column_and_no_row_is_lost() {
    let dir = with_file("bank.csv", &bank_csv(","));
    let run = validate(
        dir.path(),
        "bank.csv",
        &args(&[
            &BANK_MAP,
            &BANK_WINDOW[2..],
            &["--region", "IN", "--output", "json"],
        ]),
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("3 records: 0 valid, 3 invalid"));
    insta::assert_snapshot!("call_time_without_timezone", run.transcript());
}

const PROFILES: &str = r#"
[profiles.bank]
region = "IN"
timezone = "Asia/Kolkata"
call_time = "Scheduled (IST)"
show_before = "15m"
show_after = "2h"
tokens = 2
credentials = "bank.credentials"
state_dir = "state"

[profiles.bank.map]
receiver_number = "Customer Mobile"
caller_number = "Agent Line"
dynamic_label_name = "Display Name"
dynamic_call_reason = "Call Reason"
"#;

#[test]
fn a_profile_of_tcbatch_toml_holds_the_settings_and_flags_override_it() {
    let dir = with_file("bank.csv", &bank_csv(","));
    std::fs::write(dir.path().join("tcbatch.toml"), PROFILES).unwrap();
    let run = validate(dir.path(), "bank.csv", &["--profile", "bank"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    // A flag wins over the profile: a window of 23h45m + 15m is still allowed, 24h + 15m not.
    let over = validate(
        dir.path(),
        "bank.csv",
        &["--profile", "bank", "--show-after", "24h"],
    );
    assert_eq!(over.code, 2);
    assert!(over.stderr.contains("--show-after 24h"), "{}", over.stderr);
    // Without --profile no profile applies.
    assert_eq!(validate(dir.path(), "bank.csv", &[]).code, 2);
}

#[test]
fn config_show_prints_the_resolved_settings_with_the_secret_redacted() {
    let dir = with_file("tcbatch.toml", PROFILES);
    std::fs::write(
        dir.path().join("bank.credentials"),
        "TRUECALLER_CLIENT_ACCOUNT_ID=acct-1\nTRUECALLER_KEY_ID=key-1\nTRUECALLER_API_KEY=sk-live-do-not-print\n",
    )
    .unwrap();
    // The profile's state directory, relative to the config file: no TCBATCH_STATE_DIR over
    // it (`config show` writes nothing).
    let output = common::tcbatch_command()
        .args(["config", "show", "--profile", "bank"])
        .args(["--timezone", "Europe/London"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .env_remove("TRUECALLER_API_KEY")
        .env_remove("TCBATCH_STATE_DIR")
        .output()
        .expect("run tcbatch");
    let run = Run::from_output(output);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(!run.transcript().contains("sk-live-do-not-print"));
    insta::assert_snapshot!("config_show", run.transcript());
}

#[test]
fn an_unknown_profile_is_an_error_listing_the_profiles() {
    let dir = with_file("tcbatch.toml", PROFILES);
    let run = tcbatch(dir.path(), &["validate", "x.csv", "--profile", "bnak"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("profile_unknown", run.transcript());
    let nowhere = tempfile::tempdir().unwrap();
    let run = tcbatch(nowhere.path(), &["validate", "x.csv", "--profile", "bank"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("profile_without_config_file", run.transcript());
}

#[test]
fn a_config_file_that_does_not_parse_names_the_line() {
    let dir = with_file(
        "tcbatch.toml",
        "[profiles.bank]\nregion = \"IN\"\ntimezone = Asia/Kolkata\n",
    );
    let run = tcbatch(dir.path(), &["validate", "x.csv", "--profile", "bank"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("config_syntax_error", run.transcript());
    let dir = with_file(
        "settings.toml",
        "[profiles.bank]\nregion = \"IN\"\n\ntimezone = \"Mars/Olympus\"\n",
    );
    let run = tcbatch(
        dir.path(),
        &[
            "config",
            "show",
            "--config",
            "settings.toml",
            "--profile",
            "bank",
        ],
    );
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("config_bad_value", run.transcript());
    let dir = with_file(
        "tcbatch.toml",
        "[profiles.bank]\nregion = \"IN\"\n\n[profiles.bank.map]\nreceiver_number = \"Mobile\"\nmobile_number = \"Mobile\"\n",
    );
    let run = tcbatch(dir.path(), &["config", "show", "--profile", "bank"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("config_map_unknown_field", run.transcript());
}

#[test]
fn a_secret_in_the_config_file_is_refused_and_never_echoed() {
    for (key, line) in [
        ("api_key", "api_key = \"sk-live-do-not-print\""),
        (
            "TRUECALLER_API_KEY",
            "TRUECALLER_API_KEY = \"sk-live-do-not-print\"",
        ),
        ("password", "password = sk-live-do-not-print"),
    ] {
        let dir = with_file(
            "tcbatch.toml",
            &format!("[profiles.bank]\nregion = \"IN\"\n{line}\n"),
        );
        let run = tcbatch(dir.path(), &["config", "show", "--profile", "bank"]);
        assert_eq!(run.code, 2, "{key}");
        assert!(
            !run.transcript().contains("sk-live"),
            "{key}: {}",
            run.stderr
        );
        if key == "api_key" {
            insta::assert_snapshot!("config_secret_refused", run.transcript());
        }
    }
}

/// The bank rows as a workbook: text cells, and the call time as date cells (rows 2 to 4), a
/// blank row 5, and a row 6 whose date cell is text no time zone can place.
fn bank_workbook(path: &Path) {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Calls").unwrap();
    for (col, name) in BANK_HEADER.split(',').enumerate() {
        sheet.write_string(0, col as u16, name).unwrap();
    }
    let shown = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let rows = [
        ("98765 43211", 23, 10, 30),
        ("098765-43212", 23, 11, 0),
        ("+91 99001 23456", 24, 9, 15),
    ];
    for (i, (receiver, day, hour, minute)) in rows.into_iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, receiver).unwrap();
        sheet.write_number(row, 1, 912261606161.0).unwrap();
        sheet.write_string(row, 2, "Centro Bank").unwrap();
        sheet
            .write_string(row, 3, "Your card statement is ready")
            .unwrap();
        let at = ExcelDateTime::from_ymd(2030, 7, day)
            .unwrap()
            .and_hms(hour, minute, 0)
            .unwrap();
        sheet
            .write_datetime_with_format(row, 4, &at, &shown)
            .unwrap();
    }
    sheet.write_string(5, 0, "98860 11223").unwrap();
    sheet.write_number(5, 1, 912261606161.0).unwrap();
    sheet.write_string(5, 2, "Centro Bank").unwrap();
    sheet.write_string(5, 4, "tomorrow morning").unwrap();
    workbook.add_worksheet().set_name("Summary").unwrap();
    workbook.save(path).unwrap();
}

#[test]
fn a_spreadsheet_is_read_with_its_date_cells_in_the_zone_and_its_own_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    bank_workbook(&dir.path().join("bank.xlsx"));
    let run = validate(
        dir.path(),
        "bank.xlsx",
        &args(&[
            &BANK_MAP,
            &BANK_WINDOW,
            &["--region", "IN", "--output", "json"],
        ]),
    );
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("4 records: 3 valid, 1 invalid"));
    // Row 6 as the spreadsheet shows it: the header is row 1 and row 5 is blank.
    insta::assert_snapshot!("spreadsheet_rows", run.transcript());
}

#[test]
fn a_missing_sheet_lists_the_sheets() {
    let dir = tempfile::tempdir().unwrap();
    bank_workbook(&dir.path().join("bank.xlsx"));
    let run = validate(dir.path(), "bank.xlsx", &["--sheet", "Calls 2030"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("spreadsheet_missing_sheet", run.transcript());
    // The second sheet is empty: named, it says so.
    let empty = validate(dir.path(), "bank.xlsx", &["--sheet", "summary"]);
    assert_eq!(empty.code, 2);
    assert!(
        empty
            .stderr
            .contains("the sheet `Summary` of `bank.xlsx` is empty"),
        "{}",
        empty.stderr
    );
}

#[test]
fn date_cells_without_a_timezone_ask_for_one() {
    let dir = tempfile::tempdir().unwrap();
    bank_workbook(&dir.path().join("bank.xlsx"));
    let run = validate(
        dir.path(),
        "bank.xlsx",
        &args(&[&BANK_MAP, &BANK_WINDOW[2..], &["--region", "IN"]]),
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("4 records: 0 valid, 4 invalid"));
    assert!(run.stdout.contains("give --timezone"), "{}", run.stdout);
}

/// The bank rows as an OpenDocument spreadsheet (LibreOffice's `.ods`): a zip of XML, the call
/// times as date cells and the agent's line as a number cell.
fn bank_ods(path: &Path) {
    use std::io::Write;
    let cell = |text: &str| {
        format!("<table:table-cell office:value-type=\"string\"><text:p>{text}</text:p></table:table-cell>")
    };
    let row = |receiver: &str, at: &str| {
        format!(
            "<table:table-row>{}<table:table-cell office:value-type=\"float\" \
             office:value=\"912261606161\"/>{}{}<table:table-cell office:value-type=\"date\" \
             office:date-value=\"{at}\"/></table:table-row>",
            cell(receiver),
            cell("Centro Bank"),
            cell("Your card statement is ready"),
        )
    };
    let header: String = BANK_HEADER.split(',').map(cell).collect();
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <office:document-content \
         xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\">\
         <office:body><office:spreadsheet><table:table table:name=\"Calls\">\
         <table:table-row>{header}</table:table-row>{}{}\
         </table:table></office:spreadsheet></office:body></office:document-content>",
        row("98765 43211", "2030-07-23T10:30:00"),
        row("+91 99001 23456", "2030-07-24T09:15:00"),
    );
    let manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" \
        manifest:version=\"1.2\"><manifest:file-entry manifest:full-path=\"/\" \
        manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
        <manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
        </manifest:manifest>";
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in [
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
        ("content.xml", content.as_str()),
        ("META-INF/manifest.xml", manifest),
    ] {
        zip.start_file(name, stored).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn an_ods_spreadsheet_is_read_with_its_date_cells_in_the_zone() {
    let dir = tempfile::tempdir().unwrap();
    bank_ods(&dir.path().join("bank.ods"));
    // 10:30 IST plus 2h is 07:00 UTC: valid until then, and not a millisecond later.
    let at = |now: &str| {
        tcbatch(
            dir.path(),
            &args(&[
                &["validate", "bank.ods", "--now", now, "--region", "IN"],
                &BANK_MAP,
                &BANK_WINDOW,
            ]),
        )
    };
    let open = at("2030-07-23T07:00:00Z");
    assert_eq!(open.code, 0, "{}", open.transcript());
    assert!(open.stdout.contains("2 records: 2 valid, 0 invalid"));
    let closed = at("2030-07-23T07:00:00.001Z");
    assert_eq!(closed.code, 1, "{}", closed.transcript());
    assert!(
        closed.stdout.contains("line 2, record 1, ends_at:"),
        "{}",
        closed.stdout
    );
    assert!(closed.stdout.contains("[window_expired]"));
}

#[test]
fn submit_and_its_dry_run_read_through_the_same_flags() {
    let dir = tempfile::tempdir().unwrap();
    bank_workbook(&dir.path().join("bank.xlsx"));
    std::fs::write(dir.path().join("tcbatch.toml"), PROFILES).unwrap();
    let dry = tcbatch(
        dir.path(),
        &["submit", "bank.xlsx", "--profile", "bank", "--dry-run"],
    );
    assert_eq!(dry.code, 1, "{}", dry.transcript());
    assert!(
        dry.stderr.contains("dry run: 4 rows, 3 valid, 1 invalid"),
        "{}",
        dry.stderr
    );
    let pushed = tcbatch(
        dir.path(),
        &["submit", "bank.xlsx", "--profile", "bank", "--mock"],
    );
    assert_eq!(pushed.code, 1, "{}", pushed.transcript());
    let report = std::fs::read_to_string(dir.path().join("bank.xlsx.report.csv")).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 5, "a header and one row per record: {report}");
    // Each row names its row of the sheet: 2, 3, 4 and, past the blank row 5, 6.
    let sheet_rows: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(sheet_rows, ["2", "3", "4", "6"]);
    assert!(lines[4].contains("rejected"), "{}", lines[4]);
}

#[test]
fn the_bank_example_validates_the_same_as_csv_and_as_xlsx() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let dir = tempfile::tempdir().unwrap();
    for name in ["bank-export.csv", "bank-export.xlsx", "tcbatch.toml"] {
        std::fs::copy(examples.join(name), dir.path().join(name)).unwrap();
    }
    let check = |file: &str| validate(dir.path(), file, &["--profile", "bank", "--output", "json"]);
    let (csv, xlsx) = (check("bank-export.csv"), check("bank-export.xlsx"));
    assert_eq!(csv.code, 0, "{}", csv.transcript());
    assert_eq!(xlsx.code, 0, "{}", xlsx.transcript());
    assert!(csv.stderr.contains("8 records: 8 valid, 0 invalid"));
    assert!(xlsx.stderr.contains("8 records: 8 valid, 0 invalid"));
}

#[test]
fn a_relay_store_in_a_profile_is_shown_without_its_password() {
    let dir = with_file(
        "tcbatch.toml",
        "[profiles.relay]\nstore = \"postgres://relay:pa55w0rd@db.internal:5432/tcbatch?sslmode=require\"\n",
    );
    let run = tcbatch(dir.path(), &["config", "show", "--profile", "relay"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "store = \"postgres://relay:[redacted]@db.internal:5432/tcbatch?sslmode=require\""
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.transcript().contains("pa55w0rd"),
        "{}",
        run.transcript()
    );
}

/// Issue 26, item 9: a password holding `@`, and one in the query, are hidden whole.
#[test]
fn a_coordinator_password_is_never_shown_even_in_part() {
    let dir = with_file(
        "tcbatch.toml",
        "[profiles.relay]\ncoordinator = \"redis://:p@ssW0rdX@127.0.0.1:6392/4?password=s3cr3t\"\n",
    );
    let run = tcbatch(dir.path(), &["config", "show", "--profile", "relay"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("coordinator = \"redis://:[redacted]@127.0.0.1:6392/4?password=[redacted]\""),
        "{}",
        run.stdout
    );
    let shown = run.transcript();
    assert!(
        !shown.contains("ssW0rdX") && !shown.contains("s3cr3t"),
        "{shown}"
    );
}
