//! The contract of [`StoreStats`], as one async function that any store
//! passes (feature `conformance`): run it on an empty store.

use chrono::Utc;

use crate::envelope::{Metadata, NewEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::stats::{ListStreams, StoreStats};
use crate::store::{DeleteMode, ExpectedVersion};

fn sid(s: &str) -> StreamId {
    StreamId::new(s).expect("valid stream id")
}

fn ev(ty: &str) -> NewEvent {
    NewEvent::new(ty, 1, b"{}".to_vec(), Metadata::default())
}

/// Checks statistics, listing and snapshot listing against `store`, which
/// must start empty. Panics with a message naming the broken rule.
pub async fn stats_contract<S: StoreStats + SnapshotStore>(store: &S) {
    let empty = store
        .statistics()
        .await
        .expect("statistics of an empty store");
    assert_eq!(empty.total_events, 0, "an empty store counts no events");
    assert_eq!(empty.total_streams, 0, "an empty store counts no streams");
    assert!(empty.events_by_type.is_empty() && empty.streams_by_category.is_empty());
    let page = store.list_streams(ListStreams::new()).await.unwrap();
    assert!(page.streams.is_empty() && page.next.is_none());

    // 12 accounts of 2 events, 1 other, 1 stream without a category.
    for i in 1..=12 {
        let s = sid(&format!("Acc-{i:03}"));
        store
            .append(
                &s,
                ExpectedVersion::NoStream,
                vec![ev("Opened"), ev("Deposited")],
            )
            .await
            .unwrap();
    }
    store
        .append(&sid("Other-x"), ExpectedVersion::Any, vec![ev("Deposited")])
        .await
        .unwrap();
    store
        .append(&sid("solo"), ExpectedVersion::Any, vec![ev("Noted")])
        .await
        .unwrap();
    let head = store.head_position().await.unwrap();

    let stats = store.statistics().await.unwrap();
    assert_eq!(stats.total_events, 26, "total events");
    assert_eq!(stats.head_position, head, "head position");
    assert_eq!(stats.total_streams, 14, "total streams");
    assert_eq!(stats.deleted_streams, 0);
    assert_eq!(stats.events_by_type.get("Opened"), Some(&12));
    assert_eq!(stats.events_by_type.get("Deposited"), Some(&13));
    assert_eq!(stats.events_by_type.get("Noted"), Some(&1));
    assert_eq!(stats.streams_by_category.get("Acc"), Some(&12));
    assert_eq!(stats.streams_by_category.get("Other"), Some(&1));
    assert_eq!(stats.streams_by_category.get("solo"), Some(&1));
    assert_eq!(stats.total_snapshots, 0);

    // Paging through one category: 5 + 5 + 2, in id order, nothing twice.
    let mut seen = Vec::new();
    let mut query = ListStreams::new().category("Acc").limit(5);
    let mut pages = 0;
    loop {
        let page = store.list_streams(query.clone()).await.unwrap();
        pages += 1;
        assert!(page.streams.len() <= 5, "a page holds at most its limit");
        for s in &page.streams {
            assert_eq!(s.version, 2, "stream {} version", s.stream_id);
            assert!(
                s.last_recorded_at.is_some(),
                "last event time of {}",
                s.stream_id
            );
            assert!(!s.deleted);
            seen.push(s.stream_id.to_string());
        }
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    let expected: Vec<String> = (1..=12).map(|i| format!("Acc-{i:03}")).collect();
    assert_eq!(seen, expected, "pages of the category, in order");
    assert_eq!(pages, 3);

    let prefixed = store
        .list_streams(ListStreams::new().prefix("Acc-00"))
        .await
        .unwrap();
    assert_eq!(prefixed.streams.len(), 9, "streams with the prefix Acc-00");
    assert!(prefixed.next.is_none());
    let all = store
        .list_streams(ListStreams::new().limit(100))
        .await
        .unwrap();
    assert_eq!(all.streams.len(), 14, "every stream");
    let one = store
        .list_streams(ListStreams::new().limit(0))
        .await
        .unwrap();
    assert_eq!(one.streams.len(), 1, "a limit of 0 counts as 1");
    assert!(one.next.is_some());

    // Snapshots.
    for version in [1, 2] {
        store
            .save_snapshot(Snapshot {
                stream_id: sid("Acc-001"),
                aggregate_type: "Acc".into(),
                schema_version: 3,
                version,
                payload: vec![0; 10 * version as usize],
                taken_at: Utc::now(),
            })
            .await
            .unwrap();
    }
    let snaps = store.stream_snapshots(&sid("Acc-001")).await.unwrap();
    assert_eq!(
        snaps
            .iter()
            .map(|s| (s.version, s.size, s.schema_version))
            .collect::<Vec<_>>(),
        [(1, 10, 3), (2, 20, 3)],
        "snapshots of a stream, by version, with their sizes"
    );
    assert_eq!(snaps[0].aggregate_type, "Acc");
    assert!(
        store
            .stream_snapshots(&sid("Acc-002"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.statistics().await.unwrap().total_snapshots, 2);

    // Deletes: a tombstone keeps the events; a hard delete removes them but
    // keeps the stream (and its version); archiving removes the early ones.
    store
        .delete_stream(&sid("Other-x"), DeleteMode::Tombstone)
        .await
        .unwrap();
    store
        .delete_stream(&sid("Ghost-1"), DeleteMode::Tombstone)
        .await
        .unwrap();
    store
        .delete_stream(&sid("Acc-012"), DeleteMode::Hard)
        .await
        .unwrap();
    let archived = store.delete_events_before(&sid("Acc-011"), 2).await;
    let stats = store.statistics().await.unwrap();
    let archived = u64::from(matches!(archived, Ok(1)));
    assert_eq!(stats.total_events, 24 - archived, "events after deletes");
    assert_eq!(stats.events_by_type.get("Opened"), Some(&(11 - archived)));
    assert_eq!(stats.events_by_type.get("Deposited"), Some(&12));
    assert_eq!(
        stats.total_streams, 15,
        "tombstoning an unknown stream makes it known"
    );
    assert_eq!(stats.deleted_streams, 2);
    assert_eq!(stats.streams_by_category.get("Ghost"), Some(&1));
    let tail = store
        .list_streams(ListStreams::new().category("Acc").after("Acc-011"))
        .await
        .unwrap();
    assert_eq!(tail.streams.len(), 1);
    assert_eq!(tail.streams[0].stream_id.as_str(), "Acc-012");
    assert_eq!(
        tail.streams[0].version, 2,
        "a hard delete keeps the version"
    );
    assert_eq!(tail.streams[0].last_recorded_at, None, "no event left");
    let other = store
        .list_streams(ListStreams::new().category("Other"))
        .await
        .unwrap();
    assert!(
        other.streams[0].deleted,
        "a tombstoned stream is listed as deleted"
    );
}
