//! Reading the replies of the store's scripts back into events, with a
//! typed error ([`StoreError::Corrupted`]) for anything that cannot be
//! read: never a panic.

use chrono::{DateTime, Utc};
use redis::Value;
use uuid::Uuid;

use crate::envelope::{Metadata, RecordedEvent, StreamId};
use crate::store::StoreError;

/// Values per event row in a script reply: position, then the columns.
pub(super) const ROW: usize = 9;

/// A reply value as bytes (`None`: nil, or not a string).
pub(super) fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A reply value as text (lossy; for names in errors and tags).
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::Int(i) => Some(i.to_string()),
        other => bytes(other).map(|b| String::from_utf8_lossy(b).into_owned()),
    }
}

/// A reply value as an unsigned integer.
pub(super) fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => std::str::from_utf8(bytes(other)?).ok()?.parse().ok(),
    }
}

/// Microseconds since the Unix epoch, as stored, to a time.
pub(super) fn time(micros: &Value) -> Option<DateTime<Utc>> {
    let micros = i64::try_from(uint(micros)?).ok()?;
    DateTime::from_timestamp_micros(micros)
}

/// A time as stored: microseconds since the Unix epoch.
pub(super) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Decodes one event row (`ROW` values), moving the payload and the type
/// name out of it. `stream`: the stream the read asked for (or that of the
/// previous row), whose id is reused instead of re-validated.
pub(super) fn event(
    row: &mut [Value],
    stream: Option<&StreamId>,
) -> Result<RecordedEvent, StoreError> {
    // What names the event in an error, built only when there is one.
    let corrupted = |row: &[Value], reason: String| StoreError::Corrupted {
        stream: text(&row[1]).unwrap_or_else(|| "<missing stream id>".to_owned()),
        version: uint(&row[2]).unwrap_or(0),
        event_type: text(&row[4]).unwrap_or_else(|| "<missing event type>".to_owned()),
        reason,
    };
    let global_position = uint(&row[0])
        .filter(|p| *p > 0)
        .ok_or_else(|| corrupted(row, format!("global position {:?}", text(&row[0]))))?;
    let stream_version = uint(&row[2])
        .filter(|v| *v > 0)
        .ok_or_else(|| corrupted(row, format!("stream version {:?}", text(&row[2]))))?;
    let stream_id = match (stream, bytes(&row[1])) {
        (Some(s), Some(b)) if s.as_str().as_bytes() == b => s.clone(),
        (_, Some(b)) => std::str::from_utf8(b)
            .map_err(|e| e.to_string())
            .and_then(|id| StreamId::new(id).map_err(|e| e.to_string()))
            .map_err(|e| corrupted(row, format!("stream id: {e}")))?,
        (_, None) => return Err(corrupted(row, "stream id: missing".to_owned())),
    };
    match bytes(&row[4]).map(std::str::from_utf8) {
        Some(Ok(_)) => {}
        Some(Err(e)) => return Err(corrupted(row, format!("event type: {e}"))),
        None => return Err(corrupted(row, "event type: missing".to_owned())),
    }
    let event_id = bytes(&row[3])
        .and_then(|b| Uuid::try_parse_ascii(b).ok())
        .ok_or_else(|| corrupted(row, format!("event id {:?}", text(&row[3]))))?;
    let schema_version = uint(&row[5])
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupted(row, format!("schema version {:?}", text(&row[5]))))?;
    let recorded_at =
        time(&row[6]).ok_or_else(|| corrupted(row, format!("recorded at {:?}", text(&row[6]))))?;
    let metadata = match &row[7] {
        Value::Nil => Metadata::default(),
        other => {
            let json =
                bytes(other).ok_or_else(|| corrupted(row, "metadata: not a string".into()))?;
            serde_json::from_slice(json).map_err(|e| corrupted(row, format!("metadata: {e}")))?
        }
    };
    let payload = match std::mem::take(&mut row[8]) {
        Value::BulkString(b) => b,
        _ => return Err(corrupted(row, "payload: missing".to_owned())),
    };
    // Checked to be UTF-8 above: moved out, not copied.
    let event_type = match std::mem::take(&mut row[4]) {
        Value::BulkString(b) => {
            String::from_utf8(b).map_err(|e| corrupted(row, format!("event type: {e}")))?
        }
        Value::SimpleString(s) => s,
        _ => return Err(corrupted(row, "event type: missing".to_owned())),
    };
    Ok(RecordedEvent {
        event_id,
        stream_id,
        stream_version,
        global_position,
        recorded_at,
        event_type,
        schema_version,
        payload,
        metadata,
    })
}

/// Decodes the event rows of a reply (after its `skip` leading values).
pub(super) fn events(
    mut reply: Vec<Value>,
    skip: usize,
    stream: Option<&StreamId>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = reply.get_mut(skip..).unwrap_or_default();
    if rows.len() % ROW != 0 {
        return Err(StoreError::backend(
            "reading events from Redis",
            format!(
                "a reply of {} values is not made of {ROW}-value rows",
                rows.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(rows.len() / ROW);
    let mut last: Option<StreamId> = stream.cloned();
    for row in rows.chunks_exact_mut(ROW) {
        let e = event(row, last.as_ref())?;
        if stream.is_none() {
            last = Some(e.stream_id.clone());
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn row() -> Vec<Value> {
        vec![
            b("7"),
            b("acct-1"),
            b("2"),
            b("0192f0c1-7c1f-7cc0-8000-000000000001"),
            b("Deposited"),
            b("1"),
            b("1764400000123456"),
            Value::Nil,
            b("{}"),
        ]
    }

    #[test]
    fn a_row_decodes() {
        let e = event(&mut row(), None).unwrap();
        assert_eq!((e.global_position, e.stream_version), (7, 2));
        assert_eq!(e.stream_id.as_str(), "acct-1");
        assert_eq!(e.recorded_at.timestamp_subsec_micros(), 123_456);
        assert_eq!(e.metadata, Metadata::default());
    }

    #[test]
    fn bad_columns_are_typed_errors_naming_the_column() {
        for (i, bad, word) in [
            (0, b("x"), "global position"),
            (1, b("bad\nid"), "stream id"),
            (1, Value::Nil, "stream id"),
            (2, b("-1"), "stream version"),
            (3, b("not-a-uuid"), "event id"),
            (5, b("99999999999"), "schema version"),
            (6, b("soon"), "recorded at"),
            (7, b("{\"actor\": 12"), "metadata"),
            (8, Value::Nil, "payload"),
        ] {
            let mut r = row();
            r[i] = bad;
            match event(&mut r, None).unwrap_err() {
                StoreError::Corrupted { reason, .. } => {
                    assert!(reason.contains(word), "{reason:?} should name {word}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_truncated_reply_is_an_error() {
        let mut r = row();
        r.pop();
        assert!(events(r, 0, None).is_err());
    }
}
