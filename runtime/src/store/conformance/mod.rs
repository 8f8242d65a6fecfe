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
//!
//! The cases live in one file per concern: `append` (expected versions,
//! batches, concurrent writers), `idempotency`, `read`, `order` (read-all and
//! subscriptions), `delete` and `snapshots`. The checkpoint-store contract
//! is [`crate::projection::conformance`].

mod append;
mod delete;
mod fixtures;
mod helpers;
mod idempotency;
mod order;
mod read;
mod snapshots;

pub use append::{
    any_never_checks, batch_lands_whole_with_consecutive_versions,
    batch_repeating_an_event_id_is_refused, concurrent_refused_appends_leave_no_trace,
    concurrent_resends_of_one_batch_write_it_once, conflicting_batch_writes_nothing,
    empty_append_changes_nothing, exact_version_ahead_of_stream_fails, exact_version_must_match,
    exact_zero_on_absent_stream_succeeds, failed_append_leaves_store_unchanged,
    no_stream_on_absent_stream_starts_at_version_1, no_stream_on_existing_stream_fails,
    read_unknown_stream_is_empty, same_expected_version_exactly_one_writer_wins,
    sixteen_tasks_one_success_per_version_nothing_lost, stream_exists_on_absent_stream_fails,
    stream_exists_on_existing_stream_succeeds,
};
pub use delete::{
    deleting_events_before_a_version_keeps_the_rest, deleting_leaves_other_streams_alone,
    hard_delete_allows_reuse_after_old_version, tombstone_of_unknown_stream_blocks_it,
    tombstone_reports_deleted_and_refuses_appends,
};
pub use fixtures::TestServer;
#[cfg(feature = "sqlite")]
pub use fixtures::sqlite_fixture;
#[cfg(feature = "postgres")]
pub use fixtures::{PostgresSchema, postgres_fixture};
pub use idempotency::{
    event_id_reused_in_another_stream_is_refused, partly_overlapping_resend_conflicts,
    resend_first_batch_with_no_stream_is_idempotent, resend_with_any_is_not_written_twice,
    resend_with_same_expected_version_writes_nothing, single_event_resends_are_idempotent,
};
pub use order::{
    many_concurrent_single_appends_land_where_told,
    positions_strictly_increase_under_concurrent_writers, read_all_in_commit_order_across_streams,
    read_all_paging_during_concurrent_writes_skips_nothing,
    read_all_paging_visits_every_event_once,
    subscription_catches_up_then_goes_live_without_gap_or_duplicate,
    subscription_from_now_skips_history, subscription_of_one_stream_sees_only_that_stream,
    subscription_resumes_after_checkpoint_across_restart,
};
pub use read::{
    corrupted_stored_row_is_a_typed_error, load_stream_reads_metadata_when_asked,
    metadata_round_trips, one_mib_payload_round_trips, payload_round_trips_with_unicode_and_binary,
    read_backward_from_end_and_middle, read_forward_ranges_and_limits,
    read_single_version_and_inverted_range, reading_past_the_end_clamps,
    stream_info_reports_version_and_timestamps, undecodable_payload_fails_decode_with_typed_error,
    unicode_stream_ids_are_distinct_streams,
};
pub use snapshots::{
    snapshot_10_kib_round_trips_with_its_fields, snapshot_load_at_or_below_version,
    snapshot_load_returns_latest, snapshot_none_for_unknown_stream,
    snapshot_of_other_schema_or_type_is_ignored, snapshot_prune_and_delete,
    snapshot_saved_twice_at_same_version_overwrites, snapshots_survive_event_deletion,
};

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::EventStore;
use crate::envelope::StreamId;
use crate::snapshot::SnapshotStore;

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
            load_stream_reads_metadata_when_asked,
            payload_round_trips_with_unicode_and_binary,
            one_mib_payload_round_trips,
            unicode_stream_ids_are_distinct_streams,
            undecodable_payload_fails_decode_with_typed_error,
            corrupted_stored_row_is_a_typed_error,
            stream_info_reports_version_and_timestamps,
            read_all_in_commit_order_across_streams,
            positions_strictly_increase_under_concurrent_writers,
            read_all_paging_visits_every_event_once,
            read_all_paging_during_concurrent_writes_skips_nothing,
            many_concurrent_single_appends_land_where_told,
            subscription_catches_up_then_goes_live_without_gap_or_duplicate,
            subscription_from_now_skips_history,
            subscription_of_one_stream_sees_only_that_stream,
            subscription_resumes_after_checkpoint_across_restart,
            tombstone_reports_deleted_and_refuses_appends,
            tombstone_of_unknown_stream_blocks_it,
            hard_delete_allows_reuse_after_old_version,
            deleting_leaves_other_streams_alone,
            deleting_events_before_a_version_keeps_the_rest,
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
