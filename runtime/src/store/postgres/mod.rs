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
//! in `meta`; a layout this code does not know is refused with
//! [`StoreError::IncompatibleLayout`].
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
//! process wake at once. The connection is opened by the first wait for an
//! append (a process that only writes has none: each commit would wake it
//! and its server process for nothing). Should that connection fail,
//! waiting degrades to polling every [`POLL_INTERVAL`].
//!
//! # Errors
//!
//! A server that cannot be reached, or a connection lost, is
//! [`StoreError::Unreachable`] naming its host and port (SQLSTATE class
//! `08` and the shutdown codes `57P01` to `57P03` too); a URL, schema name
//! or TLS setting that is not usable, refused credentials or a missing
//! database are [`StoreError::Open`]; a layout of another eventfold
//! [`StoreError::IncompatibleLayout`]; a serialization failure, deadlock,
//! lock timeout or too many connections (`40001`, `40P01`, `55P03`,
//! `53300`) [`StoreError::Busy`]; a stored row that cannot be read back
//! (bad metadata, an impossible version) is [`StoreError::Corrupted`]
//! naming the stream, the version and the event type, and fails only the
//! read that met it; other server errors are [`StoreError::Backend`] with
//! the server's words.
//!
//! # Layout of this module
//!
//! `open.rs` (options, pool, schema layout, `LISTEN`), `append.rs` (the
//! group-commit writer), `read.rs` (the reads), `rows.rs` (rows to
//! values), `sql.rs` (every statement), `tls.rs`, `stats.rs`; this file
//! holds the type, the error classification and the trait
//! implementations that tie them together.

mod append;
mod open;
mod read;
mod rows;
mod sql;
mod stats;
mod tls;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Pool, PoolError};
use tokio::sync::watch;
use tokio_postgres::Row;

use super::{
    AppendResult, DeleteMode, EventStore, ExpectedVersion, LoadQuery, LoadedStream, ReadStream,
    StoreError, StreamInfo,
};
use crate::envelope::{NewEvent, RecordedEvent, StreamId};
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::columns::{input_i64, upper_bound};

pub use open::{
    DEFAULT_COMMITTERS, DEFAULT_SCHEMA, InvalidSchemaName, LAYOUT_VERSION, MAX_SCHEMA_LEN,
    POLL_INTERVAL, PostgresOptions,
};

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
    sql: sql::Sql,
    /// The highest committed position this process knows of.
    head: watch::Sender<u64>,
    /// How to open the `LISTEN` connection.
    listen_with: (tokio_postgres::Config, tls::Tls),
    /// The `LISTEN` connection, opened by the first wait for an append
    /// and kept open (it closes when dropped); `None` when it could not be
    /// opened (waiting polls).
    listener: tokio::sync::OnceCell<Option<tokio_postgres::Client>>,
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

    /// Classifies a driver error (for the store and the PostgreSQL
    /// checkpoint store; the table is in the module docs): connection
    /// failures are [`StoreError::Unreachable`], passing refusals
    /// [`StoreError::Busy`], refused credentials or database
    /// [`StoreError::Open`], the rest [`StoreError::Backend`].
    pub(crate) fn pg_err(
        &self,
        context: impl Into<String>,
        e: tokio_postgres::Error,
    ) -> StoreError {
        let io = e
            .source()
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
        let Some(code) = e.code() else {
            return if e.is_closed() || io {
                self.unreachable(e)
            } else {
                StoreError::backend(context, ServerError::from(e))
            };
        };
        let code = code.code();
        if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") {
            self.unreachable(ServerError::from(e))
        } else if matches!(code, "40001" | "40P01" | "55P03" | "53300") {
            StoreError::busy(context, ServerError::from(e))
        } else if code.starts_with("28") || code == "3D000" {
            let e = ServerError::from(e);
            StoreError::Open {
                location: format!("{}:{}", self.inner.host, self.inner.port),
                reason: format!("the server refused the connection: {e}"),
                source: Some(Box::new(e)),
            }
        } else {
            StoreError::backend(context, ServerError::from(e))
        }
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
            recorded_at: None,
        })
    }
}

/// A driver error whose text carries the server's reason: tokio-postgres
/// shows a server error as the bare words "db error" and keeps the reason
/// in its source; this shows both (severity, code, message, detail, hint)
/// and keeps the driver's error as the source.
#[derive(Debug)]
pub(crate) struct ServerError {
    text: String,
    source: tokio_postgres::Error,
}

impl From<tokio_postgres::Error> for ServerError {
    fn from(source: tokio_postgres::Error) -> Self {
        let text = match source.as_db_error() {
            Some(db) => {
                let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
                if let Some(detail) = db.detail() {
                    text.push_str(&format!(" (detail: {detail})"));
                }
                if let Some(hint) = db.hint() {
                    text.push_str(&format!(" (hint: {hint})"));
                }
                text
            }
            None => match source.source() {
                Some(inner) => format!("{source}: {inner}"),
                None => source.to_string(),
            },
        };
        Self { text, source }
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
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
        self.fetch_stream(stream, read).await
    }

    async fn load_stream(
        &self,
        stream: &StreamId,
        query: LoadQuery<'_>,
    ) -> Result<LoadedStream, StoreError> {
        self.fetch_loaded(stream, query).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.fetch_all(after, limit).await
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        self.fetch_info(stream).await
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
            .prepare_cached(&self.inner.sql.lock_stream)
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
            .execute(&stmt, &[&stream.as_str(), &upper_bound(before)])
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        tx.commit().await.map_err(|e| self.pg_err(ctx(), e))?;
        Ok(n)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.fetch_head().await
    }

    async fn wait_for_append(&self, position: u64) {
        self.listening().await;
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
        let version = input_i64(ctx, "snapshot version", snapshot.version)?;
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
        self.fetch_snapshot(stream, aggregate_type, schema_version, max_version)
            .await
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("pruning the snapshots of stream `{stream}`");
        let keep = upper_bound(keep as u64);
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
    use super::open::validate_schema;
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
        assert_eq!(upper_bound(5), 5);
        assert_eq!(upper_bound(u64::MAX), i64::MAX);
    }
}
