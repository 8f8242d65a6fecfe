//! Projections over the bank domain, through the public API: read models,
//! kill and resume, writers during catch-up, rebuild equals live, failure
//! policies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::projection::{
    CheckpointStore, EventMeta, MemoryCheckpointStore, Projection, ProjectionRunner,
    ProjectionStatus,
};
use eventfold_suite::bank::{
    AccountClosed, AccountOpened, BankAccountEvent, MoneyDeposited, MoneyWithdrawn,
};
use eventfold_suite::bank_projections::{
    AccountBalances, DailySummary, StoreStatistics, TransactionHistory, TransactionKind,
};

type Runner = ProjectionRunner<MemoryStore, MemoryCheckpointStore>;

fn runner(store: &MemoryStore) -> Runner {
    ProjectionRunner::new(store.clone(), MemoryCheckpointStore::new()).batch_size(7)
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

async fn write_raw(store: &MemoryStore, stream: &str, event_type: &str, payload: &[u8]) {
    let e = NewEvent::new(event_type, 1, payload.to_vec(), Metadata::default());
    store
        .append(
            &StreamId::new(stream).unwrap(),
            ExpectedVersion::Any,
            vec![e],
        )
        .await
        .unwrap();
}

fn open(owner: &str, initial: u64) -> BankAccountEvent {
    BankAccountEvent::AccountOpened(AccountOpened {
        owner: owner.into(),
        initial_balance: initial,
    })
}
fn deposit(amount: u64) -> BankAccountEvent {
    BankAccountEvent::MoneyDeposited(MoneyDeposited { amount })
}
fn withdraw(amount: u64) -> BankAccountEvent {
    BankAccountEvent::MoneyWithdrawn(MoneyWithdrawn { amount })
}

/// Writes a small bank: alice (100 +50 -30), bob (0 +20 -20, closed), an
/// event of another aggregate in between.
async fn small_bank(store: &MemoryStore) {
    write(store, "alice", vec![open("Alice", 100), deposit(50)]).await;
    write_raw(store, "Shipment-1", "ShipmentSent", b"{}").await;
    write(store, "bob", vec![open("Bob", 0), deposit(20)]).await;
    write(store, "alice", vec![withdraw(30)]).await;
    write(
        store,
        "bob",
        vec![withdraw(20), BankAccountEvent::AccountClosed(AccountClosed)],
    )
    .await;
}

#[tokio::test]
async fn bank_read_models() {
    let store = MemoryStore::new();
    small_bank(&store).await;
    let runner = runner(&store);

    let mut balances = AccountBalances::default();
    let report = runner.catch_up(&mut balances).await.unwrap();
    assert_eq!(report.position, 8);
    assert_eq!(report.events, 8);
    let alice = &balances.accounts["BankAccount-alice"];
    assert_eq!(
        (alice.owner.as_str(), alice.balance, alice.closed),
        ("Alice", 120, false)
    );
    let bob = &balances.accounts["BankAccount-bob"];
    assert_eq!((bob.balance, bob.closed, bob.version), (0, true, 4));
    assert!(!balances.accounts.contains_key("Shipment-1"));
    assert_eq!(
        balances.event_types(),
        [
            "AccountOpened",
            "MoneyDeposited",
            "MoneyWithdrawn",
            "AccountClosed"
        ]
    );
    assert_eq!(balances.name(), "AccountBalances");

    let mut history = TransactionHistory::default();
    runner.catch_up(&mut history).await.unwrap();
    let kinds: Vec<_> = history.accounts["BankAccount-bob"]
        .iter()
        .map(|t| (t.kind, t.amount, t.version, t.position))
        .collect();
    assert_eq!(
        kinds,
        [
            (TransactionKind::Opened, 0, 1, 4),
            (TransactionKind::Deposit, 20, 2, 5),
            (TransactionKind::Withdrawal, 20, 3, 7),
            (TransactionKind::Closed, 0, 4, 8),
        ]
    );
    assert_eq!(history.name(), "bank.transaction_history");

    let mut daily = DailySummary::default();
    runner.catch_up(&mut daily).await.unwrap();
    let recorded = store.read_all(0, 1).await.unwrap()[0].recorded_at;
    let day = daily.days[&recorded.date_naive()];
    assert_eq!(
        (
            day.deposits,
            day.withdrawals,
            day.net_change,
            day.transactions
        ),
        (70, 50, 20, 4)
    );

    let mut stats = StoreStatistics::default();
    runner.catch_up(&mut stats).await.unwrap();
    assert_eq!(stats.total_events, 8);
    assert_eq!(stats.per_event_type["MoneyWithdrawn"], 2);
    assert_eq!(stats.per_event_type["ShipmentSent"], 1);
    assert_eq!(stats.stream_versions["BankAccount-bob"], 4);
    assert_eq!(stats.stream_versions["Shipment-1"], 1);
}

#[tokio::test]
async fn replayed_batch_is_not_counted_twice_by_idempotent_read_models() {
    let store = MemoryStore::new();
    small_bank(&store).await;
    let runner = runner(&store);
    let mut balances = AccountBalances::default();
    let mut history = TransactionHistory::default();
    runner.catch_up(&mut balances).await.unwrap();
    runner.catch_up(&mut history).await.unwrap();
    let (b, h) = (balances.clone(), history.clone());
    // A crash after handling but before the checkpoint was saved: the
    // checkpoint store is behind the read model, the events come again.
    runner
        .checkpoints()
        .save("AccountBalances", 2)
        .await
        .unwrap();
    runner
        .checkpoints()
        .save("bank.transaction_history", 0)
        .await
        .unwrap();
    assert_eq!(runner.lag("AccountBalances").await.unwrap(), 6);
    assert_eq!(runner.catch_up(&mut balances).await.unwrap().events, 6);
    runner.catch_up(&mut history).await.unwrap();
    assert_eq!(balances, b);
    assert_eq!(history, h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_during_catch_up_and_rebuild_equals_live() {
    let store = MemoryStore::new();
    for i in 0..20 {
        write(&store, &format!("acc{i}"), vec![open("x", 10)]).await;
    }
    let runner = runner(&store);
    let balances = runner.spawn(AccountBalances::default());
    let stats = runner.spawn(StoreStatistics::default());
    let history = runner.spawn(TransactionHistory::default());
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..50u64 {
                    let acc = format!("acc{}", (w * 5 + i) % 20);
                    write(&store, &acc, vec![deposit(i + 1), withdraw(1)]).await;
                    if i % 10 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let head = store.head_position().await.unwrap();
    assert_eq!(head, 20 + 4 * 50 * 2);
    balances.wait_for(head).await.unwrap();
    stats.wait_for(head).await.unwrap();
    history.wait_caught_up().await.unwrap();
    assert_eq!(balances.lag().await.unwrap(), 0);

    let (live_balances, err) = balances.stop().await;
    assert!(err.is_none());
    let (live_stats, _) = stats.stop().await;
    let (live_history, _) = history.stop().await;
    // 20 accounts opened with 10; deposits of 1..=50 by 4 writers; 200
    // withdrawals of 1.
    assert_eq!(live_balances.total(), 20 * 10 + 4 * (50 * 51 / 2) - 200);
    assert_eq!(live_stats.total_events, head);

    let mut rebuilt = AccountBalances::default();
    let report = runner.rebuild(&mut rebuilt).await.unwrap();
    assert_eq!(report.position, head);
    assert_eq!(rebuilt, live_balances);
    let mut rebuilt = StoreStatistics::default();
    runner.rebuild(&mut rebuilt).await.unwrap();
    assert_eq!(rebuilt, live_stats);
    let mut rebuilt = TransactionHistory::default();
    runner.rebuild(&mut rebuilt).await.unwrap();
    assert_eq!(rebuilt, live_history);
}

/// A "database" that outlives the projection: rows and checkpoint.
#[derive(Default)]
struct Db {
    deposits: BTreeMap<String, u64>,
    checkpoint: Option<u64>,
}

/// A transactional read model over [`Db`]: changes are staged and land with
/// the checkpoint in one step (`#[commit]`), or vanish (`#[rollback]`, or a
/// crash).
struct DepositTotals {
    db: Arc<Mutex<Db>>,
    staged: BTreeMap<String, u64>,
}

impl DepositTotals {
    fn new(db: &Arc<Mutex<Db>>) -> Self {
        Self {
            db: Arc::clone(db),
            staged: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("deposit of {0} looks like a typo")]
struct Suspicious(u64);

#[eventfold::projection(name = "deposit_totals")]
impl DepositTotals {
    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) -> Result<(), Suspicious> {
        // Written before the check, so that a failure leaves a partial write
        // that the rollback must undo.
        *self.staged.entry(meta.stream_id.to_string()).or_default() += e.amount;
        if e.amount == 666 {
            return Err(Suspicious(e.amount));
        }
        Ok(())
    }

    #[checkpoint]
    fn stored_checkpoint(&mut self) -> Option<u64> {
        self.db.lock().unwrap().checkpoint
    }

    #[commit]
    fn commit_batch(&mut self, position: u64) {
        let mut db = self.db.lock().unwrap();
        for (k, v) in std::mem::take(&mut self.staged) {
            *db.deposits.entry(k).or_default() += v;
        }
        db.checkpoint = Some(position);
    }

    #[rollback]
    fn discard(&mut self) -> bool {
        self.staged.clear();
        true
    }

    #[reset]
    fn clear(&mut self) {
        let mut db = self.db.lock().unwrap();
        db.deposits.clear();
        db.checkpoint = None;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_stream_and_resume_counts_everything_exactly_once() {
    let store = MemoryStore::new();
    let mut expected = BTreeMap::<String, u64>::new();
    for i in 0..300u64 {
        let acc = format!("acc{}", i % 7);
        write(&store, &acc, vec![deposit(i + 1), withdraw(1)]).await;
        *expected.entry(format!("BankAccount-{acc}")).or_default() += i + 1;
    }
    let head = store.head_position().await.unwrap();
    let db = Arc::new(Mutex::new(Db::default()));
    let runner = runner(&store).batch_size(5);
    // Kill it at several points (mid-batch or between batches: the outcome
    // must not depend on it), resuming each time from the stored checkpoint.
    for stop_at in [1, 100, 101, 350, 599] {
        let handle = runner.spawn(DepositTotals::new(&db));
        handle.wait_for(stop_at).await.unwrap();
        handle.kill().await;
        let at = db.lock().unwrap().checkpoint.unwrap();
        assert!(at >= stop_at, "checkpoint {at} < {stop_at}");
    }
    // A crash inside a batch, by hand: handled, never committed.
    let mut crashing = DepositTotals::new(&db);
    let at = db.lock().unwrap().checkpoint.unwrap_or(0);
    for e in store.read_all(at, 3).await.unwrap() {
        crashing.handle(&e).unwrap();
    }
    drop(crashing);

    let handle = runner.spawn(DepositTotals::new(&db));
    handle.wait_for(head).await.unwrap();
    let (_, err) = handle.stop().await;
    assert!(err.is_none());
    let db = db.lock().unwrap();
    assert_eq!(
        db.deposits, expected,
        "nothing missed, nothing counted twice"
    );
    assert_eq!(db.checkpoint, Some(head));
}

#[tokio::test]
async fn rebuild_resets_a_transactional_read_model() {
    let store = MemoryStore::new();
    write(&store, "a", vec![open("A", 0), deposit(5), deposit(6)]).await;
    let db = Arc::new(Mutex::new(Db::default()));
    let runner = runner(&store);
    runner.catch_up(&mut DepositTotals::new(&db)).await.unwrap();
    runner.catch_up(&mut DepositTotals::new(&db)).await.unwrap();
    assert_eq!(db.lock().unwrap().deposits["BankAccount-a"], 11);
    let report = runner.rebuild(&mut DepositTotals::new(&db)).await.unwrap();
    assert_eq!(report.events, 3);
    assert_eq!(db.lock().unwrap().deposits["BankAccount-a"], 11);
}

/// Like `DepositTotals`' handler, but parks what it cannot handle.
#[derive(Default)]
struct Parking {
    total: u64,
}

#[eventfold::projection(on_error = "dead_letter")]
impl Parking {
    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited) -> Result<(), Suspicious> {
        if e.amount == 666 {
            return Err(Suspicious(e.amount));
        }
        self.total += e.amount;
        Ok(())
    }
}

#[tokio::test]
async fn failing_handler_stops_or_parks_by_policy_while_others_go_on() {
    let store = MemoryStore::new();
    write(&store, "a", vec![open("A", 0), deposit(5), deposit(6)]).await;
    write(&store, "b", vec![open("B", 0), deposit(666), deposit(7)]).await;
    let runner = runner(&store).batch_size(100);
    let db = Arc::new(Mutex::new(Db::default()));
    let stopping = runner.spawn(DepositTotals::new(&db));
    let parking = runner.spawn(Parking::default());
    let stats = runner.spawn(StoreStatistics::default());

    let err = stopping.failed().await;
    let msg = err.to_string();
    assert_eq!(err.position(), Some(5), "{msg}");
    assert!(
        msg.contains("`deposit_totals` stopped at position 5"),
        "{msg}"
    );
    assert!(msg.contains("stream `BankAccount-b` version 2"), "{msg}");
    assert!(msg.contains("event `MoneyDeposited`"), "{msg}");
    assert!(msg.contains("deposit of 666 looks like a typo"), "{msg}");
    {
        let db = db.lock().unwrap();
        assert_eq!(db.checkpoint, Some(4), "stops before the failed event");
        assert_eq!(db.deposits["BankAccount-a"], 11);
        assert!(
            !db.deposits.contains_key("BankAccount-b"),
            "the partial write is rolled back"
        );
    }
    assert_eq!(stopping.position(), 4);
    assert_eq!(stopping.lag().await.unwrap(), 2);

    parking.wait_for(6).await.unwrap();
    assert_eq!(parking.read(|p| p.total).await, 18);
    let dead = parking.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].position, 5);
    assert_eq!(dead[0].stream_id.as_str(), "BankAccount-b");
    assert_eq!(dead[0].event_type, "MoneyDeposited");
    assert_eq!(dead[0].error, "deposit of 666 looks like a typo");

    // The others keep running live.
    write(&store, "a", vec![deposit(1)]).await;
    stats.wait_for(7).await.unwrap();
    parking.wait_for(7).await.unwrap();
    assert_eq!(stats.read(|s| s.total_events).await, 7);
    assert_eq!(parking.read(|p| p.total).await, 19);
    assert!(matches!(stopping.status(), ProjectionStatus::Failed(_)));

    // A restart resumes from the checkpoint and stops at the same event.
    let (_, err) = stopping.stop().await;
    assert!(err.is_some());
    let again = runner.spawn(DepositTotals::new(&db));
    assert_eq!(again.failed().await.position(), Some(5));
}

#[tokio::test]
async fn undecodable_payload_of_a_handled_type_is_a_typed_error() {
    let store = MemoryStore::new();
    write_raw(&store, "BankAccount-x", "MoneyDeposited", br#"{"amout":5}"#).await;
    let runner = runner(&store);
    let err = runner
        .catch_up(&mut AccountBalances::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("missing field `amount`"), "{msg}");
    assert!(msg.contains("event `MoneyDeposited` version 1"), "{msg}");
    assert!(msg.contains("stream `BankAccount-x` version 1"), "{msg}");
    assert_eq!(
        runner.checkpoints().load("AccountBalances").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn unhandled_event_types_are_skipped_without_decoding() {
    let store = MemoryStore::new();
    write_raw(&store, "Other-1", "NotJson", b"\xff\x00").await;
    let mut balances = AccountBalances::default();
    let report = runner(&store).catch_up(&mut balances).await.unwrap();
    assert_eq!(report.position, 1);
    assert!(balances.accounts.is_empty());
}
