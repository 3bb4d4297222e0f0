//! What the Redis tests share: the server from `TC_REDIS_URL`, an account of their own (so
//! tests running at once never meet), and wall-clock times picked by the test.

#![allow(dead_code)]

use tc_core::EpochMillis;
use tc_redis::RedisCoordinator;

/// Why a test is ignored without Redis.
pub const NEEDS_REDIS: &str = "needs Redis: set TC_REDIS_URL=redis://127.0.0.1:6379/";

pub fn url() -> String {
    std::env::var("TC_REDIS_URL").expect("TC_REDIS_URL names the Redis server for this test")
}

/// An account id no other test uses.
pub fn account(test: &str) -> String {
    format!("test-{test}-{:016x}", rand::random::<u64>())
}

pub fn coordinator(account: &str) -> RedisCoordinator {
    RedisCoordinator::new(&url(), account).expect("TC_REDIS_URL is a Redis URL")
}

/// `ms` milliseconds after a fixed instant in 2030: tests choose every time they pass.
pub fn at(ms: i64) -> EpochMillis {
    EpochMillis::try_from(1_900_000_000_000 + ms).expect("a time in 2030")
}

/// Deletes every key of `account`, as a Redis restart without persistence would.
pub async fn lose_data(account: &str) {
    let client = redis::Client::open(url()).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let pattern = format!("tc:{{{account}}}:*");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut connection)
        .await
        .expect("KEYS answers");
    assert!(!keys.is_empty(), "the account has keys to lose");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut connection)
        .await
        .expect("DEL answers");
}
