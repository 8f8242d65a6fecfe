//! [`MemoryStore`]: an event store in process memory, for tests and examples.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use tokio::sync::watch;
use uuid::Uuid;

use super::{
    AppendResult, DeleteMode, EventStore, ExpectedVersion, LoadQuery, LoadedStream, ReadStream,
    StoreError, StoredEventId, StreamInfo, check_batch, idempotent_outcome,
};
use crate::envelope::{Metadata, NewEvent, RecordedEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};

mod stats;

/// An event store kept in memory. Cloning shares the same store.
///
/// Every append runs under one lock, which assigns versions and global
/// positions in the same step: positions are strictly increasing in commit
/// order by construction.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    head: Arc<watch::Sender<u64>>,
    snapshots: MemorySnapshots,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryStore")
            .field("events", &inner.log.len())
            .field("streams", &inner.streams.len())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    /// Every stored event by global position.
    log: BTreeMap<u64, RecordedEvent>,
    streams: HashMap<StreamId, StreamState>,
    /// Where each stored event id is.
    ids: HashMap<Uuid, StoredEventId>,
    head: u64,
    /// Statistics kept up to date by every append and delete.
    counters: stats::Counters,
}

#[derive(Default)]
struct StreamState {
    /// Stream version -> global position of the events still stored.
    positions: BTreeMap<u64, u64>,
    version: u64,
    deleted: bool,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            head: Arc::new(watch::channel(0).0),
            snapshots: MemorySnapshots::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied append:
        // appends mutate only after every check passed.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append_sync(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_batch(stream, &events)?;
        let mut inner = self.lock();
        let (current, deleted) = inner
            .streams
            .get(stream)
            .map_or((0, false), |s| (s.version, s.deleted));
        if deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        if let Some(done) = idempotent_replay(&inner, stream, &events)? {
            return Ok(done);
        }
        expected.check(stream, current)?;
        if events.is_empty() {
            return Ok(AppendResult {
                first_version: current,
                next_expected_version: current,
                last_position: 0,
                written: false,
                recorded_at: None,
            });
        }
        let now = Utc::now();
        let mut version = current;
        let mut position = inner.head;
        let mut positions = Vec::with_capacity(events.len());
        for e in events {
            version += 1;
            position += 1;
            inner.ids.insert(
                e.event_id,
                StoredEventId {
                    stream: stream.clone(),
                    version,
                    position,
                },
            );
            positions.push((version, position));
            inner.counters.added(&e.event_type);
            inner.log.insert(
                position,
                RecordedEvent {
                    event_id: e.event_id,
                    stream_id: stream.clone(),
                    stream_version: version,
                    global_position: position,
                    recorded_at: now,
                    event_type: e.event_type,
                    schema_version: e.schema_version,
                    payload: e.payload,
                    metadata: e.metadata,
                },
            );
        }
        inner.head = position;
        inner.counters.stream(stream);
        let state = inner.streams.entry(stream.clone()).or_default();
        state.positions.extend(positions);
        state.version = version;
        drop(inner);
        self.head.send_replace(position);
        Ok(AppendResult {
            first_version: current + 1,
            next_expected_version: version,
            last_position: position,
            written: true,
            recorded_at: Some(now),
        })
    }
}

/// Applies the idempotency rule of the store contract.
fn idempotent_replay(
    inner: &Inner,
    stream: &StreamId,
    events: &[NewEvent],
) -> Result<Option<AppendResult>, StoreError> {
    let found: Vec<Option<StoredEventId>> = events
        .iter()
        .map(|e| inner.ids.get(&e.event_id).cloned())
        .collect();
    idempotent_outcome(stream, events, &found)
}

impl EventStore for MemoryStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.append_sync(stream, expected, events)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        let Some(state) = inner.streams.get(stream) else {
            return Ok(Vec::new());
        };
        if state.deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        let Some((lo, hi)) = read.window(state.version) else {
            return Ok(Vec::new());
        };
        let pick = |(_, p): (&u64, &u64)| inner.log.get(p).cloned();
        Ok(match read.direction {
            super::Direction::Forward => state.positions.range(lo..=hi).filter_map(pick).collect(),
            super::Direction::Backward => state
                .positions
                .range(lo..=hi)
                .rev()
                .filter_map(pick)
                .collect(),
        })
    }

    async fn load_stream(
        &self,
        stream: &StreamId,
        query: LoadQuery<'_>,
    ) -> Result<LoadedStream, StoreError> {
        // A snapshot is saved only after the events it covers, so reading it
        // first and the events (with the version) under one lock after it is
        // one consistent view.
        let snapshot = match query.snapshot {
            Some((aggregate_type, schema_version)) => {
                self.snapshot_at(stream, aggregate_type, schema_version, query.upto)
            }
            None => None,
        };
        let start = snapshot.as_ref().map_or(1, |s| s.version + 1);
        let inner = self.lock();
        let Some(state) = inner.streams.get(stream) else {
            return Ok(LoadedStream {
                snapshot,
                events: Vec::new(),
                version: 0,
            });
        };
        if state.deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        let end = query.upto.unwrap_or(u64::MAX);
        let events = if start <= end {
            state
                .positions
                .range(start..=end)
                .filter_map(|(_, p)| inner.log.get(p))
                .map(|e| without_metadata(e, query.metadata))
                .collect()
        } else {
            Vec::new()
        };
        Ok(LoadedStream {
            snapshot,
            events,
            version: state.version,
        })
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .log
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        let inner = self.lock();
        Ok(inner.streams.get(stream).map(|s| {
            let at = |p: Option<(&u64, &u64)>| {
                p.and_then(|(_, p)| inner.log.get(p)).map(|e| e.recorded_at)
            };
            StreamInfo {
                stream_id: stream.clone(),
                version: s.version,
                first_recorded_at: at(s.positions.first_key_value()),
                last_recorded_at: at(s.positions.last_key_value()),
                deleted: s.deleted,
            }
        }))
    }

    async fn delete_stream(&self, stream: &StreamId, mode: DeleteMode) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(state) = inner.streams.get_mut(stream) else {
            if mode == DeleteMode::Tombstone {
                inner.counters.stream(stream);
                inner.streams.insert(
                    stream.clone(),
                    StreamState {
                        deleted: true,
                        ..StreamState::default()
                    },
                );
            }
            return Ok(());
        };
        match mode {
            DeleteMode::Tombstone => state.deleted = true,
            DeleteMode::Hard => {
                for (_, p) in std::mem::take(&mut state.positions) {
                    if let Some(e) = inner.log.remove(&p) {
                        inner.counters.removed(&e);
                        inner.ids.remove(&e.event_id);
                    }
                }
            }
        }
        Ok(())
    }

    async fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(state) = inner.streams.get_mut(stream) else {
            return Ok(0);
        };
        if state.deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        let kept = state.positions.split_off(&before);
        let removed = std::mem::replace(&mut state.positions, kept);
        for p in removed.values() {
            if let Some(e) = inner.log.remove(p) {
                inner.counters.removed(&e);
                inner.ids.remove(&e.event_id);
            }
        }
        Ok(removed.len() as u64)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.lock().head)
    }

    async fn wait_for_append(&self, position: u64) {
        let mut rx = self.head.subscribe();
        let _ = rx.wait_for(|head| *head > position).await;
    }
}

/// Snapshots kept in memory, per stream, ordered by version.
#[derive(Clone, Default)]
pub(super) struct MemorySnapshots {
    by_stream: Arc<Mutex<HashMap<StreamId, BTreeMap<u64, Snapshot>>>>,
}

impl MemorySnapshots {
    fn lock(&self) -> MutexGuard<'_, HashMap<StreamId, BTreeMap<u64, Snapshot>>> {
        self.by_stream.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MemoryStore {
    /// The newest matching snapshot at or below `max_version`.
    fn snapshot_at(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Option<Snapshot> {
        let all = self.snapshots.lock();
        all.get(stream).and_then(|by_version| {
            by_version
                .range(..=max_version.unwrap_or(u64::MAX))
                .rev()
                .map(|(_, s)| s)
                .find(|s| s.aggregate_type == aggregate_type && s.schema_version == schema_version)
                .cloned()
        })
    }
}

impl SnapshotStore for MemoryStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.snapshots
            .lock()
            .entry(snapshot.stream_id.clone())
            .or_default()
            .insert(snapshot.version, snapshot);
        Ok(())
    }

    async fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.snapshot_at(stream, aggregate_type, schema_version, max_version))
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        let mut all = self.snapshots.lock();
        let Some(by_version) = all.get_mut(stream) else {
            return Ok(0);
        };
        let mut deleted = 0;
        while by_version.len() > keep {
            by_version.pop_first();
            deleted += 1;
        }
        Ok(deleted)
    }

    async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
        self.snapshots.lock().remove(stream);
        Ok(())
    }
}

/// A copy of `event`, its metadata left empty unless `metadata` is asked for
/// ([`LoadQuery::metadata`]).
fn without_metadata(event: &RecordedEvent, metadata: bool) -> RecordedEvent {
    if metadata {
        return event.clone();
    }
    RecordedEvent {
        event_id: event.event_id,
        stream_id: event.stream_id.clone(),
        stream_version: event.stream_version,
        global_position: event.global_position,
        recorded_at: event.recorded_at,
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        payload: event.payload.clone(),
        metadata: Metadata::default(),
    }
}
