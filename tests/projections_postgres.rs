//! Exactly-once read models in PostgreSQL: the handlers stage their changes
//! in memory, and the asynchronous `#[commit]` writes them together with the
//! checkpoint in one transaction. Needs EVENTFOLD_POSTGRES_URL (see
//! `PostgresSchema`).

use std::collections::BTreeMap;

use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::projection::{EventMeta, MemoryCheckpointStore, Projection, ProjectionRunner};
use eventfold::store::conformance::PostgresSchema;
use eventfold_suite::bank::{AccountOpened, BankAccountEvent, MoneyDeposited};
// The driver as eventfold re-exports it (the types `save_in` takes).
use eventfold::tokio_postgres::{self, Client};

/// Deposits per account, in PostgreSQL, with the checkpoint in the same
/// schema.
struct PgDeposits {
    client: Client,
    schema: String,
    /// Changes of the current batch: account -> (sum, count).
    staged: BTreeMap<String, (i64, i64)>,
}

impl PgDeposits {
    async fn open(pg: &PostgresSchema) -> Self {
        let client = pg.client().await;
        let schema = pg.name();
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};
                 CREATE TABLE IF NOT EXISTS {schema}.deposits (
                     stream TEXT PRIMARY KEY, total BIGINT NOT NULL, count BIGINT NOT NULL);
                 CREATE TABLE IF NOT EXISTS {schema}.checkpoints (
                     projection TEXT PRIMARY KEY, position BIGINT NOT NULL);"
            ))
            .await
            .unwrap();
        Self {
            client,
            schema: schema.to_owned(),
            staged: BTreeMap::new(),
        }
    }
}

#[eventfold::projection(name = "pg_deposits")]
impl PgDeposits {
    #[handle]
    fn opened(&mut self, _: &AccountOpened, meta: &EventMeta) {
        self.staged.entry(meta.stream_id.to_string()).or_default();
    }

    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) {
        let row = self.staged.entry(meta.stream_id.to_string()).or_default();
        row.0 += e.amount as i64;
        row.1 += 1;
    }

    #[checkpoint]
    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, tokio_postgres::Error> {
        let sql = format!(
            "SELECT position FROM {}.checkpoints WHERE projection = 'pg_deposits'",
            self.schema
        );
        let row = self.client.query_opt(&sql, &[]).await?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    #[commit]
    async fn commit_batch(&mut self, position: u64) -> Result<(), tokio_postgres::Error> {
        let upsert = format!(
            "INSERT INTO {}.deposits (stream, total, count) VALUES ($1, $2, $3)
             ON CONFLICT (stream) DO UPDATE
             SET total = deposits.total + $2, count = deposits.count + $3",
            self.schema
        );
        let checkpoint = format!(
            "INSERT INTO {}.checkpoints (projection, position) VALUES ('pg_deposits', $1)
             ON CONFLICT (projection) DO UPDATE SET position = $1",
            self.schema
        );
        let tx = self.client.transaction().await?;
        for (stream, (total, count)) in &self.staged {
            tx.execute(&upsert, &[stream, total, count]).await?;
        }
        tx.execute(&checkpoint, &[&(position as i64)]).await?;
        tx.commit().await?;
        self.staged.clear();
        Ok(())
    }

    #[rollback]
    fn discard(&mut self) -> bool {
        self.staged.clear();
        true
    }

    #[reset]
    async fn clear(&mut self) -> Result<(), tokio_postgres::Error> {
        self.staged.clear();
        self.client
            .batch_execute(&format!(
                "DELETE FROM {0}.deposits; DELETE FROM {0}.checkpoints;",
                self.schema
            ))
            .await
    }
}

async fn rows(client: &Client, schema: &str) -> Vec<(String, i64, i64)> {
    client
        .query(
            &format!("SELECT stream, total, count FROM {schema}.deposits ORDER BY stream"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn write(store: &MemoryStore, account: &str, event: BankAccountEvent) {
    let stream = StreamId::for_aggregate("BankAccount", account).unwrap();
    let e = NewEvent::encode(&event, &JsonCodec, Metadata::default()).unwrap();
    store
        .append(&stream, ExpectedVersion::Any, vec![e])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_stream_it_resumes_without_loss_or_double_count() {
    let Some(pg) = PostgresSchema::new("proj") else {
        return;
    };
    let schema = pg.name();
    let first = PgDeposits::open(&pg).await;
    let store = MemoryStore::new();
    let mut expected = BTreeMap::<String, (i64, i64)>::new();
    for a in 0..5 {
        let opened = AccountOpened {
            owner: "x".into(),
            initial_balance: 0,
        };
        write(
            &store,
            &format!("acc{a}"),
            BankAccountEvent::AccountOpened(opened),
        )
        .await;
        expected.insert(format!("BankAccount-acc{a}"), (0, 0));
    }
    for i in 0..200i64 {
        let acc = format!("acc{}", i % 5);
        let e = MoneyDeposited {
            amount: i as u64 + 1,
        };
        write(&store, &acc, BankAccountEvent::MoneyDeposited(e)).await;
        let row = expected.get_mut(&format!("BankAccount-{acc}")).unwrap();
        row.0 += i + 1;
        row.1 += 1;
    }
    let expected: Vec<_> = expected.into_iter().map(|(k, (t, c))| (k, t, c)).collect();
    let head = store.head_position().await.unwrap();
    let runner = ProjectionRunner::new(store.clone(), MemoryCheckpointStore::new()).batch_size(3);

    let mut projection = Some(first);
    for stop_at in [2, 40, 41, 150, 204] {
        let p = match projection.take() {
            Some(p) => p,
            None => PgDeposits::open(&pg).await,
        };
        let handle = runner.spawn(p);
        handle.wait_for(stop_at).await.unwrap();
        handle.kill().await;
    }
    // A crash inside a batch: staged, never committed.
    let mut crashing = PgDeposits::open(&pg).await;
    let at = crashing.load_checkpoint().await.unwrap().unwrap();
    for e in store.read_all(at, 2).await.unwrap() {
        crashing.handle(&e).unwrap();
    }
    drop(crashing);

    let handle = runner.spawn(PgDeposits::open(&pg).await);
    handle.wait_for(head).await.unwrap();
    let (mut done, err) = handle.stop().await;
    assert!(err.is_none());
    assert_eq!(rows(&done.client, schema).await, expected);
    assert_eq!(done.load_checkpoint().await.unwrap(), Some(head));

    runner.rebuild(&mut done).await.unwrap();
    assert_eq!(rows(&done.client, schema).await, expected);
}
