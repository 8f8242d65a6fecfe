//! The store traits for `Arc<T>`: a store shared behind an `Arc` is a store,
//! so every constructor takes its store by value (stores are cheap handles
//! to clone; an `Arc` of one works the same), and code that already holds
//! an `Arc` passes it as it is.

use std::sync::Arc;

use crate::envelope::{NewEvent, RecordedEvent, StreamId};
use crate::projection::{CheckpointStore, DeadLetter};
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::{
    AppendResult, DeleteMode, EventStore, ExpectedVersion, ListStreams, ReadStream, SnapshotInfo,
    StoreError, StoreStatistics, StoreStats, StreamInfo, StreamPage,
};

/// Forwards every method but [`EventStore::load_stream`], which keeps the
/// trait's default (it needs `Self: SnapshotStore`, which `T: EventStore`
/// does not promise): pass stores by value to get their one-read loads.
impl<T: EventStore> EventStore for Arc<T> {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        (**self).append(stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        (**self).read_stream(stream, read).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        (**self).read_all(after, limit).await
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        (**self).stream_info(stream).await
    }

    async fn delete_stream(&self, stream: &StreamId, mode: DeleteMode) -> Result<(), StoreError> {
        (**self).delete_stream(stream, mode).await
    }

    async fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> Result<u64, StoreError> {
        (**self).delete_events_before(stream, before).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        (**self).head_position().await
    }

    async fn wait_for_append(&self, position: u64) {
        (**self).wait_for_append(position).await
    }
}

impl<T: SnapshotStore> SnapshotStore for Arc<T> {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        (**self).save_snapshot(snapshot).await
    }

    async fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        (**self)
            .load_snapshot(stream, aggregate_type, schema_version, max_version)
            .await
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        (**self).prune_snapshots(stream, keep).await
    }

    async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
        (**self).delete_snapshots(stream).await
    }
}

impl<T: StoreStats> StoreStats for Arc<T> {
    async fn statistics(&self) -> Result<StoreStatistics, StoreError> {
        (**self).statistics().await
    }

    async fn list_streams(&self, query: ListStreams) -> Result<StreamPage, StoreError> {
        (**self).list_streams(query).await
    }

    async fn stream_snapshots(&self, stream: &StreamId) -> Result<Vec<SnapshotInfo>, StoreError> {
        (**self).stream_snapshots(stream).await
    }
}

impl<T: CheckpointStore> CheckpointStore for Arc<T> {
    async fn load(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        (**self).load(projection).await
    }

    async fn save(&self, projection: &str, position: u64) -> Result<(), StoreError> {
        (**self).save(projection, position).await
    }

    async fn reset(&self, projection: &str) -> Result<(), StoreError> {
        (**self).reset(projection).await
    }

    async fn park(&self, letter: DeadLetter) -> Result<(), StoreError> {
        (**self).park(letter).await
    }

    async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        (**self).dead_letters(projection).await
    }

    async fn claim(
        &self,
        projection: &str,
        owner: uuid::Uuid,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        (**self).claim(projection, owner, ttl).await
    }

    async fn save_claimed(
        &self,
        projection: &str,
        position: u64,
        owner: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        (**self).save_claimed(projection, position, owner).await
    }

    async fn release(&self, projection: &str, owner: uuid::Uuid) -> Result<(), StoreError> {
        (**self).release(projection, owner).await
    }
}
