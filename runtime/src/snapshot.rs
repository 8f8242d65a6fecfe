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

/// What a [`SnapshotPolicy`] is asked after a command appended events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotContext<'a> {
    /// The stream written to.
    pub stream_id: &'a StreamId,
    /// The stream version the command was decided on.
    pub previous_version: u64,
    /// The stream version after the append.
    pub version: u64,
    /// The version of the snapshot the state was loaded from (`None`: it was
    /// replayed from the first event).
    pub snapshot_version: Option<u64>,
}

impl SnapshotContext<'_> {
    /// Events applied since the snapshot the state was loaded from (or since
    /// the beginning of the stream).
    pub fn events_since_snapshot(&self) -> u64 {
        self.version - self.snapshot_version.unwrap_or(0)
    }
}

/// When a repository saves a snapshot after appending events.
///
/// ```
/// use eventfold::snapshot::{SnapshotContext, SnapshotPolicy};
/// use eventfold::StreamId;
/// let stream = StreamId::new("Counter-1").unwrap();
/// let ctx = |previous_version, version| SnapshotContext {
///     stream_id: &stream,
///     previous_version,
///     version,
///     snapshot_version: None,
/// };
/// let every_100 = SnapshotPolicy::every(100);
/// assert!(!every_100.should_snapshot(&ctx(98, 99)));
/// assert!(every_100.should_snapshot(&ctx(99, 100)));
/// // A batch that jumps over a multiple still triggers one snapshot.
/// assert!(every_100.should_snapshot(&ctx(198, 203)));
///
/// let custom = SnapshotPolicy::custom(|c| c.events_since_snapshot() >= 10);
/// assert!(custom.should_snapshot(&ctx(9, 10)));
/// assert!(!SnapshotPolicy::Never.should_snapshot(&ctx(99, 100)));
/// ```
#[derive(Clone, Default)]
pub enum SnapshotPolicy {
    /// Never save snapshots (existing ones are still used on load).
    #[default]
    Never,
    /// Save one whenever the stream version reaches or passes a multiple of
    /// N (N = 0 behaves like [`SnapshotPolicy::Never`]).
    Every(u64),
    /// Save one whenever the function says so.
    Custom(std::sync::Arc<dyn Fn(&SnapshotContext<'_>) -> bool + Send + Sync>),
}

impl std::fmt::Debug for SnapshotPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Never => f.write_str("Never"),
            Self::Every(n) => f.debug_tuple("Every").field(n).finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl SnapshotPolicy {
    /// A snapshot every `n` events.
    pub fn every(n: u64) -> Self {
        Self::Every(n)
    }

    /// A snapshot whenever `decide` returns `true`.
    pub fn custom(decide: impl Fn(&SnapshotContext<'_>) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(std::sync::Arc::new(decide))
    }

    /// The policy of the aggregate's attribute
    /// (`#[aggregate(snapshot_every = N)]`), or [`SnapshotPolicy::Never`].
    pub fn from_aggregate<A: crate::Aggregate>() -> Self {
        A::SNAPSHOT_EVERY.map_or(Self::Never, Self::Every)
    }

    /// Whether to save a snapshot of the state after the append described by
    /// `ctx`.
    pub fn should_snapshot(&self, ctx: &SnapshotContext<'_>) -> bool {
        if ctx.version <= ctx.previous_version {
            return false;
        }
        match self {
            Self::Never | Self::Every(0) => false,
            Self::Every(n) => ctx.previous_version / n < ctx.version / n,
            Self::Custom(decide) => decide(ctx),
        }
    }
}
