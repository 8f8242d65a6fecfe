//! Command throughput on one `BankAccount` with 1,000 events of history:
//! through `Repository::execute` (loads the stream for every command),
//! the same with snapshots (loads the newest snapshot and the events after
//! it), and through `Entities::execute` (the state stays in memory; only
//! the first command of a sample loads it).
//!
//! `hot_account`: 64 concurrent callers on one account through
//! `Entities::execute` (SQLite with its default durability, and PostgreSQL
//! when `EVENTFOLD_POSTGRES_URL` is set): the commands queue in the
//! entity's mailbox and are written in batches, one append each.
//! Targets: >= 20,000 commands/s on SQLite, >= 10,000 on PostgreSQL.
//!
//! Run: `cargo bench --bench entity -- --sample-count 10`. The figures are
//! in BENCHMARKS.md ("Entities").

use divan::Bencher;
use divan::counter::ItemsCount;
use eventfold::NewEvent;
use eventfold::entity::Entities;
use eventfold::prelude::*;
use eventfold::repository::Repository;
use eventfold::snapshot::SnapshotStore;
use eventfold::store::SqliteStore;
use eventfold::store::conformance::{PostgresSchema, TestServer};
use eventfold_suite::bank::{
    AccountOpened, BankAccount, BankAccountCommand, BankAccountEvent, MoneyDeposited,
};

fn main() {
    divan::main();
}

/// Events in the account before the commands run.
const HISTORY: u64 = 1_000;
/// Commands per sample, one after the other.
const COMMANDS: u64 = 200;

/// How the commands are executed.
const WAYS: &[&str] = &["repository", "repository_snapshots", "entity"];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Appends the account's history: opened, then deposits.
async fn history<S: EventStore>(store: &S, stream: &StreamId) {
    let events: Vec<NewEvent> = (1..=HISTORY)
        .map(|v| {
            let event = if v == 1 {
                BankAccountEvent::AccountOpened(AccountOpened {
                    owner: "Alice".into(),
                    initial_balance: 0,
                })
            } else {
                BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: 1 })
            };
            NewEvent::encode(&event, &JsonCodec, Metadata::default()).expect("encodes")
        })
        .collect();
    store
        .append(stream, ExpectedVersion::NoStream, events)
        .await
        .expect("appends");
}

/// Runs `COMMANDS` deposits one after the other, the way `way` says, on a
/// store made fresh for each sample by `make`.
fn bench_commands<S, F>(bencher: Bencher, way: &str, make: F)
where
    S: EventStore + SnapshotStore + Clone,
    F: Fn() -> (S, Box<dyn std::any::Any>) + Sync,
{
    let rt = runtime();
    let stream = StreamId::for_aggregate(BankAccount::TYPE_NAME, "bench").expect("stream id");
    bencher
        .counter(ItemsCount::new(COMMANDS))
        .with_inputs(|| {
            let (store, guard) = make();
            rt.block_on(history(&store, &stream));
            let repository = if way == "repository_snapshots" {
                let repository = Repository::<BankAccount, _>::with_snapshots(store);
                rt.block_on(repository.snapshot_now(&stream))
                    .expect("snapshot");
                repository
            } else {
                Repository::<BankAccount, _>::new(store)
            };
            (repository, guard)
        })
        .bench_local_values(|(repository, guard)| {
            rt.block_on(async {
                if way == "entity" {
                    let entities = Entities::new(repository);
                    for _ in 0..COMMANDS {
                        entities
                            .execute(&stream, BankAccountCommand::deposit(1))
                            .await
                            .expect("deposit");
                    }
                    entities.shutdown().await;
                } else {
                    for _ in 0..COMMANDS {
                        repository
                            .execute(&stream, BankAccountCommand::deposit(1))
                            .await
                            .expect("deposit");
                    }
                }
            });
            guard
        });
}

#[divan::bench(args = WAYS, sample_size = 1)]
fn memory(bencher: Bencher, way: &str) {
    bench_commands(bencher, way, || (MemoryStore::new(), Box::new(())));
}

#[divan::bench(args = WAYS, sample_size = 1)]
fn sqlite(bencher: Bencher, way: &str) {
    let rt = runtime();
    bench_commands(bencher, way, || {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = rt
            .block_on(SqliteStore::open(dir.path().join("bench.db")))
            .expect("open");
        (store, Box::new(dir))
    });
}

/// Concurrent callers on the hot account.
const CALLERS: u64 = 64;
/// Commands each caller sends per sample, one after the other.
const PER_CALLER: u64 = 50;

/// `CALLERS` tasks each send `PER_CALLER` deposits to one account through
/// one `Entities`, on a 2-worker runtime; the account is opened (and its
/// entity started) before the timed part.
fn bench_hot<S, F>(bencher: Bencher, make: F)
where
    S: EventStore + SnapshotStore + Clone,
    F: Fn(&tokio::runtime::Runtime) -> (S, Box<dyn std::any::Any>) + Sync,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stream = StreamId::for_aggregate(BankAccount::TYPE_NAME, "hot").expect("stream id");
    bencher
        .counter(ItemsCount::new(CALLERS * PER_CALLER))
        .with_inputs(|| {
            let (store, guard) = make(&rt);
            let entities = Entities::new(Repository::<BankAccount, _>::new(store));
            rt.block_on(entities.execute(&stream, BankAccountCommand::open("Alice".into(), 0)))
                .expect("opens");
            (entities, guard)
        })
        .bench_local_values(|(entities, guard)| {
            rt.block_on(async {
                let callers: Vec<_> = (0..CALLERS)
                    .map(|_| {
                        let (entities, stream) = (entities.clone(), stream.clone());
                        tokio::spawn(async move {
                            for _ in 0..PER_CALLER {
                                entities
                                    .execute(&stream, BankAccountCommand::deposit(1))
                                    .await
                                    .expect("deposit");
                            }
                        })
                    })
                    .collect();
                for caller in callers {
                    caller.await.expect("caller");
                }
                entities.shutdown().await;
            });
            guard
        });
}

#[divan::bench(sample_size = 1)]
fn hot_account_sqlite(bencher: Bencher) {
    bench_hot(bencher, |rt| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = rt
            .block_on(SqliteStore::open(dir.path().join("bench.db")))
            .expect("open");
        (store, Box::new(dir))
    });
}

#[divan::bench(sample_size = 1)]
fn hot_account_postgres(bencher: Bencher) {
    if TestServer::Postgres.url().is_none() {
        return;
    }
    bench_hot(bencher, |rt| {
        // The schema is dropped with the guard when the sample is done.
        let schema = PostgresSchema::new("bench_hot").expect("a PostgreSQL server");
        let store = rt.block_on(schema.store());
        (store, Box::new(schema))
    });
}
