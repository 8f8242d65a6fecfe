//! Checkpoint stores through the public API: the shared contract
//! (`checkpoint_store_contract`) on the memory, SQLite and PostgreSQL
//! checkpoint stores; checkpoints that survive reopening; checkpoints
//! written inside a read model's own transaction; a projection resuming
//! from a PostgreSQL checkpoint. The PostgreSQL tests need
//! EVENTFOLD_POSTGRES_URL (see `PostgresSchema`: without it they print a
//! notice and pass; with EVENTFOLD_REQUIRE_POSTGRES=1 they fail instead).

use std::sync::Arc;

use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::projection::conformance::checkpoint_store_contract;
use eventfold::projection::{
    CheckpointStore, EventMeta, MemoryCheckpointStore, PostgresCheckpointStore, Projection,
    ProjectionRunner, ProjectionStatus, SqliteCheckpointStore,
};
use eventfold::store::PostgresStore;
use eventfold::store::conformance::PostgresSchema;
use eventfold_suite::bank::{BankAccountEvent, MoneyDeposited};

#[tokio::test]
async fn memory_checkpoint_store_keeps_the_contract() {
    checkpoint_store_contract(&MemoryCheckpointStore::new()).await;
}

#[tokio::test]
async fn sqlite_checkpoint_store_keeps_the_contract_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoints.db");
    checkpoint_store_contract(&SqliteCheckpointStore::open(&path).await.unwrap()).await;
    let reopened = SqliteCheckpointStore::open(&path).await.unwrap();
    assert_eq!(reopened.load("q").await.unwrap(), Some(1));
    // A read model's own transaction writes the checkpoint the store reads.
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        SqliteCheckpointStore::save_in(&tx, "model", 42).unwrap();
        tx.commit().unwrap();
    }
    assert_eq!(reopened.load("model").await.unwrap(), Some(42));
}

// ------------------------------------------------------------- PostgreSQL

/// A store in a fresh schema (dropped with the returned guard), or `None`
/// (after a notice) without a server.
async fn postgres(test: &str) -> Option<(PostgresStore, PostgresSchema)> {
    let schema = PostgresSchema::new(test)?;
    Some((schema.store().await, schema))
}

#[tokio::test]
async fn postgres_checkpoint_store_keeps_the_contract_and_survives_reconnecting() {
    let Some((store, pg)) = postgres("contract").await else {
        return;
    };
    let checkpoints = PostgresCheckpointStore::open(&store).await.unwrap();
    checkpoint_store_contract(&checkpoints).await;

    // Another connection (another process) sees the same checkpoints;
    // opening again keeps them.
    let again = pg.store().await;
    let reopened = PostgresCheckpointStore::open(&again).await.unwrap();
    assert_eq!(reopened.load("q").await.unwrap(), Some(1));

    // A read model's own transaction writes the checkpoint; a rolled-back
    // one leaves nothing.
    let mut client = pg.client().await;
    let tx = client.transaction().await.unwrap();
    reopened.save_in(&tx, "model", 42).await.unwrap();
    assert_eq!(reopened.load_in(&tx, "model").await.unwrap(), Some(42));
    tx.rollback().await.unwrap();
    assert_eq!(reopened.load("model").await.unwrap(), None);
    let tx = client.transaction().await.unwrap();
    reopened.save_in(&tx, "model", 43).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(reopened.load("model").await.unwrap(), Some(43));
}

/// `n` deposits of 1, as new events.
fn deposits(n: u64) -> Vec<NewEvent> {
    (0..n)
        .map(|_| {
            let e = BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: 1 });
            NewEvent::encode(&e, &JsonCodec, Metadata::default()).unwrap()
        })
        .collect()
}

/// Counts deposits.
#[derive(Default)]
struct Deposits {
    count: u64,
}

#[eventfold::projection]
impl Deposits {
    #[handle]
    fn deposited(&mut self, _: &MoneyDeposited, _: &EventMeta) {
        self.count += 1;
    }
}

#[tokio::test]
async fn a_projection_resumes_from_its_postgres_checkpoint() {
    let Some((store, _pg)) = postgres("resume").await else {
        return;
    };
    let stream = StreamId::new("BankAccount-1").unwrap();
    store
        .append(&stream, ExpectedVersion::Any, deposits(5))
        .await
        .unwrap();
    let store = Arc::new(store);
    let checkpoints = Arc::new(PostgresCheckpointStore::open(&store).await.unwrap());
    let runner = ProjectionRunner::new(store.clone(), checkpoints.clone());
    let mut first = Deposits::default();
    assert_eq!(runner.catch_up(&mut first).await.unwrap().position, 5);
    assert_eq!(first.count, 5);
    assert_eq!(checkpoints.load(first.name()).await.unwrap(), Some(5));

    store
        .append(&stream, ExpectedVersion::Any, deposits(3))
        .await
        .unwrap();
    // A new instance (as after a restart) starts from the checkpoint: it
    // sees only the three new events.
    let mut second = Deposits::default();
    let report = runner.catch_up(&mut second).await.unwrap();
    assert_eq!((report.position, second.count), (8, 3));
    assert_eq!(runner.lag(second.name()).await.unwrap(), 0);
}

/// Two exclusive runners over one PostgreSQL database (separate pools, as
/// two processes would have): one runs, the other stands by, and takes
/// over from the checkpoint when the first stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_runners_share_one_projection_through_postgres() {
    let Some((store, pg)) = postgres("claims").await else {
        return;
    };
    let stream = StreamId::new("BankAccount-1").unwrap();
    store
        .append(&stream, ExpectedVersion::Any, deposits(4))
        .await
        .unwrap();
    let other = pg.store().await;
    let ttl = std::time::Duration::from_secs(1);
    let mut runners = Vec::new();
    for s in [store.clone(), other] {
        let checkpoints = Arc::new(PostgresCheckpointStore::open(&s).await.unwrap());
        runners.push(ProjectionRunner::new(Arc::new(s), checkpoints).exclusive(ttl));
    }
    let first = runners[0].spawn(Deposits::default());
    first.wait_caught_up().await.unwrap();
    let second = runners[1].spawn(Deposits::default());
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while !matches!(second.status(), ProjectionStatus::Standby) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the second instance stands by");

    let (first, _) = first.stop().await;
    assert_eq!(first.count, 4);
    store
        .append(&stream, ExpectedVersion::Any, deposits(3))
        .await
        .unwrap();
    second.wait_for(7).await.unwrap();
    let (second, _) = second.stop().await;
    assert_eq!(
        second.count, 3,
        "it resumed from the first one's checkpoint"
    );
}
