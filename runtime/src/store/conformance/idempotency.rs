//! Idempotency by event id: resends write nothing twice; partial overlaps and reused ids are refused.

use super::Fixture;
use super::helpers::*;
use crate::snapshot::SnapshotStore;
use crate::store::{EventStore, ExpectedVersion, ReadStream, StoreError};

/// Resending the first batch with `NoStream` succeeds, leaves the stream
/// unchanged and reports the versions first assigned, also after later
/// batches (and with `Any` or `Exact(0)`).
pub async fn resend_first_batch_with_no_stream_is_idempotent<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let batch = evs(1..=3);
    let first = append(&*store, &s, ExpectedVersion::NoStream, batch.clone()).await;
    let again = append(&*store, &s, ExpectedVersion::NoStream, batch.clone()).await;
    assert!(!again.written);
    assert_eq!(
        (again.first_version, again.next_expected_version),
        (first.first_version, first.next_expected_version)
    );
    assert_eq!(again.last_position, first.last_position);
    assert_eq!(read_all(&*store).await.len(), 3);
    // Still so after a later batch: with `NoStream`, `Any` or `Exact(0)`.
    append(&*store, &s, ExpectedVersion::Exact(3), evs(4..=5)).await;
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Any,
        ExpectedVersion::Exact(0),
    ] {
        let again = append(&*store, &s, expected, batch.clone()).await;
        assert_eq!(
            (
                again.first_version,
                again.next_expected_version,
                again.last_position,
                again.written
            ),
            (1, 3, first.last_position, false),
            "resent with {expected} after a later batch"
        );
    }
    assert_eq!(version(&*store, &s).await, 5);
    assert_eq!(read_all(&*store).await.len(), 5);
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

/// Resending a batch with the expected version it was first written with
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

/// A resend that only partly overlaps what is stored (some ids new before or
/// after stored ones, or the stored ids in another order) fails with an idempotency conflict and
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

    let old_then_new = vec![batch[1].clone(), ev(4)];
    let err = store
        .append(&s, ExpectedVersion::Any, old_then_new)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::IdempotencyConflict { event_id, version: 2, .. }
            if *event_id == batch[1].event_id),
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
/// refused, naming the stream that holds it, and the refused batch uses up
/// no version or position.
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
    // The same in a stream with events: nothing of the batch lands, and the
    // next append goes on without a gap in versions or positions.
    append(&*store, &b, ExpectedVersion::NoStream, evs(5..=6)).await;
    let err = store
        .append(&b, ExpectedVersion::Exact(2), vec![ev(7), ev(8), e.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateEventId { existing_stream, .. } if *existing_stream == a),
        "{err:?}"
    );
    assert_eq!(
        versions(&read(&*store, &b, ReadStream::all()).await),
        [1, 2]
    );
    assert_eq!(store.head_position().await.unwrap(), 3);
    let r = append(&*store, &b, ExpectedVersion::Exact(2), evs(7..=7)).await;
    assert_eq!((r.next_expected_version, r.last_position), (3, 4));
}
