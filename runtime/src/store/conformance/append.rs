//! Append and concurrency: expected versions, atomic batches, concurrent writers, and a failed append that leaves nothing behind.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::Fixture;
use super::helpers::*;
use crate::envelope::{NewEvent, StreamId};
use crate::snapshot::SnapshotStore;
use crate::store::{DeleteMode, EventStore, ExpectedVersion, ReadStream, StoreError};

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
/// uses up no global position: the next append continues without a gap.
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
    assert_eq!(r.last_position, head + 5, "positions go on without a gap");
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

/// Sixteen writers with the same expected version, four rounds over: each
/// round exactly one succeeds, the others get a conflict, and only the
/// winners' events are stored.
pub async fn same_expected_version_exactly_one_writer_wins<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    const WRITERS: u64 = 16;
    let store = fx.store();
    let s = sid("contended");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=3)).await;
    for round in 0..4u64 {
        let at = 3 + 2 * round;
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS as usize));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (store, s, barrier) = (store.clone(), s.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let n = 100 * (round + 1) + w;
                store
                    .append(&s, ExpectedVersion::Exact(at), vec![ev(n), ev(n)])
                    .await
            }));
        }
        let mut winners = Vec::new();
        for (w, t) in tasks.into_iter().enumerate() {
            match t.await.expect("writer task") {
                Ok(r) => winners.push((w as u64, r)),
                Err(e) => assert!(e.is_conflict(), "round {round}, writer {w}: {e:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one writer wins: {winners:?}"
        );
        let (w, r) = winners[0];
        assert_eq!((r.first_version, r.next_expected_version), (at + 1, at + 2));
        let got = read(&*store, &s, ReadStream::all().from(at + 1)).await;
        assert_eq!(
            got.iter().map(n_of).collect::<Vec<_>>(),
            vec![100 * (round + 1) + w; 2]
        );
    }
    assert_eq!(read_all(&*store).await.len(), 3 + 4 * 2);
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
