//! The in-memory coordinator (`tc_http::MemoryCoordinator`, tc-core's model) and the Redis
//! scripts give the same answers to the same questions at the same times: each case asks both
//! the same sequence (a fresh account in Redis per case) and compares every answer. Claims,
//! tokens and places are numbered by the order each side handed them out, since the two pick
//! different ids.

mod common;

use common::{account, at, coordinator};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tc_core::transport::WindowLimit;
use tc_http::{
    Claim, Coordinator, MemoryCoordinator, Place, Reached, Reservation, SharedToken, TokenClaim,
    TokenTerms,
};

const TERMS: TokenTerms = TokenTerms {
    refresh_margin_ms: 1_000,
    creations: WindowLimit {
        limit: 2,
        window_ms: 5_000,
    },
    lease_ms: 1_500,
    rate_window_ms: 1_000,
};

const WINDOW: WindowLimit = WindowLimit {
    limit: 3,
    window_ms: 1_000,
};

/// Questions are asked a multiple of this apart, so they land on the boundaries of the
/// windows, leases and margins above, all multiples of it.
const STEP_MS: i64 = 250;

/// How long a published token lives.
const LIFE_MS: i64 = 4_000;

/// One question, asked `after` steps after the previous one; an answer may be reported
/// `back` ms before it (a place never moves earlier). Claims, tokens and places are
/// chosen by their number among those handed out so far (modulo their count).
#[derive(Debug, Clone)]
enum Event {
    Token {
        slot: usize,
    },
    Publish {
        slot: usize,
        claim: usize,
    },
    Release {
        slot: usize,
        claim: usize,
        reached: bool,
    },
    Retire {
        slot: usize,
        claim: usize,
    },
    Reserve {
        slot: usize,
    },
    Finish {
        place: usize,
        back: i64,
    },
}

fn event() -> impl Strategy<Value = Event> {
    let slot = 0usize..2;
    prop_oneof![
        3 => slot.clone().prop_map(|slot| Event::Token { slot }),
        2 => (slot.clone(), any::<usize>()).prop_map(|(slot, claim)| Event::Publish { slot, claim }),
        1 => (slot.clone(), any::<usize>(), any::<bool>())
            .prop_map(|(slot, claim, reached)| Event::Release { slot, claim, reached }),
        1 => (slot.clone(), any::<usize>()).prop_map(|(slot, claim)| Event::Retire { slot, claim }),
        6 => slot.clone().prop_map(|slot| Event::Reserve { slot }),
        3 => (any::<usize>(), 0i64..4).prop_map(|(place, back)| Event::Finish { place, back: back * STEP_MS }),
    ]
}

/// One side's claims and places, in the order handed out.
#[derive(Default)]
struct Handed {
    claims: Vec<Claim>,
    places: Vec<(usize, Place)>,
}

/// An answer with ids replaced by their number among this side's claims.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Shared {
        claim: Option<usize>,
        sealed: Vec<u8>,
        created_at: i64,
        expires_at: i64,
    },
    Claimed,
    Busy(i64),
    Budget(i64),
    Granted,
    Full(Vec<i64>),
    Held(i64),
    Done,
}

async fn ask(side: &dyn Coordinator, handed: &mut Handed, event: &Event, now: i64) -> Seen {
    let claim_of =
        |handed: &Handed, n: usize| handed.claims.get(n % handed.claims.len().max(1)).cloned();
    match *event {
        Event::Token { slot } => match side.token(slot, at(now), &TERMS).await.unwrap() {
            TokenClaim::Shared(token) => Seen::Shared {
                claim: handed.claims.iter().position(|c| c.id() == token.id()),
                sealed: token.sealed().to_vec(),
                created_at: token.created_at().as_i64(),
                expires_at: token.expires_at().as_i64(),
            },
            TokenClaim::Claimed(claim) => {
                handed.claims.push(claim);
                Seen::Claimed
            }
            TokenClaim::Busy { recheck_at } => Seen::Busy(recheck_at.as_i64()),
            TokenClaim::BudgetUntil(until) => Seen::Budget(until.as_i64()),
        },
        Event::Publish { slot, claim } => {
            if let Some(claim) = claim_of(handed, claim) {
                let n = handed.claims.iter().position(|c| *c == claim).unwrap_or(0);
                let token =
                    SharedToken::new(claim.id(), vec![n as u8; 8], at(now), at(now + LIFE_MS));
                side.publish(slot, &claim, &token).await.unwrap();
            }
            Seen::Done
        }
        Event::Release {
            slot,
            claim,
            reached,
        } => {
            if let Some(claim) = claim_of(handed, claim) {
                let reached = if reached { Reached::Maybe } else { Reached::No };
                side.release(slot, &claim, reached).await.unwrap();
            }
            Seen::Done
        }
        Event::Retire { slot, claim } => {
            if let Some(claim) = claim_of(handed, claim) {
                side.retire(slot, claim.id()).await.unwrap();
            }
            Seen::Done
        }
        Event::Reserve { slot } => match side.reserve(slot, at(now), WINDOW).await.unwrap() {
            Reservation::Granted(place) => {
                handed.places.push((slot, place));
                Seen::Granted
            }
            Reservation::Full { sends } => Seen::Full(sends.iter().map(|s| s.as_i64()).collect()),
            Reservation::Held { until } => Seen::Held(until.as_i64()),
        },
        Event::Finish { place, back } => {
            if !handed.places.is_empty() {
                let (slot, place) = handed.places[place % handed.places.len()].clone();
                side.send_finished(slot, &place, at(now - back))
                    .await
                    .unwrap();
            }
            Seen::Done
        }
    }
}

#[test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
fn the_memory_coordinator_and_the_redis_scripts_answer_alike() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let events = proptest::collection::vec((0i64..4, event()), 1..80);
    runner
        .run(&events, |events| {
            runtime.block_on(async {
                let memory = MemoryCoordinator::new();
                let redis = coordinator(&account("agree"));
                let (mut in_memory, mut in_redis) = (Handed::default(), Handed::default());
                let mut now = 0;
                for (step, (after, event)) in events.iter().enumerate() {
                    now += after * STEP_MS;
                    let expected = ask(&memory, &mut in_memory, event, now).await;
                    let answered = ask(&redis, &mut in_redis, event, now).await;
                    prop_assert_eq!(
                        &answered,
                        &expected,
                        "step {}: {:?} at {}",
                        step,
                        event,
                        now
                    );
                }
                Ok(())
            })
        })
        .unwrap();
}
