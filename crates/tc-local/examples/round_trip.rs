//! What one question to the local coordinator costs: the lock, the read, the answer and (for
//! a question that changes the account) the synced write and rename, measured from the
//! caller's side of `spawn_blocking`.
//!
//! `cargo run --release -p tc-local --example round_trip [STATE_DIR]` (default: a temporary
//! directory; give the real state directory's disk to measure that one).

use std::time::{Duration, Instant};
use tc_core::transport::WindowLimit;
use tc_core::EpochMillis;
use tc_http::{Coordinator, Reservation, SharedToken, TokenClaim, TokenTerms};
use tc_local::LocalCoordinator;

const ROUNDS: usize = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temporary = tempfile::tempdir()?;
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temporary.path().to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let coordinator = LocalCoordinator::open(&dir, "http://127.0.0.1:9", "bench", "bench")?;
    let terms = TokenTerms {
        refresh_margin_ms: 300_000,
        creations: WindowLimit::new(10, 1_800_000),
        lease_ms: 40_000,
        rate_window_ms: 60_000,
    };
    let start = EpochMillis::try_from(2_000_000_000_000)?;
    runtime.block_on(async {
        let TokenClaim::Claimed(claim) = coordinator.token(0, start, &terms).await? else {
            return Err("a fresh account's slot is claimed".into());
        };
        let token = SharedToken::new(claim.id(), vec![7; 60], start, start.plus(3_600_000));
        coordinator.publish(0, &claim, &token).await?;
        let (mut lookups, mut reserves, mut finishes) = (Vec::new(), Vec::new(), Vec::new());
        // A place every 1.1 s, 55 in a minute: the window stays nearly full, as under load.
        let limit = WindowLimit::new(60, 60_000);
        for round in 0..ROUNDS {
            let now = start.plus(1_100 * round as i64);
            let asked = Instant::now();
            coordinator.token(0, now, &terms).await?;
            lookups.push(asked.elapsed());
            let asked = Instant::now();
            let answer = coordinator.reserve(0, now, limit).await?;
            reserves.push(asked.elapsed());
            let Reservation::Granted(place) = answer else {
                return Err("a place 1.1 s after the last".into());
            };
            let asked = Instant::now();
            coordinator.send_finished(0, &place, now.plus(200)).await?;
            finishes.push(asked.elapsed());
        }
        println!("{ROUNDS} rounds in {}", dir.display());
        for (what, times) in [
            ("token lookup (no write)", lookups),
            ("reserve a place (write)", reserves),
            ("move a place (write)", finishes),
        ] {
            println!("{what:<24} {}", percentiles(times));
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

fn percentiles(mut times: Vec<Duration>) -> String {
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)].as_micros();
    format!("p50 {} µs, p90 {} µs, p99 {} µs", at(50), at(90), at(99))
}
