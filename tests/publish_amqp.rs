//! The RabbitMQ relay and consumer (feature `amqp`): against a
//! rabbitmq-server instance of the test's own (a node of its own name, on
//! free loopback ports, with its database in a temporary directory), killed
//! with SIGKILL mid-stream and restarted on the same ports and database; and
//! end to end against the shared broker (EVENTFOLD_AMQP_URL, skipped with a
//! notice when unset, failing when EVENTFOLD_REQUIRE_AMQP=1) with exchange
//! and queue names of its own, deleted afterwards. The shared broker is
//! never restarted.
//!
//! The broker-kill test needs the `rabbitmq-server` scripts
//! (/usr/lib/rabbitmq/bin, or RABBITMQ_SERVER_BIN); without them it says so
//! and skips, failing when EVENTFOLD_REQUIRE_AMQP=1.

mod publish_common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use eventfold::projection::MemoryCheckpointStore;
use eventfold::publish::amqp::lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use eventfold::publish::amqp::lapin::{self, Connection, ConnectionProperties};
use eventfold::publish::amqp::{AmqpPublisher, AmqpSource};
use eventfold::publish::{Consumer, Relay};
use eventfold::store::conformance::TestServer;
use eventfold::{EventStore, MemoryStore, ProjectionRunner};
use publish_common::*;

/// A RabbitMQ node of the test's own.
struct RabbitServer {
    bin: PathBuf,
    port: u16,
    dist_port: u16,
    node: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RabbitServer {
    fn start(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").unwrap();
        let mut server = Self {
            bin,
            port: free_port(),
            dist_port: free_port(),
            node: unique("eftest") + "@localhost",
            dir,
            child: None,
        };
        server.launch();
        server
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn launch(&mut self) {
        let d = self.dir.path();
        let mut cmd = Command::new(&self.bin);
        cmd.env("HOME", d)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_BASE", d)
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A process group of its own, so that SIGKILL reaches the Erlang VM
        // and its helpers, and nothing else.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        self.child = Some(cmd.spawn().expect("rabbitmq-server starts"));
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while std::time::Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("rabbitmq-server did not start on port {}", self.port);
    }

    /// SIGKILL to the node's process group: no shutdown, no flush.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            // The listener is gone once the VM is.
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for RabbitServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn rabbitmq_server_bin() -> Option<PathBuf> {
    let bin = std::env::var_os("RABBITMQ_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server"));
    if bin.exists() {
        return Some(bin);
    }
    TestServer::Amqp.skip(&format!(
        "{} does not exist (set RABBITMQ_SERVER_BIN)",
        bin.display()
    ));
    None
}

/// Relays 10,000 events while the broker is killed with SIGKILL and
/// restarted on the same ports and database: the consumer applies every
/// event exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_mid_stream_loses_nothing() {
    const TOTAL: usize = 10_000;
    let Some(bin) = rabbitmq_server_bin() else {
        return;
    };
    let mut server = RabbitServer::start(bin);
    let url = server.url();

    let mut source = AmqpSource::new(&url, "events", "accounts").prefetch(500);
    source.declare().await.unwrap();

    let store = Arc::new(MemoryStore::new());
    let runner = ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new())
        .batch_size(500)
        .exclusive(Duration::from_secs(5));
    let relay = Relay::new("to-amqp", AmqpPublisher::new(&url, "events"), &runner).spawn(&runner);
    let recorder = Recorder::new("accounts");
    let consumer =
        Consumer::new(source, Arc::new(MemoryCheckpointStore::new())).spawn(recorder.clone());

    let appender = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { append_events(&*store, TOTAL, 20, 25).await })
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        while relay.confirmed() < 3_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the relay confirmed 3,000 events");
    server.kill();
    let at_kill = relay.confirmed();
    server.restart();
    appender.await.unwrap();
    assert!(at_kill < TOTAL as u64, "the kill came after the last event");

    let head = store.head_position().await.unwrap();
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

    let (_, error) = consumer.stop().await;
    assert!(error.is_none(), "{error:?}");
    assert!(relay.stop().await.is_none());
}

/// End to end on the shared broker, with an exchange and a queue of the
/// test's own: envelopes survive, the relay resumes from its checkpoint,
/// and a consumer restarted from its checkpoint drops what it had applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_and_consumer_on_the_shared_broker() {
    let Some(url) = TestServer::Amqp.url() else {
        return;
    };
    let exchange = unique("ef_test_events");
    let queue = unique("ef_test_queue");
    let mut source = AmqpSource::new(&url, &exchange, &queue);
    source.declare().await.unwrap();

    let store = Arc::new(MemoryStore::new());
    let runner = ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new());
    append_events(&*store, 150, 3, 10).await;
    let relay = Relay::new("shared", AmqpPublisher::new(&url, &exchange), &runner).spawn(&runner);
    relay.wait_for(150).await.unwrap();
    assert!(relay.stop().await.is_none());

    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let recorder = Recorder::new("shared-consumer");
    let consumer = Consumer::new(source, Arc::clone(&checkpoints)).spawn(recorder.clone());
    consumer.wait_for(150).await.unwrap();
    consumer.stop().await;

    // Both sides restart: the relay goes on from its checkpoint, the
    // consumer from its own.
    append_events(&*store, 50, 3, 10).await;
    let relay = Relay::new("shared", AmqpPublisher::new(&url, &exchange), &runner).spawn(&runner);
    let consumer = Consumer::new(AmqpSource::new(&url, &exchange, &queue), checkpoints)
        .spawn(recorder.clone());
    relay.wait_for(200).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), consumer.wait_for(200))
        .await
        .unwrap()
        .unwrap();
    assert_exactly_once_in_order(&*store, &recorder.seen(), 200).await;
    consumer.stop().await;
    relay.stop().await;

    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
    let _ = conn
        .close(200, lapin::types::ShortString::from("done"))
        .await;
}

/// The consumer drops duplicates, drops a message that came ahead of its
/// predecessor (the relay publishes it again after the predecessor), and
/// rejects a message that is not an event, going on with the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_drops_duplicates_and_early_messages_and_rejects_garbage() {
    use eventfold::publish::amqp::lapin::BasicProperties;
    use eventfold::publish::amqp::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    use eventfold::publish::amqp::lapin::types::{AMQPValue, FieldTable, LongString};
    use eventfold::publish::headers;

    let Some(url) = TestServer::Amqp.url() else {
        return;
    };
    let exchange = unique("ef_test_events");
    let queue = unique("ef_test_queue");
    let mut source = AmqpSource::new(&url, &exchange, &queue);
    source.declare().await.unwrap();

    let store = MemoryStore::new();
    append_events(&store, 5, 1, 5).await;
    let events = store.read_all(0, 10).await.unwrap();
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let publish = |i: Option<usize>| {
        let channel = channel.clone();
        let exchange = exchange.clone();
        let (table, payload) = match i {
            Some(i) => {
                let e = &events[i];
                let mut table = FieldTable::default();
                for (k, v) in headers::encode(e, e.global_position - 1) {
                    table.insert(k.into(), AMQPValue::LongString(LongString::from(v)));
                }
                (table, e.payload.clone())
            }
            None => (FieldTable::default(), b"not an event".to_vec()),
        };
        async move {
            channel
                .basic_publish(
                    exchange.as_str().into(),
                    "Account.x".into(),
                    BasicPublishOptions::default(),
                    &payload,
                    BasicProperties::default().with_headers(table),
                )
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    // 1, 2, 2 again, garbage, 4 (ahead of 3), 3, 4 again (the relay's
    // resend), 5.
    for i in [
        Some(0),
        Some(1),
        Some(1),
        None,
        Some(3),
        Some(2),
        Some(3),
        Some(4),
    ] {
        publish(i).await;
    }

    let recorder = Recorder::new("hand");
    let consumer =
        Consumer::new(source, Arc::new(MemoryCheckpointStore::new())).spawn(recorder.clone());
    tokio::time::timeout(Duration::from_secs(30), consumer.wait_for(5))
        .await
        .expect("the consumer applied all five")
        .unwrap();
    assert_exactly_once_in_order(&store, &recorder.seen(), 5).await;
    assert_eq!(consumer.counts(), (5, 1));
    consumer.stop().await;

    // Everything was settled: the queue is empty.
    let q = channel
        .queue_declare(
            queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(q.message_count(), 0);
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
    let _ = conn
        .close(200, lapin::types::ShortString::from("done"))
        .await;
}
