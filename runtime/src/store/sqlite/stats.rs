//! [`StoreStats`] for [`SqliteStore`]: aggregate queries over the event,
//! stream and snapshot tables, in one read transaction, on a reader
//! connection. Nothing is read into the program but the counts.

use chrono::DateTime;
use rusqlite::Connection;

use super::read::read_head;
use super::sql::{
    COUNT_SNAPSHOTS, EVENTS_BY_TYPE, LIST_STREAMS, STREAM_SNAPSHOTS, STREAMS_BY_CATEGORY,
};
use super::{SqliteStore, backend};
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

fn statistics(conn: &Connection) -> Result<StoreStatistics, StoreError> {
    let fail = backend("reading the store's statistics");
    let tx = conn.unchecked_transaction().map_err(&fail)?;
    let mut stats = StoreStatistics {
        head_position: read_head(&tx).map_err(&fail)?,
        ..StoreStatistics::default()
    };
    let mut stmt = tx.prepare_cached(EVENTS_BY_TYPE).map_err(&fail)?;
    let mut rows = stmt.query([]).map_err(&fail)?;
    while let Some(row) = rows.next().map_err(&fail)? {
        let n = count(row.get(1).map_err(&fail)?);
        stats.total_events += n;
        stats.events_by_type.insert(row.get(0).map_err(&fail)?, n);
    }
    drop(rows);
    drop(stmt);
    let mut stmt = tx.prepare_cached(STREAMS_BY_CATEGORY).map_err(&fail)?;
    let mut rows = stmt.query([]).map_err(&fail)?;
    while let Some(row) = rows.next().map_err(&fail)? {
        let n = count(row.get(1).map_err(&fail)?);
        stats.total_streams += n;
        stats.deleted_streams += count(row.get::<_, Option<i64>>(2).map_err(&fail)?.unwrap_or(0));
        stats
            .streams_by_category
            .insert(row.get(0).map_err(&fail)?, n);
    }
    drop(rows);
    drop(stmt);
    stats.total_snapshots = count(
        tx.prepare_cached(COUNT_SNAPSHOTS)
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(&fail)?,
    );
    Ok(stats)
}

fn list(conn: &Connection, query: &ListStreams) -> Result<StreamPage, StoreError> {
    let fail = backend("listing streams");
    let limit = query.effective_limit();
    let mut stmt = conn.prepare_cached(LIST_STREAMS).map_err(&fail)?;
    let mut rows = stmt
        .query(rusqlite::params![
            query.after.as_deref().unwrap_or(""),
            query.prefix.as_deref(),
            upper_bound(limit as u64 + 1),
        ])
        .map_err(&fail)?;
    let mut streams = Vec::new();
    while let Some(row) = rows.next().map_err(&fail)? {
        let id: String = row.get(0).map_err(&fail)?;
        let version = count(row.get(1).map_err(&fail)?);
        let stream_id = StreamId::new(id.as_str()).map_err(|e| StoreError::Corrupted {
            stream: id.clone(),
            version,
            event_type: "<stream row>".into(),
            reason: e.to_string(),
            position: None,
        })?;
        let deleted: i64 = row.get(2).map_err(&fail)?;
        let last: Option<i64> = row.get(3).map_err(&fail)?;
        streams.push(StreamSummary {
            stream_id,
            version,
            last_recorded_at: last.map(DateTime::from_timestamp_nanos),
            deleted: deleted != 0,
        });
    }
    Ok(StreamPage::from_overfetch(streams, limit))
}

fn snapshots(conn: &Connection, stream: &StreamId) -> Result<Vec<SnapshotInfo>, StoreError> {
    let fail = backend("listing snapshots");
    let mut stmt = conn.prepare_cached(STREAM_SNAPSHOTS).map_err(&fail)?;
    let mut rows = stmt.query([stream.as_str()]).map_err(&fail)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(&fail)? {
        out.push(SnapshotInfo {
            version: count(row.get(0).map_err(&fail)?),
            aggregate_type: row.get(1).map_err(&fail)?,
            schema_version: u32::try_from(row.get::<_, i64>(2).map_err(&fail)?).unwrap_or(0),
            taken_at: DateTime::from_timestamp_nanos(row.get(3).map_err(&fail)?),
            size: count(row.get::<_, Option<i64>>(4).map_err(&fail)?.unwrap_or(0)),
        });
    }
    Ok(out)
}

impl StoreStats for SqliteStore {
    async fn statistics(&self) -> Result<StoreStatistics, StoreError> {
        self.read(statistics).await
    }

    async fn list_streams(&self, query: ListStreams) -> Result<StreamPage, StoreError> {
        self.read(move |conn| list(conn, &query)).await
    }

    async fn stream_snapshots(&self, stream: &StreamId) -> Result<Vec<SnapshotInfo>, StoreError> {
        let stream = stream.clone();
        self.read(move |conn| snapshots(conn, &stream)).await
    }
}
