//! The shared queue: PostgreSQL, which any number of relays use at once. Its durability and
//! replication are the database's: a commit is acknowledged by the server (with its own
//! `synchronous_commit`) before the relay acknowledges anything.
//!
//! Each relay holds a lease (a row of `tc_relay.relays`) and owns the records it queued or
//! took over. Claims use row locks (`FOR UPDATE SKIP LOCKED`), and every move of a record
//! names its owner and state, so two relays never move one record the same way. The tables
//! live in their own schema, `tc_relay`, versioned, created or migrated at start under an
//! advisory lock so relays starting together do it once.

use super::columns;
use super::{
    Accepted, AttemptId, Begun, BodyDigest, Committed, EarlierPost, Held, IdempotencyKey, Lease,
    NewRecord, Peer, Post, PostAnswer, PostgresUrl, RecordChange, Recovered, Reply, Sharing, Store,
    StoreFuture, Stored, TakenOver, Tracked,
};
use crate::error::Error;
use crate::keys::Producer;
use crate::status::{RecordId, RecordState, TrackedRecord};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tc_core::{BatchId, EpochMillis, NumberFormat};
use tc_engine::delivery::Pairing;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

/// The layout this build writes.
const SCHEMA_VERSION: i32 = 1;

/// Connections per relay: the group commit, the sender's few batches, the poller, reads.
const POOL_SIZE: usize = 8;

/// Tries of a transaction that met a deadlock or a serialization failure with another relay's.
const TRIES: u32 = 5;

/// The advisory lock relays take while they create or migrate the tables.
const MIGRATION_LOCK: i64 = 0x7463_5f72_656c_6179;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tc_relay.records (
    id BIGSERIAL PRIMARY KEY,
    received_at BIGINT NOT NULL,
    external_id TEXT,
    record TEXT NOT NULL,
    receiver TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt BIGINT,
    batch_id TEXT,
    code TEXT,
    message TEXT,
    possibly_duplicated BOOLEAN NOT NULL DEFAULT FALSE,
    delivery TEXT,
    delivery_message TEXT,
    owner BIGINT,
    tag BIGINT,
    producer TEXT
);
ALTER TABLE tc_relay.records ADD COLUMN IF NOT EXISTS tag BIGINT;
ALTER TABLE tc_relay.records ADD COLUMN IF NOT EXISTS producer TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS records_by_external_id ON tc_relay.records (external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_by_state ON tc_relay.records (state, owner);
CREATE INDEX IF NOT EXISTS records_by_attempt ON tc_relay.records (attempt);
CREATE INDEX IF NOT EXISTS records_by_received_at ON tc_relay.records (received_at);
CREATE TABLE IF NOT EXISTS tc_relay.idempotency_keys (
    key TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    answer TEXT NOT NULL,
    digest TEXT
);
ALTER TABLE tc_relay.idempotency_keys ADD COLUMN IF NOT EXISTS digest TEXT;
CREATE INDEX IF NOT EXISTS keys_by_received_at ON tc_relay.idempotency_keys (received_at);
CREATE TABLE IF NOT EXISTS tc_relay.attempts (
    attempt BIGSERIAL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    batch_id TEXT,
    delivery_settled BOOLEAN NOT NULL DEFAULT FALSE,
    polled_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS attempts_to_poll ON tc_relay.attempts (polled_at, attempt)
    WHERE batch_id IS NOT NULL AND NOT delivery_settled;
CREATE TABLE IF NOT EXISTS tc_relay.relays (
    relay BIGSERIAL PRIMARY KEY,
    joined_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    sharing TEXT NOT NULL
);
";

/// The shared store: a pool of connections to one database.
pub(crate) struct PostgresStore {
    pool: Pool,
    /// This relay's number in `tc_relay.relays`, once joined.
    me: Arc<AtomicI64>,
}

impl PostgresStore {
    /// Connects to `url` and creates or migrates the tables.
    pub async fn open(url: &PostgresUrl) -> Result<PostgresStore, Error> {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
            super::postgres_tls::client_config(url.certificates())?,
        );
        let manager = Manager::from_config(
            url.config().clone(),
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(Error::store("set up the connections to the store"))?;
        let store = PostgresStore {
            pool,
            me: Arc::new(AtomicI64::new(0)),
        };
        let mut client = store.client("connect to the store").await?;
        migrate(&mut client).await?;
        Ok(store)
    }

    async fn client(&self, context: &'static str) -> Result<Object, Error> {
        self.pool.get().await.map_err(|error| match error {
            deadpool_postgres::PoolError::Backend(error) => db(context)(error),
            other => Error::store(context)(other),
        })
    }

    fn me(&self) -> i64 {
        self.me.load(Ordering::SeqCst)
    }

    /// Runs `work` in a transaction, again when it met another relay's in a deadlock or a
    /// serialization failure (the database undid it whole).
    fn transact<'a, T, F>(&'a self, context: &'static str, work: F) -> StoreFuture<'a, T>
    where
        T: Send + 'a,
        F: for<'t> Fn(&'t deadpool_postgres::Transaction<'t>, i64) -> TxFuture<'t, T>
            + Send
            + Sync
            + 'a,
    {
        Box::pin(async move {
            let mut client = self.client(context).await?;
            let mut tries = 0;
            loop {
                tries += 1;
                let tx = client.transaction().await.map_err(db(context))?;
                let done = match work(&tx, self.me()).await {
                    Ok(value) => tx.commit().await.map(|()| value),
                    Err(error) => Err(error),
                };
                match done {
                    Ok(value) => return Ok(value),
                    Err(error) if tries < TRIES && is_transient(&error) => continue,
                    Err(error) => return Err(db(context)(error)),
                }
            }
        })
    }
}

/// The work of one transaction, borrowing it, for [`PostgresStore::transact`].
type TxFuture<'t, T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send + 't>,
>;

/// A failure of the database, said whole: tokio-postgres's own words are "db error", its
/// cause holds the server's message and code.
#[derive(Debug)]
pub(crate) struct DatabaseError(String);

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DatabaseError {}

/// Maps a tokio-postgres error to the relay's, with the server's message and SQLSTATE.
fn db(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |error| {
        let text = match error.as_db_error() {
            Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
            None => {
                let mut text = error.to_string();
                let mut cause = std::error::Error::source(&error);
                while let Some(inner) = cause {
                    text.push_str(": ");
                    text.push_str(&inner.to_string());
                    cause = inner.source();
                }
                text
            }
        };
        Error::store(context)(DatabaseError(text))
    }
}

fn is_transient(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

async fn migrate(client: &mut Object) -> Result<(), Error> {
    let context = "prepare the store";
    let tx = client.transaction().await.map_err(db(context))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db(context))?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS tc_relay; \
         CREATE TABLE IF NOT EXISTS tc_relay.schema_version (version INTEGER NOT NULL)",
    )
    .await
    .map_err(db(context))?;
    let found: Option<i32> = tx
        .query_opt("SELECT max(version) FROM tc_relay.schema_version", &[])
        .await
        .map_err(db(context))?
        .and_then(|row| row.get(0));
    if let Some(found) = found.filter(|v| *v > SCHEMA_VERSION) {
        return Err(Error::StoreSchema {
            found: i64::from(found),
            supported: i64::from(SCHEMA_VERSION),
        });
    }
    tx.batch_execute(SCHEMA).await.map_err(db(context))?;
    if found.is_none() {
        tx.execute(
            "INSERT INTO tc_relay.schema_version (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(db(context))?;
    }
    tx.commit().await.map_err(db(context))
}

impl Store for PostgresStore {
    fn join(&self, lease: Lease, sharing: Sharing) -> StoreFuture<'_, Vec<Peer>> {
        Box::pin(async move {
            let context = "join the relays of the store";
            let client = self.client(context).await?;
            let row = client
                .query_one(
                    "INSERT INTO tc_relay.relays (joined_at, lease_until, sharing) \
                     VALUES ($1, $2, $3) RETURNING relay",
                    &[
                        &lease.now.as_i64(),
                        &lease.until.as_i64(),
                        &columns::sharing(sharing),
                    ],
                )
                .await
                .map_err(db(context))?;
            let me: i64 = row.get(0);
            self.me.store(me, Ordering::SeqCst);
            let rows = client
                .query(
                    "SELECT relay, sharing, lease_until FROM tc_relay.relays \
                     WHERE relay <> $1 AND lease_until >= $2 ORDER BY relay",
                    &[&me, &lease.now.as_i64()],
                )
                .await
                .map_err(db(context))?;
            Ok(rows
                .iter()
                .map(|row| Peer {
                    relay: row.get(0),
                    sharing: columns::sharing_of(row.get(1)),
                    lease_until: epoch(row.get(2)),
                })
                .collect())
        })
    }

    fn renew(&self, lease: Lease) -> StoreFuture<'_, Held> {
        self.transact("renew the relay's lease", move |tx, me| {
            Box::pin(async move {
                let renewed = tx
                    .execute(
                        "UPDATE tc_relay.relays SET lease_until = $2 WHERE relay = $1",
                        &[&me, &lease.until.as_i64()],
                    )
                    .await?;
                if renewed == 1 {
                    return Ok(Held::Yes);
                }
                // Taken over: what this relay queued since then belongs to nobody, so the
                // next take-over (of any relay) finds it.
                tx.execute(
                    "UPDATE tc_relay.records SET owner = NULL WHERE owner = $1 AND state = $2",
                    &[&me, &columns::state(RecordState::Queued)],
                )
                .await?;
                Ok(Held::Lost)
            })
        })
    }

    fn take_over(&self, change: RecordChange, now: EpochMillis) -> StoreFuture<'_, TakenOver> {
        let change = Arc::new(change);
        self.transact("take over the records left", move |tx, me| {
            let change = Arc::clone(&change);
            Box::pin(async move { take_over(tx, me, &change, now).await })
        })
    }

    fn leave(&self) -> StoreFuture<'_, ()> {
        self.transact("give the queue back", move |tx, me| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE tc_relay.records SET owner = NULL WHERE owner = $1 AND state = $2",
                    &[&me, &columns::state(RecordState::Queued)],
                )
                .await?;
                tx.execute("DELETE FROM tc_relay.relays WHERE relay = $1", &[&me])
                    .await?;
                Ok(())
            })
        })
    }

    fn probe(&self) -> StoreFuture<'_, ()> {
        self.transact("write to the store", move |tx, me| {
            Box::pin(async move {
                // The relay's own row, rewritten as it is: a real write, which a database
                // that cannot take writes refuses.
                tx.execute(
                    "UPDATE tc_relay.relays SET lease_until = lease_until WHERE relay = $1",
                    &[&me],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn commit_posts(&self, posts: Vec<Post>, now: EpochMillis) -> StoreFuture<'_, Vec<Committed>> {
        let posts = Arc::new(posts);
        self.transact("queue posts", move |tx, me| {
            let posts = Arc::clone(&posts);
            Box::pin(async move { commit_posts(tx, me, &posts, now).await })
        })
    }

    fn change(
        &self,
        records: Vec<(RecordId, String)>,
        change: RecordChange,
    ) -> StoreFuture<'_, ()> {
        let (ids, messages): (Vec<i64>, Vec<String>) =
            records.into_iter().map(|(id, m)| (id.get(), m)).unzip();
        self.transact("change records", move |tx, _| {
            let (ids, messages, change) = (ids.clone(), messages.clone(), change.clone());
            Box::pin(async move {
                tx.execute(
                    "UPDATE tc_relay.records SET state = $3, code = $4, message = u.message \
                     FROM UNNEST($1::int8[], $2::text[]) AS u(id, message) \
                     WHERE records.id = u.id",
                    &[
                        &ids,
                        &messages,
                        &columns::state(change.state),
                        &change.code.as_ref().map(columns::code),
                    ],
                )
                .await
                .map(drop)
            })
        })
    }

    fn begin_attempt(
        &self,
        sent: Vec<RecordId>,
        expired: Vec<(RecordId, String)>,
        now: EpochMillis,
    ) -> StoreFuture<'_, Option<Begun>> {
        let sent = Arc::new(sent);
        let expired = Arc::new(expired);
        self.transact("begin a batch", move |tx, me| {
            let (sent, expired) = (Arc::clone(&sent), Arc::clone(&expired));
            Box::pin(async move { begin_attempt(tx, me, &sent, &expired, now).await })
        })
    }

    fn settle(&self, attempt: AttemptId, change: RecordChange) -> StoreFuture<'_, ()> {
        let change = Arc::new(change);
        self.transact("record a batch's outcome", move |tx, _| {
            let change = Arc::clone(&change);
            Box::pin(async move {
                let changed = move_in_flight(tx, InFlight::Of(attempt), &change).await?;
                // An attempt whose records were taken back (a lapsed lease) owns nothing: it
                // gets no batch id, so delivery polling never asks about it.
                if let (Some(batch_id), false) = (&change.batch_id, changed.is_empty()) {
                    tx.execute(
                        "UPDATE tc_relay.attempts SET batch_id = $2 WHERE attempt = $1",
                        &[&attempt.0, &batch_id.as_str()],
                    )
                    .await?;
                }
                Ok(())
            })
        })
    }

    fn status(&self, id: RecordId) -> StoreFuture<'_, Option<Tracked>> {
        Box::pin(async move {
            let context = "read a record's status";
            let client = self.client(context).await?;
            let row = client
                .query_opt(
                    "SELECT received_at, external_id, state, batch_id, code, message, \
                     possibly_duplicated, delivery, delivery_message, tag, producer \
                     FROM tc_relay.records WHERE id = $1",
                    &[&id.get()],
                )
                .await
                .map_err(db(context))?;
            Ok(row.map(|row| Tracked {
                record: tracked(id, &row),
                producer: row.get::<_, Option<String>>(10).map(Producer::stored),
            }))
        })
    }

    fn next_to_poll(&self, now: EpochMillis) -> StoreFuture<'_, Option<(AttemptId, BatchId)>> {
        self.transact("claim a batch to ask about", move |tx, _| {
            Box::pin(async move {
                let row = tx
                    .query_opt(
                        "UPDATE tc_relay.attempts SET polled_at = $1 WHERE attempt = ( \
                           SELECT attempt FROM tc_relay.attempts \
                           WHERE batch_id IS NOT NULL AND NOT delivery_settled \
                           ORDER BY polled_at, attempt LIMIT 1 FOR UPDATE SKIP LOCKED) \
                         RETURNING attempt, batch_id",
                        &[&now.as_i64()],
                    )
                    .await?;
                // A batch id the store cannot have written is passed over (and asked about
                // last) rather than failing the rest.
                Ok(row.and_then(|row| {
                    let batch_id: String = row.get(1);
                    Some((AttemptId(row.get(0)), batch_id.parse().ok()?))
                }))
            })
        })
    }

    fn receivers(&self, attempt: AttemptId) -> StoreFuture<'_, Vec<(RecordId, String)>> {
        Box::pin(async move {
            let context = "read a batch's records";
            let client = self.client(context).await?;
            let rows = client
                .query(
                    "SELECT id, receiver FROM tc_relay.records \
                     WHERE attempt = $1 AND state = $2 ORDER BY id",
                    &[&attempt.0, &columns::state(RecordState::Accepted)],
                )
                .await
                .map_err(db(context))?;
            Ok(rows
                .iter()
                .map(|row| (RecordId::new(row.get(0)), row.get(1)))
                .collect())
        })
    }

    fn record_deliveries(
        &self,
        attempt: AttemptId,
        pairing: Pairing<RecordId>,
        now: EpochMillis,
    ) -> StoreFuture<'_, ()> {
        let settled = pairing.is_settled();
        let ids: Vec<i64> = pairing.paired.iter().map(|p| p.key.get()).collect();
        let statuses: Vec<String> = pairing
            .paired
            .iter()
            .map(|p| p.status.as_str().to_owned())
            .collect();
        let messages: Vec<Option<String>> = pairing.paired.into_iter().map(|p| p.message).collect();
        let columns = Arc::new((ids, statuses, messages));
        self.transact("record deliveries", move |tx, _| {
            let columns = Arc::clone(&columns);
            Box::pin(async move {
                let (ids, statuses, messages) = &*columns;
                tx.execute(
                    "UPDATE tc_relay.records SET delivery = u.delivery, \
                     delivery_message = u.message \
                     FROM UNNEST($1::int8[], $2::text[], $3::text[]) AS u(id, delivery, message) \
                     WHERE records.id = u.id",
                    &[ids, statuses, messages],
                )
                .await?;
                tx.execute(
                    "UPDATE tc_relay.attempts SET delivery_settled = $2, polled_at = $3 \
                     WHERE attempt = $1",
                    &[&attempt.0, &settled, &now.as_i64()],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn counts(&self) -> StoreFuture<'_, Vec<(RecordState, u64)>> {
        Box::pin(async move {
            let context = "count records";
            let client = self.client(context).await?;
            let rows = client
                .query(
                    "SELECT state, COUNT(*) FROM tc_relay.records GROUP BY state",
                    &[],
                )
                .await
                .map_err(db(context))?;
            Ok(rows
                .iter()
                .filter_map(|row| {
                    let count: i64 = row.get(1);
                    Some((columns::state_of(row.get(0))?, count.unsigned_abs()))
                })
                .collect())
        })
    }

    fn purge(&self, before: EpochMillis) -> StoreFuture<'_, ()> {
        self.transact("purge old keys", move |tx, _| {
            Box::pin(async move {
                let [rejected, failed, unknown] = columns::FORGETTABLE.map(columns::state);
                let before = before.as_i64();
                tx.execute(
                    "DELETE FROM tc_relay.idempotency_keys WHERE received_at < $1",
                    &[&before],
                )
                .await?;
                tx.execute(
                    "UPDATE tc_relay.records SET external_id = NULL \
                     WHERE received_at < $1 AND external_id IS NOT NULL",
                    &[&before],
                )
                .await?;
                tx.execute(
                    "DELETE FROM tc_relay.records WHERE received_at < $1 AND \
                     (state IN ($2, $3, $4) OR (state = $5 AND delivery IS NOT NULL))",
                    &[
                        &before,
                        &rejected,
                        &failed,
                        &unknown,
                        &columns::state(RecordState::Accepted),
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }
}

/// Which records in flight a move applies to.
enum InFlight {
    /// Those of one attempt.
    Of(AttemptId),
    /// Those of relays that hold no lease (they lapsed, or left), taken by `me`.
    Left { me: i64 },
}

/// Moves records in flight as `change` says; the moved records' ids, received times, records
/// and new states.
async fn move_in_flight(
    tx: &deadpool_postgres::Transaction<'_>,
    which: InFlight,
    change: &RecordChange,
) -> Result<Vec<(Stored, RecordState)>, tokio_postgres::Error> {
    let (attempt, me) = match which {
        InFlight::Of(attempt) => (Some(attempt.0), None),
        InFlight::Left { me } => (None, Some(me)),
    };
    let requeued = change.state == RecordState::Queued;
    let rows = tx
        .query(
            "UPDATE tc_relay.records SET \
             state = CASE WHEN possibly_duplicated THEN $9 ELSE $2 END, \
             attempt = CASE WHEN $7 THEN NULL ELSE attempt END, \
             batch_id = COALESCE($3, batch_id), code = $4, message = $5, \
             possibly_duplicated = possibly_duplicated OR $6, \
             owner = COALESCE($10, owner) \
             WHERE state = $8 AND (attempt = $1 OR ($1 IS NULL AND (owner IS NULL OR NOT EXISTS \
               (SELECT 1 FROM tc_relay.relays r WHERE r.relay = records.owner)))) \
             RETURNING id, received_at, record, state",
            &[
                &attempt,
                &columns::state(change.state),
                &change.batch_id.as_ref().map(BatchId::as_str),
                &change.code.as_ref().map(columns::code),
                &change.message,
                &change.possibly_duplicated,
                &requeued,
                &columns::state(RecordState::InFlight),
                &columns::state(change.state_if_possibly_duplicated),
                &me,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let state: &str = row.get(3);
            (
                stored(row),
                columns::state_of(state).unwrap_or(RecordState::Unknown),
            )
        })
        .collect())
}

async fn take_over(
    tx: &deadpool_postgres::Transaction<'_>,
    me: i64,
    change: &RecordChange,
    now: EpochMillis,
) -> Result<TakenOver, tokio_postgres::Error> {
    let dead: Vec<i64> = tx
        .query(
            "DELETE FROM tc_relay.relays WHERE lease_until < $1 AND relay <> $2 RETURNING relay",
            &[&now.as_i64(), &me],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let moved = move_in_flight(tx, InFlight::Left { me }, change).await?;
    let recovered = Recovered::of(change, moved.len() as u64);
    let mut queued: Vec<Stored> = moved
        .into_iter()
        .filter(|(_, state)| *state == RecordState::Queued)
        .map(|(stored, _)| stored)
        .collect();
    let rows = tx
        .query(
            "UPDATE tc_relay.records SET owner = $1 WHERE id IN ( \
               SELECT id FROM tc_relay.records \
               WHERE state = $2 AND (owner IS NULL OR owner = ANY($3)) \
               FOR UPDATE SKIP LOCKED) \
             RETURNING id, received_at, record",
            &[&me, &columns::state(RecordState::Queued), &dead],
        )
        .await?;
    queued.extend(rows.iter().map(stored));
    queued.sort_by_key(|stored| stored.id);
    Ok(TakenOver { recovered, queued })
}

async fn begin_attempt(
    tx: &deadpool_postgres::Transaction<'_>,
    me: i64,
    sent: &[RecordId],
    expired: &[(RecordId, String)],
    now: EpochMillis,
) -> Result<Option<Begun>, tokio_postgres::Error> {
    reject_expired(tx, me, expired).await?;
    if sent.is_empty() {
        return Ok(None);
    }
    let attempt: i64 = tx
        .query_one(
            "INSERT INTO tc_relay.attempts (started_at) VALUES ($1) RETURNING attempt",
            &[&now.as_i64()],
        )
        .await?
        .get(0);
    let ids: Vec<i64> = sent.iter().map(|id| id.get()).collect();
    let moved: BTreeSet<i64> = tx
        .query(
            "UPDATE tc_relay.records SET state = $3, attempt = $2 \
             WHERE id = ANY($1) AND state = $4 AND owner = $5 RETURNING id",
            &[
                &ids,
                &attempt,
                &columns::state(RecordState::InFlight),
                &columns::state(RecordState::Queued),
                &me,
            ],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if moved.is_empty() {
        tx.execute(
            "DELETE FROM tc_relay.attempts WHERE attempt = $1",
            &[&attempt],
        )
        .await?;
        return Ok(None);
    }
    Ok(Some(Begun {
        attempt: AttemptId(attempt),
        sent: sent
            .iter()
            .copied()
            .filter(|id| moved.contains(&id.get()))
            .collect(),
    }))
}

/// Rejects the records whose window closed before their batch left (`window_expired`), those
/// still queued and `me`'s.
async fn reject_expired(
    tx: &deadpool_postgres::Transaction<'_>,
    me: i64,
    expired: &[(RecordId, String)],
) -> Result<(), tokio_postgres::Error> {
    if expired.is_empty() {
        return Ok(());
    }
    let (ids, messages): (Vec<i64>, Vec<&str>) =
        expired.iter().map(|(id, m)| (id.get(), m.as_str())).unzip();
    let window_expired = columns::code(&tc_engine::ReportCode::Rule(tc_core::Code::WindowExpired));
    tx.execute(
        "UPDATE tc_relay.records SET state = $3, code = $4, message = u.message \
         FROM UNNEST($1::int8[], $2::text[]) AS u(id, message) \
         WHERE records.id = u.id AND records.state = $5 AND records.owner = $6",
        &[
            &ids,
            &messages,
            &columns::state(RecordState::Rejected),
            &window_expired,
            &columns::state(RecordState::Queued),
            &me,
        ],
    )
    .await
    .map(drop)
}

/// The group commit in a few statements, whatever the number of posts: keys claimed first
/// (so a post retried on another relay at the same moment waits for this one and replays
/// it), then every new record in one insert that leaves out external ids already queued.
async fn commit_posts(
    tx: &deadpool_postgres::Transaction<'_>,
    me: i64,
    posts: &[Post],
    now: EpochMillis,
) -> Result<Vec<Committed>, tokio_postgres::Error> {
    // The records are this relay's only while it holds its lease: the row is locked until
    // the commit, so a relay taking this one over waits for it and then sees the records.
    // Without the lease (taken over meanwhile) they belong to nobody, and any relay takes them.
    let owner = tx
        .query_opt(
            "SELECT relay FROM tc_relay.relays WHERE relay = $1 FOR SHARE",
            &[&me],
        )
        .await?
        .map(|row| row.get::<_, i64>(0));
    let mut earlier = claim_keys(tx, posts, now).await?;
    let replies = Replies::new(posts, &mut earlier);
    let plan = Plan::new(posts, &replies);
    let ids = insert_records(tx, owner, &plan, now).await?;
    let mut committed = Vec::with_capacity(posts.len());
    let mut answers: Vec<(String, String, String)> = Vec::new();
    let mut first_answers: HashMap<&str, PostAnswer> = HashMap::new();
    for (index, post) in posts.iter().enumerate() {
        if let Some(reply) = replies.of(index, &first_answers) {
            committed.push(Committed {
                reply,
                queued: Vec::new(),
            });
            continue;
        }
        let (answer, queued) = answer_of(post, index, &ids);
        if let Some(key) = &post.idempotency_key {
            let text = serde_json::to_string(&answer).unwrap_or_default();
            answers.push((key.key.clone(), text, key.body.as_str().to_owned()));
            first_answers.insert(&key.key, answer.clone());
        }
        committed.push(Committed {
            reply: Reply::Answer(answer),
            queued,
        });
    }
    store_answers(tx, answers).await?;
    Ok(committed)
}

/// A post's answer from the ids its records got, and the records it newly queued.
fn answer_of(
    post: &Post,
    index: usize,
    ids: &HashMap<(usize, usize), (RecordId, bool)>,
) -> (PostAnswer, Vec<(RecordId, tc_core::CallRecord)>) {
    let mut accepted = Vec::with_capacity(post.records.len());
    let mut queued = Vec::new();
    for (number, new) in post.records.iter().enumerate() {
        let (id, deduplicated) = ids[&(index, number)];
        accepted.push(Accepted {
            record: new.number,
            id,
            deduplicated,
        });
        if !deduplicated {
            queued.push((id, new.record.clone()));
        }
    }
    let answer = PostAnswer {
        accepted,
        problems: post.problems.clone(),
        ignored_keys: post.ignored_keys.clone(),
        replayed: false,
    };
    (answer, queued)
}

/// Writes the answers (and body digests) of the keys this group claimed.
async fn store_answers(
    tx: &deadpool_postgres::Transaction<'_>,
    answers: Vec<(String, String, String)>,
) -> Result<(), tokio_postgres::Error> {
    if answers.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(answers.len());
    let mut texts = Vec::with_capacity(answers.len());
    let mut digests = Vec::with_capacity(answers.len());
    for (key, text, digest) in answers {
        keys.push(key);
        texts.push(text);
        digests.push(digest);
    }
    tx.execute(
        "UPDATE tc_relay.idempotency_keys SET answer = u.answer, digest = u.digest \
         FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(key, answer, digest) \
         WHERE idempotency_keys.key = u.key",
        &[&keys, &texts, &digests],
    )
    .await
    .map(drop)
}

/// What each post of a group gets without queueing anything: the reply an earlier post
/// under its key decides, or, for a key an earlier post of the same group carries, that
/// post's answer (or a refusal if the bodies differ).
struct Replies<'p> {
    /// Per post: the reply decided by a post before this group, if any.
    earlier: Vec<Option<Reply>>,
    /// Per post: the earlier post of this group with the same key, if any.
    repeats: Vec<Option<&'p IdempotencyKey>>,
    keys: Vec<Option<&'p IdempotencyKey>>,
}

impl<'p> Replies<'p> {
    fn new(posts: &'p [Post], earlier: &mut HashMap<String, EarlierPost>) -> Replies<'p> {
        let mut first: HashMap<&str, &IdempotencyKey> = HashMap::new();
        let mut replies = Replies {
            earlier: Vec::with_capacity(posts.len()),
            repeats: Vec::with_capacity(posts.len()),
            keys: Vec::with_capacity(posts.len()),
        };
        for post in posts {
            let key = post.idempotency_key.as_ref();
            let decided = key.and_then(|k| earlier.get(&k.key).cloned()?.reply_to(k));
            let repeat = match (key, &decided) {
                (Some(k), None) => first.get(k.key.as_str()).copied(),
                _ => None,
            };
            if let (Some(k), None, None) = (key, &decided, repeat) {
                first.insert(&k.key, k);
            }
            replies.earlier.push(decided);
            replies.repeats.push(repeat);
            replies.keys.push(key);
        }
        replies
    }

    /// Whether post `index` queues records (false: it is answered without).
    fn queues(&self, index: usize) -> bool {
        self.earlier[index].is_none() && self.repeats[index].is_none()
    }

    /// The reply of post `index` if it queues nothing, given the answers of the group's
    /// first posts under each key.
    fn of(&self, index: usize, first_answers: &HashMap<&str, PostAnswer>) -> Option<Reply> {
        if let Some(reply) = &self.earlier[index] {
            return Some(reply.clone());
        }
        let first = self.repeats[index]?;
        let key = self.keys[index]?;
        let answer = first_answers.get(first.key.as_str())?.clone();
        EarlierPost {
            answer: Some(answer),
            body: Some(first.body.clone()),
        }
        .reply_to(key)
    }
}

/// Claims the posts' `Idempotency-Key`s. Each key an earlier post used maps to that post as
/// stored; claimed keys are absent.
async fn claim_keys(
    tx: &deadpool_postgres::Transaction<'_>,
    posts: &[Post],
    now: EpochMillis,
) -> Result<HashMap<String, EarlierPost>, tokio_postgres::Error> {
    // Sorted, so two relays claiming overlapping keys take their locks in one order.
    let keys: Vec<&str> = posts
        .iter()
        .filter_map(|p| p.idempotency_key.as_ref().map(|k| k.key.as_str()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let claimed: BTreeSet<String> = tx
        .query(
            "INSERT INTO tc_relay.idempotency_keys (key, received_at, answer) \
             SELECT k, $2, '' FROM UNNEST($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n \
             ON CONFLICT (key) DO NOTHING RETURNING key",
            &[&keys, &now.as_i64()],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let used: Vec<&str> = keys.into_iter().filter(|k| !claimed.contains(*k)).collect();
    if used.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .query(
            "SELECT key, answer, digest FROM tc_relay.idempotency_keys WHERE key = ANY($1)",
            &[&used],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let answer: &str = row.get(1);
            let earlier = EarlierPost {
                answer: serde_json::from_str(answer).ok(),
                body: row.get::<_, Option<String>>(2).map(BodyDigest::stored),
            };
            (row.get(0), earlier)
        })
        .collect())
}

/// The records a group commit inserts, each once: a record whose `external_id` an earlier
/// record of the group carries refers to that one.
struct Plan<'p> {
    /// (post, record in post), in arrival order.
    new: Vec<(usize, usize, &'p NewRecord)>,
    /// (post, record in post) → the index in `new` of the record it repeats.
    repeats: Vec<((usize, usize), usize)>,
    posts: &'p [Post],
}

impl<'p> Plan<'p> {
    fn new(posts: &'p [Post], replies: &Replies<'_>) -> Plan<'p> {
        let mut new = Vec::new();
        let mut repeats = Vec::new();
        let mut by_external: HashMap<&str, usize> = HashMap::new();
        for (index, post) in posts.iter().enumerate() {
            if !replies.queues(index) {
                continue;
            }
            for (number, record) in post.records.iter().enumerate() {
                let earlier = record
                    .external_id
                    .as_deref()
                    .and_then(|e| by_external.get(e).copied());
                match earlier {
                    Some(at) => repeats.push(((index, number), at)),
                    None => {
                        if let Some(external) = record.external_id.as_deref() {
                            by_external.insert(external, new.len());
                        }
                        new.push((index, number, record));
                    }
                }
            }
        }
        Plan {
            new,
            repeats,
            posts,
        }
    }

    /// The columns of the new records: external ids, records as the API reads them (E.164),
    /// receivers.
    fn columns(&self) -> (Vec<Option<String>>, Vec<String>, Vec<String>) {
        let mut externals = Vec::with_capacity(self.new.len());
        let mut records = Vec::with_capacity(self.new.len());
        let mut receivers = Vec::with_capacity(self.new.len());
        for (_, _, new) in &self.new {
            externals.push(new.external_id.clone());
            let wire = new.record.to_wire(NumberFormat::E164);
            records.push(serde_json::to_string(&wire).unwrap_or_default());
            receivers.push(new.record.receiver_number().as_str().to_owned());
        }
        (externals, records, receivers)
    }

    /// The producer of each new record: its post's.
    fn producers(&self) -> Vec<Option<String>> {
        self.new
            .iter()
            .map(|(index, _, _)| {
                let producer = self.posts[*index].producer.as_ref();
                producer.map(|p| p.as_str().to_owned())
            })
            .collect()
    }

    /// A fresh tag for each new record, as the column holds it.
    fn tags(&self) -> Vec<i64> {
        self.new
            .iter()
            .map(|_| RecordId::new_tag_column())
            .collect()
    }

    /// Each (post, record in post) → its id and whether it was deduplicated, given the ids
    /// drawn for the new records (`fresh`, in their order), those the insert kept, and the
    /// earlier records of the external ids it left out.
    fn resolve(
        &self,
        fresh: &[(i64, i64)],
        inserted: &BTreeSet<i64>,
        earlier: &HashMap<String, RecordId>,
    ) -> HashMap<(usize, usize), (RecordId, bool)> {
        let mut ids = HashMap::with_capacity(self.new.len() + self.repeats.len());
        let mut resolved = Vec::with_capacity(self.new.len());
        for ((index, number, new), (id, tag)) in self.new.iter().zip(fresh) {
            let answer = if inserted.contains(id) {
                (RecordId::from_columns(*id, Some(*tag)), false)
            } else {
                let external = new.external_id.as_deref().unwrap_or_default();
                let earlier = earlier.get(external).copied();
                (
                    earlier.unwrap_or_else(|| RecordId::from_columns(*id, Some(*tag))),
                    true,
                )
            };
            ids.insert((*index, *number), answer);
            resolved.push(answer.0);
        }
        for (place, at) in &self.repeats {
            ids.insert(*place, (resolved[*at], true));
        }
        ids
    }
}

/// Inserts the plan's records as `owner`'s (nobody's: `None`); each (post, record) → its id and whether it was
/// deduplicated (an earlier record, of this group or before it, has its `external_id`).
async fn insert_records(
    tx: &deadpool_postgres::Transaction<'_>,
    owner: Option<i64>,
    plan: &Plan<'_>,
    now: EpochMillis,
) -> Result<HashMap<(usize, usize), (RecordId, bool)>, tokio_postgres::Error> {
    if plan.new.is_empty() {
        return Ok(HashMap::new());
    }
    let count = i64::try_from(plan.new.len()).unwrap_or(i64::MAX);
    // Ids in arrival order, so the queue's order (by id) is the order records were posted.
    let fresh: Vec<i64> = tx
        .query(
            "SELECT nextval('tc_relay.records_id_seq') FROM generate_series(1, $1::int8)",
            &[&count],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let (externals, records, receivers) = plan.columns();
    let tags = plan.tags();
    let inserted: BTreeSet<i64> = tx
        .query(
            "INSERT INTO tc_relay.records \
             (id, received_at, external_id, record, receiver, state, owner, tag, producer) \
             SELECT u.id, $5, u.external_id, u.record, u.receiver, $6, $7, u.tag, u.producer \
             FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $8::int8[], \
                         $9::text[]) \
               AS u(id, external_id, record, receiver, tag, producer) \
             ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING \
             RETURNING id",
            &[
                &fresh,
                &externals,
                &records,
                &receivers,
                &now.as_i64(),
                &columns::state(RecordState::Queued),
                &owner,
                &tags,
                &plan.producers(),
            ],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let earlier = earlier_ids(tx, plan, &fresh, &inserted).await?;
    let fresh: Vec<(i64, i64)> = fresh.into_iter().zip(tags).collect();
    Ok(plan.resolve(&fresh, &inserted, &earlier))
}

/// The ids of records queued before this group under the external ids the insert left out.
async fn earlier_ids(
    tx: &deadpool_postgres::Transaction<'_>,
    plan: &Plan<'_>,
    fresh: &[i64],
    inserted: &BTreeSet<i64>,
) -> Result<HashMap<String, RecordId>, tokio_postgres::Error> {
    let left_out: Vec<&str> = plan
        .new
        .iter()
        .zip(fresh)
        .filter(|(_, id)| !inserted.contains(id))
        .filter_map(|((_, _, new), _)| new.external_id.as_deref())
        .collect();
    if left_out.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .query(
            "SELECT external_id, id, tag FROM tc_relay.records WHERE external_id = ANY($1)",
            &[&left_out],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), RecordId::from_columns(row.get(1), row.get(2))))
        .collect())
}

fn stored(row: &Row) -> Stored {
    Stored {
        id: RecordId::new(row.get(0)),
        received_at: epoch(row.get(1)),
        record: row.get(2),
    }
}

fn tracked(id: RecordId, row: &Row) -> TrackedRecord {
    let state: &str = row.get(2);
    let batch_id: Option<&str> = row.get(3);
    let code: Option<&str> = row.get(4);
    let delivery: Option<&str> = row.get(7);
    TrackedRecord {
        id: RecordId::from_columns(id.get(), row.get(9)),
        // Only this store writes the column, through the same mapping.
        state: columns::state_of(state).unwrap_or(RecordState::Unknown),
        received_at: epoch(row.get(0)).to_rfc3339(),
        external_id: row.get(1),
        batch_id: batch_id.and_then(|b| b.parse().ok()),
        code: code.map(columns::code_of),
        message: row.get(5),
        possibly_duplicated: row.get(6),
        delivery: delivery.map(tc_core::wire::DeliveryStatus::parse),
        delivery_message: row.get(8),
    }
}

/// A time the store wrote; one it cannot have written reads as the earliest time a record can
/// hold rather than failing the whole read.
fn epoch(ms: i64) -> EpochMillis {
    EpochMillis::try_from(ms).unwrap_or(EpochMillis::MIN)
}
