//! Snapshots: an aggregate's state at one version, kept by the same store as
//! its events, so that loading reads only the events after it.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::envelope::StreamId;
use crate::store::StoreError;

/// A stored snapshot of one stream's aggregate state.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The stream the state belongs to.
    pub stream_id: StreamId,
    /// The aggregate type name ([`crate::Aggregate::TYPE_NAME`]).
    pub aggregate_type: String,
    /// The aggregate's schema version ([`crate::Aggregate::SCHEMA_VERSION`])
    /// when the snapshot was taken: a snapshot of another schema version is
    /// ignored on load.
    pub schema_version: u32,
    /// The stream version the state includes (the last applied event).
    pub version: u64,
    /// The encoded state.
    pub payload: Vec<u8>,
    /// When the snapshot was taken.
    pub taken_at: DateTime<Utc>,
}

/// Storage of snapshots. Stores that keep events implement it too.
///
/// Rules every implementation keeps: saving a snapshot at a version that
/// already has one (for the same stream) replaces it; loading returns the
/// snapshot with the highest version at or below `max_version` whose
/// aggregate type and schema version match; deleting a stream's events does
/// not delete its snapshots (use [`SnapshotStore::delete_snapshots`]).
pub trait SnapshotStore: Send + Sync + 'static {
    /// Saves (or replaces) a snapshot.
    fn save_snapshot(
        &self,
        snapshot: Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest matching snapshot at or below `max_version` (`None`: the
    /// newest of all).
    fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Keeps the newest `keep` snapshots of the stream, deletes the rest.
    /// Returns how many were deleted.
    fn prune_snapshots(
        &self,
        stream: &StreamId,
        keep: usize,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Deletes every snapshot of the stream.
    fn delete_snapshots(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
