//! [`FaultyStore`]: a store wrapper that fails chosen operations, for testing
//! what code built on a store (repositories, projections, your services)
//! does when the store fails.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use eventfold::store::{FaultyStore, InjectedFault, ReadStream};
//! use eventfold::{EventStore, ExpectedVersion, MemoryStore, Metadata, NewEvent, StoreError, StreamId};
//!
//! let store = FaultyStore::new(MemoryStore::new());
//! let stream = StreamId::new("BankAccount-1").unwrap();
//! let event = || NewEvent::new("Opened", 1, b"{}".to_vec(), Metadata::default());
//!
//! store.fail_next_append();
//! let err = store.append(&stream, ExpectedVersion::Any, vec![event()]).await.unwrap_err();
//! assert!(InjectedFault::is_injected(&err));
//! // Nothing was written, and the fault is used up.
//! assert!(store.read_stream(&stream, ReadStream::all()).await.unwrap().is_empty());
//! store.append(&stream, ExpectedVersion::Any, vec![event()]).await.unwrap();
//!
//! store.reject_next_append();
//! let err = store.append(&stream, ExpectedVersion::Exact(1), vec![event()]).await.unwrap_err();
//! assert!(err.is_conflict());
//! # });
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    AppendResult, DeleteMode, EventStore, ExpectedVersion, ReadStream, StoreError, StreamInfo,
};
use crate::envelope::{NewEvent, RecordedEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};

/// The cause of an error injected by [`FaultyStore`], found as the source
/// of a [`StoreError::Backend`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault injected by FaultyStore::{operation}")]
pub struct InjectedFault {
    /// The method that armed the fault (`fail_next_append`...).
    pub operation: &'static str,
}

impl InjectedFault {
    fn error(operation: &'static str, context: String) -> StoreError {
        StoreError::backend(context, Self { operation })
    }

    /// Whether `error` was injected by a [`FaultyStore`].
    pub fn is_injected(error: &StoreError) -> bool {
        match error {
            StoreError::Backend { source, .. } => source.downcast_ref::<Self>().is_some(),
            _ => false,
        }
    }
}

/// Faults armed and not yet used, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Armed {
    fail_appends: u32,
    reject_appends: u32,
    lose_append_replies: u32,
    fail_reads: u32,
    fail_snapshot_saves: u32,
    fail_snapshot_loads: u32,
}

/// Wraps a store and makes chosen operations fail, once per arming: the
/// next append fails (nothing written), is rejected as a concurrency
/// conflict (nothing written), or is written but answered with an error
/// (the acknowledgement is lost); the next read fails; the next snapshot
/// save or load fails. Everything else passes through unchanged.
///
/// Clones share the wrapped store and the armed faults, so a test can keep
/// one handle to arm faults while the code under test holds another.
#[derive(Debug, Clone)]
pub struct FaultyStore<S> {
    inner: Arc<S>,
    armed: Arc<Mutex<Armed>>,
    events_read: Arc<AtomicU64>,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`, with no fault armed.
    pub fn new(inner: S) -> Self {
        Self {
            inner: Arc::new(inner),
            armed: Arc::default(),
            events_read: Arc::default(),
        }
    }

    /// How many events [`EventStore::read_stream`] has returned through this
    /// wrapper (and its clones) so far: what loads cost, to check caching
    /// and snapshots.
    pub fn events_read(&self) -> u64 {
        self.events_read.load(Ordering::SeqCst)
    }

    /// The wrapped store (to inspect it without faults).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn armed(&self) -> MutexGuard<'_, Armed> {
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Uses up one armed fault of a kind; `true` if one was armed.
    fn take(&self, pick: impl FnOnce(&mut Armed) -> &mut u32) -> bool {
        let mut armed = self.armed();
        let n = pick(&mut armed);
        if *n > 0 {
            *n -= 1;
            true
        } else {
            false
        }
    }

    /// The next append fails with a backend error ([`InjectedFault`]) and
    /// writes nothing.
    pub fn fail_next_append(&self) {
        self.armed().fail_appends += 1;
    }

    /// The next append is refused as a concurrency conflict, as if another
    /// writer had appended one event just before, and writes nothing:
    /// [`StoreError::StreamAlreadyExists`] when it expected no stream,
    /// [`StoreError::WrongExpectedVersion`] (one version ahead) otherwise.
    pub fn reject_next_append(&self) {
        self.armed().reject_appends += 1;
    }

    /// The next append is written, but its caller gets a backend error
    /// ([`InjectedFault`]) instead of the answer: a lost acknowledgement,
    /// as when a connection drops after the commit. A retry of the same
    /// events is then answered by the idempotency rule.
    pub fn lose_next_append_reply(&self) {
        self.armed().lose_append_replies += 1;
    }

    /// The next [`EventStore::read_stream`] or [`EventStore::read_all`]
    /// fails with a backend error ([`InjectedFault`]).
    pub fn fail_next_read(&self) {
        self.armed().fail_reads += 1;
    }

    /// The next [`SnapshotStore::save_snapshot`] fails (nothing saved).
    pub fn fail_next_snapshot_save(&self) {
        self.armed().fail_snapshot_saves += 1;
    }

    /// The next [`SnapshotStore::load_snapshot`] fails.
    pub fn fail_next_snapshot_load(&self) {
        self.armed().fail_snapshot_loads += 1;
    }

    /// Disarms every fault not yet used.
    pub fn clear_faults(&self) {
        *self.armed() = Armed::default();
    }

    /// Whether any armed fault is still waiting to be used.
    pub fn has_pending_faults(&self) -> bool {
        *self.armed() != Armed::default()
    }
}

impl<S: EventStore> FaultyStore<S> {
    async fn conflict(&self, stream: &StreamId, expected: ExpectedVersion) -> StoreError {
        let current = match self.inner.stream_info(stream).await {
            Ok(info) => info.map_or(0, |i| i.version),
            Err(e) => return e,
        };
        match expected {
            ExpectedVersion::NoStream => StoreError::StreamAlreadyExists {
                stream: stream.clone(),
                version: current + 1,
            },
            ExpectedVersion::Exact(v) => StoreError::WrongExpectedVersion {
                stream: stream.clone(),
                expected: v,
                actual: current + 1,
            },
            ExpectedVersion::Any | ExpectedVersion::StreamExists => {
                StoreError::WrongExpectedVersion {
                    stream: stream.clone(),
                    expected: current,
                    actual: current + 1,
                }
            }
        }
    }
}

impl<S: EventStore> EventStore for FaultyStore<S> {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        if self.take(|a| &mut a.fail_appends) {
            return Err(InjectedFault::error(
                "fail_next_append",
                format!("appending to stream `{stream}`"),
            ));
        }
        if self.take(|a| &mut a.reject_appends) {
            return Err(self.conflict(stream, expected).await);
        }
        let result = self.inner.append(stream, expected, events).await?;
        if self.take(|a| &mut a.lose_append_replies) {
            return Err(InjectedFault::error(
                "lose_next_append_reply",
                format!("appending to stream `{stream}` (written, reply lost)"),
            ));
        }
        Ok(result)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if self.take(|a| &mut a.fail_reads) {
            return Err(InjectedFault::error(
                "fail_next_read",
                format!("reading stream `{stream}`"),
            ));
        }
        let events = self.inner.read_stream(stream, read).await?;
        self.events_read
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(events)
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if self.take(|a| &mut a.fail_reads) {
            return Err(InjectedFault::error(
                "fail_next_read",
                format!("reading all streams after position {after}"),
            ));
        }
        self.inner.read_all(after, limit).await
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        self.inner.stream_info(stream).await
    }

    async fn delete_stream(&self, stream: &StreamId, mode: DeleteMode) -> Result<(), StoreError> {
        self.inner.delete_stream(stream, mode).await
    }

    async fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> Result<u64, StoreError> {
        self.inner.delete_events_before(stream, before).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }

    async fn wait_for_append(&self, position: u64) {
        self.inner.wait_for_append(position).await;
    }
}

impl<S: super::StoreStats> super::StoreStats for FaultyStore<S> {
    async fn statistics(&self) -> Result<super::StoreStatistics, StoreError> {
        self.inner.statistics().await
    }

    async fn list_streams(
        &self,
        query: super::ListStreams,
    ) -> Result<super::StreamPage, StoreError> {
        self.inner.list_streams(query).await
    }

    async fn stream_snapshots(
        &self,
        stream: &StreamId,
    ) -> Result<Vec<super::SnapshotInfo>, StoreError> {
        self.inner.stream_snapshots(stream).await
    }
}

impl<S: SnapshotStore> SnapshotStore for FaultyStore<S> {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        if self.take(|a| &mut a.fail_snapshot_saves) {
            return Err(InjectedFault::error(
                "fail_next_snapshot_save",
                format!("saving a snapshot of stream `{}`", snapshot.stream_id),
            ));
        }
        self.inner.save_snapshot(snapshot).await
    }

    async fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        if self.take(|a| &mut a.fail_snapshot_loads) {
            return Err(InjectedFault::error(
                "fail_next_snapshot_load",
                format!("loading a snapshot of stream `{stream}`"),
            ));
        }
        self.inner
            .load_snapshot(stream, aggregate_type, schema_version, max_version)
            .await
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        self.inner.prune_snapshots(stream, keep).await
    }

    async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
        self.inner.delete_snapshots(stream).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Metadata;
    use crate::store::{MemoryStore, SubscribeFrom, subscribe};

    fn ev() -> NewEvent {
        NewEvent::new("E", 1, b"{}".to_vec(), Metadata::default())
    }

    fn sid() -> StreamId {
        StreamId::new("s-1").unwrap()
    }

    async fn count(store: &FaultyStore<MemoryStore>) -> usize {
        store.inner().read_all(0, usize::MAX).await.unwrap().len()
    }

    #[tokio::test]
    async fn a_failed_append_writes_nothing_and_is_used_once() {
        let store = FaultyStore::new(MemoryStore::new());
        store.fail_next_append();
        assert!(store.has_pending_faults());
        let err = store
            .append(&sid(), ExpectedVersion::Any, vec![ev(), ev()])
            .await
            .unwrap_err();
        assert!(InjectedFault::is_injected(&err), "{err:?}");
        assert!(!err.is_conflict());
        assert!(err.to_string().contains("s-1"), "{err}");
        assert_eq!(count(&store).await, 0);
        assert!(!store.has_pending_faults());
        store
            .append(&sid(), ExpectedVersion::Any, vec![ev()])
            .await
            .unwrap();
        assert_eq!(count(&store).await, 1);
    }

    #[tokio::test]
    async fn a_rejected_append_is_a_conflict_that_writes_nothing() {
        let store = FaultyStore::new(MemoryStore::new());
        store.reject_next_append();
        let err = store
            .append(&sid(), ExpectedVersion::NoStream, vec![ev()])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::StreamAlreadyExists { version: 1, .. }),
            "{err:?}"
        );
        store
            .append(&sid(), ExpectedVersion::NoStream, vec![ev()])
            .await
            .unwrap();
        store.reject_next_append();
        let err = store
            .append(&sid(), ExpectedVersion::Exact(1), vec![ev()])
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::WrongExpectedVersion {
                    expected: 1,
                    actual: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_conflict());
        assert_eq!(count(&store).await, 1);
        // A retry (what a repository does on conflict) succeeds.
        store
            .append(&sid(), ExpectedVersion::Exact(1), vec![ev()])
            .await
            .unwrap();
        assert_eq!(count(&store).await, 2);
    }

    #[tokio::test]
    async fn a_lost_reply_is_written_and_a_retry_is_idempotent() {
        let store = FaultyStore::new(MemoryStore::new());
        store.lose_next_append_reply();
        let batch = vec![ev(), ev()];
        let err = store
            .append(&sid(), ExpectedVersion::NoStream, batch.clone())
            .await
            .unwrap_err();
        assert!(InjectedFault::is_injected(&err));
        assert_eq!(count(&store).await, 2, "the append was written");
        let retry = store
            .append(&sid(), ExpectedVersion::NoStream, batch)
            .await
            .unwrap();
        assert!(!retry.written);
        assert_eq!(retry.next_expected_version, 2);
        assert_eq!(count(&store).await, 2);
    }

    #[tokio::test]
    async fn archiving_is_forwarded_to_the_wrapped_store() {
        let store = FaultyStore::new(MemoryStore::new());
        let events = vec![ev(), ev(), ev()];
        store
            .append(&sid(), ExpectedVersion::NoStream, events)
            .await
            .unwrap();
        assert_eq!(store.delete_events_before(&sid(), 3).await.unwrap(), 2);
        assert_eq!(count(&store).await, 1);
    }

    #[tokio::test]
    async fn a_failed_read_fails_once_with_the_cause() {
        let store = FaultyStore::new(MemoryStore::new());
        store
            .append(&sid(), ExpectedVersion::Any, vec![ev()])
            .await
            .unwrap();
        store.fail_next_read();
        let err = store
            .read_stream(&sid(), ReadStream::all())
            .await
            .unwrap_err();
        assert!(InjectedFault::is_injected(&err));
        assert!(err.to_string().contains("reading stream `s-1`"), "{err}");
        assert_eq!(
            store
                .read_stream(&sid(), ReadStream::all())
                .await
                .unwrap()
                .len(),
            1
        );
        store.fail_next_read();
        assert!(store.read_all(0, 10).await.is_err());
        assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_subscription_reports_a_failed_read_and_then_continues() {
        let store = Arc::new(FaultyStore::new(MemoryStore::new()));
        store
            .append(&sid(), ExpectedVersion::Any, vec![ev(), ev()])
            .await
            .unwrap();
        let mut sub = subscribe(store.clone(), SubscribeFrom::Origin)
            .await
            .unwrap();
        store.fail_next_read();
        assert!(sub.try_next().await.is_err());
        assert_eq!(sub.position(), 0, "nothing was skipped");
        assert_eq!(sub.try_next().await.unwrap().unwrap().global_position, 1);
    }

    #[tokio::test]
    async fn snapshot_faults_and_clearing() {
        let store = FaultyStore::new(MemoryStore::new());
        let snapshot = Snapshot {
            stream_id: sid(),
            aggregate_type: "A".into(),
            schema_version: 1,
            version: 3,
            payload: vec![1],
            taken_at: chrono::Utc::now(),
        };
        store.fail_next_snapshot_save();
        assert!(store.save_snapshot(snapshot.clone()).await.is_err());
        assert_eq!(
            store
                .inner()
                .load_snapshot(&sid(), "A", 1, None)
                .await
                .unwrap(),
            None
        );
        store.save_snapshot(snapshot.clone()).await.unwrap();
        store.fail_next_snapshot_load();
        assert!(store.load_snapshot(&sid(), "A", 1, None).await.is_err());
        assert_eq!(
            store.load_snapshot(&sid(), "A", 1, None).await.unwrap(),
            Some(snapshot)
        );
        store.fail_next_append();
        store.fail_next_read();
        store.clear_faults();
        assert!(!store.has_pending_faults());
        store
            .append(&sid(), ExpectedVersion::Any, vec![ev()])
            .await
            .unwrap();
    }
}
