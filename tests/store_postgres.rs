//! `PostgresStore` against the server named by `EVENTFOLD_POSTGRES_URL`, each
//! test in its own schema: the shared store conformance suite, then what
//! only PostgreSQL has (connection and schema handling, group commit, the
//! server's own refusals). Without the variable the tests print a notice and
//! pass; with `EVENTFOLD_REQUIRE_POSTGRES=1` (CI) they fail instead.

use std::sync::Arc;

use eventfold::store::conformance::PostgresSchema;
use eventfold::store::{EventStore, ExpectedVersion, PostgresStore, ReadStream, StoreError};
use eventfold::{Metadata, NewEvent, StreamId};

/// The shared store conformance suite, each case in its own schema.
mod conformance {
    eventfold::store_conformance_tests!(eventfold::store::conformance::postgres_fixture().await);
}

/// A store in a fresh schema named after the test, and the schema (dropped
/// when the test ends); `None` (skip) without a server.
async fn store(test: &str) -> Option<(PostgresStore, PostgresSchema)> {
    let schema = PostgresSchema::new(test)?;
    Some((schema.store().await, schema))
}

/// Two stores on one fresh schema (two processes: two group committers),
/// and the schema (dropped when the test ends); `None` (skip) without a
/// server.
async fn two_stores(test: &str) -> Option<([Arc<PostgresStore>; 2], PostgresSchema)> {
    let schema = PostgresSchema::new(test)?;
    let stores = [
        Arc::new(schema.store().await),
        Arc::new(schema.store().await),
    ];
    Some((stores, schema))
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

/// A stored version outside what the store writes (negative, in an `BIGINT`
/// column) is `Corrupted`, naming the stream, not a panic or a wrap-around.
/// (The damaged-metadata case is the suite's, through the fixture's
/// corrupter.)
#[tokio::test]
async fn an_out_of_range_stored_version_is_corrupted() {
    let Some((s, pg)) = store("corrupt").await else {
        return;
    };
    s.append(&sid("good"), ExpectedVersion::Any, evs(2))
        .await
        .unwrap();
    let n = pg
        .execute(
            "UPDATE events SET stream_version = -5 WHERE stream_id = 'good' AND stream_version = 1",
        )
        .await;
    assert_eq!(n, 1);
    let err = s.read_all(0, 100).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupted { ref stream, .. } if stream == "good"),
        "{err}"
    );
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
    let Some((s, pg)) = store("reconnect").await else {
        return;
    };
    let url = pg.url().to_owned();
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
}

/// Concurrent appends share one transaction (group commit); one the server
/// rejects (metadata JSON PostgreSQL's `jsonb` refuses: a `\u0000` escape)
/// fails alone with a typed error naming its stream, and its neighbours
/// are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_append_fails_alone() {
    let Some((s, _schema)) = store("rejected").await else {
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
}

/// A batch larger than one group's event budget goes in a group of its own,
/// whole, while small appends around it share groups; every batch lands
/// with consecutive positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_over_the_group_budget_lands_whole() {
    let Some((s, _schema)) = store("bigbatch").await else {
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
}

/// A request carried over to the next group (it did not fit the last one)
/// is written even when no other request comes: the committer that carries
/// it does not wait for the queue, which the other committer holds while it
/// waits for a request. (On one thread the two committers interleave the
/// same way every time: the first takes both batches and carries the
/// second, the other then waits on the queue.)
#[tokio::test(flavor = "current_thread")]
async fn a_carried_request_is_written_while_the_other_committer_waits() {
    let Some((s, _schema)) = store("carried").await else {
        return;
    };
    let s = Arc::new(s);
    let appends: Vec<_> = (0..2)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                s.append(
                    &sid(&format!("carried-{w}")),
                    ExpectedVersion::NoStream,
                    evs(6_000),
                )
                .await
            })
        })
        .collect();
    let all = async {
        for append in appends {
            let done = append.await.unwrap().unwrap();
            assert_eq!(done.next_expected_version, 6_000);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), all)
        .await
        .expect("both batches written (a carried request must not wait for new ones)");
    assert_eq!(s.head_position().await.unwrap(), 12_000);
}

/// A value the server refuses (a NUL byte in an event type, in metadata)
/// fails that append alone, with the server's reason in the error's text,
/// not the driver's bare "db error".
#[tokio::test]
async fn server_refusals_carry_the_servers_reason() {
    let Some((store, _schema)) = store("server_reason").await else {
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
}

/// Two stores on one schema (two processes: two group committers) race
/// with known expected versions on shared streams, the way repositories
/// do: each append reads the version, then appends `Exact` and retries on
/// a conflict. The one-round-trip writes of both committers interleave:
/// every append lands exactly once, versions and positions have no gaps,
/// and nothing fails but conflicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_committers_race_with_known_expected_versions() {
    const STREAMS: usize = 4;
    const TASKS: usize = 8;
    const APPENDS: usize = 25;
    let Some((stores, _schema)) = two_stores("two_committers").await else {
        return;
    };
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = stores[t % 2].clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..APPENDS {
                let stream = sid(&format!("shared-{}", (t + i) % STREAMS));
                loop {
                    let version = store
                        .stream_info(&stream)
                        .await
                        .unwrap()
                        .map_or(0, |info| info.version);
                    let expected = if version == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(version)
                    };
                    match store.append(&stream, expected, vec![ev(1)]).await {
                        Ok(done) => {
                            assert_eq!(done.first_version, version + 1);
                            break;
                        }
                        Err(e) if e.is_conflict() => tokio::task::yield_now().await,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut total = 0;
    for s in 0..STREAMS {
        let events = stores[0]
            .read_stream(&sid(&format!("shared-{s}")), ReadStream::all())
            .await
            .unwrap();
        let versions: Vec<u64> = events.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, (1..=events.len() as u64).collect::<Vec<_>>());
        total += events.len();
    }
    assert_eq!(total, TASKS * APPENDS);
    let all = stores[1].read_all(0, 10_000).await.unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
    assert_eq!(positions, (1..=total as u64).collect::<Vec<_>>());
}

/// Two stores on one schema (two processes) race on a few shared streams
/// with every kind of expectation, most of them lone requests (the one
/// write statement that moves a stream on from whatever version it is
/// at): `Any` and `StreamExists` batches of one to three events, and
/// `Exact` after reading the version (retried on a conflict). Each answer
/// names the versions its events took; read back, every stream holds
/// exactly the answered events at exactly those versions, in order, with
/// no gap, and global positions have no gap either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_committers_race_with_every_expectation() {
    const STREAMS: usize = 3;
    const TASKS: usize = 16;
    const APPENDS: usize = 30;
    let Some((stores, _schema)) = two_stores("every_expectation").await else {
        return;
    };
    let tagged = |tag: String| {
        NewEvent::new(
            "Tagged",
            1,
            format!("{{\"tag\":\"{tag}\"}}").into_bytes(),
            Metadata::default(),
        )
    };
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = stores[t % 2].clone();
        tasks.push(tokio::spawn(async move {
            // (stream, first version, the tags written there in order)
            let mut written = Vec::new();
            for i in 0..APPENDS {
                let stream = sid(&format!("raced-{}", (t + i) % STREAMS));
                let size = 1 + (t + i) % 3;
                let tags: Vec<String> = (0..size).map(|k| format!("{t}-{i}-{k}")).collect();
                let batch = || tags.iter().cloned().map(tagged).collect::<Vec<_>>();
                let done = loop {
                    // Every stream gets every kind (the stream turns
                    // with `t + i`, the kind with `i`).
                    let expected = match i % 3 {
                        0 => ExpectedVersion::Any,
                        1 => ExpectedVersion::StreamExists,
                        _ => match store.stream_info(&stream).await.unwrap() {
                            Some(info) => ExpectedVersion::Exact(info.version),
                            None => ExpectedVersion::NoStream,
                        },
                    };
                    match store.append(&stream, expected, batch()).await {
                        Ok(done) => break done,
                        Err(e) if e.is_conflict() => tokio::task::yield_now().await,
                        Err(e) => panic!("{expected:?} on {stream}: {e}"),
                    }
                };
                assert!(done.written);
                assert_eq!(
                    done.next_expected_version - done.first_version + 1,
                    size as u64
                );
                written.push((stream, done.first_version, tags));
            }
            written
        }));
    }
    let mut answered = std::collections::HashMap::new();
    for task in tasks {
        for (stream, first, tags) in task.await.unwrap() {
            for (k, tag) in tags.into_iter().enumerate() {
                let at = (stream.to_string(), first + k as u64);
                assert!(
                    answered.insert(at.clone(), tag).is_none(),
                    "{at:?} answered twice"
                );
            }
        }
    }
    let mut total = 0;
    for s in 0..STREAMS {
        let stream = sid(&format!("raced-{s}"));
        let events = stores[s % 2]
            .read_stream(&stream, ReadStream::all())
            .await
            .unwrap();
        for (n, event) in events.iter().enumerate() {
            assert_eq!(event.stream_version, n as u64 + 1, "{stream}: a gap");
            let payload: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
            let tag = answered
                .get(&(stream.to_string(), event.stream_version))
                .unwrap_or_else(|| {
                    panic!("{stream}@{}: stored, never answered", event.stream_version)
                });
            assert_eq!(
                payload["tag"],
                tag.as_str(),
                "{stream}@{}",
                event.stream_version
            );
        }
        total += events.len();
    }
    assert_eq!(total, answered.len(), "answered but not stored");
    let all = stores[1].read_all(0, 100_000).await.unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
    assert_eq!(positions, (1..=total as u64).collect::<Vec<_>>());
}

/// A store opens its `LISTEN` connection only when something first waits
/// for an append (a process that only writes has none, so commits wake no
/// one); from then on, an append by another process wakes the waiter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listens_only_once_something_waits() {
    let Some((writer, schema)) = store("listens_lazily").await else {
        return;
    };
    let reader = schema.store().await;
    let (client, conn) =
        eventfold::tokio_postgres::connect(schema.url(), eventfold::tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let listen = format!("LISTEN \"eventfold_{}\"", schema.name());
    let listeners = async || -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query = $1",
                &[&listen],
            )
            .await
            .unwrap()
            .get(0)
    };
    writer
        .append(&sid("s-1"), ExpectedVersion::Any, evs(3))
        .await
        .unwrap();
    assert_eq!(listeners().await, 0, "nothing waits yet: no LISTEN");

    let head = reader.head_position().await.unwrap();
    let waiting = tokio::spawn({
        let reader = reader.clone();
        async move { reader.wait_for_append(head).await }
    });
    for _ in 0..1_000 {
        if listeners().await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(listeners().await, 1, "the first wait opened the LISTEN");
    writer
        .append(&sid("s-1"), ExpectedVersion::Exact(3), evs(1))
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the waiter wakes")
        .unwrap();
    assert!(reader.head_position().await.unwrap() > head);
    assert_eq!(listeners().await, 1, "one LISTEN, kept");
}
