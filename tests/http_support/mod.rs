//! Shared by the `http_*` tests: a service on an ephemeral loopback port,
//! a reqwest client, a Server-Sent Events reader, and the stores.

#![allow(dead_code)]

use std::time::Duration;

use eventfold::PostgresStore;
use eventfold::http::{AdminAccess, RunningService, ServiceStore};
use eventfold::projection::MemoryCheckpointStore;
use eventfold::store::conformance::PostgresSchema;
use eventfold_suite::bank_service;
use serde_json::Value;
use tokio::sync::oneshot;

/// A bank service listening on `127.0.0.1:<ephemeral>`.
pub struct Server<S> {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The running service (for direct checks).
    pub running: RunningService<S>,
    /// Its checkpoints (shared with the service).
    pub checkpoints: MemoryCheckpointStore,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Starts the bank service (generic routes and the bank's own) on `store`.
pub async fn start<S: ServiceStore>(store: S, admin: AdminAccess) -> Server<S> {
    start_with(store, admin, |s| s).await
}

/// Like [`start`], with a chance to change the builder.
pub async fn start_with<S: ServiceStore>(
    store: S,
    admin: AdminAccess,
    configure: impl FnOnce(
        eventfold::http::Service<S, MemoryCheckpointStore>,
    ) -> eventfold::http::Service<S, MemoryCheckpointStore>,
) -> Server<S> {
    let checkpoints = MemoryCheckpointStore::new();
    let running = configure(bank_service::service(store, checkpoints.clone()).admin(admin)).start();
    let app = running.router().merge(bank_service::routes(&running));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = running.clone();
    let signal = running.clone();
    let task = tokio::spawn(async move {
        let outcome = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
                signal.begin_shutdown();
            })
            .await;
        shutdown.shutdown().await;
        outcome
    });
    Server {
        base,
        running,
        checkpoints,
        stop: Some(stop),
        task: Some(task),
    }
}

impl<S> Server<S> {
    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Shuts down gracefully and waits for the end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("graceful shutdown within 20 s")
                .unwrap()
                .unwrap();
        }
    }
}

/// A client with a timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The status and JSON body of a response.
pub async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// POSTs JSON under `If-Match: version`, returns status and body.
pub async fn post_if_match(
    client: &reqwest::Client,
    url: &str,
    version: &str,
    body: Value,
) -> (u16, Value) {
    json(
        client
            .post(url)
            .header("if-match", version)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// POSTs JSON, returns status and body.
pub async fn post(client: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    json(client.post(url).json(&body).send().await.unwrap()).await
}

/// GETs, returns status and body.
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    json(client.get(url).send().await.unwrap()).await
}

/// Reads a `text/event-stream` response message by message.
pub struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    /// Wraps a response (checks its status and content type).
    pub fn new(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), 200, "SSE status");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        Self {
            resp,
            buf: String::new(),
        }
    }

    /// The next message with data: its `id` and its data as JSON (`None`
    /// when the stream ends). Fails after 10 s without one.
    pub async fn next(&mut self) -> Option<(Option<u64>, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((id, serde_json::from_str(&data).unwrap()));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("an SSE message within 10 s")
                .unwrap()?;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// A PostgreSQL store in a fresh schema, with the schema (dropped when it
/// is); `None` after a notice without a server (a failure when
/// `EVENTFOLD_REQUIRE_POSTGRES=1`).
pub async fn postgres_store(test: &str) -> Option<(PostgresStore, PostgresSchema)> {
    let schema = PostgresSchema::new(&format!("http_{test}"))?;
    Some((schema.store().await, schema))
}
