//! Crash and redelivery: a transfer's runner is stopped at every write it
//! makes (before and after each step, each command, each deadline record,
//! each checkpoint save), restarted, and must finish the transfer with the
//! money conserved and no command applied twice. On SQLite, and on
//! PostgreSQL when EVENTFOLD_POSTGRES_URL is set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventfold::clock::ManualClock;
use eventfold::prelude::*;
use eventfold::projection::{CheckpointStore, DeadLetter};
use eventfold::store::{AppendResult, DeleteMode, StreamInfo};
use eventfold::{NewEvent, ProcessRunner, RecordedEvent, Snapshot, SnapshotStore, StoreError};
use eventfold_suite::transfers::{Bank, DEPOSIT_TIMEOUT_SECS, TransferProcess, TransferStatus};
use uuid::Uuid;

/// Before or after the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Before,
    After,
}

/// Counts writes (appends and checkpoint saves) and crashes at one of them.
#[derive(Clone, Default)]
struct Crash {
    writes: Arc<AtomicU64>,
    armed: Arc<Mutex<Option<(u64, When)>>>,
    fired: Arc<AtomicU64>,
}

impl Crash {
    fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Crashes at the `k`-th write from now.
    fn arm(&self, k: u64, when: When) {
        *self.armed.lock().unwrap() = Some((self.writes() + k, when));
    }

    fn disarm(&self) {
        *self.armed.lock().unwrap() = None;
    }

    fn fired(&self) -> u64 {
        self.fired.load(Ordering::SeqCst)
    }

    /// Counts one write; `Some` when it is the one to crash at.
    fn write(&self) -> Option<When> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        let mut armed = self.armed.lock().unwrap();
        match *armed {
            Some((at, when)) if at == n => {
                *armed = None;
                self.fired.fetch_add(1, Ordering::SeqCst);
                Some(when)
            }
            _ => None,
        }
    }
}

fn crashed(when: When) -> StoreError {
    StoreError::backend("the test's crash", format!("crash {when:?} the write"))
}

#[derive(Clone)]
struct CrashStore<S> {
    inner: S,
    crash: Crash,
}

impl<S: EventStore> EventStore for CrashStore<S> {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        match self.crash.write() {
            Some(When::Before) => Err(crashed(When::Before)),
            Some(When::After) => {
                self.inner.append(stream, expected, events).await?;
                Err(crashed(When::After))
            }
            None => self.inner.append(stream, expected, events).await,
        }
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, read).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        self.inner.stream_info(stream).await
    }

    async fn delete_stream(&self, stream: &StreamId, mode: DeleteMode) -> Result<(), StoreError> {
        self.inner.delete_stream(stream, mode).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }

    async fn wait_for_append(&self, position: u64) {
        self.inner.wait_for_append(position).await
    }
}

impl<S: SnapshotStore> SnapshotStore for CrashStore<S> {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }

    async fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.inner
            .load_snapshot(stream, aggregate_type, schema_version, max_version)
            .await
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        self.inner.prune_snapshots(stream, keep).await
    }

    async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
        self.inner.delete_snapshots(stream).await
    }
}

struct CrashCheckpoints<K> {
    inner: K,
    crash: Crash,
}

impl<K: CheckpointStore> CheckpointStore for CrashCheckpoints<K> {
    async fn load(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        self.inner.load(projection).await
    }

    async fn save(&self, projection: &str, position: u64) -> Result<(), StoreError> {
        match self.crash.write() {
            Some(When::Before) => Err(crashed(When::Before)),
            Some(When::After) => {
                self.inner.save(projection, position).await?;
                Err(crashed(When::After))
            }
            None => self.inner.save(projection, position).await,
        }
    }

    async fn reset(&self, projection: &str) -> Result<(), StoreError> {
        self.inner.reset(projection).await
    }

    async fn park(&self, letter: DeadLetter) -> Result<(), StoreError> {
        self.inner.park(letter).await
    }

    async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        self.inner.dead_letters(projection).await
    }

    async fn claim(
        &self,
        projection: &str,
        owner: Uuid,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.claim(projection, owner, ttl).await
    }

    async fn save_claimed(
        &self,
        projection: &str,
        position: u64,
        owner: Uuid,
    ) -> Result<bool, StoreError> {
        match self.crash.write() {
            Some(When::Before) => Err(crashed(When::Before)),
            Some(When::After) => {
                self.inner.save_claimed(projection, position, owner).await?;
                Err(crashed(When::After))
            }
            None => self.inner.save_claimed(projection, position, owner).await,
        }
    }

    async fn release(&self, projection: &str, owner: Uuid) -> Result<(), StoreError> {
        self.inner.release(projection, owner).await
    }
}

/// The three shapes of a transfer.
#[derive(Debug, Clone, Copy)]
enum Case {
    /// Withdraw, deposit, complete.
    Completes,
    /// The destination refuses the deposit: refund.
    RefusedDeposit,
    /// The other bank never answers: the deadline refunds.
    Unanswered,
}

struct World<S, K> {
    bank: Bank<CrashStore<S>>,
    checkpoints: Arc<CrashCheckpoints<K>>,
    crash: Crash,
    clock: Arc<ManualClock>,
}

impl<S, K> World<S, K>
where
    S: EventStore + SnapshotStore + Clone,
    K: CheckpointStore,
{
    fn runner(&self) -> ProcessRunner<TransferProcess, CrashStore<S>, Arc<CrashCheckpoints<K>>> {
        self.bank
            .runner(Arc::clone(&self.checkpoints))
            .clock(self.clock.clone())
            .exclusive(Duration::from_secs(30))
    }

    /// Runs until a pass ends without a crash; returns how many crashes it
    /// took.
    async fn run(&self) -> u64 {
        for restarts in 0..5 {
            match self.runner().run_once().await {
                Ok(_) => return restarts,
                Err(e) => {
                    let text = e.to_string();
                    assert!(
                        text.contains("the test's crash"),
                        "not the test's crash: {text}"
                    );
                }
            }
        }
        panic!("the runner did not finish after 5 restarts");
    }

    /// Sets up transfer `n` of `case` and runs it to its end, crashing at
    /// the `k`-th write of the runner (`None`: never). Returns the number of
    /// writes the runner made.
    async fn transfer(&self, case: Case, n: u64, crash_at: Option<(u64, When)>) -> u64 {
        let (from, to, t) = (format!("a{n}"), format!("b{n}"), format!("t{n}"));
        self.bank.open(&from, 100).await.unwrap();
        self.bank.open(&to, 0).await.unwrap();
        let (dest, external) = match case {
            Case::Completes => (to.clone(), false),
            Case::RefusedDeposit => (format!("closed{n}"), false),
            Case::Unanswered => (format!("zurich{n}"), true),
        };
        self.bank
            .request(&t, &from, &dest, external, 40)
            .await
            .unwrap();
        let start = self.crash.writes();
        let fired = self.crash.fired();
        if let Some((k, when)) = crash_at {
            self.crash.arm(k, when);
        }
        let mut restarts = self.run().await;
        if matches!(case, Case::Unanswered) {
            self.clock
                .advance(chrono::Duration::seconds(DEPOSIT_TIMEOUT_SECS as i64));
            restarts += self.run().await;
        }
        let writes = self.crash.writes() - start;
        self.crash.disarm();
        if let Some((k, when)) = crash_at {
            assert_eq!(
                self.crash.fired() - fired,
                1,
                "{case:?}: the crash {when:?} write {k} happened"
            );
            assert_eq!(restarts, 1, "{case:?}: one restart after the crash");
        }

        // Money conserved, every command applied once.
        let a = self.bank.account(&from).await.unwrap();
        let b = self.bank.account(&to).await.unwrap();
        let status = self.bank.status(&t).await.unwrap();
        let at = format!("{case:?}, crash at {crash_at:?}");
        match case {
            Case::Completes => {
                assert_eq!((a.balance, b.balance), (60, 40), "{at}");
                assert_eq!(
                    (a.version, b.version),
                    (2, 2),
                    "{at}: opened + one command each"
                );
                assert_eq!(status, TransferStatus::Completed, "{at}");
            }
            Case::RefusedDeposit | Case::Unanswered => {
                assert_eq!((a.balance, b.balance), (100, 0), "{at}");
                assert_eq!(a.version, 3, "{at}: opened, withdrawn, refunded once");
                assert_eq!(status, TransferStatus::Refunded, "{at}");
            }
        }
        let transfer = self.bank.transfers.stream_id(&t).unwrap();
        let events = self
            .bank
            .store
            .read_stream(&transfer, ReadStream::all())
            .await
            .unwrap();
        assert_eq!(events.len(), 2, "{at}: requested + one outcome");
        if matches!(case, Case::Unanswered) {
            let gateway = self.bank.external.stream_id(&dest).unwrap();
            let sent = self
                .bank
                .store
                .read_stream(&gateway, ReadStream::all())
                .await
                .unwrap();
            assert_eq!(sent.len(), 1, "{at}: one credit sent");
        }
        writes
    }
}

async fn crash_everywhere<S, K>(store: S, checkpoints: K)
where
    S: EventStore + SnapshotStore + Clone,
    K: CheckpointStore,
{
    let crash = Crash::default();
    let world = World {
        bank: Bank::new(CrashStore {
            inner: store.clone(),
            crash: crash.clone(),
        }),
        checkpoints: Arc::new(CrashCheckpoints {
            inner: checkpoints,
            crash: crash.clone(),
        }),
        crash,
        clock: Arc::new(ManualClock::at("2026-03-01T09:00:00Z".parse().unwrap())),
    };
    let mut n = 0;
    let mut worlds = 0;
    for case in [Case::Completes, Case::RefusedDeposit, Case::Unanswered] {
        n += 1;
        let writes = world.transfer(case, n, None).await;
        assert!(writes >= 5, "{case:?}: {writes} writes");
        eprintln!("{case:?}: {writes} writes, each crashed at before and after");
        for k in 0..writes {
            for when in [When::Before, When::After] {
                n += 1;
                worlds += 1;
                world.transfer(case, n, Some((k, when))).await;
            }
        }
    }
    assert!(worlds >= 40, "{worlds} crash points");

    // Everything delivered again from the first event: nothing appended.
    let head = store.head_position().await.unwrap();
    world
        .checkpoints
        .reset(&ProcessRunner::<
            TransferProcess,
            CrashStore<S>,
            CrashCheckpoints<K>,
        >::checkpoint_name())
        .await
        .unwrap();
    let report = world.runner().run_once().await.unwrap();
    assert_eq!(store.head_position().await.unwrap(), head);
    assert_eq!(report.steps, 0);
}

#[tokio::test]
async fn crashes_at_every_write_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bank.db")).await.unwrap();
    let checkpoints =
        eventfold::projection::SqliteCheckpointStore::open(dir.path().join("checkpoints.db"))
            .await
            .unwrap();
    crash_everywhere(store, checkpoints).await;
}

#[tokio::test]
async fn crashes_at_every_write_on_memory() {
    crash_everywhere(
        MemoryStore::new(),
        eventfold::projection::MemoryCheckpointStore::new(),
    )
    .await;
}

#[tokio::test]
async fn crashes_at_every_write_on_postgres() {
    let Some(schema) = eventfold::store::conformance::PostgresSchema::new("process_crash") else {
        return;
    };
    let store = schema.store().await;
    let checkpoints = eventfold::projection::PostgresCheckpointStore::open(&store)
        .await
        .unwrap();
    crash_everywhere(store, checkpoints).await;
}
