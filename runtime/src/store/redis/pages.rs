//! The read and delete scripts of a [`RedisStore`], one call each: a page
//! of a stream, a page of all streams, the removal of a stream's events.

use redis::Value;

use super::decode::{self, text, uint};
use super::{PAGE, RedisStore, exact};
use crate::envelope::{RecordedEvent, StreamId};
use crate::store::{Direction, ReadStream, StoreError};

impl RedisStore {
    /// One script call of a stream read (its window at most [`PAGE`]
    /// versions wide): the stream's version and the events, or `None` for
    /// a stream never written.
    pub(super) async fn read_stream_page(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Option<(u64, Vec<RecordedEvent>)>, StoreError> {
        let ctx = format!("reading stream `{stream}`");
        let keys = &self.inner.keys;
        let mut call = self.inner.scripts.read_stream.prepare_invoke();
        call.key(keys.stream_meta(stream))
            .key(keys.stream_index(stream));
        for c in self.columns() {
            call.key(c);
        }
        let limit = read.limit.map_or(-1, |l| l.min(PAGE) as i64);
        call.arg(exact(read.from))
            .arg(exact(read.to.unwrap_or(u64::MAX)))
            .arg(limit)
            .arg(match read.direction {
                Direction::Forward => "f",
                Direction::Backward => "b",
            });
        let reply: Value = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx.clone(), e))?;
        let reply = self.array(&ctx, reply)?;
        match reply.first().and_then(text).as_deref() {
            Some("none") => Ok(None),
            Some("deleted") => Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            }),
            Some("ok") => {
                let current = reply.get(1).and_then(uint).ok_or_else(|| {
                    StoreError::backend(ctx.clone(), "the read script returned no version")
                })?;
                Ok(Some((current, decode::events(reply, 2, Some(stream))?)))
            }
            other => Err(StoreError::backend(
                ctx,
                format!("unexpected reply from the read script: {other:?}"),
            )),
        }
    }

    /// One script call of read-all: at most `limit` (≤ [`PAGE`]) events.
    pub(super) async fn read_all_page(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let ctx = format!("reading all streams after position {after}");
        let mut call = self.inner.scripts.read_all.prepare_invoke();
        call.key(&self.inner.keys.log);
        for c in self.columns() {
            call.key(c);
        }
        call.arg(after).arg(limit);
        let reply: Value = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx.clone(), e))?;
        decode::events(self.array(&ctx, reply)?, 0, None)
    }

    /// Removes a stream's events: all (`before: None`) or below a version.
    pub(super) async fn delete_events(
        &self,
        stream: &StreamId,
        before: Option<u64>,
        ctx: &str,
    ) -> Result<u64, StoreError> {
        let keys = &self.inner.keys;
        let mut call = self.inner.scripts.delete.prepare_invoke();
        call.key(keys.stream_meta(stream))
            .key(keys.stream_index(stream))
            .key(&keys.log)
            .key(&keys.ids);
        for c in self.columns() {
            call.key(c);
        }
        call.key(&keys.stats).key(&keys.types);
        match before {
            None => call.arg("hard").arg(0),
            Some(v) => call.arg("before").arg(exact(v)),
        };
        let reply: Value = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.redis_err(ctx, e))?;
        let reply = self.array(ctx, reply)?;
        match reply.first().and_then(text).as_deref() {
            Some("deleted") => Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            }),
            Some("ok") => reply.get(1).and_then(uint).ok_or_else(|| {
                StoreError::backend(ctx.to_owned(), "the delete script returned no count")
            }),
            other => Err(StoreError::backend(
                ctx.to_owned(),
                format!("unexpected reply from the delete script: {other:?}"),
            )),
        }
    }
}
