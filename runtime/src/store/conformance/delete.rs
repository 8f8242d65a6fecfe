//! Deletion: tombstones, hard deletes, and that deleting never lowers a version.

use super::Fixture;
use super::helpers::*;
use crate::snapshot::SnapshotStore;
use crate::store::{DeleteMode, EventStore, ExpectedVersion, ReadStream, StoreError};

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

/// Deleting the events below a version (archiving what a snapshot covers):
/// the count of deleted events is returned, the stream keeps its version,
/// reads and read-all start after the deleted range, appends go on after
/// the old version, deleting again is a no-op, and other streams are left
/// alone; a stream never written has nothing to delete, a tombstoned one
/// answers "deleted". Stores answering [`StoreError::Unsupported`] skip it with a notice.
pub async fn deleting_events_before_a_version_keeps_the_rest<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("archived");
    let other = sid("kept-whole");
    append(&*store, &s, ExpectedVersion::NoStream, evs(1..=5)).await;
    append(&*store, &other, ExpectedVersion::NoStream, evs(1..=2)).await;
    match store.delete_events_before(&s, 4).await {
        Err(StoreError::Unsupported { .. }) => {
            eprintln!("deleting_events_before_a_version_keeps_the_rest: unsupported by this store");
            return;
        }
        Err(e) => panic!("delete_events_before failed: {e}"),
        Ok(deleted) => assert_eq!(deleted, 3, "versions 1 to 3 are below 4"),
    }
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::all()).await),
        [4, 5]
    );
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::backward()).await),
        [5, 4]
    );
    assert_eq!(version(&*store, &s).await, 5, "the version is kept");
    let all = read_all(&*store).await;
    assert_eq!(
        all.iter()
            .filter(|e| e.stream_id == s)
            .map(|e| e.stream_version)
            .collect::<Vec<_>>(),
        [4, 5]
    );
    assert_eq!(all.iter().filter(|e| e.stream_id == other).count(), 2);
    assert_eq!(
        store.delete_events_before(&s, 4).await.expect("again"),
        0,
        "nothing left below 4"
    );
    let next = append(&*store, &s, ExpectedVersion::Exact(5), evs(6..=6)).await;
    assert_eq!(next.first_version, 6);
    assert_eq!(
        store
            .delete_events_before(&s, 100)
            .await
            .expect("past the end"),
        3,
        "versions 4 to 6"
    );
    assert_eq!(version(&*store, &s).await, 6);
    assert!(read(&*store, &s, ReadStream::all()).await.is_empty());
    assert_eq!(
        versions(&read(&*store, &other, ReadStream::all()).await),
        [1, 2]
    );
    let absent = sid("never-written");
    assert_eq!(
        store
            .delete_events_before(&absent, 9)
            .await
            .expect("absent"),
        0,
        "nothing to delete in a stream never written"
    );
    store
        .delete_stream(&other, DeleteMode::Tombstone)
        .await
        .unwrap();
    let err = store.delete_events_before(&other, 9).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::StreamDeleted { stream } if *stream == other),
        "{err:?}"
    );
}
