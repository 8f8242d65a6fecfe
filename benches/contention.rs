//! Contention stays on its stream: appends to an unrelated stream, alone and
//! while 64 tasks fight over one hot stream through one
//! `Repository::execute` (with the repository's state cache, the default,
//! its commands on the hot stream take turns and each only appends; with
//! `state_cache(0)` each would load, decide and append, and most would be
//! refused and retried). Target: the unrelated stream keeps at least 80% of
//! its rate under contention.
//!
//! `contended-elsewhere` puts the hot stream in another store on the same
//! machine (another SQLite file, another schema of the same PostgreSQL
//! server): no queue, lock or connection of the unrelated stream's store is
//! shared, so the share it keeps there is what the machine leaves it (the
//! disk's flushes, the cores), the most any store could keep.
//!
//! SQLite (default durability) and PostgreSQL (when `EVENTFOLD_POSTGRES_URL`
//! is set). Run: `cargo bench --bench contention -- --sample-count 10`.
//! Figures in BENCHMARKS.md ("Contention").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use divan::Bencher;
use divan::counter::ItemsCount;
use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::repository::{DEFAULT_COMMAND_BATCH, Repository, RetryPolicy};
use eventfold::snapshot::SnapshotStore;
use eventfold::store::SqliteStore;
use eventfold::store::conformance::PostgresSchema;
use eventfold_suite::bank::{BankAccount, BankAccountCommand, BankAccountEvent, MoneyDeposited};

fn main() {
    divan::main();
}

/// Tasks fighting over the hot stream.
const CONTENDERS: usize = 64;
/// Appends to the unrelated stream per sample, one after the other.
const APPENDS: u64 = 50;
/// A bound on the hot stream's commands in one case (a safety valve: the
/// batched hot stream writes tens of thousands of events a second, and a
/// run slowed down by something else must not fill the disk).
const HOT_LIMIT: u64 = 1_000_000;

/// `contended`: the repository's defaults (each hot command its own
/// append); `contended-batched`: `command_batch(128)`, the commands queued
/// on the hot stream written together; `contended-elsewhere`: as
/// `contended`, but the hot stream lives in another store on the same
/// machine (another SQLite file, another PostgreSQL schema of the same
/// server): what the unrelated stream loses then is the machine's and the
/// server's (disk flushes, cores), not the store's.
const MODES: &[&str] = &[
    "alone",
    "contended",
    "contended-batched",
    "contended-elsewhere",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn deposit() -> NewEvent {
    let event = BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: 1 });
    NewEvent::encode(&event, &JsonCodec, Metadata::default()).expect("encodes")
}

/// Times `APPENDS` appends to a cold stream in `store`; unless `mode` is
/// `alone`, while `CONTENDERS` tasks run deposits on one hot account
/// through a repository (started before the timed part, stopped after it)
/// on `store`, or on `elsewhere` in mode `contended-elsewhere`.
fn bench_unrelated<S: EventStore + SnapshotStore + Clone>(
    bencher: Bencher,
    rt: &tokio::runtime::Runtime,
    mode: &str,
    store: S,
    elsewhere: S,
) {
    let batch = if mode == "contended-batched" {
        128
    } else {
        DEFAULT_COMMAND_BATCH
    };
    let hot_store = if mode == "contended-elsewhere" {
        elsewhere
    } else {
        store.clone()
    };
    let repo = Arc::new(
        Repository::<BankAccount, _>::new(hot_store)
            .retry(RetryPolicy {
                max_attempts: u32::MAX,
                ..RetryPolicy::default()
            })
            .command_batch(batch),
    );
    let hot = StreamId::new(format!("BankAccount-hot-{}", uuid::Uuid::now_v7())).unwrap();
    rt.block_on(repo.execute(&hot, BankAccountCommand::open("Alice".into(), 0)))
        .expect("opens");
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let contenders: Vec<_> = if mode != "alone" {
        (0..CONTENDERS)
            .map(|_| {
                let (repo, hot, stop, commits) =
                    (repo.clone(), hot.clone(), stop.clone(), commits.clone());
                rt.spawn(async move {
                    while !stop.load(Ordering::Relaxed)
                        && commits.load(Ordering::Relaxed) < HOT_LIMIT
                    {
                        if repo
                            .execute(&hot, BankAccountCommand::deposit(1))
                            .await
                            .is_ok()
                        {
                            commits.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let cold = StreamId::new(format!("Other-{}", uuid::Uuid::now_v7())).unwrap();
    bencher.counter(ItemsCount::new(APPENDS)).bench_local(|| {
        rt.block_on(async {
            for _ in 0..APPENDS {
                store
                    .append(&cold, ExpectedVersion::Any, vec![deposit()])
                    .await
                    .expect("appends");
            }
        })
    });
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for c in contenders {
            let _ = c.await;
        }
    });
    if mode != "alone" {
        eprintln!(
            "  (the hot stream took {} commits meanwhile)",
            commits.load(Ordering::Relaxed)
        );
    }
}

#[divan::bench(args = MODES, sample_size = 1)]
fn sqlite(bencher: Bencher, mode: &str) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temporary directory");
    let open = |file: &str| {
        rt.block_on(SqliteStore::open(dir.path().join(file)))
            .expect("open")
    };
    let (store, elsewhere) = (open("bench.db"), open("elsewhere.db"));
    bench_unrelated(bencher, &rt, mode, store, elsewhere);
}

#[divan::bench(args = MODES, sample_size = 1)]
fn postgres(bencher: Bencher, mode: &str) {
    // The schemas are dropped when this function returns.
    let (Some(schema), Some(other)) = (
        PostgresSchema::new("bench_contention"),
        PostgresSchema::new("bench_contention_elsewhere"),
    ) else {
        return;
    };
    let rt = runtime();
    let (store, elsewhere) = (rt.block_on(schema.store()), rt.block_on(other.store()));
    bench_unrelated(bencher, &rt, mode, store, elsewhere);
}
