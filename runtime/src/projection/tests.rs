//! Unit tests of the runner with hand-written projections.

use super::*;
use crate::envelope::NewEvent;
use crate::store::{EventStore, ExpectedVersion, MemoryStore};

/// Counts `Deposited` amounts per stream; fails on amount 13.
#[derive(Default)]
struct Sum {
    total: u64,
    seen: Vec<u64>,
    policy: FailurePolicy,
}

#[derive(serde::Deserialize)]
struct Deposited {
    amount: u64,
}

impl Projection for Sum {
    fn name(&self) -> &str {
        "Sum"
    }
    fn event_types(&self) -> &[&str] {
        &["Deposited"]
    }
    fn handle(&mut self, event: &RecordedEvent) -> Result<(), HandleError> {
        if event.event_type != "Deposited" {
            return Ok(());
        }
        let d: Deposited = serde_json::from_slice(&event.payload).map_err(HandleError::handler)?;
        if d.amount == 13 {
            return Err(HandleError::handler("unlucky amount"));
        }
        self.total += d.amount;
        self.seen.push(event.global_position);
        Ok(())
    }
    fn failure_policy(&self) -> FailurePolicy {
        self.policy
    }
}

async fn append(store: &MemoryStore, stream: &str, ty: &str, amount: u64) {
    let e = NewEvent::new(
        ty,
        1,
        format!(r#"{{"amount":{amount}}}"#).into_bytes(),
        Default::default(),
    );
    store
        .append(
            &StreamId::new(stream).unwrap(),
            ExpectedVersion::Any,
            vec![e],
        )
        .await
        .unwrap();
}

fn runner(store: &MemoryStore) -> ProjectionRunner<MemoryStore, MemoryCheckpointStore> {
    ProjectionRunner::new(store.clone(), MemoryCheckpointStore::new()).batch_size(3)
}

#[tokio::test]
async fn catch_up_handles_its_types_and_skips_others() {
    let store = MemoryStore::new();
    for i in 1..=10 {
        append(
            &store,
            "a-1",
            if i % 2 == 0 { "Deposited" } else { "Other" },
            i,
        )
        .await;
    }
    let runner = runner(&store);
    let mut sum = Sum::default();
    let report = runner.catch_up(&mut sum).await.unwrap();
    assert_eq!(
        report,
        CatchUp {
            position: 10,
            events: 10,
            parked: 0
        }
    );
    assert_eq!(sum.total, 2 + 4 + 6 + 8 + 10);
    assert_eq!(runner.lag("Sum").await.unwrap(), 0);

    append(&store, "a-1", "Deposited", 100).await;
    assert_eq!(runner.lag("Sum").await.unwrap(), 1);
    let report = runner.catch_up(&mut sum).await.unwrap();
    assert_eq!(report.events, 1, "resumes from the checkpoint");
    assert_eq!(sum.total, 130);

    let mut fresh = Sum::default();
    runner.rebuild(&mut fresh).await.unwrap();
    assert_eq!(fresh.total, sum.total);
}

#[tokio::test]
async fn stop_policy_keeps_checkpoint_before_the_failed_event() {
    let store = MemoryStore::new();
    for amount in [1, 2, 3, 4, 13, 5] {
        append(&store, "a-1", "Deposited", amount).await;
    }
    let runner = runner(&store);
    let mut sum = Sum::default();
    let err = runner.catch_up(&mut sum).await.unwrap_err();
    assert_eq!(err.position(), Some(5));
    let msg = err.to_string();
    assert!(msg.contains("`Sum` stopped at position 5"), "{msg}");
    assert!(msg.contains("stream `a-1` version 5"), "{msg}");
    assert!(msg.contains("unlucky amount"), "{msg}");
    assert_eq!(runner.checkpoints().load("Sum").await.unwrap(), Some(4));
    assert_eq!(sum.total, 10);
}

#[tokio::test]
async fn dead_letter_policy_parks_and_goes_on() {
    let store = MemoryStore::new();
    for amount in [1, 13, 2, 13, 3] {
        append(&store, "a-1", "Deposited", amount).await;
    }
    let runner = runner(&store);
    let mut sum = Sum {
        policy: FailurePolicy::DeadLetter,
        ..Sum::default()
    };
    let report = runner.catch_up(&mut sum).await.unwrap();
    assert_eq!(report.parked, 2);
    assert_eq!(sum.total, 6);
    let dead = runner.checkpoints().dead_letters("Sum").await.unwrap();
    assert_eq!(dead.iter().map(|d| d.position).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(dead[0].error, "unlucky amount");
    assert_eq!(dead[0].event_type, "Deposited");
}

#[tokio::test]
async fn spawned_projection_catches_up_then_follows_live() {
    let store = MemoryStore::new();
    for amount in 1..=5 {
        append(&store, "a-1", "Deposited", amount).await;
    }
    let runner = runner(&store);
    let handle = runner.spawn(Sum::default());
    handle.wait_for(5).await.unwrap();
    assert_eq!(handle.read(|s| s.total).await, 15);
    append(&store, "b-1", "Deposited", 10).await;
    handle.wait_for(6).await.unwrap();
    assert_eq!(handle.read(|s| s.total).await, 25);
    assert_eq!(handle.lag().await.unwrap(), 0);
    assert!(matches!(handle.status(), ProjectionStatus::Live));
    let (sum, err) = handle.stop().await;
    assert!(err.is_none());
    assert_eq!(sum.seen, [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn a_failed_projection_does_not_stop_others() {
    let store = MemoryStore::new();
    for amount in [1, 13, 2] {
        append(&store, "a-1", "Deposited", amount).await;
    }
    let runner = runner(&store);
    struct Other(Sum);
    impl Projection for Other {
        fn name(&self) -> &str {
            "Other"
        }
        fn event_types(&self) -> &[&str] {
            &[]
        }
        fn handle(&mut self, e: &RecordedEvent) -> Result<(), HandleError> {
            self.0.seen.push(e.global_position);
            Ok(())
        }
    }
    let failing = runner.spawn(Sum::default());
    let other = runner.spawn(Other(Sum::default()));
    let err = failing.failed().await;
    assert_eq!(err.position(), Some(2));
    assert_eq!(failing.position(), 1);
    assert!(matches!(failing.status(), ProjectionStatus::Failed(_)));
    append(&store, "a-1", "Deposited", 7).await;
    other.wait_for(4).await.unwrap();
    assert_eq!(other.read(|o| o.0.seen.clone()).await, [1, 2, 3, 4]);
}

/// A read model with a transaction: rows and checkpoint move together.
#[derive(Default)]
struct Transactional {
    committed: (u64, Option<u64>),
    pending: u64,
    commits: u32,
}

impl Projection for Transactional {
    fn name(&self) -> &str {
        "Tx"
    }
    fn event_types(&self) -> &[&str] {
        &["Deposited"]
    }
    fn handle(&mut self, event: &RecordedEvent) -> Result<(), HandleError> {
        let d: Deposited = serde_json::from_slice(&event.payload).map_err(HandleError::handler)?;
        self.pending += d.amount;
        if d.amount == 13 {
            return Err(HandleError::handler("partial write then failure"));
        }
        Ok(())
    }
    async fn load_checkpoint(&mut self) -> Result<Option<u64>, HandleError> {
        Ok(self.committed.1)
    }
    async fn commit(&mut self, position: u64) -> Result<(), HandleError> {
        self.committed = (self.committed.0 + self.pending, Some(position));
        self.pending = 0;
        self.commits += 1;
        Ok(())
    }
    fn rollback(&mut self) -> bool {
        self.pending = 0;
        true
    }
}

#[tokio::test]
async fn transactional_read_model_rolls_back_partial_writes() {
    let store = MemoryStore::new();
    for amount in [1, 2, 13, 4] {
        append(&store, "a-1", "Deposited", amount).await;
    }
    let runner = runner(&store).batch_size(10);
    let mut tx = Transactional::default();
    let err = runner.catch_up(&mut tx).await.unwrap_err();
    assert_eq!(err.position(), Some(3));
    assert_eq!(
        tx.committed,
        (3, Some(2)),
        "the partial write of 13 is gone"
    );
    // The read model's own checkpoint wins over the store's.
    runner.checkpoints().save("Tx", 0).await.unwrap();
    assert_eq!(runner.checkpoint(&mut tx).await.unwrap(), 2);
}
