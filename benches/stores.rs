//! Event store throughput, per store: single-event appends with 1 and 64
//! concurrent writers, batched appends, reading one stream and reading all
//! streams (decoding every payload with the JSON codec).
//!
//! Run (short): `cargo bench --bench stores -- --sample-count 5`.
//! Targets: `SqliteStore` ≥ 50,000 events/s acknowledged with 64 concurrent
//! single-event writers; read-all ≥ 500,000 events/s with the JSON codec.
//! Figures are recorded in BENCHMARKS.md ("Event stores").
//!
//! Each store is one `store_benches!` line at the bottom; a store is made
//! fresh for every sample by its `make` expression (a temporary file for
//! SQLite, a key prefix of its own for Redis). The `redis` benchmarks need
//! `EVENTFOLD_REDIS_URL` (without it they print a notice and measure
//! nothing).

use std::sync::Arc;

use divan::Bencher;
use divan::counter::ItemsCount;
use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::store::ReadStream;
use eventfold_suite::bank::{BankAccountEvent, MoneyDeposited};

fn main() {
    divan::main();
}

/// Events each of the 64 writers appends per sample.
const PER_WRITER: u64 = 40;
/// Events per call in the batched benchmark.
const BATCH: u64 = 100;
/// Events read per sample by the read benchmarks.
const READ_EVENTS: u64 = 20_000;
/// Page size of the read-all benchmark (what a subscription uses is 512).
const PAGE: usize = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn event(amount: u64) -> NewEvent {
    let e = BankAccountEvent::MoneyDeposited(MoneyDeposited { amount });
    NewEvent::encode(&e, &JsonCodec, Metadata::default().with_actor("bench")).expect("encodes")
}

fn stream(name: impl std::fmt::Display) -> StreamId {
    StreamId::new(format!("BankAccount-{name}")).expect("valid stream id")
}

/// Decodes every event: what a projection or a repository does with them.
fn decode_all(events: &[eventfold::RecordedEvent]) -> u64 {
    events
        .iter()
        .map(|e| match e.decode::<BankAccountEvent, _>(&JsonCodec) {
            Ok(env) => match env.event {
                BankAccountEvent::MoneyDeposited(d) => d.amount,
                _ => 0,
            },
            Err(err) => panic!("decoding failed: {err}"),
        })
        .sum()
}

/// One writer appending `n` single-event batches, one after the other.
async fn append_one_by_one<S: EventStore>(store: &S, n: u64) {
    let s = stream("solo");
    for i in 0..n {
        store
            .append(&s, ExpectedVersion::Any, vec![event(i)])
            .await
            .expect("append");
    }
}

/// 64 tasks, each appending `PER_WRITER` single events to its own stream,
/// each append waiting for its acknowledgement before the next.
async fn append_64_writers<S: EventStore>(store: &Arc<S>) {
    let tasks: Vec<_> = (0..64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream(w);
                for i in 0..PER_WRITER {
                    store
                        .append(&s, ExpectedVersion::Any, vec![event(i)])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer task");
    }
}

/// Fills a store with `READ_EVENTS` events in one stream (`reader`) and
/// returns it.
async fn fill<S: EventStore>(store: &S) {
    let s = stream("reader");
    for chunk in 0..READ_EVENTS / 1_000 {
        let batch = (0..1_000).map(|i| event(chunk * 1_000 + i)).collect();
        store
            .append(&s, ExpectedVersion::Any, batch)
            .await
            .expect("append");
    }
}

/// Pages through all events with `read_all`, decoding each.
async fn read_all_pages<S: EventStore>(store: &S) -> u64 {
    let mut after = 0;
    let mut sum = 0;
    loop {
        let page = store.read_all(after, PAGE).await.expect("read_all");
        let Some(last) = page.last() else { break };
        after = last.global_position;
        sum += decode_all(&page);
    }
    sum
}

/// Expands to one module of benchmarks for a store made by `$make` (an
/// expression evaluated inside the async runtime, giving the store and a
/// guard to keep alive while it is used). With `if $enabled`, the
/// benchmarks run only when `$enabled` holds (a store that needs a server).
macro_rules! store_benches {
    ($name:ident, enabled = $enabled:expr, $make:expr) => {
        mod $name {
            use super::*;

            #[allow(unused_imports)]
            use eventfold::store::SqliteStore;

            fn enabled() -> bool {
                $enabled
            }

            fn make(rt: &tokio::runtime::Runtime) -> (Arc<impl EventStore>, impl Sized) {
                let (store, guard) = rt.block_on(async { $make });
                (Arc::new(store), guard)
            }

            /// One writer, one event per append.
            #[divan::bench(sample_count = 5, sample_size = 1)]
            fn append_1_writer(b: Bencher) {
                if !enabled() {
                    return;
                }
                const N: u64 = 500;
                let rt = runtime();
                b.counter(ItemsCount::new(N))
                    .with_inputs(|| make(&rt))
                    .bench_local_values(|(store, guard)| {
                        rt.block_on(append_one_by_one(&*store, N));
                        (store, guard)
                    });
            }

            /// 64 concurrent writers, one event per append.
            #[divan::bench(sample_count = 5, sample_size = 1)]
            fn append_64_writers(b: Bencher) {
                if !enabled() {
                    return;
                }
                let rt = runtime();
                b.counter(ItemsCount::new(64 * PER_WRITER))
                    .with_inputs(|| make(&rt))
                    .bench_local_values(|(store, guard)| {
                        rt.block_on(super::append_64_writers(&store));
                        (store, guard)
                    });
            }

            /// One writer, `BATCH` events per append.
            #[divan::bench(sample_count = 5, sample_size = 1)]
            fn append_batched(b: Bencher) {
                if !enabled() {
                    return;
                }
                const CALLS: u64 = 50;
                let rt = runtime();
                b.counter(ItemsCount::new(CALLS * BATCH))
                    .with_inputs(|| make(&rt))
                    .bench_local_values(|(store, guard)| {
                        rt.block_on(async {
                            let s = stream("batched");
                            for c in 0..CALLS {
                                let batch = (0..BATCH).map(|i| event(c * BATCH + i)).collect();
                                store
                                    .append(&s, ExpectedVersion::Any, batch)
                                    .await
                                    .expect("append");
                            }
                        });
                        (store, guard)
                    });
            }

            /// Reading one stream of `READ_EVENTS` events and decoding them.
            #[divan::bench(sample_count = 5)]
            fn read_stream(b: Bencher) {
                if !enabled() {
                    return;
                }
                let rt = runtime();
                let (store, _guard) = make(&rt);
                rt.block_on(fill(&*store));
                let s = stream("reader");
                b.counter(ItemsCount::new(READ_EVENTS)).bench_local(|| {
                    rt.block_on(async {
                        let events = store
                            .read_stream(&s, ReadStream::all())
                            .await
                            .expect("read_stream");
                        assert_eq!(events.len() as u64, READ_EVENTS);
                        decode_all(&events)
                    })
                });
            }

            /// Reading all streams page by page and decoding every event.
            #[divan::bench(sample_count = 5)]
            fn read_all(b: Bencher) {
                if !enabled() {
                    return;
                }
                let rt = runtime();
                let (store, _guard) = make(&rt);
                rt.block_on(fill(&*store));
                b.counter(ItemsCount::new(READ_EVENTS))
                    .bench_local(|| rt.block_on(read_all_pages(&*store)));
            }
        }
    };
    ($name:ident, $make:expr) => {
        store_benches!($name, enabled = true, $make);
    };
}

store_benches!(memory, (MemoryStore::new(), ()));

store_benches!(sqlite, {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path().join("bench.db"))
        .await
        .expect("open");
    (store, dir)
});

store_benches!(sqlite_process_crash_durability, {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = eventfold::store::SqliteOptions {
        durability: eventfold::store::Durability::ProcessCrash,
    };
    let store = SqliteStore::open_with(dir.path().join("bench.db"), options)
        .await
        .expect("open");
    (store, dir)
});

/// The Redis server of the `redis` benchmarks (`EVENTFOLD_REDIS_URL`);
/// `None`, after a notice, when it is not set.
fn redis_url() -> Option<String> {
    static NOTICE: std::sync::Once = std::sync::Once::new();
    let url = std::env::var("EVENTFOLD_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        NOTICE.call_once(|| eprintln!("skipping redis: EVENTFOLD_REDIS_URL not set"));
    }
    url
}

/// Removes a Redis benchmark store's keys when dropped.
struct RedisKeys(eventfold::store::RedisStore);

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let store = self.0.clone();
        // The store's connection runs on the benchmark's runtime; this
        // thread only waits for it.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(store.destroy())
        })
        .join();
    }
}

// A fresh key prefix per store, removed afterwards. Appends acknowledged
// by the primary only (no WAIT); the server's persistence settings decide
// what they cost (see `RedisStore`'s docs, and BENCHMARKS.md for the
// setting measured).
store_benches!(redis, enabled = redis_url().is_some(), {
    let url = redis_url().expect("checked by the guard");
    let prefix = format!("eventfold-bench:{}", uuid::Uuid::now_v7().simple());
    let store = eventfold::store::RedisStore::options(url)
        .prefix(prefix)
        .connect()
        .await
        .expect("connects to EVENTFOLD_REDIS_URL");
    (store.clone(), RedisKeys(store))
});

// PostgreSQL needs a server and a schema to drop afterwards: its benchmarks
// are in `benches/postgres.rs`.
