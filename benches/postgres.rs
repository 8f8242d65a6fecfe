//! `PostgresStore` throughput against the server named by
//! `EVENTFOLD_POSTGRES_URL` (skipped with a notice without it), in a fresh
//! schema dropped at the end.
//!
//! * `append_single`: one event per append, with 1 and 64 concurrent writers
//!   (each writer its own stream, `ExpectedVersion::Any`).
//! * `append_expected`: one writer, one event per append, each expecting the
//!   version the last one left (as a repository or an entity appends).
//! * `append_any`: the same with `ExpectedVersion::Any`.
//! * `append_batch`: one append of 10, 100 or 1,000 events.
//! * `read_all`: pages of 5,000 through 100,000 `BankAccount` events, raw
//!   (`RecordedEvent`s) and decoded with the JSON codec.
//! * `read_stream_decoded_json`: one stream of 20,000 events read whole and
//!   decoded with the JSON codec.
//!
//! Run (short): `cargo bench --bench postgres -- --sample-count 10`.
//! Target: read-all >= 500,000 events/s with the JSON codec. Figures are
//! recorded in BENCHMARKS.md ("PostgreSQL store").

use std::sync::{Arc, LazyLock};

use divan::counter::ItemsCount;
use eventfold::prelude::*;
use eventfold::store::PostgresStore;
use eventfold::{NewEvent, RecordedEvent};
use eventfold_suite::bank::{AccountOpened, BankAccountEvent, MoneyDeposited};

/// Events the read-all cases page through.
const HISTORY: u64 = 100_000;
/// The read-all page size.
const PAGE: usize = 5_000;
/// Events in the stream the read-stream case reads.
const LONG_STREAM: u64 = 20_000;

struct Bench {
    rt: tokio::runtime::Runtime,
    store: Arc<PostgresStore>,
    url: String,
}

static BENCH: LazyLock<Option<Bench>> = LazyLock::new(|| {
    let url = std::env::var("EVENTFOLD_POSTGRES_URL").ok()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let schema = format!("bench_{}", std::process::id());
    let store = rt.block_on(async {
        let store = PostgresStore::options(url.clone())
            .schema(schema)
            .pool_size(64)
            .connect()
            .await
            .expect("connects");
        // The read-all history: 100 accounts of 1,000 events.
        for account in 0..HISTORY / 1_000 {
            let stream = StreamId::new(format!("Account-{account}")).unwrap();
            store
                .append(&stream, ExpectedVersion::NoStream, events(1_000))
                .await
                .expect("appends");
        }
        // The read-stream case's stream.
        let stream = StreamId::new("Account-long").unwrap();
        for _ in 0..LONG_STREAM / 1_000 {
            store
                .append(&stream, ExpectedVersion::Any, events(1_000))
                .await
                .expect("appends");
        }
        store
    });
    Some(Bench {
        rt,
        store: Arc::new(store),
        url,
    })
});

fn events(n: u64) -> Vec<NewEvent> {
    (1..=n)
        .map(|v| {
            let event = if v == 1 {
                BankAccountEvent::AccountOpened(AccountOpened {
                    owner: "Alice".into(),
                    initial_balance: 0,
                })
            } else {
                BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: v })
            };
            NewEvent::encode(&event, &JsonCodec, Metadata::default()).expect("encodes")
        })
        .collect()
}

fn main() {
    if std::env::var("EVENTFOLD_POSTGRES_URL").is_err() {
        eprintln!("skipping: EVENTFOLD_POSTGRES_URL not set");
        return;
    }
    divan::main();
    if let Some(b) = BENCH.as_ref() {
        let schema = b.store.schema().to_owned();
        let url = b.url.clone();
        b.rt.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connects");
            tokio::spawn(connection);
            client
                .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await
                .expect("drops the bench schema");
        });
    }
}

fn bench() -> &'static Bench {
    BENCH.as_ref().expect("EVENTFOLD_POSTGRES_URL is set")
}

#[divan::bench(args = [1, 64])]
fn append_single(bencher: divan::Bencher, writers: usize) {
    let b = bench();
    let streams: Vec<StreamId> = (0..writers)
        .map(|w| StreamId::new(format!("single-{writers}-{w}")).unwrap())
        .collect();
    bencher
        .counter(ItemsCount::new(writers))
        .with_inputs(|| {
            streams
                .iter()
                .map(|s| (s.clone(), events(2).pop().unwrap()))
                .collect::<Vec<_>>()
        })
        .bench_local_values(|batch| {
            b.rt.block_on(async {
                let tasks: Vec<_> = batch
                    .into_iter()
                    .map(|(stream, event)| {
                        let store = b.store.clone();
                        tokio::spawn(async move {
                            store
                                .append(&stream, ExpectedVersion::Any, vec![event])
                                .await
                                .expect("appends")
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("writer");
                }
            })
        });
}

/// One writer appending one event at a time to its stream, each append
/// expecting the version the last one left (what a repository or an entity
/// sends): the lone append's one write statement.
#[divan::bench]
fn append_expected(bencher: divan::Bencher) {
    let b = bench();
    let stream = StreamId::new(format!("expected-{}", uuid::Uuid::now_v7())).unwrap();
    let version = std::sync::atomic::AtomicU64::new(0);
    bencher
        .counter(ItemsCount::new(1usize))
        .with_inputs(|| events(2).pop().unwrap())
        .bench_local_values(|event| {
            let expected = match version.load(std::sync::atomic::Ordering::Relaxed) {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v),
            };
            let done =
                b.rt.block_on(b.store.append(&stream, expected, vec![event]))
                    .expect("appends");
            version.store(
                done.next_expected_version,
                std::sync::atomic::Ordering::Relaxed,
            );
        });
}

/// One writer appending one event at a time to its stream with
/// `ExpectedVersion::Any` (no check: what a process manager's or an
/// integration's outputs send): the lone append's one write statement,
/// which moves the stream on from whatever version it is at.
#[divan::bench]
fn append_any(bencher: divan::Bencher) {
    let b = bench();
    let stream = StreamId::new(format!("any-{}", uuid::Uuid::now_v7())).unwrap();
    bencher
        .counter(ItemsCount::new(1usize))
        .with_inputs(|| events(2).pop().unwrap())
        .bench_local_values(|event| {
            b.rt.block_on(b.store.append(&stream, ExpectedVersion::Any, vec![event]))
                .expect("appends")
        });
}

#[divan::bench(args = [10, 100, 1_000])]
fn append_batch(bencher: divan::Bencher, size: u64) {
    let b = bench();
    let stream = StreamId::new(format!("batch-{size}")).unwrap();
    bencher
        .counter(ItemsCount::new(size as usize))
        .with_inputs(|| events(size))
        .bench_local_values(|batch| {
            b.rt.block_on(b.store.append(&stream, ExpectedVersion::Any, batch))
                .expect("appends")
        });
}

/// Pages through the history with `read_all`, handing each event to `f`.
fn page_through(b: &Bench, mut f: impl FnMut(RecordedEvent)) {
    b.rt.block_on(async {
        let mut after = 0;
        let mut seen = 0;
        while seen < HISTORY {
            let page = b.store.read_all(after, PAGE).await.expect("reads");
            for e in page {
                after = e.global_position;
                seen += 1;
                f(e);
            }
        }
    });
}

#[divan::bench(sample_size = 1)]
fn read_all_raw(bencher: divan::Bencher) {
    let b = bench();
    bencher
        .counter(ItemsCount::new(HISTORY as usize))
        .bench_local(|| {
            let mut n = 0u64;
            page_through(b, |e| n += e.payload.len() as u64);
            n
        });
}

#[divan::bench(sample_size = 1)]
fn read_all_decoded_json(bencher: divan::Bencher) {
    let b = bench();
    bencher
        .counter(ItemsCount::new(HISTORY as usize))
        .bench_local(|| {
            let mut total = 0u64;
            page_through(b, |e| {
                if let BankAccountEvent::MoneyDeposited(d) = e
                    .decode::<BankAccountEvent, _>(&JsonCodec)
                    .expect("decodes")
                    .event
                {
                    total += d.amount;
                }
            });
            total
        });
}

#[divan::bench(sample_size = 1)]
fn read_stream_decoded_json(bencher: divan::Bencher) {
    let b = bench();
    let stream = StreamId::new("Account-long").unwrap();
    bencher
        .counter(ItemsCount::new(LONG_STREAM as usize))
        .bench_local(|| {
            b.rt.block_on(async {
                let events = b
                    .store
                    .read_stream(&stream, eventfold::store::ReadStream::all())
                    .await
                    .expect("reads");
                assert_eq!(events.len() as u64, LONG_STREAM);
                events
                    .iter()
                    .map(|e| {
                        match e
                            .decode::<BankAccountEvent, _>(&JsonCodec)
                            .expect("decodes")
                            .event
                        {
                            BankAccountEvent::MoneyDeposited(d) => d.amount,
                            _ => 0,
                        }
                    })
                    .sum::<u64>()
            })
        });
}
