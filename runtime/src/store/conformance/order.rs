//! Global order: read-all in commit order, paging, subscriptions (catch-up then live, from now, resume).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use uuid::Uuid;

use super::Fixture;
use super::helpers::*;
use crate::envelope::{NewEvent, StreamId};
use crate::snapshot::SnapshotStore;
use crate::store::{EventStore, ExpectedVersion, SubscribeFrom, subscribe};

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

/// A reader paging through read-all while eight writers append (single
/// events and batches) never skips a position: each page continues right
/// after the last position seen, and the reader sees exactly `1..=head`.
pub async fn read_all_paging_during_concurrent_writes_skips_nothing<
    S: EventStore + SnapshotStore,
>(
    fx: &mut Fixture<S>,
) {
    const WRITERS: u64 = 8;
    const EACH: u64 = 40;
    let store = fx.store();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let s = sid(&format!("w-{w}"));
            for i in 0..EACH {
                let batch = if i % 3 == 0 { evs(1..=2) } else { evs(1..=1) };
                append(&*store, &s, ExpectedVersion::Any, batch).await;
            }
        }));
    }
    let total = WRITERS * (EACH + EACH.div_ceil(3));
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while (seen.len() as u64) < total {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the reader stalled after {} events",
                    seen.len()
                );
                let page = store.read_all(after, 7).await.expect("read_all");
                for e in page {
                    assert!(e.global_position > after, "positions must increase");
                    after = e.global_position;
                    seen.push(e.global_position);
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    for w in writers {
        w.await.expect("writer task");
    }
    let seen = reader.await.expect("reader task");
    let head = store.head_position().await.unwrap();
    assert_eq!(head, total);
    assert_eq!(seen, (1..=head).collect::<Vec<_>>(), "no position skipped");
}

/// Many single-event appends in flight at once (200 over 50 streams) all
/// land, each at the position its append was told, no position twice.
pub async fn many_concurrent_single_appends_land_where_told<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let mut tasks = Vec::new();
    for w in 0..200u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let s = sid(&format!("many-{}", w % 50));
            let e = ev(w);
            let id = e.event_id;
            let r = append(&*store, &s, ExpectedVersion::Any, vec![e]).await;
            (r.last_position, id)
        }));
    }
    let mut told = BTreeMap::new();
    for t in tasks {
        let (position, id) = t.await.expect("writer task");
        assert!(
            told.insert(position, id).is_none(),
            "position {position} given twice"
        );
    }
    let all = read_all(&*store).await;
    assert_eq!(all.len(), 200);
    for e in &all {
        assert_eq!(told.get(&e.global_position), Some(&e.event_id));
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
