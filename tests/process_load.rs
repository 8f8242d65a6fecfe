//! Load through the process-manager runner: 1,000 concurrent transfers
//! among 50 accounts (money conserved, every transfer completed or
//! refunded, nothing stuck), and 10,000 deadlines (some cancelled, the rest
//! fired exactly once, across a restart).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventfold::clock::ManualClock;
use eventfold::prelude::*;
use eventfold::projection::{CheckpointStore, MemoryCheckpointStore};
use eventfold::{Metadata, NewEvent, SnapshotStore};
use eventfold_suite::transfers::{Bank, TransferStatus};

const ACCOUNTS: usize = 50;
const TRANSFERS: usize = 1_000;
const OPENING: u64 = 10_000;

/// 1,000 transfers requested by 20 concurrent tasks while a spawned runner
/// works through them; one in twenty goes to an account that does not
/// exist and is refunded.
async fn concurrent_transfers<S, K>(store: S, checkpoints: K)
where
    S: EventStore + SnapshotStore + Clone,
    K: CheckpointStore,
{
    let bank = Arc::new(Bank::new(store.clone()));
    for a in 0..ACCOUNTS {
        bank.open(&format!("acc{a}"), OPENING).await.unwrap();
    }
    let runner = bank
        .runner(Arc::new(checkpoints))
        .idle_poll(Duration::from_millis(5))
        .spawn();
    let mut tasks = Vec::new();
    for t in 0..20 {
        let bank = Arc::clone(&bank);
        tasks.push(tokio::spawn(async move {
            for i in (t..TRANSFERS).step_by(20) {
                let from = format!("acc{}", i % ACCOUNTS);
                let to = if i % 20 == 7 {
                    format!("ghost{i}")
                } else {
                    format!("acc{}", (i * 7 + 3) % ACCOUNTS)
                };
                let to = if to == from {
                    format!("acc{}", (i + 1) % ACCOUNTS)
                } else {
                    to
                };
                let amount = 1 + (i as u64 * 37) % 100;
                bank.request(&format!("t{i}"), &from, &to, false, amount)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let report = tokio::time::timeout(
        Duration::from_secs(300),
        runner.wait_until(|r| r.ended as usize == TRANSFERS),
    )
    .await
    .expect("every transfer ends in time")
    .unwrap();
    let (_, error) = runner.stop().await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(report.started as usize, TRANSFERS);
    assert_eq!(report.deadlines_pending, 0, "nothing waits for a deadline");

    let mut total = 0;
    for a in 0..ACCOUNTS {
        let account = bank.account(&format!("acc{a}")).await.unwrap();
        total += account.balance;
    }
    assert_eq!(total, OPENING * ACCOUNTS as u64, "money is conserved");
    let mut outcomes: HashMap<TransferStatus, usize> = HashMap::new();
    for i in 0..TRANSFERS {
        *outcomes
            .entry(bank.status(&format!("t{i}")).await.unwrap())
            .or_default() += 1;
    }
    assert_eq!(
        outcomes.get(&TransferStatus::Refunded),
        Some(&(TRANSFERS / 20))
    );
    assert_eq!(
        outcomes.get(&TransferStatus::Completed),
        Some(&(TRANSFERS - TRANSFERS / 20)),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_transfers_on_memory() {
    concurrent_transfers(MemoryStore::new(), MemoryCheckpointStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_transfers_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bank.db")).await.unwrap();
    let checkpoints =
        eventfold::projection::SqliteCheckpointStore::open(dir.path().join("checkpoints.db"))
            .await
            .unwrap();
    concurrent_transfers(store, checkpoints).await;
}

// ---- deadlines ---------------------------------------------------------

/// Asks for a reminder.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ReminderSet {
    /// The reminder.
    pub id: u32,
}

/// Withdraws a reminder.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ReminderCancelled {
    /// The reminder.
    pub id: u32,
}

/// The reminder's deadline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Due {
    /// The reminder.
    pub id: u32,
}

/// How many times each reminder's deadline handler ran, in this process.
static FIRED: Mutex<Option<HashMap<u32, u32>>> = Mutex::new(None);

#[derive(Default, Serialize, Deserialize)]
struct Reminders {
    id: u32,
}

#[eventfold::process_manager(name = "reminders")]
impl Reminders {
    #[start(key = id)]
    fn set(&mut self, e: &ReminderSet, ctx: &mut ProcessContext<Self>) {
        self.id = e.id;
        // Due one minute later, spread over ten seconds.
        let after = Duration::from_secs(60) + Duration::from_millis(u64::from(e.id % 10_000));
        ctx.schedule_in(after, Due { id: e.id });
    }

    #[end(key = id)]
    fn cancelled(&mut self, _: &ReminderCancelled, ctx: &mut ProcessContext<Self>) {
        ctx.cancel::<Due>();
    }

    #[deadline]
    fn due(&mut self, d: &Due, ctx: &mut ProcessContext<Self>) {
        assert_eq!(d.id, self.id);
        *FIRED
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .entry(d.id)
            .or_default() += 1;
        ctx.end();
    }
}

const DEADLINES: u32 = 10_000;

fn is_cancelled(id: u32) -> bool {
    id % 7 == 3
}

async fn append<S: EventStore>(store: &S, stream: &str, events: Vec<NewEvent>) {
    let stream = StreamId::new(stream).unwrap();
    for chunk in events.chunks(1_000) {
        store
            .append(&stream, ExpectedVersion::Any, chunk.to_vec())
            .await
            .unwrap();
    }
}

fn event<E: Serialize>(name: &str, e: &E) -> NewEvent {
    NewEvent::new(name, 1, serde_json::to_vec(e).unwrap(), Metadata::default())
}

#[tokio::test]
async fn ten_thousand_deadlines_fire_once_across_a_restart() {
    let store = MemoryStore::new();
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let clock = Arc::new(ManualClock::at("2026-03-01T09:00:00Z".parse().unwrap()));
    let runner = || {
        eventfold::ProcessRunner::<Reminders, _, _>::new(
            Arc::new(store.clone()),
            Arc::clone(&checkpoints),
        )
        .clock(clock.clone())
    };
    let set: Vec<_> = (0..DEADLINES)
        .map(|id| event("ReminderSet", &ReminderSet { id }))
        .collect();
    append(&store, "reminders-in", set).await;
    let scheduled = runner().run_once().await.unwrap();
    assert_eq!(scheduled.deadlines_pending, u64::from(DEADLINES));

    let cancels: Vec<_> = (0..DEADLINES)
        .filter(|id| is_cancelled(*id))
        .map(|id| event("ReminderCancelled", &ReminderCancelled { id }))
        .collect();
    let cancelled = cancels.len() as u64;
    append(&store, "reminders-in", cancels).await;
    let after_cancel = runner().run_once().await.unwrap();
    assert_eq!(
        after_cancel.deadlines_pending,
        u64::from(DEADLINES) - cancelled
    );
    assert_eq!(after_cancel.deadlines_fired, 0, "none is due yet");

    // Half of them come due; the runner fires them, then "crashes" (a new
    // runner starts from the stored deadline stream and checkpoint).
    clock.advance(chrono::Duration::milliseconds(60_000 + 4_999));
    let first = runner().run_once().await.unwrap();
    clock.advance(chrono::Duration::seconds(10));
    let second = runner().run_once().await.unwrap();
    let third = runner().run_once().await.unwrap();
    assert!(first.deadlines_fired > 0 && second.deadlines_fired > 0);
    assert_eq!(
        first.deadlines_fired + second.deadlines_fired,
        u64::from(DEADLINES) - cancelled
    );
    assert_eq!(third.deadlines_fired, 0);
    assert_eq!(third.deadlines_pending, 0);

    let fired = FIRED.lock().unwrap().take().unwrap_or_default();
    assert_eq!(fired.len() as u64, u64::from(DEADLINES) - cancelled);
    for id in 0..DEADLINES {
        let times = fired.get(&id).copied().unwrap_or(0);
        let want = u32::from(!is_cancelled(id));
        assert_eq!(times, want, "reminder {id} fired {times} times");
    }
}
