//! The coordinator's rules, checked against a real Redis with times the test chooses: several
//! coordinators stand for several processes of one account.

mod common;

use common::{account, at, coordinator, lose_data};
use tc_core::transport::WindowLimit;
use tc_http::{Coordinator, Reached, Reservation, SharedToken, TokenClaim, TokenTerms};

const WINDOW: WindowLimit = WindowLimit {
    limit: 3,
    window_ms: 1_000,
};

fn terms() -> TokenTerms {
    TokenTerms {
        refresh_margin_ms: 300_000,
        creations: WindowLimit::new(2, 1_800_000),
        lease_ms: 60_000,
        rate_window_ms: 1_000,
    }
}

fn granted(reservation: &Reservation) -> bool {
    matches!(reservation, Reservation::Granted(_))
}

/// `process` claims slot 0 at time 0, creates its token and publishes it; returns the token.
async fn create_and_publish(
    process: &tc_redis::RedisCoordinator,
    terms: &TokenTerms,
) -> SharedToken {
    let TokenClaim::Claimed(claim) = process.token(0, at(0), terms).await.unwrap() else {
        panic!("slot 0 is free");
    };
    let minted = token(claim.id(), 0);
    process.publish(0, &claim, &minted).await.unwrap();
    minted
}

fn token(id: u64, created: i64) -> SharedToken {
    SharedToken::new(id, vec![7; 40], at(created), at(created + 3_600_000))
}

#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn processes_racing_for_one_window_get_exactly_its_limit() {
    let account = account("race");
    let processes: Vec<_> = (0..6).map(|_| coordinator(&account)).collect();
    let answers = futures_all(processes.iter().map(|p| p.reserve(0, at(0), WINDOW))).await;
    let granted_count = answers.iter().filter(|a| granted(a)).count();
    assert_eq!(granted_count, 3, "{answers:?}");
    let Some(Reservation::Full { sends }) = answers.iter().find(|a| !granted(a)) else {
        panic!("the others are refused: {answers:?}");
    };
    assert_eq!(
        sends,
        &vec![at(0); 3],
        "a refusal lists the window's places"
    );
    // Half-open windows: the places taken at 0 leave the window at exactly 1000.
    assert!(!granted(
        &processes[0].reserve(0, at(999), WINDOW).await.unwrap()
    ));
    assert!(granted(
        &processes[1].reserve(0, at(1_000), WINDOW).await.unwrap()
    ));
    // Each token has its own window.
    assert!(granted(
        &processes[2].reserve(1, at(999), WINDOW).await.unwrap()
    ));
}

#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn a_place_moves_to_its_answer_and_a_dead_holder_blocks_one_window_at_most() {
    let account = account("places");
    let (a, b) = (coordinator(&account), coordinator(&account));
    let one = WindowLimit::new(1, 1_000);
    let Reservation::Granted(place) = a.reserve(0, at(0), one).await.unwrap() else {
        panic!("an empty window grants");
    };
    // The answer came back at 400: the API may have counted the request as late as that.
    a.send_finished(0, &place, at(400)).await.unwrap();
    assert!(!granted(&b.reserve(0, at(1_000), one).await.unwrap()));
    assert!(granted(&b.reserve(0, at(1_400), one).await.unwrap()));

    // A process that dies holding a place never reports its answer: its place still leaves
    // the window one window after it was taken.
    let dead = coordinator(&account);
    assert!(granted(&dead.reserve(1, at(5_000), one).await.unwrap()));
    drop(dead);
    assert!(!granted(&b.reserve(1, at(5_999), one).await.unwrap()));
    assert!(granted(&b.reserve(1, at(6_000), one).await.unwrap()));
}

#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn one_process_creates_a_token_and_the_others_take_it() {
    let account = account("single-flight");
    let (a, b) = (coordinator(&account), coordinator(&account));
    let terms = terms();
    let TokenClaim::Claimed(claim) = a.token(0, at(0), &terms).await.unwrap() else {
        panic!("nobody holds the slot: the first asker creates");
    };
    let TokenClaim::Busy { recheck_at } = b.token(0, at(10), &terms).await.unwrap() else {
        panic!("the second asker waits");
    };
    assert!(recheck_at > at(10) && recheck_at <= at(60_010));
    let minted = token(claim.id(), 0);
    a.publish(0, &claim, &minted).await.unwrap();
    assert_eq!(
        b.token(0, at(20), &terms).await.unwrap(),
        TokenClaim::Shared(minted.clone())
    );
    // Within the refresh margin, one process refreshes while the others keep using it.
    let due = 3_600_000 - 200_000;
    let TokenClaim::Claimed(refresh) = b.token(0, at(due), &terms).await.unwrap() else {
        panic!("a token due for refresh is refreshed");
    };
    assert_eq!(
        a.token(0, at(due + 1), &terms).await.unwrap(),
        TokenClaim::Shared(minted),
        "still valid while another process refreshes it"
    );
    b.release(0, &refresh, Reached::Maybe).await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn the_creation_budget_is_the_accounts_and_a_request_that_never_left_is_refunded() {
    let account = account("budget");
    let (a, b) = (coordinator(&account), coordinator(&account));
    let terms = terms();
    let TokenClaim::Claimed(first) = a.token(0, at(0), &terms).await.unwrap() else {
        panic!("budget free");
    };
    let TokenClaim::Claimed(second) = b.token(1, at(100), &terms).await.unwrap() else {
        panic!("budget free");
    };
    b.release(1, &second, Reached::Maybe).await.unwrap();
    // Two creations in the window: the third waits until the first leaves it.
    assert_eq!(
        b.token(2, at(200), &terms).await.unwrap(),
        TokenClaim::BudgetUntil(at(1_800_000))
    );
    // A creation whose request never reached the API gives its place back.
    a.release(0, &first, Reached::No).await.unwrap();
    assert!(matches!(
        b.token(2, at(300), &terms).await.unwrap(),
        TokenClaim::Claimed(_)
    ));
}

#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn a_retired_token_is_gone_for_everyone_but_a_newer_one_stays() {
    let account = account("retire");
    let (a, b) = (coordinator(&account), coordinator(&account));
    let terms = terms();
    let minted = create_and_publish(&a, &terms).await;
    b.retire(0, minted.id() + 1).await.unwrap();
    assert_eq!(
        a.token(0, at(1), &terms).await.unwrap(),
        TokenClaim::Shared(minted.clone()),
        "retiring another id leaves the current token"
    );
    b.retire(0, minted.id()).await.unwrap();
    assert!(matches!(
        a.token(0, at(2), &terms).await.unwrap(),
        TokenClaim::Claimed(_)
    ));
}

#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn after_the_store_loses_its_data_everyone_holds_back_one_window_and_nothing_is_forgotten() {
    let account = account("restore");
    let (a, b) = (coordinator(&account), coordinator(&account));
    let terms = terms();
    let minted = create_and_publish(&a, &terms).await;
    assert!(granted(&a.reserve(0, at(100), WINDOW).await.unwrap()));
    assert!(granted(&b.reserve(0, at(100), WINDOW).await.unwrap()));

    lose_data(&account).await;

    // The first process to notice holds everyone back for one window from then on.
    assert_eq!(
        b.reserve(0, at(200), WINDOW).await.unwrap(),
        Reservation::Held { until: at(1_200) }
    );
    assert_eq!(
        a.reserve(0, at(300), WINDOW).await.unwrap(),
        Reservation::Held { until: at(1_200) }
    );
    assert!(granted(&a.reserve(0, at(1_200), WINDOW).await.unwrap()));
    // The token and the creation a process knew of are back: nobody creates again, and the
    // budget still counts it.
    assert_eq!(
        b.token(0, at(1_300), &terms).await.unwrap(),
        TokenClaim::Shared(minted)
    );
    // Creations wait one window more, for every sending process to write its tokens back.
    assert_eq!(
        b.token(1, at(1_300), &terms).await.unwrap(),
        TokenClaim::Busy {
            recheck_at: at(2_200)
        }
    );
    let TokenClaim::Claimed(_) = b.token(1, at(2_200), &terms).await.unwrap() else {
        panic!("one creation of two is spent");
    };
    assert_eq!(
        b.token(2, at(2_300), &terms).await.unwrap(),
        TokenClaim::BudgetUntil(at(1_800_000))
    );
}

/// Issue 26, item 10: a hold no tcbatch can have written (no expiry, far ahead, or not a
/// time) is removed instead of stopping every process forever.
#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn a_hold_no_process_can_have_written_is_removed_not_obeyed() {
    let account = account("garbage-hold");
    let process = coordinator(&account);
    let terms = terms();
    create_and_publish(&process, &terms).await;
    let client = redis::Client::open(common::url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    for garbage in ["99999999999999", "not a time"] {
        let _: () = redis::cmd("SET")
            .arg(format!("tc:{{{account}}}:hold"))
            .arg(garbage)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(
            granted(&process.reserve(0, at(100), WINDOW).await.unwrap()),
            "a hold of {garbage:?} is not obeyed"
        );
        let _: () = redis::cmd("SET")
            .arg(format!("tc:{{{account}}}:hold"))
            .arg(garbage)
            .query_async(&mut connection)
            .await
            .unwrap();
        // Slot 1 has no token: its claim reads the hold. Claimed the first time, then the
        // budget of two creations is spent; never busy behind the garbage.
        let claim = process.token(1, at(200), &terms).await.unwrap();
        assert!(
            matches!(claim, TokenClaim::Claimed(_) | TokenClaim::BudgetUntil(_)),
            "{claim:?}"
        );
        let _: () = redis::cmd("DEL")
            .arg(format!("tc:{{{account}}}:mint:1"))
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    // A hold one window ahead, as a process that noticed a loss writes it, is obeyed.
    let _: () = redis::cmd("SET")
        .arg(format!("tc:{{{account}}}:hold"))
        .arg(1_900_000_001_000_i64)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        process.reserve(0, at(300), WINDOW).await.unwrap(),
        Reservation::Held { until: at(1_000) }
    );
}

/// Runs the futures at once and returns their results in order.
async fn futures_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = Result<T, tc_http::CoordinatorError>>,
{
    futures::future::join_all(futures)
        .await
        .into_iter()
        .map(|answer| answer.expect("Redis answers"))
        .collect()
}

#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn a_claim_lasts_until_the_time_its_lease_ends_at_the_callers_times() {
    let account = account("lease");
    let (a, b) = (coordinator(&account), coordinator(&account));
    let terms = TokenTerms {
        lease_ms: 2,
        ..terms()
    };
    assert!(matches!(
        a.token(0, at(0), &terms).await.unwrap(),
        TokenClaim::Claimed(_)
    ));
    // Real time passes well beyond the lease; the callers' times say it still runs.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        b.token(0, at(1), &terms).await.unwrap(),
        TokenClaim::Busy { recheck_at: at(2) }
    );
    assert!(matches!(
        b.token(0, at(2), &terms).await.unwrap(),
        TokenClaim::Claimed(_)
    ));
}

/// Issue 26, item 11: a refused password is said at once, not waited on forever; a server
/// that does not answer is an outage, waited out.
#[tokio::test]
#[cfg_attr(
    not(tc_redis),
    ignore = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/"
)]
async fn a_refused_password_is_told_apart_from_a_server_that_does_not_answer() {
    let user = format!("tc-test-{:08x}", rand::random::<u32>());
    let client = redis::Client::open(common::url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", &user, "on", ">right-password", "~*", "+@all"][..])
        .query_async(&mut connection)
        .await
        .unwrap();
    let server = common::url();
    let host = server.trim_start_matches("redis://");
    let with = |password: &str| format!("redis://{user}:{password}@{host}");
    let wrong = tc_redis::RedisCoordinator::new(&with("wrong-password"), "acct").unwrap();
    let refused = wrong.check_credentials().unwrap_err();
    assert!(
        matches!(refused, tc_redis::RedisCoordinatorError::Refused(_)),
        "{refused}"
    );
    assert!(!refused.to_string().contains("wrong-password"), "{refused}");
    let right = tc_redis::RedisCoordinator::new(&with("right-password"), "acct").unwrap();
    right.check_credentials().unwrap();
    // Nothing listens on port 1: an outage, not a refusal.
    let away = tc_redis::RedisCoordinator::new("redis://127.0.0.1:1/0", "acct").unwrap();
    away.check_credentials().unwrap();
    let _: () = redis::cmd("ACL")
        .arg(&["DELUSER", &user][..])
        .query_async(&mut connection)
        .await
        .unwrap();
}
