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

/// The simulator's limits in the tests that send: 5 requests per token per second, so a
/// test at the limit runs for a few seconds of real time.
pub const RATE: u32 = 5;
pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// A simulator for `account` with a scaled-down rate window.
pub async fn simulator(account: &str) -> tc_sim::Simulator {
    let config = tc_sim::SimConfig {
        client_account_id: account.to_owned(),
        rate_per_minute: RATE,
        rate_window: WINDOW,
        ..tc_sim::SimConfig::demo()
    };
    tc_sim::Simulator::start(config)
        .await
        .expect("the simulator binds 127.0.0.1")
}

/// A client of `sim` with `tokens` tokens and the simulator's limits, sharing the account
/// through `coordinator` if given.
pub fn client(
    sim: &tc_sim::Simulator,
    tokens: usize,
    coordinator: Option<std::sync::Arc<dyn tc_http::Coordinator>>,
) -> tc_http::Client {
    let config = sim.config();
    let builder = builder(&sim.base_url(), &config.client_account_id, tokens);
    match coordinator {
        Some(coordinator) => builder.coordinator(coordinator),
        None => builder,
    }
    .build()
    .expect("a valid client configuration")
}

/// A client of the simulator at `base_url` (in another process) for `account`, sharing it.
pub fn client_of(
    base_url: &str,
    account: &str,
    tokens: usize,
    coordinator: std::sync::Arc<dyn tc_http::Coordinator>,
) -> tc_http::Client {
    builder(base_url, account, tokens)
        .coordinator(coordinator)
        .build()
        .expect("a valid client configuration")
}

fn builder(base_url: &str, account: &str, tokens: usize) -> tc_http::ClientBuilder {
    tc_http::Client::builder()
        .base_url(base_url)
        .client_account_id(account)
        .key_id(tc_sim::SimConfig::demo().key_id.as_str())
        .api_key(tc_sim::SimConfig::demo().api_key)
        .tokens(tokens)
        .rate_limit(RATE, WINDOW)
        .rate_guard(std::time::Duration::from_millis(50))
}

/// A batch of `size` records calling within the next hour of the real clock, the receivers
/// numbered from `first`.
pub fn batch(first: usize, size: usize) -> tc_core::Batch {
    let now = EpochMillis::try_from(std::time::SystemTime::now()).expect("a clock after 1973");
    let validator = tc_core::Validator::new(now);
    let records: Vec<tc_core::CallRecord> = (first..first + size)
        .map(|n| {
            tc_core::CallRecord::builder(
                "+919876543210",
                format!("+9197{n:08}"),
                now,
                now.plus(3_600_000),
            )
            .label_name("Centro Bank")
            .build(&validator)
            .expect("a valid record")
        })
        .collect();
    tc_core::Batch::try_from(records).expect("1 to 500 records")
}

/// A cable between the test's processes and Redis that the test can cut and mend: cut, every
/// connection through it drops and new ones are refused, as when the network or the server
/// goes away.
pub struct Cable {
    port: u16,
    db: i64,
    connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Cable {
    pub async fn lay() -> Cable {
        let info = redis::Client::open(url())
            .expect("a Redis URL")
            .get_connection_info()
            .clone();
        let redis::ConnectionAddr::Tcp(host, port) = info.addr else {
            panic!("the cable runs to a TCP Redis");
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let cable = Cable {
            port: listener.local_addr().expect("bound").port(),
            db: info.redis.db,
            connected: Default::default(),
            links: Default::default(),
        };
        cable.mend();
        let (connected, links) = (cable.connected.clone(), cable.links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !connected.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let upstream = format!("{host}:{port}");
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links.lock().unwrap().push(link);
            }
        });
        cable
    }

    /// The URL of Redis through the cable.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/{}", self.port, self.db)
    }

    pub fn cut(&self) {
        self.connected
            .store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn mend(&self) {
        self.connected
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
