//! The queue on disk: one SQLite database in WAL mode with `synchronous = FULL`, so a commit is
//! on disk (the WAL fsynced) before the relay acknowledges anything, and a `kill -9` or a power
//! cut after the answer loses nothing. Every call here blocks: the relay runs them on tokio's
//! blocking pool.
//!
//! One relay at a time owns a store: it is opened in exclusive locking mode, and a second
//! relay on the same file is refused at start.

use crate::error::Error;
use crate::intake::Problem;
use crate::status::{RecordId, RecordState, RecordStatus};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tc_core::{CallRecord, EpochMillis, NumberFormat};
use tc_push::Guarantee;

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
    delivery_message TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS records_by_external_id ON records(external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_by_state ON records(state);
CREATE INDEX IF NOT EXISTS records_by_attempt ON records(attempt);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL,
    answer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS opened (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    times INTEGER NOT NULL
);
INSERT INTO opened (id, times) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET times = times + 1;
CREATE TABLE IF NOT EXISTS attempts (
    attempt INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    batch_id TEXT,
    delivery_settled INTEGER NOT NULL DEFAULT 0,
    polled_at INTEGER NOT NULL DEFAULT 0
);
";

/// A valid record of a post, on its way into the store.
#[derive(Debug, Clone)]
pub(crate) struct NewRecord {
    /// Its place in the post, from 1.
    pub number: usize,
    pub record: CallRecord,
    pub external_id: Option<String>,
}

/// One post for the group commit.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    pub idempotency_key: Option<String>,
    pub records: Vec<NewRecord>,
    pub problems: Vec<Problem>,
    pub ignored_keys: Vec<String>,
}

/// The answer to a post: what was queued under which id, and what was wrong with the rest.
/// Stored with the post's `Idempotency-Key`, so a retried post gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct PostAnswer {
    pub accepted: Vec<Accepted>,
    pub problems: Vec<Problem>,
    /// Keys of the records that name no field and were ignored.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ignored_keys: Vec<String>,
    /// This is the stored answer of an earlier post with the same `Idempotency-Key`: nothing
    /// was queued this time.
    #[serde(default)]
    pub replayed: bool,
}

/// A record of a post that is durably queued (or was already, under its external id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct Accepted {
    /// Its place in the post, from 1.
    pub record: usize,
    #[schema(value_type = String, example = "r17")]
    pub id: RecordId,
    /// An earlier post queued a record with the same `external_id`: this one was not queued
    /// again, and `id` is the earlier record's.
    pub deduplicated: bool,
}

/// What a commit of one post did: the answer, and the records it newly queued.
#[derive(Debug)]
pub(crate) struct Committed {
    pub answer: PostAnswer,
    pub queued: Vec<(RecordId, CallRecord)>,
}

/// A queued record read back from the store.
#[derive(Debug)]
pub(crate) struct Stored {
    pub id: RecordId,
    pub received_at: EpochMillis,
    pub record: String,
}

/// How a batch attempt ended, for its records.
#[derive(Debug, Clone)]
pub(crate) enum Settle {
    Sent {
        batch_id: String,
        possibly_duplicated: bool,
    },
    /// Back to the queue; `possibly_stored` flags the records possibly duplicated.
    Requeued {
        possibly_stored: bool,
    },
    Failed {
        code: String,
        message: String,
    },
    Unknown {
        message: String,
    },
}

/// What resuming a store did with the batches that were in flight when the relay stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resumed {
    /// Records queued again and flagged possibly duplicated (at least once).
    pub requeued: u64,
    /// Records marked unknown (at most once).
    pub unknown: u64,
}

pub(crate) struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and takes its lock.
    pub fn open(path: &Path) -> Result<Store, Error> {
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
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    Error::StoreInUse {
                        path: path.to_path_buf(),
                    }
                }
                _ => Error::store("prepare the store")(e),
            })?;
        Ok(Store { conn })
    }

    /// Commits every post in one transaction (one fsync for all of them): the group commit.
    pub fn commit_posts(
        &mut self,
        posts: &[Post],
        now: EpochMillis,
    ) -> Result<Vec<Committed>, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store("begin a commit"))?;
        let mut committed = Vec::with_capacity(posts.len());
        for post in posts {
            committed.push(commit_post(&tx, post, now).map_err(Error::store("queue a post"))?);
        }
        tx.commit().map_err(Error::store("commit posts"))?;
        Ok(committed)
    }

    /// Applies tc-push's rule for unknown outcomes to the batches in flight when the relay
    /// stopped: at least once, their records are queued again, flagged possibly duplicated; at
    /// most once, they are marked unknown.
    pub fn resume(&mut self, guarantee: Guarantee) -> Result<Resumed, Error> {
        let sql = match guarantee {
            Guarantee::AtMostOnce => {
                "UPDATE records SET state = 'unknown', code = 'outcome_unknown', message = \
                 'the relay stopped while this record''s batch awaited its answer; at most once, \
                 it is not sent again' WHERE state = 'in_flight'"
            }
            _ => {
                "UPDATE records SET state = 'queued', attempt = NULL, possibly_duplicated = 1 \
                 WHERE state = 'in_flight'"
            }
        };
        let changed = self
            .conn
            .execute(sql, [])
            .map_err(Error::store("resume batches in flight"))? as u64;
        Ok(match guarantee {
            Guarantee::AtMostOnce => Resumed {
                unknown: changed,
                ..Resumed::default()
            },
            _ => Resumed {
                requeued: changed,
                ..Resumed::default()
            },
        })
    }

    /// Every queued record, oldest first.
    pub fn queued(&self) -> Result<Vec<Stored>, Error> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, received_at, record FROM records WHERE state = 'queued' ORDER BY id",
            )
            .map_err(Error::store("read the queue"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(Stored {
                    id: RecordId::new(row.get(0)?),
                    received_at: epoch(row.get(1)?),
                    record: row.get(2)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(Error::store("read the queue"))?;
        Ok(rows)
    }

    /// Marks records that can no longer be read back failed, with the reason.
    pub fn fail_unreadable(&mut self, records: &[(RecordId, String)]) -> Result<(), Error> {
        let context = "mark unreadable records failed";
        let tx = self.conn.transaction().map_err(Error::store(context))?;
        for (id, reason) in records {
            tx.execute(
                "UPDATE records SET state = 'failed', code = 'record_unreadable', message = ?2 \
                 WHERE id = ?1",
                params![id.get(), reason],
            )
            .map_err(Error::store(context))?;
        }
        tx.commit().map_err(Error::store(context))
    }

    /// Marks `sent` in flight under a new attempt, and `expired` rejected, synced before the
    /// request leaves. Returns the attempt's number.
    pub fn begin_attempt(
        &mut self,
        sent: &[RecordId],
        expired: &[(RecordId, String)],
        now: EpochMillis,
    ) -> Result<Option<i64>, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store("begin a batch"))?;
        for (id, message) in expired {
            tx.execute(
                "UPDATE records SET state = 'rejected', code = 'window_expired', message = ?2 \
                 WHERE id = ?1",
                params![id.get(), message],
            )
            .map_err(Error::store("reject an expired record"))?;
        }
        let attempt = if sent.is_empty() {
            None
        } else {
            tx.execute(
                "INSERT INTO attempts (started_at) VALUES (?1)",
                [now.as_i64()],
            )
            .map_err(Error::store("begin a batch"))?;
            let attempt = tx.last_insert_rowid();
            let mut update = tx
                .prepare("UPDATE records SET state = 'in_flight', attempt = ?2 WHERE id = ?1")
                .map_err(Error::store("begin a batch"))?;
            for id in sent {
                update
                    .execute(params![id.get(), attempt])
                    .map_err(Error::store("begin a batch"))?;
            }
            Some(attempt)
        };
        tx.commit().map_err(Error::store("begin a batch"))?;
        Ok(attempt)
    }

    /// Records how attempt `attempt` ended, for every record it carried.
    pub fn settle(&mut self, attempt: i64, settle: &Settle) -> Result<(), Error> {
        let context = "record a batch's outcome";
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store(context))?;
        match settle {
            Settle::Sent {
                batch_id,
                possibly_duplicated,
            } => tx
                .execute(
                    "UPDATE attempts SET batch_id = ?2 WHERE attempt = ?1",
                    params![attempt, batch_id],
                )
                .and_then(|_| {
                    tx.execute(
                        "UPDATE records SET state = 'sent', batch_id = ?2, possibly_duplicated = \
                         MAX(possibly_duplicated, ?3) WHERE attempt = ?1 AND state = 'in_flight'",
                        params![attempt, batch_id, *possibly_duplicated],
                    )
                }),
            Settle::Requeued { possibly_stored } => tx.execute(
                "UPDATE records SET state = 'queued', attempt = NULL, possibly_duplicated = \
                 MAX(possibly_duplicated, ?2) WHERE attempt = ?1 AND state = 'in_flight'",
                params![attempt, *possibly_stored],
            ),
            Settle::Failed { code, message } => tx.execute(
                "UPDATE records SET state = 'failed', code = ?2, message = ?3 \
                 WHERE attempt = ?1 AND state = 'in_flight'",
                params![attempt, code, message],
            ),
            Settle::Unknown { message } => tx.execute(
                "UPDATE records SET state = 'unknown', code = 'outcome_unknown', message = ?2 \
                 WHERE attempt = ?1 AND state = 'in_flight'",
                params![attempt, message],
            ),
        }
        .map_err(Error::store(context))?;
        tx.commit().map_err(Error::store(context))
    }

    pub fn status(&self, id: RecordId) -> Result<Option<RecordStatus>, Error> {
        self.conn
            .query_row(
                "SELECT received_at, external_id, state, batch_id, code, message, \
                 possibly_duplicated, delivery, delivery_message FROM records WHERE id = ?1",
                [id.get()],
                |row| {
                    let state: String = row.get(2)?;
                    Ok(RecordStatus {
                        id,
                        state: state.parse().unwrap_or(RecordState::Unknown),
                        received_at: epoch(row.get(0)?).to_rfc3339(),
                        external_id: row.get(1)?,
                        batch_id: row.get(3)?,
                        code: row.get(4)?,
                        message: row.get(5)?,
                        possibly_duplicated: row.get(6)?,
                        delivery: row.get(7)?,
                        delivery_message: row.get(8)?,
                    })
                },
            )
            .optional()
            .map_err(Error::store("read a record's status"))
    }

    /// Sent batches whose deliveries are not all settled, oldest first: (attempt, batch id).
    pub fn awaiting_delivery(&self, limit: usize) -> Result<Vec<(i64, String)>, Error> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT attempt, batch_id FROM attempts WHERE batch_id IS NOT NULL AND \
                 delivery_settled = 0 ORDER BY polled_at, attempt LIMIT ?1",
            )
            .map_err(Error::store("read the batches awaiting delivery"))?;
        let rows = statement
            .query_map([limit as i64], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(Error::store("read the batches awaiting delivery"))?;
        Ok(rows)
    }

    /// The records an attempt sent, with their receivers (E.164).
    pub fn receivers(&self, attempt: i64) -> Result<Vec<(RecordId, String)>, Error> {
        let mut statement = self
            .conn
            .prepare("SELECT id, receiver FROM records WHERE attempt = ?1 AND state = 'sent' ORDER BY id")
            .map_err(Error::store("read a batch's records"))?;
        let rows = statement
            .query_map([attempt], |row| {
                Ok((RecordId::new(row.get(0)?), row.get(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(Error::store("read a batch's records"))?;
        Ok(rows)
    }

    /// Writes the deliveries of an attempt's records; `settled` closes the attempt's polling.
    pub fn record_deliveries(
        &mut self,
        attempt: i64,
        deliveries: &[(RecordId, String, Option<String>)],
        settled: bool,
        now: EpochMillis,
    ) -> Result<(), Error> {
        let context = "record deliveries";
        let tx = self.conn.transaction().map_err(Error::store(context))?;
        for (id, delivery, message) in deliveries {
            tx.execute(
                "UPDATE records SET delivery = ?2, delivery_message = ?3 WHERE id = ?1",
                params![id.get(), delivery, message],
            )
            .map_err(Error::store(context))?;
        }
        tx.execute(
            "UPDATE attempts SET delivery_settled = ?2, polled_at = ?3 WHERE attempt = ?1",
            params![attempt, settled, now.as_i64()],
        )
        .map_err(Error::store(context))?;
        tx.commit().map_err(Error::store(context))
    }

    /// Records per state.
    pub fn counts(&self) -> Result<Vec<(RecordState, u64)>, Error> {
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
            .filter_map(|(state, n)| Some((state.parse().ok()?, n as u64)))
            .collect())
    }

    /// Forgets idempotency keys and external ids older than `before`, and the records that
    /// were settled before it, with their delivery known or never to be.
    pub fn purge(&mut self, before: EpochMillis) -> Result<(), Error> {
        let context = "purge old keys";
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
                "DELETE FROM records WHERE received_at < ?1 AND (state IN ('rejected', \
                 'failed', 'unknown') OR (state = 'sent' AND delivery IS NOT NULL))",
                [before.as_i64()],
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
) -> rusqlite::Result<Committed> {
    if let Some(key) = &post.idempotency_key {
        let earlier: Option<String> = tx
            .query_row(
                "SELECT answer FROM idempotency_keys WHERE key = ?1",
                [key],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(answer) = earlier.and_then(|a| serde_json::from_str::<PostAnswer>(&a).ok()) {
            return Ok(Committed {
                answer: PostAnswer {
                    replayed: true,
                    ..answer
                },
                queued: Vec::new(),
            });
        }
    }
    let mut accepted = Vec::with_capacity(post.records.len());
    let mut queued = Vec::with_capacity(post.records.len());
    for new in &post.records {
        let earlier: Option<i64> = match &new.external_id {
            Some(external_id) => tx
                .query_row(
                    "SELECT id FROM records WHERE external_id = ?1",
                    [external_id],
                    |row| row.get(0),
                )
                .optional()?,
            None => None,
        };
        if let Some(id) = earlier {
            accepted.push(Accepted {
                record: new.number,
                id: RecordId::new(id),
                deduplicated: true,
            });
            continue;
        }
        let wire = serde_json::to_string(&new.record.to_wire(NumberFormat::E164))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        tx.execute(
            "INSERT INTO records (received_at, external_id, record, receiver, state) \
             VALUES (?1, ?2, ?3, ?4, 'queued')",
            params![
                now.as_i64(),
                new.external_id,
                wire,
                new.record.receiver_number().as_str()
            ],
        )?;
        let id = RecordId::new(tx.last_insert_rowid());
        accepted.push(Accepted {
            record: new.number,
            id,
            deduplicated: false,
        });
        queued.push((id, new.record.clone()));
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
        tx.execute(
            "INSERT INTO idempotency_keys (key, received_at, answer) VALUES (?1, ?2, ?3)",
            params![key, now.as_i64(), text],
        )?;
    }
    Ok(Committed { answer, queued })
}

/// A time the store wrote; one it cannot have written reads as the earliest time a record can
/// hold rather than failing the whole read.
fn epoch(ms: i64) -> EpochMillis {
    EpochMillis::try_from(ms).unwrap_or(EpochMillis::MIN)
}
