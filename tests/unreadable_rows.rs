//! A stored row the store itself cannot read (`StoreError::Corrupted`): a
//! projection under `FailurePolicy::DeadLetter` parks it with the store's
//! error and goes on, in catch-up and live; under the default policy it
//! stops with an error naming the row's position. On SQLite (a file
//! corrupted through a second connection) and PostgreSQL (when
//! `EVENTFOLD_POSTGRES_URL` is set).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventfold::prelude::*;
use eventfold::projection::{
    CheckpointStore, FailurePolicy, HandleError, MemoryCheckpointStore, Projection,
    ProjectionRunner,
};
use eventfold::store::conformance::PostgresSchema;
use eventfold::store::{ExpectedVersion, SqliteStore, StoreError};
use eventfold::{NewEvent, RecordedEvent};

/// Records the positions it handled.
struct Positions {
    policy: FailurePolicy,
    seen: Arc<Mutex<Vec<u64>>>,
}

impl Positions {
    fn new(policy: FailurePolicy) -> (Self, Arc<Mutex<Vec<u64>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        (
            Self {
                policy,
                seen: seen.clone(),
            },
            seen,
        )
    }
}

impl Projection for Positions {
    fn name(&self) -> &str {
        "positions"
    }

    fn event_types(&self) -> &[&str] {
        &[]
    }

    fn handle(&mut self, event: &RecordedEvent) -> Result<(), HandleError> {
        self.seen.lock().unwrap().push(event.global_position);
        Ok(())
    }

    fn failure_policy(&self) -> FailurePolicy {
        self.policy
    }
}

fn event(n: u32) -> NewEvent {
    NewEvent::new(
        "Probe",
        1,
        format!("{{\"n\":{n}}}").into_bytes(),
        Metadata::default(),
    )
}

/// Appends five events (positions 1..=5) to two streams, then corrupts the
/// row at position 3 (`corrupt`), and checks every behaviour on `store`.
async fn scenario<S: EventStore>(store: S, corrupt: impl AsyncFnOnce()) {
    let a = StreamId::new("acct-a").unwrap();
    let b = StreamId::new("acct-b").unwrap();
    store
        .append(&a, ExpectedVersion::Any, vec![event(1), event(2)])
        .await
        .unwrap();
    store
        .append(&b, ExpectedVersion::Any, vec![event(3), event(4)])
        .await
        .unwrap();
    store
        .append(&a, ExpectedVersion::Any, vec![event(5)])
        .await
        .unwrap();
    corrupt().await;
    let store = Arc::new(store);

    // The default policy stops at the row, naming its position, with the
    // events before it handled and checkpointed.
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let runner = ProjectionRunner::new(store.clone(), checkpoints.clone()).batch_size(2);
    let (mut stop, seen) = Positions::new(FailurePolicy::Stop);
    let err = runner.catch_up(&mut stop).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("global position 3"), "{text}");
    assert!(text.contains("acct-b"), "{text}");
    assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    assert_eq!(runner.checkpoint(&mut stop).await.unwrap(), 2);

    // Dead letters: parked with the store's error, the rest handled.
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let runner = ProjectionRunner::new(store.clone(), checkpoints.clone()).batch_size(10);
    let (mut parking, seen) = Positions::new(FailurePolicy::DeadLetter);
    let report = runner.catch_up(&mut parking).await.unwrap();
    assert_eq!(report.position, 5);
    assert_eq!(report.parked, 1);
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 4, 5]);
    let letters = checkpoints.dead_letters("positions").await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.position, 3);
    assert_eq!(letter.stream_id.as_str(), "acct-b");
    assert_eq!(letter.stream_version, 1);
    assert!(letter.error.contains("corrupted"), "{}", letter.error);
    assert!(letter.event_id.is_nil(), "the row's id could not be read");

    // Live: a spawned projection passes it too and follows new events.
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let runner = ProjectionRunner::new(store.clone(), checkpoints.clone()).batch_size(2);
    let (live, seen) = Positions::new(FailurePolicy::DeadLetter);
    let handle = runner.spawn(live);
    let six = store
        .append(&b, ExpectedVersion::Any, vec![event(6)])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), handle.wait_for(six.last_position))
        .await
        .expect("the live projection gets past the row in time")
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 4, 5, 6]);
    assert_eq!(handle.dead_letters().await.unwrap().len(), 1);
    let (_, failed) = handle.stop().await;
    assert!(failed.is_none());

    // Live under the default policy: fails, naming the position.
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let runner = ProjectionRunner::new(store.clone(), checkpoints);
    let (live, _) = Positions::new(FailurePolicy::Stop);
    let handle = runner.spawn(live);
    let err = tokio::time::timeout(Duration::from_secs(20), handle.failed())
        .await
        .expect("fails in time");
    assert!(err.to_string().contains("global position 3"), "{err}");
}

#[tokio::test]
async fn sqlite_unreadable_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).await.unwrap();
    scenario(store, async || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n = conn
            .execute(
                "UPDATE eventfold_events SET metadata = 'not json' WHERE position = 3",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    })
    .await;
}

#[tokio::test]
async fn postgres_unreadable_row() {
    let Some(schema) = PostgresSchema::new("unreadable") else {
        return;
    };
    let store = schema.store().await;
    let damage = Arc::new(schema);
    let damage_with = damage.clone();
    scenario(store, async move || {
        // A payload type stored by hand that no event can have: a negative
        // schema version.
        let n = damage_with
            .execute("UPDATE events SET schema_version = -1 WHERE global_position = 3")
            .await;
        assert_eq!(n, 1);
    })
    .await;
}

/// The error of a store read is `Corrupted` with the position (the runner
/// relies on it).
#[tokio::test]
async fn corrupted_errors_name_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let s = StreamId::new("acct").unwrap();
    store
        .append(&s, ExpectedVersion::Any, vec![event(1), event(2)])
        .await
        .unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE eventfold_events SET metadata = '[' WHERE position = 2",
            [],
        )
        .unwrap();
    let err = store.read_all(0, 10).await.unwrap_err();
    assert_eq!(err.unreadable_position(), Some(2), "{err}");
    assert!(matches!(err, StoreError::Corrupted { version: 2, .. }));
}
