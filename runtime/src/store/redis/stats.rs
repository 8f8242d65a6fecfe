//! [`StoreStats`] for [`RedisStore`]: counters that the append, delete,
//! tombstone and snapshot scripts keep up to date in the same atomic step
//! as the data they count (`lua/stats.lua`), and the sorted set of stream
//! ids, paged by `ZRANGEBYLEX` (see the key layout in [`super`]).

use std::collections::{BTreeMap, HashMap};

use redis::Value;

use super::RedisStore;
use super::decode::{self, text, uint};
use crate::envelope::StreamId;
use crate::store::StoreError;
use crate::store::stats::{
    ListStreams, SnapshotInfo, StoreStatistics, StoreStats, StreamPage, StreamSummary,
};

/// The `ZRANGEBYLEX` bounds of a listing: after the cursor and from the
/// prefix (whichever is later), up to the end of the prefix's ids. A
/// stream id is UTF-8, which never holds the byte `0xff`, so every id that
/// starts with the prefix sorts below the prefix followed by `0xff`.
fn lex_range(query: &ListStreams) -> (Vec<u8>, Vec<u8>) {
    let bound = |mark: u8, id: &str| [&[mark], id.as_bytes()].concat();
    let min = match (query.after.as_deref(), query.prefix.as_deref()) {
        (Some(after), Some(prefix)) if prefix > after => bound(b'[', prefix),
        (Some(after), _) => bound(b'(', after),
        (None, Some(prefix)) => bound(b'[', prefix),
        (None, None) => b"-".to_vec(),
    };
    let max = query.prefix.as_deref().map_or_else(
        || b"+".to_vec(),
        |prefix| [&bound(b'(', prefix)[..], &[0xff]].concat(),
    );
    (min, max)
}

impl StoreStats for RedisStore {
    async fn statistics(&self) -> Result<StoreStatistics, StoreError> {
        let ctx = "reading the store's statistics";
        let keys = &self.inner.keys;
        type Reply = (
            HashMap<String, u64>,
            BTreeMap<String, u64>,
            BTreeMap<String, u64>,
            u64,
            Option<u64>,
        );
        let (totals, events_by_type, streams_by_category, total_streams, head): Reply =
            redis::pipe()
                .atomic()
                .hgetall(&keys.stats)
                .hgetall(&keys.types)
                .hgetall(&keys.categories)
                .zcard(&keys.streams)
                .get(&keys.head)
                .query_async(&mut self.conn())
                .await
                .map_err(|e| self.redis_err(ctx, e))?;
        let total = |name: &str| totals.get(name).copied().unwrap_or(0);
        Ok(StoreStatistics {
            total_events: total("events"),
            head_position: head.unwrap_or(0),
            total_streams,
            deleted_streams: total("deleted"),
            total_snapshots: total("snapshots"),
            events_by_type,
            streams_by_category,
        })
    }

    async fn list_streams(&self, query: ListStreams) -> Result<StreamPage, StoreError> {
        let ctx = "listing the store's streams";
        let limit = query.effective_limit();
        let (min, max) = lex_range(&query);
        let ids: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(&self.inner.keys.streams)
            .arg(min)
            .arg(max)
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx, e))?;
        if ids.is_empty() {
            return Ok(StreamPage::default());
        }
        let streams = ids
            .into_iter()
            .map(|id| {
                StreamId::new(id.clone()).map_err(|e| StoreError::Corrupted {
                    stream: id,
                    version: 0,
                    event_type: "<stream list>".into(),
                    reason: format!("stream id: {e}"),
                    position: None,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Streams are never removed from the list, so each one listed has
        // its info (`None` only if its keys were removed behind the store).
        let summaries = self
            .stream_infos(&streams, ctx)
            .await?
            .into_iter()
            .flatten()
            .map(|info| StreamSummary {
                stream_id: info.stream_id,
                version: info.version,
                last_recorded_at: info.last_recorded_at,
                deleted: info.deleted,
            })
            .collect();
        Ok(StreamPage::from_overfetch(summaries, limit))
    }

    async fn stream_snapshots(&self, stream: &StreamId) -> Result<Vec<SnapshotInfo>, StoreError> {
        let ctx = format!("listing the snapshots of stream `{stream}`");
        let keys = &self.inner.keys;
        let reply: Value = self
            .inner
            .scripts
            .snapshot_list
            .key(keys.snapshot_versions(stream))
            .key(keys.snapshot_fields(stream))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx.clone(), e))?;
        self.array(&ctx, reply)?
            .chunks(5)
            .map(|fields| {
                let [version, aggregate_type, schema, taken_at, size] = fields else {
                    return Err(StoreError::backend(
                        ctx.clone(),
                        "the snapshot list script answered a truncated reply",
                    ));
                };
                let corrupted = |what: &str, v: &Value| StoreError::Corrupted {
                    stream: stream.to_string(),
                    version: uint(version).unwrap_or(0),
                    event_type: "<snapshot>".into(),
                    reason: format!("snapshot {what} {:?}", text(v)),
                    position: None,
                };
                Ok(SnapshotInfo {
                    version: uint(version).ok_or_else(|| corrupted("version", version))?,
                    aggregate_type: text(aggregate_type)
                        .ok_or_else(|| corrupted("aggregate type", aggregate_type))?,
                    schema_version: uint(schema)
                        .and_then(|s| u32::try_from(s).ok())
                        .ok_or_else(|| corrupted("schema version", schema))?,
                    taken_at: decode::time(taken_at)
                        .ok_or_else(|| corrupted("taken at", taken_at))?,
                    size: uint(size).ok_or_else(|| corrupted("size", size))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_bounds_start_at_the_later_of_cursor_and_prefix() {
        let range = |q: ListStreams| lex_range(&q);
        assert_eq!(range(ListStreams::new()), (b"-".to_vec(), b"+".to_vec()));
        assert_eq!(
            range(ListStreams::new().prefix("Acc-")),
            (b"[Acc-".to_vec(), b"(Acc-\xff".to_vec())
        );
        assert_eq!(
            range(ListStreams::new().prefix("Acc-").after("Acc-3")),
            (b"(Acc-3".to_vec(), b"(Acc-\xff".to_vec())
        );
        assert_eq!(
            range(ListStreams::new().prefix("Acc-").after("A")),
            (b"[Acc-".to_vec(), b"(Acc-\xff".to_vec())
        );
        assert_eq!(
            range(ListStreams::new().after("x")),
            (b"(x".to_vec(), b"+".to_vec())
        );
    }
}
