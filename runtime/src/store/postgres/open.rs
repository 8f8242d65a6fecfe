//! Opening a [`PostgresStore`]: the options, the connection pool, the
//! schema and its layout version, the `LISTEN` connection.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;
use tokio_postgres::config::Host;

use super::{Inner, PostgresStore, append, sql, tls};
use crate::store::StoreError;
use crate::store::error::redact_url;

/// The schema used when none is configured.
pub const DEFAULT_SCHEMA: &str = "eventfold";

/// The longest schema name accepted, in bytes.
pub const MAX_SCHEMA_LEN: usize = 48;

/// How long a subscription waits before polling again when no notification
/// arrives.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How many append groups a [`PostgresStore`] writes at once by default
/// (see [`PostgresOptions::committers`]).
pub const DEFAULT_COMMITTERS: usize = 2;

/// The table layout this code creates and understands, recorded in the
/// schema's `meta` table (see [`StoreError::IncompatibleLayout`]).
pub const LAYOUT_VERSION: u64 = 1;

/// How to connect a [`PostgresStore`]; made by [`PostgresStore::options`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    url: String,
    schema: String,
    pool_size: usize,
    connect_timeout: Duration,
    committers: usize,
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
            committers: DEFAULT_COMMITTERS,
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

    /// How many append groups may be in flight at once (default
    /// [`DEFAULT_COMMITTERS`], at least 1), each on a connection of the
    /// pool kept for it. Appends are written in groups (group commit, see
    /// the [module docs](super)); with two, the appends that arrive while
    /// one group is being written go out at once instead of waiting for
    /// its round trip (the server still commits them one after the other),
    /// so that a stream many tasks keep busy does not make the appends of
    /// other streams wait for its groups.
    #[must_use]
    pub fn committers(mut self, tasks: usize) -> Self {
        self.committers = tasks.max(1);
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

pub(super) fn validate_schema(name: &str) -> Result<(), InvalidSchemaName> {
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

impl PostgresStore {
    async fn connect_with(options: PostgresOptions) -> Result<Self, StoreError> {
        let location = redact_url(&options.url);
        validate_schema(&options.schema).map_err(|e| StoreError::Open {
            location: location.clone(),
            reason: e.to_string(),
            source: Some(Box::new(e)),
        })?;
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
            .map_err(|e| StoreError::Open {
                location,
                reason: format!("cannot build the connection pool: {e}"),
                source: Some(Box::new(e)),
            })?;
        let quoted = format!("\"{}\"", options.schema);
        let channel = format!("eventfold_{}", options.schema);
        let (head, _) = watch::channel(0);
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                sql: sql::Sql::new(&quoted),
                schema: options.schema,
                channel,
                host,
                port,
                head,
                listen_with: (config, tls),
                listener: tokio::sync::OnceCell::new(),
                committer: append::Committer::new(options.committers),
            }),
        };
        store.create_layout(&quoted).await?;
        let position = store.fetch_head().await?;
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
        tx.execute(sql::LAYOUT_LOCK, &[&self.inner.schema])
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        tx.batch_execute(&sql::layout_sql(quoted))
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let row = tx
            .query_one(&self.inner.sql.layout_version, &[])
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let stored: String = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        if stored.parse::<u64>().ok() != Some(LAYOUT_VERSION) {
            return Err(StoreError::IncompatibleLayout {
                location: format!(
                    "{}:{} (schema `{}`)",
                    self.inner.host, self.inner.port, self.inner.schema
                ),
                found: stored,
                supported: LAYOUT_VERSION,
                migrates: false,
            });
        }
        tx.commit().await.map_err(|e| self.pg_err(ctx(), e))
    }

    /// Opens the `LISTEN` connection unless it is open (or could not be
    /// opened: then waiting polls).
    pub(super) async fn listening(&self) {
        self.inner.listener.get_or_init(|| self.listen()).await;
    }

    /// Opens the `LISTEN` connection; `None` (polling) if that fails.
    async fn listen(&self) -> Option<tokio_postgres::Client> {
        let (config, tls) = &self.inner.listen_with;
        let (client, mut connection) = config.connect(tls.clone()).await.ok()?;
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
        client
            .batch_execute(&sql::listen(&self.inner.channel))
            .await
            .ok()?;
        // What other processes committed before the `LISTEN` took effect
        // was not notified here: catch up with the head once.
        if let Ok(position) = self.fetch_head().await {
            advance(&self.inner.head, position);
        }
        Some(client)
    }
}

/// Raises the known head to `position` (never lowers it).
pub(super) fn advance(head: &watch::Sender<u64>, position: u64) {
    head.send_if_modified(|h| {
        if position > *h {
            *h = position;
            true
        } else {
            false
        }
    });
}
