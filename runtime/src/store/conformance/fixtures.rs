//! One fixture per backend: how the tests of this workspace (and of a
//! program's own stores) reach a store to test.
//!
//! - SQLite: [`sqlite_fixture`], a fresh file in a temporary directory.
//! - Servers ([`TestServer`]): PostgreSQL, Redis, NATS and RabbitMQ are
//!   named by `EVENTFOLD_<SERVICE>_URL`. Without the variable a test prints
//!   a skip notice and passes; with `EVENTFOLD_REQUIRE_<SERVICE>=1` (CI) it
//!   fails instead. A set URL whose server does not answer fails.
//! - PostgreSQL: [`PostgresSchema`], a private schema per test, dropped when
//!   the test ends (pass or fail), and [`postgres_fixture`] for the suite.

#[cfg(feature = "sqlite")]
use std::time::Duration;

use super::Fixture;

/// A server the tests may use, named by an environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestServer {
    /// PostgreSQL: `EVENTFOLD_POSTGRES_URL`, `EVENTFOLD_REQUIRE_POSTGRES`.
    Postgres,
    /// Redis: `EVENTFOLD_REDIS_URL`, `EVENTFOLD_REQUIRE_REDIS`.
    Redis,
    /// NATS with JetStream: `EVENTFOLD_NATS_URL`, `EVENTFOLD_REQUIRE_NATS`.
    Nats,
    /// RabbitMQ: `EVENTFOLD_AMQP_URL`, `EVENTFOLD_REQUIRE_AMQP`.
    Amqp,
}

impl TestServer {
    /// The variable holding the server's URL (`EVENTFOLD_POSTGRES_URL`...).
    pub const fn url_variable(self) -> &'static str {
        match self {
            Self::Postgres => "EVENTFOLD_POSTGRES_URL",
            Self::Redis => "EVENTFOLD_REDIS_URL",
            Self::Nats => "EVENTFOLD_NATS_URL",
            Self::Amqp => "EVENTFOLD_AMQP_URL",
        }
    }

    /// The variable that, set to `1`, turns a skip into a failure
    /// (`EVENTFOLD_REQUIRE_POSTGRES`...).
    pub const fn require_variable(self) -> &'static str {
        match self {
            Self::Postgres => "EVENTFOLD_REQUIRE_POSTGRES",
            Self::Redis => "EVENTFOLD_REQUIRE_REDIS",
            Self::Nats => "EVENTFOLD_REQUIRE_NATS",
            Self::Amqp => "EVENTFOLD_REQUIRE_AMQP",
        }
    }

    /// Whether the tests must not skip for want of this server
    /// (`EVENTFOLD_REQUIRE_<SERVICE>=1`).
    pub fn is_required(self) -> bool {
        std::env::var(self.require_variable()).as_deref() == Ok("1")
    }

    /// Skips a test for a reason (something it needs besides the URL, such
    /// as a server binary, is missing): prints a notice naming `what`, or
    /// panics when the server is required.
    ///
    /// # Panics
    ///
    /// When [`TestServer::is_required`].
    pub fn skip(self, what: &str) {
        assert!(
            !self.is_required(),
            "{}=1 but {what}",
            self.require_variable()
        );
        eprintln!("skipping: {what}");
    }

    /// The server's URL; `None` after a skip notice when the variable is
    /// unset or empty.
    ///
    /// # Panics
    ///
    /// When the variable is unset and the server is required.
    pub fn url(self) -> Option<String> {
        match std::env::var(self.url_variable()) {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                self.skip(&format!("{} is not set", self.url_variable()));
                None
            }
        }
    }
}

/// A fixture around a [`SqliteStore`](crate::store::SqliteStore) in a fresh
/// file of a temporary directory (removed when the case ends), able to
/// reopen the file and to corrupt a stored row (its metadata becomes
/// invalid JSON).
#[cfg(feature = "sqlite")]
pub async fn sqlite_fixture() -> Fixture<crate::store::SqliteStore> {
    use crate::store::SqliteStore;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path)
        .await
        .expect("a fresh SQLite store");
    let reopen_path = path.clone();
    Fixture::new(store)
        .with_reopen(move || {
            let path = reopen_path.clone();
            async move {
                SqliteStore::open(&path)
                    .await
                    .expect("reopening the SQLite store")
            }
        })
        .with_corrupter(move |stream, version| {
            let path = path.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path).expect("opening the file");
                    conn.busy_timeout(Duration::from_secs(10))
                        .expect("busy timeout");
                    let n = conn
                        .execute(
                            "UPDATE eventfold_events SET metadata = '{\"actor\": 12' \
                             WHERE stream_id = ?1 AND version = ?2",
                            rusqlite::params![stream.as_str(), version as i64],
                        )
                        .expect("corrupting a row");
                    assert_eq!(n, 1, "one row corrupted");
                })
                .await
                .expect("the corrupting task");
            }
        })
        .with_guard(dir)
}

#[cfg(feature = "postgres")]
pub use postgres::{PostgresSchema, postgres_fixture};

#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::Arc;

    use super::{Fixture, TestServer};
    use crate::store::PostgresStore;
    use crate::stream_id::StreamId;

    /// A private schema of one test on the server named by
    /// `EVENTFOLD_POSTGRES_URL`, dropped (with everything in it) when this
    /// value is, whether the test passed or failed.
    ///
    /// ```ignore
    /// let Some(pg) = PostgresSchema::new("resume") else { return };
    /// let store = pg.store().await; // a PostgresStore in that schema
    /// ```
    #[derive(Debug)]
    pub struct PostgresSchema {
        url: String,
        name: String,
    }

    impl PostgresSchema {
        /// A fresh schema name (`t_<test>_<random>`; the schema is created by
        /// the first store connected to it); `None` after a skip notice when
        /// no server is configured.
        ///
        /// # Panics
        ///
        /// When no server is configured but one is required
        /// ([`TestServer::is_required`]).
        pub fn new(test: &str) -> Option<Self> {
            let url = TestServer::Postgres.url()?;
            let suffix = uuid::Uuid::now_v7().simple().to_string();
            let test: String = test
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(20)
                .collect();
            let name = format!("t_{}_{}", test.to_ascii_lowercase(), &suffix[20..]);
            Some(Self { url, name })
        }

        /// The server's URL.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// The schema's name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// A [`PostgresStore`] in this schema (a new pool each call, as
        /// another process would open).
        ///
        /// # Panics
        ///
        /// When the server does not answer or refuses the store.
        pub async fn store(&self) -> PostgresStore {
            PostgresStore::options(self.url.clone())
                .schema(self.name.clone())
                .connect()
                .await
                .unwrap_or_else(|e| {
                    panic!("EVENTFOLD_POSTGRES_URL is set but the store does not connect: {e}")
                })
        }

        /// A plain connection to the server (not the store's), for reading
        /// and damaging what the store wrote.
        ///
        /// # Panics
        ///
        /// When the server does not answer.
        pub async fn client(&self) -> tokio_postgres::Client {
            client(&self.url).await
        }

        /// Runs one SQL statement in this schema, bypassing the store, and
        /// answers how many rows it changed.
        ///
        /// # Panics
        ///
        /// When the server refuses it.
        pub async fn execute(&self, statement: &str) -> u64 {
            let client = self.client().await;
            let search_path = format!("SET search_path TO \"{}\"", self.name);
            let answer = match client.batch_execute(&search_path).await {
                Ok(()) => client.execute(statement, &[]).await,
                Err(e) => Err(e),
            };
            answer.unwrap_or_else(|e| {
                panic!("SQL in schema `{}` failed: {e}\n{statement}", self.name)
            })
        }
    }

    impl Drop for PostgresSchema {
        fn drop(&mut self) {
            let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
            let url = self.url.clone();
            // Drop may run inside a test's runtime: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client.batch_execute(&statement).await;
                    }
                });
            })
            .join();
        }
    }

    async fn client(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("EVENTFOLD_POSTGRES_URL is set but does not connect: {e}"));
        tokio::spawn(connection);
        client
    }

    /// The suite's fixture for [`PostgresStore`]: a store in its own schema
    /// (dropped when the case ends), reopenable, with a corrupter that
    /// breaks a row's metadata; `None` (skip) without a server.
    pub async fn postgres_fixture() -> Option<Fixture<PostgresStore>> {
        let schema = Arc::new(PostgresSchema::new("conformance")?);
        let store = schema.store().await;
        let (reopen, corrupt) = (schema.clone(), schema.clone());
        Some(
            Fixture::new(store)
                .with_reopen(move || {
                    let schema = reopen.clone();
                    async move { schema.store().await }
                })
                .with_corrupter(move |stream: StreamId, version: u64| {
                    let schema = corrupt.clone();
                    let statement = format!(
                        "UPDATE events SET metadata = '{{\"correlation_id\": 42}}' \
                         WHERE stream_id = '{}' AND stream_version = {version}",
                        stream.as_str().replace('\'', "''")
                    );
                    async move {
                        assert_eq!(schema.execute(&statement).await, 1, "one row corrupted");
                    }
                })
                .with_guard(schema),
        )
    }
}
