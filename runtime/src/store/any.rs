//! [`AnyStore`]: one store type opened from a URL, for programs that pick
//! their backend in configuration rather than in code.
//!
//! ```
//! use eventfold::store::AnyStore;
//! use eventfold::prelude::*;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let url = std::env::var("EVENTFOLD_STORE").unwrap_or_else(|_| "memory:".into());
//! let store = AnyStore::open(&url).await.unwrap();
//! assert_eq!(store.backend(), "memory");
//! let checkpoints = store.checkpoints().await.unwrap(); // on the same backend
//! # let _ = checkpoints;
//! # });
//! ```
//!
//! | URL | store |
//! | --- | --- |
//! | `memory:` | [`MemoryStore`](crate::store::MemoryStore) (nothing kept) |
//! | `sqlite:PATH`, `sqlite://PATH` | [`SqliteStore`](crate::store::SqliteStore) (feature `sqlite`): `sqlite:events.db` is relative, `sqlite:///var/lib/app/events.db` absolute |
//! | `postgres://...`, `postgresql://...` | [`PostgresStore`](crate::store::PostgresStore) (feature `postgres`), the URL as libpq reads it |
//! | `redis://...`, `rediss://...` | [`RedisStore`](crate::store::RedisStore) (feature `redis`); `?prefix=NAME` sets its key prefix |
//!
//! Two query parameters are eventfold's own and are taken out of the URL
//! before it reaches the driver: `schema=NAME` (the PostgreSQL schema, default
//! `eventfold`) and `pool_size=N` (PostgreSQL connections). Any other
//! parameter goes to the driver as it is (`sslmode`, `connect_timeout`...).
//!
//! `AnyStore` implements [`EventStore`] and [`SnapshotStore`] by forwarding
//! to the store it holds (one `match` per call, no boxing), so a
//! `Repository<A, AnyStore>` or a `ProjectionRunner<AnyStore, _>` is one
//! concrete type whatever the URL said.

use crate::envelope::{NewEvent, RecordedEvent, StreamId};
use crate::projection::{CheckpointStore, DeadLetter, MemoryCheckpointStore};
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::error::redact_url;
use crate::store::{
    AppendResult, DeleteMode, EventStore, ExpectedVersion, ListStreams, LoadQuery, LoadedStream,
    MemoryStore, ReadStream, SnapshotInfo, StoreError, StoreStatistics, StoreStats, StreamInfo,
    StreamPage,
};

/// An event store chosen at run time; see the [module docs](self).
#[derive(Clone)]
#[non_exhaustive]
pub enum AnyStore {
    /// In memory.
    Memory(MemoryStore),
    /// A SQLite file.
    #[cfg(feature = "sqlite")]
    Sqlite(crate::store::SqliteStore),
    /// A PostgreSQL database.
    #[cfg(feature = "postgres")]
    Postgres(crate::store::PostgresStore),
    /// A Redis server.
    #[cfg(feature = "redis")]
    Redis(crate::store::RedisStore),
}

/// Checkpoint store on the backend of an [`AnyStore`] (from
/// [`AnyStore::checkpoints`]).
#[derive(Clone)]
#[non_exhaustive]
pub enum AnyCheckpointStore {
    /// In memory.
    Memory(MemoryCheckpointStore),
    /// In the SQLite file of the events.
    #[cfg(feature = "sqlite")]
    Sqlite(crate::projection::SqliteCheckpointStore),
    /// In the PostgreSQL schema of the events.
    #[cfg(feature = "postgres")]
    Postgres(crate::projection::PostgresCheckpointStore),
    /// Under the Redis store's key prefix.
    #[cfg(feature = "redis")]
    Redis(crate::store::RedisCheckpointStore),
}

/// Runs `$body` with `$s` bound to the store inside any variant.
macro_rules! dispatch {
    ($kind:ident, $value:expr, $s:ident => $body:expr) => {
        match $value {
            $kind::Memory($s) => $body,
            #[cfg(feature = "sqlite")]
            $kind::Sqlite($s) => $body,
            #[cfg(feature = "postgres")]
            $kind::Postgres($s) => $body,
            #[cfg(feature = "redis")]
            $kind::Redis($s) => $body,
        }
    };
}

impl std::fmt::Debug for AnyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AnyStore").field(&self.backend()).finish()
    }
}

impl AnyStore {
    /// Opens the store a URL names (see the [module docs](self) for the
    /// forms). An unknown scheme, or one whose cargo feature is off, is
    /// [`StoreError::Open`] naming the URL's scheme and what is accepted.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| unknown(url, "no scheme"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "memory" => Ok(Self::Memory(MemoryStore::new())),
            "sqlite" => open_sqlite(url, rest).await,
            "postgres" | "postgresql" => open_postgres(url).await,
            "redis" | "rediss" => open_redis(url).await,
            other => Err(unknown(url, &format!("unknown scheme `{other}`"))),
        }
    }

    /// The backend's name: `"memory"`, `"sqlite"`, `"postgres"` or `"redis"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
            #[cfg(feature = "redis")]
            Self::Redis(_) => "redis",
        }
    }

    /// A checkpoint store for projections on the same backend: a new
    /// in-memory one, the same SQLite file, the same PostgreSQL schema.
    pub async fn checkpoints(&self) -> Result<AnyCheckpointStore, StoreError> {
        Ok(match self {
            Self::Memory(_) => AnyCheckpointStore::Memory(MemoryCheckpointStore::new()),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(s) => AnyCheckpointStore::Sqlite(
                crate::projection::SqliteCheckpointStore::open(s.path()).await?,
            ),
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => AnyCheckpointStore::Postgres(
                crate::projection::PostgresCheckpointStore::open(s).await?,
            ),
            #[cfg(feature = "redis")]
            Self::Redis(s) => AnyCheckpointStore::Redis(crate::store::RedisCheckpointStore::new(s)),
        })
    }
}

const ACCEPTED: &str = "accepted: `memory:`, `sqlite:PATH`, `postgres://...`, `redis://...`";

fn unknown(url: &str, what: &str) -> StoreError {
    StoreError::Open {
        location: redact_url(url),
        reason: format!("{what}; {ACCEPTED}"),
        source: None,
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str, rest: &str) -> Result<AnyStore, StoreError> {
    // `sqlite://PATH` and `sqlite:PATH` name the same file; `sqlite:///abs` is absolute.
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(unknown(url, "no file path after `sqlite:`"));
    }
    Ok(AnyStore::Sqlite(
        crate::store::SqliteStore::open(path).await?,
    ))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(url: &str, _rest: &str) -> Result<AnyStore, StoreError> {
    Err(unknown(
        url,
        "the `sqlite` feature of eventfold is not enabled",
    ))
}

#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
/// Splits eventfold's own query parameters (`names`) out of a URL: the URL
/// without them, and their values in the order of `names`.
fn take_params<'u, const N: usize>(
    url: &'u str,
    names: [&str; N],
) -> (String, [Option<&'u str>; N]) {
    let mut found = [None; N];
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), found);
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match names.iter().position(|n| *n == key) {
            Some(i) => found[i] = Some(value),
            None => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, found)
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<AnyStore, StoreError> {
    let (driver_url, [schema, pool_size]) = take_params(url, ["schema", "pool_size"]);
    let mut options = crate::store::PostgresStore::options(driver_url);
    if let Some(schema) = schema {
        options = options.schema(schema);
    }
    if let Some(size) = pool_size {
        let size = size
            .parse::<usize>()
            .map_err(|_| unknown(url, &format!("`pool_size={size}` is not a number")))?;
        options = options.pool_size(size);
    }
    Ok(AnyStore::Postgres(options.connect().await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &str) -> Result<AnyStore, StoreError> {
    Err(unknown(
        url,
        "the `postgres` feature of eventfold is not enabled",
    ))
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str) -> Result<AnyStore, StoreError> {
    let (driver_url, [prefix]) = take_params(url, ["prefix"]);
    let mut options = crate::store::RedisStore::options(driver_url);
    if let Some(prefix) = prefix {
        options = options.prefix(prefix);
    }
    Ok(AnyStore::Redis(options.connect().await?))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(url: &str) -> Result<AnyStore, StoreError> {
    Err(unknown(
        url,
        "the `redis` feature of eventfold is not enabled",
    ))
}

impl From<MemoryStore> for AnyStore {
    fn from(store: MemoryStore) -> Self {
        Self::Memory(store)
    }
}

#[cfg(feature = "sqlite")]
impl From<crate::store::SqliteStore> for AnyStore {
    fn from(store: crate::store::SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}

#[cfg(feature = "postgres")]
impl From<crate::store::PostgresStore> for AnyStore {
    fn from(store: crate::store::PostgresStore) -> Self {
        Self::Postgres(store)
    }
}

impl EventStore for AnyStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        dispatch!(Self, self, s => s.append(stream, expected, events).await)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(Self, self, s => s.read_stream(stream, read).await)
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(Self, self, s => s.read_all(after, limit).await)
    }

    async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
        dispatch!(Self, self, s => s.stream_info(stream).await)
    }

    async fn delete_stream(&self, stream: &StreamId, mode: DeleteMode) -> Result<(), StoreError> {
        dispatch!(Self, self, s => s.delete_stream(stream, mode).await)
    }

    async fn delete_events_before(
        &self,
        stream: &StreamId,
        before: u64,
    ) -> Result<u64, StoreError> {
        dispatch!(Self, self, s => s.delete_events_before(stream, before).await)
    }

    async fn load_stream(
        &self,
        stream: &StreamId,
        query: LoadQuery<'_>,
    ) -> Result<LoadedStream, StoreError> {
        dispatch!(Self, self, s => s.load_stream(stream, query).await)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        dispatch!(Self, self, s => s.head_position().await)
    }

    async fn wait_for_append(&self, position: u64) {
        dispatch!(Self, self, s => s.wait_for_append(position).await)
    }
}

impl StoreStats for AnyStore {
    async fn statistics(&self) -> Result<StoreStatistics, StoreError> {
        dispatch!(Self, self, s => s.statistics().await)
    }

    async fn list_streams(&self, query: ListStreams) -> Result<StreamPage, StoreError> {
        dispatch!(Self, self, s => s.list_streams(query).await)
    }

    async fn stream_snapshots(&self, stream: &StreamId) -> Result<Vec<SnapshotInfo>, StoreError> {
        dispatch!(Self, self, s => s.stream_snapshots(stream).await)
    }
}

impl SnapshotStore for AnyStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        dispatch!(Self, self, s => s.save_snapshot(snapshot).await)
    }

    async fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        dispatch!(Self, self, s => s.load_snapshot(stream, aggregate_type, schema_version, max_version).await)
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        dispatch!(Self, self, s => s.prune_snapshots(stream, keep).await)
    }

    async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
        dispatch!(Self, self, s => s.delete_snapshots(stream).await)
    }
}

impl CheckpointStore for AnyCheckpointStore {
    async fn load(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        dispatch!(Self, self, s => s.load(projection).await)
    }

    async fn save(&self, projection: &str, position: u64) -> Result<(), StoreError> {
        dispatch!(Self, self, s => s.save(projection, position).await)
    }

    async fn reset(&self, projection: &str) -> Result<(), StoreError> {
        dispatch!(Self, self, s => s.reset(projection).await)
    }

    async fn park(&self, letter: DeadLetter) -> Result<(), StoreError> {
        dispatch!(Self, self, s => s.park(letter).await)
    }

    async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        dispatch!(Self, self, s => s.dead_letters(projection).await)
    }

    async fn claim(
        &self,
        projection: &str,
        owner: uuid::Uuid,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        dispatch!(Self, self, s => s.claim(projection, owner, ttl).await)
    }

    async fn save_claimed(
        &self,
        projection: &str,
        position: u64,
        owner: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        dispatch!(Self, self, s => s.save_claimed(projection, position, owner).await)
    }

    async fn release(&self, projection: &str, owner: uuid::Uuid) -> Result<(), StoreError> {
        dispatch!(Self, self, s => s.release(projection, owner).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_parameters_are_taken_out_of_the_url() {
        let (url, [schema, size]) = take_params(
            "postgres://db/x?sslmode=require&schema=app&pool_size=4",
            ["schema", "pool_size"],
        );
        assert_eq!(url, "postgres://db/x?sslmode=require");
        assert_eq!((schema, size), (Some("app"), Some("4")));
        let (url, [schema]) = take_params("postgres://db/x?schema=app", ["schema"]);
        assert_eq!((url.as_str(), schema), ("postgres://db/x", Some("app")));
        let (url, [schema]) = take_params("postgres://db/x", ["schema"]);
        assert_eq!((url.as_str(), schema), ("postgres://db/x", None));
    }
}
