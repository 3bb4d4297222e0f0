use super::*;

fn at(ms: i64) -> EpochMillis {
    EpochMillis::MIN.plus(1_000_000_000 + ms)
}

fn mono(ms: i64) -> MonotonicMillis {
    MonotonicMillis::from_millis(ms)
}

const RULES: TokenRules = TokenRules {
    refresh_margin_ms: 300_000,
    creations: WindowLimit {
        limit: 2,
        window_ms: 1_800_000,
    },
    lease_ms: 40_000,
};

const WINDOW: WindowLimit = WindowLimit {
    limit: 3,
    window_ms: 1_000,
};

fn token(id: u64, created: i64) -> KeptToken<&'static str> {
    KeptToken {
        id,
        value: "sealed",
        created_at: at(created),
        expires_at: at(created + 3_600_000),
    }
}

#[test]
fn a_busy_slot_is_asked_again_at_the_lease_end_within_the_recheck_period_and_never_at_once() {
    assert_eq!(busy_recheck_at(mono(1_000), mono(1_040)), mono(1_040));
    assert_eq!(
        busy_recheck_at(mono(1_000), mono(60_000)),
        mono(1_000 + SHARED_TOKEN_RECHECK_MS)
    );
    assert_eq!(busy_recheck_at(mono(1_000), mono(1_000)), mono(1_001));
    assert_eq!(busy_recheck_at(mono(1_000), mono(0)), mono(1_001));
}

#[test]
fn an_unreachable_coordinator_is_asked_again_after_the_retry_period() {
    assert_eq!(
        unreachable_retry_at(mono(5)),
        mono(5 + COORDINATOR_RETRY_MS)
    );
}

#[test]
fn a_claim_lasts_as_long_as_the_longest_token_request() {
    assert_eq!(claim_lease_ms(10_000, 30_000), 40_000);
    assert_eq!(claim_lease_ms(i64::MAX, 1), i64::MAX);
    assert_eq!(claim_lease_ms(0, 0), 1);
}

#[test]
fn only_a_token_request_that_never_connected_is_refunded() {
    assert!(!token_request_may_have_reached(TransportError::Connect));
    assert!(token_request_may_have_reached(TransportError::Timeout));
    assert!(token_request_may_have_reached(
        TransportError::ConnectionLost
    ));
}

#[test]
fn a_full_window_replans_at_once_a_hold_or_an_outage_waits() {
    let full = SendRefusal::Full(vec![mono(1), mono(2)]).plan(mono(10));
    assert_eq!(full.sends, vec![mono(1), mono(2)]);
    assert_eq!(full.resume_at, None);
    let held = SendRefusal::Held(mono(500)).plan(mono(10));
    assert_eq!((held.sends.len(), held.resume_at), (0, Some(mono(500))));
    let down = SendRefusal::Unreachable.plan(mono(10));
    assert_eq!(
        (down.sends.len(), down.resume_at),
        (0, Some(mono(10 + COORDINATOR_RETRY_MS)))
    );
}

#[test]
fn one_claim_per_slot_until_its_lease_ends_then_the_next_asker_takes_over() {
    let mut account: SharedAccount<&str> = SharedAccount::new();
    let rules = TokenRules {
        creations: WindowLimit::TOKEN_CREATIONS,
        ..RULES
    };
    let TokenAnswer::Claimed(first) = account.token(0, at(0), &rules) else {
        panic!("an empty slot is claimed");
    };
    assert_eq!(
        account.token(0, at(39_999), &rules),
        TokenAnswer::Busy {
            recheck_at: at(40_000)
        }
    );
    // Another slot has its own claim.
    assert!(matches!(
        account.token(1, at(1), &rules),
        TokenAnswer::Claimed(_)
    ));
    // The holder vanished: at its lease's end the slot is claimed again, charged again.
    let TokenAnswer::Claimed(second) = account.token(0, at(40_000), &rules) else {
        panic!("the lapsed claim is taken over");
    };
    assert_ne!(first, second);
    // The vanished holder's late publish is still kept: a token is a token.
    assert!(account.publish(0, first, token(first, 0)));
    // The new holder's publish replaces it (created later) and ends its lease.
    assert!(account.publish(0, second, token(second, 40_000)));
    assert_eq!(
        account.token(0, at(40_001), &rules),
        TokenAnswer::Shared(token(second, 40_000))
    );
}

#[test]
fn the_budget_counts_creations_in_its_window_and_refunds_those_that_never_reached_the_api() {
    let mut account: SharedAccount<&str> = SharedAccount::new();
    let TokenAnswer::Claimed(a) = account.token(0, at(0), &RULES) else {
        panic!()
    };
    let TokenAnswer::Claimed(b) = account.token(1, at(10), &RULES) else {
        panic!()
    };
    account.release(0, a, false);
    account.release(1, b, true);
    // `a` reached the API: it still counts; `b` was refunded.
    let TokenAnswer::Claimed(c) = account.token(1, at(20), &RULES) else {
        panic!("one creation left")
    };
    account.release(1, c, false);
    assert_eq!(
        account.token(2, at(30), &RULES),
        TokenAnswer::BudgetUntil(at(1_800_000))
    );
    assert_eq!(
        account.token(2, at(1_799_999), &RULES),
        TokenAnswer::BudgetUntil(at(1_800_000))
    );
    assert!(matches!(
        account.token(2, at(1_800_000), &RULES),
        TokenAnswer::Claimed(_)
    ));
}

#[test]
fn a_token_near_expiry_is_shared_while_its_refresh_is_claimed_or_the_budget_is_spent() {
    let mut account: SharedAccount<&str> = SharedAccount::new();
    let rules = TokenRules {
        creations: WindowLimit::new(1, 1_800_000),
        ..RULES
    };
    let TokenAnswer::Claimed(a) = account.token(0, at(0), &rules) else {
        panic!()
    };
    assert!(account.publish(0, a, token(a, 0)));
    let refresh_from = 3_600_000 - 300_000;
    assert_eq!(
        account.token(0, at(refresh_from - 1), &rules),
        TokenAnswer::Shared(token(a, 0))
    );
    let TokenAnswer::Claimed(r) = account.token(0, at(refresh_from), &rules) else {
        panic!("the refresh is claimed")
    };
    // While the refresh runs, the old token is still handed out.
    assert_eq!(
        account.token(0, at(refresh_from + 1), &rules),
        TokenAnswer::Shared(token(a, 0))
    );
    account.release(0, r, false);
    // One creation in the window: the budget is spent, the old token still serves...
    assert_eq!(
        account.token(0, at(refresh_from + 2), &rules),
        TokenAnswer::Shared(token(a, 0))
    );
    // ...until it expires.
    assert_eq!(
        account.token(0, at(3_600_000), &rules),
        TokenAnswer::BudgetUntil(at(1_800_000 + refresh_from))
    );
}

#[test]
fn a_retired_token_is_dropped_unless_a_newer_one_replaced_it() {
    let mut account: SharedAccount<&str> = SharedAccount::new();
    let TokenAnswer::Claimed(a) = account.token(0, at(0), &RULES) else {
        panic!()
    };
    account.publish(0, a, token(a, 0));
    account.retire(0, a + 100);
    assert_eq!(
        account.token(0, at(1), &RULES),
        TokenAnswer::Shared(token(a, 0))
    );
    account.retire(0, a);
    assert!(matches!(
        account.token(0, at(2), &RULES),
        TokenAnswer::Claimed(_)
    ));
}

#[test]
fn a_window_grants_its_limit_then_names_its_places_until_they_leave_a_window_after_their_answer() {
    let mut account: SharedAccount<()> = SharedAccount::new();
    let mut places = Vec::new();
    for t in [0, 10, 20] {
        let PlaceAnswer::Granted(id) = account.reserve(0, at(t), WINDOW) else {
            panic!("room at {t}")
        };
        places.push(id);
    }
    assert_eq!(
        account.reserve(0, at(30), WINDOW),
        PlaceAnswer::Full(vec![at(0), at(10), at(20)])
    );
    // The first answer came back late: its place moves to then, never earlier.
    account.send_finished(0, places[0], at(500));
    account.send_finished(0, places[1], at(5));
    assert_eq!(
        account.reserve(0, at(1_009), WINDOW),
        PlaceAnswer::Full(vec![at(10), at(20), at(500)])
    );
    assert!(matches!(
        account.reserve(0, at(1_010), WINDOW),
        PlaceAnswer::Granted(_)
    ));
    // Another slot's window is its own.
    assert!(matches!(
        account.reserve(1, at(30), WINDOW),
        PlaceAnswer::Granted(_)
    ));
}

/// An account read back from its text, as a coordinator that keeps it in a file does between
/// questions.
fn reread(account: &SharedAccount<String>) -> SharedAccount<String> {
    let text = serde_json::to_string(account).expect("an account serialises");
    serde_json::from_str(&text).expect("and reads back")
}

#[test]
fn an_account_read_back_from_its_text_answers_as_the_account_it_was_written_from() {
    let rules = TokenRules {
        creations: WindowLimit::new(2, 1_800_000),
        ..RULES
    };
    let sealed = |id: u64, created: i64| KeptToken {
        id,
        value: format!("sealed-{id}"),
        created_at: at(created),
        expires_at: at(created + 3_600_000),
    };
    let mut kept: SharedAccount<String> = SharedAccount::new();
    let TokenAnswer::Claimed(a) = kept.token(0, at(0), &rules) else {
        panic!("an empty slot is claimed")
    };
    assert!(kept.publish(0, a, sealed(a, 0)));
    let TokenAnswer::Claimed(b) = kept.token(1, at(5), &rules) else {
        panic!("a second slot is claimed")
    };
    for t in [10, 20, 30] {
        assert!(matches!(
            kept.reserve(0, at(t), WINDOW),
            PlaceAnswer::Granted(_)
        ));
    }
    let mut read = reread(&kept);
    // The same questions, the same answers: the token, the claim still running, the spent
    // budget, the full window, and new ids.
    for account in [&mut kept, &mut read] {
        assert_eq!(
            account.token(0, at(40), &rules),
            TokenAnswer::Shared(sealed(a, 0))
        );
        assert_eq!(
            account.token(1, at(40), &rules),
            TokenAnswer::Busy {
                recheck_at: at(5 + 40_000)
            }
        );
        assert_eq!(
            account.token(2, at(40), &rules),
            TokenAnswer::BudgetUntil(at(1_800_000))
        );
        assert_eq!(
            account.reserve(0, at(40), WINDOW),
            PlaceAnswer::Full(vec![at(10), at(20), at(30)])
        );
        account.release(1, b, true);
        assert_eq!(
            account.token(1, at(41), &rules),
            TokenAnswer::Claimed(b + 4)
        );
    }
}

#[test]
fn ids_stay_new_when_the_text_says_a_lower_last_id() {
    let mut account: SharedAccount<String> = SharedAccount::new();
    let TokenAnswer::Claimed(a) = account.token(0, at(0), &RULES) else {
        panic!("an empty slot is claimed")
    };
    let PlaceAnswer::Granted(place) = account.reserve(0, at(1), WINDOW) else {
        panic!("an empty window has room")
    };
    let mut text: serde_json::Value = serde_json::to_value(&account).unwrap();
    text["last_id"] = 0.into();
    let mut read: SharedAccount<String> = serde_json::from_value(text).unwrap();
    let PlaceAnswer::Granted(next) = read.reserve(0, at(2), WINDOW) else {
        panic!("the window has room")
    };
    assert!(next > place && next > a, "{next} is new");
}
