//! [`PostgresCheckpointStore`]: projection checkpoints and dead letters in
//! PostgreSQL (feature `postgres`), next to a [`PostgresStore`]'s events.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::checkpoint::{CheckpointStore, DeadLetter};
use crate::envelope::StreamId;
use crate::store::columns::{input_i64, to_u64};
use crate::store::{PostgresStore, StoreError};

/// Checkpoints, dead letters and claims in the schema of a
/// [`PostgresStore`] (tables `checkpoints`, `dead_letters` and
/// `projection_claims`; claims expire by the server's clock), through its
/// connection pool.
///
/// A read model kept in the same database gets exactly-once delivery by
/// writing its checkpoint with [`PostgresCheckpointStore::save_in`] inside
/// the transaction of its batch (in its `#[commit]` method): the runner
/// then loads that very checkpoint on restart, and its own save after the
/// commit writes the same value again.
///
/// ```no_run
/// # async fn run() -> Result<(), eventfold::StoreError> {
/// use std::sync::Arc;
/// use eventfold::projection::{PostgresCheckpointStore, ProjectionRunner};
/// use eventfold::store::PostgresStore;
///
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// let checkpoints = PostgresCheckpointStore::open(&store).await?;
/// let runner = ProjectionRunner::new(store, checkpoints);
/// # let _ = runner; Ok(()) }
/// ```
///
/// Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct PostgresCheckpointStore {
    store: PostgresStore,
    sql: Sql,
}

/// The statements, with the schema name filled in.
#[derive(Debug, Clone)]
struct Sql {
    load: String,
    save: String,
    reset_checkpoint: String,
    reset_dead_letters: String,
    park: String,
    dead_letters: String,
    claim: String,
    save_claimed: String,
    release: String,
}

impl Sql {
    fn new(s: &str) -> Self {
        Self {
            load: format!("SELECT position FROM {s}.checkpoints WHERE projection = $1"),
            save: format!(
                "INSERT INTO {s}.checkpoints (projection, position) VALUES ($1, $2) \
                 ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position"
            ),
            reset_checkpoint: format!("DELETE FROM {s}.checkpoints WHERE projection = $1"),
            reset_dead_letters: format!("DELETE FROM {s}.dead_letters WHERE projection = $1"),
            park: format!(
                "INSERT INTO {s}.dead_letters (projection, position, event_id, stream_id, \
                   stream_version, event_type, error, parked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (projection, position) DO NOTHING"
            ),
            dead_letters: format!(
                "SELECT position, event_id, stream_id, stream_version, event_type, error, \
                   parked_at FROM {s}.dead_letters WHERE projection = $1 ORDER BY position"
            ),
            claim: format!(
                "INSERT INTO {s}.projection_claims AS c (projection, owner, expires_at) \
                 VALUES ($1, $2, now() + make_interval(secs => $3::float8)) \
                 ON CONFLICT (projection) DO UPDATE \
                 SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at \
                 WHERE c.owner = EXCLUDED.owner OR c.expires_at <= now() \
                 RETURNING owner"
            ),
            save_claimed: format!(
                "INSERT INTO {s}.checkpoints (projection, position) \
                 SELECT $1, $2 WHERE EXISTS ( \
                   SELECT 1 FROM {s}.projection_claims \
                   WHERE projection = $1 AND owner = $3 AND expires_at > now() \
                   FOR SHARE) \
                 ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position"
            ),
            release: format!(
                "DELETE FROM {s}.projection_claims WHERE projection = $1 AND owner = $2"
            ),
        }
    }
}

fn tables(s: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {s}.checkpoints (
           projection text PRIMARY KEY,
           position bigint NOT NULL
         );
         CREATE TABLE IF NOT EXISTS {s}.dead_letters (
           projection text NOT NULL,
           position bigint NOT NULL,
           event_id uuid NOT NULL,
           stream_id text NOT NULL,
           stream_version bigint NOT NULL,
           event_type text NOT NULL,
           error text NOT NULL,
           parked_at timestamptz NOT NULL,
           PRIMARY KEY (projection, position)
         );
         CREATE TABLE IF NOT EXISTS {s}.projection_claims (
           projection text PRIMARY KEY,
           owner uuid NOT NULL,
           expires_at timestamptz NOT NULL
         );"
    )
}

/// A stored checkpoint as a `u64`: a negative one is not a checkpoint this
/// code wrote ([`StoreError::Backend`] saying so).
fn checkpoint(context: String, position: i64) -> Result<u64, StoreError> {
    to_u64("checkpoint position", position).map_err(|e| StoreError::backend(context, e))
}

impl PostgresCheckpointStore {
    /// The checkpoint store in `store`'s schema; creates its tables if they
    /// are missing.
    pub async fn open(store: &PostgresStore) -> Result<Self, StoreError> {
        let quoted = format!("\"{}\"", store.schema());
        let client = store.client().await?;
        client
            .batch_execute(&tables(&quoted))
            .await
            .map_err(|e| store.pg_err("creating the checkpoint tables", e))?;
        Ok(Self {
            store: store.clone(),
            sql: Sql::new(&quoted),
        })
    }

    /// Writes `projection`'s checkpoint through `client`: a connection or,
    /// for exactly-once read models, the read model's open transaction.
    pub async fn save_in(
        &self,
        client: &impl GenericClient,
        projection: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        let ctx = || format!("saving the checkpoint of projection `{projection}`");
        let position = input_i64(ctx, "checkpoint position", position)?;
        client
            .execute(self.sql.save.as_str(), &[&projection, &position])
            .await
            .map_err(|e| self.store.pg_err(ctx(), e))?;
        Ok(())
    }

    /// Reads `projection`'s checkpoint through `client`.
    pub async fn load_in(
        &self,
        client: &impl GenericClient,
        projection: &str,
    ) -> Result<Option<u64>, StoreError> {
        let ctx = || format!("loading the checkpoint of projection `{projection}`");
        let row = client
            .query_opt(self.sql.load.as_str(), &[&projection])
            .await
            .map_err(|e| self.store.pg_err(ctx(), e))?;
        row.map(|r| r.try_get::<_, i64>(0))
            .transpose()
            .map_err(|e| self.store.pg_err(ctx(), e))?
            .map(|p| checkpoint(ctx(), p))
            .transpose()
    }
}

impl CheckpointStore for PostgresCheckpointStore {
    async fn load(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        let ctx = || format!("loading the checkpoint of projection `{projection}`");
        let client = self.store.client().await?;
        let rows = self
            .store
            .query(&client, &self.sql.load, &[&projection], &ctx)
            .await?;
        rows.first()
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()
            .map_err(|e| self.store.pg_err(ctx(), e))?
            .map(|p| checkpoint(ctx(), p))
            .transpose()
    }

    async fn save(&self, projection: &str, position: u64) -> Result<(), StoreError> {
        let ctx = || format!("saving the checkpoint of projection `{projection}`");
        let position = input_i64(ctx, "checkpoint position", position)?;
        let client = self.store.client().await?;
        self.store
            .execute(&client, &self.sql.save, &[&projection, &position], &ctx)
            .await?;
        Ok(())
    }

    async fn reset(&self, projection: &str) -> Result<(), StoreError> {
        let ctx = || format!("resetting projection `{projection}`");
        let mut client = self.store.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.store.pg_err(ctx(), e))?;
        for sql in [&self.sql.reset_checkpoint, &self.sql.reset_dead_letters] {
            tx.execute(sql.as_str(), &[&projection])
                .await
                .map_err(|e| self.store.pg_err(ctx(), e))?;
        }
        tx.commit().await.map_err(|e| self.store.pg_err(ctx(), e))
    }

    async fn park(&self, letter: DeadLetter) -> Result<(), StoreError> {
        let ctx = || {
            format!(
                "parking event {} (position {}) of projection `{}`",
                letter.event_id, letter.position, letter.projection
            )
        };
        let position = input_i64(ctx, "dead letter position", letter.position)?;
        let version = input_i64(ctx, "dead letter stream version", letter.stream_version)?;
        let client = self.store.client().await?;
        self.store
            .execute(
                &client,
                &self.sql.park,
                &[
                    &letter.projection,
                    &position,
                    &letter.event_id,
                    &letter.stream_id.as_str(),
                    &version,
                    &letter.event_type,
                    &letter.error,
                    &letter.parked_at,
                ],
                &ctx,
            )
            .await?;
        Ok(())
    }

    async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let ctx = || format!("reading the dead letters of projection `{projection}`");
        let client = self.store.client().await?;
        let rows = self
            .store
            .query(&client, &self.sql.dead_letters, &[&projection], &ctx)
            .await?;
        rows.iter()
            .map(|row| {
                let get = |e| self.store.pg_err(ctx(), e);
                let position: i64 = row.try_get(0).map_err(get)?;
                let event_id: Uuid = row.try_get(1).map_err(get)?;
                let stream: String = row.try_get(2).map_err(get)?;
                let version: i64 = row.try_get(3).map_err(get)?;
                let event_type: String = row.try_get(4).map_err(get)?;
                let error: String = row.try_get(5).map_err(get)?;
                let parked_at: DateTime<Utc> = row.try_get(6).map_err(get)?;
                let corrupt = |reason: String| StoreError::Corrupted {
                    stream: stream.clone(),
                    version: to_u64("version", version).unwrap_or(0),
                    event_type: event_type.clone(),
                    position: None,
                    reason,
                };
                let stream_id = StreamId::new(stream.as_str())
                    .map_err(|e| corrupt(format!("dead letter stream id: {e}")))?;
                Ok(DeadLetter {
                    projection: projection.to_owned(),
                    position: to_u64("dead letter position", position)
                        .map_err(|e| corrupt(e.to_string()))?,
                    event_id,
                    stream_id,
                    stream_version: to_u64("dead letter stream version", version)
                        .map_err(|e| corrupt(e.to_string()))?,
                    event_type,
                    error,
                    parked_at,
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
        let ctx = || format!("claiming projection `{projection}`");
        let client = self.store.client().await?;
        let rows = self
            .store
            .query(
                &client,
                &self.sql.claim,
                &[&projection, &owner, &ttl.as_secs_f64()],
                &ctx,
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn save_claimed(
        &self,
        projection: &str,
        position: u64,
        owner: Uuid,
    ) -> Result<bool, StoreError> {
        let ctx = || format!("saving the checkpoint of projection `{projection}`");
        let position = input_i64(ctx, "checkpoint position", position)?;
        let client = self.store.client().await?;
        let saved = self
            .store
            .execute(
                &client,
                &self.sql.save_claimed,
                &[&projection, &position, &owner],
                &ctx,
            )
            .await?;
        Ok(saved == 1)
    }

    async fn release(&self, projection: &str, owner: Uuid) -> Result<(), StoreError> {
        let ctx = || format!("releasing the claim on projection `{projection}`");
        let client = self.store.client().await?;
        self.store
            .execute(&client, &self.sql.release, &[&projection, &owner], &ctx)
            .await?;
        Ok(())
    }
}
