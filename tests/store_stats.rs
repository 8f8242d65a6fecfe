//! Store statistics and listing (`StoreStats`): the same contract on every
//! store: memory, SQLite, PostgreSQL (when `EVENTFOLD_POSTGRES_URL` is set)
//! and `FaultyStore`, which forwards to the store it wraps.

use eventfold::MemoryStore;
use eventfold::store::stats::contract::stats_contract;
use eventfold::store::{FaultyStore, PostgresStore, SqliteStore};

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
    let url = match std::env::var("EVENTFOLD_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var("EVENTFOLD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "EVENTFOLD_REQUIRE_POSTGRES=1 but EVENTFOLD_POSTGRES_URL is not set"
            );
            eprintln!("skipping: EVENTFOLD_POSTGRES_URL not set");
            return;
        }
    };
    let schema = format!(
        "t_stats_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let store = PostgresStore::options(&url)
        .schema(&schema)
        .connect()
        .await
        .expect("EVENTFOLD_POSTGRES_URL is set but the store does not connect");
    stats_contract(&store).await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
