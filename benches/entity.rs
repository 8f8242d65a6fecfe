//! Command throughput on one `BankAccount` with 1,000 events of history:
//! through `Repository::execute` (loads the stream for every command),
//! the same with snapshots (loads the newest snapshot and the events after
//! it), and through `Entities::execute` (the state stays in memory; only
//! the first command of a sample loads it).
//!
//! Run: `cargo bench --bench entity -- --sample-count 10`. No target; the
//! figures are in BENCHMARKS.md ("Entities").

use divan::Bencher;
use divan::counter::ItemsCount;
use eventfold::NewEvent;
use eventfold::entity::Entities;
use eventfold::prelude::*;
use eventfold::repository::Repository;
use eventfold::snapshot::SnapshotStore;
use eventfold::store::SqliteStore;
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
