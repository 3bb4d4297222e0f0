//! The commands of the day after a push, run as an operator runs them against the simulator on
//! loopback: `status`, `labels`, `check`, `report`, `completions`, `man`. Each test pushes the
//! example file with a real `tcbatch submit` where it needs a batch or a journal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tc_sim::{SimConfig, Simulator};

mod common;
use common::Run;

fn redact(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[DIR]")
}

/// Snapshots `text` with what changes from run to run or machine to machine (the simulator's
/// port, batch ids, times, the number of cores) named instead of shown.
fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"http://127\.0\.0\.1:\d+", "[URL]");
    settings.add_filter(r"batch [0-9a-f-]{36}", "batch [BATCH_ID]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]");
    settings.add_filter(r"(at least one\.?\s*\[default: )\d+\]", "${1}[CORES]]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `tcbatch ARGS` with the simulator's demo credentials in the environment.
fn tcbatch(sim: Option<&Simulator>, args: &[&str]) -> Run {
    let mut command = common::tcbatch_command();
    command
        .args(args)
        .stdin(Stdio::null())
        .env_remove("TRUECALLER_CLIENT_ACCOUNT_ID")
        .env_remove("TRUECALLER_KEY_ID")
        .env_remove("TRUECALLER_API_KEY");
    if let Some(sim) = sim {
        let config = sim.config();
        command
            .args(["--base-url", &sim.base_url()])
            .env("TRUECALLER_CLIENT_ACCOUNT_ID", &config.client_account_id)
            .env("TRUECALLER_KEY_ID", &config.key_id)
            .env("TRUECALLER_API_KEY", &config.api_key);
    }
    Run::from_output(command.output().expect("run tcbatch"))
}

/// Everything a user sees, with the temporary directory named `[DIR]`.
fn transcript(run: &Run, dir: &Path) -> String {
    redact(&run.transcript(), dir)
}

/// A push of `examples/calls.csv` (7 valid rows of 12; 5 delivered, 2 not) to `sim`.
struct Pushed {
    dir: tempfile::TempDir,
    input: PathBuf,
    journal: PathBuf,
    report: PathBuf,
}

impl Pushed {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The distinct batch ids of the report, in order.
    fn batch_ids(&self) -> Vec<String> {
        let mut reader = csv::Reader::from_path(&self.report).unwrap();
        let mut ids: Vec<String> = Vec::new();
        for row in reader.deserialize::<std::collections::HashMap<String, String>>() {
            let id = row.unwrap()["batch_id"].clone();
            if !id.is_empty() && !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

fn push_example(sim: &Simulator) -> Pushed {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("calls.csv");
    std::fs::copy(common::example("calls.csv"), &input).unwrap();
    let journal = dir.path().join("calls.journal");
    let report = dir.path().join("calls.report.csv");
    let pushed = tcbatch(
        Some(sim),
        &[
            "submit",
            input.to_str().unwrap(),
            "--region",
            "IN",
            "--wait",
            "--journal",
            journal.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(
        pushed.code, 1,
        "five rows are broken on purpose: {}",
        pushed.stderr
    );
    Pushed {
        dir,
        input,
        journal,
        report,
    }
}

#[test]
fn status_shows_every_records_delivery_with_its_reason() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let pushed = push_example(&sim);
    let ids = pushed.batch_ids();
    assert_eq!(ids.len(), 1, "7 valid rows make one batch");
    let run = tcbatch(Some(&sim), &["status", &ids[0]]);
    // Two of the example's customers are not reached, so not every record was delivered.
    assert_eq!(run.code, 1, "{}", run.stderr);
    let stored = sim.stored_records();
    assert_eq!(stored.len(), 7);
    for record in &stored {
        let receiver = &record.record.receiver_number;
        let line = run
            .stdout
            .lines()
            .find(|line| line.trim_start().starts_with(receiver.as_str()))
            .unwrap_or_else(|| panic!("no line for {receiver}:\n{}", run.stdout));
        let expected = tc_sim::expected_status(receiver);
        assert!(line.contains(expected), "{line} should say {expected}");
    }
    snapshot("status_human", &transcript(&run, pushed.dir.path()));
    let v3 = tcbatch(Some(&sim), &["status", &ids[0], "--status-api", "v3"]);
    assert_eq!(
        (v3.code, &v3.stdout),
        (run.code, &run.stdout),
        "/v3 answers as /v2"
    );
    rt.block_on(sim.shutdown());
}

#[test]
fn status_json_with_wait_settles_each_batch_and_says_why_a_record_failed() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let pushed = push_example(&sim);
    let ids = pushed.batch_ids();
    let run = tcbatch(
        Some(&sim),
        &[
            "status",
            &ids[0],
            "--wait",
            "--wait-timeout",
            "10",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let batch = &lines[0];
    assert_eq!(batch["batch_id"], ids[0].as_str());
    assert_eq!(batch["settled"], true);
    assert_eq!(batch["delivered"], false);
    let records = batch["records"].as_array().unwrap();
    assert_eq!(records.len(), 7);
    let delivered = records.iter().filter(|r| r["delivered"] == true).count();
    assert_eq!(delivered, 5);
    for record in records.iter().filter(|r| r["delivered"] == false) {
        let receiver = record["receiver_number"].as_str().unwrap();
        let (status, message) = tc_sim::expected_outcome(receiver);
        assert_eq!(record["delivery_status"], status);
        assert_eq!(record["message"], message.unwrap());
    }
    rt.block_on(sim.shutdown());
}

#[test]
fn an_unknown_batch_id_is_named_exits_2_and_the_known_batch_is_still_shown() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let pushed = push_example(&sim);
    let ids = pushed.batch_ids();
    let run = tcbatch(Some(&sim), &["status", "no-such-batch", &ids[0]]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no-such-batch"), "{}", run.stderr);
    assert!(run.stdout.contains(&ids[0]), "{}", run.stdout);
    assert!(run.stdout.contains("7 records"), "{}", run.stdout);
    let json = tcbatch(Some(&sim), &["status", "no-such-batch", "--output", "json"]);
    assert_eq!(json.code, 2);
    let line: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(line["batch_id"], "no-such-batch");
    assert!(line["error"].as_str().unwrap().contains("404"), "{line}");
    rt.block_on(sim.shutdown());
}

#[test]
fn status_needs_a_batch_id_and_refuses_an_empty_one() {
    let none = tcbatch(None, &["status", "--mock"]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("BATCH_ID"), "{}", none.stderr);
    let empty = tcbatch(None, &["status", "--mock", " "]);
    assert_eq!(empty.code, 2);
    assert!(empty.stderr.contains("batch"), "{}", empty.stderr);
}

#[test]
fn labels_reads_every_page() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    // Five labels two to a page: pages of 2, 2 and 1.
    let run = tcbatch(Some(&sim), &["labels", "--page-size", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for label in tc_sim::demo_labels() {
        assert!(run.stdout.contains(&label.id), "{} missing", label.name);
        assert!(run.stdout.contains(&label.name));
    }
    assert!(run.stdout.ends_with("5 labels\n"), "{}", run.stdout);
    let counters = sim.counters();
    assert_eq!(counters.tokens_created, 1);
    assert_eq!(
        counters.requests_by_status.get(&200),
        Some(&4),
        "a token and 3 pages"
    );
    let dir = tempfile::tempdir().unwrap();
    snapshot("labels_human", &transcript(&run, dir.path()));

    let json = tcbatch(Some(&sim), &["labels", "--output", "json"]);
    assert_eq!(json.code, 0);
    let ids: Vec<String> = json
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["id"].to_string())
        .map(|id| id.trim_matches('"').to_owned())
        .collect();
    let expected: Vec<String> = tc_sim::demo_labels().into_iter().map(|l| l.id).collect();
    assert_eq!(ids, expected);
    rt.block_on(sim.shutdown());
}

#[test]
fn check_uses_one_token_creation_and_never_shows_the_key() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let run = tcbatch(Some(&sim), &["check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = sim.config();
    assert!(run.stdout.contains(&config.client_account_id));
    assert!(run.stdout.contains(&sim.base_url()));
    assert!(run
        .stdout
        .contains("token creations used: 1 of the account's 10 per 30 minutes"));
    assert!(run.stdout.contains("labels: 5"));
    assert!(!run.stdout.contains(&config.api_key) && !run.stderr.contains(&config.api_key));
    assert_eq!(sim.counters().tokens_created, 1);
    let dir = tempfile::tempdir().unwrap();
    snapshot("check_human", &transcript(&run, dir.path()));

    // A second check on this machine takes the token the first one left in the state
    // directory: it still proves the key (the token opens only under it), and costs nothing.
    let json = tcbatch(Some(&sim), &["check", "--output", "json"]);
    assert_eq!(json.code, 0);
    let seen: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(seen["token_created"], false);
    assert_eq!(seen["token_reused"], true);
    assert_eq!(seen["token_creations_used"], 0);
    assert_eq!(sim.counters().tokens_created, 1);
    let alone = tcbatch(
        Some(&sim),
        &["check", "--output", "json", "--coordinator", "none"],
    );
    let seen: serde_json::Value = serde_json::from_str(alone.stdout.trim()).unwrap();
    assert_eq!(seen["token_created"], true);
    assert_eq!(seen["token_creations_used"], 1);
    assert_eq!(seen["labels"], 5);
    assert_eq!(seen["client_account_id"], config.client_account_id.as_str());
    assert!(seen["token_expires_at"].as_str().unwrap().ends_with('Z'));
    rt.block_on(sim.shutdown());
}

#[test]
fn check_with_a_wrong_key_exits_2_and_does_not_echo_it() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let config = sim.config();
    let wrong_key = "wrong-key-0123456789";
    let output = common::tcbatch_command()
        .args(["check", "--base-url", &sim.base_url()])
        .env("TRUECALLER_CLIENT_ACCOUNT_ID", &config.client_account_id)
        .env("TRUECALLER_KEY_ID", &config.key_id)
        .env("TRUECALLER_API_KEY", wrong_key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(everything.contains("token: not created"), "{everything}");
    assert!(!everything.contains(wrong_key), "{everything}");
    rt.block_on(sim.shutdown());
}

#[test]
fn check_without_credentials_says_where_to_put_them() {
    let run = tcbatch(None, &["check"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("TRUECALLER_API_KEY"), "{}", run.stderr);
    assert!(run.stderr.contains("--mock"), "{}", run.stderr);
}

#[test]
fn check_with_mock_needs_no_account() {
    let run = tcbatch(None, &["check", "--mock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(tc_sim_demo_account()), "{}", run.stdout);
}

fn tc_sim_demo_account() -> &'static str {
    "5b0e7a52-3c1d-4f6e-9a8b-0c1d2e3f4a5b"
}

#[test]
fn report_rebuilds_the_push_report_byte_for_byte_without_sending() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let pushed = push_example(&sim);
    let requests_before = sim.counters().requests_by_status.values().sum::<u64>();
    let journal_before = std::fs::read(&pushed.journal).unwrap();

    let run = tcbatch(
        None,
        &["report", "--journal", pushed.journal.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "5 rows were rejected: {}", run.stderr);
    assert_eq!(run.stdout, std::fs::read_to_string(&pushed.report).unwrap());
    let summary = format!("exit status: {}\n--- stderr\n{}", run.code, run.stderr);
    snapshot("report_summary", &redact(&summary, pushed.dir.path()));

    let again = pushed.path("again.csv");
    let file = tcbatch(
        None,
        &[
            "report",
            "--journal",
            pushed.journal.to_str().unwrap(),
            "--output",
            &again,
        ],
    );
    assert_eq!(file.code, 1, "{}", file.stderr);
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&pushed.report).unwrap()
    );

    let requests_after = sim.counters().requests_by_status.values().sum::<u64>();
    assert_eq!(requests_after, requests_before, "report sends nothing");
    assert_eq!(std::fs::read(&pushed.journal).unwrap(), journal_before);
    rt.block_on(sim.shutdown());
}

#[test]
fn report_in_json_lines_has_one_row_per_input_row() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let pushed = push_example(&sim);
    let json = tcbatch(
        None,
        &[
            "report",
            "--journal",
            pushed.journal.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let rows: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(json.code, 1, "{}", json.stderr);
    let numbers: Vec<u64> = rows.iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(
        numbers,
        (1..=12).collect::<Vec<u64>>(),
        "every row once, in input order"
    );
    assert_eq!(rows.iter().filter(|r| r["status"] == "accepted").count(), 7);
    assert_eq!(
        rows.iter()
            .filter(|r| r["delivery_status"] == "success")
            .count(),
        5
    );
    rt.block_on(sim.shutdown());
}

#[test]
fn report_refuses_to_write_over_the_journal_or_the_input() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let pushed = push_example(&sim);
    let journal = pushed.journal.to_str().unwrap();
    let journal_before = std::fs::read(&pushed.journal).unwrap();
    let input_before = std::fs::read(&pushed.input).unwrap();
    // submit was given the input by its full path, which the journal keeps.
    for target in [journal, pushed.input.to_str().unwrap()] {
        let run = tcbatch(None, &["report", "--journal", journal, "--output", target]);
        assert_eq!(run.code, 2, "{target}: {}", run.stderr);
        assert!(run.stderr.contains("are the same file"), "{}", run.stderr);
        assert!(run.stderr.contains("--output"), "{}", run.stderr);
    }
    assert_eq!(std::fs::read(&pushed.journal).unwrap(), journal_before);
    assert_eq!(std::fs::read(&pushed.input).unwrap(), input_before);
    rt.block_on(sim.shutdown());
}

#[test]
fn report_of_a_missing_journal_or_of_a_file_that_is_not_one_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.journal");
    let run = tcbatch(None, &["report", "--journal", missing.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nope.journal"), "{}", run.stderr);
    assert!(run.stdout.is_empty());

    let csv = dir.path().join("calls.csv");
    std::fs::write(
        &csv,
        "caller_number,receiver_number\n+919876543210,+919876543211\n",
    )
    .unwrap();
    let run = tcbatch(None, &["report", "--journal", csv.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("calls.csv"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let one_line = dir.path().join("notes.txt");
    std::fs::write(&one_line, "not a journal\n").unwrap();
    let run = tcbatch(None, &["report", "--journal", one_line.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a push journal"), "{}", run.stderr);
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef tcbatch"),
        ("fish", "complete -c tcbatch"),
    ] {
        let run = tcbatch(None, &["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains(marker), "{shell} script lacks {marker}");
        for command in ["status", "labels", "check", "report", "submit"] {
            assert!(
                run.stdout.contains(command),
                "{shell} script lacks {command}"
            );
        }
        if let Some(syntax) = check_syntax(shell, &run.stdout) {
            assert!(syntax.status.success(), "{shell} -n: {syntax:?}");
        }
    }
    let unknown = tcbatch(None, &["completions", "tcsh"]);
    assert_eq!(unknown.code, 2);
}

/// `SHELL -n` on the script, when that shell is installed (bash is, wherever the tests run).
fn check_syntax(shell: &str, script: &str) -> Option<std::process::Output> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script");
    std::fs::write(&file, script).unwrap();
    let output = Command::new(shell).arg("-n").arg(&file).output();
    match output {
        Ok(output) => Some(output),
        Err(_) if shell != "bash" => None,
        Err(error) => panic!("bash is needed to check the bash script: {error}"),
    }
}

#[test]
fn man_pages_come_from_the_same_definitions_as_help() {
    let run = tcbatch(None, &["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with(".ie"), "{}", &run.stdout[..80]);
    assert!(run.stdout.contains(".TH tcbatch 1"), "not a man page");
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let run = tcbatch(None, &["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = std::fs::read_to_string(pages.join("tcbatch-status.1")).unwrap();
    assert!(status.contains("wait\\-timeout"), "{status}");
    assert!(status.contains("Exit status"), "{status}");
    for command in [
        "validate",
        "normalize",
        "submit",
        "mock",
        "serve",
        "labels",
        "check",
        "report",
    ] {
        assert!(
            pages.join(format!("tcbatch-{command}.1")).exists(),
            "{command}"
        );
    }
}
