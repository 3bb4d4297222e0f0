//! The exchange against a model server in virtual time: every path of a call, including the
//! ones no HTTP test can time exactly (a create that times out after sending, a 429 from the
//! token endpoint, a token creation cancelled mid-request).

use super::*;
use crate::transport::{WindowLimit, TOKEN_TTL_MS};
use proptest::prelude::*;

/// What the model server does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Mint,
    Status(u16, Option<i64>),
    Unreadable(u16),
    Lost(TransportError),
}

/// A request the model server saw, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Token(MonotonicMillis),
    Call(MonotonicMillis, u32),
}

/// A scripted server: the token endpoint and the call's endpoint each answer from their own
/// list, then with `Mint` and `200`. Every request takes `latency_ms`.
struct Model {
    tokens: Vec<Reply>,
    calls: Vec<Reply>,
    latency_ms: i64,
    seen: Vec<Seen>,
    /// The replies the call's own requests got, in order.
    served: Vec<Reply>,
    minted: u32,
}

impl Model {
    fn new(tokens: &[Reply], calls: &[Reply]) -> Model {
        Model {
            tokens: tokens.iter().rev().copied().collect(),
            calls: calls.iter().rev().copied().collect(),
            latency_ms: 40,
            seen: Vec::new(),
            served: Vec::new(),
            minted: 0,
        }
    }

    fn token_requests(&self) -> Vec<MonotonicMillis> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Token(at) => Some(*at),
                Seen::Call(..) => None,
            })
            .collect()
    }

    fn calls(&self) -> usize {
        self.seen
            .iter()
            .filter(|s| matches!(s, Seen::Call(..)))
            .count()
    }
}

fn config() -> TransportConfig {
    TransportConfig {
        pool: PoolConfig::default(),
        retry: RetryConfig::default(),
        max_token_wait_ms: 60_000,
        seed: 11,
    }
}

/// Runs one call to its end against `model`, from `now`; returns the result and the end time.
/// Bounded: a call that has not ended after 1000 actions fails the test.
fn drive(
    transport: &mut Transport<u32>,
    exchange: &mut Exchange,
    model: &mut Model,
    mut now: MonotonicMillis,
) -> (Result<Delivered, Failed>, MonotonicMillis) {
    for _ in 0..1000 {
        match exchange.poll(transport, now) {
            Action::Done(result) => return (result, now),
            Action::WaitUntil(at) => now = now.max(at),
            Action::WaitForToken { recheck_at } => now = recheck_at,
            Action::CreateToken => {
                model.seen.push(Seen::Token(now));
                now = now.plus(model.latency_ms);
                match model.tokens.pop().unwrap_or(Reply::Mint) {
                    Reply::Mint => {
                        model.minted += 1;
                        exchange.on_token_minted(transport, model.minted);
                    }
                    Reply::Status(status, after) => {
                        exchange.on_token_refused(transport, status, after, now)
                    }
                    Reply::Unreadable(status) => {
                        exchange.on_unreadable_answer(transport, status, now)
                    }
                    Reply::Lost(error) => exchange.on_transport_error(transport, error, now),
                }
            }
            Action::Send { at, token } => {
                now = now.max(at);
                model.seen.push(Seen::Call(now, token));
                now = now.plus(model.latency_ms);
                let reply = model.calls.pop().unwrap_or(Reply::Status(200, None));
                model.served.push(reply);
                match reply {
                    Reply::Status(status, after) => {
                        exchange.on_answer(transport, status, after, now)
                    }
                    Reply::Unreadable(status) => {
                        exchange.on_answer(transport, status, None, now);
                        exchange.on_unreadable_answer(transport, status, now);
                    }
                    Reply::Lost(error) => exchange.on_transport_error(transport, error, now),
                    Reply::Mint => unreachable!("the call endpoint does not mint"),
                }
            }
        }
    }
    panic!("the call did not end in 1000 actions")
}

fn run(
    config: TransportConfig,
    endpoint: Endpoint,
    model: &mut Model,
) -> (Result<Delivered, Failed>, Transport<u32>) {
    let mut transport = Transport::new(config);
    let mut exchange = transport.begin(endpoint);
    let (result, _) = drive(&mut transport, &mut exchange, model, MonotonicMillis(0));
    (result, transport)
}

#[test]
fn a_clean_call_mints_one_token_and_sends_once() {
    let mut model = Model::new(&[], &[]);
    let (result, transport) = run(config(), Endpoint::CreateCallRecords, &mut model);
    assert_eq!(
        result,
        Ok(Delivered {
            status: 200,
            attempts: 1,
            possibly_duplicated: false
        })
    );
    assert_eq!(
        model.seen,
        [
            Seen::Token(MonotonicMillis(0)),
            Seen::Call(MonotonicMillis(40), 1)
        ]
    );
    assert_eq!(transport.counts().attempts_after_first, 0);
}

#[test]
fn a_create_that_times_out_after_sending_is_resent_and_flagged() {
    let mut model = Model::new(&[], &[Reply::Lost(TransportError::Timeout)]);
    let (result, transport) = run(config(), Endpoint::CreateCallRecords, &mut model);
    let delivered = result.expect("the second attempt succeeds");
    assert_eq!(delivered.attempts, 2);
    assert!(delivered.possibly_duplicated, "the first may be stored too");
    assert_eq!(model.calls(), 2);
    assert_eq!(transport.counts().attempts_after_first, 1);
}

#[test]
fn at_most_once_never_resends_a_create_that_timed_out() {
    let mut once = config();
    once.retry.at_most_once = true;
    let mut model = Model::new(&[], &[Reply::Lost(TransportError::Timeout)]);
    let (result, _) = run(once, Endpoint::CreateCallRecords, &mut model);
    let failed = result.expect_err("not re-sent");
    assert_eq!(
        failed.reason,
        FailReason::GaveUp(GiveUpReason::OutcomeUnknownAtMostOnce)
    );
    assert!(failed.possibly_stored);
    assert_eq!(model.calls(), 1);
}

#[test]
fn a_read_that_times_out_is_retried_even_at_most_once_and_stores_nothing() {
    let mut once = config();
    once.retry.at_most_once = true;
    let mut model = Model::new(&[], &[Reply::Lost(TransportError::Timeout)]);
    let (result, _) = run(once, Endpoint::BatchStatus, &mut model);
    assert!(!result.expect("retried").possibly_duplicated);
}

#[test]
fn a_429_from_the_token_endpoint_holds_creations_for_its_retry_after() {
    let mut model = Model::new(&[Reply::Status(429, Some(5_000))], &[]);
    let (result, _) = run(config(), Endpoint::CreateCallRecords, &mut model);
    assert!(result.is_ok(), "{result:?}");
    let tokens = model.token_requests();
    assert_eq!(tokens.len(), 2);
    // Answered at 40 ms with Retry-After 5 s: nothing before 5.04 s.
    assert!(tokens[1] >= MonotonicMillis(5_040), "{tokens:?}");
}

#[test]
fn a_huge_retry_after_from_the_token_endpoint_is_capped_and_spends_no_creations() {
    let huge = Some(99_999_999_999_000);
    let mut model = Model::new(&[Reply::Status(429, huge)], &[]);
    let (result, transport) = run(config(), Endpoint::CreateCallRecords, &mut model);
    assert!(result.is_ok(), "{result:?}");
    let tokens = model.token_requests();
    assert_eq!(tokens.len(), 2, "one refused creation, one that worked");
    // Answered at 40 ms: the hold is the cap (120 s), plus at most one base delay of jitter.
    assert!(tokens[1] >= MonotonicMillis(40 + 120_000), "{tokens:?}");
    assert!(
        tokens[1] <= MonotonicMillis(40 + 120_000 + 500),
        "{tokens:?}"
    );
    assert_eq!(transport.pool().budget().creations_in_window(tokens[1]), 2);
}

#[test]
fn a_huge_retry_after_on_a_send_holds_the_token_only_up_to_the_cap() {
    let huge = Some(99_999_999_999_000);
    let mut model = Model::new(&[], &[Reply::Status(429, huge)]);
    let (result, _) = run(config(), Endpoint::CreateCallRecords, &mut model);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        model.token_requests().len(),
        1,
        "no token spent on the hold"
    );
    let Seen::Call(second, _) = model.seen[2] else {
        panic!("{:?}", model.seen)
    };
    // Answered at 80 ms: the retry comes after the capped hold, plus at most one base delay.
    assert!(second >= MonotonicMillis(80 + 120_000), "{second:?}");
    assert!(second <= MonotonicMillis(80 + 120_000 + 500), "{second:?}");
}

#[test]
fn a_token_endpoint_that_keeps_failing_is_named_in_the_error() {
    let failures = [Reply::Status(500, None); 6];
    let mut model = Model::new(&failures, &[]);
    let (result, _) = run(config(), Endpoint::CreateCallRecords, &mut model);
    let failed = result.expect_err("six 500s");
    assert_eq!(failed.endpoint, Endpoint::Token);
    assert_eq!(
        failed.reason,
        FailReason::GaveUp(GiveUpReason::MaxAttempts(6))
    );
    assert!(!failed.possibly_stored);
    assert_eq!(model.calls(), 0);
}

#[test]
fn the_token_endpoint_refusing_the_credentials_ends_the_call_at_once() {
    for status in [400, 401, 403] {
        let mut model = Model::new(&[Reply::Status(status, None)], &[]);
        let (result, _) = run(config(), Endpoint::Labels, &mut model);
        let failed = result.expect_err("credentials refused");
        assert_eq!(failed.endpoint, Endpoint::Token);
        assert_eq!(failed.reason, FailReason::CredentialsRefused { status });
        assert_eq!(model.seen.len(), 1);
    }
}

#[test]
fn a_fresh_token_refused_at_once_proves_the_credentials_wrong() {
    let refused = Reply::Status(401, None);
    let mut model = Model::new(&[], &[refused, refused, refused]);
    let (result, _) = run(config(), Endpoint::CreateCallRecords, &mut model);
    let failed = result.expect_err("401 on a fresh token");
    assert_eq!(
        failed.reason,
        FailReason::CredentialsRefused { status: 401 }
    );
    // The first 401 earns a refresh; the token minted for it is refused too.
    assert_eq!(model.token_requests().len(), 2);
    assert_eq!(model.calls(), 2);
}

#[test]
fn a_redirect_is_never_followed_nor_retried() {
    let mut model = Model::new(&[], &[Reply::Status(307, None)]);
    let (result, _) = run(config(), Endpoint::CreateCallRecords, &mut model);
    let failed = result.expect_err("a redirect ends the call");
    assert_eq!(failed.reason, FailReason::Redirected { status: 307 });
    assert!(!failed.possibly_stored);
    assert_eq!(model.calls(), 1);
    let mut model = Model::new(&[Reply::Status(308, None)], &[]);
    let (result, _) = run(config(), Endpoint::CreateCallRecords, &mut model);
    let failed = result.expect_err("a redirect of the token request ends the call");
    assert_eq!(
        (failed.endpoint, failed.reason),
        (Endpoint::Token, FailReason::Redirected { status: 308 })
    );
}

#[test]
fn an_unreadable_2xx_to_a_create_may_have_stored_the_batch() {
    let mut model = Model::new(&[], &[Reply::Unreadable(200)]);
    let (result, _) = run(config(), Endpoint::CreateCallRecords, &mut model);
    let failed = result.expect_err("unreadable");
    assert_eq!(failed.reason, FailReason::UnreadableAnswer { status: 200 });
    assert!(failed.possibly_stored, "a 2xx means it was processed");
    let mut model = Model::new(&[], &[Reply::Unreadable(200)]);
    let (result, _) = run(config(), Endpoint::BatchStatus, &mut model);
    assert!(
        !result.expect_err("unreadable").possibly_stored,
        "a read stores nothing"
    );
}

#[test]
fn a_final_4xx_after_an_unknown_outcome_still_says_possibly_stored() {
    let calls = [
        Reply::Lost(TransportError::ConnectionLost),
        Reply::Status(400, None),
    ];
    let mut model = Model::new(&[], &calls);
    let (result, _) = run(config(), Endpoint::CreateCallRecords, &mut model);
    let failed = result.expect_err("400");
    assert_eq!(failed.reason, FailReason::Refused { status: 400 });
    assert!(failed.possibly_stored, "the first attempt may be stored");
}

#[test]
fn a_token_creation_cancelled_mid_request_frees_the_slot_for_the_next_call() {
    let mut transport: Transport<u32> = Transport::new(config());
    let mut first = transport.begin(Endpoint::CreateCallRecords);
    assert_eq!(
        first.poll(&mut transport, MonotonicMillis(0)),
        Action::CreateToken
    );
    // A second call meanwhile waits for that creation rather than starting its own.
    let mut second = transport.begin(Endpoint::CreateCallRecords);
    assert!(matches!(
        second.poll(&mut transport, MonotonicMillis(10)),
        Action::WaitForToken { .. }
    ));
    // The first call's future is dropped while its token request is out.
    first.abandon(&mut transport, MonotonicMillis(20));
    assert!(matches!(
        first.poll(&mut transport, MonotonicMillis(20)),
        Action::Done(Err(Failed {
            reason: FailReason::Cancelled,
            ..
        }))
    ));
    // The abandoned request may have reached the server: it stays charged to the budget, and
    // the token endpoint rests (half a base delay at least) before the second call creates.
    let mut model = Model::new(&[], &[]);
    let (result, end) = drive(&mut transport, &mut second, &mut model, MonotonicMillis(20));
    assert!(result.is_ok(), "{result:?}");
    let tokens = model.token_requests();
    assert_eq!(tokens.len(), 1);
    assert!(
        tokens[0] >= MonotonicMillis(20 + 250)
            && tokens[0] <= MonotonicMillis(20 + 500 + TOKEN_WAIT_RECHECK_MS),
        "{tokens:?}"
    );
    assert_eq!(transport.pool().budget().creations_in_window(end), 2);
}

#[test]
fn a_creation_refused_before_sending_is_given_back_to_the_budget() {
    let mut model = Model::new(&[Reply::Lost(TransportError::Connect)], &[]);
    let (result, transport) = run(config(), Endpoint::CreateCallRecords, &mut model);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(model.token_requests().len(), 2);
    let last = model.seen.last().map(|s| match s {
        Seen::Call(at, _) | Seen::Token(at) => *at,
    });
    assert_eq!(
        transport.pool().budget().creations_in_window(last.unwrap()),
        1,
        "only the creation that reached the server counts"
    );
}

#[test]
fn the_creation_budget_spent_ends_the_call_with_when() {
    let mut tight = config();
    tight.pool = PoolConfig {
        creations: WindowLimit::new(1, 30 * 60_000),
        token_ttl_ms: TOKEN_TTL_MS,
        ..PoolConfig::default()
    };
    let refused = Reply::Status(401, None);
    let mut model = Model::new(&[], &[refused]);
    let (result, _) = run(tight, Endpoint::CreateCallRecords, &mut model);
    let failed = result.expect_err("no second token within the token wait");
    assert_eq!(
        failed.reason,
        FailReason::TokenBudgetSpent {
            until: MonotonicMillis(30 * 60_000)
        }
    );
    assert_eq!(model.token_requests().len(), 1);
}

#[test]
fn statuses_mean_the_same_everywhere_but_at_the_token_endpoint() {
    let of = |endpoint, status| match Verdict::of(endpoint, status) {
        Verdict::Success => "success".to_owned(),
        Verdict::Unauthorized => "unauthorized".to_owned(),
        Verdict::RateLimited => "rate limited".to_owned(),
        Verdict::ServerError => "server error".to_owned(),
        Verdict::End(reason) => format!("{reason:?}"),
    };
    for endpoint in [
        Endpoint::CreateCallRecords,
        Endpoint::BatchStatus,
        Endpoint::Labels,
    ] {
        assert_eq!(of(endpoint, 200), "success");
        assert_eq!(of(endpoint, 204), "success");
        assert_eq!(of(endpoint, 401), "unauthorized");
        assert_eq!(of(endpoint, 403), "Refused { status: 403 }");
        assert_eq!(of(endpoint, 400), "Refused { status: 400 }");
    }
    assert_eq!(
        of(Endpoint::Token, 401),
        "CredentialsRefused { status: 401 }"
    );
    assert_eq!(
        of(Endpoint::Token, 403),
        "CredentialsRefused { status: 403 }"
    );
    assert_eq!(
        of(Endpoint::Token, 400),
        "CredentialsRefused { status: 400 }"
    );
    assert_eq!(of(Endpoint::Token, 404), "Refused { status: 404 }");
    for endpoint in [Endpoint::Token, Endpoint::CreateCallRecords] {
        assert_eq!(of(endpoint, 429), "rate limited");
        assert_eq!(of(endpoint, 503), "server error");
        assert_eq!(of(endpoint, 308), "Redirected { status: 308 }");
        assert_eq!(of(endpoint, 199), "Refused { status: 199 }");
    }
}

fn any_reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Mint),
        prop::sample::select(vec![200u16, 201, 307, 400, 401, 403, 404, 429, 500, 503])
            .prop_flat_map(|status| {
                prop::option::of(0i64..i64::MAX).prop_map(move |after| Reply::Status(status, after))
            }),
        Just(Reply::Unreadable(200)),
        prop::sample::select(vec![
            TransportError::Connect,
            TransportError::Timeout,
            TransportError::ConnectionLost,
        ])
        .prop_map(Reply::Lost),
    ]
}

proptest! {
    /// Whatever the servers answer, a create call ends in bounded steps, never spends more
    /// creations than the budget, and says the batch may be stored exactly when one of its
    /// requests had an unknown outcome or an unreadable 2xx: the flag is never lost.
    #[test]
    fn possibly_stored_is_never_lost(
        tokens in prop::collection::vec(any_reply(), 0..12),
        calls in prop::collection::vec(
            any_reply().prop_filter("the call endpoint mints nothing", |r| *r != Reply::Mint),
            0..12,
        ),
        at_most_once in any::<bool>(),
    ) {
        let mut config = config();
        config.retry.at_most_once = at_most_once;
        let mut model = Model::new(&tokens, &calls);
        let mut transport = Transport::new(config);
        let mut exchange = transport.begin(Endpoint::CreateCallRecords);
        let (result, end) = drive(&mut transport, &mut exchange, &mut model, MonotonicMillis(0));
        let maybe_processed = model.served.iter().any(|reply| {
            matches!(
                reply,
                Reply::Lost(TransportError::Timeout | TransportError::ConnectionLost)
                    | Reply::Unreadable(_)
            )
        });
        let flagged = match &result {
            Ok(delivered) => delivered.possibly_duplicated,
            Err(failed) => failed.possibly_stored,
        };
        prop_assert_eq!(flagged, maybe_processed, "{:?} after {:?}", result, model.served);
        prop_assert!(transport.pool().budget().creations_in_window(end) <= 10);
        if at_most_once {
            let unknown = model.served.iter().filter(|r| matches!(r, Reply::Lost(e) if *e != TransportError::Connect)).count();
            prop_assert!(unknown <= 1, "at most once re-sent after an unknown outcome");
        }
    }
}

#[test]
fn a_batch_held_by_the_rate_limit_past_its_send_by_is_not_sent() {
    // One request per minute: the first call sends at once, the second would wait a minute.
    let config = TransportConfig {
        pool: PoolConfig {
            rate: WindowLimit::new(1, 60_000),
            ..PoolConfig::default()
        },
        ..config()
    };
    let mut transport = Transport::new(config);
    let mut model = Model::new(&[], &[]);
    let mut first = transport.begin(Endpoint::CreateCallRecords);
    let (result, now) = drive(&mut transport, &mut first, &mut model, MonotonicMillis(0));
    assert!(result.is_ok());
    let send_by = MonotonicMillis(30_000);
    let mut second = transport
        .begin(Endpoint::CreateCallRecords)
        .with_send_by(send_by);
    let (result, _) = drive(&mut transport, &mut second, &mut model, now);
    let failed = result.unwrap_err();
    assert_eq!(
        failed.reason,
        FailReason::SendByPassed {
            send_by,
            leaves_at: MonotonicMillis(60_080)
        },
        "it could leave a minute after the first answer"
    );
    assert!(!failed.possibly_stored, "nothing of it left");
    assert_eq!(model.calls(), 1, "the late batch never reached the server");
    // It took no window place: the next call sends a minute after the first one's answer
    // (at 80 ms), not a minute after a place the late batch would have held.
    let mut third = transport.begin(Endpoint::CreateCallRecords);
    drive(&mut transport, &mut third, &mut model, now)
        .0
        .unwrap();
    assert_eq!(
        model.seen.last(),
        Some(&Seen::Call(MonotonicMillis(60_080), 1))
    );
}

#[test]
fn a_retry_whose_backoff_ends_past_the_send_by_gives_up_and_says_possibly_stored() {
    let mut transport = Transport::new(config());
    let mut model = Model::new(&[], &[Reply::Lost(TransportError::Timeout)]);
    let mut exchange = transport
        .begin(Endpoint::CreateCallRecords)
        .with_send_by(MonotonicMillis(81));
    let (result, ended_at) = drive(
        &mut transport,
        &mut exchange,
        &mut model,
        MonotonicMillis(0),
    );
    let failed = result.unwrap_err();
    let FailReason::SendByPassed { leaves_at, .. } = failed.reason else {
        panic!("{failed:?}")
    };
    assert!(
        failed.possibly_stored,
        "the first attempt timed out after sending"
    );
    assert_eq!(model.calls(), 1);
    assert!(
        leaves_at > MonotonicMillis(81),
        "the backoff ends past the send-by"
    );
    assert_eq!(
        ended_at,
        MonotonicMillis(80),
        "the call ends when the timeout is reported (token 0-40, send 40-80), without waiting \
         out its backoff"
    );
}

/// The events a driver that shares tokens and windows with other processes reports.
mod shared {
    use super::*;
    use crate::transport::{SlotState, ValidToken};

    fn two_tokens() -> TransportConfig {
        TransportConfig {
            pool: PoolConfig {
                tokens: 2,
                rate: WindowLimit::new(2, 1_000),
                ..PoolConfig::default()
            },
            ..config()
        }
    }

    #[test]
    fn a_shared_token_keeps_the_lifetime_its_creator_gave_it_and_costs_no_creation() {
        let mut transport = Transport::<u32>::new(config());
        let mut call = transport.begin(Endpoint::CreateCallRecords);
        let now = MonotonicMillis(5_000);
        assert_eq!(call.poll(&mut transport, now), Action::CreateToken);
        assert_eq!(call.creating_slot(), Some(0));
        call.on_token_shared(
            &mut transport,
            7,
            MonotonicMillis(1_000),
            MonotonicMillis(3_000_000),
        );
        assert_eq!(transport.pool().budget().creations_in_window(now), 0);
        assert_eq!(
            call.poll(&mut transport, now),
            Action::Send { at: now, token: 7 }
        );
        assert_eq!(call.sending_slot(), Some(0));
        // Its creator's expiry, not one counted from this process's claim.
        assert!(matches!(
            transport.pool().slots()[0].state,
            SlotState::Valid(ValidToken {
                expires_at: MonotonicMillis(3_000_000),
                ..
            })
        ));
    }

    #[test]
    fn a_deferred_creation_waits_for_the_shared_budget_or_fails_past_the_longest_wait() {
        let mut transport = Transport::<u32>::new(config());
        let mut call = transport.begin(Endpoint::CreateCallRecords);
        let now = MonotonicMillis(0);
        assert_eq!(call.poll(&mut transport, now), Action::CreateToken);
        call.on_creation_deferred(&mut transport, MonotonicMillis(30_000));
        assert_eq!(transport.pool().budget().creations_in_window(now), 0);
        assert_eq!(
            call.poll(&mut transport, now),
            Action::WaitUntil(MonotonicMillis(30_000))
        );

        let mut late = transport.begin(Endpoint::CreateCallRecords);
        let at = MonotonicMillis(30_000);
        assert_eq!(late.poll(&mut transport, at), Action::CreateToken);
        late.on_creation_deferred(&mut transport, MonotonicMillis(200_000));
        assert!(matches!(
            late.poll(&mut transport, at),
            Action::Done(Err(Failed {
                reason: FailReason::TokenBudgetSpent { .. },
                ..
            }))
        ));
    }

    #[test]
    fn a_refused_send_moves_to_the_token_the_shared_windows_free_first_as_the_same_attempt() {
        let mut transport = Transport::<u32>::new(two_tokens());
        let mut call = transport.begin(Endpoint::CreateCallRecords);
        let now = MonotonicMillis(0);
        assert_eq!(call.poll(&mut transport, now), Action::CreateToken);
        call.on_token_minted(&mut transport, 1);
        assert_eq!(
            call.poll(&mut transport, now),
            Action::Send { at: now, token: 1 }
        );
        // Other processes filled this token's window at 100 and 300.
        call.on_send_refused(&mut transport, [MonotonicMillis(100), MonotonicMillis(300)]);
        let later = MonotonicMillis(400);
        // No token can send now: the second one is created, and the call sends on it.
        assert_eq!(call.poll(&mut transport, later), Action::CreateToken);
        assert_eq!(call.creating_slot(), Some(1));
        call.on_token_minted(&mut transport, 2);
        assert_eq!(
            call.poll(&mut transport, later),
            Action::Send {
                at: later,
                token: 2
            }
        );
        // Its window is full too: the call waits for the first place to free, on token 1.
        call.on_send_refused(&mut transport, [MonotonicMillis(150), MonotonicMillis(350)]);
        assert_eq!(
            call.poll(&mut transport, later),
            Action::Send {
                at: MonotonicMillis(1_100),
                token: 1
            }
        );
        assert_eq!(
            call.attempt(),
            1,
            "nothing was sent, so no attempt was spent"
        );
    }

    #[test]
    fn a_refusal_without_the_shared_window_gives_the_reserved_place_back() {
        let mut transport = Transport::<u32>::new(two_tokens());
        let mut call = transport.begin(Endpoint::BatchStatus);
        let now = MonotonicMillis(0);
        assert_eq!(call.poll(&mut transport, now), Action::CreateToken);
        call.on_token_minted(&mut transport, 1);
        assert!(matches!(
            call.poll(&mut transport, now),
            Action::Send { .. }
        ));
        call.on_send_refused(&mut transport, []);
        assert_eq!(transport.pool().slots()[0].limiter.sends_in_window(now), 0);
    }

    #[test]
    fn a_token_refused_with_401_is_handed_to_the_driver_once() {
        let mut transport = Transport::<u32>::new(config());
        let mut call = transport.begin(Endpoint::CreateCallRecords);
        let now = MonotonicMillis(0);
        assert_eq!(call.poll(&mut transport, now), Action::CreateToken);
        call.on_token_minted(&mut transport, 41);
        assert!(matches!(
            call.poll(&mut transport, now),
            Action::Send { .. }
        ));
        call.on_answer(&mut transport, 401, None, MonotonicMillis(10));
        assert_eq!(transport.take_retired(), vec![(0, 41)]);
        assert!(transport.take_retired().is_empty());
    }
}

/// A send planned while an earlier request was still out waits for that request's answer
/// time, not its planned time: the server may have counted it as late as its answer.
mod planned_sends {
    use super::*;

    fn one_per_second() -> TransportConfig {
        TransportConfig {
            pool: PoolConfig {
                rate: WindowLimit::new(1, 1_000),
                ..PoolConfig::default()
            },
            ..config()
        }
    }

    /// Call A sent at 0 and still out; call B planned behind it.
    fn a_out_b_planned(transport: &mut Transport<u32>, b: &mut Exchange) {
        let now = MonotonicMillis(0);
        let mut a = transport.begin(Endpoint::CreateCallRecords);
        assert_eq!(a.poll(transport, now), Action::CreateToken);
        a.on_token_minted(transport, 1);
        assert_eq!(a.poll(transport, now), Action::Send { at: now, token: 1 });
        assert_eq!(a.ready_to_send(transport, now), SendCheck::Now);
        assert_eq!(
            b.poll(transport, now),
            Action::Send {
                at: MonotonicMillis(1_000),
                token: 1
            }
        );
        // A's answer comes back 300 ms after it left.
        a.on_answer(transport, 200, None, MonotonicMillis(300));
    }

    #[test]
    fn a_send_planned_behind_a_slow_answer_waits_a_window_after_that_answer() {
        let mut transport = Transport::<u32>::new(one_per_second());
        let mut b = transport.begin(Endpoint::CreateCallRecords);
        a_out_b_planned(&mut transport, &mut b);
        assert_eq!(
            b.ready_to_send(&mut transport, MonotonicMillis(1_000)),
            SendCheck::WaitUntil(MonotonicMillis(1_300))
        );
        assert_eq!(
            b.ready_to_send(&mut transport, MonotonicMillis(1_300)),
            SendCheck::Now
        );
        assert_eq!(b.attempt(), 1);
    }

    #[test]
    fn a_later_place_past_the_send_by_instant_ends_the_call_and_frees_the_place() {
        let mut transport = Transport::<u32>::new(one_per_second());
        let mut b = transport
            .begin(Endpoint::CreateCallRecords)
            .with_send_by(MonotonicMillis(1_200));
        a_out_b_planned(&mut transport, &mut b);
        assert_eq!(
            b.ready_to_send(&mut transport, MonotonicMillis(1_000)),
            SendCheck::Ended
        );
        assert!(matches!(
            b.poll(&mut transport, MonotonicMillis(1_000)),
            Action::Done(Err(Failed {
                reason: FailReason::SendByPassed { .. },
                ..
            }))
        ));
        let window = &transport.pool().slots()[0].limiter;
        assert_eq!(
            window.sends_in_window(MonotonicMillis(1_000)),
            1,
            "A's place only"
        );
    }
}
