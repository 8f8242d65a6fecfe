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
use crate::store::stats::{
    ListStreams, SnapshotInfo, StoreStatistics, StoreStats, StreamPage, StreamSummary,
};

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl PostgresStore {
    fn quoted(&self) -> String {
        // The schema name was validated on connect (letters, digits, `_`).
        format!("\"{}\"", self.inner.schema)
    }

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
        let s = self.quoted();
        let ctx = "reading the store's statistics";
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.pg_err(ctx, e))?;
        let sql = format!(
            "SELECT 0, event_type, count(*), 0::bigint FROM {s}.events GROUP BY event_type \
             UNION ALL \
             SELECT 1, split_part(stream_id, '-', 1), count(*), \
               count(*) FILTER (WHERE deleted) FROM {s}.streams \
             WHERE version > 0 OR deleted GROUP BY 2 \
             UNION ALL SELECT 2, '', count(*), 0 FROM {s}.snapshots \
             UNION ALL SELECT 3, '', position, 0 FROM {s}.head"
        );
        let stmt = tx
            .prepare_cached(&sql)
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
        let s = self.quoted();
        let limit = query.effective_limit();
        let sql = format!(
            "SELECT st.stream_id, st.version, st.deleted, \
               (SELECT e.recorded_at FROM {s}.events e WHERE e.stream_id = st.stream_id \
                ORDER BY e.stream_version DESC LIMIT 1) \
             FROM {s}.streams st \
             WHERE (st.version > 0 OR st.deleted) \
               AND ($1::text IS NULL OR st.stream_id > $1) \
               AND ($2::text IS NULL OR (st.stream_id >= $2 AND starts_with(st.stream_id, $2))) \
             ORDER BY st.stream_id LIMIT $3"
        );
        let client = self.client().await?;
        let ctx = || "listing streams".to_owned();
        let rows = self
            .query(
                &client,
                &sql,
                &[
                    &query.after.as_deref(),
                    &query.prefix.as_deref(),
                    &(limit as i64 + 1),
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
        let s = self.quoted();
        let sql = format!(
            "SELECT version, aggregate_type, schema_version, taken_at, \
               octet_length(payload)::bigint FROM {s}.snapshots \
             WHERE stream_id = $1 ORDER BY version"
        );
        let client = self.client().await?;
        let ctx = || format!("listing the snapshots of stream `{stream}`");
        let rows = self.query(&client, &sql, &[&stream.as_str()], &ctx).await?;
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
