//! [`AnyStore`]: one store type opened from a URL. The conformance suite runs
//! through it (so every method is forwarded), on memory and on a SQLite file;
//! PostgreSQL URLs with eventfold's own parameters; typed errors for bad URLs.

use eventfold::prelude::*;
use eventfold::projection::CheckpointStore;
use eventfold::projection::conformance::checkpoint_store_contract;
use eventfold::store::conformance::{Fixture, PostgresSchema, TestServer};
use eventfold::store::{AnyStore, StoreError};
use eventfold_suite::bank::{BankAccount, BankAccountCommand};

async fn sqlite_url_fixture() -> Fixture<AnyStore> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = AnyStore::open(&url)
        .await
        .expect("a SQLite store from its URL");
    assert_eq!(store.backend(), "sqlite");
    Fixture::new(store)
        .with_reopen(move || {
            let url = url.clone();
            async move { AnyStore::open(&url).await.expect("reopened") }
        })
        .with_guard(dir)
}

mod memory_url {
    eventfold::store_conformance_tests!(eventfold::store::conformance::Fixture::new(
        eventfold::store::AnyStore::open("memory:").await.unwrap()
    ));
}

mod sqlite_url {
    eventfold::store_conformance_tests!(super::sqlite_url_fixture().await);
}

#[tokio::test]
async fn a_program_holds_one_store_type_whatever_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bank.db").display());
    for url in ["memory:", sqlite.as_str()] {
        let store = AnyStore::open(url).await.unwrap();
        let repo = Repository::<BankAccount, AnyStore>::with_snapshots(store.clone());
        let id = repo.stream_id("ada").unwrap();
        repo.execute(&id, BankAccountCommand::open("Ada".into(), 10))
            .await
            .unwrap();
        let done = repo
            .execute(&id, BankAccountCommand::deposit(5))
            .await
            .unwrap();
        assert_eq!((done.version, done.state.balance), (2, 15), "{url}");
        let checkpoints = store.checkpoints().await.unwrap();
        checkpoint_store_contract(&checkpoints).await;
    }
    // The SQLite checkpoints live in the events' file: reopening sees them.
    let reopened = AnyStore::open(&sqlite).await.unwrap();
    assert_eq!(
        reopened
            .checkpoints()
            .await
            .unwrap()
            .load("q")
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(reopened.head_position().await.unwrap(), 2);
}

#[tokio::test]
async fn bad_urls_are_typed_errors_naming_the_url_and_the_accepted_forms() {
    for (url, says) in [
        ("mysql://db/x", "unknown scheme `mysql`"),
        ("events.db", "no scheme"),
        ("sqlite:", "no file path"),
        (
            "postgres://u:hunter2@127.0.0.1:5432/x?pool_size=lots",
            "`pool_size=lots` is not a number",
        ),
    ] {
        match AnyStore::open(url).await {
            Err(StoreError::Open {
                location, reason, ..
            }) => {
                assert!(reason.contains(says), "{url}: {reason}");
                assert!(reason.contains("sqlite:PATH"), "{url}: {reason}");
                assert!(
                    !location.contains("hunter2"),
                    "the password leaked: {location}"
                );
            }
            other => panic!("{url}: expected an Open error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn postgres_urls_take_schema_and_pool_size() {
    let Some(pg) = PostgresSchema::new("any") else {
        return;
    };
    let (base, schema) = (pg.url(), pg.name());
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema={schema}&pool_size=2");
    let store = AnyStore::open(&url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    let repo = Repository::<BankAccount, AnyStore>::new(store.clone());
    let id = repo.stream_id("grace").unwrap();
    let done = repo
        .execute(&id, BankAccountCommand::open("Grace".into(), 7))
        .await
        .unwrap();
    assert_eq!(done.version, 1);
    checkpoint_store_contract(&store.checkpoints().await.unwrap()).await;
    // The events went to the schema the URL named, and nowhere else.
    let count: i64 = pg
        .client()
        .await
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".events"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn redis_urls_take_a_key_prefix() {
    let Some(base) = TestServer::Redis.url() else {
        return;
    };
    let prefix = format!("any_{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let sep = if base.contains('?') { '&' } else { '?' };
    let store = AnyStore::open(&format!("{base}{sep}prefix={prefix}"))
        .await
        .unwrap();
    assert_eq!(store.backend(), "redis");
    let repo = Repository::<BankAccount, AnyStore>::with_snapshots(store.clone());
    let id = repo.stream_id("lin").unwrap();
    repo.execute(&id, BankAccountCommand::open("Lin".into(), 4))
        .await
        .unwrap();
    let done = repo
        .execute(&id, BankAccountCommand::deposit(1))
        .await
        .unwrap();
    assert_eq!((done.version, done.state.balance), (2, 5));
    checkpoint_store_contract(&store.checkpoints().await.unwrap()).await;
    // Statistics come from the Redis store's counters.
    let stats = eventfold::store::StoreStats::statistics(&store)
        .await
        .unwrap();
    assert_eq!(stats.total_events, 2);
    assert_eq!(
        stats.head_position,
        eventfold::EventStore::head_position(&store).await.unwrap()
    );
    assert_eq!(stats.total_streams, 1);
    assert_eq!(stats.streams_by_category.get("BankAccount"), Some(&1));
    assert_eq!(
        stats.events_by_type.values().sum::<u64>(),
        2,
        "{:?}",
        stats.events_by_type
    );
    let page =
        eventfold::store::StoreStats::list_streams(&store, eventfold::store::ListStreams::new())
            .await
            .unwrap();
    assert_eq!(page.streams.len(), 1);
    assert_eq!(
        (page.streams[0].stream_id.as_str(), page.streams[0].version),
        (id.as_str(), 2)
    );
    match store {
        AnyStore::Redis(redis) => {
            assert_eq!(redis.prefix(), prefix);
            redis.destroy().await.unwrap();
        }
        _ => panic!("a redis:// URL opens a RedisStore"),
    }
}
