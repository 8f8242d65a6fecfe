//! The NATS JetStream relay and consumer (feature `nats`): against a
//! nats-server of the test's own, killed with SIGKILL mid-stream; and end to
//! end against the shared server (EVENTFOLD_NATS_URL, skipped with a notice
//! when unset, failing when EVENTFOLD_REQUIRE_NATS=1).

mod publish_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use eventfold::projection::MemoryCheckpointStore;
use eventfold::publish::nats::async_nats::{self, jetstream};
use eventfold::publish::nats::{NatsPublisher, NatsSource};
use eventfold::publish::{Consumer, Relay, headers};
use eventfold::store::conformance::TestServer;
use eventfold::{EventStore, MemoryStore, ProjectionRunner};
use publish_common::*;

/// A nats-server with JetStream, on a loopback port, storing in a directory
/// of its own.
struct NatsServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// `None` (after a notice) when there is no `nats-server` binary; a
    /// failure then when EVENTFOLD_REQUIRE_NATS=1.
    fn start() -> Option<Self> {
        if Command::new("nats-server")
            .arg("--version")
            .output()
            .is_err()
        {
            TestServer::Nats.skip("there is no nats-server binary on PATH");
            return None;
        }
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.launch();
        Some(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let child = spawn_server(self.port, self.dir.path());
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

fn spawn_server(port: u16, dir: &Path) -> Child {
    Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is installed")
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn client(url: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(url)
        .await
        .unwrap();
    jetstream::new(client)
}

/// Relays 10,000 events while the server is killed and restarted on the same
/// port and store: the consumer applies every event exactly once, in order,
/// and the JetStream stream holds each event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_stream_loses_nothing_and_duplicates_nothing() {
    const TOTAL: usize = 10_000;
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let js = client(&server.url()).await;

    let store = Arc::new(MemoryStore::new());
    let runner = ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new())
        .batch_size(500)
        .exclusive(Duration::from_secs(5));
    let publisher = NatsPublisher::new(js.clone(), "EVENTS", "events");
    let relay = Relay::new("to-nats", publisher, &runner).spawn(&runner);

    let recorder = Recorder::new("accounts");
    let source = NatsSource::new(client(&server.url()).await, "EVENTS", "accounts")
        .ack_wait(Duration::from_secs(2))
        .redelivery_delay(Duration::from_millis(100));
    let consumer =
        Consumer::new(source, Arc::new(MemoryCheckpointStore::new())).spawn(recorder.clone());

    let appender = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { append_events(&*store, TOTAL, 20, 25).await })
    };
    // Kill the server in the middle of the stream.
    tokio::time::timeout(Duration::from_secs(60), async {
        while relay.confirmed() < 3_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the relay confirmed 3,000 events");
    server.kill();
    let at_kill = relay.confirmed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    appender.await.unwrap();
    assert!(at_kill < TOTAL as u64, "the kill came after the last event");

    let head = store.head_position().await.unwrap();
    assert_eq!(head, TOTAL as u64);
    tokio::time::timeout(Duration::from_secs(120), relay.wait_for(head))
        .await
        .expect("the relay caught up in time")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), consumer.wait_for(head))
        .await
        .expect("the consumer caught up in time")
        .unwrap();

    let (applied, duplicates) = consumer.counts();
    eprintln!("killed at {at_kill} confirmed; applied {applied}, dropped {duplicates} duplicates");
    assert_exactly_once_in_order(&*store, &recorder.seen(), TOTAL).await;
    let mut stream = js.get_stream("EVENTS").await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(
        info.state.messages, TOTAL as u64,
        "the stream holds a duplicate"
    );

    let (_, error) = consumer.stop().await;
    assert!(error.is_none(), "{error:?}");
    assert!(relay.stop().await.is_none());
}

/// The consumer drops duplicates, holds back a message that came ahead of
/// its predecessor until the predecessor arrives, and terminates a message
/// that is not an event, going on with the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_drops_duplicates_waits_for_gaps_and_rejects_garbage() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = client(&server.url()).await;
    js.create_stream(jetstream::stream::Config {
        name: "HAND".into(),
        subjects: vec!["hand.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();

    // Five stored events, published by hand: 1, 2, 2 again, garbage, 4
    // (ahead of 3), 3, 5.
    let store = MemoryStore::new();
    append_events(&store, 5, 1, 5).await;
    let events = store.read_all(0, 10).await.unwrap();
    let publish = |i: usize| {
        let mut h = async_nats::HeaderMap::new();
        let e = &events[i];
        for (k, v) in headers::encode(e, e.global_position - 1) {
            h.insert(k, v);
        }
        let js = js.clone();
        let payload = e.payload.clone();
        async move {
            js.publish_with_headers("hand.x", h, payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    publish(0).await;
    publish(1).await;
    publish(1).await;
    js.publish("hand.x", "not an event".into())
        .await
        .unwrap()
        .await
        .unwrap();
    publish(3).await;
    publish(2).await;
    publish(4).await;

    let recorder = Recorder::new("hand");
    let source = NatsSource::new(js.clone(), "HAND", "hand")
        .ack_wait(Duration::from_secs(2))
        .redelivery_delay(Duration::from_millis(50));
    let consumer =
        Consumer::new(source, Arc::new(MemoryCheckpointStore::new())).spawn(recorder.clone());
    tokio::time::timeout(Duration::from_secs(30), consumer.wait_for(5))
        .await
        .expect("the consumer applied all five")
        .unwrap();
    assert_exactly_once_in_order(&store, &recorder.seen(), 5).await;
    let (applied, duplicates) = consumer.counts();
    assert_eq!((applied, duplicates), (5, 1));

    // Everything was settled: nothing is left to deliver.
    let mut c: jetstream::consumer::PullConsumer = js
        .get_stream("HAND")
        .await
        .unwrap()
        .get_consumer("hand")
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let info = c.info().await.unwrap();
            if info.num_ack_pending == 0 && info.num_pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every message was settled");
    consumer.stop().await;
}

/// End to end on the shared server: headers carry the envelope, a
/// projection decodes through its upcasters, and the relay resumes from
/// its checkpoint without publishing anything twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_and_consumer_on_the_shared_server() {
    let Some(url) = TestServer::Nats.url() else {
        return;
    };
    let js = client(&url).await;
    let stream = unique("EF_TEST").to_uppercase();
    let prefix = unique("ef_test");

    let store = Arc::new(MemoryStore::new());
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let runner = ProjectionRunner::new(Arc::clone(&store), Arc::clone(&checkpoints));
    append_events(&*store, 150, 3, 10).await;

    // A first relay instance publishes the first 150 and stops.
    let relay = Relay::new(
        "shared",
        NatsPublisher::new(js.clone(), &stream, &prefix),
        &runner,
    )
    .spawn(&runner);
    relay.wait_for(150).await.unwrap();
    assert!(relay.stop().await.is_none());

    // A second instance (a restart) resumes from the checkpoint.
    append_events(&*store, 50, 3, 10).await;
    let relay = Relay::new(
        "shared",
        NatsPublisher::new(js.clone(), &stream, &prefix),
        &runner,
    )
    .spawn(&runner);
    relay.wait_for(200).await.unwrap();

    let subject = {
        let mut s = js.get_stream(&stream).await.unwrap();
        assert_eq!(s.info().await.unwrap().state.messages, 200);
        let m = s.get_raw_message(1).await.unwrap();
        assert_eq!(
            m.headers.get("Nats-Msg-Id").unwrap().as_str(),
            store.read_all(0, 1).await.unwrap()[0].event_id.to_string()
        );
        m.subject.to_string()
    };
    assert_eq!(subject, format!("{prefix}.Account.Account-0"));

    let recorder = Recorder::new("shared-consumer");
    let source = NatsSource::new(js.clone(), &stream, "shared-consumer");
    let consumer =
        Consumer::new(source, Arc::new(MemoryCheckpointStore::new())).spawn(recorder.clone());
    tokio::time::timeout(Duration::from_secs(30), consumer.wait_for(200))
        .await
        .unwrap()
        .unwrap();
    assert_exactly_once_in_order(&*store, &recorder.seen(), 200).await;

    consumer.stop().await;
    relay.stop().await;
    js.delete_stream(&stream).await.unwrap();
}

/// Two relay instances of one name (two processes, say) share a checkpoint
/// store: one publishes, the other stands by; when the first dies, the
/// second takes over from the broker's last message, and the stream holds
/// every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_relay_instance_per_name_and_a_takeover_without_duplicates() {
    const TOTAL: usize = 2_000;
    let Some(server) = NatsServer::start() else {
        return;
    };
    let store = Arc::new(MemoryStore::new());
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let runner = |_| {
        ProjectionRunner::new(Arc::clone(&store), Arc::clone(&checkpoints))
            .batch_size(100)
            .exclusive(Duration::from_millis(600))
    };
    let (runner_a, runner_b) = (runner(()), runner(()));
    let publisher = |js| NatsPublisher::new(js, "EVENTS", "events");
    let a = Relay::new("relay", publisher(client(&server.url()).await), &runner_a).spawn(&runner_a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = Relay::new("relay", publisher(client(&server.url()).await), &runner_b).spawn(&runner_b);

    let appender = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { append_events(&*store, TOTAL, 5, 10).await })
    };
    tokio::time::timeout(Duration::from_secs(30), a.wait_for(500))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.confirmed(), 0, "the standby published");
    a.kill().await;
    appender.await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), b.wait_for(TOTAL as u64))
        .await
        .expect("the standby took over")
        .unwrap();

    let js = client(&server.url()).await;
    let mut stream = js.get_stream("EVENTS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, TOTAL as u64);
    let recorder = Recorder::new("check");
    let consumer = Consumer::new(
        NatsSource::new(js, "EVENTS", "check"),
        Arc::new(MemoryCheckpointStore::new()),
    )
    .spawn(recorder.clone());
    consumer.wait_for(TOTAL as u64).await.unwrap();
    assert_exactly_once_in_order(&*store, &recorder.seen(), TOTAL).await;
    consumer.stop().await;
    assert!(b.stop().await.is_none());
}

/// A stream that another writer published to cannot promise order: the
/// relay stops with an error that says so, instead of retrying forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_foreign_messages_stops_the_relay_with_a_clear_error() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = client(&server.url()).await;
    let publisher = NatsPublisher::new(js.clone(), "EVENTS", "events");
    js.create_stream(jetstream::stream::Config {
        name: "EVENTS".into(),
        subjects: vec!["events.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    js.publish("events.x.y", "hello".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let store = Arc::new(MemoryStore::new());
    append_events(&*store, 3, 1, 3).await;
    let runner = ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new());
    let relay = Relay::new("relay", publisher, &runner).spawn(&runner);
    assert!(relay.wait_for(3).await.is_err());
    let error = relay.stop().await.expect("the relay failed");
    let message = error.to_string();
    assert!(message.contains("not written by a relay"), "{message}");
    assert!(message.contains("EVENTS"), "{message}");
    assert_eq!(
        runner.lag("relay").await.unwrap(),
        3,
        "the checkpoint moved"
    );
}

/// A read model that fails on one event: the consumer stops there, without
/// acknowledging it; the next instance gets it again and applies it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_is_not_acknowledged_and_comes_again() {
    struct FailOn(Recorder, u64);
    impl eventfold::projection::Projection for FailOn {
        fn name(&self) -> &str {
            "failing"
        }
        fn event_types(&self) -> &[&str] {
            &[]
        }
        fn handle(
            &mut self,
            e: &eventfold::RecordedEvent,
        ) -> Result<(), eventfold::projection::HandleError> {
            if e.global_position == self.1 {
                return Err(eventfold::projection::HandleError::handler(
                    "read model down",
                ));
            }
            self.0.handle(e)
        }
    }

    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = client(&server.url()).await;
    let store = Arc::new(MemoryStore::new());
    append_events(&*store, 10, 2, 5).await;
    let runner = ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new());
    let relay = Relay::new(
        "relay",
        NatsPublisher::new(js.clone(), "EVENTS", "events"),
        &runner,
    )
    .spawn(&runner);
    relay.wait_for(10).await.unwrap();

    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let recorder = Recorder::new("failing");
    let source =
        || NatsSource::new(js.clone(), "EVENTS", "failing").ack_wait(Duration::from_secs(1));
    let consumer =
        Consumer::new(source(), Arc::clone(&checkpoints)).spawn(FailOn(recorder.clone(), 7));
    let error = consumer.wait_for(10).await.unwrap_err().expect("it failed");
    assert_eq!(error.position(), Some(7), "{error}");
    assert_eq!(consumer.position(), 6);
    consumer.stop().await;

    let consumer = Consumer::new(source(), checkpoints).spawn(FailOn(recorder.clone(), 0));
    tokio::time::timeout(Duration::from_secs(20), consumer.wait_for(10))
        .await
        .unwrap()
        .unwrap();
    assert_exactly_once_in_order(&*store, &recorder.seen(), 10).await;
    consumer.stop().await;
    relay.stop().await;
}

/// Two exclusive consumer instances of one read model (two replicas of a
/// service) share a checkpoint store: one applies, the other stands by;
/// when the first crashes mid-stream, the second takes over, and the read
/// model holds every event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_consumer_instance_per_name_and_a_takeover_after_a_crash() {
    use eventfold::publish::ConsumerStatus;
    const TOTAL: usize = 3_000;
    let Some(server) = NatsServer::start() else {
        return;
    };
    let store = Arc::new(MemoryStore::new());
    let runner = ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new());
    let relay = Relay::new(
        "relay",
        NatsPublisher::new(client(&server.url()).await, "EVENTS", "events"),
        &runner,
    )
    .spawn(&runner);

    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let model = TxRecorder::default();
    let consumer = |js| {
        Consumer::new(
            NatsSource::new(js, "EVENTS", "model").ack_wait(Duration::from_secs(1)),
            Arc::clone(&checkpoints),
        )
        .batch_size(50)
        .exclusive(Duration::from_millis(600))
    };
    let a = consumer(client(&server.url()).await).spawn(model.replica());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = consumer(client(&server.url()).await).spawn(model.replica());

    let appender = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { append_events(&*store, TOTAL, 7, 10).await })
    };
    tokio::time::timeout(Duration::from_secs(30), a.wait_for(800))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(b.status(), ConsumerStatus::Standby),
        "{:?}",
        b.status()
    );
    assert_eq!(b.counts(), (0, 0), "the standby applied events");
    a.kill().await;
    appender.await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), b.wait_for(TOTAL as u64))
        .await
        .expect("the standby took over")
        .unwrap();
    assert_exactly_once_in_order(&*store, &model.seen(), TOTAL).await;
    b.stop().await;
    relay.stop().await;
}
