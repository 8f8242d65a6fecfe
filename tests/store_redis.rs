//! `RedisStore` and `RedisCheckpointStore` against the server named by
//! `EVENTFOLD_REDIS_URL` (e.g. `redis://127.0.0.1:6379/`), each test under
//! a key prefix of its own, removed when the test ends. Without the
//! variable the tests print a notice and pass; with
//! `EVENTFOLD_REQUIRE_REDIS=1` (CI) they fail instead. The server may be
//! shared: nothing here touches keys outside the test's prefix (the one
//! server-wide command is `SCRIPT FLUSH`, which every client recovers from
//! by loading its scripts again).

use std::sync::Arc;
use std::time::Duration;

use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::projection::conformance::checkpoint_store_contract;
use eventfold::projection::{
    CheckpointStore, EventMeta, Projection, ProjectionRunner, ProjectionStatus,
    RedisCheckpointStore,
};
use eventfold::store::conformance::{Fixture, TestServer};
use eventfold::store::stats::contract::stats_contract;
use eventfold::store::{
    AppendResult, DeleteMode, ListStreams, ReadStream, RedisStore, StoreError, StoreStats,
    SubscribeFrom, redis::LAYOUT_VERSION, subscribe,
};
use eventfold_suite::bank::{BankAccountEvent, MoneyDeposited};
use uuid::Uuid;

/// The server's URL, or `None` (after a notice) when the tests should skip.
fn url() -> Option<String> {
    TestServer::Redis.url()
}

/// A fresh key prefix for one test.
fn prefix(test: &str) -> String {
    let suffix = Uuid::now_v7().simple().to_string();
    format!("eventfold-test:{test}:{}", &suffix[16..])
}

async fn connect(url: &str, prefix: &str) -> RedisStore {
    match RedisStore::options(url).prefix(prefix).connect().await {
        Ok(store) => store,
        Err(e) => panic!("EVENTFOLD_REDIS_URL is set but the store does not connect: {e}"),
    }
}

/// A raw connection, bypassing the store.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("a raw connection")
}

/// Removes a test's keys when it ends, pass or fail.
struct Cleanup {
    url: String,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(remove_keys(&url, &prefix));
        })
        .join();
    }
}

/// Removes every key under `prefix` (`SCAN` + `UNLINK`), bypassing the
/// store (which refuses to open some of the states tests leave behind).
async fn remove_keys(url: &str, prefix: &str) {
    let mut conn = raw(url).await;
    let pattern = format!("{{{prefix}}}:*");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await
            .expect("scanning the test's keys");
        if !keys.is_empty() {
            let _: u64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .expect("removing the test's keys");
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// A store under a fresh prefix, with its cleanup; `None` (skip) without
/// a server.
async fn store(test: &str) -> Option<(RedisStore, Cleanup)> {
    let url = url()?;
    let prefix = prefix(test);
    let store = connect(&url, &prefix).await;
    Some((store, Cleanup { url, prefix }))
}

/// Sets one column of the stored event (stream, version) behind the
/// store's back.
async fn damage(url: &str, prefix: &str, stream: &StreamId, version: u64, column: &str, to: &[u8]) {
    let mut conn = raw(url).await;
    let positions: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(format!("{{{prefix}}}:versions:{stream}"))
        .arg(version)
        .arg(version)
        .query_async(&mut conn)
        .await
        .expect("the stream's index");
    assert_eq!(
        positions.len(),
        1,
        "one event at {stream} version {version}"
    );
    let _: () = redis::cmd("HSET")
        .arg(format!("{{{prefix}}}:ev:{column}"))
        .arg(&positions[0])
        .arg(to)
        .query_async(&mut conn)
        .await
        .expect("damaging the event");
}

/// Replaces one space-separated field of the stored header of the event
/// (stream, version) behind the store's back (see the key layout in
/// `eventfold::store::redis`).
async fn edit_header(
    url: &str,
    prefix: &str,
    stream: &StreamId,
    version: u64,
    field: usize,
    to: &str,
) {
    let mut conn = raw(url).await;
    let positions: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(format!("{{{prefix}}}:versions:{stream}"))
        .arg(version)
        .arg(version)
        .query_async(&mut conn)
        .await
        .expect("the stream's index");
    let key = format!("{{{prefix}}}:ev:header");
    let header: String = redis::cmd("HGET")
        .arg(&key)
        .arg(&positions[0])
        .query_async(&mut conn)
        .await
        .expect("the event's header");
    let mut fields: Vec<&str> = header.splitn(5, ' ').collect();
    fields[field] = to;
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg(&positions[0])
        .arg(fields.join(" "))
        .query_async(&mut conn)
        .await
        .expect("damaging the header");
}

/// A conformance fixture: a store under its own prefix, reopenable, with
/// a corrupter that breaks an event's metadata; `None` (skip) without a
/// server.
async fn fixture() -> Option<Fixture<RedisStore>> {
    let url = url()?;
    let prefix = prefix("conf");
    let store = connect(&url, &prefix).await;
    let (reopen_url, reopen_prefix) = (url.clone(), prefix.clone());
    let (corrupt_url, corrupt_prefix) = (url.clone(), prefix.clone());
    Some(
        Fixture::new(store)
            .with_reopen(move || {
                let (url, prefix) = (reopen_url.clone(), reopen_prefix.clone());
                async move { connect(&url, &prefix).await }
            })
            .with_corrupter(move |stream: StreamId, version: u64| {
                let (url, prefix) = (corrupt_url.clone(), corrupt_prefix.clone());
                async move {
                    damage(
                        &url,
                        &prefix,
                        &stream,
                        version,
                        "meta",
                        b"{\"correlation_id\": 42}",
                    )
                    .await
                }
            })
            .with_guard(Cleanup { url, prefix }),
    )
}

/// The shared store conformance suite, each case under its own prefix.
mod conformance {
    eventfold::store_conformance_tests!(super::fixture().await);
}

fn sid(s: &str) -> StreamId {
    StreamId::new(s).unwrap()
}

fn evs(n: u32) -> Vec<NewEvent> {
    (1..=n)
        .map(|i| {
            NewEvent::new(
                "Counted",
                1,
                format!("{{\"n\":{i}}}").into_bytes(),
                Metadata::default(),
            )
        })
        .collect()
}

// ------------------------------------------------------------ checkpoints

#[tokio::test]
async fn checkpoint_store_keeps_the_contract_and_survives_reconnecting() {
    let Some((store, cleanup)) = store("ckpt").await else {
        return;
    };
    checkpoint_store_contract(&RedisCheckpointStore::new(&store)).await;
    // Another connection (another process) sees the same checkpoints.
    let again = connect(&cleanup.url, &cleanup.prefix).await;
    let reopened = RedisCheckpointStore::new(&again);
    assert_eq!(reopened.load("q").await.unwrap(), Some(1));
    assert_eq!(reopened.load("r").await.unwrap(), Some(10));
    // Stores under other prefixes do not.
    let (other, _other_cleanup) = store_under(&cleanup.url, "ckpt-other").await;
    assert_eq!(
        RedisCheckpointStore::new(&other).load("q").await.unwrap(),
        None
    );
}

async fn store_under(url: &str, test: &str) -> (RedisStore, Cleanup) {
    let prefix = prefix(test);
    let store = connect(url, &prefix).await;
    (
        store,
        Cleanup {
            url: url.to_owned(),
            prefix,
        },
    )
}

/// `n` deposits of 1, as new events.
fn deposits(n: u64) -> Vec<NewEvent> {
    (0..n)
        .map(|_| {
            let e = BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: 1 });
            NewEvent::encode(&e, &JsonCodec, Metadata::default()).unwrap()
        })
        .collect()
}

/// Counts deposits.
#[derive(Default)]
struct Deposits {
    count: u64,
}

#[eventfold::projection]
impl Deposits {
    #[handle]
    fn deposited(&mut self, _: &MoneyDeposited, _: &EventMeta) {
        self.count += 1;
    }
}

/// Two exclusive runners over one Redis prefix (separate connections, as
/// two processes would have): one runs, the other stands by, and takes
/// over from the checkpoint when the first stops; both wake on appends
/// through Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_runners_share_one_projection_through_redis() {
    let Some((store, cleanup)) = store("claims").await else {
        return;
    };
    let stream = sid("BankAccount-1");
    store
        .append(&stream, ExpectedVersion::Any, deposits(4))
        .await
        .unwrap();
    let other = connect(&cleanup.url, &cleanup.prefix).await;
    let ttl = Duration::from_secs(1);
    let mut runners = Vec::new();
    for s in [store.clone(), other] {
        let checkpoints = Arc::new(RedisCheckpointStore::new(&s));
        runners.push(ProjectionRunner::new(Arc::new(s), checkpoints).exclusive(ttl));
    }
    let first = runners[0].spawn(Deposits::default());
    first.wait_caught_up().await.unwrap();
    let second = runners[1].spawn(Deposits::default());
    tokio::time::timeout(Duration::from_secs(20), async {
        while !matches!(second.status(), ProjectionStatus::Standby) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the second instance stands by");

    let (first, _) = first.stop().await;
    assert_eq!(first.count, 4);
    store
        .append(&stream, ExpectedVersion::Any, deposits(3))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), second.wait_for(7))
        .await
        .expect("the second instance catches up")
        .unwrap();
    let (second, _) = second.stop().await;
    assert_eq!(
        second.count, 3,
        "it resumed from the first one's checkpoint"
    );
    let checkpoints = RedisCheckpointStore::new(&store);
    assert_eq!(checkpoints.load(second.name()).await.unwrap(), Some(7));
}

// ------------------------------------------------------------ connecting

#[tokio::test]
async fn an_unreachable_server_is_a_typed_error_naming_it() {
    // Port 1 on loopback: nothing listens there.
    let err = RedisStore::options("redis://127.0.0.1:1/")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    match &err {
        StoreError::Unreachable { host, port, .. } => {
            assert_eq!((host.as_str(), *port), ("127.0.0.1", 1), "{err}");
        }
        other => panic!("expected an unreachable server, got {other:?}"),
    }
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test]
async fn a_bad_url_or_prefix_is_an_open_error() {
    let err = RedisStore::connect("http://127.0.0.1:6379/")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Open { reason, .. } if reason.contains("not a Redis URL")),
        "{err:?}"
    );
    for bad in ["", "a{b", "a b", "a\nb"] {
        let err = RedisStore::options("redis://127.0.0.1:6379/")
            .prefix(bad)
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Open { reason, .. } if reason.contains("key prefix")),
            "{bad:?}: {err:?}"
        );
    }
    // The password never shows in errors.
    let err = RedisStore::options("redis://user:s3cret@127.0.0.1:6379/")
        .prefix("a b")
        .connect()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[tokio::test]
async fn a_refused_password_is_an_open_error_that_hides_it() {
    let Some(url) = url() else { return };
    let Some(rest) = url.strip_prefix("redis://") else {
        eprintln!("skipping: EVENTFOLD_REDIS_URL is not a plain redis:// URL");
        return;
    };
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let wrong = format!("redis://nobody-{}:s3cret@{rest}", Uuid::now_v7().simple());
    let err = RedisStore::connect(&wrong).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Open { reason, .. } if reason.contains("refused")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

/// Writes a layout version into a store's `meta` key, behind its back.
async fn set_layout(url: &str, prefix: &str, layout: u64) {
    let _: () = redis::cmd("HSET")
        .arg(format!("{{{prefix}}}:meta"))
        .arg("layout")
        .arg(layout)
        .query_async(&mut raw(url).await)
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_of_layout_1_are_migrated_with_their_statistics() {
    let Some((store, cleanup)) = store("migrate").await else {
        return;
    };
    // The statistics contract leaves data of every kind the counters
    // count: event types, categories, a hard delete, tombstones (one of an
    // unknown stream), an archived event and snapshots.
    stats_contract(&store).await;
    let before = store.statistics().await.unwrap();
    let listed = store
        .list_streams(ListStreams::new().limit(1000))
        .await
        .unwrap();
    drop(store);

    // The same data as code of layout 1 left it: no counters, no list.
    let p = &cleanup.prefix;
    let _: () = redis::cmd("DEL")
        .arg(format!("{{{p}}}:stats"))
        .arg(format!("{{{p}}}:stats:types"))
        .arg(format!("{{{p}}}:stats:categories"))
        .arg(format!("{{{p}}}:streams"))
        .query_async(&mut raw(&cleanup.url).await)
        .await
        .unwrap();
    set_layout(&cleanup.url, p, 1).await;

    let store = connect(&cleanup.url, p).await;
    assert_eq!(store.statistics().await.unwrap(), before);
    assert_eq!(
        store
            .list_streams(ListStreams::new().limit(1000))
            .await
            .unwrap(),
        listed
    );
    let layout: u64 = redis::cmd("HGET")
        .arg(format!("{{{p}}}:meta"))
        .arg("layout")
        .query_async(&mut raw(&cleanup.url).await)
        .await
        .unwrap();
    assert_eq!(layout, LAYOUT_VERSION);
    // The counters go on from there.
    store
        .append(&sid("Acc-900"), ExpectedVersion::NoStream, evs(1))
        .await
        .unwrap();
    let after = store.statistics().await.unwrap();
    assert_eq!(after.total_events, before.total_events + 1);
    assert_eq!(after.total_streams, before.total_streams + 1);
    assert_eq!(after.events_by_type.get("Counted"), Some(&1));
}

#[tokio::test]
async fn keys_of_a_newer_layout_are_refused() {
    let Some((store, cleanup)) = store("layout").await else {
        return;
    };
    drop(store);
    set_layout(&cleanup.url, &cleanup.prefix, LAYOUT_VERSION + 1).await;
    let err = RedisStore::options(&cleanup.url)
        .prefix(&cleanup.prefix)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::IncompatibleLayout { found, supported, .. } if *found == (LAYOUT_VERSION + 1).to_string() && *supported == LAYOUT_VERSION),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- scripts

#[tokio::test]
async fn appends_survive_the_server_forgetting_the_scripts() {
    let Some((store, cleanup)) = store("noscript").await else {
        return;
    };
    let a = sid("a");
    store
        .append(&a, ExpectedVersion::NoStream, evs(2))
        .await
        .unwrap();
    // As after a server restart: EVALSHA answers NOSCRIPT, the store loads
    // the script again and the call succeeds.
    let mut conn = raw(&cleanup.url).await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let r = store
        .append(&a, ExpectedVersion::Exact(2), evs(1))
        .await
        .unwrap();
    assert_eq!((r.next_expected_version, r.last_position), (3, 3));
    assert_eq!(
        store
            .read_stream(&a, ReadStream::all())
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn damaged_columns_are_typed_errors_naming_the_event() {
    let Some((store, cleanup)) = store("damaged").await else {
        return;
    };
    let a = sid("acct-1");
    // Fields of the stored header: 1 schema version, 2 recorded at, 3 event
    // id, 4 stream id + 0x1f + event type.
    for (version, field, value, word) in [
        (1u64, 3, "not-a-uuid", "event id"),
        (2, 2, "yesterday", "recorded at"),
        (3, 1, "-4", "schema version"),
        (4, 4, "bad\nid\x1fCounted", "stream id"),
    ] {
        store
            .append(&a, ExpectedVersion::Exact(version - 1), evs(1))
            .await
            .unwrap();
        edit_header(&cleanup.url, &cleanup.prefix, &a, version, field, value).await;
        let err = store
            .read_stream(&a, ReadStream::all().from(version))
            .await
            .unwrap_err();
        // Read-all meets it too.
        let position = store.head_position().await.unwrap();
        assert!(store.read_all(position - 1, 1).await.is_err());
        match &err {
            StoreError::Corrupted {
                version: v,
                event_type,
                reason,
                ..
            } => {
                assert_eq!((*v, event_type.as_str()), (version, "Counted"), "{err}");
                assert!(reason.contains(word), "{reason:?} should name {word}");
            }
            other => panic!("expected a corrupted event, got {other:?}"),
        }
        // The store goes on.
        store
            .append(&sid("other"), ExpectedVersion::Any, evs(1))
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------- notifications

/// A subscription on one connection wakes on appends made through another
/// (as by another process), through Redis pub/sub: each of these appends
/// reaches the subscriber well before the safety re-check interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_wake_on_appends_from_another_connection() {
    let Some((reader, cleanup)) = store("wake").await else {
        return;
    };
    let writer = connect(&cleanup.url, &cleanup.prefix).await;
    let mut sub = subscribe(Arc::new(reader), SubscribeFrom::Now)
        .await
        .unwrap();
    let mut latencies = Vec::new();
    for round in 1..=5u64 {
        let wait = tokio::spawn(async move {
            let e = sub.next().await.unwrap();
            (sub, e, std::time::Instant::now())
        });
        // Let the subscriber reach its wait.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = std::time::Instant::now();
        writer
            .append(&sid("w"), ExpectedVersion::Any, evs(1))
            .await
            .unwrap();
        let (s, event, seen) = tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the subscriber wakes")
            .unwrap();
        sub = s;
        assert_eq!(event.global_position, round);
        latencies.push(seen.saturating_duration_since(sent));
    }
    latencies.sort();
    assert!(
        latencies[2] < eventfold::store::redis::POLL_INTERVAL,
        "woken by notifications, not by re-checks: {latencies:?}"
    );
}

// -------------------------------------------------------------- durability

#[tokio::test]
async fn waiting_for_missing_replicas_fails_the_call_but_keeps_the_append() {
    let Some((store, cleanup)) = store("wait").await else {
        return;
    };
    drop(store);
    let mut conn = raw(&cleanup.url).await;
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut conn)
        .await
        .unwrap();
    if !info.contains("connected_slaves:0") {
        eprintln!("skipping: the server has replicas");
        return;
    }
    // No replica needed: the call succeeds.
    let none = RedisStore::options(&cleanup.url)
        .prefix(&cleanup.prefix)
        .wait_for_replicas(0, Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    none.append(&sid("a"), ExpectedVersion::NoStream, evs(1))
        .await
        .unwrap();
    // One replica needed, none there: the call fails, naming why...
    let one = RedisStore::options(&cleanup.url)
        .prefix(&cleanup.prefix)
        .wait_for_replicas(1, Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    let batch = evs(2);
    let err = one
        .append(&sid("a"), ExpectedVersion::Exact(1), batch.clone())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Backend { .. }) && text.contains("0 of 1 replicas"),
        "{text}"
    );
    // ... the append is stored, and a resend waits (and fails) again
    // rather than claiming success.
    assert_eq!(
        none.stream_info(&sid("a")).await.unwrap().unwrap().version,
        3
    );
    assert!(
        one.append(&sid("a"), ExpectedVersion::Exact(1), batch.clone())
            .await
            .is_err()
    );
    let r = none
        .append(&sid("a"), ExpectedVersion::Exact(1), batch)
        .await
        .unwrap();
    assert_eq!((r.next_expected_version, r.written), (3, false));
}

#[tokio::test]
async fn many_stores_share_a_server_without_seeing_each_other() {
    let Some((a, cleanup)) = store("iso-a").await else {
        return;
    };
    let (b, _b_cleanup) = store_under(&cleanup.url, "iso-b").await;
    let s = sid("same-stream");
    let batch = evs(3);
    a.append(&s, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    // The same ids in another store are new events there.
    let r = b
        .append(&s, ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    assert!(r.written);
    b.delete_stream(&s, DeleteMode::Hard).await.unwrap();
    assert_eq!(a.read_stream(&s, ReadStream::all()).await.unwrap().len(), 3);
    assert_eq!(a.head_position().await.unwrap(), 3);
    // Destroying a store removes its keys only.
    let prefix = b.prefix().to_owned();
    assert!(b.destroy().await.unwrap() > 0);
    let b = connect(&cleanup.url, &prefix).await;
    assert_eq!(b.head_position().await.unwrap(), 0);
    assert_eq!(a.read_all(0, 10).await.unwrap().len(), 3);
}

// ------------------------------------------------- a server of our own

/// A `redis-server` of the test's own, on a free loopback port, with its
/// data in a temporary directory; killed (SIGKILL) when dropped.
struct OwnServer {
    binary: String,
    port: u16,
    dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<std::process::Child>,
}

impl OwnServer {
    /// Starts one with the given persistence settings; `None` (after a
    /// notice) when Redis tests are not configured or the binary is missing.
    async fn start(args: &[&str]) -> Option<Self> {
        url()?;
        let binary =
            std::env::var("EVENTFOLD_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        if std::process::Command::new(&binary)
            .arg("--version")
            .output()
            .is_err()
        {
            TestServer::Redis.skip(&format!(
                "`{binary}` cannot be run (set EVENTFOLD_REDIS_SERVER)"
            ));
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            binary,
            port,
            dir: tempfile::tempdir().expect("a temporary directory"),
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        server.run().await;
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the process and waits until it answers.
    async fn run(&mut self) {
        let child = std::process::Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--daemonize", "no", "--dir"])
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..200 {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// SIGKILL: no chance to save anything.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Appends until the store has reconnected (the first calls after a
/// restart may still fail while the connection is re-established).
async fn append_when_back(store: &RedisStore, stream: &StreamId) -> AppendResult {
    let mut last = None;
    for _ in 0..100 {
        match store.append(stream, ExpectedVersion::Any, evs(1)).await {
            Ok(r) => return r,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the store did not reconnect: {last:?}");
}

/// With AOF on, killing the Redis process (SIGKILL) and restarting it:
/// with `appendfsync always` no acknowledged append is lost; with
/// `everysec` a tail may be (Redis delays its AOF writes, while still
/// answering, when an fsync is slow: on this busy machine it happens), but
/// only whole appends, the oldest first: what survives is a prefix of
/// what was acknowledged. While the server is down, calls fail with a
/// typed error naming it; once it is back the same store reconnects and
/// continues after what survived, and a subscription started before the
/// crash goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_keeps_what_its_aof_setting_promises() {
    for fsync in ["always", "everysec"] {
        let Some(mut server) =
            OwnServer::start(&["--appendonly", "yes", "--appendfsync", fsync]).await
        else {
            return;
        };
        let store = connect(&server.url(), "crash").await;
        let a = sid("acct-1");
        let mut acked = Vec::new();
        for _ in 0..50 {
            let batch = evs(2);
            store
                .append(
                    &a,
                    ExpectedVersion::Exact(acked.len() as u64),
                    batch.clone(),
                )
                .await
                .unwrap();
            acked.extend(batch.into_iter().map(|e| e.event_id));
        }
        let mut sub = subscribe(Arc::new(store.clone()), SubscribeFrom::Now)
            .await
            .unwrap();
        server.kill();
        let err = store
            .append(&a, ExpectedVersion::Any, evs(1))
            .await
            .unwrap_err();
        match &err {
            StoreError::Unreachable { host, port, .. } => {
                assert_eq!((host.as_str(), *port), ("127.0.0.1", server.port), "{err}")
            }
            other => panic!("{fsync}: expected an unreachable server, got {other:?}"),
        }
        assert!(matches!(
            store.read_stream(&a, ReadStream::all()).await,
            Err(StoreError::Unreachable { .. })
        ));

        server.run().await;
        let r = append_when_back(&store, &a).await;
        let kept = r.next_expected_version - 1;
        assert_eq!(r.last_position, kept + 1, "{fsync}: positions continue");
        let events = store.read_stream(&a, ReadStream::all()).await.unwrap();
        assert_eq!(events.len() as u64, kept + 1);
        assert!(
            events[..kept as usize]
                .iter()
                .map(|e| e.event_id)
                .eq(acked[..kept as usize].iter().copied()),
            "{fsync}: what survived is a prefix of what was acknowledged"
        );
        assert_eq!(kept % 2, 0, "{fsync}: appends survive whole or not at all");
        if fsync == "always" {
            assert_eq!(
                kept,
                acked.len() as u64,
                "always: nothing acknowledged is lost"
            );
        } else {
            eprintln!(
                "everysec: {kept} of {} acknowledged events survived",
                acked.len()
            );
        }
        if kept == acked.len() as u64 {
            let seen = tokio::time::timeout(Duration::from_secs(20), sub.next())
                .await
                .expect("the subscription goes on after the restart")
                .unwrap();
            assert_eq!(seen.global_position, kept + 1);
        }
    }
}

/// Without persistence a restart loses everything (as the store's docs
/// say), and the store, reconnected, starts positions again from 1: this
/// is why a failover that loses appends must be followed by a look at the
/// projections' checkpoints.
#[tokio::test]
async fn without_persistence_a_restart_loses_every_event() {
    let Some(mut server) = OwnServer::start(&["--appendonly", "no"]).await else {
        return;
    };
    let store = connect(&server.url(), "volatile").await;
    let a = sid("acct-1");
    store
        .append(&a, ExpectedVersion::NoStream, evs(5))
        .await
        .unwrap();
    let checkpoints = RedisCheckpointStore::new(&store);
    checkpoints.save("balances", 5).await.unwrap();
    server.kill();
    server.run().await;
    let r = append_when_back(&store, &sid("acct-2")).await;
    assert_eq!(r.last_position, 1, "the head was lost with the events");
    assert!(
        store
            .read_stream(&a, ReadStream::all())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(checkpoints.load("balances").await.unwrap(), None);
}

// ------------------------------------------------------------ global order

/// Writers on two connections (as two processes) and a reader paging
/// through `read_all` meanwhile: the reader sees every position from 1 to
/// the head exactly once, in order (positions are taken inside the append
/// script, so none can appear behind the reader).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_all_never_skips_under_concurrent_writers_on_two_connections() {
    let Some((first, cleanup)) = store("readall").await else {
        return;
    };
    let second = connect(&cleanup.url, &cleanup.prefix).await;
    const WRITERS: u32 = 8;
    const EACH: u32 = 40;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = if w % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
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
    let reader = {
        let s = first.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            let total = (WRITERS * (EACH + EACH.div_ceil(3))) as usize;
            while seen.len() < total {
                for e in s.read_all(after, 7).await.unwrap() {
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
    let head = first.head_position().await.unwrap();
    assert_eq!(seen, (1..=head).collect::<Vec<_>>());
    let mut last = std::collections::BTreeMap::<String, u64>::new();
    for e in first.read_all(0, 10_000).await.unwrap() {
        let v = last.entry(e.stream_id.to_string()).or_default();
        assert_eq!(e.stream_version, *v + 1);
        *v = e.stream_version;
    }
}

/// A batch of thousands of events lands whole, reads back whole (forward,
/// backward, in pages) and is hard-deleted whole, freeing its ids.
#[tokio::test]
async fn a_batch_of_thousands_lands_reads_and_deletes_whole() {
    let Some((store, _cleanup)) = store("big").await else {
        return;
    };
    let a = sid("big");
    let batch = evs(2_500);
    let r = store
        .append(&a, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!((r.first_version, r.next_expected_version), (1, 2_500));
    let all = store.read_stream(&a, ReadStream::all()).await.unwrap();
    assert_eq!(all.len(), 2_500);
    assert!(
        all.iter()
            .zip(&batch)
            .all(|(s, b)| s.event_id == b.event_id)
    );
    // Reads longer than one script's page come in pages, seamlessly.
    let back = store
        .read_stream(&a, ReadStream::backward().limit(2_200))
        .await
        .unwrap();
    assert_eq!(back.len(), 2_200);
    assert!(
        back.iter()
            .map(|e| e.stream_version)
            .eq((301..=2_500).rev())
    );
    let window = store
        .read_stream(&a, ReadStream::all().from(7).to(2_400))
        .await
        .unwrap();
    assert!(window.iter().map(|e| e.stream_version).eq(7..=2_400));
    let window = store
        .read_stream(&a, ReadStream::backward().from(7).to(2_400).limit(2_390))
        .await
        .unwrap();
    assert!(
        window
            .iter()
            .map(|e| e.stream_version)
            .eq((11..=2_400).rev())
    );
    let all = store.read_all(0, usize::MAX).await.unwrap();
    assert!(all.iter().map(|e| e.global_position).eq(1..=2_500));
    assert_eq!(store.read_all(1_000, 2_000).await.unwrap().len(), 1_500);
    // Retrying the whole batch is idempotent.
    let again = store
        .append(&a, ExpectedVersion::Any, batch.clone())
        .await
        .unwrap();
    assert!(!again.written);
    assert_eq!(store.delete_events_before(&a, 1_201).await.unwrap(), 1_200);
    assert_eq!(store.read_all(0, 10_000).await.unwrap().len(), 1_300);
    store.delete_stream(&a, DeleteMode::Hard).await.unwrap();
    assert!(store.read_all(0, 10_000).await.unwrap().is_empty());
    // The ids are free again, and the versions continue.
    let r = store
        .append(&sid("other"), ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    assert_eq!((r.written, r.last_position), (true, 5_000));
    assert_eq!(store.stream_info(&a).await.unwrap().unwrap().version, 2_500);
}

/// `wait_for_fsync` sends `WAITAOF` after each append: on Redis 7.2 and
/// later with AOF on it succeeds; older servers do not know the command,
/// and the append fails with a backend error that names it (the events
/// are stored all the same).
#[tokio::test]
async fn waiting_for_the_aof_fsync_succeeds_or_names_the_missing_command() {
    let Some(server) =
        OwnServer::start(&["--appendonly", "yes", "--appendfsync", "everysec"]).await
    else {
        return;
    };
    let mut conn = raw(&server.url()).await;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .unwrap();
    let version: Vec<u32> = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .expect("the server's version")
        .trim()
        .split('.')
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let store = RedisStore::options(server.url())
        .prefix("fsync")
        .wait_for_fsync(0, Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let result = store
        .append(&sid("a"), ExpectedVersion::NoStream, evs(2))
        .await;
    if version.as_slice() >= [7, 2].as_slice() {
        let r = result.unwrap();
        assert_eq!(r.next_expected_version, 2);
    } else {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend { .. }) && err.to_string().contains("WAITAOF"),
            "{err}"
        );
    }
    assert_eq!(
        store.stream_info(&sid("a")).await.unwrap().unwrap().version,
        2
    );
}

/// Keys damaged behind the store's back (a head, a stream's version, a
/// checkpoint, a dead letter that are not what the store wrote) fail the
/// calls that meet them with typed errors, never a panic, and leave the
/// rest of the store working.
#[tokio::test]
async fn damaged_keys_are_typed_errors() {
    let Some((store, cleanup)) = store("damaged-keys").await else {
        return;
    };
    let (a, b) = (sid("a"), sid("b"));
    store
        .append(&a, ExpectedVersion::Any, evs(2))
        .await
        .unwrap();
    let checkpoints = RedisCheckpointStore::new(&store);
    let mut conn = raw(&cleanup.url).await;
    let p = &cleanup.prefix;
    let set = |key: String, field: &'static str, value: &'static str| {
        redis::cmd("HSET").arg(key).arg(field).arg(value).clone()
    };
    for cmd in [
        set(format!("{{{p}}}:stream:a"), "version", "two"),
        set(format!("{{{p}}}:checkpoints"), "model", "-1"),
        set(format!("{{{p}}}:dead:model"), "5", "{not json"),
    ] {
        let _: () = cmd.query_async(&mut conn).await.unwrap();
    }
    let err = store
        .append(&a, ExpectedVersion::Any, evs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(store.read_stream(&a, ReadStream::all()).await.is_err());
    let err = store.stream_info(&a).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupted { stream, .. } if stream == "a"),
        "{err:?}"
    );
    let err = checkpoints.load("model").await.unwrap_err();
    assert!(err.to_string().contains("model"), "{err}");
    let err = checkpoints.dead_letters("model").await.unwrap_err();
    assert!(err.to_string().contains("position \"5\""), "{err}");
    // Other streams and projections are unaffected.
    store
        .append(&b, ExpectedVersion::NoStream, evs(1))
        .await
        .unwrap();
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 3);
    checkpoints.save("other", 3).await.unwrap();
    assert_eq!(checkpoints.load("other").await.unwrap(), Some(3));
    // A head that is not a number.
    let _: () = redis::cmd("SET")
        .arg(format!("{{{p}}}:head"))
        .arg("lots")
        .query_async(&mut conn)
        .await
        .unwrap();
    let err = store.head_position().await.unwrap_err();
    assert!(err.to_string().contains("lots"), "{err}");
    let err = store
        .append(&b, ExpectedVersion::Any, evs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
}
