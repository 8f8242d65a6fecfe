//! `PostgresStore` against the server named by `EVENTFOLD_POSTGRES_URL`, each
//! test in its own schema. Without the variable the tests print a notice and
//! pass; with `EVENTFOLD_REQUIRE_POSTGRES=1` (CI) they fail instead.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use eventfold::store::conformance::Fixture;
use eventfold::store::{
    DeleteMode, EventStore, ExpectedVersion, PostgresStore, ReadStream, StoreError, SubscribeFrom,
    subscribe,
};
use eventfold::{Metadata, NewEvent, Snapshot, SnapshotStore, StreamId};
use uuid::Uuid;

/// The server's URL, or `None` (after a notice) when the tests should skip.
fn url() -> Option<String> {
    match std::env::var("EVENTFOLD_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("EVENTFOLD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "EVENTFOLD_REQUIRE_POSTGRES=1 but EVENTFOLD_POSTGRES_URL is not set"
            );
            eprintln!("skipping: EVENTFOLD_POSTGRES_URL not set");
            None
        }
    }
}

/// A fresh schema name for one test.
fn schema_name(test: &str) -> String {
    let suffix = Uuid::now_v7().simple().to_string();
    format!("t_{}_{}", &test[..test.len().min(20)], &suffix[20..])
}

async fn connect(url: &str, schema: &str) -> PostgresStore {
    match PostgresStore::options(url).schema(schema).connect().await {
        Ok(store) => store,
        Err(e) => panic!("EVENTFOLD_POSTGRES_URL is set but the store does not connect: {e}"),
    }
}

/// A store in a fresh schema named after the test.
async fn store(test: &str) -> Option<PostgresStore> {
    let url = url()?;
    Some(connect(&url, &schema_name(test)).await)
}

/// Runs SQL on its own connection, bypassing the store.
async fn sql(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client.batch_execute(sql).await.expect("raw sql");
}

/// Drops the test's schema (left in place when a test fails, to inspect).
async fn drop_schema(store: &PostgresStore) {
    let Some(url) = url() else { return };
    sql(&url, &format!("DROP SCHEMA \"{}\" CASCADE", store.schema())).await;
}

/// Runs SQL against the test's schema, bypassing the store.
async fn raw_sql(store: &PostgresStore, statement: &str) {
    let url = url().expect("url");
    let search_path = format!("SET search_path TO \"{}\"; {statement}", store.schema());
    sql(&url, &search_path).await;
}

/// Drops a conformance case's schema when the case ends, pass or fail.
struct SchemaDropper {
    url: String,
    schema: String,
}

impl Drop for SchemaDropper {
    fn drop(&mut self) {
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        let url = self.url.clone();
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(sql(&url, &statement));
        })
        .join();
    }
}

/// A conformance fixture: a store in its own schema, reopenable, with a
/// corrupter that breaks a row's metadata; `None` (skip) without a server.
async fn fixture() -> Option<Fixture<PostgresStore>> {
    let url = url()?;
    let schema = schema_name("conf");
    let store = connect(&url, &schema).await;
    let (reopen_url, reopen_schema) = (url.clone(), schema.clone());
    let (corrupt_url, corrupt_schema) = (url.clone(), schema.clone());
    Some(
        Fixture::new(store)
            .with_reopen(move || {
                let (url, schema) = (reopen_url.clone(), reopen_schema.clone());
                async move { connect(&url, &schema).await }
            })
            .with_corrupter(move |stream: StreamId, version: u64| {
                let statement = format!(
                    "UPDATE \"{corrupt_schema}\".events SET metadata = '{{\"correlation_id\": 42}}' \
                     WHERE stream_id = '{}' AND stream_version = {version}",
                    stream.as_str().replace('\'', "''")
                );
                let url = corrupt_url.clone();
                async move { sql(&url, &statement).await }
            })
            .with_guard(SchemaDropper { url, schema }),
    )
}

/// The shared store conformance suite, each case in its own schema.
mod conformance {
    eventfold::store_conformance_tests!(super::fixture().await);
}

fn sid(s: &str) -> StreamId {
    StreamId::new(s).unwrap()
}

fn ev(n: u32) -> NewEvent {
    NewEvent::new(
        "Counted",
        1,
        format!("{{\"n\":{n}}}").into_bytes(),
        Metadata::default(),
    )
}

fn evs(n: u32) -> Vec<NewEvent> {
    (1..=n).map(ev).collect()
}

#[tokio::test]
async fn expected_version_matrix() {
    let Some(s) = store("expected").await else {
        return;
    };
    let a = sid("a");
    let r = s
        .append(&a, ExpectedVersion::NoStream, evs(1))
        .await
        .unwrap();
    assert_eq!((r.first_version, r.next_expected_version), (1, 1));
    assert!(r.written && r.last_position == 1);
    let err = s
        .append(&a, ExpectedVersion::NoStream, evs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::StreamAlreadyExists { version: 1, .. }),
        "{err}"
    );
    let err = s
        .append(&sid("absent"), ExpectedVersion::StreamExists, evs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::StreamNotFound { .. }), "{err}");
    s.append(&a, ExpectedVersion::StreamExists, evs(1))
        .await
        .unwrap();
    s.append(&a, ExpectedVersion::Any, evs(1)).await.unwrap();
    for wrong in [0, 1, 2, 7] {
        let err = s
            .append(&a, ExpectedVersion::Exact(wrong), evs(1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::WrongExpectedVersion { expected, actual: 3, .. } if expected == wrong),
            "{err}"
        );
        assert!(err.is_conflict());
    }
    let r = s
        .append(&a, ExpectedVersion::Exact(3), evs(2))
        .await
        .unwrap();
    assert_eq!(
        (r.first_version, r.next_expected_version, r.last_position),
        (4, 5, 5)
    );
    // Appending nothing changes nothing, but is still checked.
    let r = s.append(&a, ExpectedVersion::Any, vec![]).await.unwrap();
    assert_eq!((r.next_expected_version, r.written), (5, false));
    assert!(
        s.append(&a, ExpectedVersion::Exact(4), vec![])
            .await
            .is_err()
    );
    let r = s
        .append(&sid("empty"), ExpectedVersion::NoStream, vec![])
        .await
        .unwrap();
    assert_eq!(r.next_expected_version, 0);
    assert_eq!(s.stream_info(&sid("empty")).await.unwrap(), None);
    assert_eq!(s.read_stream(&a, ReadStream::all()).await.unwrap().len(), 5);
    assert_eq!(s.head_position().await.unwrap(), 5);
    drop_schema(&s).await;
}

#[tokio::test]
async fn a_refused_batch_writes_nothing() {
    let Some(s) = store("atomic").await else {
        return;
    };
    let taken = ev(1);
    s.append(&sid("other"), ExpectedVersion::Any, vec![taken.clone()])
        .await
        .unwrap();
    s.append(&sid("a"), ExpectedVersion::Any, evs(2))
        .await
        .unwrap();
    // The third event's id is stored in another stream: nothing lands.
    let batch = vec![ev(3), ev(4), taken.clone()];
    let err = s
        .append(&sid("a"), ExpectedVersion::Exact(2), batch)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateEventId { existing_stream, event_id, .. }
            if existing_stream.as_str() == "other" && *event_id == taken.event_id),
        "{err}"
    );
    assert_eq!(
        s.read_stream(&sid("a"), ReadStream::all())
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.head_position().await.unwrap(), 3);
    // A batch repeating one id is refused too.
    let dup = ev(5);
    let err = s
        .append(&sid("a"), ExpectedVersion::Any, vec![dup.clone(), dup])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateEventInBatch { .. }),
        "{err}"
    );
    // The next append continues without a gap.
    let r = s
        .append(&sid("a"), ExpectedVersion::Exact(2), evs(1))
        .await
        .unwrap();
    assert_eq!((r.next_expected_version, r.last_position), (3, 4));
    drop_schema(&s).await;
}

#[tokio::test]
async fn idempotent_resends() {
    let Some(s) = store("idempotent").await else {
        return;
    };
    let a = sid("a");
    let first = evs(3);
    s.append(&a, ExpectedVersion::NoStream, first.clone())
        .await
        .unwrap();
    let second = evs(2);
    s.append(&a, ExpectedVersion::Exact(3), second.clone())
        .await
        .unwrap();
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Any,
        ExpectedVersion::Exact(0),
    ] {
        let r = s.append(&a, expected, first.clone()).await.unwrap();
        assert_eq!(
            (
                r.first_version,
                r.next_expected_version,
                r.last_position,
                r.written
            ),
            (1, 3, 3, false)
        );
    }
    let r = s
        .append(&a, ExpectedVersion::Exact(3), second.clone())
        .await
        .unwrap();
    assert_eq!(
        (r.first_version, r.next_expected_version, r.written),
        (4, 5, false)
    );
    // Part of a stored batch plus a new event: a conflict, nothing written.
    let partial = vec![second[1].clone(), ev(9)];
    let err = s
        .append(&a, ExpectedVersion::Any, partial)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { version: 5, .. }),
        "{err}"
    );
    // Stored ids out of order: a conflict.
    let swapped = vec![first[1].clone(), first[0].clone()];
    let err = s
        .append(&a, ExpectedVersion::Any, swapped)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err}"
    );
    // A new event followed by a stored one: a conflict.
    let err = s
        .append(&a, ExpectedVersion::Any, vec![ev(10), first[2].clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { version: 3, .. }),
        "{err}"
    );
    // The same batch in another stream is refused.
    let err = s
        .append(&sid("b"), ExpectedVersion::Any, first.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEventId { .. }), "{err}");
    assert_eq!(s.read_stream(&a, ReadStream::all()).await.unwrap().len(), 5);
    assert_eq!(s.head_position().await.unwrap(), 5);
    drop_schema(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_one_success_per_version() {
    let Some(s) = store("writers").await else {
        return;
    };
    let s = Arc::new(s);
    let a = sid("contended");
    // Rounds: all 16 expect the same version; exactly one wins each round.
    for round in 0..4u64 {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (s, a) = (s.clone(), a.clone());
                tokio::spawn(
                    async move { s.append(&a, ExpectedVersion::Exact(round), evs(1)).await },
                )
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => {
                    wins += 1;
                    assert_eq!(r.next_expected_version, round + 1);
                }
                Err(e) => assert!(e.is_conflict(), "{e}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
    // Free-for-all: each task retries until its 5 events are in; none lost.
    let tasks: Vec<_> = (0..16u32)
        .map(|w| {
            let (s, a) = (s.clone(), a.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..5 {
                    let e = ev(w * 100 + i);
                    loop {
                        let v = s.stream_info(&a).await.unwrap().unwrap().version;
                        match s
                            .append(&a, ExpectedVersion::Exact(v), vec![e.clone()])
                            .await
                        {
                            Ok(r) => {
                                mine.push((r.next_expected_version, e.event_id));
                                break;
                            }
                            Err(err) if err.is_conflict() => continue,
                            Err(err) => panic!("{err}"),
                        }
                    }
                }
                mine
            })
        })
        .collect();
    let mut acked = BTreeMap::new();
    for t in tasks {
        for (v, id) in t.await.unwrap() {
            assert!(
                acked.insert(v, id).is_none(),
                "version {v} acknowledged twice"
            );
        }
    }
    let stored = s.read_stream(&a, ReadStream::all()).await.unwrap();
    assert_eq!(stored.len(), 4 + 80);
    for e in &stored[4..] {
        assert_eq!(acked.get(&e.stream_version), Some(&e.event_id));
    }
    drop_schema(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_all_never_skips_under_concurrent_writers() {
    let Some(s) = store("readall").await else {
        return;
    };
    let s = Arc::new(s);
    const WRITERS: u32 = 8;
    const EACH: u32 = 40;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let stream = sid(&format!("w-{w}"));
                for i in 0..EACH {
                    let batch = if i % 3 == 0 { evs(2) } else { evs(1) };
                    s.append(&stream, ExpectedVersion::Any, batch)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    // A reader paging concurrently with the writers: every page continues
    // right after the last position seen; nothing may be skipped.
    let reader = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            let total = (WRITERS * (EACH + EACH.div_ceil(3))) as usize;
            while seen.len() < total {
                let page = s.read_all(after, 7).await.unwrap();
                for e in page {
                    assert!(e.global_position > after, "positions must increase");
                    after = e.global_position;
                    seen.push(e.global_position);
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    let seen = reader.await.unwrap();
    let head = s.head_position().await.unwrap();
    // Gap-free positions: the reader saw exactly 1..=head.
    assert_eq!(seen, (1..=head).collect::<Vec<_>>());
    // And per stream, versions follow positions.
    let all = s.read_all(0, 10_000).await.unwrap();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for e in &all {
        let v = last.entry(e.stream_id.to_string()).or_default();
        assert_eq!(e.stream_version, *v + 1);
        *v = e.stream_version;
    }
    drop_schema(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscription_catches_up_then_goes_live() {
    let Some(s) = store("subscribe").await else {
        return;
    };
    let s = Arc::new(s);
    s.append(&sid("history"), ExpectedVersion::Any, evs(10))
        .await
        .unwrap();
    let mut from_origin = subscribe(s.clone(), SubscribeFrom::Origin).await.unwrap();
    let mut from_now = subscribe(s.clone(), SubscribeFrom::Now).await.unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..15 {
                    s.append(&sid(&format!("live-{w}")), ExpectedVersion::Any, evs(1))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut positions = Vec::new();
    for _ in 0..70 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), from_origin.next())
            .await
            .expect("subscription stalled")
            .unwrap();
        positions.push(e.global_position);
    }
    assert_eq!(positions, (1..=70).collect::<Vec<_>>());
    let first_live = from_now.next().await.unwrap();
    assert_eq!(first_live.global_position, 11);
    for w in writers {
        w.await.unwrap();
    }
    // Resume from a checkpoint: continues exactly after it.
    let mut resumed = subscribe(s.clone(), SubscribeFrom::After(42))
        .await
        .unwrap();
    assert_eq!(resumed.next().await.unwrap().global_position, 43);
    drop_schema(&s).await;
}

#[tokio::test]
async fn read_ranges_and_directions() {
    let Some(s) = store("ranges").await else {
        return;
    };
    let a = sid("a");
    assert!(
        s.read_stream(&a, ReadStream::all())
            .await
            .unwrap()
            .is_empty()
    );
    s.append(&a, ExpectedVersion::Any, evs(10)).await.unwrap();
    let versions = |r: Vec<eventfold::RecordedEvent>| {
        r.into_iter().map(|e| e.stream_version).collect::<Vec<_>>()
    };
    let read = |r: ReadStream| {
        let (s, a) = (&s, &a);
        async move { versions(s.read_stream(a, r).await.unwrap()) }
    };
    assert_eq!(read(ReadStream::all().from(8)).await, vec![8, 9, 10]);
    assert_eq!(read(ReadStream::all().to(2)).await, vec![1, 2]);
    assert_eq!(
        read(ReadStream::all().from(3).to(9).limit(2)).await,
        vec![3, 4]
    );
    assert_eq!(read(ReadStream::all().from(5).to(5)).await, vec![5]);
    assert!(read(ReadStream::all().from(6).to(5)).await.is_empty());
    assert_eq!(read(ReadStream::backward().limit(3)).await, vec![10, 9, 8]);
    assert_eq!(
        read(ReadStream::backward().to(4).limit(2)).await,
        vec![4, 3]
    );
    assert_eq!(read(ReadStream::all().from(9).to(99)).await, vec![9, 10]);
    let page = s.read_all(4, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    assert!(s.read_all(10, 5).await.unwrap().is_empty());
    drop_schema(&s).await;
}

#[tokio::test]
async fn tombstones_and_hard_deletes() {
    let Some(s) = store("delete").await else {
        return;
    };
    let (t, h) = (sid("tomb"), sid("hard"));
    s.append(&t, ExpectedVersion::Any, evs(2)).await.unwrap();
    s.append(&h, ExpectedVersion::Any, evs(3)).await.unwrap();
    s.delete_stream(&t, DeleteMode::Tombstone).await.unwrap();
    let err = s.read_stream(&t, ReadStream::all()).await.unwrap_err();
    assert!(matches!(err, StoreError::StreamDeleted { .. }), "{err}");
    let err = s
        .append(&t, ExpectedVersion::Any, evs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::StreamDeleted { .. }), "{err}");
    assert!(s.stream_info(&t).await.unwrap().unwrap().deleted);
    // A tombstone on a stream never written refuses appends too.
    s.delete_stream(&sid("never"), DeleteMode::Tombstone)
        .await
        .unwrap();
    assert!(
        s.append(&sid("never"), ExpectedVersion::Any, evs(1))
            .await
            .is_err()
    );

    s.delete_stream(&h, DeleteMode::Hard).await.unwrap();
    assert!(
        s.read_stream(&h, ReadStream::all())
            .await
            .unwrap()
            .is_empty()
    );
    let info = s.stream_info(&h).await.unwrap().unwrap();
    assert_eq!(
        (info.version, info.deleted, info.first_recorded_at),
        (3, false, None)
    );
    let err = s
        .append(&h, ExpectedVersion::NoStream, evs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::StreamAlreadyExists { version: 3, .. }),
        "{err}"
    );
    let r = s
        .append(&h, ExpectedVersion::Exact(3), evs(1))
        .await
        .unwrap();
    assert_eq!(r.next_expected_version, 4);
    assert_eq!(
        versions_of(s.read_stream(&h, ReadStream::all()).await.unwrap()),
        vec![4]
    );
    // Read-all skips the removed events; positions keep increasing.
    let all = s.read_all(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![1, 2, 6]
    );
    drop_schema(&s).await;
}

fn versions_of(r: Vec<eventfold::RecordedEvent>) -> Vec<u64> {
    r.into_iter().map(|e| e.stream_version).collect()
}

#[tokio::test]
async fn payload_and_metadata_round_trip() {
    let Some(s) = store("roundtrip").await else {
        return;
    };
    let stream = sid("Konto-äöü-😀");
    let meta = Metadata::default()
        .with_correlation_id(Uuid::now_v7())
        .with_causation_id(Uuid::now_v7())
        .with_actor("zoë")
        .with("tenant", "acme")
        .with("n", 18_446_744_073_709_551_615u64);
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let events = vec![
        NewEvent::new("Grüße", 7, "\"héllo ☃\"".as_bytes().to_vec(), meta.clone()),
        NewEvent::new("Big", 1, big.clone(), Metadata::default()),
        NewEvent::new("Empty", 1, Vec::new(), Metadata::default()),
    ];
    s.append(&stream, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    let read = s.read_stream(&stream, ReadStream::all()).await.unwrap();
    assert_eq!(read.len(), 3);
    for (r, e) in read.iter().zip(&events) {
        assert_eq!(r.event_id, e.event_id);
        assert_eq!(r.event_type, e.event_type);
        assert_eq!(r.schema_version, e.schema_version);
        assert_eq!(r.payload, e.payload);
        assert_eq!(r.metadata, e.metadata);
        assert_eq!(r.stream_id, stream);
    }
    let info = s.stream_info(&stream).await.unwrap().unwrap();
    assert_eq!(info.version, 3);
    assert_eq!(info.first_recorded_at, Some(read[0].recorded_at));
    assert_eq!(info.last_recorded_at, Some(read[2].recorded_at));
    drop_schema(&s).await;
}

#[tokio::test]
async fn a_corrupted_row_fails_its_read_with_a_typed_error() {
    let Some(s) = store("corrupt").await else {
        return;
    };
    s.append(&sid("bad"), ExpectedVersion::Any, evs(2))
        .await
        .unwrap();
    s.append(&sid("good"), ExpectedVersion::Any, evs(2))
        .await
        .unwrap();
    raw_sql(
        &s,
        "UPDATE events SET metadata = '{\"correlation_id\": 42}' \
         WHERE stream_id = 'bad' AND stream_version = 2",
    )
    .await;
    let err = s
        .read_stream(&sid("bad"), ReadStream::all())
        .await
        .unwrap_err();
    match &err {
        StoreError::Corrupted {
            stream,
            version,
            event_type,
            ..
        } => assert_eq!(
            (stream.as_str(), *version, event_type.as_str()),
            ("bad", 2, "Counted")
        ),
        other => panic!("expected Corrupted, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("bad") && msg.contains("version 2") && msg.contains("Counted"),
        "{msg}"
    );
    assert!(matches!(
        s.read_all(0, 100).await,
        Err(StoreError::Corrupted { .. })
    ));
    assert_eq!(
        s.read_stream(&sid("good"), ReadStream::all())
            .await
            .unwrap()
            .len(),
        2
    );
    // The intact part of the bad stream still reads.
    assert_eq!(
        s.read_stream(&sid("bad"), ReadStream::all().to(1))
            .await
            .unwrap()
            .len(),
        1
    );
    raw_sql(
        &s,
        "UPDATE events SET stream_version = -5 WHERE stream_id = 'good' AND stream_version = 1",
    )
    .await;
    let err = s.read_all(2, 100).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupted { ref stream, .. } if stream == "good"),
        "{err}"
    );
    drop_schema(&s).await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_typed_error() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let err = PostgresStore::connect(&url).await.unwrap_err();
    match &err {
        StoreError::Unreachable { host, port: p, .. } => {
            assert_eq!((host.as_str(), *p), ("127.0.0.1", port));
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn bad_options_are_typed_errors() {
    let err = PostgresStore::options("postgres://postgres@127.0.0.1:5432/test")
        .schema("no-dashes")
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-dashes"), "{err}");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    let err = PostgresStore::connect("postgres://[bad").await.unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
}

#[tokio::test]
async fn schema_creation_is_idempotent_and_data_survives_reconnects() {
    let Some(s) = store("reconnect").await else {
        return;
    };
    let url = url().unwrap();
    s.append(&sid("a"), ExpectedVersion::Any, evs(3))
        .await
        .unwrap();
    let (again, also) = tokio::join!(
        PostgresStore::options(url.clone())
            .schema(s.schema())
            .connect(),
        PostgresStore::options(url).schema(s.schema()).connect(),
    );
    let (again, also) = (again.unwrap(), also.unwrap());
    assert_eq!(again.head_position().await.unwrap(), 3);
    let r = also
        .append(&sid("a"), ExpectedVersion::Exact(3), evs(1))
        .await
        .unwrap();
    assert_eq!(r.last_position, 4);
    assert_eq!(
        s.read_stream(&sid("a"), ReadStream::all())
            .await
            .unwrap()
            .len(),
        4
    );
    drop_schema(&s).await;
}

#[tokio::test]
async fn snapshots() {
    let Some(s) = store("snapshots").await else {
        return;
    };
    let a = sid("acct-1");
    let snap = |version: u64, schema_version: u32, payload: Vec<u8>| Snapshot {
        stream_id: a.clone(),
        aggregate_type: "Account".into(),
        schema_version,
        version,
        payload,
        taken_at: chrono::DateTime::from_timestamp(1_700_000_000 + version as i64, 0).unwrap(),
    };
    assert_eq!(s.load_snapshot(&a, "Account", 1, None).await.unwrap(), None);
    s.save_snapshot(snap(5, 1, b"five".to_vec())).await.unwrap();
    s.save_snapshot(snap(10, 1, vec![7; 10 * 1024]))
        .await
        .unwrap();
    s.save_snapshot(snap(15, 2, b"newer schema".to_vec()))
        .await
        .unwrap();
    let latest = s
        .load_snapshot(&a, "Account", 1, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest, snap(10, 1, vec![7; 10 * 1024]));
    let at_or_below = s
        .load_snapshot(&a, "Account", 1, Some(9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at_or_below.version, 5);
    assert_eq!(
        s.load_snapshot(&a, "Account", 1, Some(4)).await.unwrap(),
        None
    );
    assert_eq!(s.load_snapshot(&a, "Other", 1, None).await.unwrap(), None);
    // Saving at the same version replaces.
    s.save_snapshot(snap(5, 1, b"FIVE".to_vec())).await.unwrap();
    let five = s
        .load_snapshot(&a, "Account", 1, Some(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(five.payload, b"FIVE");
    assert_eq!(s.prune_snapshots(&a, 2).await.unwrap(), 1);
    assert_eq!(
        s.load_snapshot(&a, "Account", 1, Some(9)).await.unwrap(),
        None
    );
    s.delete_snapshots(&a).await.unwrap();
    assert_eq!(s.load_snapshot(&a, "Account", 2, None).await.unwrap(), None);
    drop_schema(&s).await;
}

#[tokio::test]
async fn positions_are_unique_across_streams() {
    let Some(s) = store("positions").await else {
        return;
    };
    for i in 0..5 {
        s.append(&sid(&format!("s{i}")), ExpectedVersion::Any, evs(i + 1))
            .await
            .unwrap();
    }
    let all = s.read_all(0, 1000).await.unwrap();
    let positions: HashSet<u64> = all.iter().map(|e| e.global_position).collect();
    assert_eq!(positions.len(), all.len());
    assert!(
        all.windows(2)
            .all(|w| w[0].global_position < w[1].global_position)
    );
    drop_schema(&s).await;
}

#[tokio::test]
async fn deleting_events_below_a_version() {
    let Some(s) = store("before").await else {
        return;
    };
    let a = sid("a");
    s.append(&a, ExpectedVersion::Any, evs(5)).await.unwrap();
    assert_eq!(s.delete_events_before(&a, 4).await.unwrap(), 3);
    assert_eq!(
        versions_of(s.read_stream(&a, ReadStream::all()).await.unwrap()),
        vec![4, 5]
    );
    assert_eq!(s.stream_info(&a).await.unwrap().unwrap().version, 5);
    let r = s
        .append(&a, ExpectedVersion::Exact(5), evs(1))
        .await
        .unwrap();
    assert_eq!(r.next_expected_version, 6);
    assert_eq!(s.delete_events_before(&sid("absent"), 9).await.unwrap(), 0);
    s.delete_stream(&a, DeleteMode::Tombstone).await.unwrap();
    let err = s.delete_events_before(&a, 9).await.unwrap_err();
    assert!(matches!(err, StoreError::StreamDeleted { .. }), "{err}");
    drop_schema(&s).await;
}

/// Concurrent appends share one transaction (group commit); one the server
/// rejects (metadata JSON PostgreSQL's `jsonb` refuses: a `\u0000` escape)
/// fails alone with a typed error naming its stream, and its neighbours
/// are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_append_fails_alone() {
    let Some(s) = store("rejected").await else {
        return;
    };
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..32u32)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let stream = sid(&format!("group-{w}"));
                let mut event = ev(w);
                if w == 7 {
                    event.metadata = Metadata::default().with_actor("nul\0actor");
                }
                s.append(&stream, ExpectedVersion::NoStream, vec![event])
                    .await
            })
        })
        .collect();
    for (w, t) in tasks.into_iter().enumerate() {
        match (w, t.await.unwrap()) {
            (7, Err(StoreError::Backend { context, .. })) => {
                assert!(context.contains("group-7"), "{context}");
            }
            (7, other) => panic!("the rejected append answered {other:?}"),
            (w, Err(e)) => panic!("append {w} failed with its rejected neighbour: {e}"),
            (_, Ok(r)) => assert_eq!(r.next_expected_version, 1),
        }
    }
    assert_eq!(s.read_all(0, 100).await.unwrap().len(), 31);
    assert_eq!(s.stream_info(&sid("group-7")).await.unwrap(), None);
    drop_schema(&s).await;
}

/// Many single-event appends in flight at once all land, each at its own
/// position, with the positions each append was told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_single_appends_all_land() {
    let Some(s) = store("many").await else {
        return;
    };
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..200u32)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let stream = sid(&format!("many-{}", w % 50));
                let e = ev(w);
                let id = e.event_id;
                let r = s
                    .append(&stream, ExpectedVersion::Any, vec![e])
                    .await
                    .unwrap();
                (r.last_position, id)
            })
        })
        .collect();
    let mut told = BTreeMap::new();
    for t in tasks {
        let (position, id) = t.await.unwrap();
        assert!(
            told.insert(position, id).is_none(),
            "position {position} given twice"
        );
    }
    let all = s.read_all(0, 1_000).await.unwrap();
    assert_eq!(all.len(), 200);
    for e in &all {
        assert_eq!(told.get(&e.global_position), Some(&e.event_id));
    }
    drop_schema(&s).await;
}

/// A batch larger than one group's event budget goes in a group of its own,
/// whole, while small appends around it share groups; every batch lands
/// with consecutive positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_over_the_group_budget_lands_whole() {
    let Some(s) = store("bigbatch").await else {
        return;
    };
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for w in 0..12u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let n = if w % 4 == 0 { 6_000 } else { 3 };
            let stream = sid(&format!("budget-{w}"));
            let r = s
                .append(&stream, ExpectedVersion::NoStream, evs(n))
                .await
                .unwrap();
            (stream, n, r)
        }));
    }
    let mut total = 0;
    for t in tasks {
        let (stream, n, r) = t.await.unwrap();
        assert_eq!(
            (r.first_version, r.next_expected_version),
            (1, u64::from(n))
        );
        let events = s.read_stream(&stream, ReadStream::all()).await.unwrap();
        assert_eq!(events.len() as u32, n);
        let positions: Vec<u64> = events.iter().map(|e| e.global_position).collect();
        assert!(
            positions.windows(2).all(|p| p[1] == p[0] + 1),
            "batch of `{stream}` not consecutive"
        );
        assert_eq!(positions.last(), Some(&r.last_position));
        total += u64::from(n);
    }
    assert_eq!(s.head_position().await.unwrap(), total);
    drop_schema(&s).await;
}

/// A value the server refuses (a NUL byte in an event type, in metadata)
/// fails that append alone, with the server's reason in the error's text,
/// not the driver's bare "db error".
#[tokio::test]
async fn server_refusals_carry_the_servers_reason() {
    let Some(store) = store("server_reason").await else {
        return;
    };
    let s = sid("nul");
    let bad_type = NewEvent::new("Bad\0Type", 1, b"{}".to_vec(), Metadata::default());
    let err = store
        .append(&s, ExpectedVersion::Any, vec![bad_type])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.ends_with("db error"), "{text}");
    assert!(text.contains("0x00"), "the server's reason: {text}");
    assert!(text.contains("`nul`"), "names the stream: {text}");

    let metadata = Metadata {
        actor: Some("nul\0actor".into()),
        ..Metadata::default()
    };
    let bad_metadata = NewEvent::new("Good", 1, b"{}".to_vec(), metadata);
    let err = store
        .append(&s, ExpectedVersion::Any, vec![bad_metadata])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("\\u0000"), "the server's reason: {text}");

    // Nothing was written, and the stream still takes good events.
    assert!(
        store
            .read_stream(&s, ReadStream::all())
            .await
            .unwrap()
            .is_empty()
    );
    let good = NewEvent::new("Good", 1, b"{}".to_vec(), Metadata::default());
    store
        .append(&s, ExpectedVersion::NoStream, vec![good])
        .await
        .unwrap();
    drop_schema(&store).await;
}
