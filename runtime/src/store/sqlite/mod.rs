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
//!   [`StoreError::IncompatibleLayout`] rather than misread.
//!
//! Open one file from one process at a time: the store caches nothing that
//! another writer could invalidate, but its subscriptions are woken by its
//! own commits only (others are noticed by polling, every half second).

//!
//! # Errors
//!
//! A file that cannot be opened as a store (not a database, a missing
//! directory, no permission) is [`StoreError::Open`] naming it; a schema
//! newer than this code [`StoreError::IncompatibleLayout`]; a database
//! locked by another connection past the busy timeout
//! [`StoreError::Busy`]; an unreadable row [`StoreError::Corrupted`]; other
//! SQLite failures [`StoreError::Backend`] saying what the store was doing.
//!
//! # Layout of this module
//!
//! `open.rs` (options, pragmas, migrations), `writer.rs` (the writer
//! thread, group commit), `read.rs` (read connections and queries),
//! `rows.rs` (rows to events and snapshots), `sql.rs` (every statement),
//! `stats.rs` ([`crate::store::StoreStats`]); this file holds the type and
//! the trait implementations that tie them together.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use tokio::sync::watch;

use super::{
    AppendResult, DeleteMode, EventStore, ExpectedVersion, LoadQuery, LoadedStream, ReadStream,
    StoreError, StreamInfo, check_batch,
};
use crate::envelope::{NewEvent, RecordedEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::error::IntegerOutOfRange;

mod open;
mod read;
mod rows;
mod sql;
mod stats;
mod writer;

pub(crate) use open::open_error;
pub use open::{Durability, SCHEMA_VERSION, SqliteOptions};

use read::Readers;
use writer::{Done, Op, mismatched_answer};

/// How many read connections a store keeps open between reads, by default
/// (see [`SqliteStore::keep_idle_readers`]).
pub const DEFAULT_IDLE_READERS: usize = 8;

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
    jobs: Option<mpsc::Sender<writer::Job>>,
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
    pub const SCHEMA_VERSION: u32 = SCHEMA_VERSION;

    /// Opens (creating if needed) the store in the SQLite file at `path`,
    /// with the default options: creates or migrates the schema.
    ///
    /// Errors: [`StoreError::Open`] naming the file when it is not a SQLite
    /// database or its directory does not exist;
    /// [`StoreError::IncompatibleLayout`] when its schema is newer than this
    /// code; [`StoreError::Busy`] when another connection keeps it locked.
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

    /// The file this store keeps its data in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Keeps up to `n` read connections open between reads (default
    /// [`DEFAULT_IDLE_READERS`]; applies to every clone of this store).
    ///
    /// Reads run on Tokio's blocking pool, each on a read connection of its
    /// own (SQLite's WAL mode lets them run beside the single writer);
    /// more concurrent reads than `n` open extra connections, which are
    /// closed after use. Raise it for many concurrent readers (opening a
    /// connection costs about as much as a small read); 0 opens one per
    /// read.
    #[must_use]
    pub fn keep_idle_readers(self, n: usize) -> Self {
        self.shared.readers.keep(n);
        self
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

/// Whether SQLite gave up waiting for a lock another connection holds.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Classifies a SQLite error met while doing `context` (for the store and
/// the SQLite checkpoint store): a locked database is [`StoreError::Busy`],
/// a number out of a column's range [`StoreError::InvalidInput`], the rest
/// [`StoreError::Backend`].
pub(crate) fn sqlite_error(context: impl Into<String>, e: rusqlite::Error) -> StoreError {
    if is_busy(&e) {
        return StoreError::busy(context, e);
    }
    match e {
        rusqlite::Error::ToSqlConversionFailure(source) if source.is::<IntegerOutOfRange>() => {
            StoreError::invalid_input(context, source)
        }
        e => StoreError::backend(context, e),
    }
}

/// [`sqlite_error`] as a `map_err` argument.
fn backend(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| sqlite_error(context, e)
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
        self.read(move |conn| read::read_stream(conn, stream, read))
            .await
    }

    async fn load_stream(
        &self,
        stream: &StreamId,
        query: LoadQuery<'_>,
    ) -> Result<LoadedStream, StoreError> {
        let stream = stream.clone();
        let snapshot_of = query.snapshot.map(|(t, v)| (t.to_owned(), v));
        let (upto, metadata) = (query.upto, query.metadata);
        self.read(move |conn| read::load_stream(conn, stream, snapshot_of, upto, metadata))
            .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(move |conn| read::read_all(conn, after, limit))
            .await
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        let stream = stream.clone();
        self.read(move |conn| read::stream_info(conn, stream)).await
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
        self.read(|conn| read::read_head(conn).map_err(backend("reading the head position")))
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
            read::snapshot_at(conn, &stream, &aggregate_type, schema_version, max_version)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventStore, ReadStream};

    fn idle(store: &SqliteStore) -> usize {
        store.shared.readers.idle.lock().unwrap().len()
    }

    async fn concurrent_reads(store: &SqliteStore, n: usize) {
        let stream = StreamId::new("s-1").unwrap();
        let reads = (0..n).map(|_| {
            let (store, stream) = (store.clone(), stream.clone());
            tokio::spawn(async move { store.read_stream(&stream, ReadStream::all()).await })
        });
        for read in reads.collect::<Vec<_>>() {
            read.await.unwrap().unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn idle_read_connections_are_capped_as_configured() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("e.db")).await.unwrap();
        concurrent_reads(&store, 32).await;
        assert!(idle(&store) <= DEFAULT_IDLE_READERS, "{}", idle(&store));
        let store = store.keep_idle_readers(2);
        assert!(idle(&store) <= 2, "lowering the cap closes the extra ones");
        concurrent_reads(&store, 32).await;
        assert!((1..=2).contains(&idle(&store)), "{}", idle(&store));
        let store = store.keep_idle_readers(0);
        concurrent_reads(&store, 8).await;
        assert_eq!(idle(&store), 0, "0 keeps none open");
    }
}
