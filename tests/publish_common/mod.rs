//! What the broker tests share: a read model recording what it applied, an
//! appender, and the exactly-once-in-order check.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use eventfold::projection::{HandleError, Projection};
use eventfold::{EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StreamId};
use uuid::Uuid;

/// One applied event, as the consumer saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub event_id: Uuid,
    pub stream: String,
    pub version: u64,
    pub position: u64,
    pub event: RecordedEvent,
}

/// A read model that records every event it applies.
#[derive(Clone, Default)]
pub struct Recorder {
    pub name: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            seen: Arc::default(),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Projection for Recorder {
    fn name(&self) -> &str {
        &self.name
    }
    fn event_types(&self) -> &[&str] {
        &[]
    }
    fn handle(&mut self, e: &RecordedEvent) -> Result<(), HandleError> {
        self.seen.lock().unwrap().push(Seen {
            event_id: e.event_id,
            stream: e.stream_id.to_string(),
            version: e.stream_version,
            position: e.global_position,
            event: e.clone(),
        });
        Ok(())
    }
}

/// Appends `total` events over `streams` streams, `per_append` at a time,
/// round robin; every event has a correlation id and an actor.
pub async fn append_events<S: EventStore>(
    store: &S,
    total: usize,
    streams: usize,
    per_append: usize,
) {
    let mut appended = 0;
    let mut round = 0;
    while appended < total {
        let stream = StreamId::new(format!("Account-{}", round % streams)).unwrap();
        let n = per_append.min(total - appended);
        let events = (0..n)
            .map(|i| {
                let k = appended + i;
                NewEvent::new(
                    "Deposited",
                    1,
                    format!(r#"{{"amount":{k}}}"#).into_bytes(),
                    Metadata::default()
                        .with_correlation_id(Uuid::now_v7())
                        .with_actor("relay-test"),
                )
            })
            .collect();
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
        appended += n;
        round += 1;
        tokio::task::yield_now().await;
    }
}

/// Every stored event was applied exactly once, in global order (and so in
/// stream order), with its envelope intact.
pub async fn assert_exactly_once_in_order<S: EventStore>(store: &S, seen: &[Seen], total: usize) {
    let stored = store.read_all(0, total + 10).await.unwrap();
    assert_eq!(
        stored.len(),
        total,
        "the store holds {} events",
        stored.len()
    );
    let ids: HashSet<Uuid> = seen.iter().map(|s| s.event_id).collect();
    assert_eq!(ids.len(), seen.len(), "an event was applied twice");
    assert_eq!(
        seen.len(),
        total,
        "applied {} of {total} events",
        seen.len()
    );
    for (i, (s, e)) in seen.iter().zip(&stored).enumerate() {
        assert_eq!(&s.event, e, "event {i} differs from the stored one");
    }
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for s in seen {
        let v = versions.entry(&s.stream).or_default();
        assert_eq!(s.version, *v + 1, "stream {} out of order", s.stream);
        *v = s.version;
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

/// A read model that keeps its checkpoint with its data: handled events
/// are staged and land, with the checkpoint, in `commit` (a transaction, in
/// a real database). Instances built from one `TxRecorder` share the data.
#[derive(Clone, Default)]
pub struct TxRecorder {
    pub committed: Arc<Mutex<Vec<Seen>>>,
    staged: Vec<Seen>,
}

impl TxRecorder {
    pub fn seen(&self) -> Vec<Seen> {
        self.committed.lock().unwrap().clone()
    }

    /// Another instance writing the same data.
    pub fn replica(&self) -> Self {
        Self {
            committed: Arc::clone(&self.committed),
            staged: Vec::new(),
        }
    }
}

impl Projection for TxRecorder {
    fn name(&self) -> &str {
        "tx-recorder"
    }
    fn event_types(&self) -> &[&str] {
        &[]
    }
    fn handle(&mut self, e: &RecordedEvent) -> Result<(), HandleError> {
        self.staged.push(Seen {
            event_id: e.event_id,
            stream: e.stream_id.to_string(),
            version: e.stream_version,
            position: e.global_position,
            event: e.clone(),
        });
        Ok(())
    }
    async fn load_checkpoint(&mut self) -> Result<Option<u64>, HandleError> {
        self.staged.clear();
        Ok(self.committed.lock().unwrap().last().map(|s| s.position))
    }
    async fn commit(&mut self, _: u64) -> Result<(), HandleError> {
        self.committed.lock().unwrap().append(&mut self.staged);
        Ok(())
    }
    fn rollback(&mut self) -> bool {
        self.staged.clear();
        true
    }
}
