//! Process managers: transfers per second through the runner (each transfer
//! is four handler runs: request, withdrawal, deposit; and three commands),
//! deadlines fired per second, and how late a live runner fires deadlines
//! (printed before the divan table: p50 and p99 over 2,000 deadlines due
//! within one second, on the system clock).
//!
//! Run: `cargo bench --bench process -- --sample-count 10`. No target; the
//! figures are in BENCHMARKS.md ("Process managers").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use divan::Bencher;
use divan::counter::ItemsCount;
use eventfold::clock::ManualClock;
use eventfold::prelude::*;
use eventfold::projection::MemoryCheckpointStore;
use eventfold::{Metadata, NewEvent, SnapshotStore};
use eventfold_suite::transfers::Bank;

fn main() {
    lateness();
    divan::main();
}

/// Transfers per sample.
const TRANSFERS: u64 = 200;
/// Deadlines per sample.
const DEADLINES: u64 = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Opens 50 accounts and requests `TRANSFERS` transfers among them.
async fn setup<S: EventStore + SnapshotStore + Clone>(bank: &Bank<S>) {
    for a in 0..50 {
        bank.open(&format!("acc{a}"), 1_000_000)
            .await
            .expect("open");
    }
    for i in 0..TRANSFERS {
        let (from, to) = (i % 50, (i * 7 + 3) % 50);
        let to = if to == from { (to + 1) % 50 } else { to };
        bank.request(
            &format!("t{i}"),
            &format!("acc{from}"),
            &format!("acc{to}"),
            false,
            10,
        )
        .await
        .expect("request");
    }
}

fn bench_transfers<S, F>(bencher: Bencher, make: F)
where
    S: EventStore + SnapshotStore + Clone,
    F: Fn() -> (S, Box<dyn std::any::Any>) + Sync,
{
    let rt = runtime();
    bencher
        .counter(ItemsCount::new(TRANSFERS))
        .with_inputs(|| {
            let (store, guard) = make();
            let bank = Bank::new(store);
            rt.block_on(setup(&bank));
            (bank, guard)
        })
        .bench_local_values(|(bank, guard)| {
            let report = rt
                .block_on(
                    bank.runner(Arc::new(MemoryCheckpointStore::new()))
                        .run_once(),
                )
                .expect("runs");
            assert_eq!(report.ended, TRANSFERS);
            (bank, guard)
        });
}

/// Transfers to completion through `ProcessRunner::run_once`.
#[divan::bench(sample_size = 1)]
fn transfers_memory(bencher: Bencher) {
    bench_transfers(bencher, || (MemoryStore::new(), Box::new(())));
}

/// The same on SQLite (the default, fsynced store).
#[divan::bench(sample_size = 1)]
fn transfers_sqlite(bencher: Bencher) {
    let rt = runtime();
    bench_transfers(bencher, || {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = rt
            .block_on(SqliteStore::open(dir.path().join("bench.db")))
            .expect("open");
        (store, Box::new(dir))
    });
}

/// Arms a reminder due at `at`.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Armed {
    /// The reminder.
    pub id: u64,
    /// When it is due.
    pub at: DateTime<Utc>,
}

/// A reminder's deadline, carrying its due time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Ring {
    /// When it was due.
    pub at: DateTime<Utc>,
}

/// How late each deadline fired, in microseconds.
static LATE: Mutex<Vec<i64>> = Mutex::new(Vec::new());

#[derive(Default, Serialize, Deserialize)]
struct Alarm;

#[eventfold::process_manager]
impl Alarm {
    #[start(key = id)]
    fn armed(&mut self, e: &Armed, ctx: &mut ProcessContext<Self>) {
        ctx.schedule_at(e.at, Ring { at: e.at });
    }

    #[deadline]
    fn ring(&mut self, d: &Ring, ctx: &mut ProcessContext<Self>) {
        let late = (Utc::now() - d.at).num_microseconds().unwrap_or(i64::MAX);
        LATE.lock().expect("lock").push(late);
        ctx.end();
    }
}

fn armed(id: u64, at: DateTime<Utc>) -> NewEvent {
    let payload = serde_json::to_vec(&Armed { id, at }).expect("encodes");
    NewEvent::new("Armed", 1, payload, Metadata::default())
}

/// Fires `DEADLINES` due deadlines (scheduled beforehand) through
/// `ProcessRunner::run_once`.
#[divan::bench(sample_size = 1)]
fn fire_deadlines_memory(bencher: Bencher) {
    let rt = runtime();
    let start: DateTime<Utc> = "2026-03-01T09:00:00Z".parse().expect("time");
    bencher
        .counter(ItemsCount::new(DEADLINES))
        .with_inputs(|| {
            let store = MemoryStore::new();
            let clock = Arc::new(ManualClock::at(start));
            let runner = eventfold::ProcessRunner::<Alarm, _, _>::new(
                store.clone(),
                MemoryCheckpointStore::new(),
            )
            .clock(clock.clone());
            let events = (0..DEADLINES)
                .map(|id| armed(id, start + chrono::Duration::seconds(1)))
                .collect();
            rt.block_on(async {
                let stream = StreamId::new("alarms").expect("stream");
                store
                    .append(&stream, ExpectedVersion::Any, events)
                    .await
                    .expect("append");
                runner.run_once().await.expect("schedules");
            });
            clock.advance(chrono::Duration::seconds(2));
            runner
        })
        .bench_local_values(|runner| {
            let report = rt.block_on(runner.run_once()).expect("fires");
            assert_eq!(report.deadlines_fired, DEADLINES);
            runner
        });
    LATE.lock().expect("lock").clear();
}

/// A live runner on the system clock fires 2,000 deadlines due over one
/// second; prints how late they fired.
fn lateness() {
    const N: u64 = 2_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = MemoryStore::new();
        let handle = eventfold::ProcessRunner::<Alarm, _, _>::new(
            store.clone(),
            MemoryCheckpointStore::new(),
        )
        .spawn();
        let first = Utc::now() + chrono::Duration::milliseconds(500);
        let events = (0..N)
            .map(|id| {
                armed(
                    id,
                    first + chrono::Duration::microseconds((id * 500) as i64),
                )
            })
            .collect();
        let stream = StreamId::new("alarms").expect("stream");
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .expect("append");
        tokio::time::timeout(
            Duration::from_secs(60),
            handle.wait_until(|r| r.deadlines_fired == N),
        )
        .await
        .expect("all fire within a minute")
        .expect("runner");
        handle.stop().await;
    });
    let mut late = std::mem::take(&mut *LATE.lock().expect("lock"));
    late.sort_unstable();
    let pct = |p: usize| late[(late.len() * p / 100).min(late.len() - 1)] as f64 / 1000.0;
    println!(
        "deadline lateness, live runner on MemoryStore, {} deadlines due over 1 s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        late.len(),
        pct(50),
        pct(99),
        late[late.len() - 1] as f64 / 1000.0
    );
}
