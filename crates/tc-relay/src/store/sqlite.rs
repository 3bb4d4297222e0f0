//! The queue on disk: one SQLite database in WAL mode with `synchronous = FULL`, so a commit is
//! on disk (the WAL fsynced) before the relay acknowledges anything, and a `kill -9` or a power
//! cut after the answer loses nothing. Every call here blocks: the relay runs them on tokio's
//! blocking pool.
//!
//! One relay at a time owns a store: it is opened in exclusive locking mode, and a second
//! relay on the same file is refused at start.

use super::columns;
use super::{
    Accepted, AttemptId, Begun, BodyDigest, Committed, EarlierPost, Held, IdempotencyKey, Lease,
    NewRecord, Peer, Post, PostAnswer, RecordChange, Recovered, Reply, Sharing, Store, StoreFuture,
    Stored, TakenOver, Tracked,
};
use crate::error::Error;
use crate::keys::Producer;
use crate::status::{RecordId, RecordState, TrackedRecord};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tc_core::{BatchId, CallRecord, EpochMillis, NumberFormat};
use tc_engine::delivery::Pairing;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    external_id TEXT,
    record TEXT NOT NULL,
    receiver TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER,
    batch_id TEXT,
    code TEXT,
    message TEXT,
    possibly_duplicated INTEGER NOT NULL DEFAULT 0,
    delivery TEXT,
    delivery_message TEXT,
    owner INTEGER,
    tag INTEGER,
    producer TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS records_by_external_id ON records(external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_by_state ON records(state);
CREATE INDEX IF NOT EXISTS records_by_attempt ON records(attempt);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL,
    answer TEXT NOT NULL,
    digest TEXT
);
CREATE TABLE IF NOT EXISTS opened (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    times INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    attempt INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    batch_id TEXT,
    delivery_settled INTEGER NOT NULL DEFAULT 0,
    polled_at INTEGER NOT NULL DEFAULT 0
);
";

/// The embedded store: one SQLite connection, used on tokio's blocking pool.
pub(crate) struct SqliteStore {
    db: Arc<Mutex<Db>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and takes its lock.
    pub fn open(path: &Path) -> Result<SqliteStore, Error> {
        Ok(SqliteStore {
            db: Arc::new(Mutex::new(Db::open(path)?)),
        })
    }

    /// Runs `work` on the connection, on tokio's blocking pool.
    fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Db) -> Result<T, Error> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let db = Arc::clone(&self.db);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                // A panic while the lock was held cannot leave a transaction half-applied.
                let mut db = db.lock().unwrap_or_else(PoisonError::into_inner);
                work(&mut db)
            })
            .await
            .map_err(|e| Error::Worker(e.to_string()))?
        })
    }
}

impl Store for SqliteStore {
    fn join(&self, _lease: Lease, _sharing: Sharing) -> StoreFuture<'_, Vec<Peer>> {
        // The exclusive lock taken at open keeps every other relay out.
        Box::pin(async { Ok(Vec::new()) })
    }

    fn renew(&self, _lease: Lease) -> StoreFuture<'_, Held> {
        // Held until the process exits: the lock goes with it.
        Box::pin(async { Ok(Held::Yes) })
    }

    fn take_over(&self, change: RecordChange, _now: EpochMillis) -> StoreFuture<'_, TakenOver> {
        self.run(move |db| db.take_over(&change))
    }

    fn leave(&self) -> StoreFuture<'_, ()> {
        self.run(|db| db.leave())
    }

    fn probe(&self) -> StoreFuture<'_, ()> {
        self.run(|db| db.probe())
    }

    fn commit_posts(&self, posts: Vec<Post>, now: EpochMillis) -> StoreFuture<'_, Vec<Committed>> {
        self.run(move |db| db.commit_posts(&posts, now))
    }

    fn change(
        &self,
        records: Vec<(RecordId, String)>,
        change: RecordChange,
    ) -> StoreFuture<'_, ()> {
        self.run(move |db| db.change(&records, &change))
    }

    fn begin_attempt(
        &self,
        sent: Vec<RecordId>,
        expired: Vec<(RecordId, String)>,
        now: EpochMillis,
    ) -> StoreFuture<'_, Option<Begun>> {
        self.run(move |db| db.begin_attempt(&sent, &expired, now))
    }

    fn settle(&self, attempt: AttemptId, change: RecordChange) -> StoreFuture<'_, ()> {
        self.run(move |db| db.settle(attempt, &change))
    }

    fn status(&self, id: RecordId) -> StoreFuture<'_, Option<Tracked>> {
        self.run(move |db| db.status(id))
    }

    fn next_to_poll(&self, now: EpochMillis) -> StoreFuture<'_, Option<(AttemptId, BatchId)>> {
        self.run(move |db| db.next_to_poll(now))
    }

    fn receivers(&self, attempt: AttemptId) -> StoreFuture<'_, Vec<(RecordId, String)>> {
        self.run(move |db| db.receivers(attempt))
    }

    fn record_deliveries(
        &self,
        attempt: AttemptId,
        pairing: Pairing<RecordId>,
        now: EpochMillis,
    ) -> StoreFuture<'_, ()> {
        self.run(move |db| db.record_deliveries(attempt, &pairing, now))
    }

    fn counts(&self) -> StoreFuture<'_, Vec<(RecordState, u64)>> {
        self.run(|db| db.counts())
    }

    fn purge(&self, before: EpochMillis) -> StoreFuture<'_, ()> {
        self.run(move |db| db.purge(before))
    }
}

struct Db {
    conn: Connection,
    /// This relay's number: how many times the store was opened, this time included. Records
    /// of an earlier number were left by a relay that stopped.
    me: i64,
    /// Whether this relay took over what the last one left: once is all there is, since no
    /// other relay can open the file meanwhile.
    taken_over: bool,
}

/// The layout this build writes. 1: before records had an owner (read and migrated).
const SCHEMA_VERSION: i64 = 2;

impl Db {
    fn open(path: &Path) -> Result<Db, Error> {
        let conn = Connection::open(path).map_err(Error::store("open the store"))?;
        conn.busy_timeout(std::time::Duration::ZERO)
            .map_err(Error::store("configure the store"))?;
        // Exclusive locking first: with it, WAL needs no shared memory, and the schema's
        // write below (it counts the opens) takes the lock and holds it until the relay exits.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .and_then(|()| {
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| {
                    row.get::<_, String>(0)
                })
            })
            .and_then(|_| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| conn.execute_batch("BEGIN IMMEDIATE"))
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    Error::StoreInUse {
                        path: path.to_path_buf(),
                    }
                }
                _ => Error::store("prepare the store")(e),
            })?;
        let me = migrate(&conn).inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        })?;
        conn.execute_batch("COMMIT")
            .map_err(Error::store("prepare the store"))?;
        Ok(Db {
            conn,
            me,
            taken_over: false,
        })
    }

    /// Takes over what a relay that stopped left: records in flight as `change` says, then
    /// every queued record not this relay's.
    fn take_over(&mut self, change: &RecordChange) -> Result<TakenOver, Error> {
        if self.taken_over {
            return Ok(TakenOver::default());
        }
        let context = "take over the records left";
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store(context))?;
        let moved = change_in_flight(&tx, None, change, self.me).map_err(Error::store(context))?;
        let mut queued = tx
            .prepare(
                "UPDATE records SET owner = ?1 WHERE state = ?2 AND owner IS NOT ?1 \
                 RETURNING id, received_at, record",
            )
            .and_then(|mut statement| {
                statement
                    .query_map(
                        params![self.me, columns::state(RecordState::Queued)],
                        |row| {
                            Ok(Stored {
                                id: RecordId::new(row.get(0)?),
                                received_at: epoch(row.get(1)?),
                                record: row.get(2)?,
                            })
                        },
                    )?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(Error::store(context))?;
        tx.commit().map_err(Error::store(context))?;
        self.taken_over = true;
        queued.sort_by_key(|stored| stored.id);
        Ok(TakenOver {
            recovered: Recovered::of(change, moved),
            queued,
        })
    }

    /// Gives this relay's queued records back.
    fn leave(&mut self) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE records SET owner = NULL WHERE owner = ?1 AND state = ?2",
                params![self.me, columns::state(RecordState::Queued)],
            )
            .map(drop)
            .map_err(Error::store("give the queue back"))
    }

    /// Rewrites the one row of `opened` as it is: a page written and synced like any commit.
    fn probe(&mut self) -> Result<(), Error> {
        self.conn
            .execute("UPDATE opened SET times = times WHERE id = 1", [])
            .map(drop)
            .map_err(Error::store("write to the store"))
    }

    /// Commits every post in one transaction (one fsync for all of them): the group commit.
    fn commit_posts(&mut self, posts: &[Post], now: EpochMillis) -> Result<Vec<Committed>, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store("begin a commit"))?;
        let mut committed = Vec::with_capacity(posts.len());
        for post in posts {
            committed
                .push(commit_post(&tx, post, now, self.me).map_err(Error::store("queue a post"))?);
        }
        tx.commit().map_err(Error::store("commit posts"))?;
        Ok(committed)
    }

    /// Moves the records in flight of `attempt` as `change` says.
    fn settle(&mut self, attempt: AttemptId, change: &RecordChange) -> Result<(), Error> {
        let context = "record a batch's outcome";
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store(context))?;
        change_in_flight(&tx, Some(attempt), change, self.me).map_err(Error::store(context))?;
        tx.commit().map_err(Error::store(context))
    }

    /// Moves the records named, each with its own message, as `change` says.
    fn change(
        &mut self,
        records: &[(RecordId, String)],
        change: &RecordChange,
    ) -> Result<(), Error> {
        let context = "change records";
        let tx = self.conn.transaction().map_err(Error::store(context))?;
        for (id, message) in records {
            tx.execute(
                "UPDATE records SET state = ?2, code = ?3, message = ?4 WHERE id = ?1",
                params![
                    id.get(),
                    columns::state(change.state),
                    change.code.as_ref().map(columns::code),
                    message
                ],
            )
            .map_err(Error::store(context))?;
        }
        tx.commit().map_err(Error::store(context))
    }

    fn begin_attempt(
        &mut self,
        sent: &[RecordId],
        expired: &[(RecordId, String)],
        now: EpochMillis,
    ) -> Result<Option<Begun>, Error> {
        let context = "begin a batch";
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store(context))?;
        reject_expired(&tx, expired, self.me).map_err(Error::store("reject an expired record"))?;
        let queued = columns::state(RecordState::Queued);
        let begun = if sent.is_empty() {
            None
        } else {
            tx.execute(
                "INSERT INTO attempts (started_at) VALUES (?1)",
                [now.as_i64()],
            )
            .map_err(Error::store(context))?;
            let attempt = tx.last_insert_rowid();
            let mut update = tx
                .prepare(
                    "UPDATE records SET state = ?3, attempt = ?2 \
                     WHERE id = ?1 AND state = ?4 AND owner = ?5",
                )
                .map_err(Error::store(context))?;
            let in_flight = columns::state(RecordState::InFlight);
            let mut moved = Vec::with_capacity(sent.len());
            for id in sent {
                let changed = update
                    .execute(params![id.get(), attempt, in_flight, queued, self.me])
                    .map_err(Error::store(context))?;
                if changed == 1 {
                    moved.push(*id);
                }
            }
            (!moved.is_empty()).then_some(Begun {
                attempt: AttemptId(attempt),
                sent: moved,
            })
        };
        tx.commit().map_err(Error::store(context))?;
        Ok(begun)
    }

    fn status(&self, id: RecordId) -> Result<Option<Tracked>, Error> {
        self.conn
            .query_row(
                "SELECT received_at, external_id, state, batch_id, code, message, \
                 possibly_duplicated, delivery, delivery_message, tag, producer \
                 FROM records WHERE id = ?1",
                [id.get()],
                |row| {
                    let state: String = row.get(2)?;
                    let batch_id: Option<String> = row.get(3)?;
                    let code: Option<String> = row.get(4)?;
                    let delivery: Option<String> = row.get(7)?;
                    let producer: Option<String> = row.get(10)?;
                    let record = TrackedRecord {
                        id: RecordId::from_columns(id.get(), row.get(9)?),
                        // Only this store writes the column, through the same mapping.
                        state: columns::state_of(&state).unwrap_or(RecordState::Unknown),
                        received_at: epoch(row.get(0)?).to_rfc3339(),
                        external_id: row.get(1)?,
                        batch_id: batch_id.and_then(|b| b.parse().ok()),
                        code: code.as_deref().map(columns::code_of),
                        message: row.get(5)?,
                        possibly_duplicated: row.get(6)?,
                        delivery: delivery
                            .as_deref()
                            .map(tc_core::wire::DeliveryStatus::parse),
                        delivery_message: row.get(8)?,
                    };
                    Ok(Tracked {
                        record,
                        producer: producer.map(Producer::stored),
                    })
                },
            )
            .optional()
            .map_err(Error::store("read a record's status"))
    }

    /// Claims the batch awaiting delivery that was asked least recently.
    fn next_to_poll(&mut self, now: EpochMillis) -> Result<Option<(AttemptId, BatchId)>, Error> {
        let context = "read the batches awaiting delivery";
        let tx = self.conn.transaction().map_err(Error::store(context))?;
        let mut next = tx
            .prepare(
                "SELECT attempt, batch_id FROM attempts WHERE batch_id IS NOT NULL AND \
                 delivery_settled = 0 ORDER BY polled_at, attempt LIMIT 16",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| {
                        Ok((AttemptId(row.get(0)?), row.get::<_, String>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(Error::store(context))?
            .into_iter()
            // A batch id the store cannot have written is passed over rather than failing
            // the rest.
            .filter_map(|(attempt, id)| Some((attempt, id.parse::<BatchId>().ok()?)));
        let claimed = next.next();
        if let Some((attempt, _)) = &claimed {
            tx.execute(
                "UPDATE attempts SET polled_at = ?2 WHERE attempt = ?1",
                params![attempt.0, now.as_i64()],
            )
            .map_err(Error::store(context))?;
        }
        tx.commit().map_err(Error::store(context))?;
        Ok(claimed)
    }

    /// The accepted records of an attempt, with their receivers (E.164).
    fn receivers(&self, attempt: AttemptId) -> Result<Vec<(RecordId, String)>, Error> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, receiver FROM records WHERE attempt = ?1 AND state = ?2 ORDER BY id",
            )
            .map_err(Error::store("read a batch's records"))?;
        let rows = statement
            .query_map(
                params![attempt.0, columns::state(RecordState::Accepted)],
                |row| Ok((RecordId::new(row.get(0)?), row.get(1)?)),
            )
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(Error::store("read a batch's records"))?;
        Ok(rows)
    }

    fn record_deliveries(
        &mut self,
        attempt: AttemptId,
        pairing: &Pairing<RecordId>,
        now: EpochMillis,
    ) -> Result<(), Error> {
        let context = "record deliveries";
        let tx = self.conn.transaction().map_err(Error::store(context))?;
        for paired in &pairing.paired {
            tx.execute(
                "UPDATE records SET delivery = ?2, delivery_message = ?3 WHERE id = ?1",
                params![paired.key.get(), paired.status.as_str(), paired.message],
            )
            .map_err(Error::store(context))?;
        }
        tx.execute(
            "UPDATE attempts SET delivery_settled = ?2, polled_at = ?3 WHERE attempt = ?1",
            params![attempt.0, pairing.is_settled(), now.as_i64()],
        )
        .map_err(Error::store(context))?;
        tx.commit().map_err(Error::store(context))
    }

    fn counts(&self) -> Result<Vec<(RecordState, u64)>, Error> {
        let mut statement = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM records GROUP BY state")
            .map_err(Error::store("count records"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(Error::store("count records"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(state, n)| Some((columns::state_of(&state)?, n as u64)))
            .collect())
    }

    fn purge(&mut self, before: EpochMillis) -> Result<(), Error> {
        let context = "purge old keys";
        let [rejected, failed, unknown] = columns::FORGETTABLE.map(columns::state);
        let tx = self.conn.transaction().map_err(Error::store(context))?;
        tx.execute(
            "DELETE FROM idempotency_keys WHERE received_at < ?1",
            [before.as_i64()],
        )
        .and_then(|_| {
            tx.execute(
                "UPDATE records SET external_id = NULL WHERE received_at < ?1 AND external_id \
                 IS NOT NULL",
                [before.as_i64()],
            )
        })
        .and_then(|_| {
            tx.execute(
                "DELETE FROM records WHERE received_at < ?1 AND (state IN (?2, ?3, ?4) OR \
                 (state = ?5 AND delivery IS NOT NULL))",
                params![
                    before.as_i64(),
                    rejected,
                    failed,
                    unknown,
                    columns::state(RecordState::Accepted)
                ],
            )
        })
        .map_err(Error::store(context))?;
        tx.commit().map_err(Error::store(context))
    }
}

fn commit_post(
    tx: &rusqlite::Transaction<'_>,
    post: &Post,
    now: EpochMillis,
    me: i64,
) -> rusqlite::Result<Committed> {
    if let Some(reply) = replayed(tx, post.idempotency_key.as_ref())? {
        return Ok(Committed {
            reply,
            queued: Vec::new(),
        });
    }
    let mut accepted = Vec::with_capacity(post.records.len());
    let mut queued = Vec::with_capacity(post.records.len());
    for new in &post.records {
        let (answer, newly) = queue_record(tx, new, now, me, post.producer.as_ref())?;
        accepted.push(answer);
        queued.extend(newly);
    }
    let answer = PostAnswer {
        accepted,
        problems: post.problems.clone(),
        ignored_keys: post.ignored_keys.clone(),
        replayed: false,
    };
    if let Some(key) = &post.idempotency_key {
        let text = serde_json::to_string(&answer)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        // A key whose earlier answer cannot be read is answered anew, and keeps the new one.
        tx.execute(
            "INSERT OR REPLACE INTO idempotency_keys (key, received_at, answer, digest) \
             VALUES (?1, ?2, ?3, ?4)",
            params![key.key, now.as_i64(), text, key.body.as_str()],
        )?;
    }
    Ok(Committed {
        reply: Reply::Answer(answer),
        queued,
    })
}

/// The reply an earlier post with the same `Idempotency-Key` decides, if there was one.
fn replayed(
    tx: &rusqlite::Transaction<'_>,
    key: Option<&IdempotencyKey>,
) -> rusqlite::Result<Option<Reply>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let earlier = tx
        .query_row(
            "SELECT answer, digest FROM idempotency_keys WHERE key = ?1",
            [&key.key],
            |row| {
                let answer: String = row.get(0)?;
                Ok(EarlierPost {
                    answer: serde_json::from_str(&answer).ok(),
                    body: row.get::<_, Option<String>>(1)?.map(BodyDigest::stored),
                })
            },
        )
        .optional()?;
    Ok(earlier.and_then(|earlier| earlier.reply_to(key)))
}

/// Queues one record, unless a record with its `external_id` is queued already: its answer,
/// and the record with its new id when it was queued.
fn queue_record(
    tx: &rusqlite::Transaction<'_>,
    new: &NewRecord,
    now: EpochMillis,
    me: i64,
    producer: Option<&Producer>,
) -> rusqlite::Result<(Accepted, Option<(RecordId, CallRecord)>)> {
    let earlier: Option<RecordId> = match &new.external_id {
        Some(external_id) => tx
            .query_row(
                "SELECT id, tag FROM records WHERE external_id = ?1",
                [external_id],
                |row| Ok(RecordId::from_columns(row.get(0)?, row.get(1)?)),
            )
            .optional()?,
        None => None,
    };
    if let Some(id) = earlier {
        let answer = Accepted {
            record: new.number,
            id,
            deduplicated: true,
        };
        return Ok((answer, None));
    }
    let wire = serde_json::to_string(&new.record.to_wire(NumberFormat::E164))
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let tag = RecordId::new_tag_column();
    tx.execute(
        "INSERT INTO records \
         (received_at, external_id, record, receiver, state, owner, tag, producer) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            now.as_i64(),
            new.external_id,
            wire,
            new.record.receiver_number().as_str(),
            columns::state(RecordState::Queued),
            me,
            tag,
            producer.map(Producer::as_str)
        ],
    )?;
    let id = RecordId::from_columns(tx.last_insert_rowid(), Some(tag));
    let answer = Accepted {
        record: new.number,
        id,
        deduplicated: false,
    };
    Ok((answer, Some((id, new.record.clone()))))
}

/// A time the store wrote; one it cannot have written reads as the earliest time a record can
/// hold rather than failing the whole read.
fn epoch(ms: i64) -> EpochMillis {
    EpochMillis::try_from(ms).unwrap_or(EpochMillis::MIN)
}

/// Rejects the records whose window closed before their batch left (`window_expired`), those
/// still queued and `me`'s.
fn reject_expired(
    tx: &rusqlite::Transaction<'_>,
    expired: &[(RecordId, String)],
    me: i64,
) -> rusqlite::Result<()> {
    let window_expired = columns::code(&tc_engine::ReportCode::Rule(tc_core::Code::WindowExpired));
    for (id, message) in expired {
        tx.execute(
            "UPDATE records SET state = ?2, code = ?3, message = ?4 \
             WHERE id = ?1 AND state = ?5 AND owner = ?6",
            params![
                id.get(),
                columns::state(RecordState::Rejected),
                window_expired,
                message,
                columns::state(RecordState::Queued),
                me
            ],
        )?;
    }
    Ok(())
}

/// Creates or migrates the tables, checks the layout's version, and counts this open: the
/// relay's number.
fn migrate(conn: &Connection) -> Result<i64, Error> {
    let context = "prepare the store";
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(Error::store(context))?;
    if version > SCHEMA_VERSION {
        return Err(Error::StoreSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    conn.execute_batch(SCHEMA).map_err(Error::store(context))?;
    if !has_column(conn, "records", "owner")? {
        // A store of the first layout: its records belong to no relay, so the first
        // take-over claims them.
        conn.execute_batch("ALTER TABLE records ADD COLUMN owner INTEGER")
            .map_err(Error::store(context))?;
    }
    if !has_column(conn, "records", "tag")? {
        // Records queued before ids had tags keep untagged ids.
        conn.execute_batch("ALTER TABLE records ADD COLUMN tag INTEGER")
            .map_err(Error::store(context))?;
    }
    if !has_column(conn, "records", "producer")? {
        // Records posted before producers were kept: readable by every producer.
        conn.execute_batch("ALTER TABLE records ADD COLUMN producer TEXT")
            .map_err(Error::store(context))?;
    }
    if !has_column(conn, "idempotency_keys", "digest")? {
        // Keys kept before digests were: their posts are replayed whatever the body.
        conn.execute_batch("ALTER TABLE idempotency_keys ADD COLUMN digest TEXT")
            .map_err(Error::store(context))?;
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(Error::store(context))?;
    conn.query_row(
        "INSERT INTO opened (id, times) VALUES (1, 1) \
         ON CONFLICT (id) DO UPDATE SET times = times + 1 RETURNING times",
        [],
        |row| row.get(0),
    )
    .map_err(Error::store(context))
}

/// Whether `table` has `column`: a store of an earlier layout may not.
fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, Error> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |row| row.get(0),
    )
    .map_err(Error::store("prepare the store"))
}

/// Moves the records in flight (of `attempt`, or else those not `me`'s) as `change` says; how
/// many moved.
fn change_in_flight(
    tx: &rusqlite::Transaction<'_>,
    attempt: Option<AttemptId>,
    change: &RecordChange,
    me: i64,
) -> rusqlite::Result<u64> {
    let requeued = change.state == RecordState::Queued;
    let changed = tx.execute(
        "UPDATE records SET state = CASE WHEN possibly_duplicated THEN ?9 ELSE ?2 END, \
         attempt = CASE WHEN ?7 THEN NULL ELSE attempt END, \
         batch_id = COALESCE(?3, batch_id), code = ?4, message = ?5, \
         possibly_duplicated = MAX(possibly_duplicated, ?6) \
         WHERE state = ?8 AND (attempt = ?1 OR (?1 IS NULL AND owner IS NOT ?10))",
        params![
            attempt.map(|a| a.0),
            columns::state(change.state),
            change.batch_id.as_ref().map(BatchId::as_str),
            change.code.as_ref().map(columns::code),
            change.message,
            change.possibly_duplicated,
            requeued,
            columns::state(RecordState::InFlight),
            columns::state(change.state_if_possibly_duplicated),
            me,
        ],
    )?;
    // An attempt whose records were taken back (a restart, a lapsed lease) owns nothing:
    // it gets no batch id, so delivery polling never asks about it.
    if let (Some(attempt), Some(batch_id), true) = (attempt, &change.batch_id, changed > 0) {
        tx.execute(
            "UPDATE attempts SET batch_id = ?2 WHERE attempt = ?1",
            params![attempt.0, batch_id.as_str()],
        )?;
    }
    Ok(changed as u64)
}
