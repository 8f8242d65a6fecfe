//! Publishing to brokers: relay throughput and end-to-end latency, against
//! the servers named by `EVENTFOLD_NATS_URL` and `EVENTFOLD_AMQP_URL` (each
//! skipped with a notice without its variable), with stream, exchange and
//! queue names of their own, deleted at the end.
//!
//! * `relay_throughput_{nats,amqp}`: one relay catch-up over 5,000 stored
//!   events (batches of 512), each published and confirmed by the broker
//!   (JetStream publish acks; AMQP publisher confirms into one durable
//!   queue) before the checkpoint moves.
//! * `end_to_end_{nats,amqp}`: one event appended to a `MemoryStore` until a
//!   consumer in the same process applied it (live relay, live consumer).
//!   Divan reports the median; the p50 and p99 of all iterations are
//!   printed at the end.
//!
//! Run (short): `cargo bench --bench publish -- --sample-count 10`.
//! Figures are recorded in BENCHMARKS.md ("Publishing to brokers").

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use divan::counter::ItemsCount;
use eventfold::projection::{HandleError, MemoryCheckpointStore, Projection};
use eventfold::publish::amqp::lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use eventfold::publish::amqp::lapin::{Connection, ConnectionProperties};
use eventfold::publish::amqp::{AmqpPublisher, AmqpSource};
use eventfold::publish::nats::async_nats::{self, jetstream};
use eventfold::publish::nats::{NatsPublisher, NatsSource};
use eventfold::publish::{Consumer, ConsumerHandle, Relay, RelayHandle};
use eventfold::{
    EventStore, ExpectedVersion, MemoryStore, Metadata, NewEvent, ProjectionRunner, RecordedEvent,
    StreamId,
};
use tokio::sync::watch;

/// Events per relay catch-up.
const EVENTS: usize = 5_000;

type Runner = ProjectionRunner<MemoryStore, MemoryCheckpointStore>;

fn main() {
    divan::main();
    for (name, samples) in LATENCIES.lock().unwrap().iter_mut() {
        if samples.is_empty() {
            continue;
        }
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        println!(
            "{name}: {} round trips, p50 {:?}, p99 {:?}",
            samples.len(),
            at(0.50),
            at(0.99)
        );
    }
    cleanup();
}

/// Round-trip times per bench.
type Samples = Vec<(&'static str, Vec<Duration>)>;

static LATENCIES: LazyLock<Mutex<Samples>> = LazyLock::new(|| {
    Mutex::new(vec![
        ("end_to_end_nats", vec![]),
        ("end_to_end_amqp", vec![]),
    ])
});

fn record(name: &str, d: Duration) {
    let mut all = LATENCIES.lock().unwrap();
    if let Some((_, v)) = all.iter_mut().find(|(n, _)| *n == name) {
        v.push(d);
    }
}

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
});

fn url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok();
    if url.is_none() {
        eprintln!("skipping: {var} not set");
    }
    url
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    )
}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| {
            NewEvent::new(
                "Deposited",
                1,
                format!(r#"{{"amount":{i},"currency":"EUR"}}"#).into_bytes(),
                Metadata::default().with_correlation_id(uuid::Uuid::now_v7()),
            )
        })
        .collect()
}

/// A store holding `n` events over 10 streams, and a fresh runner over it.
fn filled_store(n: usize) -> (Arc<MemoryStore>, Runner) {
    let store = Arc::new(MemoryStore::new());
    RT.block_on(async {
        for chunk in 0..10 {
            let stream = StreamId::new(format!("Account-{chunk}")).unwrap();
            store
                .append(&stream, ExpectedVersion::Any, events(n / 10))
                .await
                .unwrap();
        }
    });
    // A store is a cheap handle: the runner gets a clone of it.
    let runner = ProjectionRunner::new((*store).clone(), MemoryCheckpointStore::new());
    (store, runner)
}

/// What the benches created on the servers, deleted at the end.
static NATS_STREAMS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static AMQP_NAMES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn cleanup() {
    RT.block_on(async {
        if let Some(url) = std::env::var("EVENTFOLD_NATS_URL").ok()
            && let Ok(client) = async_nats::connect(url).await
        {
            let js = jetstream::new(client);
            let streams: Vec<String> = NATS_STREAMS.lock().unwrap().drain(..).collect();
            for s in streams {
                let _ = js.delete_stream(&s).await;
            }
        }
        if let Some(url) = std::env::var("EVENTFOLD_AMQP_URL").ok()
            && let Ok(conn) = Connection::connect(&url, ConnectionProperties::default()).await
            && let Ok(ch) = conn.create_channel().await
        {
            let names: Vec<(String, String)> = AMQP_NAMES.lock().unwrap().drain(..).collect();
            for (exchange, queue) in names {
                let _ = ch
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await;
                let _ = ch
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
            let _ = conn.close(200, "bench done".into()).await;
        }
    });
}

static NATS: LazyLock<Option<jetstream::Context>> = LazyLock::new(|| {
    let url = url("EVENTFOLD_NATS_URL")?;
    Some(RT.block_on(async { jetstream::new(async_nats::connect(url).await.expect("connects")) }))
});

#[divan::bench(sample_count = 10, sample_size = 1)]
fn relay_throughput_nats(bencher: divan::Bencher) {
    let Some(js) = NATS.clone() else { return };
    bencher
        .counter(ItemsCount::new(EVENTS))
        .with_inputs(|| {
            let (_, runner) = filled_store(EVENTS);
            let stream = unique("BENCH").to_uppercase();
            NATS_STREAMS.lock().unwrap().push(stream.clone());
            let publisher = NatsPublisher::new(js.clone(), &stream, stream.to_lowercase());
            let relay = Relay::new("bench", publisher, &runner);
            (runner, relay)
        })
        .bench_local_values(|(runner, mut relay)| {
            let report = RT.block_on(runner.catch_up(&mut relay)).unwrap();
            assert_eq!(report.position, EVENTS as u64);
        });
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn relay_throughput_amqp(bencher: divan::Bencher) {
    let Some(url) = url("EVENTFOLD_AMQP_URL") else {
        return;
    };
    let exchange = unique("bench_events");
    let queue = unique("bench_queue");
    AMQP_NAMES
        .lock()
        .unwrap()
        .push((exchange.clone(), queue.clone()));
    RT.block_on(AmqpSource::new(&url, &exchange, &queue).declare())
        .unwrap();
    bencher
        .counter(ItemsCount::new(EVENTS))
        .with_inputs(|| {
            let (_, runner) = filled_store(EVENTS);
            let relay = Relay::new("bench", AmqpPublisher::new(&url, &exchange), &runner);
            (runner, relay)
        })
        .bench_local_values(|(runner, mut relay)| {
            let report = RT.block_on(runner.catch_up(&mut relay)).unwrap();
            assert_eq!(report.position, EVENTS as u64);
        });
}

/// Tells the bench the position of every event it applied.
struct Applied(watch::Sender<u64>);

impl Projection for Applied {
    fn name(&self) -> &str {
        "latency"
    }
    fn event_types(&self) -> &[&str] {
        &[]
    }
    fn handle(&mut self, e: &RecordedEvent) -> Result<(), HandleError> {
        self.0.send_replace(e.global_position);
        Ok(())
    }
}

/// A live relay and consumer; one iteration appends an event and waits
/// until the consumer applied it.
struct Pipeline<Src: eventfold::publish::Source> {
    store: Arc<MemoryStore>,
    applied: watch::Receiver<u64>,
    _relay: RelayHandle,
    _consumer: ConsumerHandle<Applied>,
    _source: std::marker::PhantomData<Src>,
}

impl<Src: eventfold::publish::Source> Pipeline<Src> {
    fn start<P: eventfold::publish::Publisher>(publisher: P, source: Src) -> Self {
        let _guard = RT.enter();
        let store = Arc::new(MemoryStore::new());
        let runner =
            ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new()).batch_size(64);
        let relay = Relay::new("latency", publisher, &runner).spawn(&runner);
        let (tx, applied) = watch::channel(0);
        let consumer = Consumer::new(source, Arc::new(MemoryCheckpointStore::new()))
            .batch_size(64)
            .spawn(Applied(tx));
        Self {
            store,
            applied,
            _relay: relay,
            _consumer: consumer,
            _source: std::marker::PhantomData,
        }
    }

    fn round_trip(&mut self, name: &str) {
        let stream = StreamId::new("Account-latency").unwrap();
        let started = Instant::now();
        RT.block_on(async {
            let position = self
                .store
                .append(&stream, ExpectedVersion::Any, events(1))
                .await
                .unwrap()
                .last_position;
            tokio::time::timeout(
                Duration::from_secs(10),
                self.applied.wait_for(|p| *p >= position),
            )
            .await
            .expect("applied within 10 s")
            .unwrap();
        });
        record(name, started.elapsed());
    }
}

#[divan::bench(sample_count = 10, sample_size = 20)]
fn end_to_end_nats(bencher: divan::Bencher) {
    let Some(js) = NATS.clone() else { return };
    let stream = unique("LATENCY").to_uppercase();
    NATS_STREAMS.lock().unwrap().push(stream.clone());
    let mut pipeline = Pipeline::start(
        NatsPublisher::new(js.clone(), &stream, stream.to_lowercase()),
        NatsSource::new(js, &stream, "latency"),
    );
    bencher.bench_local(|| pipeline.round_trip("end_to_end_nats"));
}

#[divan::bench(sample_count = 10, sample_size = 20)]
fn end_to_end_amqp(bencher: divan::Bencher) {
    let Some(url) = url("EVENTFOLD_AMQP_URL") else {
        return;
    };
    let exchange = unique("latency_events");
    let queue = unique("latency_queue");
    AMQP_NAMES
        .lock()
        .unwrap()
        .push((exchange.clone(), queue.clone()));
    let mut source = AmqpSource::new(&url, &exchange, &queue);
    RT.block_on(source.declare()).unwrap();
    let mut pipeline = Pipeline::start(AmqpPublisher::new(&url, &exchange), source);
    bencher.bench_local(|| pipeline.round_trip("end_to_end_amqp"));
}
