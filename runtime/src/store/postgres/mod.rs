//! [`PostgresStore`]: events and snapshots in PostgreSQL (feature
//! `postgres`), through a pool of tokio-postgres connections
//! (deadpool-postgres).
//!
//! ```no_run
//! # async fn run() -> Result<(), eventfold::StoreError> {
//! use eventfold::store::PostgresStore;
//!
//! let store = PostgresStore::options("postgres://postgres@127.0.0.1:5432/app")
//!     .schema("billing")
//!     .pool_size(16)
//!     .connect()
//!     .await?;
//! # let _ = store; Ok(()) }
//! ```
//!
//! # TLS
//!
//! The connection string's `sslmode` (`disable`, `prefer` (default),
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert` are honoured as
//! libpq honours them, on rustls: `postgres://app@db.example.com/app?sslmode=verify-full`
//! encrypts and checks the server's certificate and name against the
//! system's roots. The table of what each mode checks is in the `tls` module
//! source (`store/postgres/tls.rs`); `prefer` and `require` without a root
//! file encrypt without checking who answers, as libpq does.
//!
//! # Schema
//!
//! Every table lives in one PostgreSQL schema (default [`DEFAULT_SCHEMA`];
//! tests use one per test to isolate themselves). [`PostgresOptions::connect`]
//! creates it if needed, under a transaction-scoped advisory lock so that
//! concurrent first connections do not race, and records its layout version
//! in `meta`; a layout newer than this code is refused.
//!
//! * `head`: one row, the global position of the last committed event.
//! * `streams`: per stream its version (never lowered) and tombstone flag.
//! * `events`: one row per event; `event_id` is unique in the store and
//!   `(stream_id, stream_version)` is unique. Metadata is `jsonb`, `NULL`
//!   when empty (the common case costs nothing to read back).
//! * `snapshots`: keyed by `(stream_id, version)`.
//!
//! # Global positions: the rule and why it holds
//!
//! Positions are **not** taken from a sequence: sequence values are handed
//! out at call time, not commit time, so a transaction holding position 7
//! can commit after one holding position 8, and a reader of all streams that
//! saw 8 would never see 7; rolled-back transactions also leave gaps.
//!
//! Instead, every write transaction increments the single `head` row
//! (`UPDATE head SET position = position + n`), in the same statement that
//! inserts the events. The row lock this takes is held until the
//! transaction commits or rolls back, so writers assign positions strictly
//! one after another: the next one can only read the counter after the
//! previous one's commit (it then continues from its value) or rollback (it
//! then reuses the same numbers, so no gap is left). PostgreSQL marks a
//! transaction committed before it releases its locks, so any snapshot in
//! which the later events are visible also sees the earlier ones. Hence
//! positions are gap-free and strictly increasing in commit order, and
//! `read_all(after)` can never miss an event that commits later with a
//! lower position. This holds between processes sharing one database too.
//! Only the short tail of each transaction (the write statement and the
//! commit) runs under this lock: the expected-version checks happen before,
//! under the streams' own row locks.
//!
//! # Appends: group commit
//!
//! Concurrent appends of one process are folded into one transaction
//! (one commit, one fsync) by a committer task (`store/postgres/append.rs`
//! documents its steps). Each append is still decided on its own (expected version,
//! tombstone, idempotency as the store contract in [`super`] says), and a
//! refused one leaves no trace. The events of one group are inserted by one
//! statement from arrays (`UNNEST ... WITH ORDINALITY`), which also bumps
//! `head`, sets the streams' versions and calls `pg_notify`.
//!
//! # Waiting for appends
//!
//! A dedicated connection `LISTEN`s on the schema's channel: every append
//! notifies it with its last position on commit, so subscriptions in any
//! process wake at once. Should that connection fail, waiting degrades to
//! polling every [`POLL_INTERVAL`].
//!
//! # Errors
//!
//! A server that cannot be reached is [`StoreError::Unreachable`] naming its
//! host and port; a stored row that cannot be read back (bad metadata, an
//! impossible version) is [`StoreError::Corrupted`] naming the stream, the
//! version and the event type, and fails only the read that met it.

mod append;
mod stats;
mod tls;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio::sync::watch;
use tokio_postgres::config::Host;
use tokio_postgres::{AsyncMessage, Row};
use uuid::Uuid;

use super::{
    AppendResult, DeleteMode, Direction, EventStore, ExpectedVersion, ReadStream, StoreError,
    StreamInfo,
};
use crate::envelope::{Metadata, NewEvent, RecordedEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};

/// The schema used when none is configured.
pub const DEFAULT_SCHEMA: &str = "eventfold";

/// The longest schema name accepted, in bytes.
pub const MAX_SCHEMA_LEN: usize = 48;

/// How long a subscription waits before polling again when no notification
/// arrives.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The table layout this code creates and understands.
const LAYOUT_VERSION: i64 = 1;

/// The columns every event query selects, in [`decode_event`]'s order.
const EVENT_COLUMNS: &str = "global_position, event_id, stream_id, stream_version, recorded_at, \
     event_type, schema_version, payload, metadata::text";

/// How to connect a [`PostgresStore`]; made by [`PostgresStore::options`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    url: String,
    schema: String,
    pool_size: usize,
    connect_timeout: Duration,
}

impl PostgresOptions {
    /// Options for the server at `url` (a `postgres://` URL or a
    /// `key=value` connection string), with the defaults: schema
    /// [`DEFAULT_SCHEMA`], 16 pooled connections, a 5 second connect timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The PostgreSQL schema holding the tables: ASCII letters, digits and
    /// `_`, not starting with a digit, at most [`MAX_SCHEMA_LEN`] bytes.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The most connections the pool opens (at least 1).
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long opening one connection may take.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects, creates the schema and its tables if needed, and starts
    /// listening for appends.
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with(self).await
    }
}

/// A schema name that breaks the rules of [`PostgresOptions::schema`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid PostgreSQL schema name {0:?}: use 1 to {MAX_SCHEMA_LEN} ASCII letters, digits or `_`, not starting with a digit"
)]
pub struct InvalidSchemaName(pub String);

fn validate_schema(name: &str) -> Result<(), InvalidSchemaName> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SCHEMA_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(InvalidSchemaName(name.to_owned()))
    }
}

/// An event store in PostgreSQL. Cloning shares the pool. See the module
/// docs for the schema and how global positions are kept in commit order.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    schema: String,
    channel: String,
    host: String,
    port: u16,
    sql: Sql,
    /// The highest committed position this process knows of.
    head: watch::Sender<u64>,
    /// Keeps the `LISTEN` connection open (it closes when dropped).
    listener: std::sync::OnceLock<tokio_postgres::Client>,
    /// The queue of appends to the group-commit task.
    committer: append::Committer,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("schema", &self.inner.schema)
            .finish()
    }
}

/// The statements, with the schema name filled in.
struct Sql {
    lock_streams: String,
    write_group: String,
    lookup_ids: String,
    stream_head: String,
    read_forward: String,
    read_backward: String,
    read_all: String,
    stream_info: String,
    head: String,
    tombstone: String,
    hard_delete: String,
    delete_before: String,
    save_snapshot: String,
    load_snapshot: String,
    prune_snapshots: String,
    delete_snapshots: String,
}

impl Sql {
    fn new(s: &str) -> Self {
        Self {
            lock_streams: format!(
                "INSERT INTO {s}.streams AS s (stream_id, version, deleted) \
                 SELECT u.id, 0, false FROM UNNEST($1::text[]) WITH ORDINALITY AS u(id, n) \
                 ORDER BY u.n \
                 ON CONFLICT (stream_id) DO UPDATE SET deleted = s.deleted \
                 RETURNING s.stream_id, s.version, s.deleted"
            ),
            write_group: format!(
                "WITH h AS ( \
                   UPDATE {s}.head SET position = position + $1::bigint \
                   RETURNING position - $1::bigint AS base \
                 ), v AS ( \
                   UPDATE {s}.streams AS st SET version = u.version \
                   FROM UNNEST($2::text[], $3::bigint[]) AS u(stream_id, version) \
                   WHERE st.stream_id = u.stream_id \
                 ), d AS ( \
                   DELETE FROM {s}.streams \
                   WHERE stream_id = ANY($4::text[]) AND version = 0 AND NOT deleted \
                 ), i AS ( \
                   INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version, \
                     recorded_at, event_type, schema_version, payload, metadata) \
                   SELECT h.base + u.n, u.id, u.sid, u.ver, now(), u.ty, u.sv, u.pl, u.md::jsonb \
                   FROM h, UNNEST($5::text[], $6::bigint[], $7::uuid[], $8::text[], \
                     $9::bigint[], $10::bytea[], $11::text[]) \
                     WITH ORDINALITY AS u(sid, ver, id, ty, sv, pl, md, n) \
                 ) \
                 SELECT h.base + $1::bigint, pg_notify($12, (h.base + $1::bigint)::text) \
                 FROM h"
            ),
            lookup_ids: format!(
                "SELECT event_id, stream_id, stream_version, global_position FROM {s}.events \
                 WHERE event_id = ANY($1::uuid[])"
            ),
            stream_head: format!("SELECT version, deleted FROM {s}.streams WHERE stream_id = $1"),
            read_forward: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream_id = $1 \
                 AND stream_version BETWEEN $2 AND $3 ORDER BY stream_version"
            ),
            read_backward: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream_id = $1 \
                 AND stream_version BETWEEN $2 AND $3 ORDER BY stream_version DESC"
            ),
            read_all: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE global_position > $1 \
                 ORDER BY global_position LIMIT $2"
            ),
            stream_info: format!(
                "SELECT s.version, s.deleted, \
                   (SELECT recorded_at FROM {s}.events e WHERE e.stream_id = s.stream_id \
                    ORDER BY stream_version LIMIT 1), \
                   (SELECT recorded_at FROM {s}.events e WHERE e.stream_id = s.stream_id \
                    ORDER BY stream_version DESC LIMIT 1) \
                 FROM {s}.streams s WHERE s.stream_id = $1"
            ),
            head: format!("SELECT position FROM {s}.head"),
            tombstone: format!(
                "INSERT INTO {s}.streams (stream_id, version, deleted) VALUES ($1, 0, true) \
                 ON CONFLICT (stream_id) DO UPDATE SET deleted = true"
            ),
            hard_delete: format!("DELETE FROM {s}.events WHERE stream_id = $1"),
            delete_before: format!(
                "DELETE FROM {s}.events WHERE stream_id = $1 AND stream_version < $2"
            ),
            save_snapshot: format!(
                "INSERT INTO {s}.snapshots (stream_id, version, aggregate_type, schema_version, \
                   payload, taken_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (stream_id, version) DO UPDATE SET \
                   aggregate_type = EXCLUDED.aggregate_type, \
                   schema_version = EXCLUDED.schema_version, \
                   payload = EXCLUDED.payload, taken_at = EXCLUDED.taken_at"
            ),
            load_snapshot: format!(
                "SELECT version, payload, taken_at FROM {s}.snapshots \
                 WHERE stream_id = $1 AND aggregate_type = $2 AND schema_version = $3 \
                 AND version <= $4 ORDER BY version DESC LIMIT 1"
            ),
            prune_snapshots: format!(
                "DELETE FROM {s}.snapshots WHERE stream_id = $1 AND version NOT IN ( \
                   SELECT version FROM {s}.snapshots WHERE stream_id = $1 \
                   ORDER BY version DESC LIMIT $2)"
            ),
            delete_snapshots: format!("DELETE FROM {s}.snapshots WHERE stream_id = $1"),
        }
    }
}

fn layout_sql(s: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.meta (
           key text PRIMARY KEY,
           value text NOT NULL
         );
         CREATE TABLE IF NOT EXISTS {s}.head (
           id boolean PRIMARY KEY DEFAULT true CHECK (id),
           position bigint NOT NULL
         );
         INSERT INTO {s}.head (id, position) VALUES (true, 0) ON CONFLICT DO NOTHING;
         CREATE TABLE IF NOT EXISTS {s}.streams (
           stream_id text PRIMARY KEY,
           version bigint NOT NULL,
           deleted boolean NOT NULL DEFAULT false
         );
         CREATE TABLE IF NOT EXISTS {s}.events (
           global_position bigint PRIMARY KEY,
           event_id uuid NOT NULL,
           stream_id text NOT NULL,
           stream_version bigint NOT NULL,
           recorded_at timestamptz NOT NULL,
           event_type text NOT NULL,
           schema_version bigint NOT NULL,
           payload bytea NOT NULL,
           metadata jsonb,
           CONSTRAINT events_event_id_key UNIQUE (event_id),
           CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
         );
         CREATE TABLE IF NOT EXISTS {s}.snapshots (
           stream_id text NOT NULL,
           version bigint NOT NULL,
           aggregate_type text NOT NULL,
           schema_version bigint NOT NULL,
           payload bytea NOT NULL,
           taken_at timestamptz NOT NULL,
           PRIMARY KEY (stream_id, version)
         );
         INSERT INTO {s}.meta (key, value) VALUES ('layout_version', '{LAYOUT_VERSION}')
           ON CONFLICT DO NOTHING;"
    )
}

/// Clamps a `u64` bound into PostgreSQL's `bigint`.
fn bound(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connects to `url` with the default options (see [`PostgresOptions`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        PostgresOptions::new(url).connect().await
    }

    /// Options to connect to `url`.
    pub fn options(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions::new(url)
    }

    /// The PostgreSQL schema holding this store's tables.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    async fn connect_with(options: PostgresOptions) -> Result<Self, StoreError> {
        validate_schema(&options.schema)
            .map_err(|e| StoreError::backend("configuring the PostgreSQL store", e))?;
        let (mut config, tls) = tls::configure(&options.url)?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("eventfold");
        }
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::backend("building the PostgreSQL connection pool", e))?;
        let quoted = format!("\"{}\"", options.schema);
        let channel = format!("eventfold_{}", options.schema);
        let (head, _) = watch::channel(0);
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                sql: Sql::new(&quoted),
                schema: options.schema,
                channel,
                host,
                port,
                head,
                listener: std::sync::OnceLock::new(),
                committer: append::Committer::default(),
            }),
        };
        store.create_layout(&quoted).await?;
        if let Some(listener) = store.listen(&config, tls).await {
            let _ = store.inner.listener.set(listener);
        }
        let position = store.head_position().await?;
        advance(&store.inner.head, position);
        Ok(store)
    }

    /// Creates the schema and tables (idempotent, serialized between
    /// concurrent connections by an advisory lock).
    async fn create_layout(&self, quoted: &str) -> Result<(), StoreError> {
        let ctx = || format!("creating the PostgreSQL schema `{}`", self.inner.schema);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(1702258278, hashtext($1))",
            &[&self.inner.schema],
        )
        .await
        .map_err(|e| self.pg_err(ctx(), e))?;
        tx.batch_execute(&layout_sql(quoted))
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let row = tx
            .query_one(
                &format!("SELECT value FROM {quoted}.meta WHERE key = 'layout_version'"),
                &[],
            )
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let stored: String = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        if stored.parse::<i64>().ok() != Some(LAYOUT_VERSION) {
            return Err(StoreError::backend(
                ctx(),
                format!(
                    "the schema has table layout version {stored}; this eventfold understands version {LAYOUT_VERSION}"
                ),
            ));
        }
        tx.commit().await.map_err(|e| self.pg_err(ctx(), e))
    }

    /// Opens the `LISTEN` connection; `None` (polling) if that fails.
    async fn listen(
        &self,
        config: &tokio_postgres::Config,
        tls: tls::Tls,
    ) -> Option<tokio_postgres::Client> {
        let (client, mut connection) = config.connect(tls).await.ok()?;
        let head = self.inner.head.clone();
        tokio::spawn(async move {
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if let Ok(position) = n.payload().parse::<u64>() {
                            advance(&head, position);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        let listen = format!("LISTEN \"{}\"", self.inner.channel);
        client.batch_execute(&listen).await.ok()?;
        Some(client)
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.inner.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => self.pg_err("connecting to PostgreSQL", e),
            PoolError::Timeout(_) => self.unreachable(e),
            other => StoreError::backend("getting a PostgreSQL connection", other),
        })
    }

    fn unreachable(
        &self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StoreError {
        StoreError::Unreachable {
            host: self.inner.host.clone(),
            port: self.inner.port,
            source: source.into(),
        }
    }

    /// Runs `sql` as a cached prepared statement on a pooled connection:
    /// its rows, or an error saying what the store was doing (`ctx`).
    pub(crate) async fn query(
        &self,
        client: &deadpool_postgres::Object,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ctx: &(dyn Fn() -> String + Sync),
    ) -> Result<Vec<Row>, StoreError> {
        let stmt = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        client
            .query(&stmt, params)
            .await
            .map_err(|e| self.pg_err(ctx(), e))
    }

    /// Like [`Self::query`], for a statement without rows: how many rows it changed.
    pub(crate) async fn execute(
        &self,
        client: &deadpool_postgres::Object,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ctx: &(dyn Fn() -> String + Sync),
    ) -> Result<u64, StoreError> {
        let stmt = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        client
            .execute(&stmt, params)
            .await
            .map_err(|e| self.pg_err(ctx(), e))
    }

    /// Runs an event query (columns [`EVENT_COLUMNS`]) and decodes its rows
    /// as they arrive, so that decoding overlaps the server sending the
    /// rest. `stream`: the one stream the query reads, if it reads one.
    async fn query_events(
        &self,
        client: &deadpool_postgres::Object,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        stream: Option<&StreamId>,
        ctx: &(dyn Fn() -> String + Sync),
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stmt = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let rows = client
            .query_raw(&stmt, params.iter().copied())
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let mut rows = std::pin::pin!(rows);
        let mut out = Vec::new();
        let mut last: Option<StreamId> = stream.cloned();
        while let Some(row) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(rows.as_mut(), cx)).await
        {
            let row = row.map_err(|e| self.pg_err(ctx(), e))?;
            let event = decode_event(&row, last.as_ref())?;
            if stream.is_none() {
                last = Some(event.stream_id.clone());
            }
            out.push(event);
        }
        Ok(out)
    }

    /// Classifies a driver error: connection failures are
    /// [`StoreError::Unreachable`], the rest [`StoreError::Backend`].
    pub(crate) fn pg_err(
        &self,
        context: impl Into<String>,
        e: tokio_postgres::Error,
    ) -> StoreError {
        let io = e
            .source()
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
        if e.as_db_error().is_none() && (e.is_closed() || io) {
            self.unreachable(e)
        } else {
            StoreError::backend(context, e)
        }
    }

    /// The stream's version and tombstone flag (`None`: no row).
    async fn stream_head(
        &self,
        client: &deadpool_postgres::Object,
        stream: &StreamId,
        ctx: &(dyn Fn() -> String + Sync),
    ) -> Result<Option<(u64, bool)>, StoreError> {
        let rows = self
            .query(
                client,
                &self.inner.sql.stream_head,
                &[&stream.as_str()],
                ctx,
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        let deleted: bool = row.try_get(1).map_err(|e| self.pg_err(ctx(), e))?;
        Ok(Some((version.max(0) as u64, deleted)))
    }

    async fn append_nothing(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> Result<AppendResult, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("appending to stream `{stream}`");
        let (current, deleted) = self
            .stream_head(&client, stream, &ctx)
            .await?
            .unwrap_or((0, false));
        if deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        expected.check(stream, current)?;
        Ok(AppendResult {
            first_version: current,
            next_expected_version: current,
            last_position: 0,
            written: false,
        })
    }
}

/// Raises the known head to `position` (never lowers it).
fn advance(head: &watch::Sender<u64>, position: u64) {
    head.send_if_modified(|h| {
        if position > *h {
            *h = position;
            true
        } else {
            false
        }
    });
}

/// Reads one event row (columns in [`EVENT_COLUMNS`] order). `stream` is the
/// stream the query asked for, if any: its id is reused instead of
/// re-validated.
fn decode_event(row: &Row, stream: Option<&StreamId>) -> Result<RecordedEvent, StoreError> {
    let raw_stream: &str = row.try_get(2).unwrap_or("<unreadable stream id>");
    let raw_version: i64 = row.try_get(3).unwrap_or(-1);
    let raw_type: &str = row.try_get(5).unwrap_or("<unreadable event type>");
    let corrupted = |reason: String| StoreError::Corrupted {
        stream: raw_stream.to_owned(),
        version: raw_version.max(0) as u64,
        event_type: raw_type.to_owned(),
        reason,
    };
    let stream_version = u64::try_from(raw_version)
        .map_err(|_| corrupted(format!("stream version {raw_version}")))?;
    let stream_id = match stream {
        Some(s) if s.as_str() == raw_stream => s.clone(),
        _ => StreamId::new(raw_stream).map_err(|e| corrupted(format!("stream id: {e}")))?,
    };
    let position: i64 = row
        .try_get(0)
        .map_err(|e| corrupted(format!("global position: {e}")))?;
    let global_position = u64::try_from(position)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| corrupted(format!("global position {position}")))?;
    let event_id: Uuid = row
        .try_get(1)
        .map_err(|e| corrupted(format!("event id: {e}")))?;
    let recorded_at: DateTime<Utc> = row
        .try_get(4)
        .map_err(|e| corrupted(format!("recorded at: {e}")))?;
    let schema_version: i64 = row
        .try_get(6)
        .map_err(|e| corrupted(format!("schema version: {e}")))?;
    let schema_version = u32::try_from(schema_version)
        .map_err(|_| corrupted(format!("schema version {schema_version}")))?;
    let payload: &[u8] = row
        .try_get(7)
        .map_err(|e| corrupted(format!("payload: {e}")))?;
    let metadata: Option<&str> = row
        .try_get(8)
        .map_err(|e| corrupted(format!("metadata: {e}")))?;
    let metadata = match metadata {
        None => Metadata::default(),
        Some(json) => {
            serde_json::from_str(json).map_err(|e| corrupted(format!("metadata: {e}")))?
        }
    };
    Ok(RecordedEvent {
        event_id,
        stream_id,
        stream_version,
        global_position,
        recorded_at,
        event_type: raw_type.to_owned(),
        schema_version,
        payload: payload.to_vec(),
        metadata,
    })
}

impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        if events.is_empty() {
            return self.append_nothing(stream, expected).await;
        }
        self.append_grouped(stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("reading stream `{stream}`");
        let Some((current, deleted)) = self.stream_head(&client, stream, &ctx).await? else {
            return Ok(Vec::new());
        };
        if deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        let Some((lo, hi)) = read.window(current) else {
            return Ok(Vec::new());
        };
        let sql = match read.direction {
            Direction::Forward => &self.inner.sql.read_forward,
            Direction::Backward => &self.inner.sql.read_backward,
        };
        self.query_events(
            &client,
            sql,
            &[&stream.as_str(), &bound(lo), &bound(hi)],
            Some(stream),
            &ctx,
        )
        .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let ctx = || format!("reading all streams after position {after}");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_events(
            &client,
            &self.inner.sql.read_all,
            &[&bound(after), &limit],
            None,
            &ctx,
        )
        .await
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("reading the info of stream `{stream}`");
        let rows = self
            .query(
                &client,
                &self.inner.sql.stream_info,
                &[&stream.as_str()],
                &ctx,
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        Ok(Some(StreamInfo {
            stream_id: stream.clone(),
            version: version.max(0) as u64,
            deleted: row.try_get(1).map_err(|e| self.pg_err(ctx(), e))?,
            first_recorded_at: row.try_get(2).map_err(|e| self.pg_err(ctx(), e))?,
            last_recorded_at: row.try_get(3).map_err(|e| self.pg_err(ctx(), e))?,
        }))
    }

    async fn delete_stream(&self, stream: &StreamId, mode: DeleteMode) -> Result<(), StoreError> {
        let client = self.client().await?;
        let ctx = || format!("deleting stream `{stream}`");
        let sql = match mode {
            DeleteMode::Tombstone => &self.inner.sql.tombstone,
            DeleteMode::Hard => &self.inner.sql.hard_delete,
        };
        self.execute(&client, sql, &[&stream.as_str()], &ctx)
            .await?;
        Ok(())
    }

    async fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let ctx = || format!("deleting the events of stream `{stream}` below version {before}");
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        // Lock the stream's row (as appends do) to check the tombstone.
        let stmt = tx
            .prepare_cached(&format!("{} FOR UPDATE", self.inner.sql.stream_head))
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let Some(row) = tx
            .query_opt(&stmt, &[&stream.as_str()])
            .await
            .map_err(|e| self.pg_err(ctx(), e))?
        else {
            return Ok(0);
        };
        let deleted: bool = row.try_get(1).map_err(|e| self.pg_err(ctx(), e))?;
        if deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        let stmt = tx
            .prepare_cached(&self.inner.sql.delete_before)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let n = tx
            .execute(&stmt, &[&stream.as_str(), &bound(before)])
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        tx.commit().await.map_err(|e| self.pg_err(ctx(), e))?;
        Ok(n)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let ctx = || "reading the head position".to_owned();
        let stmt = client
            .prepare_cached(&self.inner.sql.head)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let row = client
            .query_one(&stmt, &[])
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let position: i64 = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        Ok(position.max(0) as u64)
    }

    async fn wait_for_append(&self, position: u64) {
        let mut rx = self.inner.head.subscribe();
        if *rx.borrow_and_update() > position {
            // Already past: the caller's read raced a commit (or the events
            // after `position` were hard-deleted; pace that case).
            tokio::time::sleep(Duration::from_millis(5)).await;
            return;
        }
        let _ = tokio::time::timeout(POLL_INTERVAL, rx.wait_for(|h| *h > position)).await;
    }
}

impl SnapshotStore for PostgresStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let client = self.client().await?;
        let ctx = || format!("saving a snapshot of stream `{}`", snapshot.stream_id);
        let version = i64::try_from(snapshot.version).map_err(|_| {
            StoreError::backend(
                ctx(),
                format!("snapshot version {} is too large", snapshot.version),
            )
        })?;
        let stmt = client
            .prepare_cached(&self.inner.sql.save_snapshot)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        client
            .execute(
                &stmt,
                &[
                    &snapshot.stream_id.as_str(),
                    &version,
                    &snapshot.aggregate_type,
                    &i64::from(snapshot.schema_version),
                    &snapshot.payload,
                    &snapshot.taken_at,
                ],
            )
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        Ok(())
    }

    async fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("loading a snapshot of stream `{stream}`");
        let stmt = client
            .prepare_cached(&self.inner.sql.load_snapshot)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let Some(row) = client
            .query_opt(
                &stmt,
                &[
                    &stream.as_str(),
                    &aggregate_type,
                    &i64::from(schema_version),
                    &bound(max_version.unwrap_or(u64::MAX)),
                ],
            )
            .await
            .map_err(|e| self.pg_err(ctx(), e))?
        else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        let version = u64::try_from(version).map_err(|_| StoreError::Corrupted {
            stream: stream.to_string(),
            version: 0,
            event_type: format!("snapshot of {aggregate_type}"),
            reason: format!("snapshot version {version}"),
        })?;
        Ok(Some(Snapshot {
            stream_id: stream.clone(),
            aggregate_type: aggregate_type.to_owned(),
            schema_version,
            version,
            payload: row.try_get(1).map_err(|e| self.pg_err(ctx(), e))?,
            taken_at: row.try_get(2).map_err(|e| self.pg_err(ctx(), e))?,
        }))
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("pruning the snapshots of stream `{stream}`");
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.execute(
            &client,
            &self.inner.sql.prune_snapshots,
            &[&stream.as_str(), &keep],
            &ctx,
        )
        .await
    }

    async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
        let client = self.client().await?;
        let ctx = || format!("deleting the snapshots of stream `{stream}`");
        self.execute(
            &client,
            &self.inner.sql.delete_snapshots,
            &[&stream.as_str()],
            &ctx,
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        assert!(validate_schema("eventfold").is_ok());
        assert!(validate_schema("t_1_abc").is_ok());
        assert!(validate_schema("").is_err());
        assert!(validate_schema("1abc").is_err());
        assert!(validate_schema("a-b").is_err());
        assert!(validate_schema("a\"b").is_err());
        assert!(validate_schema(&"a".repeat(MAX_SCHEMA_LEN + 1)).is_err());
    }

    #[test]
    fn bounds_clamp() {
        assert_eq!(bound(5), 5);
        assert_eq!(bound(u64::MAX), i64::MAX);
    }
}
