//! [`StoreStats`] for [`MemoryStore`]: counters kept up to date by every
//! append and delete ([`Counters`]), so that statistics never walk the log.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::{Inner, MemoryStore};
use crate::envelope::{RecordedEvent, StreamId};
use crate::store::StoreError;
use crate::store::stats::{
    ListStreams, SnapshotInfo, StoreStatistics, StoreStats, StreamPage, StreamSummary,
    stream_category,
};

/// What the memory store counts as it goes.
#[derive(Debug, Default)]
pub(super) struct Counters {
    events: u64,
    by_type: BTreeMap<String, u64>,
    by_category: BTreeMap<String, u64>,
    /// Every stream the store knows, in id order (for listing).
    streams: BTreeSet<StreamId>,
}

impl Counters {
    /// A stream came to be known (its first append, or a tombstone).
    pub(super) fn stream(&mut self, stream: &StreamId) {
        if !self.streams.contains(stream) {
            self.streams.insert(stream.clone());
            *self
                .by_category
                .entry(stream_category(stream.as_str()).to_owned())
                .or_default() += 1;
        }
    }

    /// An event was stored.
    pub(super) fn added(&mut self, event_type: &str) {
        self.events += 1;
        match self.by_type.get_mut(event_type) {
            Some(n) => *n += 1,
            None => {
                self.by_type.insert(event_type.to_owned(), 1);
            }
        }
    }

    /// A stored event was deleted.
    pub(super) fn removed(&mut self, event: &RecordedEvent) {
        self.events = self.events.saturating_sub(1);
        if let Some(n) = self.by_type.get_mut(&event.event_type) {
            *n -= 1;
            if *n == 0 {
                self.by_type.remove(&event.event_type);
            }
        }
    }
}

fn summary(inner: &Inner, stream: &StreamId) -> Option<StreamSummary> {
    let state = inner.streams.get(stream)?;
    Some(StreamSummary {
        stream_id: stream.clone(),
        version: state.version,
        last_recorded_at: state
            .positions
            .last_key_value()
            .and_then(|(_, p)| inner.log.get(p))
            .map(|e| e.recorded_at),
        deleted: state.deleted,
    })
}

impl StoreStats for MemoryStore {
    async fn statistics(&self) -> Result<StoreStatistics, StoreError> {
        let total_snapshots = self.snapshots.lock().values().map(|s| s.len() as u64).sum();
        let inner = self.lock();
        let c = &inner.counters;
        Ok(StoreStatistics {
            total_events: c.events,
            head_position: inner.head,
            total_streams: c.streams.len() as u64,
            deleted_streams: inner.streams.values().filter(|s| s.deleted).count() as u64,
            total_snapshots,
            events_by_type: c.by_type.clone(),
            streams_by_category: c.by_category.clone(),
        })
    }

    async fn list_streams(&self, query: ListStreams) -> Result<StreamPage, StoreError> {
        let limit = query.effective_limit();
        let inner = self.lock();
        // Start at the cursor or the prefix, whichever comes later, in
        // the ordered set of stream ids.
        let bound = |id: &Option<String>, make: fn(StreamId) -> Bound<StreamId>| {
            id.as_deref()
                .and_then(|id| StreamId::new(id).ok())
                .map_or(Bound::Unbounded, make)
        };
        let after = bound(&query.after, Bound::Excluded);
        let prefix = bound(&query.prefix, Bound::Included);
        let lower = match (&after, &prefix) {
            (Bound::Excluded(a), Bound::Included(p)) if p > a => prefix,
            (Bound::Unbounded, _) => prefix,
            _ => after,
        };
        let streams = inner
            .counters
            .streams
            .range((lower, Bound::Unbounded))
            .take_while(|s| {
                query
                    .prefix
                    .as_deref()
                    .is_none_or(|p| s.as_str().starts_with(p) || s.as_str() < p)
            })
            .filter(|s| query.matches(s.as_str()))
            .take(limit + 1)
            .filter_map(|s| summary(&inner, s))
            .collect();
        Ok(StreamPage::from_overfetch(streams, limit))
    }

    async fn stream_snapshots(&self, stream: &StreamId) -> Result<Vec<SnapshotInfo>, StoreError> {
        let all = self.snapshots.lock();
        Ok(all
            .get(stream)
            .map(|by_version| {
                by_version
                    .values()
                    .map(|s| SnapshotInfo {
                        version: s.version,
                        aggregate_type: s.aggregate_type.clone(),
                        schema_version: s.schema_version,
                        taken_at: s.taken_at,
                        size: s.payload.len() as u64,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}
