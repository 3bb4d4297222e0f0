//! Several processes on one machine, one state directory: what each asks the local coordinator
//! is answered as one account, the file is the user's alone and never holds a token in clear,
//! and a damaged file costs a warning, not a panic. "Processes" are coordinators opened
//! separately on one directory: each has its own lock file description, so they exclude each
//! other through the file lock exactly as processes do.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tc_core::transport::WindowLimit;
use tc_core::{Batch, EpochMillis, RawRecord, Validator};
use tc_http::{Client, Coordinator, Reached, Reservation, SharedToken, TokenClaim, TokenTerms};
use tc_local::LocalCoordinator;
use tc_sim::{SimConfig, Simulator};

const API: &str = "http://127.0.0.1:9";

fn open(dir: &Path) -> LocalCoordinator {
    LocalCoordinator::open(dir, API, "acct-1", "key-1").expect("a state directory")
}

fn at(ms: i64) -> EpochMillis {
    EpochMillis::MIN.plus(1_000_000_000 + ms)
}

const TERMS: TokenTerms = TokenTerms {
    refresh_margin_ms: 300_000,
    creations: WindowLimit {
        limit: 10,
        window_ms: 1_800_000,
    },
    lease_ms: 40_000,
    rate_window_ms: 60_000,
};

const WINDOW: WindowLimit = WindowLimit {
    limit: 2,
    window_ms: 60_000,
};

fn sealed_token(id: u64, created: i64) -> SharedToken {
    SharedToken::new(
        id,
        b"sealed by the client".to_vec(),
        at(created),
        at(created + 3_600_000),
    )
}

#[tokio::test(start_paused = true)]
async fn two_processes_on_one_directory_answer_as_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (open(dir.path()), open(dir.path()));
    let TokenClaim::Claimed(claim) = first.token(0, at(0), &TERMS).await.unwrap() else {
        panic!("the first asker claims the empty slot");
    };
    assert_eq!(
        second.token(0, at(10), &TERMS).await.unwrap(),
        TokenClaim::Busy {
            recheck_at: at(40_000)
        },
        "one creator per slot, across processes"
    );
    let token = sealed_token(claim.id(), 0);
    first.publish(0, &claim, &token).await.unwrap();
    assert_eq!(
        second.token(0, at(20), &TERMS).await.unwrap(),
        TokenClaim::Shared(token.clone()),
        "the other process takes the published token"
    );
    // A third process, started later, finds it too: the state outlives its writers.
    drop(first);
    let third = open(dir.path());
    assert_eq!(
        third.token(0, at(30), &TERMS).await.unwrap(),
        TokenClaim::Shared(token.clone())
    );
    // One window for the token, whoever sends.
    let Reservation::Granted(place) = second.reserve(0, at(100), WINDOW).await.unwrap() else {
        panic!("room in an empty window");
    };
    assert!(matches!(
        third.reserve(0, at(200), WINDOW).await.unwrap(),
        Reservation::Granted(_)
    ));
    third.send_finished(0, &place, at(900)).await.unwrap();
    assert_eq!(
        second.reserve(0, at(300), WINDOW).await.unwrap(),
        Reservation::Full {
            sends: vec![at(200), at(900)]
        },
        "the window holds both processes' sends, the first moved to its answer"
    );
    // Retired for all; the next asker claims a new one, charged to the same budget.
    third.retire(0, token.id()).await.unwrap();
    let TokenClaim::Claimed(again) = second.token(0, at(400), &TERMS).await.unwrap() else {
        panic!("a retired token is created again");
    };
    second.release(0, &again, Reached::No).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_budget_is_the_accounts_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let coordinators: Vec<_> = (0..3).map(|_| open(dir.path())).collect();
    let terms = TokenTerms {
        creations: WindowLimit::new(2, 1_800_000),
        ..TERMS
    };
    let mut claims = Vec::new();
    for (slot, coordinator) in coordinators.iter().enumerate() {
        claims.push(
            coordinator
                .token(slot, at(slot as i64), &terms)
                .await
                .unwrap(),
        );
    }
    assert!(matches!(claims[0], TokenClaim::Claimed(_)));
    assert!(matches!(claims[1], TokenClaim::Claimed(_)));
    assert_eq!(claims[2], TokenClaim::BudgetUntil(at(1_800_000)));
}

/// Each thread opens its own coordinator (its own lock file description, as a process does)
/// and reserves places as fast as it can: the window never grants more than its limit.
#[test]
fn racing_processes_never_get_more_places_than_the_window_holds() {
    let dir = tempfile::tempdir().unwrap();
    let limit = WindowLimit::new(50, 60_000);
    let granted = Arc::new(Mutex::new(0));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (dir, granted) = (dir.path(), granted.clone());
            scope.spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let coordinator = open(dir);
                for _ in 0..20 {
                    let answer = runtime.block_on(coordinator.reserve(0, at(0), limit));
                    if let Reservation::Granted(_) = answer.unwrap() {
                        *granted.lock().unwrap() += 1;
                    }
                }
            });
        }
    });
    assert_eq!(*granted.lock().unwrap(), 50);
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn the_state_is_the_users_alone_and_names_no_account_in_its_file_name() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("new").join("tcbatch");
    let coordinator = open(&dir);
    coordinator.token(0, at(0), &TERMS).await.unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("accounts")), 0o700);
    let file = coordinator.file().to_owned();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&file.with_extension("lock")), 0o600);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        !name.contains("acct-1") && !name.contains("key-1"),
        "{name}"
    );
    // Another account, or the same on another API, has a file of its own.
    let other = LocalCoordinator::open(&dir, API, "acct-2", "key-1").unwrap();
    let elsewhere = LocalCoordinator::open(&dir, "http://127.0.0.1:10", "acct-1", "key-1").unwrap();
    assert_ne!(other.file(), file);
    assert_ne!(elsewhere.file(), file);
    assert_ne!(elsewhere.file(), other.file());
    assert!(!format!("{coordinator:?}").contains("sealed"));
}

#[tokio::test(start_paused = true)]
async fn a_token_is_kept_sealed_as_the_client_handed_it_over() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = open(dir.path());
    let TokenClaim::Claimed(claim) = coordinator.token(0, at(0), &TERMS).await.unwrap() else {
        panic!("the empty slot is claimed");
    };
    coordinator
        .publish(0, &claim, &sealed_token(claim.id(), 0))
        .await
        .unwrap();
    let text = std::fs::read_to_string(coordinator.file()).unwrap();
    assert!(!text.contains("sealed by the client"), "{text}");
    let hex: String = b"sealed by the client"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(text.contains(&hex), "{text}");
}

/// What the coordinator logs, for the warning tests.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(start_paused = true)]
async fn a_damaged_file_is_read_as_empty_with_one_warning_and_written_anew() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let coordinator = open(dir.path());
    let file = coordinator.file().to_owned();
    for damage in [
        &b"{\"format\": 1, \"api\": tr"[..],
        b"\xff\xfe not json",
        b"{}",
    ] {
        std::fs::write(&file, damage).unwrap();
        let answer = coordinator.token(0, at(0), &TERMS).await.unwrap();
        assert!(matches!(answer, TokenClaim::Claimed(_)), "{answer:?}");
    }
    // Another layout, or another account's file copied over, is read as empty too.
    let written = std::fs::read_to_string(&file).unwrap();
    let other_layout = written.replacen("\"format\": 1", "\"format\": 99", 1);
    let other_account = written.replacen("acct-1", "acct-9", 1);
    for damage in [other_layout, other_account] {
        std::fs::write(&file, damage).unwrap();
        let answer = coordinator.token(1, at(0), &TERMS).await.unwrap();
        assert!(matches!(answer, TokenClaim::Claimed(_)), "{answer:?}");
    }
    let warnings = logs.text();
    assert_eq!(warnings.matches("read as empty").count(), 1, "{warnings}");
    assert!(warnings.contains(&file.display().to_string()), "{warnings}");
    // Written anew: another process reads what this one claimed.
    let other = open(dir.path());
    assert!(matches!(
        other.token(1, at(1), &TERMS).await.unwrap(),
        TokenClaim::Busy { .. }
    ));
    assert!(!logs.text().contains("panicked"));
}

/// The API's limits on one token: 60 requests in any 60 seconds.
fn api_limits() -> SimConfig {
    SimConfig {
        seed: 42,
        ..SimConfig::demo()
    }
}

fn client(sim: &Simulator, coordinator: Arc<dyn Coordinator>) -> Client {
    let sc = sim.config();
    Client::builder()
        .base_url(sim.base_url())
        .client_account_id(sc.client_account_id.as_str())
        .key_id(sc.key_id.as_str())
        .api_key(sc.api_key.clone())
        .rate_guard(Duration::from_millis(30))
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
        .seed(7)
        .coordinator(coordinator)
        .build()
        .expect("a valid client")
}

/// `count` one-record batches with distinct receivers.
fn batches(run: usize, count: usize) -> Vec<Batch> {
    let now = EpochMillis::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .unwrap();
    let (starts, ends) = (now.to_string(), now.plus(3_600_000).to_string());
    let validator = Validator::new(now);
    (0..count)
        .map(|b| {
            let receiver = format!("+9198{:08}", run * 10_000 + b);
            let raw = RawRecord::from_text_fields([
                ("caller_number", "+919876543210"),
                ("receiver_number", receiver.as_str()),
                ("dynamic_label_name", "Centro Bank"),
                ("dynamic_call_reason", "Calling about your KYC update"),
                ("starts_at", starts.as_str()),
                ("ends_at", ends.as_str()),
            ]);
            let record = validator.validate(&raw).expect("a valid test record");
            Batch::new(vec![record]).expect("one record")
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn two_clients_racing_for_the_first_token_create_one_and_share_its_window() {
    let sim = Simulator::start(api_limits()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let open_here = || -> Arc<dyn Coordinator> {
        let sc = sim.config();
        Arc::new(
            LocalCoordinator::open(
                dir.path(),
                &sim.base_url(),
                &sc.client_account_id,
                &sc.key_id,
            )
            .unwrap(),
        )
    };
    let clients = [client(&sim, open_here()), client(&sim, open_here())];
    let mut tasks = Vec::new();
    for (run, client) in clients.iter().enumerate() {
        for batch in batches(run, 45) {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                client.create_call_records(&batch).await
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().expect("every batch is created");
    }
    let counters = sim.counters();
    assert_eq!(counters.tokens_created, 1, "{counters:?}");
    assert_eq!(counters.batches_stored, 90);
    assert_eq!(counters.requests_by_status.get(&429), None, "{counters:?}");
    assert_eq!(counters.fullest_create_window, 60, "{counters:?}");
    let shared: u64 = clients.iter().map(|c| c.stats().shared_tokens).sum();
    assert_eq!(
        shared, 1,
        "the client that did not create the token took it"
    );
    sim.shutdown().await;
}
