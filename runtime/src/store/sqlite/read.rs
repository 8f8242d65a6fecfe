//! Reads of a [`SqliteStore`]: the pool of read connections, and the
//! queries behind the read methods of the contract, each run on one
//! connection in a blocking task (WAL mode lets them read a consistent
//! snapshot while the writer commits).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::open::open_error;
use super::rows::{event_from_row, snapshot_from_row};
use super::{backend, sql};
use crate::envelope::{RecordedEvent, StreamId};
use crate::snapshot::Snapshot;
use crate::store::columns::{to_u64, upper_bound};
use crate::store::{Direction, LoadedStream, ReadStream, StoreError, StreamInfo};

/// Idle read connections, reused between reads.
pub(super) struct Readers {
    pub(super) path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
    /// How many idle connections to keep.
    pub(super) keep: AtomicUsize,
}

impl Readers {
    /// An idle connection, or a new one.
    pub(super) fn take(&self) -> Result<Connection, StoreError> {
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

    /// Gives a connection back (closing it if enough are idle).
    pub(super) fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep.load(Ordering::Relaxed) {
            idle.push(conn);
        }
    }

    /// Keeps at most `n` idle connections from now on.
    pub(super) fn keep(&self, n: usize) {
        self.keep.store(n, Ordering::Relaxed);
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .truncate(n);
    }
}

/// The global position of the last committed event.
pub(super) fn read_head(conn: &Connection) -> rusqlite::Result<u64> {
    let head: i64 = conn
        .prepare_cached(sql::HEAD)?
        .query_row([], |r| r.get(0))?;
    to_u64("head position", head)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Integer, Box::new(e)))
}

/// The stored version and tombstone flag of a stream (`None`: never
/// written); see [`stream_version`] for the version as a `u64`.
pub(super) fn stream_row(
    conn: &Connection,
    stream: &StreamId,
) -> rusqlite::Result<Option<(i64, bool)>> {
    conn.prepare_cached(sql::STREAM_STATE)?
        .query_row([stream.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// A stream row's version: a negative one is [`StoreError::Corrupted`].
pub(super) fn stream_version(stream: &StreamId, version: i64) -> Result<u64, StoreError> {
    to_u64("stream version", version).map_err(|e| StoreError::Corrupted {
        stream: stream.to_string(),
        version: 0,
        event_type: "<stream row>".into(),
        position: None,
        reason: e.to_string(),
    })
}

/// The version and tombstone flag of a stream (`None`: never written).
fn stream_state(
    conn: &Connection,
    stream: &StreamId,
    context: &'static str,
) -> Result<Option<(u64, bool)>, StoreError> {
    match stream_row(conn, stream).map_err(backend(context))? {
        Some((version, deleted)) => Ok(Some((stream_version(stream, version)?, deleted))),
        None => Ok(None),
    }
}

/// The most events a read reserves room for before it has read them.
const PRESIZE_LIMIT: usize = 4096;

/// Reads the event rows of a query; `expected`: about how many rows it
/// gives (the read's limit), to reserve room for.
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

/// The events of `stream` from version `lo` to `hi` (inclusive), in
/// `direction`.
fn events_between(
    conn: &Connection,
    stream: &StreamId,
    (lo, hi): (u64, u64),
    direction: Direction,
    metadata: bool,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = match (direction, metadata) {
        (Direction::Forward, true) => sql::READ_FORWARD,
        (Direction::Forward, false) => sql::READ_FORWARD_BARE,
        (Direction::Backward, _) => sql::READ_BACKWARD,
    };
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(backend("reading a stream"))?;
    collect_events(
        &mut stmt,
        rusqlite::params![stream.as_str(), upper_bound(lo), upper_bound(hi)],
        usize::try_from(hi - lo + 1).unwrap_or(usize::MAX),
    )
}

/// [`crate::EventStore::read_stream`].
pub(super) fn read_stream(
    conn: &Connection,
    stream: StreamId,
    read: ReadStream,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let tx = conn
        .unchecked_transaction()
        .map_err(backend("starting a read transaction"))?;
    let Some((current, deleted)) = stream_state(&tx, &stream, "reading a stream's version")? else {
        return Ok(Vec::new());
    };
    if deleted {
        return Err(StoreError::StreamDeleted { stream });
    }
    let Some(window) = read.window(current) else {
        return Ok(Vec::new());
    };
    events_between(&tx, &stream, window, read.direction, true)
}

/// [`crate::EventStore::load_stream`]: one read transaction, so the
/// snapshot, the version and the events are as of one moment (WAL gives
/// readers a stable view).
pub(super) fn load_stream(
    conn: &Connection,
    stream: StreamId,
    snapshot_of: Option<(String, u32)>,
    upto: Option<u64>,
    metadata: bool,
) -> Result<LoadedStream, StoreError> {
    let tx = conn
        .unchecked_transaction()
        .map_err(backend("starting a read transaction"))?;
    let snapshot = match &snapshot_of {
        Some((t, v)) => snapshot_at(&tx, &stream, t, *v, upto)?,
        None => None,
    };
    let Some((version, deleted)) = stream_state(&tx, &stream, "reading a stream's version")? else {
        return Ok(LoadedStream {
            snapshot,
            events: Vec::new(),
            version: 0,
        });
    };
    if deleted {
        return Err(StoreError::StreamDeleted { stream });
    }
    let start = snapshot.as_ref().map_or(1, |s| s.version + 1);
    let end = upto.unwrap_or(version).min(version);
    let events = if start <= end {
        events_between(&tx, &stream, (start, end), Direction::Forward, metadata)?
    } else {
        Vec::new()
    };
    Ok(LoadedStream {
        snapshot,
        events,
        version,
    })
}

/// [`crate::EventStore::read_all`].
pub(super) fn read_all(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(sql::READ_ALL)
        .map_err(backend("reading all streams"))?;
    collect_events(
        &mut stmt,
        rusqlite::params![upper_bound(after), upper_bound(limit as u64)],
        limit,
    )
}

/// [`crate::EventStore::stream_info`].
pub(super) fn stream_info(
    conn: &Connection,
    stream: StreamId,
) -> Result<Option<StreamInfo>, StoreError> {
    let tx = conn
        .unchecked_transaction()
        .map_err(backend("starting a read transaction"))?;
    let Some((version, deleted)) = stream_state(&tx, &stream, "reading stream info")? else {
        return Ok(None);
    };
    let at = |sql: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        let nanos: Option<i64> = tx
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([stream.as_str()], |r| r.get(0)).optional())
            .map_err(backend("reading stream info"))?;
        Ok(nanos.map(DateTime::from_timestamp_nanos))
    };
    let first_recorded_at = at(sql::FIRST_RECORDED_AT)?;
    let last_recorded_at = at(sql::LAST_RECORDED_AT)?;
    Ok(Some(StreamInfo {
        stream_id: stream.clone(),
        version,
        first_recorded_at,
        last_recorded_at,
        deleted,
    }))
}

/// The newest matching snapshot at or below `max_version`.
pub(super) fn snapshot_at(
    conn: &Connection,
    stream: &StreamId,
    aggregate_type: &str,
    schema_version: u32,
    max_version: Option<u64>,
) -> Result<Option<Snapshot>, StoreError> {
    let mut stmt = conn
        .prepare_cached(sql::LOAD_SNAPSHOT)
        .map_err(backend("loading a snapshot"))?;
    let mut rows = stmt
        .query(rusqlite::params![
            stream.as_str(),
            aggregate_type,
            schema_version,
            upper_bound(max_version.unwrap_or(u64::MAX)),
        ])
        .map_err(backend("loading a snapshot"))?;
    match rows.next().map_err(backend("loading a snapshot"))? {
        Some(row) => snapshot_from_row(row, stream).map(Some),
        None => Ok(None),
    }
}
