//! The writer thread of a [`SqliteStore`]: it owns the only writing
//! connection and folds every request waiting in its channel (up to
//! [`MAX_GROUP`]) into one transaction (group commit); a request is
//! answered only after its transaction has committed. Global positions are
//! assigned here, inside the write transaction, from the stored head
//! counter.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use tokio::sync::{oneshot, watch};

use super::read::{read_head, stream_row, stream_version};
use super::{SqliteStore, is_busy, sql};
use crate::envelope::{NewEvent, StreamId};
use crate::snapshot::Snapshot;
use crate::store::columns::{input_i64, stored_metadata, to_u64, upper_bound};
use crate::store::{
    AppendResult, DeleteMode, ExpectedVersion, StoreError, StoredEventId, idempotent_outcome,
};

/// The most requests the writer folds into one transaction.
const MAX_GROUP: usize = 1024;

/// A write request for the writer thread.
pub(super) struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// What to write.
pub(super) enum Op {
    Append {
        stream: StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    },
    Delete {
        stream: StreamId,
        mode: DeleteMode,
    },
    DeleteBefore {
        stream: StreamId,
        before: u64,
    },
    SaveSnapshot(Snapshot),
    PruneSnapshots {
        stream: StreamId,
        keep: usize,
    },
    DeleteSnapshots {
        stream: StreamId,
    },
}

/// The writer's answer to an [`Op`].
pub(super) enum Done {
    Append(AppendResult),
    Unit,
    Count(u64),
}

/// Starts the writer thread on `conn`; it stops once every sender of the
/// returned channel is gone and it has answered every request sent.
pub(super) fn start(
    conn: Connection,
    head: Arc<watch::Sender<u64>>,
) -> Result<(mpsc::Sender<Job>, JoinHandle<()>), StoreError> {
    let (tx, rx) = mpsc::channel();
    let writer = std::thread::Builder::new()
        .name("eventfold-sqlite-writer".into())
        .spawn(move || writer_loop(conn, rx, &head))
        .map_err(|e| StoreError::backend("starting the SQLite writer thread", e))?;
    Ok((tx, writer))
}

impl SqliteStore {
    /// Sends a write request to the writer thread and waits for its answer,
    /// which comes after its transaction committed.
    pub(super) async fn write(&self, op: Op) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || {
            StoreError::backend(
                "writing to the SQLite store",
                "the writer thread has stopped",
            )
        };
        self.shared
            .jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(Job { op, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer answered a request with the answer of another kind (a bug).
pub(super) fn mismatched_answer() -> StoreError {
    StoreError::backend(
        "writing to the SQLite store",
        "the writer answered a request with the answer of another kind",
    )
}

fn writer_loop(mut conn: Connection, jobs: mpsc::Receiver<Job>, head: &watch::Sender<u64>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (replies, ops): (Vec<_>, Vec<_>) = group.into_iter().map(|j| (j.reply, j.op)).unzip();
        match run_group(&mut conn, ops) {
            Ok((answers, new_head)) => {
                head.send_if_modified(|h| {
                    let moved = *h != new_head;
                    *h = new_head;
                    moved
                });
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                // Nothing of the group was committed: every request fails
                // (none was acknowledged; a retry is safe by idempotency).
                let context = "committing to the SQLite store";
                let error = if is_busy(&e) {
                    StoreError::busy(context, e)
                } else {
                    StoreError::backend(context, e)
                };
                for reply in replies {
                    let _ = reply.send(Err(error.duplicate()));
                }
            }
        }
    }
}

/// Runs a group of requests in one transaction. Each request's refusal
/// (conflict, deleted stream...) is decided before it writes anything, so
/// refused requests leave no trace; a backend error aborts the whole group.
fn run_group(
    conn: &mut Connection,
    ops: Vec<Op>,
) -> Result<(Vec<Result<Done, StoreError>>, u64), rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let start = read_head(&tx)?;
    let mut head = start;
    let now = Utc::now();
    let mut answers = Vec::with_capacity(ops.len());
    for op in ops {
        let answer = match op {
            Op::Append {
                stream,
                expected,
                events,
            } => append(&tx, &mut head, now, &stream, expected, events).map(Done::Append),
            Op::Delete { stream, mode } => delete(&tx, &stream, mode).map(|()| Done::Unit),
            Op::DeleteBefore { stream, before } => {
                delete_before(&tx, &stream, before).map(Done::Count)
            }
            Op::SaveSnapshot(s) => save_snapshot(&tx, &s).map(|()| Done::Unit),
            Op::PruneSnapshots { stream, keep } => {
                prune_snapshots(&tx, &stream, keep).map(Done::Count)
            }
            Op::DeleteSnapshots { stream } => tx
                .prepare_cached(sql::DELETE_SNAPSHOTS)?
                .execute([stream.as_str()])
                .map(|_| Done::Unit)
                .map_err(Abort::Backend),
        };
        match answer {
            Ok(done) => answers.push(Ok(done)),
            Err(Abort::Refused(e)) => answers.push(Err(e)),
            Err(Abort::Backend(e)) => return Err(e),
        }
    }
    if head != start {
        // Every position was checked to fit when it was assigned.
        tx.prepare_cached(sql::SET_HEAD)?
            .execute([upper_bound(head)])?;
    }
    tx.commit()?;
    Ok((answers, head))
}

/// Why one request of a group did not complete.
enum Abort {
    /// Refused before writing anything: answer it, keep the group going.
    Refused(StoreError),
    /// The database failed: abort the group.
    Backend(rusqlite::Error),
}

impl From<rusqlite::Error> for Abort {
    fn from(e: rusqlite::Error) -> Self {
        Self::Backend(e)
    }
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Self {
        Self::Refused(e)
    }
}

/// The version and tombstone flag of a stream (`(0, false)`: never
/// written); a corrupted row refuses the request.
fn stream_state(tx: &Connection, stream: &StreamId) -> Result<(u64, bool), Abort> {
    match stream_row(tx, stream)? {
        Some((version, deleted)) => Ok((stream_version(stream, version)?, deleted)),
        None => Ok((0, false)),
    }
}

fn append(
    tx: &Connection,
    head: &mut u64,
    now: DateTime<Utc>,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<AppendResult, Abort> {
    let (current, deleted) = stream_state(tx, stream)?;
    if deleted {
        return Err(Abort::Refused(StoreError::StreamDeleted {
            stream: stream.clone(),
        }));
    }
    // Fast path: a single event whose expected version holds is inserted
    // straight away; only if the unique index says its id is stored already
    // is it looked up (then nothing of it was written). A batch of several
    // events is looked up first, so a refusal never leaves part of it.
    let fast = events.len() == 1 && expected.check(stream, current).is_ok();
    if !fast && let Some(done) = settle_by_lookup(tx, stream, expected, current, &events)? {
        return Ok(done);
    }
    if events.is_empty() {
        return Ok(AppendResult {
            first_version: current,
            next_expected_version: current,
            last_position: 0,
            written: false,
            recorded_at: None,
        });
    }
    // Checked before anything is written: the last version and position
    // fit, so every one before them does.
    let context = || format!("appending to stream `{stream}`");
    let n = events.len() as u64;
    let last_version = input_i64(context, "stream version", current.saturating_add(n))?;
    let last_position = input_i64(context, "global position", head.saturating_add(n))?;
    let metadata = events
        .iter()
        .map(|e| stored_metadata(stream, e))
        .collect::<Result<Vec<_>, _>>()?;
    let recorded_at = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let mut insert = tx.prepare_cached(sql::INSERT_EVENT)?;
    let mut version = last_version - n as i64;
    let mut position = last_position - n as i64;
    for (e, metadata) in events.iter().zip(metadata) {
        version += 1;
        position += 1;
        let inserted = insert.execute(rusqlite::params![
            position,
            stream.as_str(),
            version,
            e.event_id.as_bytes().as_slice(),
            e.event_type,
            e.schema_version,
            recorded_at,
            e.payload,
            metadata,
        ]);
        match inserted {
            Ok(_) => {}
            Err(err) if fast && is_duplicate_event_id(&err) => {
                drop(insert);
                return match settle_by_lookup(tx, stream, expected, current, &events)? {
                    Some(done) => Ok(done),
                    None => Err(Abort::Backend(err)),
                };
            }
            Err(err) => return Err(Abort::Backend(err)),
        }
    }
    tx.prepare_cached(sql::SET_STREAM_VERSION)?
        .execute(rusqlite::params![stream.as_str(), version])?;
    *head += n;
    Ok(AppendResult {
        first_version: current + 1,
        next_expected_version: current + n,
        last_position: *head,
        written: true,
        recorded_at: Some(DateTime::from_timestamp_nanos(recorded_at)),
    })
}

/// Looks the batch's event ids up and applies the idempotency rule, then
/// the expected version: `Some` answers the request without writing (the
/// batch is stored already), `None` lets it write; refusals are errors.
fn settle_by_lookup(
    tx: &Connection,
    stream: &StreamId,
    expected: ExpectedVersion,
    current: u64,
    events: &[NewEvent],
) -> Result<Option<AppendResult>, Abort> {
    let mut found = Vec::with_capacity(events.len());
    let mut lookup = tx.prepare_cached(sql::LOOKUP_ID)?;
    for e in events {
        let at = lookup
            .query_row([e.event_id.as_bytes().as_slice()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .optional()?;
        found.push(match at {
            None => None,
            Some((s, v, p)) => {
                let corrupted = |reason: String| StoreError::Corrupted {
                    stream: s.clone(),
                    version: to_u64("stream version", v).unwrap_or(0),
                    event_type: e.event_type.clone(),
                    position: to_u64("global position", p).ok(),
                    reason,
                };
                Some(StoredEventId {
                    stream: StreamId::new(s.clone())
                        .map_err(|e| corrupted(format!("the stored stream id is invalid: {e}")))?,
                    version: to_u64("stream version", v).map_err(|e| corrupted(e.to_string()))?,
                    position: to_u64("global position", p).map_err(|e| corrupted(e.to_string()))?,
                })
            }
        });
    }
    if let Some(done) = idempotent_outcome(stream, events, &found)? {
        return Ok(Some(done));
    }
    expected.check(stream, current)?;
    Ok(None)
}

/// Whether an insert failed on the unique index of `event_id`.
fn is_duplicate_event_id(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, Some(message))
            if f.code == ErrorCode::ConstraintViolation && message.contains("event_id")
    )
}

fn delete(tx: &Connection, stream: &StreamId, mode: DeleteMode) -> Result<(), Abort> {
    let sql = match mode {
        DeleteMode::Tombstone => sql::TOMBSTONE,
        DeleteMode::Hard => sql::HARD_DELETE,
    };
    tx.prepare_cached(sql)?.execute([stream.as_str()])?;
    Ok(())
}

/// Deletes the stream's events below version `before` (archiving behind a
/// snapshot); the stream's version stays.
fn delete_before(tx: &Connection, stream: &StreamId, before: u64) -> Result<u64, Abort> {
    if stream_state(tx, stream)?.1 {
        return Err(Abort::Refused(StoreError::StreamDeleted {
            stream: stream.clone(),
        }));
    }
    let n = tx
        .prepare_cached(sql::DELETE_BEFORE)?
        .execute(rusqlite::params![stream.as_str(), upper_bound(before)])?;
    Ok(n as u64)
}

fn save_snapshot(tx: &Connection, s: &Snapshot) -> Result<(), Abort> {
    let version = input_i64(
        || format!("saving a snapshot of stream `{}`", s.stream_id),
        "snapshot version",
        s.version,
    )?;
    tx.prepare_cached(sql::SAVE_SNAPSHOT)?
        .execute(rusqlite::params![
            s.stream_id.as_str(),
            version,
            s.aggregate_type,
            s.schema_version,
            s.taken_at.timestamp_nanos_opt().unwrap_or(i64::MAX),
            s.payload,
        ])?;
    Ok(())
}

fn prune_snapshots(tx: &Connection, stream: &StreamId, keep: usize) -> Result<u64, Abort> {
    let deleted = tx
        .prepare_cached(sql::PRUNE_SNAPSHOTS)?
        .execute(rusqlite::params![stream.as_str(), upper_bound(keep as u64)])?;
    Ok(deleted as u64)
}
