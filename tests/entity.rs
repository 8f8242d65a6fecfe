//! The entity runtime through the public API: commands in order, the state
//! kept between commands (loads counted through `FaultyStore`), recovery on
//! start, passivation when idle, other writers, rejections, panics.

use std::time::Duration;

use eventfold::entity::{Entities, EntityOptions};
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

fn account(n: u32) -> StreamId {
    StreamId::new(format!("BankAccount-{n}")).unwrap()
}

const LONG: Duration = Duration::from_secs(3600);

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

#[tokio::test]
async fn the_state_is_kept_between_commands() {
    let store = store();
    let entities = entities(&store, LONG);
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 10))
        .await
        .unwrap();
    for _ in 0..10 {
        entities
            .execute(&a, BankAccountCommand::deposit(1))
            .await
            .unwrap();
    }
    // Nothing is read: the append's answer carries the versions, positions
    // and record time of the events; the stream is never loaded again.
    assert_eq!(store.events_read(), 0);

    // The same commands through the repository load the stream every time
    // (and read nothing back either).
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
    assert_eq!(store.events_read(), (0..=10).sum::<u64>());
}

#[tokio::test(start_paused = true)]
async fn idle_entities_passivate_and_recover_from_the_store() {
    let store = store();
    let entities = entities(&store, Duration::from_secs(60));
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 10))
        .await
        .unwrap();
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

#[tokio::test]
async fn another_writer_makes_the_entity_reload_and_decide_again() {
    let store = store();
    let entities = entities(&store, LONG);
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 10))
        .await
        .unwrap();
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
    let entities = entities(&store, LONG);
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 10))
        .await
        .unwrap();
    let before = store.events_read();
    let err = entities
        .execute(&a, BankAccountCommand::withdraw(11))
        .await
        .unwrap_err();
    assert!(matches!(err, RepositoryError::Rejected { ref stream, .. } if *stream == a));
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
    let entities = entities(&store, LONG);
    let a = account(1);
    entities
        .execute(&a, BankAccountCommand::open("Alice".into(), 10))
        .await
        .unwrap();
    store.fail_next_append();
    let err = entities
        .execute(&a, BankAccountCommand::deposit(1))
        .await
        .unwrap_err();
    assert!(matches!(err, RepositoryError::Store(_)), "{err}");
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
        matches!(err, RepositoryError::EntityStopped { ref stream } if *stream == s),
        "{err}"
    );
    let done = entities
        .execute(&s, FragileCommand::tick(false))
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    assert_eq!(entities.read(&s, |f, _| f.ticks).await.unwrap(), 2);
}
