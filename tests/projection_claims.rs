//! Exclusive projection runners: one instance per projection name at a
//! time, the others standing by; take-over when the running one stops or
//! dies (its claim expires); one-shot runs refused while claimed. The read
//! model counts how often each event was applied: every count must be 1.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::projection::{
    CheckpointStore, EventMeta, MemoryCheckpointStore, Projection, ProjectionError,
    ProjectionHandle, ProjectionRunner, ProjectionStatus,
};
use eventfold_suite::bank::{BankAccountEvent, MoneyDeposited};

/// How often each global position was applied, shared by every instance
/// (as a database table would be).
type Applied = Arc<Mutex<BTreeMap<u64, u32>>>;

struct Ledger {
    applied: Applied,
}

#[eventfold::projection]
impl Ledger {
    #[handle]
    fn deposited(&mut self, _: &MoneyDeposited, meta: &EventMeta) {
        *self
            .applied
            .lock()
            .unwrap()
            .entry(meta.global_position)
            .or_default() += 1;
    }
}

const TTL: Duration = Duration::from_secs(1);
/// Generous bound for anything that should happen within a few claim periods.
const PATIENCE: Duration = Duration::from_secs(20);

type Runner = ProjectionRunner<MemoryStore, MemoryCheckpointStore>;

/// A runner of its own (as in another process) over the shared stores.
fn runner(store: &Arc<MemoryStore>, checkpoints: &Arc<MemoryCheckpointStore>) -> Runner {
    ProjectionRunner::new(
        MemoryStore::clone(store),
        MemoryCheckpointStore::clone(checkpoints),
    )
    .exclusive(TTL)
}

async fn deposit(store: &MemoryStore, n: u64) {
    let stream = StreamId::new("BankAccount-1").unwrap();
    let events: Vec<NewEvent> = (0..n)
        .map(|_| {
            let e = BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: 1 });
            NewEvent::encode(&e, &JsonCodec, Metadata::default()).unwrap()
        })
        .collect();
    store
        .append(&stream, ExpectedVersion::Any, events)
        .await
        .unwrap();
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

fn is_standby<P: Projection>(h: &ProjectionHandle<P, MemoryStore, MemoryCheckpointStore>) -> bool {
    matches!(h.status(), ProjectionStatus::Standby)
}

fn applied_once(applied: &Applied, events: u64) -> bool {
    let applied = applied.lock().unwrap();
    assert!(
        applied.values().all(|&n| n == 1),
        "an event was applied twice: {applied:?}"
    );
    applied.len() as u64 == events
}

type Handle = ProjectionHandle<Ledger, MemoryStore, MemoryCheckpointStore>;

/// Shared stores holding `history` deposits, a first instance caught up
/// with them, and a second one (another runner, as in another process)
/// standing by.
async fn running_and_standing_by(history: u64) -> (Arc<MemoryStore>, Applied, Handle, Handle) {
    let store = Arc::new(MemoryStore::new());
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let applied = Applied::default();
    deposit(&store, history).await;
    let first = runner(&store, &checkpoints).spawn(Ledger {
        applied: applied.clone(),
    });
    first.wait_caught_up().await.unwrap();
    let second = runner(&store, &checkpoints).spawn(Ledger {
        applied: applied.clone(),
    });
    wait_until("the second instance stands by", || is_standby(&second)).await;
    (store, applied, first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_runs_the_other_stands_by_and_takes_over_on_stop() {
    let (store, applied, first, second) = running_and_standing_by(20).await;

    deposit(&store, 10).await;
    first.wait_for(30).await.unwrap();
    assert!(applied_once(&applied, 30));
    assert!(is_standby(&second), "the second stayed on standby");

    // The first stops (and releases its claim): the second takes over from
    // the checkpoint, applying only what comes next.
    first.stop().await;
    deposit(&store, 5).await;
    second.wait_for(35).await.unwrap();
    assert!(applied_once(&applied, 35));
    assert!(!is_standby(&second));
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_is_replaced_once_its_claim_expires() {
    let (store, applied, first, second) = running_and_standing_by(10).await;

    // The first dies without releasing its claim (idle: no batch in flight).
    first.kill().await;
    deposit(&store, 10).await;
    wait_until("the second takes over after the claim expires", || {
        applied_once(&applied, 20)
    })
    .await;
    assert!(!is_standby(&second));
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_runs_are_refused_while_another_instance_runs() {
    let store = Arc::new(MemoryStore::new());
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let applied = Applied::default();
    deposit(&store, 3).await;
    let running = runner(&store, &checkpoints).spawn(Ledger {
        applied: applied.clone(),
    });
    running.wait_caught_up().await.unwrap();

    let other = runner(&store, &checkpoints);
    let mut ledger = Ledger {
        applied: applied.clone(),
    };
    for outcome in [
        other.catch_up(&mut ledger).await,
        other.rebuild(&mut ledger).await,
    ] {
        assert!(
            matches!(outcome, Err(ProjectionError::Claimed { ref projection }) if projection == "Ledger"),
            "{outcome:?}"
        );
    }
    assert!(
        applied_once(&applied, 3),
        "the refused runs applied nothing"
    );

    // Once the running instance stops, a one-shot run may go (and releases
    // its claim when done).
    running.stop().await;
    deposit(&store, 2).await;
    let report = other.catch_up(&mut ledger).await.unwrap();
    assert_eq!(report.position, 5);
    assert!(applied_once(&applied, 5));
    other.catch_up(&mut ledger).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_that_are_not_exclusive_do_not_claim() {
    let store = Arc::new(MemoryStore::new());
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    deposit(&store, 4).await;
    // Two in-memory read models of their own, each fed by its runner.
    let (a, b) = (Applied::default(), Applied::default());
    let plain = || {
        ProjectionRunner::new(
            MemoryStore::clone(&store),
            MemoryCheckpointStore::clone(&checkpoints),
        )
    };
    let mut first = Ledger { applied: a.clone() };
    let mut second = Ledger { applied: b.clone() };
    plain().rebuild(&mut first).await.unwrap();
    plain().rebuild(&mut second).await.unwrap();
    assert!(applied_once(&a, 4) && applied_once(&b, 4));
}

/// The same projection (same name) whose handler stalls once, at position
/// 8, for longer than the claim lasts, as a long pause would.
struct StallingLedger {
    applied: Applied,
    stalled: bool,
}

#[eventfold::projection(name = "Ledger")]
impl StallingLedger {
    #[handle]
    fn deposited(&mut self, _: &MoneyDeposited, meta: &EventMeta) {
        if meta.global_position == 8 && !self.stalled {
            self.stalled = true;
            std::thread::sleep(TTL * 3);
        }
        *self
            .applied
            .lock()
            .unwrap()
            .entry(meta.global_position)
            .or_default() += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn an_instance_that_stalls_past_its_claim_cannot_move_the_checkpoint() {
    let store = Arc::new(MemoryStore::new());
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let applied = Applied::default();
    deposit(&store, 5).await;
    let stalling = runner(&store, &checkpoints).spawn(StallingLedger {
        applied: applied.clone(),
        stalled: false,
    });
    stalling.wait_caught_up().await.unwrap();
    let healthy = runner(&store, &checkpoints).spawn(Ledger {
        applied: applied.clone(),
    });
    wait_until("the second instance stands by", || is_standby(&healthy)).await;

    // The first stalls in the batch 6..=10; its claim expires and the
    // second takes over from checkpoint 5, then goes on past 10.
    deposit(&store, 5).await;
    healthy.wait_for(10).await.unwrap();
    deposit(&store, 5).await;
    healthy.wait_for(15).await.unwrap();

    // The first wakes up, finishes its batch, and finds its save refused:
    // the checkpoint stays at 15, and it stands by.
    wait_until("the stalled instance stands by", || is_standby(&stalling)).await;
    assert_eq!(checkpoints.load("Ledger").await.unwrap(), Some(15));
    assert_eq!(stalling.position(), 5, "its checkpoint never moved");
    // Events 6 to 10 reached the read model twice (at least once); the rest once.
    let counts = applied.lock().unwrap().clone();
    assert!(counts.range(11..).all(|(_, &n)| n == 1), "{counts:?}");
    assert_eq!(counts.len(), 15);
    healthy.stop().await;
    stalling.stop().await;
}
