//! Store statistics and listing (`StoreStats`): the same contract on every
//! store: memory, SQLite, PostgreSQL (when `EVENTFOLD_POSTGRES_URL` is set)
//! and `FaultyStore`, which forwards to the store it wraps.

use eventfold::MemoryStore;
use eventfold::store::conformance::PostgresSchema;
use eventfold::store::stats::contract::stats_contract;
use eventfold::store::{FaultyStore, SqliteStore};

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

#[tokio::test]
async fn any_store_forwards_the_stats() {
    use eventfold::store::AnyStore;
    stats_contract(&AnyStore::open("memory:").await.unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("stats.db").display());
    stats_contract(&AnyStore::open(&url).await.unwrap()).await;
}
