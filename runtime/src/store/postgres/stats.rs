//! [`StoreStats`] for [`PostgresStore`]: aggregate queries over the event,
//! stream and snapshot tables, run by the server in one read-only
//! repeatable-read transaction (consistent counts). Nothing is read into the
//! program but the counts and the page asked for.
//!
//! Streams are listed in the order of the database's collation for text
//! (the one the stream table's primary key index uses), so a page walks the
//! index rather than sorting.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::PostgresStore;
use crate::envelope::StreamId;
use crate::store::StoreError;
use crate::store::columns::{to_u64, upper_bound};
use crate::store::stats::{
    ListStreams, SnapshotInfo, StoreStatistics, StoreStats, StreamPage, StreamSummary,
};

/// A count or version the database returned: negative ones cannot be
/// (they are read as 0 rather than failing a statistics page).
fn count(v: i64) -> u64 {
    to_u64("count", v).unwrap_or(0)
}

impl PostgresStore {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        &self,
        row: &'a Row,
        i: usize,
        ctx: &str,
    ) -> Result<T, StoreError> {
        row.try_get(i).map_err(|e| self.pg_err(ctx, e))
    }
}

impl StoreStats for PostgresStore {
    async fn statistics(&self) -> Result<StoreStatistics, StoreError> {
        let ctx = "reading the store's statistics";
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.pg_err(ctx, e))?;
        let stmt = tx
            .prepare_cached(&self.inner.sql.statistics)
            .await
            .map_err(|e| self.pg_err(ctx, e))?;
        let rows = tx
            .query(&stmt, &[])
            .await
            .map_err(|e| self.pg_err(ctx, e))?;
        tx.commit().await.map_err(|e| self.pg_err(ctx, e))?;
        let mut stats = StoreStatistics::default();
        for row in &rows {
            let kind: i32 = self.get(row, 0, ctx)?;
            let name: String = self.get(row, 1, ctx)?;
            let n = count(self.get(row, 2, ctx)?);
            let deleted = count(self.get(row, 3, ctx)?);
            match kind {
                0 => {
                    stats.total_events += n;
                    stats.events_by_type.insert(name, n);
                }
                1 => {
                    stats.total_streams += n;
                    stats.deleted_streams += deleted;
                    stats.streams_by_category.insert(name, n);
                }
                2 => stats.total_snapshots = n,
                _ => stats.head_position = n,
            }
        }
        Ok(stats)
    }

    async fn list_streams(&self, query: ListStreams) -> Result<StreamPage, StoreError> {
        let limit = query.effective_limit();
        let client = self.client().await?;
        let ctx = || "listing streams".to_owned();
        let rows = self
            .query(
                &client,
                &self.inner.sql.list_streams,
                &[
                    &query.after.as_deref(),
                    &query.prefix.as_deref(),
                    &upper_bound(limit as u64 + 1),
                ],
                &ctx,
            )
            .await?;
        let mut streams = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = self.get(row, 0, "listing streams")?;
            let version = count(self.get(row, 1, "listing streams")?);
            let stream_id = StreamId::new(id.as_str()).map_err(|e| StoreError::Corrupted {
                stream: id.clone(),
                version,
                event_type: "<stream row>".into(),
                reason: e.to_string(),
                position: None,
            })?;
            let last: Option<DateTime<Utc>> = self.get(row, 3, "listing streams")?;
            streams.push(StreamSummary {
                stream_id,
                version,
                last_recorded_at: last,
                deleted: self.get(row, 2, "listing streams")?,
            });
        }
        Ok(StreamPage::from_overfetch(streams, limit))
    }

    async fn stream_snapshots(&self, stream: &StreamId) -> Result<Vec<SnapshotInfo>, StoreError> {
        let client = self.client().await?;
        let ctx = || format!("listing the snapshots of stream `{stream}`");
        let rows = self
            .query(
                &client,
                &self.inner.sql.stream_snapshots,
                &[&stream.as_str()],
                &ctx,
            )
            .await?;
        let c = ctx();
        rows.iter()
            .map(|row| {
                Ok(SnapshotInfo {
                    version: count(self.get(row, 0, &c)?),
                    aggregate_type: self.get(row, 1, &c)?,
                    schema_version: u32::try_from(self.get::<i64>(row, 2, &c)?).unwrap_or(0),
                    taken_at: self.get(row, 3, &c)?,
                    size: count(self.get(row, 4, &c)?),
                })
            })
            .collect()
    }
}
