//! Appends of a [`RedisStore`]: the arguments of the append script
//! (`lua/append.lua`) and what its answers mean.

use redis::Value;

use super::decode::{bytes, text, uint};
use super::{RedisStore, advance};
use crate::envelope::{Metadata, NewEvent, StreamId};
use crate::store::{AppendResult, ExpectedVersion, StoreError, StoredEventId, idempotent_outcome};

impl RedisStore {
    pub(super) async fn append_script(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, StoreError> {
        let ctx = format!("appending to stream `{stream}`");
        let keys = &self.inner.keys;
        let (kind, version) = match expected {
            ExpectedVersion::Any => ("any", 0),
            ExpectedVersion::NoStream => ("no_stream", 0),
            ExpectedVersion::StreamExists => ("exists", 0),
            ExpectedVersion::Exact(v) => ("exact", v),
        };
        let mut call = self.inner.scripts.append.prepare_invoke();
        call.key(&keys.head)
            .key(&keys.log)
            .key(&keys.ids)
            .key(keys.stream_meta(stream))
            .key(keys.stream_index(stream));
        for c in self.columns() {
            call.key(c);
        }
        call.key(&keys.stats)
            .key(&keys.types)
            .key(&keys.categories)
            .key(&keys.streams);
        call.arg(stream.as_str())
            .arg(kind)
            .arg(version.to_string())
            .arg(&keys.channel);
        for e in events {
            let metadata = if e.metadata == Metadata::default() {
                Vec::new()
            } else {
                serde_json::to_vec(&e.metadata).map_err(|err| {
                    StoreError::backend(
                        format!(
                            "encoding the metadata of event {} (type `{}`) for stream `{stream}`",
                            e.event_id, e.event_type
                        ),
                        err,
                    )
                })?
            };
            call.arg(e.event_id.hyphenated().to_string())
                .arg(e.event_type.as_str())
                .arg(e.schema_version)
                .arg(metadata)
                .arg(e.payload.as_slice());
        }
        let reply: Value = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx.clone(), e))?;
        let reply = self.array(&ctx, reply)?;
        let tag = reply.first().and_then(text).unwrap_or_default();
        let bad = |what: &str| {
            StoreError::backend(
                ctx.clone(),
                format!("unexpected reply from the append script: {what}"),
            )
        };
        match tag.as_str() {
            "deleted" => Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            }),
            "expected" => {
                let current = reply
                    .get(1)
                    .and_then(uint)
                    .ok_or_else(|| bad("no version"))?;
                expected.check(stream, current)?;
                Err(bad("an expectation that holds"))
            }
            "found" => {
                let found = reply[1..]
                    .chunks(3)
                    .map(|f| self.stored_id(f, &ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                if found.len() != events.len() {
                    return Err(bad("a lookup per event"));
                }
                let result = idempotent_outcome(stream, events, &found)?
                    .ok_or_else(|| bad("stored ids, none found"))?;
                // A resend waits for the replicas (or fsyncs) again: its
                // first answer may have been that failure.
                self.acknowledge(stream, &result).await?;
                Ok(result)
            }
            "ok" => {
                let n = |i: usize| reply.get(i).and_then(uint).ok_or_else(|| bad("a number"));
                let (first, last, position) = (n(1)?, n(2)?, n(3)?);
                // The server's time of the write (absent for an empty batch).
                let recorded_at = reply
                    .get(4)
                    .and_then(bytes)
                    .and_then(super::decode::micros_to_time);
                let result = AppendResult {
                    first_version: first,
                    next_expected_version: last,
                    last_position: position,
                    written: !events.is_empty(),
                    recorded_at,
                };
                if result.written {
                    advance(&self.inner.head, position);
                }
                if !events.is_empty() {
                    self.acknowledge(stream, &result).await?;
                }
                Ok(result)
            }
            other => Err(bad(other)),
        }
    }

    /// One `(position, stream, version)` lookup of the append script.
    fn stored_id(&self, f: &[Value], ctx: &str) -> Result<Option<StoredEventId>, StoreError> {
        let [pos, stream, version] = f else {
            return Err(StoreError::backend(ctx.to_owned(), "a truncated id lookup"));
        };
        if bytes(pos).is_none_or(<[u8]>::is_empty) {
            return Ok(None);
        }
        let raw_stream = text(stream).unwrap_or_default();
        let corrupted = |reason: String| StoreError::Corrupted {
            stream: raw_stream.clone(),
            version: uint(version).unwrap_or(0),
            event_type: "<unknown>".into(),
            reason,
            position: uint(pos),
        };
        Ok(Some(StoredEventId {
            stream: StreamId::new(raw_stream.clone())
                .map_err(|e| corrupted(format!("stream id: {e}")))?,
            version: uint(version).ok_or_else(|| corrupted("stream version".into()))?,
            position: uint(pos).ok_or_else(|| corrupted("global position".into()))?,
        }))
    }
}
