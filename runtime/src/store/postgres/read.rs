//! Reads of a [`PostgresStore`]: the queries behind the read methods of
//! the contract, on pooled connections; event rows are decoded as they
//! arrive.

use super::PostgresStore;
use super::rows::{decode_event, snapshot_version, stream_version};
use crate::envelope::{RecordedEvent, StreamId};
use crate::snapshot::Snapshot;
use crate::store::columns::{to_u64, upper_bound};
use crate::store::{Direction, LoadQuery, LoadedStream, ReadStream, StoreError, StreamInfo};

impl PostgresStore {
    /// Runs an event query (columns [`super::sql::EVENT_COLUMNS`]) and decodes its rows
    /// as they arrive, so that decoding overlaps the server sending the
    /// rest. `stream`: the one stream the query reads, if it reads one.
    pub(super) async fn query_events(
        &self,
        client: &deadpool_postgres::Object,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        stream: Option<&StreamId>,
        ctx: &(dyn Fn() -> String + Sync),
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stmt = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let rows = client
            .query_raw(&stmt, params.iter().copied())
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let mut rows = std::pin::pin!(rows);
        let mut out = Vec::new();
        let mut last: Option<StreamId> = stream.cloned();
        while let Some(row) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(rows.as_mut(), cx)).await
        {
            let row = row.map_err(|e| self.pg_err(ctx(), e))?;
            let event = decode_event(&row, last.as_ref())?;
            if stream.is_none() {
                last = Some(event.stream_id.clone());
            }
            out.push(event);
        }
        Ok(out)
    }

    /// The stream's version and tombstone flag (`None`: no row).
    pub(super) async fn stream_head(
        &self,
        client: &deadpool_postgres::Object,
        stream: &StreamId,
        ctx: &(dyn Fn() -> String + Sync),
    ) -> Result<Option<(u64, bool)>, StoreError> {
        let rows = self
            .query(
                client,
                &self.inner.sql.stream_head,
                &[&stream.as_str()],
                ctx,
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        let deleted: bool = row.try_get(1).map_err(|e| self.pg_err(ctx(), e))?;
        Ok(Some((stream_version(stream.as_str(), version)?, deleted)))
    }

    /// [`crate::EventStore::read_stream`].
    pub(super) async fn fetch_stream(
        &self,
        stream: &StreamId,
        read: ReadStream,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("reading stream `{stream}`");
        let Some((current, deleted)) = self.stream_head(&client, stream, &ctx).await? else {
            return Ok(Vec::new());
        };
        if deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        let Some((lo, hi)) = read.window(current) else {
            return Ok(Vec::new());
        };
        let sql = match read.direction {
            Direction::Forward => &self.inner.sql.read_forward,
            Direction::Backward => &self.inner.sql.read_backward,
        };
        self.query_events(
            &client,
            sql,
            &[&stream.as_str(), &upper_bound(lo), &upper_bound(hi)],
            Some(stream),
            &ctx,
        )
        .await
    }
    /// [`crate::EventStore::load_stream`]: one statement, so one snapshot of the
    /// database (see [`super::sql::Sql`]'s `load_stream`).
    pub(super) async fn fetch_loaded(
        &self,
        stream: &StreamId,
        query: LoadQuery<'_>,
    ) -> Result<LoadedStream, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("loading stream `{stream}`");
        let stmt = client
            .prepare_cached(if query.metadata {
                &self.inner.sql.load_stream
            } else {
                &self.inner.sql.load_stream_bare
            })
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let (aggregate_type, schema_version) = match query.snapshot {
            Some((t, v)) => (Some(t), i64::from(v)),
            None => (None, 0),
        };
        let upto = upper_bound(query.upto.unwrap_or(u64::MAX));
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&stream.as_str(), &aggregate_type, &schema_version, &upto];
        let rows = client
            .query_raw(&stmt, params)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let mut rows = std::pin::pin!(rows);
        let mut loaded = LoadedStream {
            snapshot: None,
            events: Vec::new(),
            version: 0,
        };
        let mut deleted = false;
        let mut sorted = true;
        while let Some(row) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(rows.as_mut(), cx)).await
        {
            let row = row.map_err(|e| self.pg_err(ctx(), e))?;
            let kind: i32 = row.try_get(9).map_err(|e| self.pg_err(ctx(), e))?;
            match kind {
                0 => {
                    let version: i64 = row.try_get(3).map_err(|e| self.pg_err(ctx(), e))?;
                    let flag: i64 = row.try_get(6).map_err(|e| self.pg_err(ctx(), e))?;
                    loaded.version = stream_version(stream.as_str(), version)?;
                    deleted = flag != 0;
                }
                1 => {
                    let version: i64 = row.try_get(3).map_err(|e| self.pg_err(ctx(), e))?;
                    let Some((aggregate_type, schema_version)) = query.snapshot else {
                        continue;
                    };
                    loaded.snapshot = Some(Snapshot {
                        stream_id: stream.clone(),
                        aggregate_type: aggregate_type.to_owned(),
                        schema_version,
                        version: snapshot_version(stream, aggregate_type, version)?,
                        payload: row.try_get(7).map_err(|e| self.pg_err(ctx(), e))?,
                        taken_at: row.try_get(4).map_err(|e| self.pg_err(ctx(), e))?,
                    });
                }
                _ => {
                    let event = decode_event(&row, Some(stream))?;
                    if loaded
                        .events
                        .last()
                        .is_some_and(|e: &RecordedEvent| e.stream_version > event.stream_version)
                    {
                        sorted = false;
                    }
                    loaded.events.push(event);
                }
            }
        }
        if deleted {
            return Err(StoreError::StreamDeleted {
                stream: stream.clone(),
            });
        }
        if !sorted {
            loaded.events.sort_by_key(|e| e.stream_version);
        }
        Ok(loaded)
    }
    /// [`crate::EventStore::read_all`].
    pub(super) async fn fetch_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let ctx = || format!("reading all streams after position {after}");
        let limit = upper_bound(limit as u64);
        self.query_events(
            &client,
            &self.inner.sql.read_all,
            &[&upper_bound(after), &limit],
            None,
            &ctx,
        )
        .await
    }
    /// [`crate::EventStore::stream_info`].
    pub(super) async fn fetch_info(
        &self,
        stream: &StreamId,
    ) -> Result<Option<StreamInfo>, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("reading the info of stream `{stream}`");
        let rows = self
            .query(
                &client,
                &self.inner.sql.stream_info,
                &[&stream.as_str()],
                &ctx,
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        Ok(Some(StreamInfo {
            stream_id: stream.clone(),
            version: stream_version(stream.as_str(), version)?,
            deleted: row.try_get(1).map_err(|e| self.pg_err(ctx(), e))?,
            first_recorded_at: row.try_get(2).map_err(|e| self.pg_err(ctx(), e))?,
            last_recorded_at: row.try_get(3).map_err(|e| self.pg_err(ctx(), e))?,
        }))
    }
    /// [`crate::EventStore::head_position`].
    pub(super) async fn fetch_head(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let ctx = || "reading the head position".to_owned();
        let stmt = client
            .prepare_cached(&self.inner.sql.head)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let row = client
            .query_one(&stmt, &[])
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let position: i64 = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        to_u64("head position", position).map_err(|e| StoreError::backend(ctx(), e))
    }
    /// [`crate::SnapshotStore::load_snapshot`].
    pub(super) async fn fetch_snapshot(
        &self,
        stream: &StreamId,
        aggregate_type: &str,
        schema_version: u32,
        max_version: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("loading a snapshot of stream `{stream}`");
        let stmt = client
            .prepare_cached(&self.inner.sql.load_snapshot)
            .await
            .map_err(|e| self.pg_err(ctx(), e))?;
        let Some(row) = client
            .query_opt(
                &stmt,
                &[
                    &stream.as_str(),
                    &aggregate_type,
                    &i64::from(schema_version),
                    &upper_bound(max_version.unwrap_or(u64::MAX)),
                ],
            )
            .await
            .map_err(|e| self.pg_err(ctx(), e))?
        else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(|e| self.pg_err(ctx(), e))?;
        let version = snapshot_version(stream, aggregate_type, version)?;
        Ok(Some(Snapshot {
            stream_id: stream.clone(),
            aggregate_type: aggregate_type.to_owned(),
            schema_version,
            version,
            payload: row.try_get(1).map_err(|e| self.pg_err(ctx(), e))?,
            taken_at: row.try_get(2).map_err(|e| self.pg_err(ctx(), e))?,
        }))
    }
}
