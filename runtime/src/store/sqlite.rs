//! [`SqliteStore`]: events and snapshots in one SQLite file (feature
//! `sqlite`, on by default). No server: a file next to the program.
//!
//! # How it works
//!
//! * **One writer thread** owns the only writing connection. Appends,
//!   deletes and snapshot writes are sent to it over a channel and answered
//!   through a oneshot channel. It folds every request waiting in the
//!   channel (up to 1024) into **one transaction** (group commit),
//!   so 64 concurrent single-event appends cost one commit, not 64. A
//!   request is answered only after its transaction has committed.
//! * **Global positions** are assigned by that thread, inside the write
//!   transaction, from a stored head counter (never from `max(position)`,
//!   which a hard delete could lower): one writer, in commit order, so they
//!   are strictly increasing in commit order and a reader can never see a
//!   lower position commit after a higher one.
//! * **Reads** run on a small pool of separate connections in blocking
//!   tasks; WAL mode lets them read a consistent snapshot while the writer
//!   commits.
//! * The **schema** is created and migrated on open, inside one
//!   transaction, and its version is kept in the `eventfold_schema` table; a
//!   file written by a newer eventfold is refused with
//!   [`StoreError::Open`] rather than misread.
//!
//! Open one file from one process at a time: the store caches nothing that
//! another writer could invalidate, but its subscriptions are woken by its
//! own commits only (others are noticed by polling, every half second).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::{
    AppendResult, DeleteMode, Direction, EventStore, ExpectedVersion, ReadStream, StoreError,
    StoredEventId, StreamInfo, check_batch, idempotent_outcome, stored_metadata,
};
use crate::envelope::{Metadata, NewEvent, RecordedEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};

mod stats;

/// The most requests the writer folds into one transaction.
const MAX_GROUP: usize = 1024;

/// How many idle reader connections the store keeps.
const IDLE_READERS: usize = 8;

/// The schema migrations, in order: migration `i` brings the schema from
/// version `i` to `i + 1`. Append only; never edit a released one.
const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE eventfold_streams (
         stream_id TEXT PRIMARY KEY NOT NULL,
         version   INTEGER NOT NULL,
         deleted   INTEGER NOT NULL DEFAULT 0
     ) WITHOUT ROWID;
     CREATE TABLE eventfold_events (
         position       INTEGER PRIMARY KEY,
         stream_id      TEXT NOT NULL,
         version        INTEGER NOT NULL,
         event_id       BLOB NOT NULL UNIQUE,
         event_type     TEXT NOT NULL,
         schema_version INTEGER NOT NULL,
         recorded_at    INTEGER NOT NULL,
         payload        BLOB NOT NULL,
         metadata       TEXT,
         UNIQUE (stream_id, version)
     );
     CREATE TABLE eventfold_head (
         id       INTEGER PRIMARY KEY CHECK (id = 0),
         position INTEGER NOT NULL
     );
     INSERT INTO eventfold_head (id, position) VALUES (0, 0);
     CREATE TABLE eventfold_snapshots (
         stream_id      TEXT NOT NULL,
         version        INTEGER NOT NULL,
         aggregate_type TEXT NOT NULL,
         schema_version INTEGER NOT NULL,
         taken_at       INTEGER NOT NULL,
         payload        BLOB NOT NULL,
         PRIMARY KEY (stream_id, version)
     ) WITHOUT ROWID;",
];

const EVENT_COLUMNS: &str = "position, stream_id, version, event_id, event_type, \
                             schema_version, recorded_at, payload, metadata";

/// What an acknowledged append survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is synced to disk before it is acknowledged
    /// (`synchronous = FULL`): acknowledged events survive a power loss.
    #[default]
    PowerLoss,
    /// Commits are written to the OS but synced only at checkpoints
    /// (`synchronous = NORMAL`): acknowledged events survive the process
    /// being killed, but a power loss may lose the last ones (never
    /// half-write a batch).
    ProcessCrash,
}

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqliteOptions {
    /// What an acknowledged append survives.
    pub durability: Durability,
}

/// An event store (and snapshot store) in one SQLite file.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use eventfold::store::{ReadStream, SqliteStore};
/// use eventfold::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
///
/// let dir = std::env::temp_dir().join(format!("eventfold-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let store = SqliteStore::open(dir.join("events.db")).await.unwrap();
/// let stream = StreamId::new("BankAccount-1").unwrap();
/// let event = NewEvent::new("Opened", 1, b"{}".to_vec(), Metadata::default());
/// store.append(&stream, ExpectedVersion::NoStream, vec![event]).await.unwrap();
/// assert_eq!(store.read_stream(&stream, ReadStream::all()).await.unwrap().len(), 1);
/// # drop(store);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

struct Shared {
    path: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    readers: Arc<Readers>,
    head: Arc<watch::Sender<u64>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel stops the writer once it has answered every
        // request already sent; joining it closes the file before returning.
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl SqliteStore {
    /// The schema version this code creates, kept in the file's
    /// `eventfold_schema` table.
    pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

    /// Opens (creating if needed) the store in the SQLite file at `path`,
    /// with the default options: creates or migrates the schema.
    ///
    /// Errors are [`StoreError::Open`] naming the file: it is not a SQLite
    /// database, its directory does not exist, its schema is newer than
    /// this code.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens the store with explicit options.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, options))
            .await
            .map_err(|e| StoreError::backend("opening the SQLite store", e))?
    }

    fn open_blocking(path: PathBuf, options: SqliteOptions) -> Result<Self, StoreError> {
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(&path, e))?;
        configure_writer(&conn, options).map_err(|e| open_error(&path, e))?;
        migrate(&mut conn, &path)?;
        let head = read_head(&conn).map_err(|e| open_error(&path, e))?;
        let head = Arc::new(watch::channel(head).0);
        let readers = Arc::new(Readers {
            path: path.clone(),
            idle: Mutex::new(Vec::new()),
        });
        // Open one reader now, so that a reader problem shows at open time.
        let reader = readers.take()?;
        readers.give(reader);
        let (tx, rx) = mpsc::channel();
        let writer_head = head.clone();
        let writer = std::thread::Builder::new()
            .name("eventfold-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_head))
            .map_err(|e| StoreError::backend("starting the SQLite writer thread", e))?;
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                jobs: Some(tx),
                writer: Some(writer),
                readers,
                head,
            }),
        })
    }

    /// The file this store keeps its data in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Sends a write request to the writer thread and waits for its answer,
    /// which comes after its transaction committed.
    async fn write(&self, op: Op) -> Result<Done, StoreError> {
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

    /// Runs `f` on a reader connection in a blocking task.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.shared.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let out = f(&conn);
            readers.give(conn);
            out
        })
        .await
        .map_err(|e| StoreError::backend("reading the SQLite store", e))?
    }
}

// ------------------------------------------------------------ opening

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let reason = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "the file is not a SQLite database".to_owned(),
        Some(ErrorCode::DatabaseCorrupt) => "the database file is corrupted".to_owned(),
        Some(ErrorCode::CannotOpen) => {
            "the file cannot be opened (does its directory exist, and may this process write there?)"
                .to_owned()
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            "the file is read-only for this process".to_owned()
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "the database is locked by another connection".to_owned()
        }
        _ => format!("SQLite failed: {e}"),
    };
    StoreError::Open {
        location: path.display().to_string(),
        reason,
        source: Some(Box::new(e)),
    }
}

fn configure_writer(conn: &Connection, options: SqliteOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    // The first statement reads the file header: a file that is not a
    // database fails here.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "SQLite did not switch to WAL mode");
    }
    conn.pragma_update(
        None,
        "synchronous",
        match options.durability {
            Durability::PowerLoss => "FULL",
            Durability::ProcessCrash => "NORMAL",
        },
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |e| open_error(path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS eventfold_schema (version INTEGER NOT NULL)")
        .map_err(fail)?;
    let current: Option<i64> = tx
        .query_row("SELECT max(version) FROM eventfold_schema", [], |r| {
            r.get(0)
        })
        .map_err(fail)?;
    let current = current.unwrap_or(0);
    let known = MIGRATIONS.len() as i64;
    if !(0..=known).contains(&current) {
        return Err(StoreError::Open {
            location: path.display().to_string(),
            reason: format!(
                "the file has eventfold schema version {current}, but this code knows versions up to {known}; upgrade eventfold to open it"
            ),
            source: None,
        });
    }
    for migration in &MIGRATIONS[current as usize..] {
        tx.execute_batch(migration).map_err(fail)?;
    }
    if current != known {
        tx.execute("DELETE FROM eventfold_schema", [])
            .map_err(fail)?;
        tx.execute(
            "INSERT INTO eventfold_schema (version) VALUES (?1)",
            [known],
        )
        .map_err(fail)?;
    }
    tx.commit().map_err(fail)
}

fn read_head(conn: &Connection) -> rusqlite::Result<u64> {
    let head: i64 = conn
        .prepare_cached("SELECT position FROM eventfold_head WHERE id = 0")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(head).unwrap_or(0))
}

// ------------------------------------------------------------ readers

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(&self.path, e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .and_then(|()| conn.pragma_update(None, "query_only", true))
            .map_err(|e| open_error(&self.path, e))?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}

// ------------------------------------------------------------- writer

/// A write request for the writer thread.
struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

enum Op {
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

enum Done {
    Append(AppendResult),
    Unit,
    Count(u64),
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
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::backend(
                        "committing to the SQLite store",
                        message.clone(),
                    )));
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
                .prepare_cached("DELETE FROM eventfold_snapshots WHERE stream_id = ?1")?
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
        tx.prepare_cached("UPDATE eventfold_head SET position = ?1 WHERE id = 0")?
            .execute([to_i64(head)])?;
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

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The version and tombstone flag of a stream (`None`: never written).
fn stream_state(conn: &Connection, stream: &StreamId) -> rusqlite::Result<Option<(u64, bool)>> {
    conn.prepare_cached("SELECT version, deleted FROM eventfold_streams WHERE stream_id = ?1")?
        .query_row([stream.as_str()], |r| {
            Ok((
                u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                r.get::<_, bool>(1)?,
            ))
        })
        .optional()
}

fn append(
    tx: &Connection,
    head: &mut u64,
    now: DateTime<Utc>,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<AppendResult, Abort> {
    let (current, deleted) = stream_state(tx, stream)?.unwrap_or((0, false));
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
        });
    }
    let recorded_at = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let mut insert = tx.prepare_cached(
        "INSERT INTO eventfold_events (position, stream_id, version, event_id, event_type, \
         schema_version, recorded_at, payload, metadata) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut version = current;
    let mut position = *head;
    for e in &events {
        version += 1;
        position += 1;
        let metadata = stored_metadata(stream, e)?;
        let inserted = insert.execute(rusqlite::params![
            to_i64(position),
            stream.as_str(),
            to_i64(version),
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
    tx.prepare_cached(
        "INSERT INTO eventfold_streams (stream_id, version, deleted) VALUES (?1, ?2, 0) \
         ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version",
    )?
    .execute(rusqlite::params![stream.as_str(), to_i64(version)])?;
    *head = position;
    Ok(AppendResult {
        first_version: current + 1,
        next_expected_version: version,
        last_position: position,
        written: true,
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
    let mut lookup = tx.prepare_cached(
        "SELECT stream_id, version, position FROM eventfold_events WHERE event_id = ?1",
    )?;
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
            Some((s, v, p)) => Some(StoredEventId {
                stream: StreamId::new(s.clone()).map_err(|e| StoreError::Corrupted {
                    stream: s,
                    version: u64::try_from(v).unwrap_or(0),
                    event_type: String::new(),
                    reason: format!("the stored stream id is invalid: {e}"),
                })?,
                version: u64::try_from(v).unwrap_or(0),
                position: u64::try_from(p).unwrap_or(0),
            }),
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
    match mode {
        DeleteMode::Tombstone => {
            tx.prepare_cached(
                "INSERT INTO eventfold_streams (stream_id, version, deleted) VALUES (?1, 0, 1) \
                 ON CONFLICT (stream_id) DO UPDATE SET deleted = 1",
            )?
            .execute([stream.as_str()])?;
        }
        DeleteMode::Hard => {
            tx.prepare_cached("DELETE FROM eventfold_events WHERE stream_id = ?1")?
                .execute([stream.as_str()])?;
        }
    }
    Ok(())
}

/// Deletes the stream's events below version `before` (archiving behind a
/// snapshot); the stream's version stays.
fn delete_before(tx: &Connection, stream: &StreamId, before: u64) -> Result<u64, Abort> {
    if let Some((_, true)) = stream_state(tx, stream)? {
        return Err(Abort::Refused(StoreError::StreamDeleted {
            stream: stream.clone(),
        }));
    }
    let n = tx
        .prepare_cached("DELETE FROM eventfold_events WHERE stream_id = ?1 AND version < ?2")?
        .execute(rusqlite::params![stream.as_str(), to_i64(before)])?;
    Ok(n as u64)
}

fn save_snapshot(tx: &Connection, s: &Snapshot) -> Result<(), Abort> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO eventfold_snapshots \
         (stream_id, version, aggregate_type, schema_version, taken_at, payload) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(rusqlite::params![
        s.stream_id.as_str(),
        to_i64(s.version),
        s.aggregate_type,
        s.schema_version,
        s.taken_at.timestamp_nanos_opt().unwrap_or(i64::MAX),
        s.payload,
    ])?;
    Ok(())
}

fn prune_snapshots(tx: &Connection, stream: &StreamId, keep: usize) -> Result<u64, Abort> {
    let deleted = tx
        .prepare_cached(
            "DELETE FROM eventfold_snapshots WHERE stream_id = ?1 AND version NOT IN \
             (SELECT version FROM eventfold_snapshots WHERE stream_id = ?1 \
              ORDER BY version DESC LIMIT ?2)",
        )?
        .execute(rusqlite::params![stream.as_str(), to_i64(keep as u64)])?;
    Ok(deleted as u64)
}

// ------------------------------------------------------------ decoding

fn backend(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::backend(context, e)
}

/// Reads one event row (columns [`EVENT_COLUMNS`]); anything unreadable is
/// [`StoreError::Corrupted`] naming the stream, version and event type as
/// far as they can be read, and the column at fault.
///
/// `prev` is the row read before it, if any: a stream id or event type equal
/// to its own is shared from it rather than validated again.
fn event_from_row(
    row: &Row<'_>,
    prev: Option<&RecordedEvent>,
) -> Result<RecordedEvent, StoreError> {
    let raw_stream = match row.get_ref(1) {
        Ok(ValueRef::Text(t)) => Some(t),
        _ => None,
    };
    let raw_type = match row.get_ref(4) {
        Ok(ValueRef::Text(t)) => Some(t),
        _ => None,
    };
    let version = row
        .get_ref(2)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| u64::try_from(v).ok());
    // Texts are checked as UTF-8 only when they are not the previous row's;
    // error messages show whatever the bytes say.
    let corrupt = |column: &str, what: String| StoreError::Corrupted {
        stream: lossy(raw_stream),
        version: version.unwrap_or(0),
        event_type: lossy(raw_type),
        reason: format!("column `{column}`: {what}"),
    };
    let not_text = |column| corrupt(column, "not UTF-8 text".into());
    let stream_id = match prev.filter(|p| Some(p.stream_id.as_str().as_bytes()) == raw_stream) {
        Some(p) => p.stream_id.clone(),
        None => {
            let text = raw_stream.and_then(|t| std::str::from_utf8(t).ok());
            StreamId::new(text.ok_or_else(|| not_text("stream_id"))?)
                .map_err(|e| corrupt("stream_id", e.to_string()))?
        }
    };
    let version = version.ok_or_else(|| corrupt("version", "not a positive integer".into()))?;
    let event_type = match prev.filter(|p| Some(p.event_type.as_bytes()) == raw_type) {
        Some(p) => p.event_type.clone(),
        None => raw_type
            .and_then(|t| std::str::from_utf8(t).ok())
            .ok_or_else(|| not_text("event_type"))?
            .to_owned(),
    };
    let position = row
        .get_ref(0)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| corrupt("position", "not a positive integer".into()))?;
    let event_id = row
        .get_ref(3)
        .ok()
        .and_then(|v| v.as_blob().ok())
        .and_then(|b| Uuid::from_slice(b).ok())
        .ok_or_else(|| corrupt("event_id", "not a 16-byte UUID".into()))?;
    let schema_version = row
        .get_ref(5)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupt("schema_version", "not a 32-bit unsigned integer".into()))?;
    let recorded_at = row
        .get_ref(6)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .map(DateTime::from_timestamp_nanos)
        .ok_or_else(|| corrupt("recorded_at", "not an integer timestamp".into()))?;
    let payload = match row.get_ref(7) {
        Ok(ValueRef::Blob(b)) => b.to_vec(),
        _ => return Err(corrupt("payload", "not a blob".into())),
    };
    let metadata = match row.get_ref(8) {
        Ok(ValueRef::Null) => Metadata::default(),
        Ok(ValueRef::Text(t)) => serde_json::from_slice(t)
            .map_err(|e| corrupt("metadata", format!("not valid metadata JSON: {e}")))?,
        _ => return Err(corrupt("metadata", "not text".into())),
    };
    Ok(RecordedEvent {
        event_id,
        stream_id,
        stream_version: version,
        global_position: position,
        recorded_at,
        event_type,
        schema_version,
        payload,
        metadata,
    })
}

/// The most events a read reserves room for before it has read them.
const PRESIZE_LIMIT: usize = 4096;

/// Reads the event rows of a query; `expected`: about how many rows it
/// gives (the read's limit), to reserve room for.
/// Text for an error message, whatever the bytes are.
fn lossy(raw: Option<&[u8]>) -> String {
    raw.map_or_else(
        || "<unreadable>".to_owned(),
        |t| String::from_utf8_lossy(t).into_owned(),
    )
}

fn collect_events(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    expected: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut rows = stmt.query(params).map_err(backend("reading events"))?;
    let mut out: Vec<RecordedEvent> = Vec::with_capacity(expected.min(PRESIZE_LIMIT));
    while let Some(row) = rows.next().map_err(backend("reading events"))? {
        let event = event_from_row(row, out.last())?;
        out.push(event);
    }
    Ok(out)
}

fn snapshot_from_row(row: &Row<'_>, stream: &StreamId) -> Result<Snapshot, StoreError> {
    let version = row
        .get_ref(0)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| u64::try_from(v).ok());
    let aggregate_type = row.get_ref(1).ok().and_then(|v| v.as_str().ok());
    let corrupt = |column: &str, what: &str| StoreError::Corrupted {
        stream: stream.to_string(),
        version: version.unwrap_or(0),
        event_type: format!("snapshot of {}", aggregate_type.unwrap_or("<unreadable>")),
        reason: format!("snapshot column `{column}`: {what}"),
    };
    let version = version.ok_or_else(|| corrupt("version", "not a positive integer"))?;
    let aggregate_type = aggregate_type
        .ok_or_else(|| corrupt("aggregate_type", "not text"))?
        .to_owned();
    let schema_version = row
        .get_ref(2)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupt("schema_version", "not a 32-bit unsigned integer"))?;
    let taken_at = row
        .get_ref(3)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .map(DateTime::from_timestamp_nanos)
        .ok_or_else(|| corrupt("taken_at", "not an integer timestamp"))?;
    let payload = match row.get_ref(4) {
        Ok(ValueRef::Blob(b)) => b.to_vec(),
        _ => return Err(corrupt("payload", "not a blob")),
    };
    Ok(Snapshot {
        stream_id: stream.clone(),
        aggregate_type,
        schema_version,
        version,
        payload,
        taken_at,
    })
}

// ------------------------------------------------------- the contract

impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_batch(stream, &events)?;
        match self
            .write(Op::Append {
                stream: stream.clone(),
                expected,
                events,
            })
            .await?
        {
            Done::Append(r) => Ok(r),
            _ => Err(mismatched_answer()),
        }
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.clone();
        self.read(move |conn| {
            let tx = conn
                .unchecked_transaction()
                .map_err(backend("starting a read transaction"))?;
            let Some((current, deleted)) =
                stream_state(&tx, &stream).map_err(backend("reading a stream's version"))?
            else {
                return Ok(Vec::new());
            };
            if deleted {
                return Err(StoreError::StreamDeleted { stream });
            }
            let Some((lo, hi)) = read.window(current) else {
                return Ok(Vec::new());
            };
            let sql = match read.direction {
                Direction::Forward => READ_FORWARD,
                Direction::Backward => READ_BACKWARD,
            };
            let mut stmt = tx
                .prepare_cached(sql)
                .map_err(backend("reading a stream"))?;
            collect_events(
                &mut stmt,
                rusqlite::params![stream.as_str(), to_i64(lo), to_i64(hi)],
                usize::try_from(hi - lo + 1).unwrap_or(usize::MAX),
            )
        })
        .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM eventfold_events WHERE position > ?1 \
                     ORDER BY position LIMIT ?2"
                ))
                .map_err(backend("reading all streams"))?;
            collect_events(
                &mut stmt,
                rusqlite::params![to_i64(after), to_i64(limit as u64)],
                limit,
            )
        })
        .await
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        let stream = stream.clone();
        self.read(move |conn| {
            let tx = conn
                .unchecked_transaction()
                .map_err(backend("starting a read transaction"))?;
            let Some((version, deleted)) =
                stream_state(&tx, &stream).map_err(backend("reading stream info"))?
            else {
                return Ok(None);
            };
            let at = |sql: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
                let nanos: Option<i64> = tx
                    .prepare_cached(sql)
                    .and_then(|mut s| s.query_row([stream.as_str()], |r| r.get(0)).optional())
                    .map_err(backend("reading stream info"))?;
                Ok(nanos.map(DateTime::from_timestamp_nanos))
            };
            let first_recorded_at = at("SELECT recorded_at FROM eventfold_events \
                 WHERE stream_id = ?1 ORDER BY version ASC LIMIT 1")?;
            let last_recorded_at = at("SELECT recorded_at FROM eventfold_events \
                 WHERE stream_id = ?1 ORDER BY version DESC LIMIT 1")?;
            Ok(Some(StreamInfo {
                stream_id: stream.clone(),
                version,
                first_recorded_at,
                last_recorded_at,
                deleted,
            }))
        })
        .await
    }

    async fn delete_stream(&self, stream: &StreamId, mode: DeleteMode) -> Result<(), StoreError> {
        self.write(Op::Delete {
            stream: stream.clone(),
            mode,
        })
        .await
        .map(|_| ())
    }

    async fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> Result<u64, StoreError> {
        match self
            .write(Op::DeleteBefore {
                stream: stream.clone(),
                before,
            })
            .await?
        {
            Done::Count(n) => Ok(n),
            _ => Err(mismatched_answer()),
        }
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.read(|conn| read_head(conn).map_err(backend("reading the head position")))
            .await
    }

    async fn wait_for_append(&self, position: u64) {
        let mut head = self.shared.head.subscribe();
        // Commits of this store wake at once; commits by another process
        // are noticed by the timeout (the subscription then re-reads).
        let _ = tokio::time::timeout(Duration::from_millis(500), head.wait_for(|h| *h > position))
            .await;
    }
}

fn mismatched_answer() -> StoreError {
    StoreError::backend(
        "writing to the SQLite store",
        "the writer answered a request with the answer of another kind",
    )
}

/// One stream's events in a version range, oldest first.
const READ_FORWARD: &str = "SELECT position, stream_id, version, event_id, event_type, schema_version, recorded_at, \
     payload, metadata FROM eventfold_events \
     WHERE stream_id = ?1 AND version BETWEEN ?2 AND ?3 ORDER BY version ASC";

/// One stream's events in a version range, newest first.
const READ_BACKWARD: &str = "SELECT position, stream_id, version, event_id, event_type, schema_version, recorded_at, \
     payload, metadata FROM eventfold_events \
     WHERE stream_id = ?1 AND version BETWEEN ?2 AND ?3 ORDER BY version DESC";

impl SnapshotStore for SqliteStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.write(Op::SaveSnapshot(snapshot)).await.map(|_| ())
    }

    async fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let stream = stream.clone();
        let aggregate_type = aggregate_type.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT version, aggregate_type, schema_version, taken_at, payload \
                     FROM eventfold_snapshots WHERE stream_id = ?1 AND aggregate_type = ?2 \
                     AND schema_version = ?3 AND version <= ?4 ORDER BY version DESC LIMIT 1",
                )
                .map_err(backend("loading a snapshot"))?;
            let mut rows = stmt
                .query(rusqlite::params![
                    stream.as_str(),
                    aggregate_type,
                    schema_version,
                    to_i64(max_version.unwrap_or(u64::MAX)),
                ])
                .map_err(backend("loading a snapshot"))?;
            match rows.next().map_err(backend("loading a snapshot"))? {
                Some(row) => snapshot_from_row(row, &stream).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        match self
            .write(Op::PruneSnapshots {
                stream: stream.clone(),
                keep,
            })
            .await?
        {
            Done::Count(n) => Ok(n),
            _ => Err(mismatched_answer()),
        }
    }

    async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
        self.write(Op::DeleteSnapshots {
            stream: stream.clone(),
        })
        .await
        .map(|_| ())
    }
}
