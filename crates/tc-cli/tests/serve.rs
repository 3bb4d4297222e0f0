//! `tcbatch serve` as a process: killed with SIGKILL under load right after a number of
//! acknowledgements, restarted on the same store, and every acknowledged record ends up in the
//! simulator's store (checked against the simulator, not the relay's word). A real child
//! process cannot share a paused clock, so these tests run in real time, every wait bounded.

mod common;

use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tc_sim::{SimConfig, Simulator};
use tokio::sync::mpsc;

/// Generous bounds on waits for a real child process: reached only when something is broken,
/// and then the test fails saying which wait it was. Never an asserted duration.
const START_BOUND: Duration = Duration::from_secs(60);
const ACK_BOUND: Duration = Duration::from_secs(60);
const DELIVERY_BOUND: Duration = Duration::from_secs(120);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Indian mobiles that tc-core accepts, distinct, deterministic for a seed.
fn receivers(n: usize, seed: u64) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    let mut seen = HashSet::new();
    let mut x = seed.wrapping_mul(6364136223846793005) ^ 1442695040888963407;
    while out.len() < n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let candidate = format!("+919{:09}", (x >> 20) % 1_000_000_000);
        if tc_core::E164::normalize(&candidate, None).is_ok() && seen.insert(candidate.clone()) {
            out.push(candidate);
        }
    }
    out
}

/// A relay child process and the address it serves on.
struct Served {
    child: Child,
    base: String,
}

/// Starts `tcbatch serve` on a free loopback port and reads its address from the start-up line.
fn serve(sim: &Simulator, store: &Path) -> Served {
    serve_with(sim, store.as_os_str(), &[])
}

/// [`serve`] on any store (a file or a PostgreSQL URL), with more flags.
fn serve_with(sim: &Simulator, store: &std::ffi::OsStr, flags: &[&str]) -> Served {
    let config = sim.config();
    let mut child = common::tcbatch_command()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--linger",
            "50ms",
            "--tokens",
            "2",
        ])
        .args(["--rate-limit", "50", "--rate-window-ms", "1000"])
        .arg("--store")
        .arg(store)
        .args(flags)
        .args(["--base-url", &sim.base_url()])
        .env("TRUECALLER_CLIENT_ACCOUNT_ID", &config.client_account_id)
        .env("TRUECALLER_KEY_ID", &config.key_id)
        .env("TRUECALLER_API_KEY", &config.api_key)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcbatch runs");
    let (started, _) = start_up_line(&mut child);
    let base = started
        .split("relay listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    Served { child, base }
}

/// Reads `child`'s standard error on a thread for as long as it runs (so it never blocks on a
/// full pipe) up to its `relay listening on` line: that line and the lines before it. The wait
/// is bounded, and fails naming it, with the child killed.
fn start_up_line(child: &mut Child) -> (String, Vec<String>) {
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Once the start-up line is read, nobody listens: the rest is drained.
            let _ = sender.send(line);
        }
    });
    let mut before = Vec::new();
    loop {
        let line = match lines.recv_timeout(START_BOUND) {
            Ok(line) => line,
            Err(error) => {
                // Ended (the channel closed) or hung: either way it is not left running.
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "tcbatch serve printed no start-up line within {START_BOUND:?} ({error}); \
                     it printed {before:?}"
                )
            }
        };
        if line.contains("relay listening on ") {
            return (line, before);
        }
        before.push(line);
    }
}

/// Posts `records` until the relay stops answering, counting each acknowledged record into
/// `acked` and `acknowledged` and telling `progress` of each acknowledgement as it comes.
async fn produce(
    base: String,
    records: Vec<String>,
    acked: Arc<AtomicUsize>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    progress: mpsc::UnboundedSender<usize>,
) {
    let http = reqwest::Client::new();
    let now = now_ms();
    for chunk in records.chunks(5) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|r| {
                json!({"caller_number": "+919876543210", "receiver_number": r,
                       "dynamic_label_name": "Centro Bank", "starts_at": now, "ends_at": now + 3_600_000})
            })
            .collect();
        let answer = http
            .post(format!("{base}/v1/call-records"))
            .json(&json!({ "call_records": body }))
            .send()
            .await;
        let Ok(answer) = answer else { return };
        if answer.status() != 202 {
            return;
        }
        // Counted only once the 202 is read: that is the acknowledgement.
        acknowledged.lock().unwrap().extend(chunk.iter().cloned());
        let total = acked.fetch_add(chunk.len(), Ordering::SeqCst) + chunk.len();
        // The test may have stopped listening once it had what it waited for.
        let _ = progress.send(total);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_under_load_loses_no_acknowledged_record() {
    let sim = Simulator::start(SimConfig {
        rate_per_minute: 50,
        rate_window: Duration::from_secs(1),
        fail_rate: 0.05,
        drop_rate: 0.05,
        seed: 3,
        ..SimConfig::demo()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("relay.db");
    let mut first = serve(&sim, &store);
    let acked = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let numbers = receivers(4000, 9);
    let (progress, mut acks) = mpsc::unbounded_channel();
    let producers: Vec<_> = numbers
        .chunks(500)
        .map(|chunk| {
            tokio::spawn(produce(
                first.base.clone(),
                chunk.to_vec(),
                acked.clone(),
                acknowledged.clone(),
                progress.clone(),
            ))
        })
        .collect();
    drop(progress);
    // The kill comes on an event, the acknowledgement that reaches 1,000 records, not after a
    // sleep. Every producer ending first closes the channel, which fails at once; a relay that
    // neither acknowledges nor refuses fails at the generous bound, loudly.
    let reached = tokio::time::timeout(ACK_BOUND, async {
        while let Some(total) = acks.recv().await {
            if total >= 1000 {
                return Some(total);
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("no 1,000th acknowledgement within {ACK_BOUND:?}"));
    assert!(
        reached.is_some(),
        "every producer stopped before 1,000 acknowledgements: {}",
        acked.load(Ordering::SeqCst)
    );
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    for producer in producers {
        producer.await.unwrap();
    }
    let acknowledged: Vec<String> = acknowledged.lock().unwrap().clone();

    // Watched from before the restart: each batch the simulator stores is an event, and the
    // check runs on each, never on a timer.
    let mut stores = sim.watch_stored();
    let mut second = serve(&sim, &store);
    let missing = |sim: &Simulator| {
        let stored: HashSet<String> = sim
            .stored_records()
            .into_iter()
            .map(|r| r.record.receiver_number)
            .collect();
        acknowledged.iter().filter(|r| !stored.contains(*r)).count()
    };
    let delivered = tokio::time::timeout(DELIVERY_BOUND, async {
        loop {
            stores.borrow_and_update();
            if missing(&sim) == 0 {
                return;
            }
            stores.changed().await.expect("the simulator runs");
        }
    })
    .await;
    let missing = missing(&sim);
    assert!(
        delivered.is_ok() && missing == 0,
        "of {} acknowledged records, {missing} never reached the API within {DELIVERY_BOUND:?}",
        acknowledged.len()
    );

    // SIGTERM: the relay stops taking posts, finishes and exits cleanly.
    let terminated = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = second.child.wait().unwrap();
    assert!(status.success(), "SIGTERM ends the relay cleanly: {status}");
    sim.shutdown().await;
}

#[test]
fn a_second_relay_on_the_same_store_is_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulator::start(SimConfig::demo()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("relay.db");
    let mut first = serve(&sim, &store);
    let config = sim.config();
    let second = common::tcbatch_command()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--base-url",
            &sim.base_url(),
        ])
        .arg("--store")
        .arg(&store)
        .env("TRUECALLER_CLIENT_ACCOUNT_ID", &config.client_account_id)
        .env("TRUECALLER_KEY_ID", &config.key_id)
        .env("TRUECALLER_API_KEY", &config.api_key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(second.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another relay"), "{stderr}");
    let _ = first.base;
}

#[test]
fn a_non_loopback_address_is_refused_without_the_insecure_flag() {
    let stderr = refused_to_serve(&["--listen", "0.0.0.0:0", "--mock"]);
    assert!(stderr.contains("--insecure-non-loopback"), "{stderr}");
}

#[test]
fn a_non_loopback_relay_with_tls_and_producer_keys_serves_https_without_warning() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key_pem) = certificate_in(dir.path());
    let private_key = dir.path().join("relay.key");
    std::fs::write(&private_key, key_pem).unwrap();
    let producer_key = "dialer-test-key";
    let keys = dir.path().join("producer-keys");
    let digest: String = Sha256::digest(producer_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(&keys, format!("{digest}\n")).unwrap();

    let mut child = common::tcbatch_command()
        .args(["serve", "--listen", "0.0.0.0:0", "--mock"])
        .arg("--store")
        .arg(dir.path().join("relay.db"))
        .arg("--producer-keys")
        .arg(&keys)
        .arg("--tls-cert")
        .arg(&certificate)
        .arg("--tls-key")
        .arg(&private_key)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcbatch runs");
    let (started, before) = start_up_line(&mut child);
    let port = started
        .split("relay listening on https://0.0.0.0:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned);
    let warned = before.iter().any(|line| line.contains("WARNING"));

    // A producer reaches it over TLS, trusting the relay's certificate, with its key.
    let answer = port.as_ref().map(|port| {
        let root = reqwest::Certificate::from_pem(&std::fs::read(&certificate).unwrap()).unwrap();
        let now = now_ms();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            reqwest::Client::builder()
                .add_root_certificate(root)
                .build()
                .unwrap()
                .post(format!("https://127.0.0.1:{port}/v1/call-records"))
                .bearer_auth(producer_key)
                .json(&json!({"caller_number": "+919876543210", "receiver_number": "+919812345678",
                              "dynamic_label_name": "Centro Bank", "starts_at": now, "ends_at": now + 3_600_000}))
                .send()
                .await
                .map(|answer| answer.status().as_u16())
        })
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        port.is_some(),
        "the start-up line does not say https: {started}"
    );
    assert!(!warned, "TLS was on, yet it warned: {before:?}");
    assert_eq!(answer.unwrap().unwrap(), 202);
}

#[test]
fn a_producer_keys_file_without_a_key_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("relay.db");
    let empty = dir.path().join("empty-keys");
    std::fs::write(&empty, "").unwrap();
    let comments = dir.path().join("commented-keys");
    std::fs::write(&comments, "# dialer\n\n   \n# crm: not issued yet\n").unwrap();
    let missing = dir.path().join("missing-keys");
    for (file, why) in [
        (&empty, "holds no key digest"),
        (&comments, "holds no key digest"),
        (&missing, "cannot read"),
    ] {
        let stderr = refused_to_serve(&[
            "--listen",
            "127.0.0.1:0",
            "--mock",
            "--store",
            &store.to_string_lossy(),
            "--producer-keys",
            &file.to_string_lossy(),
        ]);
        assert!(stderr.contains(&*file.to_string_lossy()), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(stderr.contains("sha256sum"), "says what to do: {stderr}");
        assert!(
            !store.exists(),
            "the store was created before the keys were read"
        );
    }
}

#[test]
fn a_tls_certificate_without_its_key_is_a_usage_error() {
    let stderr = refused_to_serve(&["--mock", "--tls-cert", "relay.crt"]);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

#[test]
fn an_unusable_tls_key_stops_the_relay_before_it_starts_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (certificate, _) = certificate_in(dir.path());
    let empty_key = dir.path().join("empty.key");
    std::fs::write(&empty_key, "").unwrap();
    let store = dir.path().join("relay.db");
    let stderr = refused_to_serve(&[
        "--listen",
        "127.0.0.1:0",
        "--mock",
        "--store",
        &store.to_string_lossy(),
        "--tls-cert",
        &certificate.to_string_lossy(),
        "--tls-key",
        &empty_key.to_string_lossy(),
    ]);
    assert!(stderr.contains(&*empty_key.to_string_lossy()), "{stderr}");
    assert!(stderr.contains("no private key"), "{stderr}");
    assert!(
        !store.exists(),
        "the store was created before the key was read"
    );
}

/// `tcbatch serve ARGS`, which must refuse to start (exit 2); its standard error. A relay that
/// starts serving instead is killed and the test fails, rather than waiting on it forever.
fn refused_to_serve(args: &[&str]) -> String {
    let mut child = common::tcbatch_command()
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if line.contains("relay listening on ") {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tcbatch serve {args:?} started serving instead of refusing: {lines:?} {line}");
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    let stderr = lines.join("\n");
    assert_eq!(status.code(), Some(2), "{stderr}");
    stderr
}

/// A self-signed certificate for 127.0.0.1, written to `dir` (key material goes into test
/// tempdirs only), and its private key's PEM.
fn certificate_in(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let made = rcgen::generate_simple_self_signed(["127.0.0.1".to_owned()]).unwrap();
    let certificate = dir.join("relay.crt");
    std::fs::write(&certificate, made.cert.pem()).unwrap();
    (certificate, made.signing_key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posts_problems_are_the_ones_validate_prints_for_the_same_json() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(&sim, &dir.path().join("relay.db"));
    let now = now_ms();
    let (starts, ends) = (now, now + 3_600_000);
    // Valid records around broken ones: a key given twice, a number where a record should be,
    // a string with a raw line break (not JSON at all: the reader picks up at the next line
    // that starts a record), and a number that is no phone number. Records span lines, so a line counted
    // from the wrong place shows.
    let body = format!(
        "{{\"note\": \"from the dialer\",\n\"call_records\": [\n\
         {{\"caller_number\": \"+919876543210\", \"receiver_number\": \"+919812345678\",\n \
         \"dynamic_label_name\": \"Centro Bank\", \"starts_at\": {starts}, \"ends_at\": {ends},\n \
         \"external_id\": \"crm-1\"}},\n\
         {{\"caller_number\": \"+919876543210\", \"ends_at\": 1, \"ENDS_AT\": 2}},\n\
         7,\n\
         {{\"caller_number\": \"+919876543210\", \"dynamic_label_name\": \"Centro\nBank\"}},\n\
         {{\"caller_number\": \"+919876543210\", \"receiver_number\": \"+91 12\",\n \
         \"dynamic_label_name\": \"Centro Bank\", \"starts_at\": {starts}, \"ends_at\": {ends}}},\n\
         {{\"Caller_Number \": \"+919876543210\", \"receiver_number\": \"+919812345679\",\n \
         \"dynamic_label_name\": \"Centro Bank\", \"starts_at\": {starts}, \"ends_at\": {ends}}}\n\
         ]}}\n"
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let answer = http
        .post(format!("{}/v1/call-records", served.base))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("the relay answers");
    let status = answer.status().as_u16();
    let answer: Value = answer.json().await.unwrap();
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    assert_eq!(status, 202, "the valid neighbours are queued: {answer}");
    let accepted: Vec<i64> = answer["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["record"].as_i64().unwrap())
        .collect();
    assert_eq!(accepted, [1, 6], "{answer}");

    let file = dir.path().join("post.json");
    std::fs::write(&file, &body).unwrap();
    let validated = common::tcbatch_command()
        .arg("validate")
        .arg(&file)
        .args(["--now", &now.to_string(), "--output", "json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(validated.status.code(), Some(1), "some records are invalid");
    let printed: Vec<Value> = String::from_utf8(validated.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let problems = answer["problems"].as_array().unwrap();
    assert_eq!(
        *problems, printed,
        "the relay and validate disagree on the same JSON"
    );
    // And they are the problems the body holds, each on its record's line.
    let places: Vec<(i64, i64, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["record"].as_i64().unwrap(),
                p["line"].as_i64().unwrap(),
                p["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            (2, 6, "record_unreadable"),
            (3, 7, "record_unreadable"),
            (4, 8, "record_unreadable"),
            (5, 10, "phone_too_short"),
        ],
        "{problems:?}"
    );
    sim.shutdown().await;
}

#[path = "../../tc-relay/tests/support/database.rs"]
mod database;

/// From the shared store at `url`: the receivers of records flagged possibly duplicated, and
/// how many of the records posted to `receivers` a live relay owns.
async fn read_shared_store(url: &str, receivers: &[String]) -> (HashSet<String>, i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let flagged = client
        .query(
            "SELECT receiver FROM tc_relay.records WHERE possibly_duplicated",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let owned: i64 = client
        .query_one(
            "SELECT count(*) FROM tc_relay.records r JOIN tc_relay.relays l ON r.owner = l.relay \
             WHERE r.receiver = ANY($1)",
            &[&receivers],
        )
        .await
        .unwrap()
        .get(0);
    (flagged, owned)
}

/// The receivers the simulator stored more than once.
fn stored_twice(sim: &Simulator) -> HashSet<String> {
    let mut seen = HashSet::new();
    sim.stored_records()
        .into_iter()
        .map(|r| r.record.receiver_number)
        .filter(|r| !seen.insert(r.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
async fn two_relays_on_one_postgres_queue_survive_the_kill_of_one() {
    let sim = Simulator::start(SimConfig {
        rate_per_minute: 50,
        rate_window: Duration::from_secs(1),
        fail_rate: 0.05,
        drop_rate: 0.05,
        seed: 5,
        ..SimConfig::demo()
    })
    .await
    .unwrap();
    let database = database::TestDatabase::create().await;
    let url = database.url();
    // Each relay its own token of the account (split, no coordinator), a short lease.
    let flags = ["--lease", "2s"];
    let mut doomed = serve_with(&sim, url.as_ref(), &flags);
    let mut survivor = serve_with(&sim, url.as_ref(), &flags);
    let acked = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let numbers = receivers(4000, 11);
    let (progress, mut acks) = mpsc::unbounded_channel();
    // Producers spread over both relays, as behind a load balancer.
    let to_doomed: Vec<String> = numbers.chunks(500).step_by(2).flatten().cloned().collect();
    let producers: Vec<_> = numbers
        .chunks(500)
        .enumerate()
        .map(|(n, chunk)| {
            let base = if n % 2 == 0 {
                &doomed.base
            } else {
                &survivor.base
            };
            tokio::spawn(produce(
                base.clone(),
                chunk.to_vec(),
                acked.clone(),
                acknowledged.clone(),
                progress.clone(),
            ))
        })
        .collect();
    drop(progress);
    let reached = tokio::time::timeout(ACK_BOUND, async {
        while let Some(total) = acks.recv().await {
            if total >= 1000 {
                return Some(total);
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("no 1,000th acknowledgement within {ACK_BOUND:?}"));
    assert!(
        reached.is_some(),
        "producers stopped before 1,000 acknowledgements"
    );
    doomed.child.kill().unwrap(); // SIGKILL, with batches in flight and records queued
    doomed.child.wait().unwrap();
    for producer in producers {
        producer.await.unwrap();
    }
    let acknowledged: Vec<String> = acknowledged.lock().unwrap().clone();

    // The survivor takes the dead relay's records over once its lease lapses, and sends them.
    let mut stores = sim.watch_stored();
    let missing = |sim: &Simulator| {
        let stored: HashSet<String> = sim
            .stored_records()
            .into_iter()
            .map(|r| r.record.receiver_number)
            .collect();
        acknowledged.iter().filter(|r| !stored.contains(*r)).count()
    };
    let delivered = tokio::time::timeout(DELIVERY_BOUND, async {
        loop {
            stores.borrow_and_update();
            if missing(&sim) == 0 {
                return;
            }
            stores.changed().await.expect("the simulator runs");
        }
    })
    .await;
    let missing = missing(&sim);
    assert!(
        delivered.is_ok() && missing == 0,
        "of {} acknowledged records, {missing} never reached the API within {DELIVERY_BOUND:?}",
        acknowledged.len()
    );
    // Every record the API holds twice is flagged in the shared store, and the survivor did
    // take over: records posted to the dead relay are now its own.
    let (flagged, taken) = read_shared_store(&url, &to_doomed).await;
    let unflagged: Vec<String> = stored_twice(&sim)
        .into_iter()
        .filter(|r| !flagged.contains(r))
        .collect();
    assert!(
        unflagged.is_empty(),
        "stored twice, never flagged: {unflagged:?}"
    );
    assert!(
        taken > 0,
        "the survivor took none of the dead relay's records"
    );

    let terminated = Command::new("kill")
        .args(["-TERM", &survivor.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = survivor.child.wait().unwrap();
    assert!(status.success(), "SIGTERM ends the relay cleanly: {status}");
    sim.shutdown().await;
}

#[test]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
fn a_second_relay_that_would_not_share_the_account_is_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulator::start(SimConfig::demo()))
        .unwrap();
    let database = runtime.block_on(database::TestDatabase::create());
    let url = database.url();
    let mut first = serve_with(&sim, url.as_ref(), &[]);
    let config = sim.config();
    let refused = common::tcbatch_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &url])
        .args(["--base-url", &sim.base_url()])
        .env("TRUECALLER_CLIENT_ACCOUNT_ID", &config.client_account_id)
        .env("TRUECALLER_KEY_ID", &config.key_id)
        .env("TRUECALLER_API_KEY", &config.api_key)
        .output()
        .unwrap();
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--coordinator") && stderr.contains("--tokens"),
        "{stderr}"
    );
    runtime.block_on(sim.shutdown());
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_posts_get_503_not_a_refused_connection_then_it_exits_cleanly() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve_with(
        &sim,
        dir.path().join("relay.db").as_os_str(),
        &["--drain", "2s"],
    );
    let terminated = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let http = reqwest::Client::new();
    let now = now_ms();
    let body = json!({"caller_number": "+919876543210", "receiver_number": "+919812345678",
                      "dynamic_label_name": "Centro Bank", "starts_at": now, "ends_at": now + 3_600_000});
    // Until the signal is handled, posts are still taken; the first refusal must be an answer.
    let refused = tokio::time::timeout(START_BOUND, async {
        loop {
            let answer = http
                .post(format!("{}/v1/call-records", served.base))
                .json(&body)
                .send()
                .await;
            match answer {
                Ok(answer) if answer.status() == 202 => continue,
                Ok(answer) => return Ok(answer),
                Err(error) => return Err(error),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the relay took posts for {START_BOUND:?} after SIGTERM"));
    let refused = refused.expect("a stopping relay answers posts instead of refusing connections");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let status = served.child.wait().unwrap();
    assert!(status.success(), "SIGTERM ends the relay cleanly: {status}");
    sim.shutdown().await;
}
