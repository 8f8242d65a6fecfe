//! Event stores: the [`EventStore`] contract and its implementations.
//!
//! # The contract
//!
//! Every store keeps these rules; the conformance suite (feature
//! `conformance`, module `store::conformance`) checks each of them against every store.
//!
//! * **Streams** are identified by a [`StreamId`]; versions start at 1 and
//!   have no gaps. Reading a stream that was never written returns no events
//!   (its version is 0, [`EventStore::stream_info`] is `None`): not an
//!   error. Reading a tombstoned stream is [`StoreError::StreamDeleted`].
//! * **Append** is atomic per call: every event of the batch lands, or none,
//!   with consecutive versions and positions and one recorded time. The
//!   checks run in this order, in the same atomic step as the write:
//!   a batch repeating an event id is [`StoreError::DuplicateEventInBatch`];
//!   a tombstoned stream is [`StoreError::StreamDeleted`]; then the
//!   idempotency rule below; then the [`ExpectedVersion`]. An empty batch
//!   writes nothing and changes no version, but still answers whether the
//!   expectation holds. A refused append changes nothing at all.
//! * **Global positions** start at 1 and are strictly increasing in commit
//!   order: once a reader of all streams has seen position `p`, no event
//!   with a position below `p` can appear later. Positions need not be
//!   consecutive (a hard delete leaves holes). Stores keep the rule by
//!   assigning positions inside one serialized commit step: [`MemoryStore`]
//!   under its lock; `SqliteStore` in its single writer thread, inside the
//!   write transaction; `PostgresStore` under the row lock of its one-row
//!   position counter, taken inside each write transaction (one per group
//!   of concurrent appends) and held until its commit.
//! * **Idempotent append**: if every event id of a batch is already stored,
//!   in order and consecutively, in that stream, the append writes nothing
//!   and returns the versions and last position first assigned (with
//!   `written: false`), whatever the expected version: a client that lost
//!   the answer to an append can safely send it again. A batch in which only
//!   some ids are already stored, or in another order, is refused with
//!   [`StoreError::IdempotencyConflict`]. An event id is unique per store:
//!   reusing one in another stream is refused with
//!   [`StoreError::DuplicateEventId`]. A hard delete frees the ids of the
//!   events it removes.
//! * **Tombstones** ([`DeleteMode::Tombstone`]) keep the events but make
//!   stream reads report the deletion and refuse appends forever (retries of
//!   stored batches too). The events stay in [`EventStore::read_all`] and
//!   subscriptions: they are history that projections may already have
//!   seen. Tombstoning a stream that was never written reserves its id as
//!   deleted; deleting twice is not an error.
//! * A **hard delete** removes the events (from stream reads and read-all)
//!   but keeps the stream's version: the stream reads as empty, its id can
//!   be written again, and new events continue after the old highest
//!   version, so deleting never lowers a version a writer saw (`NoStream`
//!   and `Exact(0)` fail on it; `Exact(old version)` succeeds). The head
//!   position never goes back. A hard delete of a tombstoned stream removes
//!   its events and keeps the tombstone. Snapshots are not deleted with the
//!   events ([`crate::SnapshotStore::delete_snapshots`] does that).
//! * **Subscriptions** ([`subscribe`]) read through [`EventStore::read_all`]
//!   from a checkpoint, so catch-up and live are the same query: no gap and
//!   no duplicate across the switch.

pub mod any;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod columns;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
#[cfg(feature = "testing")]
mod fault;
mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
mod shared;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod stats;
mod subscription;

use std::future::Future;

use chrono::{DateTime, Utc};

pub use any::{AnyCheckpointStore, AnyStore};
pub use error::{IntegerOutOfRange, StoreError};
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use fault::{FaultyStore, InjectedFault};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis::{RedisCheckpointStore, RedisOptions, RedisStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{Durability, SqliteOptions, SqliteStore};
pub use stats::{
    ListStreams, SnapshotInfo, StoreStatistics, StoreStats, StreamPage, StreamSummary,
    stream_category,
};
pub use subscription::Subscription;

use crate::envelope::{NewEvent, RecordedEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};

/// What the writer believes about the stream before appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist (have at least one event).
    StreamExists,
    /// The stream must be exactly at this version (0: does not exist).
    Exact(u64),
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::StreamExists => f.write_str("an existing stream"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}

impl ExpectedVersion {
    /// Checks the expectation against the current version of `stream`.
    pub fn check(self, stream: &StreamId, current: u64) -> Result<(), StoreError> {
        match self {
            Self::Any => Ok(()),
            Self::NoStream if current == 0 => Ok(()),
            Self::NoStream => Err(StoreError::StreamAlreadyExists {
                stream: stream.clone(),
                version: current,
            }),
            Self::StreamExists if current > 0 => Ok(()),
            Self::StreamExists => Err(StoreError::StreamNotFound {
                stream: stream.clone(),
            }),
            Self::Exact(v) if v == current => Ok(()),
            Self::Exact(v) => Err(StoreError::WrongExpectedVersion {
                stream: stream.clone(),
                expected: v,
                actual: current,
            }),
        }
    }
}

/// The outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream version of the first event of the batch (for an empty
    /// batch, the current version).
    pub first_version: u64,
    /// The stream's version after the append: its last event's version.
    pub next_expected_version: u64,
    /// The global position of the last event of the batch (0 for an empty
    /// batch).
    pub last_position: u64,
    /// `false` when the batch was already stored and nothing was written.
    pub written: bool,
    /// When the store recorded the batch (every event of a batch shares one
    /// record time), if the store knows it without another read: set by the
    /// built-in stores for batches they wrote; `None` for an empty batch, a
    /// batch already stored (`written: false`), or a store that does not
    /// report it. The repository uses it to answer with the recorded
    /// envelopes without reading them back.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// Direction of a stream read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// Which events of a stream to read.
///
/// ```
/// use eventfold::store::ReadStream;
/// let all = ReadStream::all();
/// let window = ReadStream::all().from(3).to(10).limit(5);
/// let last_two = ReadStream::backward().limit(2);
/// # let _ = (all, window, last_two);
/// ```
///
/// The builders return a new value (they are `#[must_use]`): a call whose
/// result is dropped is a warning, not a silent read of everything.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let r = eventfold::store::ReadStream::all();
/// r.limit(1); // error: unused return value that must be used
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadStream {
    /// The lowest version to return (inclusive). Default 1.
    pub from: u64,
    /// The highest version to return (inclusive). Default: the end.
    pub to: Option<u64>,
    /// Return at most this many events.
    pub limit: Option<usize>,
    /// Forward from `from`, or backward from `to` (or the end).
    pub direction: Direction,
}

impl Default for ReadStream {
    fn default() -> Self {
        Self::all()
    }
}

impl ReadStream {
    /// Every event, oldest first.
    pub fn all() -> Self {
        Self {
            from: 1,
            to: None,
            limit: None,
            direction: Direction::Forward,
        }
    }

    /// Every event, newest first.
    pub fn backward() -> Self {
        Self {
            direction: Direction::Backward,
            ..Self::all()
        }
    }

    /// Starts at version `v` (inclusive).
    #[must_use]
    pub fn from(mut self, v: u64) -> Self {
        self.from = v;
        self
    }

    /// Stops at version `v` (inclusive).
    #[must_use]
    pub fn to(mut self, v: u64) -> Self {
        self.to = Some(v);
        self
    }

    /// Returns at most `n` events.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Selects the versions this read returns from a stream whose versions
    /// are `1..=current`, as an inclusive range in read order. Shared by the
    /// stores so that every one interprets a read the same way.
    pub fn window(&self, current: u64) -> Option<(u64, u64)> {
        let lo = self.from.max(1);
        let hi = self.to.unwrap_or(u64::MAX).min(current);
        if lo > hi || self.limit == Some(0) {
            return None;
        }
        let n = self.limit.map_or(u64::MAX, |l| l as u64);
        Some(match self.direction {
            Direction::Forward => (lo, hi.min(lo.saturating_add(n - 1))),
            Direction::Backward => (hi.saturating_sub(n - 1).max(lo), hi),
        })
    }
}

/// What a store knows about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream.
    pub stream_id: StreamId,
    /// Its version: the version of its last event.
    pub version: u64,
    /// When its first event was recorded.
    pub first_recorded_at: Option<DateTime<Utc>>,
    /// When its last event was recorded.
    pub last_recorded_at: Option<DateTime<Utc>>,
    /// Whether it is tombstoned.
    pub deleted: bool,
}

/// How to delete a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Keep the events, refuse appends, make reads report the deletion.
    Tombstone,
    /// Remove the events; the stream may be written again, its versions
    /// continuing after the old highest one.
    Hard,
}

/// Where a subscription to all streams starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeFrom {
    /// From the first event ever stored.
    Origin,
    /// After the event at this global position (a checkpoint).
    After(u64),
    /// Only events stored after the subscription started.
    Now,
}

/// Where an event id of a batch is already stored (input of
/// [`idempotent_outcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEventId {
    /// The stream holding it.
    pub stream: StreamId,
    /// Its version there.
    pub version: u64,
    /// Its global position.
    pub position: u64,
}

/// Applies the idempotency rule of the contract, for store implementations:
/// `found[i]` tells where the id of `events[i]` is already stored, if
/// anywhere. `Ok(None)`: the batch is new, append it. `Ok(Some(result))`:
/// the whole batch is already stored, answer `result` and write nothing.
/// `Err`: an idempotency conflict or an id used in another stream.
///
/// ```
/// use eventfold::store::idempotent_outcome;
/// use eventfold::{Metadata, NewEvent, StreamId};
/// let stream = StreamId::new("s")?;
/// let batch = vec![NewEvent::new("E", 1, vec![], Metadata::default())];
/// assert_eq!(idempotent_outcome(&stream, &batch, &[None])?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn idempotent_outcome(
    stream: &StreamId,
    events: &[NewEvent],
    found: &[Option<StoredEventId>],
) -> Result<Option<AppendResult>, StoreError> {
    let conflict = |event_id: uuid::Uuid, at: &StoredEventId| {
        if at.stream == *stream {
            StoreError::IdempotencyConflict {
                stream: stream.clone(),
                event_id,
                version: at.version,
            }
        } else {
            StoreError::DuplicateEventId {
                stream: stream.clone(),
                event_id,
                existing_stream: at.stream.clone(),
            }
        }
    };
    let Some(Some(first)) = found.first() else {
        // The first id is new (or the batch is empty): every id must be new.
        return match events
            .iter()
            .zip(found)
            .find_map(|(e, f)| f.as_ref().map(|f| (e, f)))
        {
            Some((e, at)) => Err(conflict(e.event_id, at)),
            None => Ok(None),
        };
    };
    if first.stream != *stream {
        return Err(conflict(events[0].event_id, first));
    }
    let mut last = first;
    for (i, (e, f)) in events.iter().zip(found).enumerate() {
        match f {
            Some(at) if at.stream == *stream && at.version == first.version + i as u64 => last = at,
            Some(at) => return Err(conflict(e.event_id, at)),
            None => return Err(conflict(events[0].event_id, first)),
        }
    }
    Ok(Some(AppendResult {
        first_version: first.version,
        next_expected_version: last.version,
        last_position: last.position,
        written: false,
        recorded_at: None,
    }))
}

/// Refuses a batch that holds one event id twice
/// ([`StoreError::DuplicateEventInBatch`]), for store implementations.
pub fn check_batch(stream: &StreamId, events: &[NewEvent]) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::with_capacity(events.len());
    match events.iter().find(|e| !seen.insert(e.event_id)) {
        Some(e) => Err(StoreError::DuplicateEventInBatch {
            stream: stream.clone(),
            event_id: e.event_id,
        }),
        None => Ok(()),
    }
}

/// What [`EventStore::load_stream`] reads: the newest matching snapshot (if
/// asked for) and the events after it, up to a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadQuery<'a> {
    /// The snapshot to start from, as [`SnapshotStore::load_snapshot`] finds
    /// it: `(aggregate type, schema version)`. `None`: no snapshot, read
    /// from the first event.
    pub snapshot: Option<(&'a str, u32)>,
    /// The highest version to read (and the highest snapshot version to
    /// use). `None`: to the end of the stream.
    pub upto: Option<u64>,
    /// Whether the caller needs the events' metadata. When `false` a store
    /// may leave [`RecordedEvent::metadata`] empty (the memory, SQLite and
    /// PostgreSQL stores do, and spare reading and decoding it); when
    /// `true` it must fill it.
    pub metadata: bool,
}

impl LoadQuery<'_> {
    /// Every event with its metadata, no snapshot.
    pub fn all() -> Self {
        Self {
            snapshot: None,
            upto: None,
            metadata: true,
        }
    }
}

/// What [`EventStore::load_stream`] read, as of one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedStream {
    /// The newest matching snapshot at or below the query's `upto`.
    pub snapshot: Option<Snapshot>,
    /// The stored events after the snapshot (or from version 1) up to the
    /// query's `upto`, oldest first.
    pub events: Vec<RecordedEvent>,
    /// The stream's version at that moment (0: never written); not capped
    /// by `upto`.
    pub version: u64,
}

/// An append-only store of event streams. See the module docs for the
/// contract every implementation keeps.
pub trait EventStore: Send + Sync + 'static {
    /// Appends a batch atomically, checking `expected` first.
    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;

    /// Reads events of one stream.
    fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Reads events of all streams with a global position above `after`, in
    /// commit order, at most `limit` of them.
    fn read_all(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// What the store knows about a stream (`None`: never written).
    fn stream_info(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = Result<Option<StreamInfo>, StoreError>> + Send;

    /// Deletes a stream (see [`DeleteMode`]).
    fn delete_stream(
        &self,
        stream: &StreamId,
        mode: DeleteMode,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the events of `stream` whose version is below `before`, keeping
    /// the stream's version and the events from `before` on; returns how many
    /// were deleted. Used to archive history that a snapshot covers (see
    /// `Repository::archive_before_snapshot`): **dangerous**, the deleted
    /// events are gone for good, and the stream can then only be loaded from
    /// a snapshot. Stores that cannot do it keep this default, which fails
    /// with [`StoreError::Unsupported`].
    fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let _ = before;
        std::future::ready(Err(StoreError::Unsupported {
            stream: Some(stream.clone()),
            operation: "deleting events below a version",
        }))
    }

    /// Reads what loading an aggregate needs, **from one consistent read**:
    /// the newest snapshot matching `query.snapshot` at or below
    /// `query.upto`, the events after it up to `query.upto`, and the
    /// stream's version, so that events and version agree even while other
    /// writers append. A tombstoned stream is [`StoreError::StreamDeleted`].
    ///
    /// The built-in stores answer in one step (one lock, one read
    /// transaction, one SQL statement). This default, for other stores,
    /// reads [`EventStore::stream_info`] first, then the snapshot, then the
    /// events: whatever is appended in between only adds events after the
    /// version read first, so the events read are never fewer than that
    /// version says, and the version answered is the newer of the two.
    fn load_stream(
        &self,
        stream: &StreamId,
        query: LoadQuery<'_>,
    ) -> impl Future<Output = Result<LoadedStream, StoreError>> + Send
    where
        Self: SnapshotStore,
    {
        async move {
            let info = self.stream_info(stream).await?;
            if info.as_ref().is_some_and(|i| i.deleted) {
                return Err(StoreError::StreamDeleted {
                    stream: stream.clone(),
                });
            }
            let before = info.map_or(0, |i| i.version);
            let snapshot = match query.snapshot {
                Some((aggregate_type, schema_version)) => {
                    self.load_snapshot(stream, aggregate_type, schema_version, query.upto)
                        .await?
                }
                None => None,
            };
            let start = snapshot.as_ref().map_or(1, |s| s.version + 1);
            let mut read = ReadStream::all().from(start);
            if let Some(upto) = query.upto {
                read = read.to(upto);
            }
            let events = self.read_stream(stream, read).await?;
            let read_to = events
                .last()
                .map(|e| e.stream_version)
                .or(snapshot.as_ref().map(|s| s.version))
                .unwrap_or(0);
            Ok(LoadedStream {
                snapshot,
                events,
                version: before.max(read_to),
            })
        }
    }

    /// The global position of the last committed event (0: empty store).
    fn head_position(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Waits until the head position may have moved past `position`, or a
    /// while has passed. Used by [`Subscription`] to go live; stores that can
    /// be notified of commits wake at once, others poll.
    fn wait_for_append(&self, position: u64) -> impl Future<Output = ()> + Send {
        let _ = position;
        tokio::time::sleep(std::time::Duration::from_millis(50))
    }
}

/// Subscribes to all streams: catches up from `from`, then follows new
/// commits, with no gap and no duplicate across the switch.
pub async fn subscribe<S: EventStore>(
    store: std::sync::Arc<S>,
    from: SubscribeFrom,
) -> Result<Subscription<S>, StoreError> {
    let after = match from {
        SubscribeFrom::Origin => 0,
        SubscribeFrom::After(p) => p,
        SubscribeFrom::Now => store.head_position().await?,
    };
    Ok(Subscription::new(store, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_windows() {
        let all = ReadStream::all();
        assert_eq!(all.window(0), None);
        assert_eq!(all.window(5), Some((1, 5)));
        assert_eq!(all.from(3).window(5), Some((3, 5)));
        assert_eq!(all.from(3).to(3).window(5), Some((3, 3)));
        assert_eq!(all.from(4).to(3).window(5), None);
        assert_eq!(all.from(2).limit(2).window(5), Some((2, 3)));
        assert_eq!(all.to(99).window(5), Some((1, 5)));
        assert_eq!(ReadStream::backward().limit(2).window(5), Some((4, 5)));
        assert_eq!(
            ReadStream::backward().to(3).limit(10).window(5),
            Some((1, 3))
        );
        assert_eq!(all.limit(0).window(5), None);
    }
}
