//! The repository through the public API, on every store: load (snapshot +
//! tail), decide, append, retry; metadata; idempotent commands; snapshots;
//! temporal queries; retention and archiving.
//!
//! Every scenario is generic over the store; `suite!` instantiates them once
//! per store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventfold::prelude::*;
use eventfold::repository::{CommandOptions, Repository, RepositoryError, RetryPolicy};
use eventfold::snapshot::{Snapshot, SnapshotPolicy, SnapshotStore};
use eventfold::store::conformance::IntoFixture;
use eventfold::store::{AppendResult, DeleteMode, LoadQuery, ReadStream, StoreError, StreamInfo};
use eventfold::{NewEvent, RecordedEvent};
use eventfold_suite::bank::{AccountError, BankAccount, BankAccountCommand, BankAccountEvent};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// A small aggregate in two schema versions (same type name), for snapshots.

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Added {
    n: u64,
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum CounterError {
    #[error("n must be positive")]
    Zero,
}

#[derive(Aggregate, Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[aggregate(events(Added), error = CounterError, name = "Counter", schema_version = 1)]
struct Counter {
    total: u64,
    applied: u64,
}

#[eventfold::handlers]
impl Counter {
    /// Adds `n`.
    #[command]
    fn add(&self, n: u64) -> Result<Added, CounterError> {
        if n == 0 {
            return Err(CounterError::Zero);
        }
        Ok(Added { n })
    }

    /// Two events in one batch.
    #[command]
    fn add_twice(&self, n: u64) -> Result<(Added, Added), CounterError> {
        Ok((Added { n }, Added { n }))
    }

    #[apply]
    fn added(&mut self, e: &Added) {
        self.total += e.n;
        self.applied += 1;
    }
}

/// The same aggregate after a change of its state's shape.
#[derive(Aggregate, Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[aggregate(events(Added), error = CounterError, name = "Counter", schema_version = 2)]
struct CounterV2 {
    sum: u64,
}

#[eventfold::handlers]
impl CounterV2 {
    /// Adds `n`.
    #[command]
    fn add(&self, n: u64) -> Result<Added, CounterError> {
        Ok(Added { n })
    }

    #[apply]
    fn added(&mut self, e: &Added) {
        self.sum += e.n;
    }
}

/// An aggregate without serde: works with snapshots off.
#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Added), error = CounterError, name = "Plain")]
struct Plain {
    total: u64,
}

#[eventfold::handlers]
impl Plain {
    /// Adds `n`.
    #[command]
    fn add(&self, n: u64) -> Result<Added, CounterError> {
        Ok(Added { n })
    }

    #[apply]
    fn added(&mut self, e: &Added) {
        self.total += e.n;
    }
}

/// An aggregate whose `apply` reads the metadata: who made each change.
#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Added), error = CounterError, name = "Audited")]
struct Audited {
    total: u64,
    actors: Vec<String>,
}

#[eventfold::handlers]
impl Audited {
    /// Adds `n`.
    #[command]
    fn add(&self, n: u64) -> Result<Added, CounterError> {
        Ok(Added { n })
    }

    #[apply]
    fn added(&mut self, e: &Added, ctx: &ApplyContext) {
        self.total += e.n;
        self.actors.extend(ctx.metadata.actor.clone());
    }
}

// ---------------------------------------------------------------------------
// Store wrappers: count the events read, widen race windows, interfere.

/// Delegates to `inner`, counting the events every read returns; optionally
/// yields to the scheduler after each read so that concurrent commands
/// interleave between load and append; optionally appends a foreign event
/// before every append (so every append of a command conflicts).
#[derive(Clone)]
struct Instrumented<S> {
    inner: S,
    events_read: Arc<AtomicU64>,
    yield_after_read: bool,
    interfere: bool,
    /// Appends written.
    appends: Arc<AtomicU64>,
    /// When set, every append waits for a permit first.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl<S> Instrumented<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            events_read: Arc::new(AtomicU64::new(0)),
            yield_after_read: false,
            interfere: false,
            appends: Arc::new(AtomicU64::new(0)),
            gate: None,
        }
    }

    fn take_read(&self) -> u64 {
        self.events_read.swap(0, Ordering::SeqCst)
    }
}

impl<S: EventStore + Clone> EventStore for Instrumented<S> {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        if self.interfere {
            let foreign = NewEvent::encode(
                &CounterEvent::Added(Added { n: 1000 }),
                &JsonCodec,
                Metadata::default(),
            )
            .expect("encodes");
            self.inner
                .append(stream, ExpectedVersion::Any, vec![foreign])
                .await?;
        }
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate open").forget();
        }
        let appended = self.inner.append(stream, expected, events).await?;
        self.appends.fetch_add(1, Ordering::SeqCst);
        Ok(appended)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.read_stream(stream, read).await?;
        self.events_read
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        if self.yield_after_read {
            tokio::task::yield_now().await;
        }
        Ok(events)
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

    async fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> Result<u64, StoreError> {
        self.inner.delete_events_before(stream, before).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }

    async fn wait_for_append(&self, position: u64) {
        self.inner.wait_for_append(position).await
    }
}

impl<S: SnapshotStore + Clone> SnapshotStore for Instrumented<S> {
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

/// Counts the warnings the repository logs (on the current thread, while set
/// as the default subscriber).
#[derive(Clone, Default)]
struct RepositoryWarnings(Arc<AtomicU64>);

impl tracing::Subscriber for RepositoryWarnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        if *m.level() == tracing::Level::WARN && m.target().starts_with("eventfold::repository") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A unique stream per test, so that tests can share a database.
fn stream(kind: &str) -> StreamId {
    StreamId::new(format!("{kind}-{}", Uuid::now_v7())).expect("valid stream id")
}

async fn open_account<S: EventStore + SnapshotStore>(
    repo: &Repository<BankAccount, S>,
    stream: &StreamId,
    initial: u64,
) {
    repo.execute(stream, BankAccountCommand::open("Alice".into(), initial))
        .await
        .expect("opens");
}

// ---------------------------------------------------------------------------
// Scenarios, generic over the store.

mod scenarios {
    use super::*;

    pub(super) async fn decides_appends_and_returns_envelopes<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo = Repository::<BankAccount, _>::new(store.clone());
        let s = stream("BankAccount");
        let opened = repo
            .execute(&s, BankAccountCommand::open("Alice".into(), 100))
            .await
            .unwrap();
        assert_eq!(opened.version, 1);
        assert_eq!(opened.attempts, 1);
        assert!(!opened.duplicate);
        let done = repo
            .execute(&s, BankAccountCommand::deposit(50))
            .await
            .unwrap();
        assert_eq!(done.version, 2);
        assert_eq!(done.state.balance, 150);
        assert_eq!(done.state.version, 2);
        assert_eq!(done.events.len(), 1);
        let e = &done.events[0];
        assert_eq!(e.stream_version, 2);
        assert_eq!(e.stream_id, s);
        assert_eq!(
            e.event,
            BankAccountEvent::MoneyDeposited(eventfold_suite::bank::MoneyDeposited { amount: 50 })
        );
        // The envelope is what the store recorded.
        let stored = store
            .read_stream(&s, ReadStream::all().from(2).to(2))
            .await
            .unwrap();
        assert_eq!(stored[0].event_id, e.event_id);
        assert_eq!(stored[0].global_position, e.global_position);
        assert_eq!(stored[0].recorded_at, e.recorded_at);
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!(loaded.state, *done.state);
        assert_eq!(loaded.version, 2);
        assert_eq!(loaded.snapshot_version, None);
    }

    pub(super) async fn metadata_flows_through<S: EventStore + SnapshotStore + Clone>(store: S) {
        let repo = Repository::<BankAccount, _>::new(store.clone());
        let s = stream("BankAccount");
        let correlation = Uuid::now_v7();
        let command_id = Uuid::now_v7();
        let done = repo
            .execute_with(
                &s,
                BankAccountCommand::open("Alice".into(), 10),
                CommandOptions::new()
                    .command_id(command_id)
                    .correlation_id(correlation)
                    .actor("alice@example.com")
                    .with("tenant", "acme"),
            )
            .await
            .unwrap();
        assert_eq!(done.command_id, command_id);
        let stored = store.read_stream(&s, ReadStream::all()).await.unwrap();
        for m in [&done.events[0].metadata, &stored[0].metadata] {
            assert_eq!(m.correlation_id, Some(correlation));
            assert_eq!(m.causation_id, Some(command_id));
            assert_eq!(m.actor.as_deref(), Some("alice@example.com"));
            assert_eq!(m.extra.get("tenant"), Some(&serde_json::json!("acme")));
        }
        // Without a correlation id, it defaults to the command id.
        let done = repo
            .execute_with(
                &s,
                BankAccountCommand::deposit(1),
                CommandOptions::new().actor("bob"),
            )
            .await
            .unwrap();
        let m = &done.events[0].metadata;
        assert_eq!(m.causation_id, Some(done.command_id));
        assert_eq!(m.correlation_id, Some(done.command_id));
        assert_eq!(m.actor.as_deref(), Some("bob"));
    }

    pub(super) async fn rejection_is_typed_and_appends_nothing<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo = Repository::<BankAccount, _>::new(store.clone());
        let s = stream("BankAccount");
        open_account(&repo, &s, 100).await;
        let err = repo
            .execute(&s, BankAccountCommand::withdraw(500))
            .await
            .unwrap_err();
        assert_eq!(
            err.rejection(),
            Some(&AccountError::InsufficientFunds {
                balance: 100,
                requested: 500
            })
        );
        assert!(err.to_string().contains(s.as_str()), "{err}");
        assert!(matches!(err, RepositoryError::Rejected { .. }));
        assert_eq!(repo.load(&s).await.unwrap().version, 1);
    }

    pub(super) async fn undecodable_event_is_a_typed_error<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo = Repository::<BankAccount, _>::new(store.clone());
        let s = stream("BankAccount");
        open_account(&repo, &s, 100).await;
        let bad = NewEvent::new(
            "MoneyDeposited",
            1,
            b"{\"amount\":\"x\"}".to_vec(),
            Metadata::default(),
        );
        store
            .append(&s, ExpectedVersion::Exact(1), vec![bad])
            .await
            .unwrap();
        let err = repo.load(&s).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, RepositoryError::Decode(_)), "{err:?}");
        assert!(
            msg.contains(s.as_str()) && msg.contains("version 2"),
            "{msg}"
        );
        assert!(msg.contains("MoneyDeposited"), "{msg}");
    }

    pub(super) async fn snapshotted_load_reads_only_the_tail<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let store = Instrumented::new(store);
        // BankAccount says `snapshot_every = 100`.
        let repo = Repository::<BankAccount, _>::with_snapshots(store.clone());
        let s = stream("BankAccount");
        open_account(&repo, &s, 0).await;
        for _ in 0..104 {
            repo.execute(&s, BankAccountCommand::deposit(2))
                .await
                .unwrap();
        }
        store.take_read();
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!(store.take_read(), 5, "only the events after the snapshot");
        assert_eq!(loaded.snapshot_version, Some(100));
        assert_eq!(loaded.events_replayed, 5);
        assert_eq!(loaded.version, 105);
        assert_eq!(loaded.state.balance, 208);
        assert_eq!(loaded.state.version, 105);

        // The same stream without snapshots reads everything, to the same state.
        let plain = Repository::<BankAccount, _>::new(store.clone());
        let replayed = plain.load(&s).await.unwrap();
        assert_eq!(store.take_read(), 105);
        assert_eq!(replayed.state, loaded.state);
        assert_eq!(replayed.snapshot_version, None);
    }

    pub(super) async fn snapshot_policy_every_n_and_custom<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo =
            Repository::<Counter, _>::new(store.clone()).snapshot_policy(SnapshotPolicy::every(3));
        let s = stream("Counter");
        for n in 1..=7 {
            repo.execute(&s, CounterCommand::add(n)).await.unwrap();
        }
        let snap = |max| store.load_snapshot(&s, "Counter", 1, max);
        assert_eq!(snap(None).await.unwrap().unwrap().version, 6);
        assert_eq!(snap(Some(5)).await.unwrap().unwrap().version, 3);
        assert!(snap(Some(2)).await.unwrap().is_none());
        let saved: Counter =
            serde_json::from_slice(&snap(None).await.unwrap().unwrap().payload).unwrap();
        assert_eq!(saved.total, 21);

        // A custom policy: snapshot after any batch of two events.
        let repo = Repository::<Counter, _>::new(store.clone()).snapshot_policy(
            SnapshotPolicy::custom(|c| c.version - c.previous_version >= 2),
        );
        let s = stream("Counter");
        repo.execute(&s, CounterCommand::add(1)).await.unwrap();
        assert!(
            store
                .load_snapshot(&s, "Counter", 1, None)
                .await
                .unwrap()
                .is_none()
        );
        repo.execute(&s, CounterCommand::add_twice(1))
            .await
            .unwrap();
        let snap = store
            .load_snapshot(&s, "Counter", 1, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(snap.version, 3);
        assert_eq!(snap.aggregate_type, "Counter");
        assert_eq!(snap.schema_version, 1);

        // Snapshots off: nothing saved even with an attribute.
        let repo = Repository::<BankAccount, _>::new(store.clone());
        let s = stream("BankAccount");
        open_account(&repo, &s, 0).await;
        for _ in 0..100 {
            repo.execute(&s, BankAccountCommand::deposit(1))
                .await
                .unwrap();
        }
        assert!(
            store
                .load_snapshot(
                    &s,
                    BankAccount::TYPE_NAME,
                    BankAccount::SCHEMA_VERSION,
                    None
                )
                .await
                .unwrap()
                .is_none()
        );
    }

    pub(super) async fn snapshot_of_another_schema_version_is_ignored<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let v1 =
            Repository::<Counter, _>::new(store.clone()).snapshot_policy(SnapshotPolicy::every(2));
        let s = stream("Counter");
        for n in 1..=5 {
            v1.execute(&s, CounterCommand::add(n)).await.unwrap();
        }
        assert_eq!(v1.load(&s).await.unwrap().snapshot_version, Some(4));
        // The changed aggregate (schema version 2) replays instead.
        let v2 = Repository::<CounterV2, _>::new(store.clone())
            .snapshot_policy(SnapshotPolicy::every(2));
        let loaded = v2.load(&s).await.unwrap();
        assert_eq!(loaded.snapshot_version, None);
        assert_eq!(loaded.events_replayed, 5);
        assert_eq!(loaded.state.sum, 15);
        // ...and its own snapshots are then used by it, not by v1.
        v2.execute(&s, CounterV2Command::add(1)).await.unwrap();
        assert_eq!(v2.load(&s).await.unwrap().snapshot_version, Some(6));
        assert_eq!(v1.load(&s).await.unwrap().snapshot_version, Some(4));
        assert_eq!(v1.load(&s).await.unwrap().state.total, 16);
    }

    pub(super) async fn corrupted_snapshot_falls_back_to_replay<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo =
            Repository::<Counter, _>::new(store.clone()).snapshot_policy(SnapshotPolicy::Never);
        let s = stream("Counter");
        for n in 1..=4 {
            repo.execute(&s, CounterCommand::add(n)).await.unwrap();
        }
        store
            .save_snapshot(Snapshot {
                stream_id: s.clone(),
                aggregate_type: "Counter".into(),
                schema_version: 1,
                version: 3,
                payload: b"{\"total\": \"not a number\"".to_vec(),
                taken_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
        let warnings = RepositoryWarnings::default();
        let guard = tracing::subscriber::set_default(warnings.clone());
        let loaded = repo.load(&s).await.unwrap();
        drop(guard);
        assert_eq!(warnings.0.load(Ordering::SeqCst), 1, "a warning was logged");
        assert_eq!(loaded.snapshot_version, None);
        assert_eq!(loaded.events_replayed, 4);
        assert_eq!(loaded.state.total, 10);
        // Commands still work on top of it.
        let done = repo.execute(&s, CounterCommand::add(5)).await.unwrap();
        assert_eq!(done.state.total, 15);
        // A good snapshot taken now is used again.
        assert_eq!(repo.snapshot_now(&s).await.unwrap(), 5);
        assert_eq!(repo.load(&s).await.unwrap().snapshot_version, Some(5));
    }

    pub(super) async fn idempotent_command_returns_the_original_outcome<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo =
            Repository::<Counter, _>::new(store.clone()).snapshot_policy(SnapshotPolicy::every(10));
        let s = stream("Counter");
        let id = Uuid::now_v7();
        let opts = CommandOptions::new().command_id(id).actor("alice");
        let first = repo
            .execute_with(&s, CounterCommand::add_twice(3), opts.clone())
            .await
            .unwrap();
        assert!(!first.duplicate);
        assert_eq!(first.version, 2);
        let again = repo
            .execute_with(&s, CounterCommand::add_twice(3), opts.clone())
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.version, 2);
        assert_eq!(again.events, first.events);
        assert_eq!(repo.load(&s).await.unwrap().state.total, 6);

        // Still recognized after the stream moved on and a snapshot covers it
        // (found in the window before the snapshot's tail).
        for n in 1..=12 {
            repo.execute(&s, CounterCommand::add(n)).await.unwrap();
        }
        assert_eq!(repo.load(&s).await.unwrap().snapshot_version, Some(10));
        let late = repo
            .execute_with(&s, CounterCommand::add_twice(3), opts.clone())
            .await
            .unwrap();
        assert!(late.duplicate);
        assert_eq!(late.events, first.events);
        assert_eq!(late.version, 2);
        assert_eq!(late.state.total, 6 + 78);
        assert_eq!(repo.load(&s).await.unwrap().version, 14);

        // The documented limit: beyond the window, the command is decided again.
        let narrow = repo.clone().idempotency_window(0);
        let redone = narrow
            .execute_with(&s, CounterCommand::add_twice(3), opts)
            .await
            .unwrap();
        assert!(!redone.duplicate);
        assert_eq!(redone.version, 16);

        // A rejected command leaves no trace: the same id may succeed later.
        let id = Uuid::now_v7();
        let opts = CommandOptions::new().command_id(id);
        assert!(
            repo.execute_with(&s, CounterCommand::add(0), opts.clone())
                .await
                .is_err()
        );
        let ok = repo
            .execute_with(&s, CounterCommand::add(1), opts)
            .await
            .unwrap();
        assert!(!ok.duplicate);
    }

    /// Runs `deposits` (one task each, in order) on a fresh account of
    /// `repo`'s store, on this thread, with every append held at `gate`
    /// until all commands wait: the first takes the turn, the others line
    /// up behind it. `between` runs once all wait (with the tasks' handles),
    /// then the gate opens. Returns each task's answer.
    async fn line_up<S: EventStore + SnapshotStore + Clone>(
        repo: Arc<Repository<BankAccount, Instrumented<S>>>,
        gate: Arc<tokio::sync::Semaphore>,
        s: &StreamId,
        commands: Vec<BankAccountCommand>,
        between: impl AsyncFnOnce(&[tokio::task::JoinHandle<CommandResult>]),
    ) -> Vec<Option<CommandResult>> {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let tasks: Vec<_> = commands
                    .into_iter()
                    .map(|command| {
                        let (repo, s) = (repo.clone(), s.clone());
                        tokio::task::spawn_local(async move { repo.execute(&s, command).await })
                    })
                    .collect();
                // Every task runs until it waits (at the gate or in line).
                for _ in 0..100 {
                    tokio::task::yield_now().await;
                }
                between(&tasks).await;
                gate.add_permits(1_000);
                let mut answers = Vec::new();
                for task in tasks {
                    answers.push(task.await.ok());
                }
                answers
            })
            .await
    }

    type CommandResult =
        Result<eventfold::repository::CommandOutcome<BankAccount>, RepositoryError<AccountError>>;

    /// Commands that queue up on one stream are decided in order and
    /// written in one append (the one that takes the turn runs the line); a
    /// rejected one affects only its caller; each caller gets its own
    /// events and version, and the state after the append.
    pub(super) async fn queued_commands_are_written_together<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        for batch in [128, 1] {
            let gate = Arc::new(tokio::sync::Semaphore::new(1));
            let mut store = Instrumented::new(store.clone());
            store.gate = Some(gate.clone());
            let repo =
                Arc::new(Repository::<BankAccount, _>::new(store.clone()).command_batch(batch));
            let s = stream("BankAccount");
            open_account(&repo, &s, 10).await;
            let mut commands: Vec<_> = (1..=20).map(BankAccountCommand::deposit).collect();
            commands.insert(10, BankAccountCommand::withdraw(1_000_000));
            let answers = line_up(repo.clone(), gate, &s, commands, async |_| {}).await;
            let total = 10 + (1..=20).sum::<u64>();
            let mut versions = Vec::new();
            for (i, answer) in answers.into_iter().enumerate() {
                match answer.expect("the task ran") {
                    Ok(done) => {
                        assert_eq!(done.events.len(), 1);
                        assert_eq!(done.events[0].stream_version, done.version);
                        assert_eq!(done.attempts, 1);
                        if batch > 1 && i > 0 {
                            assert_eq!(done.state.balance, total, "the state after the append");
                        }
                        versions.push(done.version);
                    }
                    Err(RepositoryError::Rejected { .. }) => assert_eq!(i, 10),
                    Err(e) => panic!("command {i}: {e}"),
                }
            }
            assert_eq!(versions, (2..=21).collect::<Vec<_>>());
            assert_eq!(repo.load(&s).await.unwrap().state.balance, total);
            let appends = store.appends.load(Ordering::SeqCst);
            if batch > 1 {
                // Opening, the first deposit, then the line in one append.
                assert_eq!(appends, 3, "the line was written in one append");
            } else {
                assert_eq!(appends, 21, "each command alone");
            }
        }
    }

    /// The caller running the line stops waiting (its future is dropped)
    /// before the line's append: every other caller in line still gets an
    /// answer, each command is written once, and the dropped one not at all.
    pub(super) async fn a_dropped_turn_loses_no_command<S: EventStore + SnapshotStore + Clone>(
        store: S,
    ) {
        let gate = Arc::new(tokio::sync::Semaphore::new(1));
        let mut store = Instrumented::new(store);
        store.gate = Some(gate.clone());
        let repo = Arc::new(Repository::<BankAccount, _>::new(store.clone()).command_batch(128));
        let s = stream("BankAccount");
        open_account(&repo, &s, 0).await;
        let commands: Vec<_> = (1..=10).map(BankAccountCommand::deposit).collect();
        let answers = line_up(repo.clone(), gate.clone(), &s, commands, async |tasks| {
            // The first deposit is written; the second takes the turn, takes
            // the line out and waits at the gate with its append: dropped.
            gate.add_permits(1);
            for _ in 0..10_000 {
                if store.appends.load(Ordering::SeqCst) == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(store.appends.load(Ordering::SeqCst), 2);
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
            tasks[1].abort();
        })
        .await;
        assert!(answers[1].is_none(), "the second task was dropped");
        for (i, answer) in answers.into_iter().enumerate() {
            if i != 1 {
                let done = answer.expect("ran").expect("answered");
                assert!(!done.duplicate);
            }
        }
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!(loaded.state.balance, (1..=10).sum::<u64>() - 2);
        assert_eq!(loaded.version, 1 + 9, "each command written once");
    }

    pub(super) async fn replay_reads_metadata_only_where_apply_may_read_it<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        // What the handlers blocks say (BankAccount's applies read only
        // `ctx.stream_version`).
        const {
            assert!(Audited::APPLY_READS_METADATA);
            assert!(!Counter::APPLY_READS_METADATA);
            assert!(!BankAccount::APPLY_READS_METADATA);
        }

        let s = stream("Audited");
        let repo = Repository::<Audited, _>::new(store.clone());
        for (n, actor) in [(1, "alice"), (2, "bob")] {
            repo.execute_with(
                &s,
                AuditedCommand::add(n),
                CommandOptions::new().actor(actor),
            )
            .await
            .unwrap();
        }
        // Another repository has kept nothing: it replays, metadata and all.
        let loaded = Repository::<Audited, _>::new(store.clone())
            .load(&s)
            .await
            .unwrap();
        assert_eq!(loaded.state.total, 3);
        assert_eq!(loaded.state.actors, ["alice", "bob"]);

        // The built-in stores leave the metadata out when not asked for it.
        let bare = store
            .load_stream(
                &s,
                LoadQuery {
                    metadata: false,
                    ..LoadQuery::all()
                },
            )
            .await
            .unwrap();
        assert_eq!(bare.version, 2);
        assert!(
            bare.events
                .iter()
                .all(|e| e.metadata == Metadata::default())
        );

        // A resent command is still found among the events a load reads
        // (its metadata names the command), with no window before them.
        let c = stream("Counter");
        let id = Uuid::now_v7();
        let opts = CommandOptions::new().command_id(id);
        let first = Repository::<Counter, _>::new(store.clone())
            .execute_with(&c, CounterCommand::add(5), opts.clone())
            .await
            .unwrap();
        let again = Repository::<Counter, _>::new(store.clone())
            .idempotency_window(0)
            .execute_with(&c, CounterCommand::add(5), opts)
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.events, first.events);
        assert_eq!(again.state.total, 5);
    }

    pub(super) async fn retries_under_real_contention<S: EventStore + SnapshotStore + Clone>(
        store: S,
    ) {
        let mut store = Instrumented::new(store);
        store.yield_after_read = true;
        // State cache off: with it, the commands take turns (see below).
        let repo = Arc::new(
            Repository::<BankAccount, _>::with_snapshots(store.clone())
                .state_cache(0)
                .retry(RetryPolicy {
                    max_attempts: 64,
                    max_backoff: Duration::from_millis(1),
                }),
        );
        let s = stream("BankAccount");
        open_account(&repo, &s, 0).await;
        let tasks: Vec<_> = (1..=40u64)
            .map(|amount| {
                let repo = repo.clone();
                let s = s.clone();
                tokio::spawn(async move {
                    (
                        amount,
                        repo.execute(&s, BankAccountCommand::deposit(amount)).await,
                    )
                })
            })
            .collect();
        let mut accepted = 0;
        let mut accepted_count = 0;
        let mut retried = 0;
        for task in tasks {
            let (amount, result) = task.await.unwrap();
            match result {
                Ok(done) => {
                    accepted += amount;
                    accepted_count += 1;
                    if done.attempts > 1 {
                        retried += 1;
                    }
                }
                Err(RepositoryError::Conflict { attempts, .. }) => assert_eq!(attempts, 64),
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert!(retried > 0, "the tasks did contend");
        assert!(accepted_count > 0);
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!(loaded.state.balance, accepted);
        assert_eq!(loaded.version, 1 + accepted_count);
    }

    /// With the state cache (the default), the commands one repository
    /// runs on one stream take turns: 40 concurrent tasks, no conflict, no
    /// retry, nothing read (each starts from the state the one before it
    /// left), and every deposit lands. The tasks run on this test's thread
    /// (a `LocalSet`), so each caller has dropped its outcome (which shares
    /// the state) before the next command takes its turn: on other threads
    /// a caller still holding it makes the next command reload.
    pub(super) async fn one_repository_takes_turns_on_a_stream<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let store = Instrumented::new(store);
        let repo = Arc::new(Repository::<BankAccount, _>::with_snapshots(store.clone()));
        let s = stream("BankAccount");
        open_account(&repo, &s, 0).await;
        store.take_read();
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let tasks: Vec<_> = (1..=40u64)
                    .map(|amount| {
                        let repo = repo.clone();
                        let s = s.clone();
                        tokio::task::spawn_local(async move {
                            let done = repo
                                .execute(&s, BankAccountCommand::deposit(amount))
                                .await
                                .unwrap();
                            done.attempts
                        })
                    })
                    .collect();
                for task in tasks {
                    assert_eq!(task.await.unwrap(), 1, "no command conflicted");
                }
            })
            .await;
        assert_eq!(
            store.take_read(),
            0,
            "every command started from the kept state"
        );
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!(loaded.state.balance, (1..=40).sum::<u64>());
        assert_eq!(loaded.version, 41);
    }

    /// Many tasks race on one stream with a snapshot after every event:
    /// loads read snapshot, events and version as of one moment, so a
    /// racing append never reads as missing history. Every command
    /// succeeds (conflicts are retried), none fails for another reason.
    /// (State cache off: with it, one repository's commands on a stream
    /// take turns and do not race.)
    pub(super) async fn snapshot_after_every_event_under_contention<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        const TASKS: u64 = 16;
        const COMMANDS: u64 = 50;
        let repo = Arc::new(
            Repository::<Counter, _>::new(store)
                .state_cache(0)
                .snapshot_policy(SnapshotPolicy::every(1))
                .retry(RetryPolicy {
                    max_attempts: 100_000,
                    max_backoff: Duration::from_millis(1),
                }),
        );
        let s = stream("Counter");
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let repo = repo.clone();
                let s = s.clone();
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    for _ in 0..COMMANDS {
                        if let Err(e) = repo.execute(&s, CounterCommand::add(1)).await {
                            failures.push(e.to_string());
                        }
                    }
                    failures
                })
            })
            .collect();
        let mut failures = Vec::new();
        for task in tasks {
            failures.extend(task.await.unwrap());
        }
        assert!(
            failures.is_empty(),
            "{} of {} commands failed, first: {:?}",
            failures.len(),
            TASKS * COMMANDS,
            failures.first()
        );
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!(loaded.state.total, TASKS * COMMANDS);
        assert_eq!(loaded.version, TASKS * COMMANDS);
        assert_eq!(loaded.snapshot_version, Some(TASKS * COMMANDS));
    }

    /// Two repositories (two processes, each with its state cache) write
    /// one stream in turns: every command starts from a kept state that the
    /// other one has made stale; the append conflicts and the command
    /// reloads, so nothing is lost. A rejection decided on a stale state is
    /// checked against the store first: the withdrawal the other process's
    /// deposit made possible is accepted, not refused.
    pub(super) async fn kept_states_of_other_processes_are_never_trusted<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let one = Repository::<BankAccount, _>::new(store.clone());
        let two = Repository::<BankAccount, _>::new(store.clone());
        let s = stream("BankAccount");
        open_account(&one, &s, 0).await;
        two.execute(&s, BankAccountCommand::deposit(1))
            .await
            .unwrap();
        for round in 0..5 {
            let a = one
                .execute(&s, BankAccountCommand::deposit(10))
                .await
                .unwrap();
            let b = two
                .execute(&s, BankAccountCommand::deposit(100))
                .await
                .unwrap();
            assert_eq!(b.version, a.version + 1, "round {round}");
            assert_eq!(b.state.balance, a.state.balance + 100, "round {round}");
        }
        assert_eq!((one.cached_states(), two.cached_states()), (1, 1));
        // `one` keeps a balance of 451 (`two` has 551); `two` deposits 1,000.
        two.execute(&s, BankAccountCommand::deposit(1_000))
            .await
            .unwrap();
        let w = one
            .execute(&s, BankAccountCommand::withdraw(1_500))
            .await
            .expect("decided again on the current state, not the kept one");
        assert_eq!(w.state.balance, 51);
        // A rejection that holds on the current state is still one, and
        // the kept state stays usable.
        two.execute(&s, BankAccountCommand::deposit(1))
            .await
            .unwrap();
        let err = one
            .execute(&s, BankAccountCommand::withdraw(53))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.rejection(),
                Some(AccountError::InsufficientFunds {
                    balance: 52,
                    requested: 53
                })
            ),
            "{err:?}"
        );
        assert_eq!(one.cached_states(), 1);
        let loaded = one.load(&s).await.unwrap();
        assert_eq!((loaded.state.balance, loaded.version), (52, 15));
    }

    /// A caller that keeps an outcome's state shares it with the cache:
    /// the next command loads instead of mutating what the caller holds.
    pub(super) async fn a_state_the_caller_holds_is_not_mutated<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo = Repository::<Counter, _>::new(store);
        let s = stream("Counter");
        let first = repo.execute(&s, CounterCommand::add(1)).await.unwrap();
        let second = repo.execute(&s, CounterCommand::add(2)).await.unwrap();
        assert_eq!((first.state.total, second.state.total), (1, 3));
        drop(first);
        let third = repo.execute(&s, CounterCommand::add(3)).await.unwrap();
        assert_eq!((second.state.total, third.state.total), (3, 6));
        assert_eq!(third.version, 3);
    }

    /// Many repositories (processes), each with many tasks, race on one
    /// stream with a snapshot after every event: kept states go stale all
    /// the time, and every command still lands exactly once.
    pub(super) async fn kept_states_under_contention_from_many_repositories<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        const REPOSITORIES: u64 = 4;
        const TASKS: u64 = 4;
        const COMMANDS: u64 = 25;
        let s = stream("Counter");
        let mut tasks = Vec::new();
        for _ in 0..REPOSITORIES {
            let repo = Arc::new(
                Repository::<Counter, _>::new(store.clone())
                    .snapshot_policy(SnapshotPolicy::every(1))
                    .retry(RetryPolicy {
                        max_attempts: 100_000,
                        max_backoff: Duration::from_millis(1),
                    }),
            );
            for _ in 0..TASKS {
                let repo = repo.clone();
                let s = s.clone();
                tasks.push(tokio::spawn(async move {
                    let mut failures = Vec::new();
                    for _ in 0..COMMANDS {
                        match repo.execute(&s, CounterCommand::add(1)).await {
                            Ok(done) => drop(done),
                            Err(e) => failures.push(e.to_string()),
                        }
                    }
                    failures
                }));
            }
        }
        let mut failures = Vec::new();
        for task in tasks {
            failures.extend(task.await.unwrap());
        }
        assert!(failures.is_empty(), "{failures:?}");
        let n = REPOSITORIES * TASKS * COMMANDS;
        let loaded = Repository::<Counter, _>::new(store).load(&s).await.unwrap();
        assert_eq!((loaded.state.total, loaded.version), (n, n));
    }

    /// The same race through a store that only has the trait's default
    /// `load_stream` (and yields after every read, widening the windows).
    pub(super) async fn default_load_under_contention<S: EventStore + SnapshotStore + Clone>(
        store: S,
    ) {
        let mut store = Instrumented::new(store);
        store.yield_after_read = true;
        snapshot_after_every_event_under_contention(store).await;
    }

    pub(super) async fn conflict_after_retries_names_stream_and_attempts<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let mut store = Instrumented::new(store);
        store.interfere = true;
        let repo = Repository::<Counter, _>::new(store.clone()).retry(RetryPolicy {
            max_attempts: 3,
            max_backoff: Duration::ZERO,
        });
        let s = stream("Counter");
        let err = repo.execute(&s, CounterCommand::add(1)).await.unwrap_err();
        let RepositoryError::Conflict {
            stream, attempts, ..
        } = &err
        else {
            panic!("expected a conflict, got {err:?}");
        };
        assert_eq!(stream, &s);
        assert_eq!(*attempts, 3);
        assert!(
            err.to_string().contains(s.as_str()) && err.to_string().contains('3'),
            "{err}"
        );
        // The foreign writer's three events are all there is.
        let loaded = Repository::<Counter, _>::new(store.inner.clone())
            .load(&s)
            .await
            .unwrap();
        assert_eq!(loaded.state.total, 3000);
    }

    /// `expected_version` on the version the stream is at: decided and
    /// appended as any command, from a fresh load and from a kept state,
    /// with the cache on and off.
    pub(super) async fn expected_version_that_matches_appends<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        for cache in [0, 16] {
            let repo = Repository::<Counter, _>::new(store.clone()).state_cache(cache);
            let s = stream("Counter");
            let at = |v| CommandOptions::new().expected_version(v);
            let first = repo
                .execute_with(&s, CounterCommand::add(1), at(0))
                .await
                .unwrap();
            assert_eq!((first.version, first.attempts), (1, 1), "cache {cache}");
            drop(first);
            let second = repo
                .execute_with(&s, CounterCommand::add_twice(2), at(1))
                .await
                .unwrap();
            assert_eq!(second.version, 3, "cache {cache}");
            assert_eq!(second.state.total, 5);
            let versions: Vec<u64> = second.events.iter().map(|e| e.stream_version).collect();
            assert_eq!(versions, [2, 3]);
            drop(second);
            // A rejection under an expected version is still a rejection.
            let err = repo
                .execute_with(&s, CounterCommand::add(0), at(3))
                .await
                .unwrap_err();
            assert_eq!(err.rejection(), Some(&CounterError::Zero), "{err:?}");
            let stored = store.read_stream(&s, ReadStream::all()).await.unwrap();
            assert_eq!(stored.len(), 3, "cache {cache}");
        }
    }

    /// `expected_version` on another version: a typed error naming both
    /// versions, nothing appended, and no retry, whether the version is
    /// known before deciding or only from the append's conflict.
    pub(super) async fn expected_version_that_is_stale_appends_nothing<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo = Repository::<Counter, _>::new(store.clone());
        let s = stream("Counter");
        repo.execute(&s, CounterCommand::add(1)).await.unwrap();
        repo.execute(&s, CounterCommand::add(1)).await.unwrap();
        // From the kept state (current), and from a load.
        let uncached = repo.clone().state_cache(0);
        for (expected, repo) in [(1, &repo), (0, &repo), (7, &repo), (1, &uncached)] {
            let err = repo
                .execute_with(
                    &s,
                    CounterCommand::add(5),
                    CommandOptions::new().expected_version(expected),
                )
                .await
                .unwrap_err();
            match &err {
                RepositoryError::VersionMismatch {
                    stream,
                    expected: e,
                    actual,
                } => {
                    assert_eq!((stream, *e, *actual), (&s, expected, 2), "{err}");
                }
                other => panic!("expected a version mismatch, got {other:?}"),
            }
            let text = err.to_string();
            assert!(
                text.contains(s.as_str()) && text.contains(&expected.to_string()),
                "{text}"
            );
            assert!(!err.is_conflict());
        }
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!((loaded.version, loaded.state.total), (2, 2));

        // Another writer appends between the decision and the append: the
        // conflict is answered with the stream's version, not retried.
        let mut interfering = Instrumented::new(store.clone());
        interfering.interfere = true;
        let racing = Repository::<Counter, _>::new(interfering.clone());
        let err = racing
            .execute_with(
                &s,
                CounterCommand::add(5),
                CommandOptions::new().expected_version(2),
            )
            .await
            .unwrap_err();
        assert_eq!(err.version_mismatch(), Some((2, 3)), "{err:?}");
        // The load read two events; the conflict was answered from the
        // stream's version, without a reload.
        assert_eq!(interfering.take_read(), 2);
        // Only the foreign event was written.
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!((loaded.version, loaded.state.total), (3, 1002));
    }

    /// A kept state is a starting point, never the answer: when another
    /// repository (process) wrote the stream, the version is checked in the
    /// store. A kept state at the expected version that is behind the store
    /// is refused (not appended over), a kept state behind the store that
    /// is at the expected version is reloaded and decided, and the version
    /// a refusal names is the store's.
    pub(super) async fn expected_version_never_trusts_a_kept_state<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let one = Repository::<Counter, _>::new(store.clone());
        let two = Repository::<Counter, _>::new(store.clone());
        let s = stream("Counter");
        let at = |v| CommandOptions::new().expected_version(v);
        one.execute(&s, CounterCommand::add(1)).await.unwrap();
        assert_eq!(one.cached_states(), 1);
        two.execute(&s, CounterCommand::add(10)).await.unwrap();
        // `one` keeps version 1; the stream is at 2.
        let err = one
            .execute_with(&s, CounterCommand::add(100), at(1))
            .await
            .unwrap_err();
        assert_eq!(err.version_mismatch(), Some((1, 2)), "{err:?}");
        assert_eq!(
            store
                .read_stream(&s, ReadStream::all())
                .await
                .unwrap()
                .len(),
            2
        );
        // The caller saw version 2 (written by `two`): decided on it.
        let done = one
            .execute_with(&s, CounterCommand::add(100), at(2))
            .await
            .unwrap();
        assert_eq!((done.version, done.state.total), (3, 111));
        drop(done);
        // `one` keeps version 3; `two` moves the stream to 4.
        two.execute(&s, CounterCommand::add(1_000)).await.unwrap();
        let done = one
            .execute_with(&s, CounterCommand::add(10_000), at(4))
            .await
            .expect("the kept state is behind, the stream at the expected version");
        assert_eq!((done.version, done.state.total), (5, 11_111));
        drop(done);
        // `one` keeps 5, the stream is at 6: a stale version is answered
        // with the store's version, not the kept one.
        two.execute(&s, CounterCommand::add(1)).await.unwrap();
        let err = one
            .execute_with(&s, CounterCommand::add(1), at(3))
            .await
            .unwrap_err();
        assert_eq!(err.version_mismatch(), Some((3, 6)), "{err:?}");
        let loaded = one.load(&s).await.unwrap();
        assert_eq!((loaded.version, loaded.state.total), (6, 11_112));
    }

    /// A resend of a command already processed returns its original outcome
    /// under an expected version too, even once the stream has moved past
    /// it; a new command with the stale version is refused.
    pub(super) async fn expected_version_resend_is_idempotent<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        for cache in [0, 16] {
            let repo = Repository::<Counter, _>::new(store.clone()).state_cache(cache);
            let s = stream("Counter");
            let opts = CommandOptions::new()
                .command_id(Uuid::now_v7())
                .expected_version(0);
            let first = repo
                .execute_with(&s, CounterCommand::add_twice(3), opts.clone())
                .await
                .unwrap();
            assert_eq!(first.version, 2);
            let first_events = first.events.clone();
            drop(first);
            // Right away, and after the stream moved on.
            for _ in 0..2 {
                let again = repo
                    .execute_with(&s, CounterCommand::add_twice(3), opts.clone())
                    .await
                    .unwrap();
                assert!(again.duplicate, "cache {cache}");
                assert_eq!(again.version, 2);
                assert_eq!(again.events, first_events);
                drop(again);
                repo.execute(&s, CounterCommand::add(1)).await.unwrap();
            }
            let err = repo
                .execute_with(
                    &s,
                    CounterCommand::add_twice(3),
                    CommandOptions::new()
                        .command_id(Uuid::now_v7())
                        .expected_version(0),
                )
                .await
                .unwrap_err();
            assert_eq!(err.version_mismatch(), Some((0, 4)), "{err:?}");
            let loaded = repo.load(&s).await.unwrap();
            assert_eq!(
                (loaded.version, loaded.state.total),
                (4, 8),
                "cache {cache}"
            );
        }
    }

    /// With the state kept, a command under an expected version reads no
    /// event: neither when it is decided nor when it is refused (the
    /// stream's version is asked, no events read). Without the cache, it
    /// loads.
    pub(super) async fn expected_version_decides_on_the_kept_state<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let store = Instrumented::new(store);
        let repo = Repository::<Counter, _>::new(store.clone());
        let s = stream("Counter");
        let at = |v| CommandOptions::new().expected_version(v);
        repo.execute(&s, CounterCommand::add(1)).await.unwrap();
        repo.execute(&s, CounterCommand::add(1)).await.unwrap();
        store.take_read();
        for v in 2..5 {
            let done = repo
                .execute_with(&s, CounterCommand::add(1), at(v))
                .await
                .unwrap();
            assert_eq!(done.version, v + 1);
        }
        assert_eq!(store.take_read(), 0, "decided on the kept state");
        let err = repo
            .execute_with(&s, CounterCommand::add(1), at(2))
            .await
            .unwrap_err();
        assert_eq!(
            err.version_mismatch().map(|(_, actual)| actual),
            Some(5),
            "{err:?}"
        );
        let done = repo
            .execute_with(&s, CounterCommand::add(1), at(5))
            .await
            .unwrap();
        assert_eq!(done.version, 6);
        drop(done);
        assert_eq!(store.take_read(), 0, "a refusal keeps the current state");
        // The counter counts: without the cache, the same command loads.
        let uncached = repo.clone().state_cache(0);
        uncached
            .execute_with(&s, CounterCommand::add(1), at(6))
            .await
            .unwrap();
        assert_eq!(store.take_read(), 6);
    }

    pub(super) async fn temporal_queries<S: EventStore + SnapshotStore + Clone>(store: S) {
        let repo =
            Repository::<Counter, _>::new(store.clone()).snapshot_policy(SnapshotPolicy::every(2));
        let s = stream("Counter");
        let mut times = Vec::new();
        for n in 1..=5 {
            let done = repo
                .execute_with(
                    &s,
                    CounterCommand::add(n),
                    CommandOptions::new().actor(format!("user{n}")),
                )
                .await
                .unwrap();
            times.push(done.events[0].recorded_at);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // State at a version (from a snapshot at or below it).
        let at3 = repo.load_at(&s, 3).await.unwrap();
        assert_eq!((at3.state.total, at3.version), (6, 3));
        assert_eq!(at3.snapshot_version, Some(2));
        let at4 = repo.load_at(&s, 4).await.unwrap();
        assert_eq!((at4.state.total, at4.snapshot_version), (10, Some(4)));
        assert_eq!(repo.load_at(&s, 0).await.unwrap().state, Counter::default());
        let err = repo.load_at(&s, 6).await.unwrap_err();
        assert!(
            matches!(
                err,
                RepositoryError::VersionNotFound {
                    requested: 6,
                    current: 5,
                    ..
                }
            ),
            "{err:?}"
        );

        // State as of a time.
        let before_all = times[0] - chrono::Duration::seconds(1);
        assert_eq!(repo.load_as_of(&s, before_all).await.unwrap().version, 0);
        for (i, t) in times.iter().enumerate() {
            let at = repo.load_as_of(&s, *t).await.unwrap();
            assert_eq!(at.version, i as u64 + 1, "as of event {}", i + 1);
            let between = *t + chrono::Duration::milliseconds(2);
            let at = repo.load_as_of(&s, between).await.unwrap();
            assert_eq!(at.version, i as u64 + 1);
            assert_eq!(at.state.total, (1..=i as u64 + 1).sum::<u64>());
        }

        // The audit trail.
        let trail = repo.events_between(&s, 2, 4).await.unwrap();
        assert_eq!(
            trail.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(trail[0].event, CounterEvent::Added(Added { n: 2 }));
        assert_eq!(trail[2].metadata.actor.as_deref(), Some("user4"));
        assert_eq!(trail[1].recorded_at, times[2]);
        assert!(repo.events_between(&s, 4, 2).await.unwrap().is_empty());
        assert_eq!(repo.events_between(&s, 4, 99).await.unwrap().len(), 2);
    }

    pub(super) async fn keeps_the_last_k_snapshots<S: EventStore + SnapshotStore + Clone>(
        store: S,
    ) {
        let repo = Repository::<Counter, _>::new(store.clone())
            .snapshot_policy(SnapshotPolicy::every(2))
            .keep_snapshots(2);
        let s = stream("Counter");
        for n in 1..=8 {
            repo.execute(&s, CounterCommand::add(n)).await.unwrap();
        }
        let snap = |max| store.load_snapshot(&s, "Counter", 1, max);
        assert_eq!(snap(None).await.unwrap().unwrap().version, 8);
        assert_eq!(snap(Some(7)).await.unwrap().unwrap().version, 6);
        assert!(
            snap(Some(5)).await.unwrap().is_none(),
            "2 and 4 were pruned"
        );
        // State at an old version replays from the start instead.
        let at3 = repo.load_at(&s, 3).await.unwrap();
        assert_eq!((at3.state.total, at3.snapshot_version), (6, None));
    }

    pub(super) async fn archiving_is_opt_in_and_needs_a_snapshot<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo =
            Repository::<Counter, _>::new(store.clone()).snapshot_policy(SnapshotPolicy::every(4));
        let s = stream("Counter");
        for n in 1..=6 {
            repo.execute(&s, CounterCommand::add(n)).await.unwrap();
        }
        // Nothing is archived by itself.
        assert_eq!(
            store
                .read_stream(&s, ReadStream::all())
                .await
                .unwrap()
                .len(),
            6
        );
        // Without snapshots there is nothing to archive against.
        let plain = Repository::<Counter, _>::new(store.clone());
        let err = plain.archive_before_snapshot(&s).await.unwrap_err();
        assert!(matches!(err, RepositoryError::NoSnapshot { .. }), "{err:?}");

        // Every built-in store archives (the trait's default is `Unsupported`).
        match repo.archive_before_snapshot(&s).await {
            Ok(deleted) => assert_eq!(deleted, 4),
            Err(other) => panic!("archive failed: {other}"),
        }
        let left = store.read_stream(&s, ReadStream::all()).await.unwrap();
        assert_eq!(
            left.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
            vec![5, 6]
        );
        // Loads from the snapshot still work, and so do commands.
        let loaded = repo.load(&s).await.unwrap();
        assert_eq!((loaded.state.total, loaded.version), (21, 6));
        let done = repo.execute(&s, CounterCommand::add(1)).await.unwrap();
        assert_eq!((done.state.total, done.version), (22, 7));
        // The danger: without a usable snapshot, loads fail loudly.
        let err = plain.load(&s).await.unwrap_err();
        assert!(
            matches!(
                err,
                RepositoryError::HistoryMissing {
                    expected: 1,
                    found: 5,
                    ..
                }
            ),
            "{err:?}"
        );
        let v2 =
            Repository::<CounterV2, _>::new(store.clone()).snapshot_policy(SnapshotPolicy::Never);
        assert!(matches!(
            v2.load(&s).await,
            Err(RepositoryError::HistoryMissing { .. })
        ));
        assert!(matches!(
            repo.load_at(&s, 2).await,
            Err(RepositoryError::HistoryMissing { .. })
        ));
    }

    pub(super) async fn hard_deleted_stream_is_history_missing<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo = Repository::<Counter, _>::new(store.clone());
        let s = stream("Counter");
        repo.execute(&s, CounterCommand::add(1)).await.unwrap();
        repo.execute(&s, CounterCommand::add(2)).await.unwrap();
        repo.delete_stream(&s, DeleteMode::Hard).await.unwrap();
        assert_eq!(repo.cached_states(), 0);
        let err = repo.load(&s).await.unwrap_err();
        assert!(
            matches!(
                err,
                RepositoryError::HistoryMissing {
                    expected: 1,
                    found: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = repo.execute(&s, CounterCommand::add(3)).await.unwrap_err();
        assert!(
            matches!(err, RepositoryError::HistoryMissing { .. }),
            "{err:?}"
        );
        // Deleted around the repository: `forget` drops the kept state.
        let u = stream("Counter");
        repo.execute(&u, CounterCommand::add(1)).await.unwrap();
        store.delete_stream(&u, DeleteMode::Hard).await.unwrap();
        repo.forget(&u);
        let err = repo.execute(&u, CounterCommand::add(3)).await.unwrap_err();
        assert!(
            matches!(err, RepositoryError::HistoryMissing { .. }),
            "{err:?}"
        );
        // A stream never written is simply new.
        let fresh = repo.load(&stream("Counter")).await.unwrap();
        assert_eq!((fresh.version, fresh.state.total), (0, 0));
        // Tombstoned streams report the deletion.
        let t = stream("Counter");
        repo.execute(&t, CounterCommand::add(1)).await.unwrap();
        store
            .delete_stream(&t, DeleteMode::Tombstone)
            .await
            .unwrap();
        let err = repo.execute(&t, CounterCommand::add(1)).await.unwrap_err();
        assert!(
            matches!(
                err,
                RepositoryError::Store(StoreError::StreamDeleted { .. })
            ),
            "{err:?}"
        );
    }

    pub(super) async fn aggregates_without_serde_work_without_snapshots<
        S: EventStore + SnapshotStore + Clone,
    >(
        store: S,
    ) {
        let repo = Repository::<Plain, _>::new(store);
        assert!(!repo.snapshots_enabled());
        let s = repo.stream_id(Uuid::now_v7()).unwrap();
        assert!(s.as_str().starts_with("Plain-"));
        repo.execute(&s, PlainCommand::add(2)).await.unwrap();
        repo.execute(&s, PlainCommand::add(3)).await.unwrap();
        assert_eq!(repo.load(&s).await.unwrap().state.total, 5);
        assert_eq!(repo.load_at(&s, 1).await.unwrap().state.total, 2);
    }
}

/// Instantiates every scenario for one store. `$make` evaluates to anything
/// that is a conformance [`IntoFixture`] (a store, a fixture, or an `Option`
/// of one: `None` skips, the store is unavailable); the fixture (temporary
/// files, schemas) lives until the scenario ends.
macro_rules! suite {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            suite!(@tests $make;
                decides_appends_and_returns_envelopes,
                metadata_flows_through,
                rejection_is_typed_and_appends_nothing,
                undecodable_event_is_a_typed_error,
                snapshotted_load_reads_only_the_tail,
                snapshot_policy_every_n_and_custom,
                snapshot_of_another_schema_version_is_ignored,
                corrupted_snapshot_falls_back_to_replay,
                idempotent_command_returns_the_original_outcome,
                replay_reads_metadata_only_where_apply_may_read_it,
                queued_commands_are_written_together,
                a_dropped_turn_loses_no_command,
                conflict_after_retries_names_stream_and_attempts,
                expected_version_that_matches_appends,
                expected_version_that_is_stale_appends_nothing,
                expected_version_never_trusts_a_kept_state,
                expected_version_resend_is_idempotent,
                expected_version_decides_on_the_kept_state,
                temporal_queries,
                keeps_the_last_k_snapshots,
                archiving_is_opt_in_and_needs_a_snapshot,
                aggregates_without_serde_work_without_snapshots,
                hard_deleted_stream_is_history_missing,
                kept_states_of_other_processes_are_never_trusted,
                a_state_the_caller_holds_is_not_mutated,
            );

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn one_repository_takes_turns_on_a_stream() {
                if let Some(fixture) = IntoFixture::into_fixture($make) {
                    let store = (*fixture.store()).clone();
                    super::scenarios::one_repository_takes_turns_on_a_stream(store).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn snapshot_after_every_event_under_contention() {
                if let Some(fixture) = IntoFixture::into_fixture($make) {
                    let store = (*fixture.store()).clone();
                    super::scenarios::snapshot_after_every_event_under_contention(store).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn kept_states_under_contention_from_many_repositories() {
                if let Some(fixture) = IntoFixture::into_fixture($make) {
                    let store = (*fixture.store()).clone();
                    super::scenarios::kept_states_under_contention_from_many_repositories(store)
                        .await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn default_load_under_contention() {
                if let Some(fixture) = IntoFixture::into_fixture($make) {
                    let store = (*fixture.store()).clone();
                    super::scenarios::default_load_under_contention(store).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn retries_under_real_contention() {
                if let Some(fixture) = IntoFixture::into_fixture($make) {
                    let store = (*fixture.store()).clone();
                    super::scenarios::retries_under_real_contention(store).await;
                }
            }
        }
    };
    (@tests $make:expr; $($test:ident,)+) => {
        $(
            #[tokio::test]
            async fn $test() {
                if let Some(fixture) = IntoFixture::into_fixture($make) {
                    let store = (*fixture.store()).clone();
                    super::scenarios::$test(store).await;
                }
            }
        )+
    };
}

suite!(memory, MemoryStore::new());
suite!(
    sqlite,
    eventfold::store::conformance::sqlite_fixture().await
);
suite!(
    postgres,
    eventfold::store::conformance::postgres_fixture().await
);
