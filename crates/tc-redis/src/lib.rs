//! Several processes, one account: a [`tc_http::Coordinator`] over Redis, so that `tcbatch
//! submit` pushes and `tcbatch serve` relays on several machines share the account's tokens,
//! its budget of 10 token creations per 30 minutes and each token's window of 60 requests per
//! minute, instead of each believing it owns all of them.
//!
//! - **Tokens** are created once and shared, sealed (encrypted with a key only holders of the
//!   API key can derive). Creation is single-flight across processes: a claim with a lease, so
//!   a crashed holder blocks the others for one lease at most. The creation budget is a sorted
//!   set of creation times: no process is told to create when the limit lies in the window. A
//!   token the API refuses with 401 is retired for every process.
//! - **Rate windows**: a Lua script reserves a place in the token's exact sliding window (a
//!   sorted set of send times) before a request leaves, and the place moves to the answer's time
//!   when it comes back, the rule the in-process limiter follows. A process that dies holding
//!   places blocks nothing for longer than one window.
//! - **Failure**: a store that cannot be reached makes every call fail with a
//!   [`tc_http::CoordinatorError`], and the client sends nothing until it answers again (fail
//!   closed). A store that lost its data (restarted without persistence) is noticed through
//!   its epoch: each process writes back the creations and tokens it knows of, and every
//!   process holds back for one rate window, so that no request the API still counts is
//!   forgotten.
//!
//! Keys live under `tc:{ACCOUNT}:`, so accounts never mix; the braces keep one account's keys
//! in one Redis Cluster slot. Times are the processes' wall clocks: keep their clocks in sync
//! (NTP); a skew between two machines can let one send early by at most the skew, which the
//! client's rate guard (250 ms by default) absorbs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tc_redis::RedisCoordinator;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let coordinator = RedisCoordinator::new("redis://127.0.0.1:6379/0", "my-account")?;
//! let client = tc_http::ClientBuilder::from_env()
//!     .client_account_id("my-account")
//!     .tokens(10)
//!     .coordinator(Arc::new(coordinator))
//!     .build()?;
//! # drop(client);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod keys;
mod memory;
mod scripts;

use keys::Keys;
use memory::Memory;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Value};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tc_core::transport::WindowLimit;
use tc_core::EpochMillis;
use tc_http::{
    Claim, Coordinator, CoordinatorError, CoordinatorFuture, Place, Reached, Reservation,
    SharedToken, TokenClaim, TokenTerms,
};
use tokio::sync::OnceCell;

/// How long connecting to Redis may take before the attempt counts as an outage.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one script may take to answer before the attempt counts as an outage.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// A script that keeps finding another epoch (the store flushed again and again) gives up.
const EPOCH_ATTEMPTS: usize = 3;

/// A [`Coordinator`] that keeps one account's tokens, creation budget and rate windows in
/// Redis. Cheap to share behind an `Arc`; it connects on first use and reconnects after an
/// outage by itself.
pub struct RedisCoordinator {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    keys: Keys,
    /// Where the server is, without any password, for messages.
    server: String,
    memory: Mutex<Memory>,
    /// Whether this process already said it removed a hold no process can have written.
    hold_removed: std::sync::atomic::AtomicBool,
}

/// Why a [`RedisCoordinator`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisCoordinatorError {
    /// The URL is not a Redis URL.
    #[error(
        "the coordinator URL is not a Redis URL; write redis://HOST:PORT/DB (or rediss:// for TLS)"
    )]
    Url(#[source] RedisError),
    /// The account id is empty.
    #[error("the coordinator needs the client account id, to keep each account's keys apart")]
    NoAccount,
    /// The server refused the URL's user or password: nothing would ever be sent.
    #[error(
        "the coordinator's Redis refused the user or password of the URL; fix them (as \
         redis://USER:PASSWORD@HOST:PORT/DB) or ask its operator"
    )]
    Refused(#[source] RedisError),
}

/// How long [`RedisCoordinator::check_credentials`] waits for the server.
pub const CREDENTIALS_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisCoordinator {
    /// Connects once, now, to tell a refused user or password (a mistake to fix before anything
    /// runs) from a server that does not answer (an outage, which the client waits out,
    /// sending nothing meanwhile). Blocks for at most [`CREDENTIALS_CHECK_TIMEOUT`].
    ///
    /// # Errors
    /// [`RedisCoordinatorError::Refused`] when the server refuses the URL's credentials.
    pub fn check_credentials(&self) -> Result<(), RedisCoordinatorError> {
        let refused = |error: &RedisError| {
            error.kind() == redis::ErrorKind::AuthenticationFailed
                || matches!(error.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
        };
        let answer = self
            .client
            .get_connection_with_timeout(CREDENTIALS_CHECK_TIMEOUT)
            .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection));
        match answer {
            Err(error) if refused(&error) => Err(RedisCoordinatorError::Refused(error)),
            _ => Ok(()),
        }
    }

    /// A coordinator for `account` (the client account id) on the Redis server at `url`
    /// (`redis://HOST:PORT/DB`, `rediss://` for TLS, a password as `redis://:PASSWORD@HOST`).
    /// Nothing is connected until the first call.
    ///
    /// # Errors
    /// [`RedisCoordinatorError::Url`] if `url` does not parse, and
    /// [`RedisCoordinatorError::NoAccount`] if `account` is empty.
    pub fn new(url: &str, account: &str) -> Result<RedisCoordinator, RedisCoordinatorError> {
        if account.trim().is_empty() {
            return Err(RedisCoordinatorError::NoAccount);
        }
        let client = redis::Client::open(url).map_err(RedisCoordinatorError::Url)?;
        let info = client.get_connection_info();
        let server = format!("{}/{}", info.addr, info.redis.db);
        Ok(RedisCoordinator {
            client,
            connection: OnceCell::new(),
            keys: Keys::new(account),
            server,
            memory: Mutex::new(Memory::default()),
            hold_removed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Keeps the account's keys apart from the same account id on another API (a simulator on
    /// this machine, say): the limits are those of one account on one API. Every process
    /// sharing the account must give the same `base_url`.
    #[must_use]
    pub fn with_api(mut self, base_url: &str) -> RedisCoordinator {
        self.keys = self.keys.on_api(base_url.trim_end_matches('/'));
        self
    }

    /// Where the server is (host, port and database, never a password).
    pub fn server(&self) -> &str {
        &self.server
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(1);
        let connection = self
            .connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await?;
        Ok(connection.clone())
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `invocation` (a script with the epoch as its first key and argument) until it
    /// answers under this process's epoch, restoring the store when it lost its data.
    async fn run(
        &self,
        action: &'static str,
        now: EpochMillis,
        invocation: impl Fn(&str) -> redis::ScriptInvocation<'static>,
    ) -> Result<Vec<Value>, CoordinatorError> {
        let fail = |e: RedisError| CoordinatorError::new(action, e);
        let mut connection = self.connection().await.map_err(fail)?;
        for _ in 0..EPOCH_ATTEMPTS {
            let epoch = self.epoch(&mut connection).await.map_err(fail)?;
            let answer: Vec<Value> = invocation(&epoch)
                .invoke_async(&mut connection)
                .await
                .map_err(fail)?;
            match text(answer.first()) {
                Some("epoch") => {
                    self.restore(&mut connection, &epoch, now)
                        .await
                        .map_err(fail)?;
                }
                Some("hold_removed") => self.warn_of_a_removed_hold(),
                _ => return Ok(answer),
            }
        }
        Err(CoordinatorError::new(action, StoreKeepsLosingData))
    }
}

impl RedisCoordinator {
    /// Says once per process that a hold no process can have written was found and removed.
    fn warn_of_a_removed_hold(&self) {
        if !self
            .hold_removed
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                server = %self.server,
                key = %self.keys.hold(),
                "the coordinator's store held every process back with a value no tcbatch \
                 writes (not a time, or further ahead than two rate windows); it was removed. \
                 Something else writes to this Redis: give tcbatch a database of its own"
            );
        }
    }

    /// The store's epoch as this process knows it; on first use, the store's (set now if the
    /// account is new to the store).
    async fn epoch(&self, connection: &mut ConnectionManager) -> Result<String, RedisError> {
        if let Some(epoch) = self.memory().epoch() {
            return Ok(epoch);
        }
        let epoch = self.current_epoch(connection).await?;
        self.memory().set_epoch(epoch.clone());
        Ok(epoch)
    }

    /// The store's epoch, set to a fresh one if it has none.
    async fn current_epoch(
        &self,
        connection: &mut ConnectionManager,
    ) -> Result<String, RedisError> {
        let fresh = memory::new_id().to_string();
        redis::cmd("SET")
            .arg(self.keys.epoch())
            .arg(&fresh)
            .arg("NX")
            .exec_async(connection)
            .await?;
        let current: Option<String> = redis::cmd("GET")
            .arg(self.keys.epoch())
            .query_async(connection)
            .await?;
        Ok(current.unwrap_or(fresh))
    }

    /// The store's epoch is no longer `stale`: it lost its data. Every process is held back
    /// for one rate window, so that nothing the API still counts is forgotten, and this
    /// process writes back the creations and the tokens it knows of.
    async fn restore(
        &self,
        connection: &mut ConnectionManager,
        stale: &str,
        now: EpochMillis,
    ) -> Result<(), RedisError> {
        let epoch = self.current_epoch(connection).await?;
        let (now, window_ms, creation_window_ms, creations, tokens) = {
            let mut memory = self.memory();
            let now = memory.latest(now);
            let creations = memory.creations_since(now);
            let tokens = memory.tokens_alive(now);
            (
                now,
                memory.window_ms(),
                memory.creation_window_ms(),
                creations,
                tokens,
            )
        };
        let hold_until = now.saturating_add(window_ms);
        scripts::HOLD_SCRIPT
            .prepare_invoke()
            .key(self.keys.hold())
            .arg(hold_until)
            .arg(window_ms.saturating_mul(2).max(1))
            .invoke_async::<Vec<Value>>(connection)
            .await?;
        for (id, at) in &creations {
            redis::cmd("ZADD")
                .arg(self.keys.creations())
                .arg("NX")
                .arg(*at)
                .arg(*id)
                .exec_async(connection)
                .await?;
        }
        redis::cmd("PEXPIRE")
            .arg(self.keys.creations())
            .arg(creation_window_ms.saturating_mul(2).max(1))
            .exec_async(connection)
            .await?;
        for (slot, token) in &tokens {
            publish_invocation(&self.keys, &epoch, *slot, token.id(), token)
                .invoke_async::<Vec<Value>>(connection)
                .await?;
        }
        if epoch != stale {
            tracing::warn!(
                server = %self.server,
                creations = creations.len(),
                tokens = tokens.len(),
                hold_ms = window_ms,
                "the coordinator's store lost its data (restarted?): wrote back what this \
                 process knows, and every process holds back for one rate window"
            );
        }
        self.memory().set_epoch(epoch);
        Ok(())
    }
}

impl fmt::Debug for RedisCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCoordinator")
            .field("server", &self.server)
            .field("namespace", &self.keys.namespace())
            .finish_non_exhaustive()
    }
}

/// The store lost its data on every attempt of one call.
#[derive(Debug, thiserror::Error)]
#[error("the Redis store lost its data again and again (is something flushing it?)")]
struct StoreKeepsLosingData;

/// The store answered something no script answers.
#[derive(Debug, thiserror::Error)]
#[error("Redis answered {0} where a script's answer was expected")]
struct UnexpectedAnswer(String);

impl Coordinator for RedisCoordinator {
    fn token<'a>(
        &'a self,
        slot: usize,
        now: EpochMillis,
        terms: &'a TokenTerms,
    ) -> CoordinatorFuture<'a, TokenClaim> {
        Box::pin(async move {
            let claim_id = memory::new_id();
            self.memory().remember_terms(terms);
            let answer = self
                .run("look up or claim a token", now, |epoch| {
                    let mut invocation = scripts::TOKEN_SCRIPT.prepare_invoke();
                    invocation
                        .key(self.keys.epoch())
                        .key(self.keys.hold())
                        .key(self.keys.token(slot))
                        .key(self.keys.mint(slot))
                        .key(self.keys.creations())
                        .arg(epoch)
                        .arg(now.as_i64())
                        .arg(terms.refresh_margin_ms)
                        .arg(terms.lease_ms.max(1))
                        .arg(terms.creations.limit)
                        .arg(terms.creations.window_ms)
                        .arg(claim_id)
                        .arg(terms.rate_window_ms)
                        .arg(claim_collected_after(terms));
                    invocation
                })
                .await?;
            let claim = read_token_claim(&answer)
                .ok_or_else(|| unexpected("look up or claim a token", &answer))?;
            self.memory().saw_claim(slot, &claim, now);
            Ok(claim)
        })
    }

    fn publish<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        token: &'a SharedToken,
    ) -> CoordinatorFuture<'a, ()> {
        Box::pin(async move {
            self.memory().saw_token(slot, token);
            let now = token.created_at();
            self.run("publish a token", now, |epoch| {
                publish_invocation(&self.keys, epoch, slot, claim.id(), token)
            })
            .await?;
            Ok(())
        })
    }

    fn release<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        reached: Reached,
    ) -> CoordinatorFuture<'a, ()> {
        Box::pin(async move {
            let refund = matches!(reached, Reached::No);
            if refund {
                self.memory().forget_creation(claim.id());
            }
            self.run("release a token claim", EpochMillis::MIN, |epoch| {
                let mut invocation = scripts::RELEASE_SCRIPT.prepare_invoke();
                invocation
                    .key(self.keys.epoch())
                    .key(self.keys.mint(slot))
                    .key(self.keys.creations())
                    .arg(epoch)
                    .arg(claim.id())
                    .arg(if refund { "1" } else { "0" });
                invocation
            })
            .await?;
            Ok(())
        })
    }

    fn retire(&self, slot: usize, token_id: u64) -> CoordinatorFuture<'_, ()> {
        Box::pin(async move {
            self.memory().forget_token(slot, token_id);
            self.run("retire a token", EpochMillis::MIN, |epoch| {
                let mut invocation = scripts::RETIRE_SCRIPT.prepare_invoke();
                invocation
                    .key(self.keys.epoch())
                    .key(self.keys.token(slot))
                    .arg(epoch)
                    .arg(token_id);
                invocation
            })
            .await?;
            Ok(())
        })
    }

    fn reserve(
        &self,
        slot: usize,
        now: EpochMillis,
        limit: WindowLimit,
    ) -> CoordinatorFuture<'_, Reservation> {
        Box::pin(async move {
            self.memory().remember_window(limit.window_ms);
            let place_id = memory::new_id();
            let answer = self
                .run("reserve a send", now, |epoch| {
                    let mut invocation = scripts::RESERVE_SCRIPT.prepare_invoke();
                    invocation
                        .key(self.keys.epoch())
                        .key(self.keys.hold())
                        .key(self.keys.window(slot))
                        .arg(epoch)
                        .arg(now.as_i64())
                        .arg(limit.limit)
                        .arg(limit.window_ms)
                        .arg(place_id);
                    invocation
                })
                .await?;
            read_reservation(&answer, Place::new(place_id, now))
                .ok_or_else(|| unexpected("reserve a send", &answer))
        })
    }

    fn send_finished<'a>(
        &'a self,
        slot: usize,
        place: &'a Place,
        at: EpochMillis,
    ) -> CoordinatorFuture<'a, ()> {
        Box::pin(async move {
            let window_ms = self.memory().window_ms();
            self.run("move a send to its answer", at, |epoch| {
                let mut invocation = scripts::FINISH_SCRIPT.prepare_invoke();
                invocation
                    .key(self.keys.epoch())
                    .key(self.keys.window(slot))
                    .arg(epoch)
                    .arg(place.id())
                    .arg(at.as_i64().max(place.at().as_i64()))
                    .arg(window_ms);
                invocation
            })
            .await?;
            Ok(())
        })
    }
}

fn publish_invocation(
    keys: &Keys,
    epoch: &str,
    slot: usize,
    claim_id: u64,
    token: &SharedToken,
) -> redis::ScriptInvocation<'static> {
    // Garbage collection only: twice the token's life, so the store's clock never drops a
    // token callers still count as valid.
    let time_to_live = token
        .expires_at()
        .as_i64()
        .saturating_sub(token.created_at().as_i64())
        .saturating_mul(2)
        .max(1);
    let mut invocation = scripts::PUBLISH_SCRIPT.prepare_invoke();
    invocation
        .key(keys.epoch())
        .key(keys.token(slot))
        .key(keys.mint(slot))
        .arg(epoch)
        .arg(claim_id)
        .arg(token.sealed())
        .arg(token.created_at().as_i64())
        .arg(token.expires_at().as_i64())
        .arg(time_to_live);
    invocation
}

/// When the store may drop a claim's key: long after its lease ends (the lease's end is a time
/// in the claim, checked against the callers' times), so the store's clock never ends a lease.
fn claim_collected_after(terms: &TokenTerms) -> i64 {
    terms
        .lease_ms
        .max(1)
        .saturating_add(terms.creations.window_ms.max(terms.rate_window_ms))
        .saturating_mul(2)
}

fn unexpected(action: &'static str, answer: &[Value]) -> CoordinatorError {
    CoordinatorError::new(action, UnexpectedAnswer(format!("{} values", answer.len())))
}

/// A status word or number of a script's answer.
fn text(value: Option<&Value>) -> Option<&str> {
    match value? {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

fn number(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Int(n) => Some(*n),
        other => text(Some(other))?.parse().ok(),
    }
}

fn epoch_millis(value: Option<&Value>) -> Option<EpochMillis> {
    EpochMillis::try_from(number(value)?).ok()
}

fn read_token_claim(answer: &[Value]) -> Option<TokenClaim> {
    match text(answer.first())? {
        "token" => {
            let id = u64::try_from(number(answer.get(1))?).ok()?;
            let Value::BulkString(sealed) = answer.get(2)? else {
                return None;
            };
            let created_at = epoch_millis(answer.get(3))?;
            let expires_at = epoch_millis(answer.get(4))?;
            let token = SharedToken::new(id, sealed.clone(), created_at, expires_at);
            Some(TokenClaim::Shared(token))
        }
        "busy" => Some(TokenClaim::Busy {
            recheck_at: epoch_millis(answer.get(1))?,
        }),
        "budget" => Some(TokenClaim::BudgetUntil(epoch_millis(answer.get(1))?)),
        "claimed" => {
            let id = u64::try_from(number(answer.get(1))?).ok()?;
            Some(TokenClaim::Claimed(Claim::new(id)))
        }
        _ => None,
    }
}

fn read_reservation(answer: &[Value], place: Place) -> Option<Reservation> {
    match text(answer.first())? {
        "granted" => Some(Reservation::Granted(place)),
        "held" => Some(Reservation::Held {
            until: epoch_millis(answer.get(1))?,
        }),
        "full" => {
            let sends = answer[1..]
                .iter()
                .map(|v| epoch_millis(Some(v)))
                .collect::<Option<Vec<_>>>()?;
            Some(Reservation::Full { sends })
        }
        _ => None,
    }
}
