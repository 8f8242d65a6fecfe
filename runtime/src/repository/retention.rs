//! Saving snapshots, keeping the last K of them, and (opt-in, dangerous)
//! archiving the events a snapshot covers.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Repository, RepositoryError};
use crate::aggregate::Aggregate;
use crate::codec::Codec;
use crate::envelope::StreamId;
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::EventStore;

type Result<T, A> = std::result::Result<T, RepositoryError<<A as Aggregate>::Error>>;

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
        if let Some(keep) = self.keep_snapshots {
            self.store.prune_snapshots(stream, keep).await?;
        }
        Ok(())
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
            self.load_raw(stream, None).await?.loaded.snapshot_version
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
