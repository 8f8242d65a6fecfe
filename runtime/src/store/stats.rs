//! Store statistics and listing: how many events (in all, per event type),
//! how many streams (per aggregate type), how many snapshots, a paged list
//! of streams with their version and last event time, and the snapshots of
//! one stream ([`StoreStats`]).
//!
//! Every store answers these without reading events into the program: the
//! SQL stores with aggregate queries over their tables (and the stream table
//! for the list, in stream id order by keyset paging), [`super::MemoryStore`]
//! from counters it keeps up to date on every append and delete.
//!
//! ```
//! use eventfold::store::{ListStreams, StoreStats};
//! use eventfold::{EventStore, ExpectedVersion, MemoryStore, Metadata, NewEvent, StreamId};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let stream = StreamId::new("BankAccount-1").unwrap();
//! let event = NewEvent::new("Opened", 1, b"{}".to_vec(), Metadata::default());
//! store.append(&stream, ExpectedVersion::Any, vec![event]).await.unwrap();
//!
//! let stats = store.statistics().await.unwrap();
//! assert_eq!(stats.total_events, 1);
//! assert_eq!(stats.events_by_type["Opened"], 1);
//! assert_eq!(stats.streams_by_category["BankAccount"], 1);
//!
//! let page = store.list_streams(ListStreams::new().category("BankAccount")).await.unwrap();
//! assert_eq!(page.streams[0].stream_id, stream);
//! assert_eq!(page.streams[0].version, 1);
//! # });
//! ```

#[cfg(feature = "conformance")]
#[path = "stats/contract.rs"]
pub mod contract;

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EventStore, StoreError};
use crate::envelope::StreamId;

/// The most streams one [`StoreStats::list_streams`] page holds.
pub const MAX_STREAM_PAGE: usize = 1_000;

/// The category of a stream: the text before its first `-` (the aggregate
/// type of `"{TYPE_NAME}-{id}"` streams), or the whole id when it has none.
///
/// ```
/// use eventfold::store::stream_category;
/// assert_eq!(stream_category("BankAccount-acc-1"), "BankAccount");
/// assert_eq!(stream_category("settings"), "settings");
/// ```
pub fn stream_category(stream_id: &str) -> &str {
    stream_id.split_once('-').map_or(stream_id, |(c, _)| c)
}

/// Counts over a whole store ([`StoreStats::statistics`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStatistics {
    /// Events stored (hard-deleted and archived events are not counted).
    pub total_events: u64,
    /// The global position of the last committed event.
    pub head_position: u64,
    /// Streams the store knows, tombstoned ones included.
    pub total_streams: u64,
    /// Of those, how many are tombstoned.
    pub deleted_streams: u64,
    /// Snapshots stored, of every stream.
    pub total_snapshots: u64,
    /// Events stored, per event type name.
    pub events_by_type: BTreeMap<String, u64>,
    /// Streams, per category ([`stream_category`]: the aggregate type).
    pub streams_by_category: BTreeMap<String, u64>,
}

/// One stream in a [`StreamPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamSummary {
    /// The stream.
    pub stream_id: StreamId,
    /// Its version (its latest event's).
    pub version: u64,
    /// When its last stored event was recorded (`None`: no event stored).
    pub last_recorded_at: Option<DateTime<Utc>>,
    /// Whether it is tombstoned.
    pub deleted: bool,
}

/// Which streams [`StoreStats::list_streams`] returns: in stream id order,
/// after a cursor, optionally only those of one category or id prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ListStreams {
    /// Only streams whose id is greater than this (the previous page's
    /// [`StreamPage::next`]).
    pub after: Option<String>,
    /// Only streams whose id starts with this.
    pub prefix: Option<String>,
    /// At most this many (default 100, at most [`MAX_STREAM_PAGE`]).
    pub limit: usize,
}

impl ListStreams {
    /// The first 100 streams.
    pub fn new() -> Self {
        Self {
            after: None,
            prefix: None,
            limit: 100,
        }
    }

    /// Continues after `stream_id` (a page's [`StreamPage::next`]).
    pub fn after(mut self, stream_id: impl Into<String>) -> Self {
        self.after = Some(stream_id.into());
        self
    }

    /// Only the streams whose id starts with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Only the streams of one aggregate type (ids `"{category}-..."`).
    pub fn category(self, category: &str) -> Self {
        self.prefix(format!("{category}-"))
    }

    /// At most `n` streams (clamped to 1..=[`MAX_STREAM_PAGE`]).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// The limit to apply: the one asked for, within 1..=[`MAX_STREAM_PAGE`].
    pub fn effective_limit(&self) -> usize {
        self.limit.clamp(1, MAX_STREAM_PAGE)
    }

    /// Whether `stream_id` belongs in this listing (cursor and prefix; for
    /// store implementations).
    pub fn matches(&self, stream_id: &str) -> bool {
        self.after.as_deref().is_none_or(|a| stream_id > a)
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| stream_id.starts_with(p))
    }
}

/// One page of streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamPage {
    /// The streams, in stream id order.
    pub streams: Vec<StreamSummary>,
    /// The cursor of the next page (`None`: this was the last one).
    pub next: Option<String>,
}

impl StreamPage {
    /// Builds a page from up to `limit + 1` summaries (the extra one only
    /// tells that a next page exists), for store implementations.
    pub fn from_overfetch(mut streams: Vec<StreamSummary>, limit: usize) -> Self {
        let next = if streams.len() > limit {
            streams.truncate(limit);
            streams.last().map(|s| s.stream_id.to_string())
        } else {
            None
        };
        Self { streams, next }
    }
}

/// A stored snapshot without its payload ([`StoreStats::stream_snapshots`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInfo {
    /// The stream version the snapshot's state includes.
    pub version: u64,
    /// The aggregate type it was taken of.
    pub aggregate_type: String,
    /// The aggregate's schema version when it was taken.
    pub schema_version: u32,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// The payload's size in bytes.
    pub size: u64,
}

/// Statistics and listing over a store, answered by the store itself
/// (aggregate queries or kept counters), never by reading every event.
pub trait StoreStats: EventStore {
    /// Counts over the whole store.
    fn statistics(&self) -> impl Future<Output = Result<StoreStatistics, StoreError>> + Send;

    /// One page of streams, in stream id order.
    fn list_streams(
        &self,
        query: ListStreams,
    ) -> impl Future<Output = Result<StreamPage, StoreError>> + Send;

    /// The snapshots of one stream, by version, without their payloads.
    fn stream_snapshots(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = Result<Vec<SnapshotInfo>, StoreError>> + Send;
}
