//! Snapshots: save, load at or below a version, overwrite, prune, delete, and survival of event deletion.

use chrono::{DateTime, Utc};

use super::Fixture;
use super::helpers::*;
use crate::envelope::StreamId;
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::{DeleteMode, EventStore, ExpectedVersion};

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
