//! Saving snapshots, and the retention policy in one place: keeping the
//! last K snapshots, and (opt-in, dangerous) archiving the events a snapshot
//! covers, beyond a count or an age.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Repository, RepositoryError};
use crate::aggregate::Aggregate;
use crate::codec::Codec;
use crate::envelope::StreamId;
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::EventStore;

type Result<T, A> = std::result::Result<T, RepositoryError<<A as Aggregate>::Error>>;

/// How much history a [`Repository`] keeps, as actor-persistence libraries
/// configure it: snapshots per stream, events per stream, and the age of
/// events. Set it with [`Repository::retention`]; the default keeps
/// everything.
///
/// ```
/// use std::time::Duration;
/// use eventfold::repository::RetentionPolicy;
///
/// let policy = RetentionPolicy::default()
///     .keep_snapshots(2)
///     .keep_events(10_000)
///     .keep_for(Duration::from_secs(90 * 24 * 3600));
/// # let _ = policy;
/// ```
///
/// Snapshots beyond [`keep_snapshots`](Self::keep_snapshots) are deleted
/// after each new one. Event limits are applied by
/// [`Repository::apply_retention`], which a repository also runs after each
/// snapshot it saves: events older than [`keep_for`](Self::keep_for), or
/// beyond the newest [`keep_events`](Self::keep_events), are deleted from
/// the store, but **never past the newest snapshot**, so the stream still
/// loads.
///
/// # The danger
///
/// Archived events are gone for good. The stream then loads only from a
/// snapshot: if the aggregate's schema version changes, or its snapshot
/// stops decoding, loads fail with [`RepositoryError::HistoryMissing`]
/// instead of replaying; states at archived versions, the audit trail of
/// those events, and projections rebuilt from zero no longer see them. Copy
/// the events elsewhere first (a projection writing them to cold storage)
/// if anyone may need them. Needs a store that implements
/// [`EventStore::delete_events_before`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    max_snapshots: Option<usize>,
    max_events: Option<u64>,
    max_age: Option<Duration>,
}

impl RetentionPolicy {
    /// Keeps the newest `k` snapshots of a stream (at least 1).
    #[must_use]
    pub fn keep_snapshots(mut self, k: usize) -> Self {
        self.max_snapshots = Some(k.max(1));
        self
    }

    /// Archives all but the newest `n` events of a stream (never past its
    /// newest snapshot). Dangerous: see the [type docs](Self).
    #[must_use]
    pub fn keep_events(mut self, n: u64) -> Self {
        self.max_events = Some(n);
        self
    }

    /// Archives the events recorded longer than `age` ago (never past the
    /// stream's newest snapshot). Dangerous: see the [type docs](Self).
    #[must_use]
    pub fn keep_for(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// How many snapshots per stream are kept (`None`: all).
    pub fn max_snapshots(&self) -> Option<usize> {
        self.max_snapshots
    }

    /// How many events per stream are kept (`None`: no limit).
    pub fn max_events(&self) -> Option<u64> {
        self.max_events
    }

    /// How old kept events may be (`None`: no limit).
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// Whether events are ever archived.
    pub fn archives_events(&self) -> bool {
        self.max_events.is_some() || self.max_age.is_some()
    }
}

impl<A, S, C> Repository<A, S, C>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// Saves a snapshot of `state` at `version` and prunes old ones, as
    /// configured; failures only warn: the events are stored already, and a
    /// missing snapshot costs a longer replay, nothing more.
    /// Returns whether it was saved.
    pub(super) async fn save_snapshot_logged(
        &self,
        stream: &StreamId,
        state: &A,
        version: u64,
    ) -> bool {
        match self.save_snapshot(stream, state, version).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    stream = %stream,
                    version,
                    aggregate = A::TYPE_NAME,
                    %error,
                    "could not save a snapshot; loads replay more events until the next one"
                );
                false
            }
        }
    }

    async fn save_snapshot(&self, stream: &StreamId, state: &A, version: u64) -> Result<(), A> {
        let Some(codec) = self.snapshots else {
            return Ok(());
        };
        let payload = (codec.encode)(&self.codec, state);
        self.store_snapshot(stream, version, payload).await
    }

    /// Stores an encoded snapshot and prunes old ones as configured.
    async fn store_snapshot(
        &self,
        stream: &StreamId,
        version: u64,
        payload: std::result::Result<Vec<u8>, crate::codec::CodecError>,
    ) -> Result<(), A> {
        let payload = payload.map_err(|source| RepositoryError::SnapshotEncode {
            stream: stream.clone(),
            version,
            source,
        })?;
        self.store
            .save_snapshot(Snapshot {
                stream_id: stream.clone(),
                aggregate_type: A::TYPE_NAME.to_owned(),
                schema_version: A::SCHEMA_VERSION,
                version,
                payload,
                taken_at: self.clock.now(),
            })
            .await?;
        if let Some(keep) = self.retention.max_snapshots {
            self.store.prune_snapshots(stream, keep).await?;
        }
        if self.retention.archives_events() {
            self.archive_events(stream, version).await?;
        }
        Ok(())
    }

    /// Applies the [`RetentionPolicy`]'s event limits to `stream`: deletes
    /// the events it no longer keeps, never past the newest usable snapshot.
    /// Returns how many were deleted (0 when the policy keeps every event,
    /// or the stream has no snapshot). Dangerous: see [`RetentionPolicy`].
    pub async fn apply_retention(&self, stream: &StreamId) -> Result<u64, A> {
        if !self.retention.archives_events() || self.snapshots.is_none() {
            return Ok(0);
        }
        let Some(snapshot) = self
            .load_raw(stream, None, false)
            .await?
            .loaded
            .snapshot_version
        else {
            return Ok(0);
        };
        self.archive_events(stream, snapshot).await
    }

    /// The version of the first event recorded at or after `cutoff`, among
    /// those up to `snapshot` (`snapshot + 1` when all are older). Reads in
    /// pages from the oldest event still stored: after earlier archiving,
    /// the first page usually answers.
    async fn first_recorded_since(
        &self,
        stream: &StreamId,
        snapshot: u64,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, A> {
        const PAGE: usize = 256;
        let mut from = 1;
        while from <= snapshot {
            let page = self
                .store
                .read_stream(
                    stream,
                    crate::store::ReadStream::all()
                        .from(from)
                        .to(snapshot)
                        .limit(PAGE),
                )
                .await?;
            if let Some(young) = page.iter().find(|e| e.recorded_at >= cutoff) {
                return Ok(young.stream_version);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => from = last.stream_version + 1,
                _ => break,
            }
        }
        Ok(snapshot + 1)
    }

    /// Deletes what the policy does not keep, below `snapshot + 1`.
    async fn archive_events(&self, stream: &StreamId, snapshot: u64) -> Result<u64, A> {
        let version = self
            .store
            .stream_info(stream)
            .await?
            .map_or(0, |info| info.version);
        // Versions below `before` go; the newest snapshot's tail stays.
        let mut before = 0;
        if let Some(keep) = self.retention.max_events {
            before = before.max((version + 1).saturating_sub(keep));
        }
        if let Some(age) = self.retention.max_age
            && let Some(cutoff) = chrono::Duration::from_std(age)
                .ok()
                .and_then(|age| self.clock.now().checked_sub_signed(age))
        {
            before = before.max(self.first_recorded_since(stream, snapshot, cutoff).await?);
        }
        let before = before.min(snapshot + 1);
        if before <= 1 {
            return Ok(0);
        }
        let deleted = self.store.delete_events_before(stream, before).await?;
        if deleted > 0 {
            tracing::info!(
                stream = %stream,
                aggregate = A::TYPE_NAME,
                before,
                deleted,
                "archived events by the retention policy"
            );
        }
        Ok(deleted)
    }

    /// Archives the events of `stream` that its newest usable snapshot covers:
    /// deletes them from the store for good and returns how many were
    /// deleted.
    ///
    /// **Dangerous, opt-in, never done automatically.** Afterwards the stream
    /// can only be loaded from that snapshot (or a later one): if the
    /// aggregate's schema version changes, or the snapshot stops decoding,
    /// loads fail with [`RepositoryError::HistoryMissing`] instead of
    /// replaying; state at an archived version and the audit trail of the
    /// archived events are gone; projections rebuilt from zero no longer see
    /// them. Copy the events elsewhere first if they may be needed. Needs a
    /// store that implements [`EventStore::delete_events_before`].
    pub async fn archive_before_snapshot(&self, stream: &StreamId) -> Result<u64, A> {
        let snapshot = if self.snapshots.is_some() {
            self.load_raw(stream, None, false)
                .await?
                .loaded
                .snapshot_version
        } else {
            None
        };
        let Some(version) = snapshot else {
            return Err(RepositoryError::NoSnapshot {
                stream: stream.clone(),
            });
        };
        Ok(self.store.delete_events_before(stream, version + 1).await?)
    }
}

impl<A, S, C> Repository<A, S, C>
where
    A: Aggregate + Serialize + DeserializeOwned,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// Loads the stream and saves a snapshot of its current state, whatever
    /// the policy says (and prunes old ones if configured). Returns the
    /// snapshot's version (0: the stream is empty, nothing saved).
    ///
    /// Unlike snapshots taken after commands, a failure here is an error.
    pub async fn snapshot_now(&self, stream: &StreamId) -> Result<u64, A> {
        let loaded = self.load(stream).await?;
        if loaded.version == 0 {
            return Ok(0);
        }
        let payload = self.codec.encode(&loaded.state);
        self.store_snapshot(stream, loaded.version, payload).await?;
        Ok(loaded.version)
    }
}
