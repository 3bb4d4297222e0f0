//! `tcbatch submit` end to end against the simulator on loopback: faults, crashes, bad input.
//! Every test checks the promises a user relies on: every input row appears exactly once in the
//! report, every valid record reaches the API, and duplicates only where the report flags them.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tc_sim::{SimConfig, Simulator};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Indian mobiles that tc-core accepts, deterministic for a seed.
fn valid_receivers(n: usize, seed: u64) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while out.len() < n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let candidate = format!("+91 9{:09}", (x >> 20) % 1_000_000_000);
        if tc_core::E164::normalize(&candidate, None).is_ok() {
            out.push(candidate);
        }
    }
    out
}

struct Fixture {
    dir: tempfile::TempDir,
    csv: PathBuf,
    /// (caller, receiver E.164, starts_at, ends_at) of every valid row, by row number.
    valid: BTreeMap<u64, (String, String, i64, i64)>,
    rows: u64,
}

/// `valid` good rows, with `broken` bad rows of every kind spread among them.
fn fixture(valid: usize, broken: bool, seed: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("calls.csv");
    let start = now_ms();
    let end = start + 3 * 3600 * 1000;
    let mut text = String::from(
        "caller_number,receiver_number,dynamic_label_name,dynamic_call_reason,starts_at,ends_at\n",
    );
    let mut map = BTreeMap::new();
    let mut row = 0u64;
    let bad_rows = [
        format!("+91 98765 43210,+91 98765 4321O,Centro Bank,Calling about your loan,{start},{end}\n"),
        format!("+91 98765 43210,+91 98765 43211,Centro Bank,Calling about your loan,{},{}\n", start / 1000, end / 1000),
        format!("+91 98765 43210,+91 98765 43211,C,Calling about your loan,{start},{end}\n"),
        format!("+91 98765 43210,+91 98765 43211,Centro Bank,Calling about your loan,{start},{}\n", start + 25 * 3600 * 1000),
        "+91 98765 43210,\"unterminated,Centro Bank,x,1,2\n".to_owned(),
        format!("+91 98765 43210,+91 98765 43211,Centro Bank,Calling # you,{start},{end},extra,fields\n"),
        format!("+91 98765 43210,12345,Centro Bank,Calling about your loan,tomorrow,{end}\n"),
    ];
    let mut bad = bad_rows.iter().cycle();
    for (i, receiver) in valid_receivers(valid, seed).into_iter().enumerate() {
        if broken && i % 97 == 3 {
            row += 1;
            text.push_str(bad.next().unwrap());
        }
        row += 1;
        text.push_str(&format!(
            "+91 98765 43210,{receiver},Centro Bank,Calling about your loan,{start},{end}\n"
        ));
        let e164 = tc_core::E164::normalize(&receiver, None)
            .unwrap()
            .to_string();
        map.insert(row, ("+919876543210".to_owned(), e164, start, end));
    }
    std::fs::write(&csv, text).unwrap();
    Fixture {
        dir,
        csv,
        valid: map,
        rows: row,
    }
}

fn submit(sim: &Simulator, fx: &Fixture, extra: &[&str]) -> Command {
    submit_to(&sim.base_url(), sim, fx, extra)
}

/// `submit` with no --report or --journal: the test gives its own.
fn submit_with_paths(sim: &Simulator, fx: &Fixture, paths: &[&str]) -> Command {
    let config = sim.config();
    let mut cmd = common::tcbatch_command();
    cmd.arg("submit")
        .arg(&fx.csv)
        .args(["--base-url", &sim.base_url()])
        .args(paths)
        .env("TRUECALLER_CLIENT_ACCOUNT_ID", &config.client_account_id)
        .env("TRUECALLER_KEY_ID", &config.key_id)
        .env("TRUECALLER_API_KEY", &config.api_key)
        .stdin(Stdio::null());
    cmd
}

/// `submit` with another base URL than the simulator's own.
fn submit_to(base_url: &str, sim: &Simulator, fx: &Fixture, extra: &[&str]) -> Command {
    let config = sim.config();
    let mut cmd = common::tcbatch_command();
    cmd.arg("submit")
        .arg(&fx.csv)
        .args(["--base-url", base_url])
        .args([
            "--report",
            fx.dir.path().join("report.csv").to_str().unwrap(),
        ])
        .args(["--journal", fx.dir.path().join("journal").to_str().unwrap()])
        .args(extra)
        .env("TRUECALLER_CLIENT_ACCOUNT_ID", &config.client_account_id)
        .env("TRUECALLER_KEY_ID", &config.key_id)
        .env("TRUECALLER_API_KEY", &config.api_key)
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Reads the child's `--events` lines on stderr until the `count`th `event` has happened (the
/// journal line behind it is on disk by then), and returns what it read. `None`: the child
/// ended first.
fn wait_for_events(child: &mut Child, event: &str, count: usize) -> Option<String> {
    use std::io::BufRead;
    let stderr = child.stderr.as_mut().expect("stderr is piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let needle = format!(r#""event":"{event}""#);
    let mut seen = 0;
    let mut text = String::new();
    for line in lines.by_ref() {
        let line = line.ok()?;
        seen += usize::from(line.contains(&needle));
        text.push_str(&line);
        text.push('\n');
        if seen == count {
            return Some(text);
        }
    }
    None
}

fn spawn_with_events(cmd: &mut Command) -> Child {
    cmd.arg("--events")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `signal` (INT, TERM) to the child.
fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[derive(Debug, Clone, serde::Deserialize)]
struct ReportRow {
    row: u64,
    status: String,
    batch_id: String,
    code: String,
    message: String,
    possibly_duplicated: bool,
    delivery_status: String,
}

fn report(fx: &Fixture) -> Vec<ReportRow> {
    let mut reader = csv::Reader::from_path(fx.dir.path().join("report.csv")).unwrap();
    reader.deserialize().map(|r| r.unwrap()).collect()
}

/// The three promises: one report row per input row; every valid row in the API's store;
/// duplicates in the store only for rows the report flags.
fn check_promises(sim: &Simulator, fx: &Fixture, rows: &[ReportRow]) {
    let mut seen = HashMap::new();
    for r in rows {
        assert!(
            seen.insert(r.row, r.clone()).is_none(),
            "row {} reported twice",
            r.row
        );
    }
    assert_eq!(
        seen.len() as u64,
        fx.rows,
        "every input row is in the report exactly once"
    );
    assert!(
        rows.windows(2).all(|w| w[0].row < w[1].row),
        "the report is in input order"
    );
    let mut stored: HashMap<(String, String, i64, i64), u32> = HashMap::new();
    for s in sim.stored_records() {
        let r = s.record;
        *stored
            .entry((r.caller_number, r.receiver_number, r.starts_at, r.ends_at))
            .or_default() += 1;
    }
    for (row, key) in &fx.valid {
        let report = &seen[row];
        assert_eq!(report.status, "accepted", "valid row {row}: {report:?}");
        let copies = stored.get(key).copied().unwrap_or(0);
        assert!(copies >= 1, "valid row {row} never reached the API");
        if copies > 1 {
            assert!(
                report.possibly_duplicated,
                "row {row} stored {copies} times but not flagged"
            );
        }
    }
    for (row, r) in &seen {
        if !fx.valid.contains_key(row) {
            assert_eq!(r.status, "rejected", "broken row {row}: {r:?}");
            assert!(!r.code.is_empty());
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn faults_lose_nothing_and_flag_every_duplicate() {
    let rt = runtime();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            fail_rate: 0.15,
            drop_rate: 0.15,
            latency: Duration::from_millis(20),
            token_ttl: Duration::from_secs(2),
            seed: 7,
            ..SimConfig::demo()
        }))
        .unwrap();
    let fx = fixture(6200, true, 1);
    let mut out = run(submit(&sim, &fx, &["--tokens", "2"]).env("NO_COLOR", "1"));
    // A batch whose every attempt meets a fault (0.3 of requests do) ends unknown and
    // resumable; the operator's next step is --resume, which must finish the job without
    // losing a row or doubling one unflagged.
    for _ in 0..3 {
        let unsettled = report(&fx)
            .iter()
            .any(|r| r.status == "unknown" || r.status == "failed");
        if !unsettled {
            break;
        }
        out = run(submit(&sim, &fx, &["--tokens", "2", "--resume"]).env("NO_COLOR", "1"));
    }
    assert_eq!(
        out.status.code(),
        Some(1),
        "some rows are rejected, so exit 1"
    );
    check_promises(&sim, &fx, &report(&fx));
    let counters = sim.counters();
    eprintln!("{counters:?}");
    assert!(counters.responses_dropped > 0, "the faults were exercised");
    assert!(
        counters.fullest_create_window <= 60,
        "never above the limit on a token"
    );
    assert!(counters
        .requests_by_status
        .get(&500)
        .is_some_and(|n| *n > 0));
    assert!(
        counters.duplicate_records > 0,
        "dropped answers made duplicates, all flagged above"
    );
    rt.block_on(sim.shutdown());
}

#[test]
fn killed_at_random_points_then_resumed_loses_nothing() {
    let rt = runtime();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            latency: Duration::from_millis(150),
            drop_rate: 0.1,
            seed: 11,
            ..SimConfig::demo()
        }))
        .unwrap();
    let fx = fixture(4000, true, 2);
    // Kill points on journal events: right after the Nth answer is on disk, while the other
    // requests (four in flight per token) are out. Deterministic, whatever the load.
    for (i, kill_after_answers) in [1usize, 2, 1, 1].into_iter().enumerate() {
        let mut cmd = submit(&sim, &fx, if i == 0 { &[] } else { &["--resume"] });
        let mut child = spawn_with_events(&mut cmd);
        let reached = wait_for_events(&mut child, "batch_answered", kill_after_answers);
        child.kill().unwrap(); // SIGKILL: no chance to flush anything
        child.wait().unwrap();
        assert!(reached.is_some(), "run {i} ended before its kill point");
    }
    let sent_before_last_run = sim.counters().create_requests;
    let out = run(&mut submit(&sim, &fx, &["--resume"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        sent_before_last_run > 0,
        "the killed runs got as far as sending"
    );
    let journal = std::fs::read_to_string(fx.dir.path().join("journal")).unwrap();
    assert!(
        journal.matches(r#""t":"start""#).count() >= 3,
        "several runs were resumed"
    );
    check_promises(&sim, &fx, &report(&fx));
    rt.block_on(sim.shutdown());
}

#[test]
fn an_api_outage_stops_the_push_and_resume_finishes_it() {
    let rt = runtime();
    let down = rt
        .block_on(Simulator::start(SimConfig {
            fail_rate: 1.0,
            ..SimConfig::demo()
        }))
        .unwrap();
    let fx = fixture(6000, false, 9);
    let out = run(&mut submit(&down, &fx, &["--tokens", "1"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stopped early") && stderr.contains("--resume"),
        "{stderr}"
    );
    // 12 batches; at most the 4 in flight on the token get their attempts (6 each), then the
    // push stops instead of trying every batch.
    assert!(
        down.counters().create_requests <= 4 * 6,
        "{} create requests",
        down.counters().create_requests
    );
    let rows = report(&fx);
    assert_eq!(rows.len(), 6000, "every row has an answer, sent or not");
    assert!(rows
        .iter()
        .all(|r| r.status == "failed" && r.message.contains("--resume")));
    assert!(rows.iter().any(|r| r.code == "not_sent"));

    // The API comes back at the same address: a resume must go where the push started.
    let addr = down.local_addr();
    rt.block_on(down.shutdown());
    let up = rt
        .block_on(Simulator::start_on(SimConfig::demo(), addr))
        .unwrap();
    let out = run(&mut submit(&up, &fx, &["--resume"]));
    assert_eq!(out.status.code(), Some(0));
    check_promises(&up, &fx, &report(&fx));
    rt.block_on(up.shutdown());
}

/// A push to a simulator that answers in 300 ms gets `signal` once its first answer is on disk
/// (the push is under way, its handler set): it must answer the requests in flight, write a
/// report with every row, exit with `code`, and a resume must finish without a duplicate.
fn a_signal_finishes_what_is_in_flight(signal_name: &str, code: i32, seed: u64) {
    let rt = runtime();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            latency: Duration::from_millis(300),
            ..SimConfig::demo()
        }))
        .unwrap();
    let fx = fixture(6000, false, seed);
    let mut child = spawn_with_events(&mut submit(&sim, &fx, &["--tokens", "1"]));
    assert!(wait_for_events(&mut child, "batch_answered", 1).is_some());
    signal(&child, signal_name);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let rows = report(&fx);
    assert_eq!(
        rows.len(),
        6000,
        "a stopped push still answers for every row"
    );
    assert!(rows.iter().any(|r| r.status == "accepted"));
    assert!(rows.iter().any(|r| r.code == "not_sent"));
    assert!(
        rows.iter().all(|r| r.status != "unknown"),
        "requests in flight were answered before exiting"
    );
    let out = run(&mut submit(&sim, &fx, &["--resume"]));
    assert_eq!(out.status.code(), Some(0));
    check_promises(&sim, &fx, &report(&fx));
    assert_eq!(
        sim.counters().duplicate_records,
        0,
        "nothing was sent twice"
    );
    rt.block_on(sim.shutdown());
}

#[test]
fn ctrl_c_finishes_what_is_in_flight_and_resume_finishes_the_rest() {
    a_signal_finishes_what_is_in_flight("INT", 130, 10);
}

#[test]
fn resume_refuses_another_input() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(10, false, 3);
    assert_eq!(run(&mut submit(&sim, &fx, &[])).status.code(), Some(0));
    std::fs::write(&fx.csv, "caller_number,receiver_number\n").unwrap();
    let out = run(&mut submit(&sim, &fx, &["--resume"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("belongs to another input"));
    let again = run(&mut submit(&sim, &fx, &[]));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--resume"),
        "an existing journal is never overwritten"
    );
    rt.block_on(sim.shutdown());
}

#[test]
fn at_most_once_never_resends_an_ambiguous_batch() {
    let rt = runtime();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            drop_rate: 1.0,
            ..SimConfig::demo()
        }))
        .unwrap();
    let fx = fixture(600, false, 4);
    let out = run(&mut submit(&sim, &fx, &["--at-most-once"]));
    assert_eq!(out.status.code(), Some(1));
    let rows = report(&fx);
    assert_eq!(rows.len(), 600);
    assert!(rows
        .iter()
        .all(|r| r.status == "unknown" && !r.possibly_duplicated));
    assert_eq!(
        sim.counters().create_requests,
        2,
        "one request per batch, none repeated"
    );
    assert_eq!(sim.counters().duplicate_records, 0);
    rt.block_on(sim.shutdown());
}

#[test]
fn wait_reports_each_records_delivery() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(700, false, 5);
    let out = run(&mut submit(&sim, &fx, &["--wait", "--output", "json"]));
    assert_eq!(out.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["accepted"], 700);
    for r in report(&fx) {
        let receiver = &fx.valid[&r.row].1;
        assert_eq!(
            r.delivery_status,
            tc_sim::expected_status(receiver),
            "row {}",
            r.row
        );
        assert!(!r.batch_id.is_empty());
    }
    rt.block_on(sim.shutdown());
}

#[test]
fn dry_run_sends_nothing_and_plans_full_batches() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(1200, true, 6);
    let out = run(&mut submit(&sim, &fx, &["--dry-run", "--output", "json"]));
    assert_eq!(out.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["valid"], 1200);
    assert_eq!(summary["batches"], 3);
    assert_eq!(sim.counters().create_requests, 0);
    assert!(!fx.dir.path().join("journal").exists());
    rt.block_on(sim.shutdown());
}

#[test]
fn secrets_never_reach_output_journal_or_report() {
    let rt = runtime();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            fail_rate: 0.5,
            seed: 3,
            ..SimConfig::demo()
        }))
        .unwrap();
    let fx = fixture(50, true, 7);
    let out = run(submit(&sim, &fx, &[]).env("RUST_LOG", "trace"));
    let secret = &sim.config().api_key;
    let mut texts = vec![
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ];
    for file in ["journal", "report.csv"] {
        texts.push(std::fs::read_to_string(fx.dir.path().join(file)).unwrap());
    }
    for text in texts {
        assert!(!text.contains(secret.as_str()));
    }
    rt.block_on(sim.shutdown());
}

#[test]
fn standard_input_is_refused_with_the_reason() {
    let out = common::tcbatch_command()
        .args(["submit", "-", "--format", "csv", "--mock"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("resumed"));
}

#[test]
fn missing_credentials_say_what_to_set() {
    let fx = fixture(1, false, 8);
    let out = common::tcbatch_command()
        .args([
            "submit",
            fx.csv.to_str().unwrap(),
            "--base-url",
            "http://127.0.0.1:9",
        ])
        .env_remove("TRUECALLER_API_KEY")
        .env_remove("TRUECALLER_KEY_ID")
        .env_remove("TRUECALLER_CLIENT_ACCOUNT_ID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TRUECALLER_API_KEY") && err.contains("--mock"),
        "{err}"
    );
}

/// Issue 13, item 16: SIGTERM stops the push like Ctrl-C: the requests in flight are answered,
/// the report is written, the exit status is 143, and a resume finishes the push.
#[test]
fn sigterm_finishes_what_is_in_flight_writes_the_report_and_exits_143() {
    a_signal_finishes_what_is_in_flight("TERM", 143, 12);
}

/// Issue 13, item 2: a second push on a journal in use is refused with a clear message, and
/// sends nothing.
#[test]
fn a_second_push_on_a_journal_in_use_is_refused() {
    let rt = runtime();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            latency: Duration::from_millis(300),
            ..SimConfig::demo()
        }))
        .unwrap();
    let fx = fixture(2000, false, 13);
    let mut first = spawn_with_events(&mut submit(&sim, &fx, &["--tokens", "1"]));
    assert!(wait_for_events(&mut first, "batch_journaled", 1).is_some());
    let second = run(&mut submit(&sim, &fx, &["--resume"]));
    assert_eq!(second.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another push"), "{stderr}");
    assert!(first.wait().unwrap().success());
    check_promises(&sim, &fx, &report(&fx));
    assert_eq!(
        sim.counters().duplicate_records,
        0,
        "nothing was sent twice"
    );
    rt.block_on(sim.shutdown());
}

/// Issue 13, items 3 and 15: under --at-most-once, a batch left unanswered by a killed push is
/// never sent again on --resume; its rows are reported unknown, and the resume says so.
#[test]
fn at_most_once_never_resends_an_unanswered_batch_on_resume() {
    let rt = runtime();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            latency: Duration::from_millis(400),
            ..SimConfig::demo()
        }))
        .unwrap();
    let fx = fixture(1500, false, 14);
    let mut child = spawn_with_events(&mut submit(&sim, &fx, &["--at-most-once"]));
    assert!(wait_for_events(&mut child, "batch_leaving", 1).is_some());
    child.kill().unwrap();
    child.wait().unwrap();
    let out = run(&mut submit(&sim, &fx, &["--resume", "--at-most-once"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not sent again (--at-most-once") && !stderr.contains("to send again"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1));
    let rows = report(&fx);
    assert_eq!(rows.len(), 1500);
    let unknown: Vec<_> = rows.iter().filter(|r| r.status == "unknown").collect();
    assert!(!unknown.is_empty(), "the killed batch's rows are unknown");
    assert!(unknown.iter().all(|r| r.code == "interrupted"));
    assert_eq!(
        sim.counters().duplicate_records,
        0,
        "nothing was sent twice"
    );
    rt.block_on(sim.shutdown());
}

/// Issue 26, item 7: under --at-most-once, a push killed while its batches wait for a token
/// (journaled, but no request of theirs left) has stored nothing: the report says its rows
/// were not sent, not that they may be stored, and --resume sends every one of them.
#[test]
fn at_most_once_resume_sends_the_batches_whose_request_never_left() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    // Takes connections (the kernel's backlog) and never answers: the token never comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let fx = fixture(4000, false, 26);
    let first = &["--at-most-once", "--tokens", "1"];
    let mut child = spawn_with_events(&mut submit_to(&silent_url, &sim, &fx, first));
    let seen = wait_for_events(&mut child, "batch_journaled", 2).expect("batches journaled");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!seen.contains("batch_leaving"), "{seen}");

    let report_path = fx.dir.path().join("killed.csv");
    let out = run(common::tcbatch_command()
        .arg("report")
        .args(["--journal", fx.dir.path().join("journal").to_str().unwrap()])
        .args(["--output", report_path.to_str().unwrap()]));
    assert!(out.status.code().is_some());
    let mut reader = csv::Reader::from_path(&report_path).unwrap();
    let killed: Vec<ReportRow> = reader.deserialize().map(|r| r.unwrap()).collect();
    assert!(!killed.is_empty());
    for row in &killed {
        assert_eq!(
            (row.status.as_str(), row.code.as_str()),
            ("failed", "not_sent"),
            "{row:?}"
        );
        assert!(row.message.contains("resume"), "{row:?}");
    }

    // Nothing can be stored, so the resume may go to the API that answers.
    let out = run(&mut submit(&sim, &fx, &["--resume", "--at-most-once"]));
    assert_eq!(out.status.code(), Some(0));
    let rows = report(&fx);
    assert!(rows.iter().all(|r| r.status == "accepted"), "{rows:?}");
    check_promises(&sim, &fx, &rows);
    assert_eq!(sim.counters().duplicate_records, 0);
    rt.block_on(sim.shutdown());
}

/// Issue 23, item 11: a second `submit --mock` on the file a first one is pushing is refused
/// as any second push on a journal in use is, and never deletes the first one's journal.
#[test]
fn a_second_mock_push_of_the_same_file_leaves_the_first_ones_journal_alone() {
    // 62 batches at the built-in simulator's 60 a minute: the first push runs for a minute.
    let fx = fixture(31_000, false, 27);
    let mock = |extra: &[&str]| {
        let mut cmd = common::tcbatch_command();
        cmd.args(["submit", "--mock"])
            .arg(&fx.csv)
            .args(extra)
            .stdin(Stdio::null());
        cmd
    };
    let mut first = spawn_with_events(&mut mock(&[]));
    assert!(wait_for_events(&mut first, "batch_answered", 1).is_some());
    let journal = fx.dir.path().join("calls.csv.journal");
    let before = std::fs::read_to_string(&journal).expect("the first push's journal");

    let second = run(&mut mock(&[]));
    assert_eq!(second.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another push"), "{stderr}");
    let after = std::fs::read_to_string(&journal).expect("the journal is still there");
    assert!(
        after.starts_with(&before),
        "the first push's journal was kept"
    );

    signal(&first, "INT");
    assert_eq!(first.wait().unwrap().code(), Some(130));
}

/// Issue 13, items 4 and 15: a refused API key stops the push and leaves every row resumable;
/// after fixing the key, --resume sends them all. The summary does not claim batches were sent.
#[test]
fn a_wrong_api_key_stops_the_push_and_resume_sends_everything() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(1200, false, 15);
    let out = run(submit(&sim, &fx, &[]).env("TRUECALLER_API_KEY", "not-the-key"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopped early"), "{stderr}");
    assert!(
        !stderr.contains("batches sent") && stderr.contains("failed; "),
        "the summary counts the batches as they ended, none as sent: {stderr}"
    );
    assert_eq!(
        sim.counters().create_requests,
        0,
        "no batch left without a token"
    );
    let rows = report(&fx);
    assert!(rows
        .iter()
        .all(|r| r.status == "failed" && r.message.contains("--resume")));

    let out = run(&mut submit(&sim, &fx, &["--resume"]));
    assert_eq!(out.status.code(), Some(0));
    check_promises(&sim, &fx, &report(&fx));
    rt.block_on(sim.shutdown());
}

/// Issue 13, item 4: a base URL with a wrong path (404 on every batch) stops the push at once
/// instead of failing every batch for good.
#[test]
fn a_base_url_with_a_wrong_path_stops_the_push() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(6000, false, 16);
    let base = format!("{}/wrong", sim.base_url());
    let out = run(&mut submit_to(&base, &sim, &fx, &[]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopped early"), "{stderr}");
    assert!(
        sim.counters().create_requests <= 4,
        "at most the batches in flight: {:?}",
        sim.counters()
    );
    let rows = report(&fx);
    assert!(rows.iter().all(|r| r.message.contains("--resume")));
    // Nothing can have been stored at the wrong path, so the fixed URL may resume the push.
    let out = run(&mut submit(&sim, &fx, &["--resume"]));
    assert_eq!(out.status.code(), Some(0));
    let rows = report(&fx);
    assert_eq!(rows.len() as u64, fx.rows);
    assert!(rows.iter().all(|r| r.status == "accepted"));
    check_promises(&sim, &fx, &rows);
    rt.block_on(sim.shutdown());
}

/// Issue 13, item 8: the report, the journal and the input must be distinct, and the report's
/// place writable, before anything is sent; nothing is overwritten.
#[test]
fn outputs_are_checked_before_the_first_request() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(10, false, 17);
    let input = std::fs::read(&fx.csv).unwrap();
    let csv = fx.csv.to_str().unwrap().to_owned();
    let dotted = fx.dir.path().join(".").join("calls.csv");
    let journal = fx.dir.path().join("journal").to_str().unwrap().to_owned();
    let missing = fx.dir.path().join("no-such-dir").join("r.csv");
    let report = fx
        .dir
        .path()
        .join("report.csv")
        .to_str()
        .unwrap()
        .to_owned();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--report", &csv, "--journal", &journal],
            "are the same file",
        ),
        (
            &["--report", dotted.to_str().unwrap(), "--journal", &journal],
            "are the same file",
        ),
        (
            &["--journal", &csv, "--report", &report],
            "are the same file",
        ),
        (
            &["--report", &journal, "--journal", &journal],
            "are the same file",
        ),
        (
            &["--report", missing.to_str().unwrap(), "--journal", &journal],
            "cannot write report",
        ),
    ];
    for (args, expected) in cases {
        let out = run(&mut submit_with_paths(&sim, &fx, args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read(&fx.csv).unwrap(),
        input,
        "the input is untouched"
    );
    assert_eq!(sim.counters().create_requests, 0, "nothing was sent");
    rt.block_on(sim.shutdown());
}

/// Issue 13, item 9: --resume refuses a journal with no start entry (empty, or some other
/// text), and leaves it as it was.
#[test]
fn resume_refuses_a_journal_with_no_start_entry() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(10, false, 18);
    let journal = fx.dir.path().join("journal");
    for content in ["", "these are my notes, not a journal"] {
        std::fs::write(&journal, content).unwrap();
        let out = run(&mut submit(&sim, &fx, &["--resume"]));
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no start entry"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&journal).unwrap(), content);
    }
    assert_eq!(sim.counters().create_requests, 0);
    rt.block_on(sim.shutdown());
}

/// Issue 13, item 10: --resume refuses options that change what is sent, and names them.
#[test]
fn resume_refuses_other_send_options_and_names_them() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(10, false, 19);
    let out = run(&mut submit(&sim, &fx, &["--region", "IN"]));
    assert_eq!(out.status.code(), Some(0));
    let requests = sim.counters().create_requests;
    let out = run(&mut submit(
        &sim,
        &fx,
        &["--resume", "--region", "US", "--number-format", "digits"],
    ));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("region IN (now US)") && stderr.contains("number format e164 (now digits)"),
        "{stderr}"
    );
    let out = run(&mut submit(
        &sim,
        &fx,
        &["--resume", "--region", "IN", "--mock"],
    ));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("now the built-in simulator"), "{stderr}");
    assert_eq!(
        sim.counters().create_requests,
        requests,
        "nothing more was sent"
    );
    rt.block_on(sim.shutdown());
}

/// Reads the child's stderr until a line contains `text`; `false` if the child ended first.
fn wait_for_text(child: &mut Child, text: &str) -> bool {
    use std::io::BufRead;
    let stderr = child.stderr.as_mut().expect("stderr is piped");
    std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(text))
}

#[test]
fn an_unreachable_coordinator_sends_nothing_and_ctrl_c_leaves_every_row_resumable() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let fx = fixture(1200, false, 41);
    // Nothing listens on port 1: the coordinator cannot be reached from the start.
    let mut child = submit(&sim, &fx, &["--coordinator", "redis://127.0.0.1:1/"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_text(&mut child, "nothing is sent until it answers again"),
        "the push says why it is not sending"
    );
    let counters = sim.counters();
    assert_eq!(
        (counters.tokens_created, counters.create_requests),
        (0, 0),
        "fail closed: not even a token without the coordinator's word"
    );
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let rows = report(&fx);
    assert_eq!(rows.len(), 1200, "every row is answered for");
    assert!(rows.iter().all(|r| r.code == "not_sent"), "{:?}", rows[0]);
    // Resumed on its own (as the only user of the account), it sends everything once.
    let out = run(&mut submit(&sim, &fx, &["--resume"]));
    assert_eq!(out.status.code(), Some(0));
    check_promises(&sim, &fx, &report(&fx));
    rt.block_on(sim.shutdown());
}
