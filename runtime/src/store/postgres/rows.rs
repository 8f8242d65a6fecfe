//! Rows to values: an event row to a [`RecordedEvent`], the version of a
//! snapshot or stream row to a `u64`. Anything unreadable is
//! [`StoreError::Corrupted`] naming what could be read.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::envelope::{Metadata, RecordedEvent, StreamId};
use crate::store::StoreError;
use crate::store::columns::to_u64;

/// Reads one event row (columns in [`super::sql::EVENT_COLUMNS`] order). `stream` is the
/// stream the query asked for, if any: its id is reused instead of
/// re-validated.
pub(super) fn decode_event(
    row: &Row,
    stream: Option<&StreamId>,
) -> Result<RecordedEvent, StoreError> {
    let raw_stream: &str = row.try_get(2).unwrap_or("<unreadable stream id>");
    let raw_version: i64 = row.try_get(3).unwrap_or(-1);
    let raw_type: &str = row.try_get(5).unwrap_or("<unreadable event type>");
    let raw_position: Option<i64> = row.try_get(0).ok();
    let corrupted = |reason: String| StoreError::Corrupted {
        stream: raw_stream.to_owned(),
        version: to_u64("stream version", raw_version).unwrap_or(0),
        event_type: raw_type.to_owned(),
        position: raw_position
            .and_then(|p| to_u64("global position", p).ok())
            .filter(|p| *p > 0),
        reason,
    };
    let stream_version =
        to_u64("stream version", raw_version).map_err(|e| corrupted(e.to_string()))?;
    let stream_id = match stream {
        Some(s) if s.as_str() == raw_stream => s.clone(),
        _ => StreamId::new(raw_stream).map_err(|e| corrupted(format!("stream id: {e}")))?,
    };
    let position: i64 = row
        .try_get(0)
        .map_err(|e| corrupted(format!("global position: {e}")))?;
    let global_position = to_u64("global position", position)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| corrupted(format!("global position {position}")))?;
    let event_id: Uuid = row
        .try_get(1)
        .map_err(|e| corrupted(format!("event id: {e}")))?;
    let recorded_at: DateTime<Utc> = row
        .try_get(4)
        .map_err(|e| corrupted(format!("recorded at: {e}")))?;
    let schema_version: i64 = row
        .try_get(6)
        .map_err(|e| corrupted(format!("schema version: {e}")))?;
    let schema_version = u32::try_from(schema_version)
        .map_err(|_| corrupted(format!("schema version {schema_version}")))?;
    let payload: &[u8] = row
        .try_get(7)
        .map_err(|e| corrupted(format!("payload: {e}")))?;
    let metadata: Option<&str> = row
        .try_get(8)
        .map_err(|e| corrupted(format!("metadata: {e}")))?;
    let metadata = match metadata {
        None => Metadata::default(),
        Some(json) => {
            serde_json::from_str(json).map_err(|e| corrupted(format!("metadata: {e}")))?
        }
    };
    Ok(RecordedEvent {
        event_id,
        stream_id,
        stream_version,
        global_position,
        recorded_at,
        event_type: raw_type.to_owned(),
        schema_version,
        payload: payload.to_vec(),
        metadata,
    })
}

/// A snapshot row's version (of `stream`, for `aggregate_type`).
pub(super) fn snapshot_version(
    stream: &StreamId,
    aggregate_type: &str,
    version: i64,
) -> Result<u64, StoreError> {
    to_u64("snapshot version", version).map_err(|e| StoreError::Corrupted {
        stream: stream.to_string(),
        version: 0,
        event_type: format!("snapshot of {aggregate_type}"),
        position: None,
        reason: e.to_string(),
    })
}

/// A stream row's version (of `stream`, as a string: the group-commit
/// writer reads it before it has a [`StreamId`]).
pub(super) fn stream_version(stream: &str, version: i64) -> Result<u64, StoreError> {
    to_u64("stream version", version).map_err(|e| StoreError::Corrupted {
        stream: stream.to_owned(),
        version: 0,
        event_type: "<stream row>".into(),
        position: None,
        reason: e.to_string(),
    })
}
