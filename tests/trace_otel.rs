//! One OpenTelemetry trace follows a command to its read models (feature
//! `otel`): the trace context of `eventfold.execute` goes into the metadata
//! of the events it appends, and a projection handles each event in an
//! `eventfold.handle` span whose parent is that context. Entities carry the
//! caller's context across their task.

use std::collections::BTreeMap;
use std::future::Future;

use eventfold::entity::Entities;
use eventfold::prelude::*;
use eventfold::projection::MemoryCheckpointStore;
use eventfold::trace::TRACEPARENT;
use eventfold_suite::bank::{
    AccountOpened, BankAccount, BankAccountCommand as Cmd, MoneyDeposited,
};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Default)]
struct Deposits {
    by_stream: BTreeMap<String, u64>,
}

#[projection]
impl Deposits {
    #[handle]
    fn opened(&mut self, e: &AccountOpened, meta: &EventMeta) {
        self.by_stream
            .insert(meta.stream_id.to_string(), e.initial_balance);
    }

    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) {
        *self
            .by_stream
            .entry(meta.stream_id.to_string())
            .or_default() += e.amount;
    }
}

/// Installs an OpenTelemetry layer (in-memory exporter) for this thread.
fn tracing() -> (
    InMemorySpanExporter,
    SdkTracerProvider,
    tracing::subscriber::DefaultGuard,
) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("eventfold-test")));
    let guard = tracing::subscriber::set_default(subscriber);
    (exporter, provider, guard)
}

fn spans(
    exporter: &InMemorySpanExporter,
    provider: &SdkTracerProvider,
    name: &str,
) -> Vec<SpanData> {
    provider.force_flush().unwrap();
    exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.name == name)
        .collect()
}

fn trace_id_of(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).expect("a W3C traceparent")
}

#[tokio::test(flavor = "current_thread")]
async fn a_trace_follows_a_command_into_the_read_model() {
    let (exporter, provider, _guard) = tracing();
    let store = MemoryStore::new();
    let repo = Repository::<BankAccount, _>::new(store.clone());
    let ada = repo.stream_id("ada").unwrap();

    let request = tracing::info_span!("http.request");
    let request_trace = request.context().span().span_context().trace_id();
    async {
        repo.execute(&ada, Cmd::open("Ada".into(), 10))
            .await
            .unwrap();
        repo.execute(&ada, Cmd::deposit(5)).await.unwrap();
    }
    .instrument(request)
    .await;
    // Outside any span, the command's own span starts a trace.
    repo.execute(&ada, Cmd::deposit(1)).await.unwrap();

    let stored = store.read_stream(&ada, ReadStream::all()).await.unwrap();
    let parents: Vec<Option<&str>> = stored
        .iter()
        .map(|e| e.metadata.extra.get(TRACEPARENT).and_then(|v| v.as_str()))
        .collect();
    assert!(parents.iter().all(Option::is_some), "{parents:?}");
    for parent in &parents[..2] {
        assert_eq!(trace_id_of(parent.unwrap()), request_trace.to_string());
    }
    assert_ne!(trace_id_of(parents[2].unwrap()), request_trace.to_string());

    // The projection runs later, outside the request.
    let runner = ProjectionRunner::new(store, MemoryCheckpointStore::new());
    let mut deposits = Deposits::default();
    runner.catch_up(&mut deposits).await.unwrap();
    assert_eq!(deposits.by_stream["BankAccount-ada"], 16);

    let executes = spans(&exporter, &provider, "eventfold.execute");
    let handles = spans(&exporter, &provider, "eventfold.handle");
    assert_eq!(executes.len(), 3, "one span per command");
    assert_eq!(handles.len(), 3, "one span per handled event");
    let in_request: Vec<_> = executes
        .iter()
        .filter(|s| s.span_context.trace_id() == request_trace)
        .collect();
    assert_eq!(in_request.len(), 2, "the two commands of the request");
    // Each handled event's span is a child of the command that appended it.
    for (handle, execute) in handles[..2].iter().zip(&in_request) {
        assert_eq!(handle.span_context.trace_id(), request_trace);
        assert_eq!(handle.parent_span_id, execute.span_context.span_id());
    }
    let lone = executes
        .iter()
        .find(|s| s.span_context.trace_id() != request_trace)
        .unwrap();
    assert_eq!(
        handles[2].span_context.trace_id(),
        lone.span_context.trace_id()
    );
    assert_eq!(handles[2].parent_span_id, lone.span_context.span_id());
    assert_eq!(
        spans(&exporter, &provider, "eventfold.projection.batch").len(),
        1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn entities_carry_the_callers_trace_across_their_task() {
    let (_exporter, _provider, _guard) = tracing();
    let store = MemoryStore::new();
    let entities = Entities::new(Repository::<BankAccount, _>::new(store.clone()));
    let bob = StreamId::for_aggregate("BankAccount", "bob").unwrap();
    let request = tracing::info_span!("http.request");
    let request_trace = request.context().span().span_context().trace_id();
    entities
        .execute(&bob, Cmd::open("Bob".into(), 3))
        .instrument(request)
        .await
        .unwrap();
    // That command ran in the entity's place (nothing was pending); the
    // next one goes through the entity's task: a read waits in its mailbox
    // (this runtime has one thread, and the task has not run since).
    let mut read = std::pin::pin!(entities.read(&bob, |_, version| version));
    let polled = read
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    assert!(polled.is_pending());
    let queued = tracing::info_span!("http.request");
    let queued_trace = queued.context().span().span_context().trace_id();
    entities
        .execute(&bob, Cmd::deposit(2))
        .instrument(queued)
        .await
        .unwrap();
    assert_eq!(read.await.unwrap(), 1);
    let stored = store.read_stream(&bob, ReadStream::all()).await.unwrap();
    let parent = stored[0].metadata.extra[TRACEPARENT].as_str().unwrap();
    assert_eq!(trace_id_of(parent), request_trace.to_string());
    let parent = stored[1].metadata.extra[TRACEPARENT].as_str().unwrap();
    assert_eq!(trace_id_of(parent), queued_trace.to_string());
}
