//! [`RedisStore`]: events, snapshots and (with [`RedisCheckpointStore`])
//! projection checkpoints in Redis (feature `redis`), through one
//! multiplexed, auto-reconnecting connection (the `redis` crate's
//! `ConnectionManager` on tokio).
//!
//! ```no_run
//! # async fn run() -> Result<(), eventfold::StoreError> {
//! use eventfold::store::RedisStore;
//!
//! let store = RedisStore::options("redis://127.0.0.1:6379/")
//!     .prefix("billing")
//!     .connect()
//!     .await?;
//! # let _ = store; Ok(()) }
//! ```
//!
//! # Key layout
//!
//! Every key starts with `{prefix}:` (default prefix [`DEFAULT_PREFIX`]),
//! and every script declares the keys it touches. The braces make the
//! prefix a Redis Cluster hash tag, so all keys of one store would share
//! one slot: one store is one server's work, since the global order needs
//! one writer. `RedisStore` itself connects to one server (standalone, or
//! the primary behind a proxy or a fixed address); it needs Redis 5 or
//! later (scripts replicated by their effects) and is tested with 7.0.
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `{p}:meta` | hash | `layout`: the layout version this code wrote ([`LAYOUT_VERSION`]) |
//! | `{p}:head` | string | the last global position handed out (never lowered) |
//! | `{p}:log` | sorted set | every stored event's position (member and score): read-all |
//! | `{p}:ids` | hash | event id → position: idempotency and unique ids |
//! | `{p}:ev:header` | hash | position → `<version> <schema version> <recorded at> <event id> <stream id>\x1f<event type>` (the time in microseconds since the epoch; a stream id holds no control character, the type is the rest) |
//! | `{p}:ev:meta` | hash | position → the metadata as JSON (absent when empty) |
//! | `{p}:ev:data` | hash | position → the payload bytes |
//! | `{p}:stream:<stream id>` | hash | `version` (never lowered), `deleted` (`1`: tombstoned) |
//! | `{p}:versions:<stream id>` | sorted set | the stream's stored events: position, scored by version |
//! | `{p}:snapshots:<stream id>` | sorted set | the stream's snapshot versions |
//! | `{p}:snapshot:<stream id>` | hash | `<version>:type`, `:schema`, `:at`, `:data` per snapshot |
//! | `{p}:stats` | hash | `events` (stored), `snapshots` (stored), `deleted` (tombstoned streams) |
//! | `{p}:stats:types` | hash | event type → events stored (a type with none is absent) |
//! | `{p}:stats:categories` | hash | stream category → streams known |
//! | `{p}:streams` | sorted set | every known stream id, all scored 0 (listed by `ZRANGEBYLEX`) |
//! | `{p}:checkpoints` | hash | projection → checkpoint ([`RedisCheckpointStore`]) |
//! | `{p}:dead:<projection>` | hash | position → parked event (JSON) |
//! | `{p}:claim:<projection>` | string | the owner of the projection's claim, expiring with it |
//!
//! Appends are published on the channel `{p}:appends` (the new head).
//!
//! # Statistics
//!
//! [`StoreStats`](super::StoreStats) answers from counters (`{p}:stats*`)
//! and the stream list (`{p}:streams`), which the scripts that change what
//! they count (append, delete, tombstone, snapshot save and prune) update
//! in the same atomic step, so they never disagree with the data, even
//! after a crash: the AOF replays a script whole or not at all. A stream is
//! known from its first append or its tombstone and stays known (a hard
//! delete keeps its version); statistics are one atomic pipeline, a page of
//! the listing a `ZRANGEBYLEX` then one script reading those streams.
//!
//! # Layout versions
//!
//! Layout 2 added the statistics keys. On the first open by this code, a
//! store of layout 1 is migrated by one script (`lua/migrate.lua`): it
//! counts the stored events per type (from their headers), the streams per
//! category and the tombstones (finding the stream keys with `SCAN`), and
//! the snapshots, then writes layout 2. Running alone, it never races an
//! append, but it holds the server for a time that grows with the number
//! of stored events, and processes still running code of layout 1 would
//! append without counting: stop them before upgrading.
//! Versions and positions are kept exactly up to 2^53 (Lua numbers and
//! sorted-set scores are doubles), far beyond any real store.
//!
//! # Appends: one script
//!
//! An append is one Lua script (`lua/append.lua`, sent once with `SCRIPT
//! LOAD` and then called by its SHA1 with `EVALSHA`, falling back to
//! loading it again when the server answers `NOSCRIPT`, as after a
//! restart). Redis runs a script alone: nothing else runs between its first
//! and its last command, so the whole contract of [`super`] is decided and
//! written in one atomic step: the tombstone, the idempotency rule (every
//! event id is looked up in `{p}:ids`; a batch whose ids are stored writes
//! nothing and is answered from what is stored), the expected version, then
//! the write: the global positions are taken from `{p}:head` (`INCRBY`)
//! inside the same script, so positions are handed out in commit order and
//! `read_all` can never see position `p + 1` before `p`. The recorded time
//! is the server's clock (`TIME`), one clock for every writer. A batch that
//! repeats an event id is refused before anything is sent.
//!
//! Reads are scripts too (one round trip each): a stream window is a range
//! of `{p}:versions:<stream>` (`ZRANGEBYSCORE` on versions), read-all a
//! range of `{p}:log` after a position, each followed by one `HMGET` per
//! column (three: the fixed-size fields and the names share one header
//! string, so that a read looks up as few fields as possible); nothing
//! scans. Redis runs a script alone, so long reads are split into scripts
//! of at most [`PAGE`] events: the first page of a stream read fixes the
//! window (by the stream's version then), the next ones read within it, so
//! a read never returns events appended after it began.
//!
//! # Waiting for appends
//!
//! Every append `PUBLISH`es its last position on `{p}:appends`; a task per
//! store holds a subscribed connection and wakes
//! [`EventStore::wait_for_append`] (hence subscriptions) at once, in any
//! process. Pub/sub may drop messages (a reconnect, a slow subscriber), so a
//! waiter also re-reads the head after [`POLL_INTERVAL`] at the latest: a
//! lost message delays a subscriber, it never stalls it. The task
//! reconnects on its own and ends with the store.
//!
//! # Durability: what an acknowledged append survives
//!
//! Redis keeps data in memory; what survives is decided by the server's
//! persistence settings, not by this store. An append is acknowledged when
//! the script has run on the primary, and then:
//!
//! * **No persistence** (`appendonly no`, no `save` points): the append
//!   lives only in memory. A restart, crash or power loss of the server
//!   loses **every** event. For tests and caches only.
//! * **RDB snapshots only** (`save` points): a crash or restart loses every
//!   append since the last snapshot (minutes, by the default points).
//! * **AOF, `appendfsync everysec`** (the usual production setting): the
//!   script's writes normally reach the AOF file (the OS page cache) before
//!   the reply is sent, and are fsynced about once a second. A crash of the
//!   machine (kernel panic, power loss) loses up to about the last two
//!   seconds of acknowledged appends. A crash of the Redis process alone
//!   usually loses nothing, **but** while an fsync is slow Redis postpones
//!   its AOF writes (up to two seconds) and keeps answering, so then a
//!   process crash loses that tail too (`tests/store_redis.rs` sees it
//!   happen on a busy machine).
//! * **AOF, `appendfsync always`**: the AOF is fsynced before the reply, so
//!   an acknowledged append survives a machine crash too (given a disk that
//!   honours fsync), at the price of one fsync per write batch.
//!
//! The AOF records the script's effects as one `MULTI`/`EXEC` block, so a
//! restart replays an append whole or not at all (an unfinished block at
//! the end of the file is dropped), and what survives a crash is always the
//! oldest appends: a prefix of the acknowledged ones, never one with a gap.
//!
//! **Replication and failover.** Replication is asynchronous: the primary
//! acknowledges an append before any replica has it. When the primary fails
//! and a replica is promoted (Sentinel, Cluster, a managed service), the
//! appends it had not received yet (usually the last milliseconds; more
//! when the replica lagged) are **lost**, whatever the AOF setting. Worse,
//! the new primary's `{p}:head` is behind, so it hands the lost positions
//! out again to new events, and a projection whose checkpoint is past the
//! new head would skip them. The same holds after a restart that lost
//! appends (no persistence, RDB, `everysec`). After a failover or such a
//! restart, compare checkpoints with the head (a checkpoint above
//! [`EventStore::head_position`] means events were lost) and rebuild those
//! projections.
//!
//! [`RedisOptions::wait_for_replicas`] narrows the window: after each
//! append the store sends `WAIT n timeout` and fails the call (with
//! [`StoreError::Backend`]; the append itself stays, a retry of the same
//! batch is idempotent) unless `n` replicas confirmed it. That makes an
//! acknowledged append survive the loss of the primary as long as one of
//! those replicas is promoted, which Sentinel prefers but does not promise:
//! Redis is not a consensus system. On Redis 7.2 and later,
//! [`RedisOptions::wait_for_fsync`] sends `WAITAOF` instead, which waits for
//! the AOF fsync on the primary (and on `n` replicas): an
//! `appendfsync everysec` server then gives the machine-crash guarantee of
//! `always` to the appends that ask for it. Servers older than 7.2 answer
//! `WAITAOF` with an error, which the append reports.
//!
//! # Errors
//!
//! A server that cannot be reached (refused, timed out, connection lost) is
//! [`StoreError::Unreachable`] naming its host and port; a URL that does
//! not parse, a bad prefix or a refused password are [`StoreError::Open`]
//! (the URL's password never shows); keys written by another layout are
//! [`StoreError::IncompatibleLayout`]; a server that asks to try again
//! (`LOADING`, `BUSY`, `TRYAGAIN`) is [`StoreError::Busy`]; a
//! stored event that cannot be read back is [`StoreError::Corrupted`]
//! naming the stream, version and event type, and fails only the read that
//! met it; other server errors are [`StoreError::Backend`] saying what the
//! store was doing.

mod append;
mod checkpoint;
mod decode;
mod keys;
mod notify;
mod pages;
mod snapshot;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, ConnectionAddr, RedisError, Script, Value};
use tokio::sync::watch;

pub use self::checkpoint::RedisCheckpointStore;
use self::decode::{text, uint};
use self::keys::Keys;
pub use self::keys::{InvalidPrefix, MAX_PREFIX_LEN};
use super::{
    AppendResult, DeleteMode, Direction, EventStore, ExpectedVersion, ReadStream, StoreError,
    StreamInfo, check_batch,
};
use crate::envelope::{NewEvent, RecordedEvent, StreamId};
use crate::store::error::redact_url;

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "eventfold";

/// The key layout this code writes and understands (kept in `{p}:meta`).
pub const LAYOUT_VERSION: u64 = 2;

/// How long a waiter waits for a notification before re-reading the head.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The most events one read script returns: longer reads are split into
/// pages of this size, so that no script keeps the server busy for long.
pub const PAGE: usize = 2_000;

/// The largest version or position passed to the scripts (Lua numbers are
/// doubles: exact up to 2^53).
const MAX_EXACT: u64 = (1 << 53) - 1;

/// How to connect a [`RedisStore`]; made by [`RedisStore::options`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    url: String,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    acknowledge: Acknowledge,
}

/// What an append waits for after the primary ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acknowledge {
    Primary,
    Replicas { replicas: u32, timeout: Duration },
    Fsync { replicas: u32, timeout: Duration },
}

impl RedisOptions {
    /// Options for the server at `url` (`redis://[user:password@]host:port/db`,
    /// `rediss://` with TLS support compiled into `redis`, or
    /// `redis+unix:///path`), with the defaults: prefix [`DEFAULT_PREFIX`],
    /// a 5 second connect timeout, a 30 second response timeout, appends
    /// acknowledged by the primary.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Some(Duration::from_secs(30)),
            acknowledge: Acknowledge::Primary,
        }
    }

    /// The prefix of every key of the store: 1 to [`MAX_PREFIX_LEN`] bytes
    /// without control characters, white space, `{` or `}`. Stores with
    /// different prefixes share a server without seeing each other.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long opening a connection may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one command may wait for its answer before failing with
    /// [`StoreError::Unreachable`] (`None`: forever).
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// After each append, waits (`WAIT`) until `replicas` replicas have
    /// received it, at most `timeout`; fewer fails the call (the append
    /// stays; retrying the same batch is idempotent). See "Durability" in
    /// the module docs.
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.acknowledge = Acknowledge::Replicas { replicas, timeout };
        self
    }

    /// After each append, waits (`WAITAOF`, Redis 7.2 or later) until the
    /// primary's AOF and that of `replicas` replicas are fsynced, at most
    /// `timeout`; less fails the call (the append stays). See "Durability"
    /// in the module docs.
    pub fn wait_for_fsync(mut self, replicas: u32, timeout: Duration) -> Self {
        self.acknowledge = Acknowledge::Fsync { replicas, timeout };
        self
    }

    /// Connects, checks (or writes) the key layout version, loads the
    /// scripts and starts listening for appends.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        RedisStore::connect_with(self).await
    }
}

/// The store's Lua scripts, each sent to the server once and then called
/// by its SHA1.
struct Scripts {
    append: Script,
    read_stream: Script,
    read_all: Script,
    stream_info: Script,
    delete: Script,
    snapshot_save: Script,
    snapshot_load: Script,
    snapshot_prune: Script,
    snapshot_list: Script,
    tombstone: Script,
    migrate: Script,
    claim: Script,
}

impl Scripts {
    fn new() -> Self {
        const ROWS: &str = include_str!("lua/rows.lua");
        // The helpers of the scripts that keep the statistics counters.
        const STATS: &str = include_str!("lua/stats.lua");
        Self {
            append: Script::new(&format!("{STATS}{}", include_str!("lua/append.lua"))),
            read_stream: Script::new(&format!("{ROWS}{}", include_str!("lua/read_stream.lua"))),
            read_all: Script::new(&format!("{ROWS}{}", include_str!("lua/read_all.lua"))),
            stream_info: Script::new(include_str!("lua/stream_info.lua")),
            delete: Script::new(&format!("{STATS}{}", include_str!("lua/delete.lua"))),
            snapshot_save: Script::new(include_str!("lua/snapshot_save.lua")),
            snapshot_load: Script::new(include_str!("lua/snapshot_load.lua")),
            snapshot_prune: Script::new(include_str!("lua/snapshot_prune.lua")),
            snapshot_list: Script::new(include_str!("lua/snapshot_list.lua")),
            tombstone: Script::new(&format!("{STATS}{}", include_str!("lua/tombstone.lua"))),
            migrate: Script::new(&format!("{STATS}{}", include_str!("lua/migrate.lua"))),
            claim: Script::new(include_str!("lua/claim.lua")),
        }
    }

    fn all(&self) -> [&Script; 12] {
        [
            &self.append,
            &self.read_stream,
            &self.read_all,
            &self.stream_info,
            &self.delete,
            &self.snapshot_save,
            &self.snapshot_load,
            &self.snapshot_prune,
            &self.snapshot_list,
            &self.tombstone,
            &self.migrate,
            &self.claim,
        ]
    }
}

/// An event store in Redis. Cloning shares the connection. See the module
/// docs for the key layout, how appends keep the contract, and what an
/// acknowledged append survives.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    keys: Keys,
    prefix: String,
    host: String,
    port: u16,
    scripts: Scripts,
    acknowledge: Acknowledge,
    /// The highest committed position this process knows of.
    head: Arc<watch::Sender<u64>>,
    /// The task listening for appends (ended with the store).
    listener: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

/// The server's host (or socket path) and port, for errors.
fn address(client: &Client) -> (String, u16) {
    match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
        ConnectionAddr::Unix(path) => (path.display().to_string(), 0),
        other => (format!("{other:?}"), 0),
    }
}

/// Whether a driver error means the server could not be reached (not: it
/// answered with an error, such as a refused password).
fn is_unreachable(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped()
}

/// Whether the server refused a command for a reason that passes: it is
/// loading its data, running a long script, or its cluster is failing
/// over (the codes of [`StoreError::Busy`]).
fn is_busy(e: &RedisError) -> bool {
    matches!(
        e.code(),
        Some("LOADING" | "BUSY" | "TRYAGAIN" | "CLUSTERDOWN" | "MASTERDOWN")
    )
}

/// A bound as the scripts take it (decimal, at most 2^53 - 1).
fn exact(v: u64) -> String {
    v.min(MAX_EXACT).to_string()
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

impl RedisStore {
    /// Connects to `url` with the default options (see [`RedisOptions`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        RedisOptions::new(url).connect().await
    }

    /// Options to connect to `url`.
    pub fn options(url: impl Into<String>) -> RedisOptions {
        RedisOptions::new(url)
    }

    /// The prefix of this store's keys.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    async fn connect_with(options: RedisOptions) -> Result<Self, StoreError> {
        let open_err =
            |reason: String, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
                StoreError::Open {
                    location: redact_url(&options.url),
                    reason,
                    source,
                }
            };
        keys::validate_prefix(&options.prefix)
            .map_err(|e| open_err(e.to_string(), Some(Box::new(e))))?;
        let client = Client::open(options.url.as_str()).map_err(|e| {
            open_err(
                format!("not a Redis URL: {e}"),
                Some(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            )
        })?;
        let (host, port) = address(&client);
        let unreachable = |e: RedisError| StoreError::Unreachable {
            host: host.clone(),
            port,
            source: Box::new(e),
        };
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(options.response_timeout)
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let conn = match tokio::time::timeout(
            options.connect_timeout.saturating_mul(3),
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) if is_unreachable(&e) => return Err(unreachable(e)),
            Ok(Err(e)) => {
                return Err(open_err(
                    format!("the server refused: {e}"),
                    Some(Box::new(e)),
                ));
            }
            Err(elapsed) => {
                return Err(StoreError::Unreachable {
                    host,
                    port,
                    source: Box::new(elapsed),
                });
            }
        };
        let keys = Keys::new(&options.prefix);
        let (head, _) = watch::channel(0);
        let head = Arc::new(head);
        let listener = tokio::spawn(notify::listen(
            client,
            conn.clone(),
            keys.channel.clone(),
            keys.head.clone(),
            Arc::downgrade(&head),
            options.connect_timeout,
        ))
        .abort_handle();
        let store = Self {
            inner: Arc::new(Inner {
                conn,
                keys,
                prefix: options.prefix,
                host,
                port,
                scripts: Scripts::new(),
                acknowledge: options.acknowledge,
                head,
                listener,
            }),
        };
        store.check_layout().await?;
        let mut conn = store.conn();
        for script in store.inner.scripts.all() {
            script
                .load_async(&mut conn)
                .await
                .map_err(|e| store.redis_err("loading the store's Lua scripts", e))?;
        }
        let position = store.head_position().await?;
        advance(&store.inner.head, position);
        Ok(store)
    }

    /// Writes the layout version into a new store's keys, or checks the one
    /// found, migrating layout 1 (see "Layout versions" in the module docs).
    async fn check_layout(&self) -> Result<(), StoreError> {
        let ctx = "checking the store's key layout";
        let mut conn = self.conn();
        let (_, stored): (Value, Value) = redis::pipe()
            .atomic()
            .cmd("HSETNX")
            .arg(&self.inner.keys.meta)
            .arg("layout")
            .arg(LAYOUT_VERSION)
            .cmd("HGET")
            .arg(&self.inner.keys.meta)
            .arg("layout")
            .query_async(&mut conn)
            .await
            .map_err(|e| self.redis_err(ctx, e))?;
        let stored = if uint(&stored) == Some(1) {
            self.migrate_from_1().await?
        } else {
            stored
        };
        if uint(&stored) != Some(LAYOUT_VERSION) {
            return Err(StoreError::IncompatibleLayout {
                location: format!(
                    "{}:{} (key prefix `{}`)",
                    self.inner.host, self.inner.port, self.inner.prefix
                ),
                found: text(&stored).unwrap_or_else(|| "<unreadable>".into()),
                supported: LAYOUT_VERSION,
                migrates: true,
            });
        }
        Ok(())
    }

    /// Computes the statistics counters of a layout 1 store and writes
    /// layout 2, in one script; returns the layout stored afterwards.
    async fn migrate_from_1(&self) -> Result<Value, StoreError> {
        let keys = &self.inner.keys;
        self.inner
            .scripts
            .migrate
            .key(&keys.meta)
            .key(&keys.log)
            .key(keys.header_column())
            .key(&keys.stats)
            .key(&keys.types)
            .key(&keys.categories)
            .key(&keys.streams)
            .arg(1)
            .arg(LAYOUT_VERSION)
            .arg(keys.pattern_of("stream:"))
            .arg(keys.stream_meta_start())
            .arg(keys.pattern_of("snapshots:"))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err("migrating the store's keys from layout 1", e))
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// Classifies a driver error: connection failures are
    /// [`StoreError::Unreachable`], a server that asks to try again
    /// (`LOADING`, `BUSY`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`)
    /// [`StoreError::Busy`], the rest [`StoreError::Backend`].
    fn redis_err(&self, context: impl Into<String>, e: RedisError) -> StoreError {
        if is_unreachable(&e) {
            StoreError::Unreachable {
                host: self.inner.host.clone(),
                port: self.inner.port,
                source: Box::new(e),
            }
        } else if is_busy(&e) {
            StoreError::busy(context, e)
        } else {
            StoreError::backend(context, e)
        }
    }

    /// The reply of a script as an array.
    fn array(&self, ctx: &str, reply: Value) -> Result<Vec<Value>, StoreError> {
        match reply {
            Value::Array(values) => Ok(values),
            other => Err(StoreError::backend(
                ctx.to_owned(),
                format!("unexpected reply from Redis: {other:?}"),
            )),
        }
    }

    /// The keys of the event columns.
    fn columns(&self) -> &[String] {
        &self.inner.keys.columns
    }

    /// What is known about each of `streams` (`None`: never written), in
    /// one script.
    async fn stream_infos(
        &self,
        streams: &[StreamId],
        ctx: &str,
    ) -> Result<Vec<Option<StreamInfo>>, StoreError> {
        let keys = &self.inner.keys;
        let mut call = self.inner.scripts.stream_info.prepare_invoke();
        call.key(keys.header_column());
        for stream in streams {
            call.key(keys.stream_meta(stream))
                .key(keys.stream_index(stream));
        }
        let reply: Value = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx, e))?;
        let reply = self.array(ctx, reply)?;
        if reply.len() != streams.len() * 4 {
            return Err(StoreError::backend(
                ctx.to_owned(),
                "the stream info script answered a truncated reply",
            ));
        }
        streams
            .iter()
            .zip(reply.chunks(4))
            .map(|(stream, info)| decode::stream_info(stream, info))
            .collect()
    }

    /// Waits for replicas or fsyncs after a written append, as configured.
    async fn acknowledge(
        &self,
        stream: &StreamId,
        result: &AppendResult,
    ) -> Result<(), StoreError> {
        let ctx = || {
            format!(
                "stream `{stream}`: the append up to position {} is stored on the primary, but",
                result.last_position
            )
        };
        let mut conn = self.conn();
        match self.inner.acknowledge {
            Acknowledge::Primary => Ok(()),
            Acknowledge::Replicas { replicas, timeout } => {
                let got: i64 = redis::cmd("WAIT")
                    .arg(replicas)
                    .arg(timeout.as_millis().max(1) as u64)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| {
                        self.redis_err(format!("{} waiting for replicas failed", ctx()), e)
                    })?;
                if got < i64::from(replicas) {
                    return Err(StoreError::backend(
                        format!("{} not replicated enough", ctx()),
                        format!(
                            "{got} of {replicas} replicas acknowledged it within {timeout:?}; retry the append (it is idempotent)"
                        ),
                    ));
                }
                Ok(())
            }
            Acknowledge::Fsync { replicas, timeout } => {
                let got: (i64, i64) = redis::cmd("WAITAOF")
                    .arg(1)
                    .arg(replicas)
                    .arg(timeout.as_millis().max(1) as u64)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.redis_err(format!("{} WAITAOF failed", ctx()), e))?;
                if got.0 < 1 || got.1 < i64::from(replicas) {
                    return Err(StoreError::backend(
                        format!("{} not fsynced enough", ctx()),
                        format!(
                            "fsynced locally: {}, by {} of {replicas} replicas within {timeout:?}; retry the append (it is idempotent)",
                            got.0 >= 1,
                            got.1
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Deletes every key of this store (every stream, snapshot and
    /// checkpoint under its prefix), with `SCAN` and `UNLINK`; returns how
    /// many keys were removed. For tests and tear-downs: **the data is gone
    /// for good.** Appends running meanwhile may leave keys behind.
    pub async fn destroy(self) -> Result<u64, StoreError> {
        let ctx = "deleting the store's keys";
        let mut conn = self.conn();
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(self.inner.keys.pattern())
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.redis_err(ctx, e))?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.redis_err(ctx, e))?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

impl EventStore for RedisStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_batch(stream, &events)?;
        self.append_script(stream, expected, &events).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if read.limit == Some(0) {
            return Ok(Vec::new());
        }
        // The first page also tells the stream's version, which fixes the
        // whole window: later pages read inside it, by version ranges.
        let first = ReadStream {
            limit: Some(read.limit.map_or(PAGE, |l| l.min(PAGE))),
            ..read
        };
        let Some((current, mut out)) = self.read_stream_page(stream, first).await? else {
            return Ok(Vec::new());
        };
        let Some((lo, hi)) = read.window(current) else {
            return Ok(out);
        };
        let page = PAGE as u64;
        let mut k = 1u64;
        loop {
            let next = match read.direction {
                Direction::Forward => {
                    let from = lo.saturating_add(page.saturating_mul(k));
                    if from > hi || from < lo {
                        break;
                    }
                    ReadStream::all()
                        .from(from)
                        .to(hi.min(from.saturating_add(page - 1)))
                }
                Direction::Backward => {
                    let Some(to) = hi.checked_sub(page.saturating_mul(k)) else {
                        break;
                    };
                    if to < lo {
                        break;
                    }
                    ReadStream::backward()
                        .from(lo.max(to.saturating_sub(page - 1)))
                        .to(to)
                }
            };
            match self.read_stream_page(stream, next).await? {
                Some((_, events)) => out.extend(events),
                // Hard-deleted meanwhile: what was read is all there is.
                None => break,
            }
            k += 1;
        }
        Ok(out)
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out: Vec<RecordedEvent> = Vec::new();
        let mut after = after;
        while out.len() < limit && after < MAX_EXACT {
            let want = (limit - out.len()).min(PAGE);
            let page = self.read_all_page(after, want).await?;
            let done = page.len() < want;
            if let Some(last) = page.last() {
                after = last.global_position;
            }
            out.extend(page);
            if done {
                break;
            }
        }
        Ok(out)
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        let ctx = format!("reading the info of stream `{stream}`");
        let mut infos = self
            .stream_infos(std::slice::from_ref(stream), &ctx)
            .await?;
        Ok(infos.pop().flatten())
    }

    async fn delete_stream(&self, stream: &StreamId, mode: DeleteMode) -> Result<(), StoreError> {
        let ctx = format!("deleting stream `{stream}`");
        match mode {
            DeleteMode::Tombstone => {
                let keys = &self.inner.keys;
                let _: Value = self
                    .inner
                    .scripts
                    .tombstone
                    .key(keys.stream_meta(stream))
                    .key(&keys.stats)
                    .key(&keys.categories)
                    .key(&keys.streams)
                    .arg(stream.as_str())
                    .invoke_async(&mut self.conn())
                    .await
                    .map_err(|e| self.redis_err(ctx, e))?;
                Ok(())
            }
            DeleteMode::Hard => self.delete_events(stream, None, &ctx).await.map(|_| ()),
        }
    }

    async fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> Result<u64, StoreError> {
        let ctx = format!("deleting the events of stream `{stream}` below version {before}");
        self.delete_events(stream, Some(before), &ctx).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let ctx = "reading the head position";
        let head: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&self.inner.keys.head)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx, e))?;
        match head {
            None => Ok(0),
            Some(raw) => std::str::from_utf8(&raw)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    StoreError::backend(
                        ctx,
                        format!(
                            "the head key `{}` holds {:?}, not a position",
                            self.inner.keys.head,
                            String::from_utf8_lossy(&raw)
                        ),
                    )
                }),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_stay_exact_in_lua() {
        assert_eq!(exact(5), "5");
        assert_eq!(exact(u64::MAX), MAX_EXACT.to_string());
    }
}
