//! Rows to values: an event row to a [`RecordedEvent`], a snapshot row to
//! a [`Snapshot`]. Anything unreadable is [`StoreError::Corrupted`] naming
//! what could be read and the column at fault.

use chrono::DateTime;
use rusqlite::Row;
use rusqlite::types::ValueRef;
use uuid::Uuid;

use crate::envelope::{Metadata, RecordedEvent, StreamId};
use crate::snapshot::Snapshot;
use crate::store::StoreError;
use crate::store::columns::to_u64;

/// Reads one event row (columns in `event_columns!`' order, see
/// [`super::sql`]); anything unreadable is
/// [`StoreError::Corrupted`] naming the stream, version and event type as
/// far as they can be read, and the column at fault.
///
/// `prev` is the row read before it, if any: a stream id or event type equal
/// to its own is shared from it rather than validated again.
pub(super) fn event_from_row(
    row: &Row<'_>,
    prev: Option<&RecordedEvent>,
) -> Result<RecordedEvent, StoreError> {
    let raw_stream = match row.get_ref(1) {
        Ok(ValueRef::Text(t)) => Some(t),
        _ => None,
    };
    let raw_type = match row.get_ref(4) {
        Ok(ValueRef::Text(t)) => Some(t),
        _ => None,
    };
    let version = row
        .get_ref(2)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| to_u64("version", v).ok());
    let position = row
        .get_ref(0)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| to_u64("global position", v).ok())
        .filter(|p| *p > 0);
    // Texts are checked as UTF-8 only when they are not the previous row's;
    // error messages show whatever the bytes say.
    let corrupt = |column: &str, what: String| StoreError::Corrupted {
        stream: lossy(raw_stream),
        version: version.unwrap_or(0),
        event_type: lossy(raw_type),
        position,
        reason: format!("column `{column}`: {what}"),
    };
    let not_text = |column| corrupt(column, "not UTF-8 text".into());
    let stream_id = match prev.filter(|p| Some(p.stream_id.as_str().as_bytes()) == raw_stream) {
        Some(p) => p.stream_id.clone(),
        None => {
            let text = raw_stream.and_then(|t| std::str::from_utf8(t).ok());
            StreamId::new(text.ok_or_else(|| not_text("stream_id"))?)
                .map_err(|e| corrupt("stream_id", e.to_string()))?
        }
    };
    let version = version.ok_or_else(|| corrupt("version", "not a positive integer".into()))?;
    let event_type = match prev.filter(|p| Some(p.event_type.as_bytes()) == raw_type) {
        Some(p) => p.event_type.clone(),
        None => raw_type
            .and_then(|t| std::str::from_utf8(t).ok())
            .ok_or_else(|| not_text("event_type"))?
            .to_owned(),
    };
    let position = position.ok_or_else(|| corrupt("position", "not a positive integer".into()))?;
    let event_id = row
        .get_ref(3)
        .ok()
        .and_then(|v| v.as_blob().ok())
        .and_then(|b| Uuid::from_slice(b).ok())
        .ok_or_else(|| corrupt("event_id", "not a 16-byte UUID".into()))?;
    let schema_version = row
        .get_ref(5)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupt("schema_version", "not a 32-bit unsigned integer".into()))?;
    let recorded_at = row
        .get_ref(6)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .map(DateTime::from_timestamp_nanos)
        .ok_or_else(|| corrupt("recorded_at", "not an integer timestamp".into()))?;
    let payload = match row.get_ref(7) {
        Ok(ValueRef::Blob(b)) => b.to_vec(),
        _ => return Err(corrupt("payload", "not a blob".into())),
    };
    let metadata = match row.get_ref(8) {
        Ok(ValueRef::Null) => Metadata::default(),
        Ok(ValueRef::Text(t)) => serde_json::from_slice(t)
            .map_err(|e| corrupt("metadata", format!("not valid metadata JSON: {e}")))?,
        _ => return Err(corrupt("metadata", "not text".into())),
    };
    Ok(RecordedEvent {
        event_id,
        stream_id,
        stream_version: version,
        global_position: position,
        recorded_at,
        event_type,
        schema_version,
        payload,
        metadata,
    })
}

/// Text for an error message, whatever the bytes are.
fn lossy(raw: Option<&[u8]>) -> String {
    raw.map_or_else(
        || "<unreadable>".to_owned(),
        |t| String::from_utf8_lossy(t).into_owned(),
    )
}

/// Reads one snapshot row (columns in [`super::sql::LOAD_SNAPSHOT`]'s
/// order) of `stream`.
pub(super) fn snapshot_from_row(row: &Row<'_>, stream: &StreamId) -> Result<Snapshot, StoreError> {
    let version = row
        .get_ref(0)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| to_u64("snapshot version", v).ok());
    let aggregate_type = row.get_ref(1).ok().and_then(|v| v.as_str().ok());
    let corrupt = |column: &str, what: &str| StoreError::Corrupted {
        stream: stream.to_string(),
        version: version.unwrap_or(0),
        event_type: format!("snapshot of {}", aggregate_type.unwrap_or("<unreadable>")),
        position: None,
        reason: format!("snapshot column `{column}`: {what}"),
    };
    let version = version.ok_or_else(|| corrupt("version", "not a positive integer"))?;
    let aggregate_type = aggregate_type
        .ok_or_else(|| corrupt("aggregate_type", "not text"))?
        .to_owned();
    let schema_version = row
        .get_ref(2)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupt("schema_version", "not a 32-bit unsigned integer"))?;
    let taken_at = row
        .get_ref(3)
        .ok()
        .and_then(|v| v.as_i64().ok())
        .map(DateTime::from_timestamp_nanos)
        .ok_or_else(|| corrupt("taken_at", "not an integer timestamp"))?;
    let payload = match row.get_ref(4) {
        Ok(ValueRef::Blob(b)) => b.to_vec(),
        _ => return Err(corrupt("payload", "not a blob")),
    };
    Ok(Snapshot {
        stream_id: stream.clone(),
        aggregate_type,
        schema_version,
        version,
        payload,
        taken_at,
    })
}
