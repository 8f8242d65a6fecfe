//! The retention policy in one place: snapshots per stream, events beyond a
//! count or an age archived after each snapshot (never past the newest
//! snapshot, so the stream still loads), on memory and SQLite.

use std::sync::Arc;
use std::time::Duration;

use eventfold::clock::ManualClock;
use eventfold::prelude::*;
use eventfold::repository::RetentionPolicy;
use eventfold::snapshot::SnapshotPolicy;
use eventfold_suite::bank::{BankAccount, BankAccountCommand as Cmd};

async fn history<S: EventStore + eventfold::SnapshotStore>(
    repo: &Repository<BankAccount, S>,
    id: &StreamId,
    deposits: u64,
) {
    repo.execute(id, Cmd::open("Ada".into(), 0)).await.unwrap();
    for _ in 0..deposits {
        repo.execute(id, Cmd::deposit(1)).await.unwrap();
    }
}

async fn versions<S: EventStore>(store: &S, id: &StreamId) -> Vec<u64> {
    store
        .read_stream(id, ReadStream::all())
        .await
        .unwrap()
        .iter()
        .map(|e| e.stream_version)
        .collect()
}

async fn keeps_the_newest_events_but_never_past_a_snapshot<S>(store: S)
where
    S: EventStore + eventfold::SnapshotStore + Clone,
{
    let repo = Repository::<BankAccount, _>::with_snapshots(store.clone())
        .snapshot_policy(SnapshotPolicy::every(5))
        .retention(RetentionPolicy::default().keep_events(3).keep_snapshots(1));
    let id = repo.stream_id("count").unwrap();
    // Versions 1..=12; snapshots after 5 and 10.
    history(&repo, &id, 11).await;
    // At the snapshot of 10: keep 3 newest (8, 9, 10); 11 and 12 came after.
    assert_eq!(versions(&store, &id).await, [8, 9, 10, 11, 12]);
    let loaded = repo.load(&id).await.unwrap();
    assert_eq!((loaded.version, loaded.state.balance), (12, 11));
    assert_eq!(loaded.snapshot_version, Some(10));
    // One snapshot kept.
    assert!(
        store
            .load_snapshot(&id, "BankAccount", BankAccount::SCHEMA_VERSION, Some(9))
            .await
            .unwrap()
            .is_none()
    );
    // Applied now (at version 12), the 3 newest are 10, 11, 12.
    assert_eq!(repo.apply_retention(&id).await.unwrap(), 2);
    assert_eq!(versions(&store, &id).await, [10, 11, 12]);
    assert_eq!(repo.load(&id).await.unwrap().state.balance, 11);
    // A policy keeping 1 still stops at the snapshot (10): what it covers
    // goes, the events after it (11, 12) stay, and the stream loads.
    let tight = repo
        .clone()
        .retention(RetentionPolicy::default().keep_events(1));
    assert_eq!(tight.apply_retention(&id).await.unwrap(), 1);
    assert_eq!(versions(&store, &id).await, [11, 12]);
    assert_eq!(tight.load(&id).await.unwrap().state.balance, 11);
}

async fn drops_events_older_than_the_age_up_to_the_snapshot<S>(store: S)
where
    S: EventStore + eventfold::SnapshotStore + Clone,
{
    let clock = Arc::new(ManualClock::at(chrono::Utc::now()));
    let repo = Repository::<BankAccount, _>::with_snapshots(store.clone())
        .snapshot_policy(SnapshotPolicy::every(4))
        .clock(clock.clone());
    let id = repo.stream_id("age").unwrap();
    history(&repo, &id, 5).await; // versions 1..=6, snapshot at 4
    assert_eq!(versions(&store, &id).await, [1, 2, 3, 4, 5, 6]);

    // Nothing is old yet: the policy keeps everything.
    let aged = repo
        .clone()
        .retention(RetentionPolicy::default().keep_for(Duration::from_secs(3600)));
    assert_eq!(aged.apply_retention(&id).await.unwrap(), 0);
    // Two hours later every event is older than an hour: archived up to the
    // snapshot (4), the tail after it stays.
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(aged.apply_retention(&id).await.unwrap(), 4);
    assert_eq!(versions(&store, &id).await, [5, 6]);
    let loaded = aged.load(&id).await.unwrap();
    assert_eq!((loaded.version, loaded.state.balance), (6, 5));
}

async fn without_a_snapshot_nothing_is_archived<S>(store: S)
where
    S: EventStore + eventfold::SnapshotStore + Clone,
{
    let repo = Repository::<BankAccount, _>::with_snapshots(store.clone())
        .snapshot_policy(SnapshotPolicy::Never)
        .retention(RetentionPolicy::default().keep_events(1));
    let id = repo.stream_id("none").unwrap();
    history(&repo, &id, 3).await;
    assert_eq!(repo.apply_retention(&id).await.unwrap(), 0);
    assert_eq!(versions(&store, &id).await, [1, 2, 3, 4]);
    // The default policy keeps everything, snapshots or not.
    let keep_all = Repository::<BankAccount, _>::with_snapshots(store.clone())
        .snapshot_policy(SnapshotPolicy::every(1));
    let other = keep_all.stream_id("all").unwrap();
    history(&keep_all, &other, 3).await;
    assert_eq!(keep_all.apply_retention(&other).await.unwrap(), 0);
    assert_eq!(versions(&store, &other).await, [1, 2, 3, 4]);
}

#[tokio::test]
async fn memory_store() {
    keeps_the_newest_events_but_never_past_a_snapshot(MemoryStore::new()).await;
    drops_events_older_than_the_age_up_to_the_snapshot(MemoryStore::new()).await;
    without_a_snapshot_nothing_is_archived(MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| SqliteStore::open(dir.path().join(name));
    keeps_the_newest_events_but_never_past_a_snapshot(open("a.db").await.unwrap()).await;
    drops_events_older_than_the_age_up_to_the_snapshot(open("b.db").await.unwrap()).await;
    without_a_snapshot_nothing_is_archived(open("c.db").await.unwrap()).await;
}
