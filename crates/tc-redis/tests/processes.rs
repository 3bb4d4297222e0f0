//! Separate processes of one account: this test binary starts itself again as the workers
//! (the ignored `worker` test), so each worker has its own memory, connections and clock.

mod common;

use common::{account, at, batch, coordinator, simulator, RATE};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tc_core::transport::WindowLimit;
use tc_http::{Coordinator, Reservation, TokenClaim, TokenTerms};

/// What a worker does, and the setting it reads, from its environment.
const JOB: &str = "TC_REDIS_TEST_JOB";
const ACCOUNT: &str = "TC_REDIS_TEST_ACCOUNT";
const SIM: &str = "TC_REDIS_TEST_SIM";
/// Batches a pushing worker sends.
const BATCHES: usize = 15;
/// The window a holding worker fills.
const HELD: WindowLimit = WindowLimit {
    limit: 5,
    window_ms: 60_000,
};
/// The lease of a holding worker's claim.
const LEASE_MS: i64 = 300;

fn start_worker(job: &str, account: &str, sim: &str) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(JOB, job)
        .env(ACCOUNT, account)
        .env(SIM, sim)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test binary runs again")
}

/// Reads the worker's output until it says `word`; returns what it said from `word` on (the
/// test harness prints its own words before it on the same line).
fn read_until(child: &mut Child, word: &str) -> String {
    let stdout = child.stdout.as_mut().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    lines
        .find_map(|line| {
            let line = line.ok()?;
            line.find(word).map(|at| line[at..].to_owned())
        })
        .unwrap_or_else(|| panic!("the worker never said {word:?}"))
}

#[test]
#[ignore = "a worker process, started by the other tests of this file"]
fn worker() {
    let (Ok(job), Ok(account)) = (std::env::var(JOB), std::env::var(ACCOUNT)) else {
        panic!("run by the tests of this file, with {JOB} and {ACCOUNT}");
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    match job.as_str() {
        "push" => runtime.block_on(push_worker(&account)),
        "hold" => runtime.block_on(hold_worker(&account)),
        other => panic!("no job {other}"),
    }
}

/// Sends `BATCHES` batches to the simulator at `SIM` through the shared account.
async fn push_worker(account: &str) {
    let base_url = std::env::var(SIM).expect("the simulator's URL");
    let client = common::client_of(&base_url, account, 2, Arc::new(coordinator(account)));
    let mut tasks = Vec::new();
    let offset = std::process::id() as usize * 1_000;
    for b in 0..BATCHES {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .create_call_records(&batch(offset + b * 10, 10))
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += usize::from(task.await.expect("ran").is_ok());
    }
    println!("created {created}");
}

/// Fills slot 0's window and claims slot 1's creation, says so, then waits to be killed.
async fn hold_worker(account: &str) {
    let coordinator = coordinator(account);
    for _ in 0..HELD.limit {
        let reservation = coordinator.reserve(0, at(0), HELD).await.expect("Redis");
        assert!(matches!(reservation, Reservation::Granted(_)));
    }
    let claim = coordinator.token(1, at(0), &terms()).await.expect("Redis");
    assert!(matches!(claim, TokenClaim::Claimed(_)));
    println!("held");
    // Bounded: the test kills it long before.
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
}

fn terms() -> TokenTerms {
    TokenTerms {
        refresh_margin_ms: 300_000,
        creations: WindowLimit::TOKEN_CREATIONS,
        lease_ms: LEASE_MS,
        rate_window_ms: 1_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn two_processes_share_the_accounts_tokens_and_windows() {
    let account = account("processes");
    let sim = simulator(&account).await;
    let workers: Vec<_> = (0..2)
        .map(|_| start_worker("push", &account, &sim.base_url()))
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        workers
            .into_iter()
            .map(|mut worker| {
                let line = read_until(&mut worker, "created ");
                assert!(worker.wait().expect("the worker ends").success());
                line
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("the workers ran");
    assert_eq!(outputs, vec![format!("created {BATCHES}"); 2]);
    let counters = sim.counters();
    assert_eq!(counters.requests_by_status.get(&429), None, "{counters:?}");
    assert_eq!(
        counters.tokens_created, 2,
        "two tokens for the account, not two each"
    );
    assert!(counters.fullest_create_window <= u64::from(RATE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn a_process_killed_holding_places_and_a_claim_blocks_no_longer_than_they_last() {
    let account = account("killed");
    let mut worker = start_worker("hold", &account, "");
    tokio::task::spawn_blocking(move || {
        read_until(&mut worker, "held");
        worker.kill().expect("the worker is killed");
        worker.wait().expect("reaped");
    })
    .await
    .expect("the worker ran");

    let survivor = coordinator(&account);
    assert_eq!(
        survivor.reserve(0, at(1_000), HELD).await.unwrap(),
        Reservation::Full {
            sends: vec![at(0); 5]
        },
        "the dead process's places count until they leave the window"
    );
    assert!(matches!(
        survivor.reserve(0, at(60_000), HELD).await.unwrap(),
        Reservation::Granted(_)
    ));
    // Its claim holds until its lease ends (claimed at 0, for LEASE_MS), at the times the
    // callers pass, whatever the store's clock says; then the slot's token can be created again.
    assert_eq!(
        survivor.token(1, at(LEASE_MS - 1), &terms()).await.unwrap(),
        TokenClaim::Busy {
            recheck_at: at(LEASE_MS)
        }
    );
    assert!(matches!(
        survivor.token(1, at(LEASE_MS), &terms()).await.unwrap(),
        TokenClaim::Claimed(_)
    ));
}
