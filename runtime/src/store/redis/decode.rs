//! Reading the replies of the store's scripts back into events, with a
//! typed error ([`StoreError::Corrupted`]) for anything that cannot be
//! read: never a panic.

use chrono::{DateTime, Utc};
use redis::Value;
use uuid::Uuid;

use crate::envelope::{Metadata, RecordedEvent, StreamId};
use crate::store::{StoreError, StreamInfo};

/// Values per event row in a script reply: position, header, metadata,
/// payload.
pub(super) const ROW: usize = 4;

/// An event's header as stored: `<version> <schema> <at> <id> <stream
/// id>\x1f<type>` (a stream id holds no control character; the type name
/// is the rest, whatever it holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header<'a> {
    pub(super) version: &'a [u8],
    pub(super) schema: &'a [u8],
    pub(super) at: &'a [u8],
    pub(super) id: &'a [u8],
    pub(super) stream: &'a [u8],
    pub(super) event_type: &'a [u8],
}

impl<'a> Header<'a> {
    /// Splits a stored header (`None`: not in the header's shape).
    pub(super) fn parse(raw: &'a [u8]) -> Option<Self> {
        let mut parts = raw.splitn(5, |b| *b == b' ');
        let (version, schema, at, id) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest = parts.next()?;
        let sep = rest.iter().position(|b| *b == 0x1f)?;
        Some(Self {
            version,
            schema,
            at,
            id,
            stream: &rest[..sep],
            event_type: &rest[sep + 1..],
        })
    }
}

/// Digits to a number.
fn number(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Microseconds since the epoch (as text) to a time.
pub(super) fn micros_to_time(b: &[u8]) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(i64::try_from(number(b)?).ok()?)
}

/// The recorded time in a stored header.
pub(super) fn header_time(raw: &[u8]) -> Option<DateTime<Utc>> {
    micros_to_time(Header::parse(raw)?.at)
}

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
    DateTime::from_timestamp_micros(i64::try_from(uint(micros)?).ok()?)
}

/// A time as stored: microseconds since the Unix epoch.
pub(super) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Decodes what the stream info script tells of one stream (four values:
/// version, deleted, first and last event headers); `None`: never written.
pub(super) fn stream_info(
    stream: &StreamId,
    info: &[Value],
) -> Result<Option<StreamInfo>, StoreError> {
    let [version, deleted, first, last] = info else {
        return Err(StoreError::backend(
            format!("reading the info of stream `{stream}`"),
            "a truncated stream info",
        ));
    };
    if matches!(version, Value::Nil) {
        return Ok(None);
    }
    let corrupted = |reason: String| StoreError::Corrupted {
        stream: stream.to_string(),
        version: uint(version).unwrap_or(0),
        event_type: "<stream info>".into(),
        reason,
        position: None,
    };
    // The first and last events' recorded times, from their headers.
    let at = |v: &Value| match v {
        Value::Nil => Ok(None),
        v => bytes(v)
            .and_then(header_time)
            .map(Some)
            .ok_or_else(|| corrupted(format!("event header {:?}", text(v)))),
    };
    Ok(Some(StreamInfo {
        stream_id: stream.clone(),
        version: uint(version)
            .ok_or_else(|| corrupted(format!("stream version {:?}", text(version))))?,
        first_recorded_at: at(first)?,
        last_recorded_at: at(last)?,
        deleted: uint(deleted) == Some(1),
    }))
}

/// Decodes one event row (`ROW` values), moving the payload out of it.
/// `stream`: the stream the read asked for (or that of the previous row),
/// whose id is reused instead of re-validated.
pub(super) fn event(
    row: &mut [Value],
    stream: Option<&StreamId>,
) -> Result<RecordedEvent, StoreError> {
    let [position, header, metadata, payload] = row else {
        return Err(StoreError::backend(
            "reading events from Redis",
            format!("an event row of {} values", row.len()),
        ));
    };
    let raw = bytes(header).unwrap_or_default();
    let parsed = Header::parse(raw);
    // What names the event in an error (best effort from the header).
    let corrupted = |reason: String| {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        StoreError::Corrupted {
            stream: parsed.map_or_else(|| "<unreadable header>".to_owned(), |h| lossy(h.stream)),
            version: parsed.and_then(|h| number(h.version)).unwrap_or(0),
            event_type: parsed
                .map_or_else(|| "<unreadable header>".to_owned(), |h| lossy(h.event_type)),
            reason,
            position: uint(position).filter(|p| *p > 0),
        }
    };
    let global_position = uint(position)
        .filter(|p| *p > 0)
        .ok_or_else(|| corrupted(format!("global position {:?}", text(position))))?;
    let Some(h) = parsed else {
        return Err(corrupted(format!(
            "the header {:?} is not `<version> <schema> <at> <id> <stream>\\x1f<type>`",
            String::from_utf8_lossy(raw)
        )));
    };
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let stream_version = number(h.version)
        .filter(|v| *v > 0)
        .ok_or_else(|| corrupted(format!("stream version {:?}", show(h.version))))?;
    let stream_id = match stream {
        Some(s) if s.as_str().as_bytes() == h.stream => s.clone(),
        _ => std::str::from_utf8(h.stream)
            .map_err(|e| e.to_string())
            .and_then(|id| StreamId::new(id).map_err(|e| e.to_string()))
            .map_err(|e| corrupted(format!("stream id: {e}")))?,
    };
    let event_type = std::str::from_utf8(h.event_type)
        .map_err(|e| corrupted(format!("event type: {e}")))?
        .to_owned();
    let event_id =
        Uuid::try_parse_ascii(h.id).map_err(|_| corrupted(format!("event id {:?}", show(h.id))))?;
    let schema_version = number(h.schema)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupted(format!("schema version {:?}", show(h.schema))))?;
    let recorded_at =
        micros_to_time(h.at).ok_or_else(|| corrupted(format!("recorded at {:?}", show(h.at))))?;
    let metadata = match metadata {
        Value::Nil => Metadata::default(),
        other => {
            let json = bytes(other).ok_or_else(|| corrupted("metadata: not a string".into()))?;
            serde_json::from_slice(json).map_err(|e| corrupted(format!("metadata: {e}")))?
        }
    };
    let payload = match payload {
        Value::BulkString(b) => std::mem::take(b),
        _ => return Err(corrupted("payload: missing".to_owned())),
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

    fn header(version: &str, schema: &str, at: &str, id: &str, stream: &str, ty: &str) -> Value {
        b(&format!("{version} {schema} {at} {id} {stream}\x1f{ty}"))
    }

    const ID: &str = "0192f0c1-7c1f-7cc0-8000-000000000001";

    fn row() -> Vec<Value> {
        vec![
            b("7"),
            header(
                "2",
                "1",
                "1764400000123456",
                ID,
                "acct 1",
                "Deposited \x1f x",
            ),
            Value::Nil,
            b("{}"),
        ]
    }

    #[test]
    fn a_row_decodes() {
        let e = event(&mut row(), None).unwrap();
        assert_eq!((e.global_position, e.stream_version), (7, 2));
        assert_eq!(e.stream_id.as_str(), "acct 1");
        assert_eq!(e.event_type, "Deposited \x1f x");
        assert_eq!(e.recorded_at.timestamp_subsec_micros(), 123_456);
        assert_eq!(e.metadata, Metadata::default());
        assert_eq!(e.payload, b"{}");
    }

    #[test]
    fn bad_values_are_typed_errors_naming_the_value_and_the_event() {
        let t = "1764400000123456";
        for (i, bad, word) in [
            (0, b("x"), "global position"),
            (1, b("garbage"), "header"),
            (1, Value::Nil, "header"),
            (
                1,
                header("-1", "1", t, ID, "acct 1", "Deposited"),
                "stream version",
            ),
            (
                1,
                header("2", "1", t, ID, "bad\nid", "Deposited"),
                "stream id",
            ),
            (
                1,
                header("2", "1", t, "not-a-uuid", "acct 1", "Deposited"),
                "event id",
            ),
            (
                1,
                header("2", "99999999999", t, ID, "acct 1", "Deposited"),
                "schema version",
            ),
            (
                1,
                header("2", "1", "soon", ID, "acct 1", "Deposited"),
                "recorded at",
            ),
            (2, b("{\"actor\": 12"), "metadata"),
            (3, Value::Nil, "payload"),
        ] {
            let mut r = row();
            r[i] = bad;
            match event(&mut r, None).unwrap_err() {
                StoreError::Corrupted {
                    reason,
                    stream,
                    event_type,
                    ..
                } => {
                    assert!(reason.contains(word), "{reason:?} should name {word}");
                    if word != "header" {
                        assert!(stream.contains("id") || stream == "acct 1", "{stream:?}");
                        assert!(event_type.starts_with("Deposited"), "{event_type:?}");
                    }
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
