//! The relay and the consumer against a scripted broker: what moves the
//! checkpoint, what is acknowledged, what is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::headers::Decoded;
use super::*;
use crate::envelope::{Metadata, StreamId};
use crate::projection::{
    CheckpointStore, FailurePolicy, HandleError, MemoryCheckpointStore, Projection,
};
use crate::store::{EventStore, ExpectedVersion, MemoryStore};
use crate::{NewEvent, ProjectionRunner};

fn event(position: u64) -> RecordedEvent {
    RecordedEvent {
        event_id: Uuid::now_v7(),
        stream_id: StreamId::new("Account-1").unwrap(),
        stream_version: position,
        global_position: position,
        recorded_at: Utc::now(),
        event_type: "Deposited".into(),
        schema_version: 1,
        payload: b"{}".to_vec(),
        metadata: Metadata::default(),
    }
}

/// What a scripted source saw the consumer do.
#[derive(Debug, Default)]
struct Log {
    acked: Vec<u64>,
    gaps: Vec<u64>,
    rejected: Vec<u64>,
}

/// Delivers scripted batches; tokens are global positions (0: garbage).
struct Scripted {
    batches: VecDeque<Vec<(u64, Option<u64>)>>,
    log: Arc<Mutex<Log>>,
}

impl Source for Scripted {
    type Token = u64;
    fn broker(&self) -> &'static str {
        "scripted"
    }
    async fn receive(&mut self, _: usize) -> Result<Vec<Incoming<u64>>, PublishError> {
        let Some(batch) = self.batches.pop_front() else {
            return std::future::pending().await;
        };
        Ok(batch
            .into_iter()
            .map(|(position, previous)| match position {
                0 => Incoming::Malformed {
                    error: PublishError::Header {
                        header: headers::EVENT_ID,
                        value: None,
                        reason: "missing".into(),
                    },
                    token: 0,
                },
                _ => Incoming::Event {
                    decoded: Decoded {
                        event: event(position),
                        previous,
                    },
                    token: position,
                },
            })
            .collect())
    }
    async fn ack(&mut self, tokens: Vec<u64>) -> Result<(), PublishError> {
        self.log.lock().unwrap().acked.extend(tokens);
        Ok(())
    }
    async fn on_gap(&mut self, token: u64) -> Result<(), PublishError> {
        self.log.lock().unwrap().gaps.push(token);
        Ok(())
    }
    async fn reject(&mut self, token: u64) -> Result<(), PublishError> {
        self.log.lock().unwrap().rejected.push(token);
        Ok(())
    }
    fn disconnect(&mut self) {}
}

/// Records applied positions; fails on `fail_on` (its policy is `policy`).
struct Model {
    applied: Arc<Mutex<Vec<u64>>>,
    fail_on: u64,
    policy: FailurePolicy,
}

impl Projection for Model {
    fn name(&self) -> &str {
        "model"
    }
    fn event_types(&self) -> &[&str] {
        &[]
    }
    fn handle(&mut self, e: &RecordedEvent) -> Result<(), HandleError> {
        if e.global_position == self.fail_on {
            return Err(HandleError::handler("boom"));
        }
        self.applied.lock().unwrap().push(e.global_position);
        Ok(())
    }
    fn failure_policy(&self) -> FailurePolicy {
        self.policy
    }
}

async fn consume(
    batches: Vec<Vec<(u64, Option<u64>)>>,
    fail_on: u64,
    policy: FailurePolicy,
    until: u64,
) -> (Vec<u64>, Log, Arc<MemoryCheckpointStore>, Option<u64>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let applied = Arc::new(Mutex::new(Vec::new()));
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let source = Scripted {
        batches: batches.into(),
        log: Arc::clone(&log),
    };
    let handle = Consumer::new(source, Arc::clone(&checkpoints)).spawn(Model {
        applied: Arc::clone(&applied),
        fail_on,
        policy,
    });
    let failed = tokio::time::timeout(Duration::from_secs(5), handle.wait_for(until))
        .await
        .expect("in time")
        .err()
        .flatten()
        .and_then(|e| e.position());
    handle.stop().await;
    let applied = applied.lock().unwrap().clone();
    let log = std::mem::take(&mut *log.lock().unwrap());
    (applied, log, checkpoints, failed)
}

#[tokio::test]
async fn duplicates_are_acknowledged_and_dropped() {
    let (applied, log, checkpoints, _) = consume(
        vec![
            vec![(1, Some(0)), (2, Some(1)), (2, Some(1))],
            vec![(1, Some(0)), (3, Some(2))],
        ],
        0,
        FailurePolicy::Stop,
        3,
    )
    .await;
    assert_eq!(applied, [1, 2, 3]);
    assert_eq!(log.acked, [1, 2, 2, 1, 3]);
    assert_eq!(checkpoints.load("model").await.unwrap(), Some(3));
}

#[tokio::test]
async fn a_message_ahead_of_a_missing_one_waits_for_it() {
    let (applied, log, _, _) = consume(
        vec![
            vec![(1, Some(0)), (3, Some(2))],
            vec![(2, Some(1)), (3, Some(2))],
        ],
        0,
        FailurePolicy::Stop,
        3,
    )
    .await;
    assert_eq!(applied, [1, 2, 3]);
    assert_eq!(log.gaps, [3]);
    assert_eq!(log.acked, [1, 2, 3]);
}

#[tokio::test]
async fn a_message_without_a_previous_position_is_applied_in_turn() {
    let (applied, _, _, _) = consume(
        vec![vec![(5, None), (9, None), (7, None)]],
        0,
        FailurePolicy::Stop,
        9,
    )
    .await;
    assert_eq!(applied, [5, 9], "7 came after 9: a duplicate by position");
}

#[tokio::test]
async fn garbage_is_rejected_and_the_rest_applied() {
    let (applied, log, _, _) = consume(
        vec![vec![(1, Some(0)), (0, None), (2, Some(1))]],
        0,
        FailurePolicy::Stop,
        2,
    )
    .await;
    assert_eq!(applied, [1, 2]);
    assert_eq!(log.rejected, [0]);
    assert_eq!(log.acked, [1, 2]);
}

#[tokio::test]
async fn a_failed_event_stops_the_consumer_unacknowledged() {
    let (applied, log, checkpoints, failed) = consume(
        vec![vec![(1, Some(0)), (2, Some(1)), (3, Some(2)), (4, Some(3))]],
        3,
        FailurePolicy::Stop,
        4,
    )
    .await;
    assert_eq!(failed, Some(3));
    assert_eq!(applied, [1, 2]);
    assert_eq!(log.acked, [1, 2], "only what was committed is acknowledged");
    assert_eq!(checkpoints.load("model").await.unwrap(), Some(2));
}

#[tokio::test]
async fn a_failed_event_is_parked_under_the_dead_letter_policy() {
    let (applied, log, checkpoints, failed) = consume(
        vec![vec![(1, Some(0)), (2, Some(1)), (3, Some(2))]],
        2,
        FailurePolicy::DeadLetter,
        3,
    )
    .await;
    assert_eq!(failed, None);
    assert_eq!(applied, [1, 3]);
    assert_eq!(log.acked, [1, 2, 3]);
    let letters = checkpoints.dead_letters("model").await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].position, 2);
    assert!(letters[0].error.contains("boom"));
}

/// A broker that fails the first `failures` publishes, then records.
struct Flaky {
    failures: usize,
    permanent: bool,
    published: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl Publisher for Flaky {
    fn broker(&self) -> &'static str {
        "flaky"
    }
    async fn publish(
        &mut self,
        events: &[RecordedEvent],
        previous: u64,
    ) -> Result<(), PublishError> {
        if self.permanent {
            return Err(PublishError::Rejected {
                broker: "flaky",
                event_id: events[0].event_id,
                position: events[0].global_position,
                reason: "too large".into(),
            });
        }
        if self.failures > 0 {
            self.failures -= 1;
            return Err(PublishError::broker("flaky", "publishing", "down"));
        }
        let mut prev = previous;
        let mut published = self.published.lock().unwrap();
        for e in events {
            published.push((e.global_position, prev));
            prev = e.global_position;
        }
        Ok(())
    }
}

async fn store_with(n: usize) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let stream = StreamId::new("Account-1").unwrap();
    let events = (0..n)
        .map(|_| NewEvent::new("Deposited", 1, b"{}".to_vec(), Metadata::default()))
        .collect();
    store
        .append(&stream, ExpectedVersion::Any, events)
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn the_checkpoint_moves_only_after_the_broker_confirmed() {
    let store = store_with(10).await;
    let runner = ProjectionRunner::new(store, MemoryCheckpointStore::new()).batch_size(4);
    let published = Arc::new(Mutex::new(Vec::new()));
    let flaky = Flaky {
        failures: 1,
        permanent: false,
        published: Arc::clone(&published),
    };
    let mut relay = Relay::new("relay", flaky, &runner).give_up_after(Duration::from_millis(10));
    // A failure that outlasts `give_up_after`: the batch fails and the
    // checkpoint stays.
    let error = runner.catch_up(&mut relay).await.unwrap_err();
    assert!(error.to_string().contains("down"), "{error}");
    assert_eq!(runner.lag("relay").await.unwrap(), 10);
    // The broker is back: everything goes out once, each message naming
    // its predecessor, and the checkpoint reaches the head.
    runner.catch_up(&mut relay).await.unwrap();
    assert_eq!(runner.lag("relay").await.unwrap(), 0);
    let published = published.lock().unwrap().clone();
    let expected: Vec<(u64, u64)> = (1..=10).map(|p| (p, p - 1)).collect();
    assert_eq!(published, expected);
    assert_eq!(relay.confirmed(), 10);
}

#[tokio::test]
async fn a_restarted_relay_names_its_checkpoint_as_the_previous_position() {
    let store = store_with(6).await;
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    checkpoints.save("relay", 4).await.unwrap();
    let runner = ProjectionRunner::new(store, checkpoints);
    let published = Arc::new(Mutex::new(Vec::new()));
    let flaky = Flaky {
        failures: 0,
        permanent: false,
        published: Arc::clone(&published),
    };
    let mut relay = Relay::new("relay", flaky, &runner);
    runner.catch_up(&mut relay).await.unwrap();
    assert_eq!(*published.lock().unwrap(), [(5, 4), (6, 5)]);
}

#[tokio::test]
async fn a_permanent_error_stops_a_spawned_relay_for_good() {
    let store = store_with(3).await;
    let runner = ProjectionRunner::new(store, MemoryCheckpointStore::new());
    let flaky = Flaky {
        failures: 0,
        permanent: true,
        published: Arc::default(),
    };
    let relay = Relay::new("relay", flaky, &runner).spawn(&runner);
    assert!(
        tokio::time::timeout(Duration::from_secs(5), relay.wait_for(3))
            .await
            .expect("it gave up in time")
            .is_err()
    );
    let error = relay.stop().await.expect("it failed");
    assert!(
        error.to_string().contains("can never be published"),
        "{error}"
    );
    assert_eq!(runner.lag("relay").await.unwrap(), 3);
}

#[tokio::test]
async fn a_spawned_relay_rides_out_transient_failures() {
    let store = store_with(5).await;
    let runner = ProjectionRunner::new(store, MemoryCheckpointStore::new());
    let flaky = Flaky {
        failures: 4,
        permanent: false,
        published: Arc::default(),
    };
    let relay = Relay::new("relay", flaky, &runner).spawn(&runner);
    tokio::time::timeout(Duration::from_secs(10), relay.wait_for(5))
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(relay.confirmed(), 5);
    assert!(relay.stop().await.is_none());
}
