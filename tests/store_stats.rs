//! Store statistics and listing (`StoreStats`): the same contract on every
//! store: memory, SQLite, PostgreSQL (when `EVENTFOLD_POSTGRES_URL` is set),
//! Redis (when `EVENTFOLD_REDIS_URL` is set, under a key prefix of its own,
//! removed at the end) and `FaultyStore`, which forwards to the store it
//! wraps.

use eventfold::MemoryStore;
use eventfold::store::conformance::{PostgresSchema, TestServer};
use eventfold::store::stats::contract::stats_contract;
use eventfold::store::{FaultyStore, RedisStore, SqliteStore};

#[tokio::test]
async fn memory_store_keeps_the_stats_contract() {
    stats_contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn faulty_store_forwards_the_stats() {
    stats_contract(&FaultyStore::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn sqlite_store_keeps_the_stats_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("stats.db"))
        .await
        .unwrap();
    stats_contract(&store).await;
}

#[tokio::test]
async fn postgres_store_keeps_the_stats_contract() {
    let Some(schema) = PostgresSchema::new("stats") else {
        return;
    };
    stats_contract(&schema.store().await).await;
}

/// A fresh key prefix for one Redis test.
fn redis_prefix(test: &str) -> String {
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    format!("eventfold-test:{test}:{}", &suffix[16..])
}

#[tokio::test]
async fn redis_store_keeps_the_stats_contract() {
    let Some(url) = TestServer::Redis.url() else {
        return;
    };
    let store = RedisStore::options(url)
        .prefix(redis_prefix("stats"))
        .connect()
        .await
        .unwrap();
    stats_contract(&store).await;
    store.destroy().await.unwrap();
}

#[tokio::test]
async fn any_store_forwards_the_stats() {
    use eventfold::store::AnyStore;
    stats_contract(&AnyStore::open("memory:").await.unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("stats.db").display());
    stats_contract(&AnyStore::open(&url).await.unwrap()).await;
}
