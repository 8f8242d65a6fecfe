//! The repository and the projection runner under injected store faults
//! (`FaultyStore`): a failure is reported with its cause, never a panic, and
//! never loses or doubles data.

use eventfold::prelude::*;
use eventfold::projection::{MemoryCheckpointStore, ProjectionRunner};
use eventfold::store::{FaultyStore, InjectedFault};
use eventfold::{CommandOptions, Repository, RepositoryError};
use eventfold_suite::bank::{BankAccount, BankAccountCommand};
use eventfold_suite::bank_projections::AccountBalances;

type Store = FaultyStore<MemoryStore>;

fn repo(store: &Store) -> Repository<BankAccount, Store> {
    Repository::new(store.clone())
}

async fn opened(store: &Store, id: &str) -> StreamId {
    let stream = StreamId::for_aggregate(BankAccount::TYPE_NAME, id).unwrap();
    repo(store)
        .execute(&stream, BankAccountCommand::open("Ada".into(), 100))
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn a_failing_append_leaves_the_aggregate_unchanged() {
    let store = FaultyStore::new(MemoryStore::new());
    let stream = opened(&store, "1").await;
    store.fail_next_append();
    let err = repo(&store)
        .execute(&stream, BankAccountCommand::deposit(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RepositoryError::Store(e) if InjectedFault::is_injected(e)),
        "{err}"
    );
    let loaded = repo(&store).load(&stream).await.unwrap();
    assert_eq!((loaded.state.balance, loaded.version), (100, 1));
}

#[tokio::test]
async fn a_rejected_append_is_retried_as_a_conflict() {
    let store = FaultyStore::new(MemoryStore::new());
    let stream = opened(&store, "2").await;
    store.reject_next_append();
    let outcome = repo(&store)
        .execute(&stream, BankAccountCommand::deposit(5))
        .await
        .unwrap();
    assert_eq!((outcome.state.balance, outcome.version), (105, 2));
    assert!(!store.has_pending_faults());
}

#[tokio::test]
async fn a_lost_acknowledgement_is_recovered_by_resending_the_command_id() {
    let store = FaultyStore::new(MemoryStore::new());
    let stream = opened(&store, "3").await;
    let id = uuid_v7();
    store.lose_next_append_reply();
    let first = repo(&store)
        .execute_with(
            &stream,
            BankAccountCommand::deposit(5),
            CommandOptions::new().command_id(id),
        )
        .await;
    assert!(first.is_err(), "the caller was told the append failed");
    // The caller retries with the same command id: the original outcome, not a second deposit.
    let retry = repo(&store)
        .execute_with(
            &stream,
            BankAccountCommand::deposit(5),
            CommandOptions::new().command_id(id),
        )
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(repo(&store).load(&stream).await.unwrap().state.balance, 105);
}

#[tokio::test]
async fn a_failing_read_fails_the_load_with_its_cause() {
    let store = FaultyStore::new(MemoryStore::new());
    let stream = opened(&store, "4").await;
    store.fail_next_read();
    let err = repo(&store).load(&stream).await.unwrap_err();
    assert!(
        matches!(&err, RepositoryError::Store(e) if InjectedFault::is_injected(e)),
        "{err}"
    );
    assert_eq!(repo(&store).load(&stream).await.unwrap().state.balance, 100);
}

#[tokio::test]
async fn a_projection_resumes_after_a_failing_read_without_missing_anything() {
    let store = FaultyStore::new(MemoryStore::new());
    for id in ["a", "b", "c"] {
        let stream = opened(&store, id).await;
        repo(&store)
            .execute(&stream, BankAccountCommand::deposit(10))
            .await
            .unwrap();
    }
    let runner = ProjectionRunner::new(store.clone(), MemoryCheckpointStore::new()).batch_size(2);
    let mut balances = AccountBalances::default();
    store.fail_next_read();
    assert!(
        runner.catch_up(&mut balances).await.is_err(),
        "the injected read failure is reported"
    );
    let report = runner.catch_up(&mut balances).await.unwrap();
    assert_eq!(
        runner.lag("AccountBalances").await.unwrap(),
        0,
        "{report:?}"
    );
    assert_eq!(balances.accounts.len(), 3);
    assert!(
        balances.accounts.values().all(|a| a.balance == 110),
        "{balances:?}"
    );
}

fn uuid_v7() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
