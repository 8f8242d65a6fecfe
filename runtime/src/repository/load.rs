//! Loading: the current state (newest usable snapshot plus the events after
//! it) and the temporal queries (state at a version, state as of a time, the
//! events between two versions).

use chrono::{DateTime, Utc};

use super::{Repository, RepositoryError};
use crate::aggregate::Aggregate;
use crate::codec::Codec;
use crate::envelope::{Envelope, RecordedEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::{EventStore, LoadQuery, LoadedStream, ReadStream};

/// An aggregate's state as loaded, with where it stands in its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedAggregate<A> {
    /// The state.
    pub state: A,
    /// The stream version the state includes: the version of the last event
    /// applied (0: none).
    pub version: u64,
    /// The version of the snapshot the load started from (`None`: it replayed
    /// from the first event).
    pub snapshot_version: Option<u64>,
    /// How many events were applied on top of the snapshot (or of the
    /// default state).
    pub events_replayed: u64,
    /// How many of those were of a retired event type, and skipped.
    pub events_retired: u64,
}

type Result<T, A> = std::result::Result<T, RepositoryError<<A as Aggregate>::Error>>;

/// A load plus the stored events it applied (the idempotency check reads
/// their metadata).
pub(super) struct RawLoad<A> {
    pub(super) loaded: LoadedAggregate<A>,
    pub(super) tail: Vec<RecordedEvent>,
}

impl<A, S, C> Repository<A, S, C>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// Loads the current state of `stream`: the newest usable snapshot (when
    /// snapshots are on) and the events after it. A stream never written
    /// loads as the default state at version 0.
    ///
    /// A snapshot that does not decode is skipped with a `tracing` warning
    /// and the stream is replayed from its first event.
    pub async fn load(&self, stream: &StreamId) -> Result<LoadedAggregate<A>, A> {
        Ok(self.load_raw(stream, None, false).await?.loaded)
    }

    /// The state of `stream` right after the event at `version` (0: the
    /// default state), from the newest usable snapshot at or below it.
    pub async fn load_at(&self, stream: &StreamId, version: u64) -> Result<LoadedAggregate<A>, A> {
        let current = self.current_version(stream).await?;
        if version > current {
            return Err(RepositoryError::VersionNotFound {
                stream: stream.clone(),
                requested: version,
                current,
            });
        }
        if version == 0 {
            return Ok(LoadedAggregate {
                state: A::default(),
                version: 0,
                snapshot_version: None,
                events_replayed: 0,
                events_retired: 0,
            });
        }
        Ok(self.load_raw(stream, Some(version), false).await?.loaded)
    }

    /// The state of `stream` as of `time`: after every event recorded at or
    /// before it.
    ///
    /// The version is found by a binary search on the events' `recorded_at`,
    /// which relies on record times not decreasing along a stream (stores
    /// stamp events as they commit them); then the state is loaded as
    /// [`Repository::load_at`] does, from a snapshot when one fits.
    pub async fn load_as_of(
        &self,
        stream: &StreamId,
        time: DateTime<Utc>,
    ) -> Result<LoadedAggregate<A>, A> {
        let current = self.current_version(stream).await?;
        let first = self
            .store
            .read_stream(stream, ReadStream::all().limit(1))
            .await?;
        let Some(first) = first.into_iter().next() else {
            if current == 0 {
                return self.load_at(stream, 0).await;
            }
            return Err(RepositoryError::HistoryMissing {
                stream: stream.clone(),
                expected: 1,
                found: current + 1,
            });
        };
        if first.recorded_at > time {
            return self.load_at(stream, first.stream_version - 1).await;
        }
        // Invariant: `lo` was recorded at or before `time`; everything above
        // `hi` after it.
        let (mut lo, mut hi) = (first.stream_version, current);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let at = self
                .store
                .read_stream(stream, ReadStream::all().from(mid).to(mid))
                .await?;
            match at.first() {
                Some(e) if e.recorded_at > time => hi = mid - 1,
                _ => lo = mid,
            }
        }
        self.load_at(stream, lo).await
    }

    /// The events of `stream` from version `from` to version `to`
    /// (inclusive), decoded, with their envelopes: the audit trail of who did
    /// what and when. Versions no longer stored are left out.
    pub async fn events_between(
        &self,
        stream: &StreamId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Envelope<A::Event>>, A> {
        let recorded = self
            .store
            .read_stream(stream, ReadStream::all().from(from).to(to))
            .await?;
        upcast_all::<A, C>(&self.codec, &recorded)
    }

    /// The stream's version as the store reports it (0: never written).
    pub(super) async fn current_version(&self, stream: &StreamId) -> Result<u64, A> {
        Ok(self
            .store
            .stream_info(stream)
            .await?
            .map_or(0, |info| info.version))
    }

    /// Decodes a loaded snapshot: `None` when it does not decode (with a
    /// warning: the caller replays from the first event).
    fn decode_snapshot(&self, stream: &StreamId, snapshot: &Snapshot) -> Option<A> {
        let codec = self.snapshots?;
        match (codec.decode)(&self.codec, &snapshot.payload) {
            Ok(state) => Some(state),
            Err(error) => {
                tracing::warn!(
                    stream = %stream,
                    version = snapshot.version,
                    aggregate = A::TYPE_NAME,
                    schema_version = A::SCHEMA_VERSION,
                    %error,
                    "snapshot does not decode; replaying the stream from its first event"
                );
                None
            }
        }
    }

    /// Loads the state up to `upto` (`None`: the end of the stream), from
    /// one consistent read of the store ([`EventStore::load_stream`]: the
    /// newest usable snapshot, the events after it and the stream's
    /// version, as of one moment). The events come with their metadata
    /// when the aggregate's `apply` may read it
    /// ([`Aggregate::APPLY_READS_METADATA`]) or the caller reads the
    /// returned `tail`'s metadata (`tail_metadata`: idempotency lookups);
    /// otherwise the store may leave it out.
    #[tracing::instrument(
        name = "eventfold.load",
        level = "debug",
        skip_all,
        fields(aggregate = A::TYPE_NAME, stream = %stream, upto = ?upto)
    )]
    pub(super) async fn load_raw(
        &self,
        stream: &StreamId,
        upto: Option<u64>,
        tail_metadata: bool,
    ) -> Result<RawLoad<A>, A> {
        let mut query = LoadQuery {
            snapshot: self.snapshots.map(|_| (A::TYPE_NAME, A::SCHEMA_VERSION)),
            upto,
            metadata: A::APPLY_READS_METADATA || tail_metadata,
        };
        let mut read = self.store.load_stream(stream, query).await?;
        let mut start_state = None;
        if let Some(snapshot) = &read.snapshot {
            match self.decode_snapshot(stream, snapshot) {
                Some(state) => start_state = Some((state, snapshot.version)),
                None => {
                    // Replay from the first event instead.
                    query.snapshot = None;
                    read = self.store.load_stream(stream, query).await?;
                }
            }
        }
        let snapshot_version = start_state.as_ref().map(|(_, v)| *v);
        let (mut state, start) = match start_state {
            Some((state, v)) => (state, v + 1),
            None => (A::default(), 1),
        };
        let LoadedStream {
            events: tail,
            version: current,
            ..
        } = read;
        let missing = |found| RepositoryError::HistoryMissing {
            stream: stream.clone(),
            expected: start,
            found,
        };
        // The events read must run from `start` to the end of the window
        // without a gap: anything else is history that is truly gone (the
        // read is consistent, so never a write racing the load).
        let end = upto.map_or(current, |u| u.min(current));
        match tail.first() {
            Some(first) if first.stream_version != start => {
                return Err(missing(first.stream_version));
            }
            None if end >= start => return Err(missing(end + 1)),
            _ => {}
        }
        if upto.is_some_and(|u| u > current) {
            return Err(missing(current + 1));
        }
        if let Some(last) = tail.last()
            && last.stream_version != end
        {
            return Err(missing(last.stream_version + 1));
        }
        // Through the upcasters: old versions are upgraded, renamed types
        // mapped, split events applied in order, retired ones skipped.
        let stats = crate::aggregate::replay_recorded(&mut state, &tail, &self.codec)?;
        let version = match tail.last() {
            Some(last) => last.stream_version,
            None if upto.is_none() => start - 1,
            None => snapshot_version.unwrap_or(0),
        };
        Ok(RawLoad {
            loaded: LoadedAggregate {
                state,
                version,
                snapshot_version,
                events_replayed: tail.len() as u64,
                events_retired: stats.retired,
            },
            tail,
        })
    }
}

/// Decodes stored events of `A` through the upcasters, in order: a split
/// event yields several envelopes (sharing its ids and versions), a retired
/// one none.
pub(super) fn upcast_all<A: Aggregate, C: Codec>(
    codec: &C,
    records: &[RecordedEvent],
) -> Result<Vec<Envelope<A::Event>>, A> {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        out.extend(r.upcast::<A::Event, C>(codec)?);
    }
    Ok(out)
}
