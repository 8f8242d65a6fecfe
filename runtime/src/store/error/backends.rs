//! The same situation, the same variant, whatever the backend: a layout
//! newer than the code, a server that does not answer, a file that is not
//! a database, a locked database.

use crate::store::{AnyStore, SqliteStore, StoreError};

/// A loopback port nobody listens on.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The service URL in variable `name`, or `None` with a notice.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn env(name: &str) -> Option<String> {
    let url = std::env::var(name).ok();
    if url.is_none() {
        eprintln!("skipping the {name} part: not set");
    }
    url
}

/// `err` is `IncompatibleLayout` having found `found`, and not retryable.
fn assert_newer_layout(err: &StoreError, found: &str) {
    match err {
        StoreError::IncompatibleLayout { found: f, .. } => assert_eq!(f, found, "{err}"),
        other => panic!("expected IncompatibleLayout, got {other:?}"),
    }
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("upgrade eventfold"), "{err}");
}

/// `err` is `Unreachable` naming `127.0.0.1:port`, and retryable.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn assert_unreachable(err: &StoreError, port: u16) {
    match err {
        StoreError::Unreachable { host, port: p, .. } => {
            assert_eq!((host.as_str(), *p), ("127.0.0.1", port), "{err}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_layout_newer_than_the_code_is_incompatible_layout_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE eventfold_schema SET version = 99", [])
        .unwrap();
    drop(conn);
    assert_newer_layout(&SqliteStore::open(&path).await.unwrap_err(), "99");
    let url = format!("sqlite:{}", path.display());
    assert_newer_layout(&AnyStore::open(&url).await.unwrap_err(), "99");

    #[cfg(feature = "postgres")]
    if let Some(url) = env("EVENTFOLD_POSTGRES_URL") {
        use crate::store::PostgresStore;
        let schema = format!("layout_{}", uuid::Uuid::now_v7().simple());
        let store = PostgresStore::options(url.clone())
            .schema(schema.clone())
            .connect()
            .await
            .unwrap();
        let client = store.client().await.unwrap();
        client
            .batch_execute(&format!(
                "UPDATE \"{schema}\".meta SET value = '99' WHERE key = 'layout_version'"
            ))
            .await
            .unwrap();
        drop(client);
        let err = PostgresStore::options(url.clone())
            .schema(schema.clone())
            .connect()
            .await
            .unwrap_err();
        assert_newer_layout(&err, "99");
        let client = store.client().await.unwrap();
        client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .unwrap();
    }

    #[cfg(feature = "redis")]
    if let Some(url) = env("EVENTFOLD_REDIS_URL") {
        use crate::store::RedisStore;
        let prefix = format!("layout-{}", uuid::Uuid::now_v7().simple());
        let store = RedisStore::options(url.clone())
            .prefix(prefix.clone())
            .connect()
            .await
            .unwrap();
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg(format!("{{{prefix}}}:meta"))
            .arg("layout")
            .arg(99)
            .query_async(&mut conn)
            .await
            .unwrap();
        let err = RedisStore::options(url.clone())
            .prefix(prefix.clone())
            .connect()
            .await
            .unwrap_err();
        assert_newer_layout(&err, "99");
        store.destroy().await.unwrap();
    }
}

#[cfg(any(feature = "postgres", feature = "redis"))]
#[tokio::test]
async fn an_unreachable_server_is_unreachable_everywhere() {
    let port = closed_port();
    #[cfg(feature = "postgres")]
    {
        let url = format!("postgres://postgres@127.0.0.1:{port}/test");
        let err = crate::store::PostgresStore::connect(&url)
            .await
            .unwrap_err();
        assert_unreachable(&err, port);
        assert_unreachable(&AnyStore::open(&url).await.unwrap_err(), port);
    }
    #[cfg(feature = "redis")]
    {
        let url = format!("redis://127.0.0.1:{port}/");
        let err = crate::store::RedisStore::options(url.clone())
            .connect_timeout(std::time::Duration::from_millis(500))
            .connect()
            .await
            .unwrap_err();
        assert_unreachable(&err, port);
    }
    let _ = port;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_open_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "not a database\n".repeat(300)).unwrap();
    let url = format!("sqlite:{}", path.display());
    for err in [
        SqliteStore::open(&path).await.unwrap_err(),
        AnyStore::open(&url).await.unwrap_err(),
        crate::projection::SqliteCheckpointStore::open(&path)
            .await
            .unwrap_err(),
    ] {
        match &err {
            StoreError::Open {
                location, reason, ..
            } => {
                assert_eq!(location, &path.display().to_string());
                assert!(reason.contains("not a SQLite database"), "{reason}");
            }
            other => panic!("expected Open, got {other:?}"),
        }
        assert!(!err.is_retryable());
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_database_the_server_refuses_is_open() {
    let Some(url) = env("EVENTFOLD_POSTGRES_URL") else {
        return;
    };
    let Some((server, _)) = url.rsplit_once('/') else {
        return;
    };
    let url = format!("{server}/no_such_db_{}", uuid::Uuid::now_v7().simple());
    let err = crate::store::PostgresStore::connect(&url)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("3D000"), "{err}");
    assert!(!err.is_retryable());
}

#[test]
fn a_locked_sqlite_database_is_busy_and_retryable() {
    let locked = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("database is locked".into()),
    );
    let err = crate::store::sqlite::sqlite_error("appending", locked);
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    assert!(err.is_retryable());
    let path = std::path::Path::new("events.db");
    let locked = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_LOCKED),
        None,
    );
    let err = crate::store::sqlite::open_error(path, locked);
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    let other =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
    let err = crate::store::sqlite::sqlite_error("appending", other);
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(!err.is_retryable());
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn statistics_of_the_redis_store_come_through_any_store() {
    use crate::envelope::{Metadata, NewEvent, StreamId};
    use crate::store::{EventStore, ExpectedVersion, ListStreams, StoreStats};
    let Some(url) = env("EVENTFOLD_REDIS_URL") else {
        return;
    };
    let prefix = format!("stats-{}", uuid::Uuid::now_v7().simple());
    let store = AnyStore::open(&format!("{url}?prefix={prefix}"))
        .await
        .unwrap();
    let empty = store.statistics().await.unwrap();
    assert_eq!(empty, crate::store::StoreStatistics::default());
    let stream = StreamId::new("Acc-1").unwrap();
    let event = NewEvent::new("Opened", 1, b"{}".to_vec(), Metadata::default());
    store
        .append(&stream, ExpectedVersion::NoStream, vec![event])
        .await
        .unwrap();
    let stats = store.statistics().await.unwrap();
    assert_eq!((stats.total_events, stats.total_streams), (1, 1));
    assert_eq!(stats.head_position, store.head_position().await.unwrap());
    assert_eq!(stats.events_by_type.get("Opened"), Some(&1));
    assert_eq!(stats.streams_by_category.get("Acc"), Some(&1));
    let page = store.list_streams(ListStreams::new()).await.unwrap();
    assert_eq!(page.streams.len(), 1);
    assert_eq!(page.streams[0].stream_id, stream);
    if let AnyStore::Redis(store) = store {
        store.destroy().await.unwrap();
    }
}
