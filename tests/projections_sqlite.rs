//! Exactly-once read models in SQLite: the rows of a batch and the
//! projection's checkpoint are written in one transaction, so a crash at any
//! point neither loses nor double counts an event.

use std::path::Path;

use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::projection::{EventMeta, MemoryCheckpointStore, Projection, ProjectionRunner};
use eventfold_suite::bank::{AccountOpened, BankAccountEvent, MoneyDeposited, MoneyWithdrawn};
// The driver as eventfold re-exports it: the types `save_in` takes, whatever
// version this crate would pick on its own.
use eventfold::rusqlite::{self, Connection, OptionalExtension, params};

/// Balances and deposit counts per account, in SQLite, with the checkpoint
/// in the same database.
struct SqliteBalances {
    conn: Connection,
    in_tx: bool,
}

const NAME: &str = "sqlite_balances";

impl SqliteBalances {
    fn open(path: &Path) -> Self {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS balances (
                 stream TEXT PRIMARY KEY,
                 balance INTEGER NOT NULL CHECK (balance >= 0),
                 deposits INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS checkpoints (
                 projection TEXT PRIMARY KEY,
                 position INTEGER NOT NULL
             );",
        )
        .unwrap();
        Self { conn, in_tx: false }
    }

    /// Opens the batch's transaction on its first write.
    fn tx(&mut self) -> rusqlite::Result<&Connection> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_tx = true;
        }
        Ok(&self.conn)
    }
}

#[eventfold::projection(name = "sqlite_balances")]
impl SqliteBalances {
    #[handle]
    fn opened(&mut self, e: &AccountOpened, meta: &EventMeta) -> rusqlite::Result<()> {
        self.tx()?.execute(
            "INSERT INTO balances (stream, balance, deposits) VALUES (?1, ?2, 0)",
            params![meta.stream_id.as_str(), e.initial_balance as i64],
        )?;
        Ok(())
    }

    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) -> rusqlite::Result<()> {
        self.tx()?.execute(
            "UPDATE balances SET balance = balance + ?2, deposits = deposits + 1 WHERE stream = ?1",
            params![meta.stream_id.as_str(), e.amount as i64],
        )?;
        Ok(())
    }

    #[handle]
    fn withdrawn(&mut self, e: &MoneyWithdrawn, meta: &EventMeta) -> rusqlite::Result<()> {
        // The CHECK constraint refuses a negative balance: a failing handler.
        self.tx()?.execute(
            "UPDATE balances SET balance = balance - ?2 WHERE stream = ?1",
            params![meta.stream_id.as_str(), e.amount as i64],
        )?;
        Ok(())
    }

    #[checkpoint]
    fn stored_checkpoint(&mut self) -> rusqlite::Result<Option<u64>> {
        self.conn
            .query_row(
                "SELECT position FROM checkpoints WHERE projection = ?1",
                [NAME],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|p| p.map(|p| p as u64))
    }

    #[commit]
    fn commit_batch(&mut self, position: u64) -> rusqlite::Result<()> {
        self.tx()?.execute(
            "INSERT INTO checkpoints (projection, position) VALUES (?1, ?2)
             ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
            params![NAME, position as i64],
        )?;
        self.conn.execute_batch("COMMIT")?;
        self.in_tx = false;
        Ok(())
    }

    #[rollback]
    fn rollback_batch(&mut self) -> bool {
        if self.in_tx {
            self.in_tx = false;
            return self.conn.execute_batch("ROLLBACK").is_ok();
        }
        true
    }

    #[reset]
    fn clear(&mut self) -> rusqlite::Result<()> {
        self.rollback_batch();
        self.conn.execute_batch(
            "DELETE FROM balances; DELETE FROM checkpoints WHERE projection = 'sqlite_balances';",
        )
    }
}

fn rows(path: &Path) -> Vec<(String, i64, i64)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT stream, balance, deposits FROM balances ORDER BY stream")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn checkpoint(path: &Path) -> Option<u64> {
    SqliteBalances::open(path)
        .conn
        .query_row("SELECT position FROM checkpoints", [], |r| {
            r.get::<_, i64>(0)
        })
        .optional()
        .unwrap()
        .map(|p| p as u64)
}

async fn write(store: &MemoryStore, account: &str, events: Vec<BankAccountEvent>) {
    let stream = StreamId::for_aggregate("BankAccount", account).unwrap();
    let events = events
        .iter()
        .map(|e| NewEvent::encode(e, &JsonCodec, Metadata::default()).unwrap())
        .collect();
    store
        .append(&stream, ExpectedVersion::Any, events)
        .await
        .unwrap();
}

fn runner(store: &MemoryStore) -> ProjectionRunner<MemoryStore, MemoryCheckpointStore> {
    ProjectionRunner::new(store.clone(), MemoryCheckpointStore::new()).batch_size(4)
}

/// 7 accounts opened with 0; 300 deposits of i+1 spread over them.
async fn history(store: &MemoryStore) -> Vec<(String, i64, i64)> {
    let mut expected = std::collections::BTreeMap::new();
    for a in 0..7 {
        write(
            store,
            &format!("acc{a}"),
            vec![BankAccountEvent::AccountOpened(AccountOpened {
                owner: "x".into(),
                initial_balance: 0,
            })],
        )
        .await;
    }
    for i in 0..300i64 {
        let acc = format!("acc{}", i % 7);
        let e = BankAccountEvent::MoneyDeposited(MoneyDeposited {
            amount: i as u64 + 1,
        });
        write(store, &acc, vec![e]).await;
        let row = expected
            .entry(format!("BankAccount-{acc}"))
            .or_insert((0, 0));
        row.0 += i + 1;
        row.1 += 1;
    }
    expected.into_iter().map(|(k, (b, d))| (k, b, d)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_stream_it_resumes_without_loss_or_double_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read_model.db");
    let store = MemoryStore::new();
    let expected = history(&store).await;
    let head = store.head_position().await.unwrap();
    let runner = runner(&store);

    for stop_at in [3, 50, 51, 200, 306] {
        let handle = runner.spawn(SqliteBalances::open(&path));
        handle.wait_for(stop_at).await.unwrap();
        handle.kill().await; // the open transaction dies with the connection
        assert!(checkpoint(&path).unwrap() >= stop_at);
    }
    // A crash in the middle of a batch: handled, never committed.
    let mut crashing = SqliteBalances::open(&path);
    let at = checkpoint(&path).unwrap();
    for e in store.read_all(at, 3).await.unwrap() {
        crashing.handle(&e).unwrap();
    }
    drop(crashing);
    assert_eq!(checkpoint(&path), Some(at));

    let handle = runner.spawn(SqliteBalances::open(&path));
    handle.wait_for(head).await.unwrap();
    let (_, err) = handle.stop().await;
    assert!(err.is_none());
    assert_eq!(rows(&path), expected, "every deposit counted exactly once");
    assert_eq!(checkpoint(&path), Some(head));

    // A rebuild from zero gives the same rows.
    let mut rebuilt = SqliteBalances::open(&path);
    runner.rebuild(&mut rebuilt).await.unwrap();
    assert_eq!(rows(&path), expected);
}

#[tokio::test]
async fn a_failing_statement_rolls_back_the_batch_and_stops_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read_model.db");
    let store = MemoryStore::new();
    let opened = BankAccountEvent::AccountOpened(AccountOpened {
        owner: "x".into(),
        initial_balance: 10,
    });
    write(&store, "a", vec![opened]).await;
    write(
        &store,
        "a",
        vec![
            BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: 5 }),
            BankAccountEvent::MoneyWithdrawn(MoneyWithdrawn { amount: 100 }),
            BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: 1 }),
        ],
    )
    .await;
    let runner = runner(&store).batch_size(10);
    let err = runner
        .catch_up(&mut SqliteBalances::open(&path))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.position(), Some(3), "{msg}");
    assert!(msg.contains("CHECK constraint failed"), "{msg}");
    assert_eq!(checkpoint(&path), Some(2));
    assert_eq!(rows(&path), [("BankAccount-a".to_owned(), 15, 1)]);
}
