//! The transport's guarantees, checked in virtual time: exact windows over hours of random
//! traffic, exact saturated throughput, the creation budget under expiry and 401 storms, backoff
//! bounds, and single-flight creation.

use super::*;
use proptest::prelude::*;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// A deterministic generator, enough for simulated arrivals and faults.
struct Rng(super::exchange::SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(super::exchange::SplitMix64(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The most events in any window of `window_ms`, checked exactly over sorted times: the window
/// starting at each event holds every event up to `start + window_ms` exclusive.
fn max_in_any_window(times: &[MonotonicMillis], window_ms: i64) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut end = 0;
    let mut best = 0;
    for start in 0..sorted.len() {
        while end < sorted.len() && sorted[end].0 < sorted[start].0 + window_ms {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

#[test]
fn window_counter_is_exact() {
    let times = [0, 59_999, 60_000, 119_999].map(MonotonicMillis);
    assert_eq!(max_in_any_window(&times, 60_000), 2);
    assert_eq!(max_in_any_window(&times, 60_001), 3);
}

/// Feeds arrivals to one limiter, each request sent as soon as the limiter allows and never
/// before it arrives, requests in arrival order. Returns the send times.
fn drive_limiter(limit: WindowLimit, arrivals: &[MonotonicMillis]) -> Vec<MonotonicMillis> {
    let mut limiter = RateLimiter::new(limit);
    let mut sends = Vec::with_capacity(arrivals.len());
    let mut clock = MonotonicMillis(0);
    for &arrival in arrivals {
        clock = clock.max(arrival);
        let at = limiter.earliest_send(clock);
        assert!(at >= clock);
        limiter.record_send(at);
        sends.push(at);
        clock = at;
    }
    sends
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Hours of random arrivals (bursts and lulls) on one token: no 60 s window ever holds more
    /// than 60 sends, and a send is delayed only when the window is actually full.
    #[test]
    fn no_window_ever_holds_more_than_the_limit(seed in any::<u64>(), mean_gap in 1u64..3_000) {
        let mut rng = Rng::new(seed);
        let mut t = 0i64;
        let arrivals: Vec<MonotonicMillis> = (0..5_000)
            .map(|_| {
                t += if rng.chance(5) { 0 } else { rng.below(2 * mean_gap) as i64 };
                MonotonicMillis(t)
            })
            .collect();
        let limit = WindowLimit::REQUESTS_PER_TOKEN;
        let sends = drive_limiter(limit, &arrivals);
        prop_assert!(max_in_any_window(&sends, limit.window_ms) <= 60);
        for (i, (&sent, &arrived)) in sends.iter().zip(&arrivals).enumerate() {
            if sent > arrived && i >= 60 && sent > sends[i - 1] {
                // Delayed past both its arrival and its predecessor: the window must have been
                // full at every earlier instant, so sending one millisecond earlier would break it.
                let mut earlier = sends[..i].to_vec();
                earlier.push(MonotonicMillis(sent.0 - 1));
                prop_assert!(max_in_any_window(&earlier, limit.window_ms) > 60);
            }
        }
    }

    /// A saturated token sends exactly `limit` per window, not one less, for any limit/window.
    #[test]
    fn saturated_throughput_is_exactly_the_limit(limit in 1u32..100, window_ms in 1i64..100_000, windows in 1i64..20) {
        let limit = WindowLimit::new(limit, window_ms);
        let arrivals = vec![MonotonicMillis(0); (limit.limit as i64 * (windows + 1)) as usize];
        let sends = drive_limiter(limit, &arrivals);
        let in_first = sends.iter().filter(|t| t.0 < windows * window_ms).count();
        prop_assert_eq!(in_first as i64, limit.limit as i64 * windows);
        prop_assert_eq!(max_in_any_window(&sends, window_ms), limit.limit as usize);
    }

    /// Backoff stays within [0, cap] and never comes before a (capped) Retry-After.
    #[test]
    fn backoff_is_bounded_and_respects_retry_after(
        attempt in 1u32..5, random in any::<u64>(), now in 0i64..1_000_000_000,
        retry_after in proptest::option::of(0i64..1_000_000),
    ) {
        let mut policy = RetryPolicy::default();
        let config = *policy.config();
        let failure = match retry_after {
            Some(ms) => Failure::NotSent(NotSentKind::RateLimited { retry_after_ms: Some(ms) }),
            None => Failure::NotSent(NotSentKind::Server { status: 503 }),
        };
        let RetryDecision::RetryAt(at) = policy.decide(attempt, &failure, MonotonicMillis(now), random) else {
            return Err(TestCaseError::fail("a retryable failure within the attempt cap is retried"));
        };
        let delay = at.0 - now;
        match retry_after {
            Some(ms) => {
                let floor = ms.min(config.retry_after_cap_ms);
                prop_assert!(delay >= floor && delay <= floor + config.base_delay_ms);
            }
            None => prop_assert!(delay >= 0 && delay <= policy.ceiling_ms(attempt).min(config.max_delay_ms)),
        }
    }
}

#[test]
fn a_thousand_callers_cause_one_creation() {
    let mut pool: TokenPool<&str> = TokenPool::new(PoolConfig::default());
    let now = MonotonicMillis(1_000);
    let mut creators = Vec::new();
    for _ in 0..1_000 {
        match pool.pick(now) {
            Decision::Create { slot, at } => {
                assert_eq!(at, now);
                pool.begin_creation(slot, now).unwrap();
                creators.push(slot);
            }
            Decision::WaitForCreation { slot } => assert_eq!(slot, 0),
            other => panic!("nothing to send on yet: {other:?}"),
        }
    }
    assert_eq!(creators, [0]);
    assert_eq!(
        pool.begin_creation(0, now),
        Err(CreationRefused::AlreadyCreating)
    );
    pool.creation_succeeded(0, "t1", now).unwrap();
    let mut sends = Vec::new();
    for _ in 0..1_000 {
        let Decision::Send { slot, at, .. } = pool.pick(now) else {
            panic!("a token exists now")
        };
        pool.reserve_send(slot, at);
        sends.push(at);
    }
    assert_eq!(pool.budget().creations_in_window(now), 1);
    assert_eq!(max_in_any_window(&sends, 60_000), 60);
    assert_eq!(
        sends[60],
        MonotonicMillis(61_000),
        "the 61st waits exactly one window"
    );
}

#[test]
fn tokens_are_created_on_demand_and_sends_spread_over_them() {
    let mut pool: TokenPool<u32> = TokenPool::new(PoolConfig {
        tokens: 3,
        ..PoolConfig::default()
    });
    let now = MonotonicMillis(0);
    let mut created = 0;
    let mut per_slot = BTreeMap::new();
    for _ in 0..180 {
        loop {
            match pool.pick(now) {
                Decision::Create { slot, .. } => {
                    pool.begin_creation(slot, now).unwrap();
                    pool.creation_succeeded(slot, created, now).unwrap();
                    created += 1;
                }
                Decision::Send { slot, at, .. } => {
                    assert_eq!(at, now, "three tokens hold 180 sends in one window");
                    pool.reserve_send(slot, at);
                    *per_slot.entry(slot).or_insert(0) += 1;
                    break;
                }
                Decision::WaitForCreation { .. } => panic!("no creation is in flight"),
            }
        }
    }
    assert_eq!(created, 3);
    assert_eq!(per_slot.values().copied().collect::<Vec<_>>(), [60, 60, 60]);
}

#[test]
fn refresh_before_expiry_keeps_the_old_token_usable_meanwhile() {
    let mut pool: TokenPool<&str> = TokenPool::new(PoolConfig::default());
    pool.begin_creation(0, MonotonicMillis(0)).unwrap();
    pool.creation_succeeded(0, "old", MonotonicMillis(0))
        .unwrap();
    let due = MonotonicMillis(TOKEN_TTL_MS - DEFAULT_REFRESH_MARGIN_MS);
    assert!(matches!(
        pool.pick(MonotonicMillis(due.0 - 1)),
        Decision::Send { .. }
    ));
    assert_eq!(pool.pick(due), Decision::Create { slot: 0, at: due });
    pool.begin_creation(0, due).unwrap();
    let Decision::Send { token, .. } = pool.pick(due) else {
        panic!("old token still valid")
    };
    assert_eq!(token.token, "old");
    pool.creation_failed(0, true);
    // The failed refresh leaves the old token in place; the next caller tries again.
    assert_eq!(pool.pick(due), Decision::Create { slot: 0, at: due });
}

#[test]
fn a_stale_401_does_not_drop_a_fresh_token() {
    let mut pool: TokenPool<&str> = TokenPool::new(PoolConfig::default());
    pool.begin_creation(0, MonotonicMillis(0)).unwrap();
    let first = pool
        .creation_succeeded(0, "first", MonotonicMillis(0))
        .unwrap();
    // Two callers got 401 with the first token; the first one drops it and refreshes.
    assert!(pool.unauthorized(0, first.generation));
    pool.begin_creation(0, MonotonicMillis(10)).unwrap();
    let second = pool
        .creation_succeeded(0, "second", MonotonicMillis(10))
        .unwrap();
    // The second caller's 401 is about the old token: the fresh one stays.
    assert!(!pool.unauthorized(0, first.generation));
    let Decision::Send { token, .. } = pool.pick(MonotonicMillis(20)) else {
        panic!("fresh token kept")
    };
    assert_eq!(token.generation, second.generation);
    assert_eq!(pool.budget().creations_in_window(MonotonicMillis(20)), 2);
}

#[test]
fn only_a_token_minted_since_the_last_401_proves_the_credentials_wrong() {
    let mut pool: TokenPool<&str> = TokenPool::new(PoolConfig {
        tokens: 2,
        ..PoolConfig::default()
    });
    for slot in 0..2 {
        pool.begin_creation(slot, MonotonicMillis(0)).unwrap();
    }
    let a = pool.creation_succeeded(0, "a", MonotonicMillis(0)).unwrap();
    let b = pool.creation_succeeded(1, "b", MonotonicMillis(0)).unwrap();
    let mut call = CallAuth::default();
    // Both tokens died early. The first 401 refreshes; so does the second, on the other slot's
    // token, which is older than the first 401.
    assert_eq!(
        pool.refused(0, a.generation, &mut call),
        AuthVerdict::Refresh
    );
    assert_eq!(
        pool.refused(1, b.generation, &mut call),
        AuthVerdict::Refresh
    );
    // A token minted after that 401 and refused at once: the credentials are wrong.
    pool.begin_creation(0, MonotonicMillis(10)).unwrap();
    let fresh = pool
        .creation_succeeded(0, "fresh", MonotonicMillis(10))
        .unwrap();
    assert_eq!(
        pool.refused(0, fresh.generation, &mut call),
        AuthVerdict::CredentialsRefused
    );
    // Unless the call failed another way and waited in between: then it may have expired.
    let mut waited = CallAuth::default();
    assert_eq!(
        pool.refused(0, fresh.generation, &mut waited),
        AuthVerdict::Refresh
    );
    waited.other_failure();
    pool.begin_creation(0, MonotonicMillis(20)).unwrap();
    let later = pool
        .creation_succeeded(0, "later", MonotonicMillis(20))
        .unwrap();
    assert_eq!(
        pool.refused(0, later.generation, &mut waited),
        AuthVerdict::Refresh
    );
}

#[test]
fn exhausted_budget_says_when_and_refuses_early_creation() {
    let config = PoolConfig {
        creations: WindowLimit::new(2, 1_000),
        ..PoolConfig::default()
    };
    let mut pool: TokenPool<&str> = TokenPool::new(config);
    for (i, t) in [0, 1].into_iter().enumerate() {
        pool.begin_creation(0, MonotonicMillis(t)).unwrap();
        let token = pool.creation_succeeded(0, "t", MonotonicMillis(t)).unwrap();
        assert!(pool.unauthorized(0, token.generation), "round {i}");
    }
    assert_eq!(
        pool.pick(MonotonicMillis(5)),
        Decision::Create {
            slot: 0,
            at: MonotonicMillis(1_000)
        }
    );
    assert_eq!(
        pool.begin_creation(0, MonotonicMillis(5)),
        Err(CreationRefused::BudgetUntil(MonotonicMillis(1_000)))
    );
    pool.hold_creations_until(MonotonicMillis(4_000));
    assert_eq!(
        pool.pick(MonotonicMillis(5)),
        Decision::Create {
            slot: 0,
            at: MonotonicMillis(4_000)
        }
    );
}

#[test]
fn a_creation_that_never_left_is_refunded() {
    let config = PoolConfig {
        creations: WindowLimit::new(1, 1_000),
        ..PoolConfig::default()
    };
    let mut pool: TokenPool<&str> = TokenPool::new(config);
    pool.begin_creation(0, MonotonicMillis(0)).unwrap();
    pool.creation_failed(0, false);
    assert_eq!(
        pool.pick(MonotonicMillis(1)),
        Decision::Create {
            slot: 0,
            at: MonotonicMillis(1)
        }
    );
    pool.begin_creation(0, MonotonicMillis(1)).unwrap();
    pool.creation_failed(0, true);
    assert_eq!(
        pool.pick(MonotonicMillis(2)),
        Decision::Create {
            slot: 0,
            at: MonotonicMillis(1_001)
        }
    );
}

#[test]
fn retry_after_on_a_token_moves_sends_to_another_token() {
    let mut pool: TokenPool<u8> = TokenPool::new(PoolConfig {
        tokens: 2,
        ..PoolConfig::default()
    });
    for slot in 0..2 {
        pool.begin_creation(slot, MonotonicMillis(0)).unwrap();
        pool.creation_succeeded(slot, slot as u8, MonotonicMillis(0))
            .unwrap();
    }
    pool.rate_limited(0, MonotonicMillis(5_000));
    for _ in 0..60 {
        let Decision::Send { slot, at, .. } = pool.pick(MonotonicMillis(0)) else {
            panic!()
        };
        assert_eq!((slot, at), (1, MonotonicMillis(0)));
        pool.reserve_send(slot, at);
    }
    let Decision::Send { slot, at, .. } = pool.pick(MonotonicMillis(0)) else {
        panic!()
    };
    assert_eq!((slot, at), (0, MonotonicMillis(5_000)));
}

/// What the long pool simulation saw.
#[derive(Debug, Default)]
struct PoolRun {
    creations: Vec<MonotonicMillis>,
    sends: BTreeMap<usize, Vec<MonotonicMillis>>,
    unauthorized: u64,
    hours: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Wake {
        caller: usize,
    },
    Send {
        caller: usize,
        slot: usize,
        generation: u64,
        expires_at: MonotonicMillis,
    },
    Created {
        slot: usize,
        ok: bool,
    },
    Revoke,
}

/// Callers hammer a pool in virtual time for `hours`: tokens expire, creations take time and
/// sometimes fail, and every so often the server revokes every token at once, so all callers in
/// flight get 401 together (a storm). The server side is modelled: a send on a revoked or
/// expired token is a 401.
fn simulate_pool(
    seed: u64,
    tokens: usize,
    callers: usize,
    hours: i64,
    storm_every_ms: i64,
) -> PoolRun {
    let mut rng = Rng::new(seed);
    let mut pool: TokenPool<u64> = TokenPool::new(PoolConfig {
        tokens,
        ..PoolConfig::default()
    });
    let end = hours * 3_600_000;
    let mut queue = BinaryHeap::new();
    let mut waiting: Vec<usize> = Vec::new();
    let mut revoked_below = 0u64; // generations below this are revoked
    let mut run = PoolRun {
        hours: hours as f64,
        ..PoolRun::default()
    };
    for caller in 0..callers {
        queue.push(Reverse((
            MonotonicMillis(rng.below(1_000) as i64),
            Event::Wake { caller },
        )));
    }
    if storm_every_ms > 0 {
        queue.push(Reverse((MonotonicMillis(storm_every_ms), Event::Revoke)));
    }
    while let Some(Reverse((now, event))) = queue.pop() {
        if now.0 > end {
            break;
        }
        match event {
            Event::Revoke => {
                revoked_below = pool
                    .slots()
                    .iter()
                    .filter_map(|s| match &s.state {
                        SlotState::Valid(t) => Some(t.generation + 1),
                        SlotState::Creating {
                            previous: Some(t), ..
                        } => Some(t.generation + 1),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(revoked_below)
                    .max(revoked_below);
                let next = now.plus(storm_every_ms / 2 + rng.below(storm_every_ms as u64) as i64);
                queue.push(Reverse((next, Event::Revoke)));
            }
            Event::Created { slot, ok } => {
                if ok {
                    pool.creation_succeeded(slot, rng.next(), now).unwrap();
                } else {
                    pool.creation_failed(slot, true);
                }
                for caller in waiting.drain(..) {
                    queue.push(Reverse((now, Event::Wake { caller })));
                }
            }
            Event::Send {
                caller,
                slot,
                generation,
                expires_at,
            } => {
                if generation < revoked_below || now >= expires_at {
                    run.unauthorized += 1;
                    pool.unauthorized(slot, generation);
                    queue.push(Reverse((now, Event::Wake { caller })));
                } else {
                    run.sends.entry(slot).or_default().push(now);
                    let think = rng.below(200) as i64;
                    queue.push(Reverse((now.plus(think), Event::Wake { caller })));
                }
            }
            Event::Wake { caller } => match pool.pick(now) {
                Decision::Send { slot, at, token } => {
                    assert!(
                        at < token.expires_at,
                        "never offered a token that expires first"
                    );
                    pool.reserve_send(slot, at);
                    let generation = token.generation;
                    let expires_at = token.expires_at;
                    queue.push(Reverse((
                        at,
                        Event::Send {
                            caller,
                            slot,
                            generation,
                            expires_at,
                        },
                    )));
                }
                Decision::Create { slot, at } if at > now => {
                    assert!(pool.begin_creation(slot, now).is_err());
                    queue.push(Reverse((at, Event::Wake { caller })));
                }
                Decision::Create { slot, .. } => {
                    pool.begin_creation(slot, now)
                        .expect("a Create decision is honoured");
                    run.creations.push(now);
                    let ok = !rng.chance(10);
                    let latency = 5 + rng.below(3_000) as i64;
                    queue.push(Reverse((now.plus(latency), Event::Created { slot, ok })));
                    queue.push(Reverse((now, Event::Wake { caller })));
                }
                Decision::WaitForCreation { .. } => waiting.push(caller),
            },
        }
    }
    run
}

impl PoolRun {
    fn max_sends_in_any_minute(&self) -> usize {
        self.sends
            .values()
            .map(|s| max_in_any_window(s, 60_000))
            .max()
            .unwrap_or(0)
    }
    fn max_creations_in_any_half_hour(&self) -> usize {
        max_in_any_window(&self.creations, 30 * 60_000)
    }
}

#[test]
fn long_run_with_expiry_and_401_storms_keeps_every_limit() {
    // 12 virtual hours, 10 tokens, 40 callers, all tokens revoked every ~20 minutes.
    let run = simulate_pool(7, 10, 40, 12, 20 * 60_000);
    let sends: usize = run.sends.values().map(Vec::len).sum();
    let per_hour = run.creations.len() as f64 / run.hours;
    println!(
        "pool 12 h, 10 tokens, 40 callers, storms every ~20 min: {sends} sends, {} 401s, \
         {} creations ({per_hour:.1}/h), max {} sends in any minute on one token, max {} \
         creations in any 30 min",
        run.unauthorized,
        run.creations.len(),
        run.max_sends_in_any_minute(),
        run.max_creations_in_any_half_hour()
    );
    assert!(run.max_sends_in_any_minute() <= 60);
    assert!(run.max_creations_in_any_half_hour() <= 10);
    assert!(run.unauthorized > 0, "the storms must actually hit");

    // Without storms a single saturated token needs one creation per 55 minutes and is busy.
    let calm = simulate_pool(11, 1, 8, 6, 0);
    let calm_sends = calm.sends.values().map(Vec::len).sum::<usize>();
    println!(
        "pool 6 h, 1 token, 8 callers, no storms: {calm_sends} sends ({:.1}/min), {} creations, {} 401s",
        calm_sends as f64 / 360.0,
        calm.creations.len(),
        calm.unauthorized
    );
    assert_eq!(
        calm.unauthorized, 0,
        "tokens are refreshed before they expire"
    );
    assert!(
        calm.creations.len() <= 8,
        "one refresh per 55 min plus failed attempts"
    );
    assert!(
        calm_sends >= 60 * 360 - 60 * 2,
        "saturated: about 60 per minute"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn creation_budget_holds_under_any_storm(
        seed in any::<u64>(), tokens in 1usize..=10, callers in 1usize..60, storm_minutes in 1i64..40,
    ) {
        let run = simulate_pool(seed, tokens, callers, 3, storm_minutes * 60_000);
        prop_assert!(run.max_creations_in_any_half_hour() <= 10);
        prop_assert!(run.max_sends_in_any_minute() <= 60);
    }
}
