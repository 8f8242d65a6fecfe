//! [`RedisCheckpointStore`]: projection checkpoints, dead letters and
//! claims next to a [`RedisStore`]'s events.

use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::Value;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::RedisStore;
use super::decode::{text, uint};
use crate::envelope::StreamId;
use crate::projection::{CheckpointStore, DeadLetter};
use crate::store::StoreError;

/// Checkpoints, dead letters and claims under the key prefix of a
/// [`RedisStore`] (`{p}:checkpoints`, `{p}:dead:<projection>`,
/// `{p}:claim:<projection>`), through its connection.
///
/// A claim is a key holding its owner that expires with the claim (`SET
/// ... PX`), so claims expire by the server's clock, one for every
/// claimant; claiming, saving under a claim and releasing are each one Lua
/// script, checked and written in one atomic step.
///
/// ```no_run
/// # async fn run() -> Result<(), eventfold::StoreError> {
/// use std::sync::Arc;
/// use eventfold::projection::ProjectionRunner;
/// use eventfold::store::{RedisCheckpointStore, RedisStore};
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379/").await?;
/// let checkpoints = RedisCheckpointStore::new(&store);
/// let runner = ProjectionRunner::new(store, checkpoints);
/// # let _ = runner; Ok(()) }
/// ```
///
/// Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct RedisCheckpointStore {
    store: RedisStore,
}

/// A dead letter as stored (JSON).
#[derive(Serialize, Deserialize)]
struct StoredLetter {
    event_id: Uuid,
    stream_id: String,
    stream_version: u64,
    event_type: String,
    error: String,
    parked_at: DateTime<Utc>,
}

impl RedisCheckpointStore {
    /// The checkpoint store under `store`'s key prefix.
    pub fn new(store: &RedisStore) -> Self {
        Self {
            store: store.clone(),
        }
    }

    /// Runs the claim script (`op`: claim, save or release).
    async fn claim_script(
        &self,
        ctx: String,
        op: &str,
        projection: &str,
        owner: Uuid,
        number: u64,
    ) -> Result<bool, StoreError> {
        let keys = &self.store.inner.keys;
        let done: i64 = self
            .store
            .inner
            .scripts
            .claim
            .key(keys.claim(projection))
            .key(&keys.checkpoints)
            .arg(op)
            .arg(owner.hyphenated().to_string())
            .arg(number)
            .arg(projection)
            .invoke_async(&mut self.store.conn())
            .await
            .map_err(|e| self.store.redis_err(ctx, e))?;
        Ok(done == 1)
    }
}

impl CheckpointStore for RedisCheckpointStore {
    async fn load(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        let ctx = format!("loading the checkpoint of projection `{projection}`");
        let value: Value = redis::cmd("HGET")
            .arg(&self.store.inner.keys.checkpoints)
            .arg(projection)
            .query_async(&mut self.store.conn())
            .await
            .map_err(|e| self.store.redis_err(ctx.clone(), e))?;
        match value {
            Value::Nil => Ok(None),
            v => uint(&v).map(Some).ok_or_else(|| {
                StoreError::backend(
                    ctx,
                    format!("the stored checkpoint {:?} is not a position", text(&v)),
                )
            }),
        }
    }

    async fn save(&self, projection: &str, position: u64) -> Result<(), StoreError> {
        let ctx = format!("saving the checkpoint of projection `{projection}`");
        let _: Value = redis::cmd("HSET")
            .arg(&self.store.inner.keys.checkpoints)
            .arg(projection)
            .arg(position)
            .query_async(&mut self.store.conn())
            .await
            .map_err(|e| self.store.redis_err(ctx, e))?;
        Ok(())
    }

    async fn reset(&self, projection: &str) -> Result<(), StoreError> {
        let ctx = format!("resetting projection `{projection}`");
        let keys = &self.store.inner.keys;
        let _: Value = redis::pipe()
            .atomic()
            .cmd("HDEL")
            .arg(&keys.checkpoints)
            .arg(projection)
            .cmd("DEL")
            .arg(keys.dead_letters(projection))
            .query_async(&mut self.store.conn())
            .await
            .map_err(|e| self.store.redis_err(ctx, e))?;
        Ok(())
    }

    async fn park(&self, letter: DeadLetter) -> Result<(), StoreError> {
        let ctx = format!(
            "parking event {} for projection `{}`",
            letter.event_id, letter.projection
        );
        let json = serde_json::to_vec(&StoredLetter {
            event_id: letter.event_id,
            stream_id: letter.stream_id.to_string(),
            stream_version: letter.stream_version,
            event_type: letter.event_type,
            error: letter.error,
            parked_at: letter.parked_at,
        })
        .map_err(|e| StoreError::backend(ctx.clone(), e))?;
        // HSETNX: parking a position again keeps the first.
        let _: Value = redis::cmd("HSETNX")
            .arg(self.store.inner.keys.dead_letters(&letter.projection))
            .arg(letter.position)
            .arg(json)
            .query_async(&mut self.store.conn())
            .await
            .map_err(|e| self.store.redis_err(ctx, e))?;
        Ok(())
    }

    async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let ctx = format!("reading the dead letters of projection `{projection}`");
        let all: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL")
            .arg(self.store.inner.keys.dead_letters(projection))
            .query_async(&mut self.store.conn())
            .await
            .map_err(|e| self.store.redis_err(ctx.clone(), e))?;
        let mut letters = all
            .into_iter()
            .map(|(position, json)| {
                let corrupted = |reason: String| {
                    StoreError::backend(
                        ctx.clone(),
                        format!(
                            "the dead letter at position {:?} cannot be read: {reason}",
                            String::from_utf8_lossy(&position)
                        ),
                    )
                };
                let position: u64 = std::str::from_utf8(&position)
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| corrupted("not a position".into()))?;
                let stored: StoredLetter =
                    serde_json::from_slice(&json).map_err(|e| corrupted(e.to_string()))?;
                Ok(DeadLetter {
                    projection: projection.to_owned(),
                    position,
                    event_id: stored.event_id,
                    stream_id: StreamId::new(stored.stream_id)
                        .map_err(|e| corrupted(format!("stream id: {e}")))?,
                    stream_version: stored.stream_version,
                    event_type: stored.event_type,
                    error: stored.error,
                    parked_at: stored.parked_at,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        letters.sort_by_key(|l| l.position);
        Ok(letters)
    }

    async fn claim(
        &self,
        projection: &str,
        owner: Uuid,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.claim_script(
            format!("claiming projection `{projection}` for {owner}"),
            "claim",
            projection,
            owner,
            ttl_ms,
        )
        .await
    }

    async fn save_claimed(
        &self,
        projection: &str,
        position: u64,
        owner: Uuid,
    ) -> Result<bool, StoreError> {
        self.claim_script(
            format!("saving the checkpoint of projection `{projection}` under {owner}'s claim"),
            "save",
            projection,
            owner,
            position,
        )
        .await
    }

    async fn release(&self, projection: &str, owner: Uuid) -> Result<(), StoreError> {
        self.claim_script(
            format!("releasing {owner}'s claim on projection `{projection}`"),
            "release",
            projection,
            owner,
            0,
        )
        .await
        .map(|_| ())
    }
}
