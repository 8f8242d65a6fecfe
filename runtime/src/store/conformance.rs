//! The store conformance suite: one set of cases, written once, that every
//! [`EventStore`] + [`SnapshotStore`] implementation must pass (feature
//! `conformance`).
//!
//! The cases are modelled on the storage test kits of mature event stores
//! (Akka Persistence's journal and snapshot specs, EventStoreDB's
//! expected-version matrix) and cover the contract written in
//! [`crate::store`]'s module docs. Each case is a public `async fn` taking a
//! [`Fixture`]; [`store_conformance_tests!`](crate::store_conformance_tests)
//! expands to one `#[tokio::test]` per case, so a store's test file is one
//! line:
//!
//! ```ignore
//! // tests/store_memory.rs
//! eventfold::store_conformance_tests!(eventfold::MemoryStore::new());
//! ```
//!
//! The macro's argument is evaluated once per case, inside an `async` block
//! (so it may `.await`), and must give something [`IntoFixture`]: a store, a
//! [`Fixture`] (a store plus what must live as long as it, and optional
//! hooks), or an `Option` of either, where `None` skips the case (for a
//! store whose server is not configured). The crate using the macro needs
//! `tokio` with the `macros` and `rt-multi-thread` features.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    AppendResult, DeleteMode, EventStore, ExpectedVersion, ReadStream, StoreError, SubscribeFrom,
    subscribe,
};
use crate::codec::{Codec, CodecError, JsonCodec};
use crate::envelope::{Metadata, NewEvent, RecordedEvent, StreamId};
use crate::event::{DecodeError, EncodedEvent, EventSet};
use crate::snapshot::{Snapshot, SnapshotStore};

/// A boxed, sendable future, as returned by the fixture hooks.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type ReopenHook<S> = Box<dyn Fn() -> BoxFuture<S> + Send + Sync>;
type CorruptHook = Box<dyn Fn(StreamId, u64) -> BoxFuture<()> + Send + Sync>;

/// A store under test, with what it needs to live and optional hooks.
pub struct Fixture<S> {
    store: Option<Arc<S>>,
    reopen: Option<ReopenHook<S>>,
    corrupt: Option<CorruptHook>,
    // Dropped after the store (fields drop in declaration order).
    _guard: Box<dyn Any + Send + Sync>,
}

impl<S: EventStore + SnapshotStore> Fixture<S> {
    /// A fixture around a fresh, empty store.
    pub fn new(store: S) -> Self {
        Self {
            store: Some(Arc::new(store)),
            reopen: None,
            corrupt: None,
            _guard: Box::new(()),
        }
    }

    /// Keeps `guard` (a temporary directory, a schema dropper) alive until
    /// the case ends.
    #[must_use]
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Box::new(guard);
        self
    }

    /// How to open the same data again, as a program does after a restart.
    /// Without it, "restart" cases reuse the running store.
    #[must_use]
    pub fn with_reopen<F, Fut>(mut self, reopen: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = S> + Send + 'static,
    {
        self.reopen = Some(Box::new(move || Box::pin(reopen())));
        self
    }

    /// How to damage the stored row of one event (stream, version) so that
    /// the store itself can no longer read it back (its metadata, say).
    /// Without it, the corrupted-row case only checks what it can.
    #[must_use]
    pub fn with_corrupter<F, Fut>(mut self, corrupt: F) -> Self
    where
        F: Fn(StreamId, u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.corrupt = Some(Box::new(move |s, v| Box::pin(corrupt(s, v))));
        self
    }

    /// The store under test.
    pub fn store(&self) -> Arc<S> {
        self.store
            .clone()
            .expect("the store is present between restarts")
    }

    /// Closes the store and opens the same data again (see
    /// [`Fixture::with_reopen`]).
    pub async fn restart(&mut self) {
        if let Some(reopen) = &self.reopen {
            let old = self.store.take();
            drop(old);
            self.store = Some(Arc::new(reopen().await));
        }
    }

    /// Damages one stored event; `false` when the fixture has no corrupter.
    pub async fn corrupt(&self, stream: &StreamId, version: u64) -> bool {
        match &self.corrupt {
            Some(corrupt) => {
                corrupt(stream.clone(), version).await;
                true
            }
            None => false,
        }
    }
}

/// What the argument of
/// [`store_conformance_tests!`](crate::store_conformance_tests) evaluates to.
pub trait IntoFixture {
    /// The store type.
    type Store: EventStore + SnapshotStore;
    /// The fixture, or `None` to skip the case.
    fn into_fixture(self) -> Option<Fixture<Self::Store>>;
}

impl<S: EventStore + SnapshotStore> IntoFixture for Fixture<S> {
    type Store = S;
    fn into_fixture(self) -> Option<Fixture<S>> {
        Some(self)
    }
}

impl<T: IntoFixture> IntoFixture for Option<T> {
    type Store = T::Store;
    fn into_fixture(self) -> Option<Fixture<T::Store>> {
        self.and_then(IntoFixture::into_fixture)
    }
}

impl IntoFixture for super::MemoryStore {
    type Store = Self;
    fn into_fixture(self) -> Option<Fixture<Self>> {
        // A clone shares the data: "reopening" a memory store is cloning it.
        let again = self.clone();
        Some(Fixture::new(self).with_reopen(move || {
            let again = again.clone();
            async move { again }
        }))
    }
}

/// A fixture around a [`super::SqliteStore`] in a fresh file of a temporary
/// directory (removed when the case ends), able to reopen the file and to
/// corrupt a stored row (its metadata becomes invalid JSON).
#[cfg(feature = "sqlite")]
pub async fn sqlite_fixture() -> Fixture<super::SqliteStore> {
    use super::SqliteStore;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path)
        .await
        .expect("a fresh SQLite store");
    let reopen_path = path.clone();
    Fixture::new(store)
        .with_reopen(move || {
            let path = reopen_path.clone();
            async move {
                SqliteStore::open(&path)
                    .await
                    .expect("reopening the SQLite store")
            }
        })
        .with_corrupter(move |stream, version| {
            let path = path.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path).expect("opening the file");
                    conn.busy_timeout(Duration::from_secs(10))
                        .expect("busy timeout");
                    let n = conn
                        .execute(
                            "UPDATE eventfold_events SET metadata = '{\"actor\": 12' \
                             WHERE stream_id = ?1 AND version = ?2",
                            rusqlite::params![stream.as_str(), version as i64],
                        )
                        .expect("corrupting a row");
                    assert_eq!(n, 1, "one row corrupted");
                })
                .await
                .expect("the corrupting task");
            }
        })
        .with_guard(dir)
}

/// Expands to one `#[tokio::test]` per conformance case, each running the
/// case against a fixture made by evaluating `$factory` (in an `async`
/// block) . See [`crate::store::conformance`].
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::__store_conformance_cases! {
            ($factory)
            read_unknown_stream_is_empty,
            no_stream_on_absent_stream_starts_at_version_1,
            no_stream_on_existing_stream_fails,
            stream_exists_on_absent_stream_fails,
            stream_exists_on_existing_stream_succeeds,
            any_never_checks,
            exact_version_must_match,
            exact_version_ahead_of_stream_fails,
            exact_zero_on_absent_stream_succeeds,
            conflicting_batch_writes_nothing,
            batch_lands_whole_with_consecutive_versions,
            empty_append_changes_nothing,
            batch_repeating_an_event_id_is_refused,
            same_expected_version_exactly_one_writer_wins,
            sixteen_tasks_one_success_per_version_nothing_lost,
            concurrent_refused_appends_leave_no_trace,
            concurrent_resends_of_one_batch_write_it_once,
            resend_first_batch_with_no_stream_is_idempotent,
            resend_with_any_is_not_written_twice,
            single_event_resends_are_idempotent,
            resend_with_same_expected_version_writes_nothing,
            partly_overlapping_resend_conflicts,
            event_id_reused_in_another_stream_is_refused,
            read_forward_ranges_and_limits,
            read_single_version_and_inverted_range,
            read_backward_from_end_and_middle,
            reading_past_the_end_clamps,
            metadata_round_trips,
            payload_round_trips_with_unicode_and_binary,
            one_mib_payload_round_trips,
            unicode_stream_ids_are_distinct_streams,
            undecodable_payload_fails_decode_with_typed_error,
            corrupted_stored_row_is_a_typed_error,
            stream_info_reports_version_and_timestamps,
            read_all_in_commit_order_across_streams,
            positions_strictly_increase_under_concurrent_writers,
            read_all_paging_visits_every_event_once,
            subscription_catches_up_then_goes_live_without_gap_or_duplicate,
            subscription_from_now_skips_history,
            subscription_of_one_stream_sees_only_that_stream,
            subscription_resumes_after_checkpoint_across_restart,
            tombstone_reports_deleted_and_refuses_appends,
            tombstone_of_unknown_stream_blocks_it,
            hard_delete_allows_reuse_after_old_version,
            deleting_leaves_other_streams_alone,
            snapshot_none_for_unknown_stream,
            snapshot_load_returns_latest,
            snapshot_load_at_or_below_version,
            snapshot_saved_twice_at_same_version_overwrites,
            snapshot_10_kib_round_trips_with_its_fields,
            snapshot_of_other_schema_or_type_is_ignored,
            snapshot_prune_and_delete,
            snapshots_survive_event_deletion,
            failed_append_leaves_store_unchanged,
        }
    };
}

/// Implementation detail of
/// [`store_conformance_tests!`](crate::store_conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    (($factory:expr) $($case:ident,)+) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $crate::store::conformance::IntoFixture::into_fixture(
                    async { $factory }.await,
                );
                match fixture {
                    Some(mut fixture) => {
                        $crate::store::conformance::$case(&mut fixture).await;
                    }
                    None => {
                        ::std::eprintln!(
                            "skipping {}: the store's fixture is not available",
                            ::std::stringify!($case)
                        );
                    }
                }
            }
        )+
    };
}

// ---------------------------------------------------------------- helpers

/// How long a case waits for a subscription before declaring it stuck.
const PATIENCE: Duration = Duration::from_secs(30);

fn sid(id: &str) -> StreamId {
    StreamId::new(id).expect("a valid stream id")
}

/// A probe event whose payload is `{"n": n}`.
fn ev(n: u64) -> NewEvent {
    NewEvent::new(
        "Probe",
        1,
        format!("{{\"n\":{n}}}").into_bytes(),
        Metadata::default(),
    )
}

fn evs(range: std::ops::RangeInclusive<u64>) -> Vec<NewEvent> {
    range.map(ev).collect()
}

fn n_of(e: &RecordedEvent) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&e.payload).expect("probe payload");
    v["n"].as_u64().expect("probe payload holds n")
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.stream_version).collect()
}

async fn append<S: EventStore>(
    store: &S,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> AppendResult {
    match store.append(stream, expected, events).await {
        Ok(r) => r,
        Err(e) => panic!("append to `{stream}` expecting {expected} failed: {e}"),
    }
}

async fn read<S: EventStore>(store: &S, stream: &StreamId, r: ReadStream) -> Vec<RecordedEvent> {
    match store.read_stream(stream, r).await {
        Ok(events) => events,
        Err(e) => panic!("reading `{stream}` ({r:?}) failed: {e}"),
    }
}

async fn read_all<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    store
        .read_all(0, usize::MAX)
        .await
        .unwrap_or_else(|e| panic!("read_all failed: {e}"))
}

async fn version<S: EventStore>(store: &S, stream: &StreamId) -> u64 {
    store
        .stream_info(stream)
        .await
        .unwrap_or_else(|e| panic!("stream_info of `{stream}` failed: {e}"))
        .map_or(0, |i| i.version)
}

/// A minimal event set for the decode case: one event type, `Probe`, whose
/// payload is any JSON value.
#[derive(Debug, Clone, PartialEq)]
struct Probe(serde_json::Value);

impl EventSet for Probe {
    const EVENT_TYPES: &'static [&'static str] = &["Probe"];

    fn event_type(&self) -> &'static str {
        "Probe"
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn encode<C: Codec>(&self, codec: &C) -> Result<EncodedEvent, CodecError> {
        Ok(EncodedEvent {
            event_type: "Probe",
            schema_version: 1,
            payload: codec.encode(&self.0)?,
        })
    }

    const SCHEMAS: &'static [&'static crate::schema::EventSchema] = &[];

    fn upcast<C: Codec>(
        codec: &C,
        event_type: &str,
        version: u32,
        payload: &[u8],
    ) -> Result<crate::event::Upcasted<Self>, DecodeError> {
        if event_type != "Probe" {
            return Err(DecodeError::UnknownEventType {
                event_type: event_type.to_owned(),
                known: Self::EVENT_TYPES.to_vec(),
            });
        }
        codec
            .decode(payload)
            .map(|v| crate::event::Upcasted::One(Probe(v)))
            .map_err(|source| DecodeError::Payload {
                event_type: event_type.to_owned(),
                version,
                source,
            })
    }
}

// ------------------------------------------------- append and concurrency

/// Reading a stream that was never written gives no events, version 0 and
/// no stream info (the store's documented choice: not an error).
pub async fn read_unknown_stream_is_empty<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("never-written");
    assert!(read(&*store, &s, ReadStream::all()).await.is_empty());
    assert!(read(&*store, &s, ReadStream::backward()).await.is_empty());
    assert_eq!(store.stream_info(&s).await.unwrap(), None);
    assert_eq!(store.head_position().await.unwrap(), 0);
    assert!(read_all(&*store).await.is_empty());
}

/// `NoStream` on an absent stream succeeds; versions start at 1.
pub async fn no_stream_on_absent_stream_starts_at_version_1<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let r = append(&*store, &s, ExpectedVersion::NoStream, evs(1..=2)).await;
    assert_eq!(r.first_version, 1);
    assert_eq!(r.next_expected_version, 2);
    assert!(r.written);
    assert_eq!(r.last_position, 2);
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(versions(&got), vec![1, 2]);
    assert_eq!(got.iter().map(n_of).collect::<Vec<_>>(), vec![1, 2]);
}

/// `NoStream` on an existing stream fails with "stream exists".
pub async fn no_stream_on_existing_stream_fails<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::NoStream, evs(1..=1)).await;
    let err = store
        .append(&s, ExpectedVersion::NoStream, evs(2..=2))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::StreamAlreadyExists { stream, version: 1 } if *stream == s),
        "{err:?}"
    );
    assert!(err.is_conflict());
    assert_eq!(version(&*store, &s).await, 1);
}

/// `StreamExists` on an absent stream fails with "stream not found".
pub async fn stream_exists_on_absent_stream_fails<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let err = store
        .append(&s, ExpectedVersion::StreamExists, evs(1..=1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::StreamNotFound { stream } if *stream == s),
        "{err:?}"
    );
    assert!(read(&*store, &s, ReadStream::all()).await.is_empty());
    assert_eq!(store.head_position().await.unwrap(), 0);
}

/// `StreamExists` on a stream with events succeeds.
pub async fn stream_exists_on_existing_stream_succeeds<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=1)).await;
    let r = append(&*store, &s, ExpectedVersion::StreamExists, evs(2..=3)).await;
    assert_eq!((r.first_version, r.next_expected_version), (2, 3));
}

/// `Any` never checks: three appends in a row succeed.
pub async fn any_never_checks<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    for i in 1..=3 {
        let r = append(&*store, &s, ExpectedVersion::Any, evs(i..=i)).await;
        assert_eq!(r.next_expected_version, i);
    }
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::all()).await),
        vec![1, 2, 3]
    );
}

/// After 3 events, expecting 0, 1 or 2 fails; expecting 3 succeeds.
pub async fn exact_version_must_match<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Exact(0), evs(1..=3)).await;
    for wrong in 0..3 {
        let err = store
            .append(&s, ExpectedVersion::Exact(wrong), evs(10..=10))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::WrongExpectedVersion { stream, expected, actual: 3 }
                if *stream == s && *expected == wrong),
            "expecting {wrong}: {err:?}"
        );
        assert!(err.is_conflict());
    }
    let r = append(&*store, &s, ExpectedVersion::Exact(3), evs(4..=4)).await;
    assert_eq!(r.next_expected_version, 4);
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::all()).await),
        vec![1, 2, 3, 4]
    );
}

/// Expecting a version ahead of the stream (7 at version 3) fails.
pub async fn exact_version_ahead_of_stream_fails<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=3)).await;
    let err = store
        .append(&s, ExpectedVersion::Exact(7), evs(4..=4))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedVersion {
                expected: 7,
                actual: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let err = store
        .append(&sid("absent"), ExpectedVersion::Exact(1), evs(4..=4))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedVersion {
                expected: 1,
                actual: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(version(&*store, &s).await, 3);
}

/// `Exact(0)` means "does not exist yet".
pub async fn exact_zero_on_absent_stream_succeeds<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let r = append(&*store, &s, ExpectedVersion::Exact(0), evs(1..=1)).await;
    assert_eq!(r.next_expected_version, 1);
    assert!(
        store
            .append(&s, ExpectedVersion::Exact(0), evs(2..=2))
            .await
            .is_err()
    );
}

/// A batch refused for its expected version writes none of its events, and
/// uses up no global position that a reader could wait for.
pub async fn conflicting_batch_writes_nothing<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=2)).await;
    let head = store.head_position().await.unwrap();
    let batch = evs(3..=7);
    let ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
    assert!(
        store
            .append(&s, ExpectedVersion::Exact(1), batch)
            .await
            .is_err()
    );
    assert_eq!(store.head_position().await.unwrap(), head);
    let all = read_all(&*store).await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|e| !ids.contains(&e.event_id)));
    // The same batch (same ids) is accepted later with the right version.
    let batch: Vec<NewEvent> = evs(3..=7)
        .into_iter()
        .zip(&ids)
        .map(|(mut e, id)| {
            e.event_id = *id;
            e
        })
        .collect();
    let r = append(&*store, &s, ExpectedVersion::Exact(2), batch).await;
    assert_eq!((r.first_version, r.next_expected_version), (3, 7));
}

/// A multi-event batch lands whole: consecutive versions and positions, one
/// recorded time, in the order given.
pub async fn batch_lands_whole_with_consecutive_versions<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let a = sid("a");
    let b = sid("b");
    append(&*store, &a, ExpectedVersion::Any, evs(1..=1)).await;
    let r = append(&*store, &b, ExpectedVersion::NoStream, evs(1..=50)).await;
    assert_eq!((r.first_version, r.next_expected_version), (1, 50));
    assert_eq!(r.last_position, 51);
    let got = read(&*store, &b, ReadStream::all()).await;
    assert_eq!(versions(&got), (1..=50).collect::<Vec<_>>());
    assert_eq!(
        got.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        (2..=51).collect::<Vec<_>>()
    );
    assert_eq!(
        got.iter().map(n_of).collect::<Vec<_>>(),
        (1..=50).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|e| e.recorded_at == got[0].recorded_at));
}

/// Appending zero events never changes the version or the head, and still
/// answers whether the expectation holds.
pub async fn empty_append_changes_nothing<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    let r = append(&*store, &s, ExpectedVersion::NoStream, Vec::new()).await;
    assert_eq!(r.next_expected_version, 0);
    assert!(!r.written);
    assert_eq!(store.stream_info(&s).await.unwrap(), None);
    append(&*store, &s, ExpectedVersion::Any, evs(1..=2)).await;
    let head = store.head_position().await.unwrap();
    let r = append(&*store, &s, ExpectedVersion::Any, Vec::new()).await;
    assert_eq!((r.next_expected_version, r.written), (2, false));
    let r = append(&*store, &s, ExpectedVersion::Exact(2), Vec::new()).await;
    assert_eq!(r.next_expected_version, 2);
    assert!(
        store
            .append(&s, ExpectedVersion::Exact(5), Vec::new())
            .await
            .is_err()
    );
    assert_eq!(store.head_position().await.unwrap(), head);
    assert_eq!(version(&*store, &s).await, 2);
}

/// A batch holding the same event id twice is refused whole.
pub async fn batch_repeating_an_event_id_is_refused<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let e = ev(1);
    let err = store
        .append(&s, ExpectedVersion::Any, vec![e.clone(), ev(2), e.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateEventInBatch { stream, event_id }
            if *stream == s && *event_id == e.event_id),
        "{err:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), 0);
    assert!(read(&*store, &s, ReadStream::all()).await.is_empty());
}

/// Eight writers with the same expected version: exactly one succeeds, the
/// others get a conflict, and only the winner's events are stored.
pub async fn same_expected_version_exactly_one_writer_wins<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("contended");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=3)).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let (store, s, barrier) = (store.clone(), s.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let batch = vec![ev(100 + w), ev(100 + w)];
            store.append(&s, ExpectedVersion::Exact(3), batch).await
        }));
    }
    let mut winners = Vec::new();
    for (w, t) in tasks.into_iter().enumerate() {
        match t.await.expect("writer task") {
            Ok(r) => winners.push((w as u64, r)),
            Err(e) => assert!(e.is_conflict(), "writer {w}: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    let (w, r) = winners[0];
    assert_eq!((r.first_version, r.next_expected_version), (4, 5));
    let got = read(&*store, &s, ReadStream::all().from(4)).await;
    assert_eq!(got.iter().map(n_of).collect::<Vec<_>>(), vec![100 + w; 2]);
    assert_eq!(read_all(&*store).await.len(), 5);
}

/// Sixteen tasks append ten events each to one stream, each append expecting
/// the version it last saw and retrying on conflict: every version gets
/// exactly one successful append, and no event is lost or duplicated.
pub async fn sixteen_tasks_one_success_per_version_nothing_lost<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    const TASKS: u64 = 16;
    const EACH: u64 = 10;
    let store = fx.store();
    let s = sid("hot-stream");
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, s) = (store.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            let mut seen = 0;
            for i in 0..EACH {
                let e = ev(t * 1000 + i);
                loop {
                    match store
                        .append(&s, ExpectedVersion::Exact(seen), vec![e.clone()])
                        .await
                    {
                        Ok(r) => {
                            assert_eq!(r.first_version, seen + 1);
                            won.push((r.first_version, e.event_id));
                            seen = r.next_expected_version;
                            break;
                        }
                        Err(StoreError::WrongExpectedVersion { actual, .. }) => seen = actual,
                        Err(err) => panic!("task {t}: unexpected error {err:?}"),
                    }
                    tokio::task::yield_now().await;
                }
            }
            won
        }));
    }
    let mut by_version = BTreeMap::new();
    for t in tasks {
        for (v, id) in t.await.expect("writer task") {
            assert!(
                by_version.insert(v, id).is_none(),
                "version {v} acknowledged twice"
            );
        }
    }
    assert_eq!(
        by_version.keys().copied().collect::<Vec<_>>(),
        (1..=TASKS * EACH).collect::<Vec<_>>()
    );
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(got.len() as u64, TASKS * EACH);
    for e in &got {
        assert_eq!(by_version.get(&e.stream_version), Some(&e.event_id));
    }
    let per_task = got.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(n_of(e) / 1000).or_insert(0) += 1;
        m
    });
    assert!(per_task.values().all(|&n| n == EACH), "{per_task:?}");
}

/// Appends refused while others succeed at the same moment (a store that
/// commits concurrent appends together must still refuse each alone):
/// refused appends to new streams leave no stream behind, accepted ones
/// land whole.
pub async fn concurrent_refused_appends_leave_no_trace<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    const TASKS: u64 = 32;
    let store = fx.store();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if t % 2 == 0 {
                let s = sid(&format!("fresh-{t}"));
                store
                    .append(&s, ExpectedVersion::NoStream, evs(t * 10..=t * 10 + 1))
                    .await
            } else {
                let s = sid(&format!("ghost-{t}"));
                store
                    .append(&s, ExpectedVersion::Exact(5), evs(t..=t))
                    .await
            }
        }));
    }
    for (t, task) in tasks.into_iter().enumerate() {
        let answer = task.await.expect("writer task");
        if t % 2 == 0 {
            let r = answer.unwrap_or_else(|e| panic!("append to fresh-{t} failed: {e}"));
            assert_eq!((r.first_version, r.next_expected_version), (1, 2));
        } else {
            match answer {
                Err(StoreError::WrongExpectedVersion { actual: 0, .. }) => {}
                other => {
                    panic!("append to ghost-{t}: expected a conflict at version 0, got {other:?}")
                }
            }
        }
    }
    for t in (1..TASKS).step_by(2) {
        let s = sid(&format!("ghost-{t}"));
        assert_eq!(
            store.stream_info(&s).await.expect("stream_info"),
            None,
            "a refused append left stream `{s}` behind"
        );
        assert!(read(&*store, &s, ReadStream::all()).await.is_empty());
    }
    let all = read_all(&*store).await;
    assert_eq!(all.len() as u64, TASKS, "one batch of 2 per accepted task");
    assert!(
        all.iter()
            .all(|e| e.stream_id.as_str().starts_with("fresh-"))
    );
}

/// The same batch sent by many tasks at once (a client retrying while its
/// first attempt is still in flight, twice over) is written once; every
/// sender is told where it is.
pub async fn concurrent_resends_of_one_batch_write_it_once<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("resent");
    let batch = evs(1..=3);
    // A large append first, so that the resends queue up behind it (and,
    // in a store that commits concurrent appends together, share a commit).
    let blocker = {
        let (store, big) = (store.clone(), evs(1..=2_000));
        tokio::spawn(async move {
            let s = sid("blocker");
            store.append(&s, ExpectedVersion::NoStream, big).await
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let (store, s, batch) = (store.clone(), s.clone(), batch.clone());
        // Other streams' appends at the same moment, to share commits with.
        let other = sid(&format!("bystander-{t}"));
        let (store2, other_batch) = (store.clone(), evs(t..=t));
        tasks.push(tokio::spawn(async move {
            let (mine, theirs) = tokio::join!(
                store.append(&s, ExpectedVersion::Any, batch),
                store2.append(&other, ExpectedVersion::NoStream, other_batch),
            );
            theirs.unwrap_or_else(|e| panic!("bystander append failed: {e}"));
            mine
        }));
    }
    let mut written = 0;
    for task in tasks {
        let r = task
            .await
            .expect("writer task")
            .unwrap_or_else(|e| panic!("a resend of the same batch failed: {e}"));
        assert_eq!((r.first_version, r.next_expected_version), (1, 3));
        written += usize::from(r.written);
    }
    assert_eq!(written, 1, "exactly one sender writes the batch");
    blocker
        .await
        .expect("blocker task")
        .unwrap_or_else(|e| panic!("the large append failed: {e}"));
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(
        got.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        batch.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );
    assert_eq!(read_all(&*store).await.len(), 2_000 + 3 + 16);
}

// ------------------------------------------------------------ idempotency

/// Resending the first batch with `NoStream` succeeds, leaves the stream
/// unchanged and reports the versions first assigned.
pub async fn resend_first_batch_with_no_stream_is_idempotent<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let batch = evs(1..=3);
    let first = append(&*store, &s, ExpectedVersion::NoStream, batch.clone()).await;
    let again = append(&*store, &s, ExpectedVersion::NoStream, batch).await;
    assert!(!again.written);
    assert_eq!(
        (again.first_version, again.next_expected_version),
        (first.first_version, first.next_expected_version)
    );
    assert_eq!(again.last_position, first.last_position);
    assert_eq!(read_all(&*store).await.len(), 3);
}

/// Resending a batch with `Any`, after more events were written, does not
/// write it twice.
pub async fn resend_with_any_is_not_written_twice<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let batch = evs(1..=2);
    append(&*store, &s, ExpectedVersion::Any, batch.clone()).await;
    append(&*store, &s, ExpectedVersion::Any, evs(3..=3)).await;
    let again = append(&*store, &s, ExpectedVersion::Any, batch).await;
    assert!(!again.written);
    assert_eq!((again.first_version, again.next_expected_version), (1, 2));
    assert_eq!(
        read(&*store, &s, ReadStream::all())
            .await
            .iter()
            .map(n_of)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

/// Resending a batch with the expected version it was first written with
/// A single-event append resent (with an expected version that still
/// holds, or `Any`) is answered from the stored event and writes nothing;
/// the same event sent to another stream is refused.
pub async fn single_event_resends_are_idempotent<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let (a, b) = (sid("single-a"), sid("single-b"));
    let e = ev(1);
    let first = append(&*store, &a, ExpectedVersion::NoStream, vec![e.clone()]).await;
    for expected in [
        ExpectedVersion::Any,
        ExpectedVersion::Exact(1),
        ExpectedVersion::StreamExists,
    ] {
        let again = append(&*store, &a, expected, vec![e.clone()]).await;
        assert!(!again.written, "resent with {expected}: written again");
        assert_eq!(
            (
                again.first_version,
                again.next_expected_version,
                again.last_position
            ),
            (1, 1, first.last_position),
            "resent with {expected}"
        );
    }
    let err = store
        .append(&b, ExpectedVersion::Any, vec![e.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateEventId { existing_stream, .. } if *existing_stream == a),
        "{err:?}"
    );
    assert_eq!(read(&*store, &a, ReadStream::all()).await.len(), 1);
    assert!(read(&*store, &b, ReadStream::all()).await.is_empty());
    assert_eq!(store.head_position().await.unwrap(), first.last_position);
}

/// (now stale) writes nothing new and is not a conflict.
pub async fn resend_with_same_expected_version_writes_nothing<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=2)).await;
    let batch = evs(3..=4);
    append(&*store, &s, ExpectedVersion::Exact(2), batch.clone()).await;
    let again = append(&*store, &s, ExpectedVersion::Exact(2), batch).await;
    assert!(!again.written);
    assert_eq!((again.first_version, again.next_expected_version), (3, 4));
    assert_eq!(version(&*store, &s).await, 4);
    assert_eq!(read_all(&*store).await.len(), 4);
}

/// A resend that only partly overlaps what is stored (some ids new, or the
/// stored ids in another order) fails with an idempotency conflict and
/// writes nothing.
pub async fn partly_overlapping_resend_conflicts<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let batch = evs(1..=2);
    append(&*store, &s, ExpectedVersion::Any, batch.clone()).await;
    let head = store.head_position().await.unwrap();

    let mut extended = batch.clone();
    extended.push(ev(3));
    let err = store
        .append(&s, ExpectedVersion::Any, extended)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::IdempotencyConflict { stream, .. } if *stream == s),
        "{err:?}"
    );

    let mut new_then_old = vec![ev(9)];
    new_then_old.push(batch[0].clone());
    let err = store
        .append(&s, ExpectedVersion::Any, new_then_old)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::IdempotencyConflict { event_id, version: 1, .. }
            if *event_id == batch[0].event_id),
        "{err:?}"
    );

    let reversed = vec![batch[1].clone(), batch[0].clone()];
    let err = store
        .append(&s, ExpectedVersion::Any, reversed)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), head);
    assert_eq!(version(&*store, &s).await, 2);
}

/// An event id is unique per store: appending it to another stream is
/// refused, naming the stream that holds it.
pub async fn event_id_reused_in_another_stream_is_refused<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let a = sid("a");
    let b = sid("b");
    let e = ev(1);
    append(&*store, &a, ExpectedVersion::Any, vec![e.clone()]).await;
    let err = store
        .append(&b, ExpectedVersion::Any, vec![ev(2), e.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateEventId { stream, event_id, existing_stream }
            if *stream == b && *event_id == e.event_id && *existing_stream == a),
        "{err:?}"
    );
    assert!(read(&*store, &b, ReadStream::all()).await.is_empty());
    assert_eq!(store.head_position().await.unwrap(), 1);
}

// ------------------------------------------------------ read and replay

/// Replay all; from a lower bound; to an upper bound; with a max count; all
/// three together.
pub async fn read_forward_ranges_and_limits<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=10)).await;
    append(&*store, &sid("other"), ExpectedVersion::Any, evs(1..=3)).await;
    let v = |r| {
        let store = store.clone();
        let s = s.clone();
        async move { versions(&read(&*store, &s, r).await) }
    };
    assert_eq!(v(ReadStream::all()).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        v(ReadStream::all().from(4)).await,
        (4..=10).collect::<Vec<_>>()
    );
    assert_eq!(v(ReadStream::all().to(3)).await, vec![1, 2, 3]);
    assert_eq!(v(ReadStream::all().limit(4)).await, vec![1, 2, 3, 4]);
    assert_eq!(
        v(ReadStream::all().from(3).to(9).limit(3)).await,
        vec![3, 4, 5]
    );
    assert_eq!(
        v(ReadStream::all().from(8).to(9).limit(5)).await,
        vec![8, 9]
    );
    assert_eq!(v(ReadStream::all().from(0)).await.len(), 10);
    assert!(v(ReadStream::all().limit(0)).await.is_empty());
    let got = read(&*store, &s, ReadStream::all()).await;
    assert!(got.iter().all(|e| e.stream_id == s));
}

/// `from == to` gives one event; an inverted range gives nothing.
pub async fn read_single_version_and_inverted_range<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=5)).await;
    let one = read(&*store, &s, ReadStream::all().from(3).to(3)).await;
    assert_eq!(versions(&one), vec![3]);
    assert_eq!(n_of(&one[0]), 3);
    assert!(
        read(&*store, &s, ReadStream::all().from(4).to(2))
            .await
            .is_empty()
    );
    assert!(
        read(&*store, &s, ReadStream::backward().from(4).to(2))
            .await
            .is_empty()
    );
}

/// Backward reads: the last N from the end, and from the middle down.
pub async fn read_backward_from_end_and_middle<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=10)).await;
    let v = |r| {
        let store = store.clone();
        let s = s.clone();
        async move { versions(&read(&*store, &s, r).await) }
    };
    assert_eq!(
        v(ReadStream::backward()).await,
        (1..=10).rev().collect::<Vec<_>>()
    );
    assert_eq!(v(ReadStream::backward().limit(3)).await, vec![10, 9, 8]);
    assert_eq!(v(ReadStream::backward().to(5).limit(2)).await, vec![5, 4]);
    assert_eq!(
        v(ReadStream::backward().from(3).to(6)).await,
        vec![6, 5, 4, 3]
    );
    assert_eq!(
        v(ReadStream::backward().from(9).limit(5)).await,
        vec![10, 9]
    );
}

/// Reading past the end clamps to what exists, in both directions.
pub async fn reading_past_the_end_clamps<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=4)).await;
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::all().from(3).to(99)).await),
        vec![3, 4]
    );
    assert!(
        read(&*store, &s, ReadStream::all().from(5))
            .await
            .is_empty()
    );
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::backward().to(1000).limit(2)).await),
        vec![4, 3]
    );
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::all().limit(usize::MAX)).await),
        vec![1, 2, 3, 4]
    );
    assert_eq!(store.read_all(4, 10).await.unwrap().len(), 0);
    assert_eq!(store.read_all(u64::MAX, 10).await.unwrap().len(), 0);
}

/// Metadata (correlation, causation, actor, free-form keys) round-trips,
/// through stream reads and read-all.
pub async fn metadata_round_trips<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    let metadata = Metadata::default()
        .with_correlation_id(Uuid::now_v7())
        .with_causation_id(Uuid::now_v7())
        .with_actor("alice@example.com ✓")
        .with("tenant", "acme")
        .with("attempt", 3)
        .with(
            "flags",
            serde_json::json!({"dry_run": false, "tags": ["a", "ü"]}),
        );
    let mut e = ev(1);
    e.metadata = metadata.clone();
    let plain = ev(2);
    append(&*store, &s, ExpectedVersion::Any, vec![e.clone(), plain]).await;
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(got[0].metadata, metadata);
    assert_eq!(got[0].event_id, e.event_id);
    assert_eq!(got[1].metadata, Metadata::default());
    let all = read_all(&*store).await;
    assert_eq!(all[0].metadata, metadata);
}

/// Payloads are opaque bytes: unicode text and arbitrary binary (zeros,
/// invalid UTF-8) come back unchanged, with their type and schema version.
pub async fn payload_round_trips_with_unicode_and_binary<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let text = NewEvent::new(
        "Grüße",
        7,
        "{\"note\":\"Zoë 😀 数据 \\u0000 \"}".as_bytes().to_vec(),
        Metadata::default(),
    );
    let binary = NewEvent::new(
        "Binary",
        u32::MAX,
        vec![0, 0xff, 0xfe, 0, 1, 2, 0x80],
        Metadata::default(),
    );
    let empty = NewEvent::new("Empty", 1, Vec::new(), Metadata::default());
    let sent = vec![text, binary, empty];
    append(&*store, &s, ExpectedVersion::Any, sent.clone()).await;
    let got = read(&*store, &s, ReadStream::all()).await;
    for (sent, got) in sent.iter().zip(&got) {
        assert_eq!(got.event_id, sent.event_id);
        assert_eq!(got.event_type, sent.event_type);
        assert_eq!(got.schema_version, sent.schema_version);
        assert_eq!(got.payload, sent.payload);
        assert_eq!(got.stream_id, s);
    }
}

/// A 1 MiB payload round-trips, and does not disturb its neighbours.
pub async fn one_mib_payload_round_trips<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("big");
    let payload: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let big = NewEvent::new("Big", 1, payload.clone(), Metadata::default());
    append(&*store, &s, ExpectedVersion::Any, vec![ev(1), big, ev(3)]).await;
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].payload.len(), payload.len());
    assert!(got[1].payload == payload, "1 MiB payload changed");
    assert_eq!((n_of(&got[0]), n_of(&got[2])), (1, 3));
    let all = read_all(&*store).await;
    assert!(all[1].payload == payload);
}

/// Unicode stream ids (up to the maximum length) are stored and read back
/// exactly; ids differing only in case or normalization are distinct.
pub async fn unicode_stream_ids_are_distinct_streams<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let longest = "ß".repeat(crate::envelope::MAX_STREAM_ID_LEN / 2);
    let ids = [
        "Konto-äöü-😀".to_owned(),
        "konto-äöü-😀".to_owned(),
        "caf\u{e9}".to_owned(),
        "cafe\u{301}".to_owned(),
        "数据-流/1 with spaces".to_owned(),
        "quote'\"; DROP TABLE events; --".to_owned(),
        "%_*".to_owned(),
        longest,
    ];
    for (i, id) in ids.iter().enumerate() {
        let s = sid(id);
        append(
            &*store,
            &s,
            ExpectedVersion::NoStream,
            evs(1..=i as u64 + 1),
        )
        .await;
    }
    for (i, id) in ids.iter().enumerate() {
        let s = sid(id);
        let got = read(&*store, &s, ReadStream::all()).await;
        assert_eq!(got.len(), i + 1, "stream {id:?}");
        assert!(got.iter().all(|e| e.stream_id.as_str() == id.as_str()));
        let info = store.stream_info(&s).await.unwrap().expect("stream info");
        assert_eq!(info.stream_id.as_str(), id.as_str());
        assert_eq!(info.version, i as u64 + 1);
    }
    assert!(read(&*store, &sid("%"), ReadStream::all()).await.is_empty());
}

/// A stored payload that cannot be decoded fails that decode with a typed
/// error naming the stream, version and event type; the store still reads
/// it (payloads are opaque) and other streams decode fine.
pub async fn undecodable_payload_fails_decode_with_typed_error<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let bad = sid("bad");
    let good = sid("good");
    append(&*store, &bad, ExpectedVersion::Any, evs(1..=1)).await;
    let garbage = NewEvent::new(
        "Probe",
        1,
        b"{\"n\": not json".to_vec(),
        Metadata::default(),
    );
    append(&*store, &bad, ExpectedVersion::Any, vec![garbage]).await;
    append(&*store, &good, ExpectedVersion::Any, evs(1..=2)).await;

    let got = read(&*store, &bad, ReadStream::all()).await;
    assert!(got[0].decode::<Probe, _>(&JsonCodec).is_ok());
    let err = got[1].decode::<Probe, _>(&JsonCodec).unwrap_err();
    assert_eq!(err.stream_id, "bad");
    assert_eq!(err.stream_version, 2);
    assert!(
        matches!(&err.source, DecodeError::Payload { event_type, version: 1, .. } if event_type == "Probe"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("bad") && text.contains("version 2") && text.contains("Probe"));
    for e in read(&*store, &good, ReadStream::all()).await {
        e.decode::<Probe, _>(&JsonCodec)
            .expect("other streams decode");
    }
}

/// A stored row the store itself cannot read back (damaged through the
/// fixture's corrupter) fails reads of it with [`StoreError::Corrupted`]
/// naming the stream, version and event type, not a panic; other streams
/// read fine. Skipped for stores that cannot be corrupted from outside.
pub async fn corrupted_stored_row_is_a_typed_error<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let bad = sid("bad-row");
    let good = sid("good-row");
    append(&*store, &bad, ExpectedVersion::Any, evs(1..=3)).await;
    append(&*store, &good, ExpectedVersion::Any, evs(1..=2)).await;
    if !fx.corrupt(&bad, 2).await {
        eprintln!("corrupted_stored_row_is_a_typed_error: no corrupter for this store");
        return;
    }
    let check = |err: StoreError| {
        assert!(
            matches!(&err, StoreError::Corrupted { stream, version: 2, event_type, .. }
                if stream == "bad-row" && event_type == "Probe"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("bad-row") && text.contains('2') && text.contains("Probe"));
    };
    check(
        store
            .read_stream(&bad, ReadStream::all())
            .await
            .expect_err("reading a corrupted row fails"),
    );
    check(
        store
            .read_all(0, 100)
            .await
            .expect_err("read-all over a corrupted row fails"),
    );
    // The rows around it, and other streams, still read.
    assert_eq!(
        versions(&read(&*store, &bad, ReadStream::all().to(1)).await),
        vec![1]
    );
    assert_eq!(
        versions(&read(&*store, &bad, ReadStream::all().from(3)).await),
        vec![3]
    );
    assert_eq!(read(&*store, &good, ReadStream::all()).await.len(), 2);
    assert_eq!(store.read_all(0, 1).await.unwrap().len(), 1);
}

/// Stream info follows the version, the first and last recorded times, and
/// the deletion flag.
pub async fn stream_info_reports_version_and_timestamps<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let before = Utc::now() - chrono::Duration::seconds(5);
    append(&*store, &s, ExpectedVersion::Any, evs(1..=2)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    append(&*store, &s, ExpectedVersion::Any, evs(3..=3)).await;
    let after = Utc::now() + chrono::Duration::seconds(5);
    let info = store.stream_info(&s).await.unwrap().expect("stream info");
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(info.stream_id, s);
    assert_eq!(info.version, 3);
    assert!(!info.deleted);
    let first = info.first_recorded_at.expect("first recorded time");
    let last = info.last_recorded_at.expect("last recorded time");
    assert_eq!(first, got[0].recorded_at);
    assert_eq!(last, got[2].recorded_at);
    assert!(
        before <= first && first <= last && last <= after,
        "{info:?}"
    );
}

// ------------------------------------------------------------ global order

/// Read-all returns every stream's events in commit order, with strictly
/// increasing positions starting at 1 and the head at the last one.
pub async fn read_all_in_commit_order_across_streams<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let (a, b, c) = (sid("a"), sid("b"), sid("c"));
    let mut expected = Vec::new();
    for (s, n) in [(&a, 2), (&b, 1), (&a, 1), (&c, 3), (&b, 2)] {
        let batch: Vec<NewEvent> = (0..n).map(|i| ev(expected.len() as u64 + i)).collect();
        expected.extend(batch.iter().map(|e| (s.clone(), e.event_id)));
        append(&*store, s, ExpectedVersion::Any, batch).await;
    }
    let all = read_all(&*store).await;
    assert_eq!(
        all.iter()
            .map(|e| (e.stream_id.clone(), e.event_id))
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        (1..=expected.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(store.head_position().await.unwrap(), expected.len() as u64);
    let tail = store.read_all(6, 100).await.unwrap();
    assert_eq!(tail.first().map(|e| e.global_position), Some(7));
    assert_eq!(store.read_all(0, 0).await.unwrap().len(), 0);
}

/// Under concurrent writers, positions are strictly increasing, each
/// stream's versions follow its positions, and every acknowledged event
/// is readable at its acknowledged position.
pub async fn positions_strictly_increase_under_concurrent_writers<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let s = sid(&format!("writer-{w}"));
            let mut acks = Vec::new();
            for i in 0..25 {
                let batch = evs(i * 2..=i * 2 + (i % 2));
                let n = batch.len() as u64;
                let r = append(&*store, &s, ExpectedVersion::Any, batch).await;
                acks.push((r.last_position, n));
            }
            acks
        }));
    }
    let mut acked = BTreeSet::new();
    for t in tasks {
        for (last, n) in t.await.expect("writer task") {
            for p in last + 1 - n..=last {
                assert!(acked.insert(p), "position {p} acknowledged twice");
            }
        }
    }
    let all = read_all(&*store).await;
    let positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(positions.into_iter().collect::<BTreeSet<_>>(), acked);
    let mut last_version: BTreeMap<StreamId, u64> = BTreeMap::new();
    for e in &all {
        let v = last_version.entry(e.stream_id.clone()).or_insert(0);
        assert_eq!(
            e.stream_version,
            *v + 1,
            "stream `{}` out of order",
            e.stream_id
        );
        *v = e.stream_version;
    }
}

/// Paging through read-all with a small limit visits every event exactly
/// once, in order.
pub async fn read_all_paging_visits_every_event_once<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    for i in 0..10u64 {
        append(
            &*store,
            &sid(&format!("s-{}", i % 3)),
            ExpectedVersion::Any,
            evs(1..=i % 4 + 1),
        )
        .await;
    }
    let everything = read_all(&*store).await;
    for limit in [1, 3, 7] {
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let page = store.read_all(after, limit).await.unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = last.global_position;
            seen.extend(page);
        }
        assert_eq!(seen, everything, "paging by {limit}");
    }
}

/// A subscription from the origin catches up on history, then follows
/// concurrent writers live, with no gap and no duplicate across the switch.
pub async fn subscription_catches_up_then_goes_live_without_gap_or_duplicate<
    S: EventStore + SnapshotStore,
>(
    fx: &mut Fixture<S>,
) {
    const WRITERS: u64 = 4;
    const EACH: u64 = 60;
    let store = fx.store();
    for i in 0..40 {
        append(
            &*store,
            &sid(&format!("history-{}", i % 4)),
            ExpectedVersion::Any,
            evs(i..=i),
        )
        .await;
    }
    let mut sub = subscribe(store.clone(), SubscribeFrom::Origin)
        .await
        .unwrap();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                let s = sid(&format!("live-{w}"));
                let n = if i % 5 == 0 { 2 } else { 1 };
                append(&*store, &s, ExpectedVersion::Any, evs(i..=i + n - 1)).await;
                if i % 8 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }));
    }
    let total = 40 + WRITERS * (EACH + EACH / 5);
    let mut got = Vec::new();
    while (got.len() as u64) < total {
        let e = tokio::time::timeout(PATIENCE, sub.next())
            .await
            .unwrap_or_else(|_| panic!("subscription stalled after {} events", got.len()))
            .expect("subscription read");
        assert_eq!(sub.position(), e.global_position);
        got.push(e);
    }
    for w in writers {
        w.await.expect("writer task");
    }
    let all = read_all(&*store).await;
    assert_eq!(got.len(), all.len());
    assert_eq!(
        got.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        all.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        "the subscription saw exactly the committed log, in order"
    );
    let unique: HashSet<Uuid> = got.iter().map(|e| e.event_id).collect();
    assert_eq!(unique.len(), got.len(), "no duplicate");
    assert!(sub.try_next().await.unwrap().is_none());
}

/// A subscription from "now" skips history and sees only later commits.
pub async fn subscription_from_now_skips_history<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=5)).await;
    let mut sub = subscribe(store.clone(), SubscribeFrom::Now).await.unwrap();
    assert!(sub.try_next().await.unwrap().is_none());
    let writer = {
        let (store, s) = (store.clone(), s.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            append(&*store, &s, ExpectedVersion::Any, evs(6..=7)).await;
        })
    };
    let first = tokio::time::timeout(PATIENCE, sub.next())
        .await
        .expect("live event arrives")
        .unwrap();
    assert_eq!((first.stream_version, first.global_position), (6, 6));
    let second = sub.next().await.unwrap();
    assert_eq!(second.stream_version, 7);
    writer.await.unwrap();
}

/// A subscription narrowed to one stream sees only that stream's events,
/// and its checkpoint still moves past the others.
pub async fn subscription_of_one_stream_sees_only_that_stream<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let (a, b) = (sid("a"), sid("b"));
    append(&*store, &a, ExpectedVersion::Any, evs(1..=2)).await;
    append(&*store, &b, ExpectedVersion::Any, evs(1..=3)).await;
    append(&*store, &a, ExpectedVersion::Any, evs(3..=3)).await;
    let mut sub = subscribe(store.clone(), SubscribeFrom::Origin)
        .await
        .unwrap()
        .only_stream(a.clone());
    let mut got = Vec::new();
    while let Some(e) = sub.try_next().await.unwrap() {
        got.push(e);
    }
    assert!(got.iter().all(|e| e.stream_id == a));
    assert_eq!(versions(&got), vec![1, 2, 3]);
    assert_eq!(sub.position(), 6);
    append(&*store, &b, ExpectedVersion::Any, evs(4..=4)).await;
    append(&*store, &a, ExpectedVersion::Any, evs(4..=4)).await;
    let live = tokio::time::timeout(PATIENCE, sub.next())
        .await
        .expect("live event arrives")
        .unwrap();
    assert_eq!((live.stream_id.as_str(), live.stream_version), ("a", 4));
}

/// Resuming from a checkpoint after a restart continues exactly after it.
pub async fn subscription_resumes_after_checkpoint_across_restart<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    append(&*store, &sid("a"), ExpectedVersion::Any, evs(1..=4)).await;
    append(&*store, &sid("b"), ExpectedVersion::Any, evs(1..=4)).await;
    let mut sub = subscribe(store.clone(), SubscribeFrom::Origin)
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(sub.next().await.unwrap().event_id);
    }
    let checkpoint = sub.position();
    assert_eq!(checkpoint, 5);
    drop(sub);
    drop(store);
    fx.restart().await;
    let store = fx.store();
    append(&*store, &sid("c"), ExpectedVersion::Any, evs(1..=2)).await;
    let mut sub = subscribe(store.clone(), SubscribeFrom::After(checkpoint))
        .await
        .unwrap();
    while let Some(e) = sub.try_next().await.unwrap() {
        seen.push(e.event_id);
    }
    let all: Vec<Uuid> = read_all(&*store).await.iter().map(|e| e.event_id).collect();
    assert_eq!(seen, all);
    assert_eq!(all.len(), 10);
}

// ---------------------------------------------------------------- deletion

/// A tombstoned stream reads as deleted, refuses appends of every kind
/// (retries of stored batches too), and keeps its version in stream info;
/// its events stay in read-all (history already seen by projections).
pub async fn tombstone_reports_deleted_and_refuses_appends<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let batch = evs(1..=3);
    append(&*store, &s, ExpectedVersion::Any, batch.clone()).await;
    store
        .delete_stream(&s, DeleteMode::Tombstone)
        .await
        .unwrap();
    let deleted = |r: Result<_, StoreError>| matches!(r, Err(StoreError::StreamDeleted { ref stream }) if *stream == s);
    assert!(deleted(
        store.read_stream(&s, ReadStream::all()).await.map(|_| ())
    ));
    assert!(deleted(
        store
            .read_stream(&s, ReadStream::backward())
            .await
            .map(|_| ())
    ));
    for expected in [
        ExpectedVersion::Any,
        ExpectedVersion::NoStream,
        ExpectedVersion::StreamExists,
        ExpectedVersion::Exact(3),
    ] {
        assert!(
            deleted(store.append(&s, expected, evs(4..=4)).await.map(|_| ())),
            "append expecting {expected}"
        );
    }
    assert!(deleted(
        store
            .append(&s, ExpectedVersion::Any, batch)
            .await
            .map(|_| ())
    ));
    let info = store.stream_info(&s).await.unwrap().expect("info");
    assert!(info.deleted);
    assert_eq!(info.version, 3);
    assert_eq!(read_all(&*store).await.len(), 3);
    assert!(
        store.delete_stream(&s, DeleteMode::Tombstone).await.is_ok(),
        "deleting twice is fine"
    );
}

/// Tombstoning a stream that was never written reserves it as deleted.
pub async fn tombstone_of_unknown_stream_blocks_it<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("never");
    store
        .delete_stream(&s, DeleteMode::Tombstone)
        .await
        .unwrap();
    assert!(matches!(
        store
            .append(&s, ExpectedVersion::NoStream, evs(1..=1))
            .await,
        Err(StoreError::StreamDeleted { .. })
    ));
    let info = store.stream_info(&s).await.unwrap().expect("info");
    assert!(info.deleted);
    assert_eq!(info.version, 0);
    assert_eq!(store.head_position().await.unwrap(), 0);
}

/// A hard delete removes the events (from stream reads and read-all) but
/// keeps the version: the id can be reused, `NoStream` fails on it, and new
/// events continue after the old highest version.
pub async fn hard_delete_allows_reuse_after_old_version<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let batch = evs(1..=3);
    append(&*store, &s, ExpectedVersion::Any, batch.clone()).await;
    append(&*store, &sid("other"), ExpectedVersion::Any, evs(1..=1)).await;
    store.delete_stream(&s, DeleteMode::Hard).await.unwrap();
    assert!(read(&*store, &s, ReadStream::all()).await.is_empty());
    assert_eq!(read_all(&*store).await.len(), 1);
    assert_eq!(
        store.head_position().await.unwrap(),
        4,
        "the head never goes back"
    );
    let info = store.stream_info(&s).await.unwrap().expect("info");
    assert_eq!((info.version, info.deleted), (3, false));
    assert_eq!(info.first_recorded_at, None);
    let err = store
        .append(&s, ExpectedVersion::NoStream, evs(4..=4))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::StreamAlreadyExists { version: 3, .. }),
        "{err:?}"
    );
    assert!(
        store
            .append(&s, ExpectedVersion::Exact(0), evs(4..=4))
            .await
            .is_err()
    );
    let r = append(&*store, &s, ExpectedVersion::Exact(3), evs(4..=4)).await;
    assert_eq!((r.first_version, r.last_position), (4, 5));
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::all()).await),
        vec![4]
    );
    // The deleted events' ids are free again.
    let r = append(&*store, &sid("reborn"), ExpectedVersion::Any, batch).await;
    assert!(r.written);
}

/// Deleting one stream leaves the others readable and writable.
pub async fn deleting_leaves_other_streams_alone<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let (a, b, c) = (sid("a"), sid("b"), sid("c"));
    for s in [&a, &b, &c] {
        append(&*store, s, ExpectedVersion::Any, evs(1..=2)).await;
    }
    store
        .delete_stream(&a, DeleteMode::Tombstone)
        .await
        .unwrap();
    store.delete_stream(&b, DeleteMode::Hard).await.unwrap();
    store
        .delete_stream(&sid("unknown"), DeleteMode::Hard)
        .await
        .unwrap();
    assert_eq!(read(&*store, &c, ReadStream::all()).await.len(), 2);
    append(&*store, &c, ExpectedVersion::Exact(2), evs(3..=3)).await;
    let all = read_all(&*store).await;
    assert_eq!(
        all.iter()
            .map(|e| e.stream_id.as_str().to_owned())
            .collect::<Vec<_>>(),
        vec!["a", "a", "c", "c", "c"]
    );
}

// --------------------------------------------------------------- snapshots

fn snap(stream: &StreamId, version: u64, payload: &[u8]) -> Snapshot {
    Snapshot {
        stream_id: stream.clone(),
        aggregate_type: "BankAccount".into(),
        schema_version: 1,
        version,
        payload: payload.to_vec(),
        // Microsecond precision: what every store can keep.
        taken_at: DateTime::parse_from_rfc3339("2026-03-04T05:06:07.123456Z")
            .expect("a valid time")
            .with_timezone(&Utc)
            + chrono::Duration::seconds(version as i64),
    }
}

async fn load<S: SnapshotStore>(store: &S, s: &StreamId, max: Option<u64>) -> Option<Snapshot> {
    store
        .load_snapshot(s, "BankAccount", 1, max)
        .await
        .unwrap_or_else(|e| panic!("load_snapshot of `{s}` failed: {e}"))
}

/// No snapshot for a stream that has none.
pub async fn snapshot_none_for_unknown_stream<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    assert_eq!(load(&*store, &sid("nothing"), None).await, None);
    store.save_snapshot(snap(&sid("a"), 3, b"x")).await.unwrap();
    assert_eq!(load(&*store, &sid("b"), None).await, None);
}

/// Load returns the snapshot with the highest version, whatever the order
/// of saving.
pub async fn snapshot_load_returns_latest<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    for v in [10, 30, 20] {
        store
            .save_snapshot(snap(&s, v, format!("state@{v}").as_bytes()))
            .await
            .unwrap();
    }
    let got = load(&*store, &s, None).await.expect("a snapshot");
    assert_eq!(got, snap(&s, 30, b"state@30"));
}

/// Load returns the newest snapshot at or below a given version.
pub async fn snapshot_load_at_or_below_version<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    for v in [10, 20, 30] {
        store.save_snapshot(snap(&s, v, b"s")).await.unwrap();
    }
    let at = |max| {
        let store = store.clone();
        let s = s.clone();
        async move { load(&*store, &s, Some(max)).await.map(|x| x.version) }
    };
    assert_eq!(at(25).await, Some(20));
    assert_eq!(at(20).await, Some(20));
    assert_eq!(at(100).await, Some(30));
    assert_eq!(at(9).await, None);
    assert_eq!(at(0).await, None);
}

/// Saving twice at the same version replaces the first snapshot.
pub async fn snapshot_saved_twice_at_same_version_overwrites<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    store.save_snapshot(snap(&s, 5, b"first")).await.unwrap();
    store.save_snapshot(snap(&s, 5, b"second")).await.unwrap();
    assert_eq!(
        load(&*store, &s, None).await.map(|x| x.payload),
        Some(b"second".to_vec())
    );
    assert_eq!(store.prune_snapshots(&s, 0).await.unwrap(), 1);
}

/// A 10 KiB snapshot round-trips with every field (type, schema version,
/// version, time), and a unicode stream id.
pub async fn snapshot_10_kib_round_trips_with_its_fields<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("Konto-ü-😀");
    let payload: Vec<u8> = (0..10 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut saved = snap(&s, 42, &payload);
    saved.aggregate_type = "Bank Account ✓".into();
    saved.schema_version = 9;
    store.save_snapshot(saved.clone()).await.unwrap();
    let got = store
        .load_snapshot(&s, "Bank Account ✓", 9, None)
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(got, saved);
}

/// A snapshot of another aggregate schema version, or another aggregate
/// type, is ignored; an older matching one is returned instead.
pub async fn snapshot_of_other_schema_or_type_is_ignored<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    store.save_snapshot(snap(&s, 10, b"v1")).await.unwrap();
    let mut newer_schema = snap(&s, 20, b"v2");
    newer_schema.schema_version = 2;
    store.save_snapshot(newer_schema).await.unwrap();
    let mut other_type = snap(&s, 30, b"other");
    other_type.aggregate_type = "Wallet".into();
    store.save_snapshot(other_type).await.unwrap();
    assert_eq!(load(&*store, &s, None).await.map(|x| x.version), Some(10));
    let v2 = store
        .load_snapshot(&s, "BankAccount", 2, None)
        .await
        .unwrap();
    assert_eq!(v2.map(|x| x.version), Some(20));
    let v3 = store
        .load_snapshot(&s, "BankAccount", 3, None)
        .await
        .unwrap();
    assert_eq!(v3, None);
}

/// Pruning keeps the newest snapshots; deleting removes all of a stream's.
pub async fn snapshot_prune_and_delete<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let (a, b) = (sid("a"), sid("b"));
    for v in 1..=5 {
        store.save_snapshot(snap(&a, v, b"a")).await.unwrap();
        store.save_snapshot(snap(&b, v, b"b")).await.unwrap();
    }
    assert_eq!(store.prune_snapshots(&a, 2).await.unwrap(), 3);
    assert_eq!(store.prune_snapshots(&a, 2).await.unwrap(), 0);
    assert_eq!(load(&*store, &a, Some(3)).await, None);
    assert_eq!(load(&*store, &a, Some(4)).await.map(|x| x.version), Some(4));
    assert_eq!(store.prune_snapshots(&sid("none"), 1).await.unwrap(), 0);
    store.delete_snapshots(&a).await.unwrap();
    assert_eq!(load(&*store, &a, None).await, None);
    assert_eq!(load(&*store, &b, None).await.map(|x| x.version), Some(5));
}

/// Deleting a stream's events leaves its snapshots (the documented rule).
pub async fn snapshots_survive_event_deletion<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=3)).await;
    store.save_snapshot(snap(&s, 3, b"state")).await.unwrap();
    store.delete_stream(&s, DeleteMode::Hard).await.unwrap();
    assert_eq!(load(&*store, &s, None).await.map(|x| x.version), Some(3));
}

// ------------------------------------------------------------------ faults

/// Every refused append (conflict, deleted stream, duplicate id) leaves the
/// store exactly as it was: same events, same head, same stream info.
pub async fn failed_append_leaves_store_unchanged<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let (a, b) = (sid("a"), sid("b"));
    let stored = ev(1);
    append(
        &*store,
        &a,
        ExpectedVersion::Any,
        vec![stored.clone(), ev(2)],
    )
    .await;
    append(&*store, &b, ExpectedVersion::Any, evs(1..=1)).await;
    store
        .delete_stream(&b, DeleteMode::Tombstone)
        .await
        .unwrap();
    let before = (
        read_all(&*store).await,
        store.head_position().await.unwrap(),
        store.stream_info(&a).await.unwrap(),
    );
    let attempts: Vec<(StreamId, ExpectedVersion, Vec<NewEvent>)> = vec![
        (a.clone(), ExpectedVersion::Exact(1), evs(3..=4)),
        (a.clone(), ExpectedVersion::NoStream, evs(3..=4)),
        (b.clone(), ExpectedVersion::Any, evs(3..=4)),
        (sid("c"), ExpectedVersion::StreamExists, evs(3..=4)),
        (sid("c"), ExpectedVersion::Any, vec![ev(3), stored.clone()]),
    ];
    for (s, expected, batch) in attempts {
        assert!(
            store.append(&s, expected, batch).await.is_err(),
            "append to `{s}` expecting {expected} must fail"
        );
        let after = (
            read_all(&*store).await,
            store.head_position().await.unwrap(),
            store.stream_info(&a).await.unwrap(),
        );
        assert_eq!(after, before);
        assert_eq!(store.stream_info(&sid("c")).await.unwrap(), None);
    }
}

// ------------------------------------------------------- checkpoint stores

/// The contract of a [`crate::projection::CheckpointStore`], for testing an
/// implementation: checkpoints per projection name (absent, saved,
/// overwritten), dead letters parked in position order (parking one again
/// keeps one), and a reset that clears one projection's checkpoint and dead
/// letters and nothing else; claims (one owner at a time, until released or
/// expired; this waits twice 150 ms for claims to expire) and saves that
/// need a claim. Leaves checkpoints and claims behind.
pub async fn checkpoint_store_contract<C: crate::projection::CheckpointStore>(store: &C) {
    use crate::projection::DeadLetter;
    assert_eq!(store.load("p").await.expect("load"), None);
    store.save("p", 7).await.expect("save");
    store.save("p", 9).await.expect("save");
    store.save("q", 1).await.expect("save");
    assert_eq!(store.load("p").await.expect("load"), Some(9));
    let parked_at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .expect("a time")
        .with_timezone(&Utc);
    let letter = |position| DeadLetter {
        projection: "p".into(),
        position,
        event_id: Uuid::now_v7(),
        stream_id: sid("a-1"),
        stream_version: 2,
        event_type: "Deposited".into(),
        error: "boom".into(),
        parked_at,
    };
    let (five, three) = (letter(5), letter(3));
    store.park(five.clone()).await.expect("park");
    store.park(three.clone()).await.expect("park");
    store.park(letter(5)).await.expect("park again"); // a replay parks it again
    let dead = store.dead_letters("p").await.expect("dead letters");
    assert_eq!(dead, vec![three, five]);
    assert!(
        store
            .dead_letters("q")
            .await
            .expect("dead letters")
            .is_empty()
    );
    store.reset("p").await.expect("reset");
    assert_eq!(store.load("p").await.expect("load"), None);
    assert!(
        store
            .dead_letters("p")
            .await
            .expect("dead letters")
            .is_empty()
    );
    assert_eq!(store.load("q").await.expect("load"), Some(1));

    // Claims: one owner at a time per projection, until released or expired.
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let long = Duration::from_secs(60);
    let claim = |name: &'static str, owner, ttl| async move {
        store.claim(name, owner, ttl).await.expect("claim")
    };
    assert!(claim("p", a, long).await, "a free projection is granted");
    assert!(
        !claim("p", b, long).await,
        "a held claim is refused to another owner"
    );
    assert!(claim("p", a, long).await, "its holder extends it");
    store.release("p", b).await.expect("release");
    assert!(
        !claim("p", b, long).await,
        "only the holder releases a claim"
    );
    store.release("p", a).await.expect("release");
    assert!(
        claim("p", b, long).await,
        "a released claim goes to another owner"
    );
    assert!(claim("q", a, long).await, "claims are per projection");
    assert!(claim("r", a, Duration::from_millis(50)).await);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        claim("r", b, long).await,
        "an expired claim goes to another owner"
    );
    assert!(!claim("r", a, long).await, "and its old holder has lost it");

    // Claimed saves: only the holder of an unexpired claim moves the
    // checkpoint.
    let save = |name: &'static str, position, owner| async move {
        store
            .save_claimed(name, position, owner)
            .await
            .expect("save_claimed")
    };
    assert!(save("r", 10, b).await, "the holder saves");
    assert!(!save("r", 3, a).await, "another owner does not");
    assert_eq!(store.load("r").await.expect("load"), Some(10));
    assert!(
        !save("unclaimed", 1, a).await,
        "nobody holds it: nothing saved"
    );
    assert_eq!(store.load("unclaimed").await.expect("load"), None);
    assert!(claim("s", a, Duration::from_millis(50)).await);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!save("s", 1, a).await, "an expired claim saves nothing");
    assert_eq!(store.load("s").await.expect("load"), None);
}
