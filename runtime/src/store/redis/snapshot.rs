//! Snapshots of a [`RedisStore`]: per stream, a sorted set of versions and
//! a hash of their fields (see the key layout in [`super`]).

use redis::Value;

use super::decode::{self, text, uint};
use super::{MAX_EXACT, RedisStore, exact};
use crate::envelope::StreamId;
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::store::StoreError;

impl SnapshotStore for RedisStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let ctx = format!("saving a snapshot of stream `{}`", snapshot.stream_id);
        if snapshot.version > MAX_EXACT {
            return Err(StoreError::backend(
                ctx,
                format!("snapshot version {} is too large", snapshot.version),
            ));
        }
        let keys = &self.inner.keys;
        let _: Value = self
            .inner
            .scripts
            .snapshot_save
            .key(keys.snapshot_versions(&snapshot.stream_id))
            .key(keys.snapshot_fields(&snapshot.stream_id))
            .key(&keys.stats)
            .arg(snapshot.version)
            .arg(&snapshot.aggregate_type)
            .arg(snapshot.schema_version)
            .arg(decode::micros(snapshot.taken_at))
            .arg(snapshot.payload.as_slice())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx, e))?;
        Ok(())
    }

    async fn load_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let ctx = format!("loading a snapshot of stream `{stream}`");
        let keys = &self.inner.keys;
        let reply: Value = self
            .inner
            .scripts
            .snapshot_load
            .key(keys.snapshot_versions(stream))
            .key(keys.snapshot_fields(stream))
            .arg(max_version.map_or_else(|| "+inf".to_owned(), exact))
            .arg(aggregate_type)
            .arg(schema_version)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx.clone(), e))?;
        let reply = self.array(&ctx, reply)?;
        let [version, taken_at, payload] = reply.as_slice() else {
            return Ok(None);
        };
        let corrupted = |reason: String| StoreError::Corrupted {
            stream: stream.to_string(),
            version: uint(version).unwrap_or(0),
            event_type: format!("snapshot of {aggregate_type}"),
            reason,
            position: None,
        };
        Ok(Some(Snapshot {
            stream_id: stream.clone(),
            aggregate_type: aggregate_type.to_owned(),
            schema_version,
            version: uint(version)
                .ok_or_else(|| corrupted(format!("snapshot version {:?}", text(version))))?,
            payload: match payload {
                Value::BulkString(b) => b.clone(),
                _ => return Err(corrupted("payload: missing".into())),
            },
            taken_at: decode::time(taken_at)
                .ok_or_else(|| corrupted(format!("taken at {:?}", text(taken_at))))?,
        }))
    }

    async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
        let ctx = format!("pruning the snapshots of stream `{stream}`");
        self.prune(stream, keep, &ctx).await
    }

    async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
        let ctx = format!("deleting the snapshots of stream `{stream}`");
        self.prune(stream, 0, &ctx).await.map(|_| ())
    }
}

impl RedisStore {
    /// Keeps the newest `keep` snapshots of a stream (0: none), counting
    /// the removed ones out of the statistics; returns how many went.
    async fn prune(&self, stream: &StreamId, keep: usize, ctx: &str) -> Result<u64, StoreError> {
        let keys = &self.inner.keys;
        self.inner
            .scripts
            .snapshot_prune
            .key(keys.snapshot_versions(stream))
            .key(keys.snapshot_fields(stream))
            .key(&keys.stats)
            .arg(exact(keep as u64))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx, e))
    }
}
