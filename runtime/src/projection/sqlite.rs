//! [`SqliteCheckpointStore`]: projection checkpoints and dead letters in a
//! SQLite file (feature `sqlite`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::checkpoint::{CheckpointStore, DeadLetter};
use crate::envelope::StreamId;
use crate::store::StoreError;
use crate::store::columns;
use crate::store::sqlite::{open_error, sqlite_error};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS eventfold_checkpoints (
         projection TEXT PRIMARY KEY,
         position INTEGER NOT NULL
     );
     CREATE TABLE IF NOT EXISTS eventfold_dead_letters (
         projection TEXT NOT NULL,
         position INTEGER NOT NULL,
         event_id TEXT NOT NULL,
         stream_id TEXT NOT NULL,
         stream_version INTEGER NOT NULL,
         event_type TEXT NOT NULL,
         error TEXT NOT NULL,
         parked_at TEXT NOT NULL,
         PRIMARY KEY (projection, position)
     );
     CREATE TABLE IF NOT EXISTS eventfold_projection_claims (
         projection TEXT PRIMARY KEY,
         owner TEXT NOT NULL,
         expires_at INTEGER NOT NULL
     );";

/// Checkpoints and dead letters in a SQLite file: the event store's own
/// file, or, for exactly-once read models, the read model's file.
///
/// A read model kept in the same SQLite file gets exactly-once delivery by
/// writing its checkpoint with [`SqliteCheckpointStore::save_in`] inside the
/// transaction of its batch (in its `#[commit]` method): the runner then
/// loads that very checkpoint on restart, and its own save after the commit
/// writes the same value again.
///
/// Cloning shares the connection. Every call runs on Tokio's blocking pool.
#[derive(Clone)]
pub struct SqliteCheckpointStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteCheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteCheckpointStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteCheckpointStore {
    /// Opens (or creates) the file and its tables, `eventfold_checkpoints`,
    /// `eventfold_dead_letters` and `eventfold_projection_claims` (claims
    /// expire by this host's clock, in milliseconds since the Unix epoch).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let conn = Connection::open(&p).map_err(|e| open_error(&p, e))?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(|e| open_error(&p, e))?;
            Self::create_tables(&conn).map_err(|e| open_error(&p, e))?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::backend("opening the SQLite checkpoint store", e))??;
        Ok(Self {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Creates the checkpoint tables in `conn` if they are missing (for a
    /// read model that writes checkpoints with [`Self::save_in`]).
    pub fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(SCHEMA)
    }

    /// Writes `projection`'s checkpoint through `conn`, inside whatever
    /// transaction is open there: the read model's own.
    pub fn save_in(conn: &Connection, projection: &str, position: u64) -> rusqlite::Result<()> {
        conn.execute(
            "INSERT INTO eventfold_checkpoints (projection, position) VALUES (?1, ?2)
             ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
            params![projection, to_i64("checkpoint position", position)?],
        )?;
        Ok(())
    }

    /// Reads `projection`'s checkpoint through `conn`.
    pub fn load_in(conn: &Connection, projection: &str) -> rusqlite::Result<Option<u64>> {
        conn.query_row(
            "SELECT position FROM eventfold_checkpoints WHERE projection = ?1",
            [projection],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .and_then(|p| {
            p.map(|p| {
                columns::to_u64("checkpoint position", p).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Integer,
                        Box::new(e),
                    )
                })
            })
            .transpose()
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || f(&lock(&conn)))
            .await
            .map_err(|e| StoreError::backend(what, e))?
            .map_err(|e| sqlite_error(format!("{what} in {}", path.display()), e))
    }
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// A position or version for a column: one above `i64::MAX` fails the
/// statement (the store reports [`StoreError::InvalidInput`]).
fn to_i64(what: &'static str, v: u64) -> rusqlite::Result<i64> {
    columns::to_i64(what, v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

impl CheckpointStore for SqliteCheckpointStore {
    async fn load(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        let name = projection.to_owned();
        self.run("loading a checkpoint", move |c| Self::load_in(c, &name))
            .await
    }

    async fn save(&self, projection: &str, position: u64) -> Result<(), StoreError> {
        let name = projection.to_owned();
        self.run("saving a checkpoint", move |c| {
            Self::save_in(c, &name, position)
        })
        .await
    }

    async fn reset(&self, projection: &str) -> Result<(), StoreError> {
        let name = projection.to_owned();
        self.run("resetting a checkpoint", move |c| {
            c.execute(
                "DELETE FROM eventfold_checkpoints WHERE projection = ?1",
                [&name],
            )?;
            c.execute(
                "DELETE FROM eventfold_dead_letters WHERE projection = ?1",
                [&name],
            )?;
            Ok(())
        })
        .await
    }

    async fn park(&self, letter: DeadLetter) -> Result<(), StoreError> {
        self.run("parking an event", move |c| {
            c.execute(
                "INSERT INTO eventfold_dead_letters
                 (projection, position, event_id, stream_id, stream_version, event_type, error, parked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (projection, position) DO NOTHING",
                params![
                    letter.projection,
                    to_i64("dead letter position", letter.position)?,
                    letter.event_id.to_string(),
                    letter.stream_id.as_str(),
                    to_i64("dead letter stream version", letter.stream_version)?,
                    letter.event_type,
                    letter.error,
                    letter.parked_at.to_rfc3339(),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let name = projection.to_owned();
        let rows = self
            .run("reading dead letters", move |c| {
                let mut stmt = c.prepare(
                    "SELECT position, event_id, stream_id, stream_version, event_type, error, parked_at
                     FROM eventfold_dead_letters WHERE projection = ?1 ORDER BY position",
                )?;
                stmt.query_map([&name], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        rows.into_iter()
            .map(|(position, id, stream, version, ty, error, at)| {
                let corrupt = |reason: String| StoreError::Corrupted {
                    stream: stream.clone(),
                    version: columns::to_u64("version", version).unwrap_or(0),
                    event_type: ty.clone(),
                    position: None,
                    reason,
                };
                Ok(DeadLetter {
                    projection: projection.to_owned(),
                    position: columns::to_u64("dead letter position", position)
                        .map_err(|e| corrupt(e.to_string()))?,
                    event_id: id
                        .parse()
                        .map_err(|e| corrupt(format!("dead letter event id `{id}`: {e}")))?,
                    stream_id: StreamId::new(stream.clone())
                        .map_err(|e| corrupt(format!("dead letter stream id: {e}")))?,
                    stream_version: columns::to_u64("dead letter stream version", version)
                        .map_err(|e| corrupt(e.to_string()))?,
                    event_type: ty.clone(),
                    error,
                    parked_at: DateTime::parse_from_rfc3339(&at)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| corrupt(format!("dead letter time `{at}`: {e}")))?,
                })
            })
            .collect()
    }

    async fn claim(
        &self,
        projection: &str,
        owner: Uuid,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let name = projection.to_owned();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.run("claiming a projection", move |c| {
            let now = Utc::now().timestamp_millis();
            let changed = c.execute(
                "INSERT INTO eventfold_projection_claims (projection, owner, expires_at)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (projection) DO UPDATE
                 SET owner = excluded.owner, expires_at = excluded.expires_at
                 WHERE eventfold_projection_claims.owner = excluded.owner
                    OR eventfold_projection_claims.expires_at <= ?4",
                params![name, owner.to_string(), now.saturating_add(ttl_ms), now],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn save_claimed(
        &self,
        projection: &str,
        position: u64,
        owner: Uuid,
    ) -> Result<bool, StoreError> {
        let name = projection.to_owned();
        self.run("saving a claimed checkpoint", move |c| {
            let now = Utc::now().timestamp_millis();
            let changed = c.execute(
                "INSERT INTO eventfold_checkpoints (projection, position)
                 SELECT ?1, ?2 WHERE EXISTS (
                     SELECT 1 FROM eventfold_projection_claims
                     WHERE projection = ?1 AND owner = ?3 AND expires_at > ?4)
                 ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
                params![
                    name,
                    to_i64("checkpoint position", position)?,
                    owner.to_string(),
                    now
                ],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release(&self, projection: &str, owner: Uuid) -> Result<(), StoreError> {
        let name = projection.to_owned();
        self.run("releasing a projection claim", move |c| {
            c.execute(
                "DELETE FROM eventfold_projection_claims WHERE projection = ?1 AND owner = ?2",
                params![name, owner.to_string()],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opening_a_file_that_is_not_sqlite_names_the_file() {
        let dir = std::env::temp_dir().join(format!("eventfold-ckpt-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("garbage.db");
        std::fs::write(&path, vec![0x42u8; 4096]).unwrap();
        let err = SqliteCheckpointStore::open(&path).await.unwrap_err();
        assert!(err.to_string().contains("garbage.db"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
