//! The store conformance suite against [`eventfold::store::SqliteStore`],
//! each case on a fresh file.

eventfold::store_conformance_tests!(eventfold::store::conformance::sqlite_fixture().await);

/// Typed errors and on-disk behaviour specific to SQLite files.
mod sqlite_files {
    use eventfold::store::{DeleteMode, ReadStream, SqliteStore};
    use eventfold::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError, StreamId};

    fn event(n: u32) -> NewEvent {
        NewEvent::new(
            "Probe",
            1,
            format!("{{\"n\":{n}}}").into_bytes(),
            Metadata::default(),
        )
    }

    fn stream(id: &str) -> StreamId {
        StreamId::new(id).unwrap()
    }

    fn assert_open_error(err: StoreError, path: &std::path::Path, reason: &str) {
        match &err {
            StoreError::Open {
                location,
                reason: got,
                ..
            } => {
                assert_eq!(location, &path.display().to_string());
                assert!(got.contains(reason), "{got:?} should mention {reason:?}");
            }
            other => panic!("expected an open error, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_a_typed_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_open_error(err, &path, "not a SQLite database");
        // The file is left as it was.
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("these are my notes")
        );
    }

    #[tokio::test]
    async fn a_missing_directory_is_a_typed_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/events.db");
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_open_error(err, &path, "cannot be opened");
    }

    #[tokio::test]
    async fn a_schema_newer_than_the_code_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        drop(SqliteStore::open(&path).await.unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE eventfold_schema SET version = 99", [])
            .unwrap();
        drop(conn);
        let err = SqliteStore::open(&path).await.unwrap_err();
        match &err {
            StoreError::IncompatibleLayout {
                location,
                found,
                supported,
                ..
            } => {
                assert_eq!(location, &path.display().to_string());
                assert_eq!(found, "99");
                assert_eq!(*supported, u64::from(SqliteStore::SCHEMA_VERSION));
            }
            other => panic!("expected an incompatible layout, got {other:?}"),
        }
        assert!(err.to_string().contains("layout version 99"), "{err}");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn the_schema_is_created_once_and_its_version_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        // An empty file is a new database.
        std::fs::write(&path, b"").unwrap();
        for _ in 0..3 {
            let store = SqliteStore::open(&path).await.unwrap();
            store
                .append(&stream("s"), ExpectedVersion::Any, vec![event(1)])
                .await
                .unwrap();
        }
        let conn = rusqlite::Connection::open(&path).unwrap();
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM eventfold_schema")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(versions, vec![i64::from(SqliteStore::SCHEMA_VERSION)]);
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
    }

    #[tokio::test]
    async fn data_and_the_head_survive_reopening_even_after_a_hard_delete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .append(&stream("a"), ExpectedVersion::NoStream, vec![event(1)])
            .await
            .unwrap();
        store
            .append(
                &stream("b"),
                ExpectedVersion::NoStream,
                vec![event(1), event(2)],
            )
            .await
            .unwrap();
        store
            .delete_stream(&stream("b"), DeleteMode::Hard)
            .await
            .unwrap();
        drop(store);
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.head_position().await.unwrap(), 3);
        let r = store
            .append(&stream("c"), ExpectedVersion::NoStream, vec![event(1)])
            .await
            .unwrap();
        assert_eq!(r.last_position, 4, "positions are never reused");
        let r = store
            .append(&stream("b"), ExpectedVersion::Exact(2), vec![event(3)])
            .await
            .unwrap();
        assert_eq!(r.first_version, 3);
    }

    async fn corrupt_and_read(sql: &str) -> StoreError {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .append(
                &stream("acct-1"),
                ExpectedVersion::Any,
                vec![event(1), event(2)],
            )
            .await
            .unwrap();
        store
            .append(&stream("acct-2"), ExpectedVersion::Any, vec![event(1)])
            .await
            .unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(conn.execute(sql, []).unwrap(), 1, "{sql}");
        drop(conn);
        // Other streams still read.
        assert_eq!(
            store
                .read_stream(&stream("acct-2"), ReadStream::all())
                .await
                .unwrap()
                .len(),
            1
        );
        store.read_all(0, 10).await.unwrap_err()
    }

    fn assert_corrupted(err: StoreError, stream: &str, version: u64, column: &str) {
        match &err {
            StoreError::Corrupted {
                stream: s,
                version: v,
                event_type,
                position,
                reason,
            } => {
                assert_eq!((s.as_str(), *v), (stream, version), "{err}");
                if column != "position" {
                    // The row's position (each test corrupts the row whose
                    // position equals its version), so that a projection
                    // can park it.
                    assert_eq!(*position, Some(version), "{err}");
                    assert!(
                        err.to_string()
                            .contains(&format!("global position {version}")),
                        "{err}"
                    );
                }
                assert_eq!(event_type, "Probe");
                assert!(reason.contains(column), "{reason:?} should name {column}");
            }
            other => panic!("expected a corrupted-row error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_stored_invalid_stream_id_is_a_typed_error() {
        let err = corrupt_and_read(
            "UPDATE eventfold_events SET stream_id = 'bad' || char(10) || 'id' WHERE position = 2",
        )
        .await;
        assert_corrupted(err, "bad\nid", 2, "stream_id");
    }

    #[tokio::test]
    async fn a_stored_malformed_event_id_is_a_typed_error() {
        let err =
            corrupt_and_read("UPDATE eventfold_events SET event_id = X'0102' WHERE position = 2")
                .await;
        assert_corrupted(err, "acct-1", 2, "event_id");
    }

    #[tokio::test]
    async fn a_stored_payload_of_the_wrong_type_is_a_typed_error() {
        let err =
            corrupt_and_read("UPDATE eventfold_events SET payload = 42 WHERE position = 1").await;
        assert_corrupted(err, "acct-1", 1, "payload");
    }

    #[tokio::test]
    async fn a_stored_schema_version_out_of_range_is_a_typed_error() {
        let err =
            corrupt_and_read("UPDATE eventfold_events SET schema_version = -1 WHERE position = 2")
                .await;
        assert_corrupted(err, "acct-1", 2, "schema_version");
    }
}
