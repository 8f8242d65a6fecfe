//! The entity runtime through the public API: commands in order, the state
//! kept between commands (loads counted through `FaultyStore`), recovery on
//! start, passivation when idle, other writers, rejections, panics.

use std::time::Duration;

use eventfold::entity::{Entities, EntityError, EntityOptions};
use eventfold::prelude::*;
use eventfold::repository::{CommandOptions, Repository, RepositoryError};
use eventfold::store::FaultyStore;
use eventfold_suite::bank::{AccountError, BankAccount, BankAccountCommand, Status};

type Store = FaultyStore<MemoryStore>;

fn store() -> Store {
    FaultyStore::new(MemoryStore::new())
}

fn entities(store: &Store, idle_timeout: Duration) -> Entities<BankAccount, Store> {
    Entities::with_options(
        Repository::new(store.clone()),
        EntityOptions {
            idle_timeout,
            ..EntityOptions::default()
        },
    )
}

/// `(expected, actual)` of an entity's version mismatch.
fn mismatch<E>(err: &EntityError<E>) -> Option<(u64, u64)> {
    match err {
        EntityError::Repository(e) => e.version_mismatch(),
        _ => None,
    }
}

fn account(n: u32) -> StreamId {
    StreamId::new(format!("BankAccount-{n}")).unwrap()
}

const LONG: Duration = Duration::from_secs(3600);

/// Entities on `store` with `idle_timeout`, and account 1 opened with a
/// balance of 10 through them.
async fn opened(store: &Store, idle_timeout: Duration) -> (Entities<BankAccount, Store>, StreamId) {
    let entities = entities(store, idle_timeout);
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 10))
        .await
        .unwrap();
    (entities, a)
}

/// Polls `future` once, letting no other task run.
fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_to_one_entity_run_in_order_without_conflicts() {
    let store = store();
    let entities = entities(&store, LONG);
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 0))
        .await
        .unwrap();
    let tasks: Vec<_> = (1..=50u64)
        .map(|amount| {
            let (entities, a) = (entities.clone(), a.clone());
            tokio::spawn(async move {
                entities
                    .execute(&a, BankAccountCommand::deposit(amount))
                    .await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        let done = t.await.unwrap().unwrap();
        assert_eq!(done.attempts, 1, "commands to one entity never conflict");
        assert_eq!(done.events.len(), 1);
        versions.push(done.version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=51).collect::<Vec<_>>());
    let (balance, version) = entities
        .read(&a, |account, version| (account.balance, version))
        .await
        .unwrap();
    assert_eq!((balance, version), ((1..=50).sum::<u64>(), 51));
    assert_eq!(entities.live(), 1);
}

// Many callers in a closed loop on a few entities, with a snapshot after
// every event: commands run in place and through the mailbox (in batches)
// by turns, and none is lost, doubled or reordered within its caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_in_place_and_queued_lose_nothing() {
    use eventfold::snapshot::SnapshotPolicy;

    const ACCOUNTS: u32 = 4;
    const CALLERS: u64 = 64;
    const COMMANDS: u64 = 25;
    let store = store();
    let entities = Entities::with_options(
        Repository::<BankAccount, _>::with_snapshots(store.clone())
            .snapshot_policy(SnapshotPolicy::every(1)),
        EntityOptions {
            idle_timeout: LONG,
            ..EntityOptions::default()
        },
    );
    for n in 0..ACCOUNTS {
        entities
            .execute(&account(n), BankAccountCommand::open("Alice".into(), 0))
            .await
            .unwrap();
    }
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let entities = entities.clone();
            tokio::spawn(async move {
                let a = account((caller % u64::from(ACCOUNTS)) as u32);
                let mut versions = Vec::new();
                for _ in 0..COMMANDS {
                    let done = entities
                        .execute(&a, BankAccountCommand::deposit(caller + 1))
                        .await
                        .unwrap();
                    assert_eq!(done.events.len(), 1);
                    versions.push(done.version);
                }
                (a, versions)
            })
        })
        .collect();
    let mut all: std::collections::HashMap<StreamId, Vec<u64>> = Default::default();
    for caller in callers {
        let (a, versions) = caller.await.unwrap();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "one caller's commands in order: {versions:?}"
        );
        all.entry(a).or_default().extend(versions);
    }
    let per_account = CALLERS / u64::from(ACCOUNTS) * COMMANDS;
    for n in 0..ACCOUNTS {
        let a = account(n);
        let mut versions = all.remove(&a).unwrap();
        versions.sort_unstable();
        assert_eq!(versions, (2..=per_account + 1).collect::<Vec<_>>(), "{a}");
        let expected: u64 = (0..CALLERS)
            .filter(|c| c % u64::from(ACCOUNTS) == u64::from(n))
            .map(|c| (c + 1) * COMMANDS)
            .sum();
        let (balance, version) = entities.read(&a, |acc, v| (acc.balance, v)).await.unwrap();
        assert_eq!((balance, version), (expected, per_account + 1), "{a}");
        // What the store holds replays to the same state.
        let stored = Repository::<BankAccount, _>::new(store.clone())
            .load(&a)
            .await
            .unwrap();
        assert_eq!(
            (stored.state.balance, stored.version),
            (expected, per_account + 1)
        );
    }
}

#[tokio::test]
async fn the_state_is_kept_between_commands() {
    let store = store();
    let (entities, a) = opened(&store, LONG).await;
    for _ in 0..10 {
        entities
            .execute(&a, BankAccountCommand::deposit(1))
            .await
            .unwrap();
    }
    // Nothing is read: the append's answer carries the versions, positions
    // and record time of the events; the stream is never loaded again.
    assert_eq!(store.events_read(), 0);

    // The same commands through a repository keep the state too (its state
    // cache): nothing is read either.
    let repository = Repository::<BankAccount, _>::new(store.clone());
    let b = account(2);
    repository
        .execute(&b, BankAccountCommand::open("Bob".into(), 10))
        .await
        .unwrap();
    for _ in 0..10 {
        repository
            .execute(&b, BankAccountCommand::deposit(1))
            .await
            .unwrap();
    }
    assert_eq!(store.events_read(), 0);
    assert_eq!(repository.cached_states(), 1);

    // Without the cache, the repository loads the stream for every command.
    let uncached = Repository::<BankAccount, _>::new(store.clone()).state_cache(0);
    let c = account(3);
    uncached
        .execute(&c, BankAccountCommand::open("Carol".into(), 10))
        .await
        .unwrap();
    for _ in 0..10 {
        uncached
            .execute(&c, BankAccountCommand::deposit(1))
            .await
            .unwrap();
    }
    assert_eq!(store.events_read(), (0..=10).sum::<u64>());
    assert_eq!(uncached.cached_states(), 0);
}

#[tokio::test(start_paused = true)]
async fn idle_entities_passivate_and_recover_from_the_store() {
    let store = store();
    let (entities, a) = opened(&store, Duration::from_secs(60)).await;
    entities
        .execute(&a, BankAccountCommand::deposit(5))
        .await
        .unwrap();
    assert!(entities.is_live(&a));

    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(entities.is_live(&a), "not idle long enough yet");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!entities.is_live(&a), "passivated after the idle timeout");
    assert_eq!(entities.live(), 0);

    let before = store.events_read();
    let done = entities
        .execute(&a, BankAccountCommand::withdraw(15))
        .await
        .unwrap();
    assert_eq!(done.version, 3);
    // Recovery read the two stored events; the command read nothing back.
    assert_eq!(store.events_read() - before, 2);
    let account = entities.read(&a, |acc, _| acc.clone()).await.unwrap();
    assert_eq!((account.balance, account.version), (0, 3));
}

// A lone caller runs its command in the entity's place: no mailbox, no task
// switch. It never overtakes a message sent before it, and it keeps the
// entity from passivating.

#[tokio::test]
async fn a_lone_callers_command_runs_in_the_entitys_place() {
    use std::task::Poll;

    let store = store();
    let entities = entities(&store, LONG);
    let a = account(1);
    // Polled once, with no other task let run: done, first command (which
    // starts the entity and recovers it) and later ones alike.
    for command in [
        BankAccountCommand::open("Alice".into(), 10),
        BankAccountCommand::deposit(5),
        BankAccountCommand::withdraw(3),
    ] {
        let mut execute = std::pin::pin!(entities.execute(&a, command));
        let polled = poll_once(execute.as_mut());
        assert!(matches!(polled, Poll::Ready(Ok(_))), "{polled:?}");
    }
    // A rejection in place leaves the state as it was.
    let mut rejected = std::pin::pin!(entities.execute(&a, BankAccountCommand::withdraw(100)));
    let polled = poll_once(rejected.as_mut());
    assert!(matches!(polled, Poll::Ready(Err(_))), "{polled:?}");
    let (balance, version) = entities.read(&a, |acc, v| (acc.balance, v)).await.unwrap();
    assert_eq!((balance, version), (12, 3));
    // The state stayed with the entity: no reload for the read.
    assert_eq!(store.events_read(), 0);
}

#[tokio::test]
async fn a_command_never_overtakes_a_message_sent_before_it() {
    let store = store();
    let (entities, a) = opened(&store, LONG).await;
    // The read is in the mailbox, not yet handled (this runtime has one
    // thread, and the entity's task has not run since).
    let mut read = std::pin::pin!(entities.read(&a, |acc, v| (acc.balance, v)));
    let polled = poll_once(read.as_mut());
    assert!(polled.is_pending());
    // So the command goes after it, through the mailbox.
    let done = entities
        .execute(&a, BankAccountCommand::deposit(5))
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    assert_eq!(
        read.await.unwrap(),
        (10, 1),
        "the read saw the state before the deposit"
    );
    assert!(matches!(
        entities.execute(&a, BankAccountCommand::deposit(1)).await,
        Ok(ref done) if done.version == 3
    ));
}

#[tokio::test]
async fn a_caller_that_gives_up_on_a_full_mailbox_leaves_nothing_pending() {
    use std::task::Poll;

    let store = store();
    let entities = Entities::with_options(
        Repository::<BankAccount, _>::new(store.clone()),
        EntityOptions {
            idle_timeout: LONG,
            mailbox: 1,
            ..EntityOptions::default()
        },
    );
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 10))
        .await
        .unwrap();
    // A read fills the mailbox (the entity's task has not run since);
    // a command then waits for room, and its caller gives up.
    let mut read = std::pin::pin!(entities.read(&a, |acc, _| acc.balance));
    assert!(poll_once(read.as_mut()).is_pending());
    {
        let mut given_up = std::pin::pin!(entities.execute(&a, BankAccountCommand::deposit(1)));
        assert!(poll_once(given_up.as_mut()).is_pending());
    }
    assert_eq!(read.await.unwrap(), 10);
    // Nothing is pending any more: the next command runs in place.
    let mut next = std::pin::pin!(entities.execute(&a, BankAccountCommand::deposit(2)));
    assert!(matches!(poll_once(next.as_mut()), Poll::Ready(Ok(ref done)) if done.version == 2));
}

#[tokio::test(start_paused = true)]
async fn commands_run_in_the_entitys_place_keep_it_live() {
    let store = store();
    let (entities, a) = opened(&store, Duration::from_secs(60)).await;
    // A command every 40 s for 4 minutes, each run in the entity's place.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(40)).await;
        assert!(entities.is_live(&a), "a command 40 s ago: not idle");
        entities
            .execute(&a, BankAccountCommand::deposit(1))
            .await
            .unwrap();
    }
    assert_eq!(store.events_read(), 0, "never recovered again");
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(entities.is_live(&a), "not idle long enough yet");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !entities.is_live(&a),
        "passivated 60 s after the last command"
    );
}

#[tokio::test]
async fn another_writer_makes_the_entity_reload_and_decide_again() {
    let store = store();
    let (entities, a) = opened(&store, LONG).await;
    // Someone else withdraws everything, behind the entity's back.
    Repository::<BankAccount, _>::new(store.clone())
        .execute(&a, BankAccountCommand::withdraw(10))
        .await
        .unwrap();
    // The entity decides on its cached balance (10), conflicts, reloads
    // (balance 0) and decides again: now the withdrawal is refused.
    let refused = entities
        .execute(&a, BankAccountCommand::withdraw(10))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused.rejection(),
            Some(AccountError::InsufficientFunds { balance: 0, .. })
        ),
        "{refused}"
    );
    let done = entities
        .execute(&a, BankAccountCommand::deposit(7))
        .await
        .unwrap();
    assert_eq!((done.version, done.attempts), (3, 1));
    let balance = entities.read(&a, |acc, _| acc.balance).await.unwrap();
    assert_eq!(balance, 7);
}

#[tokio::test]
async fn a_rejected_command_leaves_the_state_and_needs_no_reload() {
    let store = store();
    let (entities, a) = opened(&store, LONG).await;
    let before = store.events_read();
    let err = entities
        .execute(&a, BankAccountCommand::withdraw(11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EntityError::Repository(RepositoryError::Rejected { ref stream, .. }) if *stream == a)
    );
    let (balance, status, version) = entities
        .read(&a, |acc, v| (acc.balance, acc.status, v))
        .await
        .unwrap();
    assert_eq!((balance, status, version), (10, Status::Open, 1));
    assert_eq!(store.events_read(), before, "nothing was read again");
}

#[tokio::test]
async fn a_store_failure_drops_the_cached_state() {
    let store = store();
    let (entities, a) = opened(&store, LONG).await;
    store.fail_next_append();
    let err = entities
        .execute(&a, BankAccountCommand::deposit(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EntityError::Repository(RepositoryError::Store(_))),
        "{err}"
    );
    // The next command recovers from the store first (one stored event).
    let before = store.events_read();
    let done = entities
        .execute(&a, BankAccountCommand::deposit(2))
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    assert_eq!(store.events_read() - before, 1);
}

#[tokio::test]
async fn command_ids_make_entity_commands_idempotent() {
    let store = store();
    let entities = entities(&store, LONG);
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 0))
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7();
    let first = entities
        .execute_with(
            &a,
            BankAccountCommand::deposit(5),
            CommandOptions::new().command_id(id),
        )
        .await
        .unwrap();
    let again = entities
        .execute_with(
            &a,
            BankAccountCommand::deposit(5),
            CommandOptions::new().command_id(id),
        )
        .await
        .unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(again.version, first.version);
    assert_eq!(again.events, first.events);
    assert_eq!(entities.read(&a, |acc, _| acc.balance).await.unwrap(), 5);
}

/// An expected version ([`CommandOptions::expected_version`]) is honoured
/// by entities: decided on the entity's state when it is at that version
/// (nothing read), refused with the stream's version otherwise, and a
/// state behind another writer is checked in the store, not trusted.
#[tokio::test]
async fn expected_versions_are_honoured_by_entities() {
    let store = store();
    let entities = entities(&store, LONG);
    let a = account(1);
    let at = |v| CommandOptions::new().expected_version(v);
    entities
        .execute_with(&a, BankAccountCommand::open("Alice".into(), 10), at(0))
        .await
        .unwrap();
    let before = store.events_read();
    let done = entities
        .execute_with(&a, BankAccountCommand::deposit(5), at(1))
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    let err = entities
        .execute_with(&a, BankAccountCommand::deposit(5), at(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EntityError::Repository(RepositoryError::VersionMismatch {
                ref stream,
                expected: 1,
                actual: 2,
            }) if *stream == a
        ),
        "{err}"
    );
    assert_eq!(store.events_read(), before, "decided on the entity's state");
    // Another writer moves the stream to 3: the entity's state (2) is
    // behind, and the caller who saw 3 is served on the reloaded state.
    Repository::<BankAccount, _>::new(store.clone())
        .execute(&a, BankAccountCommand::deposit(100))
        .await
        .unwrap();
    let done = entities
        .execute_with(&a, BankAccountCommand::withdraw(115), at(3))
        .await
        .unwrap();
    assert_eq!(done.version, 4);
    let err = entities
        .execute_with(&a, BankAccountCommand::deposit(1), at(3))
        .await
        .unwrap_err();
    assert_eq!(mismatch(&err), Some((3, 4)), "{err}");
    let state = entities.read(&a, |acc, v| (acc.balance, v)).await.unwrap();
    assert_eq!(state, (0, 4));
}

#[tokio::test]
async fn reading_an_unwritten_stream_gives_the_default_state() {
    let entities = entities(&store(), LONG);
    let a = account(9);
    let (owner, status, version) = entities
        .read(&a, |acc, v| (acc.owner.clone(), acc.status, v))
        .await
        .unwrap();
    assert_eq!(
        (owner.as_str(), status, version),
        ("", Status::default(), 0)
    );
    assert!(entities.is_live(&a));
}

#[tokio::test]
async fn shutdown_and_passivate_stop_entities_after_their_mailbox() {
    let store = store();
    let entities = entities(&store, LONG);
    for n in 0..5 {
        entities
            .execute(&account(n), BankAccountCommand::open("Alice".into(), 1))
            .await
            .unwrap();
    }
    assert_eq!(entities.live(), 5);
    entities.passivate(&account(0)).await;
    assert_eq!(entities.live(), 4);
    assert!(!entities.is_live(&account(0)));
    entities.shutdown().await;
    assert_eq!(entities.live(), 0);
    // A later command starts the entity again, from the store.
    let done = entities
        .execute(&account(3), BankAccountCommand::deposit(1))
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    assert_eq!(entities.live(), 1);
}

// A handler that panics stops its entity; the caller gets a typed error and
// the next command starts a fresh entity.

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Ticked;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Ticked), error = Never)]
struct Fragile {
    ticks: u64,
}

#[eventfold::handlers]
impl Fragile {
    #[command]
    fn tick(&self, explode: bool) -> Result<Ticked, Never> {
        assert!(!explode, "the handler exploded (on purpose)");
        Ok(Ticked)
    }

    #[apply]
    fn ticked(&mut self, _: &Ticked) {
        self.ticks += 1;
    }
}

#[tokio::test]
async fn a_panicking_handler_stops_only_its_entity() {
    let entities = Entities::new(Repository::<Fragile, _>::new(MemoryStore::new()));
    let s = StreamId::new("Fragile-1").unwrap();
    entities
        .execute(&s, FragileCommand::tick(false))
        .await
        .unwrap();
    let err = entities
        .execute(&s, FragileCommand::tick(true))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EntityError::Stopped { ref stream } if *stream == s),
        "{err}"
    );
    let done = entities
        .execute(&s, FragileCommand::tick(false))
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    assert_eq!(entities.read(&s, |f, _| f.ticks).await.unwrap(), 2);
}

// ---------------------------------------------------------------------------
// Hot aggregates: queued commands decided together, written in one append.

mod batches {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use eventfold::entity::{Entities, EntityError, EntityOptions};
    use eventfold::prelude::*;
    use eventfold::repository::{CommandOptions, Repository};
    use eventfold::snapshot::{Snapshot, SnapshotStore};
    use eventfold::store::{AppendResult, DeleteMode, ReadStream, StoreError, StreamInfo};
    use eventfold::{NewEvent, RecordedEvent};
    use eventfold_suite::bank::{AccountError, BankAccount, BankAccountCommand};
    use tokio::sync::Semaphore;

    /// Delegates to a `MemoryStore`, counting appends (and their events);
    /// each append first takes a permit of `gate`, so a test can hold the
    /// entity inside an append while commands queue up behind it.
    #[derive(Clone)]
    struct Gated {
        inner: MemoryStore,
        gate: Arc<Semaphore>,
        appends: Arc<AtomicU64>,
        appended_events: Arc<AtomicU64>,
        /// The number of the append (counting from 1) that fails.
        fail_append: Arc<AtomicU64>,
    }

    impl Gated {
        fn new() -> Self {
            Self {
                inner: MemoryStore::new(),
                gate: Arc::new(Semaphore::new(0)),
                appends: Arc::default(),
                appended_events: Arc::default(),
                fail_append: Arc::default(),
            }
        }

        fn open_gate(&self) {
            self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    impl EventStore for Gated {
        async fn append(
            &self,
            stream: &StreamId,
            expected: ExpectedVersion,
            events: Vec<NewEvent>,
        ) -> Result<AppendResult, StoreError> {
            self.gate.acquire().await.expect("gate").forget();
            let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
            if self.fail_append.load(Ordering::SeqCst) == n {
                return Err(StoreError::backend("appending (test)", "the disk is full"));
            }
            self.appended_events
                .fetch_add(events.len() as u64, Ordering::SeqCst);
            self.inner.append(stream, expected, events).await
        }

        async fn read_stream(
            &self,
            stream: &StreamId,
            read: ReadStream,
        ) -> Result<Vec<RecordedEvent>, StoreError> {
            self.inner.read_stream(stream, read).await
        }

        async fn read_all(
            &self,
            after: u64,
            limit: usize,
        ) -> Result<Vec<RecordedEvent>, StoreError> {
            self.inner.read_all(after, limit).await
        }

        async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
            self.inner.stream_info(stream).await
        }

        async fn delete_stream(
            &self,
            stream: &StreamId,
            mode: DeleteMode,
        ) -> Result<(), StoreError> {
            self.inner.delete_stream(stream, mode).await
        }

        async fn head_position(&self) -> Result<u64, StoreError> {
            self.inner.head_position().await
        }

        async fn wait_for_append(&self, position: u64) {
            self.inner.wait_for_append(position).await
        }
    }

    impl SnapshotStore for Gated {
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

    type Answer = Result<eventfold::repository::Executed<BankAccount>, EntityError<AccountError>>;

    /// Opens the account (its append held at the gate), queues `commands`
    /// behind it, then opens the gate. Runs on the test's current-thread
    /// runtime: every spawned caller has sent its command before the gate
    /// opens.
    async fn queued(
        store: &Gated,
        entities: &Entities<BankAccount, Gated>,
        stream: &StreamId,
        commands: Vec<(BankAccountCommand, CommandOptions)>,
    ) -> Vec<Answer> {
        let open = {
            let (entities, stream) = (entities.clone(), stream.clone());
            tokio::spawn(async move {
                entities
                    .execute(&stream, BankAccountCommand::open("Alice".into(), 100))
                    .await
            })
        };
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let callers: Vec<_> = commands
            .into_iter()
            .map(|(command, options)| {
                let (entities, stream) = (entities.clone(), stream.clone());
                tokio::spawn(async move { entities.execute_with(&stream, command, options).await })
            })
            .collect();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(store.appends.load(Ordering::SeqCst), 0, "held at the gate");
        store.open_gate();
        open.await.unwrap().expect("opens");
        let mut answers = Vec::new();
        for caller in callers {
            answers.push(caller.await.unwrap());
        }
        answers
    }

    fn account() -> StreamId {
        StreamId::new("BankAccount-hot").unwrap()
    }

    #[tokio::test]
    async fn queued_commands_are_decided_in_order_and_written_in_one_append() {
        let store = Gated::new();
        let entities = Entities::new(Repository::<BankAccount, _>::new(store.clone()));
        let s = account();
        let commands = (1..=20u64)
            .map(|n| (BankAccountCommand::deposit(n), CommandOptions::new()))
            .collect();
        let answers = queued(&store, &entities, &s, commands).await;
        // The open, then the 20 deposits in one append.
        assert_eq!(store.appends.load(Ordering::SeqCst), 2);
        assert_eq!(store.appended_events.load(Ordering::SeqCst), 21);
        let mut positions = Vec::new();
        for (i, answer) in answers.into_iter().enumerate() {
            let done = answer.expect("deposit");
            assert_eq!(done.version, 2 + i as u64, "answered in the order sent");
            assert_eq!(done.attempts, 1);
            assert_eq!(done.events.len(), 1);
            let event = &done.events[0];
            assert_eq!(event.stream_version, done.version);
            assert_eq!(event.metadata.causation_id, Some(done.command_id));
            positions.push(event.global_position);
        }
        assert_eq!(positions, (2..=21).collect::<Vec<_>>());
        // The envelopes are what the store recorded.
        let stored = store
            .read_stream(&s, ReadStream::all().from(2))
            .await
            .unwrap();
        assert_eq!(stored.len(), 20);
        let balance = entities.read(&s, |a, _| a.balance).await.unwrap();
        assert_eq!(balance, 100 + (1..=20).sum::<u64>());
        // The state in memory is the state the store gives.
        let reloaded = Repository::<BankAccount, _>::new(store.clone())
            .load(&s)
            .await
            .unwrap();
        assert_eq!(reloaded.state.balance, balance);
        assert_eq!(reloaded.version, 21);
    }

    #[tokio::test]
    async fn a_rejected_command_in_a_batch_affects_only_its_caller() {
        let store = Gated::new();
        let entities = Entities::new(Repository::<BankAccount, _>::new(store.clone()));
        let s = account();
        // 100 + 50 = 150; withdrawing 200 is refused on the state after the
        // first deposit; the deposit and withdrawal after it go through.
        let commands = vec![
            (BankAccountCommand::deposit(50), CommandOptions::new()),
            (BankAccountCommand::withdraw(200), CommandOptions::new()),
            (BankAccountCommand::withdraw(150), CommandOptions::new()),
            (BankAccountCommand::deposit(0), CommandOptions::new()),
            (BankAccountCommand::deposit(7), CommandOptions::new()),
        ];
        let mut answers = queued(&store, &entities, &s, commands).await.into_iter();
        assert_eq!(answers.next().unwrap().unwrap().version, 2);
        let refused = answers.next().unwrap().unwrap_err();
        assert_eq!(
            refused.rejection(),
            Some(&AccountError::InsufficientFunds {
                balance: 150,
                requested: 200
            })
        );
        assert_eq!(answers.next().unwrap().unwrap().version, 3);
        assert_eq!(
            answers.next().unwrap().unwrap_err().rejection(),
            Some(&AccountError::ZeroAmount)
        );
        assert_eq!(answers.next().unwrap().unwrap().version, 4);
        assert_eq!(
            store.appends.load(Ordering::SeqCst),
            2,
            "one append for the batch"
        );
        let state = entities.read(&s, |a, v| (a.balance, v)).await.unwrap();
        assert_eq!(state, (7, 4));
    }

    /// Yields until `done` holds (the test runs on one thread: the other
    /// tasks run while it yields).
    async fn until(done: impl Fn() -> bool) {
        for _ in 0..10_000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("timed out waiting");
    }

    #[tokio::test]
    async fn a_batch_that_conflicts_is_decided_again() {
        let store = Gated::new();
        let entities = Entities::new(Repository::<BankAccount, _>::new(store.clone()));
        let other_writer = Repository::<BankAccount, _>::new(store.inner.clone());
        let s = account();
        store.gate.add_permits(1);
        entities
            .execute(&s, BankAccountCommand::open("Alice".into(), 0))
            .await
            .unwrap();
        // One command goes alone and is held at the gate; four queue behind it.
        let first = {
            let (entities, s) = (entities.clone(), s.clone());
            tokio::spawn(async move { entities.execute(&s, BankAccountCommand::deposit(1)).await })
        };
        until(|| store.gate.available_permits() == 0 && !first.is_finished()).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let callers: Vec<_> = (2..=5u64)
            .map(|n| {
                let (entities, s) = (entities.clone(), s.clone());
                tokio::spawn(
                    async move { entities.execute(&s, BankAccountCommand::deposit(n)).await },
                )
            })
            .collect();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        store.gate.add_permits(1);
        assert_eq!(first.await.unwrap().unwrap().version, 2);
        // The batch's append is now held; another writer moves the stream on.
        until(|| store.appends.load(Ordering::SeqCst) == 2).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        other_writer
            .execute(&s, BankAccountCommand::withdraw(1))
            .await
            .unwrap();
        store.open_gate();
        let mut versions = Vec::new();
        for caller in callers {
            let done = caller.await.unwrap().expect("decided again");
            assert_eq!(done.attempts, 2, "the batch conflicted once");
            versions.push(done.version);
        }
        assert_eq!(versions, vec![4, 5, 6, 7]);
        // One append for the first command, two for the batch.
        assert_eq!(store.appends.load(Ordering::SeqCst), 4);
        let state = entities.read(&s, |a, v| (a.balance, v)).await.unwrap();
        // Deposited 1, withdrawn 1 by the other writer, then 2 + 3 + 4 + 5.
        assert_eq!(state, (14, 7));
    }

    #[tokio::test]
    async fn a_failed_batch_append_fails_every_caller_and_the_state_recovers() {
        let store = Gated::new();
        let entities = Entities::new(Repository::<BankAccount, _>::new(store.clone()));
        let s = account();
        // The open is append 1; the batch, append 2, fails.
        store.fail_append.store(2, Ordering::SeqCst);
        let commands: Vec<_> = (1..=4u64)
            .map(|n| (BankAccountCommand::deposit(n), CommandOptions::new()))
            .collect();
        let answers = queued(&store, &entities, &s, commands).await;
        for answer in answers {
            let err = answer.unwrap_err();
            assert!(err.to_string().contains("the disk is full"), "{err}");
        }
        assert_eq!(store.appends.load(Ordering::SeqCst), 2);
        // Nothing of the batch was written; the next command recovers.
        let done = entities
            .execute(&s, BankAccountCommand::deposit(5))
            .await
            .unwrap();
        assert_eq!(done.version, 2);
        let balance = entities.read(&s, |a, _| a.balance).await.unwrap();
        assert_eq!(balance, 105);
    }

    #[tokio::test]
    async fn idempotent_commands_and_max_batch_one_are_not_batched() {
        let store = Gated::new();
        let entities = Entities::with_options(
            Repository::<BankAccount, _>::new(store.clone()),
            EntityOptions {
                max_batch: 1,
                ..EntityOptions::default()
            },
        );
        let s = account();
        let commands = (1..=3u64)
            .map(|n| (BankAccountCommand::deposit(n), CommandOptions::new()))
            .collect();
        let answers = queued(&store, &entities, &s, commands).await;
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(
            store.appends.load(Ordering::SeqCst),
            4,
            "one append per command"
        );

        let store = Gated::new();
        let entities = Entities::new(Repository::<BankAccount, _>::new(store.clone()));
        let id = uuid::Uuid::now_v7();
        let commands = vec![
            (BankAccountCommand::deposit(1), CommandOptions::new()),
            (BankAccountCommand::deposit(2), CommandOptions::new()),
            (
                BankAccountCommand::deposit(3),
                CommandOptions::new().command_id(id),
            ),
            (
                BankAccountCommand::deposit(3),
                CommandOptions::new().command_id(id),
            ),
            (BankAccountCommand::deposit(4), CommandOptions::new()),
        ];
        let answers: Vec<_> = queued(&store, &entities, &s, commands)
            .await
            .into_iter()
            .map(|a| a.unwrap())
            .collect();
        // open; [1, 2]; 3; its duplicate (nothing written); [4].
        assert_eq!(store.appends.load(Ordering::SeqCst), 4);
        assert!(answers[3].duplicate);
        assert_eq!(answers[3].version, answers[2].version);
        assert_eq!(answers[4].version, 5);
    }

    /// A command with an expected version is decided alone, on the version
    /// its caller saw, never as part of a batch.
    #[tokio::test]
    async fn commands_with_an_expected_version_are_not_batched() {
        let store = Gated::new();
        let entities = Entities::new(Repository::<BankAccount, _>::new(store.clone()));
        let s = account();
        let commands = vec![
            (BankAccountCommand::deposit(1), CommandOptions::new()),
            (BankAccountCommand::deposit(2), CommandOptions::new()),
            (
                BankAccountCommand::deposit(3),
                CommandOptions::new().expected_version(3),
            ),
            (
                BankAccountCommand::deposit(4),
                CommandOptions::new().expected_version(3),
            ),
            (BankAccountCommand::deposit(5), CommandOptions::new()),
        ];
        let mut answers = queued(&store, &entities, &s, commands).await.into_iter();
        // open; [1, 2]; 3 on version 3; 4 refused (the stream is at 4); [5].
        assert_eq!(answers.next().unwrap().unwrap().version, 2);
        assert_eq!(answers.next().unwrap().unwrap().version, 3);
        assert_eq!(answers.next().unwrap().unwrap().version, 4);
        let refused = answers.next().unwrap().unwrap_err();
        assert_eq!(super::mismatch(&refused), Some((3, 4)), "{refused}");
        assert_eq!(answers.next().unwrap().unwrap().version, 5);
        assert_eq!(store.appends.load(Ordering::SeqCst), 4);
        let state = entities.read(&s, |a, v| (a.balance, v)).await.unwrap();
        assert_eq!(state, (100 + 1 + 2 + 3 + 5, 5));
    }
}
