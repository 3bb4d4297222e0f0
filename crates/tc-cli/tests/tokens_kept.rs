//! Tokens kept across commands (issue 23, item 1): every `tcbatch` process on one machine and
//! one account shares the local coordinator's file in the state directory, so a morning of
//! ordinary commands, `check`, `labels`, `submit`, `status` and a relay started, stopped and
//! started again, creates one token, where each used to create its own (and the 11th in 30
//! minutes was refused). Real processes against the simulator on loopback, in real time; every
//! wait is for an event (an exit, a start-up line, a batch the simulator stores), bounded.

mod common;

use common::Run;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tc_sim::{SimConfig, Simulator};

/// Generous bounds on waits for a real child process: reached only when something is broken,
/// and then the test fails saying which wait it was. Never an asserted duration.
const START_BOUND: Duration = Duration::from_secs(60);
const DELIVERY_BOUND: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `tcbatch ARGS` for the simulator's demo account, its state in `state`.
fn command(sim: &Simulator, state: &Path, args: &[&str]) -> Command {
    let config = sim.config();
    let mut command = common::tcbatch_command();
    command
        .args(args)
        .args(["--base-url", &sim.base_url()])
        .env("TCBATCH_STATE_DIR", state)
        .env("TRUECALLER_CLIENT_ACCOUNT_ID", &config.client_account_id)
        .env("TRUECALLER_KEY_ID", &config.key_id)
        .env("TRUECALLER_API_KEY", &config.api_key)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

fn run(sim: &Simulator, state: &Path, args: &[&str]) -> Run {
    Run::from_output(command(sim, state, args).output().expect("run tcbatch"))
}

/// A relay started by `tcbatch serve` and the address it serves on, read from its start-up
/// line.
struct Relay {
    child: Child,
    base: String,
    /// What it printed to standard error, read on a thread so it never blocks on a full pipe.
    stderr: std::thread::JoinHandle<Vec<String>>,
}

fn serve(sim: &Simulator, state: &Path, store: &Path) -> Relay {
    let mut child = command(
        sim,
        state,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--linger",
            "10ms",
            "--drain",
            "0s",
        ],
    )
    .arg("--store")
    .arg(store)
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("tcbatch serve runs");
    let (lines, started) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line.clone());
            seen.push(line);
        }
        seen
    });
    let base = loop {
        let Ok(line) = started.recv_timeout(START_BOUND) else {
            let _ = child.kill();
            panic!("tcbatch serve printed no start-up line within {START_BOUND:?}");
        };
        if let Some(rest) = line.split("relay listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    Relay {
        child,
        base,
        stderr,
    }
}

impl Relay {
    /// Posts one record to the relay and waits until the simulator stores it.
    fn deliver(&self, rt: &tokio::runtime::Runtime, sim: &Simulator, receiver: &str) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut stored = sim.watch_stored();
        rt.block_on(async {
            let answer = reqwest::Client::new()
                .post(format!("{}/v1/call-records", self.base))
                .json(&serde_json::json!({
                    "caller_number": "+919876543210", "receiver_number": receiver,
                    "dynamic_label_name": "Centro Bank",
                    "starts_at": now, "ends_at": now + 3_600_000,
                }))
                .send()
                .await
                .expect("the relay answers");
            assert_eq!(answer.status(), 202, "{:?}", answer.text().await);
            let arrived = tokio::time::timeout(DELIVERY_BOUND, async {
                loop {
                    stored.borrow_and_update();
                    let records = sim.stored_records();
                    if records.iter().any(|r| r.record.receiver_number == receiver) {
                        return;
                    }
                    stored.changed().await.expect("the simulator runs");
                }
            })
            .await;
            assert!(
                arrived.is_ok(),
                "{receiver} did not reach the simulator within {DELIVERY_BOUND:?}"
            );
        });
    }

    /// SIGTERM, and what it printed once it exited.
    fn stop(mut self) -> String {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(terminated.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "SIGTERM ends the relay cleanly: {status}");
        self.stderr.join().unwrap().join("\n")
    }
}

/// The token a simulator of `config`'s seed hands out first: its twin's first token, asked
/// for directly. The test's simulator handed the same one to the first command.
fn first_token_of(rt: &tokio::runtime::Runtime, config: &SimConfig) -> String {
    rt.block_on(async {
        let twin = Simulator::start(config.clone()).await.unwrap();
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!(
                "{}/clients/{}/token",
                twin.base_url(),
                config.client_account_id
            ))
            .header("X-Public-Access", "allow")
            .json(&serde_json::json!({"key_id": config.key_id, "api_key": config.api_key}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        twin.shutdown().await;
        answer["token"].as_str().unwrap().to_owned()
    })
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_morning_of_commands_and_relay_restarts_creates_one_token() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let path = |name: &str| work.path().join(name).display().to_string();
    // Everything the commands printed, checked for secrets at the end.
    let printed = std::cell::RefCell::new(String::new());
    let expect = |run: Run, code: i32, what: &str| {
        assert_eq!(run.code, code, "{what}: {}", run.transcript());
        printed.borrow_mut().push_str(&run.transcript());
        run
    };

    let check = expect(run(&sim, &state, &["check"]), 0, "check");
    assert!(check.stdout.contains("token: created"), "{}", check.stdout);
    expect(run(&sim, &state, &["labels"]), 0, "labels");
    std::fs::copy(common::example("calls.csv"), path("calls.csv")).unwrap();
    let submit = [
        "submit",
        &path("calls.csv"),
        "--region",
        "IN",
        "--journal",
        &path("calls.journal"),
        "--report",
        &path("calls.report.csv"),
    ];
    expect(
        run(&sim, &state, &submit),
        1,
        "submit (five rows are broken on purpose)",
    );
    let batch = sim.stored_records()[0].batch_id.clone();
    expect(
        run(&sim, &state, &["status", &batch]),
        1,
        "status (two not delivered)",
    );
    let labels = expect(
        run(&sim, &state, &["labels", "--output", "json"]),
        0,
        "labels",
    );
    assert_eq!(labels.stdout.lines().count(), 5);

    let store = work.path().join("relay.db");
    let relay = serve(&sim, &state, &store);
    relay.deliver(&rt, &sim, "+919000000001");
    printed.borrow_mut().push_str(&relay.stop());
    let restarted = serve(&sim, &state, &store);
    restarted.deliver(&rt, &sim, "+919000000002");
    printed.borrow_mut().push_str(&restarted.stop());

    let check = expect(
        run(&sim, &state, &["check", "--output", "json"]),
        0,
        "check",
    );
    let seen: serde_json::Value = serde_json::from_str(check.stdout.trim()).unwrap();
    assert_eq!(seen["token_created"], false, "{seen}");
    assert_eq!(seen["token_reused"], true, "{seen}");
    let counters = sim.counters();
    assert_eq!(
        counters.tokens_created, 1,
        "check, labels, submit, status, labels, serve, serve again and check: one token"
    );
    assert_eq!(counters.requests_by_status.get(&401), None, "{counters:?}");

    // The state file holds the token only sealed, and never the key.
    let config = sim.config();
    let token = first_token_of(&rt, config);
    let labels = rt.block_on(
        reqwest::Client::new()
            .get(format!(
                "{}/clients/{}/labels",
                sim.base_url(),
                config.client_account_id
            ))
            .bearer_auth(&token)
            .send(),
    );
    assert_eq!(
        labels.unwrap().status(),
        200,
        "the twin's first token is the one the commands used"
    );
    let accounts = state.join("accounts");
    let files: Vec<_> = std::fs::read_dir(&accounts).unwrap().flatten().collect();
    assert_eq!(
        files.len(),
        2,
        "one account: its state file and its lock: {files:?}"
    );
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(file.path()).unwrap()).into_owned();
        for secret in [&token, &config.api_key] {
            assert!(!text.contains(secret.as_str()) && !text.contains(&hex(secret)));
        }
    }
    // Nor does anything the commands printed.
    let shown = printed.borrow().clone();
    assert!(!shown.contains(&token) && !shown.contains(&config.api_key));

    // Opting out: each such command creates its own token, as before.
    expect(
        run(&sim, &state, &["check", "--coordinator", "none"]),
        0,
        "check alone",
    );
    assert_eq!(sim.counters().tokens_created, 2);
    rt.block_on(sim.shutdown());
}

#[test]
fn commands_racing_for_the_first_token_create_one() {
    let rt = runtime();
    let sim = rt.block_on(Simulator::start(SimConfig::demo())).unwrap();
    let state = tempfile::tempdir().unwrap();
    let racers: Vec<Child> = (0..4)
        .map(|_| {
            command(&sim, state.path(), &["check", "--output", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("tcbatch check runs")
        })
        .collect();
    let mut created = 0;
    for racer in racers {
        let run = Run::from_output(racer.wait_with_output().unwrap());
        assert_eq!(run.code, 0, "{}", run.transcript());
        let seen: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_ne!(seen["token_created"], seen["token_reused"], "{seen}");
        created += usize::from(seen["token_created"] == true);
    }
    assert_eq!(
        created, 1,
        "one of the four created the token, the others took it"
    );
    assert_eq!(sim.counters().tokens_created, 1);
    rt.block_on(sim.shutdown());
}
