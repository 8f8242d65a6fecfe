//! The JSON shapes of the service's answers that several routes share:
//! events ([`event_json`]) and streams.

use serde_json::{Map, Value, json};

use crate::codec::JsonCodec;
use crate::envelope::{Envelope, Metadata, NewEvent, RecordedEvent};
use crate::event::EventSet;
use crate::store::{StreamSummary, stream_category};

/// The aggregate type and id of a stream id `"{type}-{id}"` (the whole id
/// and `""` when it has no `-`).
pub fn split_stream_id(stream_id: &str) -> (&str, &str) {
    let category = stream_category(stream_id);
    let id = stream_id.get(category.len() + 1..).unwrap_or_default();
    (category, id)
}

/// A stored payload as JSON: the payload itself when it is JSON (the
/// default codec), else `{"encoding": "hex", "bytes": "..."}`. Never
/// anything but JSON.
pub fn payload_json(payload: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(payload) {
        Ok(v) => v,
        Err(_) => {
            let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
            json!({ "encoding": "hex", "bytes": hex })
        }
    }
}

fn metadata_json(e: &RecordedEvent) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), json!(e.recorded_at));
    m.insert("version".into(), json!(e.stream_version));
    m.insert("position".into(), json!(e.global_position));
    m.insert("schemaVersion".into(), json!(e.schema_version));
    let Metadata {
        correlation_id,
        causation_id,
        actor,
        extra,
    } = &e.metadata;
    if let Some(id) = correlation_id {
        m.insert("correlationId".into(), json!(id));
    }
    if let Some(id) = causation_id {
        m.insert("causationId".into(), json!(id));
    }
    if let Some(actor) = actor {
        m.insert("actor".into(), json!(actor));
    }
    if !extra.is_empty() {
        m.insert("extra".into(), json!(extra));
    }
    Value::Object(m)
}

/// One stored event as JSON:
///
/// ```json
/// {"id": "0193…", "position": 12, "streamId": "BankAccount-acc-1",
///  "aggregateType": "BankAccount", "aggregateId": "acc-1", "version": 3,
///  "eventType": "MoneyDeposited", "schemaVersion": 1,
///  "recordedAt": "2026-…Z", "data": {"amount": 500},
///  "metadata": {"timestamp": "2026-…Z", "version": 3, "position": 12,
///               "schemaVersion": 1, "correlationId": "…", "causationId": "…"}}
/// ```
pub fn event_json(e: &RecordedEvent) -> Value {
    let (aggregate_type, aggregate_id) = split_stream_id(e.stream_id.as_str());
    json!({
        "id": e.event_id,
        "position": e.global_position,
        "streamId": e.stream_id,
        "aggregateType": aggregate_type,
        "aggregateId": aggregate_id,
        "version": e.stream_version,
        "eventType": e.event_type,
        "schemaVersion": e.schema_version,
        "recordedAt": e.recorded_at,
        "data": payload_json(&e.payload),
        "metadata": metadata_json(e),
    })
}

/// A decoded event with its envelope, in the shape of [`event_json`].
pub fn envelope_json<E: EventSet>(e: &Envelope<E>) -> Value {
    let (payload, schema_version, event_type) =
        match NewEvent::encode(&e.event, &JsonCodec, Metadata::default()) {
            Ok(n) => (n.payload, n.schema_version, n.event_type),
            Err(_) => (b"null".to_vec(), 0, e.event.event_type().to_owned()),
        };
    event_json(&RecordedEvent {
        event_id: e.event_id,
        stream_id: e.stream_id.clone(),
        stream_version: e.stream_version,
        global_position: e.global_position,
        recorded_at: e.recorded_at,
        event_type,
        schema_version,
        payload,
        metadata: e.metadata.clone(),
    })
}

/// One stream of a listing, with its aggregate type and id.
pub fn stream_json(s: &StreamSummary) -> Value {
    let (aggregate_type, aggregate_id) = split_stream_id(s.stream_id.as_str());
    json!({
        "streamId": s.stream_id,
        "aggregateType": aggregate_type,
        "aggregateId": aggregate_id,
        "version": s.version,
        "lastEventAt": s.last_recorded_at,
        "deleted": s.deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_split_at_the_first_dash() {
        assert_eq!(
            split_stream_id("BankAccount-acc-1"),
            ("BankAccount", "acc-1")
        );
        assert_eq!(split_stream_id("solo"), ("solo", ""));
    }

    #[test]
    fn binary_payloads_stay_json() {
        assert_eq!(payload_json(br#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(
            payload_json(&[0xff, 0x01]),
            json!({"encoding": "hex", "bytes": "ff01"})
        );
    }
}
